//! DICOM Structured Report, TID 1500 "Imaging Measurement Report" (Comprehensive SR), written
//! and read.
//!
//! Written so that OHIF (`@cornerstonejs/adapters`) re-opens planar groups as editable tools and
//! highdicom, dcmqi and Slicer's QuantitativeReporting read every group:
//! - the root container 126000 with template 1500, language, the observer (a person, or a model as
//!   a device), the procedure reported, an Image Library (111028) of every instance referenced, and
//!   Imaging Measurements (126010) holding one Measurement Group (125007) per region;
//! - each group: Tracking Identifier (112039; for planar groups OHIF's
//!   `Cornerstone3DTools@^0.1.0:<Tool>`, so the adapter knows the tool), Tracking Unique Identifier
//!   (112040, the region's UUID as a `2.25` UID), a Finding (121071: the label), one Comment (121106)
//!   per linked phrase (OHIF's label is the first), Algorithm Identification (TID 4019) for a model's
//!   region;
//! - planar (TID 1410): the region as an Image Region SCOORD (111030) with its image, and the same
//!   SCOORD inside the first NUM (INFERRED FROM), where OHIF's adapter looks; rectangles and
//!   polygons are closed POLYLINEs (OHIF `RectangleROI`, `PlanarFreehandROI`) with Area and
//!   Perimeter NUMs in mm² and mm, points a POINT inside a "Center" NUM (OHIF `Probe`);
//! - volumetric (TID 1411): the segment of a DICOM SEG written beside (121191 Referenced Segment,
//!   121232 Source series), as dcmqi writes them, with its Volume in mm³.
//!
//! SCOORD coordinates are (column, row) with (0, 0) the top-left corner of the top-left pixel
//! (PS3.3 C.18.6.1.1); Voxmark's voxel coordinates put pixel centres at integers, so they differ
//! by 0.5. GraphicData is 32-bit float.

mod read;
mod write;

pub use read::{Measurement, ReadGeometry, ReadGroup, Report, read};
pub use write::write;

use super::Result;
use super::build::{SourceGrid, code, source_refs};
use crate::core::{Concept, ReportedValue};
use dicom_object::InMemDicomObject;

/// Comprehensive SR Storage.
pub const COMPREHENSIVE_SR: &str = "1.2.840.10008.5.1.4.1.1.88.33";
/// The prefix of the Tracking Identifier that tells OHIF's adapter which tool drew a group.
pub const CORNERSTONE_3D_TAG: &str = "Cornerstone3DTools@^0.1.0";
/// The coding scheme of Voxmark's label codes (a private "99" scheme, PS3.16 8.2).
pub const LABEL_SCHEME: &str = "99VOXMARK";

/// A coded concept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// Code Value.
    pub value: String,
    /// Coding Scheme Designator.
    pub scheme: String,
    /// Code Meaning.
    pub meaning: String,
}

impl Code {
    fn new(value: &str, scheme: &str, meaning: &str) -> Self {
        Code {
            value: value.to_owned(),
            scheme: scheme.to_owned(),
            meaning: meaning.to_owned(),
        }
    }

    /// The code Voxmark writes for a label name (the meaning is the name, at most 64 characters).
    pub fn for_label(name: &str) -> Self {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        Code::new(&format!("L-{}", &hash[..12]), LABEL_SCHEME, &lo(name))
    }

    fn item(&self) -> InMemDicomObject {
        code(&self.value, &self.scheme, &self.meaning)
    }
}

impl From<&Code> for Concept {
    fn from(c: &Code) -> Self {
        Concept {
            code: c.value.clone(),
            scheme: c.scheme.clone(),
            meaning: c.meaning.clone(),
        }
    }
}

impl From<&Concept> for Code {
    fn from(c: &Concept) -> Self {
        Code::new(&c.code, &c.scheme, &c.meaning)
    }
}

/// A Long String (64 characters at most), cut with an ellipsis when longer.
fn lo(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(63).collect();
        t.push('…');
        t
    }
}

/// Who made the report's content (TID 1002).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observer {
    /// A person (121006), by name.
    Person(String),
    /// A device (121007): a model, by name and version.
    Device {
        /// The model's name.
        name: String,
        /// Its version.
        version: String,
    },
}

/// The tool a planar group is drawn with, as OHIF names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanarTool {
    /// A rectangle: a closed POLYLINE of its four corners (OHIF `RectangleROI`).
    Rectangle,
    /// A polygon: a closed POLYLINE (OHIF `PlanarFreehandROI`).
    Freehand,
    /// A point: POINT (OHIF `Probe`).
    Point,
    /// A line (a ruler): an open POLYLINE of its two ends in a Length NUM (OHIF `Length`).
    Length,
}

