//! Reversible edits of a [`Document`], grouped into transactions, and the undo [`History`].
//!
//! Every change to a document is an [`Edit`] that knows its inverse; one user action (a brush stroke,
//! a drag, an import) is one [`Transaction`] and one undo step. Mask edits keep run-length deltas of
//! the box they touched, never whole volumes. History memory is capped in bytes (oldest steps go
//! first), as ITK-SNAP's undo manager does; strokes begin/record/commit/abort as in napari.

use super::annotation::{
    Document, Heatmap, ImageId, ImageInfo, Label, Phrase, PhraseId, Region, RegionId, Shape,
    span_fits,
};
use super::mask::{MaskTiles, VoxelBox, rle_decode, rle_encode};
use std::collections::VecDeque;

/// One reversible change.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Edit {
    /// Adds an image.
    AddImage(ImageInfo),
    /// Removes an image that nothing refers to.
    RemoveImage(ImageInfo),
    /// Replaces an image's report text (phrase spans must still fit).
    SetReport {
        /// The image.
        image: ImageId,
        /// Text before.
        before: Option<String>,
        /// Text after.
        after: Option<String>,
    },
    /// Adds a label.
    AddLabel(Label),
    /// Removes a label no region uses.
    RemoveLabel(Label),
    /// Renames or recolours a label.
    UpdateLabel {
        /// Before.
        before: Label,
        /// After (same id).
        after: Label,
    },
    /// Adds a region, its mask voxels (`mask` regions) and links to existing phrases.
    AddRegion {
        /// The region.
        region: Region,
        /// Mask voxels.
        mask: Option<MaskTiles>,
        /// Phrases to link it to.
        links: Vec<PhraseId>,
    },
    /// Removes a region with its mask and links (the exact inverse of `AddRegion`).
    RemoveRegion {
        /// The region.
        region: Region,
        /// Its mask voxels.
        mask: Option<MaskTiles>,
        /// The phrases it was linked to.
        links: Vec<PhraseId>,
    },
    /// Changes a region's fields (same id, same image).
    UpdateRegion {
        /// Before.
        before: Region,
        /// After.
        after: Region,
    },
    /// Adds a phrase and links to existing regions.
    AddPhrase {
        /// The phrase.
        phrase: Phrase,
        /// Regions to link it to.
        links: Vec<RegionId>,
    },
    /// Removes a phrase with its links.
    RemovePhrase {
        /// The phrase.
        phrase: Phrase,
        /// The regions it was linked to.
        links: Vec<RegionId>,
    },
    /// Changes a phrase's fields (same id, same image).
    UpdatePhrase {
        /// Before.
        before: Phrase,
        /// After.
        after: Phrase,
    },
    /// Links a phrase to a region of the same image.
    Link {
        /// The phrase.
        phrase: PhraseId,
        /// The region.
        region: RegionId,
    },
    /// Removes a link.
    Unlink {
        /// The phrase.
        phrase: PhraseId,
        /// The region.
        region: RegionId,
    },
    /// Adds a heatmap.
    AddHeatmap(Heatmap),
    /// Removes a heatmap.
    RemoveHeatmap(Heatmap),
    /// Changes mask voxels inside a box: run-length values before and after, x fastest.
    PaintMask {
        /// The mask region.
        region: RegionId,
        /// The box touched.
        bounds: VoxelBox,
        /// RLE of the values before.
        before: Vec<u8>,
        /// RLE of the values after.
        after: Vec<u8>,
    },
}

/// Why an edit cannot apply to a document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// A row the edit needs is missing.
    #[error("{0} not found")]
    Missing(String),
    /// A row the edit adds exists already.
    #[error("{0} exists already")]
    Exists(String),
    /// The edit would break an invariant.
    #[error("{0}")]
    Invalid(String),
    /// `record`/`commit` without `begin`.
    #[error("no transaction is open")]
    NoTransaction,
    /// `begin` while one is open.
    #[error("transaction {0:?} is still open")]
    AlreadyOpen(String),
    /// Undo or redo of a step whose rows another writer changed since (undoing it would overwrite
    /// their work); the step is kept and can be neither undone nor redone.
    #[error("{0}")]
    Stale(String),
}

