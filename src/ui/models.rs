//! Models in the viewer: one background thread owns the loaded model (ONNX Runtime is found and
//! loaded there, never on the UI thread) and runs what the viewer asks — a box prompt of the model box
//! tool, the encoding of the shown slice ahead of it, or a whole image for segmentation and grounding
//! models — one job at a time, with progress and a cancel flag checked between steps. Results come
//! back as document edits that the viewer renumbers against its current document and applies as one
//! undo step (saved at once like any edit).

use crate::core::annotation::ImageId;
#[cfg(feature = "inference")]
use crate::core::{Document, Volume};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

#[cfg(feature = "inference")]
use crate::inference::job::{self, Model, Outcome, Request};

/// One line on model inference for the help window, once a background thread has looked for ONNX
/// Runtime (a library load, and perhaps a `python3` call: never on the UI thread); `None` until then.
/// The first call starts the search.
pub fn inference_status(ctx: &egui::Context) -> Option<String> {
    static STATUS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static PROBE: std::sync::Once = std::sync::Once::new();
    PROBE.call_once(|| {
        let ctx = ctx.clone();
        let started = std::thread::Builder::new()
            .name("voxmark-ort-probe".into())
            .spawn(move || {
                STATUS.set(probe()).ok();
                ctx.request_repaint();
            });
        if let Err(e) = started {
            STATUS
                .set(format!("Inference unavailable: cannot look for it ({e})"))
                .ok();
        }
    });
    STATUS.get().cloned()
}

/// One line on model inference: the ONNX Runtime found, or why there is none (`voxmark doctor`
/// says more).
fn probe() -> String {
    #[cfg(feature = "inference")]
    {
        match crate::inference::runtime::get() {
            Ok(r) => format!(
                "Inference: ONNX Runtime {} ({}; {})",
                r.version,
                r.found_by,
                r.providers.join(", ")
            ),
            Err(e) => format!(
                "Inference unavailable: {}",
                e.to_string().trim_start_matches("inference unavailable: ")
            ),
        }
    }
    #[cfg(not(feature = "inference"))]
    {
        "Inference unavailable: built without the `inference` feature".to_owned()
    }
}

/// What the viewer asks of the model thread.
#[cfg(feature = "inference")]
enum Ask {
    /// Run `request` on `volume` against a copy of the document's image, labels and phrases.
    Run {
        manifest: PathBuf,
        volume: Arc<Volume>,
        doc: Box<Document>,
        request: Request,
        what: String,
    },
    /// Load a model (so that its family is known before it runs).
    Load { manifest: PathBuf },
    /// Encode a slice ahead of a box prompt (promptable models only).
    Prefetch {
        manifest: PathBuf,
        volume: Arc<Volume>,
        image: ImageId,
        slice: usize,
    },
}

/// What the model thread says back.
#[cfg_attr(not(feature = "inference"), allow(dead_code))]
pub enum Reply {
    /// A model was loaded (its name, family and the runtime) or could not be.
    Loaded(Result<String, String>),
    /// A run finished: its edits (against the copy it was given), or why not.
    #[cfg(feature = "inference")]
    Done {
        /// The project image it ran on.
        image: ImageId,
        /// What was asked, for the status bar.
        what: String,
        /// The edits, or the error.
        outcome: Result<Outcome, String>,
        /// Wall time of the run.
        seconds: f64,
    },
}

/// The job under way, as the status bar shows it.
pub struct Running {
    /// What was asked.
    pub what: String,
    /// When.
    pub started: Instant,
}

/// The viewer's handle on the model thread.
pub struct ModelJobs {
    #[cfg(feature = "inference")]
    tx: Option<Sender<Ask>>,
    #[cfg(not(feature = "inference"))]
    #[allow(dead_code)]
    tx: Option<Sender<()>>,
    rx: Option<Receiver<Reply>>,
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    /// The run under way, if any.
    pub running: Option<Running>,
    /// The chosen model's manifest.
    pub manifest: Option<PathBuf>,
    /// What the thread said of the model last (name and family, or why it cannot be used).
    pub status: Option<Result<String, String>>,
    /// The slice last encoded ahead (image, slice).
    prefetched: Option<(ImageId, usize)>,
    /// The chosen model was sent to the thread to load.
    load_asked: bool,
}

