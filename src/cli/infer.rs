//! `voxmark doctor` (which ONNX Runtime was found, its version and execution providers) and
//! `voxmark infer` (a model's proposals into a project, with their provenance).

use super::grounding::{now_ms, open_for_edit, persist};
use super::project::user_error;
use crate::core::annotation::{ImageId, Region, Shape, Status};
use crate::core::{Document, Edit, History, MaskTiles, VoxelBox};
use crate::inference::{self, Manifest, Promptable, preprocess::Intensity};
use crate::io::LoadedImage;
use crate::store::ImageRecord;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// `voxmark doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Says where ONNX Runtime was looked for and what was found; exit 0 either way (inference is
/// optional), 1 only when `ORT_DYLIB_PATH` names a library that cannot be used.
pub fn doctor(args: &DoctorArgs) -> i32 {
    let tried = inference::runtime::candidates();
    let found = inference::runtime::get();
    if args.json {
        let v = match &found {
            Ok(r) => serde_json::json!({
                "available": true,
                "library": r.library,
                "found_by": r.found_by,
                "version": r.version,
                "providers": r.providers,
            }),
            Err(e) => serde_json::json!({ "available": false, "why": e.to_string() }),
        };
        println!("{v}");
    } else {
        println!("voxmark {}", env!("CARGO_PKG_VERSION"));
        match &found {
            Ok(r) => {
                println!(
                    "ONNX Runtime {} ({}): {}",
                    r.version,
                    r.found_by,
                    r.library.display()
                );
                println!("execution providers: {}", r.providers.join(", "));
            }
            Err(e) => {
                println!("{e}");
                println!(
                    "looked in: ORT_DYLIB_PATH, beside voxmark, the onnxruntime Python package"
                );
                for (p, by) in &tried {
                    println!("  {by}: {}", p.display());
                }
            }
        }
    }
    let explicit = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty());
    if found.is_err() && explicit { 1 } else { 0 }
}

/// `voxmark infer`.
#[derive(Args, Debug)]
pub struct InferArgs {
    /// The project.
    pub project: PathBuf,
    /// The model's manifest (TOML next to its .onnx files).
    #[arg(long)]
    pub model: PathBuf,
    /// The image (its id in `voxmark ls`).
    #[arg(long)]
    pub image: ImageId,
    /// A box prompt `x,y,w,h` in pixels of the slice (x, y: top-left column and row).
    #[arg(long = "box", value_name = "X,Y,W,H")]
    pub bbox: String,
    /// The slice (voxel k) of a volume; 0 for 2D images.
    #[arg(long)]
    pub slice: Option<usize>,
    /// Label name for the proposal (made if new).
    #[arg(long)]
    pub label: Option<String>,
    /// Execution provider: cpu (default), cuda, tensorrt, coreml, directml.
    #[arg(long)]
    pub ep: Option<String>,
}

fn parse_box(text: &str) -> Result<[f64; 4], String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--box {text}: expected four numbers x,y,w,h"))?;
    match v[..] {
        [x, y, w, h] if w >= 1.0 && h >= 1.0 => Ok([x, y, w, h]),
        [_, _, _, _] => Err(format!("--box {text}: width and height must be at least 1")),
        _ => Err(format!("--box {text}: expected four numbers x,y,w,h")),
    }
}

/// Decodes the image a record names (the same size, volume and series).
pub(crate) fn decode_record(record: &ImageRecord) -> Result<LoadedImage, String> {
    let scan = crate::io::scan_paths(&record.files);
    let why = scan.errors.first().map(ToString::to_string);
    crate::io::matching_image(
        scan.images,
        record.size,
        record.volume_index,
        record.series_uid.as_deref(),
    )
    .ok_or_else(|| {
        format!(
            "image {}: not found in its files ({}): {}",
            record.id,
            why.unwrap_or_else(|| "no matching image".into()),
            record.source.display()
        )
    })
}

