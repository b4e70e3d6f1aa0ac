//! An open `.voxmark` project as the viewer shows it: its image records, the annotation document
//! with its undo history, per-image indexes of regions and phrases, and the writer thread that
//! commits every transaction to the file as it happens and reports what other writers committed.
//!
//! [`DocumentSession`] is the only owner of the viewer's `Document` and `History` (its fields are
//! private): the methods that change them ([`DocumentSession::transact`], `begin`/`record`/`finish`
//! for strokes, `undo`, `redo`, and the merge of other writers' changes in
//! [`DocumentSession::poll_writer`]) are the only `&mut Document` in `ui/` (ARCHITECTURE.md §7).
//! Other writers' changes are merged row by row (`core::sync::merge`) between transactions, never
//! inside a stroke; undo and redo of a step whose rows they changed since are refused.

pub(in crate::ui) mod rules;

use super::writer::{Report, Writer};
use crate::core::annotation::{Author, ImageId, ImageInfo, PhraseId, RegionId, Shape, Status};
use crate::core::{Document, Edit, History, Id, MaskTiles};
use crate::store::{ImageRecord, Remote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Counts shown beside an image in the project browser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Regions made or accepted by a person.
    pub accepted: usize,
    /// Model proposals not reviewed yet.
    pub proposed: usize,
    /// Rejected regions (kept on record).
    pub rejected: usize,
    /// Phrases of the image's report.
    pub phrases: usize,
    /// Grounding links from the image's phrases to regions.
    pub links: usize,
}

/// The regions and phrases of one image, in id order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageNotes {
    /// Its regions.
    pub regions: Vec<RegionId>,
    /// Its phrases.
    pub phrases: Vec<PhraseId>,
    /// What the browser shows.
    pub counts: Counts,
}

/// Indexes the document by image.
pub fn index(doc: &Document) -> BTreeMap<ImageId, ImageNotes> {
    let mut notes: BTreeMap<ImageId, ImageNotes> = doc
        .images
        .keys()
        .map(|&id| (id, ImageNotes::default()))
        .collect();
    for r in doc.regions.values() {
        let n = notes.entry(r.image).or_default();
        n.regions.push(r.id);
        match r.status {
            Status::Accepted => n.counts.accepted += 1,
            Status::Proposed => n.counts.proposed += 1,
            Status::Rejected => n.counts.rejected += 1,
        }
    }
    for p in doc.phrases.values() {
        let n = notes.entry(p.image).or_default();
        n.phrases.push(p.id);
        n.counts.phrases += 1;
    }
    for (phrase, _) in &doc.links {
        if let Some(p) = doc.phrases.get(phrase) {
            notes.entry(p.image).or_default().counts.links += 1;
        }
    }
    notes
}

/// Where one project image stands.
pub enum RecordState {
    /// Its pixels are being read.
    Loading,
    /// Shown; the key of its view (`ViewState::uid`, stable while the viewer runs: indices shift
    /// when loose images close).
    Ready(u64),
    /// Not shown: why (missing files, unreadable).
    Problem(String),
}

/// A project opened in the viewer.
pub struct DocumentSession {
    /// The `.voxmark` file.
    pub path: PathBuf,
    /// The load jobs whose images belong to this project (events of other jobs are ignored).
    jobs: Vec<u64>,
    /// Image records, in the order they became known.
    pub records: Vec<ImageRecord>,
    /// One state per record.
    pub states: Vec<RecordState>,
    /// The annotations: the file's as it was opened, with this viewer's edits and other writers'
    /// merged changes.
    doc: Document,
    /// Regions and phrases per image.
    notes: BTreeMap<ImageId, ImageNotes>,
    /// Undo and redo.
    history: History,
    /// Commits to the file; `None` when the project is shown without one (tests of the panels).
    writer: Option<Writer>,
    /// Other writers' changes waiting for the transaction in progress to end.
    deferred: Vec<Remote>,
    /// Bumped by every change of the document (caches of drawn overlays compare it).
    revision: u64,
    /// Who the viewer's user is, recorded as the author of what they draw.
    who: Author,
    /// Transactions the writer could not save, newest last.
    save_errors: Vec<String>,
    /// Whether the latest job the writer reported failed.
    last_failed: bool,
    /// Transactions in the recovery journal, as the writer last counted them.
    journaled: usize,
    /// Transactions saved since the project opened.
    saved: usize,
    /// The journal held transactions when the project opened: offer to re-apply them.
    journal_offer: bool,
    /// Other writers' changes merged since the project opened.
    merged: usize,
}

