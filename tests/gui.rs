//! The viewer driven through `egui_kittest`: the real `AppState` with its panels, tools, undo and
//! project writer, fed pointer and key events as a user makes them, and queried through AccessKit.
//!
//! The flow: a project with the corpus CT (made by the `voxmark` binary) opens; the user scrolls,
//! changes the window, draws a box and a brush stroke, undoes and redoes; the project file then holds
//! exactly what the app shows, and a fresh app opened on it shows the same regions. A snapshot of
//! the layout is compared on lavapipe (GPU tests; skipped without an adapter unless
//! `VOXMARK_REQUIRE_GPU_TESTS=1`).
#![cfg(feature = "gui")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use egui::{Event, Key, Modifiers, MouseWheelUnit, PointerButton, Pos2, Vec2};
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use voxmark::core::{Document, Shape};
use voxmark::store::Project;
use voxmark::ui::tools::Tool;
use voxmark::ui::{AppState, Command};

type App = Option<AppState>;

fn harness(paths: Vec<PathBuf>, gpu: bool) -> Harness<'static, App> {
    harness_with(paths, gpu, |_| {})
}

/// A harness whose app `setup` adjusts before its first frame.
fn harness_with(
    paths: Vec<PathBuf>,
    gpu: bool,
    setup: impl Fn(&mut AppState) + 'static,
) -> Harness<'static, App> {
    let mut builder = Harness::builder().with_size(Vec2::new(1280.0, 800.0));
    if gpu {
        builder = builder.wgpu();
    }
    builder.build_ui_state(
        move |ui, app: &mut App| {
            app.get_or_insert_with(|| {
                let mut a = AppState::with_context(ui.ctx(), "test".into(), paths.clone());
                a.set_user("tester");
                setup(&mut a);
                a
            })
            .frame_ui(ui);
        },
        None,
    )
}

fn app<'a>(h: &'a Harness<'_, App>) -> &'a AppState {
    h.state()
        .as_ref()
        .expect("the app exists after the first frame")
}

