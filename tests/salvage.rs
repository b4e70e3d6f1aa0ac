//! Damaged project files: `check` and `ls` give a clear verdict (exit 1, never 2), and `salvage`
//! copies what can still be read into a sound project — a subset of the original that passes
//! `check` — without modifying the damaged file. The project is real: the corpus CT with
//! TotalSegmentator's 31 labels as mask regions, plus phrases and links.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use voxmark::core::Document;
use voxmark::store::Project;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn real_project(dir: &Path, data: &Path) -> PathBuf {
    let project = dir.join("ct.voxmark");
    let report = dir.join("report.txt");
    std::fs::write(&report, "Liver and spleen unremarkable. Kidneys normal.").unwrap();
    let ct = data.join("dicom/series/ct_abdomen_20sl_j2kr");
    assert_eq!(
        common::voxmark([OsStr::new("new"), project.as_os_str()]).code,
        0
    );
    let add = common::voxmark([
        OsStr::new("add"),
        project.as_os_str(),
        ct.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let image = common::image_ids(&project).remove(0);
    let labels = data.join("nifti/totalseg/example_seg_dicom.nii.gz");
    let run = common::voxmark([
        OsStr::new("import"),
        project.as_os_str(),
        "--format".as_ref(),
        "nifti-labels".as_ref(),
        labels.as_os_str(),
        "--image".as_ref(),
        image.as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let radfact = dir.join("report.json");
    std::fs::write(
        &radfact,
        r#"[{"text": "Liver and spleen unremarkable.", "boxes": [{"x_min": 0.1, "y_min": 0.2, "x_max": 0.5, "y_max": 0.6}]},
            {"text": "Kidneys normal.", "boxes": null}]"#,
    )
    .unwrap();
    let run = common::voxmark([
        OsStr::new("import"),
        project.as_os_str(),
        "--format".as_ref(),
        "radfact".as_ref(),
        radfact.as_os_str(),
        "--image".as_ref(),
        image.as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    project
}

/// Every salvaged row is one of the original's (by identity); returns how many differ in content.
/// Compressed tiles and maps carry checksums, so damage there is dropped, never kept; a flipped bit
/// in a plain column (a coordinate, a name) reads as a valid value, which no SQLite file can tell.
fn differing_rows(salvaged: &Document, original: &Document) -> usize {
    let mut differ = 0;
    for (id, r) in &salvaged.regions {
        let o = original
            .regions
            .get(id)
            .expect("a salvaged region is an original one");
        let mut r = r.clone();
        if r.label.is_none() {
            r.label = o.label;
        }
        differ += usize::from(&r != o);
    }
    for (id, m) in &salvaged.masks {
        let o = &original.masks[id];
        for (key, tile) in m.tiles() {
            assert!(
                Some(tile.as_slice()) == o.tile(*key),
                "tile {key:?} of region {id} differs: the checksum should have caught it"
            );
        }
    }
    for (id, p) in &salvaged.phrases {
        let o = original
            .phrases
            .get(id)
            .expect("a salvaged phrase is an original one");
        differ += usize::from(p != o);
    }
    assert!(salvaged.links.is_subset(&original.links));
    for (id, l) in &salvaged.labels {
        let o = original
            .labels
            .get(id)
            .expect("a salvaged label is an original one");
        differ += usize::from(l != o);
    }
    for (id, h) in &salvaged.heatmaps {
        assert!(original.heatmaps.get(id) == Some(h), "heatmap {id} differs");
    }
    differ
}

#[test]
fn damaged_copies_get_a_clear_verdict_and_salvage_keeps_a_sound_subset() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = real_project(dir.path(), &data);
    let original = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(original.masks.len(), 31);
    let bytes = std::fs::read(&project).unwrap();
    assert!(bytes.len() > 64 * 4096, "a file of many pages");
    let page = 4096;
    let mut rng = Rng(0xDA_4A_6E);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [0.3, 0.6, 0.9] {
        let n = (bytes.len() as f64 * cut) as usize;
        cases.push((format!("truncated to {n} bytes"), bytes[..n].to_vec()));
    }
    for round in 0..6 {
        let mut b = bytes.clone();
        for _ in 0..8 {
            let at = page + rng.below((b.len() - page) as u64) as usize;
            b[at] ^= 1 << rng.below(8);
        }
        cases.push((format!("8 bits flipped (round {round})"), b));
    }
    for round in 0..6 {
        let mut b = bytes.clone();
        let pages = (b.len() / page) as u64;
        for _ in 0..2 {
            let p = 1 + rng.below(pages - 1) as usize;
            b[p * page..(p + 1) * page].fill(0);
        }
        cases.push((format!("2 pages zeroed (round {round})"), b));
    }
    let mut salvaged_cases = 0;
    for (n, (what, b)) in cases.iter().enumerate() {
        let damaged = dir.path().join(format!("damaged-{n}.voxmark"));
        std::fs::write(&damaged, b).unwrap();
        for cmd in ["check", "ls"] {
            let run = common::voxmark([OsStr::new(cmd), damaged.as_os_str()]);
            assert_ne!(
                run.code, 2,
                "{what}: `{cmd}` exited 2: {}{}",
                run.stdout, run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
        }
        let out = dir.path().join(format!("salvaged-{n}.voxmark"));
        let run = common::voxmark([OsStr::new("salvage"), damaged.as_os_str(), out.as_os_str()]);
        assert_eq!(
            std::fs::read(&damaged).unwrap(),
            *b,
            "{what}: the damaged file was modified"
        );
        assert!(
            run.code == 0 || run.code == 1,
            "{what}: salvage exited {}: {}{}",
            run.code,
            run.stdout,
            run.stderr
        );
        if run.code == 1 {
            assert!(run.stderr.starts_with("error: "), "{what}: {}", run.stderr);
            assert!(!out.exists(), "{what}: a failed salvage leaves no file");
            continue;
        }
        salvaged_cases += 1;
        let p = Project::open(&out).unwrap();
        assert!(p.check().unwrap().is_empty(), "{what}: {:?}", p.check());
        let doc = p.load_document().unwrap();
        let differ = differing_rows(&doc, &original);
        if what.contains("flipped") {
            assert!(
                differ <= 8,
                "{what}: {differ} rows differ, more than bits flipped"
            );
        } else {
            assert_eq!(differ, 0, "{what}: rows differ from the original");
        }
        println!(
            "{what}: kept {} of {} regions, {} of {} phrases, {} of {} links\n{}",
            doc.regions.len(),
            original.regions.len(),
            doc.phrases.len(),
            original.phrases.len(),
            doc.links.len(),
            original.links.len(),
            run.stdout
        );
    }
    assert!(
        salvaged_cases >= cases.len() / 2,
        "most damaged copies can be salvaged"
    );
    // An undamaged project salvages whole.
    let out = dir.path().join("whole.voxmark");
    let run = common::voxmark([OsStr::new("salvage"), project.as_os_str(), out.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        Project::open(&out).unwrap().load_document().unwrap(),
        original
    );
}

/// Values an imported report gave for a region are copied by salvage as they are; a file of
/// schema 5 (before regions had them) salvages with its regions and none.
#[test]
fn reported_values_are_salvaged_and_a_schema_5_file_salvages_without_them() {
    use voxmark::core::{Author, Concept, Edit, History, Region, Reported, ReportedValue, Shape};
    use voxmark::core::{Status, geometry_digest};
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.voxmark");
    assert_eq!(
        common::voxmark([OsStr::new("new"), project.as_os_str()]).code,
        0
    );
    let png = dir.path().join("chest.png");
    image::GrayImage::from_fn(64, 48, |x, y| image::Luma([(x + y) as u8]))
        .save(&png)
        .unwrap();
    let run = common::voxmark([OsStr::new("add"), project.as_os_str(), png.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let image = voxmark::core::Id::parse_full(&common::image_ids(&project)[0]).unwrap();
    let shape = Shape::Box2d {
        slice: 0,
        min: [10.0, 20.0],
        max: [30.0, 40.0],
    };
    let concept = |code: &str, meaning: &str| Concept {
        code: code.into(),
        scheme: "DCM".into(),
        meaning: meaning.into(),
    };
    let region = Region {
        id: voxmark::core::Id::new(),
        image,
        label: None,
        shape: shape.clone(),
        author: Author::Human("reader".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: 1,
        modified_ms: 1,
        reported: Some(Box::new(Reported {
            source: "DICOM SR 1.2.3".into(),
            geometry: geometry_digest(&shape, None),
            values: vec![ReportedValue {
                name: concept("112031", "Attenuation Coefficient"),
                value: 42.5,
                unit: concept("[hnsf'U]", "Hounsfield unit"),
                derivation: Some(concept("373098007", "Mean")),
            }],
        })),
    };
    let mut p = Project::open(&project).unwrap();
    let mut doc = p.load_document().unwrap();
    let mut history = History::new(1 << 20);
    history.begin("add").unwrap();
    history
        .record(
            &mut doc,
            Edit::AddRegion {
                region: region.clone(),
                mask: None,
                links: vec![],
            },
        )
        .unwrap();
    p.commit(&history.commit().unwrap().unwrap(), "human:reader")
        .unwrap();
    drop(p);
    let out = dir.path().join("whole.voxmark");
    let run = common::voxmark([OsStr::new("salvage"), project.as_os_str(), out.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = Project::open(&out).unwrap().load_document().unwrap();
    assert_eq!(doc.regions[&region.id], region);

    // The same file as schema 5 wrote it: no `reported` column.
    let old = dir.path().join("v5.voxmark");
    std::fs::copy(&project, &old).unwrap();
    let c = rusqlite::Connection::open(&old).unwrap();
    c.execute_batch("ALTER TABLE regions DROP COLUMN reported; PRAGMA user_version = 5;")
        .unwrap();
    drop(c);
    let out = dir.path().join("from-v5.voxmark");
    let run = common::voxmark([OsStr::new("salvage"), old.as_os_str(), out.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = Project::open(&out).unwrap().load_document().unwrap();
    assert_eq!(
        doc.regions[&region.id],
        Region {
            reported: None,
            ..region.clone()
        }
    );
    // And opened, it migrates to today's schema with the region as it was.
    let doc = Project::open(&old).unwrap().load_document().unwrap();
    assert_eq!(doc.regions[&region.id].reported, None);
}
