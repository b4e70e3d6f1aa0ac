//! The project writer: one named thread that owns the open `.voxmark` file and commits each
//! transaction as it is handed over, so that saving a large mask never blocks a frame.
//!
//! The UI thread applies a transaction to its document first (the view changes at once), then
//! sends it with the tiles it touched ([`store::commit_snapshot`]). Commits happen in order; a
//! failure is reported back and shown, and the in-memory document keeps the change so that nothing
//! the user drew is lost while the cause (a full disk, another process holding the file) is fixed.
//! Dropping the writer waits for the queue to drain.

use crate::core::{Document, Transaction};
use crate::store::{self, Project};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

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
    jobs: Option<Sender<(Transaction, Document)>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
}

impl Writer {
    /// Starts the writer for `project`; `who` is recorded in the audit table; `ctx` is repainted
    /// after each commit so that the status bar follows.
    pub fn spawn(mut project: Project, who: String, ctx: egui::Context) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::channel::<(Transaction, Document)>();
        let (outcome_tx, outcomes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("voxmark-writer".into())
            .spawn(move || {
                for (t, snapshot) in job_rx {
                    let error = project
                        .commit(&snapshot, &t, &who)
                        .err()
                        .map(|e| e.to_string());
                    // The receiver is gone only when the app closed.
                    let _ = outcome_tx.send(Outcome {
                        name: t.name,
                        error,
                    });
                    ctx.request_repaint();
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            outcomes,
            thread: Some(thread),
            pending: 0,
        })
    }

    /// Queues `t`, already applied to `doc`, for commit.
    pub fn commit(&mut self, doc: &Document, t: Transaction) -> Result<(), String> {
        let snapshot = store::commit_snapshot(doc, &t);
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send((t, snapshot)).is_ok());
        if sent {
            self.pending += 1;
            Ok(())
        } else {
            Err("the project writer stopped; changes are kept in memory only".into())
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
