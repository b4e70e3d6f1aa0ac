//! Building DICOM data sets: elements, sequences, codes, decimal strings, UIDs, the source
//! instances an image was read from, and the patient/study attributes copied from them (shared by
//! the SEG and SR writers).

use super::{IoError, Result, open};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::{Path, PathBuf};

/// The image a derived object is drawn on: its source files and LPS grid (a project's image record).
pub struct SourceGrid<'a> {
    /// The DICOM files its voxels came from.
    pub files: &'a [PathBuf],
    /// Columns, rows, slices.
    pub size: [usize; 3],
    /// Spacing along i, j, k in mm.
    pub spacing_mm: [f64; 3],
    /// Position of voxel (0, 0, 0), LPS mm.
    pub origin_lps_mm: [f64; 3],
    /// Direction, row-major, columns = voxel axes (LPS).
    pub direction: [f64; 9],
}

/// One source instance and the slice (and frame) it holds.
pub(super) struct SourceRef {
    pub(super) class_uid: String,
    pub(super) instance_uid: String,
    /// 1-based frame number for a multi-frame source.
    pub(super) frame: Option<usize>,
}

pub(super) fn err(path: &Path, msg: impl Into<String>) -> IoError {
    IoError::dicom(path, msg.into())
}

pub(super) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element(tag).ok()?;
    let s = e.to_str().ok()?;
    let s = s.trim_end_matches(['\0', ' ']).to_owned();
    (!s.is_empty()).then_some(s)
}

pub(super) fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element(tag).ok()?.to_multi_float64().ok()
}

pub(super) fn col(d: &[f64; 9], c: usize) -> [f64; 3] {
    [d[c], d[3 + c], d[6 + c]]
}

