//! `voxmark info PATH... [--json]`.

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

/// The whole scan as JSON.
pub fn scan_json(scan: &Scan) -> Value {
    json!({
        "volumes": scan.images.iter().map(volume_json).collect::<Vec<_>>(),
        "non_images": scan.non_images.iter().map(|n| json!({
            "path": n.path.display().to_string(),
            "sop_class_uid": n.sop_class_uid,
            "sop_class": n.sop_class_name,
            "modality": n.modality,
        })).collect::<Vec<_>>(),
        "errors": scan.errors.iter().map(|e| json!({"error": e.to_string()})).collect::<Vec<_>>(),
    })
}

fn fmt3(v: [f64; 3]) -> String {
    format!("{:.4} {:.4} {:.4}", v[0], v[1], v[2])
}

/// Runs the command; exit code 0 when every path gave an image or a recognised object, 1 otherwise.
pub fn run(args: &InfoArgs) -> i32 {
    let scan = io::scan_paths(&args.paths);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &scan_json(&scan))
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        (|| -> std::io::Result<()> {
            for img in &scan.images {
                let v = &img.volume;
                let s = v.stats();
                let [x, y, z] = v.size();
                writeln!(out, "{} ({})", img.source.display(), img.kind.as_str())?;
                writeln!(
                    out,
                    "  {x}×{y}×{z} {} ×{}  modality {}  files {}",
                    v.voxels().dtype(),
                    v.components(),
                    v.meta.modality.as_deref().unwrap_or("-"),
                    img.files.len()
                )?;
                writeln!(out, "  spacing mm  {}", fmt3(v.spacing_mm()))?;
                writeln!(out, "  origin LPS  {}", fmt3(v.origin_lps_mm()))?;
                let d = v.direction();
                writeln!(
                    out,
                    "  direction   {} | {} | {}",
                    fmt3(d[0]),
                    fmt3(d[1]),
                    fmt3(d[2])
                )?;
                writeln!(
                    out,
                    "  values      min {:.4}  max {:.4}  mean {:.4}",
                    s.min, s.max, s.mean
                )?;
                if let Some(uid) = &v.meta.series_uid {
                    writeln!(out, "  series      {uid}")?;
                }
            }
            for n in &scan.non_images {
                writeln!(
                    out,
                    "{} (not an image: {}, {})",
                    n.path.display(),
                    n.sop_class_name,
                    n.sop_class_uid
                )?;
            }
            Ok(())
        })()
    };
    for e in &scan.errors {
        eprintln!("error: {e}");
    }
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return 0;
        }
        eprintln!("error: cannot write output: {e}");
        return super::EXIT_INTERNAL_ERROR;
    }
    if scan.errors.is_empty() && !(scan.images.is_empty() && scan.non_images.is_empty()) {
        0
    } else {
        super::EXIT_USER_ERROR
    }
}
