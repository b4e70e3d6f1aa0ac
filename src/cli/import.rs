//! `voxmark import`: grounded reports, box datasets, label maps and heatmaps into a project.

use crate::core::annotation::{Author, Grounding, Shape, Status};
use crate::core::{Edit, History, Id, ImageId, MaskTiles, now_ms};
use crate::io::radfact::{self, Pair, RadFactFile, Sentence};
use crate::io::{datasets, ms_cxr, padchest_gr};
use crate::store::{ImageRecord, Project};
use std::collections::BTreeMap;

use super::error::CliError;
use super::grounding::{
    Format, ImportArgs, one_image, open_for_edit, parse_author, persist, resample_labels,
};
use crate::core::builder::{EditBuilder, NewPhrase, NewRegion};

/// `voxmark import`: refuses a file this project has had imported before (same content, format
/// and target) unless `--again`, so that running an import twice does not double a dataset.
pub fn run(args: &ImportArgs) -> Result<(), CliError> {
    let hash = crate::io::content_hash(std::slice::from_ref(&args.file))
        .map_err(|e| CliError::user(e.to_string()))?;
    let mut target: Vec<&str> = args.images.iter().map(String::as_str).collect();
    target.sort_unstable();
    let tag = format!(
        "[import {:?} content {} → {}{}]",
        args.format,
        &hash[..hash.len().min(32)],
        if target.is_empty() {
            "by file names".to_string()
        } else {
            target.join(",")
        },
        args.phrase
            .as_deref()
            .map_or_else(String::new, |p| format!(" phrase {p}"))
    );
    if !args.again
        && let Some(before) = Project::open(&args.project)?.change_with_detail(&tag)?
    {
        return Err(CliError::user(format!(
            "{} was imported into this project before ({} by {}, revision {}: \"{}\"); importing it again would add its annotations a second time — pass --again to do that",
            args.file.display(),
            crate::core::format_utc_ms(before.at_ms),
            before.who,
            before.revision,
            before.detail.as_deref().unwrap_or_default()
        )));
    }
    let args = &ImportArgs {
        tag,
        ..args.clone()
    };
    if args.format == Format::DicomSr {
        return super::sr::import(args);
    }
    if args.format == Format::PadchestGr {
        return import_padchest_gr(args);
    }
    let truth = parse_author(&args.truth_author)?;
    let pred = parse_author(&args.pred_author)?;
    if matches!(args.format, Format::NiftiLabels | Format::PngMask) {
        return import_nifti_labels(args, &truth);
    }
    if args.format == Format::Heatmap {
        return import_heatmap(args, &pred);
    }
    if matches!(args.format, Format::DicomSeg | Format::DicomSegHeatmap) {
        return Err(CliError::user(
            "DICOM SEG is an export format here; import masks as nifti-labels or png-mask",
        ));
    }
    let rows = match args.format {
        Format::Radfact
        | Format::NiftiLabels
        | Format::PngMask
        | Format::Heatmap
        | Format::DicomSeg
        | Format::DicomSegHeatmap
        | Format::DicomSr
        | Format::PadchestGr => None,
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
        Format::Coco => Some(crate::io::coco::read_boxes(&args.file).map_err(|e| e.to_string())),
    };
    match rows {
        Some(Ok(rows)) => return import_box_rows(args, rows, &truth),
        Some(Err(e)) => return Err(CliError::user(e)),
        None => {}
    }
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            return Err(CliError::user(format!(
                "cannot read ({e}): {}",
                args.file.display()
            )));
        }
    };
    let file = radfact::parse(&text, &args.file).map_err(CliError::user)?;
    let mut project = Project::open(&args.project)?;
    let mut doc = project.load_document()?;
    let reports = match &file {
        RadFactFile::Report(_) => 1,
        RadFactFile::Pairs(p) => p.len(),
    };
    if args.images.len() != reports {
        return Err(CliError::user(format!(
            "{} holds {reports} report(s); give as many --image ids ({} given)",
            args.file.display(),
            args.images.len()
        )));
    }
    let images = super::project::resolve_images(&project, &args.images)?;
    let pairs: Vec<Pair> = match file {
        RadFactFile::Report(s) => vec![Pair {
            prediction: vec![],
            target: s,
        }],
        RadFactFile::Pairs(p) => p,
    };
    let mut history = History::new(1 << 30);
    history.begin(&args.transaction_name("import radfact"))?;
    let mut build = EditBuilder::new(&mut doc, &mut history, now_ms());
    // The reference text becomes the image's report when it has none, so spans can point into it.
    for (pair, &image) in pairs.iter().zip(&images) {
        let text: Vec<&str> = pair.target.iter().map(|s| s.text.as_str()).collect();
        build.report_when_missing(image, text.join(" "))?;
    }
    for (pair, &image) in pairs.iter().zip(&images) {
        // Reference sentences are spans of the report; predicted sentences are free phrases.
        report_phrases(
            &mut build,
            image,
            &pair.target,
            &truth,
            Status::Accepted,
            true,
        )?;
        report_phrases(
            &mut build,
            image,
            &pair.prediction,
            &pred,
            Status::Proposed,
            false,
        )?;
    }
    let tx = history
        .commit()?
        .ok_or_else(|| CliError::user("nothing to import"))?;
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
        return Err(CliError::from(e));
    }
    println!(
        "imported {phrases} phrases and {regions} boxes into {} image(s)",
        args.images.len()
    );
    Ok(())
}