/// What [`DocumentSession::poll_writer`] brought in.
#[derive(Debug, Default)]
pub struct Polled {
    /// Images other writers added: their pixels are to be loaded.
    pub new_records: Vec<ImageRecord>,
    /// A line for the status bar ("2 changes by human:bob").
    pub note: Option<String>,
}

/// What the status bar says about saving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveState {
    /// Everything handed to the writer is in the file.
    Saved,
    /// This many jobs are on their way.
    Saving(usize),
    /// The latest one was refused or failed: why, and how many wait in the recovery journal.
    NotSaved {
        /// The writer's message.
        why: String,
        /// Transactions kept in `<project>.recovery`.
        journaled: usize,
    },
    /// Saved, but earlier transactions wait in the recovery journal.
    Journaled(usize),
}

/// Undo memory per project (ITK-SNAP keeps a similar budget).
const UNDO_BYTES: usize = 256 << 20;

impl DocumentSession {
    /// A project whose pixels are still loading (by load job `job`); `who` authors its edits.
    pub fn new(
        path: PathBuf,
        job: u64,
        records: Vec<ImageRecord>,
        doc: Document,
        who: Author,
    ) -> Self {
        let notes = index(&doc);
        let states = records.iter().map(|_| RecordState::Loading).collect();
        Self {
            path,
            jobs: vec![job],
            records,
            states,
            doc,
            notes,
            history: History::new(UNDO_BYTES),
            writer: None,
            deferred: Vec::new(),
            revision: 0,
            who,
            save_errors: Vec::new(),
            last_failed: false,
            journaled: 0,
            saved: 0,
            journal_offer: false,
            merged: 0,
        }
    }

    /// Starts the writer thread on the opened `project` (else changes stay in memory, and say so).
    /// `patience`: how long a commit waits for a file another process keeps locked before it is
    /// kept in the recovery journal instead (the store's default when `None`).
    pub fn start_writer(
        &mut self,
        mut project: crate::store::Project,
        patience: Option<std::time::Duration>,
        ctx: &egui::Context,
    ) {
        if let Some(patience) = patience
            && let Err(e) = project.set_busy_timeout(patience)
        {
            self.save_errors.push(e.to_string());
        }
        self.journaled = crate::store::journal::Journal::beside(&self.path)
            .entries()
            .map_or(0, |c| c.entries.len());
        self.journal_offer = self.journaled > 0;
        match Writer::spawn(project, self.who.to_string(), ctx.clone()) {
            Ok(w) => self.writer = Some(w),
            Err(e) => self.save_errors.push(format!(
                "cannot start the project writer ({e}): changes stay in memory"
            )),
        }
    }

    /// The annotation document.
    pub fn doc(&self) -> &Document {
        &self.doc
    }

    /// The undo history (read only: steps are made through the session).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Bumped by every change of the document.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Who the viewer's user is.
    pub fn who(&self) -> &Author {
        &self.who
    }

    /// True when load job `job` loads this project's images.
    pub fn owns_job(&self, job: u64) -> bool {
        self.jobs.contains(&job)
    }

    /// Load job `job` loads images of this project too.
    pub fn add_job(&mut self, job: u64) {
        self.jobs.push(job);
    }

    /// Messages of saves that failed.
    pub fn save_errors(&self) -> &[String] {
        &self.save_errors
    }

    /// Transactions saved since the project opened.
    pub fn saved(&self) -> usize {
        self.saved
    }

    /// Other writers' changes merged since the project opened.
    pub fn merged(&self) -> usize {
        self.merged
    }

    /// Transactions waiting in the recovery journal (as last counted).
    pub fn journaled(&self) -> usize {
        self.journaled
    }

    /// True while the viewer should offer to re-apply the recovery journal found at opening.
    pub fn offers_journal(&self) -> bool {
        self.journal_offer && self.journaled > 0
    }

    /// The user answered the offer (or asked for it from the menu).
    pub fn dismiss_journal_offer(&mut self) {
        self.journal_offer = false;
    }

    /// What the status bar says about saving.
    pub fn save_state(&self) -> SaveState {
        match (self.last_failed, self.unsaved()) {
            (true, _) => SaveState::NotSaved {
                why: self.save_errors.last().cloned().unwrap_or_default(),
                journaled: self.journaled,
            },
            (false, 0) if self.journaled > 0 => SaveState::Journaled(self.journaled),
            (false, 0) => SaveState::Saved,
            (false, n) => SaveState::Saving(n),
        }
    }

