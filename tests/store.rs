//! The project file: round trips, undo persisted, failure behaviour (newer schema, corrupt files,
//! another process), mask strokes writing only their tiles, and `check`'s invariants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;
use voxmark::core::mask::VoxelBox;
use voxmark::core::{
    Author, Document, Edit, Grounding, History, Label, MaskTiles, Phrase, Region, Shape, Status,
    Transaction,
};
use voxmark::store::{ImageRecord, Project, StoreError};

fn record(size: [usize; 3], report: Option<&str>) -> ImageRecord {
    ImageRecord {
        id: voxmark::core::Id::from_u128(1),
        source: PathBuf::from("/data/ct"),
        files: vec![PathBuf::from("/data/ct/1.dcm")],
        kind: "dicom-series".into(),
        volume_index: 0,
        content_hash: "abc".into(),
        series_uid: Some("1.2.3".into()),
        modality: Some("CT".into()),
        size,
        spacing_mm: [0.7, 0.7, 2.5],
        origin_lps_mm: [-100.25, -50.0, 12.0],
        direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        dtype: "int16".into(),
        components: 1,
        report: report.map(str::to_string),
    }
}

fn project_with_image(dir: &Path) -> (Project, Document, PathBuf) {
    let path = dir.join("p.voxmark");
    let mut p = Project::create(&path).unwrap();
    p.add_images(
        &[record(
            [64, 80, 10],
            Some("Left basal opacity. Small effusion."),
        )],
        "human:test",
    )
    .unwrap();
    let doc = p.load_document().unwrap();
    (p, doc, path)
}

fn region(id: u128, shape: Shape) -> Region {
    Region {
        id: voxmark::core::Id::from_u128(id),
        image: voxmark::core::Id::from_u128(1),
        label: None,
        shape,
        author: Author::Human("test".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: Some(0.5),
        created_ms: 1,
        modified_ms: 2,
        reported: None,
    }
}

/// Applies `edits` as one transaction through a history and persists it.
fn act(
    p: &mut Project,
    doc: &mut Document,
    h: &mut History,
    name: &str,
    edits: Vec<Edit>,
) -> Transaction {
    h.begin(name).unwrap();
    for e in edits {
        h.record(doc, e).unwrap();
    }
    let t = h.commit().unwrap().unwrap();
    p.commit(&t, "human:test").unwrap();
    t
}

#[test]
fn everything_round_trips_and_undo_is_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut doc, path) = project_with_image(dir.path());
    let mut h = History::new(1 << 20);
    let phrase = Phrase {
        id: voxmark::core::Id::from_u128(1),
        image: voxmark::core::Id::from_u128(1),
        text: "Small effusion".into(),
        author: Author::Human("test".into()),
        span: Some((20, 34)),
        category: Some("Pleural effusion".into()),
        grounding: Grounding::Annotated,
        created_ms: 5,
        modified_ms: 6,
    };
    act(
        &mut p,
        &mut doc,
        &mut h,
        "label",
        vec![Edit::AddLabel(Label {
            id: voxmark::core::Id::from_u128(1),
            name: "effusion".into(),
            color: [10, 20, 30, 255],
        })],
    );
    act(
        &mut p,
        &mut doc,
        &mut h,
        "draw",
        vec![
            Edit::AddRegion {
                region: region(
                    1,
                    Shape::Box2d {
                        slice: 3,
                        min: [1.5, 2.0],
                        max: [10.0, 20.25],
                    },
                ),
                mask: None,
                links: vec![],
            },
            Edit::AddRegion {
                region: region(
                    2,
                    Shape::Box3d {
                        min: [0.0, 0.0, 0.0],
                        max: [5.0, 6.0, 7.0],
                    },
                ),
                mask: None,
                links: vec![],
            },
            Edit::AddRegion {
                region: region(
                    3,
                    Shape::Polygon {
                        slice: 1,
                        points: vec![[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]],
                    },
                ),
                mask: None,
                links: vec![],
            },
            Edit::AddRegion {
                region: region(
                    4,
                    Shape::Point {
                        at: [1.0, 2.0, 3.0],
                    },
                ),
                mask: None,
                links: vec![],
            },
            Edit::AddRegion {
                region: region(
                    6,
                    Shape::Line {
                        a: [1.5, 2.0, 3.0],
                        b: [40.25, 7.0, 3.0],
                    },
                ),
                mask: None,
                links: vec![],
            },
            Edit::AddRegion {
                region: Region {
                    label: Some(voxmark::core::Id::from_u128(1)),
                    ..region(5, Shape::Mask)
                },
                mask: Some(MaskTiles::new([64, 80, 10])),
                links: vec![],
            },
            Edit::AddPhrase {
                phrase,
                links: vec![
                    voxmark::core::Id::from_u128(1),
                    voxmark::core::Id::from_u128(5),
                ],
            },
        ],
    );
    let b = VoxelBox {
        min: [60, 60, 2],
        max: [64, 70, 4],
    };
    let before = doc.masks[&voxmark::core::Id::from_u128(5)].read_box(b);
    act(
        &mut p,
        &mut doc,
        &mut h,
        "stroke",
        vec![Edit::paint(
            voxmark::core::Id::from_u128(5),
            b,
            &before,
            &vec![1; b.len()],
        )],
    );
    let reopened = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(reopened, doc, "what was committed is what opens");
    assert_eq!(
        reopened.masks[&voxmark::core::Id::from_u128(5)].count(),
        b.len()
    );

    // Undo the stroke and the drawing: persisted like any action.
    let mut snapshot = Vec::new();
    for _ in 0..2 {
        let inv = h.undo(&mut doc).unwrap().unwrap();
        p.commit(&inv, "human:test").unwrap();
        snapshot.push(Project::open(&path).unwrap().load_document().unwrap());
    }
    assert_eq!(snapshot[1], doc);
    assert!(doc.regions.is_empty() && doc.phrases.is_empty() && doc.links.is_empty());
    let redo = h.redo(&mut doc).unwrap().unwrap();
    p.commit(&redo, "human:test").unwrap();
    assert_eq!(Project::open(&path).unwrap().load_document().unwrap(), doc);
    assert!(p.audit_len().unwrap() >= 10, "every edit is audited");
    assert!(p.check().unwrap().is_empty(), "{:?}", p.check());
}

