//! Project-file benchmarks (issue 3's targets): open a project with 100,000 regions and 20,000
//! phrases, insert 10,000 regions in one transaction, commit one brush stroke on a 512×512×300 label
//! map, and the file size per 1,000 boxes. Best of 5 runs; prints the numbers beside the targets.
//!
//! `cargo bench --no-default-features --bench store`. Under `cargo test` (no `--bench` argument) it
//! runs once at 1/100 of the sizes, as a smoke test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // benchmark code: a failed unwrap stops the run

use std::path::Path;
use std::time::{Duration, Instant};
use voxmark::core::mask::VoxelBox;
use voxmark::core::{
    Author, Document, Edit, Grounding, History, MaskTiles, Phrase, Region, Shape, Status,
};
use voxmark::store::{ImageRecord, Project};

fn image(size: [usize; 3]) -> ImageRecord {
    ImageRecord {
        id: voxmark::core::Id::from_u128(1),
        source: "/bench/ct".into(),
        files: vec![],
        kind: "dicom-series".into(),
        volume_index: 0,
        content_hash: "0".into(),
        series_uid: None,
        modality: Some("CT".into()),
        size,
        spacing_mm: [0.7, 0.7, 1.0],
        origin_lps_mm: [0.0; 3],
        direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        dtype: "int16".into(),
        components: 1,
        report: Some("Report text. ".repeat(40)),
    }
}

fn boxes(first_id: u128, n: usize, image: u128) -> Vec<Edit> {
    let image = voxmark::core::Id::from_u128(image);
    (0..n)
        .map(|i| {
            let x = (i % 400) as f64;
            Edit::AddRegion {
                region: Region {
                    id: voxmark::core::Id::from_u128(first_id + i as u128),
                    image,
                    label: None,
                    shape: Shape::Box2d {
                        slice: (i % 300) as u32,
                        min: [x, x / 2.0],
                        max: [x + 30.5, x / 2.0 + 40.25],
                    },
                    author: if i % 3 == 0 {
                        "model:grounder@1.2".parse().unwrap()
                    } else {
                        Author::Human("reader".into())
                    },
                    prompt: (i % 3 == 0).then(|| "left lower lobe opacity".to_string()),
                    status: [Status::Accepted, Status::Proposed, Status::Rejected][i % 3],
                    confidence: (i % 3 == 0).then_some(0.73),
                    created_ms: 1_700_000_000_000 + i as i64,
                    modified_ms: 1_700_000_000_000 + i as i64,
                    reported: None,
                },
                mask: None,
                links: vec![],
            }
        })
        .collect()
}

fn commit_all(p: &mut Project, doc: &mut Document, name: &str, edits: Vec<Edit>) -> Duration {
    let mut h = History::new(usize::MAX);
    h.begin(name).unwrap();
    for e in edits {
        h.record(doc, e).unwrap();
    }
    let t = h.commit().unwrap().unwrap();
    let start = Instant::now();
    p.commit(&t, "human:bench").unwrap();
    start.elapsed()
}

fn best<F: FnMut() -> Duration>(runs: usize, mut f: F) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn report(what: &str, got: Duration, target_ms: f64) {
    let ms = got.as_secs_f64() * 1e3;
    let verdict = if ms <= target_ms { "meets" } else { "MISSES" };
    println!("{what:<58} {ms:>9.2} ms   target ≤ {target_ms} ms: {verdict}");
}

