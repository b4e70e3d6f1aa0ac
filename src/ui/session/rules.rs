//! The drawing rules of a session, which need no window: which label a new region takes, the
//! mask a stroke paints into (made, with its label, inside the open transaction when there is none
//! yet), which phrase a drawing grounds, and the region the viewer's user draws.

use super::DocumentSession;
use crate::core::annotation::{
    Grounding, ImageId, Label, LabelId, PhraseId, Region, RegionId, Shape, Status,
};
use crate::core::{Document, Edit, MaskTiles};
use crate::ui::theme;

/// The label a new region gets: the active one, else the first, else a new "Label 1" (whose
/// `AddLabel` edit is returned to go first in the same undo step).
pub(in crate::ui) fn label_for_drawing(
    doc: &Document,
    active: Option<LabelId>,
) -> (Vec<Edit>, LabelId) {
    if let Some(l) = active.filter(|l| doc.labels.contains_key(l)) {
        return (Vec::new(), l);
    }
    if let Some(l) = doc.first_label() {
        return (Vec::new(), l);
    }
    let label = next_label(doc);
    let id = label.id;
    (vec![Edit::AddLabel(label)], id)
}

/// A new label: "Label N" with the next palette colour.
pub(in crate::ui) fn next_label(doc: &Document) -> Label {
    let mut n = doc.labels.len() + 1;
    while doc.labels.values().any(|l| l.name == format!("Label {n}")) {
        n += 1;
    }
    Label {
        id: doc.new_label_id(&format!("Label {n}")),
        name: format!("Label {n}"),
        color: theme::LABEL_PALETTE[(n - 1) % theme::LABEL_PALETTE.len()],
    }
}

/// A region drawn by the viewer's user now.
pub(in crate::ui) fn new_region(
    id: RegionId,
    image: ImageId,
    label: LabelId,
    shape: Shape,
    p: &DocumentSession,
    now: i64,
) -> Region {
    Region {
        id,
        image,
        label: Some(label),
        shape,
        author: p.who().clone(),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: now,
        modified_ms: now,
        reported: None,
    }
}

/// The mask region the active label paints into on `image`, added (with its label if needed)
/// inside the open transaction when there is none yet.
pub(in crate::ui) fn mask_target(
    p: &mut DocumentSession,
    image: ImageId,
    size: [usize; 3],
    active: Option<LabelId>,
    phrase: Option<PhraseId>,
    now: i64,
) -> Result<(RegionId, LabelId), String> {
    let (edits, label) = label_for_drawing(p.doc(), active);
    let existing = p
        .doc()
        .regions
        .values()
        .find(|r| {
            r.image == image
                && r.label == Some(label)
                && r.shape == Shape::Mask
                && r.status != Status::Rejected
        })
        .map(|r| r.id);
    let id = match existing {
        Some(id) => {
            if let Some(ph) = phrase
                && !p.doc().links.contains(&(ph, id))
            {
                p.record(Edit::Link {
                    phrase: ph,
                    region: id,
                })?;
            }
            id
        }
        None => {
            for edit in edits {
                p.record(edit)?;
            }
            let id = crate::core::Id::new();
            let region = new_region(id, image, label, Shape::Mask, p, now);
            p.record(Edit::AddRegion {
                region,
                mask: Some(MaskTiles::new(size)),
                links: phrase.into_iter().collect(),
            })?;
            id
        }
    };
    if let Some(edit) = grounded(p.doc(), phrase, now) {
        p.record(edit)?;
    }
    Ok((id, label))
}

/// `phrase` when it belongs to `image` (drawing links to it).
pub(in crate::ui) fn phrase_on(
    doc: &Document,
    phrase: Option<PhraseId>,
    image: ImageId,
) -> Option<PhraseId> {
    phrase.filter(|ph| doc.phrases.get(ph).is_some_and(|x| x.image == image))
}

