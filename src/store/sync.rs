//! Reading what other writers committed, for a viewer that keeps the project open.
//!
//! [`Project::foreign_since`] reads, in one read transaction, the change log after a revision
//! without the transactions this connection wrote, the rows those changes name and the state of the
//! file. The caller merges those rows into its document (`core::sync::merge`) and then hands the
//! [`Revisions`] back through [`Project::adopt`]: only from then on are its edits of those rows made
//! against the other writer's version. An edit sent before that (made on the old version) is
//! refused as a conflict, never an overwrite.

use super::write::Row;
use super::{Change, ImageRecord, Project, Result};
use crate::core::{Document, Id};
use std::collections::{BTreeSet, HashSet};

/// Above this many rows, a foreign change is read with the whole document (one query per table
/// either way; SQLite allows 32,766 parameters).
const MAX_LISTED: usize = 2000;

/// The revisions of the rows a [`Remote`] carries, to be adopted once merged.
#[derive(Clone, Debug, Default)]
pub struct Revisions {
    present: Vec<(Row, i64)>,
    gone: BTreeSet<Id>,
}

/// Other writers' changes and the state of the file after them.
#[derive(Debug)]
pub struct Remote {
    /// The project's revision this was read at (the next read starts after it).
    pub revision: i64,
    /// The changes of other writers, oldest first (empty when the read was asked for by id).
    pub changes: Vec<Change>,
    /// The ids of the rows they wrote.
    pub touched: BTreeSet<Id>,
    /// A change that names no row (a migration, a recovery): take the whole document.
    pub everything: bool,
    /// The rows named in `touched` as the file holds them now (the whole document when
    /// `everything`, or when too many rows changed to list).
    pub document: Document,
    /// The records of the touched images that the file holds (new images need them to load).
    pub records: Vec<ImageRecord>,
    /// Row revisions for [`Project::adopt`].
    pub revisions: Revisions,
}

impl Remote {
    /// Who wrote the changes, each once, in order.
    pub fn authors(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for c in &self.changes {
            if !seen.contains(&c.who.as_str()) {
                seen.push(c.who.as_str());
            }
        }
        seen
    }
}

impl Project {
    /// Other writers' changes after revision `since` (transactions in `own` are this writer's and
    /// are skipped), with the rows they name. `Ok((revision, None))` when there are none; the
    /// revision returned is where the next call starts.
    pub fn foreign_since(&self, since: i64, own: &HashSet<Id>) -> Result<(i64, Option<Remote>)> {
        self.read_snapshot(|| {
            let changes: Vec<Change> = self
                .changes_since(since)?
                .into_iter()
                .filter(|c| !own.contains(&c.txn))
                .collect();
            let revision = self.revision()?.max(since);
            if changes.is_empty() {
                return Ok((revision, None));
            }
            let mut touched = BTreeSet::new();
            let mut everything = false;
            for c in &changes {
                match c.entity_id {
                    Some(id) => {
                        touched.insert(id);
                        touched.extend(c.related_id);
                    }
                    None => everything = true,
                }
            }
            let remote = self.rows(revision, changes, touched, everything)?;
            Ok((revision, Some(remote)))
        })
    }

    /// The rows `ids` as the file holds them now (after a refused commit, so that the viewer shows
    /// the file's version again).
    pub fn read_rows(&self, ids: BTreeSet<Id>) -> Result<Remote> {
        self.read_snapshot(|| {
            let revision = self.revision()?;
            self.rows(revision, Vec::new(), ids, false)
        })
    }

    fn rows(
        &self,
        revision: i64,
        changes: Vec<Change>,
        touched: BTreeSet<Id>,
        everything: bool,
    ) -> Result<Remote> {
        // Only the rows named (a few, usually) unless there are too many to list in one query.
        let listed: Vec<Id> = touched.iter().copied().collect();
        let only = (!everything && listed.len() <= MAX_LISTED).then_some(listed.as_slice());
        let (document, revs) = self.read_document_of(only)?;
        let (records, image_revs) = self.read_images()?;
        let mut revisions = Revisions::default();
        let wanted = |id: &Id| everything || touched.contains(id);
        revisions.present = revs
            .into_iter()
            .chain(records.iter().map(|r| ("image", r.id)).zip(image_revs))
            .filter(|((_, id), _)| wanted(id))
            .collect();
        let present: HashSet<Id> = revisions.present.iter().map(|((_, id), _)| *id).collect();
        revisions.gone = touched
            .iter()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        let records = records.into_iter().filter(|r| wanted(&r.id)).collect();
        Ok(Remote {
            revision,
            changes,
            touched,
            everything,
            document,
            records,
            revisions,
        })
    }

    /// From now on, edits of the rows `r` names are made against the versions it carries (the
    /// caller merged them into what it shows).
    pub fn adopt(&self, r: &Revisions) {
        let mut known = self.known.borrow_mut();
        known.retain(|(_, id), _| !r.gone.contains(id));
        known.extend(r.present.iter().copied());
    }
}
