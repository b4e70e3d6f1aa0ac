//! Turning imported rows into edits: labels found by name (made when new), regions and phrases
//! with one creation time, phrase spans found in the image's report. Each edit is applied to the
//! document and recorded in the open history transaction as it is made, so later rows see what
//! earlier rows added (a label made for the first row is reused by the next).

use super::annotation::{
    Author, Document, Grounding, ImageId, LABEL_PALETTE, Label, LabelId, Phrase, PhraseId, Region,
    RegionId, Reported, Shape, Status, geometry_digest,
};
use super::edit::{Edit, EditError, History};
use super::id::Id;
use super::mask::MaskTiles;

/// Records the edits of one import into `history` (whose transaction the caller began).
pub struct EditBuilder<'a> {
    doc: &'a mut Document,
    history: &'a mut History,
    at_ms: i64,
}

/// A region to add.
pub struct NewRegion {
    /// The image it lies on.
    pub image: ImageId,
    /// Its label.
    pub label: Option<LabelId>,
    /// Its geometry.
    pub shape: Shape,
    /// Who made it.
    pub author: Author,
    /// Review state.
    pub status: Status,
    /// Its voxels, for a mask.
    pub mask: Option<MaskTiles>,
    /// Its identity, when the source carries one new to the project (else a new one).
    pub id: Option<RegionId>,
    /// What a model was given to make it.
    pub prompt: Option<String>,
    /// Values a report gave for it, measured on exactly this `shape` and `mask` (their
    /// `geometry` digest is computed here from them; values measured on other geometry must not
    /// come this way).
    pub reported: Option<Reported>,
}

/// A phrase to add.
pub struct NewPhrase<'t> {
    /// The image whose report it belongs to.
    pub image: ImageId,
    /// Its text.
    pub text: &'t str,
    /// Who wrote it.
    pub author: &'t Author,
    /// Its `[start, end)` in characters of the image's report.
    pub span: Option<(usize, usize)>,
    /// Its category.
    pub category: Option<String>,
    /// The regions that ground it.
    pub links: Vec<RegionId>,
    /// Its grounding state; `None`: grounded by `links`, or "no visible grounding" without any.
    pub grounding: Option<Grounding>,
}

impl<'a> EditBuilder<'a> {
    /// A builder over `doc` recording into `history`; every row gets `at_ms` as its creation time.
    pub fn new(doc: &'a mut Document, history: &'a mut History, at_ms: i64) -> Self {
        EditBuilder {
            doc,
            history,
            at_ms,
        }
    }

    /// The document as the edits so far left it.
    pub fn doc(&self) -> &Document {
        self.doc
    }

    /// Applies and records one edit.
    ///
    /// # Errors
    /// The edit does not apply (a missing image, a duplicate id, …).
    pub fn record(&mut self, edit: Edit) -> Result<(), EditError> {
        self.history.record(self.doc, edit)
    }

    /// Makes `text` the image's report when it has none (and `text` is not empty), so that phrases
    /// imported with it can be spans of it. Imports set every report before adding phrases:
    /// setting one checks the image's phrases, which are then still few.
    ///
    /// # Errors
    /// The image is not in the document.
    pub fn report_when_missing(&mut self, image: ImageId, text: String) -> Result<(), EditError> {
        let missing = self
            .doc
            .images
            .get(&image)
            .is_some_and(|i| i.report.is_none());
        if missing && !text.is_empty() {
            self.record(Edit::SetReport {
                image,
                before: None,
                after: Some(text),
            })?;
        }
        Ok(())
    }

    /// The label named `name` (trimmed), made when the project has none: with `color`, else the
    /// next colour of the palette.
    ///
    /// # Errors
    /// The label cannot be added.
    pub fn label(&mut self, name: &str, color: Option<[u8; 4]>) -> Result<LabelId, EditError> {
        let name = name.trim();
        if let Some(l) = self.doc.labels.values().find(|l| l.name == name) {
            return Ok(l.id);
        }
        let id = self.doc.new_label_id(name);
        let color = color.unwrap_or(LABEL_PALETTE[self.doc.labels.len() % LABEL_PALETTE.len()]);
        self.record(Edit::AddLabel(Label {
            id,
            name: name.to_owned(),
            color,
        }))?;
        Ok(id)
    }

