//! Committing transactions with other writers about: one SQLite transaction per [`Transaction`]
//! (`BEGIN IMMEDIATE`, busy waited out and retried), one change-log row per edit, updates and
//! deletes made against the row revision this writer read (a conflict otherwise), mask strokes
//! merged voxel by voxel into whatever the file holds now.

use super::write::{Known, Row};
use super::{Project, Result, StoreError, classify, journal, now_ms};
use crate::core::{Edit, Id, Transaction};
use rusqlite::params;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the store acknowledged for one committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction's identity in the change log.
    pub txn: Id,
    /// The change-log revision of its last edit (the project's revision after it).
    pub revision: i64,
    /// True when the change log already held this transaction (a recovery applied twice): nothing
    /// was written again.
    pub already_applied: bool,
}

/// One row of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its revision (increasing).
    pub revision: i64,
    /// The transaction it belongs to.
    pub txn: Id,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Who wrote it (`human:<name>`, `model:<name>@<version>`).
    pub who: String,
    /// What was done (`add_region`, `update_phrase`, `paint_mask`, `link`, ...).
    pub action: String,
    /// The kind of row (`image`, `label`, `region`, `phrase`, `link`, `heatmap`, `project`).
    pub entity: String,
    /// The row (a link's phrase).
    pub entity_id: Option<Id>,
    /// A link's region.
    pub related_id: Option<Id>,
    /// The transaction's name.
    pub detail: Option<String>,
}

/// Appends one change-log row and returns its revision.
#[allow(clippy::too_many_arguments)]
pub(super) fn log_change(
    tx: &rusqlite::Transaction<'_>,
    txn: Id,
    at_ms: i64,
    who: &str,
    action: &str,
    entity: &str,
    entity_id: Option<Id>,
    related_id: Option<Id>,
    detail: &str,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO changes (txn, at_ms, who, action, entity, entity_id, related_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![txn, at_ms, who, action, entity, entity_id, related_id, detail])?;
    Ok(tx.last_insert_rowid())
}

impl Project {
    /// Runs `attempt` until it succeeds, fails for a reason other than a busy file, or
    /// [`Self::set_busy_timeout`]'s patience runs out (each attempt's SQLite calls wait too).
    pub(super) fn with_retries<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match attempt(self) {
                Err(StoreError::InUse { .. }) if started.elapsed() < self.patience => {
                    // Jitter, so that writers that collided do not collide again in step.
                    let jitter = Duration::from_micros(u64::from(Id::new().as_bytes()[15]) * 40);
                    std::thread::sleep(pause + jitter);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(StoreError::InUse { path, .. }) => {
                    return Err(StoreError::InUse {
                        path,
                        seconds: started.elapsed().as_secs().max(1),
                    });
                }
                other => return other,
            }
        }
    }

    /// Persists one transaction (already applied to the caller's document) in one SQLite
    /// transaction with a change-log row per edit, and returns what was acknowledged. Updates and
    /// deletes must be of rows this project read or wrote; when another writer changed or deleted
    /// such a row since, nothing is written and [`StoreError::Conflict`] says what and by whom.
    /// A busy file is waited out. Any other failure leaves the transaction in the recovery
    /// journal beside the file (`voxmark recover` re-applies it), and the error says so.
    pub fn commit(&mut self, t: &Transaction, who: &str) -> Result<Receipt> {
        let txn = Id::new();
        let expected = self.expected_revisions(t);
        match self.commit_as(txn, t, who, &expected) {
            Ok(r) => {
                // A caller that retried by itself and succeeded: its journal entry is done. The
                // commit stands either way (`recover` would find it applied and drop the entry).
                let journal = journal::Journal::beside(&self.path);
                if journal.path().exists() {
                    // A stale entry is harmless: `recover` finds it applied and drops it.
                    journal.forget(t).ok();
                }
                Ok(r)
            }
            Err(e) if journal::worth_keeping(&e) => {
                let entry = journal::Entry {
                    txn,
                    at_ms: now_ms(),
                    who: who.to_string(),
                    reason: e.to_string(),
                    expected: expected
                        .into_iter()
                        .map(|((entity, id), rev)| ((entity.to_string(), id), rev))
                        .collect(),
                    transaction: t.clone(),
                };
                match journal::Journal::beside(&self.path).append(&entry) {
                    Ok(()) => Err(e),
                    Err(j) => Err(StoreError::Journal {
                        path: journal::Journal::beside(&self.path).path().to_path_buf(),
                        why: format!("{e}; keeping it in the journal failed too ({j})"),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The revisions the rows `t` updates or deletes had when this project read them.
    pub(super) fn expected_revisions(&self, t: &Transaction) -> HashMap<Row, i64> {
        let known = self.known.borrow();
        t.edits
            .iter()
            .filter_map(target_of_change)
            .filter_map(|id| known.get(&id).map(|rev| (id, *rev)))
            .collect()
    }

    /// Commits `t` as transaction `txn` against the row revisions `expected` (what the writer had
    /// read); a `txn` the change log holds already is not applied again.
    pub(super) fn commit_as(
        &mut self,
        txn: Id,
        t: &Transaction,
        who: &str,
        expected: &HashMap<Row, i64>,
    ) -> Result<Receipt> {
        let (receipt, known) = self.with_retries(|p| p.try_commit(txn, t, who, expected))?;
        let mut k = self.known.borrow_mut();
        for change in known {
            match change {
                Known::At(id, rev) => {
                    k.insert(id, rev);
                }
                Known::Gone(id) => {
                    k.remove(&id);
                }
                Known::Nothing => {}
            }
        }
        Ok(receipt)
    }

    fn try_commit(
        &mut self,
        txn: Id,
        t: &Transaction,
        who: &str,
        expected: &HashMap<Row, i64>,
    ) -> Result<(Receipt, Vec<Known>)> {
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self.begin_write()?;
        let done: Option<i64> = tx
            .query_row("SELECT max(rev) FROM changes WHERE txn = ?1", [txn], |r| {
                r.get(0)
            })
            .map_err(e)?;
        if let Some(revision) = done {
            return Ok((
                Receipt {
                    txn,
                    revision,
                    already_applied: true,
                },
                Vec::new(),
            ));
        }
        let at = now_ms();
        let mut known = Vec::new();
        let mut revision = 0;
        // Later edits of the transaction are made against what its earlier edits wrote.
        let mut expected = expected.clone();
        for edit in &t.edits {
            let (action, entity, entity_id, related_id) = describe(edit);
            revision = log_change(
                &tx, txn, at, who, action, entity, entity_id, related_id, &t.name,
            )
            .map_err(e)?;
            let write = super::write::Writer {
                tx: &tx,
                path: &path,
                rev: revision,
                expected: &expected,
                action: &t.name,
            };
            let k = write.edit(edit)?;
            match &k {
                Known::At(id, rev) => {
                    expected.insert(*id, *rev);
                }
                Known::Gone(id) => {
                    expected.remove(id);
                }
                Known::Nothing => {}
            }
            known.push(k);
        }
        tx.commit().map_err(e)?;
        Ok((
            Receipt {
                txn,
                revision,
                already_applied: false,
            },
            known,
        ))
    }

    /// The first change whose transaction name contains `needle` (an import's tag), if any.
    pub fn change_with_detail(&self, needle: &str) -> Result<Option<Change>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rev, txn, at_ms, who, action, entity, entity_id, related_id, detail FROM changes
                 WHERE instr(detail, ?1) > 0 ORDER BY rev LIMIT 1",
            )
            .map_err(self.sql_err())?;
        let mut rows = st
            .query_map([needle], change_of_row)
            .map_err(self.sql_err())?;
        rows.next().transpose().map_err(self.sql_err())
    }

    /// The change log after revision `since`, oldest first (what other writers did, for a reader
    /// catching up).
    pub fn changes_since(&self, since: i64) -> Result<Vec<Change>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rev, txn, at_ms, who, action, entity, entity_id, related_id, detail FROM changes WHERE rev > ?1 ORDER BY rev",
            )
            .map_err(self.sql_err())?;
        st.query_map([since], change_of_row)
            .map_err(self.sql_err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sql_err())
    }
}

/// A change-log row selected as `rev, txn, at_ms, who, action, entity, entity_id, related_id, detail`.
fn change_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    Ok(Change {
        revision: r.get(0)?,
        txn: r.get(1)?,
        at_ms: r.get(2)?,
        who: r.get(3)?,
        action: r.get(4)?,
        entity: r.get(5)?,
        entity_id: r.get(6)?,
        related_id: r.get(7)?,
        detail: r.get(8)?,
    })
}

