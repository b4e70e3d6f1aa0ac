//! DICOM Segmentation (SEG) writer: a project image's masks (or heatmaps) as one multi-frame SEG
//! object that references the source DICOM instances slice by slice (PS3.3 A.51, C.8.20).
//!
//! - `LABELMAP` (Label Map Segmentation Storage, 1.2.840.10008.5.1.4.1.1.66.7) when no voxel belongs to
//!   two segments: one 8- or 16-bit frame per slice holding segment numbers.
//! - `BINARY` (Segmentation Storage, …66.4) when segments overlap: one bit-packed frame per segment
//!   and slice.
//! - `FRACTIONAL` (…66.4) for heatmaps: one 8-bit frame per segment and slice, 255 = 1.0
//!   (`PROBABILITY`).
//!
//! Frames that would be all zero are left out, as highdicom does. Voxel (i, j, k) of the image is
//! column i, row j of the frame that references the source instance at slice k; geometry (plane
//! position and orientation, pixel measures) is copied from the image's LPS grid. Study and patient
//! attributes come from the first source file; `deidentify` empties the patient's name, id, birth
//! date and sex, the accession number and the referring physician (UIDs are kept, so the SEG still
//! references its images).

use super::Result;
pub use super::build::SourceGrid as SegSource;
use super::build::{
    code, col, derived_uid, ds, el, equipment, err, floats, item, new_uid, now_date_time,
    patient_and_study, seq, source_refs, text, write_part10,
};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::Path;

/// Segmentation Storage.
pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";
/// Label Map Segmentation Storage.
pub const LABEL_MAP_SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.7";

/// One segment.
pub struct Segment {
    /// SegmentLabel (the label's name).
    pub label: String,
    /// Display colour (sRGB), written as RecommendedDisplayCIELabValue.
    pub color: [u8; 3],
    /// The model that made it (`SegmentAlgorithmType` AUTOMATIC with this name), `None`: MANUAL.
    pub algorithm: Option<String>,
}

/// What the frames hold.
pub enum SegPixels<'a> {
    /// Segment number (1-based, 0 = none) per voxel, i fastest: written as LABELMAP.
    Labelmap(&'a [u16]),
    /// Per segment, 0/1 per voxel: written as BINARY.
    Binary(Vec<Vec<u8>>),
    /// Per segment, 0..=255 per voxel (fraction × 255): written as FRACTIONAL (probability).
    Fractional(Vec<Vec<u8>>),
}

/// Options.
pub struct SegOptions<'a> {
    /// SeriesDescription and ContentDescription.
    pub description: &'a str,
    /// Drop patient identifiers.
    pub deidentify: bool,
    /// ContentCreatorName (the annotator), left empty when `None`.
    pub creator: Option<&'a str>,
}

/// What was written.
#[derive(Debug)]
pub struct SegSummary {
    /// `LABELMAP`, `BINARY` or `FRACTIONAL`.
    pub kind: &'static str,
    /// Frames written.
    pub frames: usize,
    /// Segments described.
    pub segments: usize,
    /// Source instances referenced.
    pub referenced: usize,
    /// What had to be made up (UIDs the source left out).
    pub notes: Vec<String>,
    /// The SEG's SOPClassUID.
    pub sop_class_uid: &'static str,
    /// The SEG's SOPInstanceUID.
    pub sop_instance_uid: String,
    /// The SEG's SeriesInstanceUID.
    pub series_uid: String,
    /// The source series it references.
    pub source_series_uid: String,
}

/// sRGB → CIELab (D65) scaled to DICOM's 0..65535 (PS3.3 C.10.7.1.1).
pub fn dicom_lab(rgb: [u8; 3]) -> [u16; 3] {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let (l, a, bb) = (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz));
    let scale = |v: f64, lo: f64, hi: f64| {
        ((v - lo) / (hi - lo) * 65535.0).round().clamp(0.0, 65535.0) as u16
    };
    [
        scale(l, 0.0, 100.0),
        scale(a, -128.0, 127.0),
        scale(bb, -128.0, 127.0),
    ]
}

