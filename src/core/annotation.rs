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
    /// Values another tool reported for it (an imported SR's SUVmax, its volume) with the geometry
    /// they were measured on; `None` for regions made here (Voxmark measures those itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Box<Reported>>,
}

/// A coded concept (DICOM code value, coding scheme, code meaning).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concept {
    /// Code value (`410668003`).
    pub code: String,
    /// Coding scheme designator (`SCT`, `DCM`, `UCUM`).
    pub scheme: String,
    /// Code meaning (`Length`).
    pub meaning: String,
}

/// One value a report gave for a region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportedValue {
    /// What was measured.
    pub name: Concept,
    /// The value.
    pub value: f64,
    /// Its unit (UCUM).
    pub unit: Concept,
    /// How it was derived (Mean, Maximum…), if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation: Option<Concept>,
}

/// One reported value as a line: `SUVbw (Mean) 2.31 {SUVbw}g/ml`.
impl fmt::Display for ReportedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name.meaning)?;
        if let Some(d) = &self.derivation {
            write!(f, " ({})", d.meaning)?;
        }
        write!(f, " {}", self.value)?;
        // UCUM codes as a reader writes them.
        match self.unit.code.as_str() {
            "1" | "" => Ok(()),
            "[hnsf'U]" => write!(f, " HU"),
            "mm2" => write!(f, " mm²"),
            "mm3" => write!(f, " mm³"),
            "cm3" => write!(f, " cm³"),
            code => write!(f, " {code}"),
        }
    }
}

/// What another tool reported for a region, kept as it was said: Voxmark cannot recompute an SUV
/// without the PET's decay data, so the values travel with the region (and back out in an SR
/// export) while its geometry is the one they were measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    /// Where they come from (`DICOM SR <SOP Instance UID>`).
    pub source: String,
    /// [`geometry_digest`] of the region when the values were reported.
    pub geometry: String,
    /// The values, in the report's order.
    pub values: Vec<ReportedValue>,
}

impl Region {
    /// The reported values while they still describe the region: `None` once its geometry (or its
    /// mask's voxels, `mask`) changed since they were reported.
    pub fn reported_current(&self, mask: Option<&MaskTiles>) -> Option<&Reported> {
        self.reported
            .as_deref()
            .filter(|r| r.geometry == geometry_digest(&self.shape, mask))
    }
}

/// A digest of a region's geometry: its shape, and for a mask which voxels are set (whatever
/// their value, however the tiles are stored).
pub fn geometry_digest(shape: &Shape, mask: Option<&MaskTiles>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(shape.kind().as_bytes());
    match shape {
        Shape::Mask => {
            if let Some(m) = mask {
                for (key, tile) in m.tiles() {
                    if tile.iter().all(|&v| v == 0) {
                        continue;
                    }
                    for part in [key.0, key.1, key.2] {
                        h.update(&(part as u64).to_le_bytes());
                    }
                    let set: Vec<u8> = tile.iter().map(|&v| u8::from(v != 0)).collect();
                    h.update(&set);
                }
            }
        }
        Shape::Box2d { slice, min, max } => {
            h.update(&slice.to_le_bytes());
            for x in min.iter().chain(max) {
                h.update(&x.to_le_bytes());
            }
        }
        Shape::Polygon { slice, points } => {
            h.update(&slice.to_le_bytes());
            for x in points.iter().flatten() {
                h.update(&x.to_le_bytes());
            }
        }
        Shape::Box3d { min: a, max: b } | Shape::Line { a, b } => {
            for x in a.iter().chain(b) {
                h.update(&x.to_le_bytes());
            }
        }
        Shape::Point { at } => {
            for x in at {
                h.update(&x.to_le_bytes());
            }
        }
    }
    h.finalize().to_hex()[..32].to_owned()
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
    use crate::core::mask::VoxelBox;

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

    #[test]
    fn reported_values_hold_while_the_geometry_is_the_same() {
        let reported = |geometry: String| Reported {
            source: "DICOM SR 1.2.3".into(),
            geometry,
            values: vec![ReportedValue {
                name: Concept {
                    code: "126401".into(),
                    scheme: "DCM".into(),
                    meaning: "SUVbw".into(),
                },
                value: 6.01529,
                unit: Concept {
                    code: "{SUVbw}g/ml".into(),
                    scheme: "UCUM".into(),
                    meaning: "Standardized Uptake Value body weight".into(),
                },
                derivation: Some(Concept {
                    code: "R-00317".into(),
                    scheme: "SRT".into(),
                    meaning: "Mean".into(),
                }),
            }],
        };
        assert_eq!(
            reported(String::new()).values[0].to_string(),
            "SUVbw (Mean) 6.01529 {SUVbw}g/ml"
        );
        // A mask: which voxels are set counts, not their stored value or empty tiles.
        let mut mask = MaskTiles::new([70, 70, 2]);
        let one = VoxelBox {
            min: [3, 4, 1],
            max: [5, 6, 2],
        };
        mask.write_box(one, &[1; 4]);
        let digest = geometry_digest(&Shape::Mask, Some(&mask));
        let mut same = MaskTiles::new([70, 70, 2]);
        same.write_box(one, &[255; 4]);
        same.set_tile((0, 1, 1), vec![0; 64 * 64]);
        assert_eq!(geometry_digest(&Shape::Mask, Some(&same)), digest);
        let mut region = Region {
            id: Id::from_u128(1),
            image: Id::from_u128(2),
            label: None,
            shape: Shape::Mask,
            author: Author::Human("a".into()),
            prompt: None,
            status: Status::Accepted,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: Some(Box::new(reported(digest))),
        };
        assert!(region.reported_current(Some(&same)).is_some());
        same.write_box(
            VoxelBox {
                min: [60, 60, 0],
                max: [61, 61, 1],
            },
            &[1],
        );
        assert!(region.reported_current(Some(&same)).is_none());
        // A box: moved by a voxel, the values no longer describe it.
        let b = Shape::Box2d {
            slice: 1,
            min: [1.0, 2.0],
            max: [3.0, 4.0],
        };
        region.reported = Some(Box::new(reported(geometry_digest(&b, None))));
        region.shape = b;
        assert!(region.reported_current(None).is_some());
        region.shape = Shape::Box2d {
            slice: 1,
            min: [2.0, 2.0],
            max: [3.0, 4.0],
        };
        assert!(region.reported_current(None).is_none());
    }
}