fn missing(what: &str, id: super::Id) -> EditError {
    EditError::Missing(format!("{what} {id}"))
}

fn invalid(what: impl Into<String>) -> EditError {
    EditError::Invalid(what.into())
}

impl Edit {
    /// The ids of the rows this edit writes (a link writes both ends).
    pub fn touches(&self) -> Vec<super::Id> {
        match self {
            Edit::AddImage(i) | Edit::RemoveImage(i) => vec![i.id],
            Edit::SetReport { image, .. } => vec![*image],
            Edit::AddLabel(l) | Edit::RemoveLabel(l) => vec![l.id],
            Edit::UpdateLabel { after, .. } => vec![after.id],
            Edit::AddRegion { region, links, .. } | Edit::RemoveRegion { region, links, .. } => {
                std::iter::once(region.id)
                    .chain(links.iter().copied())
                    .collect()
            }
            Edit::UpdateRegion { after, .. } => vec![after.id],
            Edit::AddPhrase { phrase, links } | Edit::RemovePhrase { phrase, links } => {
                std::iter::once(phrase.id)
                    .chain(links.iter().copied())
                    .collect()
            }
            Edit::UpdatePhrase { after, .. } => vec![after.id],
            Edit::Link { phrase, region } | Edit::Unlink { phrase, region } => {
                vec![*phrase, *region]
            }
            Edit::AddHeatmap(h) | Edit::RemoveHeatmap(h) => vec![h.id],
            Edit::PaintMask { region, .. } => vec![*region],
        }
    }

    /// The edit that undoes this one.
    pub fn inverse(&self) -> Edit {
        match self.clone() {
            Edit::AddImage(i) => Edit::RemoveImage(i),
            Edit::RemoveImage(i) => Edit::AddImage(i),
            Edit::SetReport {
                image,
                before,
                after,
            } => Edit::SetReport {
                image,
                before: after,
                after: before,
            },
            Edit::AddLabel(l) => Edit::RemoveLabel(l),
            Edit::RemoveLabel(l) => Edit::AddLabel(l),
            Edit::UpdateLabel { before, after } => Edit::UpdateLabel {
                before: after,
                after: before,
            },
            Edit::AddRegion {
                region,
                mask,
                links,
            } => Edit::RemoveRegion {
                region,
                mask,
                links,
            },
            Edit::RemoveRegion {
                region,
                mask,
                links,
            } => Edit::AddRegion {
                region,
                mask,
                links,
            },
            Edit::UpdateRegion { before, after } => Edit::UpdateRegion {
                before: after,
                after: before,
            },
            Edit::AddPhrase { phrase, links } => Edit::RemovePhrase { phrase, links },
            Edit::RemovePhrase { phrase, links } => Edit::AddPhrase { phrase, links },
            Edit::UpdatePhrase { before, after } => Edit::UpdatePhrase {
                before: after,
                after: before,
            },
            Edit::AddHeatmap(h) => Edit::RemoveHeatmap(h),
            Edit::RemoveHeatmap(h) => Edit::AddHeatmap(h),
            Edit::Link { phrase, region } => Edit::Unlink { phrase, region },
            Edit::Unlink { phrase, region } => Edit::Link { phrase, region },
            Edit::PaintMask {
                region,
                bounds,
                before,
                after,
            } => Edit::PaintMask {
                region,
                bounds,
                before: after,
                after: before,
            },
        }
    }

