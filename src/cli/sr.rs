//! `voxmark export|import --format dicom-sr`: an image's regions as a DICOM SR TID 1500
//! Measurement Report (with a DICOM SEG beside it for mask regions), and such reports read back
//! as regions with their labels, phrases and authors (`io::dicom::sr`).

use super::error::CliError;
use super::grounding::{ExportArgs, ImportArgs, export_image, source_grid};
use crate::core::annotation::{Author, Region, Shape, Status};
use crate::core::builder::{EditBuilder, NewPhrase, NewRegion};
use crate::core::now_ms;
use crate::core::{Edit, History, Id, ImageId, MaskTiles, Reported, ReportedValue};
use crate::io::dicom::seg;
use crate::io::dicom::sr::{self, Geometry, Group, Observer, PlanarTool, ReadGeometry};
use crate::store::{ImageRecord, Project};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where the SEG of a report's mask regions is written: `<out>` with `.seg.dcm` for its extension.
pub fn seg_path_of(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.seg.dcm"))
}

/// `voxmark export --format dicom-sr --image ID [--truth-author A]`.
pub fn export(args: &ExportArgs) -> Result<(), CliError> {
    let author: Author = args.truth_author.parse().map_err(CliError::user)?;
    let project = Project::open(&args.project)?;
    let doc = project.load_document()?;
    let rec = export_image(args, &project)?;
    if !rec.kind.starts_with("dicom") {
        return Err(CliError::user(format!(
            "image {} is {}, not DICOM: a DICOM SR references DICOM instances",
            rec.id, rec.kind
        )));
    }
    let on_image: Vec<&Region> = doc.regions.values().filter(|r| r.image == rec.id).collect();
    let mut regions: Vec<&Region> = on_image
        .iter()
        .copied()
        .filter(|r| r.author == author && r.status != Status::Rejected)
        .collect();
    if regions.is_empty() {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for r in &on_image {
            *by.entry(r.author.to_string()).or_default() += 1;
        }
        let list = by
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(CliError::user(format!(
            "image {} has no regions by {author} to report (choose one with --truth-author; regions on it by: {})",
            rec.id,
            if list.is_empty() { "nobody" } else { &list }
        )));
    }
    regions.sort_by_key(|r| (r.created_ms, r.id));
    let rejected = on_image
        .iter()
        .filter(|r| r.author == author && r.status == Status::Rejected)
        .count();

    let (nx, ny, nz) = (rec.size[0], rec.size[1], rec.size[2]);
    let n = nx * ny * nz;
    let voxel_mm3 = rec.spacing_mm.iter().product::<f64>();
    let mut groups = Vec::new();
    let mut seg_segments = Vec::new();
    let mut seg_masks: Vec<Vec<u8>> = Vec::new();
    let mut left_out_3d = 0usize;
    let mut left_out_oblique = 0usize;
    let mut stale_reported = 0usize;
    let centre = |p: [f64; 2]| [p[0] + 0.5, p[1] + 0.5];
    for r in &regions {
        let label = r.label.and_then(|l| doc.labels.get(&l));
        let comments: Vec<String> = doc
            .phrases_of(r.id)
            .filter_map(|p| doc.phrases.get(&p))
            .map(|p| p.text.clone())
            .collect();
        let algorithm = match &r.author {
            Author::Model { name, version } => Some((name.clone(), version.clone())),
            Author::Human(_) => None,
        };
        let geometry = match &r.shape {
            Shape::Box2d { slice, min, max } => Geometry::Planar {
                slice: *slice as usize,
                tool: PlanarTool::Rectangle,
                points: vec![
                    centre(*min),
                    centre([max[0], min[1]]),
                    centre(*max),
                    centre([min[0], max[1]]),
                ],
            },
            Shape::Polygon { slice, points } => Geometry::Planar {
                slice: *slice as usize,
                tool: PlanarTool::Freehand,
                points: points.iter().map(|&p| centre(p)).collect(),
            },
            Shape::Point { at } => Geometry::Planar {
                slice: at[2].round().max(0.0) as usize,
                tool: PlanarTool::Point,
                points: vec![centre([at[0], at[1]])],
            },
            // A 2D SCOORD holds a line that lies in one slice; others (drawn across slices) are
            // left out like 3D boxes.
            Shape::Line { a, b } if a[2].round() == b[2].round() && a[2] >= -0.5 => {
                Geometry::Planar {
                    slice: a[2].round() as usize,
                    tool: PlanarTool::Length,
                    points: vec![centre([a[0], a[1]]), centre([b[0], b[1]])],
                }
            }
            Shape::Line { .. } => {
                left_out_oblique += 1;
                continue;
            }
            Shape::Mask => {
                let mut dense = vec![0u8; n];
                if let Some(tiles) = doc.masks.get(&r.id) {
                    tiles.paint_into(&mut dense, 1);
                }
                let voxels = dense.iter().filter(|&&v| v != 0).count();
                if voxels == 0 {
                    continue;
                }
                seg_masks.push(dense);
                seg_segments.push(seg::Segment {
                    label: label
                        .map_or_else(|| format!("region {}", r.id.handle()), |l| l.name.clone()),
                    color: label.map_or([255, 160, 0], |l| [l.color[0], l.color[1], l.color[2]]),
                    algorithm: algorithm.as_ref().map(|(n, v)| format!("{n}@{v}")),
                });
                Geometry::Volumetric {
                    segment: seg_segments.len() as u16,
                    volume_mm3: voxels as f64 * voxel_mm3,
                }
            }
            Shape::Box3d { .. } => {
                left_out_3d += 1;
                continue;
            }
        };
        // Values another report gave for it travel on while its geometry is the one they were
        // measured on.
        let reported = match (&r.reported, r.reported_current(doc.masks.get(&r.id))) {
            (_, Some(rep)) => rep.values.clone(),
            (Some(_), None) => {
                stale_reported += 1;
                Vec::new()
            }
            (None, None) => Vec::new(),
        };
        groups.push(Group {
            tracking_uid: sr::uid_of_uuid(r.id.as_u128()),
            tracking_id: label
                .map_or_else(|| format!("region {}", r.id.handle()), |l| l.name.clone()),
            finding: label.map(|l| sr::Code::for_label(&l.name)),
            comments,
            algorithm,
            geometry,
            reported,
        });
    }
    if groups.is_empty() {
        return Err(CliError::user(format!(
            "nothing to write: the {} region(s) by {author} on image {} are 3D boxes, which a TID 1500 report has no planar form for (export them with --format dicom-seg or nifti-labels)",
            regions.len(),
            rec.id
        )));
    }
    let source = source_grid(&rec);
    let seg_path = seg_path_of(&args.out);
    let seg_ref = if seg_masks.is_empty() {
        None
    } else {
        // BINARY (Segmentation Storage) whether or not masks overlap: dcmqi, Slicer and dcmtk read
        // it, while the newer Label Map Segmentation Storage is unknown to them.
        let pixels = seg::SegPixels::Binary(seg_masks);
        let creator = match &author {
            Author::Human(name) if !args.deidentify => Some(name.as_str()),
            _ => None,
        };
        let summary = seg::write(
            &seg_path,
            &source,
            &seg_segments,
            &pixels,
            &seg::SegOptions {
                description: "Voxmark segmentation (for a measurement report)",
                deidentify: args.deidentify,
                creator,
            },
        )?;
        for note in &summary.notes {
            eprintln!("note: {note}");
        }
        Some(sr::SegReference {
            class_uid: summary.sop_class_uid.to_owned(),
            instance_uid: summary.sop_instance_uid,
            series_uid: summary.series_uid,
            source_series_uid: summary.source_series_uid,
        })
    };
    let observer = match &author {
        Author::Human(name) => Observer::Person(name.clone()),
        Author::Model { name, version } => Observer::Device {
            name: name.clone(),
            version: version.clone(),
        },
    };
    let summary = sr::write(
        &args.out,
        &source,
        &groups,
        &sr::SrOptions {
            description: "Voxmark measurement report",
            deidentify: args.deidentify,
            observer: &observer,
            seg: seg_ref.as_ref(),
        },
    )?;
    println!(
        "wrote a DICOM SR (TID 1500) of {} region(s) by {author}: {} planar and {} volumetric measurement group(s), {} instance(s) referenced: {}",
        groups.len(),
        summary.planar,
        summary.volumetric,
        summary.referenced,
        args.out.display()
    );
    if seg_ref.is_some() {
        println!(
            "wrote the DICOM SEG its volumetric groups point into: {}",
            seg_path.display()
        );
    }
    if left_out_3d > 0 {
        eprintln!(
            "note: {left_out_3d} 3D box(es) left out: TID 1500 has no planar form for them (export them with --format dicom-seg or nifti-labels)"
        );
    }
    if left_out_oblique > 0 {
        eprintln!(
            "note: {left_out_oblique} line(s) drawn across slices left out: a planar SCOORD lies in one slice"
        );
    }
    if rejected > 0 {
        eprintln!("note: {rejected} rejected region(s) by {author} left out");
    }
    if stale_reported > 0 {
        eprintln!(
            "note: the values an imported report gave for {stale_reported} region(s) were left out: the regions were edited since, so the values no longer describe them (Voxmark's own measurements are written)"
        );
    }
    Ok(())
}

