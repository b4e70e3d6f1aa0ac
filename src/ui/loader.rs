//! Background loading: `io::scan_paths` on a named thread, so the UI never waits for a decoder.
//! A `.voxmark` project opens there too: its records and annotations first, then each image's pixels
//! from the files the project names, one event per image as it is decoded.

use super::slice::{self, Window};
use crate::core::annotation::ImageId;
use crate::core::{Document, Histogram, ValueStats, Volume};
use crate::io::{LoadedImage, NonImageObject};
use crate::store::{ImageRecord, Project};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Instant;

/// A decoded image with what the viewer needs up front (statistics are costly on big volumes).
pub struct ImageEntry {
    /// Where the image came from.
    pub image: ImageSource,
    /// The voxels and geometry, shared with background jobs (fills) without copying.
    pub volume: Arc<Volume>,
    /// Modality-value statistics over all voxels.
    pub stats: ValueStats,
    /// The window the image opens with.
    pub default_window: Window,
    /// The project image it shows, when it came from a project.
    pub project_image: Option<ImageId>,
    /// Modality values in 256 bins over [min, max] (at most about 4 M values sampled).
    pub histogram: Histogram,
    /// Window presets, cycled by L: the file's, the user's for the modality (CT's usual ones by
    /// default), auto from the histogram, full range.
    pub presets: Vec<(String, Window)>,
}

/// The files an image was read from (a [`LoadedImage`] without its voxels).
pub struct ImageSource {
    /// A file, or for a DICOM series the folder (or first file) it was found in.
    pub source: PathBuf,
    /// The files the voxels came from.
    pub files: Vec<PathBuf>,
    /// Source kind.
    pub kind: crate::io::SourceKind,
    /// For multi-volume files (4D NIfTI): which volume and of how many.
    pub volume_index: Option<(usize, usize)>,
}

impl ImageEntry {
    fn new(image: LoadedImage, project_image: Option<ImageId>) -> Self {
        let LoadedImage {
            source,
            files,
            kind,
            volume,
            volume_index,
        } = image;
        let image = ImageSource {
            source,
            files,
            kind,
            volume_index,
        };
        let stats = volume.stats();
        let v = &volume;
        let stride = v.voxels().len().div_ceil(1 << 22).max(1);
        let histogram = Histogram::of_voxels(v.voxels(), v.rescale(), &stats, 256, stride);
        // The viewer recomputes these with the user's presets when it takes the image (`refresh_presets`).
        let presets = slice::window_presets(v, &histogram, &Default::default());
        let mut default_window = slice::initial_window(v, stats.min, stats.max);
        // MR has no standard windows and outliers darken the full range: start from "auto".
        if v.meta.windows.is_empty()
            && v.meta.modality.as_deref() == Some("MR")
            && let Some((_, w)) = presets.iter().find(|(n, _)| n.starts_with("auto"))
        {
            default_window = *w;
        }
        Self {
            image,
            volume: Arc::new(volume),
            stats,
            default_window,
            project_image,
            histogram,
            presets,
        }
    }
}

impl ImageEntry {
    /// Recomputes [`Self::presets`] with the user's window presets.
    pub fn refresh_presets(&mut self, prefs: &super::prefs::Preferences) {
        self.presets = slice::window_presets(&self.volume, &self.histogram, prefs);
    }
}

/// What one load of files and folders produced.
pub struct Loaded {
    /// Decoded images.
    pub images: Vec<ImageEntry>,
    /// Recognised non-image DICOM objects.
    pub non_images: Vec<NonImageObject>,
    /// One message per file or series that failed.
    pub errors: Vec<String>,
}

/// A project's contents before any pixels are read.
pub struct ProjectContents {
    /// The `.voxmark` file.
    pub path: PathBuf,
    /// Its image records, in id order.
    pub records: Vec<ImageRecord>,
    /// Its annotations.
    pub document: Document,
    /// The open file, handed to the writer thread.
    pub project: Project,
}

