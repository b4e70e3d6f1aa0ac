//! What `voxmark import`, `export` and `eval` share: the formats, the arguments, and opening a
//! project for an edit and committing it. The commands themselves are in `import.rs`,
//! `export.rs` (with `masks.rs` for label maps and DICOM SEG, `sr.rs` for DICOM SR) and `eval.rs`.

use crate::core::Document;
use crate::core::annotation::Author;
use crate::store::{ImageRecord, Project};
use std::path::PathBuf;

use super::error::CliError;

/// Grounding formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RadFact / MAIRA-2 grounded reports (normalised boxes per sentence).
    Radfact,
    /// MS-CXR phrase-grounding CSV (one row per box, pixel coordinates).
    MsCxr,
    /// MS-CXR's COCO-style JSON (`label_text` on each annotation; import and export).
    MsCxrJson,
    /// NIH ChestX-ray8 `BBox_List_2017.csv` (import).
    NihBbox,
    /// PadChest-GR grounded reports (`grounded_reports_<date>.json`, import): each study's finding
    /// sentences become its image's report (when it has none) and phrases (spans of it) labelled
    /// with PadChest's finding labels; the first reader's boxes (`boxes`) are by
    /// `human:padchest-gr-reader1`, the second's (`extra_boxes`) by `human:padchest-gr-reader2`,
    /// each reader's on a phrase of their own; absent findings are "no visible grounding" phrases.
    /// Images are found by `ImageID` (file name, or file stem).
    PadchestGr,
    /// VinDr-CXR training CSV, one radiologist per row (import).
    Vindr,
    /// A label map on an image's grid: one mask region per label value (import and export, one
    /// image at a time with `--image`; a `<file>.labels.json` sidecar names the values). NIfTI
    /// (`.nii`, `.nii.gz`), or NRRD (`.nrrd`, `.nhdr`) and MetaImage (`.mha`, `.mhd`) by the file's
    /// extension.
    NiftiLabels,
    /// A model's heatmap for one phrase (NIfTI or PNG grey; any resolution, covering the slice;
    /// import with `--image`, `--phrase`, `--pred-author`).
    Heatmap,
    /// A PNG label mask of a 2D image (pixel values = label ids; import and export with `--image`).
    PngMask,
    /// COCO boxes (TBX11K's, import) and COCO with grounding: `images[].caption` = the report,
    /// `annotations[].tokens_positive` = the phrase's character spans (MDETR/GLIP; import and export).
    Coco,
    /// DICOM SEG of one DICOM image's masks, one segment per label, referencing the source
    /// instances: LABELMAP when no voxel has two labels, BINARY otherwise, or as `--seg-type`
    /// says (export, `--image`).
    DicomSeg,
    /// DICOM SEG FRACTIONAL (probability) of one DICOM image's heatmaps, one segment per heatmap,
    /// each scaled from its own minimum (0) to maximum (1) (export, `--image`).
    DicomSegHeatmap,
    /// DICOM SR TID 1500 Measurement Report of one DICOM image's regions by one author
    /// (`--truth-author`): boxes, polygons and points as planar groups OHIF re-opens as tools, masks
    /// as volumetric groups over a DICOM SEG written beside it (`<out stem>.seg.dcm`); import reads
    /// such reports (and dcmqi's) back as regions with their labels, phrases and authors.
    DicomSr,
}

/// Arguments of `voxmark import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The project.
    pub project: PathBuf,
    /// The file's format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The file.
    pub file: PathBuf,
    /// RadFact: the images the file's reports belong to, in the file's order (see `voxmark ls`).
    /// MS-CXR rows find their image by `dicom_id` (file stem) or `path` (file name).
    #[arg(long = "image", num_args = 1..)]
    pub images: Vec<String>,
    /// Author of reference sentences and boxes (RadFact `target`, or a single report; a DICOM SR
    /// without an observer).
    #[arg(long, alias = "author", default_value = "human:reference")]
    pub truth_author: String,
    /// Author of predicted sentences and boxes (RadFact `prediction`), and of heatmaps.
    #[arg(long, default_value = "model:prediction@unknown")]
    pub pred_author: String,
    /// Heatmaps: the phrase the map answers (its id or handle, see `voxmark ls --json`).
    #[arg(long)]
    pub phrase: Option<String>,
    /// Heatmaps: the slice of a 3D image the map lies on.
    #[arg(long, default_value_t = 0)]
    pub slice: u32,
    /// Import a file that was imported into this project before (same content, format and
    /// target), adding its annotations a second time.
    #[arg(long)]
    pub again: bool,
    /// What identifies this import in the change log (set by `voxmark import`, not on the
    /// command line): the file's content hash, the format and the target.
    #[arg(skip)]
    pub tag: String,
}

impl ImportArgs {
    /// The transaction's name: `what` and the file, with the tag a later import looks for.
    pub(super) fn transaction_name(&self, what: &str) -> String {
        format!("{what} {} {}", self.file.display(), self.tag)
    }
}

