//! Many writers on one project (ARCHITECTURE.md §4): real `voxmark` processes importing and
//! committing at once, one of them killed with SIGKILL at random moments; conflicting updates; a
//! file that is complete without its WAL; migration of a project written by the schema-3 release.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use voxmark::core::{Author, Edit, History, Id, Region, Shape, Status};
use voxmark::store::{ImageRecord, Project, StoreError};

fn image_record(size: [usize; 3], report: Option<&str>) -> ImageRecord {
    ImageRecord {
        id: Id::NIL,
        source: "/nowhere/img.png".into(),
        files: vec!["/nowhere/img.png".into()],
        kind: "image2d".into(),
        volume_index: 0,
        content_hash: "0".into(),
        series_uid: None,
        modality: Some("CR".into()),
        size,
        spacing_mm: [1.0; 3],
        origin_lps_mm: [0.0; 3],
        direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        dtype: "uint8".into(),
        components: 1,
        report: report.map(str::to_string),
    }
}

fn new_project(dir: &Path, size: [usize; 3]) -> PathBuf {
    let path = dir.join("shared.voxmark");
    let mut p = Project::create(&path).unwrap();
    p.add_images(
        &[image_record(size, Some("Nodule in the right upper lobe."))],
        "human:test",
    )
    .unwrap();
    path
}

fn voxmark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_voxmark"));
    c.env("RUST_BACKTRACE", "0");
    c
}

/// Four `voxmark import` processes at once, 30 boxes each, all with the label "Nodule".
#[test]
fn four_imports_at_once_all_succeed_with_one_label() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), [512, 512, 1]);
    // The image's file stem is what MS-CXR rows name (`dicom_id`); the source is `/nowhere/img`.
    let csvs: Vec<PathBuf> = (0..4)
        .map(|w| {
            let path = dir.path().join(format!("boxes{w}.csv"));
            let mut text = String::from(
                "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n",
            );
            for b in 0..30 {
                text.push_str(&format!(
                    "img,Nodule,Nodule in the right upper lobe,img,{},{},10,12,512,512\n",
                    10 + b * 3 + w,
                    20 + b
                ));
            }
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let children: Vec<_> = csvs
        .iter()
        .map(|csv| {
            voxmark()
                .args(["import", project.to_str().unwrap(), "--format", "ms-cxr"])
                .arg(csv)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p = Project::open(&project).unwrap();
    let doc = p.load_document().unwrap();
    assert_eq!(doc.regions.len(), 120, "every box of every import");
    let labels: Vec<&str> = doc.labels.values().map(|l| l.name.as_str()).collect();
    assert_eq!(labels, ["Nodule"], "one label for the four writers");
    assert!(
        doc.regions
            .values()
            .all(|r| r.label == Some(Id::for_label("Nodule")))
    );
    assert!(p.check().unwrap().is_empty(), "{:?}", p.check());
    // The change log has one row per edit of each import, in increasing revisions.
    let changes = p.changes_since(0).unwrap();
    assert_eq!(
        changes.iter().filter(|c| c.action == "add_region").count(),
        120
    );
    assert!(changes.windows(2).all(|w| w[0].revision < w[1].revision));
}

/// Four `voxmark add` processes adding the same image (and one also a second image) at the same
/// moment: the project gets each image once, and every process says which image the file is.
#[test]
fn four_adds_of_one_file_at_once_make_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("adds.voxmark");
    Project::create(&project).unwrap();
    let png = dir.path().join("chest.png");
    image::GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * 6 + y) as u8]))
        .save(&png)
        .unwrap();
    let other = dir.path().join("other.png");
    image::GrayImage::from_fn(20, 20, |x, _| image::Luma([x as u8]))
        .save(&other)
        .unwrap();
    let children: Vec<_> = (0..4)
        .map(|w| {
            let mut c = voxmark();
            c.args(["add", project.to_str().unwrap()]).arg(&png);
            if w == 0 {
                // The same file named twice, and a second image.
                c.arg(&png).arg(&other);
            }
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outputs = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(stdout);
    }
    let p = Project::open(&project).unwrap();
    let images = p.images().unwrap();
    assert_eq!(images.len(), 2, "{images:#?}\n{outputs:#?}");
    let chest = images
        .iter()
        .find(|i| i.files[0].ends_with("chest.png"))
        .unwrap();
    let added = outputs
        .iter()
        .filter(|o| o.contains(&format!("added image {}", chest.id)))
        .count();
    let already = outputs
        .iter()
        .filter(|o| o.contains(&format!("already in the project as image {}", chest.id)))
        .count();
    assert_eq!((added, already), (1, 3), "{outputs:#?}");
    assert!(p.check().unwrap().is_empty(), "{:?}", p.check());
}

