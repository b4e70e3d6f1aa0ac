//! One model run on one image, for the CLI (`voxmark infer`) and the viewer alike: the model of any
//! family, what it is asked, and the document edits its output becomes — proposed regions (masks from
//! promptable and segmentation models, boxes from grounding-box models) and heatmaps, each with the
//! model as author and a JSON record of what it was given, linked to the phrase that prompted it.

use super::grounding::Grounder;
use super::manifest::{Family, Manifest};
use super::preprocess::{Intensity, inverted, plane_values};
use super::promptable::{EmbeddingCache, Promptable};
use super::segmentation::Segmenter;
use super::{InferError, Result};
use crate::core::annotation::{
    Author, Heatmap, ImageId, LABEL_PALETTE, Label, LabelId, Phrase, PhraseId, Region, Shape,
    Status,
};
use crate::core::{Document, Edit, MaskTiles, Volume, VoxelBox};
use serde_json::json;

/// A loaded model of any family.
pub enum Model {
    /// SAM-style; keeps the embeddings of the last slices it encoded.
    Promptable(Promptable, EmbeddingCache),
    /// Per-voxel classes.
    Segmentation(Segmenter),
    /// Phrase → heatmap or boxes.
    Grounding(Box<Grounder>),
}

impl Model {
    /// Loads the graphs the manifest names and checks them against it.
    pub fn load(manifest: Manifest, provider: Option<&str>) -> Result<Self> {
        Ok(match manifest.family {
            Family::Promptable => Model::Promptable(
                Promptable::load(manifest, provider)?,
                EmbeddingCache::new(8),
            ),
            Family::Segmentation => Model::Segmentation(Segmenter::load(manifest, provider)?),
            Family::GroundingBox | Family::GroundingHeatmap => {
                Model::Grounding(Box::new(Grounder::load(manifest, provider)?))
            }
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Model::Promptable(m, _) => &m.manifest,
            Model::Segmentation(m) => &m.manifest,
            Model::Grounding(m) => &m.manifest,
        }
    }
}

/// What to ask of a model on one image.
#[derive(Clone, Debug)]
pub struct Request {
    /// The image.
    pub image: ImageId,
    /// Promptable and grounding: the slice (default: the middle one). 2D segmentation: only this
    /// slice (default: every slice). 3D segmentation: ignored.
    pub slice: Option<usize>,
    /// Promptable: the box `[x0, y0, x1, y1]` in pixel indices of the slice.
    pub bbox: Option<[f64; 4]>,
    /// Grounding: the phrase (found among the image's phrases or added as a free one); `None` runs
    /// every phrase of the image.
    pub prompt: Option<String>,
    /// Label for promptable and grounding-box proposals (made if new); segmentation uses class names.
    pub label: Option<String>,
    /// Execution provider as asked (recorded).
    pub provider: String,
    /// Who asks (the author of a phrase added from `prompt`).
    pub who: Author,
}

/// The edits one run makes, and a line saying what they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Edits to record in one transaction (labels and phrases first, then what refers to them).
    pub edits: Vec<Edit>,
    /// Regions proposed.
    pub regions: usize,
    /// Heatmaps added.
    pub heatmaps: usize,
    /// What happened, for people.
    pub summary: String,
}

/// The intensity mapping for `volume`: the manifest's, except that a window in CT units means
/// nothing on other modalities, which get the image's own range (recorded with the proposal).
/// Applies to [`plane_values`], which negates MONOCHROME1 images so that models see them as displayed.
pub fn intensity_for(manifest: &Manifest, volume: &Volume) -> Result<Intensity> {
    let i = manifest
        .intensity()
        .map_err(|message| InferError::Manifest {
            path: manifest.path.clone(),
            message,
        })?;
    Ok(match i {
        Intensity::Window { .. } if volume.meta.modality.as_deref() != Some("CT") => {
            Intensity::MinMax
        }
        Intensity::Window { lo, hi } if inverted(volume) => Intensity::Window { lo: -hi, hi: -lo },
        i => i,
    })
}

/// Hands out new ids, and the label/phrase edits a run needs first.
struct Builder<'d> {
    doc: &'d Document,
    new_labels: Vec<Label>,
    edits: Vec<Edit>,
}