/// SOPInstanceUID and frame → the project image and slice that instance holds.
type InstanceIndex = HashMap<(String, Option<usize>), (ImageId, usize)>;

/// The project images a report's references can land on: SOPInstanceUID (and frame) → (image,
/// slice), for the DICOM images asked for (all of them by default).
fn instance_index(records: &[ImageRecord], only: &[ImageId]) -> (InstanceIndex, Vec<String>) {
    let mut index = HashMap::new();
    let mut problems = Vec::new();
    for rec in records
        .iter()
        .filter(|r| r.kind.starts_with("dicom") && (only.is_empty() || only.contains(&r.id)))
    {
        match sr::slice_instances(&source_grid(rec)) {
            Ok(slices) => {
                for (k, s) in slices.into_iter().enumerate() {
                    index.insert((s.instance_uid, s.frame), (rec.id, k));
                }
            }
            Err(e) => problems.push(format!("image {}: {e}", rec.id)),
        }
    }
    (index, problems)
}

/// A region a group becomes: its image, shape and mask, and which of the group's measurements is
/// its own (`None`: all of them).
type Part = (ImageId, Shape, Option<MaskTiles>, Option<usize>);

/// A Bidirectional's axes (OHIF's RECIST tool; any group whose NUMs are each inferred from their
/// own two-point line) as rulers, each with its own value; none when the group has fewer than two.
fn axes_of(g: &sr::ReadGroup, index: &InstanceIndex, on_image: ImageId) -> Vec<Part> {
    let axes: Vec<Part> = g
        .measurements
        .iter()
        .enumerate()
        .filter_map(|(n, m)| match &m.inferred_from {
            Some(ReadGeometry::Planar {
                graphic_type,
                points,
                image,
            }) if graphic_type == "POLYLINE" && points.len() == 2 => {
                let &(on, slice) = index
                    .get(&(image.instance_uid.clone(), image.frame))
                    .or_else(|| index.get(&(image.instance_uid.clone(), None)))?;
                // Both axes lie on the group's image.
                if on != on_image {
                    return None;
                }
                let shape = planar_shape("POLYLINE", "", points, slice, true)?;
                Some((on, shape, None, Some(n)))
            }
            _ => None,
        })
        .collect();
    if axes.len() >= 2 { axes } else { Vec::new() }
}