/// Steps until `done` holds (the loader and writer run on their own threads).
fn step_until(h: &mut Harness<'_, App>, what: &str, done: impl Fn(&AppState) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if h.state().as_ref().is_some_and(&done) {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}; problems: {:?}",
            h.state().as_ref().map(AppState::problems)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A drag with the primary button through `points`, one frame per point.
fn drag(h: &mut Harness<'_, App>, points: &[Pos2]) {
    h.hover_at(points[0]);
    h.step();
    h.drag_at(points[0]);
    h.step();
    for p in &points[1..] {
        h.hover_at(*p);
        h.step();
    }
    h.event(Event::PointerButton {
        pos: *points.last().unwrap(),
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.step();
    h.step();
}

fn project_with_ct(dir: &Path) -> Option<PathBuf> {
    let corpus = common::corpus()?;
    let project = dir.join("ct.voxmark");
    let ct = corpus.join("dicom/series/ct_abdomen_20sl_j2kr");
    let run = common::voxmark(["new".as_ref(), project.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = common::voxmark(["add".as_ref(), project.as_os_str(), ct.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    Some(project)
}

fn gpu_available() -> bool {
    let dir = common::gpu::xdg_runtime_dir();
    let _ = std::fs::create_dir_all(&dir);
    common::gpu::gpu().is_some()
}

/// The project's first image (images get their identities when they are added).
fn first_image(p: &Project) -> voxmark::core::Id {
    *p.load_document().unwrap().images.keys().next().unwrap()
}

/// Regions of the document without their timestamps, for comparing app and file.
fn shapes(doc: &Document) -> Vec<(voxmark::core::Id, String, Option<usize>)> {
    doc.regions
        .values()
        .map(|r| {
            (
                r.id,
                r.shape.kind().to_string(),
                doc.masks.get(&r.id).map(|m| m.count()),
            )
        })
        .collect()
}

#[test]
fn annotate_the_corpus_ct_undo_redo_and_find_it_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    let gpu = gpu_available();
    let mut h = harness(vec![project.clone()], gpu);
    step_until(&mut h, "the CT to load", |a| {
        !a.is_loading() && a.slice().is_some() && a.plane_rect().is_some()
    });
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    assert_eq!(app(&h).slice(), Some(10), "opens on the middle slice of 20");
    let plane = app(&h).plane_rect().unwrap();
    let at = |fx: f32, fy: f32| plane.min + Vec2::new(plane.width() * fx, plane.height() * fy);

    // Scroll two slices forward with the wheel over the image.
    h.hover_at(at(0.5, 0.5));
    h.event(Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, 2.0),
        modifiers: Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
    });
    h.step();
    h.step();
    assert_eq!(app(&h).slice(), Some(12));

    // Change the window with a right-drag: wider and higher.
    let before = app(&h).window().unwrap();
    h.hover_at(at(0.3, 0.3));
    h.step();
    h.event(Event::PointerButton {
        pos: at(0.3, 0.3),
        button: PointerButton::Secondary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.step();
    h.hover_at(at(0.4, 0.35));
    h.step();
    h.hover_at(at(0.5, 0.4));
    h.step();
    h.event(Event::PointerButton {
        pos: at(0.5, 0.4),
        button: PointerButton::Secondary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.step();
    let after = app(&h).window().unwrap();
    assert!(
        after.1 > before.1 && after.0 > before.0,
        "{before:?} → {after:?}"
    );

    // The box tool from its toolbar button, found through AccessKit.
    h.get_by_label("Box").click();
    h.step();
    h.step();
    assert_eq!(app(&h).tool(), Tool::Box);
    drag(&mut h, &[at(0.3, 0.3), at(0.4, 0.4), at(0.5, 0.45)]);
    let doc = app(&h).document().unwrap();
    assert_eq!(doc.regions.len(), 1, "one box");
    let b = doc.regions.values().next().unwrap();
    assert_eq!(b.author.to_string(), "human:tester");
    let Shape::Box2d { slice, min, max } = &b.shape else {
        panic!("{:?}", b.shape)
    };
    assert_eq!(*slice, 12);
    // 512 columns: the box spans about a fifth of the width and 15% of the height.
    assert!((max[0] - min[0] - 102.4).abs() < 3.0, "{min:?} {max:?}");
    assert!((max[1] - min[1] - 76.8).abs() < 3.0, "{min:?} {max:?}");
    assert_eq!(doc.labels.len(), 1, "drawing made Label 1");

    // A brush stroke with the D key.
    h.key_press(Key::D);
    h.step();
    assert_eq!(app(&h).tool(), Tool::Brush);
    drag(
        &mut h,
        &[at(0.6, 0.6), at(0.65, 0.6), at(0.7, 0.62), at(0.75, 0.65)],
    );
    let painted = {
        let doc = app(&h).document().unwrap();
        assert_eq!(doc.regions.len(), 2, "box and mask");
        let mask = doc.masks.values().next().expect("a mask region");
        let n = mask.count();
        let bounds = mask.bounds().unwrap();
        assert_eq!(
            (bounds.min[2], bounds.max[2]),
            (12, 13),
            "a disc brush stays on its slice"
        );
        // The capsule a 3 mm brush sweeps along the stroke: 2rL + πr² voxels.
        let record = &Project::open(&project).unwrap().images().unwrap()[0];
        let r = 3.0 / record.spacing_mm[0];
        let [nx, ny, _] = record.size;
        let stroke = [(0.6, 0.6), (0.65, 0.6), (0.7, 0.62), (0.75, 0.65)];
        let length: f64 = stroke
            .windows(2)
            .map(|w| ((w[1].0 - w[0].0) * nx as f64).hypot((w[1].1 - w[0].1) * ny as f64))
            .sum();
        let expected = 2.0 * r * length + std::f64::consts::PI * r * r;
        assert!(
            (n as f64 - expected).abs() < 0.15 * expected,
            "{n} voxels, expected about {expected:.0}"
        );
        n
    };

    // Undo removes the stroke (and its new mask), redo brings it back.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(app(&h).document().unwrap().regions.len(), 1);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.step();
    assert_eq!(shapes(app(&h).document().unwrap()).len(), 2);
    let in_app = shapes(app(&h).document().unwrap());
    assert_eq!(in_app[1].2, Some(painted));

    // Everything applied is in the file.
    step_until(&mut h, "the writer to save", |a| a.unsaved() == 0);
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    if gpu {
        h.hover_at(at(0.95, 0.95));
        h.step();
        h.snapshot_options(
            "viewer_ct_annotated",
            &SnapshotOptions::new()
                .threshold(2.0)
                .max_failed_pixels(2000),
        );
    }
    drop(h);
    let file = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(shapes(&file), in_app);
    assert!(Project::open(&project).unwrap().check().unwrap().is_empty());

    // A fresh app on the same file shows the same regions.
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the project to reopen", |a| {
        !a.is_loading() && a.document().is_some() && a.slice().is_some()
    });
    assert_eq!(shapes(app(&h).document().unwrap()), in_app);
}

#[test]
fn editing_tools_are_disabled_without_a_project() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let file = corpus.join("cxr/tbx11k/imgs/health/h0001.png");
    let mut h = harness(vec![file], false);
    step_until(&mut h, "the image to load", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    // The key is refused politely: the tool stays, the status bar says why.
    h.key_press(Key::B);
    h.step();
    assert_eq!(app(&h).tool(), Tool::Navigate);
    let plane = app(&h).plane_rect().unwrap();
    drag(
        &mut h,
        &[plane.center(), plane.center() + Vec2::new(60.0, 60.0)],
    );
    assert!(app(&h).document().is_none());
    assert!(h.query_by_label("Box").is_some());
}

#[test]
fn a_new_project_from_an_open_chest_x_ray_takes_boxes_and_more_images() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cxr = corpus.join("cxr/tbx11k/imgs/health/h0001.png");
    let mut h = harness(vec![cxr], false);
    step_until(&mut h, "the image to load", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    let path = dir.path().join("new");
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::NewProject(path.clone()));
    h.step();
    step_until(&mut h, "the new project to open", |a| {
        !a.is_loading()
            && a.document().is_some_and(|d| d.images.len() == 1)
            && a.plane_rect().is_some()
    });
    assert_eq!(
        app(&h).image_count(),
        1,
        "the loose image became the project's"
    );
    draw_box(&mut h);
    let plane = app(&h).plane_rect().unwrap();
    assert_eq!(app(&h).document().unwrap().regions.len(), 1);
    // Threshold fill (T): the range starts as the window, here the full 0…255 of the PNG, so the
    // connected fill from any voxel is the whole image; it runs on its own thread.
    h.key_press(Key::T);
    h.step();
    assert_eq!(app(&h).tool(), Tool::Threshold);
    click(
        &mut h,
        plane.center() + Vec2::new(-60.0, 40.0),
        Modifiers::NONE,
    );
    step_until(&mut h, "the threshold fill", |a| {
        a.document().is_some_and(|d| d.regions.len() == 2)
    });
    let filled = app(&h)
        .document()
        .unwrap()
        .masks
        .values()
        .next()
        .unwrap()
        .count();
    let [nx, ny, _] = Project::open(&dir.path().join("new.voxmark"))
        .unwrap()
        .images()
        .unwrap()[0]
        .size;
    assert_eq!(filled, nx * ny, "the whole slice");
    let more = corpus.join("cxr/tbx11k/imgs/tb/tb0005.png");
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::AddImages(vec![more]));
    h.step();
    step_until(&mut h, "the image to be added", |a| {
        !a.is_loading() && a.document().is_some_and(|d| d.images.len() == 2)
    });
    assert_eq!(app(&h).image_count(), 2);
    // The same file dropped again is the image the project has: shown, not added twice.
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::AddImages(vec![
            corpus.join("cxr/tbx11k/imgs/tb/tb0005.png"),
        ]));
    h.step();
    // (Its message may give way at once to the writer's news of the first add.)
    step_until(&mut h, "the second add to finish", |a| !a.is_loading());
    assert_eq!(app(&h).image_count(), 2);
    assert_eq!(app(&h).document().unwrap().images.len(), 2);
    step_until(&mut h, "the writer to save", |a| a.unsaved() == 0);
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    drop(h);
    let file = dir.path().join("new.voxmark");
    let project = Project::open(&file).unwrap();
    assert_eq!(project.images().unwrap().len(), 2);
    assert_eq!(project.load_document().unwrap().regions.len(), 2);
    assert!(project.check().unwrap().is_empty());
}

/// A project holding a corpus chest X-ray (TBX11K h0001, 512×512) with `report` as its report.
fn cxr_project_with_report(dir: &Path, report: &str) -> Option<PathBuf> {
    let corpus = common::corpus()?;
    let project = dir.join("cxr.voxmark");
    let report_file = dir.join("report.txt");
    std::fs::write(&report_file, report).unwrap();
    let cxr = corpus.join("cxr/tbx11k/imgs/health/h0001.png");
    assert_eq!(
        common::voxmark(["new".as_ref(), project.as_os_str()]).code,
        0
    );
    let run = common::voxmark([
        "add".as_ref(),
        project.as_os_str(),
        cxr.as_os_str(),
        "--report".as_ref(),
        report_file.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    Some(project)
}

#[test]
fn ground_a_report_phrase_review_a_proposal_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Small right pleural effusion. No pneumothorax.";
    let Some(project) = cxr_project_with_report(dir.path(), text) else {
        return;
    };
    // A model's proposal, as an import would leave it.
    {
        use voxmark::core::{Author, Edit, Region, Status, Transaction};
        let mut p = Project::open(&project).unwrap();
        let image = first_image(&p);
        let region = Region {
            id: voxmark::core::Id::from_u128(1),
            image,
            label: None,
            shape: Shape::Box2d {
                slice: 0,
                min: [100.0, 100.0],
                max: [200.0, 180.0],
            },
            author: Author::Model {
                name: "detector".into(),
                version: "1".into(),
            },
            prompt: None,
            status: Status::Proposed,
            confidence: Some(0.8),
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        };
        let t = Transaction {
            name: "import".into(),
            edits: vec![Edit::AddRegion {
                region,
                mask: None,
                links: vec![],
            }],
        };
        p.commit(&t, "model:detector@1").unwrap();
    }
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the project to open", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });

    // Review: N selects the proposal, A accepts it.
    h.key_press(Key::N);
    h.step();
    h.key_press(Key::A);
    h.step();
    h.step();
    let doc = app(&h).document().unwrap();
    assert_eq!(
        doc.regions[&voxmark::core::Id::from_u128(1)].status,
        voxmark::core::Status::Accepted
    );
    h.key_press(Key::Escape);
    h.step();

    // Select "No pneumothorax." at the end of the report with the keyboard, then P.
    h.get_by_value(text).click();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::End);
    h.step();
    for _ in 0..16 {
        h.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    }
    h.step();
    h.key_press(Key::P);
    h.step();
    h.step();
    let doc = app(&h).document().unwrap();
    assert_eq!(doc.phrases.len(), 1, "{:?}", app(&h).problems());
    let phrase = doc.phrases.values().next().unwrap();
    assert_eq!(phrase.span, Some((30, 46)));
    assert_eq!(phrase.text, "No pneumothorax.");
    let phrase_id = phrase.id;

    // The new phrase is active: a box drawn now grounds it.
    let plane = app(&h).plane_rect().unwrap();
    h.key_press(Key::B);
    h.step();
    drag(
        &mut h,
        &[plane.center(), plane.center() + Vec2::new(70.0, 40.0)],
    );
    let doc = app(&h).document().unwrap();
    assert_eq!(doc.regions.len(), 2);
    let linked: Vec<voxmark::core::Id> = doc.regions_of(phrase_id).collect();
    let drawn: Vec<voxmark::core::Id> = doc
        .regions
        .keys()
        .filter(|k| **k != voxmark::core::Id::from_u128(1))
        .copied()
        .collect();
    assert_eq!(linked, drawn, "the box drawn now grounds the phrase");
    assert_eq!(
        doc.phrases[&phrase_id].grounding,
        voxmark::core::Grounding::Annotated
    );

    // Undo takes the box and its link back; the phrase stays, pending again.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    let doc = app(&h).document().unwrap();
    assert_eq!(doc.regions.len(), 1);
    assert!(doc.links.is_empty());
    assert_eq!(
        doc.phrases[&phrase_id].grounding,
        voxmark::core::Grounding::Pending
    );
    step_until(&mut h, "the writer to save", |a| a.unsaved() == 0);
    drop(h);
    let file = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(file.phrases[&phrase_id].span, Some((30, 46)));
    assert_eq!(
        file.regions[&voxmark::core::Id::from_u128(1)].status,
        voxmark::core::Status::Accepted
    );
    assert!(file.links.is_empty());
}

/// A primary click at `p` with `modifiers` held.
fn click(h: &mut Harness<'_, App>, p: Pos2, modifiers: Modifiers) {
    h.hover_at(p);
    h.event(Event::ModifiersChanged(modifiers));
    h.step();
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos: p,
            button: PointerButton::Primary,
            pressed,
            modifiers,
        });
        h.step();
    }
    h.event(Event::ModifiersChanged(Modifiers::NONE));
    h.step();
}

