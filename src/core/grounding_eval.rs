//! Grounding scores of a document, truth author against prediction author: per phrase and per image.
//! `voxmark eval` and the viewer's metrics panel both use these, so they show the same numbers.
//!
//! A phrase's (or image's) regions are compared as the union of their voxels on the whole image grid:
//! 2D boxes on their slice, 3D boxes over their slab, masks voxel by voxel, polygons by their filled
//! pixels (centres inside). Points and lines have no area and are left out; rejected regions never count.

use super::annotation::{Author, Document, ImageId, PhraseId, RegionId, Shape, Status};
use super::metrics::{self, Mask2};
use std::collections::BTreeSet;

/// One phrase the truth grounds.
#[derive(Clone, Debug, PartialEq)]
pub struct PhraseScore {
    /// The phrase.
    pub phrase: PhraseId,
    /// Its image.
    pub image: ImageId,
    /// Its category.
    pub category: Option<String>,
    /// IoU of the unions (0 when the prediction grounds nothing: a miss).
    pub iou: f64,
    /// Dice of the unions (0 on a miss).
    pub dice: f64,
    /// Pointing game on the predicted boxes (`None` without truth pixels).
    pub pointing: Option<bool>,
    /// Truth regions with area.
    pub truth_regions: usize,
    /// Predicted regions with area.
    pub predicted_regions: usize,
}

/// One image with regions of either author.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageScore {
    /// The image.
    pub image: ImageId,
    /// Truth regions with area.
    pub truth_regions: usize,
    /// Predicted regions with area.
    pub predicted_regions: usize,
    /// IoU of all truth against all predicted regions.
    pub iou: f64,
    /// Dice likewise.
    pub dice: f64,
}

/// Scores of a document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// True when the prediction grounds phrases the truth grounds (MS-CXR-style review): phrase
    /// scores apply. Grounded reports bring their own sentences; then only images compare.
    pub shared: bool,
    /// Per phrase grounded by the truth (empty unless `shared`).
    pub phrases: Vec<PhraseScore>,
    /// Per image.
    pub images: Vec<ImageScore>,
}

/// Phrase-level definition, as `voxmark eval` prints it.
pub const PHRASE_LEVEL_DEFINITION: &str = "each phrase with reference regions: union of its reference regions vs union of the predicted regions linked to it (none predicted: IoU 0)";
/// Image-level definition.
pub const IMAGE_LEVEL_DEFINITION: &str = "each image: union of all its reference regions vs union of all its predicted regions (rejected regions excluded)";

/// Scores of `pred` against `truth`, on every image or only `image`.
pub fn score(doc: &Document, truth: &Author, pred: &Author, image: Option<ImageId>) -> Scores {
    let truth_phrases: BTreeSet<PhraseId> = doc
        .links
        .iter()
        .filter(|(_, r)| doc.regions.get(r).is_some_and(|r| &r.author == truth))
        .map(|(p, _)| *p)
        .collect();
    let shared = doc.links.iter().any(|(p, r)| {
        truth_phrases.contains(p) && doc.regions.get(r).is_some_and(|r| &r.author == pred)
    });
    let mut out = Scores {
        shared,
        ..Scores::default()
    };
    let wanted = |i: ImageId| image.is_none_or(|x| x == i);
    if shared {
        for p in doc.phrases.values().filter(|p| wanted(p.image)) {
            let Some(info) = doc.images.get(&p.image) else {
                continue;
            };
            let linked: Vec<RegionId> = doc.regions_of(p.id).collect();
            let t = Union::of(doc, info.size, linked.iter().copied(), truth);
            if t.regions == 0 {
                continue;
            }
            let pr = Union::of(doc, info.size, linked.iter().copied(), pred);
            out.phrases.push(PhraseScore {
                phrase: p.id,
                image: p.image,
                category: p.category.clone(),
                iou: metrics::iou(&t.mask, &pr.mask).unwrap_or(0.0),
                dice: metrics::dice(&t.mask, &pr.mask).unwrap_or(0.0),
                pointing: metrics::pointing_boxes(&pr.boxes, &t.mask),
                truth_regions: t.regions,
                predicted_regions: pr.regions,
            });
        }
    }
    for (id, info) in doc.images.iter().filter(|(i, _)| wanted(**i)) {
        let on_image = || {
            doc.regions
                .values()
                .filter(|r| r.image == *id)
                .map(|r| r.id)
        };
        let t = Union::of(doc, info.size, on_image(), truth);
        let p = Union::of(doc, info.size, on_image(), pred);
        if t.regions == 0 && p.regions == 0 {
            continue;
        }
        // One side empty is a complete miss (0).
        out.images.push(ImageScore {
            image: *id,
            truth_regions: t.regions,
            predicted_regions: p.regions,
            iou: metrics::iou(&t.mask, &p.mask).unwrap_or(0.0),
            dice: metrics::dice(&t.mask, &p.mask).unwrap_or(0.0),
        });
    }
    out
}

