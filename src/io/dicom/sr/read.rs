//! Reading a TID 1500 report (ours, dcmqi's, OHIF's): its observers and measurement groups.

use super::super::Result;
use super::super::build::{err, text};
use super::*;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::Path;

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
    /// The SCOORD it was inferred from, when it has its own (a Bidirectional's axes do).
    pub inferred_from: Option<ReadGeometry>,
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
    /// Its SOP Instance UID (empty if it has none).
    pub sop_instance_uid: String,
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
        inferred_from: children(obj).iter().find_map(scoord),
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
            // A SCOORD without a concept may be the region; one with another concept is not (OHIF
            // adds its label's TextPosition and a spline's ControlPoints, 99CS3D, beside it).
            (None, "SCOORD") if out.geometry == ReadGeometry::Other => {
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
    let obj = super::super::open(path, false)?.into_inner();
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
        sop_instance_uid: text(&obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        observers: observers(&obj),
        groups,
    })
}