    /// Approximate memory the edit holds, for the history cap.
    pub fn byte_size(&self) -> usize {
        let s = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        let mask = |m: &Option<MaskTiles>| {
            m.as_ref().map_or(0, |m| {
                m.tiles().len() * super::mask::TILE * super::mask::TILE
            })
        };
        64 + match self {
            Edit::SetReport { before, after, .. } => s(before) + s(after),
            Edit::AddRegion { mask: m, links, .. } | Edit::RemoveRegion { mask: m, links, .. } => {
                128 + mask(m) + 8 * links.len()
            }
            Edit::AddPhrase { phrase, links } | Edit::RemovePhrase { phrase, links } => {
                64 + phrase.text.len() + 8 * links.len()
            }
            Edit::UpdatePhrase { before, after } => before.text.len() + after.text.len() + 128,
            Edit::PaintMask { before, after, .. } => before.len() + after.len(),
            Edit::AddHeatmap(h) | Edit::RemoveHeatmap(h) => 4 * h.values.len(),
            Edit::AddImage(i) | Edit::RemoveImage(i) => s(&i.report),
            _ => 128,
        }
    }

    /// A mask edit from the values of `bounds` before and after.
    pub fn paint(region: RegionId, bounds: VoxelBox, before: &[u8], after: &[u8]) -> Edit {
        Edit::PaintMask {
            region,
            bounds,
            before: rle_encode(before),
            after: rle_encode(after),
        }
    }

    /// The removal of region `id` with everything that hangs on it, ready to record.
    pub fn remove_region(doc: &Document, id: RegionId) -> Option<Edit> {
        let region = doc.regions.get(&id)?.clone();
        Some(Edit::RemoveRegion {
            region,
            mask: doc.masks.get(&id).cloned(),
            links: doc.phrases_of(id).collect(),
        })
    }

    /// The removal of phrase `id` with its links, ready to record.
    pub fn remove_phrase(doc: &Document, id: PhraseId) -> Option<Edit> {
        let phrase = doc.phrases.get(&id)?.clone();
        Some(Edit::RemovePhrase {
            phrase,
            links: doc.regions_of(id).collect(),
        })
    }