    /// Images that the file already holds (added by the viewer's own import job): their records
    /// and document entries, without an undo step.
    pub fn add_records(&mut self, added: Vec<(ImageRecord, RecordState)>) {
        for (record, state) in added {
            self.doc
                .images
                .entry(record.id)
                .or_insert_with(|| ImageInfo {
                    id: record.id,
                    size: record.size,
                    report: record.report.clone(),
                });
            match self.records.iter().position(|r| r.id == record.id) {
                Some(at) => self.states[at] = state,
                None => {
                    self.records.push(record);
                    self.states.push(state);
                }
            }
        }
        self.revision += 1;
        self.reindex();
    }

    /// Records that image `id` finished loading (or failed); false when it is not a record of this
    /// project that is loading.
    pub fn image_loaded(&mut self, id: ImageId, state: RecordState) -> bool {
        match self.records.iter().position(|r| r.id == id) {
            Some(at) if matches!(self.states[at], RecordState::Loading) => {
                self.states[at] = state;
                true
            }
            _ => false,
        }
    }

    /// True when image `id` is a record of this project still loading.
    pub fn is_loading(&self, id: ImageId) -> bool {
        self.records
            .iter()
            .position(|r| r.id == id)
            .is_some_and(|at| matches!(self.states[at], RecordState::Loading))
    }

    /// Queues a consistent copy of the project at `target`.
    pub fn save_copy(&mut self, target: PathBuf) -> Result<(), String> {
        match &mut self.writer {
            Some(w) => w.copy(target),
            None => Err("the project has no writer: no copy was made".into()),
        }
    }

    /// Queues re-applying the recovery journal (`voxmark recover`); what it applies comes back
    /// like another writer's changes.
    pub fn recover_journal(&mut self, discard_conflicts: bool) -> Result<(), String> {
        self.journal_offer = false;
        match &mut self.writer {
            Some(w) => w.recover(discard_conflicts),
            None => Err("the project has no writer: the journal was not applied".into()),
        }
    }

    /// Waits until every job handed to the writer is done and stops it.
    pub fn flush(&mut self) {
        if let Some(w) = self.writer.take() {
            for outcome in w.finish() {
                self.journaled = outcome.journaled;
                match outcome.error {
                    None => self.saved += 1,
                    Some(e) => self.save_errors.push(format!("{}: {e}", outcome.name)),
                }
            }
        }
    }

    /// Starts a transaction that edits follow with [`Self::record`] (one brush stroke, one drag).
    pub fn begin(&mut self, name: &str) -> Result<(), String> {
        self.history.begin(name).map_err(|e| e.to_string())
    }

    /// Applies `edit` inside the open transaction.
    pub fn record(&mut self, edit: Edit) -> Result<(), String> {
        self.history
            .record(&mut self.doc, edit)
            .map_err(|e| e.to_string())?;
        self.revision += 1;
        Ok(())
    }

    /// Closes the open transaction as one undo step and hands it to the writer.
    pub fn finish(&mut self) -> Result<(), String> {
        let t = self.history.commit().map_err(|e| e.to_string())?;
        if let Some(t) = t {
            self.persist(t);
        }
        Ok(())
    }

    /// Reverts the open transaction, if any.
    pub fn abort(&mut self) {
        if self.history.is_open() && self.history.abort(&mut self.doc).is_ok() {
            self.revision += 1;
            self.reindex();
        }
    }

    /// Applies `edits` as one undo step named `name`; all or nothing.
    pub fn transact(&mut self, name: &str, edits: Vec<Edit>) -> Result<(), String> {
        self.begin(name)?;
        for edit in edits {
            if let Err(e) = self.record(edit) {
                self.abort();
                return Err(format!("{name}: {e}"));
            }
        }
        self.finish()
    }

    /// Undoes the latest step; returns its name.
    pub fn undo(&mut self) -> Result<Option<String>, String> {
        let t = self
            .history
            .undo(&mut self.doc)
            .map_err(|e| e.to_string())?;
        Ok(self.stepped(t))
    }

    /// Redoes the latest undone step; returns its name.
    pub fn redo(&mut self) -> Result<Option<String>, String> {
        let t = self
            .history
            .redo(&mut self.doc)
            .map_err(|e| e.to_string())?;
        Ok(self.stepped(t))
    }

    /// After an undo or redo: persists what it applied and returns its name.
    fn stepped(&mut self, t: Option<crate::core::Transaction>) -> Option<String> {
        let t = t?;
        let name = t.name.clone();
        self.revision += 1;
        self.persist(t);
        Some(name)
    }

