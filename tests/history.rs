//! Property tests of edits and undo: any sequence of transactions followed by as many undos gives the
//! original document back; as many redos give the edited one. Sequences come from a seeded generator,
//! so a failure names a seed that reproduces it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

use voxmark::core::annotation::span_fits;
use voxmark::core::mask::VoxelBox;
use voxmark::core::{
    Author, Document, Edit, Grounding, History, Id, ImageInfo, Label, MaskTiles, Phrase, Region,
    Shape, Status,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn f(&mut self, hi: f64) -> f64 {
        (self.next() % 10_000) as f64 / 10_000.0 * hi
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.below(v.len())])
    }
}

const SIZE: [usize; 3] = [40, 30, 5];

/// A new id above every key of `m` (deterministic, so that a seed reproduces a sequence).
fn fresh<T>(m: &std::collections::BTreeMap<Id, T>) -> Id {
    Id::from_u128(m.keys().next_back().map_or(1, |k| k.as_u128() + 1))
}

fn start() -> Document {
    let mut d = Document::default();
    for id in 1..=2 {
        Edit::AddImage(ImageInfo {
            id: Id::from_u128(id),
            size: SIZE,
            report: Some("Small left effusion. No pneumothorax.".into()),
        })
        .apply(&mut d)
        .unwrap();
    }
    d
}

fn random_shape(r: &mut Rng) -> Shape {
    match r.below(4) {
        0 => {
            let (x, y) = (r.f(30.0), r.f(20.0));
            Shape::Box2d {
                slice: r.below(5) as u32,
                min: [x, y],
                max: [x + r.f(9.0), y + r.f(9.0)],
            }
        }
        1 => Shape::Box3d {
            min: [1.0, 2.0, 0.0],
            max: [5.0 + r.f(30.0), 9.0, 4.0],
        },
        2 => Shape::Point {
            at: [r.f(39.0), r.f(29.0), r.f(4.0)],
        },
        _ => Shape::Polygon {
            slice: 1,
            points: vec![[0.0, 0.0], [r.f(10.0), 1.0], [3.0, r.f(10.0) + 1.0]],
        },
    }
}