/// Arguments of `voxmark export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The project.
    pub project: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Images to export, in order, by id or handle (default: every image with phrases).
    #[arg(long = "image", num_args = 1..)]
    pub images: Vec<String>,
    /// Author whose phrases are the reference (`target`); for a DICOM SR, whose regions it reports.
    #[arg(long, alias = "author", default_value = "human:reference")]
    pub truth_author: String,
    /// Author whose phrases are the prediction; without it a single report per image is written.
    #[arg(long)]
    pub pred_author: Option<String>,
    /// DICOM SEG: leave out the patient's name, id, birth date and sex, the accession number and the
    /// referring physician (UIDs are kept so the SEG still references its images).
    #[arg(long)]
    pub deidentify: bool,
    /// Split by patient (never by image or slice): `NAME=FRACTION,…`, default
    /// `train=0.8,val=0.1,test=0.1`. MS-CXR CSV gets a `split` column; COCO and RadFact write one
    /// file per split (`out.train.json`, …). The patient is the DICOM PatientID, else the
    /// StudyInstanceUID, else a MIMIC-CXR `p<subject>` folder, a CheXpert `patient<NNNNN>` folder or
    /// an NIH ChestX-ray14 file name (`<patient>_<image>.png`), else the image itself.
    #[arg(long, num_args = 0..=1, default_missing_value = "train=0.8,val=0.1,test=0.1")]
    pub split: Option<String>,
    /// Seed of the patient shuffle for `--split`.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// MS-CXR CSV: image paths are written relative to this folder (default: the folder all the
    /// exported images are in), so that a shared dataset carries no local folder layout.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// MS-CXR CSV: write the image paths as they are on this machine (absolute) instead.
    #[arg(long, conflicts_with = "root")]
    pub absolute_paths: bool,
    /// DICOM SEG of masks: `auto` writes a LABELMAP (the 2024 Label Map Segmentation IOD, one
    /// frame per slice) when no two labels share a voxel and BINARY otherwise (ARCHITECTURE.md §9);
    /// `binary` always writes BINARY (one frame per segment and slice), which readers older than the
    /// Label Map IOD (dcmqi, Slicer's QuantitativeReporting, dciodvfy of 2022) know; `labelmap` is
    /// refused when labels share voxels.
    #[arg(long, value_enum, default_value = "auto")]
    pub seg_type: SegType,
}

/// The kind of DICOM SEG `--format dicom-seg` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegType {
    /// LABELMAP when no voxel has two labels, BINARY otherwise.
    Auto,
    /// Segmentation Storage, BINARY.
    Binary,
    /// Label Map Segmentation Storage.
    Labelmap,
}

/// Arguments of `voxmark eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The project.
    pub project: PathBuf,
    /// Author of the reference regions (`human:<name>` or `model:<name>@<version>`).
    #[arg(long)]
    pub truth: String,
    /// Author of the predicted regions.
    #[arg(long)]
    pub pred: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn parse_author(s: &str) -> Result<Author, CliError> {
    s.parse::<Author>().map_err(CliError::user)
}

/// The single image `--image` names, with its record.
pub(super) fn one_image(ids: &[String], records: &[ImageRecord]) -> Result<ImageRecord, CliError> {
    match ids {
        [typed] => {
            let id = crate::core::id::resolve("image", typed, records.iter().map(|r| &r.id))
                .map_err(CliError::user)?;
            records
                .iter()
                .find(|r| r.id == id)
                .cloned()
                .ok_or_else(|| CliError::user(format!("no image {id} in the project")))
        }
        _ => Err(CliError::user(
            "this format holds one image at a time: give --image ID",
        )),
    }
}

/// The label map's values on the image's grid: nearest neighbour through patient space, so a map
/// stored with flipped or permuted axes (as TotalSegmentator writes them) lands voxel for voxel;
/// image voxels outside the map get 0. Values must be non-negative integers.
pub(super) fn resample_labels(
    map: &crate::core::Volume,
    rec: &ImageRecord,
) -> Result<Vec<u32>, String> {
    let world_from_image =
        crate::core::Affine3::from_grid(rec.origin_lps_mm, direction_of(rec), rec.spacing_mm);
    use crate::core::reslice::{LabelMapError, labels_on_grid};
    let on_grid = labels_on_grid(map, rec.size, &world_from_image).map_err(|e| match e {
        LabelMapError::NoOverlap => format!(
            "the label map does not overlap image {} in patient space",
            rec.id
        ),
        other => other.to_string(),
    })?;
    if on_grid.misaligned > 0 {
        eprintln!(
            "note: the label map's voxels do not fall on the image's voxel centres ({} voxels); nearest neighbour used",
            on_grid.misaligned
        );
    }
    Ok(on_grid.values)
}

/// Opens a project for an edit: the project, its image records and its document.
pub(crate) fn open_for_edit(
    path: &std::path::Path,
) -> Result<(Project, Vec<ImageRecord>, Document), CliError> {
    let project = Project::open(path).map_err(CliError::from)?;
    let records = project.images().map_err(CliError::from)?;
    let doc = project.load_document().map_err(CliError::from)?;
    Ok((project, records, doc))
}

/// Commits what a history transaction produced (nothing when it was empty); errors become exit codes.
pub(crate) fn persist(
    project: &mut Project,
    result: Result<Option<crate::core::Transaction>, crate::core::EditError>,
    who: &str,
) -> Result<(), CliError> {
    match result {
        Ok(Some(tx)) => project.commit(&tx, who).map(|_| ()).map_err(CliError::from),
        Ok(None) => Ok(()),
        Err(e) => Err(CliError::user(e)),
    }
}

/// The one image an image-level export (`--image ID`) writes.
pub(super) fn export_image(args: &ExportArgs, project: &Project) -> Result<ImageRecord, CliError> {
    let records = project.images().map_err(CliError::from)?;
    one_image(&args.images, &records)
}

/// An image record's direction as a matrix (rows; columns are the voxel axes in LPS).
pub(super) fn direction_of(rec: &ImageRecord) -> crate::core::Mat3 {
    let d = rec.direction;
    [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]]
}

/// The DICOM source of an image record: its files and LPS grid, for objects that reference it.
pub(super) fn source_grid(rec: &ImageRecord) -> crate::io::dicom::SourceGrid<'_> {
    crate::io::dicom::SourceGrid {
        files: &rec.files,
        size: rec.size,
        spacing_mm: rec.spacing_mm,
        origin_lps_mm: rec.origin_lps_mm,
        direction: rec.direction,
    }
}