    /// Adds a region; gives its id.
    ///
    /// # Errors
    /// The region cannot be added.
    pub fn region(&mut self, r: NewRegion) -> Result<RegionId, EditError> {
        // A new id, never `Id::default()` (the nil id).
        let id = match r.id.filter(|id| !self.doc.regions.contains_key(id)) {
            Some(id) => id,
            None => Id::new(),
        };
        let reported = r.reported.map(|rep| {
            Box::new(Reported {
                geometry: geometry_digest(&r.shape, r.mask.as_ref()),
                ..rep
            })
        });
        let region = Region {
            id,
            image: r.image,
            label: r.label,
            shape: r.shape,
            author: r.author,
            prompt: r.prompt,
            status: r.status,
            confidence: None,
            created_ms: self.at_ms,
            modified_ms: self.at_ms,
            reported,
        };
        self.record(Edit::AddRegion {
            region,
            mask: r.mask,
            links: vec![],
        })?;
        Ok(id)
    }

    /// Adds a phrase; gives its id.
    ///
    /// # Errors
    /// The phrase cannot be added (a span outside the report, …).
    pub fn phrase(&mut self, p: NewPhrase<'_>) -> Result<PhraseId, EditError> {
        let id = Id::new();
        let grounding = p.grounding.unwrap_or(if p.links.is_empty() {
            Grounding::NoVisible
        } else {
            Grounding::Annotated
        });
        self.record(Edit::AddPhrase {
            phrase: Phrase {
                id,
                image: p.image,
                text: p.text.to_owned(),
                author: p.author.clone(),
                span: p.span,
                category: p.category,
                grounding,
                created_ms: self.at_ms,
                modified_ms: self.at_ms,
            },
            links: p.links,
        })?;
        Ok(id)
    }

    /// Where `text` first occurs in the image's report at or after character `from`, as a
    /// character span; `None` without a report or an occurrence.
    pub fn span_in_report(
        &self,
        image: ImageId,
        text: &str,
        from: usize,
    ) -> Option<(usize, usize)> {
        let report = self.doc.images.get(&image)?.report.as_deref()?;
        let from_byte = report
            .char_indices()
            .nth(from)
            .map_or(report.len(), |(b, _)| b);
        let at = from_byte + report.get(from_byte..)?.find(text)?;
        let start = report[..at].chars().count();
        Some((start, start + text.chars().count())).filter(|(a, b)| a < b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::annotation::ImageInfo;

    #[test]
    fn labels_are_reused_spans_found_and_ids_kept_when_new() {
        let mut doc = Document::default();
        let image = Id::new();
        doc.images.insert(
            image,
            ImageInfo {
                id: image,
                size: [10, 10, 1],
                report: Some("Enlarged heart. Small effusion; small effusion.".into()),
            },
        );
        let mut history = History::new(1 << 20);
        history.begin("import").unwrap();
        let mut b = EditBuilder::new(&mut doc, &mut history, 7);
        let l1 = b.label(" heart ", None).unwrap();
        assert_eq!(b.label("heart", Some([1, 2, 3, 4])).unwrap(), l1);
        assert_eq!(b.span_in_report(image, "Small effusion", 0), Some((16, 30)));
        assert_eq!(
            b.span_in_report(image, "small effusion", 20),
            Some((32, 46))
        );
        assert_eq!(b.span_in_report(image, "pneumothorax", 0), None);
        let keep = Id::new();
        let new = |id| NewRegion {
            image,
            label: Some(l1),
            shape: Shape::Point {
                at: [1.0, 1.0, 0.0],
            },
            author: Author::Human("a".into()),
            status: Status::Accepted,
            mask: None,
            id,
            prompt: None,
            reported: None,
        };
        assert_eq!(b.region(new(Some(keep))).unwrap(), keep);
        // The same id again is taken: a new one is made.
        let other = b.region(new(Some(keep))).unwrap();
        assert_ne!(other, keep);
        let p = b
            .phrase(NewPhrase {
                image,
                text: "Enlarged heart",
                author: &Author::Human("a".into()),
                span: Some((0, 14)),
                category: None,
                links: vec![keep],
                grounding: None,
            })
            .unwrap();
        assert_eq!(doc.phrases[&p].grounding, Grounding::Annotated);
        assert_eq!(doc.regions[&keep].created_ms, 7);
        assert_eq!(history.commit().unwrap().unwrap().edits.len(), 4);
    }
}