/// A random edit that applies to `d`, or `None` when the draw found nothing to do.
fn random_edit(r: &mut Rng, d: &Document) -> Option<Edit> {
    let images: Vec<Id> = d.images.keys().copied().collect();
    let regions: Vec<Id> = d.regions.keys().copied().collect();
    let phrases: Vec<Id> = d.phrases.keys().copied().collect();
    let masks: Vec<Id> = d.masks.keys().copied().collect();
    let labels: Vec<Id> = d.labels.keys().copied().collect();
    let t = r.next() as i64 % 1_000_000;
    Some(match r.below(14) {
        0 => {
            let id = fresh(&d.labels);
            Edit::AddLabel(Label {
                id,
                name: format!("label {id}"),
                color: [r.below(255) as u8, 80, 200, 255],
            })
        }
        1 => {
            let id = r.pick(&labels)?;
            let before = d.labels[&id].clone();
            Edit::UpdateLabel {
                after: Label {
                    color: [1, 2, 3, 255],
                    ..before.clone()
                },
                before,
            }
        }
        2 | 3 => {
            let id = fresh(&d.regions);
            let image = r.pick(&images)?;
            let is_mask = r.below(3) == 0;
            let region = Region {
                id,
                image,
                label: if r.below(2) == 0 {
                    r.pick(&labels)
                } else {
                    None
                },
                shape: if is_mask {
                    Shape::Mask
                } else {
                    random_shape(r)
                },
                author: if r.below(2) == 0 {
                    Author::Human("ann".into())
                } else {
                    "model:m@1".parse().ok()?
                },
                prompt: r.below(2).eq(&0).then(|| "effusion".to_string()),
                status: [Status::Accepted, Status::Proposed, Status::Rejected][r.below(3)],
                confidence: r.below(2).eq(&0).then(|| r.f(1.0)),
                created_ms: t,
                modified_ms: t,
                reported: None,
            };
            let links: Vec<Id> = phrases
                .iter()
                .copied()
                .filter(|p| d.phrases[p].image == image && r.below(3) == 0)
                .collect();
            Edit::AddRegion {
                region,
                mask: is_mask.then(|| MaskTiles::new(SIZE)),
                links,
            }
        }
        4 => {
            let id = r.pick(&regions)?;
            let before = d.regions[&id].clone();
            let mut after = before.clone();
            after.status = [Status::Accepted, Status::Proposed, Status::Rejected][r.below(3)];
            after.modified_ms = t;
            if after.shape != Shape::Mask {
                after.shape = random_shape(r);
            }
            Edit::UpdateRegion { before, after }
        }
        5 => Edit::remove_region(d, r.pick(&regions)?)?,
        6 | 7 => {
            let id = fresh(&d.phrases);
            let image = r.pick(&images)?;
            let report = d.images[&image].report.clone();
            let span = (r.below(2) == 0)
                .then(|| (r.below(10), 10 + r.below(30)))
                .filter(|s| span_fits(report.as_deref(), *s));
            let links: Vec<Id> = regions
                .iter()
                .copied()
                .filter(|x| d.regions[x].image == image && r.below(3) == 0)
                .collect();
            Edit::AddPhrase {
                phrase: Phrase {
                    id,
                    image,
                    text: "left effusion".into(),
                    author: if r.below(2) == 0 {
                        Author::Human("ann".into())
                    } else {
                        "model:maira@2".parse().ok()?
                    },
                    span,
                    category: r.below(2).eq(&0).then(|| "Pleural effusion".to_string()),
                    grounding: [
                        Grounding::Pending,
                        Grounding::Annotated,
                        Grounding::NoVisible,
                    ][r.below(3)],
                    created_ms: t,
                    modified_ms: t,
                },
                links,
            }
        }
        8 => {
            let id = r.pick(&phrases)?;
            let before = d.phrases[&id].clone();
            let after = Phrase {
                text: format!("{} (edited)", before.text),
                grounding: Grounding::Annotated,
                ..before.clone()
            };
            Edit::UpdatePhrase { before, after }
        }
        9 => Edit::remove_phrase(d, r.pick(&phrases)?)?,
        10 => {
            let p = r.pick(&phrases)?;
            let same: Vec<Id> = regions
                .iter()
                .copied()
                .filter(|x| {
                    d.regions[x].image == d.phrases[&p].image && !d.links.contains(&(p, *x))
                })
                .collect();
            Edit::Link {
                phrase: p,
                region: r.pick(&same)?,
            }
        }
        11 => {
            let links: Vec<(Id, Id)> = d.links.iter().copied().collect();
            let (phrase, region) = r.pick(&links)?;
            Edit::Unlink { phrase, region }
        }
        12 => {
            // Appending keeps every span inside the report.
            let image = r.pick(&images)?;
            let before = d.images[&image].report.clone();
            let after = Some(format!(
                "{} Heart size normal.",
                before.clone().unwrap_or_default()
            ));
            Edit::SetReport {
                image,
                before,
                after,
            }
        }
        _ => {
            let id = r.pick(&masks)?;
            let min = [r.below(35), r.below(25), r.below(5)];
            let max = [min[0] + 1 + r.below(5), min[1] + 1 + r.below(5), min[2] + 1];
            let bounds = VoxelBox { min, max };
            let before = d.masks[&id].read_box(bounds);
            let after: Vec<u8> = before.iter().map(|_| (r.below(3) != 0) as u8).collect();
            Edit::paint(id, bounds, &before, &after)
        }
    })
}

#[test]
fn undo_all_gives_the_original_and_redo_all_the_edited() {
    let mut kinds = std::collections::BTreeMap::new();
    for seed in 1..=300u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut doc = start();
        let original = doc.clone();
        let mut h = History::new(usize::MAX);
        let mut steps = 0;
        for _ in 0..(5 + r.below(25)) {
            let before_step = doc.clone();
            h.begin("step").unwrap();
            for _ in 0..(1 + r.below(4)) {
                if let Some(e) = random_edit(&mut r, &doc) {
                    let kind = format!("{e:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    *kinds.entry(kind).or_insert(0usize) += 1;
                    h.record(&mut doc, e)
                        .unwrap_or_else(|err| panic!("seed {seed}: generated edit failed: {err}"));
                }
            }
            if r.below(6) == 0 {
                h.abort(&mut doc).unwrap();
                assert!(h.undo_len() == steps, "seed {seed}");
                assert_eq!(
                    doc, before_step,
                    "seed {seed}: abort did not restore the document"
                );
            } else if h.commit().unwrap().is_some() {
                steps += 1;
            }
        }
        let edited = doc.clone();
        for _ in 0..steps {
            assert!(h.undo(&mut doc).unwrap().is_some(), "seed {seed}");
        }
        assert_eq!(
            doc, original,
            "seed {seed}: undo all did not restore the original"
        );
        assert!(h.undo(&mut doc).unwrap().is_none());
        for _ in 0..steps {
            assert!(h.redo(&mut doc).unwrap().is_some(), "seed {seed}");
        }
        assert_eq!(
            doc, edited,
            "seed {seed}: redo all did not restore the edited document"
        );
    }
    // Every kind of edit was exercised, many times.
    println!("{kinds:?}");
    assert!(kinds.len() >= 12, "{kinds:?}");
    assert!(kinds.values().all(|&n| n >= 50), "{kinds:?}");
}