    /// Changes fields of a region as one undo step named `name`.
    pub fn update_region(
        &mut self,
        name: &str,
        id: crate::core::RegionId,
        now: i64,
        change: impl FnOnce(&mut crate::core::Region),
    ) -> Result<(), String> {
        let before = self
            .doc
            .regions
            .get(&id)
            .ok_or("the region is gone")?
            .clone();
        let mut after = before.clone();
        change(&mut after);
        if after == before {
            return Ok(());
        }
        after.modified_ms = now;
        self.transact(name, vec![Edit::UpdateRegion { before, after }])
    }

    /// Changes fields of a phrase as one undo step named `name`.
    pub fn update_phrase(
        &mut self,
        name: &str,
        id: crate::core::PhraseId,
        now: i64,
        change: impl FnOnce(&mut crate::core::Phrase),
    ) -> Result<(), String> {
        let before = self
            .doc
            .phrases
            .get(&id)
            .ok_or("the phrase is gone")?
            .clone();
        let mut after = before.clone();
        change(&mut after);
        if after == before {
            return Ok(());
        }
        after.modified_ms = now;
        self.transact(name, vec![Edit::UpdatePhrase { before, after }])
    }

    fn persist(&mut self, t: crate::core::Transaction) {
        self.reindex();
        if let Some(w) = &mut self.writer
            && let Err(e) = w.commit(t)
        {
            self.save_errors.push(e);
        }
    }

    /// Rebuilds the per-image indexes after the document changed.
    pub fn reindex(&mut self) {
        self.notes = index(&self.doc);
    }

    /// Collects what the writer reported: outcomes of commits, and other writers' changes, which
    /// are merged now unless a transaction (a stroke, a drag) is open, else when it ends.
    pub fn poll_writer(&mut self) -> Polled {
        let mut out = Polled::default();
        if let Some(w) = &mut self.writer {
            for report in w.poll() {
                match report {
                    Report::Done(o) => {
                        self.journaled = o.journaled;
                        self.last_failed = o.error.is_some();
                        match o.error {
                            None => self.saved += 1,
                            Some(e) => self
                                .save_errors
                                .push(format!("{} was not saved: {e}", o.name)),
                        }
                    }
                    Report::Remote(r) => self.deferred.push(*r),
                }
            }
        }
        if self.history.is_open() || self.deferred.is_empty() {
            return out;
        }
        let mut authors: Vec<String> = Vec::new();
        let mut changes = 0;
        for remote in std::mem::take(&mut self.deferred) {
            for who in remote.authors() {
                if !authors.iter().any(|a| a == who) {
                    authors.push(who.to_string());
                }
            }
            changes += remote.changes.len();
            out.new_records.extend(self.merge_remote(remote));
        }
        if changes > 0 {
            let noun = if changes == 1 { "change" } else { "changes" };
            out.note = Some(format!(
                "{changes} {noun} by {} merged from the file",
                authors.join(", ")
            ));
        }
        out
    }

    /// Merges one report of the file's rows; returns the records of images new to the viewer.
    fn merge_remote(&mut self, remote: Remote) -> Vec<ImageRecord> {
        let why = if remote.changes.is_empty() {
            "it was not saved: the file holds another version".to_string()
        } else {
            format!("{} changed it since", remote.authors().join(", "))
        };
        let Remote {
            changes,
            touched,
            everything,
            document,
            records,
            revisions,
            ..
        } = remote;
        let stale: BTreeSet<Id> = if everything {
            all_ids(&self.doc).chain(all_ids(&document)).collect()
        } else {
            touched.clone()
        };
        let merged = crate::core::sync::merge(&mut self.doc, &document, &touched, everything);
        self.history.mark_stale(&stale, &why);
        if let Some(w) = &mut self.writer {
            w.adopt(revisions);
        }
        self.merged += changes.len();
        let mut new = Vec::new();
        for record in records {
            match self.records.iter_mut().find(|r| r.id == record.id) {
                Some(known) => *known = record,
                None if merged.new_images.contains(&record.id) || everything => {
                    self.records.push(record.clone());
                    self.states.push(RecordState::Loading);
                    new.push(record);
                }
                None => {}
            }
        }
        self.revision += 1;
        self.reindex();
        new
    }

    /// Transactions handed to the writer and not saved yet.
    pub fn unsaved(&self) -> usize {
        self.writer.as_ref().map_or(0, Writer::pending)
    }

