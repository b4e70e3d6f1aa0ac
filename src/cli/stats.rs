//! `voxmark stats`: what each region covers and the image's values inside it, as the viewer shows
//! beside a selected region (a line's length; a 2D outline's area; a 3D box's or mask's volume; the
//! mean, standard deviation, minimum and maximum of the modality values inside).

use crate::core::annotation::{Shape, length_mm};
use crate::core::region_stats;
use crate::store::Project;
use serde::Serialize;
use std::path::PathBuf;

use super::error::CliError;

/// Arguments of `voxmark stats`.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// The project.
    pub project: PathBuf,
    /// Only these images (ids or handles, see `voxmark ls`); default: every image with regions.
    #[arg(long = "image", num_args = 1..)]
    pub images: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One region's measurements.
#[derive(Serialize)]
struct Row {
    region: String,
    image: String,
    kind: &'static str,
    label: Option<String>,
    author: String,
    status: &'static str,
    length_mm: Option<f64>,
    area_mm2: Option<f64>,
    volume_mm3: Option<f64>,
    voxels: Option<usize>,
    mean: Option<f64>,
    sd: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    /// Unit of the values: HU for CT, else none.
    unit: Option<&'static str>,
    /// What an imported report said of the region, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    reported: Option<ReportedRow>,
}

/// An imported report's values for a region, and whether they still describe it.
#[derive(Serialize)]
struct ReportedRow {
    source: String,
    /// False once the region was edited after the report was imported.
    current: bool,
    values: Vec<crate::core::ReportedValue>,
}

/// `voxmark stats`.
pub fn run(args: &StatsArgs) -> Result<(), CliError> {
    let project = Project::open(&args.project)?;
    let records = project.images()?;
    let doc = project.load_document()?;
    let wanted = if args.images.is_empty() {
        records
            .iter()
            .filter(|r| doc.regions.values().any(|g| g.image == r.id))
            .map(|r| r.id)
            .collect()
    } else {
        super::project::resolve_images(&project, &args.images)?
    };
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut rows = Vec::new();
    for rec in records.iter().filter(|r| wanted.contains(&r.id)) {
        let regions: Vec<_> = doc.regions.values().filter(|g| g.image == rec.id).collect();
        if regions.is_empty() {
            continue;
        }
        let image = super::project::decode_record(rec).map_err(CliError::user)?;
        let volume = &image.volume;
        let unit = (rec.modality.as_deref() == Some("CT")).then_some("HU");
        for g in regions {
            let s = region_stats(volume, &g.shape, doc.masks.get(&g.id));
            rows.push(Row {
                region: g.id.full(),
                image: rec.id.full(),
                kind: g.shape.kind(),
                label: g
                    .label
                    .and_then(|l| doc.labels.get(&l))
                    .map(|l| l.name.clone()),
                author: g.author.to_string(),
                status: g.status.as_str(),
                length_mm: match g.shape {
                    Shape::Line { a, b } => Some(length_mm(a, b, volume.spacing_mm())),
                    _ => None,
                },
                area_mm2: s.and_then(|s| s.area_mm2),
                volume_mm3: s.and_then(|s| s.volume_mm3),
                voxels: s.map(|s| s.voxels),
                mean: s.and_then(|s| finite(s.mean)),
                sd: s.and_then(|s| finite(s.sd)),
                min: s.and_then(|s| finite(s.min)),
                max: s.and_then(|s| finite(s.max)),
                unit: s.and(unit),
                reported: g.reported.as_ref().map(|rep| ReportedRow {
                    source: rep.source.clone(),
                    current: g.reported_current(doc.masks.get(&g.id)).is_some(),
                    values: rep.values.clone(),
                }),
            });
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "regions": rows }))
            .map_err(|e| CliError::internal(format!("cannot serialise the statistics: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no regions");
        return Ok(());
    }
    let num = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"));
    println!(
        "{:<10} {:<10} {:<8} {:<16} {:>10} {:>11} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "region",
        "image",
        "kind",
        "label",
        "length mm",
        "area mm²",
        "volume mm³",
        "voxels",
        "mean",
        "sd",
        "min",
        "max"
    );
    for r in &rows {
        let short = |id: &str| {
            id.chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        };
        println!(
            "{:<10} {:<10} {:<8} {:<16} {:>10} {:>11} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9}{}",
            short(&r.region),
            short(&r.image),
            r.kind,
            r.label.as_deref().unwrap_or("-"),
            num(r.length_mm),
            num(r.area_mm2),
            num(r.volume_mm3),
            r.voxels.map_or_else(|| "–".to_string(), |v| v.to_string()),
            num(r.mean),
            num(r.sd),
            num(r.min),
            num(r.max),
            r.unit.map_or_else(String::new, |u| format!(" {u}"))
        );
        if let Some(rep) = &r.reported {
            println!(
                "    reported by {}{}:",
                rep.source,
                if rep.current {
                    ""
                } else {
                    " (the region was edited since: these no longer describe it)"
                }
            );
            for v in &rep.values {
                println!("      {v}");
            }
        }
    }
    Ok(())
}