#[test]
fn abort_reverts_the_open_transaction() {
    let mut doc = start();
    let original = doc.clone();
    let mut h = History::new(1 << 20);
    let mut r = Rng(7);
    h.begin("stroke").unwrap();
    for _ in 0..20 {
        if let Some(e) = random_edit(&mut r, &doc) {
            h.record(&mut doc, e).unwrap();
        }
    }
    assert_ne!(doc, original);
    h.abort(&mut doc).unwrap();
    assert_eq!(doc, original);
    assert_eq!(h.undo_len(), 0);
}

/// A step whose rows another writer changed can be neither undone nor redone; the others can.
#[test]
fn stale_steps_are_refused_and_kept() {
    let mut doc = start();
    let mut h = History::new(1 << 20);
    let region = |n: u128, x: f64| Region {
        id: Id::from_u128(100 + n),
        image: Id::from_u128(1),
        label: None,
        shape: Shape::Point { at: [x, 1.0, 0.0] },
        author: Author::Human("a".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: 0,
        modified_ms: 0,
        reported: None,
    };
    for n in [1, 2] {
        h.begin("draw").unwrap();
        h.record(
            &mut doc,
            Edit::AddRegion {
                region: region(n, 1.0),
                mask: None,
                links: vec![],
            },
        )
        .unwrap();
        h.commit().unwrap();
    }
    // Another writer changed region 101 (the first step).
    let ids = [Id::from_u128(101)].into_iter().collect();
    assert_eq!(
        h.mark_stale(&ids, "region 00000065 was changed by human:bob"),
        1
    );
    assert_eq!(h.mark_stale(&ids, "again"), 0, "a step is marked once");
    // The second step undoes and redoes as before.
    assert!(h.undo(&mut doc).unwrap().is_some());
    assert!(h.redo(&mut doc).unwrap().is_some());
    assert!(h.undo(&mut doc).unwrap().is_some());
    let before = doc.clone();
    let err = h.undo(&mut doc).unwrap_err().to_string();
    assert!(err.contains("changed by human:bob"), "{err}");
    assert_eq!(doc, before, "a refused undo changes nothing");
    assert_eq!(h.undo_len(), 1, "the refused step stays");
}

#[test]
fn history_memory_is_capped_and_keeps_the_latest_step() {
    let mut doc = start();
    let mut h = History::new(4096);
    h.begin("mask").unwrap();
    let region = Region {
        id: voxmark::core::Id::from_u128(1),
        image: voxmark::core::Id::from_u128(1),
        label: None,
        shape: Shape::Mask,
        author: Author::Human("a".into()),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: 0,
        modified_ms: 0,
        reported: None,
    };
    h.record(
        &mut doc,
        Edit::AddRegion {
            region,
            mask: Some(MaskTiles::new(SIZE)),
            links: vec![],
        },
    )
    .unwrap();
    h.commit().unwrap();
    for k in 0..5 {
        h.begin("stroke").unwrap();
        let b = VoxelBox {
            min: [0, 0, k],
            max: [40, 30, k + 1],
        };
        let before = doc.masks[&voxmark::core::Id::from_u128(1)].read_box(b);
        // A noisy stroke: RLE cannot shrink it much, so each step is ~1 kB.
        let after: Vec<u8> = (0..b.len()).map(|i| ((i * 7 + k) % 3 == 0) as u8).collect();
        h.record(
            &mut doc,
            Edit::paint(voxmark::core::Id::from_u128(1), b, &before, &after),
        )
        .unwrap();
        h.commit().unwrap();
        assert!(
            h.bytes() <= 4096 || h.undo_len() == 1,
            "{} bytes in {} steps",
            h.bytes(),
            h.undo_len()
        );
    }
    assert!(h.undo_len() < 6, "old steps were dropped");
    assert!(h.undo_len() >= 1);
}

#[test]
fn invalid_edits_leave_the_document_unchanged() {
    let mut doc = start();
    let before = doc.clone();
    let phrase = Phrase {
        id: voxmark::core::Id::from_u128(1),
        image: voxmark::core::Id::from_u128(1),
        text: "x".into(),
        author: Author::Human("test".into()),
        span: Some((5, 999)),
        category: None,
        grounding: Grounding::Pending,
        created_ms: 0,
        modified_ms: 0,
    };
    let err = Edit::AddPhrase {
        phrase,
        links: vec![],
    }
    .apply(&mut doc)
    .unwrap_err();
    assert!(err.to_string().contains("outside the report"), "{err}");
    assert!(
        Edit::Link {
            phrase: voxmark::core::Id::from_u128(9),
            region: voxmark::core::Id::from_u128(9)
        }
        .apply(&mut doc)
        .is_err()
    );
    assert_eq!(doc, before);
}
