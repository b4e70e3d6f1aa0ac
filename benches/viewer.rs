//! Viewer responsiveness, measured through the real `AppState` in an `egui_kittest` harness (CPU
//! frames, no window): time from opening a path to the first slice on screen, the frame time of a
//! brush stroke (one dab per frame, the stroke committed by the writer thread) and of scrolling.
//!
//! `cargo bench --bench viewer` (release) or `cargo test --bench viewer` (debug; what CI runs).
//! Data: the corpus CT (`$VOXMARK_TEST_DATA` or `../shared/data`) and, when present, the generated
//! 512×512×300 series of `tools/bench_peers.py` in `bench-data/ct_300_series`.
//! Prints numbers only: timings do not belong in assertions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // benchmark code: a failed unwrap stops the run

use egui::{Event, Modifiers, MouseWheelUnit, PointerButton, Vec2};
use egui_kittest::Harness;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use voxmark::ui::AppState;
use voxmark::ui::tools::Tool;

type App = Option<AppState>;

fn harness(paths: Vec<PathBuf>) -> Harness<'static, App> {
    Harness::builder()
        .with_size(Vec2::new(1280.0, 800.0))
        .build_ui_state(
            move |ui, app: &mut App| {
                app.get_or_insert_with(|| {
                    AppState::with_context(ui.ctx(), "bench".into(), paths.clone())
                })
                .frame_ui(ui);
            },
            None,
        )
}

fn state<'a>(h: &'a Harness<'_, App>) -> &'a AppState {
    h.state().as_ref().expect("app")
}

