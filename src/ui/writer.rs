//! The project writer: one named thread that owns the open `.voxmark` file and commits each
//! transaction as it is handed over, so that saving a large mask never blocks a frame.
//!
//! The UI thread applies a transaction to its document first (the view changes at once), then
//! sends it (mask strokes carry their voxel deltas, merged into the file's tiles). Commits happen in order; a
//! failure is reported back and shown, and the in-memory document keeps the change so that nothing
//! the user drew is lost while the cause (a full disk, another process holding the file) is fixed.
//! Dropping the writer waits for the queue to drain; the project is checkpointed then (its WAL
//! copied into the `.voxmark` file) and also whenever the writer has been idle for
//! [`IDLE_CHECKPOINT`] after a commit, so that the file alone holds the work even if the process is
//! killed later. "Save a copy…" runs here too (SQLite's online backup of the open project).

use crate::core::Transaction;
use crate::store::Project;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer waits after its last commit before it checkpoints the file.
pub const IDLE_CHECKPOINT: Duration = Duration::from_secs(2);

/// What the writer thread is asked to do.
enum Job {
    /// Commit a transaction.
    Commit(Transaction),
    /// Write a consistent copy of the project to a new file.
    Copy(PathBuf),
}

/// What the writer reports for one transaction.
#[derive(Debug)]
pub struct Outcome {
    /// The transaction's name.
    pub name: String,
    /// Why it was not saved, or `None` when it was.
    pub error: Option<String>,
}

/// A handle on the writer thread.
pub struct Writer {
    jobs: Option<Sender<Job>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
}

impl Writer {
    /// Starts the writer for `project`; `who` is recorded in the audit table; `ctx` is repainted
    /// after each commit so that the status bar follows.
    pub fn spawn(mut project: Project, who: String, ctx: egui::Context) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (outcome_tx, outcomes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("voxmark-writer".into())
            .spawn(move || {
                let mut dirty = false;
                loop {
                    let job = match job_rx.recv_timeout(IDLE_CHECKPOINT) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => {
                            if dirty {
                                // Best effort: a busy file is checkpointed at the next idle time.
                                dirty = project.checkpoint().is_err();
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    let outcome = match job {
                        Job::Commit(t) => {
                            let error = project.commit(&t, &who).err().map(|e| e.to_string());
                            dirty = true;
                            Outcome {
                                name: t.name,
                                error,
                            }
                        }
                        Job::Copy(target) => Outcome {
                            name: format!("a copy at {}", target.display()),
                            error: project.copy_to(&target).err().map(|e| e.to_string()),
                        },
                    };
                    // The receiver is gone only when the app closed.
                    let _ = outcome_tx.send(outcome);
                    ctx.request_repaint();
                }
                // Dropping the project checkpoints it.
                drop(project);
            })?;
        Ok(Self {
            jobs: Some(jobs),
            outcomes,
            thread: Some(thread),
            pending: 0,
        })
    }

    /// Queues `t`, already applied to the viewer's document, for commit (mask edits carry their
    /// voxel deltas, so no copy of the document goes along).
    pub fn commit(&mut self, t: Transaction) -> Result<(), String> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send(Job::Commit(t)).is_ok());
        if sent {
            self.pending += 1;
            Ok(())
        } else {
            Err("the project writer stopped; changes are kept in memory only".into())
        }
    }

    /// Queues a consistent copy of the project to `target` (after what is queued already).
    pub fn copy(&mut self, target: PathBuf) -> Result<(), String> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send(Job::Copy(target)).is_ok());
        if sent {
            self.pending += 1;
            Ok(())
        } else {
            Err("the project writer stopped; no copy was made".into())
        }
    }

    /// Outcomes that arrived since the last call.
    pub fn poll(&mut self) -> Vec<Outcome> {
        let out: Vec<Outcome> = self.outcomes.try_iter().collect();
        self.pending = self.pending.saturating_sub(out.len());
        out
    }

    /// Transactions sent and not yet reported.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Waits until everything queued is committed; returns the outcomes not yet polled.
    pub fn finish(mut self) -> Vec<Outcome> {
        self.close();
        self.poll()
    }

    fn close(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Author, Edit, Id, Region, Shape, Status};
    use crate::store::ImageRecord;

    /// The file alone (no `-wal`) holds a commit once the writer has been idle, while the writer
    /// still holds it open; "save a copy" writes a copy that opens with it.
    #[test]
    fn an_idle_writer_checkpoints_and_copies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.voxmark");
        let mut p = Project::create(&path).unwrap();
        let image = p
            .add_images(
                &[ImageRecord {
                    id: Id::NIL,
                    source: "x".into(),
                    files: vec![],
                    kind: "image2d".into(),
                    volume_index: 0,
                    content_hash: "h".into(),
                    series_uid: None,
                    modality: None,
                    size: [8, 8, 1],
                    spacing_mm: [1.0; 3],
                    origin_lps_mm: [0.0; 3],
                    direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                    dtype: "uint8".into(),
                    components: 1,
                    report: None,
                }],
                "human:test",
            )
            .unwrap()[0];
        // Another connection keeps the WAL from being removed, as a second viewer would.
        let other = Project::open(&path).unwrap();
        let mut w = Writer::spawn(p, "human:test".into(), egui::Context::default()).unwrap();
        let id = Id::new();
        w.commit(Transaction {
            name: "draw".into(),
            edits: vec![Edit::AddRegion {
                region: Region {
                    id,
                    image,
                    label: None,
                    shape: Shape::Point {
                        at: [1.0, 1.0, 0.0],
                    },
                    author: Author::Human("test".into()),
                    prompt: None,
                    status: Status::Accepted,
                    confidence: None,
                    created_ms: 0,
                    modified_ms: 0,
                },
                mask: None,
                links: vec![],
            }],
        })
        .unwrap();
        std::thread::sleep(IDLE_CHECKPOINT + Duration::from_millis(1500));
        let alone = dir.path().join("alone.voxmark");
        std::fs::copy(&path, &alone).unwrap();
        let doc = Project::open(&alone).unwrap().load_document().unwrap();
        assert!(
            doc.regions.contains_key(&id),
            "the idle writer checkpointed"
        );
        let copy = dir.path().join("copy.voxmark");
        w.copy(copy.clone()).unwrap();
        let outcomes = w.finish();
        assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
        assert!(
            Project::open(&copy)
                .unwrap()
                .load_document()
                .unwrap()
                .regions
                .contains_key(&id)
        );
        drop(other);
    }
}