/// A new UID under the 2.25 root (a 128-bit number, ITU-T X.667), from `seed` and the time.
pub fn new_uid(seed: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let hash = blake3::hash(format!("{seed}\u{0}{now}\u{0}{}", std::process::id()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// The source instance of each slice k, and the first file's data set (study, patient, frame of
/// reference). Single-frame files are placed by their ImagePositionPatient along the slice normal;
/// a single multi-frame file holds the slices as its frames.
pub(super) fn source_refs(
    src: &SourceGrid,
) -> Result<(Vec<SourceRef>, InMemDicomObject, Option<String>)> {
    let first = src
        .files
        .first()
        .ok_or_else(|| err(Path::new(""), "the image has no source files"))?;
    let nz = src.size[2];
    let mut slots: Vec<Option<SourceRef>> = (0..nz).map(|_| None).collect();
    let mut head: Option<(InMemDicomObject, Option<String>)> = None;
    let (o, n) = (src.origin_lps_mm, col(&src.direction, 2));
    for path in src.files {
        let file = open(path, true)?;
        // The file meta header's copies stand in for data sets that leave the UIDs out.
        let meta_uid = |s: &str| {
            let s = s.trim_end_matches(['\0', ' ']);
            (!s.is_empty()).then(|| s.to_owned())
        };
        let meta_class = meta_uid(file.meta().media_storage_sop_class_uid());
        let meta_instance = meta_uid(file.meta().media_storage_sop_instance_uid());
        let obj = file.into_inner();
        let class_uid = text(&obj, tags::SOP_CLASS_UID)
            .or(meta_class)
            .ok_or_else(|| err(path, "no SOPClassUID"))?;
        let instance_uid = text(&obj, tags::SOP_INSTANCE_UID)
            .or(meta_instance)
            .ok_or_else(|| err(path, "no SOPInstanceUID"))?;
        let series = text(&obj, tags::SERIES_INSTANCE_UID);
        let frames = text(&obj, tags::NUMBER_OF_FRAMES)
            .and_then(|t| t.trim().parse::<usize>().ok())
            .unwrap_or(1);
        if src.files.len() == 1 && frames == nz && nz > 1 {
            for (k, slot) in slots.iter_mut().enumerate() {
                *slot = Some(SourceRef {
                    class_uid: class_uid.clone(),
                    instance_uid: instance_uid.clone(),
                    frame: Some(k + 1),
                });
            }
        } else if nz == 1 {
            slots[0] = Some(SourceRef {
                class_uid,
                instance_uid,
                frame: (frames > 1).then_some(1),
            });
        } else {
            let p = floats(&obj, tags::IMAGE_POSITION_PATIENT)
                .filter(|p| p.len() == 3)
                .ok_or_else(|| err(path, "no ImagePositionPatient to place the slice"))?;
            let along = (p[0] - o[0]) * n[0] + (p[1] - o[1]) * n[1] + (p[2] - o[2]) * n[2];
            let k = (along / src.spacing_mm[2]).round();
            if !(0.0..nz as f64).contains(&k) || (along / src.spacing_mm[2] - k).abs() > 0.05 {
                return Err(err(
                    path,
                    format!(
                        "its position lies on no slice of the image ({along:.3} mm along the normal)"
                    ),
                ));
            }
            slots[k as usize] = Some(SourceRef {
                class_uid,
                instance_uid,
                frame: None,
            });
        }
        if head.is_none() {
            head = Some((obj, series));
        }
    }
    let refs = slots
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            s.ok_or_else(|| {
                err(
                    first,
                    format!("no source file holds slice {k} of the image"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (obj, series) = head.ok_or_else(|| err(first, "no source files"))?;
    Ok((refs, obj, series))
}

/// A UID under 2.25 that is the same every time for the same `seed` (for sources that left theirs
/// out).
pub(super) fn derived_uid(seed: &str) -> String {
    let hash = blake3::hash(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

pub(super) fn el(
    tag: Tag,
    vr: VR,
    value: impl Into<PrimitiveValue>,
) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, value.into())
}

pub(super) fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

pub(super) fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

/// A code sequence item. The value goes where PS3.3 8.8 puts it: a URN or URL in URN Code Value
/// (without a scheme designator), one over 16 characters in Long Code Value, else Code Value.
pub(super) fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let is_urn = value.starts_with("urn:") || value.contains("://");
    let mut elements = vec![if is_urn {
        el(tags::URN_CODE_VALUE, VR::UR, value)
    } else if value.chars().count() > 16 {
        el(tags::LONG_CODE_VALUE, VR::UC, value)
    } else {
        el(tags::CODE_VALUE, VR::SH, value)
    }];
    if !is_urn || !scheme.is_empty() {
        elements.push(el(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme));
    }
    elements.push(el(tags::CODE_MEANING, VR::LO, meaning));
    item(elements)
}

pub(super) fn decimal(v: f64) -> String {
    // DS holds at most 16 characters.
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    if s.len() <= 16 { s } else { format!("{v:.6e}") }
}

/// `v` as a Decimal String with as many significant digits as its 16 characters hold (for values
/// read from another report and written back as they were said).
pub(super) fn decimal_exact(v: f64) -> String {
    let shortest = format!("{v}");
    if shortest.len() <= 16 {
        return shortest;
    }
    // The best fixed-point and the best exponent form that fit; the closer one wins.
    let fits = |s: String| (s.len() <= 16).then_some(s);
    let fixed = (0..=15).rev().find_map(|digits| {
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
        fits(s)
    });
    let exponent = (0..=15).rev().find_map(|digits| {
        let s = format!("{v:.digits$e}");
        let s = match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
        fits(s)
    });
    let error = |s: &String| s.parse::<f64>().map_or(f64::INFINITY, |x| (x - v).abs());
    match (fixed, exponent) {
        (Some(f), Some(e)) => {
            if error(&f) <= error(&e) {
                f
            } else {
                e
            }
        }
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => format!("{v:e}"),
    }
}

pub(super) fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(values.iter().map(|&v| decimal(v)).collect())
}

/// Today's date and the time (UTC) as DICOM DA and TM.
pub(super) fn now_date_time() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d, h, mi, s) = crate::core::id::utc_from_unix(secs);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{h:02}{mi:02}{s:02}"),
    )
}

/// The Patient and General Study attributes of a derived object, copied from its source `head`
/// (PS3.3 C.7.1.1, C.7.2.1). `deidentify` empties the patient's name, id, birth date and sex, the
/// accession number and the referring physician (UIDs are kept, so references still resolve).
pub(super) fn patient_and_study(
    head: &InMemDicomObject,
    study_uid: &str,
    deidentify: bool,
) -> Vec<DataElement<InMemDicomObject>> {
    let copy = |tag: Tag| text(head, tag).unwrap_or_default();
    let patient = |tag: Tag| if deidentify { String::new() } else { copy(tag) };
    let mut out = vec![
        el(tags::PATIENT_NAME, VR::PN, patient(tags::PATIENT_NAME)),
        el(tags::PATIENT_ID, VR::LO, patient(tags::PATIENT_ID)),
        el(
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            patient(tags::PATIENT_BIRTH_DATE),
        ),
        el(tags::PATIENT_SEX, VR::CS, patient(tags::PATIENT_SEX)),
    ];
    if deidentify {
        out.push(el(tags::PATIENT_IDENTITY_REMOVED, VR::CS, "YES"));
        out.push(el(
            tags::DEIDENTIFICATION_METHOD,
            VR::LO,
            "voxmark --deidentify: patient identifiers removed",
        ));
    }
    out.extend([
        el(tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        el(tags::STUDY_DATE, VR::DA, copy(tags::STUDY_DATE)),
        el(tags::STUDY_TIME, VR::TM, copy(tags::STUDY_TIME)),
        el(tags::STUDY_ID, VR::SH, copy(tags::STUDY_ID)),
        el(
            tags::ACCESSION_NUMBER,
            VR::SH,
            patient(tags::ACCESSION_NUMBER),
        ),
        el(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            patient(tags::REFERRING_PHYSICIAN_NAME),
        ),
    ]);
    out
}

/// The General Equipment attributes of everything Voxmark writes (PS3.3 C.7.5.1, C.7.5.2).
pub(super) fn equipment() -> Vec<DataElement<InMemDicomObject>> {
    vec![
        el(tags::MANUFACTURER, VR::LO, "Voxmark"),
        el(tags::MANUFACTURER_MODEL_NAME, VR::LO, "voxmark"),
        el(tags::DEVICE_SERIAL_NUMBER, VR::LO, "0"),
        el(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION")),
    ]
}

/// Writes `obj` as a Part 10 file (explicit VR little endian) to `path`, through a `.part` file
/// renamed into place so that a failed write never leaves half a file under the name.
pub(super) fn write_part10(obj: InMemDicomObject, path: &Path) -> Result<()> {
    let file = obj
        .with_meta(dicom_object::FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE))
        .map_err(|e| err(path, format!("cannot build the file meta header: {e}")))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    file.write_to_file(&tmp)
        .map_err(|e| err(path, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, format!("cannot write: {e}")))
}

/// Explicit VR Little Endian.
pub(super) const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals_keep_the_digits_that_fit() {
        assert_eq!(decimal_exact(0.000_876_543), "0.000876543");
        assert_eq!(decimal_exact(6.01529), "6.01529");
        assert_eq!(decimal_exact(1e-7), "0.0000001");
        assert_eq!(decimal_exact(1e20), "1e20");
        let long = 33.582_411_607_140_834;
        let s = decimal_exact(long);
        assert!(s.len() <= 16, "{s}");
        assert!((s.parse::<f64>().unwrap() - long).abs() < 1e-11, "{s}");
        let tiny = -1.234_567_890_123_456_7e-10;
        let s = decimal_exact(tiny);
        assert!(
            s.len() <= 16 && (s.parse::<f64>().unwrap() / tiny - 1.0).abs() < 1e-9,
            "{s}"
        );
    }

    #[test]
    fn long_and_urn_codes_go_where_the_standard_puts_them() {
        let short = code("126401", "DCM", "SUVbw");
        assert!(short.element(tags::CODE_VALUE).is_ok());
        let long = code("1234567890123456789", "SCT", "A long SNOMED id");
        assert!(long.element(tags::CODE_VALUE).is_err());
        assert_eq!(
            long.element(tags::LONG_CODE_VALUE)
                .unwrap()
                .to_str()
                .unwrap(),
            "1234567890123456789"
        );
        let urn = code(
            "urn:lex:us:federal:codified.regulation:2013-04-25;45CFR164",
            "",
            "HIPAA",
        );
        assert!(urn.element(tags::URN_CODE_VALUE).is_ok());
        assert!(urn.element(tags::CODING_SCHEME_DESIGNATOR).is_err());
    }
}
