//! `voxmark doctor` (which ONNX Runtime was found, its version and execution providers) and
//! `voxmark infer` (a model's proposals into a project, with their provenance).

use super::error::CliError;
use super::grounding::{open_for_edit, persist};
use super::project::who;
use crate::core::History;
use crate::core::annotation::{Author, ImageId};
use crate::core::now_ms;
use crate::inference::job::{self, Model, Request};
use crate::inference::{self, Family, Manifest};
use crate::store::ImageRecord;
use clap::Args;
use std::io::IsTerminal;
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
pub fn doctor(args: &DoctorArgs) -> Result<(), CliError> {
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
    match found {
        Err(e) if explicit => Err(CliError::user(format!(
            "ORT_DYLIB_PATH names a library that cannot be used: {e}"
        ))),
        _ => Ok(()),
    }
}

/// `voxmark infer`.
#[derive(Args, Debug)]
pub struct InferArgs {
    /// The project.
    pub project: PathBuf,
    /// The model's manifest (TOML next to its .onnx files).
    #[arg(long)]
    pub model: PathBuf,
    /// The image (its id or handle in `voxmark ls`).
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub image: Option<String>,
    /// Every image of the project (a failure on one does not stop the others).
    #[arg(long)]
    pub all: bool,
    /// Promptable models: a box prompt `x,y,w,h` in pixels of the slice (x, y: top-left column and row).
    #[arg(long = "box", value_name = "X,Y,W,H")]
    pub bbox: Option<String>,
    /// Grounding models: the phrase (an existing phrase of the image with this text, else a new free
    /// phrase); without it every phrase of the image is run.
    #[arg(long)]
    pub prompt: Option<String>,
    /// The slice (voxel k) of a volume: promptable and grounding models run on it (default: the
    /// middle slice); 2D segmentation runs only on it (default: every slice).
    #[arg(long)]
    pub slice: Option<usize>,
    /// Label name for promptable and grounding-box proposals (made if new); segmentation models
    /// name their classes.
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

/// A progress bar on stderr when it is a terminal (redrawn at most ten times a second), else one
/// line per image.
struct Progress {
    tty: bool,
    images: usize,
    last: Option<Instant>,
}

impl Progress {
    fn new(images: usize) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            images,
            last: None,
        }
    }

    fn image(&mut self, n: usize, id: ImageId) {
        if !self.tty {
            eprintln!("[{}/{}] image {id}", n + 1, self.images);
        }
        self.last = None;
    }

    fn tick(&mut self, n: usize, id: ImageId, done: usize, total: usize) {
        if !self.tty
            || self
                .last
                .is_some_and(|t| t.elapsed().as_millis() < 100 && done < total)
        {
            return;
        }
        self.last = Some(Instant::now());
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = (frac * 30.0).round() as usize;
        eprint!(
            "\r[{}{}] {:3.0}%  image {id} ({}/{})",
            "#".repeat(filled),
            " ".repeat(30 - filled.min(30)),
            frac * 100.0,
            n + 1,
            self.images
        );
    }

    fn clear(&self) {
        if self.tty {
            eprint!("\r{:72}\r", "");
        }
    }

    fn line(&mut self, text: &str) {
        self.clear();
        println!("{text}");
    }

    fn error(&mut self, text: &str) {
        self.clear();
        eprintln!("error: {text}");
    }
}

/// Runs a model on one image or all of them and adds what it proposes, each image in its own
/// transaction; a failure on one image is reported and the others go on (exit 1 if any failed).
pub fn infer(args: &InferArgs) -> Result<(), CliError> {
    let bbox = match args.bbox.as_deref().map(parse_box).transpose() {
        Ok(b) => b.map(|[x, y, w, h]| [x, y, x + w - 1.0, y + h - 1.0]),
        Err(e) => return Err(CliError::user(e)),
    };
    let manifest = Manifest::load(&args.model).map_err(CliError::user)?;
    let family = manifest.family;
    match family {
        Family::Promptable if bbox.is_none() => {
            return Err(CliError::user(format!(
                "{} is promptable: give --box x,y,w,h",
                manifest.name
            )));
        }
        Family::Promptable if args.all => {
            return Err(CliError::user(
                "a box prompt belongs to one image: use --image, not --all",
            ));
        }
        Family::Promptable => {}
        _ if bbox.is_some() => {
            return Err(CliError::user(format!(
                "--box is a prompt for promptable models; {} is {}",
                manifest.name,
                family.as_str()
            )));
        }
        Family::Segmentation if args.prompt.is_some() => {
            return Err(CliError::user(
                "--prompt is for grounding models; this one segments",
            ));
        }
        _ => {}
    }
    let (mut project, records, mut doc) = open_for_edit(&args.project)?;
    let targets: Vec<&ImageRecord> = match &args.image {
        Some(typed) => {
            let id = project.resolve(crate::store::Entity::Image, typed)?;
            match records.iter().find(|r| r.id == id) {
                Some(r) => vec![r],
                None => {
                    return Err(CliError::user(format!(
                        "no image {id} in {} (see `voxmark ls`)",
                        args.project.display()
                    )));
                }
            }
        }
        None => records.iter().collect(),
    };
    let started = Instant::now();
    let mut model = Model::load(manifest, args.ep.as_deref()).map_err(CliError::user)?;
    let author = model.manifest().author();
    eprintln!(
        "{author} ({}) loaded in {:.2} s",
        family.as_str(),
        started.elapsed().as_secs_f64()
    );
    let who: Author = who().parse().map_err(CliError::user)?;
    let mut progress = Progress::new(targets.len());
    let (mut failed, mut regions, mut heatmaps) = (0usize, 0usize, 0usize);
    for (n, record) in targets.iter().enumerate() {
        progress.image(n, record.id);
        let t = Instant::now();
        let request = Request {
            image: record.id,
            slice: args.slice,
            bbox,
            prompt: args.prompt.clone(),
            label: args.label.clone(),
            provider: args.ep.clone().unwrap_or_else(|| "cpu".into()),
            who: who.clone(),
        };
        let outcome = super::project::decode_record(record).and_then(|image| {
            job::run(
                &mut model,
                &doc,
                &image.volume,
                &request,
                now_ms(),
                &mut |done, total| {
                    progress.tick(n, record.id, done, total);
                    true
                },
            )
            .map_err(|e| format!("image {}: {e}", record.id))
        });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                progress.error(&e);
                failed += 1;
                continue;
            }
        };
        let mut history = History::new(1 << 30);
        let result = (|| {
            history.begin(&format!("{} proposals", model.manifest().name))?;
            for edit in outcome.edits {
                history.record(&mut doc, edit)?;
            }
            history.commit()
        })();
        // A failed commit leaves the file as it was before this image; stop, the project cannot
        // take more.
        persist(&mut project, result, &author.to_string())?;
        regions += outcome.regions;
        heatmaps += outcome.heatmaps;
        progress.line(&format!(
            "image {}: {} ({:.2} s)",
            record.id,
            outcome.summary,
            t.elapsed().as_secs_f64()
        ));
    }
    println!(
        "{} image(s): {regions} proposed region(s), {heatmaps} heatmap(s) by {author}{}",
        targets.len(),
        if failed > 0 {
            format!("; {failed} failed")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        Err(CliError::user(format!(
            "the model failed on {failed} of {} image(s) (each failure is above)",
            targets.len()
        )))
    } else {
        Ok(())
    }
}