fn wait(h: &mut Harness<'_, App>, done: impl Fn(&AppState) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        h.step();
        if h.state().as_ref().is_some_and(&done) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(600), "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 60 frames of one wheel step each (30 forward, 30 back) over the hovered view; their times in ms.
fn scroll_frames(h: &mut Harness<'_, App>) -> Vec<f64> {
    let mut times = Vec::new();
    for n in 0..60 {
        let dy = if n < 30 { 1.0 } else { -1.0 };
        h.event(Event::MouseWheel {
            unit: MouseWheelUnit::Line,
            delta: Vec2::new(0.0, dy),
            modifiers: Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        let t = Instant::now();
        h.step();
        times.push(ms(t.elapsed()));
    }
    times
}

fn voxmark(args: &[&std::ffi::OsStr]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(args)
        .output()
        .expect("run voxmark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn measure(name: &str, source: &Path) {
    // 1. From `voxmark PATH` to the first slice on screen.
    let t0 = Instant::now();
    let mut h = harness(vec![source.to_path_buf()]);
    wait(&mut h, |a| a.plane_rect().is_some());
    let first = t0.elapsed();
    drop(h);

    // 2. A project holding it, opened in the viewer.
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("bench.voxmark");
    voxmark(&["new".as_ref(), project.as_os_str()]);
    voxmark(&["add".as_ref(), project.as_os_str(), source.as_os_str()]);
    let t0 = Instant::now();
    let mut h = harness(vec![project.clone()]);
    wait(&mut h, |a| !a.is_loading() && a.plane_rect().is_some());
    let project_first = t0.elapsed();
    let plane = state(&h).plane_rect().expect("plane");
    let at = |fx: f32, fy: f32| plane.min + Vec2::new(plane.width() * fx, plane.height() * fy);

    // 3. Scrolling: one slice per frame.
    h.hover_at(at(0.5, 0.5));
    h.step();
    let mut scroll = scroll_frames(&mut h);

    // 4. A brush stroke: one dab per frame along a circle.
    h.state_mut()
        .as_mut()
        .expect("app")
        .push_command(voxmark::ui::Command::SetTool(Tool::Brush));
    h.step();
    let centre = at(0.5, 0.5);
    let point = |n: usize| {
        let a = n as f32 * 0.05;
        centre + Vec2::new(a.cos(), a.sin()) * plane.width() * 0.2
    };
    h.hover_at(point(0));
    h.step();
    h.drag_at(point(0));
    h.step();
    let mut dabs = Vec::new();
    for n in 1..=120 {
        h.hover_at(point(n));
        let t = Instant::now();
        h.step();
        dabs.push(ms(t.elapsed()));
    }
    h.event(Event::PointerButton {
        pos: point(120),
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    let t = Instant::now();
    h.step();
    let release = ms(t.elapsed());
    let saved = wait(&mut h, |a| a.unsaved() == 0);
    assert!(
        state(&h).problems().is_empty(),
        "{:?}",
        state(&h).problems()
    );

    scroll.sort_by(f64::total_cmp);
    dabs.sort_by(f64::total_cmp);
    println!("{name}");
    println!("  first slice on screen (files)      {:8.0} ms", ms(first));
    println!(
        "  first slice on screen (project)    {:8.0} ms",
        ms(project_first)
    );
    println!(
        "  scrolling frame       p50 {:6.1} ms  p99 {:6.1} ms",
        percentile(&scroll, 0.5),
        percentile(&scroll, 0.99)
    );
    println!(
        "  brush dab frame       p50 {:6.1} ms  p99 {:6.1} ms  (120 dabs)",
        percentile(&dabs, 0.5),
        percentile(&dabs, 0.99)
    );
    println!(
        "  stroke release frame      {:6.1} ms; in the file {:6.1} ms later",
        release,
        ms(saved)
    );
}

/// The 2×2 layout: time to the first 3D picture, then frames while orbiting the 3D view (each one a
/// new volume rendering of the whole pane) and while scrolling the sagittal plane.
fn measure_mpr_3d(name: &str, source: &Path) {
    let t0 = Instant::now();
    let mut h = harness(vec![source.to_path_buf()]);
    wait(&mut h, |a| !a.is_loading() && a.plane_rect().is_some());
    let loaded = t0.elapsed();
    h.state_mut()
        .as_mut()
        .expect("app")
        .push_command(voxmark::ui::Command::SetLayout(voxmark::ui::Layout::Quad));
    let t0 = Instant::now();
    wait(&mut h, |a| a.last_3d_render().is_some());
    let first_3d = t0.elapsed();
    let (rect, _, _) = state(&h).view_3d_state().expect("3D view");
    let centre = rect.center();
    h.hover_at(centre);
    h.step();
    h.drag_at(centre);
    h.step();
    let (mut orbit, mut renders) = (Vec::new(), Vec::new());
    for n in 1..=40 {
        // Full-resolution renders: small moves, as a user turning the view slowly.
        h.hover_at(centre + Vec2::new(n as f32 * 3.0, (n as f32 * 0.3).sin() * 10.0));
        let t = Instant::now();
        h.step();
        orbit.push(ms(t.elapsed()));
        if let Some(d) = state(&h).last_3d_render() {
            renders.push(ms(d));
        }
    }
    h.event(Event::PointerButton {
        pos: centre,
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.step();
    let sagittal = state(&h).plane_view(0).expect("sagittal view").rect;
    h.hover_at(sagittal.center());
    h.step();
    let mut scroll = scroll_frames(&mut h);
    orbit.sort_by(f64::total_cmp);
    renders.sort_by(f64::total_cmp);
    scroll.sort_by(f64::total_cmp);
    println!(
        "{name}, 2×2 layout (3D pane {:.0}×{:.0} points)",
        rect.width(),
        rect.height()
    );
    println!("  loaded (first slice)               {:8.0} ms", ms(loaded));
    println!(
        "  first 3D picture after switching   {:8.0} ms",
        ms(first_3d)
    );
    println!(
        "  orbit frame           p50 {:6.1} ms  p99 {:6.1} ms  (volume render p50 {:.1} ms)",
        percentile(&orbit, 0.5),
        percentile(&orbit, 0.99),
        percentile(&renders, 0.5)
    );
    println!(
        "  sagittal scroll frame p50 {:6.1} ms  p99 {:6.1} ms",
        percentile(&scroll, 0.5),
        percentile(&scroll, 0.99)
    );
}

/// Writes a 512×512×300 int16 CT-like phantom as an uncompressed NIfTI-1 file (body ellipse of
/// soft tissue, bone ring, air outside; 0.7 × 0.7 × 1 mm) for machines without the generated series.
fn synthetic_ct(path: &Path) {
    let (nx, ny, nz) = (512usize, 512usize, 300usize);
    let mut header = vec![0u8; 352];
    let put_i32 =
        |h: &mut Vec<u8>, at: usize, v: i32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut Vec<u8>, at: usize, v: f32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put_i32(&mut header, 0, 348);
    for (n, d) in [3i16, nx as i16, ny as i16, nz as i16, 1, 1, 1, 1]
        .into_iter()
        .enumerate()
    {
        put_i16(&mut header, 40 + 2 * n, d);
    }
    put_i16(&mut header, 70, 4); // int16
    put_i16(&mut header, 72, 16);
    for (n, p) in [1.0f32, 0.7, 0.7, 1.0].into_iter().enumerate() {
        put_f32(&mut header, 76 + 4 * n, p);
    }
    put_f32(&mut header, 108, 352.0); // vox_offset
    put_f32(&mut header, 112, 1.0); // scl_slope
    put_i16(&mut header, 254, 1); // sform_code
    let rows = [
        [-0.7f32, 0.0, 0.0, 179.0],
        [0.0, -0.7, 0.0, 179.0],
        [0.0, 0.0, 1.0, -150.0],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            put_f32(&mut header, 280 + 16 * r + 4 * c, *v);
        }
    }
    header[344..348].copy_from_slice(b"n+1\0");
    let mut data = Vec::with_capacity(nx * ny * nz * 2);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let (x, y) = ((i as f32 - 256.0) / 200.0, (j as f32 - 256.0) / 150.0);
                let z = (k as f32 - 150.0) / 160.0;
                let r = (x * x + y * y + z * z).sqrt();
                let noise = ((i * 7 + j * 13 + k * 31) % 17) as f32 - 8.0;
                let v = if r > 1.0 {
                    -1000.0
                } else if r > 0.9 {
                    700.0 + noise * 4.0
                } else {
                    40.0 + noise * 2.0 + 300.0 * (-(x * x + y * y) * 40.0).exp()
                };
                data.extend_from_slice(&(v as i16).to_le_bytes());
            }
        }
    }
    header.extend_from_slice(&data);
    std::fs::write(path, header).expect("write the phantom");
}

fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("viewer frames ({profile} build, CPU frames without a window)");
    // VOXMARK_BENCH=3d: only the 2×2 layout (no `voxmark` binary needed: for a GPU machine), on the
    // corpus CT and a synthetic 512×512×300 phantom.
    if std::env::var("VOXMARK_BENCH").as_deref() == Ok("3d") {
        let corpus = std::env::var_os("VOXMARK_TEST_DATA").map(PathBuf::from);
        if let Some(ct) = corpus.map(|c| c.join("dicom/series/ct_abdomen_20sl_j2kr"))
            && ct.is_dir()
        {
            measure_mpr_3d("corpus CT, 512×512×20", &ct);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let phantom = dir.path().join("phantom.nii");
        synthetic_ct(&phantom);
        measure_mpr_3d("phantom CT, 512×512×300", &phantom);
        return;
    }
    let corpus = std::env::var_os("VOXMARK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let ct = corpus.join("dicom/series/ct_abdomen_20sl_j2kr");
    if ct.is_dir() {
        measure("corpus CT, 512×512×20 (JPEG 2000)", &ct);
        measure_mpr_3d("corpus CT, 512×512×20", &ct);
    } else {
        println!("skipped the corpus CT: {} not found", ct.display());
    }
    let big = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data/ct_300_series");
    if big.is_dir() {
        measure("generated CT series, 512×512×300", &big);
    } else {
        println!("skipped the 512×512×300 series: run tools/bench_peers.py once to generate it");
    }
}
