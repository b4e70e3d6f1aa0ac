//! An open `.voxmark` project as the viewer shows it: its image records, the annotation document
//! with its undo history, per-image indexes of regions and phrases, and the writer thread that
//! commits every transaction to the file as it happens.
//!
//! The methods that change the document ([`OpenProject::transact`], `begin`/`record`/`finish` for
//! strokes, `undo`, `redo`) are called from `AppState::apply` only (ARCHITECTURE.md §7).

use super::writer::Writer;
use crate::core::annotation::{Author, ImageId, PhraseId, RegionId, Shape, Status};
use crate::core::{Document, Edit, History, MaskTiles};
use crate::store::ImageRecord;
use std::collections::BTreeMap;
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
    /// Shown; the index into the viewer's images.
    Ready(usize),
    /// Not shown: why (missing files, unreadable).
    Problem(String),
}

/// A project opened in the viewer.
pub struct OpenProject {
    /// The `.voxmark` file.
    pub path: PathBuf,
    /// The load job that fills it (events of older jobs are ignored).
    pub job: u64,
    /// Image records, in id order.
    pub records: Vec<ImageRecord>,
    /// One state per record.
    pub states: Vec<RecordState>,
    /// The annotations as they were when the project opened.
    pub doc: Document,
    /// Regions and phrases per image.
    pub notes: BTreeMap<ImageId, ImageNotes>,
    /// Undo and redo.
    pub history: History,
    /// Commits to the file; `None` when the project is shown without one (tests of the panels).
    pub writer: Option<Writer>,
    /// Bumped by every change of the document (caches of drawn overlays compare it).
    pub revision: u64,
    /// Who the viewer's user is, recorded as the author of what they draw.
    pub who: Author,
    /// Transactions the writer could not save, newest last.
    pub save_errors: Vec<String>,
    /// Transactions saved since the project opened.
    pub saved: usize,
}

/// Undo memory per project (ITK-SNAP keeps a similar budget).
const UNDO_BYTES: usize = 256 << 20;

impl OpenProject {
    /// A project whose pixels are still loading.
    pub fn new(path: PathBuf, job: u64, records: Vec<ImageRecord>, doc: Document) -> Self {
        let notes = index(&doc);
        let states = records.iter().map(|_| RecordState::Loading).collect();
        Self {
            path,
            job,
            records,
            states,
            doc,
            notes,
            history: History::new(UNDO_BYTES),
            writer: None,
            revision: 0,
            who: Author::Human(user_name()),
            save_errors: Vec::new(),
            saved: 0,
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

    /// Collects what the writer reported.
    pub fn poll_writer(&mut self) {
        let Some(w) = &mut self.writer else {
            return;
        };
        for outcome in w.poll() {
            match outcome.error {
                None => self.saved += 1,
                Some(e) => self
                    .save_errors
                    .push(format!("{} was not saved: {e}", outcome.name)),
            }
        }
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
