//! Project commands: `new`, `add`, `ls`, `check`, `relink`, and the hidden `stress-commit` that the
//! crash test drives.

use crate::core::annotation::{Author, Grounding, Phrase, Region, Shape, Status};
use crate::core::mask::{MaskTiles, VoxelBox};
use crate::core::{Document, Edit, History, Id, ImageId};
use crate::io::{self, LoadedImage};
use crate::store::{Added, ImageRecord, Project};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::CliError;

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
    /// The image's id or handle (see `voxmark ls`).
    pub image: String,
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
    /// Stop after this many seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// A mask region (whole id) every transaction also paints one voxel of, in this writer's
    /// `--slot` of rows (for the many-writers test).
    #[arg(long)]
    pub shared_mask: Option<String>,
    /// This writer's slot (0..8) on the shared mask.
    #[arg(long, default_value_t = 0)]
    pub slot: usize,
}

/// Arguments of `voxmark copy`.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The project to copy (others may be writing it).
    pub source: PathBuf,
    /// The new file (must not exist).
    pub target: PathBuf,
}

/// Arguments of `voxmark salvage`.
#[derive(clap::Args, Debug)]
pub struct SalvageArgs {
    /// The damaged project (never modified).
    pub damaged: PathBuf,
    /// The new project to write (must not exist).
    pub out: PathBuf,
}

/// Arguments of `voxmark recover`.
#[derive(clap::Args, Debug)]
pub struct RecoverArgs {
    /// The project whose recovery journal to re-apply.
    pub project: PathBuf,
    /// Drop entries that conflict with what other writers did since (they are listed first).
    #[arg(long)]
    pub discard_conflicts: bool,
}

/// The images `typed` names (ids or handles), in order; all of them when `typed` is empty.
pub(crate) fn resolve_images(
    project: &Project,
    typed: &[String],
) -> Result<Vec<ImageId>, super::error::CliError> {
    typed
        .iter()
        .map(|t| Ok(project.resolve(crate::store::Entity::Image, t)?))
        .collect()
}

pub(crate) fn who() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".into());
    format!("human:{name}")
}

/// `voxmark new`.
pub fn new(args: &NewArgs) -> Result<(), CliError> {
    Project::create(&args.project)?;
    println!("created {}", args.project.display());
    Ok(())
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
pub fn add(args: &AddArgs) -> Result<(), CliError> {
    let report = match &args.report {
        None => None,
        Some(p) => match std::fs::read(p) {
            Err(e) => {
                return Err(CliError::user(format!(
                    "cannot read the report ({e}): {}",
                    p.display()
                )));
            }
            Ok(b) => match String::from_utf8(b) {
                Ok(s) => Some(s),
                Err(_) => {
                    return Err(CliError::user(format!(
                        "the report is not UTF-8 text: {}",
                        p.display()
                    )));
                }
            },
        },
    };
    let mut project = Project::open(&args.project)?;
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
    let mut unhashed = 0usize;
    for (i, img) in scan.images.iter().enumerate() {
        eprintln!("[{}/{total}] hashing {}", i + 1, img.source.display());
        match io::content_hash(&img.files) {
            Ok(h) => records.push(record_of(img, h, report.clone())),
            Err(e) => {
                eprintln!("error: {e}");
                unhashed += 1;
            }
        }
    }
    if records.is_empty() {
        return Err(CliError::user("no image was added"));
    }
    // The same file (or series) added again is the image the project already has, not a second
    // one: decided under the write lock, so two processes adding it at once make one image.
    let added = project.add_images_once(&records, &who())?;
    let mut new = 0usize;
    let mut reported_twice = std::collections::HashSet::new();
    for (a, r) in added.iter().zip(&records) {
        let [x, y, z] = r.size;
        match a {
            Added::New(id) => {
                new += 1;
                println!(
                    "added image {id}: {} {x}×{y}×{z} {}",
                    r.kind,
                    r.source.display()
                );
            }
            // Named twice in one call (a folder and a file in it): said once.
            Added::Already(id) if added.contains(&Added::New(*id)) => {}
            Added::Already(id) => {
                if reported_twice.insert(*id) {
                    let report = if report.is_some() {
                        " (its report is left as it is)"
                    } else {
                        ""
                    };
                    println!(
                        "already in the project as image {id}{report}: {}",
                        r.source.display()
                    );
                }
            }
        }
    }
    if new == 0 {
        println!(
            "nothing new: all {} image(s) are in the project already",
            records.len()
        );
    }
    let failed = scan.errors.len() + unhashed;
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::user(format!(
            "{failed} input(s) could not be read (said above); the others were added"
        )))
    }
}

