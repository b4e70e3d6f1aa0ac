//! `voxmark export` of an image's masks and heatmaps: label maps (NIfTI, NRRD, MetaImage, PNG) and
//! DICOM SEG.

use crate::core::Document;
use crate::core::annotation::{Author, Region, Shape, Status};
use crate::store::Project;
use std::collections::BTreeMap;

use super::error::CliError;
use super::grounding::{ExportArgs, Format, direction_of, export_image, source_grid};

/// `voxmark export --format nifti-labels`: the image's mask regions as one label map on its grid
/// and geometry (value = the label's number, [`Document::label_numbers`]; later regions win where masks overlap), with a
/// `<out>.labels.json` sidecar giving each value's name and colour.
pub(super) fn export_nifti_labels(
    args: &ExportArgs,
    project: &Project,
    doc: &Document,
) -> Result<(), CliError> {
    let rec = export_image(args, project)?;
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
            return Err(CliError::user(format!(
                "label {:?} is number {number}, which does not fit a 16-bit label map",
                label.name
            )));
        };
        mask.paint_into(&mut dense, value);
        table.insert(
            u32::from(value),
            crate::io::label_map::LabelEntry {
                name: label.name.clone(),
                color: label.color,
            },
        );
    }
    if args.format == Format::PngMask {
        if rec.size[2] != 1 {
            return Err(CliError::user(format!(
                "image {} has {} slices; PNG masks are for 2D images (use nifti-labels)",
                rec.id, rec.size[2]
            )));
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
                return Err(CliError::user(format!(
                    "cannot write ({e}): {}",
                    args.out.display()
                )));
            }
            None => return Err(CliError::user("mask size mismatch")),
        }
    } else {
        let direction = direction_of(&rec);
        let small = dense.iter().all(|&v| v < 256);
        let bytes: Vec<u8>;
        let values = if small {
            bytes = dense.iter().map(|&v| v as u8).collect();
            crate::io::nifti::LabelValues::U8(&bytes)
        } else {
            crate::io::nifti::LabelValues::U16(&dense)
        };
        crate::io::label_map::write(
            &args.out,
            rec.size,
            rec.spacing_mm,
            rec.origin_lps_mm,
            direction,
            values,
            "voxmark label map",
        )?;
    }
    let sidecar = crate::io::label_map::write_table(&args.out, &table)?;
    println!(
        "wrote {} label(s) to {} and {}",
        table.len(),
        args.out.display(),
        sidecar.display()
    );
    Ok(())
}

/// `voxmark export --format dicom-seg|dicom-seg-heatmap`: one DICOM image's masks (one segment per
/// label) or heatmaps (one segment per heatmap) as a DICOM SEG referencing its source instances.
pub(super) fn export_dicom_seg(
    args: &ExportArgs,
    project: &Project,
    doc: &Document,
) -> Result<(), CliError> {
    use crate::io::dicom::seg;
    let rec = export_image(args, project)?;
    if !rec.kind.starts_with("dicom") {
        return Err(CliError::user(format!(
            "image {} is {}, not DICOM: a DICOM SEG references DICOM instances (use nifti-labels)",
            rec.id, rec.kind
        )));
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
            let mut m = vec![0u8; n];
            let fractions =
                seg::min_max_fractions(&h.values, &h.on_image_grid(rec.size[0], rec.size[1]));
            m[k * plane..(k + 1) * plane].copy_from_slice(&fractions);
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
            return Err(CliError::user(format!("image {} has no heatmaps", rec.id)));
        }
        pixels = seg::SegPixels::Fractional(maps);
    } else {
        // One segment per label, numbered in label order (`Document::label_numbers`), from 1.
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
        // label into one reused buffer; only BINARY needs a mask each (pass 2).
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
            return Err(CliError::user(format!(
                "image {} has no mask regions with a label",
                rec.id
            )));
        }
        if overlap && args.seg_type == super::grounding::SegType::Labelmap {
            return Err(CliError::user(format!(
                "image {}'s masks of different labels share voxels: a LABELMAP SEG holds one label per voxel (write --seg-type binary)",
                rec.id
            )));
        }
        pixels = if overlap || args.seg_type == super::grounding::SegType::Binary {
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
    let source = source_grid(&rec);
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
            Ok(())
        }
        Err(e) => Err(CliError::user(e.to_string())),
    }
}