/// A heatmap as FRACTIONAL frame values: `on_grid` (the map's values on the image's pixels)
/// scaled from the map's own minimum (0) to its maximum (255 = 1.0), the range taken over
/// `map_values` (all of the map's values); a constant map is all 0.
pub fn min_max_fractions(map_values: &[f32], on_grid: &[f32]) -> Vec<u8> {
    let (lo, hi) = map_values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    on_grid
        .iter()
        .map(|&v| (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Packs 0/1 bytes into bits, least significant bit first, frames back to back (PS3.5 8.1.1).
fn pack_bits(bits: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (n, &b) in bits.iter().enumerate() {
        if b != 0 {
            out[n / 8] |= 1 << (n % 8);
        }
    }
    out
}

/// Writes the SEG to `path`.
///
/// # Errors
/// A source file that cannot be read or placed on a slice (named), sizes that do not match, or a
/// write that fails.
pub fn write(
    path: &Path,
    src: &SegSource,
    segments: &[Segment],
    pixels: &SegPixels,
    options: &SegOptions,
) -> Result<SegSummary> {
    let [nx, ny, nz] = src.size;
    let plane = nx * ny;
    let n = plane * nz;
    let (kind, per_segment) = match pixels {
        SegPixels::Labelmap(v) => {
            if v.len() != n {
                return Err(err(path, "label map size does not match the image"));
            }
            ("LABELMAP", None)
        }
        SegPixels::Binary(v) => ("BINARY", Some(v)),
        SegPixels::Fractional(v) => ("FRACTIONAL", Some(v)),
    };
    if let Some(v) = per_segment
        && (v.len() != segments.len() || v.iter().any(|m| m.len() != n))
    {
        return Err(err(
            path,
            "segment masks do not match the image or the segments",
        ));
    }
    if segments.is_empty() {
        return Err(err(path, "nothing to write: no segments"));
    }
    let (refs, head, source_series) = source_refs(src)?;
    let mut notes = Vec::new();
    // Anonymised sources sometimes drop their series and study UIDs: the SEG needs both, so they
    // are derived from the instances (the same on every export) and the summary says so.
    let source_series = source_series.unwrap_or_else(|| {
        notes.push(
            "the source has no SeriesInstanceUID: one derived from its instances is referenced"
                .to_owned(),
        );
        let all: Vec<&str> = refs.iter().map(|r| r.instance_uid.as_str()).collect();
        derived_uid(&all.join("\\"))
    });
    let study_uid = text(&head, tags::STUDY_INSTANCE_UID).unwrap_or_else(|| {
        notes.push(
            "the source has no StudyInstanceUID: one derived from its series is written".to_owned(),
        );
        derived_uid(&format!("study of {source_series}"))
    });

    // Frames: (segment number or None for LABELMAP, slice k), empty ones left out.
    let mut frames: Vec<(Option<usize>, usize)> = Vec::new();
    match (pixels, per_segment) {
        (SegPixels::Labelmap(v), _) => {
            for k in 0..nz {
                if v[k * plane..(k + 1) * plane].iter().any(|&s| s != 0) {
                    frames.push((None, k));
                }
            }
        }
        (_, Some(masks)) => {
            for (s, m) in masks.iter().enumerate() {
                for k in 0..nz {
                    if m[k * plane..(k + 1) * plane].iter().any(|&b| b != 0) {
                        frames.push((Some(s + 1), k));
                    }
                }
            }
        }
        _ => {}
    }
    if frames.is_empty() {
        return Err(err(path, "nothing to write: every segment is empty"));
    }
    let (bits, pixel_data, pixel_vr): (u16, Vec<u8>, VR) = match pixels {
        SegPixels::Labelmap(v) => {
            if segments.len() < 256 {
                let bytes = frames
                    .iter()
                    .flat_map(|&(_, k)| v[k * plane..(k + 1) * plane].iter().map(|&s| s as u8))
                    .collect();
                (8, bytes, VR::OB)
            } else {
                let bytes = frames
                    .iter()
                    .flat_map(|&(_, k)| {
                        v[k * plane..(k + 1) * plane]
                            .iter()
                            .flat_map(|s| s.to_le_bytes())
                    })
                    .collect();
                (16, bytes, VR::OW)
            }
        }
        SegPixels::Binary(masks) | SegPixels::Fractional(masks) => {
            let all: Vec<u8> = frames
                .iter()
                .flat_map(|&(s, k)| {
                    masks[s.unwrap_or(1) - 1][k * plane..(k + 1) * plane]
                        .iter()
                        .copied()
                })
                .collect();
            if kind == "BINARY" {
                (1, pack_bits(&all), VR::OB)
            } else {
                (8, all, VR::OB)
            }
        }
    };
    let mut pixel_data = pixel_data;
    if pixel_data.len() % 2 == 1 {
        pixel_data.push(0);
    }

    let seed = format!("{}{}", path.display(), source_series);
    let (sop_uid, series_uid, dim_uid) = (
        new_uid(&seed),
        new_uid(&(seed.clone() + "s")),
        new_uid(&(seed.clone() + "d")),
    );
    let class = if kind == "LABELMAP" {
        LABEL_MAP_SEGMENTATION_STORAGE
    } else {
        SEGMENTATION_STORAGE
    };
    let frame_of_reference = text(&head, tags::FRAME_OF_REFERENCE_UID);
    let has_geometry = floats(&head, tags::IMAGE_ORIENTATION_PATIENT).is_some()
        || head
            .element(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
            .is_ok();
    let (date, time) = now_date_time();

    let mut obj = InMemDicomObject::new_empty();
    let mut put = |e: DataElement<InMemDicomObject>| {
        obj.put(e);
    };
    put(el(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    put(el(tags::SOP_CLASS_UID, VR::UI, class));
    put(el(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str()));
    put(el(
        tags::IMAGE_TYPE,
        VR::CS,
        PrimitiveValue::Strs(["DERIVED", "PRIMARY"].map(String::from).into()),
    ));
    // Patient and study: the source's.
    for e in patient_and_study(&head, &study_uid, options.deidentify) {
        put(e);
    }
    // Series, equipment, image.
    put(el(tags::MODALITY, VR::CS, "SEG"));
    put(el(tags::SERIES_INSTANCE_UID, VR::UI, series_uid.as_str()));
    put(el(tags::SERIES_NUMBER, VR::IS, "300"));
    put(el(tags::SERIES_DESCRIPTION, VR::LO, options.description));
    put(el(
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        frame_of_reference
            .clone()
            .unwrap_or_else(|| new_uid(&(seed.clone() + "f"))),
    ));
    put(el(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""));
    for e in equipment() {
        put(e);
    }
    put(el(tags::INSTANCE_NUMBER, VR::IS, "1"));
    put(el(tags::CONTENT_DATE, VR::DA, date.as_str()));
    put(el(tags::CONTENT_TIME, VR::TM, time.as_str()));
    put(el(tags::CONTENT_LABEL, VR::CS, "VOXMARK"));
    put(el(tags::CONTENT_DESCRIPTION, VR::LO, options.description));
    put(el(
        tags::CONTENT_CREATOR_NAME,
        VR::PN,
        options.creator.unwrap_or(""),
    ));
    put(el(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"));
    // Image pixel.
    put(el(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    put(el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"));
    put(el(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)));
    put(el(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)));
    put(el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits)));
    put(el(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits)));
    put(el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1)));
    put(el(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    put(el(tags::NUMBER_OF_FRAMES, VR::IS, frames.len().to_string()));
    put(el(tags::SEGMENTATION_TYPE, VR::CS, kind));
    if kind == "FRACTIONAL" {
        put(el(
            tags::SEGMENTATION_FRACTIONAL_TYPE,
            VR::CS,
            "PROBABILITY",
        ));
        put(el(
            tags::MAXIMUM_FRACTIONAL_VALUE,
            VR::US,
            PrimitiveValue::from(255u16),
        ));
    }
    put(el(
        Tag(0x0062, 0x0013),
        VR::CS,
        if kind == "BINARY" { "YES" } else { "NO" },
    ));

    // Segments.
    let segment_items = segments
        .iter()
        .enumerate()
        .map(|(s, seg)| {
            let mut e = vec![
                el(
                    tags::SEGMENT_NUMBER,
                    VR::US,
                    PrimitiveValue::from((s + 1) as u16),
                ),
                el(tags::SEGMENT_LABEL, VR::LO, seg.label.as_str()),
                el(
                    tags::SEGMENT_ALGORITHM_TYPE,
                    VR::CS,
                    if seg.algorithm.is_some() {
                        "AUTOMATIC"
                    } else {
                        "MANUAL"
                    },
                ),
                seq(
                    tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
                    vec![code("85756007", "SCT", "Tissue")],
                ),
                seq(
                    tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
                    vec![code("85756007", "SCT", "Tissue")],
                ),
                el(
                    tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
                    VR::US,
                    PrimitiveValue::U16(dicom_lab(seg.color).to_vec().into()),
                ),
            ];
            if let Some(name) = &seg.algorithm {
                e.push(el(tags::SEGMENT_ALGORITHM_NAME, VR::LO, name.as_str()));
            }
            item(e)
        })
        .collect();
    put(seq(tags::SEGMENT_SEQUENCE, segment_items));

    // Dimensions: segment (not for LABELMAP), then position.
    let dimension = |pointer: Tag, group: Tag, name: &str| {
        item(vec![
            el(tags::DIMENSION_ORGANIZATION_UID, VR::UI, dim_uid.as_str()),
            el(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![pointer].into()),
            ),
            el(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![group].into()),
            ),
            el(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, name),
        ])
    };
    let mut dims = Vec::new();
    if kind != "LABELMAP" {
        dims.push(dimension(
            tags::REFERENCED_SEGMENT_NUMBER,
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            "ReferencedSegmentNumber",
        ));
    }
    if has_geometry {
        dims.push(dimension(
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            "ImagePositionPatient",
        ));
    }
    put(seq(
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![item(vec![el(
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            dim_uid.as_str(),
        )])],
    ));
    if !dims.is_empty() {
        put(seq(tags::DIMENSION_INDEX_SEQUENCE, dims));
    }

    // Shared functional groups: orientation and pixel measures.
    let (u, v, w) = (
        col(&src.direction, 0),
        col(&src.direction, 1),
        col(&src.direction, 2),
    );
    if has_geometry {
        put(seq(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![item(vec![
                seq(
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    vec![item(vec![el(
                        tags::IMAGE_ORIENTATION_PATIENT,
                        VR::DS,
                        ds(&[u[0], u[1], u[2], v[0], v[1], v[2]]),
                    )])],
                ),
                seq(
                    tags::PIXEL_MEASURES_SEQUENCE,
                    vec![item(vec![
                        el(
                            tags::PIXEL_SPACING,
                            VR::DS,
                            ds(&[src.spacing_mm[1], src.spacing_mm[0]]),
                        ),
                        el(tags::SLICE_THICKNESS, VR::DS, ds(&[src.spacing_mm[2]])),
                        el(
                            tags::SPACING_BETWEEN_SLICES,
                            VR::DS,
                            ds(&[src.spacing_mm[2]]),
                        ),
                    ])],
                ),
            ])],
        ));
    }

    // Per-frame functional groups.
    let per_frame = frames
        .iter()
        .map(|&(s, k)| {
            let r = &refs[k];
            let mut source = vec![
                el(tags::REFERENCED_SOP_CLASS_UID, VR::UI, r.class_uid.as_str()),
                el(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    r.instance_uid.as_str(),
                ),
                seq(
                    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                    vec![code(
                        "121322",
                        "DCM",
                        "Source image for image processing operation",
                    )],
                ),
            ];
            if let Some(f) = r.frame {
                source.push(el(tags::REFERENCED_FRAME_NUMBER, VR::IS, f.to_string()));
            }
            let mut index = Vec::new();
            if let Some(s) = s {
                index.push(s as u32);
            }
            if has_geometry {
                index.push(k as u32 + 1);
            }
            let mut e = vec![
                seq(
                    tags::DERIVATION_IMAGE_SEQUENCE,
                    vec![item(vec![
                        seq(
                            tags::DERIVATION_CODE_SEQUENCE,
                            vec![code("113076", "DCM", "Segmentation")],
                        ),
                        seq(tags::SOURCE_IMAGE_SEQUENCE, vec![item(source)]),
                    ])],
                ),
                seq(
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![item(vec![el(
                        tags::DIMENSION_INDEX_VALUES,
                        VR::UL,
                        PrimitiveValue::U32(index.into()),
                    )])],
                ),
            ];
            if has_geometry {
                let kf = k as f64 * src.spacing_mm[2];
                let o = src.origin_lps_mm;
                let p = [o[0] + kf * w[0], o[1] + kf * w[1], o[2] + kf * w[2]];
                e.push(seq(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(vec![el(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&p))])],
                ));
            }
            if let Some(s) = s {
                e.push(seq(
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    vec![item(vec![el(
                        tags::REFERENCED_SEGMENT_NUMBER,
                        VR::US,
                        PrimitiveValue::from(s as u16),
                    )])],
                ));
            }
            item(e)
        })
        .collect();
    put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));

    // Common instance reference: every source instance of the image.
    let mut seen = std::collections::BTreeSet::new();
    let referenced: Vec<InMemDicomObject> = refs
        .iter()
        .filter(|r| seen.insert(r.instance_uid.clone()))
        .map(|r| {
            item(vec![
                el(tags::REFERENCED_SOP_CLASS_UID, VR::UI, r.class_uid.as_str()),
                el(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    r.instance_uid.as_str(),
                ),
            ])
        })
        .collect();
    let n_referenced = referenced.len();
    put(seq(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![item(vec![
            el(tags::SERIES_INSTANCE_UID, VR::UI, source_series.as_str()),
            seq(tags::REFERENCED_INSTANCE_SEQUENCE, referenced),
        ])],
    ));
    put(DataElement::new(
        tags::PIXEL_DATA,
        pixel_vr,
        PrimitiveValue::U8(pixel_data.into()),
    ));

    write_part10(obj, path)?;
    Ok(SegSummary {
        kind,
        frames: frames.len(),
        segments: segments.len(),
        referenced: n_referenced,
        notes,
        sop_class_uid: class,
        sop_instance_uid: sop_uid,
        series_uid,
        source_series_uid: source_series,
    })
}