/// The union of an author's regions on an image, as a `width × (height · depth)` grid (slices stacked
/// row-wise), with its boxes (in the same stacked rows) and confidences for the pointing game.
struct Union {
    mask: Mask2,
    boxes: Vec<([f64; 4], f64)>,
    regions: usize,
}

impl Union {
    fn of(
        doc: &Document,
        size: [usize; 3],
        regions: impl Iterator<Item = RegionId>,
        author: &Author,
    ) -> Self {
        let [w, h, d] = size;
        let mut u = Union {
            mask: Mask2::new(w, h * d),
            boxes: Vec::new(),
            regions: 0,
        };
        // A box's rows on slice k, clipped to that slice so that it never spills into the next.
        let rows = |min_j: f64, max_j: f64, k: usize| {
            let top = (h as f64 - 1.0).max(0.0);
            let off = (k * h) as f64;
            (min_j.max(0.0) + off, max_j.min(top) + off)
        };
        for r in regions.filter_map(|r| doc.regions.get(&r)) {
            if &r.author != author || r.status == Status::Rejected {
                continue;
            }
            let confidence = r.confidence.unwrap_or(1.0);
            match &r.shape {
                Shape::Box2d { slice, min, max } => {
                    let k = *slice as usize;
                    if k >= d {
                        continue;
                    }
                    let (j0, j1) = rows(min[1], max[1], k);
                    let b = [min[0], j0, max[0], j1];
                    u.mask.add_box(b);
                    u.boxes.push((b, confidence));
                }
                Shape::Box3d { min, max } => {
                    let k0 = min[2].ceil().max(0.0) as usize;
                    let k1 = if max[2] < 0.0 {
                        0
                    } else {
                        (max[2].floor() as usize + 1).min(d)
                    };
                    for k in k0..k1 {
                        let (j0, j1) = rows(min[1], max[1], k);
                        u.mask.add_box([min[0], j0, max[0], j1]);
                    }
                    let mid = ((min[2] + max[2]) / 2.0).round().clamp(0.0, (d - 1) as f64);
                    let (j0, j1) = rows(min[1], max[1], mid as usize);
                    u.boxes.push(([min[0], j0, max[0], j1], confidence));
                }
                Shape::Mask => {
                    if let Some(m) = doc.masks.get(&r.id) {
                        m.paint_into(&mut u.mask.bits, true);
                    }
                }
                Shape::Polygon { slice, points } => {
                    let k = *slice as usize;
                    if let Some((b, inside)) = super::paint::polygon_voxels(points, k, size) {
                        let mut n = 0;
                        for j in b.min[1]..b.max[1] {
                            for i in b.min[0]..b.max[0] {
                                if inside[n] {
                                    u.mask.bits[(k * h + j) * w + i] = true;
                                }
                                n += 1;
                            }
                        }
                    }
                }
                Shape::Point { .. } | Shape::Line { .. } => continue,
            }
            u.regions += 1;
        }
        u
    }
}

