//! The annotation document (ARCHITECTURE.md §3): labels, regions in voxel coordinates of one image,
//! phrases of the image's report, and many-to-many grounding links between them.

use super::mask::MaskTiles;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use super::id::Id;

/// Identity of an image in a project.
pub type ImageId = Id;
/// Identity of a label (derived from its name, [`Id::for_label`]).
pub type LabelId = Id;
/// Identity of a region.
pub type RegionId = Id;
/// Identity of a phrase.
pub type PhraseId = Id;
/// Identity of a heatmap.
pub type HeatmapId = Id;

/// Who or what made an annotation: `human:<name>` or `model:<name>@<version>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Author {
    /// A person.
    Human(String),
    /// A model, with its version.
    Model {
        /// Model name.
        name: String,
        /// Model version.
        version: String,
    },
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Author::Human(n) => write!(f, "human:{n}"),
            Author::Model { name, version } => write!(f, "model:{name}@{version}"),
        }
    }
}

/// A malformed author string.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("author {0:?} is not `human:<name>` or `model:<name>@<version>`")]
pub struct AuthorParseError(pub String);

impl std::str::FromStr for Author {
    type Err = AuthorParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AuthorParseError(s.to_string());
        if let Some(name) = s.strip_prefix("human:") {
            return (!name.is_empty())
                .then(|| Author::Human(name.to_string()))
                .ok_or_else(bad);
        }
        if let Some(rest) = s.strip_prefix("model:") {
            let (name, version) = rest.rsplit_once('@').ok_or_else(bad)?;
            if name.is_empty() || version.is_empty() {
                return Err(bad());
            }
            return Ok(Author::Model {
                name: name.to_string(),
                version: version.to_string(),
            });
        }
        Err(bad())
    }
}

/// Review state of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    /// Made or accepted by a person.
    Accepted,
    /// Proposed by a model, not reviewed yet.
    Proposed,
    /// Rejected in review (kept, not deleted, so the decision is on record).
    Rejected,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Proposed => "proposed",
            Status::Rejected => "rejected",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Status::Accepted),
            "proposed" => Some(Status::Proposed),
            "rejected" => Some(Status::Rejected),
            _ => None,
        }
    }
}

/// Colours given to new labels in turn (RGBA): distinct on grey images, as ITK-SNAP's first labels.
pub const LABEL_PALETTE: [[u8; 4]; 8] = [
    [0xe6, 0x4b, 0x3c, 0xff],
    [0x2e, 0xcc, 0x71, 0xff],
    [0x34, 0x98, 0xdb, 0xff],
    [0xf1, 0xc4, 0x0f, 0xff],
    [0x9b, 0x59, 0xb6, 0xff],
    [0x1a, 0xbc, 0x9c, 0xff],
    [0xe6, 0x7e, 0x22, 0xff],
    [0xec, 0x70, 0xb4, 0xff],
];

/// A named label with a display colour (RGBA).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Row id.
    pub id: LabelId,
    /// Name, unique in a project.
    pub name: String,
    /// Colour, RGBA.
    pub color: [u8; 4],
}

/// The geometry of a region, in continuous voxel coordinates of its image (voxel centres at integers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A rectangle on one slice `k`: `min`/`max` are (i, j) corners, inclusive of the pixels they cover.
    Box2d {
        /// Slice index along k.
        slice: u32,
        /// Smallest (i, j).
        min: [f64; 2],
        /// Largest (i, j).
        max: [f64; 2],
    },
    /// A voxel-aligned box.
    Box3d {
        /// Smallest (i, j, k).
        min: [f64; 3],
        /// Largest (i, j, k).
        max: [f64; 3],
    },
    /// Label voxels on the image grid; the voxels are in [`Document::masks`].
    Mask,
    /// A closed polygon on slice `k`.
    Polygon {
        /// Slice index along k.
        slice: u32,
        /// Vertices (i, j), in order.
        points: Vec<[f64; 2]>,
    },
    /// A point.
    Point {
        /// (i, j, k).
        at: [f64; 3],
    },
    /// A straight line between two voxel positions (a ruler): its length is the measurement.
    Line {
        /// One end (i, j, k).
        a: [f64; 3],
        /// The other end (i, j, k).
        b: [f64; 3],
    },
}

