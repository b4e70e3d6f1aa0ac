//! The attributes of one DICOM file that grouping, geometry and decoding need.

use crate::core::geometry::{Vec3, cross, norm};
use crate::core::{Rescale, WindowPreset};
use crate::io::{IoError, Result};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use std::path::{Path, PathBuf};

/// A frame's place in patient space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FramePlane {
    /// Image Position (Patient) of the frame's first pixel, LPS mm.
    pub position: Option<Vec3>,
}

/// A Modality LUT (PS3.3 C.11.1): stored values from `first` on map to `data`; values outside clamp.
#[derive(Clone, Debug, PartialEq)]
pub struct ModalityLut {
    /// Stored value mapped by `data[0]`.
    pub first: i64,
    /// Output values.
    pub data: Vec<u16>,
}

impl ModalityLut {
    /// The output value of stored value `v`.
    pub fn apply(&self, v: i64) -> u16 {
        let i = (v - self.first).clamp(0, self.data.len() as i64 - 1);
        self.data[i as usize]
    }
}

/// Attributes of one file.
#[derive(Clone, Debug)]
pub struct DicomHeader {
    /// The file.
    pub path: PathBuf,
    /// Transfer Syntax UID.
    pub transfer_syntax: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Series Instance UID.
    pub series_uid: Option<String>,
    /// Series description.
    pub series_description: Option<String>,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Whether the file has Pixel Data (or Float/Double Float Pixel Data).
    pub has_pixel_data: bool,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Samples per pixel.
    pub samples: usize,
    /// Bits allocated.
    pub bits_allocated: u16,
    /// Bits stored.
    pub bits_stored: u16,
    /// Pixel representation is signed.
    pub signed: bool,
    /// Planar configuration 1 (colour planes).
    pub planar: bool,
    /// Float or Double Float Pixel Data instead of integer Pixel Data.
    pub float_data: bool,
    /// Photometric interpretation, trimmed.
    pub photometric: String,
    /// Number of frames (1 when absent).
    pub frames: usize,
    /// Image Orientation (Patient): row direction then column direction.
    pub orientation: Option<[f64; 6]>,
    /// Pixel spacing (row spacing, column spacing) in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Spacing between slices, if given.
    pub spacing_between_slices: Option<f64>,
    /// Slice thickness, if given.
    pub slice_thickness: Option<f64>,
    /// Per-frame planes (one for single-frame files).
    pub planes: Vec<FramePlane>,
    /// Rescale slope/intercept (modality LUT, linear form).
    pub rescale: Rescale,
    /// Window presets.
    pub windows: Vec<WindowPreset>,
    /// A Modality LUT Sequence, which takes the place of the rescale.
    pub modality_lut: Option<ModalityLut>,
    /// True when the file is an enhanced (functional groups) multi-frame object.
    pub enhanced: bool,
}

/// The element's value as text. Values that arrive as raw bytes (VR UN, or a VR a writer got
/// wrong) are read as the ASCII text they hold, as pydicom does.
fn raw_text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    if let Some(dicom_core::PrimitiveValue::U8(bytes)) = e.value().primitive() {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    e.to_str().ok().map(|s| s.into_owned())
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = raw_text(obj, tag)?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.get(tag)?;
    let v = match e.value().primitive() {
        Some(dicom_core::PrimitiveValue::U8(_)) => raw_text(obj, tag)?
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .split('\\')
            .map(|p| p.trim().parse::<f64>().ok())
            .collect::<Option<Vec<f64>>>()?,
        _ => e.to_multi_float64().ok()?,
    };
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).map(|v| v[0])
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.get(tag)?;
    match e.value().primitive() {
        Some(dicom_core::PrimitiveValue::U8(_)) => {
            text(obj, tag)?.split('\\').next()?.trim().parse().ok()
        }
        _ => e.to_int::<i64>().ok(),
    }
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

/// Looks up `tag` in `item_tag`'s first item of a functional group, per frame first, then shared.
fn functional<'a>(
    per_frame: Option<&'a InMemDicomObject>,
    shared: Option<&'a InMemDicomObject>,
    seq: Tag,
) -> Option<&'a InMemDicomObject> {
    per_frame
        .and_then(|f| first_item(f, seq))
        .or_else(|| shared.and_then(|s| first_item(s, seq)))
}

fn to_vec3(v: &[f64]) -> Option<Vec3> {
    (v.len() >= 3).then(|| [v[0], v[1], v[2]])
}

fn to_orientation(v: &[f64]) -> Option<[f64; 6]> {
    if v.len() < 6 {
        return None;
    }
    let o = [v[0], v[1], v[2], v[3], v[4], v[5]];
    let n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    (norm(n) > 1e-3).then_some(o)
}

