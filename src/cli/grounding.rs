//! Grounding data in and out of a project, and its evaluation: `voxmark import`, `export`, `eval`.
//! Formats so far: RadFact / MAIRA-2 grounded reports (more come with the grounding issue).

use crate::core::annotation::{Author, Grounding, Phrase, Region, Shape, Status};
use crate::core::metrics::{self, Mask2};
use crate::core::{Document, Edit, History, Id, ImageId, MaskTiles, grounding_eval};
use crate::io::radfact::{self, Pair, RadFactFile, Sentence};
use crate::io::{datasets, ms_cxr, split};
use crate::store::{ImageRecord, Project};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{EXIT_USER_ERROR, project::store_error, project::user_error};

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
    /// instances: LABELMAP when no voxel has two labels, BINARY otherwise (export, `--image`).
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
#[derive(clap::Args, Debug)]
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
    #[arg(long, default_value = "human:reference")]
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
}

/// The deepest folder that holds every one of `files` (empty when they share none).
fn common_folder(files: &[&std::path::Path]) -> PathBuf {
    let mut common: Option<Vec<std::path::Component<'_>>> = None;
    for f in files {
        let parts: Vec<_> = f
            .parent()
            .map_or_else(Vec::new, |d| d.components().collect());
        common = Some(match common {
            None => parts,
            Some(c) => c
                .into_iter()
                .zip(parts)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default().into_iter().collect()
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

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn parse_author(s: &str) -> Result<Author, i32> {
    s.parse::<Author>().map_err(user_error)
}

/// Edits that add one grounded report's sentences to an image as phrases (with spans where the text
/// occurs in the image's report) and their boxes as regions, all by `author`.
#[allow(clippy::too_many_arguments)]
fn report_edits(
    doc: &Document,
    image: ImageId,
    size: [usize; 3],
    sentences: &[Sentence],
    author: &Author,
    status: Status,
    with_spans: bool,
    edits: &mut Vec<Edit>,
) {
    let report = doc
        .images
        .get(&image)
        .and_then(|i| i.report.clone())
        .unwrap_or_default();
    let mut search_from = 0usize; // in bytes
    let t = now_ms();
    for s in sentences {
        let mut links = Vec::new();
        for b in s.boxes.iter().flatten() {
            let (min, max) = radfact::to_pixels(*b, size[0], size[1]);
            let id = Id::new();
            edits.push(Edit::AddRegion {
                region: Region {
                    id,
                    image,
                    label: None,
                    shape: Shape::Box2d { slice: 0, min, max },
                    author: author.clone(),
                    prompt: matches!(author, Author::Model { .. }).then(|| s.text.clone()),
                    status,
                    confidence: None,
                    created_ms: t,
                    modified_ms: t,
                },
                mask: None,
                links: vec![],
            });
            links.push(id);
        }
        // A span only where the sentence occurs verbatim in the report (after the previous one).
        let span = report
            .get(search_from..)
            .filter(|_| with_spans)
            .and_then(|rest| rest.find(&s.text))
            .map(|at| {
                let start_b = search_from + at;
                let end_b = start_b + s.text.len();
                search_from = end_b;
                (
                    report[..start_b].chars().count(),
                    report[..end_b].chars().count(),
                )
            });
        let id = Id::new();
        edits.push(Edit::AddPhrase {
            phrase: Phrase {
                id,
                image,
                text: s.text.clone(),
                author: author.clone(),
                span: span.filter(|(a, b)| a < b),
                category: None,
                grounding: if s.boxes.is_some() {
                    Grounding::Annotated
                } else {
                    Grounding::NoVisible
                },
                created_ms: t,
                modified_ms: t,
            },
            links,
        });
    }
}

/// `voxmark import`.
pub fn import(args: &ImportArgs) -> i32 {
    if args.format == Format::DicomSr {
        return super::error::exit_code(super::sr::import(args));
    }
    let truth = match parse_author(&args.truth_author) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let pred = match parse_author(&args.pred_author) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if matches!(args.format, Format::NiftiLabels | Format::PngMask) {
        return import_nifti_labels(args, &truth);
    }
    if args.format == Format::Heatmap {
        return import_heatmap(args, &pred);
    }
    if matches!(args.format, Format::DicomSeg | Format::DicomSegHeatmap) {
        return user_error(
            "DICOM SEG is an export format here; import masks as nifti-labels or png-mask",
        );
    }
    let rows = match args.format {
        Format::Radfact
        | Format::NiftiLabels
        | Format::PngMask
        | Format::Heatmap
        | Format::DicomSeg
        | Format::DicomSegHeatmap
        | Format::DicomSr => None,
        Format::MsCxrJson => Some(
            ms_cxr::read_json(&args.file)
                .map(|r| datasets::from_ms_cxr(&r))
                .map_err(|e| e.to_string()),
        ),
        Format::MsCxr => Some(
            ms_cxr::read(&args.file)
                .map(|r| datasets::from_ms_cxr(&r))
                .map_err(|e| e.to_string()),
        ),
        Format::NihBbox => Some(datasets::read_nih(&args.file).map_err(|e| e.to_string())),
        Format::Vindr => Some(datasets::read_vindr(&args.file).map_err(|e| e.to_string())),
        Format::Coco => Some(datasets::read_coco_boxes(&args.file).map_err(|e| e.to_string())),
    };
    match rows {
        Some(Ok(rows)) => return import_box_rows(args, rows, &truth),
        Some(Err(e)) => return user_error(e),
        None => {}
    }
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return user_error(format!("cannot read ({e}): {}", args.file.display())),
    };
    let file = match radfact::parse(&text, &args.file) {
        Ok(f) => f,
        Err(e) => return user_error(e),
    };
    let mut project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let mut doc = match project.load_document() {
        Ok(d) => d,
        Err(e) => return store_error(e),
    };
    let reports = match &file {
        RadFactFile::Report(_) => 1,
        RadFactFile::Pairs(p) => p.len(),
    };
    if args.images.len() != reports {
        return user_error(format!(
            "{} holds {reports} report(s); give as many --image ids ({} given)",
            args.file.display(),
            args.images.len()
        ));
    }
    let images = match super::project::resolve_images(&project, &args.images) {
        Ok(i) => i,
        Err(c) => return c,
    };
    let mut edits = Vec::new();
    let pairs: Vec<Pair> = match file {
        RadFactFile::Report(s) => vec![Pair {
            prediction: vec![],
            target: s,
        }],
        RadFactFile::Pairs(p) => p,
    };
    for (pair, &image) in pairs.iter().zip(&images) {
        let size = doc.images[&image].size;
        // The reference text becomes the image's report when it has none, so spans can point into it.
        if doc.images[&image].report.is_none() && !pair.target.is_empty() {
            let text = pair
                .target
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let e = Edit::SetReport {
                image,
                before: None,
                after: Some(text),
            };
            if let Err(err) = e.apply(&mut doc) {
                return user_error(err);
            }
            edits.push(e);
        }
        let mut batch = Vec::new();
        // Reference sentences are spans of the report; predicted sentences are free phrases.
        report_edits(
            &doc,
            image,
            size,
            &pair.target,
            &truth,
            Status::Accepted,
            true,
            &mut batch,
        );
        report_edits(
            &doc,
            image,
            size,
            &pair.prediction,
            &pred,
            Status::Proposed,
            false,
            &mut batch,
        );
        edits.extend(batch);
    }
    // Report edits were applied above to compute spans; replay everything through one undo step.
    let applied_reports: Vec<Edit> = edits
        .iter()
        .filter(|e| matches!(e, Edit::SetReport { .. }))
        .cloned()
        .collect();
    for e in applied_reports.iter().rev() {
        if let Err(err) = e.inverse().apply(&mut doc) {
            return user_error(err);
        }
    }
    let mut history = History::new(1 << 30);
    let name = format!("import radfact {}", args.file.display());
    let result = (|| {
        history.begin(&name)?;
        for e in edits {
            history.record(&mut doc, e)?;
        }
        history.commit()
    })();
    let tx = match result {
        Ok(Some(t)) => t,
        Ok(None) => return user_error("nothing to import"),
        Err(e) => return user_error(e),
    };
    let regions = tx
        .edits
        .iter()
        .filter(|e| matches!(e, Edit::AddRegion { .. }))
        .count();
    let phrases = tx
        .edits
        .iter()
        .filter(|e| matches!(e, Edit::AddPhrase { .. }))
        .count();
    if let Err(e) = project.commit(&tx, &args.truth_author) {
        return store_error(e);
    }
    println!(
        "imported {phrases} phrases and {regions} boxes into {} image(s)",
        args.images.len()
    );
    0
}

/// A phrase's sentence for export: its text and its boxes by `author` (normalised), `null` when it
/// has none.
fn sentence_of(doc: &Document, p: &Phrase, author: &Author, size: [usize; 3]) -> Sentence {
    let boxes: Vec<radfact::NormBox> = doc
        .regions_of(p.id)
        .filter_map(|r| doc.regions.get(&r))
        .filter(|r| &r.author == author)
        .filter_map(|r| match r.shape {
            Shape::Box2d { min, max, .. } => Some(radfact::from_pixels(min, max, size[0], size[1])),
            _ => None,
        })
        .collect();
    Sentence {
        text: p.text.clone(),
        boxes: (!boxes.is_empty() || p.grounding == Grounding::Annotated)
            .then_some(boxes)
            .filter(|b| !b.is_empty()),
    }
}

fn phrases_by(doc: &Document, image: ImageId, author: &Author) -> Vec<Phrase> {
    let mut v: Vec<Phrase> = doc
        .phrases
        .values()
        .filter(|p| p.image == image && &p.author == author)
        .cloned()
        .collect();
    v.sort_by_key(|p| (p.span.map_or(usize::MAX, |s| s.0), p.id));
    v
}

/// `voxmark export`.
pub fn export(args: &ExportArgs) -> i32 {
    if args.format == Format::DicomSr {
        return super::error::exit_code(super::sr::export(args));
    }
    let truth = match parse_author(&args.truth_author) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let pred = match args.pred_author.as_deref().map(parse_author).transpose() {
        Ok(a) => a,
        Err(c) => return c,
    };
    let project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let doc = match project.load_document() {
        Ok(d) => d,
        Err(e) => return store_error(e),
    };
    if args.deidentify
        && !matches!(
            args.format,
            Format::DicomSeg | Format::DicomSegHeatmap | Format::DicomSr
        )
    {
        return user_error(
            "--deidentify is for DICOM SEG exports; the other formats hold file names, boxes and the \
             report text, not DICOM patient attributes",
        );
    }
    if args.split.is_some()
        && !matches!(
            args.format,
            Format::MsCxr | Format::MsCxrJson | Format::Coco | Format::Radfact
        )
    {
        return user_error(
            "--split is for the dataset exports (ms-cxr, coco, radfact); the mask exports hold one \
             image each",
        );
    }
    match args.format {
        Format::MsCxr | Format::MsCxrJson => return export_ms_cxr(args, &project, &doc, &truth),
        Format::Coco => return export_coco(args, &project, &doc, &truth),
        Format::NiftiLabels | Format::PngMask => return export_nifti_labels(args, &project, &doc),
        Format::DicomSeg | Format::DicomSegHeatmap => {
            return export_dicom_seg(args, &project, &doc);
        }
        Format::Radfact => {}
        other => {
            return user_error(format!(
                "{other:?} is an import format; export to ms-cxr, coco or radfact"
            ));
        }
    }
    let images: Vec<ImageId> = if args.images.is_empty() {
        doc.images
            .keys()
            .copied()
            .filter(|i| doc.phrases.values().any(|p| p.image == *i))
            .collect()
    } else {
        match super::project::resolve_images(&project, &args.images) {
            Ok(i) => i,
            Err(c) => return c,
        }
    };
    for image in &images {
        if !doc.images.contains_key(image) {
            return user_error(format!("no image {image} in {}", args.project.display()));
        }
    }
    let splits = match project
        .images()
        .map_err(store_error)
        .and_then(|records| splits_of(args, &records, &images))
    {
        Ok(s) => s,
        Err(c) => return c,
    };
    for (out, images) in split_outputs(&args.out, &images, splits.as_ref()) {
        let code = write_radfact(&doc, &images, &truth, pred.as_ref(), &out);
        if code != 0 {
            return code;
        }
    }
    0
}

/// One RadFact file of `images`: pairs when there is a prediction author or several images.
fn write_radfact(
    doc: &Document,
    images: &[ImageId],
    truth: &Author,
    pred: Option<&Author>,
    out: &std::path::Path,
) -> i32 {
    let mut pairs = Vec::new();
    for image in images {
        let Some(info) = doc.images.get(image) else {
            continue;
        };
        let target = phrases_by(doc, *image, truth)
            .iter()
            .map(|p| sentence_of(doc, p, truth, info.size))
            .collect();
        let prediction = match pred {
            Some(a) => phrases_by(doc, *image, a)
                .iter()
                .map(|p| sentence_of(doc, p, a, info.size))
                .collect(),
            None => vec![],
        };
        pairs.push(Pair { prediction, target });
    }
    let file = match (pred, pairs.len()) {
        (None, 1) => RadFactFile::Report(pairs.remove(0).target),
        _ => RadFactFile::Pairs(pairs),
    };
    let text = serde_json::to_string_pretty(&radfact::to_json(&file)).unwrap_or_default();
    if let Err(e) = std::fs::write(out, text + "\n") {
        return user_error(format!("cannot write ({e}): {}", out.display()));
    }
    println!("wrote {} report(s) to {}", images.len(), out.display());
    0
}

/// With `--split`: the split of each of `images` (by patient), after printing how many patients and
/// images each split got and where the patient keys came from. Patient keys are never printed.
fn splits_of(
    args: &ExportArgs,
    records: &[ImageRecord],
    images: &[ImageId],
) -> Result<Option<BTreeMap<ImageId, String>>, i32> {
    let Some(text) = &args.split else {
        return Ok(None);
    };
    let spec: split::SplitSpec = text.parse().map_err(user_error)?;
    let mut keys: BTreeMap<ImageId, String> = BTreeMap::new();
    let mut sources: BTreeMap<split::KeySource, usize> = BTreeMap::new();
    for rec in records.iter().filter(|r| images.contains(&r.id)) {
        let (key, source) = split::patient_key(&rec.files, rec.id);
        *sources.entry(source).or_default() += 1;
        keys.insert(rec.id, key);
    }
    let by_patient = spec.assign(keys.values().map(String::as_str), args.split_seed);
    let of_image: BTreeMap<ImageId, String> = keys
        .iter()
        .filter_map(|(id, key)| Some((*id, by_patient.get(key)?.clone())))
        .collect();
    let counts: Vec<String> = spec
        .parts
        .iter()
        .map(|(name, _)| {
            let patients = by_patient.values().filter(|s| *s == name).count();
            let images = of_image.values().filter(|s| *s == name).count();
            format!("{name} {patients} patient(s) / {images} image(s)")
        })
        .collect();
    let sources: Vec<String> = sources
        .iter()
        .map(|(s, n)| format!("{n} image(s): {}", s.describe()))
        .collect();
    println!(
        "split by patient (seed {}): {}; patient from {}",
        args.split_seed,
        counts.join(", "),
        sources.join(", ")
    );
    Ok(Some(of_image))
}

/// The files to write: `out` with every image, or one `out.<split>.ext` per split (by name), each
/// with its images in the given order.
fn split_outputs(
    out: &std::path::Path,
    images: &[ImageId],
    splits: Option<&BTreeMap<ImageId, String>>,
) -> Vec<(PathBuf, Vec<ImageId>)> {
    let Some(splits) = splits else {
        return vec![(out.to_path_buf(), images.to_vec())];
    };
    let mut files: Vec<(String, Vec<ImageId>)> = Vec::new();
    for image in images {
        let Some(name) = splits.get(image) else {
            continue;
        };
        match files.iter_mut().find(|(n, _)| n == name) {
            Some((_, list)) => list.push(*image),
            None => files.push((name.clone(), vec![*image])),
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .into_iter()
        .map(|(name, list)| (split::split_path(out, &name), list))
        .collect()
}

/// `voxmark eval`: per phrase with reference regions, the union of the reference regions against the
/// union of the predicted regions linked to the same phrase; per image, all reference regions against
/// all predicted regions (for grounded reports, whose sentences differ). See [`grounding_eval`].
pub fn eval(args: &EvalArgs) -> i32 {
    let (truth, pred) = match (parse_author(&args.truth), parse_author(&args.pred)) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let doc = match project.load_document() {
        Ok(d) => d,
        Err(e) => return store_error(e),
    };
    // Phrase level applies when the prediction grounds the reference's phrases (MS-CXR style review);
    // grounded reports bring their own sentences, and only the image level compares them.
    let scores = grounding_eval::score(&doc, &truth, &pred, None);
    let shared = scores.shared;
    let mut phrase_rows = Vec::new();
    let mut per_category: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut phrase_ious = Vec::new();
    let mut pointing = (0usize, 0usize);
    for s in &scores.phrases {
        if let Some(h) = s.pointing {
            pointing.0 += h as usize;
            pointing.1 += 1;
        }
        phrase_ious.push(s.iou);
        per_category
            .entry(s.category.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push(s.iou);
        let text = doc.phrases.get(&s.phrase).map(|p| p.text.as_str());
        phrase_rows.push(json!({"phrase": s.phrase, "image": s.image, "text": text, "category": s.category,
            "iou": s.iou, "dice": s.dice, "pointing_hit": s.pointing, "truth_regions": s.truth_regions, "predicted_regions": s.predicted_regions}));
    }
    let image_ious: Vec<f64> = scores.images.iter().map(|s| s.iou).collect();
    let image_rows: Vec<_> = scores
        .images
        .iter()
        .map(|s| json!({"image": s.image, "truth_regions": s.truth_regions, "pred_regions": s.predicted_regions, "iou": s.iou, "dice": s.dice}))
        .collect();
    // Heatmaps of the prediction for phrases the reference grounds: CNR and pointing game on the
    // image grid (the map resampled nearest-neighbour), against the reference boxes on its slice.
    let mut heat_rows = Vec::new();
    let (mut cnrs, mut heat_hits) = (Vec::new(), (0usize, 0usize));
    for hm in doc.heatmaps.values().filter(|h| h.author == pred) {
        let (Some(p), Some(info)) = (hm.phrase, doc.images.get(&hm.image)) else {
            continue;
        };
        let (w, h) = (info.size[0], info.size[1]);
        let t: Vec<[f64; 4]> = doc
            .regions_of(p)
            .filter_map(|r| doc.regions.get(&r))
            .filter(|r| r.author == truth && r.status != Status::Rejected)
            .filter_map(|r| match r.shape {
                Shape::Box2d { slice, min, max } if slice == hm.slice => {
                    Some([min[0], min[1], max[0], max[1]])
                }
                _ => None,
            })
            .collect();
        if t.is_empty() {
            continue;
        }
        let truth_mask = Mask2::from_boxes(w, h, &t);
        let values = hm.on_image_grid(w, h);
        let cnr = metrics::cnr(&values, &truth_mask);
        let hit = metrics::pointing_heatmap(&values, &truth_mask);
        if let Some(c) = cnr {
            cnrs.push(c);
        }
        if let Some(x) = hit {
            heat_hits.0 += x as usize;
            heat_hits.1 += 1;
        }
        heat_rows.push(json!({"heatmap": hm.id, "phrase": p, "image": hm.image, "cnr": cnr, "pointing_hit": hit}));
    }
    let summary = |v: &[f64]| {
        metrics::summarize(v)
            .map(|s| json!({"n": s.n, "mean_iou": s.mean_iou, "acc_at_iou_0_5": s.acc_at_05}))
    };
    let out = json!({
        "truth": args.truth, "pred": args.pred,
        "definitions": {
            "iou": metrics::IOU_DEFINITION, "dice": metrics::DICE_DEFINITION, "acc": metrics::ACC_DEFINITION,
            "pointing_game": metrics::POINTING_DEFINITION, "cnr": metrics::CNR_DEFINITION,
            "phrase_level": grounding_eval::PHRASE_LEVEL_DEFINITION,
            "image_level": grounding_eval::IMAGE_LEVEL_DEFINITION,
        },
        "phrase_level": {"overall": summary(&phrase_ious), "per_category": per_category.iter().map(|(k, v)| (k.clone(), summary(v))).collect::<BTreeMap<_, _>>(),
            "pointing_game": if pointing.1 > 0 { json!(pointing.0 as f64 / pointing.1 as f64) } else { json!(null) }, "phrases": phrase_rows},
        "image_level": {"overall": summary(&image_ious), "images": image_rows},
        "heatmaps": {
            "n": heat_rows.len(),
            "mean_cnr": if cnrs.is_empty() { json!(null) } else { json!(cnrs.iter().sum::<f64>() / cnrs.len() as f64) },
            "pointing_game": if heat_hits.1 > 0 { json!(heat_hits.0 as f64 / heat_hits.1 as f64) } else { json!(null) },
            "maps": heat_rows,
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return 0;
    }
    println!("truth {}  vs  prediction {}", args.truth, args.pred);
    let line = |name: &str, s: &serde_json::Value| match s.is_null() {
        true => println!("{name:<28} no cases"),
        false => println!(
            "{name:<28} n {:>4}   mean IoU {:.3}   Acc@IoU≥0.5 {:.3}",
            s["n"],
            s["mean_iou"].as_f64().unwrap_or(0.0),
            s["acc_at_iou_0_5"].as_f64().unwrap_or(0.0)
        ),
    };
    if !shared {
        println!(
            "phrases: not applicable ({} grounds no phrase that {} grounds; compare whole images)",
            args.pred, args.truth
        );
    }
    line("phrases (overall)", &out["phrase_level"]["overall"]);
    for (k, v) in out["phrase_level"]["per_category"]
        .as_object()
        .into_iter()
        .flatten()
    {
        line(&format!("  {k}"), v);
    }
    if let Some(pg) = out["phrase_level"]["pointing_game"].as_f64() {
        println!("{:<28} {pg:.3}", "pointing game (boxes)");
    }
    line("images (all regions)", &out["image_level"]["overall"]);
    if let Some(n) = out["heatmaps"]["n"].as_u64().filter(|&n| n > 0) {
        println!(
            "{:<28} n {n:>4}   mean CNR {:.3}   pointing game {:.3}",
            "heatmaps",
            out["heatmaps"]["mean_cnr"].as_f64().unwrap_or(f64::NAN),
            out["heatmaps"]["pointing_game"]
                .as_f64()
                .unwrap_or(f64::NAN)
        );
    }
    println!("definitions:");
    for (k, v) in out["definitions"].as_object().into_iter().flatten() {
        println!("  {k}: {}", v.as_str().unwrap_or(""));
    }
    if phrase_ious.is_empty() && image_ious.is_empty() && cnrs.is_empty() {
        eprintln!(
            "error: no region by {} or {} to compare",
            args.truth, args.pred
        );
        return EXIT_USER_ERROR;
    }
    0
}

/// The image a dataset row names: by file stem (`dicom_id`) or file name (`path`).
fn find_image(records: &[ImageRecord], dicom_id: &str, path: &str) -> Option<ImageId> {
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string());
    records
        .iter()
        .find(|r| {
            r.files.iter().any(|f| {
                let stem = f.file_stem().map(|s| s.to_string_lossy().to_string());
                let fname = f.file_name().map(|s| s.to_string_lossy().to_string());
                (!dicom_id.is_empty() && stem.as_deref() == Some(dicom_id))
                    || (name.is_some() && fname == name)
            })
        })
        .map(|r| r.id)
}

/// Box rows (any dataset) into the project: rows grouped by (image, annotator, phrase text,
/// category) into phrases with their boxes, in one undo step; a row without a box is an explicit
/// "no visible grounding" phrase. Rows whose image is not in the project are counted and reported.
fn import_box_rows(args: &ImportArgs, rows: Vec<datasets::BoxRow>, author: &Author) -> i32 {
    let (mut project, records, mut doc) = match open_for_edit(&args.project) {
        Ok(t) => t,
        Err(c) => return c,
    };
    type Key = (ImageId, String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<&datasets::BoxRow>> = BTreeMap::new();
    let mut unmatched: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        let who = match &r.annotator {
            Some(a) => format!("human:{a}"),
            None => author.to_string(),
        };
        match find_image(&records, r.stem.as_deref().unwrap_or(""), &r.file_name) {
            Some(id) => groups
                .entry((id, who, r.text.clone(), r.category.clone()))
                .or_default()
                .push(r),
            None => {
                let key = r
                    .stem
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| r.file_name.clone());
                *unmatched.entry(key).or_default() += 1
            }
        }
    }
    let t = now_ms();
    let mut history = History::new(1 << 30);
    let mut boxes_added = 0usize;
    let result = (|| {
        history.begin(&format!("import {:?} {}", args.format, args.file.display()))?;
        // A grounding caption becomes the report of an image that has none, so its spans hold.
        for ((image, ..), group) in &groups {
            let caption = group.iter().find_map(|r| r.caption.clone());
            if caption.is_some() && doc.images[image].report.is_none() {
                history.record(
                    &mut doc,
                    Edit::SetReport {
                        image: *image,
                        before: None,
                        after: caption,
                    },
                )?;
            }
        }
        for ((image, who, text, category), group) in &groups {
            let who: Author =
                who.parse()
                    .map_err(|e: crate::core::annotation::AuthorParseError| {
                        crate::core::EditError::Invalid(e.to_string())
                    })?;
            // The category names the boxes' label (made if new), so that the viewer draws each
            // finding in its own colour and the report's spans read in it.
            let label = match category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                Some(name) => Some(match doc.labels.values().find(|l| l.name == name) {
                    Some(l) => l.id,
                    None => {
                        let id = doc.new_label_id(name);
                        let color = crate::core::annotation::LABEL_PALETTE
                            [doc.labels.len() % crate::core::annotation::LABEL_PALETTE.len()];
                        history.record(
                            &mut doc,
                            Edit::AddLabel(crate::core::Label {
                                id,
                                name: name.to_owned(),
                                color,
                            }),
                        )?;
                        id
                    }
                }),
                None => None,
            };
            let info = &doc.images[image];
            let size = info.size;
            let report = info.report.clone().unwrap_or_default();
            let mut links = Vec::new();
            for r in group {
                let Some(edges) = r.edges else { continue };
                let (min, max) = datasets::edges_to_pixels(edges, r.frame, size[0], size[1]);
                let id = Id::new();
                history.record(
                    &mut doc,
                    Edit::AddRegion {
                        region: Region {
                            id,
                            image: *image,
                            label,
                            shape: Shape::Box2d { slice: 0, min, max },
                            author: who.clone(),
                            prompt: None,
                            status: Status::Accepted,
                            confidence: None,
                            created_ms: t,
                            modified_ms: t,
                        },
                        mask: None,
                        links: vec![],
                    },
                )?;
                links.push(id);
                boxes_added += 1;
            }
            let span = group
                .iter()
                .find_map(|r| r.span)
                .filter(|&(a, b)| a < b && b <= report.chars().count())
                .or_else(|| {
                    report.find(text.as_str()).map(|b| {
                        (
                            report[..b].chars().count(),
                            report[..b + text.len()].chars().count(),
                        )
                    })
                });
            let id = Id::new();
            let grounding = if links.is_empty() {
                Grounding::NoVisible
            } else {
                Grounding::Annotated
            };
            history.record(
                &mut doc,
                Edit::AddPhrase {
                    phrase: Phrase {
                        id,
                        image: *image,
                        text: text.clone(),
                        author: who.clone(),
                        span,
                        category: category.clone(),
                        grounding,
                        created_ms: t,
                        modified_ms: t,
                    },
                    links,
                },
            )?;
        }
        history.commit()
    })();
    let skipped: usize = unmatched.values().sum();
    if let Err(c) = persist(&mut project, result, &author.to_string()) {
        return c;
    }
    println!(
        "imported {boxes_added} boxes as {} phrases; {skipped} row(s) of {} image(s) not in the project were skipped",
        groups.len(),
        unmatched.len()
    );
    for (id, n) in unmatched.iter().take(5) {
        eprintln!("  not in the project: {id} ({n} row(s))");
    }
    if unmatched.len() > 5 {
        eprintln!("  … and {} more image(s)", unmatched.len() - 5);
    }
    0
}

/// `voxmark export --format ms-cxr`: one row per box of the reference author, in each image's own
/// pixel frame.
fn export_ms_cxr(args: &ExportArgs, project: &Project, doc: &Document, author: &Author) -> i32 {
    let records = match project.images() {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let wanted = match super::project::resolve_images(project, &args.images) {
        Ok(i) => i,
        Err(c) => return c,
    };
    let chosen: Vec<ImageId> = records
        .iter()
        .map(|r| r.id)
        .filter(|id| wanted.is_empty() || wanted.contains(id))
        .collect();
    let splits = match splits_of(args, &records, &chosen) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let firsts: Vec<&std::path::Path> = records
        .iter()
        .filter(|r| chosen.contains(&r.id))
        .filter_map(|r| r.files.first().map(PathBuf::as_path))
        .collect();
    let root = args.root.clone().unwrap_or_else(|| common_folder(&firsts));
    let mut rows = Vec::new();
    for rec in &records {
        if !chosen.contains(&rec.id) {
            continue;
        }
        let split = splits.as_ref().and_then(|s| s.get(&rec.id).cloned());
        let path = match rec.files.first() {
            None => String::new(),
            Some(f) if args.absolute_paths => f.display().to_string(),
            Some(f) => match f.strip_prefix(&root) {
                // MS-CXR's paths use '/' on every system.
                Ok(rel) => rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                Err(_) => {
                    return user_error(format!(
                        "image {} is not under --root {}: {}",
                        rec.id,
                        root.display(),
                        f.display()
                    ));
                }
            },
        };
        let dicom_id = rec
            .files
            .first()
            .and_then(|f| f.file_stem())
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        for p in phrases_by(doc, rec.id, author) {
            for r in doc
                .regions_of(p.id)
                .filter_map(|r| doc.regions.get(&r))
                .filter(|r| &r.author == author)
            {
                if let Shape::Box2d { min, max, .. } = r.shape {
                    let [x, y, w, h] = ms_cxr::from_pixels(min, max);
                    rows.push(ms_cxr::Row {
                        dicom_id: dicom_id.clone(),
                        category_name: p.category.clone().unwrap_or_default(),
                        label_text: p.text.clone(),
                        path: path.clone(),
                        x,
                        y,
                        w,
                        h,
                        image_width: rec.size[0],
                        image_height: rec.size[1],
                        split: split.clone(),
                    });
                }
            }
        }
    }
    if rows.is_empty() {
        return user_error(format!(
            "nothing to write: no phrase by {author} on the {} image(s) has a box (MS-CXR rows are boxes)",
            chosen.len()
        ));
    }
    let written = if args.format == Format::MsCxrJson {
        ms_cxr::write_json(&args.out, &rows)
    } else {
        ms_cxr::write(&args.out, &rows)
    };
    if let Err(e) = written {
        return user_error(e);
    }
    if args.absolute_paths {
        println!("wrote {} box row(s) to {}", rows.len(), args.out.display());
    } else {
        println!(
            "wrote {} box row(s) to {} (paths relative to {})",
            rows.len(),
            args.out.display(),
            root.display()
        );
    }
    0
}

/// `voxmark export --format coco`: COCO with grounding. One image per project image with its report
/// as `caption`; one annotation per box of the reference author whose phrase is a span of the report,
/// with `tokens_positive = [[start, end]]` (characters) and the phrase text; categories from the
/// phrases' categories.
fn export_coco(args: &ExportArgs, project: &Project, doc: &Document, author: &Author) -> i32 {
    let records = match project.images() {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let wanted = match super::project::resolve_images(project, &args.images) {
        Ok(i) => i,
        Err(c) => return c,
    };
    // Images with a report, or with phrases of the author (their caption is built from them).
    let asked: Vec<ImageId> = records
        .iter()
        .filter(|r| wanted.is_empty() || wanted.contains(&r.id))
        .map(|r| r.id)
        .collect();
    let chosen: Vec<ImageId> = asked
        .iter()
        .copied()
        .filter(|id| {
            doc.images.get(id).is_some_and(|i| i.report.is_some())
                || !phrases_by(doc, *id, author).is_empty()
        })
        .collect();
    if chosen.is_empty() {
        return user_error(format!(
            "nothing to export: none of the {} image(s) has a report or a phrase by {author}; no file written",
            asked.len()
        ));
    }
    let left_out = asked.len() - chosen.len();
    if left_out > 0 {
        println!("{left_out} image(s) without a report or a phrase by {author} left out");
    }
    let splits = match splits_of(args, &records, &chosen) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // One category table for every split, so that ids mean the same in each file.
    let mut categories: BTreeMap<String, usize> = BTreeMap::new();
    for p in doc.phrases.values() {
        let captioned = doc.images.get(&p.image).is_some_and(|i| i.report.is_none());
        if chosen.contains(&p.image) && &p.author == author && (p.span.is_some() || captioned) {
            let name = p.category.clone().unwrap_or_else(|| "finding".into());
            let n = categories.len() + 1;
            categories.entry(name).or_insert(n);
        }
    }
    for (out, ids) in split_outputs(&args.out, &chosen, splits.as_ref()) {
        let subset: Vec<&ImageRecord> = records.iter().filter(|r| ids.contains(&r.id)).collect();
        let code = write_coco(doc, &subset, author, &categories, &out);
        if code != 0 {
            return code;
        }
    }
    0
}

/// The caption of an image without a report: its phrases in order, joined with ". ", and each
/// phrase's character span in it.
fn caption_from_phrases(phrases: &[Phrase]) -> (String, Vec<(usize, usize)>) {
    let mut caption = String::new();
    let mut spans = Vec::new();
    for p in phrases {
        let text = p.text.trim().trim_end_matches('.').trim_end();
        if !caption.is_empty() {
            caption.push_str(". ");
        }
        let start = caption.chars().count();
        caption.push_str(text);
        spans.push((start, start + text.chars().count()));
    }
    if !caption.is_empty() {
        caption.push('.');
    }
    (caption, spans)
}

/// One COCO-with-grounding file of `records`: the report is the caption, or, for an image without
/// one, the caption is built from its phrases ([`caption_from_phrases`]).
fn write_coco(
    doc: &Document,
    records: &[&ImageRecord],
    author: &Author,
    categories: &BTreeMap<String, usize>,
    out_path: &std::path::Path,
) -> i32 {
    let (mut images, mut annotations, mut skipped, mut built) =
        (Vec::new(), Vec::new(), 0usize, 0usize);
    for rec in records {
        let phrases = phrases_by(doc, rec.id, author);
        let report = doc.images.get(&rec.id).and_then(|i| i.report.clone());
        // Each phrase with its span in the caption (`None`: a phrase without a span in a report).
        let (caption, spans): (String, Vec<Option<(usize, usize)>>) = match report {
            Some(r) => (r, phrases.iter().map(|p| p.span).collect()),
            None if !phrases.is_empty() => {
                built += 1;
                let (c, s) = caption_from_phrases(&phrases);
                (c, s.into_iter().map(Some).collect())
            }
            None => continue,
        };
        let file_name = rec
            .files
            .first()
            .and_then(|f| f.file_name())
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        // COCO numbers its images itself: 1, 2, … in the file's order.
        let coco_image = images.len() + 1;
        images.push(json!({"id": coco_image, "file_name": file_name, "width": rec.size[0], "height": rec.size[1], "caption": caption}));
        for (p, span) in phrases.iter().zip(spans) {
            let boxes: Vec<_> = doc
                .regions_of(p.id)
                .filter_map(|r| doc.regions.get(&r))
                .filter(|r| &r.author == author)
                .collect();
            let Some((start, end)) = span else {
                skipped += boxes.len();
                continue;
            };
            let name = p.category.clone().unwrap_or_else(|| "finding".into());
            let category = categories.get(&name).copied().unwrap_or(0);
            let phrase: String = caption.chars().skip(start).take(end - start).collect();
            for r in boxes {
                if let Shape::Box2d { min, max, .. } = r.shape {
                    // Micro-pixel rounding keeps exports stable across round trips (±0.5 pixel
                    // conversions leave 1e-13 noise otherwise).
                    let [x, y, w, h] =
                        ms_cxr::from_pixels(min, max).map(|v| (v * 1e6).round() / 1e6);
                    annotations.push(json!({
                        "id": annotations.len() + 1, "image_id": coco_image, "category_id": category,
                        "bbox": [x, y, w, h], "area": (w * h * 1e6).round() / 1e6, "iscrowd": 0,
                        "tokens_positive": [[start, end]], "phrase": phrase, "label_text": p.text,
                    }));
                }
            }
        }
    }
    let out = json!({
        "info": {"description": "Voxmark grounding export", "version": env!("CARGO_PKG_VERSION")},
        "images": images,
        "annotations": annotations,
        "categories": categories.iter().map(|(name, id)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
    });
    let text = match serde_json::to_string_pretty(&out) {
        Ok(t) => t + "\n",
        Err(e) => {
            return user_error(format!(
                "cannot encode the COCO file ({e}): {}",
                out_path.display()
            ));
        }
    };
    if let Err(e) = std::fs::write(out_path, text) {
        return user_error(format!("cannot write ({e}): {}", out_path.display()));
    }
    println!(
        "wrote {} image(s) and {} box annotation(s) to {}",
        images.len(),
        annotations.len(),
        out_path.display()
    );
    if built > 0 {
        println!(
            "{built} image(s) had no report: their caption is their phrases joined with \". \", and tokens_positive points into it"
        );
    }
    if skipped > 0 {
        println!(
            "{skipped} box(es) of phrases without a span in their image's report left out (give the phrase a span, or remove the report)"
        );
    }
    0
}

fn labels_sidecar(path: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.labels.json", path.display()))
}

/// The single image `--image` names, with its record.
fn one_image(ids: &[String], records: &[ImageRecord]) -> Result<ImageRecord, i32> {
    match ids {
        [typed] => {
            let id = crate::core::id::resolve("image", typed, records.iter().map(|r| &r.id))
                .map_err(user_error)?;
            records
                .iter()
                .find(|r| r.id == id)
                .cloned()
                .ok_or_else(|| user_error(format!("no image {id} in the project")))
        }
        _ => Err(user_error(
            "label maps go with exactly one image: give --image ID",
        )),
    }
}

/// `voxmark import --format nifti-labels`: each non-zero value of the label map becomes a mask region
/// (with a label of that value's id and name) on the image, whose grid the map must share.
fn import_nifti_labels(args: &ImportArgs, author: &Author) -> i32 {
    let (mut project, records, mut doc) = match open_for_edit(&args.project) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let rec = match one_image(&args.images, &records) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let dense = if args.format == Format::PngMask {
        // A 2D mask has no geometry of its own: it must have the image's pixel grid.
        let m = match crate::io::image2d::read(&args.file) {
            Ok(m) => m,
            Err(e) => return user_error(e),
        };
        if m.size() != rec.size || m.components() != 1 {
            return user_error(format!(
                "{}: a {}×{} mask with {} component(s) does not fit image {} ({}×{}×{})",
                args.file.display(),
                m.size()[0],
                m.size()[1],
                m.components(),
                rec.id,
                rec.size[0],
                rec.size[1],
                rec.size[2]
            ));
        }
        (0..m.voxels().len())
            .map(|i| m.voxels().get_f64(i).unwrap_or(0.0) as u32)
            .collect()
    } else {
        let map = if crate::io::itk::is_itk_name(&args.file) {
            crate::io::itk::read(&args.file)
        } else {
            crate::io::nifti::read(&args.file, 0).map(|n| n.volume)
        };
        let map = match map {
            Ok(m) => m,
            Err(e) => return user_error(e),
        };
        match resample_labels(&map, &rec) {
            Ok(d) => d,
            Err(why) => return user_error(format!("{}: {why}", args.file.display())),
        }
    };
    let masks = MaskTiles::split_labels(rec.size, &dense);
    let names: BTreeMap<String, serde_json::Value> =
        std::fs::read_to_string(labels_sidecar(&args.file))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let t = now_ms();
    let mut history = History::new(1 << 30);
    let count = masks.len();
    let result = (|| {
        history.begin(&format!("import label map {}", args.file.display()))?;
        for (value, mask) in masks {
            let name = names
                .get(&value.to_string())
                .and_then(|n| n["name"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("label {value}"));
            let label = match doc.labels.values().find(|l| l.name == name) {
                Some(l) => l.id,
                None => {
                    let lid = doc.new_label_id(&name);
                    let color = names
                        .get(&value.to_string())
                        .and_then(|n| n["color"].as_array())
                        .map(|c| {
                            [0, 1, 2, 3].map(|i| {
                                c.get(i).and_then(serde_json::Value::as_u64).unwrap_or(255) as u8
                            })
                        });
                    let h = (value as u32).wrapping_mul(2_654_435_761);
                    let color = color.unwrap_or([
                        (h >> 24) as u8 | 0x40,
                        (h >> 16) as u8 | 0x40,
                        (h >> 8) as u8 | 0x40,
                        255,
                    ]);
                    history.record(
                        &mut doc,
                        Edit::AddLabel(crate::core::Label {
                            id: lid,
                            name,
                            color,
                        }),
                    )?;
                    lid
                }
            };
            let rid = Id::new();
            history.record(
                &mut doc,
                Edit::AddRegion {
                    region: Region {
                        id: rid,
                        image: rec.id,
                        label: Some(label),
                        shape: Shape::Mask,
                        author: author.clone(),
                        prompt: None,
                        status: Status::Accepted,
                        confidence: None,
                        created_ms: t,
                        modified_ms: t,
                    },
                    mask: Some(mask),
                    links: vec![],
                },
            )?;
        }
        history.commit()
    })();
    if let Err(c) = persist(&mut project, result, &author.to_string()) {
        return c;
    }
    println!(
        "imported {count} labels as mask regions on image {}",
        rec.id
    );
    0
}

/// `voxmark export --format nifti-labels`: the image's mask regions as one label map on its grid
/// and geometry (value = the label's number, [`Document::label_numbers`]; later regions win where masks overlap), with a
/// `<out>.labels.json` sidecar giving each value's name and colour.
fn export_nifti_labels(args: &ExportArgs, project: &Project, doc: &Document) -> i32 {
    let rec = match export_image(args, project) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let n = rec.size.iter().product::<usize>();
    let mut dense = vec![0u16; n];
    let mut table = BTreeMap::new();
    let numbers = doc.label_numbers();
    for r in doc
        .regions
        .values()
        .filter(|r| r.image == rec.id && r.shape == Shape::Mask && r.status != Status::Rejected)
    {
        let (Some(mask), Some(label)) = (
            doc.masks.get(&r.id),
            r.label.and_then(|l| doc.labels.get(&l)),
        ) else {
            continue;
        };
        let number = numbers.get(&label.id).copied().unwrap_or(0);
        let Ok(value) = u16::try_from(number) else {
            return user_error(format!(
                "label {:?} is number {number}, which does not fit a 16-bit label map",
                label.name
            ));
        };
        mask.paint_into(&mut dense, value);
        table.insert(
            value.to_string(),
            json!({"name": label.name, "color": label.color}),
        );
    }
    if args.format == Format::PngMask {
        if rec.size[2] != 1 {
            return user_error(format!(
                "image {} has {} slices; PNG masks are for 2D images (use nifti-labels)",
                rec.id, rec.size[2]
            ));
        }
        let (w, h) = (rec.size[0] as u32, rec.size[1] as u32);
        let written = if dense.iter().all(|&v| v < 256) {
            image::GrayImage::from_raw(w, h, dense.iter().map(|&v| v as u8).collect())
                .map(|i| i.save(&args.out))
        } else {
            image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, dense.clone())
                .map(|i| i.save(&args.out))
        };
        match written {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return user_error(format!("cannot write ({e}): {}", args.out.display()));
            }
            None => return user_error("mask size mismatch"),
        }
    } else {
        let d = rec.direction;
        let direction = [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]];
        let small = dense.iter().all(|&v| v < 256);
        let bytes: Vec<u8>;
        let values = if small {
            bytes = dense.iter().map(|&v| v as u8).collect();
            crate::io::nifti::LabelValues::U8(&bytes)
        } else {
            crate::io::nifti::LabelValues::U16(&dense)
        };
        let write = if crate::io::itk::is_itk_name(&args.out) {
            crate::io::itk::write_labels
        } else {
            crate::io::nifti::write_labels
        };
        if let Err(e) = write(
            &args.out,
            rec.size,
            rec.spacing_mm,
            rec.origin_lps_mm,
            direction,
            values,
            "voxmark label map",
        ) {
            return user_error(e);
        }
    }
    let sidecar = labels_sidecar(&args.out);
    if let Err(e) = std::fs::write(
        &sidecar,
        serde_json::to_string_pretty(&table).unwrap_or_default() + "\n",
    ) {
        return user_error(format!("cannot write ({e}): {}", sidecar.display()));
    }
    println!(
        "wrote {} label(s) to {} and {}",
        table.len(),
        args.out.display(),
        sidecar.display()
    );
    0
}

/// The one image an image-level export (`--image ID`) writes.
fn export_image(args: &ExportArgs, project: &Project) -> Result<ImageRecord, i32> {
    let records = project.images().map_err(store_error)?;
    one_image(&args.images, &records)
}

/// `voxmark export --format dicom-seg|dicom-seg-heatmap`: one DICOM image's masks (one segment per
/// label) or heatmaps (one segment per heatmap) as a DICOM SEG referencing its source instances.
fn export_dicom_seg(args: &ExportArgs, project: &Project, doc: &Document) -> i32 {
    use crate::io::dicom::seg;
    let rec = match export_image(args, project) {
        Ok(r) => r,
        Err(c) => return c,
    };
    if !rec.kind.starts_with("dicom") {
        return user_error(format!(
            "image {} is {}, not DICOM: a DICOM SEG references DICOM instances (use nifti-labels)",
            rec.id, rec.kind
        ));
    }
    let n: usize = rec.size.iter().product();
    let plane = rec.size[0] * rec.size[1];
    let mut segments = Vec::new();
    let pixels;
    let mut labelmap: Vec<u16>;
    let mut creator = None;
    if args.format == Format::DicomSegHeatmap {
        let mut maps = Vec::new();
        for h in doc.heatmaps.values().filter(|h| h.image == rec.id) {
            let k = h.slice as usize;
            if k >= rec.size[2] || h.values.is_empty() {
                continue;
            }
            let (lo, hi) = h
                .values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let span = if hi > lo { hi - lo } else { 1.0 };
            let mut m = vec![0u8; n];
            for j in 0..rec.size[1] {
                for i in 0..rec.size[0] {
                    let v = h.at_image_pixel(i, j, rec.size[0], rec.size[1]);
                    m[k * plane + j * rec.size[0] + i] =
                        (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
            let phrase = h.phrase.and_then(|p| doc.phrases.get(&p));
            segments.push(seg::Segment {
                label: phrase.map_or_else(|| format!("heatmap {}", h.id), |p| p.text.clone()),
                color: [255, 128, 0],
                algorithm: match &h.author {
                    Author::Model { name, version } => Some(format!("{name}@{version}")),
                    Author::Human(_) => None,
                },
            });
            maps.push(m);
        }
        if maps.is_empty() {
            return user_error(format!("image {} has no heatmaps", rec.id));
        }
        pixels = seg::SegPixels::Fractional(maps);
    } else {
        // One segment per label; a voxel claimed by two labels makes the SEG BINARY.
        // Segments numbered in label order (`Document::label_numbers`), from 1.
        let numbers = doc.label_numbers();
        let mut by_label: BTreeMap<(u32, crate::core::LabelId), Vec<&Region>> = BTreeMap::new();
        for r in doc
            .regions
            .values()
            .filter(|r| r.image == rec.id && r.shape == Shape::Mask && r.status != Status::Rejected)
        {
            if let Some(l) = r.label {
                let number = numbers.get(&l).copied().unwrap_or(u32::MAX);
                by_label.entry((number, l)).or_default().push(r);
            }
        }
        creator = by_label.values().flatten().find_map(|r| match &r.author {
            Author::Human(name) => Some(name.clone()),
            Author::Model { .. } => None,
        });
        // Pass 1: segment numbers per voxel in one map (and whether two labels meet), painting each
        // label into one reused buffer; only overlapping labels need a mask each (pass 2).
        labelmap = vec![0u16; n];
        let mut scratch = vec![0u16; n];
        let paint = |regions: &[&Region], into: &mut Vec<u16>| {
            into.fill(0);
            for r in regions {
                if let Some(tiles) = doc.masks.get(&r.id) {
                    tiles.paint_into(into, 1);
                }
            }
        };
        let mut overlap = false;
        let mut kept = Vec::new();
        for ((_, label), regions) in &by_label {
            let Some(l) = doc.labels.get(label) else {
                continue;
            };
            let number = segments.len() as u16 + 1;
            paint(regions, &mut scratch);
            for (v, &b) in labelmap.iter_mut().zip(&scratch) {
                if b != 0 {
                    overlap |= *v != 0;
                    *v = number;
                }
            }
            let models: Vec<String> = regions
                .iter()
                .filter_map(|r| match &r.author {
                    Author::Model { name, version } => Some(format!("{name}@{version}")),
                    Author::Human(_) => None,
                })
                .collect();
            segments.push(seg::Segment {
                label: l.name.clone(),
                color: [l.color[0], l.color[1], l.color[2]],
                // A segment is AUTOMATIC only when every region of it came from a model.
                algorithm: models
                    .first()
                    .filter(|_| models.len() == regions.len())
                    .cloned(),
            });
            kept.push(regions);
        }
        if segments.is_empty() {
            return user_error(format!("image {} has no mask regions with a label", rec.id));
        }
        pixels = if overlap {
            let masks = kept
                .iter()
                .map(|regions| {
                    paint(regions, &mut scratch);
                    scratch.iter().map(|&b| u8::from(b != 0)).collect()
                })
                .collect();
            seg::SegPixels::Binary(masks)
        } else {
            seg::SegPixels::Labelmap(&labelmap)
        };
    }
    let description = if args.format == Format::DicomSegHeatmap {
        "Voxmark heatmaps"
    } else {
        "Voxmark segmentation"
    };
    let source = seg::SegSource {
        files: &rec.files,
        size: rec.size,
        spacing_mm: rec.spacing_mm,
        origin_lps_mm: rec.origin_lps_mm,
        direction: rec.direction,
    };
    let options = seg::SegOptions {
        description,
        deidentify: args.deidentify,
        creator: creator.as_deref().filter(|_| !args.deidentify),
    };
    match seg::write(&args.out, &source, &segments, &pixels, &options) {
        Ok(s) => {
            println!(
                "wrote a {} DICOM SEG: {} segment(s), {} frame(s), {} source instance(s) referenced: {}",
                s.kind,
                s.segments,
                s.frames,
                s.referenced,
                args.out.display()
            );
            for note in &s.notes {
                eprintln!("note: {note}");
            }
            0
        }
        Err(e) => user_error(e.to_string()),
    }
}

/// The label map's values on the image's grid: nearest neighbour through patient space, so a map
/// stored with flipped or permuted axes (as TotalSegmentator writes them) lands voxel for voxel;
/// image voxels outside the map get 0. Values must be non-negative integers.
fn resample_labels(map: &crate::core::Volume, rec: &ImageRecord) -> Result<Vec<u32>, String> {
    use crate::core::geometry::Affine3;
    let d = rec.direction;
    let direction = [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]];
    let world_from_image = Affine3::from_grid(rec.origin_lps_mm, direction, rec.spacing_mm);
    let map_from_world = map.voxel_from_world();
    let size = map.size();
    let value = |n: usize| -> Option<u32> {
        let x = map.voxels().get_f64(n)?;
        (x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64).then_some(x as u32)
    };
    if map.components() != 1 {
        return Err("a label map has one value per voxel".into());
    }
    let [nx, ny, nz] = rec.size;
    let mut out = vec![0u32; nx * ny * nz];
    let (mut misaligned, mut inside) = (0usize, 0usize);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let q =
                    map_from_world.apply(world_from_image.apply([i as f64, j as f64, k as f64]));
                let r = q.map(f64::round);
                if (0..3).any(|a| (q[a] - r[a]).abs() > 1e-3) {
                    misaligned += 1;
                }
                if (0..3).any(|a| r[a] < 0.0 || r[a] >= size[a] as f64) {
                    continue;
                }
                inside += 1;
                let n = (r[2] as usize * size[1] + r[1] as usize) * size[0] + r[0] as usize;
                out[(k * ny + j) * nx + i] = value(n)
                    .ok_or_else(|| format!("voxel {r:?} is not a non-negative integer label"))?;
            }
        }
    }
    if inside == 0 {
        return Err(format!(
            "the label map does not overlap image {} in patient space",
            rec.id
        ));
    }
    if misaligned > 0 {
        eprintln!(
            "note: the label map's voxels do not fall on the image's voxel centres ({misaligned} voxels); nearest neighbour used"
        );
    }
    Ok(out)
}

/// `voxmark import --format heatmap`: a model's map for one phrase, kept at its own resolution.
fn import_heatmap(args: &ImportArgs, author: &Author) -> i32 {
    let (mut project, records, mut doc) = match open_for_edit(&args.project) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let rec = match one_image(&args.images, &records) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let volume = if crate::io::nifti::is_nifti_name(&args.file) {
        crate::io::nifti::read(&args.file, 0).map(|n| n.volume)
    } else {
        crate::io::image2d::read(&args.file)
    };
    let v = match volume {
        Ok(v) => v,
        Err(e) => return user_error(e),
    };
    if v.size()[2] != 1 || v.components() != 1 {
        return user_error(format!(
            "{}: a heatmap is one 2D map with one value per pixel, not {:?} × {}",
            args.file.display(),
            v.size(),
            v.components()
        ));
    }
    let values: Vec<f32> = (0..v.voxel_count())
        .map(|i| v.rescale().apply(v.voxels().get_f64(i).unwrap_or(f64::NAN)) as f32)
        .collect();
    let phrase = match &args.phrase {
        Some(typed) => match project.resolve(crate::store::Entity::Phrase, typed) {
            Ok(p) => Some(p),
            Err(e) => return store_error(e),
        },
        None => None,
    };
    let heatmap = crate::core::Heatmap {
        id: Id::new(),
        image: rec.id,
        phrase,
        author: author.clone(),
        slice: args.slice,
        width: v.size()[0],
        height: v.size()[1],
        values,
        created_ms: now_ms(),
        prompt: None,
    };
    let mut history = History::new(1 << 30);
    let result = (|| {
        history.begin(&format!("import heatmap {}", args.file.display()))?;
        history.record(&mut doc, Edit::AddHeatmap(heatmap))?;
        history.commit()
    })();
    if let Err(c) = persist(&mut project, result, &author.to_string()) {
        return c;
    }
    println!(
        "imported a {}×{} heatmap onto image {}",
        v.size()[0],
        v.size()[1],
        rec.id
    );
    0
}

/// Opens a project for an edit: the project, its image records and its document.
pub(crate) fn open_for_edit(
    path: &std::path::Path,
) -> Result<(Project, Vec<ImageRecord>, Document), i32> {
    let project = Project::open(path).map_err(store_error)?;
    let records = project.images().map_err(store_error)?;
    let doc = project.load_document().map_err(store_error)?;
    Ok((project, records, doc))
}

/// Commits what a history transaction produced (nothing when it was empty); errors become exit codes.
pub(crate) fn persist(
    project: &mut Project,
    result: Result<Option<crate::core::Transaction>, crate::core::EditError>,
    who: &str,
) -> Result<(), i32> {
    match result {
        Ok(Some(tx)) => project.commit(&tx, who).map(|_| ()).map_err(store_error),
        Ok(None) => Ok(()),
        Err(e) => Err(user_error(e)),
    }
}