impl<'d> Builder<'d> {
    fn new(doc: &'d Document) -> Self {
        Self {
            doc,
            new_labels: Vec::new(),
            edits: Vec::new(),
        }
    }

    fn label(&mut self, name: &str) -> LabelId {
        if let Some(l) = self.doc.labels.values().find(|l| l.name == name) {
            return l.id;
        }
        if let Some(l) = self.new_labels.iter().find(|l| l.name == name) {
            return l.id;
        }
        let n = self.doc.labels.len() + self.new_labels.len();
        let label = Label {
            id: self.doc.new_label_id(name),
            name: name.to_owned(),
            color: LABEL_PALETTE[n % LABEL_PALETTE.len()],
        };
        let id = label.id;
        self.edits.push(Edit::AddLabel(label.clone()));
        self.new_labels.push(label);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn region(
        &mut self,
        req: &Request,
        label: Option<LabelId>,
        shape: Shape,
        mask: Option<MaskTiles>,
        author: &Author,
        prompt: String,
        confidence: Option<f64>,
        links: Vec<PhraseId>,
        now_ms: i64,
    ) {
        let id = crate::core::Id::new();
        self.edits.push(Edit::AddRegion {
            region: Region {
                id,
                image: req.image,
                label,
                shape,
                author: author.clone(),
                prompt: Some(prompt),
                status: Status::Proposed,
                confidence,
                created_ms: now_ms,
                modified_ms: now_ms,
                reported: None,
            },
            mask,
            links,
        });
    }

    /// The phrases a grounding run answers: the prompt (found or added) or every phrase of the image.
    fn phrases(&mut self, req: &Request, now_ms: i64) -> Result<Vec<(PhraseId, String)>> {
        let of_image = || self.doc.phrases.values().filter(|p| p.image == req.image);
        match &req.prompt {
            Some(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Err(InferError::Request("the prompt is empty".into()));
                }
                if let Some(p) = of_image().find(|p| p.text == text) {
                    return Ok(vec![(p.id, p.text.clone())]);
                }
                // A new phrase: a span of the report when the report holds the text.
                let report = self
                    .doc
                    .images
                    .get(&req.image)
                    .and_then(|i| i.report.as_deref())
                    .unwrap_or("");
                let span = report.find(text).map(|b| {
                    let start = report[..b].chars().count();
                    (start, start + text.chars().count())
                });
                let id = crate::core::Id::new();
                self.edits.push(Edit::AddPhrase {
                    phrase: Phrase {
                        id,
                        image: req.image,
                        text: text.to_owned(),
                        author: req.who.clone(),
                        span,
                        category: None,
                        grounding: crate::core::Grounding::Pending,
                        created_ms: now_ms,
                        modified_ms: now_ms,
                    },
                    links: vec![],
                });
                Ok(vec![(id, text.to_owned())])
            }
            None => {
                let all: Vec<_> = of_image().map(|p| (p.id, p.text.clone())).collect();
                if all.is_empty() {
                    Err(InferError::Request(format!(
                        "image {} has no phrases: give a prompt",
                        req.image
                    )))
                } else {
                    Ok(all)
                }
            }
        }
    }
}

/// A mask over slices of an image from per-voxel classes: the voxels equal to `class`.
fn mask_of_class(labels: &[u8], size: [usize; 3], class: u8) -> Option<MaskTiles> {
    let [nx, ny, nz] = size;
    let plane = nx * ny;
    let mut mask = MaskTiles::new(size);
    let mut any = false;
    for k in 0..nz {
        let slice = &labels[k * plane..(k + 1) * plane];
        if !slice.contains(&class) {
            continue;
        }
        any = true;
        let values: Vec<u8> = slice.iter().map(|&l| u8::from(l == class)).collect();
        mask.write_box(
            VoxelBox {
                min: [0, 0, k],
                max: [nx, ny, k + 1],
            },
            &values,
        );
    }
    any.then_some(mask)
}