    /// Checks the edit against `doc` and applies it; on error the document is unchanged.
    pub fn apply(&self, doc: &mut Document) -> Result<(), EditError> {
        match self {
            Edit::AddImage(i) => {
                if doc.images.contains_key(&i.id) {
                    return Err(EditError::Exists(format!("image {}", i.id)));
                }
                doc.images.insert(i.id, i.clone());
            }
            Edit::RemoveImage(i) => {
                if doc.images.get(&i.id) != Some(i) {
                    return Err(missing("image", i.id));
                }
                if doc.regions.values().any(|r| r.image == i.id)
                    || doc.phrases.values().any(|p| p.image == i.id)
                    || doc.heatmaps.values().any(|h| h.image == i.id)
                {
                    return Err(invalid(format!(
                        "image {} still has regions or phrases",
                        i.id
                    )));
                }
                doc.images.remove(&i.id);
            }
            Edit::SetReport {
                image,
                before,
                after,
            } => {
                let img = doc
                    .images
                    .get(image)
                    .ok_or_else(|| missing("image", *image))?;
                if &img.report != before {
                    return Err(invalid(format!(
                        "image {image}: report changed since the edit was made"
                    )));
                }
                if let Some(p) = doc.phrases.values().find(|p| {
                    p.image == *image && p.span.is_some_and(|s| !span_fits(after.as_deref(), s))
                }) {
                    return Err(invalid(format!(
                        "phrase {} span {:?} would lie outside the new report",
                        p.id, p.span
                    )));
                }
                if let Some(img) = doc.images.get_mut(image) {
                    img.report = after.clone();
                }
            }
            Edit::AddLabel(l) => {
                if doc.labels.contains_key(&l.id) {
                    return Err(EditError::Exists(format!("label {}", l.id)));
                }
                if doc.labels.values().any(|o| o.name == l.name) {
                    return Err(EditError::Exists(format!("label named {:?}", l.name)));
                }
                doc.labels.insert(l.id, l.clone());
            }
            Edit::RemoveLabel(l) => {
                if doc.labels.get(&l.id) != Some(l) {
                    return Err(missing("label", l.id));
                }
                if doc.regions.values().any(|r| r.label == Some(l.id)) {
                    return Err(invalid(format!(
                        "label {:?} is still used by regions",
                        l.name
                    )));
                }
                doc.labels.remove(&l.id);
            }
            Edit::UpdateLabel { before, after } => {
                if before.id != after.id || doc.labels.get(&before.id) != Some(before) {
                    return Err(missing("label", before.id));
                }
                if doc
                    .labels
                    .values()
                    .any(|o| o.id != after.id && o.name == after.name)
                {
                    return Err(EditError::Exists(format!("label named {:?}", after.name)));
                }
                doc.labels.insert(after.id, after.clone());
            }
            Edit::AddRegion {
                region,
                mask,
                links,
            } => {
                if doc.regions.contains_key(&region.id) {
                    return Err(EditError::Exists(format!("region {}", region.id)));
                }
                check_region(doc, region, mask.as_ref())?;
                for p in links {
                    match doc.phrases.get(p) {
                        None => return Err(missing("phrase", *p)),
                        Some(ph) if ph.image != region.image => {
                            return Err(invalid(format!("phrase {p} belongs to another image")));
                        }
                        _ => {}
                    }
                }
                doc.regions.insert(region.id, region.clone());
                if let Some(m) = mask {
                    doc.masks.insert(region.id, m.clone());
                }
                for p in links {
                    doc.links.insert((*p, region.id));
                }
            }
            Edit::RemoveRegion {
                region,
                mask,
                links,
            } => {
                if doc.regions.get(&region.id) != Some(region) {
                    return Err(missing("region", region.id));
                }
                if doc.masks.get(&region.id) != mask.as_ref() {
                    return Err(invalid(format!(
                        "region {}: mask changed since the edit was made",
                        region.id
                    )));
                }
                let now: Vec<PhraseId> = doc.phrases_of(region.id).collect();
                if &now != links {
                    return Err(invalid(format!(
                        "region {}: links changed since the edit was made",
                        region.id
                    )));
                }
                doc.regions.remove(&region.id);
                doc.masks.remove(&region.id);
                for p in links {
                    doc.links.remove(&(*p, region.id));
                }
            }
            Edit::UpdateRegion { before, after } => {
                if before.id != after.id || doc.regions.get(&before.id) != Some(before) {
                    return Err(missing("region", before.id));
                }
                if before.image != after.image {
                    return Err(invalid("a region cannot move to another image"));
                }
                if (before.shape == Shape::Mask) != (after.shape == Shape::Mask) {
                    return Err(invalid(
                        "a region cannot change between mask and vector shapes",
                    ));
                }
                check_region(doc, after, doc.masks.get(&after.id))?;
                doc.regions.insert(after.id, after.clone());
            }
            Edit::AddPhrase { phrase, links } => {
                if doc.phrases.contains_key(&phrase.id) {
                    return Err(EditError::Exists(format!("phrase {}", phrase.id)));
                }
                check_phrase(doc, phrase)?;
                for r in links {
                    match doc.regions.get(r) {
                        None => return Err(missing("region", *r)),
                        Some(reg) if reg.image != phrase.image => {
                            return Err(invalid(format!("region {r} belongs to another image")));
                        }
                        _ => {}
                    }
                }
                doc.phrases.insert(phrase.id, phrase.clone());
                for r in links {
                    doc.links.insert((phrase.id, *r));
                }
            }
            Edit::RemovePhrase { phrase, links } => {
                if doc.phrases.get(&phrase.id) != Some(phrase) {
                    return Err(missing("phrase", phrase.id));
                }
                if doc.heatmaps.values().any(|h| h.phrase == Some(phrase.id)) {
                    return Err(invalid(format!(
                        "phrase {} still has heatmaps; remove them first",
                        phrase.id
                    )));
                }
                let now: Vec<RegionId> = doc.regions_of(phrase.id).collect();
                if &now != links {
                    return Err(invalid(format!(
                        "phrase {}: links changed since the edit was made",
                        phrase.id
                    )));
                }
                doc.phrases.remove(&phrase.id);
                for r in links {
                    doc.links.remove(&(phrase.id, *r));
                }
            }
            Edit::UpdatePhrase { before, after } => {
                if before.id != after.id || doc.phrases.get(&before.id) != Some(before) {
                    return Err(missing("phrase", before.id));
                }
                if before.image != after.image {
                    return Err(invalid("a phrase cannot move to another image"));
                }
                check_phrase(doc, after)?;
                doc.phrases.insert(after.id, after.clone());
            }
            Edit::AddHeatmap(h) => {
                if doc.heatmaps.contains_key(&h.id) {
                    return Err(EditError::Exists(format!("heatmap {}", h.id)));
                }
                let img = doc
                    .images
                    .get(&h.image)
                    .ok_or_else(|| missing("image", h.image))?;
                if let Some(p) = h.phrase {
                    match doc.phrases.get(&p) {
                        None => return Err(missing("phrase", p)),
                        Some(ph) if ph.image != h.image => {
                            return Err(invalid(format!("phrase {p} belongs to another image")));
                        }
                        _ => {}
                    }
                }
                if h.width == 0 || h.height == 0 || h.values.len() != h.width * h.height {
                    return Err(invalid(format!(
                        "heatmap {}: {} values for {}×{}",
                        h.id,
                        h.values.len(),
                        h.width,
                        h.height
                    )));
                }
                if h.slice as usize >= img.size[2] {
                    return Err(invalid(format!(
                        "heatmap {}: slice {} outside image {}",
                        h.id, h.slice, h.image
                    )));
                }
                doc.heatmaps.insert(h.id, h.clone());
            }
            Edit::RemoveHeatmap(h) => {
                if doc.heatmaps.get(&h.id) != Some(h) {
                    return Err(missing("heatmap", h.id));
                }
                doc.heatmaps.remove(&h.id);
            }
            Edit::Link { phrase, region } => {
                let p = doc
                    .phrases
                    .get(phrase)
                    .ok_or_else(|| missing("phrase", *phrase))?;
                let r = doc
                    .regions
                    .get(region)
                    .ok_or_else(|| missing("region", *region))?;
                if p.image != r.image {
                    return Err(invalid(format!(
                        "phrase {phrase} and region {region} are on different images"
                    )));
                }
                if !doc.links.insert((*phrase, *region)) {
                    return Err(EditError::Exists(format!(
                        "link phrase {phrase} → region {region}"
                    )));
                }
            }
            Edit::Unlink { phrase, region } => {
                if !doc.links.remove(&(*phrase, *region)) {
                    return Err(EditError::Missing(format!(
                        "link phrase {phrase} → region {region}"
                    )));
                }
            }
            Edit::PaintMask {
                region,
                bounds,
                before,
                after,
            } => {
                let m = doc
                    .masks
                    .get(region)
                    .ok_or_else(|| missing("mask of region", *region))?;
                if !bounds.fits(m.size()) {
                    return Err(invalid(format!(
                        "box {bounds:?} lies outside the mask grid {:?}",
                        m.size()
                    )));
                }
                let n = bounds.len();
                let old = rle_decode(before, n)
                    .filter(|v| v.len() == n)
                    .ok_or_else(|| invalid("corrupt mask delta (before)"))?;
                let new = rle_decode(after, n)
                    .filter(|v| v.len() == n)
                    .ok_or_else(|| invalid("corrupt mask delta (after)"))?;
                if m.read_box(*bounds) != old {
                    return Err(invalid(format!(
                        "region {region}: mask changed since the edit was made"
                    )));
                }
                if let Some(m) = doc.masks.get_mut(region) {
                    m.write_box(*bounds, &new);
                }
            }
        }
        Ok(())
    }
}