/// Length in mm of the segment between voxel positions `a` and `b` on a grid of `spacing_mm`
/// (voxel steps times spacing: the grid's axes are orthogonal, as every image's here are).
pub fn length_mm(a: [f64; 3], b: [f64; 3], spacing_mm: [f64; 3]) -> f64 {
    (0..3)
        .map(|c| ((b[c] - a[c]) * spacing_mm[c]).powi(2))
        .sum::<f64>()
        .sqrt()
}

impl Shape {
    /// This shape (a 2D or 3D box) over slices `k0..=k1` (either order, clamped to `0..slices`): a 3D box,
    /// or a 2D box when one slice remains. Other shapes: `None`.
    pub fn box_over_slices(&self, k0: usize, k1: usize, slices: usize) -> Option<Shape> {
        let (min, max) = match self {
            Shape::Box2d { min, max, .. } => (*min, *max),
            Shape::Box3d { min, max } => ([min[0], min[1]], [max[0], max[1]]),
            _ => return None,
        };
        let last = slices.checked_sub(1)?;
        let (lo, hi) = (k0.min(k1).min(last), k0.max(k1).min(last));
        Some(if lo == hi {
            Shape::Box2d {
                slice: u32::try_from(lo).unwrap_or(u32::MAX),
                min,
                max,
            }
        } else {
            Shape::Box3d {
                min: [min[0], min[1], lo as f64],
                max: [max[0], max[1], hi as f64],
            }
        })
    }

    /// The slices a 2D or 3D box covers, `(first, last)`.
    pub fn box_slices(&self) -> Option<(usize, usize)> {
        match self {
            Shape::Box2d { slice, .. } => Some((*slice as usize, *slice as usize)),
            Shape::Box3d { min, max } => Some((min[2].max(0.0) as usize, max[2].max(0.0) as usize)),
            _ => None,
        }
    }

    /// The kind name stored in the project (`box2d`, `box3d`, `mask`, `polygon`, `point`, `line`).
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Box2d { .. } => "box2d",
            Shape::Box3d { .. } => "box3d",
            Shape::Mask => "mask",
            Shape::Polygon { .. } => "polygon",
            Shape::Point { .. } => "point",
            Shape::Line { .. } => "line",
        }
    }

    /// True when every coordinate is finite and boxes are not inverted.
    pub fn is_valid(&self) -> bool {
        let fin = |v: &[f64]| v.iter().all(|x| x.is_finite());
        match self {
            Shape::Box2d { min, max, .. } => {
                fin(min) && fin(max) && min[0] <= max[0] && min[1] <= max[1]
            }
            Shape::Box3d { min, max } => fin(min) && fin(max) && (0..3).all(|i| min[i] <= max[i]),
            Shape::Mask => true,
            Shape::Polygon { points, .. } => points.len() >= 3 && points.iter().all(|p| fin(p)),
            Shape::Point { at } => fin(at),
            Shape::Line { a, b } => fin(a) && fin(b),
        }
    }
}

/// A region of one image: geometry plus provenance and review state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Row id.
    pub id: RegionId,
    /// The image it lies on.
    pub image: ImageId,
    /// Its label, if any.
    pub label: Option<LabelId>,
    /// Geometry.
    pub shape: Shape,
    /// Who or what made it.
    pub author: Author,
    /// What a model was given (text, points, box), as text; `None` for human work.
    pub prompt: Option<String>,
    /// Review state.
    pub status: Status,
    /// Model confidence, if any.
    pub confidence: Option<f64>,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Last change, ms since the Unix epoch.
    pub modified_ms: i64,
}

/// Whether a phrase has been grounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grounding {
    /// Not annotated yet (its link list means nothing yet).
    Pending,
    /// Annotated: grounded by its linked regions, which may be none only if `NoVisible` is set instead.
    Annotated,
    /// Explicitly "no visible grounding" (distinct from not yet annotated).
    NoVisible,
}

impl Grounding {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grounding::Pending => "pending",
            Grounding::Annotated => "annotated",
            Grounding::NoVisible => "none-visible",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Grounding::Pending),
            "annotated" => Some(Grounding::Annotated),
            "none-visible" => Some(Grounding::NoVisible),
            _ => None,
        }
    }
}