/// Authors of the document's regions, humans first, each once.
pub fn region_authors(doc: &Document) -> Vec<Author> {
    let mut authors: Vec<Author> = Vec::new();
    for r in doc.regions.values() {
        if !authors.contains(&r.author) {
            authors.push(r.author.clone());
        }
    }
    authors.sort();
    authors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::annotation::{Grounding, ImageInfo, Phrase, Region};
    use crate::core::{MaskTiles, VoxelBox};

    fn region(id: u128, author: &str, shape: Shape) -> Region {
        Region {
            id: crate::core::Id::from_u128(id),
            image: crate::core::Id::from_u128(1),
            label: None,
            shape,
            author: author.parse().unwrap(),
            prompt: None,
            status: Status::Accepted,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        }
    }

    #[test]
    fn boxes_masks_and_3d_boxes_compare_as_voxel_unions() {
        let mut doc = Document::default();
        doc.images.insert(
            crate::core::Id::from_u128(1),
            ImageInfo {
                id: crate::core::Id::from_u128(1),
                size: [10, 10, 3],
                report: None,
            },
        );
        doc.phrases.insert(
            crate::core::Id::from_u128(7),
            Phrase {
                id: crate::core::Id::from_u128(7),
                image: crate::core::Id::from_u128(1),
                text: "x".into(),
                span: None,
                category: Some("Edema".into()),
                grounding: Grounding::Pending,
                author: "human:a".parse().unwrap(),
                created_ms: 0,
                modified_ms: 0,
            },
        );
        // Truth: a 4×4 box on slice 1 (16 pixels). Prediction: a mask of its left half (8 voxels)
        // plus 2 voxels on slice 2, and a rejected box over everything (ignored).
        doc.regions.insert(
            crate::core::Id::from_u128(1),
            region(
                1,
                "human:a",
                Shape::Box2d {
                    slice: 1,
                    min: [2.0, 2.0],
                    max: [5.0, 5.0],
                },
            ),
        );
        let mut m = MaskTiles::new([10, 10, 3]);
        m.write_box(
            VoxelBox {
                min: [2, 2, 1],
                max: [4, 6, 2],
            },
            &[1; 8],
        );
        m.write_box(
            VoxelBox {
                min: [0, 0, 2],
                max: [2, 1, 3],
            },
            &[1; 2],
        );
        doc.regions.insert(
            crate::core::Id::from_u128(2),
            region(2, "model:m@1", Shape::Mask),
        );
        doc.masks.insert(crate::core::Id::from_u128(2), m);
        let mut rejected = region(
            3,
            "model:m@1",
            Shape::Box3d {
                min: [0.0; 3],
                max: [9.0, 9.0, 2.0],
            },
        );
        rejected.status = Status::Rejected;
        doc.regions.insert(crate::core::Id::from_u128(3), rejected);
        doc.links.extend(
            [(7, 1), (7, 2), (7, 3)]
                .map(|(p, r)| (crate::core::Id::from_u128(p), crate::core::Id::from_u128(r))),
        );
        let s = score(
            &doc,
            &"human:a".parse().unwrap(),
            &"model:m@1".parse().unwrap(),
            None,
        );
        assert!(s.shared);
        assert_eq!(s.phrases.len(), 1);
        let p = &s.phrases[0];
        // |A∩B| = 8, |A∪B| = 16 + 2 = 18.
        assert!((p.iou - 8.0 / 18.0).abs() < 1e-12, "{}", p.iou);
        assert!((p.dice - 16.0 / 26.0).abs() < 1e-12);
        assert_eq!((p.truth_regions, p.predicted_regions), (1, 1));
        // The prediction has no boxes to point with.
        assert_eq!(p.pointing, None);
        assert_eq!(s.images.len(), 1);
        assert!((s.images[0].iou - 8.0 / 18.0).abs() < 1e-12);
        // A 3D box over slices 0–1 of the same 4×4 footprint against the truth: 16 of 32.
        doc.regions
            .get_mut(&crate::core::Id::from_u128(3))
            .unwrap()
            .status = Status::Accepted;
        doc.regions
            .get_mut(&crate::core::Id::from_u128(3))
            .unwrap()
            .shape = Shape::Box3d {
            min: [2.0, 2.0, 0.0],
            max: [5.0, 5.0, 1.0],
        };
        doc.regions.remove(&crate::core::Id::from_u128(2));
        let s = score(
            &doc,
            &"human:a".parse().unwrap(),
            &"model:m@1".parse().unwrap(),
            None,
        );
        assert!((s.phrases[0].iou - 0.5).abs() < 1e-12);
        assert_eq!(s.phrases[0].pointing, Some(true));
        assert_eq!(region_authors(&doc).len(), 2);
    }
}