/// One grounded report's sentences on an image as phrases (with spans where the text occurs in the
/// image's report, in order, when `with_spans`) and their boxes as regions, all by `author`.
fn report_phrases(
    build: &mut EditBuilder<'_>,
    image: ImageId,
    sentences: &[Sentence],
    author: &Author,
    status: Status,
    with_spans: bool,
) -> Result<(), CliError> {
    let size = build.doc().images[&image].size;
    let mut search_from = 0usize; // in characters
    for s in sentences {
        let mut links = Vec::new();
        for b in s.boxes.iter().flatten() {
            let (min, max) = radfact::to_pixels(*b, size[0], size[1]);
            links.push(build.region(NewRegion {
                image,
                label: None,
                shape: Shape::Box2d { slice: 0, min, max },
                author: author.clone(),
                status,
                mask: None,
                id: None,
                prompt: matches!(author, Author::Model { .. }).then(|| s.text.clone()),
                reported: None,
            })?);
        }
        // A span only where the sentence occurs verbatim in the report (after the previous one).
        let span = if with_spans {
            build.span_in_report(image, &s.text, search_from)
        } else {
            None
        };
        if let Some((_, end)) = span {
            search_from = end;
        }
        build.phrase(NewPhrase {
            image,
            text: &s.text,
            author,
            span,
            category: None,
            links,
            grounding: Some(if s.boxes.is_some() {
                Grounding::Annotated
            } else {
                Grounding::NoVisible
            }),
        })?;
    }
    Ok(())
}

/// PadChest-GR's two readers, as authors of their boxes (and of the phrases holding them).
pub const PADCHEST_GR_READERS: [&str; 2] =
    ["human:padchest-gr-reader1", "human:padchest-gr-reader2"];

