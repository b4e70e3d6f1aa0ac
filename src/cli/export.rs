//! `voxmark export`: RadFact grounded reports, MS-CXR (CSV and JSON) and COCO with grounding, split
//! by patient on request; label maps and DICOM SEG are in `masks.rs`, DICOM SR in `sr.rs`.

use crate::core::annotation::{Author, Grounding, Phrase, Shape};
use crate::core::{Document, ImageId};
use crate::io::radfact::{self, Pair, RadFactFile, Sentence};
use crate::io::{ms_cxr, split};
use crate::store::{ImageRecord, Project};
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::CliError;
use super::grounding::{ExportArgs, Format, parse_author};
use super::masks::{export_dicom_seg, export_nifti_labels};

/// `voxmark export`.
pub fn run(args: &ExportArgs) -> Result<(), CliError> {
    if args.format == Format::DicomSr {
        return super::sr::export(args);
    }
    let truth = parse_author(&args.truth_author)?;
    let pred = args.pred_author.as_deref().map(parse_author).transpose()?;
    let project = Project::open(&args.project)?;
    let doc = project.load_document()?;
    if args.deidentify
        && !matches!(
            args.format,
            Format::DicomSeg | Format::DicomSegHeatmap | Format::DicomSr
        )
    {
        return Err(CliError::user(
            "--deidentify is for DICOM SEG exports; the other formats hold file names, boxes and the \
             report text, not DICOM patient attributes",
        ));
    }
    if args.split.is_some()
        && !matches!(
            args.format,
            Format::MsCxr | Format::MsCxrJson | Format::Coco | Format::Radfact
        )
    {
        return Err(CliError::user(
            "--split is for the dataset exports (ms-cxr, coco, radfact); the mask exports hold one \
             image each",
        ));
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
            return Err(CliError::user(format!(
                "{other:?} is an import format; export to ms-cxr, coco or radfact"
            )));
        }
    }
    let images: Vec<ImageId> = if args.images.is_empty() {
        doc.images
            .keys()
            .copied()
            .filter(|i| doc.phrases.values().any(|p| p.image == *i))
            .collect()
    } else {
        super::project::resolve_images(&project, &args.images)?
    };
    for image in &images {
        if !doc.images.contains_key(image) {
            return Err(CliError::user(format!(
                "no image {image} in {}",
                args.project.display()
            )));
        }
    }
    let splits = project
        .images()
        .map_err(CliError::from)
        .and_then(|records| splits_of(args, &records, &images))?;
    for (out, images) in split_outputs(&args.out, &images, splits.as_ref()) {
        write_radfact(&doc, &images, &truth, pred.as_ref(), &out)?;
    }
    Ok(())
}