#[test]
fn a_brush_stroke_rewrites_only_the_tiles_it_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut doc, path) = project_with_image(dir.path());
    let mut h = History::new(1 << 20);
    act(
        &mut p,
        &mut doc,
        &mut h,
        "mask",
        vec![Edit::AddRegion {
            region: region(1, Shape::Mask),
            mask: Some(MaskTiles::new([64, 80, 10])),
            links: vec![],
        }],
    );
    // Fill two slices, then stroke inside one tile of one slice.
    for k in 0..2 {
        let b = VoxelBox {
            min: [0, 0, k],
            max: [64, 80, k + 1],
        };
        let before = doc.masks[&voxmark::core::Id::from_u128(1)].read_box(b);
        act(
            &mut p,
            &mut doc,
            &mut h,
            "fill",
            vec![Edit::paint(
                voxmark::core::Id::from_u128(1),
                b,
                &before,
                &vec![1; b.len()],
            )],
        );
    }
    let conn = Connection::open(&path).unwrap();
    let stamp = |c: &Connection| -> Vec<(i64, i64, i64, Vec<u8>)> {
        let mut st = c
            .prepare("SELECT k, ty, tx, data FROM mask_tiles ORDER BY k, ty, tx")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before_rows = stamp(&conn);
    assert_eq!(
        before_rows.len(),
        4,
        "2 slices × 2 tiles (80 rows span two tile rows)"
    );
    let b = VoxelBox {
        min: [3, 3, 1],
        max: [9, 9, 2],
    };
    let before = doc.masks[&voxmark::core::Id::from_u128(1)].read_box(b);
    act(
        &mut p,
        &mut doc,
        &mut h,
        "erase",
        vec![Edit::paint(
            voxmark::core::Id::from_u128(1),
            b,
            &before,
            &vec![0; b.len()],
        )],
    );
    let after_rows = stamp(&conn);
    let changed: Vec<_> = before_rows
        .iter()
        .zip(&after_rows)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| (a.0, a.1, a.2))
        .collect();
    assert_eq!(
        changed,
        vec![(1, 0, 0)],
        "only the touched tile was rewritten"
    );
}

#[test]
fn a_project_from_a_newer_schema_is_refused_unmodified() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, path) = project_with_image(dir.path());
    drop(p);
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let err = Project::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(
        err.to_string().contains("newer Voxmark") && err.to_string().contains("p.voxmark"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file was modified"
    );
}