/// A shape from a report's SCOORD: (column, row) with the pixel corner at 0 → voxel coordinates.
fn planar_shape(
    graphic_type: &str,
    tracking_id: &str,
    points: &[[f64; 2]],
    slice: usize,
    measures_length: bool,
) -> Option<Shape> {
    let voxel = |p: &[f64; 2]| [p[0] - 0.5, p[1] - 0.5];
    let mut pts: Vec<[f64; 2]> = points.iter().map(voxel).collect();
    let closed = pts.len() > 2 && pts.first() == pts.last();
    match graphic_type {
        "POINT" => pts.first().map(|p| Shape::Point {
            at: [p[0], p[1], slice as f64],
        }),
        // OHIF's ArrowAnnotate: the arrow's tip, then its tail; its text is the group's comment.
        "POLYLINE" if tracking_id.ends_with(":ArrowAnnotate") && pts.len() == 2 => {
            pts.first().map(|p| Shape::Point {
                at: [p[0], p[1], slice as f64],
            })
        }
        "POLYLINE" => {
            if closed {
                pts.pop();
            }
            let (lo, hi) = pts.iter().fold(
                ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
                |(lo, hi), p| {
                    (
                        [lo[0].min(p[0]), lo[1].min(p[1])],
                        [hi[0].max(p[0]), hi[1].max(p[1])],
                    )
                },
            );
            let on_box = pts.len() == 4
                && pts
                    .iter()
                    .all(|p| (p[0] == lo[0] || p[0] == hi[0]) && (p[1] == lo[1] || p[1] == hi[1]));
            if on_box || (tracking_id.ends_with(":RectangleROI") && pts.len() == 4) {
                Some(Shape::Box2d {
                    slice: slice as u32,
                    min: lo,
                    max: hi,
                })
            } else if pts.len() == 2
                && !closed
                && (measures_length || tracking_id.ends_with(":Length"))
            {
                // A ruler (OHIF's Length, or any group measuring a Length); other two-point lines
                // (a Bidirectional's axes) are no region Voxmark draws.
                Some(Shape::Line {
                    a: [pts[0][0], pts[0][1], slice as f64],
                    b: [pts[1][0], pts[1][1], slice as f64],
                })
            } else if pts.len() >= 3 {
                Some(Shape::Polygon {
                    slice: slice as u32,
                    points: pts,
                })
            } else {
                None
            }
        }
        // An ellipse: the major axis' ends, then the minor axis' ends; drawn as a 32-gon.
        "ELLIPSE" if pts.len() == 4 => {
            let c = [(pts[0][0] + pts[1][0]) / 2.0, (pts[0][1] + pts[1][1]) / 2.0];
            let a = [pts[1][0] - c[0], pts[1][1] - c[1]];
            let b = [pts[3][0] - c[0], pts[3][1] - c[1]];
            Some(Shape::Polygon {
                slice: slice as u32,
                points: (0..32)
                    .map(|s| {
                        let t = s as f64 / 32.0 * std::f64::consts::TAU;
                        [
                            c[0] + a[0] * t.cos() + b[0] * t.sin(),
                            c[1] + a[1] * t.cos() + b[1] * t.sin(),
                        ]
                    })
                    .collect(),
            })
        }
        // A circle: its centre, then a point on it.
        "CIRCLE" if pts.len() == 2 => {
            let (c, e) = (pts[0], pts[1]);
            let r = ((e[0] - c[0]).powi(2) + (e[1] - c[1]).powi(2)).sqrt();
            Some(Shape::Polygon {
                slice: slice as u32,
                points: (0..32)
                    .map(|s| {
                        let t = s as f64 / 32.0 * std::f64::consts::TAU;
                        [c[0] + r * t.cos(), c[1] + r * t.sin()]
                    })
                    .collect(),
            })
        }
        _ => None,
    }
}

