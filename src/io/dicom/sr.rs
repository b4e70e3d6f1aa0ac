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

use super::Result;
use super::build::{
    SourceGrid, code, derived_uid, ds, el, equipment, err, item, new_uid, now_date_time,
    patient_and_study, seq, source_refs, text, write_part10,
};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::collections::BTreeMap;
use std::path::Path;

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

fn concept(tag_value: &Code) -> DataElement<InMemDicomObject> {
    seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![tag_value.item()])
}

fn content_item(
    relationship: &str,
    value_type: &str,
    name: Option<&Code>,
    value: Vec<DataElement<InMemDicomObject>>,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    let mut e = vec![
        el(tags::RELATIONSHIP_TYPE, VR::CS, relationship),
        el(tags::VALUE_TYPE, VR::CS, value_type),
    ];
    if let Some(n) = name {
        e.push(concept(n));
    }
    e.extend(value);
    if !children.is_empty() {
        e.push(seq(tags::CONTENT_SEQUENCE, children));
    }
    item(e)
}

fn container(
    relationship: &str,
    name: &Code,
    template: Option<&str>,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    let mut value = vec![el(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE")];
    if let Some(t) = template {
        value.push(template_seq(t));
    }
    content_item(relationship, "CONTAINER", Some(name), value, children)
}

fn template_seq(id: &str) -> DataElement<InMemDicomObject> {
    seq(
        tags::CONTENT_TEMPLATE_SEQUENCE,
        vec![item(vec![
            el(tags::MAPPING_RESOURCE, VR::CS, "DCMR"),
            el(tags::TEMPLATE_IDENTIFIER, VR::CS, id),
        ])],
    )
}

fn text_item(relationship: &str, name: &Code, value: &str) -> InMemDicomObject {
    content_item(
        relationship,
        "TEXT",
        Some(name),
        vec![el(tags::TEXT_VALUE, VR::UT, value)],
        vec![],
    )
}

fn code_item(
    relationship: &str,
    name: &Code,
    value: &Code,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    content_item(
        relationship,
        "CODE",
        Some(name),
        vec![seq(tags::CONCEPT_CODE_SEQUENCE, vec![value.item()])],
        children,
    )
}

fn uid_item(relationship: &str, name: &Code, uid: &str) -> InMemDicomObject {
    content_item(
        relationship,
        "UIDREF",
        Some(name),
        vec![el(tags::UID, VR::UI, uid)],
        vec![],
    )
}

fn num_item(
    name: &Code,
    value: f64,
    unit: &Code,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    content_item(
        "CONTAINS",
        "NUM",
        Some(name),
        vec![seq(
            tags::MEASURED_VALUE_SEQUENCE,
            vec![item(vec![
                seq(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![unit.item()]),
                el(tags::NUMERIC_VALUE, VR::DS, ds(&[value])),
            ])],
        )],
        children,
    )
}

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

fn image_item(relationship: &str, name: Option<&Code>, r: &ImageRef) -> InMemDicomObject {
    let mut e = vec![
        el(tags::REFERENCED_SOP_CLASS_UID, VR::UI, r.class_uid.as_str()),
        el(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            r.instance_uid.as_str(),
        ),
    ];
    if let Some(f) = r.frame {
        e.push(el(tags::REFERENCED_FRAME_NUMBER, VR::IS, f.to_string()));
    }
    if let Some(s) = r.segment {
        e.push(el(
            tags::REFERENCED_SEGMENT_NUMBER,
            VR::US,
            PrimitiveValue::from(s),
        ));
    }
    content_item(
        relationship,
        "IMAGE",
        name,
        vec![seq(tags::REFERENCED_SOP_SEQUENCE, vec![item(e)])],
        vec![],
    )
}

fn scoord_item(
    relationship: &str,
    name: Option<&Code>,
    graphic_type: &str,
    points: &[[f64; 2]],
    image: &ImageRef,
) -> InMemDicomObject {
    let data: Vec<f32> = points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    content_item(
        relationship,
        "SCOORD",
        name,
        vec![
            el(tags::GRAPHIC_TYPE, VR::CS, graphic_type),
            el(tags::GRAPHIC_DATA, VR::FL, PrimitiveValue::F32(data.into())),
        ],
        vec![image_item("SELECTED FROM", None, image)],
    )
}

// ---- codes ----

fn dcm(value: &str, meaning: &str) -> Code {
    Code::new(value, "DCM", meaning)
}
fn sct(value: &str, meaning: &str) -> Code {
    Code::new(value, "SCT", meaning)
}
fn ucum(value: &str, meaning: &str) -> Code {
    Code::new(value, "UCUM", meaning)
}

/// Area (SCT 42798000) in mm² of a polygon given in SCOORD coordinates on a grid of
/// `spacing_mm` (column, row).
fn polygon_area_mm2(points: &[[f64; 2]], spacing_mm: [f64; 2]) -> f64 {
    let n = points.len();
    let twice: f64 = (0..n)
        .map(|a| {
            let (p, q) = (points[a], points[(a + 1) % n]);
            p[0] * q[1] - q[0] * p[1]
        })
        .sum();
    (twice / 2.0).abs() * spacing_mm[0] * spacing_mm[1]
}

/// Perimeter in mm of a closed polygon in SCOORD coordinates.
fn perimeter_mm(points: &[[f64; 2]], spacing_mm: [f64; 2]) -> f64 {
    let n = points.len();
    (0..n)
        .map(|a| {
            let (p, q) = (points[a], points[(a + 1) % n]);
            (((q[0] - p[0]) * spacing_mm[0]).powi(2) + ((q[1] - p[1]) * spacing_mm[1]).powi(2))
                .sqrt()
        })
        .sum()
}

fn group_item(
    g: &Group,
    refs: &[ImageRef],
    spacing_mm: [f64; 3],
    seg: Option<&SegReference>,
    path: &Path,
) -> Result<InMemDicomObject> {
    let mut children = Vec::new();
    let tracking_id = match &g.geometry {
        Geometry::Planar { tool, .. } => format!("{CORNERSTONE_3D_TAG}:{}", tool.ohif_name()),
        Geometry::Volumetric { .. } => g.tracking_id.clone(),
    };
    children.push(text_item(
        "HAS OBS CONTEXT",
        &dcm("112039", "Tracking Identifier"),
        &lo(&tracking_id),
    ));
    children.push(uid_item(
        "HAS OBS CONTEXT",
        &dcm("112040", "Tracking Unique Identifier"),
        &g.tracking_uid,
    ));
    let template = match &g.geometry {
        Geometry::Planar {
            slice,
            tool,
            points,
        } => {
            let image = refs.get(*slice).ok_or_else(|| {
                err(
                    path,
                    format!("a region lies on slice {slice}, which the image does not have"),
                )
            })?;
            let (graphic_type, drawn): (&str, Vec<[f64; 2]>) = match tool {
                PlanarTool::Point => ("POINT", points.iter().take(1).copied().collect()),
                PlanarTool::Length => ("POLYLINE", points.iter().take(2).copied().collect()),
                _ => {
                    let mut closed = points.clone();
                    if let Some(&first) = points.first() {
                        closed.push(first);
                    }
                    ("POLYLINE", closed)
                }
            };
            if drawn.is_empty() {
                return Err(err(path, "a planar region without points"));
            }
            children.push(scoord_item(
                "CONTAINS",
                Some(&dcm("111030", "Image Region")),
                graphic_type,
                &drawn,
                image,
            ));
            push_finding(&mut children, g);
            let inferred = scoord_item("INFERRED FROM", None, graphic_type, &drawn, image);
            let plane = [spacing_mm[0], spacing_mm[1]];
            match tool {
                PlanarTool::Point => children.push(num_item(
                    &dcm("111010", "Center"),
                    0.0,
                    &ucum("1", "no units"),
                    vec![inferred],
                )),
                PlanarTool::Length => children.push(num_item(
                    &sct("410668003", "Length"),
                    match drawn.as_slice() {
                        [a, b, ..] => crate::core::annotation::length_mm(
                            [a[0], a[1], 0.0],
                            [b[0], b[1], 0.0],
                            [plane[0], plane[1], 1.0],
                        ),
                        _ => 0.0,
                    },
                    &ucum("mm", "millimeter"),
                    vec![inferred],
                )),
                _ => {
                    children.push(num_item(
                        &sct("42798000", "Area"),
                        polygon_area_mm2(points, plane),
                        &ucum("mm2", "square millimeter"),
                        vec![inferred],
                    ));
                    children.push(num_item(
                        &sct("131191004", "Perimeter"),
                        perimeter_mm(points, plane),
                        &ucum("mm", "millimeter"),
                        vec![],
                    ));
                }
            }
            "1410"
        }
        Geometry::Volumetric {
            segment,
            volume_mm3,
        } => {
            let seg =
                seg.ok_or_else(|| err(path, "a volumetric group but no SEG to point into"))?;
            children.push(image_item(
                "CONTAINS",
                Some(&dcm("121191", "Referenced Segment")),
                &ImageRef {
                    class_uid: seg.class_uid.clone(),
                    instance_uid: seg.instance_uid.clone(),
                    frame: None,
                    segment: Some(*segment),
                },
            ));
            children.push(uid_item(
                "CONTAINS",
                &dcm("121232", "Source series for image segmentation"),
                &seg.source_series_uid,
            ));
            push_finding(&mut children, g);
            children.push(num_item(
                &sct("118565006", "Volume"),
                *volume_mm3,
                &ucum("mm3", "cubic millimeter"),
                vec![],
            ));
            "1411"
        }
    };
    Ok(container(
        "CONTAINS",
        &dcm("125007", "Measurement Group"),
        Some(template),
        children,
    ))
}

fn push_finding(children: &mut Vec<InMemDicomObject>, g: &Group) {
    if let Some(f) = &g.finding {
        children.push(code_item("CONTAINS", &dcm("121071", "Finding"), f, vec![]));
    }
    for c in &g.comments {
        children.push(text_item("CONTAINS", &dcm("121106", "Comment"), c));
    }
    if let Some((name, version)) = &g.algorithm {
        children.push(text_item(
            "HAS CONCEPT MOD",
            &dcm("111001", "Algorithm Name"),
            &lo(name),
        ));
        children.push(text_item(
            "HAS CONCEPT MOD",
            &dcm("111003", "Algorithm Version"),
            &lo(version),
        ));
    }
}

fn observer_items(observer: &Observer, deidentify: bool) -> Vec<InMemDicomObject> {
    let kind = dcm("121005", "Observer Type");
    match observer {
        Observer::Person(name) => vec![
            code_item("HAS OBS CONTEXT", &kind, &dcm("121006", "Person"), vec![]),
            content_item(
                "HAS OBS CONTEXT",
                "PNAME",
                Some(&dcm("121008", "Person Observer Name")),
                vec![el(
                    tags::PERSON_NAME,
                    VR::PN,
                    if deidentify { "" } else { name.as_str() },
                )],
                vec![],
            ),
        ],
        Observer::Device { name, version } => vec![
            code_item("HAS OBS CONTEXT", &kind, &dcm("121007", "Device"), vec![]),
            uid_item(
                "HAS OBS CONTEXT",
                &dcm("121012", "Device Observer UID"),
                &derived_uid(&format!("voxmark model {name}@{version}")),
            ),
            text_item(
                "HAS OBS CONTEXT",
                &dcm("121013", "Device Observer Name"),
                &lo(name),
            ),
            text_item(
                "HAS OBS CONTEXT",
                &dcm("121015", "Device Observer Model Name"),
                &lo(&format!("{name}@{version}")),
            ),
        ],
    }
}

/// Writes the report to `path`: one group per `groups` entry on the image `src`.
///
/// # Errors
/// A source file that cannot be read or placed on a slice (named), a group on a slice the image
/// does not have, volumetric groups without a SEG, nothing to write, or a write that fails.
pub fn write(
    path: &Path,
    src: &SourceGrid,
    groups: &[Group],
    options: &SrOptions,
) -> Result<SrSummary> {
    if groups.is_empty() {
        return Err(err(path, "nothing to write: no measurement groups"));
    }
    let (slices, head, source_series) = source_refs(src)?;
    let refs: Vec<ImageRef> = slices
        .iter()
        .map(|s| ImageRef {
            class_uid: s.class_uid.clone(),
            instance_uid: s.instance_uid.clone(),
            frame: s.frame,
            segment: None,
        })
        .collect();
    let source_series = source_series.unwrap_or_else(|| {
        let all: Vec<&str> = refs.iter().map(|r| r.instance_uid.as_str()).collect();
        derived_uid(&all.join("\\"))
    });
    let study_uid = text(&head, tags::STUDY_INSTANCE_UID)
        .unwrap_or_else(|| derived_uid(&format!("study of {source_series}")));

    let mut group_items = Vec::new();
    // Instances the groups reference, in slice order, without repeats.
    let mut used: BTreeMap<usize, &ImageRef> = BTreeMap::new();
    let (mut planar, mut volumetric) = (0, 0);
    for g in groups {
        group_items.push(group_item(g, &refs, src.spacing_mm, options.seg, path)?);
        match &g.geometry {
            Geometry::Planar { slice, .. } => {
                planar += 1;
                if let Some(r) = refs.get(*slice) {
                    used.insert(*slice, r);
                }
            }
            Geometry::Volumetric { .. } => volumetric += 1,
        }
    }
    // The instances a volumetric group's segment covers are referenced by the SEG itself.
    let mut library: Vec<&ImageRef> = used.values().copied().collect();
    library.dedup_by(|a, b| a.instance_uid == b.instance_uid && a.frame == b.frame);

    let root_children = {
        let mut c = vec![code_item(
            "HAS CONCEPT MOD",
            &dcm("121049", "Language of Content Item and Descendants"),
            &Code::new("en-US", "RFC5646", "English (United States)"),
            vec![],
        )];
        c.extend(observer_items(options.observer, options.deidentify));
        c.push(code_item(
            "HAS CONCEPT MOD",
            &dcm("121058", "Procedure reported"),
            &sct("363679005", "Imaging procedure"),
            vec![],
        ));
        c.push(container(
            "CONTAINS",
            &dcm("111028", "Image Library"),
            None,
            vec![container(
                "CONTAINS",
                &dcm("126200", "Image Library Group"),
                None,
                library
                    .iter()
                    .map(|r| image_item("CONTAINS", None, r))
                    .collect(),
            )],
        ));
        c.push(container(
            "CONTAINS",
            &dcm("126010", "Imaging Measurements"),
            None,
            group_items,
        ));
        c
    };

    // Evidence: the source instances referenced, and the SEG.
    let mut evidence: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in &library {
        let list = evidence.entry(source_series.clone()).or_default();
        if !list.iter().any(|(_, i)| i == &r.instance_uid) {
            list.push((r.class_uid.clone(), r.instance_uid.clone()));
        }
    }
    if let Some(s) = options.seg.filter(|_| volumetric > 0) {
        evidence
            .entry(s.series_uid.clone())
            .or_default()
            .push((s.class_uid.clone(), s.instance_uid.clone()));
    }
    let referenced = evidence.values().map(Vec::len).sum();

    let seed = format!("{}{}", path.display(), source_series);
    let (sop_uid, series_uid) = (new_uid(&seed), new_uid(&(seed.clone() + "s")));
    let (date, time) = now_date_time();
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |e: DataElement<InMemDicomObject>| {
        obj.put(e);
    };
    put(el(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    put(el(tags::SOP_CLASS_UID, VR::UI, COMPREHENSIVE_SR));
    put(el(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str()));
    for e in patient_and_study(&head, &study_uid, options.deidentify) {
        put(e);
    }
    put(el(tags::MODALITY, VR::CS, "SR"));
    put(el(tags::SERIES_INSTANCE_UID, VR::UI, series_uid.as_str()));
    put(el(tags::SERIES_NUMBER, VR::IS, "301"));
    put(el(tags::SERIES_DESCRIPTION, VR::LO, options.description));
    put(seq(
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        vec![],
    ));
    for e in equipment() {
        put(e);
    }
    put(el(tags::INSTANCE_NUMBER, VR::IS, "1"));
    put(el(tags::COMPLETION_FLAG, VR::CS, "PARTIAL"));
    put(el(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"));
    put(el(tags::CONTENT_DATE, VR::DA, date.as_str()));
    put(el(tags::CONTENT_TIME, VR::TM, time.as_str()));
    put(seq(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, vec![]));
    put(seq(
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![item(vec![
            el(tags::STUDY_INSTANCE_UID, VR::UI, study_uid.as_str()),
            seq(
                tags::REFERENCED_SERIES_SEQUENCE,
                evidence
                    .iter()
                    .map(|(series, instances)| {
                        item(vec![
                            el(tags::SERIES_INSTANCE_UID, VR::UI, series.as_str()),
                            seq(
                                tags::REFERENCED_SOP_SEQUENCE,
                                instances
                                    .iter()
                                    .map(|(class, instance)| {
                                        item(vec![
                                            el(
                                                tags::REFERENCED_SOP_CLASS_UID,
                                                VR::UI,
                                                class.as_str(),
                                            ),
                                            el(
                                                tags::REFERENCED_SOP_INSTANCE_UID,
                                                VR::UI,
                                                instance.as_str(),
                                            ),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ])],
    ));
    // The document content: the root container.
    put(el(tags::VALUE_TYPE, VR::CS, "CONTAINER"));
    put(concept(&dcm("126000", "Imaging Measurement Report")));
    put(el(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"));
    put(template_seq("1500"));
    put(seq(tags::CONTENT_SEQUENCE, root_children));
    write_part10(obj, path)?;
    Ok(SrSummary {
        planar,
        volumetric,
        referenced,
        sop_instance_uid: sop_uid,
    })
}

// ---- reading ----

/// One measurement (NUM) of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// What was measured.
    pub name: Code,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: Code,
    /// How it was derived (121401 Derivation, e.g. Mean), if said.
    pub derivation: Option<Code>,
}

/// A region as a report holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadGeometry {
    /// A 2D SCOORD on one image.
    Planar {
        /// GraphicType (POINT, POLYLINE, …).
        graphic_type: String,
        /// (column, row) pairs.
        points: Vec<[f64; 2]>,
        /// The image it lies on.
        image: ImageRef,
    },
    /// A segment of a SEG.
    Volumetric {
        /// The SEG instance and segment number.
        segment: ImageRef,
        /// The series the segmentation was drawn on, if said.
        source_series: Option<String>,
    },
    /// Neither (a group with measurements only, or a 3D coordinate).
    Other,
}

/// A Measurement Group as read.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadGroup {
    /// Tracking Identifier.
    pub tracking_id: Option<String>,
    /// Tracking Unique Identifier.
    pub tracking_uid: Option<String>,
    /// Finding.
    pub finding: Option<Code>,
    /// Comments (Voxmark writes one per linked phrase).
    pub comments: Vec<String>,
    /// Algorithm name and version.
    pub algorithm: Option<(String, String)>,
    /// The region.
    pub geometry: ReadGeometry,
    /// Its measurements.
    pub measurements: Vec<Measurement>,
}

/// A TID 1500 report as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The observers named at the root.
    pub observers: Vec<Observer>,
    /// Its Measurement Groups, in order.
    pub groups: Vec<ReadGroup>,
}

fn item_code(obj: &InMemDicomObject, tag: Tag) -> Option<Code> {
    let items = obj.element(tag).ok()?.items()?;
    let c = items.first()?;
    Some(Code {
        value: text(c, tags::CODE_VALUE)
            .or_else(|| text(c, tags::LONG_CODE_VALUE))
            .or_else(|| text(c, tags::URN_CODE_VALUE))
            .unwrap_or_default(),
        scheme: text(c, tags::CODING_SCHEME_DESIGNATOR).unwrap_or_default(),
        meaning: text(c, tags::CODE_MEANING).unwrap_or_default(),
    })
}

fn children(obj: &InMemDicomObject) -> &[InMemDicomObject] {
    obj.element(tags::CONTENT_SEQUENCE)
        .ok()
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

fn name_is(obj: &InMemDicomObject, value: &str) -> bool {
    item_code(obj, tags::CONCEPT_NAME_CODE_SEQUENCE).is_some_and(|c| c.value == value)
}

fn value_type(obj: &InMemDicomObject) -> String {
    text(obj, tags::VALUE_TYPE).unwrap_or_default()
}

fn image_ref(obj: &InMemDicomObject) -> Option<ImageRef> {
    let r = obj
        .element(tags::REFERENCED_SOP_SEQUENCE)
        .ok()?
        .items()?
        .first()?;
    Some(ImageRef {
        class_uid: text(r, tags::REFERENCED_SOP_CLASS_UID)?,
        instance_uid: text(r, tags::REFERENCED_SOP_INSTANCE_UID)?,
        frame: text(r, tags::REFERENCED_FRAME_NUMBER).and_then(|f| f.trim().parse().ok()),
        segment: r
            .element(tags::REFERENCED_SEGMENT_NUMBER)
            .ok()
            .and_then(|e| e.to_int::<u16>().ok()),
    })
}

fn scoord(obj: &InMemDicomObject) -> Option<ReadGeometry> {
    if value_type(obj) != "SCOORD" {
        return None;
    }
    let data = obj
        .element(tags::GRAPHIC_DATA)
        .ok()?
        .to_multi_float64()
        .ok()?;
    let image = children(obj).iter().find_map(image_ref)?;
    Some(ReadGeometry::Planar {
        graphic_type: text(obj, tags::GRAPHIC_TYPE).unwrap_or_default(),
        points: data.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
        image,
    })
}

fn measurement(obj: &InMemDicomObject) -> Option<Measurement> {
    let mv = obj
        .element(tags::MEASURED_VALUE_SEQUENCE)
        .ok()?
        .items()?
        .first()?;
    let value = text(mv, tags::NUMERIC_VALUE)?.trim().parse().ok()?;
    Some(Measurement {
        name: item_code(obj, tags::CONCEPT_NAME_CODE_SEQUENCE)?,
        value,
        unit: item_code(mv, tags::MEASUREMENT_UNITS_CODE_SEQUENCE)?,
        derivation: children(obj)
            .iter()
            .find(|c| name_is(c, "121401"))
            .and_then(|c| item_code(c, tags::CONCEPT_CODE_SEQUENCE)),
    })
}

fn read_group(g: &InMemDicomObject) -> ReadGroup {
    let mut out = ReadGroup {
        tracking_id: None,
        tracking_uid: None,
        finding: None,
        comments: Vec::new(),
        algorithm: None,
        geometry: ReadGeometry::Other,
        measurements: Vec::new(),
    };
    let (mut algorithm_name, mut algorithm_version) = (None, None);
    let mut segment = None;
    let mut source_series = None;
    let mut inferred = None;
    for c in children(g) {
        let name = item_code(c, tags::CONCEPT_NAME_CODE_SEQUENCE).map(|n| n.value);
        match (name.as_deref(), value_type(c).as_str()) {
            (Some("112039"), _) => out.tracking_id = text(c, tags::TEXT_VALUE),
            (Some("112040"), _) => out.tracking_uid = text(c, tags::UID),
            (Some("121071"), "CODE") => out.finding = item_code(c, tags::CONCEPT_CODE_SEQUENCE),
            (Some("121106"), "TEXT") => out.comments.extend(text(c, tags::TEXT_VALUE)),
            (Some("111001"), _) => algorithm_name = text(c, tags::TEXT_VALUE),
            (Some("111003"), _) => algorithm_version = text(c, tags::TEXT_VALUE),
            (Some("121191"), "IMAGE") => segment = image_ref(c),
            (Some("121232"), _) => source_series = text(c, tags::UID),
            (Some("111030"), "SCOORD") => {
                if let Some(s) = scoord(c) {
                    out.geometry = s;
                }
            }
            (_, "NUM") => {
                if inferred.is_none() {
                    inferred = children(c).iter().find_map(scoord);
                }
                out.measurements.extend(measurement(c));
            }
            (_, "SCOORD") if out.geometry == ReadGeometry::Other => {
                if let Some(s) = scoord(c) {
                    out.geometry = s;
                }
            }
            _ => {}
        }
    }
    if out.geometry == ReadGeometry::Other {
        if let Some(s) = inferred {
            out.geometry = s;
        } else if let Some(segment) = segment {
            out.geometry = ReadGeometry::Volumetric {
                segment,
                source_series,
            };
        }
    }
    out.algorithm = algorithm_name.map(|n| (n, algorithm_version.unwrap_or_default()));
    out
}

fn observers(root: &InMemDicomObject) -> Vec<Observer> {
    let mut out = Vec::new();
    let mut device: Option<(Option<String>, Option<String>)> = None;
    for c in children(root) {
        let name = item_code(c, tags::CONCEPT_NAME_CODE_SEQUENCE).map(|n| n.value);
        match name.as_deref() {
            Some("121008") => {
                out.push(Observer::Person(
                    text(c, tags::PERSON_NAME).unwrap_or_default(),
                ));
            }
            Some("121013") => device.get_or_insert((None, None)).0 = text(c, tags::TEXT_VALUE),
            Some("121015") => device.get_or_insert((None, None)).1 = text(c, tags::TEXT_VALUE),
            _ => {}
        }
    }
    if let Some((name, model)) = device {
        // Voxmark writes the model name as `name@version`; others may not.
        let (name, version) = match model.as_deref().and_then(|m| m.rsplit_once('@')) {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (name.or(model).unwrap_or_default(), String::new()),
        };
        out.push(Observer::Device { name, version });
    }
    out
}

/// Reads a TID 1500 Measurement Report.
///
/// # Errors
/// The file cannot be read, is not an SR, or its root is not an Imaging Measurement Report.
pub fn read(path: &Path) -> Result<Report> {
    let obj = super::open(path, false)?.into_inner();
    if text(&obj, tags::MODALITY).as_deref() != Some("SR") && value_type(&obj) != "CONTAINER" {
        return Err(err(path, "not a structured report"));
    }
    if !name_is(&obj, "126000") {
        let what = item_code(&obj, tags::CONCEPT_NAME_CODE_SEQUENCE)
            .map_or_else(|| "no title".to_owned(), |c| c.meaning);
        return Err(err(
            path,
            format!("not an Imaging Measurement Report (TID 1500): its title is {what:?}"),
        ));
    }
    let groups = children(&obj)
        .iter()
        .filter(|c| name_is(c, "126010"))
        .flat_map(|m| children(m).iter().filter(|g| name_is(g, "125007")))
        .map(read_group)
        .collect();
    Ok(Report {
        observers: observers(&obj),
        groups,
    })
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
    fn areas_perimeters_and_uids() {
        let square = [[0.0, 0.0], [2.0, 0.0], [2.0, 3.0], [0.0, 3.0]];
        assert!((polygon_area_mm2(&square, [0.5, 2.0]) - 6.0).abs() < 1e-12);
        assert!((perimeter_mm(&square, [1.0, 1.0]) - 10.0).abs() < 1e-12);
        let uuid = 0x0190_0000_0000_7000_8000_0000_0000_0001_u128;
        assert_eq!(uuid_of_uid(&uid_of_uuid(uuid)), Some(uuid));
        assert!(uid_of_uuid(u128::MAX).len() <= 64);
        assert_eq!(uuid_of_uid("1.2.3"), None);
        assert_eq!(lo(&"x".repeat(70)).chars().count(), 64);
        let c = Code::for_label("Pneumothorax");
        assert!(c.value.len() <= 16 && c.value.starts_with("L-"));
    }
}