/// A wheel movement of `lines` over the current hover position.
fn wheel(h: &mut Harness<'_, App>, lines: f32) {
    h.event(Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, lines),
        modifiers: Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
    });
    h.step();
    h.step();
}

#[test]
fn mpr_and_3d_views_follow_one_crosshair() {
    use voxmark::ui::Layout;
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    let gpu = gpu_available();
    let mut h = harness(vec![project], gpu);
    step_until(&mut h, "the CT to load", |a| {
        !a.is_loading() && a.slice().is_some() && a.plane_rect().is_some()
    });
    assert_eq!(
        app(&h).cursor(),
        Some([256, 256, 10]),
        "starts at the centre"
    );

    // 3: three planes in a row; 4: 2×2 with the 3D view.
    h.key_press(Key::Num3);
    h.step();
    h.step();
    assert_eq!(app(&h).layout(), Layout::Mpr);
    assert!(app(&h).plane_view(0).is_some() && app(&h).plane_view(1).is_some());
    assert!(app(&h).view_3d_state().is_none(), "no 3D view in 1×3");
    h.key_press(Key::Num4);
    h.step();
    h.step();
    assert_eq!(app(&h).layout(), Layout::Quad);

    // The coronal plane (across j) has i across and k up: a click there moves i and k.
    let coronal = app(&h).plane_view(1).expect("the coronal view is drawn");
    assert_eq!(coronal.axes, [0, 2]);
    assert!(
        coronal.flips[1],
        "k runs inferior → superior, drawn upwards"
    );
    click(
        &mut h,
        coronal.screen_from_voxel([100.0, 5.0]),
        Modifiers::NONE,
    );
    assert_eq!(app(&h).cursor(), Some([100, 256, 5]));
    assert_eq!(app(&h).slice(), Some(5), "the axial view follows");

    // The wheel over the sagittal plane (across i) moves i.
    let sagittal = app(&h).plane_view(0).expect("the sagittal view is drawn");
    h.hover_at(sagittal.rect.center());
    h.step();
    wheel(&mut h, 3.0);
    assert_eq!(app(&h).cursor(), Some([103, 256, 5]));

    // Shift+click in the axial view moves i and j.
    let axial = app(&h).plane_rect().unwrap();
    let p = axial.min + Vec2::new(axial.width() * 0.25, axial.height() * 0.75);
    click(&mut h, p, Modifiers::SHIFT);
    let [i, j, k] = app(&h).cursor().unwrap();
    assert_eq!(k, 5);
    assert!(
        (i as f64 - 128.0).abs() <= 1.0 && (j as f64 - 384.0).abs() <= 1.0,
        "{i} {j}"
    );

    if !gpu {
        return;
    }
    step_until(&mut h, "the 3D view to render", |a| {
        a.last_3d_render().is_some()
    });
    let (rect, az, el) = app(&h).view_3d_state().unwrap();
    assert_eq!((az, el), (0.0, 0.0), "from the front");
    h.hover_at(Pos2::new(rect.center().x, rect.max.y - 40.0));
    h.step();
    h.snapshot_options(
        "viewer_ct_quad",
        &SnapshotOptions::new()
            .threshold(2.0)
            .max_failed_pixels(3000),
    );
    // Dragging in the 3D view orbits it: 40 points to the right turns 20° about S.
    drag(
        &mut h,
        &[
            rect.center(),
            rect.center() + Vec2::new(20.0, 0.0),
            rect.center() + Vec2::new(40.0, 0.0),
        ],
    );
    let (_, az, el) = app(&h).view_3d_state().unwrap();
    assert!((az - 340.0).abs() < 1e-9 && el == 0.0, "{az} {el}");
}

