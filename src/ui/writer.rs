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
//!
//! Every [`SYNC_POLL`] the writer asks the file whether another process committed
//! (`PRAGMA data_version`); when one did, it reads their changes and the rows they name
//! (`Project::foreign_since`) and reports them for the viewer to merge. A refused commit (a
//! conflict) is followed by the file's version of the rows it touched, so that the viewer never
//! shows as saved what the file does not hold.

use crate::core::Transaction;
use crate::store::{Project, Remote, Revisions, StoreError, journal};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the writer waits after its last commit before it checkpoints the file.
pub const IDLE_CHECKPOINT: Duration = Duration::from_secs(2);

/// How often the writer asks the file whether another process committed.
pub const SYNC_POLL: Duration = Duration::from_millis(250);

/// What the writer thread is asked to do.
enum Job {
    /// Commit a transaction.
    Commit(Transaction),
    /// Write a consistent copy of the project to a new file.
    Copy(PathBuf),
    /// The viewer merged these rows: edit them against these revisions from now on.
    Adopt(Revisions),
    /// Re-apply the recovery journal (transactions a failed commit kept beside the file).
    Recover {
        /// Drop entries that conflict with what other writers saved since.
        discard_conflicts: bool,
    },
}

/// What the writer reports for one job.
#[derive(Debug)]
pub struct Outcome {
    /// The transaction's name.
    pub name: String,
    /// Why it was not saved, or `None` when it was.
    pub error: Option<String>,
    /// Transactions waiting in the recovery journal after this job.
    pub journaled: usize,
}

/// What comes back from the writer thread.
#[derive(Debug)]
pub enum Report {
    /// A job finished.
    Done(Outcome),
    /// Another process wrote the project (or a refused commit's rows as the file holds them).
    Remote(Box<Remote>),
}

/// A handle on the writer thread.
pub struct Writer {
    jobs: Option<Sender<Job>>,
    reports: Receiver<Report>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
}

/// The writer thread's own state.
struct Thread {
    project: Project,
    who: String,
    /// Transactions this writer committed since the last read of other writers' changes.
    own: HashSet<crate::core::Id>,
    /// The change-log revision read up to.
    since: i64,
    /// `PRAGMA data_version` at the last look (it moves when another connection commits).
    version: Option<i64>,
    /// A commit not checkpointed yet, and when the last one happened.
    dirty: Option<Instant>,
}

impl Thread {
    fn journaled(&self) -> usize {
        journal::Journal::beside(self.project.path())
            .entries()
            .map_or(0, |c| c.entries.len())
    }