/// `voxmark import --format padchest-gr`: each study's finding sentences onto its image (by
/// `ImageID`), in one undo step. The sentences joined become the report of an image that has none,
/// so that each phrase is a span of it; every finding gets a phrase of the first reader (its boxes,
/// or "no visible grounding" for an absent finding or one left unboxed), and a second phrase of the
/// second reader where that reader drew boxes. Studies whose image is not in the project are listed;
/// when none is, nothing is written and the exit is 1.
fn import_padchest_gr(args: &ImportArgs) -> Result<(), CliError> {
    let file = padchest_gr::read(&args.file).map_err(|e| CliError::user(e.to_string()))?;
    let (mut project, records, mut doc) = open_for_edit(&args.project)?;
    let readers = [
        parse_author(PADCHEST_GR_READERS[0])?,
        parse_author(PADCHEST_GR_READERS[1])?,
    ];
    let index = ImageIndex::new(&records);
    let mut placed = Vec::new();
    let mut unmatched = Vec::new();
    for s in &file.studies {
        let stem = std::path::Path::new(&s.image_id)
            .file_stem()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match index.find(&stem, &s.image_id) {
            Some(id) => placed.push((id, s)),
            None => unmatched.push(s.image_id.as_str()),
        }
    }
    if placed.is_empty() {
        return Err(CliError::user(format!(
            "{}: none of the {} studies' images is in the project (first: {}); add them with `voxmark add` first",
            args.file.display(),
            file.studies.len(),
            unmatched.first().copied().unwrap_or("none")
        )));
    }
    let (mut phrases, mut absent, mut boxes) = (0usize, 0usize, [0usize; 2]);
    let mut unstored = 0usize; // findings with locations or a progression, which have no place
    let mut history = History::new(1 << 30);
    let result = (|| {
        history.begin(&args.transaction_name("import PadChest-GR"))?;
        let mut build = EditBuilder::new(&mut doc, &mut history, now_ms());
        for (image, study) in &placed {
            let text: Vec<&str> = study.findings.iter().map(|f| f.sentence.as_str()).collect();
            build.report_when_missing(*image, text.join(" "))?;
        }
        for (image, study) in &placed {
            let image = *image;
            let size = build.doc().images[&image].size;
            let mut search_from = 0usize;
            for f in &study.findings {
                let category = (!f.labels.is_empty()).then(|| f.labels.join(", "));
                // The finding's label names its boxes (an absent finding has none to name).
                let boxed = !f.boxes.is_empty() || !f.extra_boxes.is_empty();
                let label = match category.as_deref().filter(|_| boxed) {
                    Some(name) => Some(build.label(name, None)?),
                    None => None,
                };
                let span = build.span_in_report(image, &f.sentence, search_from);
                if let Some((_, end)) = span {
                    search_from = end;
                }
                if f.abnormal == Some(false) {
                    absent += 1;
                }
                if !f.locations.is_empty() || f.progression.is_some() {
                    unstored += 1;
                }
                for (n, (reader, reader_boxes)) in
                    readers.iter().zip([&f.boxes, &f.extra_boxes]).enumerate()
                {
                    if n == 1 && reader_boxes.is_empty() {
                        continue;
                    }
                    let mut links = Vec::with_capacity(reader_boxes.len());
                    for b in reader_boxes {
                        let (min, max) = radfact::to_pixels(*b, size[0], size[1]);
                        links.push(build.region(NewRegion {
                            image,
                            label,
                            shape: Shape::Box2d { slice: 0, min, max },
                            author: reader.clone(),
                            status: Status::Accepted,
                            mask: None,
                            id: None,
                            prompt: None,
                            reported: None,
                        })?);
                    }
                    boxes[n] += links.len();
                    let grounding = if links.is_empty() {
                        Grounding::NoVisible
                    } else {
                        Grounding::Annotated
                    };
                    build.phrase(NewPhrase {
                        image,
                        text: &f.sentence,
                        author: reader,
                        span,
                        category: category.clone(),
                        links,
                        grounding: Some(grounding),
                    })?;
                    phrases += 1;
                }
            }
        }
        history.commit()
    })();
    persist(&mut project, result, PADCHEST_GR_READERS[0])?;
    println!(
        "imported {} studies: {phrases} phrases ({absent} absent findings), {} boxes of reader 1 and {} of reader 2; {} study(ies) whose image is not in the project skipped",
        placed.len(),
        boxes[0],
        boxes[1],
        unmatched.len()
    );
    for id in unmatched.iter().take(5) {
        eprintln!("  not in the project: {id}");
    }
    if unmatched.len() > 5 {
        eprintln!("  … and {} more", unmatched.len() - 5);
    }
    if file.empty_boxes > 0 {
        eprintln!(
            "note: {} box(es) with no area inside the image left out",
            file.empty_boxes
        );
    }
    if file.clamped_edges > 0 {
        eprintln!(
            "note: {} box edge(s) a little outside the image were clamped to its border",
            file.clamped_edges
        );
    }
    if unstored > 0 {
        eprintln!(
            "note: the anatomical locations and progression of {unstored} finding(s) are not kept (the project has no place for them); the Spanish sentences neither"
        );
    }
    Ok(())
}

/// The project's images by their files' stems and names, for dataset rows that name their image:
/// built once, so that an import of n rows into a project of m images reads each file name once
/// (not n × m times).
pub(super) struct ImageIndex {
    ids: Vec<ImageId>,
    by_stem: std::collections::HashMap<String, usize>,
    by_name: std::collections::HashMap<String, usize>,
}

