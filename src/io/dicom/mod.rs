//! DICOM: scan files, folders and DICOMDIRs; group into series; sort; decode.
//!
//! Series are grouped by SeriesInstanceUID and split where the files differ in orientation, matrix
//! or sample layout. Single-frame slices are sorted by position along the slice normal, ascending
//! (voxel 0 is the lowest position, as ITK does). Each multi-frame file is a volume of its own,
//! its frames placed by their per-frame positions.

mod build;
pub mod codecs;
pub mod decode;
mod guard;
pub mod header;
pub mod jpeg12;
pub mod seg;
pub mod sr;
pub use build::SourceGrid;

use super::{IoError, LoadedImage, NonImageObject, Result, Scan, SourceKind};
use crate::core::geometry::{Mat3, Vec3, cross, dot, from_columns, norm};
use crate::core::{Photometric, Rescale, Volume, VolumeMeta, Voxels};
use decode::{Frame, FrameLayout, SampleType};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use header::DicomHeader;
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// True when the file has the `DICM` marker at offset 128.
pub fn looks_like_dicom(path: &Path) -> bool {
    let mut b = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map(|_| &b[128..132] == b"DICM")
        .unwrap_or(false)
}

/// True for a file named `DICOMDIR`.
pub fn is_dicomdir_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR"))
}

/// True for DICOMDIR index files and their variants (`DICOMDIR-...`): a folder scan reads the
/// files themselves, so the index is skipped there, as ITK/GDCM series scanning does.
pub fn is_dicomdir_like_name(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_uppercase())
        .is_some_and(|n| {
            n == "DICOMDIR" || n.starts_with("DICOMDIR-") || n.starts_with("DICOMDIR.")
        })
}

fn open(path: &Path, until_pixel_data: bool) -> Result<DefaultDicomObject> {
    // Declared lengths are checked before the parser allocates them (a damaged length would make it
    // allocate gigabytes).
    // A file whose lengths do not fit its encoding may still read with another (the tolerant
    // reader checks each guess the same way).
    if let Err(why) = guard::check_file(
        path,
        guard::Encoding {
            explicit: true,
            big_endian: false,
        },
        until_pixel_data,
    ) {
        return open_tolerant(path).ok_or_else(|| IoError::dicom(path, why));
    }
    let opts = OpenFileOptions::new();
    let opts = if until_pixel_data {
        opts.read_until(tags::PIXEL_DATA)
    } else {
        opts
    };
    opts.open_file(path).or_else(|e| {
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        open_tolerant(path).ok_or_else(|| IoError::dicom(path, format!("cannot parse: {msg}")))
    })
}

/// The patient of a DICOM file, for splitting datasets by patient: its PatientID, else its
/// StudyInstanceUID; `None` when the file cannot be read or has neither.
pub fn patient_of(path: &Path) -> Option<(String, crate::core::split::KeySource)> {
    let obj = open(path, true).ok()?;
    let text = |tag| {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| {
                s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                    .to_owned()
            })
            .filter(|s| !s.is_empty())
    };
    if let Some(id) = text(tags::PATIENT_ID) {
        return Some((
            format!("patient:{id}"),
            crate::core::split::KeySource::PatientId,
        ));
    }
    text(tags::STUDY_INSTANCE_UID)
        .map(|uid| (format!("study:{uid}"), crate::core::split::KeySource::Study))
}

/// The SOPInstanceUID of a DICOM file (its data set's, else its file meta header's); `None` when
/// the file is not DICOM or has none.
pub fn sop_instance_uid(path: &Path) -> Option<String> {
    if !looks_like_dicom(path) {
        return None;
    }
    let file = open(path, true).ok()?;
    let meta = file
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches(['\0', ' '])
        .to_owned();
    build::text(&file, tags::SOP_INSTANCE_UID).or((!meta.is_empty()).then_some(meta))
}

const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