fn check_region(doc: &Document, r: &Region, mask: Option<&MaskTiles>) -> Result<(), EditError> {
    let img = doc
        .images
        .get(&r.image)
        .ok_or_else(|| missing("image", r.image))?;
    if let Some(l) = r.label
        && !doc.labels.contains_key(&l)
    {
        return Err(missing("label", l));
    }
    if !r.shape.is_valid() {
        return Err(invalid(format!(
            "region {}: invalid {} geometry",
            r.id,
            r.shape.kind()
        )));
    }
    if let Some(c) = r.confidence
        && !c.is_finite()
    {
        return Err(invalid(format!(
            "region {}: confidence is not finite",
            r.id
        )));
    }
    match (&r.shape, mask) {
        (Shape::Mask, Some(m)) if m.size() != img.size => Err(invalid(format!(
            "region {}: mask grid {:?} differs from image grid {:?}",
            r.id,
            m.size(),
            img.size
        ))),
        (Shape::Mask, None) => Err(invalid(format!(
            "region {}: a mask region needs its voxels",
            r.id
        ))),
        (s, Some(_)) if *s != Shape::Mask => Err(invalid(format!(
            "region {}: only mask regions have voxels",
            r.id
        ))),
        _ => Ok(()),
    }
}

fn check_phrase(doc: &Document, p: &Phrase) -> Result<(), EditError> {
    let img = doc
        .images
        .get(&p.image)
        .ok_or_else(|| missing("image", p.image))?;
    if let Some(span) = p.span
        && !span_fits(img.report.as_deref(), span)
    {
        let len = img.report.as_deref().map_or(0, |r| r.chars().count());
        return Err(invalid(format!(
            "phrase {}: span [{}, {}) lies outside the report ({len} characters)",
            p.id, span.0, span.1
        )));
    }
    Ok(())
}