/// What a load job reports, in order.
pub enum Event {
    /// Files and folders were read (the only event of such a job).
    Files(Loaded),
    /// A project opened; one [`Event::ProjectImage`] per record follows.
    ProjectOpened(Box<ProjectContents>),
    /// One project image: decoded, or a line saying why not (missing files, unreadable).
    ProjectImage {
        /// The record's id.
        id: ImageId,
        /// The image, or why it cannot be shown.
        result: Result<Box<ImageEntry>, String>,
    },
    /// The middle slice of a series whose decode goes on (shown until an image is ready).
    Preview {
        /// The slice as a one-slice image.
        entry: Box<ImageEntry>,
        /// Its index in the series.
        index: usize,
        /// The series' slice count.
        count: usize,
    },
    /// Images were added to the open project at `project` (records with their new ids).
    ImagesAdded {
        /// The project file.
        project: PathBuf,
        /// The new records and their decoded images, in the same order.
        added: Vec<(ImageRecord, ImageEntry)>,
        /// Files that could not be read.
        errors: Vec<String>,
        /// Images the project had already (the same files), not added again.
        already: Vec<ImageId>,
    },
    /// The job could not do its work (e.g. the project cannot be opened); the message names the file.
    Failed(String),
    /// The project file is damaged (it was not modified); salvage can copy what is readable.
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A load in progress.
pub struct LoadJob {
    /// Tells this job's events apart from those of earlier ones.
    pub id: u64,
    /// The paths being read.
    pub paths: Vec<PathBuf>,
    /// When it started.
    pub started: Instant,
    /// Images decoded and expected, once a project has said how many.
    pub progress: Option<(usize, usize)>,
    /// Events in order; `None` says the job finished.
    rx: Receiver<Option<Event>>,
}

/// Whether `path` names a project file (`*.voxmark`).
pub fn is_project(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("voxmark"))
}

impl LoadJob {
    /// Starts reading `paths` (files and folders) on a background thread; `ctx` is repainted when it
    /// finishes.
    pub fn spawn(id: u64, paths: Vec<PathBuf>, ctx: egui::Context) -> std::io::Result<Self> {
        let thread_paths = paths.clone();
        Self::start(id, paths, ctx, move |send| {
            let loaded = load(&thread_paths, send);
            send(Event::Files(loaded));
        })
    }

    /// Starts opening the project at `path` on a background thread; `ctx` is repainted after each
    /// event.
    pub fn spawn_project(id: u64, path: PathBuf, ctx: egui::Context) -> std::io::Result<Self> {
        let thread_path = path.clone();
        Self::start(id, vec![path], ctx, move |send| {
            load_project(&thread_path, send);
        })
    }

    /// Decodes project images that another writer added (one [`Event::ProjectImage`] each).
    pub fn spawn_records(
        id: u64,
        records: Vec<ImageRecord>,
        ctx: egui::Context,
    ) -> std::io::Result<Self> {
        let paths = records.iter().map(|r| r.source.clone()).collect();
        Self::start(id, paths, ctx, move |send| {
            for record in &records {
                let result = decode_record(record, &mut |_| {});
                send(Event::ProjectImage {
                    id: record.id,
                    result,
                });
            }
        })
    }

    /// Creates a project at `path` holding `records` (their content hashes are computed here),
    /// then opens it as [`Self::spawn_project`] does.
    pub fn spawn_new_project(
        id: u64,
        path: PathBuf,
        records: Vec<ImageRecord>,
        who: String,
        ctx: egui::Context,
    ) -> std::io::Result<Self> {
        let thread_path = path.clone();
        Self::start(id, vec![path], ctx, move |send| {
            match create_project(&thread_path, records, &who) {
                Ok(()) => load_project(&thread_path, send),
                Err(e) => send(Event::Failed(e)),
            }
        })
    }

