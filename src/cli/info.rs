//! `voxmark info PATH... [--json]`.

use super::error::CliError;
use crate::io::{self, LoadedImage, Scan};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `voxmark info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Files or folders (DICOM, DICOMDIR, NIfTI, PNG, JPEG, TIFF).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print JSON: {"volumes": [...], "non_images": [...], "errors": [...]}.
    #[arg(long)]
    pub json: bool,
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// The JSON object of one image, as ARCHITECTURE.md §5 specifies.
pub fn volume_json(img: &LoadedImage) -> Value {
    let v = &img.volume;
    let d = v.direction();
    let s = v.stats();
    let meta = &v.meta;
    let windows: Vec<Value> = meta
        .windows
        .iter()
        .map(|w| json!({"center": w.center, "width": w.width, "name": w.name}))
        .collect();
    json!({
        "source": img.source.display().to_string(),
        "kind": img.kind.as_str(),
        "series_uid": meta.series_uid,
        "modality": meta.modality,
        "size": v.size(),
        "spacing_mm": v.spacing_mm(),
        "origin_lps_mm": v.origin_lps_mm(),
        "direction": [d[0][0], d[0][1], d[0][2], d[1][0], d[1][1], d[1][2], d[2][0], d[2][1], d[2][2]],
        "dtype": v.voxels().dtype(),
        "components": v.components(),
        "photometric": format!("{:?}", meta.photometric).to_uppercase(),
        "rescale": {"slope": v.rescale().slope, "intercept": v.rescale().intercept},
        "stats": {"min": finite(s.min), "max": finite(s.max), "mean": finite(s.mean), "nan_count": s.nan_count},
        "windows": windows,
        "files": img.files.len(),
        "transfer_syntaxes": meta.transfer_syntaxes,
        "volume_index": img.volume_index.map(|(i, _)| i),
        "volume_count": img.volume_index.map(|(_, n)| n).unwrap_or(1),
    })
}

/// The TID 1500 measurement report an SR holds, if it is one.
fn measurement_report(n: &io::NonImageObject) -> Option<io::dicom::sr::Report> {
    (n.modality.as_deref() == Some("SR"))
        .then(|| io::dicom::sr::read(&n.path).ok())
        .flatten()
}

fn report_json(r: &io::dicom::sr::Report) -> Value {
    use io::dicom::sr::{Observer, ReadGeometry};
    let code = |c: &io::dicom::sr::Code| json!([c.value, c.scheme, c.meaning]);
    json!({
        "observers": r.observers.iter().map(|o| match o {
            Observer::Person(name) => json!({"type": "person", "name": name}),
            Observer::Device { name, version } => json!({"type": "device", "name": name, "version": version}),
        }).collect::<Vec<_>>(),
        "groups": r.groups.iter().map(|g| {
            let (kind, region) = match &g.geometry {
                ReadGeometry::Planar { graphic_type, points, image } => ("planar", json!({
                    "graphic_type": graphic_type, "points": points.len(),
                    "sop_instance_uid": image.instance_uid, "frame": image.frame})),
                ReadGeometry::Volumetric { segment, source_series } => ("volumetric", json!({
                    "seg_sop_instance_uid": segment.instance_uid, "segment": segment.segment,
                    "source_series_uid": source_series})),
                ReadGeometry::Other => ("other", Value::Null),
            };
            json!({
                "tracking_id": g.tracking_id, "tracking_uid": g.tracking_uid,
                "finding": g.finding.as_ref().map(code), "comments": g.comments,
                "algorithm": g.algorithm, "kind": kind, "region": region,
                "measurements": g.measurements.iter().map(|m| json!({
                    "name": code(&m.name), "value": m.value, "unit": m.unit.value,
                    "derivation": m.derivation.as_ref().map(|d| d.meaning.clone())})).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// The whole scan as JSON.
pub fn scan_json(scan: &Scan) -> Value {
    json!({
        "volumes": scan.images.iter().map(volume_json).collect::<Vec<_>>(),
        "non_images": scan.non_images.iter().map(|n| json!({
            "path": n.path.display().to_string(),
            "sop_class_uid": n.sop_class_uid,
            "sop_class": n.sop_class_name,
            "modality": n.modality,
            "measurement_report": measurement_report(n).map(|r| report_json(&r)),
        })).collect::<Vec<_>>(),
        "errors": scan.errors.iter().map(|e| json!({"error": e.to_string()})).collect::<Vec<_>>(),
    })
}

/// A short number for the table: integers as integers, others with 4 significant decimals.
fn num(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}

/// One row per image, then the non-image objects; geometry in full is in `--json`.
fn write_table(out: &mut impl Write, scan: &Scan) -> std::io::Result<()> {
    let header = [
        "kind",
        "size",
        "type",
        "spacing mm",
        "origin LPS mm",
        "modality",
        "min",
        "max",
        "mean",
        "source",
    ];
    let mut rows: Vec<[String; 10]> = vec![header.map(str::to_string)];
    for img in &scan.images {
        let v = &img.volume;
        let s = v.stats();
        let [x, y, z] = v.size();
        let sp = v.spacing_mm();
        let o = v.origin_lps_mm();
        rows.push([
            img.kind.as_str().to_string(),
            format!("{x}×{y}×{z}"),
            if v.components() == 1 {
                v.voxels().dtype().to_string()
            } else {
                format!("{}×{}", v.voxels().dtype(), v.components())
            },
            format!("{:.3}×{:.3}×{:.3}", sp[0], sp[1], sp[2]),
            format!("{:.1},{:.1},{:.1}", o[0], o[1], o[2]),
            v.meta.modality.clone().unwrap_or_else(|| "-".into()),
            num(s.min),
            num(s.max),
            num(s.mean),
            img.source.display().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    widths[c] - cell.chars().count() + 2,
                ));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    for n in &scan.non_images {
        writeln!(
            out,
            "not an image: {} ({}): {}",
            n.sop_class_name,
            n.sop_class_uid,
            n.path.display()
        )?;
        if let Some(r) = measurement_report(n) {
            writeln!(
                out,
                "  measurement report (TID 1500), {} group(s):",
                r.groups.len()
            )?;
            for g in &r.groups {
                let kind = match g.geometry {
                    io::dicom::sr::ReadGeometry::Planar { .. } => "planar",
                    io::dicom::sr::ReadGeometry::Volumetric { .. } => "volumetric",
                    io::dicom::sr::ReadGeometry::Other => "no region",
                };
                let values: Vec<String> = g
                    .measurements
                    .iter()
                    .take(4)
                    .map(|m| {
                        let how = m.derivation.as_ref().map(|d| format!(" ({})", d.meaning));
                        format!(
                            "{} {} {}{}",
                            m.name.meaning,
                            m.value,
                            m.unit.value,
                            how.unwrap_or_default()
                        )
                    })
                    .collect();
                writeln!(
                    out,
                    "    {} [{kind}]{}: {} measurement(s){}{}",
                    g.tracking_id.as_deref().unwrap_or("(no tracking id)"),
                    g.finding
                        .as_ref()
                        .map(|f| format!(" {}", f.meaning))
                        .unwrap_or_default(),
                    g.measurements.len(),
                    if values.is_empty() { "" } else { ": " },
                    values.join(", ")
                        + if g.measurements.len() > 4 {
                            ", …"
                        } else {
                            ""
                        }
                )?;
            }
        }
    }
    Ok(())
}

/// Runs the command; exit code 0 when every path gave an image or a recognised object, 1 otherwise
/// (each unreadable input is said, and the others are still listed).
pub fn run(args: &InfoArgs) -> Result<(), CliError> {
    let scan = io::scan_paths(&args.paths);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &scan_json(&scan))
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        write_table(&mut out, &scan)
    };
    for e in &scan.errors {
        eprintln!("error: {e}");
    }
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(CliError::internal(format!("cannot write output: {e}"))),
        Ok(()) => {}
    }
    if !scan.errors.is_empty() {
        Err(CliError::user(format!(
            "{} input(s) could not be read (said above)",
            scan.errors.len()
        )))
    } else if scan.images.is_empty() && scan.non_images.is_empty() {
        Err(CliError::user("no image or DICOM object found"))
    } else {
        Ok(())
    }
}