/// The row an edit updates or deletes (whose revision it is made against).
fn target_of_change(edit: &Edit) -> Option<Row> {
    Some(match edit {
        Edit::SetReport { image, .. } => ("image", *image),
        Edit::RemoveLabel(l) => ("label", l.id),
        Edit::UpdateLabel { after, .. } => ("label", after.id),
        Edit::RemoveRegion { region, .. } => ("region", region.id),
        Edit::UpdateRegion { after, .. } => ("region", after.id),
        Edit::RemovePhrase { phrase, .. } => ("phrase", phrase.id),
        Edit::UpdatePhrase { after, .. } => ("phrase", after.id),
        Edit::RemoveHeatmap(h) => ("heatmap", h.id),
        _ => return None,
    })
}

/// (action, entity, entity id, related id) of an edit's change-log row.
fn describe(edit: &Edit) -> (&'static str, &'static str, Option<Id>, Option<Id>) {
    match edit {
        Edit::AddImage(i) => ("add_image", "image", Some(i.id), None),
        Edit::RemoveImage(i) => ("remove_image", "image", Some(i.id), None),
        Edit::SetReport { image, .. } => ("set_report", "image", Some(*image), None),
        Edit::AddLabel(l) => ("add_label", "label", Some(l.id), None),
        Edit::RemoveLabel(l) => ("remove_label", "label", Some(l.id), None),
        Edit::UpdateLabel { after, .. } => ("update_label", "label", Some(after.id), None),
        Edit::AddRegion { region, .. } => ("add_region", "region", Some(region.id), None),
        Edit::RemoveRegion { region, .. } => ("remove_region", "region", Some(region.id), None),
        Edit::UpdateRegion { after, .. } => ("update_region", "region", Some(after.id), None),
        Edit::AddPhrase { phrase, .. } => ("add_phrase", "phrase", Some(phrase.id), None),
        Edit::RemovePhrase { phrase, .. } => ("remove_phrase", "phrase", Some(phrase.id), None),
        Edit::UpdatePhrase { after, .. } => ("update_phrase", "phrase", Some(after.id), None),
        Edit::Link { phrase, region } => ("link", "link", Some(*phrase), Some(*region)),
        Edit::Unlink { phrase, region } => ("unlink", "link", Some(*phrase), Some(*region)),
        Edit::AddHeatmap(h) => ("add_heatmap", "heatmap", Some(h.id), None),
        Edit::RemoveHeatmap(h) => ("remove_heatmap", "heatmap", Some(h.id), None),
        Edit::PaintMask { region, .. } => ("paint_mask", "region", Some(*region), None),
    }
}