#[test]
fn corrupt_and_foreign_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, path) = project_with_image(dir.path());
    drop(p);
    let good = std::fs::read(&path).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.voxmark", vec![], "empty"),
        (
            "garbage.voxmark",
            b"this is not a database at all, just text".repeat(50),
            "not a Voxmark project",
        ),
        (
            "header.voxmark",
            good[..50].to_vec(),
            "shorter than its header",
        ),
        (
            "truncated.voxmark",
            good[..good.len() / 2].to_vec(),
            "damaged",
        ),
        (
            "scrambled.voxmark",
            {
                let mut b = good.clone();
                for x in b[100..].iter_mut() {
                    *x ^= 0x5a;
                }
                b
            },
            "damaged",
        ),
    ];
    for (name, bytes, expect) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, &bytes).unwrap();
        let msg = match Project::open(&f).and_then(|p| p.load_document().map(|_| p)) {
            Ok(_) => panic!("{name} opened"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: the error does not name the file: {msg}"
        );
    }
    // Another application's SQLite database.
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let msg = Project::open(&other).err().unwrap().to_string();
    assert!(msg.contains("not Voxmark's"), "{msg}");
}

#[test]
fn another_process_holding_the_project_gives_in_use_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut doc, path) = project_with_image(dir.path());
    p.set_busy_timeout(Duration::from_millis(200)).unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut h = History::new(1 << 20);
    h.begin("draw").unwrap();
    h.record(
        &mut doc,
        Edit::AddRegion {
            region: region(
                1,
                Shape::Point {
                    at: [1.0, 1.0, 1.0],
                },
            ),
            mask: None,
            links: vec![],
        },
    )
    .unwrap();
    let t = h.commit().unwrap().unwrap();
    let err = p.commit(&t, "human:test").unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    other.execute_batch("COMMIT").unwrap();
    // Once the other process lets go, the same action commits.
    p.commit(&t, "human:test").unwrap();
    assert_eq!(Project::open(&path).unwrap().load_document().unwrap(), doc);
}

#[test]
fn check_finds_broken_invariants() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut doc, path) = project_with_image(dir.path());
    let mut h = History::new(1 << 20);
    act(
        &mut p,
        &mut doc,
        &mut h,
        "draw",
        vec![Edit::AddRegion {
            region: region(1, Shape::Mask),
            mask: Some(MaskTiles::new([64, 80, 10])),
            links: vec![],
        }],
    );
    assert!(p.check().unwrap().is_empty());
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "INSERT INTO images (id, source, files, kind, content_hash, size_x, size_y, size_z, spacing_mm, origin_lps_mm, direction, dtype, components, added_ms)
           VALUES (x'00000000000000000000000000000002', 'x', '[]', 'image2d', 'h', 8, 8, 1, '[1,1,1]', '[0,0,0]', '[1,0,0,0,1,0,0,0,1]', 'uint8', 1, 0);
         INSERT INTO phrases (id, image_id, text, author, span_start, span_end, grounding, created_ms, modified_ms) VALUES (x'00000000000000000000000000000007', x'00000000000000000000000000000001', 'x', 'human:x', 30, 900, 'pending', 0, 0);
         INSERT INTO regions (id, image_id, kind, geometry, author, status, created_ms, modified_ms) VALUES (x'00000000000000000000000000000008', x'00000000000000000000000000000002', 'point', zeroblob(24), 'human:x', 'accepted', 0, 0);
         INSERT INTO links VALUES (x'00000000000000000000000000000007', x'00000000000000000000000000000008');
         INSERT INTO mask_tiles VALUES (x'00000000000000000000000000000001', 40, 0, 0, x'00');",
    )
    .unwrap();
    let findings = p.check().unwrap().join("\n");
    assert!(
        findings.contains("phrase 00000007: span [30, 900) lies outside its report"),
        "{findings}"
    );
    assert!(findings.contains("joins different images"), "{findings}");
    assert!(
        findings.contains("does not match the image grid"),
        "{findings}"
    );
    assert!(findings.contains("does not decompress"), "{findings}");
}

