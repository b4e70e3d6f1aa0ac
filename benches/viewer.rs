//! Viewer responsiveness, measured through the real `AppState` in an `egui_kittest` harness (CPU
//! frames, no window): time from opening a path to the first slice on screen, the frame time of a
//! brush stroke (one dab per frame, the stroke committed by the writer thread) and of scrolling.
//!
//! `cargo bench --bench viewer` (release) or `cargo test --bench viewer` (debug; what CI runs).
//! Data: the corpus CT (`$VOXMARK_TEST_DATA` or `../shared/data`) and, when present, the generated
//! 512×512×300 series of `tools/bench_peers.py` in `bench-data/ct_300_series`.
//! Prints numbers only: timings do not belong in assertions.

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
    let mut scroll = Vec::new();
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
        scroll.push(ms(t.elapsed()));
    }

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

fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("viewer frames ({profile} build, CPU frames without a window)");
    let corpus = std::env::var_os("VOXMARK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let ct = corpus.join("dicom/series/ct_abdomen_20sl_j2kr");
    if ct.is_dir() {
        measure("corpus CT, 512×512×20 (JPEG 2000)", &ct);
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