/// What a stress writer acknowledged.
#[derive(Default)]
struct Acks {
    regions: Vec<Id>,
    phrases: Vec<Id>,
    links: Vec<(Id, Id)>,
    strokes: Vec<[usize; 3]>,
}

fn read_acks(line: &str, acks: &mut Acks) {
    let Some(rest) = line.strip_prefix("committed ") else {
        return;
    };
    let mut words = rest.split_whitespace();
    let Some(region) = words.next().and_then(Id::parse_full) else {
        return;
    };
    acks.regions.push(region);
    for w in words {
        if let Some(p) = w.strip_prefix("phrase=").and_then(Id::parse_full) {
            acks.phrases.push(p);
            acks.links.push((p, region));
        } else if let Some(p) = w.strip_prefix("link=").and_then(Id::parse_full) {
            acks.links.push((p, region));
        } else if let Some(s) = w.strip_prefix("stroke=") {
            let v: Vec<usize> = s.split(',').filter_map(|x| x.parse().ok()).collect();
            if let [i, j, k] = v[..] {
                acks.strokes.push([i, j, k]);
            }
        }
    }
}

/// Eight processes commit boxes, mask strokes (their own masks and one mask they all paint),
/// phrases and links for a bounded time; one of them is SIGKILLed at random moments and started
/// again. Every acknowledged commit is in the file afterwards and `check` is clean.
#[test]
fn eight_writers_one_killed_at_random_lose_no_acknowledged_commit() {
    let seconds: f64 = std::env::var("VOXMARK_CONCURRENCY_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6.0);
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), [96, 96, 4]);
    // The mask every writer paints: writer k owns rows 12k..12k+11.
    let shared = {
        let mut p = Project::open(&project).unwrap();
        let mut doc = p.load_document().unwrap();
        let image = *doc.images.keys().next().unwrap();
        let id = Id::new();
        let mut h = History::new(1 << 20);
        h.begin("shared mask").unwrap();
        h.record(
            &mut doc,
            Edit::AddRegion {
                region: Region {
                    id,
                    image,
                    label: None,
                    shape: Shape::Mask,
                    author: Author::Human("test".into()),
                    prompt: None,
                    status: Status::Accepted,
                    confidence: None,
                    created_ms: 0,
                    modified_ms: 0,
                    reported: None,
                },
                mask: Some(voxmark::core::MaskTiles::new([96, 96, 4])),
                links: vec![],
            },
        )
        .unwrap();
        p.commit(&h.commit().unwrap().unwrap(), "human:test")
            .unwrap();
        id
    };
    let spawn = |slot: usize, secs: f64| {
        voxmark()
            .args([
                "stress-commit",
                project.to_str().unwrap(),
                "--count",
                "1000000",
                "--seconds",
                &secs.to_string(),
                "--shared-mask",
                &shared.full(),
                "--slot",
                &slot.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let collect = |mut child: std::process::Child| {
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut acks = Acks::default();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                read_acks(&line, &mut acks);
            }
            let out = child.wait_with_output().unwrap();
            (
                acks,
                out.status,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    let steady: Vec<_> = (1..8).map(|slot| collect(spawn(slot, seconds))).collect();
    // Writer 0 is killed at random moments and started again until the time is up.
    let started = Instant::now();
    let mut rng = 0x5EED_u64;
    let mut killed = Vec::new();
    let mut kills = 0;
    while started.elapsed().as_secs_f64() < seconds {
        let mut child = spawn(0, seconds);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Acks::default();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                read_acks(&line, &mut acks);
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(100 + rng % 700));
        let _ = child.kill();
        let _ = child.wait();
        killed.push(reader.join().unwrap());
        kills += 1;
    }
    let mut all = Acks::default();
    for t in steady {
        let (acks, status, stderr) = t.join().unwrap();
        assert!(status.success(), "a writer failed: {stderr}");
        assert!(
            !acks.regions.is_empty(),
            "a writer never committed: {stderr}"
        );
        all.regions.extend(acks.regions);
        all.phrases.extend(acks.phrases);
        all.links.extend(acks.links);
        all.strokes.extend(acks.strokes);
    }
    for acks in killed {
        all.regions.extend(acks.regions);
        all.phrases.extend(acks.phrases);
        all.links.extend(acks.links);
        all.strokes.extend(acks.strokes);
    }
    let p = Project::open(&project).unwrap();
    let findings = p.check().unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    let doc = p.load_document().unwrap();
    for r in &all.regions {
        assert!(
            doc.regions.contains_key(r),
            "region {r} was acknowledged but is gone"
        );
    }
    for ph in &all.phrases {
        assert!(
            doc.phrases.contains_key(ph),
            "phrase {ph} was acknowledged but is gone"
        );
    }
    let links: BTreeSet<(Id, Id)> = doc.links.iter().copied().collect();
    for l in &all.links {
        assert!(links.contains(l), "link {l:?} was acknowledged but is gone");
    }
    // No writer's stroke on the shared mask was overwritten by another's.
    let mask = &doc.masks[&shared];
    for s in &all.strokes {
        assert_eq!(
            mask.get(*s),
            1,
            "stroke at {s:?} was acknowledged but is gone"
        );
    }
    assert_eq!(
        doc.label_named("Nodule").map(|l| l.id),
        Some(Id::for_label("Nodule"))
    );
    assert_eq!(doc.labels.len(), 1);
    println!(
        "8 writers, {kills} kills: {} regions, {} phrases, {} links, {} shared-mask strokes acknowledged and present",
        all.regions.len(),
        all.phrases.len(),
        all.links.len(),
        all.strokes.len()
    );
    assert!(
        kills > 0 && all.strokes.len() > 50,
        "the test must exercise the writers"
    );
}

/// Two writers update the same region from the same revision: the second is refused as a conflict
/// naming who changed it, and neither is overwritten; the CLI exits 1 on a conflict.
#[test]
fn two_writers_updating_one_region_give_one_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), [64, 64, 1]);
    let mut a = Project::open(&project).unwrap();
    let mut doc_a = a.load_document().unwrap();
    let image = *doc_a.images.keys().next().unwrap();
    let id = Id::new();
    let region = Region {
        id,
        image,
        label: None,
        shape: Shape::Box2d {
            slice: 0,
            min: [1.0, 1.0],
            max: [5.0, 5.0],
        },
        author: Author::Human("alice".into()),
        prompt: None,
        status: Status::Proposed,
        confidence: None,
        created_ms: 0,
        modified_ms: 0,
        reported: None,
    };
    let mut h = History::new(1 << 20);
    h.begin("draw").unwrap();
    h.record(
        &mut doc_a,
        Edit::AddRegion {
            region: region.clone(),
            mask: None,
            links: vec![],
        },
    )
    .unwrap();
    a.commit(&h.commit().unwrap().unwrap(), "human:alice")
        .unwrap();
    let mut b = Project::open(&project).unwrap();
    let mut doc_b = b.load_document().unwrap();
    // `data_version` tells a reader cheaply that another connection wrote.
    let seen_by_a = a.data_version().unwrap();
    let update = |doc: &mut voxmark::core::Document, status: Status| {
        let before = doc.regions[&id].clone();
        let after = Region {
            status,
            ..before.clone()
        };
        let e = Edit::UpdateRegion { before, after };
        e.apply(doc).unwrap();
        voxmark::core::Transaction {
            name: format!("mark {status:?}"),
            edits: vec![e],
        }
    };
    let t_bob = update(&mut doc_b, Status::Rejected);
    b.commit(&t_bob, "human:bob").unwrap();
    assert_ne!(a.data_version().unwrap(), seen_by_a, "a sees that b wrote");
    let t_alice = update(&mut doc_a, Status::Accepted);
    let err = a.commit(&t_alice, "human:alice").unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("region {id}"))
            && msg.contains("human:bob")
            && msg.contains("changed"),
        "{msg}"
    );
    let stored = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(
        stored.regions[&id].status,
        Status::Rejected,
        "bob's change stays"
    );
    // A delete made against the old revision is refused too.
    let remove = Edit::remove_region(&doc_a, id).unwrap();
    let err = a
        .commit(
            &voxmark::core::Transaction {
                name: "delete".into(),
                edits: vec![remove],
            },
            "human:alice",
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(
        Project::open(&project)
            .unwrap()
            .load_document()
            .unwrap()
            .regions
            .contains_key(&id)
    );
    // Conflicts are not journaled: nothing is waiting to be re-applied.
    assert!(Project::open(&project).unwrap().check().unwrap().is_empty());
    // After reading again, alice's update goes through.
    let mut doc_a = a.load_document().unwrap();
    let t = update(&mut doc_a, Status::Accepted);
    a.commit(&t, "human:alice").unwrap();
    // The change log tells a reader what happened since a revision.
    let r0 = a.revision().unwrap();
    let t = update(&mut doc_b, Status::Proposed);
    assert!(matches!(
        b.commit(&t, "human:bob"),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(a.changes_since(r0).unwrap(), vec![]);
}

/// A viewer's connection reads another writer's changes (`foreign_since`): only theirs, with the
/// rows they name. Until it adopts those rows, its edits made on the old version are refused; after
/// it, they go through. Its own commits never come back as foreign.
#[test]
fn foreign_changes_are_read_and_adopted_before_edits_go_through() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), [64, 64, 1]);
    let mut a = Project::open(&project).unwrap();
    let mut doc_a = a.load_document().unwrap();
    let image = *doc_a.images.keys().next().unwrap();
    let since = a.revision().unwrap();
    let id = Id::new();
    let add = Edit::AddRegion {
        region: Region {
            id,
            image,
            label: None,
            shape: Shape::Point {
                at: [1.0, 2.0, 0.0],
            },
            author: Author::Human("alice".into()),
            prompt: None,
            status: Status::Proposed,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        },
        mask: None,
        links: vec![],
    };
    add.apply(&mut doc_a).unwrap();
    let t = voxmark::core::Transaction {
        name: "draw".into(),
        edits: vec![add],
    };
    let own: std::collections::HashSet<Id> = [a.commit(&t, "human:alice").unwrap().txn].into();
    let (since, none) = a.foreign_since(since, &own).unwrap();
    assert!(none.is_none(), "its own commit is not another writer's");
    // Bob accepts the region.
    let mut b = Project::open(&project).unwrap();
    let mut doc_b = b.load_document().unwrap();
    let before = doc_b.regions[&id].clone();
    let after = Region {
        status: Status::Accepted,
        ..before.clone()
    };
    let e = Edit::UpdateRegion { before, after };
    e.apply(&mut doc_b).unwrap();
    b.commit(
        &voxmark::core::Transaction {
            name: "accept".into(),
            edits: vec![e],
        },
        "human:bob",
    )
    .unwrap();
    let (_, remote) = a.foreign_since(since, &own).unwrap();
    let remote = remote.expect("bob's change");
    assert_eq!(remote.authors(), vec!["human:bob"]);
    assert_eq!(remote.touched, BTreeSet::from([id]));
    assert_eq!(remote.document.regions[&id].status, Status::Accepted);
    assert_eq!(
        (remote.document.regions.len(), remote.document.images.len()),
        (1, 0),
        "only the rows named are read"
    );
    // Alice rejects it on her old version before merging: refused.
    let reject = |doc: &voxmark::core::Document| {
        let before = doc.regions[&id].clone();
        let after = Region {
            status: Status::Rejected,
            ..before.clone()
        };
        voxmark::core::Transaction {
            name: "reject".into(),
            edits: vec![Edit::UpdateRegion { before, after }],
        }
    };
    assert!(matches!(
        a.commit(&reject(&doc_a), "human:alice"),
        Err(StoreError::Conflict { .. })
    ));
    // Merged and adopted: her edit on bob's version goes through.
    voxmark::core::sync::merge(&mut doc_a, &remote.document, &remote.touched, false);
    a.adopt(&remote.revisions);
    a.commit(&reject(&doc_a), "human:alice").unwrap();
    let stored = Project::open(&project).unwrap().load_document().unwrap();
    assert_eq!(stored.regions[&id].status, Status::Rejected);
}

