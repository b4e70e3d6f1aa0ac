//! Formats → `core`: DICOM (scan, group into series, sort, decode), NIfTI, 2D images.
//!
//! May use `core` and format crates; never `store`, `render`, `ui` or `inference` (ARCHITECTURE.md §2).

pub mod coco;
pub mod datasets;
pub mod dicom;
pub mod image2d;
pub mod itk;
pub mod label_map;
pub mod ms_cxr;
pub mod nifti;
pub mod padchest_gr;
pub mod quiet_panic;
pub mod radfact;
pub mod split;

use crate::core::Volume;
use std::path::{Path, PathBuf};

/// Everything that can go wrong reading a file. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file or folder could not be opened.
    #[error("cannot open: {source}: {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading failed part way.
    #[error("read failed: {source}: {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A NIfTI header or data problem.
    #[error("NIfTI: {what}: {}", path.display())]
    Nifti {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A DICOM parse or decode problem.
    #[error("DICOM: {what}: {}", path.display())]
    Dicom {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A 2D image problem.
    #[error("image: {what}: {}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Not a format Voxmark reads.
    #[error("not a DICOM, NIfTI, PNG, JPEG or TIFF file: {}", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
}

impl IoError {
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        IoError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn dicom(path: &Path, what: impl Into<String>) -> Self {
        IoError::Dicom {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// Result with [`IoError`].
pub type Result<T, E = IoError> = std::result::Result<T, E>;

/// What kind of source an image came from (the `kind` of `voxmark info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// Single-frame DICOM files forming one series.
    DicomSeries,
    /// One multi-frame DICOM file.
    DicomMultiframe,
    /// A NIfTI file.
    Nifti,
    /// A PNG/JPEG/TIFF file.
    Image2d,
    /// An NRRD file (`.nrrd`, `.nhdr`).
    Nrrd,
    /// A MetaImage file (`.mha`, `.mhd`).
    MetaImage,
}

impl SourceKind {
    /// The name used in `voxmark info --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::DicomSeries => "dicom-series",
            SourceKind::DicomMultiframe => "dicom-multiframe",
            SourceKind::Nifti => "nifti",
            SourceKind::Image2d => "image2d",
            SourceKind::Nrrd => "nrrd",
            SourceKind::MetaImage => "metaimage",
        }
    }
}

/// A decoded image with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// A file, or for a DICOM series the folder (or first file) it was found in.
    pub source: PathBuf,
    /// The files the voxels came from (one for most kinds).
    pub files: Vec<PathBuf>,
    /// Source kind.
    pub kind: SourceKind,
    /// The voxels and geometry.
    pub volume: Volume,
    /// For multi-volume files (4D NIfTI): which volume and of how many.
    pub volume_index: Option<(usize, usize)>,
}

/// A DICOM object that is not an image (SR, SEG, RT plan, ...): listed, not decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct NonImageObject {
    /// The file.
    pub path: PathBuf,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// A readable name of the SOP class.
    pub sop_class_name: String,
    /// Modality, if present.
    pub modality: Option<String>,
}

/// Everything found under a set of paths: images, non-image objects, and files that failed.
#[derive(Debug, Default)]
pub struct Scan {
    /// Decoded images, one per series or file.
    pub images: Vec<LoadedImage>,
    /// Recognised non-image DICOM objects.
    pub non_images: Vec<NonImageObject>,
    /// Files or series that could not be read, with the reason.
    pub errors: Vec<IoError>,
}

/// Formats recognised from a file's name and first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// DICOM Part 10 (or a raw data set that looks like one).
    Dicom,
    /// NIfTI-1/2, possibly gzipped.
    Nifti,
    /// PNG, JPEG or TIFF.
    Image2d,
    /// NRRD or MetaImage.
    Itk,
}

/// Guesses a file's format from its name, then its first bytes.
pub fn sniff(path: &Path) -> Option<Format> {
    if nifti::is_nifti_name(path) {
        return Some(Format::Nifti);
    }
    if image2d::is_image_name(path) {
        return Some(Format::Image2d);
    }
    if itk::is_itk_name(path) {
        return Some(Format::Itk);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("dcm" | "dicom" | "ima")) {
        return Some(Format::Dicom);
    }
    dicom::looks_like_dicom(path).then_some(Format::Dicom)
}

/// Reads every image under `paths` (files, folders recursively, DICOMDIRs).
///
/// DICOM files are grouped into series across all the given paths; each NIfTI and 2D image file is one image
/// (the first volume of a 4D NIfTI). Failures are collected, never fatal for the others.
pub fn scan_paths(paths: &[PathBuf]) -> Scan {
    scan_paths_with_preview(paths, &mut |_| {})
}

