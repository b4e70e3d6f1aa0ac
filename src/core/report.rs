//! Editing an image's report without losing its phrases: the spans follow the text.
//!
//! The change between the old and the new text is found as one edited stretch (the common prefix
//! and suffix stay). Spans before it stay, spans after it shift, a span that contains the whole
//! stretch grows or shrinks with it (its text becomes the new span's text), and a span cut by it
//! moves to the nearest place its text still occurs, else becomes a free phrase (text kept).

use super::annotation::{Document, ImageId, Phrase};
use super::edit::Edit;

/// What a report change does to the phrases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanChanges {
    /// Phrases whose span moved or resized.
    pub moved: usize,
    /// Phrases no longer in the report (kept as free phrases).
    pub freed: usize,
}

/// The new span of `[a, b)` after the old text's chars `[p, old_end)` became `[p, new_end)`.
fn remap(
    (a, b): (usize, usize),
    (p, old_end, new_end): (usize, usize, usize),
    text: &str,
    new: &[char],
) -> Option<(usize, usize)> {
    let delta = new_end as i64 - old_end as i64;
    if b <= p {
        return Some((a, b));
    }
    if a >= old_end {
        return Some(((a as i64 + delta) as usize, (b as i64 + delta) as usize));
    }
    if a <= p && b >= old_end {
        let end = (b as i64 + delta) as usize;
        let inside: String = new.get(a..end)?.iter().collect();
        return (!inside.trim().is_empty()).then_some((a, end));
    }
    // Cut by the change: the nearest occurrence of the phrase's text, if any.
    let needle: Vec<char> = text.chars().collect();
    if needle.is_empty() || needle.len() > new.len() {
        return None;
    }
    (0..=new.len() - needle.len())
        .filter(|&at| new[at..at + needle.len()] == needle[..])
        .min_by_key(|&at| at.abs_diff(a))
        .map(|at| (at, at + needle.len()))
}

