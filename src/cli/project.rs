//! Project commands: `new`, `add`, `ls`, `check`, `relink`, and the hidden `stress-commit` that the
//! crash test drives.

use crate::core::annotation::{Author, Grounding, Phrase, Region, Shape, Status};
use crate::core::mask::{MaskTiles, VoxelBox};
use crate::core::{Document, Edit, History};
use crate::io::{self, LoadedImage};
use crate::store::{ImageRecord, Project, StoreError};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{EXIT_INTERNAL_ERROR, EXIT_USER_ERROR};

/// Arguments of `voxmark new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The project file to create (`*.voxmark`).
    pub project: PathBuf,
}

/// Arguments of `voxmark add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The project.
    pub project: PathBuf,
    /// Images: DICOM files or folders, NIfTI, PNG, JPEG, TIFF (one image per series or file).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// A UTF-8 text file whose content becomes the report of every image added.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Arguments of `voxmark ls`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// The project.
    pub project: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The project.
    pub project: PathBuf,
}

/// Arguments of `voxmark relink`.
#[derive(clap::Args, Debug)]
pub struct RelinkArgs {
    /// The project.
    pub project: PathBuf,
    /// The image id (see `voxmark ls`).
    pub image: i64,
    /// Where the image's files are now (file or folder).
    pub path: PathBuf,
    /// Relink even if the content differs from what was added.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of the hidden `stress-commit` command.
#[derive(clap::Args, Debug)]
pub struct StressArgs {
    /// The project (must hold at least one image).
    pub project: PathBuf,
    /// How many transactions to commit.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
}

pub(crate) fn user_error(e: impl std::fmt::Display) -> i32 {
    eprintln!("error: {e}");
    EXIT_USER_ERROR
}

pub(crate) fn store_error(e: StoreError) -> i32 {
    eprintln!("error: {e}");
    match e {
        StoreError::Sql { .. } => EXIT_INTERNAL_ERROR,
        _ => EXIT_USER_ERROR,
    }
}

pub(crate) fn who() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".into());
    format!("human:{name}")
}

/// `voxmark new`.
pub fn new(args: &NewArgs) -> i32 {
    match Project::create(&args.project) {
        Ok(_) => {
            println!("created {}", args.project.display());
            0
        }
        Err(e) => store_error(e),
    }
}