/// The SEG a volumetric group points into: a file beside the report whose SOPInstanceUID is the
/// one referenced.
fn find_seg(report: &Path, instance_uid: &str) -> Option<PathBuf> {
    let dir = report
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p != report)
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .find(|p| crate::io::dicom::sop_instance_uid(p).as_deref() == Some(instance_uid))
}

/// `voxmark import --format dicom-sr FILE [--image ID…]`.
pub fn import(args: &ImportArgs) -> Result<(), CliError> {
    let report = sr::read(&args.file)?;
    let fallback: Author = args.truth_author.parse().map_err(CliError::user)?;
    let mut project = Project::open(&args.project)?;
    let records = project.images()?;
    let mut doc = project.load_document()?;
    let only = super::project::resolve_images(&project, &args.images)?;
    // Only planar groups need every image's instances (read from each file's header).
    let planar = report
        .groups
        .iter()
        .any(|g| matches!(g.geometry, ReadGeometry::Planar { .. }));
    let (index, problems) = if planar {
        instance_index(&records, &only)
    } else {
        (InstanceIndex::new(), Vec::new())
    };
    for p in &problems {
        eprintln!("note: {p}");
    }
    // The author of groups without their own algorithm: the report's observer.
    let observer = match report.observers.first() {
        // OHIF names an anonymous user "unknown^unknown": that is nobody's name.
        Some(Observer::Person(name))
            if name.split('^').any(|part| {
                !part.trim().is_empty() && !part.trim().eq_ignore_ascii_case("unknown")
            }) =>
        {
            Author::Human(name.trim().replace('^', " ").trim().to_owned())
        }
        Some(Observer::Device { name, version }) if !name.is_empty() => Author::Model {
            name: name.clone(),
            version: if version.is_empty() {
                "unknown".into()
            } else {
                version.clone()
            },
        },
        _ => fallback,
    };
    let mut history = History::new(1 << 30);
    let mut imported = 0usize;
    let mut phrases_made = 0usize;
    let mut skipped: Vec<String> = Vec::new();
    let mut values_kept = 0usize;
    let mut regions_made = 0usize;
    let mut images_touched = std::collections::BTreeSet::new();
    let name = args.transaction_name("import dicom-sr");
    history.begin(&name)?;
    let mut build = EditBuilder::new(&mut doc, &mut history, now_ms());
    for (g_at, g) in report.groups.iter().enumerate() {
        let what = g
            .tracking_id
            .clone()
            .unwrap_or_else(|| format!("group {}", g_at + 1));
        // The group's regions: one, or a Bidirectional's two axes (each with its own value).
        let placed: Vec<Part> = match &g.geometry {
            ReadGeometry::Planar {
                graphic_type,
                points,
                image,
            } => {
                let Some(&(image_id, slice)) = index
                    .get(&(image.instance_uid.clone(), image.frame))
                    .or_else(|| index.get(&(image.instance_uid.clone(), None)))
                else {
                    skipped.push(format!(
                        "{what}: its image {} is not in the project",
                        image.instance_uid
                    ));
                    continue;
                };
                // SCT 410668003 Length (SRT G-D7FE in older reports).
                let measures_length = g
                    .measurements
                    .iter()
                    .any(|m| matches!(m.name.value.as_str(), "410668003" | "G-D7FE"));
                let axes = axes_of(g, &index, image_id);
                match planar_shape(
                    graphic_type,
                    g.tracking_id.as_deref().unwrap_or(""),
                    points,
                    slice,
                    measures_length,
                ) {
                    Some(shape) => vec![(image_id, shape, None, None)],
                    None if !axes.is_empty() => axes,
                    None => {
                        skipped.push(format!(
                            "{what}: a {graphic_type} of {} point(s) is no region Voxmark draws",
                            points.len()
                        ));
                        continue;
                    }
                }
            }
            ReadGeometry::Volumetric {
                segment,
                source_series,
            } => {
                let Some(seg_file) = find_seg(&args.file, &segment.instance_uid) else {
                    skipped.push(format!(
                        "{what}: the SEG it points into ({}) is not beside the report",
                        segment.instance_uid
                    ));
                    continue;
                };
                let Some(rec) = records.iter().find(|r| {
                    (only.is_empty() || only.contains(&r.id))
                        && r.kind.starts_with("dicom")
                        && source_series
                            .as_ref()
                            .is_none_or(|s| r.series_uid.as_ref() == Some(s))
                }) else {
                    skipped.push(format!(
                        "{what}: the series it was drawn on ({}) is not in the project",
                        source_series.as_deref().unwrap_or("not said")
                    ));
                    continue;
                };
                let slices: Vec<(String, Option<usize>)> = sr::slice_instances(&source_grid(rec))?
                    .into_iter()
                    .map(|s| (s.instance_uid, s.frame))
                    .collect();
                let dense = seg::read_segment(
                    &seg_file,
                    segment.segment.unwrap_or(1),
                    &source_grid(rec),
                    &slices,
                )?;
                let Some((_, mask)) = MaskTiles::split_labels(rec.size, &dense).into_iter().next()
                else {
                    skipped.push(format!("{what}: its segment is empty"));
                    continue;
                };
                vec![(rec.id, Shape::Mask, Some(mask), None)]
            }
            ReadGeometry::Other => {
                skipped.push(format!("{what}: no image region or segment"));
                continue;
            }
        };
        let author = match &g.algorithm {
            Some((name, version)) => Author::Model {
                name: name.clone(),
                version: if version.is_empty() {
                    "unknown".into()
                } else {
                    version.clone()
                },
            },
            None => observer.clone(),
        };
        // The label: the finding's meaning.
        let label = match &g.finding {
            Some(f) if !f.meaning.is_empty() => Some(build.label(&f.meaning, None)?),
            _ => None,
        };
        let mut ids = Vec::new();
        let mut image = None;
        for (at, (on, shape, mask, own)) in placed.into_iter().enumerate() {
            // A part's own value (a Bidirectional's axis), else every value of the group.
            let values: Vec<ReportedValue> = g
                .measurements
                .iter()
                .enumerate()
                .filter(|&(n, _)| own.is_none_or(|o| o == n))
                // A point's "Center" NUM is a placeholder (0, no units: OHIF and Voxmark write it
                // to hold the SCOORD), not a measurement.
                .filter(|(_, m)| m.value.is_finite() && m.name.value != "111010")
                .map(|(_, m)| ReportedValue {
                    name: (&m.name).into(),
                    value: m.value,
                    unit: (&m.unit).into(),
                    derivation: m.derivation.as_ref().map(Into::into),
                })
                .collect();
            values_kept += values.len();
            // The first region keeps the group's identity when it is new to this project.
            ids.push(
                build.region(NewRegion {
                    image: on,
                    label,
                    shape,
                    author: author.clone(),
                    status: if matches!(author, Author::Model { .. }) {
                        Status::Proposed
                    } else {
                        Status::Accepted
                    },
                    mask,
                    id: g
                        .tracking_uid
                        .as_deref()
                        .filter(|_| at == 0)
                        .and_then(sr::uuid_of_uid)
                        .and_then(|u| Id::from_slice(&u.to_be_bytes())),
                    prompt: None,
                    reported: (!values.is_empty()).then(|| Reported {
                        source: format!("DICOM SR {}", report.sop_instance_uid),
                        geometry: String::new(),
                        values,
                    }),
                })?,
            );
            image = Some(on);
            regions_made += 1;
        }
        let Some(image) = image else {
            continue;
        };
        // Each comment is a phrase linked to its regions (an existing one of the same text and
        // author on the image is reused).
        for text in &g.comments {
            let existing = build
                .doc()
                .phrases
                .values()
                .find(|p| p.image == image && p.author == author && &p.text == text)
                .map(|p| p.id);
            match existing {
                Some(phrase) => {
                    for &region in &ids {
                        build.record(Edit::Link { phrase, region })?;
                    }
                }
                None => {
                    let span = build.span_in_report(image, text, 0);
                    build.phrase(NewPhrase {
                        image,
                        text,
                        author: &author,
                        span,
                        category: None,
                        links: ids.clone(),
                        grounding: None,
                    })?;
                    phrases_made += 1;
                }
            }
        }
        images_touched.insert(image);
        imported += 1;
    }
    for s in &skipped {
        eprintln!("left out: {s}");
    }
    let Some(tx) = history.commit()? else {
        return Err(CliError::user(format!(
            "nothing imported: none of the report's {} measurement group(s) lies on an image of the project ({})",
            report.groups.len(),
            args.file.display()
        )));
    };
    project.commit(&tx, &observer.to_string())?;
    println!(
        "imported {imported} of {} measurement group(s) as {regions_made} region(s) on {} image(s), with {phrases_made} new phrase(s)",
        report.groups.len(),
        images_touched.len()
    );
    if values_kept > 0 {
        println!(
            "kept the report's {values_kept} measurement value(s) with their regions (`voxmark stats` shows them beside Voxmark's own; they stay while a region's geometry is unchanged)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoords_become_voxmark_shapes() {
        let rect = [
            [10.5, 20.5],
            [30.5, 20.5],
            [30.5, 40.5],
            [10.5, 40.5],
            [10.5, 20.5],
        ];
        assert_eq!(
            planar_shape(
                "POLYLINE",
                "Cornerstone3DTools@^0.1.0:RectangleROI",
                &rect,
                3,
                false
            ),
            Some(Shape::Box2d {
                slice: 3,
                min: [10.0, 20.0],
                max: [30.0, 40.0]
            })
        );
        let tri = [[0.5, 0.5], [4.5, 0.5], [0.5, 4.5], [0.5, 0.5]];
        assert_eq!(
            planar_shape("POLYLINE", "x", &tri, 0, false),
            Some(Shape::Polygon {
                slice: 0,
                points: vec![[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]
            })
        );
        assert_eq!(
            planar_shape("POINT", "", &[[2.5, 3.5]], 7, false),
            Some(Shape::Point {
                at: [2.0, 3.0, 7.0]
            })
        );
        assert_eq!(
            planar_shape(
                "POLYLINE",
                "Cornerstone3DTools@^0.1.0:Length",
                &[[1.5, 2.5], [9.5, 8.5]],
                4,
                false
            ),
            Some(Shape::Line {
                a: [1.0, 2.0, 4.0],
                b: [9.0, 8.0, 4.0]
            })
        );
        // A Bidirectional's axis (no Length measured) is no ruler; a Length NUM makes one.
        let axis = [[1.5, 2.5], [9.5, 8.5]];
        assert_eq!(
            planar_shape(
                "POLYLINE",
                "Cornerstone3DTools@^0.1.0:Bidirectional",
                &axis,
                4,
                false
            ),
            None
        );
        assert!(planar_shape("POLYLINE", "", &axis, 4, true).is_some());
        assert_eq!(
            planar_shape("MULTIPOINT", "", &[[2.5, 3.5]], 7, false),
            None
        );
        assert_eq!(
            seg_path_of(Path::new("/tmp/out/report.dcm")),
            PathBuf::from("/tmp/out/report.seg.dcm")
        );
    }
}