/// Runs `model` as `req` asks on `volume` (the decoded image `req.image` of `doc`) and returns the
/// edits its output becomes. `progress(done, total)` is called as the work advances; returning false
/// stops it with [`InferError::Cancelled`].
pub fn run(
    model: &mut Model,
    doc: &Document,
    volume: &Volume,
    req: &Request,
    now_ms: i64,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Outcome> {
    let [nx, ny, nz] = volume.size();
    if doc
        .images
        .get(&req.image)
        .is_some_and(|i| i.size != [nx, ny, nz])
    {
        return Err(InferError::Request(format!(
            "image {}: the decoded image is not the size the project records",
            req.image
        )));
    }
    let manifest = model.manifest().clone();
    let author = manifest.author();
    let intensity = intensity_for(&manifest, volume)?;
    let slice = match req.slice {
        Some(k) if k >= nz => {
            return Err(InferError::Request(format!(
                "slice {k}: image {} has {nz} slices",
                req.image
            )));
        }
        Some(k) => k,
        None => nz / 2,
    };
    let record = |extra: serde_json::Value| {
        let mut v = json!({
            "manifest": manifest.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "manifest_blake3": manifest.hash,
            "intensity": format!("{intensity:?}"),
            "monochrome1_inverted": inverted(volume),
            "execution_provider": req.provider,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v.to_string()
    };
    let mut b = Builder::new(doc);
    let mut out = Outcome::default();
    match model {
        Model::Promptable(m, cache) => {
            let bbox = req.bbox.ok_or_else(|| {
                InferError::Request("a promptable model needs a box prompt".into())
            })?;
            if !progress(0, 2) {
                return Err(InferError::Cancelled);
            }
            let key = EmbeddingCache::key(&req.image.to_string(), slice, intensity);
            let (embedding, _) = cache.get_or_make(&key, || {
                m.embed(&plane_values(volume, slice), ny, nx, intensity)
            })?;
            if !progress(1, 2) {
                return Err(InferError::Cancelled);
            }
            let p = m.segment_box(&embedding, bbox)?;
            progress(2, 2);
            let voxels = p.mask.iter().filter(|v| **v).count();
            if voxels == 0 {
                out.summary = "the model proposed nothing for this box".into();
                return Ok(out);
            }
            let label = req.label.as_deref().map(|n| b.label(n));
            let mut mask = MaskTiles::new([nx, ny, nz]);
            let plane: Vec<u8> = p.mask.iter().map(|&v| u8::from(v)).collect();
            mask.write_box(
                VoxelBox {
                    min: [0, 0, slice],
                    max: [nx, ny, slice + 1],
                },
                &plane,
            );
            let [x0, y0, x1, y1] = bbox;
            let prompt = record(json!({
                "box_xywh": [x0, y0, x1 - x0 + 1.0, y1 - y0 + 1.0],
                "slice": slice,
                "model_box": p.model_box,
                "threshold": manifest.threshold(),
            }));
            b.region(
                req,
                label,
                Shape::Mask,
                Some(mask),
                &author,
                prompt,
                p.score.map(f64::from),
                vec![],
                now_ms,
            );
            out.regions = 1;
            out.summary = format!(
                "a mask of {voxels} voxels on slice {slice} (score {})",
                p.score.map_or_else(|| "none".into(), |s| format!("{s:.3}"))
            );
        }
        Model::Segmentation(m) => {
            let slices = match req.slice {
                Some(k) if !m.is_3d() => k..k + 1,
                _ => 0..nz,
            };
            let labels = m.segment(volume, slices.clone(), intensity, progress)?;
            let mut found = Vec::new();
            let top = labels.iter().copied().max().unwrap_or(0);
            for class in 1..=top {
                let Some(mask) = mask_of_class(&labels, [nx, ny, nz], class) else {
                    continue;
                };
                let name = m.class_name(class as usize);
                let voxels = mask.count();
                let label = b.label(&name);
                let prompt = record(json!({
                    "class": name,
                    "class_index": class,
                    "slices": if m.is_3d() { json!("volume") } else { json!([slices.start, slices.end]) },
                    "tile": [m.manifest.input.side, m.manifest.input.depth.unwrap_or(1)],
                    "tile_overlap": m.manifest.input.tile_overlap.unwrap_or(0.5),
                }));
                b.region(
                    req,
                    Some(label),
                    Shape::Mask,
                    Some(mask),
                    &author,
                    prompt,
                    None,
                    vec![],
                    now_ms,
                );
                found.push(format!("{name} {voxels}"));
            }
            out.regions = found.len();
            out.summary = if found.is_empty() {
                "no class found".into()
            } else {
                format!("voxels per class: {}", found.join(", "))
            };
        }
        Model::Grounding(g) => {
            let phrases = b.phrases(req, now_ms)?;
            let values = plane_values(volume, slice);
            let heatmap = g.manifest.family == Family::GroundingHeatmap;
            let label = req.label.as_deref().map(|n| b.label(n));
            let mut said = Vec::new();
            for (n, (phrase, text)) in phrases.iter().enumerate() {
                if !progress(n, phrases.len()) {
                    return Err(InferError::Cancelled);
                }
                let tokens = g.tokens(text)?.tokens;
                let o = &g.manifest.outputs;
                let prompt = record(json!({
                    "phrase": text,
                    "phrase_id": phrase.full(),
                    "tokens": tokens,
                    "slice": slice,
                    "score_threshold": if heatmap { None } else { Some(o.score_threshold.unwrap_or(0.5)) },
                    "nms_iou": if heatmap { None } else { Some(o.nms_iou.unwrap_or(0.5)) },
                }));
                if heatmap {
                    let map = g.heatmap(&values, ny, nx, intensity, text)?;
                    b.edits.push(Edit::AddHeatmap(Heatmap {
                        id: crate::core::Id::new(),
                        image: req.image,
                        phrase: Some(*phrase),
                        author: author.clone(),
                        slice: slice as u32,
                        width: map.width,
                        height: map.height,
                        values: map.values,
                        created_ms: now_ms,
                        prompt: Some(prompt),
                    }));
                    out.heatmaps += 1;
                    said.push(format!("`{text}`: a {}×{} map", map.width, map.height));
                } else {
                    let boxes = g.boxes(&values, ny, nx, intensity, text)?;
                    for gb in &boxes {
                        b.region(
                            req,
                            label,
                            Shape::Box2d {
                                slice: slice as u32,
                                min: gb.min,
                                max: gb.max,
                            },
                            None,
                            &author,
                            prompt.clone(),
                            Some(f64::from(gb.score)),
                            vec![*phrase],
                            now_ms,
                        );
                    }
                    out.regions += boxes.len();
                    said.push(format!("`{text}`: {} boxes", boxes.len()));
                }
            }
            progress(phrases.len(), phrases.len());
            out.summary = said.join("; ");
        }
    }
    out.edits = b.edits;
    Ok(out)
}

/// Encodes slice `slice` of `volume` into a promptable model's embedding cache ahead of a box prompt
/// (nothing for other families). True when it was computed now, false when it was kept or not needed.
pub fn prefetch(model: &mut Model, image: ImageId, volume: &Volume, slice: usize) -> Result<bool> {
    let Model::Promptable(m, cache) = model else {
        return Ok(false);
    };
    let [nx, ny, nz] = volume.size();
    if slice >= nz {
        return Ok(false);
    }
    let intensity = intensity_for(&m.manifest, volume)?;
    let key = EmbeddingCache::key(&image.to_string(), slice, intensity);
    let (_, kept) = cache.get_or_make(&key, || {
        m.embed(&plane_values(volume, slice), ny, nx, intensity)
    })?;
    Ok(!kept)
}

/// Adapts the edits of a run made against an older or partial copy of a document so that they
/// apply to `doc`: new labels and phrases whose name (text on the same image) `doc` already has are
/// dropped and referred to by its ids. Added rows keep their ids (they cannot collide).
pub fn rebase(edits: Vec<Edit>, doc: &Document) -> Vec<Edit> {
    use std::collections::BTreeMap;
    let (mut labels, mut phrases) = (BTreeMap::new(), BTreeMap::new());
    let mut out = Vec::with_capacity(edits.len());
    for edit in edits {
        match edit {
            Edit::AddLabel(mut l) => {
                if let Some(have) = doc.labels.values().find(|x| x.name == l.name) {
                    labels.insert(l.id, have.id);
                    continue;
                }
                if doc.labels.contains_key(&l.id) {
                    // The name's id belongs to a label renamed since: a fresh one.
                    let fresh = crate::core::Id::new();
                    labels.insert(l.id, fresh);
                    l.id = fresh;
                }
                out.push(Edit::AddLabel(l));
            }
            Edit::AddPhrase { phrase, links } => {
                if let Some(have) = doc
                    .phrases
                    .values()
                    .find(|x| x.image == phrase.image && x.text == phrase.text)
                {
                    phrases.insert(phrase.id, have.id);
                    continue;
                }
                out.push(Edit::AddPhrase { phrase, links });
            }
            Edit::AddRegion {
                mut region,
                mask,
                links,
            } => {
                region.label = region.label.map(|l| *labels.get(&l).unwrap_or(&l));
                let links = links
                    .into_iter()
                    .map(|p| *phrases.get(&p).unwrap_or(&p))
                    .collect();
                out.push(Edit::AddRegion {
                    region,
                    mask,
                    links,
                });
            }
            Edit::AddHeatmap(mut h) => {
                h.phrase = h.phrase.map(|p| *phrases.get(&p).unwrap_or(&p));
                out.push(Edit::AddHeatmap(h));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Grounding;

    fn label(id: u128, name: &str) -> Label {
        Label {
            id: crate::core::Id::from_u128(id),
            name: name.into(),
            color: [1, 2, 3, 255],
        }
    }

    fn phrase(id: u128, text: &str) -> Phrase {
        Phrase {
            id: crate::core::Id::from_u128(id),
            image: crate::core::Id::from_u128(1),
            text: text.into(),
            author: Author::Human("a".into()),
            span: None,
            category: None,
            grounding: Grounding::Pending,
            created_ms: 0,
            modified_ms: 0,
        }
    }

    fn region(id: u128, label: Option<u128>) -> Region {
        Region {
            id: crate::core::Id::from_u128(id),
            image: crate::core::Id::from_u128(1),
            label: label.map(crate::core::Id::from_u128),
            shape: Shape::Point {
                at: [1.0, 2.0, 0.0],
            },
            author: Author::Model {
                name: "m".into(),
                version: "1".into(),
            },
            prompt: None,
            status: Status::Proposed,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        }
    }

    #[test]
    fn rebased_edits_reuse_known_labels_and_phrases_and_keep_their_ids() {
        let id = crate::core::Id::from_u128;
        let mut doc = Document::default();
        doc.labels.insert(id(3), label(3, "liver"));
        doc.phrases.insert(id(7), phrase(7, "left effusion"));
        doc.regions.insert(id(9), region(9, Some(3)));
        let edits = vec![
            Edit::AddLabel(label(1, "liver")),
            Edit::AddLabel(label(2, "spleen")),
            Edit::AddPhrase {
                phrase: phrase(1, "left effusion"),
                links: vec![],
            },
            Edit::AddPhrase {
                phrase: phrase(2, "new finding"),
                links: vec![],
            },
            Edit::AddRegion {
                region: region(1, Some(1)),
                mask: None,
                links: vec![id(1)],
            },
            Edit::AddRegion {
                region: region(2, Some(2)),
                mask: None,
                links: vec![id(2)],
            },
        ];
        let out = rebase(edits, &doc);
        assert_eq!(out.len(), 4, "the known label and phrase are dropped");
        assert!(matches!(&out[0], Edit::AddLabel(l) if l.id == id(2) && l.name == "spleen"));
        assert!(matches!(&out[1], Edit::AddPhrase { phrase, .. } if phrase.id == id(2)));
        let Edit::AddRegion { region, links, .. } = &out[2] else {
            panic!()
        };
        assert_eq!(
            (region.id, region.label, links.clone()),
            (id(1), Some(id(3)), vec![id(7)])
        );
        let Edit::AddRegion { region, links, .. } = &out[3] else {
            panic!()
        };
        assert_eq!(
            (region.id, region.label, links.clone()),
            (id(2), Some(id(2)), vec![id(2)])
        );
    }
}