/// [`scan_paths`] that hands the middle slice of the largest DICOM series to `preview` as soon as it
/// is decoded, before the whole series is (see [`dicom::load_files_with_preview`]).
pub fn scan_paths_with_preview(paths: &[PathBuf], preview: &mut dyn FnMut(dicom::Preview)) -> Scan {
    let mut scan = Scan::default();
    let mut dicom_files = Vec::new();
    let mut others = Vec::new();
    // The data files of detached NRRD/MetaImage headers are read with their header (an image
    // record lists both), not as images of their own.
    let detached: Vec<PathBuf> = paths
        .iter()
        .filter(|p| itk::is_itk_name(p))
        .filter_map(|p| itk::detached_data_file(p))
        .collect();
    for path in paths.iter().filter(|p| !detached.contains(p)) {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .follow_links(true)
                .into_iter()
                .filter_map(|e| match e {
                    Ok(e) if e.file_type().is_file() => Some(e.into_path()),
                    Ok(_) => None,
                    Err(err) => {
                        let p = err
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| path.clone());
                        scan.errors.push(IoError::Open {
                            path: p,
                            source: err
                                .into_io_error()
                                .unwrap_or_else(|| std::io::Error::other("walk failed")),
                        });
                        None
                    }
                })
                .collect();
            entries.sort();
            for file in entries {
                if dicom::is_dicomdir_like_name(&file) {
                    continue;
                }
                match sniff(&file) {
                    Some(Format::Dicom) => dicom_files.push(file),
                    Some(f) => others.push((file, f)),
                    None => {} // Unknown files inside folders are not images: skip them quietly.
                }
            }
        } else if !path.exists() {
            scan.errors.push(IoError::Open {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        } else if dicom::is_dicomdir_name(path) {
            match dicom::dicomdir_files(path) {
                Ok(files) => dicom_files.extend(files),
                Err(e) => scan.errors.push(e),
            }
        } else {
            match sniff(path) {
                Some(Format::Dicom) => dicom_files.push(path.clone()),
                Some(f) => others.push((path.clone(), f)),
                None => scan
                    .errors
                    .push(IoError::UnknownFormat { path: path.clone() }),
            }
        }
    }
    let source_of_dicom = |files: &[PathBuf]| -> PathBuf {
        // A series is named by the argument it was found under when that was a folder.
        paths
            .iter()
            .find(|p| p.is_dir() && files.first().is_some_and(|f| f.starts_with(p)))
            .cloned()
            .or_else(|| files.first().cloned())
            .unwrap_or_default()
    };
    if !dicom_files.is_empty() {
        let found = dicom::load_files_with_preview(&dicom_files, &source_of_dicom, preview);
        scan.images.extend(found.images);
        scan.non_images.extend(found.non_images);
        scan.errors.extend(found.errors);
    }
    use rayon::prelude::*;
    let results: Vec<Result<LoadedImage>> = others
        .par_iter()
        .map(|(file, format)| match format {
            Format::Nifti => nifti::read(file, 0).map(|n| {
                let count = n.header.volume_count();
                LoadedImage {
                    source: file.clone(),
                    files: vec![file.clone()],
                    kind: SourceKind::Nifti,
                    volume: n.volume,
                    volume_index: (count > 1).then_some((0, count)),
                }
            }),
            Format::Image2d => image2d::read(file).map(|volume| LoadedImage {
                source: file.clone(),
                files: vec![file.clone()],
                kind: SourceKind::Image2d,
                volume,
                volume_index: None,
            }),
            Format::Itk => itk::read(file).map(|volume| LoadedImage {
                source: file.clone(),
                // A detached header's data file is part of the image (hashed and relinked with it).
                files: std::iter::once(file.clone())
                    .chain(itk::detached_data_file(file))
                    .collect(),
                kind: if file.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("nrrd") || e.eq_ignore_ascii_case("nhdr")
                }) {
                    SourceKind::Nrrd
                } else {
                    SourceKind::MetaImage
                },
                volume,
                volume_index: None,
            }),
            Format::Dicom => unreachable!("DICOM files are loaded above"),
        })
        .collect();
    for r in results {
        match r {
            Ok(img) => scan.images.push(img),
            Err(e) => scan.errors.push(e),
        }
    }
    scan
}

/// The image a project record names among those read from its files: the same size, volume index
/// and (when the record has one) series.
pub fn matching_image(
    images: Vec<LoadedImage>,
    size: [usize; 3],
    volume_index: usize,
    series_uid: Option<&str>,
) -> Option<LoadedImage> {
    images.into_iter().find(|img| {
        img.volume.size() == size
            && img.volume_index.map_or(0, |(i, _)| i) == volume_index
            && (series_uid.is_none() || img.volume.meta.series_uid.as_deref() == series_uid)
    })
}

/// blake3 of the files' bytes, in order: how a project recognises an image's content after a move.
pub fn content_hash(files: &[PathBuf]) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for f in files {
        let mut file = std::fs::File::open(f).map_err(|e| IoError::Open {
            path: f.clone(),
            source: e,
        })?;
        h.update_reader(&mut file)
            .map_err(|e| IoError::read(f, e))?;
    }
    Ok(h.finalize().to_hex().to_string())
}