#[test]
fn the_start_screen_opens_the_demo_project() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("demo");
    let mut h = harness(Vec::new(), false);
    h.step();
    h.state_mut()
        .as_mut()
        .unwrap()
        .set_demo_folder(folder.clone());
    h.get_by_label("Open the demo project").click();
    h.step();
    step_until(&mut h, "the demo project", |a| {
        !a.is_loading() && a.document().is_some_and(|d| d.images.len() == 3) && a.slice().is_some()
    });
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    step_until(&mut h, "the writer", |a| a.unsaved() == 0);
    drop(h);
    let project = Project::open(&folder.join("demo.voxmark")).unwrap();
    let images = project.images().unwrap();
    let mut sizes: Vec<[usize; 3]> = images.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [[197, 233, 189], [512, 512, 1], [1841, 1955, 1]]);
    // A second time the project is reopened, not made again.
    let mut h = harness(Vec::new(), false);
    h.step();
    h.state_mut().as_mut().unwrap().set_demo_folder(folder);
    h.get_by_label("Open the demo project").click();
    h.step();
    step_until(&mut h, "the demo project again", |a| {
        !a.is_loading() && a.document().is_some_and(|d| d.images.len() == 3)
    });
}

#[test]
fn brush_box_point_and_ruler_draw_in_the_planes_across() {
    use voxmark::ui::Layout;
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the CT to load", |a| {
        !a.is_loading() && a.slice().is_some() && a.plane_rect().is_some()
    });
    h.key_press(Key::Num3);
    h.step();
    h.step();
    assert_eq!(app(&h).layout(), Layout::Mpr);
    let [ci, cj, _] = app(&h).cursor().unwrap();

    // A brush stroke in the sagittal plane (across i, at i = ci) paints j and k, never another i.
    h.key_press(Key::D);
    h.step();
    let sagittal = app(&h).plane_view(0).unwrap();
    let points: Vec<Pos2> = [(200.0, 4.0), (230.0, 8.0), (260.0, 12.0)]
        .iter()
        .map(|&(j, k)| sagittal.screen_from_voxel([j, k]))
        .collect();
    drag(&mut h, &points);
    {
        let doc = app(&h).document().unwrap();
        let mask = doc.masks.values().next().expect("the stroke made a mask");
        let b = mask.bounds().unwrap();
        assert_eq!(
            (b.min[0], b.max[0]),
            (ci, ci + 1),
            "one voxel thick across i"
        );
        assert!(b.min[1] <= 200 && b.max[1] > 260, "{b:?}");
        assert!(b.min[2] <= 4 && b.max[2] > 12, "{b:?}");
        assert!(mask.get([ci, 230, 8]) == 1 && mask.get([ci, 245, 10]) == 1);
    }
    assert_eq!(
        app(&h).cursor().unwrap()[..2],
        [ci, cj],
        "drawing does not move the crosshair"
    );

    // A box in the coronal plane (across j): one voxel thick in j, over the slices it covers.
    h.key_press(Key::B);
    h.step();
    let coronal = app(&h).plane_view(1).unwrap();
    drag(
        &mut h,
        &[
            coronal.screen_from_voxel([100.0, 3.0]),
            coronal.screen_from_voxel([140.0, 6.0]),
            coronal.screen_from_voxel([180.0, 9.0]),
        ],
    );
    {
        let doc = app(&h).document().unwrap();
        let boxes: Vec<&Shape> = doc
            .regions
            .values()
            .map(|r| &r.shape)
            .filter(|s| matches!(s, Shape::Box3d { .. }))
            .collect();
        let [Shape::Box3d { min, max }] = boxes[..] else {
            panic!("one 3D box expected: {boxes:?}");
        };
        let near = |a: f64, b: f64| (a - b).abs() <= 0.6;
        assert!(
            near(min[0], 100.0) && near(max[0], 180.0),
            "{min:?} {max:?}"
        );
        assert_eq!([min[1], max[1]], [cj as f64 - 0.5, cj as f64 + 0.5]);
        assert_eq!([min[2], max[2]], [3.0, 9.0], "slices 3 to 9");
    }

    // A point in the sagittal plane lies at i = ci.
    h.key_press(Key::O);
    h.step();
    click(
        &mut h,
        sagittal.screen_from_voxel([300.0, 15.0]),
        Modifiers::NONE,
    );
    let doc = app(&h).document().unwrap();
    let at = doc
        .regions
        .values()
        .find_map(|r| match r.shape {
            Shape::Point { at } => Some(at),
            _ => None,
        })
        .expect("a point");
    assert!(
        (at[0] - ci as f64).abs() < 1e-9 && (at[1] - 300.0).abs() < 0.6,
        "{at:?}"
    );
    assert!((at[2] - 15.0).abs() < 0.6, "{at:?}");

    // A ruler in the coronal plane: a line at j = cj over slices, its length in mm counting the
    // slice spacing.
    h.key_press(Key::M);
    h.step();
    drag(
        &mut h,
        &[
            coronal.screen_from_voxel([100.0, 2.0]),
            coronal.screen_from_voxel([130.0, 7.0]),
            coronal.screen_from_voxel([160.0, 12.0]),
        ],
    );
    let doc = app(&h).document().unwrap();
    let (a, b) = doc
        .regions
        .values()
        .find_map(|r| match r.shape {
            Shape::Line { a, b } => Some((a, b)),
            _ => None,
        })
        .expect("a line");
    let near = |x: f64, y: f64| (x - y).abs() < 0.6;
    assert!(
        near(a[0], 100.0) && near(a[2], 2.0) && near(b[0], 160.0) && near(b[2], 12.0),
        "{a:?} {b:?}"
    );
    assert_eq!((a[1], b[1]), (cj as f64, cj as f64));
    let spacing = Project::open(&project).unwrap().images().unwrap()[0].spacing_mm;
    let mm = voxmark::core::annotation::length_mm(a, b, spacing);
    let expected = ((b[0] - a[0]) * spacing[0]).hypot((b[2] - a[2]) * spacing[2]);
    assert!(
        (mm - expected).abs() < 1e-9 && spacing[2] != spacing[0],
        "{mm} {spacing:?}"
    );
    // With the select tool, a click on the slanted ruler in that plane selects it.
    let line_id = doc
        .regions
        .values()
        .find(|r| matches!(r.shape, Shape::Line { .. }))
        .unwrap()
        .id;
    h.key_press(Key::V);
    h.step();
    // (Drawing it selected it: Escape lets go first.)
    h.key_press(Key::Escape);
    h.step();
    assert_eq!(app(&h).selected_region(), None);
    click(
        &mut h,
        coronal.screen_from_voxel([130.0, 7.0]),
        Modifiers::NONE,
    );
    assert_eq!(app(&h).selected_region(), Some(line_id));
    // (The click also moved the crosshair there.)
    let ci = app(&h).cursor().unwrap()[0];
    h.key_press(Key::M);
    h.step();

    // Shift+click with a drawing tool still moves the crosshair; each drawing was one undo step.
    click(
        &mut h,
        sagittal.screen_from_voxel([50.0, 2.0]),
        Modifiers::SHIFT,
    );
    assert_eq!(app(&h).cursor(), Some([ci, 50, 2]));
    for left in [3, 2, 1, 0] {
        h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
        h.step();
        assert_eq!(app(&h).document().unwrap().regions.len(), left);
    }
    step_until(&mut h, "the writer", |a| a.unsaved() == 0);
}