/// One undo step: the edits of one user action, in the order they were applied.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    /// What the user did ("brush stroke", "import ms-cxr", ...).
    pub name: String,
    /// The edits, in order.
    pub edits: Vec<Edit>,
}

impl Transaction {
    /// The transaction that undoes this one (inverse edits in reverse order).
    pub fn inverse(&self) -> Transaction {
        Transaction {
            name: format!("undo {}", self.name),
            edits: self.edits.iter().rev().map(Edit::inverse).collect(),
        }
    }

    fn byte_size(&self) -> usize {
        self.name.len() + self.edits.iter().map(Edit::byte_size).sum::<usize>()
    }
}

/// One step on the undo or redo stack.
#[derive(Debug)]
struct Step {
    t: Transaction,
    size: usize,
    /// Why the step can no longer be undone or redone: another writer changed its rows since.
    stale: Option<String>,
}

/// Undo/redo stacks with an open transaction, capped in bytes.
#[derive(Debug)]
pub struct History {
    undo: VecDeque<Step>,
    redo: Vec<Step>,
    open: Option<Transaction>,
    bytes: usize,
    cap_bytes: usize,
}

impl History {
    /// A history keeping at most `cap_bytes` of undo data (at least the latest step is always kept).
    pub fn new(cap_bytes: usize) -> Self {
        Self {
            undo: VecDeque::new(),
            redo: Vec::new(),
            open: None,
            bytes: 0,
            cap_bytes,
        }
    }

    /// Starts a transaction.
    pub fn begin(&mut self, name: &str) -> Result<(), EditError> {
        if let Some(t) = &self.open {
            return Err(EditError::AlreadyOpen(t.name.clone()));
        }
        self.open = Some(Transaction {
            name: name.to_string(),
            edits: Vec::new(),
        });
        Ok(())
    }

    /// True while a transaction is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// True when the open transaction adds region `id` (aborting it would remove the region).
    pub fn open_adds(&self, id: RegionId) -> bool {
        self.open.as_ref().is_some_and(|t| {
            t.edits
                .iter()
                .any(|e| matches!(e, Edit::AddRegion { region, .. } if region.id == id))
        })
    }

    /// Applies `edit` to `doc` and records it in the open transaction.
    pub fn record(&mut self, doc: &mut Document, edit: Edit) -> Result<(), EditError> {
        let t = self.open.as_mut().ok_or(EditError::NoTransaction)?;
        edit.apply(doc)?;
        t.edits.push(edit);
        Ok(())
    }