/// A shell import while another connection holds the file, then both close: the `.voxmark` file
/// alone (no `-wal`, no `-shm`) holds everything; `voxmark copy` makes a consistent copy meanwhile.
#[test]
fn the_file_is_complete_without_its_wal_and_copy_is_consistent() {
    let Some(data) = common::corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("cxr.voxmark");
    let png = data.join("cxr/nih_cxr14/00000001_000.png");
    assert_eq!(
        common::voxmark([std::ffi::OsStr::new("new"), project.as_os_str()]).code,
        0
    );
    assert_eq!(
        common::voxmark(["add".as_ref(), project.as_os_str(), png.as_os_str()]).code,
        0
    );
    // The viewer (or any other process) holds the file open.
    let holder = Project::open(&project).unwrap();
    let _ = holder.load_document().unwrap();
    let csv = dir.path().join("boxes.csv");
    std::fs::write(
        &csv,
        "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n\
         00000001_000,Cardiomegaly,Enlarged heart,00000001_000.png,150,200,210,150,1024,1024\n\
         00000001_000,Nodule,Small nodule,00000001_000.png,600,300,40,40,1024,1024\n",
    )
    .unwrap();
    let run = common::voxmark([
        "import".as_ref(),
        project.as_os_str(),
        "--format".as_ref(),
        "ms-cxr".as_ref(),
        csv.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // While the holder still has it open: the main file alone already has the import.
    let alone = dir.path().join("alone.voxmark");
    std::fs::copy(&project, &alone).unwrap();
    assert!(!Path::new(&format!("{}-wal", alone.display())).exists());
    let doc = Project::open(&alone).unwrap().load_document().unwrap();
    assert_eq!(
        doc.regions.len(),
        2,
        "the import was checkpointed into the file"
    );
    // `voxmark copy` while the holder is open.
    let copy = dir.path().join("copy.voxmark");
    let run = common::voxmark(["copy".as_ref(), project.as_os_str(), copy.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!Path::new(&format!("{}-wal", copy.display())).exists());
    let copied = Project::open(&copy).unwrap();
    assert_eq!(
        copied.load_document().unwrap(),
        holder.load_document().unwrap()
    );
    assert!(copied.check().unwrap().is_empty());
    drop(copied);
    // An existing target is refused.
    let run = common::voxmark(["copy".as_ref(), project.as_os_str(), copy.as_os_str()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    drop(holder);
    assert!(
        !Path::new(&format!("{}-wal", project.display())).exists()
            || std::fs::metadata(format!("{}-wal", project.display()))
                .unwrap()
                .len()
                == 0
    );
}

/// A commit refused because the file stayed locked goes to the recovery journal; `check` reports
/// it; `voxmark recover` applies it once (a second run finds nothing to do).
#[test]
fn a_refused_commit_is_journaled_and_recovered_once() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), [64, 64, 1]);
    let mut p = Project::open(&project).unwrap();
    p.set_busy_timeout(Duration::from_millis(300)).unwrap();
    let mut doc = p.load_document().unwrap();
    let image = *doc.images.keys().next().unwrap();
    let other = rusqlite::Connection::open(&project).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let id = Id::new();
    let mut h = History::new(1 << 20);
    h.begin("draw").unwrap();
    h.record(
        &mut doc,
        Edit::AddRegion {
            region: Region {
                id,
                image,
                label: None,
                shape: Shape::Point {
                    at: [1.0, 2.0, 0.0],
                },
                author: Author::Human("alice".into()),
                prompt: None,
                status: Status::Accepted,
                confidence: None,
                created_ms: 0,
                modified_ms: 0,
                reported: None,
            },
            mask: None,
            links: vec![],
        },
    )
    .unwrap();
    let t = h.commit().unwrap().unwrap();
    let err = p.commit(&t, "human:alice").unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    drop(p);
    let check = common::voxmark(["check".as_ref(), project.as_os_str()]);
    assert_eq!(check.code, 1);
    assert!(
        check.stdout.contains("recovery journal holds 1"),
        "{}",
        check.stdout
    );
    let run = common::voxmark(["recover".as_ref(), project.as_os_str()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("applied \"draw\""), "{}", run.stdout);
    let run = common::voxmark(["recover".as_ref(), project.as_os_str()]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("nothing to recover"), "{}", run.stdout);
    let doc = Project::open(&project).unwrap().load_document().unwrap();
    assert!(doc.regions.contains_key(&id));
    assert_eq!(
        common::voxmark(["check".as_ref(), project.as_os_str()]).code,
        0
    );
}

/// A project written by the schema-3 release (integer ids) opens, migrates and keeps every image,
/// label, region, mask voxel, phrase, link and heatmap with the same content and relations.
#[test]
fn a_schema_3_project_migrates_with_all_its_content() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema3-project.voxmark");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.voxmark");
    std::fs::copy(&fixture, &path).unwrap();
    // What the old file holds, read with plain SQL (from the copy: the fixture stays untouched).
    let old = rusqlite::Connection::open(&path).unwrap();
    let version: i32 = old
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    let q = |sql: &str| -> Vec<String> {
        let mut st = old.prepare(sql).unwrap();
        let mut v: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v.sort();
        v
    };
    let old_regions = q("SELECT i.content_hash || '|' || coalesce(l.name, '-') || '|' || r.kind || '|' || hex(r.geometry) || '|' || r.author || '|' || r.status || '|' || r.created_ms
                         FROM regions r JOIN images i ON i.id = r.image_id LEFT JOIN labels l ON l.id = r.label_id");
    let old_links = q(
        "SELECT p.text || '|' || hex(r.geometry) FROM links k JOIN phrases p ON p.id = k.phrase_id JOIN regions r ON r.id = k.region_id",
    );
    let old_phrases = q(
        "SELECT i.content_hash || '|' || p.text || '|' || coalesce(p.span_start, -1) || '|' || p.grounding FROM phrases p JOIN images i ON i.id = p.image_id",
    );
    let old_tiles = q(
        "SELECT hex(r.geometry) || '|' || t.k || ',' || t.ty || ',' || t.tx || '|' || hex(t.data) FROM mask_tiles t JOIN regions r ON r.id = t.region_id",
    );
    let old_heat = q(
        "SELECT p.text || '|' || hex(h.data) || '|' || h.prompt FROM heatmaps h JOIN phrases p ON p.id = h.phrase_id",
    );
    let old_audit: i64 = old
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    drop(old);
    assert!(!old_tiles.is_empty() && !old_heat.is_empty() && old_links.len() >= 6);

    let p = Project::open(&path).unwrap();
    assert_eq!(
        p.schema_version().unwrap(),
        voxmark::store::schema::SCHEMA_VERSION
    );
    assert!(p.check().unwrap().is_empty(), "{:?}", p.check());
    drop(p);
    let new = rusqlite::Connection::open(&path).unwrap();
    let q = |sql: &str| -> Vec<String> {
        let mut st = new.prepare(sql).unwrap();
        let mut v: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v.sort();
        v
    };
    assert_eq!(old_regions, q("SELECT i.content_hash || '|' || coalesce(l.name, '-') || '|' || r.kind || '|' || hex(r.geometry) || '|' || r.author || '|' || r.status || '|' || r.created_ms
                         FROM regions r JOIN images i ON i.id = r.image_id LEFT JOIN labels l ON l.id = r.label_id"));
    assert_eq!(
        old_links,
        q(
            "SELECT p.text || '|' || hex(r.geometry) FROM links k JOIN phrases p ON p.id = k.phrase_id JOIN regions r ON r.id = k.region_id"
        )
    );
    assert_eq!(
        old_phrases,
        q(
            "SELECT i.content_hash || '|' || p.text || '|' || coalesce(p.span_start, -1) || '|' || p.grounding FROM phrases p JOIN images i ON i.id = p.image_id"
        )
    );
    assert_eq!(
        old_tiles,
        q(
            "SELECT hex(r.geometry) || '|' || t.k || ',' || t.ty || ',' || t.tx || '|' || hex(t.data) FROM mask_tiles t JOIN regions r ON r.id = t.region_id"
        )
    );
    assert_eq!(
        old_heat,
        q(
            "SELECT p.text || '|' || hex(h.data) || '|' || h.prompt FROM heatmaps h JOIN phrases p ON p.id = h.phrase_id"
        )
    );
    let kept: i64 = new
        .query_row(
            "SELECT count(*) FROM changes WHERE action != 'migrate'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        kept, old_audit,
        "the audit log became the change log's first revisions"
    );
    drop(new);
    // Ids are UUIDs now: labels by name, the others v7 in their old order.
    let doc = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(
        doc.label_named("Opacity").map(|l| l.id),
        Some(Id::for_label("Opacity"))
    );
    let created: Vec<i64> = doc.regions.values().map(|r| r.created_ms).collect();
    assert!(
        created.windows(2).all(|w| w[0] <= w[1]),
        "regions keep their order"
    );
    assert!(doc.regions.keys().all(|k| k.unix_ms().is_some()));
    // And the migrated project takes new work from the CLI.
    let run = common::voxmark(["ls".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Schema 5 rebuilt the regions table to allow lines (rulers): one is kept, and removing a
    // migrated mask still takes its tiles and links with it (they point at the rebuilt table).
    let mut p = Project::open(&path).unwrap();
    let mut doc = p.load_document().unwrap();
    let image = *doc.images.keys().next().unwrap();
    let mask = doc
        .regions
        .values()
        .find(|r| r.shape == Shape::Mask)
        .unwrap()
        .id;
    let line = Region {
        id: Id::new(),
        image,
        label: None,
        shape: Shape::Line {
            a: [1.0, 2.0, 0.0],
            b: [5.0, 2.0, 0.0],
        },
        author: Author::Human("reader".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: 1,
        modified_ms: 1,
        reported: None,
    };
    let mut h = History::new(1 << 20);
    h.begin("measure").unwrap();
    h.record(
        &mut doc,
        Edit::AddRegion {
            region: line.clone(),
            mask: None,
            links: vec![],
        },
    )
    .unwrap();
    let remove = Edit::remove_region(&doc, mask).unwrap();
    h.record(&mut doc, remove).unwrap();
    p.commit(&h.commit().unwrap().unwrap(), "human:reader")
        .unwrap();
    assert!(p.check().unwrap().is_empty(), "{:?}", p.check());
    drop(p);
    let back = Project::open(&path).unwrap().load_document().unwrap();
    assert_eq!(back.regions[&line.id].shape, line.shape);
    assert!(!back.masks.contains_key(&mask) && !back.regions.contains_key(&mask));
    let c = rusqlite::Connection::open(&path).unwrap();
    let orphans: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM mask_tiles WHERE region_id NOT IN (SELECT id FROM regions))
                  + (SELECT count(*) FROM links WHERE region_id NOT IN (SELECT id FROM regions))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}