/// A phrase of an image's report (or a free phrase) that regions can ground.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phrase {
    /// Row id.
    pub id: PhraseId,
    /// The image whose report it belongs to.
    pub image: ImageId,
    /// The phrase text.
    pub text: String,
    /// Who wrote it: a person for report text, a model for generated (grounded) reports.
    pub author: Author,
    /// `[start, end)` in characters (Unicode scalar values) of the report, when it is a span of it.
    pub span: Option<(usize, usize)>,
    /// Category (e.g. one of MS-CXR's findings).
    pub category: Option<String>,
    /// Grounding state.
    pub grounding: Grounding,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Last change, ms since the Unix epoch.
    pub modified_ms: i64,
}

/// A model's similarity map for a phrase on one slice of an image, at the model's own resolution
/// (`width × height` values, row by row, spanning the whole slice).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    /// Row id.
    pub id: HeatmapId,
    /// The image.
    pub image: ImageId,
    /// The phrase it answers, if any.
    pub phrase: Option<PhraseId>,
    /// The model (or person) that made it.
    pub author: Author,
    /// Slice index along k.
    pub slice: u32,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Raw values (not normalised).
    pub values: Vec<f32>,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// What a model was given (phrase, manifest hash, settings), as JSON text; `None` for imports.
    pub prompt: Option<String>,
}

impl Heatmap {
    /// The value at image pixel (i, j) of an image `image_width × image_height`: nearest neighbour
    /// from the map's own grid, which covers the same field of view.
    pub fn at_image_pixel(
        &self,
        i: usize,
        j: usize,
        image_width: usize,
        image_height: usize,
    ) -> f32 {
        let x = ((i as f64 + 0.5) * self.width as f64 / image_width.max(1) as f64).floor() as usize;
        let y =
            ((j as f64 + 0.5) * self.height as f64 / image_height.max(1) as f64).floor() as usize;
        self.values
            .get(y.min(self.height - 1) * self.width + x.min(self.width - 1))
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// The map resampled onto an image grid (row by row).
    pub fn on_image_grid(&self, image_width: usize, image_height: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(image_width * image_height);
        for j in 0..image_height {
            for i in 0..image_width {
                out.push(self.at_image_pixel(i, j, image_width, image_height));
            }
        }
        out
    }
}

/// What the document knows of an image (the pixels stay in the source files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Row id.
    pub id: ImageId,
    /// Grid size, for checking masks and regions.
    pub size: [usize; 3],
    /// The report text, if any.
    pub report: Option<String>,
}

/// The whole annotation state of a project; edits change it, the store persists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    /// Images by id.
    pub images: BTreeMap<ImageId, ImageInfo>,
    /// Labels by id.
    pub labels: BTreeMap<LabelId, Label>,
    /// Regions by id.
    pub regions: BTreeMap<RegionId, Region>,
    /// Mask voxels of `mask` regions, by region id.
    pub masks: BTreeMap<RegionId, MaskTiles>,
    /// Phrases by id.
    pub phrases: BTreeMap<PhraseId, Phrase>,
    /// Grounding links (phrase, region).
    pub links: BTreeSet<(PhraseId, RegionId)>,
    /// Heatmaps by id.
    pub heatmaps: BTreeMap<HeatmapId, Heatmap>,
}

/// A phrase span that does not fit its report.
pub fn span_fits(report: Option<&str>, span: (usize, usize)) -> bool {
    let len = report.map_or(0, |r| r.chars().count());
    span.0 < span.1 && span.1 <= len
}