impl ImageIndex {
    /// Indexes `records` (an earlier record wins where two share a file name).
    pub(super) fn new(records: &[ImageRecord]) -> Self {
        let mut index = ImageIndex {
            ids: records.iter().map(|r| r.id).collect(),
            by_stem: Default::default(),
            by_name: Default::default(),
        };
        for (n, r) in records.iter().enumerate() {
            for f in &r.files {
                if let Some(stem) = f.file_stem() {
                    index
                        .by_stem
                        .entry(stem.to_string_lossy().into_owned())
                        .or_insert(n);
                }
                if let Some(name) = f.file_name() {
                    index
                        .by_name
                        .entry(name.to_string_lossy().into_owned())
                        .or_insert(n);
                }
            }
        }
        index
    }

    /// The image a row names: by file stem (`dicom_id`, when not empty) or by the file name of
    /// `path`; the first image in project order that matches either.
    pub(super) fn find(&self, dicom_id: &str, path: &str) -> Option<ImageId> {
        let by_stem = (!dicom_id.is_empty())
            .then(|| self.by_stem.get(dicom_id))
            .flatten();
        let by_name = std::path::Path::new(path)
            .file_name()
            .and_then(|n| self.by_name.get(n.to_string_lossy().as_ref()));
        by_stem
            .into_iter()
            .chain(by_name)
            .min()
            .map(|&n| self.ids[n])
    }
}