/// Runs in a child process of this test binary with `ORT_DYLIB_PATH` naming no library (the runtime is
/// looked for once per process).
#[test]
fn without_onnx_runtime_the_app_starts_and_says_inference_is_unavailable() {
    const NAME: &str = "without_onnx_runtime_the_app_starts_and_says_inference_is_unavailable";
    if std::env::var_os("VOXMARK_GUI_NO_ORT_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
            .env("VOXMARK_GUI_NO_ORT_CHILD", "1")
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("1 passed"), "{text}");
        return;
    }
    let mut h = harness(Vec::new(), false);
    h.step();
    assert!(
        h.query_by_label("Open the demo project").is_some(),
        "the app runs"
    );
    h.key_press(Key::F1);
    // ONNX Runtime is looked for on a background thread; the help says so until it is done.
    for _ in 0..200 {
        h.step();
        if h.query_by_label_contains("Inference unavailable").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let line = h
        .query_by_label_contains("Inference unavailable")
        .expect("the help says inference is unavailable");
    let text = format!("{line:?}");
    assert!(text.contains("/nonexistent/libonnxruntime.so"), "{text}");
}

/// The model box tool and whole-image model jobs run on the model thread; proposals arrive as one undo
/// step each, and a job can be cancelled. The promptable test graph's mask is the prompt box itself.
#[cfg(feature = "inference")]
#[test]
fn the_model_box_proposes_a_mask_and_model_jobs_run_in_the_background() {
    if let Err(e) = voxmark::inference::runtime::get() {
        return common::skip_without_ort(&e.to_string());
    }
    let Some(models) = common::test_models() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    let mut h = harness(vec![project], false);
    step_until(&mut h, "the CT to load", |a| {
        !a.is_loading() && a.slice().is_some() && a.slice_view().is_some()
    });
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::ChooseModel(models.join("promptbox.toml")));
    h.key_press(Key::I);
    h.step();
    assert_eq!(app(&h).tool(), Tool::ModelBox);
    let k = app(&h).slice().unwrap();
    let view = app(&h).slice_view().unwrap();
    drag(
        &mut h,
        &[
            view.screen_from_voxel([100.0, 150.0]),
            view.screen_from_voxel([150.0, 200.0]),
            view.screen_from_voxel([200.0, 260.0]),
        ],
    );
    step_until(&mut h, "the model's proposal", |a| {
        !a.model_busy() && a.document().is_some_and(|d| !d.regions.is_empty())
    });
    let doc = app(&h).document().unwrap();
    let region = doc.regions.values().next().unwrap();
    assert_eq!(region.author.to_string(), "model:test-promptbox@1");
    assert_eq!(region.status, voxmark::core::Status::Proposed);
    assert_eq!(region.confidence, Some(0.75));
    let b = doc.masks[&region.id].bounds().unwrap();
    assert_eq!((b.min[2], b.max[2]), (k, k + 1));
    // The mask is the box, within the 64-pixel model frame's resolution (8 CT pixels).
    let near = |a: usize, b: usize| a.abs_diff(b) <= 8;
    assert!(near(b.min[0], 100) && near(b.max[0], 201), "{b:?}");
    assert!(near(b.min[1], 150) && near(b.max[1], 261), "{b:?}");
    assert!(app(&h).message().unwrap_or("").contains("A accepts"));
    // The proposal is selected: A accepts it.
    h.key_press(Key::A);
    h.step();
    let doc = app(&h).document().unwrap();
    assert_eq!(
        doc.regions.values().next().unwrap().status,
        voxmark::core::Status::Accepted
    );

    // A segmentation model on the whole image, in the background.
    let state = h.state_mut().as_mut().unwrap();
    state.push_command(Command::ChooseModel(models.join("seg2d.toml")));
    state.push_command(Command::RunModel);
    h.step();
    step_until(&mut h, "the segmentation", |a| {
        !a.model_busy() && a.document().is_some_and(|d| d.regions.len() == 3)
    });
    let doc = app(&h).document().unwrap();
    let names: Vec<&str> = doc
        .regions
        .values()
        .skip(1)
        .map(|r| doc.labels[&r.label.unwrap()].name.as_str())
        .collect();
    assert_eq!(names, ["soft", "dense"]);
    // One undo step takes the whole job back.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(app(&h).document().unwrap().regions.len(), 1);

    // A 3D job cancelled at once leaves nothing.
    let state = h.state_mut().as_mut().unwrap();
    state.push_command(Command::ChooseModel(models.join("seg3d.toml")));
    state.push_command(Command::RunModel);
    h.step();
    assert!(app(&h).model_busy());
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::CancelModel);
    h.step();
    step_until(&mut h, "the cancelled job to end", |a| !a.model_busy());
    assert!(
        app(&h).message().unwrap_or("").contains("cancelled"),
        "{:?}",
        app(&h).message()
    );
    assert_eq!(app(&h).document().unwrap().regions.len(), 1);
}