/// Second chance for files that real-world writers got wrong, as pydicom tolerates them:
/// a data set in implicit VR behind a meta header that says explicit (or the reverse),
/// and data sets with no file meta header at all. The result keeps the meta header's
/// transfer syntax for the pixel data, or the one that parsed when there was none.
fn open_tolerant(path: &Path) -> Option<DefaultDicomObject> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    use dicom_object::InMemDicomObject;
    use dicom_object::meta::{FileMetaTable, FileMetaTableBuilder};
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    let bytes = std::fs::read(path).ok()?;
    let (meta_ts, start) = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        let meta = FileMetaTable::from_reader(&bytes[128..]).ok()?;
        let start = 132 + 12 + meta.information_group_length as usize;
        (Some(meta.transfer_syntax().to_string()), start)
    } else {
        (None, 0)
    };
    let data = bytes.get(start..)?;
    let candidates: Vec<&str> = match meta_ts.as_deref() {
        Some(EXPLICIT_VR_BE) => vec![IMPLICIT_VR_LE, EXPLICIT_VR_LE],
        Some(IMPLICIT_VR_LE) => vec![EXPLICIT_VR_LE],
        Some(_) => vec![IMPLICIT_VR_LE, EXPLICIT_VR_LE],
        None => vec![IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE],
    };
    for ts_uid in candidates {
        let ts = TransferSyntaxRegistry.get(ts_uid)?;
        // A guess whose lengths run past the end would make the parser allocate them: skip it.
        if guard::Encoding::of(ts_uid).is_some_and(|e| guard::check_bytes(data, e).is_err()) {
            continue;
        }
        let Ok(obj) = InMemDicomObject::read_dataset_with_ts(data, ts) else {
            continue;
        };
        // Accept only a plausible data set: one that names its SOP class.
        if obj.get(tags::SOP_CLASS_UID).is_none() {
            continue;
        }
        let ts_for_pixels = meta_ts.clone().unwrap_or_else(|| ts_uid.to_string());
        if let Ok(file) = obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(ts_for_pixels))
        {
            return Some(file);
        }
    }
    None
}

/// The files a DICOMDIR refers to (its IMAGE and other leaf records), resolved against its folder.
pub fn dicomdir_files(path: &Path) -> Result<Vec<PathBuf>> {
    let obj = open(path, false)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let records = obj
        .get(tags::DIRECTORY_RECORD_SEQUENCE)
        .and_then(|e| e.items())
        .ok_or_else(|| IoError::dicom(path, "DICOMDIR has no Directory Record Sequence"))?;
    let mut files = Vec::new();
    for r in records {
        if let Some(id) = r
            .get(tags::REFERENCED_FILE_ID)
            .and_then(|e| e.to_str().ok())
        {
            let mut p = base.to_path_buf();
            for part in id.split('\\') {
                let part = part.trim();
                if !part.is_empty() {
                    p.push(part);
                }
            }
            if !p.exists() {
                return Err(IoError::dicom(
                    path,
                    format!("DICOMDIR refers to a missing file {}", p.display()),
                ));
            }
            files.push(p);
        }
    }
    Ok(files)
}

enum Scanned {
    Image(Box<DicomHeader>),
    NonImage(NonImageObject),
}

fn scan_file(path: &Path) -> Result<Scanned> {
    let obj = open(path, true)?;
    let sop = obj
        .get(tags::SOP_CLASS_UID)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches('\0').trim().to_string())
        .unwrap_or_else(|| {
            obj.meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0')
                .trim()
                .to_string()
        });
    let modality = obj
        .get(tags::MODALITY)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let has_pixels = obj.get(tags::PIXEL_DATA).is_some()
        || obj.get(tags::FLOAT_PIXEL_DATA).is_some()
        || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some()
        // read_until stops before Pixel Data: look for the image pixel module instead.
        || (obj.get(tags::ROWS).is_some() && obj.get(tags::BITS_ALLOCATED).is_some());
    // `read_until` stops before Pixel Data; a data set with Pixel Data but no image pixel module
    // is malformed, not a non-image object: look again with a full read.
    let has_pixels = has_pixels
        || (!header::is_non_image_sop_class(&sop)
            && open(path, false)?.get(tags::PIXEL_DATA).is_some());
    if header::is_non_image_sop_class(&sop) || !has_pixels {
        let sop_class_name = if header::is_non_image_sop_class(&sop) {
            header::sop_class_name(&sop)
        } else {
            format!("{} without Pixel Data", header::sop_class_name(&sop))
        };
        return Ok(Scanned::NonImage(NonImageObject {
            path: path.to_path_buf(),
            sop_class_name,
            sop_class_uid: sop,
            modality,
        }));
    }
    Ok(Scanned::Image(Box::new(DicomHeader::from_object(
        &obj, path, true,
    )?)))
}

