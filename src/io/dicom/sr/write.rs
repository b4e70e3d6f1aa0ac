//! Writing a TID 1500 report: the content tree, the measurement groups and the Part 10 file.

use super::super::Result;
use super::super::build::{
    SourceGrid, decimal_exact, derived_uid, ds, el, equipment, err, item, new_uid, now_date_time,
    patient_and_study, seq, text, write_part10,
};
use super::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::collections::BTreeMap;
use std::path::Path;

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
    num_item_text(name, ds(&[value]), unit, children)
}

/// A NUM whose Numeric Value is `value` (a Decimal String).
fn num_item_text(
    name: &Code,
    value: PrimitiveValue,
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
                el(tags::NUMERIC_VALUE, VR::DS, value),
            ])],
        )],
        children,
    )
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
            let written: &[&str] = match tool {
                PlanarTool::Point => &["111010"],
                PlanarTool::Length => &["410668003"],
                _ => &["42798000", "131191004"],
            };
            push_reported(&mut children, g, written);
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
            push_reported(&mut children, g, &["118565006"]);
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

/// The codes of a concept Voxmark writes, with their older SRT equivalents.
const SAME_CONCEPT: &[&[&str]] = &[
    &["42798000", "G-A166"],  // Area
    &["131191004", "G-A197"], // Perimeter
    &["410668003", "G-D7FE"], // Length
    &["118565006", "G-D705"], // Volume
    &["111010"],              // Center
];

/// The values another report gave for the region, as NUMs with their derivation; `written` are
/// the concepts Voxmark wrote into this group itself, which are not repeated. A value with no
/// code or scheme is left out.
fn push_reported(children: &mut Vec<InMemDicomObject>, g: &Group, written: &[&str]) {
    let repeats = |code: &str| {
        SAME_CONCEPT
            .iter()
            .any(|same| same.contains(&code) && same.iter().any(|c| written.contains(c)))
    };
    for v in &g.reported {
        let coded = |c: &Concept| !c.code.is_empty() && !c.meaning.is_empty();
        if repeats(&v.name.code) || !v.value.is_finite() || !coded(&v.name) || !coded(&v.unit) {
            continue;
        }
        let modifiers = v
            .derivation
            .iter()
            .filter(|d| coded(d))
            .map(|d| {
                code_item(
                    "HAS CONCEPT MOD",
                    &dcm("121401", "Derivation"),
                    &Code::from(d),
                    vec![],
                )
            })
            .collect();
        children.push(num_item_text(
            &Code::from(&v.name),
            PrimitiveValue::from(decimal_exact(v.value)),
            &Code::from(&v.unit),
            modifiers,
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_and_perimeters() {
        let square = [[0.0, 0.0], [2.0, 0.0], [2.0, 3.0], [0.0, 3.0]];
        assert!((polygon_area_mm2(&square, [0.5, 2.0]) - 6.0).abs() < 1e-12);
        assert!((perimeter_mm(&square, [1.0, 1.0]) - 10.0).abs() < 1e-12);
    }
}