/// `voxmark ls`.
pub fn ls(args: &LsArgs) -> Result<(), CliError> {
    let project = Project::open(&args.project)?;
    let (images, doc, missing) = (
        project.images()?,
        project.load_document()?,
        project.missing_sources()?,
    );
    let missing: BTreeMap<ImageId, PathBuf> = missing.into_iter().collect();
    let handle_len = project.handle_len()?;
    let handle = |id: &Id| id.hex()[32 - handle_len..].to_string();
    let mut rows = Vec::new();
    for img in &images {
        let mut by_status =
            BTreeMap::from([("accepted", 0usize), ("proposed", 0), ("rejected", 0)]);
        for r in doc.regions.values().filter(|r| r.image == img.id) {
            *by_status.entry(r.status.as_str()).or_default() += 1;
        }
        let phrases: Vec<Id> = doc
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
            "id": img.id.full(),
            "handle": handle(&img.id),
            "phrase_ids": phrases.iter().map(Id::full).collect::<Vec<_>>(),
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
            serde_json::to_string_pretty(&json!({ "images": rows }))
                .map_err(|e| CliError::internal(format!("cannot serialise the listing: {e}")))?
        );
    } else {
        println!(
            "{:<w$}  {:<16} {:<12} {:>8} {:>8} {:>8} {:>7} {:>5}  source",
            "id",
            "kind",
            "size",
            "accepted",
            "proposed",
            "rejected",
            "phrases",
            "links",
            w = handle_len
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
                "{:<w$}  {:<16} {:<12} {:>8} {:>8} {:>8} {:>7} {:>5}  {}{flag}",
                r["handle"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                size,
                n(&r["regions"]["accepted"]),
                n(&r["regions"]["proposed"]),
                n(&r["regions"]["rejected"]),
                n(&r["phrases"]),
                n(&r["links"]),
                r["source"].as_str().unwrap_or(""),
                w = handle_len,
            );
        }
    }
    for (id, p) in &missing {
        eprintln!(
            "warning: image {id}: source file missing: {} (use `voxmark relink`)",
            p.display()
        );
    }
    Ok(())
}

/// `voxmark check`: exit 0 when sound, 1 with the findings otherwise.
pub fn check(args: &CheckArgs) -> Result<(), CliError> {
    let project = Project::open(&args.project)?;
    let findings = project.check()?;
    if findings.is_empty() {
        println!("ok: integrity_check passed; links, spans and masks are consistent");
        return Ok(());
    }
    for line in &findings {
        println!("{line}");
    }
    Err(CliError::user(format!(
        "{} problem(s) in {}",
        findings.len(),
        args.project.display()
    )))
}

/// `voxmark relink`.
pub fn relink(args: &RelinkArgs) -> Result<(), CliError> {
    let mut project = Project::open(&args.project)?;
    let images = project.images()?;
    let image = project.resolve(crate::store::Entity::Image, &args.image)?;
    let Some(old) = images.iter().find(|i| i.id == image) else {
        return Err(CliError::user(format!(
            "no image {} in {}",
            args.image,
            args.project.display()
        )));
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
        return Err(CliError::user(format!(
            "no image with the size {:?} of image {} under {}",
            old.size,
            old.id,
            path.display()
        )));
    };
    let hash = io::content_hash(&found.files)?;
    if hash != old.content_hash && !args.force {
        return Err(CliError::user(format!(
            "the files under {} differ from what image {} was added from (content hash); use --force to relink anyway",
            path.display(),
            old.id
        )));
    }
    project.relink(old.id, &found.source, &found.files, &hash, &who())?;
    println!("image {} now reads from {}", old.id, found.source.display());
    Ok(())
}