fn record_of(img: &LoadedImage, hash: String, report: Option<String>) -> ImageRecord {
    ImageRecord::describe(
        &img.volume,
        img.source.clone(),
        img.files.clone(),
        img.kind.as_str(),
        img.volume_index.map_or(0, |(i, _)| i),
        hash,
        report,
    )
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `voxmark add`: reads the images through `io` (every voxel, to be sure they decode), then stores
/// their paths, content hashes and geometry in one transaction.
pub fn add(args: &AddArgs) -> i32 {
    let report = match &args.report {
        None => None,
        Some(p) => match std::fs::read(p) {
            Err(e) => return user_error(format!("cannot read the report ({e}): {}", p.display())),
            Ok(b) => match String::from_utf8(b) {
                Ok(s) => Some(s),
                Err(_) => {
                    return user_error(format!("the report is not UTF-8 text: {}", p.display()));
                }
            },
        },
    };
    let mut project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let paths: Vec<PathBuf> = args.paths.iter().map(|p| absolute(p)).collect();
    eprintln!("reading {} path(s)…", paths.len());
    let scan = io::scan_paths(&paths);
    for e in &scan.errors {
        eprintln!("error: {e}");
    }
    for n in &scan.non_images {
        eprintln!(
            "skipped (not an image: {}): {}",
            n.sop_class_name,
            n.path.display()
        );
    }
    let total = scan.images.len();
    let mut records = Vec::new();
    for (i, img) in scan.images.iter().enumerate() {
        eprintln!("[{}/{total}] hashing {}", i + 1, img.source.display());
        match io::content_hash(&img.files) {
            Ok(h) => records.push(record_of(img, h, report.clone())),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if records.is_empty() {
        return user_error("no image was added");
    }
    match project.add_images(&records, &who()) {
        Ok(ids) => {
            for (id, r) in ids.iter().zip(&records) {
                let [x, y, z] = r.size;
                println!(
                    "added image {id}: {} {x}×{y}×{z} {}",
                    r.kind,
                    r.source.display()
                );
            }
            if scan.errors.is_empty() {
                0
            } else {
                EXIT_USER_ERROR
            }
        }
        Err(e) => store_error(e),
    }
}

/// `voxmark ls`.
pub fn ls(args: &LsArgs) -> i32 {
    let project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let (images, doc, missing) = match (
        project.images(),
        project.load_document(),
        project.missing_sources(),
    ) {
        (Ok(i), Ok(d), Ok(m)) => (i, d, m),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return store_error(e),
    };
    let missing: BTreeMap<i64, PathBuf> = missing.into_iter().collect();
    let mut rows = Vec::new();
    for img in &images {
        let mut by_status =
            BTreeMap::from([("accepted", 0usize), ("proposed", 0), ("rejected", 0)]);
        for r in doc.regions.values().filter(|r| r.image == img.id) {
            *by_status.entry(r.status.as_str()).or_default() += 1;
        }
        let phrases: Vec<i64> = doc
            .phrases
            .values()
            .filter(|p| p.image == img.id)
            .map(|p| p.id)
            .collect();
        let links = doc
            .links
            .iter()
            .filter(|(p, _)| phrases.contains(p))
            .count();
        rows.push(json!({
            "id": img.id,
            "source": img.source.display().to_string(),
            "kind": img.kind,
            "size": img.size,
            "modality": img.modality,
            "regions": by_status,
            "phrases": phrases.len(),
            "links": links,
            "has_report": img.report.is_some(),
            "missing": missing.get(&img.id).map(|p| p.display().to_string()),
        }));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "images": rows })).unwrap_or_default()
        );
    } else {
        println!(
            "{:>4}  {:<16} {:<12} {:>8} {:>8} {:>8} {:>7} {:>5}  source",
            "id", "kind", "size", "accepted", "proposed", "rejected", "phrases", "links"
        );
        for r in &rows {
            let size = r["size"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("×")
                })
                .unwrap_or_default();
            let flag = if r["missing"].is_null() {
                String::new()
            } else {
                format!("  (missing: {})", r["missing"].as_str().unwrap_or(""))
            };
            let n = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
            println!(
                "{:>4}  {:<16} {:<12} {:>8} {:>8} {:>8} {:>7} {:>5}  {}{flag}",
                n(&r["id"]),
                r["kind"].as_str().unwrap_or(""),
                size,
                n(&r["regions"]["accepted"]),
                n(&r["regions"]["proposed"]),
                n(&r["regions"]["rejected"]),
                n(&r["phrases"]),
                n(&r["links"]),
                r["source"].as_str().unwrap_or(""),
            );
        }
    }
    for (id, p) in &missing {
        eprintln!(
            "warning: image {id}: source file missing: {} (use `voxmark relink`)",
            p.display()
        );
    }
    0
}

/// `voxmark check`: exit 0 when sound, 1 with the findings otherwise.
pub fn check(args: &CheckArgs) -> i32 {
    let project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    match project.check() {
        Ok(f) if f.is_empty() => {
            println!("ok: integrity_check passed; links, spans and masks are consistent");
            0
        }
        Ok(f) => {
            for line in &f {
                println!("{line}");
            }
            eprintln!(
                "error: {} problem(s) in {}",
                f.len(),
                args.project.display()
            );
            EXIT_USER_ERROR
        }
        Err(e) => store_error(e),
    }
}