    /// Reads `paths` and adds every image found to the project at `project` (a connection of its
    /// own; SQLite serialises it with the writer's).
    pub fn spawn_add_images(
        id: u64,
        project: PathBuf,
        paths: Vec<PathBuf>,
        who: String,
        ctx: egui::Context,
    ) -> std::io::Result<Self> {
        Self::start(id, paths.clone(), ctx, move |send| {
            send(add_images(&project, &paths, &who));
        })
    }

    fn start(
        id: u64,
        paths: Vec<PathBuf>,
        ctx: egui::Context,
        work: impl FnOnce(&mut dyn FnMut(Event)) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Option<Event>>();
        std::thread::Builder::new()
            .name("voxmark-load".into())
            .spawn(move || {
                let post = |tx: &Sender<Option<Event>>, m: Option<Event>| {
                    // The receiver is gone only when the window closed; nothing to report then.
                    tx.send(m).ok();
                    ctx.request_repaint();
                };
                work(&mut |event| post(&tx, Some(event)));
                post(&tx, None);
            })?;
        Ok(Self {
            id,
            paths,
            started: Instant::now(),
            progress: None,
            rx,
        })
    }

    /// The events that arrived since the last call, without blocking, and whether the job finished.
    pub fn poll(&mut self) -> (Vec<Event>, bool) {
        let mut events = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(Some(event)) => {
                    match &event {
                        Event::ProjectOpened(p) => self.progress = Some((0, p.records.len())),
                        Event::ProjectImage { .. } => {
                            if let Some((done, _)) = &mut self.progress {
                                *done += 1;
                            }
                        }
                        Event::Files(_)
                        | Event::Failed(_)
                        | Event::Damaged { .. }
                        | Event::ImagesAdded { .. }
                        | Event::Preview { .. } => {}
                    }
                    events.push(event);
                }
                Ok(None) => return (events, true),
                Err(TryRecvError::Empty) => return (events, false),
                Err(TryRecvError::Disconnected) => {
                    events.push(Event::Failed(format!(
                        "loading stopped unexpectedly: {}",
                        describe_paths(&self.paths)
                    )));
                    return (events, true);
                }
            }
        }
    }
}

/// The paths as one line for messages.
pub fn describe_paths(paths: &[PathBuf]) -> String {
    match paths {
        [one] => one.display().to_string(),
        _ => format!("{} paths", paths.len()),
    }
}

/// Reads `paths`; the middle slice of the largest DICOM series goes to `send` as a preview first.
fn load(paths: &[PathBuf], send: &mut dyn FnMut(Event)) -> Loaded {
    let scan = crate::io::scan_paths_with_preview(paths, &mut |p| send(preview_event(p)));
    let images = scan
        .images
        .into_iter()
        .map(|image| ImageEntry::new(image, None))
        .collect();
    Loaded {
        images,
        non_images: scan.non_images,
        errors: scan.errors.iter().map(ToString::to_string).collect(),
    }
}

fn preview_event(p: crate::io::dicom::Preview) -> Event {
    let image = LoadedImage {
        source: PathBuf::new(),
        files: Vec::new(),
        kind: crate::io::SourceKind::DicomSeries,
        volume: p.volume,
        volume_index: None,
    };
    Event::Preview {
        entry: Box::new(ImageEntry::new(image, None)),
        index: p.index,
        count: p.count,
    }
}

/// The record of a decoded image, without its content hash yet.
pub fn record_of(entry: &ImageEntry) -> ImageRecord {
    let img = &entry.image;
    ImageRecord::describe(
        &entry.volume,
        img.source.clone(),
        img.files.clone(),
        img.kind.as_str(),
        img.volume_index.map_or(0, |(i, _)| i),
        String::new(),
        None,
    )
}

fn hash_records(records: &mut [ImageRecord]) -> Result<(), String> {
    for r in records.iter_mut() {
        r.content_hash = crate::io::content_hash(&r.files)
            .map_err(|e| format!("cannot read {}: {e}", r.source.display()))?;
    }
    Ok(())
}