    /// Closes the open transaction as one undo step and returns it (for the store to persist).
    /// An empty transaction is dropped and `None` returned.
    pub fn commit(&mut self) -> Result<Option<Transaction>, EditError> {
        let t = self.open.take().ok_or(EditError::NoTransaction)?;
        if t.edits.is_empty() {
            return Ok(None);
        }
        self.redo.clear();
        let size = t.byte_size();
        self.bytes += size;
        self.undo.push_back(Step {
            t: t.clone(),
            size,
            stale: None,
        });
        while self.bytes > self.cap_bytes && self.undo.len() > 1 {
            if let Some(s) = self.undo.pop_front() {
                self.bytes -= s.size;
            }
        }
        Ok(Some(t))
    }

    /// Reverts what the open transaction applied and closes it.
    pub fn abort(&mut self, doc: &mut Document) -> Result<(), EditError> {
        let t = self.open.take().ok_or(EditError::NoTransaction)?;
        for e in t.edits.iter().rev() {
            e.inverse().apply(doc)?;
        }
        Ok(())
    }

    fn closed(&self) -> Result<(), EditError> {
        match &self.open {
            Some(t) => Err(EditError::AlreadyOpen(t.name.clone())),
            None => Ok(()),
        }
    }

    /// Undoes the latest step; returns the edits applied (to persist), or `None` when there is none.
    /// A step another writer made stale ([`Self::mark_stale`]) is refused and stays where it is.
    pub fn undo(&mut self, doc: &mut Document) -> Result<Option<Transaction>, EditError> {
        self.closed()?;
        let Some(step) = self.undo.pop_back() else {
            return Ok(None);
        };
        if let Some(why) = &step.stale {
            let e = EditError::Stale(format!("cannot undo \"{}\": {why}", step.t.name));
            self.undo.push_back(step);
            return Err(e);
        }
        let inv = step.t.inverse();
        if let Err(e) = apply_all(doc, &inv) {
            self.undo.push_back(step);
            return Err(e);
        }
        self.bytes -= step.size;
        self.redo.push(step);
        Ok(Some(inv))
    }

    /// Redoes the latest undone step; returns the edits applied, or `None` when there is none.
    pub fn redo(&mut self, doc: &mut Document) -> Result<Option<Transaction>, EditError> {
        self.closed()?;
        let Some(step) = self.redo.pop() else {
            return Ok(None);
        };
        if let Some(why) = &step.stale {
            let e = EditError::Stale(format!("cannot redo \"{}\": {why}", step.t.name));
            self.redo.push(step);
            return Err(e);
        }
        if let Err(e) = apply_all(doc, &step.t) {
            self.redo.push(step);
            return Err(e);
        }
        self.bytes += step.size;
        let t = step.t.clone();
        self.undo.push_back(step);
        Ok(Some(t))
    }

    /// Marks every undo and redo step that writes one of `ids` as stale: another writer changed
    /// those rows since, so undoing or redoing the step would overwrite their work (or fail on rows
    /// they removed). `why` says what happened. Returns how many steps it newly marked.
    pub fn mark_stale(&mut self, ids: &std::collections::BTreeSet<super::Id>, why: &str) -> usize {
        let mut n = 0;
        for step in self.undo.iter_mut().chain(self.redo.iter_mut()) {
            if step.stale.is_none()
                && step
                    .t
                    .edits
                    .iter()
                    .any(|e| e.touches().iter().any(|id| ids.contains(id)))
            {
                step.stale = Some(why.to_string());
                n += 1;
            }
        }
        n
    }

    /// Undo steps available.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }
    /// Redo steps available.
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }
    /// Bytes held by the undo stack.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Applies every edit of a transaction, all or nothing.
pub fn apply_all(doc: &mut Document, t: &Transaction) -> Result<(), EditError> {
    for (n, e) in t.edits.iter().enumerate() {
        if let Err(err) = e.apply(doc) {
            for done in t.edits[..n].iter().rev() {
                // Reverting edits that just applied cannot fail; if one did, the document is
                // not what it was and the error must say so.
                if let Err(back) = done.inverse().apply(doc) {
                    return Err(EditError::Invalid(format!(
                        "{err}; undoing the edits before it failed too ({back})"
                    )));
                }
            }
            return Err(err);
        }
    }
    Ok(())
}