    /// The file name, for titles.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The regions and phrases of `image` (empty for an image the document does not know).
    pub fn notes(&self, image: ImageId) -> Option<&ImageNotes> {
        self.notes.get(&image)
    }
}

/// Every id a document holds.
fn all_ids(doc: &Document) -> impl Iterator<Item = Id> + '_ {
    doc.images
        .keys()
        .chain(doc.labels.keys())
        .chain(doc.regions.keys())
        .chain(doc.phrases.keys())
        .chain(doc.heatmaps.keys())
        .copied()
}

/// The user's name for `human:<name>` authorship ($USER, else $USERNAME, else "user").
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "user".into())
}

/// The slice to show for a region: its own for slice shapes, the middle of its extent otherwise.
pub fn slice_of(shape: &Shape, mask: Option<&MaskTiles>) -> Option<usize> {
    let k = match shape {
        Shape::Box2d { slice, .. } | Shape::Polygon { slice, .. } => f64::from(*slice),
        Shape::Box3d { min, max } => ((min[2] + max[2]) / 2.0).round(),
        Shape::Point { at } => at[2].round(),
        Shape::Line { a, b } => ((a[2] + b[2]) / 2.0).round(),
        Shape::Mask => {
            let mut keys = mask?.tiles().keys();
            let first = keys.next()?.0;
            let last = keys.next_back().map_or(first, |k| k.0);
            f64::from((first + last) / 2)
        }
    };
    (k.is_finite() && k >= 0.0).then_some(k as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::annotation::{Author, Grounding, ImageInfo, Phrase, Region};
    use crate::core::mask::VoxelBox;

    fn region(id: RegionId, image: ImageId, status: Status, shape: Shape) -> Region {
        Region {
            id,
            image,
            label: None,
            shape,
            author: Author::Human("test".into()),
            prompt: None,
            status,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        }
    }

    #[test]
    fn counts_per_image() {
        let mut doc = Document::default();
        for id in [1, 2].map(crate::core::Id::from_u128) {
            doc.images.insert(
                id,
                ImageInfo {
                    id,
                    size: [4, 4, 1],
                    report: None,
                },
            );
        }
        let b = Shape::Box2d {
            slice: 0,
            min: [0.0, 0.0],
            max: [1.0, 1.0],
        };
        for (id, status) in [
            (1, Status::Accepted),
            (2, Status::Proposed),
            (3, Status::Proposed),
            (4, Status::Rejected),
        ] {
            let id = crate::core::Id::from_u128(id);
            doc.regions.insert(
                id,
                region(id, crate::core::Id::from_u128(2), status, b.clone()),
            );
        }
        doc.phrases.insert(
            crate::core::Id::from_u128(7),
            Phrase {
                id: crate::core::Id::from_u128(7),
                image: crate::core::Id::from_u128(2),
                text: "Opacity.".into(),
                author: Author::Human("test".into()),
                span: None,
                category: None,
                grounding: Grounding::Annotated,
                created_ms: 0,
                modified_ms: 0,
            },
        );
        doc.links.extend(
            [(7, 1), (7, 3)]
                .map(|(p, r)| (crate::core::Id::from_u128(p), crate::core::Id::from_u128(r))),
        );
        let notes = index(&doc);
        assert_eq!(notes[&crate::core::Id::from_u128(1)], ImageNotes::default());
        let n = &notes[&crate::core::Id::from_u128(2)];
        assert_eq!(
            n.regions,
            [1, 2, 3, 4].map(crate::core::Id::from_u128).to_vec()
        );
        assert_eq!(n.phrases, vec![crate::core::Id::from_u128(7)]);
        assert_eq!(
            n.counts,
            Counts {
                accepted: 1,
                proposed: 2,
                rejected: 1,
                phrases: 1,
                links: 2
            }
        );
    }

    #[test]
    fn slice_of_each_shape() {
        let b3 = Shape::Box3d {
            min: [0.0, 0.0, 2.0],
            max: [3.0, 3.0, 6.0],
        };
        assert_eq!(slice_of(&b3, None), Some(4));
        let p = Shape::Point {
            at: [1.0, 1.0, 3.2],
        };
        assert_eq!(slice_of(&p, None), Some(3));
        let mut m = MaskTiles::new([8, 8, 10]);
        let b = VoxelBox {
            min: [1, 1, 3],
            max: [2, 2, 8],
        };
        m.write_box(b, &vec![1; b.len()]);
        assert_eq!(slice_of(&Shape::Mask, Some(&m)), Some(5));
        assert_eq!(slice_of(&Shape::Mask, None), None);
    }
}