/// Commit latency of one-box transactions with `writers` connections committing at once (each its
/// own `Project`, as separate processes would be): every commit's duration, from all writers.
fn concurrent_commits(path: &Path, writers: usize, per_writer: usize) -> Vec<Duration> {
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let path = path.to_path_buf();
            std::thread::spawn(move || {
                let mut p = Project::open(&path).unwrap();
                let mut doc = p.load_document().unwrap();
                let image = *doc.images.keys().next().unwrap();
                let mut times = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let mut edits = boxes(0, 1, 1);
                    if let Edit::AddRegion { region, .. } = &mut edits[0] {
                        region.id = voxmark::core::Id::new();
                        region.image = image;
                        region.author = Author::Human(format!("writer{w}"));
                        region.created_ms = i as i64;
                    }
                    times.push(commit_all(&mut p, &mut doc, "box", edits));
                }
                times
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 100 };
    let runs = if full { 5 } else { 1 };
    let dir = tempfile::tempdir().unwrap();
    let (n_regions, n_phrases, n_insert) = (100_000 / scale, 20_000 / scale, 10_000 / scale);

    // A project with many regions and phrases (and links), to open.
    let big = dir.path().join("big.voxmark");
    {
        let mut p = Project::create(&big).unwrap();
        p.add_images(&[image([512, 512, 300])], "human:bench")
            .unwrap();
        let mut doc = p.load_document().unwrap();
        commit_all(&mut p, &mut doc, "regions", boxes(1, n_regions, 1));
        let phrases: Vec<Edit> = (0..n_phrases)
            .map(|i| Edit::AddPhrase {
                phrase: Phrase {
                    id: voxmark::core::Id::from_u128(1 << 64 | i as u128),
                    image: voxmark::core::Id::from_u128(1),
                    text: "small left pleural effusion".into(),
                    author: Author::Human("reader".into()),
                    span: Some((i % 400, i % 400 + 20)),
                    category: Some("Pleural effusion".into()),
                    grounding: Grounding::Annotated,
                    created_ms: 0,
                    modified_ms: 0,
                },
                links: vec![voxmark::core::Id::from_u128(1 + (i * 5) as u128)],
            })
            .collect();
        commit_all(&mut p, &mut doc, "phrases", phrases);
    }
    let open = best(runs, || {
        let start = Instant::now();
        let p = Project::open(&big).unwrap();
        let doc = p.load_document().unwrap();
        assert_eq!(doc.regions.len(), n_regions);
        start.elapsed()
    });
    report(
        &format!("open + load {n_regions} regions, {n_phrases} phrases"),
        open,
        300.0,
    );

    // A viewer holding that project open learns of another writer's one-box commit: the change
    // log after its revision, the rows it names and the document they belong to (what the viewer's
    // writer thread does when `data_version` moves).
    let mut next = 1u128 << 100;
    let sync = best(runs, || {
        let viewer = Project::open(&big).unwrap();
        viewer.load_document().unwrap();
        let since = viewer.revision().unwrap();
        let mut other = Project::open(&big).unwrap();
        let mut doc = other.load_document().unwrap();
        next += 1;
        commit_all(&mut other, &mut doc, "one box", boxes(next, 1, 1));
        let start = Instant::now();
        let (_, remote) = viewer
            .foreign_since(since, &std::collections::HashSet::new())
            .unwrap();
        let d = start.elapsed();
        assert_eq!(remote.unwrap().touched.len(), 1);
        d
    });
    report(
        &format!("another writer's box, read by a viewer holding {n_regions} regions"),
        sync,
        300.0,
    );

    // Insert many regions in one transaction.
    let insert = best(runs, || {
        let path = dir.path().join(format!(
            "insert-{}.voxmark",
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_file(&path);
        let mut p = Project::create(&path).unwrap();
        p.add_images(&[image([512, 512, 300])], "human:bench")
            .unwrap();
        let mut doc = p.load_document().unwrap();
        let d = commit_all(&mut p, &mut doc, "import", boxes(1, n_insert, 1));
        drop(p);
        let _ = std::fs::remove_file(&path);
        d
    });
    report(
        &format!("insert {n_insert} regions in one transaction"),
        insert,
        500.0,
    );

    // One brush stroke (a 10 mm disc on one slice) on a 512×512×300 label map that already holds a
    // segmented organ over 100 slices.
    let mask_path = dir.path().join("mask.voxmark");
    let mut p = Project::create(&mask_path).unwrap();
    p.add_images(&[image([512, 512, 300])], "human:bench")
        .unwrap();
    let mut doc = p.load_document().unwrap();
    let region = Region {
        id: voxmark::core::Id::from_u128(1),
        image: voxmark::core::Id::from_u128(1),
        label: None,
        shape: Shape::Mask,
        author: Author::Human("reader".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: 0,
        modified_ms: 0,
        reported: None,
    };
    let mut organ = MaskTiles::new([512, 512, 300]);
    let slices = 100 / scale.min(10);
    let b = VoxelBox {
        min: [150, 150, 100],
        max: [350, 330, 100 + slices],
    };
    organ.write_box(b, &vec![1; b.len()]);
    commit_all(
        &mut p,
        &mut doc,
        "organ",
        vec![Edit::AddRegion {
            region,
            mask: Some(organ),
            links: vec![],
        }],
    );
    let mut k = 0;
    let stroke = best(runs.max(20), || {
        k += 1;
        let (cx, cy, z) = (300 + (k % 20) * 3, 200, 120);
        let bb = VoxelBox {
            min: [cx - 7, cy - 7, z],
            max: [cx + 8, cy + 8, z + 1],
        };
        let before = doc.masks[&voxmark::core::Id::from_u128(1)].read_box(bb);
        let after: Vec<u8> = (0..bb.len())
            .map(|i| {
                let (x, y) = ((i % 15) as i64 - 7, (i / 15) as i64 - 7);
                if x * x + y * y <= 49 {
                    (k % 2) as u8
                } else {
                    before[i]
                }
            })
            .collect();
        commit_all(
            &mut p,
            &mut doc,
            "brush",
            vec![Edit::paint(
                voxmark::core::Id::from_u128(1),
                bb,
                &before,
                &after,
            )],
        )
    });
    report(
        "commit one brush stroke on a 512×512×300 label map",
        stroke,
        5.0,
    );

    // Commit latency with other writers: one box per transaction, 1 and 4 writers at once.
    for writers in [1, 4] {
        let path = dir.path().join(format!("writers-{writers}.voxmark"));
        let mut p = Project::create(&path).unwrap();
        p.add_images(&[image([512, 512, 300])], "human:bench")
            .unwrap();
        drop(p);
        let per_writer = if full { 500 } else { 20 };
        let mut times = concurrent_commits(&path, writers, per_writer);
        times.sort();
        println!(
            "{:<58} p50 {:>6.2} ms   p99 {:>6.2} ms   ({} commits)",
            format!("commit one box, {writers} writer(s) at once"),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        );
        let p = Project::open(&path).unwrap();
        assert_eq!(
            p.load_document().unwrap().regions.len(),
            writers * per_writer,
            "every commit is in the file"
        );
    }

    // File size per 1,000 boxes.
    let sized = dir.path().join("size.voxmark");
    let mut p = Project::create(&sized).unwrap();
    p.add_images(&[image([512, 512, 300])], "human:bench")
        .unwrap();
    let mut doc = p.load_document().unwrap();
    let size_of = |path: &Path| -> u64 {
        ["", "-wal"]
            .iter()
            .map(|s| std::fs::metadata(format!("{}{s}", path.display())).map_or(0, |m| m.len()))
            .sum()
    };
    let empty = size_of(&sized);
    commit_all(&mut p, &mut doc, "boxes", boxes(1, 10_000 / scale, 1));
    drop(p);
    let per_1000 = (size_of(&sized).saturating_sub(empty)) as f64 / (10.0 / scale as f64);
    println!(
        "{:<58} {:>9.1} kB (with the audit log)",
        "file size per 1,000 boxes",
        per_1000 / 1024.0
    );
}