/// A phrase's sentence for export: its text and its boxes by `author` (normalised), `null` when it
/// has none.
pub(super) fn sentence_of(
    doc: &Document,
    p: &Phrase,
    author: &Author,
    size: [usize; 3],
) -> Sentence {
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

pub(super) fn phrases_by(doc: &Document, image: ImageId, author: &Author) -> Vec<Phrase> {
    let mut v: Vec<Phrase> = doc
        .phrases
        .values()
        .filter(|p| p.image == image && &p.author == author)
        .cloned()
        .collect();
    v.sort_by_key(|p| (p.span.map_or(usize::MAX, |s| s.0), p.id));
    v
}

/// One RadFact file of `images`: pairs when there is a prediction author or several images.
pub(super) fn write_radfact(
    doc: &Document,
    images: &[ImageId],
    truth: &Author,
    pred: Option<&Author>,
    out: &std::path::Path,
) -> Result<(), CliError> {
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
    let text =
        serde_json::to_string_pretty(&radfact::to_json(&file)).map_err(CliError::internal)?;
    if let Err(e) = std::fs::write(out, text + "\n") {
        return Err(CliError::user(format!(
            "cannot write ({e}): {}",
            out.display()
        )));
    }
    println!("wrote {} report(s) to {}", images.len(), out.display());
    Ok(())
}

/// With `--split`: the split of each of `images` (by patient), after printing how many patients and
/// images each split got and where the patient keys came from. Patient keys are never printed.
pub(super) fn splits_of(
    args: &ExportArgs,
    records: &[ImageRecord],
    images: &[ImageId],
) -> Result<Option<BTreeMap<ImageId, String>>, CliError> {
    let Some(text) = &args.split else {
        return Ok(None);
    };
    let spec: split::SplitSpec = text.parse().map_err(CliError::user)?;
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
pub(super) fn split_outputs(
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

/// The deepest folder that holds every one of `files` (empty when they share none).
pub(super) fn common_folder(files: &[&std::path::Path]) -> PathBuf {
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

/// The project's images and, in the project's order, the ids of those `--image` asks for (all of
/// them when it names none).
fn asked_images(
    args: &ExportArgs,
    project: &Project,
) -> Result<(Vec<ImageRecord>, Vec<ImageId>), CliError> {
    let records = project.images()?;
    let wanted = super::project::resolve_images(project, &args.images)?;
    let asked = records
        .iter()
        .map(|r| r.id)
        .filter(|id| wanted.is_empty() || wanted.contains(id))
        .collect();
    Ok((records, asked))
}

/// `voxmark export --format ms-cxr`: one row per box of the reference author, in each image's own
/// pixel frame.
pub(super) fn export_ms_cxr(
    args: &ExportArgs,
    project: &Project,
    doc: &Document,
    author: &Author,
) -> Result<(), CliError> {
    let (records, chosen) = asked_images(args, project)?;
    let splits = splits_of(args, &records, &chosen)?;
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
                    return Err(CliError::user(format!(
                        "image {} is not under --root {}: {}",
                        rec.id,
                        root.display(),
                        f.display()
                    )));
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
        return Err(CliError::user(format!(
            "nothing to write: no phrase by {author} on the {} image(s) has a box (MS-CXR rows are boxes)",
            chosen.len()
        )));
    }
    let written = if args.format == Format::MsCxrJson {
        ms_cxr::write_json(&args.out, &rows)
    } else {
        ms_cxr::write(&args.out, &rows)
    };
    if let Err(e) = written {
        return Err(CliError::user(e));
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
    Ok(())
}

/// `voxmark export --format coco`: COCO with grounding. One image per project image with its report
/// as `caption`; one annotation per box of the reference author whose phrase is a span of the report,
/// with `tokens_positive = [[start, end]]` (characters) and the phrase text; categories from the
/// phrases' categories.
pub(super) fn export_coco(
    args: &ExportArgs,
    project: &Project,
    doc: &Document,
    author: &Author,
) -> Result<(), CliError> {
    // Images with a report, or with phrases of the author (their caption is built from them).
    let (records, asked) = asked_images(args, project)?;
    let chosen: Vec<ImageId> = asked
        .iter()
        .copied()
        .filter(|id| {
            doc.images.get(id).is_some_and(|i| i.report.is_some())
                || !phrases_by(doc, *id, author).is_empty()
        })
        .collect();
    if chosen.is_empty() {
        return Err(CliError::user(format!(
            "nothing to export: none of the {} image(s) has a report or a phrase by {author}; no file written",
            asked.len()
        )));
    }
    let left_out = asked.len() - chosen.len();
    if left_out > 0 {
        println!("{left_out} image(s) without a report or a phrase by {author} left out");
    }
    let splits = splits_of(args, &records, &chosen)?;
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
        write_coco(doc, &subset, author, &categories, &out)?;
    }
    Ok(())
}

/// The caption of an image without a report: its phrases in order, joined with ". ", and each
/// phrase's character span in it.
pub(super) fn caption_from_phrases(phrases: &[Phrase]) -> (String, Vec<(usize, usize)>) {
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
pub(super) fn write_coco(
    doc: &Document,
    records: &[&ImageRecord],
    author: &Author,
    categories: &BTreeMap<String, usize>,
    out_path: &std::path::Path,
) -> Result<(), CliError> {
    use crate::io::coco;
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
                    annotations.push(coco::Annotation {
                        id: annotations.len() + 1,
                        image_id: coco_image,
                        category_id: category,
                        bbox: [x, y, w, h],
                        area: (w * h * 1e6).round() / 1e6,
                        iscrowd: 0,
                        tokens_positive: vec![[start, end]],
                        phrase: phrase.clone(),
                        label_text: p.text.clone(),
                    });
                }
            }
        }
        images.push(coco::Image {
            id: coco_image,
            file_name,
            width: rec.size[0],
            height: rec.size[1],
            caption,
        });
    }
    let category_list: Vec<coco::Category> = categories
        .iter()
        .map(|(name, &id)| coco::Category {
            id,
            name: name.clone(),
        })
        .collect();
    coco::write(out_path, &images, &annotations, &category_list).map_err(CliError::user)?;
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
    Ok(())
}