/// The edit marking `phrase` as annotated, when it is not yet.
pub(in crate::ui) fn grounded(doc: &Document, phrase: Option<PhraseId>, now: i64) -> Option<Edit> {
    let before = doc.phrases.get(&phrase?)?;
    (before.grounding != Grounding::Annotated).then(|| {
        let mut after = before.clone();
        after.grounding = Grounding::Annotated;
        after.modified_ms = now;
        Edit::UpdatePhrase {
            before: before.clone(),
            after,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Id;
    use crate::core::annotation::{Author, ImageInfo, Phrase};

    fn session() -> (DocumentSession, ImageId, PhraseId) {
        let mut doc = Document::default();
        let image = Id::from_u128(1);
        let other = Id::from_u128(2);
        for id in [image, other] {
            doc.images.insert(
                id,
                ImageInfo {
                    id,
                    size: [8, 8, 2],
                    report: None,
                },
            );
        }
        let phrase = Id::from_u128(5);
        doc.phrases.insert(
            phrase,
            Phrase {
                id: phrase,
                image,
                text: "Effusion.".into(),
                author: Author::Human("a".into()),
                span: None,
                category: None,
                grounding: Grounding::Pending,
                created_ms: 0,
                modified_ms: 0,
            },
        );
        let s = DocumentSession::new(
            "unused.voxmark".into(),
            0,
            Vec::new(),
            doc,
            Author::Human("tester".into()),
        );
        (s, image, phrase)
    }

    #[test]
    fn a_new_region_takes_the_active_label_else_the_first_else_a_new_one() {
        let (s, _, _) = session();
        let (edits, first) = label_for_drawing(s.doc(), None);
        assert!(matches!(&edits[..], [Edit::AddLabel(l)] if l.name == "Label 1" && l.id == first));
        let mut doc = s.doc().clone();
        edits[0].apply(&mut doc).unwrap();
        assert_eq!(label_for_drawing(&doc, None), (Vec::new(), first));
        let second = next_label(&doc);
        assert_eq!(second.name, "Label 2");
        Edit::AddLabel(second.clone()).apply(&mut doc).unwrap();
        assert_eq!(label_for_drawing(&doc, Some(second.id)).1, second.id);
        // An active label that is gone falls back to the first.
        assert_eq!(label_for_drawing(&doc, Some(Id::new())).1, first);
    }

    #[test]
    fn strokes_paint_one_mask_per_label_and_ground_the_phrase_once() {
        let (mut s, image, phrase) = session();
        assert_eq!(phrase_on(s.doc(), Some(phrase), image), Some(phrase));
        assert_eq!(phrase_on(s.doc(), Some(phrase), Id::from_u128(2)), None);
        s.begin("stroke").unwrap();
        let (mask, label) = mask_target(&mut s, image, [8, 8, 2], None, Some(phrase), 7).unwrap();
        s.finish().unwrap();
        let doc = s.doc();
        assert_eq!(doc.regions[&mask].shape, Shape::Mask);
        assert_eq!(doc.regions[&mask].label, Some(label));
        assert_eq!(doc.regions[&mask].author.to_string(), "human:tester");
        assert!(doc.links.contains(&(phrase, mask)));
        assert_eq!(doc.phrases[&phrase].grounding, Grounding::Annotated);
        assert_eq!(grounded(doc, Some(phrase), 8), None, "grounded once");
        // The next stroke of that label paints the same mask.
        s.begin("stroke").unwrap();
        let again = mask_target(&mut s, image, [8, 8, 2], Some(label), None, 9).unwrap();
        s.finish().unwrap();
        assert_eq!(again, (mask, label));
        assert_eq!(s.doc().regions.len(), 1);
        // Undo takes the first stroke's mask, label and grounding back in one step.
        assert_eq!(
            s.history().undo_len(),
            1,
            "the second stroke changed nothing"
        );
        s.undo().unwrap();
        assert!(s.doc().regions.is_empty() && s.doc().labels.is_empty());
        assert_eq!(s.doc().phrases[&phrase].grounding, Grounding::Pending);
    }
}