#[test]
fn the_start_screen_lists_recent_projects_and_settings_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    // What a previous session left in the config folder: a recent project, a light theme and a
    // CT preset of the user's own.
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("recent-projects.txt"),
        format!("{}\n/gone/missing.voxmark\n", project.display()),
    )
    .unwrap();
    std::fs::write(
        config.join("settings.toml"),
        "theme = \"light\"\n\n[[window_presets]]\nname = \"CT liver\"\nmodality = \"CT\"\ncenter = 60\nwidth = 160\n",
    )
    .unwrap();
    let mut h = harness(Vec::new(), false);
    h.step();
    let ctx = h.ctx.clone();
    h.state_mut()
        .as_mut()
        .unwrap()
        .use_config_dir(&ctx, config.clone());
    h.step();
    assert!(!app(&h).is_dark());
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    // The start screen: demo, quick start, and only the recent project that still exists.
    h.get_by_label("Open the demo project");
    h.get_by_label("Quick start");
    assert!(h.query_by_label("missing.voxmark").is_none());

    // Settings: dark theme, one more preset for every modality; saved to the config folder.
    h.get_by_label("Settings").click();
    // A click, the command, then the window's sizing pass (drawn invisible).
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label("Dark").click();
    h.step();
    h.get_by_label("Add preset").click();
    // The window grows by a row and is centred again over the next frames.
    h.run();
    h.get_by_label("Save").click();

    h.step();
    h.step();
    assert!(app(&h).is_dark());
    let saved = std::fs::read_to_string(config.join("settings.toml")).unwrap();
    let prefs = voxmark::ui::prefs::Preferences::parse(&saved).unwrap();
    assert_eq!(prefs.theme, voxmark::ui::prefs::ThemeChoice::Dark);
    let names: Vec<&str> = prefs
        .window_presets
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["CT liver", "preset 2"]);
    assert_eq!(prefs.window_presets[1].modality, None);

    // The recent project opens from the start screen with the user's presets after the file's.
    h.get_by_label("ct.voxmark").click();
    step_until(&mut h, "the recent project", |a| {
        !a.is_loading() && a.slice().is_some()
    });
    let names = app(&h).window_preset_names();
    let liver = names.iter().position(|n| n == "CT liver").unwrap();
    let any = names.iter().position(|n| n == "preset 2").unwrap();
    let auto = names.iter().position(|n| n.starts_with("auto")).unwrap();
    assert!(liver < any && any < auto, "{names:?}");
    assert!(!names.iter().any(|n| n == "CT lung"), "{names:?}");
    // Opening it put it first in the recent list, still in the same folder.
    let recent = std::fs::read_to_string(config.join("recent-projects.txt")).unwrap();
    assert_eq!(recent.lines().next(), Some(project.to_str().unwrap()));
}

/// Review of a model's grounding: the phrase's IoU in the panel, its heatmap over the image, the
/// human / model filter, and editing the report with the phrase span following the text (undoable).
#[test]
fn review_model_grounding_heatmap_filter_metrics_and_report_edits() {
    use voxmark::core::{
        Author, Edit, Grounding, Heatmap, Label, Phrase, Region, Status, Transaction,
    };
    let dir = tempfile::tempdir().unwrap();
    let text = "Small right pleural effusion. No pneumothorax.";
    let Some(project) = cxr_project_with_report(dir.path(), text) else {
        return;
    };
    // The reader's box (columns and rows 100..=199) and the model's (columns 150..=249, same rows)
    // ground "Small right pleural effusion": IoU = 50·100 / (150·100) = 1/3. The model's heatmap
    // peaks in its top-left quarter.
    let reader: Author = "human:reader".parse().unwrap();
    let model: Author = "model:grounder@1".parse().unwrap();
    {
        let mut p = Project::open(&project).unwrap();
        let image = first_image(&p);
        let region = |id: u128, author: &Author, min: [f64; 2], max: [f64; 2]| Region {
            id: voxmark::core::Id::from_u128(id),
            image,
            label: Some(voxmark::core::Id::from_u128(1)),
            shape: Shape::Box2d { slice: 0, min, max },
            author: author.clone(),
            prompt: None,
            status: if author == &model {
                Status::Proposed
            } else {
                Status::Accepted
            },
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        };
        let mut values = vec![0.0f32; 16];
        values[0] = 1.0;
        let t = Transaction {
            name: "review".into(),
            edits: vec![
                Edit::AddLabel(Label {
                    id: voxmark::core::Id::from_u128(1),
                    name: "Effusion".into(),
                    color: [0x34, 0x98, 0xdb, 0xff],
                }),
                Edit::AddRegion {
                    region: region(1, &reader, [100.0, 100.0], [199.0, 199.0]),
                    mask: None,
                    links: vec![],
                },
                Edit::AddRegion {
                    region: region(2, &model, [150.0, 100.0], [249.0, 199.0]),
                    mask: None,
                    links: vec![],
                },
                Edit::AddPhrase {
                    phrase: Phrase {
                        id: voxmark::core::Id::from_u128(1),
                        image,
                        text: "Small right pleural effusion".into(),
                        author: reader.clone(),
                        span: Some((0, 28)),
                        category: Some("Pleural Effusion".into()),
                        grounding: Grounding::Annotated,
                        created_ms: 0,
                        modified_ms: 0,
                    },
                    links: vec![
                        voxmark::core::Id::from_u128(1),
                        voxmark::core::Id::from_u128(2),
                    ],
                },
                Edit::AddHeatmap(Heatmap {
                    id: voxmark::core::Id::from_u128(1),
                    image,
                    phrase: Some(voxmark::core::Id::from_u128(1)),
                    author: model.clone(),
                    slice: 0,
                    width: 4,
                    height: 4,
                    values,
                    created_ms: 0,
                    prompt: None,
                }),
            ],
        };
        p.commit(&t, "human:reader").unwrap();
    }
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the project to open", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    h.run();
    // The metrics section compares the reader (truth) with the model (prediction).
    assert!(
        h.query_by_label_contains("IoU 0.33 · Dice 0.50 · miss — Small right")
            .is_some(),
        "the phrase's IoU and Dice in the metrics section"
    );
    assert!(
        h.query_by_label_contains("1 phrases · mean IoU 0.333 · Acc@IoU≥0.5 0.000")
            .is_some()
    );
    assert_eq!(
        app(&h).drawn(),
        (
            None,
            &[
                voxmark::core::Id::from_u128(1),
                voxmark::core::Id::from_u128(2)
            ][..]
        ),
        "no heatmap until asked"
    );

    // The phrase's heatmap chip shows its map over the image.
    h.get_by_label("heatmap").click();
    h.run();
    assert_eq!(app(&h).drawn().0, Some(voxmark::core::Id::from_u128(1)));
    // H hides it; C cycles all → human → model regions.
    h.key_press(Key::H);
    h.run();
    assert_eq!(app(&h).drawn().0, None);
    h.key_press(Key::H);
    h.key_press(Key::C);
    h.run();
    assert_eq!(app(&h).region_filter(), voxmark::ui::RegionFilter::Human);
    assert_eq!(
        app(&h).drawn(),
        (None, &[voxmark::core::Id::from_u128(1)][..]),
        "people's regions only; heatmaps are a model's"
    );
    h.key_press(Key::C);
    h.run();
    assert_eq!(
        app(&h).drawn(),
        (
            Some(voxmark::core::Id::from_u128(1)),
            &[voxmark::core::Id::from_u128(2)][..]
        )
    );
    h.get_by_label("All").click();
    h.run();
    assert_eq!(
        app(&h).drawn().1,
        &[
            voxmark::core::Id::from_u128(1),
            voxmark::core::Id::from_u128(2)
        ][..]
    );

    // Edit the report: "Findings: " typed in front; the phrase span follows its words.
    h.get_by_label("Edit").click();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::Home);
    h.event(Event::Text("Findings: ".into()));
    h.run();
    h.get_by_label("Save report").click();
    h.run();
    let doc = app(&h).document().unwrap();
    assert_eq!(
        doc.images.values().next().unwrap().report.as_deref(),
        Some("Findings: Small right pleural effusion. No pneumothorax.")
    );
    assert_eq!(
        doc.phrases[&voxmark::core::Id::from_u128(1)].span,
        Some((10, 38))
    );
    assert_eq!(
        doc.phrases[&voxmark::core::Id::from_u128(1)].text,
        "Small right pleural effusion"
    );
    assert!(
        app(&h)
            .message()
            .is_some_and(|m| m.contains("1 phrase span(s) follow the text"))
    );
    // One undo step takes the report and the span back.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    let doc = app(&h).document().unwrap();
    assert_eq!(
        doc.images.values().next().unwrap().report.as_deref(),
        Some(text)
    );
    assert_eq!(
        doc.phrases[&voxmark::core::Id::from_u128(1)].span,
        Some((0, 28))
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Y);
    h.run();
    step_until(&mut h, "the writer to save", |a| a.unsaved() == 0);
    drop(h);
    let file = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(
        file.phrases[&voxmark::core::Id::from_u128(1)].span,
        Some((10, 38))
    );
    assert!(
        file.images
            .values()
            .next()
            .unwrap()
            .report
            .as_deref()
            .unwrap()
            .starts_with("Findings: ")
    );
}