/// Key that splits files of one series that cannot share a grid.
fn group_key(h: &DicomHeader) -> String {
    let o = h
        .orientation
        .map(|o| {
            o.iter()
                .map(|x| format!("{:.4}", x + 0.0))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    // Files without a SeriesInstanceUID form one series, as ITK/GDCM group them.
    let series = h.series_uid.clone().unwrap_or_default();
    format!(
        "{series}|{}x{}|{}|{}|{}|{}|{o}",
        h.rows, h.cols, h.samples, h.bits_allocated, h.photometric, h.signed
    )
}

/// The middle slice of a series, decoded before the rest (see [`load_files_with_preview`]).
pub struct Preview {
    /// One slice with its own geometry (origin at its position), windows and photometric.
    pub volume: Volume,
    /// Its index in the sorted series.
    pub index: usize,
    /// How many slices the series has.
    pub count: usize,
}

/// Loads DICOM files: scans headers in parallel, groups them, decodes each series or multi-frame file.
/// `source_of` names a series by its files.
pub fn load_files(files: &[PathBuf], source_of: &(dyn Fn(&[PathBuf]) -> PathBuf + Sync)) -> Scan {
    load_files_with_preview(files, source_of, &mut |_| {})
}

/// [`load_files`] that first decodes the middle file of the largest series (of at least
/// [`PREVIEW_MIN_SLICES`] files) and hands it to `preview`, so a viewer can show it while the rest
/// is decoded. A middle file that fails is not reported here (the series' own decode names it).
pub fn load_files_with_preview(
    files: &[PathBuf],
    source_of: &(dyn Fn(&[PathBuf]) -> PathBuf + Sync),
    preview: &mut dyn FnMut(Preview),
) -> Scan {
    let mut scan = Scan::default();
    let scanned: Vec<Result<Scanned>> = files.par_iter().map(|f| scan_file(f)).collect();
    let mut headers = Vec::new();
    for s in scanned {
        match s {
            Ok(Scanned::Image(h)) => headers.push(*h),
            Ok(Scanned::NonImage(n)) => scan.non_images.push(n),
            Err(e) => scan.errors.push(e),
        }
    }
    // Group single-frame files; each multi-frame file stands alone.
    let mut groups: Vec<(String, Vec<DicomHeader>)> = Vec::new();
    for h in headers {
        let key = if h.frames > 1 || h.enhanced {
            format!("multiframe:{}", h.path.display())
        } else {
            group_key(&h)
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(h),
            None => groups.push((key, vec![h])),
        }
    }
    if let Some((_, g)) = groups
        .iter()
        .filter(|(_, g)| g.len() >= PREVIEW_MIN_SLICES)
        .max_by_key(|(_, g)| g.len())
    {
        let mut sorted: Vec<&DicomHeader> = g.iter().collect();
        sort_along_normal(&mut sorted);
        let count = sorted.len();
        let index = count / 2;
        if let Ok((volume, _)) = load_group(vec![sorted[index].clone()]) {
            preview(Preview {
                volume,
                index,
                count,
            });
        }
    }
    let results: Vec<Result<LoadedImage>> = groups
        .into_par_iter()
        .map(|(_, g)| {
            let files: Vec<PathBuf> = g.iter().map(|h| h.path.clone()).collect();
            let kind = if g.len() == 1 && g[0].frames > 1 {
                SourceKind::DicomMultiframe
            } else {
                SourceKind::DicomSeries
            };
            let source = if kind == SourceKind::DicomSeries && g.len() > 1 {
                source_of(&files)
            } else {
                files[0].clone()
            };
            load_group(g).map(|(volume, files)| LoadedImage {
                source,
                files,
                kind,
                volume,
                volume_index: None,
            })
        })
        .collect();
    for r in results {
        match r {
            Ok(img) => scan.images.push(img),
            Err(e) => scan.errors.push(e),
        }
    }
    scan.images.sort_by(|a, b| {
        a.source
            .cmp(&b.source)
            .then(a.volume.meta.series_uid.cmp(&b.volume.meta.series_uid))
    });
    scan
}

/// Series smaller than this are decoded whole before anything is shown (a preview gains nothing).
pub const PREVIEW_MIN_SLICES: usize = 8;

/// Sorts one series' files along the first file's slice normal, then by instance number and path.
fn sort_along_normal<H: std::borrow::Borrow<DicomHeader>>(g: &mut [H]) {
    let Some(normal) = g.first().map(|h| h.borrow().normal()) else {
        return;
    };
    let along = |h: &DicomHeader| {
        h.planes
            .first()
            .and_then(|p| p.position)
            .map(|p| dot(p, normal))
    };
    g.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        along(a)
            .partial_cmp(&along(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.instance_number.cmp(&b.instance_number))
            .then(a.path.cmp(&b.path))
    });
}

/// One slice to place: which file, which frame, and where.
struct SlicePlan {
    file: usize,
    frame: usize,
    position: Option<Vec3>,
}

/// Geometry of a stack of slices in voxel order.
///
/// The third axis is the slice normal (row × column direction), flipped when the positions run the
/// other way (multi-frame files keep their frame order); the slice spacing is the positions' extent
/// along it divided by the gaps, as ITK computes it. Without positions, SpacingBetweenSlices is used;
/// without PixelSpacing the geometry is unknown and every spacing is 1 mm, as GDCM reports it.
fn stack_geometry(first: &DicomHeader, positions: &[Option<Vec3>]) -> (Vec3, Vec3, Mat3) {
    let o = first.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let unit = |v: Vec3| {
        let l = norm(v);
        v.map(|x| x / l)
    };
    let row = unit([o[0], o[1], o[2]]);
    let col = unit([o[3], o[4], o[5]]);
    let mut normal = unit(cross(row, col));
    let origin = positions.first().copied().flatten().unwrap_or([0.0; 3]);
    let n = positions.len();
    let fix = |s: f64| if s.is_finite() && s > 0.0 { s } else { 1.0 };
    let between = first
        .spacing_between_slices
        .filter(|s| first.pixel_spacing.is_some() && *s > 0.0);
    let mut sz = between.unwrap_or(1.0);
    if let (Some(a), Some(b)) = (
        positions.first().copied().flatten(),
        positions.last().copied().flatten(),
    ) && n > 1
    {
        let along = dot([b[0] - a[0], b[1] - a[1], b[2] - a[2]], normal) / (n as f64 - 1.0);
        if along.abs() > 1e-6 {
            sz = along.abs();
            if along < 0.0 {
                normal = normal.map(|x| -x);
            }
        }
    }
    let [sy, sx] = first.pixel_spacing.unwrap_or([1.0, 1.0]);
    (
        [fix(sx), fix(sy), fix(sz)],
        origin,
        from_columns(row, col, normal),
    )
}

fn load_group(mut g: Vec<DicomHeader>) -> Result<(Volume, Vec<PathBuf>)> {
    let first_path = g[0].path.clone();
    let mut plans: Vec<SlicePlan> = Vec::new();
    if g.len() == 1 {
        let h = &g[0];
        for f in 0..h.frames {
            plans.push(SlicePlan {
                file: 0,
                frame: f,
                position: h.planes.get(f).and_then(|p| p.position),
            });
        }
    } else {
        sort_along_normal(&mut g);
        for (i, h) in g.iter().enumerate() {
            plans.push(SlicePlan {
                file: i,
                frame: 0,
                position: h.planes.first().and_then(|p| p.position),
            });
        }
    }
    let h0 = &g[0];
    let positions: Vec<Option<Vec3>> = plans.iter().map(|p| p.position).collect();
    let (spacing, origin, direction) = stack_geometry(h0, &positions);
    let layout = FrameLayout::of(h0);
    let per_frame = layout.values_per_frame(h0);
    let size = [h0.cols, h0.rows, plans.len()];
    let total = per_frame * plans.len();

    // Decode frames straight into their place in one buffer; each file is parsed once.
    macro_rules! fill {
        ($variant:ident, $t:ty) => {
            fill!($variant, $t, |_: &DefaultDicomObject,
                                 _: &DicomHeader,
                                 _: usize,
                                 _: &mut [$t]| None)
        };
        ($variant:ident, $t:ty, $fast:expr) => {{
            let mut buf: Vec<$t> = vec![Default::default(); total];
            fill_frames(
                &g,
                &plans,
                per_frame,
                &mut buf,
                |f| match f {
                    Frame::$variant(v) => Some(v),
                    _ => None,
                },
                $fast,
            )?;
            Voxels::$variant(buf)
        }};
    }
    let voxels = match layout.sample {
        SampleType::U8 => fill!(U8, u8),
        SampleType::I8 => fill!(I8, i8),
        SampleType::U16 => fill!(U16, u16, decode::native16_into::<u16>),
        SampleType::I16 => fill!(I16, i16, decode::native16_into::<i16>),
        SampleType::U32 => fill!(U32, u32),
        SampleType::I32 => fill!(I32, i32),
        SampleType::F32 => fill!(F32, f32),
        SampleType::F64 => fill!(F64, f64),
    };
    // Slices of one series may carry different rescales (some scanners vary the slope per slice):
    // then the stored values cannot share one map, and the volume holds modality values as f32.
    let slice_rescales: Vec<Rescale> = plans.iter().map(|p| g[p.file].rescale).collect();
    let (voxels, rescale) = if let Some(lut) = &h0.modality_lut {
        // A Modality LUT replaces the rescale: the volume holds its output values.
        let n = voxels.len();
        let mapped: Vec<u16> = (0..n)
            .map(|i| lut.apply(voxels.get_f64(i).unwrap_or(0.0) as i64))
            .collect();
        (Voxels::U16(mapped), Rescale::IDENTITY)
    } else if slice_rescales.iter().all(|r| *r == h0.rescale) {
        (voxels, h0.rescale)
    } else {
        let mut out = Vec::with_capacity(total);
        for (k, r) in slice_rescales.iter().enumerate() {
            for i in k * per_frame..(k + 1) * per_frame {
                out.push(r.apply(voxels.get_f64(i).unwrap_or(f64::NAN)) as f32);
            }
        }
        (Voxels::F32(out), Rescale::IDENTITY)
    };
    let mut volume = Volume::new(
        size,
        spacing,
        origin,
        direction,
        layout.components,
        voxels,
        rescale,
    )
    .map_err(|e| IoError::dicom(&first_path, e.to_string()))?;
    let mut ts: Vec<String> = g.iter().map(|h| h.transfer_syntax.clone()).collect();
    ts.sort();
    ts.dedup();
    volume.meta = VolumeMeta {
        modality: h0.modality.clone(),
        series_uid: h0.series_uid.clone(),
        description: h0.series_description.clone(),
        photometric: match (h0.photometric.as_str(), layout.components) {
            ("MONOCHROME1", 1) => Photometric::Monochrome1,
            (_, 1) => Photometric::Monochrome2,
            (_, 4) => Photometric::Rgba,
            _ => Photometric::Rgb,
        },
        windows: h0.windows.clone(),
        transfer_syntaxes: ts,
    };
    let files = g.into_iter().map(|h| h.path).collect();
    Ok((volume, files))
}

/// One file's frames and where each goes: (file index, [(frame, destination)]).
type FileWork<'a, T> = (usize, Vec<(usize, &'a mut [T])>);