    fn run(&mut self, job: Job, send: &mut dyn FnMut(Report)) {
        match job {
            Job::Commit(t) => {
                let result = self.project.commit(&t, &self.who);
                self.dirty = Some(Instant::now());
                let conflict = matches!(result, Err(StoreError::Conflict { .. }));
                let error = match result {
                    Ok(receipt) => {
                        self.own.insert(receipt.txn);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                };
                send(Report::Done(Outcome {
                    name: t.name.clone(),
                    error,
                    journaled: self.journaled(),
                }));
                if conflict {
                    // The viewer shows the file's version of what it could not save.
                    let ids = t.edits.iter().flat_map(|e| e.touches()).collect();
                    if let Ok(remote) = self.project.read_rows(ids) {
                        send(Report::Remote(Box::new(remote)));
                    }
                }
            }
            Job::Copy(target) => send(Report::Done(Outcome {
                name: format!("a copy at {}", target.display()),
                error: self.project.copy_to(&target).err().map(|e| e.to_string()),
                journaled: self.journaled(),
            })),
            Job::Adopt(revisions) => self.project.adopt(&revisions),
            Job::Recover { discard_conflicts } => {
                let result = journal::recover(&mut self.project, discard_conflicts);
                self.dirty = Some(Instant::now());
                let error = match &result {
                    Ok(r) if r.remaining == 0 => None,
                    Ok(r) => Some(format!(
                        "{} transaction(s) could not be applied and stay in the journal",
                        r.remaining
                    )),
                    Err(e) => Some(e.to_string()),
                };
                send(Report::Done(Outcome {
                    name: "the recovery journal".into(),
                    error,
                    journaled: self.journaled(),
                }));
                // What it applied comes back like another writer's changes (a new transaction id).
                self.version = None;
            }
        }
    }

    /// Reads other writers' changes when the file says there are any.
    fn sync(&mut self, send: &mut dyn FnMut(Report)) {
        let version = self.project.data_version().ok();
        if version.is_some() && version == self.version {
            return;
        }
        match self.project.foreign_since(self.since, &self.own) {
            Ok((revision, remote)) => {
                self.version = version;
                self.since = revision;
                // Everything this writer committed is at or below `revision` now.
                self.own.clear();
                if let Some(remote) = remote {
                    send(Report::Remote(Box::new(remote)));
                }
            }
            // A busy or damaged file is asked again at the next poll.
            Err(_) => self.version = None,
        }
    }
}

impl Writer {
    /// Starts the writer for `project`; `who` is recorded in the change log; `ctx` is repainted
    /// after each report so that the status bar and the views follow.
    pub fn spawn(project: Project, who: String, ctx: egui::Context) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (report_tx, reports) = mpsc::channel();
        let since = project.revision().unwrap_or(0);
        let version = project.data_version().ok();
        let thread = std::thread::Builder::new()
            .name("voxmark-writer".into())
            .spawn(move || {
                let mut t = Thread {
                    project,
                    who,
                    own: HashSet::new(),
                    since,
                    version,
                    dirty: None,
                };
                let mut send = |r: Report| {
                    // The receiver is gone only when the app closed.
                    report_tx.send(r).ok();
                    ctx.request_repaint();
                };
                loop {
                    match job_rx.recv_timeout(SYNC_POLL) {
                        Ok(job) => t.run(job, &mut send),
                        Err(RecvTimeoutError::Timeout) => {
                            if t.dirty.is_some_and(|at| at.elapsed() >= IDLE_CHECKPOINT)
                                // Best effort: a busy file is checkpointed at the next idle time.
                                && t.project.checkpoint().is_ok()
                            {
                                t.dirty = None;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    t.sync(&mut send);
                }
                // Dropping the project checkpoints it.
                drop(t);
            })?;
        Ok(Self {
            jobs: Some(jobs),
            reports,
            thread: Some(thread),
            pending: 0,
        })
    }

    fn send(&mut self, job: Job, counted: bool) -> bool {
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if sent && counted {
            self.pending += 1;
        }
        sent
    }

    /// Queues `t`, already applied to the viewer's document, for commit (mask edits carry their
    /// voxel deltas, so no copy of the document goes along).
    pub fn commit(&mut self, t: Transaction) -> Result<(), String> {
        if self.send(Job::Commit(t), true) {
            Ok(())
        } else {
            Err("the project writer stopped; changes are kept in memory only".into())
        }
    }

    /// Queues a consistent copy of the project to `target` (after what is queued already).
    pub fn copy(&mut self, target: PathBuf) -> Result<(), String> {
        if self.send(Job::Copy(target), true) {
            Ok(())
        } else {
            Err("the project writer stopped; no copy was made".into())
        }
    }

    /// Tells the writer that the viewer merged the rows `r` names (see `store::sync`).
    pub fn adopt(&mut self, r: Revisions) {
        // A stopped writer saves nothing more: there is nothing to adopt for.
        self.send(Job::Adopt(r), false);
    }

    /// Queues re-applying the recovery journal.
    pub fn recover(&mut self, discard_conflicts: bool) -> Result<(), String> {
        if self.send(Job::Recover { discard_conflicts }, true) {
            Ok(())
        } else {
            Err("the project writer stopped; the journal was not applied".into())
        }
    }

    /// Reports that arrived since the last call.
    pub fn poll(&mut self) -> Vec<Report> {
        let out: Vec<Report> = self.reports.try_iter().collect();
        let done = out.iter().filter(|r| matches!(r, Report::Done(_))).count();
        self.pending = self.pending.saturating_sub(done);
        out
    }

    /// Jobs sent and not yet reported.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Waits until everything queued is committed; returns the outcomes not yet polled.
    pub fn finish(mut self) -> Vec<Outcome> {
        self.close();
        self.poll()
            .into_iter()
            .filter_map(|r| match r {
                Report::Done(o) => Some(o),
                Report::Remote(_) => None,
            })
            .collect()
    }

    fn close(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            eprintln!("voxmark: the project writer stopped unexpectedly; see the status bar");
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
                    reported: None,
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