impl Default for ModelJobs {
    fn default() -> Self {
        Self {
            tx: None,
            rx: None,
            cancel: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicUsize::new(0)),
            total: Arc::new(AtomicUsize::new(0)),
            running: None,
            manifest: std::env::var_os("VOXMARK_MODEL").map(PathBuf::from),
            status: None,
            prefetched: None,
            load_asked: false,
        }
    }
}

impl ModelJobs {
    /// Progress of the run under way: (done, total).
    pub fn progress(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Asks the run under way to stop at its next step.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Chooses another model (loaded on the thread at its next use).
    pub fn choose(&mut self, manifest: PathBuf) {
        self.manifest = Some(manifest);
        self.status = None;
        self.prefetched = None;
        self.load_asked = false;
    }

    /// The model's name for the toolbar.
    pub fn model_name(&self) -> String {
        match (&self.status, &self.manifest) {
            (Some(Ok(s)), _) => s.clone(),
            (_, Some(p)) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            (_, None) => "no model".into(),
        }
    }

    /// Replies that have arrived.
    pub fn poll(&mut self) -> Vec<Reply> {
        let Some(rx) = &self.rx else {
            return Vec::new();
        };
        let replies: Vec<Reply> = rx.try_iter().collect();
        for r in &replies {
            match r {
                Reply::Loaded(s) => self.status = Some(s.clone()),
                #[cfg(feature = "inference")]
                Reply::Done { .. } => self.running = None,
            }
        }
        replies
    }

    #[cfg(feature = "inference")]
    fn sender(&mut self, ctx: &egui::Context) -> Result<&Sender<Ask>, String> {
        if self.tx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Ask>();
            let (reply_tx, reply_rx) = std::sync::mpsc::channel();
            let ctx = ctx.clone();
            let (cancel, done, total) = (
                Arc::clone(&self.cancel),
                Arc::clone(&self.done),
                Arc::clone(&self.total),
            );
            std::thread::Builder::new()
                .name("voxmark-models".into())
                .spawn(move || worker(&rx, &reply_tx, &ctx, &cancel, &done, &total))
                .map_err(|e| format!("cannot start the model thread: {e}"))?;
            self.tx = Some(tx);
            self.rx = Some(reply_rx);
        }
        self.tx.as_ref().ok_or_else(|| "no model thread".to_owned())
    }