impl PlanarTool {
    fn ohif_name(self) -> &'static str {
        match self {
            PlanarTool::Rectangle => "RectangleROI",
            PlanarTool::Freehand => "PlanarFreehandROI",
            PlanarTool::Point => "Probe",
            PlanarTool::Length => "Length",
        }
    }
}

/// Where a group's region is.
#[derive(Clone, Debug, PartialEq)]
pub enum Geometry {
    /// On one slice of the source image.
    Planar {
        /// The slice (k) of the source grid.
        slice: usize,
        /// The tool.
        tool: PlanarTool,
        /// Vertices in SCOORD (column, row) coordinates, not closed (the writer closes polylines).
        points: Vec<[f64; 2]>,
    },
    /// A segment of the SEG written beside the report.
    Volumetric {
        /// Its segment number.
        segment: u16,
        /// Its volume, mm³.
        volume_mm3: f64,
    },
}

/// One Measurement Group: one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Tracking Unique Identifier.
    pub tracking_uid: String,
    /// Tracking Identifier of a volumetric group (planar groups get OHIF's tool tag).
    pub tracking_id: String,
    /// Finding (the label), if any.
    pub finding: Option<Code>,
    /// One Comment per linked phrase.
    pub comments: Vec<String>,
    /// Algorithm name and version, for a model's region.
    pub algorithm: Option<(String, String)>,
    /// The region.
    pub geometry: Geometry,
    /// Values another report gave for the region, written after Voxmark's own (a value it
    /// measures itself, such as an Area, is not repeated).
    pub reported: Vec<ReportedValue>,
}

/// The SEG a report's volumetric groups point into.
pub struct SegReference {
    /// Its SOPClassUID.
    pub class_uid: String,
    /// Its SOPInstanceUID.
    pub instance_uid: String,
    /// Its SeriesInstanceUID.
    pub series_uid: String,
    /// The source series it was drawn on.
    pub source_series_uid: String,
}

/// Options.
pub struct SrOptions<'a> {
    /// SeriesDescription.
    pub description: &'a str,
    /// Drop patient identifiers (and the person observer's name).
    pub deidentify: bool,
    /// Who made the content.
    pub observer: &'a Observer,
    /// The SEG beside it, when there are volumetric groups.
    pub seg: Option<&'a SegReference>,
}

/// What was written.
#[derive(Debug)]
pub struct SrSummary {
    /// Planar groups.
    pub planar: usize,
    /// Volumetric groups.
    pub volumetric: usize,
    /// Instances referenced (images and the SEG).
    pub referenced: usize,
    /// The report's SOPInstanceUID.
    pub sop_instance_uid: String,
}

/// The `2.25` UID of a UUID (ITU-T X.667).
pub fn uid_of_uuid(uuid: u128) -> String {
    format!("2.25.{uuid}")
}

/// The UUID a `2.25` UID holds, if it holds one.
pub fn uuid_of_uid(uid: &str) -> Option<u128> {
    uid.strip_prefix("2.25.")?.parse().ok()
}

// ---- content items ----

/// An image reference (the value of an IMAGE content item).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// ReferencedSOPClassUID.
    pub class_uid: String,
    /// ReferencedSOPInstanceUID.
    pub instance_uid: String,
    /// ReferencedFrameNumber (1-based), for a multi-frame instance.
    pub frame: Option<usize>,
    /// ReferencedSegmentNumber, for a SEG.
    pub segment: Option<u16>,
}

fn dcm(value: &str, meaning: &str) -> Code {
    Code::new(value, "DCM", meaning)
}
fn sct(value: &str, meaning: &str) -> Code {
    Code::new(value, "SCT", meaning)
}
fn ucum(value: &str, meaning: &str) -> Code {
    Code::new(value, "UCUM", meaning)
}

/// The SOPInstanceUID of each slice of an image's grid (and the frame, for a multi-frame source),
/// so that a report's image references find their slice.
///
/// # Errors
/// As the SEG writer's: a source file that cannot be read or placed on a slice.
pub fn slice_instances(src: &SourceGrid) -> Result<Vec<ImageRef>> {
    Ok(source_refs(src)?
        .0
        .into_iter()
        .map(|s| ImageRef {
            class_uid: s.class_uid,
            instance_uid: s.instance_uid,
            frame: s.frame,
            segment: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_codes() {
        let uuid = 0x0190_0000_0000_7000_8000_0000_0000_0001_u128;
        assert_eq!(uuid_of_uid(&uid_of_uuid(uuid)), Some(uuid));
        assert!(uid_of_uuid(u128::MAX).len() <= 64);
        assert_eq!(uuid_of_uid("1.2.3"), None);
        assert_eq!(lo(&"x".repeat(70)).chars().count(), 64);
        let c = Code::for_label("Pneumothorax");
        assert!(c.value.len() <= 16 && c.value.starts_with("L-"));
    }
}