/// Box rows (any dataset) into the project: rows grouped by (image, annotator, phrase text,
/// category) into phrases with their boxes, in one undo step; a row without a box is an explicit
/// "no visible grounding" phrase. Rows whose image is not in the project are counted and reported.
pub(super) fn import_box_rows(
    args: &ImportArgs,
    rows: Vec<datasets::BoxRow>,
    author: &Author,
) -> Result<(), CliError> {
    let (mut project, records, mut doc) = open_for_edit(&args.project)?;
    let index = ImageIndex::new(&records);
    type Key = (ImageId, String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<&datasets::BoxRow>> = BTreeMap::new();
    let mut unmatched: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        let who = match &r.annotator {
            Some(a) => format!("human:{a}"),
            None => author.to_string(),
        };
        match index.find(r.stem.as_deref().unwrap_or(""), &r.file_name) {
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
    let mut history = History::new(1 << 30);
    let mut boxes_added = 0usize;
    let result = (|| {
        history.begin(&args.transaction_name(&format!("import {:?}", args.format)))?;
        let mut build = EditBuilder::new(&mut doc, &mut history, now_ms());
        // A grounding caption becomes the report of an image that has none, so its spans hold.
        for ((image, ..), group) in &groups {
            if let Some(caption) = group.iter().find_map(|r| r.caption.clone()) {
                build.report_when_missing(*image, caption)?;
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
                Some(name) => Some(build.label(name, None)?),
                None => None,
            };
            let size = build.doc().images[image].size;
            let report_chars = build.doc().images[image]
                .report
                .as_deref()
                .map_or(0, |r| r.chars().count());
            let mut links = Vec::new();
            for r in group {
                let Some(edges) = r.edges else { continue };
                let (min, max) = datasets::edges_to_pixels(edges, r.frame, size[0], size[1]);
                links.push(build.region(NewRegion {
                    image: *image,
                    label,
                    shape: Shape::Box2d { slice: 0, min, max },
                    author: who.clone(),
                    status: Status::Accepted,
                    mask: None,
                    id: None,
                    prompt: None,
                    reported: None,
                })?);
                boxes_added += 1;
            }
            let span = group
                .iter()
                .find_map(|r| r.span)
                .filter(|&(a, b)| a < b && b <= report_chars)
                .or_else(|| build.span_in_report(*image, text, 0));
            build.phrase(NewPhrase {
                image: *image,
                text,
                author: &who,
                span,
                category: category.clone(),
                links,
                grounding: None,
            })?;
        }
        history.commit()
    })();
    let skipped: usize = unmatched.values().sum();
    persist(&mut project, result, &author.to_string())?;
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
    Ok(())
}

/// `voxmark import --format nifti-labels`: each non-zero value of the label map becomes a mask region
/// (with a label of that value's id and name) on the image, whose grid the map must share.
pub(super) fn import_nifti_labels(args: &ImportArgs, author: &Author) -> Result<(), CliError> {
    let (mut project, records, mut doc) = open_for_edit(&args.project)?;
    let rec = one_image(&args.images, &records)?;
    let dense = if args.format == Format::PngMask {
        // A 2D mask has no geometry of its own: it must have the image's pixel grid.
        let m = crate::io::image2d::read(&args.file).map_err(CliError::user)?;
        if m.size() != rec.size || m.components() != 1 {
            return Err(CliError::user(format!(
                "{}: a {}×{} mask with {} component(s) does not fit image {} ({}×{}×{})",
                args.file.display(),
                m.size()[0],
                m.size()[1],
                m.components(),
                rec.id,
                rec.size[0],
                rec.size[1],
                rec.size[2]
            )));
        }
        (0..m.voxels().len())
            .map(|i| m.voxels().get_f64(i).unwrap_or(0.0) as u32)
            .collect()
    } else {
        let map = crate::io::label_map::read(&args.file)?;
        match resample_labels(&map, &rec) {
            Ok(d) => d,
            Err(why) => return Err(CliError::user(format!("{}: {why}", args.file.display()))),
        }
    };
    let masks = MaskTiles::split_labels(rec.size, &dense);
    let names = crate::io::label_map::read_table(&args.file)?;
    let mut history = History::new(1 << 30);
    let count = masks.len();
    let result = (|| {
        history.begin(&args.transaction_name("import label map"))?;
        let mut build = EditBuilder::new(&mut doc, &mut history, now_ms());
        for (value, mask) in masks {
            let entry = u32::try_from(value).ok().and_then(|v| names.get(&v));
            let name = entry.map_or_else(|| format!("label {value}"), |e| e.name.clone());
            let h = (value as u32).wrapping_mul(2_654_435_761);
            let color = entry.map_or(
                [
                    (h >> 24) as u8 | 0x40,
                    (h >> 16) as u8 | 0x40,
                    (h >> 8) as u8 | 0x40,
                    255,
                ],
                |e| e.color,
            );
            let label = build.label(&name, Some(color))?;
            build.region(NewRegion {
                image: rec.id,
                label: Some(label),
                shape: Shape::Mask,
                author: author.clone(),
                status: Status::Accepted,
                mask: Some(mask),
                id: None,
                prompt: None,
                reported: None,
            })?;
        }
        history.commit()
    })();
    persist(&mut project, result, &author.to_string())?;
    println!(
        "imported {count} labels as mask regions on image {}",
        rec.id
    );
    Ok(())
}

/// `voxmark import --format heatmap`: a model's map for one phrase, kept at its own resolution.
pub(super) fn import_heatmap(args: &ImportArgs, author: &Author) -> Result<(), CliError> {
    let (mut project, records, mut doc) = open_for_edit(&args.project)?;
    let rec = one_image(&args.images, &records)?;
    let volume = if crate::io::nifti::is_nifti_name(&args.file) {
        crate::io::nifti::read(&args.file, 0).map(|n| n.volume)
    } else {
        crate::io::image2d::read(&args.file)
    };
    let v = volume.map_err(CliError::user)?;
    if v.size()[2] != 1 || v.components() != 1 {
        return Err(CliError::user(format!(
            "{}: a heatmap is one 2D map with one value per pixel, not {:?} × {}",
            args.file.display(),
            v.size(),
            v.components()
        )));
    }
    let values: Vec<f32> = (0..v.voxel_count())
        .map(|i| v.rescale().apply(v.voxels().get_f64(i).unwrap_or(f64::NAN)) as f32)
        .collect();
    let phrase = match &args.phrase {
        Some(typed) => match project.resolve(crate::store::Entity::Phrase, typed) {
            Ok(p) => Some(p),
            Err(e) => return Err(CliError::from(e)),
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
        history.begin(&args.transaction_name("import heatmap"))?;
        history.record(&mut doc, Edit::AddHeatmap(heatmap))?;
        history.commit()
    })();
    persist(&mut project, result, &author.to_string())?;
    println!(
        "imported a {}×{} heatmap onto image {}",
        v.size()[0],
        v.size()[1],
        rec.id
    );
    Ok(())
}