fn windows(obj: &InMemDicomObject) -> Vec<WindowPreset> {
    let (Some(c), Some(w)) = (
        floats(obj, tags::WINDOW_CENTER),
        floats(obj, tags::WINDOW_WIDTH),
    ) else {
        return Vec::new();
    };
    let names: Vec<String> = obj
        .get(tags::WINDOW_CENTER_WIDTH_EXPLANATION)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.split('\\').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    c.iter()
        .zip(w.iter())
        .enumerate()
        .filter(|(_, (_, w))| **w > 0.0)
        .map(|(i, (&center, &width))| WindowPreset {
            center,
            width,
            name: names.get(i).filter(|n| !n.is_empty()).cloned(),
        })
        .collect()
}

fn modality_lut(obj: &InMemDicomObject, signed: bool) -> Option<ModalityLut> {
    let item = first_item(obj, tags::MODALITY_LUT_SEQUENCE)?;
    let desc = item.get(tags::LUT_DESCRIPTOR)?.to_multi_int::<i64>().ok()?;
    if desc.len() != 3 {
        return None;
    }
    let n = if desc[0] == 0 {
        65536
    } else {
        desc[0] as usize
    };
    // The first mapped value is US or SS like the pixel data.
    let first = if signed {
        desc[1] as u16 as i16 as i64
    } else {
        desc[1] as u16 as i64
    };
    let elem = item.get(tags::LUT_DATA)?;
    let data: Vec<u16> = match elem.value().primitive()? {
        dicom_core::PrimitiveValue::U8(b) => b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
        _ => elem.to_multi_int::<u16>().ok()?,
    };
    (data.len() >= n && n > 0).then(|| ModalityLut {
        first,
        data: data[..n].to_vec(),
    })
}

/// RT Image Storage: a portal or simulator image, its spacing in RT Image Plane Pixel Spacing.
const RT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.481.1";

/// SOP classes that hold no image to decode: segmentations, structured reports, RT plans/structures,
/// waveforms, presentation states, annotations, real world value maps.
pub fn is_non_image_sop_class(uid: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "1.2.840.10008.5.1.4.1.1.66.", // segmentation, registration, fiducials, surface
        "1.2.840.10008.5.1.4.1.1.88.", // structured reports
        "1.2.840.10008.5.1.4.1.1.9.",  // waveforms
        "1.2.840.10008.5.1.4.1.1.11.", // presentation states
        "1.2.840.10008.5.1.4.1.1.481.5", // RT plan
        "1.2.840.10008.5.1.4.1.1.481.3", // RT structure set
        "1.2.840.10008.5.1.4.1.1.481.8", // RT ion plan
        "1.2.840.10008.5.1.4.1.1.481.4", // RT beams treatment record
        "1.2.840.10008.5.1.4.1.1.67",  // real world value mapping
        "1.2.840.10008.5.1.4.1.1.91.", // microscopy bulk simple annotations
        "1.2.840.10008.5.1.4.1.1.104.", // encapsulated documents
        "1.2.840.10008.1.3.10",        // media storage directory (DICOMDIR)
    ];
    PREFIXES
        .iter()
        .any(|p| uid.starts_with(p) || uid == p.trim_end_matches('.'))
}

/// A readable name for common SOP classes.
pub fn sop_class_name(uid: &str) -> String {
    let name = match uid {
        "1.2.840.10008.5.1.4.1.1.66.4" => "Segmentation",
        "1.2.840.10008.5.1.4.1.1.66.7" => "Label Map Segmentation",
        "1.2.840.10008.5.1.4.1.1.88.11" => "Basic Text SR",
        "1.2.840.10008.5.1.4.1.1.88.22" => "Enhanced SR",
        "1.2.840.10008.5.1.4.1.1.88.33" => "Comprehensive SR",
        "1.2.840.10008.5.1.4.1.1.88.34" => "Comprehensive 3D SR",
        "1.2.840.10008.5.1.4.1.1.481.5" => "RT Plan",
        "1.2.840.10008.5.1.4.1.1.481.8" => "RT Ion Plan",
        "1.2.840.10008.5.1.4.1.1.481.3" => "RT Structure Set",
        "1.2.840.10008.5.1.4.1.1.481.2" => "RT Dose",
        "1.2.840.10008.5.1.4.1.1.67" => "Real World Value Mapping",
        "1.2.840.10008.5.1.4.1.1.91.1" => "Microscopy Bulk Simple Annotations",
        "1.2.840.10008.1.3.10" => "Media Storage Directory (DICOMDIR)",
        u if u.starts_with("1.2.840.10008.5.1.4.1.1.9.") => "Waveform",
        u if u.starts_with("1.2.840.10008.5.1.4.1.1.88.") => "Structured Report",
        u if u.starts_with("1.2.840.10008.5.1.4.1.1.11.") => "Presentation State",
        "1.2.840.10008.5.1.4.1.1.2" => "CT Image",
        "1.2.840.10008.5.1.4.1.1.4" => "MR Image",
        "1.2.840.10008.5.1.4.1.1.1" => "CR Image",
        "1.2.840.10008.5.1.4.1.1.7" => "Secondary Capture Image",
        _ => "Other",
    };
    name.to_string()
}