    /// Starts `request` on `volume`; `doc` is [`job_document`]'s copy of what the run needs.
    #[cfg(feature = "inference")]
    pub fn run(
        &mut self,
        ctx: &egui::Context,
        volume: Arc<Volume>,
        doc: Document,
        request: Request,
        what: String,
    ) -> Result<(), String> {
        if self.running.is_some() {
            return Err("a model job is running (Esc cancels it)".into());
        }
        let manifest = self
            .manifest
            .clone()
            .ok_or("choose a model first (its manifest .toml)")?;
        if let Some(Err(e)) = &self.status {
            return Err(e.clone());
        }
        self.cancel.store(false, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.sender(ctx)?
            .send(Ask::Run {
                manifest,
                volume,
                doc: Box::new(doc),
                request,
                what: what.clone(),
            })
            .map_err(|_| "the model thread has stopped".to_owned())?;
        self.running = Some(Running {
            what,
            started: Instant::now(),
        });
        Ok(())
    }

    /// Encodes the shown slice ahead of a box prompt, once per (image, slice), when the chosen model
    /// is promptable and nothing else runs.
    #[cfg(feature = "inference")]
    pub fn prefetch(
        &mut self,
        ctx: &egui::Context,
        volume: &Arc<Volume>,
        image: ImageId,
        slice: usize,
    ) {
        let promptable = matches!(&self.status, Some(Ok(s)) if s.contains("promptable"));
        if !promptable || self.running.is_some() || self.prefetched == Some((image, slice)) {
            return;
        }
        let Some(manifest) = self.manifest.clone() else {
            return;
        };
        self.prefetched = Some((image, slice));
        if let Ok(tx) = self.sender(ctx) {
            tx.send(Ask::Prefetch {
                manifest,
                volume: Arc::clone(volume),
                image,
                slice,
            })
            .ok();
        }
    }

    /// Loads the chosen model on the thread (so that its family is known) without running it; once
    /// per choice.
    #[cfg(feature = "inference")]
    pub fn load(&mut self, ctx: &egui::Context) {
        let Some(manifest) = self.manifest.clone() else {
            return;
        };
        if std::mem::replace(&mut self.load_asked, true) {
            return;
        }
        if let Ok(tx) = self.sender(ctx) {
            tx.send(Ask::Load { manifest }).ok();
        }
    }
}

/// What a model run on `image` needs of the document — the image, the labels and the image's
/// phrases, not the regions and masks — copied for the model thread.
#[cfg(feature = "inference")]
pub fn job_document(doc: &Document, image: ImageId) -> Document {
    let mut copy = Document {
        labels: doc.labels.clone(),
        ..Document::default()
    };
    if let Some(i) = doc.images.get(&image) {
        copy.images.insert(i.id, i.clone());
    }
    for (id, p) in doc.phrases.iter().filter(|(_, p)| p.image == image) {
        copy.phrases.insert(*id, p.clone());
    }
    copy
}

/// The model thread: one model kept loaded (reloaded when another manifest is asked for); runs
/// asks in order, only the newest of several waiting prefetches.
#[cfg(feature = "inference")]
fn worker(
    rx: &Receiver<Ask>,
    tx: &Sender<Reply>,
    ctx: &egui::Context,
    cancel: &AtomicBool,
    done: &AtomicUsize,
    total: &AtomicUsize,
) {
    let mut loaded: Option<(PathBuf, Model)> = None;
    let ensure = |path: &PathBuf, loaded: &mut Option<(PathBuf, Model)>| -> Result<(), String> {
        if loaded.as_ref().is_some_and(|(p, _)| p == path) {
            return Ok(());
        }
        *loaded = None;
        let result = crate::inference::Manifest::load(path)
            .and_then(|m| Model::load(m, None))
            .map_err(|e| e.to_string());
        let said = match &result {
            Ok(m) => {
                let mf = m.manifest();
                Ok(format!(
                    "{} {} ({})",
                    mf.name,
                    mf.version,
                    mf.family.as_str()
                ))
            }
            Err(e) => Err(e.clone()),
        };
        tx.send(Reply::Loaded(said)).ok();
        ctx.request_repaint();
        *loaded = Some((path.clone(), result?));
        Ok(())
    };
    while let Ok(first) = rx.recv() {
        let mut asks: Vec<Ask> = vec![first];
        asks.extend(rx.try_iter());
        // Of the prefetches waiting, only the newest matters.
        let last_prefetch = asks.iter().rposition(|a| matches!(a, Ask::Prefetch { .. }));
        for (n, ask) in asks.into_iter().enumerate() {
            match ask {
                Ask::Load { manifest } => {
                    // Its outcome went to the UI as `Reply::Loaded`.
                    ensure(&manifest, &mut loaded).ok();
                }
                Ask::Prefetch {
                    manifest,
                    volume,
                    image,
                    slice,
                } => {
                    if Some(n) != last_prefetch || ensure(&manifest, &mut loaded).is_err() {
                        continue;
                    }
                    if let Some((_, model)) = loaded.as_mut() {
                        // Prefetching only saves time: a failure shows when the model runs.
                        job::prefetch(model, image, &volume, slice).ok();
                    }
                }
                Ask::Run {
                    manifest,
                    volume,
                    doc,
                    request,
                    what,
                } => {
                    let started = Instant::now();
                    let outcome = ensure(&manifest, &mut loaded).and_then(|()| {
                        let (_, model) = loaded.as_mut().ok_or("no model")?;
                        job::run(
                            model,
                            &doc,
                            &volume,
                            &request,
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as i64),
                            &mut |d, t| {
                                done.store(d, Ordering::Relaxed);
                                total.store(t, Ordering::Relaxed);
                                ctx.request_repaint();
                                !cancel.load(Ordering::Relaxed)
                            },
                        )
                        .map_err(|e| e.to_string())
                    });
                    tx.send(Reply::Done {
                        image: request.image,
                        what,
                        outcome,
                        seconds: started.elapsed().as_secs_f64(),
                    })
                    .ok();
                    ctx.request_repaint();
                }
            }
        }
    }
}