/// Runs a promptable model on one box of one slice and adds the mask as a proposed region.
pub fn infer(args: &InferArgs) -> i32 {
    let [x, y, w, h] = match parse_box(&args.bbox) {
        Ok(b) => b,
        Err(e) => return user_error(e),
    };
    let manifest = match Manifest::load(&args.model) {
        Ok(m) => m,
        Err(e) => return user_error(e),
    };
    let (mut project, records, mut doc) = match open_for_edit(&args.project) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let Some(record) = records.iter().find(|r| r.id == args.image) else {
        return user_error(format!(
            "no image {} in {} (see `voxmark ls`)",
            args.image,
            args.project.display()
        ));
    };
    let [nx, ny, nz] = record.size;
    let k = args.slice.unwrap_or(if nz == 1 { 0 } else { nz / 2 });
    if k >= nz {
        return user_error(format!("--slice {k}: image {} has {nz} slices", record.id));
    }
    let image = match decode_record(record) {
        Ok(i) => i,
        Err(e) => return user_error(e),
    };
    let started = Instant::now();
    let mut model = match Promptable::load(manifest, args.ep.as_deref()) {
        Ok(m) => m,
        Err(e) => return user_error(e),
    };
    let loaded_s = started.elapsed().as_secs_f64();
    let v = &image.volume;
    // A CT window means nothing on other modalities: they get the slice's own range (recorded).
    let intensity = match model.manifest.intensity() {
        Ok(Intensity::Window { .. }) if v.meta.modality.as_deref() != Some("CT") => {
            Intensity::MinMax
        }
        Ok(i) => i,
        Err(e) => return user_error(e),
    };
    let values: Vec<f64> = (0..nx * ny)
        .map(|p| v.value([p % nx, p / nx, k], 0).unwrap_or(0.0))
        .collect();
    let t = Instant::now();
    let embedding = match model.embed(&values, ny, nx, intensity) {
        Ok(e) => e,
        Err(e) => return user_error(e),
    };
    let encode_s = t.elapsed().as_secs_f64();
    let bbox = [x, y, x + w - 1.0, y + h - 1.0];
    let t = Instant::now();
    let proposal = match model.segment_box(&embedding, bbox) {
        Ok(p) => p,
        Err(e) => return user_error(e),
    };
    let decode_s = t.elapsed().as_secs_f64();
    let voxels = proposal.mask.iter().filter(|m| **m).count();
    if voxels == 0 {
        println!("the model proposed nothing for this box; no region added");
        return 0;
    }
    let m = &model.manifest;
    let prompt = serde_json::json!({
        "box_xywh": [x, y, w, h],
        "slice": k,
        "model_box": proposal.model_box,
        "manifest": m.path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "manifest_blake3": m.hash,
        "intensity": format!("{intensity:?}"),
        "threshold": m.threshold(),
        "execution_provider": args.ep.clone().unwrap_or_else(|| "cpu".into()),
    })
    .to_string();
    let mut mask = MaskTiles::new(record.size);
    let bounds = VoxelBox {
        min: [0, 0, k],
        max: [nx, ny, k + 1],
    };
    let plane: Vec<u8> = proposal.mask.iter().map(|&b| u8::from(b)).collect();
    mask.write_box(bounds, &plane);
    let author = m.author();
    let now = now_ms();
    let region_id = Document::next_id(&doc.regions);
    let mut history = History::new(1 << 30);
    let result = (|| {
        history.begin(&format!("{} proposal", m.name))?;
        let label = match &args.label {
            None => None,
            Some(name) => Some(match doc.labels.values().find(|l| &l.name == name) {
                Some(l) => l.id,
                None => {
                    let id = Document::next_id(&doc.labels);
                    history.record(
                        &mut doc,
                        Edit::AddLabel(crate::core::Label {
                            id,
                            name: name.clone(),
                            color: [255, 160, 40, 255],
                        }),
                    )?;
                    id
                }
            }),
        };
        history.record(
            &mut doc,
            Edit::AddRegion {
                region: Region {
                    id: region_id,
                    image: record.id,
                    label,
                    shape: Shape::Mask,
                    author: author.clone(),
                    prompt: Some(prompt.clone()),
                    status: Status::Proposed,
                    confidence: proposal.score.map(f64::from),
                    created_ms: now,
                    modified_ms: now,
                },
                mask: Some(mask),
                links: vec![],
            },
        )?;
        history.commit()
    })();
    if let Err(c) = persist(&mut project, &doc, result, &author.to_string()) {
        return c;
    }
    println!(
        "proposed region {region_id} on image {} slice {k}: {voxels} voxels, score {} by {author} \
         (load {loaded_s:.2} s, encoder {encode_s:.2} s, decoder {decode_s:.3} s)",
        record.id,
        proposal
            .score
            .map_or_else(|| "none".into(), |s| format!("{s:.3}")),
    );
    0
}