/// Hidden `stress-commit`: commits transactions one by one (a box with the shared "Nodule" label,
/// every 7th a mask region with a stroke, every 5th a phrase linked to the box, every 3rd a link from
/// an earlier phrase, and with `--shared-mask` one voxel of a mask other writers paint too),
/// printing `committed <region id> [phrase=<id>] [link=<phrase>] [stroke=i,j,k]` after each commit
/// returns; the crash and many-writers tests kill it at random moments.
pub fn stress(args: &StressArgs) -> Result<(), CliError> {
    let mut project = Project::open(&args.project)?;
    let mut doc: Document = project.load_document()?;
    let shared = match &args.shared_mask {
        Some(t) => Some(project.resolve(crate::store::Entity::Region, t)?),
        None => None,
    };
    let Some((&image, info)) = doc.images.iter().next() else {
        return Err(CliError::user("the project has no image"));
    };
    let size = info.size;
    let mut history = History::new(64 << 20);
    let author = Author::Human(format!("stress{}", args.slot));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let started = std::time::Instant::now();
    let mut my_phrases: Vec<Id> = Vec::new();
    for n in 0..args.count {
        if args
            .seconds
            .is_some_and(|s| started.elapsed().as_secs_f64() > s)
        {
            break;
        }
        let id = Id::new();
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
            reported: None,
        };
        let mut note = String::new();
        let mut new_phrase = None;
        let result = (|| -> Result<Option<crate::core::Transaction>, crate::core::EditError> {
            history.begin("stress")?;
            let label = match doc.label_named("Nodule") {
                Some(l) => l.id,
                None => {
                    let label = crate::core::Label {
                        id: doc.new_label_id("Nodule"),
                        name: "Nodule".into(),
                        color: crate::core::annotation::LABEL_PALETTE[0],
                    };
                    let lid = label.id;
                    history.record(&mut doc, Edit::AddLabel(label))?;
                    lid
                }
            };
            let region = Region {
                label: Some(label),
                ..region
            };
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
                let pid = Id::new();
                new_phrase = Some(pid);
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
                note.push_str(&format!(" phrase={pid:#}"));
            } else if n % 3 == 0
                && let Some(&pid) = my_phrases.last()
            {
                history.record(
                    &mut doc,
                    Edit::Link {
                        phrase: pid,
                        region: id,
                    },
                )?;
                note.push_str(&format!(" link={pid:#}"));
            }
            if let Some(mask) = shared
                && let Some(m) = doc.masks.get(&mask)
            {
                // One voxel per transaction in this writer's rows: rows slot*12 .. slot*12+11.
                let cells = 12 * size[0] * size[2];
                let c = n % cells.max(1);
                let ijk = [
                    (c / 12) % size[0],
                    (args.slot * 12 + c % 12) % size[1],
                    (c / (12 * size[0])) % size[2],
                ];
                let b = VoxelBox {
                    min: ijk,
                    max: [ijk[0] + 1, ijk[1] + 1, ijk[2] + 1],
                };
                let before = m.read_box(b);
                history.record(&mut doc, Edit::paint(mask, b, &before, &[1]))?;
                note.push_str(&format!(" stroke={},{},{}", ijk[0], ijk[1], ijk[2]));
            }
            history.commit()
        })();
        let Some(tx) = result? else {
            continue;
        };
        project.commit(&tx, &author.to_string())?;
        // Only once saved: later links may refer to it.
        my_phrases.extend(new_phrase);
        if writeln!(out, "committed {id:#}{note}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// `voxmark copy`: a consistent copy of a project (SQLite's online backup) while others may write.
pub fn copy(args: &CopyArgs) -> Result<(), CliError> {
    let project = Project::open(&args.source)?;
    project.copy_to(&args.target)?;
    println!(
        "copied {} to {} (revision {})",
        args.source.display(),
        args.target.display(),
        project.revision().unwrap_or(0)
    );
    Ok(())
}

/// `voxmark salvage`: what was kept and lost per table; exit 0 when the new project was written.
pub fn salvage(args: &SalvageArgs) -> Result<(), CliError> {
    let report = crate::store::salvage::salvage(&args.damaged, &args.out)?;
    println!(
        "{:<11} {:>8} {:>8} {:>10}",
        "table", "kept", "dropped", "unreadable"
    );
    for t in &report.tables {
        println!(
            "{:<11} {:>8} {:>8} {:>10}",
            t.table, t.kept, t.dropped, t.unreadable
        );
        for (why, n) in &t.reasons {
            println!("    {n} dropped: {why}");
        }
    }
    if report.regions_unlabelled > 0 {
        println!(
            "{} region(s) kept without their label (the label was lost)",
            report.regions_unlabelled
        );
    }
    if report.reported_dropped > 0 {
        println!(
            "{} region(s) kept without the values a report gave for them (they did not decode)",
            report.reported_dropped
        );
    }
    let lost: usize = report.tables.iter().map(|t| t.dropped + t.unreadable).sum();
    println!(
        "wrote {} ({}); {} was not modified",
        args.out.display(),
        if lost == 0 {
            "everything was readable".to_string()
        } else {
            format!("{lost} row(s) or damaged place(s) lost")
        },
        args.damaged.display()
    );
    Ok(())
}

/// `voxmark recover`: re-applies the recovery journal; exit 1 when entries remain.
pub fn recover(args: &RecoverArgs) -> Result<(), CliError> {
    let mut project = Project::open(&args.project)?;
    let report = crate::store::journal::recover(&mut project, args.discard_conflicts)?;
    use crate::store::journal::Outcome;
    for (name, txn, outcome) in &report.outcomes {
        match outcome {
            Outcome::Applied => println!("applied \"{name}\" ({txn})"),
            Outcome::AlreadyApplied => {
                println!("already saved \"{name}\" ({txn}); dropped from the journal")
            }
            Outcome::Conflict(why) => println!(
                "{} \"{name}\" ({txn}): {why}",
                if args.discard_conflicts {
                    "discarded"
                } else {
                    "kept"
                }
            ),
            Outcome::Failed(why) => println!("kept \"{name}\" ({txn}): {why}"),
        }
    }
    if report.unreadable > 0 {
        println!(
            "{} incomplete line(s) at the end of the journal were dropped",
            report.unreadable
        );
    }
    if report.outcomes.is_empty() {
        println!("nothing to recover: {}", args.project.display());
    }
    if report.remaining > 0 {
        return Err(CliError::user(format!(
            "{} transaction(s) remain in the recovery journal; fix the cause and run `voxmark recover` again{}",
            report.remaining,
            if args.discard_conflicts {
                ""
            } else {
                " (or add --discard-conflicts)"
            }
        )));
    }
    Ok(())
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