#[test]
fn a_damaged_project_is_refused_unmodified_with_an_offer_to_salvage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.voxmark");
    {
        let mut p = Project::create(&path).unwrap();
        p.add_images(
            &[voxmark::store::ImageRecord {
                id: voxmark::core::Id::NIL,
                source: "x".into(),
                files: vec![],
                kind: "image2d".into(),
                volume_index: 0,
                content_hash: "h".into(),
                series_uid: None,
                modality: None,
                size: [8, 8, 1],
                spacing_mm: [1.0; 3],
                origin_lps_mm: [0.0; 3],
                direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                dtype: "uint8".into(),
                components: 1,
                report: None,
            }],
            "human:test",
        )
        .unwrap();
    }
    // A value of the wrong type where the geometry must be: the file opens, the document does not.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("UPDATE images SET spacing_mm = 'not json'")
        .unwrap();
    drop(c);
    let before = std::fs::read(&path).unwrap();
    let mut h = harness(vec![path.clone()], false);
    step_until(
        &mut h,
        "the damaged-project window",
        AppState::offers_salvage,
    );
    h.run();
    assert!(h.query_by_label_contains("Salvage into a copy").is_some());
    assert!(
        app(&h)
            .problems()
            .iter()
            .any(|p| p.contains("the project file is damaged")),
        "{:?}",
        app(&h).problems()
    );
    h.get_by_label("Close").click();
    h.run();
    assert!(!app(&h).offers_salvage());
    drop(h);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the damaged file is not modified"
    );
}

/// Draws a box from the centre of the shown plane with the Box tool.
fn draw_box(h: &mut Harness<'_, App>) {
    let plane = app(h).plane_rect().unwrap();
    h.key_press(Key::B);
    h.step();
    drag(h, &[plane.center(), plane.center() + Vec2::new(80.0, 50.0)]);
}

/// A box as another writer (`who`) commits it through its own connection.
fn commit_box_as(project: &Path, image: voxmark::core::Id, who: &str) -> voxmark::core::Id {
    use voxmark::core::{Author, Edit, Id, Region, Status, Transaction};
    let mut p = Project::open(project).unwrap();
    p.load_document().unwrap();
    let id = Id::new();
    let t = Transaction {
        name: "box from another writer".into(),
        edits: vec![Edit::AddRegion {
            region: Region {
                id,
                image,
                label: None,
                shape: Shape::Box2d {
                    slice: 0,
                    min: [10.0, 10.0],
                    max: [60.0, 40.0],
                },
                author: Author::Human(who.into()),
                prompt: None,
                status: Status::Accepted,
                confidence: None,
                created_ms: 0,
                modified_ms: 0,
                reported: None,
            },
            mask: None,
            links: vec![],
        }],
    };
    p.commit(&t, &format!("human:{who}")).unwrap();
    id
}