/// The edits that replace image `image`'s report by `after`, one undo step: phrases whose span
/// changes are first made free (so the report change always validates), then get their new spans.
pub fn set_report_edits(
    doc: &Document,
    image: ImageId,
    after: Option<String>,
    now_ms: i64,
) -> Option<(Vec<Edit>, SpanChanges)> {
    let before = doc.images.get(&image)?.report.clone();
    if before == after {
        return None;
    }
    let old: Vec<char> = before.as_deref().unwrap_or("").chars().collect();
    let new: Vec<char> = after.as_deref().unwrap_or("").chars().collect();
    let prefix = old.iter().zip(&new).take_while(|(x, y)| x == y).count();
    let room = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(room)
        .take_while(|(x, y)| x == y)
        .count();
    let change = (prefix, old.len() - suffix, new.len() - suffix);
    let mut changes = SpanChanges::default();
    let (mut free, mut respan) = (Vec::new(), Vec::new());
    for ph in doc.phrases.values().filter(|p| p.image == image) {
        let Some(span) = ph.span else {
            continue;
        };
        let moved = remap(span, change, &ph.text, &new);
        if moved == Some(span) {
            continue;
        }
        let mut freed = ph.clone();
        freed.span = None;
        freed.modified_ms = now_ms;
        free.push(Edit::UpdatePhrase {
            before: ph.clone(),
            after: freed.clone(),
        });
        match moved.and_then(|(a, b)| Some(((a, b), new.get(a..b)?))) {
            Some(((a, b), words)) => {
                changes.moved += 1;
                let mut placed: Phrase = freed.clone();
                placed.span = Some((a, b));
                placed.text = words.iter().collect();
                respan.push(Edit::UpdatePhrase {
                    before: freed,
                    after: placed,
                });
            }
            None => changes.freed += 1,
        }
    }
    let mut edits = free;
    edits.push(Edit::SetReport {
        image,
        before,
        after,
    });
    edits.extend(respan);
    Some((edits, changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::annotation::{Grounding, ImageInfo};

    fn doc(report: &str, spans: &[(usize, usize)]) -> Document {
        let mut d = Document::default();
        d.images.insert(
            crate::core::Id::from_u128(1),
            ImageInfo {
                id: crate::core::Id::from_u128(1),
                size: [4, 4, 1],
                report: Some(report.into()),
            },
        );
        let chars: Vec<char> = report.chars().collect();
        for (n, &(a, b)) in spans.iter().enumerate() {
            let id = crate::core::Id::from_u128(n as u128 + 1);
            d.phrases.insert(
                id,
                Phrase {
                    id,
                    image: crate::core::Id::from_u128(1),
                    text: chars[a..b].iter().collect(),
                    author: "human:a".parse().unwrap(),
                    span: Some((a, b)),
                    category: None,
                    grounding: Grounding::Pending,
                    created_ms: 0,
                    modified_ms: 0,
                },
            );
        }
        d
    }

    fn apply(d: &mut Document, new: &str) -> SpanChanges {
        let (edits, changes) =
            set_report_edits(d, crate::core::Id::from_u128(1), Some(new.into()), 5).unwrap();
        for e in &edits {
            e.apply(d).unwrap();
        }
        changes
    }

    fn span_text(d: &Document, id: u128) -> Option<String> {
        let p = &d.phrases[&crate::core::Id::from_u128(id)];
        let report: Vec<char> = d.images[&crate::core::Id::from_u128(1)]
            .report
            .as_ref()?
            .chars()
            .collect();
        let (a, b) = p.span?;
        let text: String = report[a..b].iter().collect();
        assert_eq!(text, p.text, "the phrase text is its span's text");
        Some(text)
    }

    #[test]
    fn spans_follow_the_text_through_edits() {
        // "Small left effusion. Mild cardiomegaly." with both findings as phrases.
        let mut d = doc(
            "Small left effusion. Mild cardiomegaly.",
            &[(6, 19), (26, 38)],
        );
        // Typing before both: both shift.
        let c = apply(&mut d, "Findings: Small left effusion. Mild cardiomegaly.");
        assert_eq!(c, SpanChanges { moved: 2, freed: 0 });
        assert_eq!(span_text(&d, 1).as_deref(), Some("left effusion"));
        assert_eq!(span_text(&d, 2).as_deref(), Some("cardiomegaly"));
        // A word inserted inside the first span: it grows; the second shifts.
        apply(
            &mut d,
            "Findings: Small left pleural effusion. Mild cardiomegaly.",
        );
        assert_eq!(span_text(&d, 1).as_deref(), Some("left pleural effusion"));
        assert_eq!(span_text(&d, 2).as_deref(), Some("cardiomegaly"));
        // An edit after both changes nothing.
        let c = apply(
            &mut d,
            "Findings: Small left pleural effusion. Mild cardiomegaly. No pneumothorax.",
        );
        assert_eq!(c, SpanChanges::default());
        // Deleting part of the second phrase's words: it shrinks with them.
        let c = apply(
            &mut d,
            "Findings: Small left pleural effusion. Mild cardio. No pneumothorax.",
        );
        assert_eq!(c, SpanChanges { moved: 1, freed: 0 });
        assert_eq!(span_text(&d, 2).as_deref(), Some("cardio"));
        // Rewriting across its start: it becomes free, its text kept.
        let c = apply(
            &mut d,
            "Findings: Small left pleural effusion. Severe heart. No pneumothorax.",
        );
        assert_eq!(c, SpanChanges { moved: 0, freed: 1 });
        assert_eq!(d.phrases[&crate::core::Id::from_u128(2)].span, None);
        assert_eq!(d.phrases[&crate::core::Id::from_u128(2)].text, "cardio");
        // A span cut by an edit whose text still occurs elsewhere moves there.
        let mut d = doc("a left effusion; right effusion", &[(7, 15)]);
        apply(&mut d, "a lefusion; right effusion");
        assert_eq!(
            d.phrases[&crate::core::Id::from_u128(1)].span,
            Some((18, 26))
        );
        assert_eq!(span_text(&d, 1).as_deref(), Some("effusion"));
        // Unchanged text: no edits.
        assert!(
            set_report_edits(
                &d,
                crate::core::Id::from_u128(1),
                Some("a lefusion; right effusion".into()),
                0
            )
            .is_none()
        );
    }

    #[test]
    fn report_edits_undo_exactly() {
        let mut d = doc("a b c", &[(2, 3)]);
        let before = d.clone();
        let (edits, _) =
            set_report_edits(&d, crate::core::Id::from_u128(1), Some("a".into()), 5).unwrap();
        for e in &edits {
            e.apply(&mut d).unwrap();
        }
        assert_eq!(d.phrases[&crate::core::Id::from_u128(1)].span, None);
        for e in edits.iter().rev() {
            e.inverse().apply(&mut d).unwrap();
        }
        assert_eq!(d, before);
    }
}
