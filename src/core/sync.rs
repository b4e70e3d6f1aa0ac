//! Merging other writers' changes into a document that is open for editing.
//!
//! A viewer holds its own copy of the project's document. When another process commits, the store
//! reports which rows that process wrote (by id: ids are unique across kinds) and the state of the
//! file after it; [`merge`] replaces exactly those rows in the viewer's copy and leaves every other
//! row alone, so that edits of the viewer not saved yet are not disturbed.

use super::{Document, Id};
use std::collections::BTreeSet;

/// What one merge changed in the document, for the status line and the views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Rows added (present in theirs, absent in ours).
    pub added: usize,
    /// Rows replaced by another version.
    pub changed: usize,
    /// Rows removed (absent in theirs).
    pub removed: usize,
    /// Images that were not in the document before.
    pub new_images: Vec<Id>,
}

impl Merged {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.changed == 0 && self.removed == 0
    }
}

fn merge_map<V: Clone + PartialEq>(
    ours: &mut std::collections::BTreeMap<Id, V>,
    theirs: &std::collections::BTreeMap<Id, V>,
    touched: &BTreeSet<Id>,
    out: &mut Merged,
) -> Vec<Id> {
    let mut added = Vec::new();
    for id in touched {
        match (ours.get(id), theirs.get(id)) {
            (None, Some(v)) => {
                ours.insert(*id, v.clone());
                out.added += 1;
                added.push(*id);
            }
            (Some(a), Some(b)) if a != b => {
                ours.insert(*id, b.clone());
                out.changed += 1;
            }
            (Some(_), None) => {
                ours.remove(id);
                out.removed += 1;
            }
            _ => {}
        }
    }
    added
}

/// Makes the rows named in `touched` in `ours` what they are in `theirs` (added, replaced or
/// removed), masks and links included; `everything` replaces the whole document (a change that
/// names no row, such as a migration).
pub fn merge(
    ours: &mut Document,
    theirs: &Document,
    touched: &BTreeSet<Id>,
    everything: bool,
) -> Merged {
    let mut out = Merged::default();
    if everything {
        out.new_images = theirs
            .images
            .keys()
            .filter(|id| !ours.images.contains_key(id))
            .copied()
            .collect();
        out.changed = 1;
        *ours = theirs.clone();
        return out;
    }
    out.new_images = merge_map(&mut ours.images, &theirs.images, touched, &mut out);
    merge_map(&mut ours.labels, &theirs.labels, touched, &mut out);
    merge_map(&mut ours.regions, &theirs.regions, touched, &mut out);
    merge_map(&mut ours.phrases, &theirs.phrases, touched, &mut out);
    merge_map(&mut ours.heatmaps, &theirs.heatmaps, touched, &mut out);
    for id in touched {
        match theirs.masks.get(id) {
            Some(m) => {
                if ours.masks.get(id) != Some(m) {
                    ours.masks.insert(*id, m.clone());
                }
            }
            None => {
                ours.masks.remove(id);
            }
        }
    }
    // Links at either end of a touched row are theirs; links of rows gone from ours go too.
    let at_touched = |&(p, r): &(Id, Id)| touched.contains(&p) || touched.contains(&r);
    let before = ours.links.len();
    ours.links.retain(|l| !at_touched(l));
    let removed_links = before - ours.links.len();
    let theirs_links: Vec<_> = theirs
        .links
        .iter()
        .filter(|l| at_touched(l))
        .copied()
        .collect();
    let mut added_links = 0;
    for (p, r) in theirs_links {
        if ours.phrases.contains_key(&p)
            && ours.regions.contains_key(&r)
            && ours.links.insert((p, r))
        {
            added_links += 1;
        }
    }
    if added_links != removed_links {
        out.changed += added_links.abs_diff(removed_links);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::annotation::{Author, Grounding, ImageInfo, Phrase, Region, Shape, Status};

    fn id(n: u128) -> Id {
        Id::from_u128(n)
    }

    fn region(n: u128, x: f64) -> Region {
        Region {
            id: id(n),
            image: id(1),
            label: None,
            shape: Shape::Point { at: [x, 0.0, 0.0] },
            author: Author::Human("a".into()),
            prompt: None,
            status: Status::Accepted,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        }
    }

    fn doc() -> Document {
        let mut d = Document::default();
        d.images.insert(
            id(1),
            ImageInfo {
                id: id(1),
                size: [4, 4, 1],
                report: None,
            },
        );
        d.phrases.insert(
            id(5),
            Phrase {
                id: id(5),
                image: id(1),
                text: "Opacity.".into(),
                author: Author::Human("a".into()),
                span: None,
                category: None,
                grounding: Grounding::Annotated,
                created_ms: 0,
                modified_ms: 0,
            },
        );
        for n in [10, 11] {
            d.regions.insert(id(n), region(n, 1.0));
        }
        d.links.insert((id(5), id(10)));
        d
    }

    /// Only the touched rows change: their edit of region 10, their new region 12 with a link,
    /// their removal of region 11; our unsaved region 13 stays.
    #[test]
    fn merges_touched_rows_only() {
        let mut ours = doc();
        ours.regions.insert(id(13), region(13, 3.0));
        let mut theirs = doc();
        theirs.regions.insert(id(10), region(10, 2.0));
        theirs.regions.insert(id(12), region(12, 2.0));
        theirs.regions.remove(&id(11));
        theirs.links.insert((id(5), id(12)));
        // A row they did not touch but that differs (ours not saved yet) is left alone.
        theirs.links.remove(&(id(5), id(10)));
        let touched = [10, 11, 12].map(id).into_iter().collect();
        let m = merge(&mut ours, &theirs, &touched, false);
        assert_eq!((m.added, m.removed), (1, 1));
        assert_eq!(ours.regions[&id(10)].shape, region(10, 2.0).shape);
        assert!(ours.regions.contains_key(&id(12)));
        assert!(!ours.regions.contains_key(&id(11)));
        assert!(ours.regions.contains_key(&id(13)));
        // Region 10 was touched: its links are theirs (the link to phrase 5 is gone there).
        assert_eq!(
            ours.links.iter().copied().collect::<Vec<_>>(),
            vec![(id(5), id(12))]
        );
        assert!(m.new_images.is_empty());
    }

    #[test]
    fn everything_replaces_the_document_and_names_new_images() {
        let mut ours = doc();
        let mut theirs = doc();
        theirs.images.insert(
            id(2),
            ImageInfo {
                id: id(2),
                size: [2, 2, 1],
                report: None,
            },
        );
        let m = merge(&mut ours, &theirs, &BTreeSet::new(), true);
        assert_eq!(ours, theirs);
        assert_eq!(m.new_images, vec![id(2)]);
    }
}