#[test]
fn cli_new_add_ls_check_and_relink_a_moved_file() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("cxr.voxmark");
    let image = dir.path().join("chest.png");
    std::fs::copy(data.join("cxr/nih_cxr14/00000001_000.png"), &image).unwrap();
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "Cardiomegaly. No effusion.").unwrap();
    let run = |args: &[&std::ffi::OsStr]| common::voxmark(args);
    let os = |s: &str| std::ffi::OsString::from(s);
    assert_eq!(run(&[&os("new"), project.as_os_str()]).code, 0);
    let add = run(&[
        &os("add"),
        project.as_os_str(),
        image.as_os_str(),
        &os("--report"),
        report.as_os_str(),
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    // Adding the same file again adds nothing (it says which image it already is); a copy under
    // another name is an image of its own.
    let again = run(&[&os("add"), project.as_os_str(), image.as_os_str()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("already in the project as image")
            && again.stdout.contains("nothing new: all 1 image(s)"),
        "{}",
        again.stdout
    );
    // Named another way (through `..`), or twice in one call, it is still the one image.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let roundabout = dir.path().join("sub/../chest.png");
    let again = run(&[
        &os("add"),
        project.as_os_str(),
        roundabout.as_os_str(),
        dir.path().as_os_str(),
    ]);
    assert!(
        again.stdout.contains("already in the project as image"),
        "{}{}",
        again.stdout,
        again.stderr
    );
    let ls = run(&[&os("ls"), project.as_os_str(), &os("--json")]);
    let json: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(
        json["images"].as_array().unwrap().len(),
        1,
        "{}",
        again.stdout
    );
    assert_eq!(json["images"][0]["kind"], "image2d");
    assert_eq!(json["images"][0]["has_report"], true);
    assert!(json["images"][0]["missing"].is_null());
    // The short handle `ls` prints is what a person types.
    let handle = json["images"][0]["handle"].as_str().unwrap().to_string();
    assert_eq!(handle.len(), 8);
    assert!(json["images"][0]["id"].as_str().unwrap().ends_with(&handle));
    // Move the file: ls says so, the project still opens, relink repairs it.
    let moved = dir.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    std::fs::rename(&image, moved.join("chest.png")).unwrap();
    let ls = run(&[&os("ls"), project.as_os_str(), &os("--json")]);
    assert_eq!(ls.code, 0);
    assert!(ls.stderr.contains("source file missing"), "{}", ls.stderr);
    let json: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert!(
        json["images"][0]["missing"]
            .as_str()
            .is_some_and(|m| m.ends_with("chest.png"))
    );
    let relink = run(&[
        &os("relink"),
        project.as_os_str(),
        &os(&handle),
        moved.as_os_str(),
    ]);
    assert_eq!(relink.code, 0, "{}", relink.stderr);
    let ls = run(&[&os("ls"), project.as_os_str(), &os("--json")]);
    let json: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert!(json["images"][0]["missing"].is_null(), "{json}");
    // A different image is refused unless forced.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(
        data.join("cxr/nih_cxr14/00027426_000.png"),
        other.join("x.png"),
    )
    .unwrap();
    let relink = run(&[
        &os("relink"),
        project.as_os_str(),
        &os(&handle),
        other.as_os_str(),
    ]);
    assert_eq!(relink.code, 1);
    assert!(relink.stderr.contains("differ"), "{}", relink.stderr);
    let check = run(&[&os("check"), project.as_os_str()]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
}

#[test]
fn a_version_1_project_migrates_forward_and_keeps_its_data() {
    use voxmark::store::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
    const {
        assert!(
            SCHEMA_VERSION >= 2,
            "there is an older version to migrate from"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.voxmark");
    // A file exactly as schema version 1 wrote it, with an image, a region and a phrase.
    {
        let c = Connection::open(&path).unwrap();
        let voxmark::store::schema::Migration::Sql(first) = &MIGRATIONS[0] else {
            panic!("the first schema is SQL")
        };
        c.execute_batch(first).unwrap();
        c.execute_batch(&format!(
            "PRAGMA user_version = 1; PRAGMA application_id = {APPLICATION_ID};"
        ))
        .unwrap();
        c.execute_batch(
            "INSERT INTO images (source, files, kind, content_hash, size_x, size_y, size_z, spacing_mm, origin_lps_mm, direction, dtype, components, report, added_ms)
               VALUES ('/x', '[]', 'image2d', 'h', 64, 64, 1, '[1.0,1.0,1.0]', '[0.0,0.0,0.0]', '[1,0,0,0,1,0,0,0,1]', 'uint8', 1, 'Left effusion.', 0);
             INSERT INTO regions (id, image_id, kind, geometry, author, status, created_ms, modified_ms)
               VALUES (1, 1, 'point', zeroblob(24), 'human:a', 'accepted', 0, 0);
             INSERT INTO phrases (id, image_id, text, author, span_start, span_end, grounding, created_ms, modified_ms)
               VALUES (1, 1, 'Left effusion', 'human:a', 0, 13, 'annotated', 0, 0);
             INSERT INTO links VALUES (1, 1);",
        )
        .unwrap();
    }
    let mut p = Project::open(&path).unwrap();
    assert_eq!(p.schema_version().unwrap(), SCHEMA_VERSION);
    let mut doc = p.load_document().unwrap();
    assert_eq!(
        (doc.regions.len(), doc.phrases.len(), doc.links.len()),
        (1, 1, 1)
    );
    assert!(p.check().unwrap().is_empty());
    let image = *doc.images.keys().next().unwrap();
    let phrase = *doc.phrases.keys().next().unwrap();
    // The new table works: a heatmap for the phrase round-trips.
    let mut h = History::new(1 << 20);
    let heat = voxmark::core::Heatmap {
        id: voxmark::core::Id::from_u128(1),
        image,
        phrase: Some(phrase),
        author: "model:grounder@1".parse().unwrap(),
        slice: 0,
        width: 4,
        height: 2,
        values: vec![0.0, 0.5, 1.0, -1.0, 2.5, 3.0, f32::MIN_POSITIVE, 7.0],
        created_ms: 3,
        prompt: Some("{\"phrase\":\"left effusion\"}".into()),
    };
    act(
        &mut p,
        &mut doc,
        &mut h,
        "heatmap",
        vec![Edit::AddHeatmap(heat.clone())],
    );
    assert_eq!(
        Project::open(&path)
            .unwrap()
            .load_document()
            .unwrap()
            .heatmaps[&voxmark::core::Id::from_u128(1)],
        heat
    );
    // A phrase with a heatmap cannot be removed from under it.
    let remove = Edit::remove_phrase(&doc, phrase).unwrap();
    assert!(remove.apply(&mut doc.clone()).is_err());
}

/// A region's reported values are stored with it, kept through a move (and the recovery
/// journal's encoding), no longer current after the move, and current again once it is undone.
#[test]
fn reported_values_persist_and_follow_the_geometry_through_undo() {
    use voxmark::core::{Concept, Reported, ReportedValue, geometry_digest};
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut doc, path) = project_with_image(dir.path());
    let mut h = History::new(1 << 20);
    let shape = Shape::Box2d {
        slice: 3,
        min: [4.0, 5.0],
        max: [20.0, 30.0],
    };
    let concept = |code: &str, scheme: &str, meaning: &str| Concept {
        code: code.into(),
        scheme: scheme.into(),
        meaning: meaning.into(),
    };
    let mut r = region(7, shape.clone());
    r.reported = Some(Box::new(Reported {
        source: "DICOM SR 1.2.3.4".into(),
        geometry: geometry_digest(&shape, None),
        values: vec![ReportedValue {
            name: concept("126401", "DCM", "SUVbw"),
            value: 0.000_876_543,
            unit: concept(
                "{SUVbw}g/ml",
                "UCUM",
                "Standardized Uptake Value body weight",
            ),
            derivation: Some(concept("56851009", "SCT", "Maximum")),
        }],
    }));
    act(
        &mut p,
        &mut doc,
        &mut h,
        "import",
        vec![Edit::AddRegion {
            region: r.clone(),
            mask: None,
            links: vec![],
        }],
    );
    let stored = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(stored.regions[&r.id], r);
    assert!(stored.regions[&r.id].reported_current(None).is_some());
    // Moved: the values stay with it, but no longer describe it.
    let moved = Region {
        shape: Shape::Box2d {
            slice: 3,
            min: [6.0, 5.0],
            max: [22.0, 30.0],
        },
        ..r.clone()
    };
    let t = act(
        &mut p,
        &mut doc,
        &mut h,
        "move",
        vec![Edit::UpdateRegion {
            before: r.clone(),
            after: moved.clone(),
        }],
    );
    // The journal keeps transactions as JSON: the values survive it.
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<Transaction>(&json).unwrap(), t);
    let stored = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(stored.regions[&r.id], moved);
    assert!(stored.regions[&r.id].reported_current(None).is_none());
    // Undone: back where they were measured.
    let inv = h.undo(&mut doc).unwrap().unwrap();
    p.commit(&inv, "human:test").unwrap();
    let stored = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(stored.regions[&r.id], r);
    assert!(stored.regions[&r.id].reported_current(None).is_some());
}