fn create_project(path: &Path, mut records: Vec<ImageRecord>, who: &str) -> Result<(), String> {
    hash_records(&mut records)?;
    let mut project = Project::create(path).map_err(|e| e.to_string())?;
    project
        .add_images(&records, who)
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn add_images(project: &Path, paths: &[PathBuf], who: &str) -> Event {
    let loaded = load(paths, &mut |_| {});
    let mut records: Vec<ImageRecord> = loaded.images.iter().map(record_of).collect();
    if let Err(e) = hash_records(&mut records) {
        return Event::Failed(e);
    }
    // Files the project has already are not added a second time (decided under the write lock, so
    // another process adding them at the same moment makes no second image).
    let added = Project::open(project).and_then(|mut p| p.add_images_once(&records, who));
    let added = match added {
        Ok(x) => x,
        Err(e) => return Event::Failed(e.to_string()),
    };
    let mut already = Vec::new();
    let mut fresh = Vec::new();
    let mut ids = Vec::new();
    for ((record, entry), a) in records.into_iter().zip(loaded.images).zip(added) {
        match a {
            crate::store::Added::New(id) => {
                fresh.push((record, entry));
                ids.push(id);
            }
            // Named twice in one drop: shown once.
            crate::store::Added::Already(id) if ids.contains(&id) => {}
            crate::store::Added::Already(id) => already.push(id),
        }
    }
    let added = fresh
        .into_iter()
        .zip(ids)
        .map(|((mut record, mut entry), id)| {
            record.id = id;
            entry.project_image = Some(id);
            (record, entry)
        })
        .collect();
    Event::ImagesAdded {
        project: project.to_path_buf(),
        added,
        errors: loaded.errors,
        already,
    }
}

/// Opens the project, reports its records and annotations, then decodes each image from the files
/// its record names.
fn load_project(path: &Path, send: &mut dyn FnMut(Event)) {
    let opened = Project::open(path).and_then(|project| {
        let records = project.images()?;
        let document = project.load_document()?;
        let missing = project.missing_sources()?;
        Ok((project, records, document, missing))
    });
    let (project, records, document, missing) = match opened {
        Ok(x) => x,
        Err(e @ crate::store::StoreError::Corrupt { .. }) => {
            return send(Event::Damaged {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
        Err(e) => return send(Event::Failed(e.to_string())),
    };
    send(Event::ProjectOpened(Box::new(ProjectContents {
        path: path.to_path_buf(),
        records: records.clone(),
        document,
        project,
    })));
    for (n, record) in records.iter().enumerate() {
        let result = match missing.iter().find(|(id, _)| *id == record.id) {
            Some((_, file)) => Err(format!(
                "missing: {} — use `voxmark relink`",
                file.display()
            )),
            // The first image is the one shown: its middle slice comes first.
            None if n == 0 => decode_record(record, send),
            None => decode_record(record, &mut |_| {}),
        };
        send(Event::ProjectImage {
            id: record.id,
            result,
        });
    }
}

/// Reads a record's files and picks the image it names: same size, volume index and series.
fn decode_record(
    record: &ImageRecord,
    send: &mut dyn FnMut(Event),
) -> Result<Box<ImageEntry>, String> {
    if record.files.is_empty() {
        return Err(format!("image {} lists no files", record.id));
    }
    let scan = crate::io::scan_paths_with_preview(&record.files, &mut |p| send(preview_event(p)));
    let found = crate::io::matching_image(
        scan.images,
        record.size,
        record.volume_index,
        record.series_uid.as_deref(),
    );
    match found {
        Some(image) => Ok(Box::new(ImageEntry::new(image, Some(record.id)))),
        None => {
            let [x, y, z] = record.size;
            let why = scan
                .errors
                .first()
                .map_or_else(String::new, |e| format!(" ({e})"));
            Err(format!(
                "image {}: no {x}×{y}×{z} image in its files{why}: {}",
                record.id,
                record.source.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u128, source: &Path, files: Vec<PathBuf>, size: [usize; 3]) -> ImageRecord {
        ImageRecord {
            id: crate::core::Id::from_u128(id),
            source: source.to_path_buf(),
            files,
            kind: "image2d".into(),
            volume_index: 0,
            content_hash: "not checked".into(),
            series_uid: None,
            modality: None,
            size,
            spacing_mm: [1.0; 3],
            origin_lps_mm: [0.0; 3],
            direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            dtype: "uint8".into(),
            components: 1,
            report: Some("Left basal opacity.".into()),
        }
    }

    fn run(path: &Path) -> Vec<Event> {
        let mut events = Vec::new();
        load_project(path, &mut |e| events.push(e));
        events
    }

    #[test]
    fn project_images_load_and_missing_ones_say_relink() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("cxr.png");
        image::GrayImage::from_fn(6, 4, |x, y| image::Luma([(x * 10 + y) as u8]))
            .save(&png)
            .unwrap();
        let gone = dir.path().join("gone.png");
        let project = dir.path().join("s.voxmark");
        let mut p = Project::create(&project).unwrap();
        p.add_images(
            &[
                record(1, &gone, vec![gone.clone()], [6, 4, 1]),
                record(2, &png, vec![png.clone()], [6, 4, 1]),
                record(3, &png, vec![png.clone()], [7, 4, 1]),
            ],
            "human:test",
        )
        .unwrap();
        drop(p);
        let events = run(&project);
        assert_eq!(events.len(), 4);
        let Event::ProjectOpened(c) = &events[0] else {
            panic!("no project");
        };
        assert_eq!(c.records.len(), 3);
        assert_eq!(
            c.document.images[&crate::core::Id::from_u128(2)]
                .report
                .as_deref(),
            Some("Left basal opacity.")
        );
        let results: Vec<_> = events[1..]
            .iter()
            .map(|e| match e {
                Event::ProjectImage { id, result } => {
                    (*id, result.as_ref().map(|e| e.project_image))
                }
                _ => panic!("unexpected event"),
            })
            .collect();
        assert_eq!(
            results[0],
            (
                crate::core::Id::from_u128(1),
                Err(&format!(
                    "missing: {} — use `voxmark relink`",
                    gone.display()
                ))
            )
        );
        assert_eq!(
            results[1],
            (
                crate::core::Id::from_u128(2),
                Ok(Some(crate::core::Id::from_u128(2)))
            )
        );
        assert!(
            matches!(&results[2], (id, Err(m)) if *id == crate::core::Id::from_u128(3) && m.contains("no 7×4×1 image")),
            "{:?}",
            results[2]
        );
    }

    #[test]
    fn a_series_sends_its_middle_slice_before_the_whole() {
        let root = std::env::var_os("VOXMARK_TEST_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
        let dir = root.join("dicom/series/ct_abdomen_20sl_j2kr");
        if !dir.is_dir() {
            return;
        }
        let mut events = Vec::new();
        let loaded = load(&[dir], &mut |e| events.push(e));
        assert_eq!(loaded.images.len(), 1);
        let [
            Event::Preview {
                entry,
                index: 10,
                count: 20,
            },
        ] = &events[..]
        else {
            panic!("one preview of slice 10 of 20 expected");
        };
        assert_eq!(entry.volume.size(), [512, 512, 1]);
        assert_eq!(entry.volume.meta.modality.as_deref(), Some("CT"));
    }

    #[test]
    fn refused_projects_are_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.voxmark");
        std::fs::write(&junk, b"not a database").unwrap();
        let events = run(&junk);
        assert!(matches!(&events[..], [Event::Failed(m)] if m.contains("junk.voxmark")));
        let events = run(&dir.path().join("absent.voxmark"));
        assert!(matches!(&events[..], [Event::Failed(_)]));
        assert!(is_project(Path::new("/a/S.VoxMark")) && !is_project(Path::new("/a/s.png")));
    }
}
