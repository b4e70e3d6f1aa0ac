//! Background loading: `io::scan_paths` on a named thread, so the UI never waits for a decoder.

use super::slice::{self, Window};
use crate::core::ValueStats;
use crate::io::{LoadedImage, NonImageObject};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

/// A decoded image with what the viewer needs up front (statistics are costly on big volumes).
pub struct ImageEntry {
    /// The image as `io` read it.
    pub image: LoadedImage,
    /// Modality-value statistics over all voxels.
    pub stats: ValueStats,
    /// The window the image opens with.
    pub default_window: Window,
}

/// What one load produced.
pub struct Loaded {
    /// Decoded images.
    pub images: Vec<ImageEntry>,
    /// Recognised non-image DICOM objects.
    pub non_images: Vec<NonImageObject>,
    /// One message per file or series that failed.
    pub errors: Vec<String>,
}

/// A load in progress.
pub struct LoadJob {
    /// The paths being read.
    pub paths: Vec<PathBuf>,
    /// When it started.
    pub started: Instant,
    rx: Receiver<Loaded>,
}

/// The state of a [`LoadJob`].
pub enum Poll {
    /// Still reading.
    Pending,
    /// Finished.
    Done(Loaded),
    /// The thread ended without a result (a bug in a reader).
    Failed(String),
}

impl LoadJob {
    /// Starts reading `paths` on a background thread; `ctx` is repainted when it finishes.
    pub fn spawn(paths: Vec<PathBuf>, ctx: egui::Context) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread_paths = paths.clone();
        std::thread::Builder::new()
            .name("voxmark-load".into())
            .spawn(move || {
                let loaded = load(&thread_paths);
                // The receiver is gone only when the window closed; nothing to report then.
                let _ = tx.send(loaded);
                ctx.request_repaint();
            })?;
        Ok(Self {
            paths,
            started: Instant::now(),
            rx,
        })
    }

    /// Checks without blocking whether the load finished.
    pub fn poll(&self) -> Poll {
        match self.rx.try_recv() {
            Ok(loaded) => Poll::Done(loaded),
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Failed(format!(
                "loading stopped unexpectedly: {}",
                describe_paths(&self.paths)
            )),
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

fn load(paths: &[PathBuf]) -> Loaded {
    let scan = crate::io::scan_paths(paths);
    let images = scan
        .images
        .into_iter()
        .map(|image| {
            let stats = image.volume.stats();
            let default_window = slice::initial_window(&image.volume, stats.min, stats.max);
            ImageEntry {
                image,
                stats,
                default_window,
            }
        })
        .collect();
    Loaded {
        images,
        non_images: scan.non_images,
        errors: scan.errors.iter().map(ToString::to_string).collect(),
    }
}