impl DicomHeader {
    /// Reads the attributes from a parsed file.
    pub fn from_object(obj: &DefaultDicomObject, path: &Path, image: bool) -> Result<Self> {
        let meta = obj.meta();
        let ts = meta
            .transfer_syntax()
            .trim_end_matches('\0')
            .trim()
            .to_string();
        let sop_class_uid = text(obj, tags::SOP_CLASS_UID).unwrap_or_else(|| {
            meta.media_storage_sop_class_uid()
                .trim_end_matches('\0')
                .trim()
                .to_string()
        });
        let has_pixel_data = image;
        let req = |tag: Tag, name: &str| -> Result<i64> {
            match obj.get(tag) {
                None => Err(IoError::dicom(
                    path,
                    format!("missing required attribute {name} {tag}"),
                )),
                Some(e) => e.to_int::<i64>().map_err(|_| {
                    IoError::dicom(
                        path,
                        format!("attribute {name} {tag} is not a valid integer"),
                    )
                }),
            }
        };
        let (rows, cols, samples, bits_allocated, bits_stored, signed, planar, frames);
        if has_pixel_data {
            rows = req(tags::ROWS, "Rows")?;
            cols = req(tags::COLUMNS, "Columns")?;
            samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
            bits_allocated = req(tags::BITS_ALLOCATED, "BitsAllocated")?;
            bits_stored = int(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
            signed = int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
            planar = int(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) == 1;
            frames = match obj.get(tags::NUMBER_OF_FRAMES) {
                None => 1,
                Some(e) => e.to_int::<i64>().map_err(|_| {
                    let raw = e.to_str().map(|s| s.to_string()).unwrap_or_default();
                    IoError::dicom(
                        path,
                        format!("NumberOfFrames {raw:?} is not a valid integer"),
                    )
                })?,
            };
            if rows <= 0 || cols <= 0 || !(1..=4).contains(&samples) || frames < 1 {
                return Err(IoError::dicom(
                    path,
                    format!(
                        "invalid image size: {rows} rows, {cols} columns, {samples} samples, {frames} frames"
                    ),
                ));
            }
            if !matches!(bits_allocated, 1 | 8 | 16 | 32 | 64)
                || bits_stored < 1
                || bits_stored > bits_allocated
            {
                return Err(IoError::dicom(
                    path,
                    format!(
                        "unsupported bit depth: BitsAllocated {bits_allocated}, BitsStored {bits_stored}"
                    ),
                ));
            }
        } else {
            (
                rows,
                cols,
                samples,
                bits_allocated,
                bits_stored,
                signed,
                planar,
                frames,
            ) = (0, 0, 0, 0, 0, false, false, 0);
        }

        let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
        let per_frame_items: &[InMemDicomObject] = obj
            .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items())
            .unwrap_or(&[]);
        let enhanced = shared.is_some() || !per_frame_items.is_empty();

        let mut orientation =
            floats(obj, tags::IMAGE_ORIENTATION_PATIENT).and_then(|v| to_orientation(&v));
        // Projection radiographs give the detector's spacing instead, and an RT Image its spacing in
        // the image plane (3002,0011), the one GDCM (and so SimpleITK) reads for that SOP class.
        let pair = |tag| {
            floats(obj, tag)
                .filter(|v| v.len() >= 2)
                .map(|v| [v[0], v[1]])
        };
        let mut pixel_spacing = if sop_class_uid == RT_IMAGE_STORAGE {
            pair(tags::IMAGE_PLANE_PIXEL_SPACING).or_else(|| pair(tags::PIXEL_SPACING))
        } else {
            pair(tags::PIXEL_SPACING).or_else(|| pair(tags::IMAGER_PIXEL_SPACING))
        };
        let mut spacing_between_slices = float(obj, tags::SPACING_BETWEEN_SLICES);
        let mut slice_thickness = float(obj, tags::SLICE_THICKNESS);
        let mut rescale = Rescale {
            slope: float(obj, tags::RESCALE_SLOPE).unwrap_or(1.0),
            intercept: float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        };
        let mut window_presets = windows(obj);
        let mut planes = Vec::new();

        if enhanced {
            let frame0 = per_frame_items.first();
            if let Some(o) = functional(frame0, shared, tags::PLANE_ORIENTATION_SEQUENCE)
                .and_then(|g| floats(g, tags::IMAGE_ORIENTATION_PATIENT))
                .and_then(|v| to_orientation(&v))
            {
                orientation = Some(o);
            }
            if let Some(m) = functional(frame0, shared, tags::PIXEL_MEASURES_SEQUENCE) {
                if let Some(v) = floats(m, tags::PIXEL_SPACING).filter(|v| v.len() >= 2) {
                    pixel_spacing = Some([v[0], v[1]]);
                }
                spacing_between_slices =
                    float(m, tags::SPACING_BETWEEN_SLICES).or(spacing_between_slices);
                slice_thickness = float(m, tags::SLICE_THICKNESS).or(slice_thickness);
            }
            if let Some(t) = functional(frame0, shared, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
                rescale = Rescale {
                    slope: float(t, tags::RESCALE_SLOPE).unwrap_or(1.0),
                    intercept: float(t, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
                };
            }
            if let Some(v) = functional(frame0, shared, tags::FRAME_VOILUT_SEQUENCE) {
                let w = windows(v);
                if !w.is_empty() {
                    window_presets = w;
                }
            }
            for f in 0..frames.max(0) as usize {
                let item = per_frame_items.get(f);
                let position = functional(item, shared, tags::PLANE_POSITION_SEQUENCE)
                    .and_then(|g| floats(g, tags::IMAGE_POSITION_PATIENT))
                    .and_then(|v| to_vec3(&v));
                planes.push(FramePlane { position });
            }
        } else {
            let ipp = floats(obj, tags::IMAGE_POSITION_PATIENT).and_then(|v| to_vec3(&v));
            // RT Dose and NM place frames by offsets along the normal.
            let offsets = floats(obj, tags::GRID_FRAME_OFFSET_VECTOR)
                .filter(|v| v.len() == frames.max(0) as usize);
            for f in 0..frames.max(0) as usize {
                let position = match (ipp, &offsets, orientation) {
                    (Some(p), Some(off), Some(o)) if frames > 1 => {
                        let n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
                        Some([0, 1, 2].map(|i| p[i] + n[i] * (off[f] - off[0])))
                    }
                    (p, _, _) if f == 0 => p,
                    _ => None,
                };
                planes.push(FramePlane { position });
            }
        }
        if !rescale.slope.is_finite() || rescale.slope == 0.0 {
            rescale.slope = 1.0;
        }
        if !rescale.intercept.is_finite() {
            rescale.intercept = 0.0;
        }

        Ok(Self {
            path: path.to_path_buf(),
            transfer_syntax: ts,
            sop_class_uid,
            modality: text(obj, tags::MODALITY),
            series_uid: text(obj, tags::SERIES_INSTANCE_UID),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            has_pixel_data,
            rows: rows as usize,
            cols: cols as usize,
            samples: samples as usize,
            bits_allocated: bits_allocated as u16,
            bits_stored: bits_stored as u16,
            signed,
            planar,
            float_data: obj.get(tags::FLOAT_PIXEL_DATA).is_some()
                || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some(),
            photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION)
                .unwrap_or_else(|| "MONOCHROME2".into()),
            frames: frames as usize,
            orientation,
            pixel_spacing,
            spacing_between_slices,
            slice_thickness,
            planes,
            rescale,
            windows: window_presets,
            modality_lut: modality_lut(obj, signed),
            enhanced,
        })
    }

    /// The slice normal (row × column direction), or +z without an orientation.
    pub fn normal(&self) -> Vec3 {
        match self.orientation {
            Some(o) => {
                let n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
                let l = norm(n);
                n.map(|x| x / l)
            }
            None => [0.0, 0.0, 1.0],
        }
    }

    /// Voxel type after decoding: colour (and palette) images become 8- or 16-bit RGB.
    pub fn is_colour(&self) -> bool {
        self.samples == 3 || self.photometric == "PALETTE COLOR"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modality_lut_maps_and_clamps() {
        let lut = ModalityLut {
            first: -2,
            data: vec![10, 20, 30],
        };
        assert_eq!(
            [
                lut.apply(-5),
                lut.apply(-2),
                lut.apply(-1),
                lut.apply(0),
                lut.apply(9)
            ],
            [10, 10, 20, 30, 30]
        );
    }
}