impl Document {
    /// Regions linked to a phrase.
    pub fn regions_of(&self, phrase: PhraseId) -> impl Iterator<Item = RegionId> + '_ {
        self.links
            .range((phrase, Id::NIL)..=(phrase, Id::MAX))
            .map(|&(_, r)| r)
    }

    /// Phrases linked to a region.
    pub fn phrases_of(&self, region: RegionId) -> impl Iterator<Item = PhraseId> + '_ {
        self.links
            .iter()
            .filter(move |(_, r)| *r == region)
            .map(|&(p, _)| p)
    }

    /// The number each label has in exports that number labels (label maps, DICOM SEG segments):
    /// a label named `label N` (what an imported map without a name table gets) keeps `N`; the
    /// others follow in name order from 1, skipping numbers taken. Stable for a given set of labels.
    pub fn label_numbers(&self) -> BTreeMap<LabelId, u32> {
        let mut out = BTreeMap::new();
        let mut taken = BTreeSet::new();
        for l in self.labels.values() {
            if let Some(n) = l
                .name
                .strip_prefix("label ")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0 && !taken.contains(n))
            {
                taken.insert(n);
                out.insert(l.id, n);
            }
        }
        let mut rest: Vec<&Label> = self
            .labels
            .values()
            .filter(|l| !out.contains_key(&l.id))
            .collect();
        rest.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let mut next = 1;
        for l in rest {
            while taken.contains(&next) {
                next += 1;
            }
            taken.insert(next);
            out.insert(l.id, next);
        }
        out
    }

    /// The label drawing starts with when none is chosen: the one numbered first
    /// ([`Self::label_numbers`]), so the same in every process.
    pub fn first_label(&self) -> Option<LabelId> {
        self.label_numbers()
            .into_iter()
            .min_by_key(|(_, n)| *n)
            .map(|(id, _)| id)
    }

    /// The label named `name`, if the document has one.
    pub fn label_named(&self, name: &str) -> Option<&Label> {
        self.labels.values().find(|l| l.name == name)
    }

    /// The identity a new label named `name` gets: [`Id::for_label`], so that every writer creating
    /// that name makes the same label; a fresh id only when a label renamed from `name` holds it.
    pub fn new_label_id(&self, name: &str) -> LabelId {
        let by_name = Id::for_label(name);
        if self.labels.contains_key(&by_name) {
            Id::new()
        } else {
            by_name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_measures_voxel_steps_times_spacing() {
        assert!((length_mm([0.0, 0.0, 2.0], [3.0, 4.0, 2.0], [0.5, 0.5, 2.0]) - 2.5).abs() < 1e-12);
        // Across slices the slice spacing counts: 3-4-12 → 13.
        assert!(
            (length_mm([1.0, 1.0, 0.0], [4.0, 5.0, 6.0], [1.0, 1.0, 2.0]) - 13.0).abs() < 1e-12
        );
        let line = Shape::Line {
            a: [0.0, 0.0, 0.0],
            b: [f64::NAN, 0.0, 0.0],
        };
        assert!(!line.is_valid());
        assert_eq!(line.kind(), "line");
    }

    #[test]
    fn author_round_trips_and_rejects_junk() {
        for s in ["human:alice", "model:litemedsam@0.1.1", "model:a@b@c"] {
            assert_eq!(s.parse::<Author>().unwrap().to_string(), s);
        }
        let m: Author = "model:a@b@c".parse().unwrap();
        assert_eq!(
            m,
            Author::Model {
                name: "a@b".into(),
                version: "c".into()
            }
        );
        for s in ["", "alice", "human:", "model:x", "model:@1", "model:x@"] {
            assert!(s.parse::<Author>().is_err(), "{s}");
        }
    }

    #[test]
    fn spans_are_in_characters() {
        let r = "Opacité in the left lung.";
        assert!(span_fits(Some(r), (0, 7)));
        assert!(span_fits(Some(r), (8, r.chars().count())));
        assert!(!span_fits(Some(r), (8, r.chars().count() + 1)));
        assert!(!span_fits(Some(r), (3, 3)));
        assert!(!span_fits(None, (0, 1)));
    }

    #[test]
    fn boxes_extend_over_slices_and_back() {
        let b = Shape::Box2d {
            slice: 5,
            min: [1.0, 2.0],
            max: [3.0, 4.0],
        };
        let b3 = b.box_over_slices(8, 3, 20).unwrap();
        assert_eq!(
            b3,
            Shape::Box3d {
                min: [1.0, 2.0, 3.0],
                max: [3.0, 4.0, 8.0],
            }
        );
        assert_eq!(b3.box_slices(), Some((3, 8)));
        assert_eq!(b3.box_over_slices(5, 5, 20).unwrap(), b);
        // Clamped to the grid; other shapes are not boxes.
        assert_eq!(
            b.box_over_slices(0, 99, 20).unwrap().box_slices(),
            Some((0, 19))
        );
        assert_eq!(Shape::Mask.box_over_slices(0, 1, 20), None);
    }
}