/// Another process writes the open project: a CLI import appears in the viewer, as do another
/// writer's box and its removal of the viewer's box; the viewer's own box is saved beside them,
/// and undoing the box the other writer removed is refused with a message.
#[test]
fn other_writers_changes_appear_and_stale_undo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = cxr_project_with_report(dir.path(), "Small left effusion.") else {
        return;
    };
    let corpus = common::corpus().unwrap();
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the project to open", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    let image = first_image(&Project::open(&project).unwrap());
    // A CLI import into the open project.
    let more = corpus.join("cxr/tbx11k/imgs/tb/tb0005.png");
    let started = Instant::now();
    let run = common::voxmark(["add".as_ref(), project.as_os_str(), more.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    step_until(&mut h, "the imported image to appear", |a| {
        a.document().is_some_and(|d| d.images.len() == 2) && a.image_count() == 2
    });
    println!(
        "a CLI import showed in the viewer after {:?} (its run included)",
        started.elapsed()
    );
    // Another writer's box, with its author.
    let theirs = commit_box_as(&project, image, "bob");
    let started = Instant::now();
    step_until(&mut h, "bob's box to appear", |a| {
        a.document()
            .is_some_and(|d| d.regions.contains_key(&theirs))
    });
    println!("another writer's box showed after {:?}", started.elapsed());
    assert_eq!(
        app(&h).document().unwrap().regions[&theirs]
            .author
            .to_string(),
        "human:bob"
    );
    // The viewer draws a box: saved under its own author, beside bob's.
    h.state_mut()
        .as_mut()
        .unwrap()
        .push_command(Command::Select(0));
    h.step();
    draw_box(&mut h);
    step_until(&mut h, "the viewer's box to be saved", |a| a.unsaved() == 0);
    assert_eq!(app(&h).save_state(), Some(voxmark::ui::SaveState::Saved));
    let ours = *app(&h)
        .document()
        .unwrap()
        .regions
        .keys()
        .find(|id| **id != theirs)
        .unwrap();
    let file = Project::open(&project).unwrap().load_document().unwrap();
    assert!(file.regions.contains_key(&theirs) && file.regions.contains_key(&ours));
    assert_eq!(file.regions[&ours].author.to_string(), "human:tester");
    // Bob removes the viewer's box; the viewer follows, and its undo of that box is refused.
    {
        use voxmark::core::{Edit, Transaction};
        let mut p = Project::open(&project).unwrap();
        let doc = p.load_document().unwrap();
        let t = Transaction {
            name: "remove".into(),
            edits: vec![Edit::remove_region(&doc, ours).unwrap()],
        };
        p.commit(&t, "human:bob").unwrap();
    }
    step_until(&mut h, "the removal to appear", |a| {
        a.document().is_some_and(|d| !d.regions.contains_key(&ours))
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    h.step();
    let said = app(&h).message().unwrap_or_default().to_string();
    assert!(
        said.contains("cannot undo") && said.contains("human:bob"),
        "{said}"
    );
    assert!(!app(&h).document().unwrap().regions.contains_key(&ours));
    step_until(&mut h, "the writer to settle", |a| a.unsaved() == 0);
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    drop(h);
    let p = Project::open(&project).unwrap();
    let doc = p.load_document().unwrap();
    assert_eq!(doc.images.len(), 2);
    assert!(doc.regions.contains_key(&theirs) && !doc.regions.contains_key(&ours));
    assert!(p.check().unwrap().is_empty());
}

/// A commit the file refuses (another process keeps it locked past the patience) shows "not
/// saved" with the journal's count; the next start offers to re-apply the journal, which saves it.
#[test]
fn a_refused_commit_shows_not_saved_and_the_journal_reapplies_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = cxr_project_with_report(dir.path(), "Small left effusion.") else {
        return;
    };
    let mut h = harness_with(vec![project.clone()], false, |a| {
        a.set_busy_patience(Duration::from_millis(300));
    });
    step_until(&mut h, "the project to open", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    let lock = rusqlite::Connection::open(&project).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    draw_box(&mut h);
    step_until(&mut h, "the commit to be refused", |a| a.unsaved() == 0);
    match app(&h).save_state() {
        Some(voxmark::ui::SaveState::NotSaved { why, journaled }) => {
            assert_eq!(journaled, 1);
            assert!(why.contains("was not saved"), "{why}");
        }
        other => panic!("expected not saved, got {other:?}"),
    }
    h.run();
    assert!(h.query_by_label_contains("not saved").is_some());
    assert_eq!(
        app(&h).document().unwrap().regions.len(),
        1,
        "kept in memory"
    );
    drop(h);
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    assert!(
        Project::open(&project)
            .unwrap()
            .load_document()
            .unwrap()
            .regions
            .is_empty()
    );
    // The next start offers the journal; applying it saves the box and shows it.
    let mut h = harness(vec![project.clone()], false);
    // (Once the image has loaded too: `run` refuses a UI that keeps repainting, as it does while
    // an image loads on a slow machine.)
    step_until(&mut h, "the journal offer", |a| {
        a.offers_journal() && !a.is_loading()
    });
    h.run();
    h.get_by_label("Apply them now").click();
    step_until(&mut h, "the journal's box to come back", |a| {
        a.unsaved() == 0 && a.document().is_some_and(|d| d.regions.len() == 1)
    });
    assert!(!app(&h).offers_journal());
    assert_eq!(app(&h).save_state(), Some(voxmark::ui::SaveState::Saved));
    drop(h);
    let p = Project::open(&project).unwrap();
    assert_eq!(p.load_document().unwrap().regions.len(), 1);
    assert!(p.check().unwrap().is_empty(), "the journal is empty");
}

/// The ruler in a project: a drag keeps a line region on the slice whose length (mm, from the CT's
/// spacing) the region list shows; the select tool picks the line and drags one end; the file holds
/// the moved line.
#[test]
fn the_ruler_keeps_a_line_in_mm_whose_end_drags() {
    let dir = tempfile::tempdir().unwrap();
    let Some(project) = project_with_ct(dir.path()) else {
        return;
    };
    let mut h = harness(vec![project.clone()], false);
    step_until(&mut h, "the CT to load", |a| {
        !a.is_loading() && a.slice().is_some() && a.plane_rect().is_some() && a.document().is_some()
    });
    let plane = app(&h).plane_rect().unwrap();
    let at = |fx: f32, fy: f32| plane.min + Vec2::new(plane.width() * fx, plane.height() * fy);
    h.key_press(Key::M);
    h.step();
    assert_eq!(app(&h).tool(), Tool::Ruler);
    drag(&mut h, &[at(0.2, 0.5), at(0.4, 0.5), at(0.6, 0.5)]);
    let record = Project::open(&project).unwrap().images().unwrap()[0].clone();
    let (id, a, b) = {
        let doc = app(&h).document().unwrap();
        assert_eq!(doc.regions.len(), 1, "one line");
        let r = doc.regions.values().next().unwrap();
        let Shape::Line { a, b } = r.shape else {
            panic!("{:?}", r.shape)
        };
        (r.id, a, b)
    };
    assert_eq!((a[2], b[2]), (10.0, 10.0), "on the shown slice");
    // 512 columns: 40 % of the width, level.
    assert!((b[0] - a[0] - 204.8).abs() < 3.0, "{a:?} {b:?}");
    assert!((b[1] - a[1]).abs() < 1.0, "{a:?} {b:?}");
    let mm = voxmark::core::annotation::length_mm(a, b, record.spacing_mm);
    assert!(
        (mm - (b[0] - a[0]) * record.spacing_mm[0]).abs() < 0.5 * record.spacing_mm[1],
        "{mm}"
    );
    h.step();
    assert!(
        h.query_by_label_contains(&format!("no label · line · {mm:.1} mm"))
            .is_some(),
        "the region list shows {mm:.1} mm"
    );
    // Select it with the select tool and drag its second end down by a fifth of the height.
    h.key_press(Key::V);
    h.step();
    click(&mut h, at(0.4, 0.5), Modifiers::NONE);
    h.step();
    assert_eq!(app(&h).selected_region(), Some(id));
    drag(&mut h, &[at(0.6, 0.5), at(0.6, 0.6), at(0.6, 0.7)]);
    let moved = app(&h).document().unwrap().regions[&id].shape.clone();
    let Shape::Line { a: a2, b: b2 } = moved else {
        panic!("{moved:?}")
    };
    assert_eq!(a2, a, "the first end stays");
    assert!((b2[1] - b[1] - 102.4).abs() < 3.0, "{b:?} → {b2:?}");
    assert!((b2[0] - b[0]).abs() < 1.0, "{b:?} → {b2:?}");
    step_until(&mut h, "the writer to save", |a| a.unsaved() == 0);
    assert!(app(&h).problems().is_empty(), "{:?}", app(&h).problems());
    drop(h);
    let file = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(file.regions[&id].shape, moved);
}

/// An image of one value throughout (a blank frame, a stand-in series) has an empty value range:
/// the window panel's histogram still draws, and the viewer stays up.
#[test]
fn a_constant_image_shows_its_histogram() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([7u8]))
        .save(&file)
        .unwrap();
    let mut h = harness(vec![file], false);
    step_until(&mut h, "the image to load", |a| {
        !a.is_loading() && a.plane_rect().is_some()
    });
    for _ in 0..3 {
        h.step();
    }
    assert!(h.query_by_label("Window").is_some());
}