/// `voxmark relink`.
pub fn relink(args: &RelinkArgs) -> i32 {
    let mut project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let images = match project.images() {
        Ok(i) => i,
        Err(e) => return store_error(e),
    };
    let Some(old) = images.iter().find(|i| i.id == args.image) else {
        return user_error(format!(
            "no image {} in {}",
            args.image,
            args.project.display()
        ));
    };
    let path = absolute(&args.path);
    let scan = io::scan_paths(std::slice::from_ref(&path));
    let candidates: Vec<&LoadedImage> = scan
        .images
        .iter()
        .filter(|i| i.volume.size() == old.size && i.volume.meta.series_uid == old.series_uid)
        .collect();
    let Some(found) = candidates.first() else {
        for e in &scan.errors {
            eprintln!("error: {e}");
        }
        return user_error(format!(
            "no image with the size {:?} of image {} under {}",
            old.size,
            old.id,
            path.display()
        ));
    };
    let hash = match io::content_hash(&found.files) {
        Ok(h) => h,
        Err(e) => return user_error(e),
    };
    if hash != old.content_hash && !args.force {
        return user_error(format!(
            "the files under {} differ from what image {} was added from (content hash); use --force to relink anyway",
            path.display(),
            old.id
        ));
    }
    match project.relink(old.id, &found.source, &found.files, &hash, &who()) {
        Ok(()) => {
            println!("image {} now reads from {}", old.id, found.source.display());
            0
        }
        Err(e) => store_error(e),
    }
}

/// Hidden `stress-commit`: commits transactions one by one, printing `committed <region id>` after each
/// commit returns; the crash test kills it at random moments.
pub fn stress(args: &StressArgs) -> i32 {
    let mut project = match Project::open(&args.project) {
        Ok(p) => p,
        Err(e) => return store_error(e),
    };
    let mut doc: Document = match project.load_document() {
        Ok(d) => d,
        Err(e) => return store_error(e),
    };
    let Some((&image, info)) = doc.images.iter().next() else {
        return user_error("the project has no image");
    };
    let size = info.size;
    let mut history = History::new(64 << 20);
    let author = Author::Human("stress".into());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for n in 0..args.count {
        let id = Document::next_id(&doc.regions);
        let t = n as i64;
        let is_mask = n % 7 == 3;
        let region = Region {
            id,
            image,
            label: None,
            shape: if is_mask {
                Shape::Mask
            } else {
                Shape::Box2d {
                    slice: 0,
                    min: [(n % 50) as f64, 1.0],
                    max: [(n % 50) as f64 + 3.0, 4.0],
                }
            },
            author: author.clone(),
            prompt: None,
            status: Status::Accepted,
            confidence: None,
            created_ms: t,
            modified_ms: t,
        };
        let result = (|| -> Result<Option<crate::core::Transaction>, crate::core::EditError> {
            history.begin("stress")?;
            history.record(
                &mut doc,
                Edit::AddRegion {
                    region,
                    mask: is_mask.then(|| MaskTiles::new(size)),
                    links: vec![],
                },
            )?;
            if is_mask {
                let b = VoxelBox {
                    min: [0, 0, 0],
                    max: [size[0].min(20), size[1].min(20), 1],
                };
                let before = doc.masks[&id].read_box(b);
                let after = vec![1u8; b.len()];
                history.record(&mut doc, Edit::paint(id, b, &before, &after))?;
            }
            if n % 5 == 0 {
                let pid = Document::next_id(&doc.phrases);
                let phrase = Phrase {
                    id: pid,
                    image,
                    text: format!("finding {n}"),
                    author: author.clone(),
                    span: None,
                    category: None,
                    grounding: Grounding::Annotated,
                    created_ms: t,
                    modified_ms: t,
                };
                history.record(
                    &mut doc,
                    Edit::AddPhrase {
                        phrase,
                        links: vec![id],
                    },
                )?;
            }
            history.commit()
        })();
        let tx = match result {
            Ok(Some(tx)) => tx,
            Ok(None) => continue,
            Err(e) => return user_error(e),
        };
        if let Err(e) = project.commit(&doc, &tx, "human:stress") {
            return store_error(e);
        }
        if writeln!(out, "committed {id}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return 0;
        }
    }
    0
}