fn fill_frames<T: Copy + Send>(
    g: &[DicomHeader],
    plans: &[SlicePlan],
    per_frame: usize,
    buf: &mut [T],
    take: impl Fn(Frame) -> Option<Vec<T>> + Sync,
    fast: impl Fn(&DefaultDicomObject, &DicomHeader, usize, &mut [T]) -> Option<Result<()>> + Sync,
) -> Result<()> {
    // Slices grouped by file so that each file is opened once.
    let mut by_file: Vec<Vec<(usize, usize)>> = vec![Vec::new(); g.len()];
    for (slot, p) in plans.iter().enumerate() {
        by_file[p.file].push((slot, p.frame));
    }
    let mut slots: Vec<Option<&mut [T]>> = buf.chunks_mut(per_frame).map(Some).collect();
    let mut work: Vec<FileWork<'_, T>> = Vec::new();
    for (file, frames) in by_file.into_iter().enumerate() {
        let mut dsts = Vec::new();
        for (slot, frame) in frames {
            if let Some(dst) = slots[slot].take() {
                dsts.push((frame, dst));
            }
        }
        work.push((file, dsts));
    }
    work.into_par_iter().try_for_each(|(file, dsts)| {
        let h = &g[file];
        let obj = open(&h.path, false)?;
        dsts.into_par_iter().try_for_each(|(frame, dst)| {
            if let Some(done) = fast(&obj, h, frame, dst) {
                return done;
            }
            let values = take(decode::decode_frame(&obj, h, frame)?)
                .ok_or_else(|| IoError::dicom(&h.path, "frame decoded to an unexpected type"))?;
            if values.len() != dst.len() {
                return Err(IoError::dicom(
                    &h.path,
                    format!(
                        "frame {frame} has {} values, expected {}",
                        values.len(),
                        dst.len()
                    ),
                ));
            }
            dst.copy_from_slice(&values);
            Ok(())
        })
    })
}