/// One segment of a SEG read onto an image's grid: 0/1 per voxel, i fastest.
///
/// Frames find their slice by the source instance they were derived from (`slices`, the image's
/// SOPInstanceUID and frame per slice), else by their plane position along the grid's slice
/// normal. BINARY frames are bit-packed across frames; LABELMAP frames hold segment numbers;
/// FRACTIONAL frames count where the fraction is at least one half.
///
/// # Errors
/// The file cannot be read, is not an uncompressed SEG, its frames do not fit the grid, or a
/// frame lies on no slice of the image.
pub fn read_segment(
    path: &Path,
    segment: u16,
    grid: &SegSource,
    slices: &[(String, Option<usize>)],
) -> Result<Vec<u8>> {
    use dicom_core::value::Value;
    let file = super::open(path, false)?;
    let obj = file.into_inner();
    let class = text(&obj, tags::SOP_CLASS_UID).unwrap_or_default();
    if class != SEGMENTATION_STORAGE && class != LABEL_MAP_SEGMENTATION_STORAGE {
        return Err(err(path, format!("not a DICOM SEG (SOP class {class})")));
    }
    let int = |tag: Tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .ok_or_else(|| err(path, format!("no {tag} in the SEG")))
    };
    let (rows, cols) = (int(tags::ROWS)? as usize, int(tags::COLUMNS)? as usize);
    let bits = int(tags::BITS_ALLOCATED)?;
    let frames = text(&obj, tags::NUMBER_OF_FRAMES)
        .and_then(|t| t.trim().parse::<usize>().ok())
        .unwrap_or(1);
    let [nx, ny, nz] = grid.size;
    if (cols, rows) != (nx, ny) {
        return Err(err(
            path,
            format!("its frames are {cols}×{rows}, the image's slices {nx}×{ny}"),
        ));
    }
    let kind = text(&obj, tags::SEGMENTATION_TYPE).unwrap_or_default();
    let max_fraction = obj
        .element(tags::MAXIMUM_FRACTIONAL_VALUE)
        .ok()
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(255);
    let pixel = obj
        .element(tags::PIXEL_DATA)
        .map_err(|_| err(path, "the SEG has no Pixel Data"))?;
    let bytes: Vec<u8> = match pixel.value() {
        Value::Primitive(p) => p.to_bytes().into_owned(),
        _ => {
            return Err(err(
                path,
                "the SEG's frames are compressed (only uncompressed SEGs are read)",
            ));
        }
    };
    let plane = rows * cols;
    let need = match bits {
        1 => (plane * frames).div_ceil(8),
        8 => plane * frames,
        16 => plane * frames * 2,
        b => return Err(err(path, format!("{b} bits allocated per segment voxel"))),
    };
    if bytes.len() < need {
        return Err(err(
            path,
            format!(
                "its Pixel Data holds {} bytes, {frames} frames need {need}",
                bytes.len()
            ),
        ));
    }
    let shared = obj
        .element(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .and_then(|e| e.items())
        .and_then(|i| i.first());
    let per_frame = obj
        .element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .and_then(|e| e.items())
        .unwrap_or(&[]);
    let nested = |groups: Option<&InMemDicomObject>, outer: Tag| {
        groups
            .and_then(|g| g.element(outer).ok())
            .and_then(|e| e.items())
            .and_then(|i| i.first())
            .cloned()
    };
    let (o, n) = (grid.origin_lps_mm, col(&grid.direction, 2));
    let mut mask = vec![0u8; nx * ny * nz];
    for f in 0..frames {
        let groups = per_frame.get(f);
        let seg_of = nested(groups, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .or_else(|| nested(shared, tags::SEGMENT_IDENTIFICATION_SEQUENCE))
            .and_then(|i| {
                i.element(tags::REFERENCED_SEGMENT_NUMBER)
                    .ok()
                    .and_then(|e| e.to_int::<u16>().ok())
            });
        if kind != "LABELMAP" && seg_of != Some(segment) {
            continue;
        }
        // The slice: the source instance it was derived from, else its position.
        let source = nested(groups, tags::DERIVATION_IMAGE_SEQUENCE)
            .and_then(|d| {
                d.element(tags::SOURCE_IMAGE_SEQUENCE)
                    .ok()
                    .and_then(|e| e.items())
                    .and_then(|i| i.first())
                    .cloned()
            })
            .and_then(|s| {
                let uid = text(&s, tags::REFERENCED_SOP_INSTANCE_UID)?;
                let frame = text(&s, tags::REFERENCED_FRAME_NUMBER)
                    .and_then(|t| t.trim().parse::<usize>().ok());
                slices
                    .iter()
                    .position(|(u, fr)| *u == uid && (frame.is_none() || *fr == frame))
            });
        let k = match source {
            Some(k) => k,
            None => {
                let p = nested(groups, tags::PLANE_POSITION_SEQUENCE)
                    .and_then(|i| floats(&i, tags::IMAGE_POSITION_PATIENT))
                    .filter(|p| p.len() == 3)
                    .ok_or_else(|| {
                        err(
                            path,
                            format!(
                                "frame {} has neither a source image of the image nor a position",
                                f + 1
                            ),
                        )
                    })?;
                let along = (p[0] - o[0]) * n[0] + (p[1] - o[1]) * n[1] + (p[2] - o[2]) * n[2];
                let k = (along / grid.spacing_mm[2]).round();
                if !(0.0..nz as f64).contains(&k) || (along / grid.spacing_mm[2] - k).abs() > 0.05 {
                    return Err(err(
                        path,
                        format!(
                            "frame {} lies on no slice of the image ({along:.3} mm along its normal)",
                            f + 1
                        ),
                    ));
                }
                k as usize
            }
        };
        let out = &mut mask[k * plane..(k + 1) * plane];
        for (p, v) in out.iter_mut().enumerate() {
            let at = f * plane + p;
            let on = match bits {
                1 => bytes[at / 8] >> (at % 8) & 1 == 1,
                8 if kind == "LABELMAP" => u16::from(bytes[at]) == segment,
                8 => u32::from(bytes[at]) * 2 >= max_fraction,
                _ => u16::from_le_bytes([bytes[2 * at], bytes[2 * at + 1]]) == segment,
            };
            if on {
                *v = 1;
            }
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmaps_scale_from_their_own_minimum_to_maximum() {
        assert_eq!(
            min_max_fractions(&[2.0, 4.0, 6.0], &[2.0, 4.0, 6.0, 7.0, 1.0]),
            vec![0, 128, 255, 255, 0]
        );
        assert_eq!(min_max_fractions(&[3.0, 3.0], &[3.0, 3.0]), vec![0, 0]);
    }

    #[test]
    fn bits_are_packed_lsb_first_across_frames() {
        assert_eq!(pack_bits(&[1, 0, 0, 0, 0, 0, 0, 1, 1]), vec![0x81, 0x01]);
        assert_eq!(pack_bits(&[0; 3]), vec![0]);
    }

    #[test]
    fn lab_of_white_red_and_uids() {
        assert_eq!(dicom_lab([255, 255, 255]), [65535, 32896, 32896]);
        // sRGB red is L 53.2, a 80.1, b 67.2.
        let [l, a, b] = dicom_lab([255, 0, 0]);
        assert!((f64::from(l) / 65535.0 * 100.0 - 53.24).abs() < 0.1);
        assert!((f64::from(a) / 65535.0 * 255.0 - 128.0 - 80.09).abs() < 0.3);
        assert!((f64::from(b) / 65535.0 * 255.0 - 128.0 - 67.20).abs() < 0.3);
        let uid = new_uid("x");
        assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
        assert!(uid[5..].bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(new_uid("x"), uid);
        let (d, t) = now_date_time();
        assert_eq!((d.len(), t.len()), (8, 6));
    }
}
