//! Phrase grounding models: an image plus a phrase's tokens in, a similarity map (`grounding-heatmap`)
//! or scored boxes (`grounding-box`) out. Text goes through the manifest's Hugging Face `tokenizer.json`;
//! the image is fitted to the model input as for promptable models (longest side, padded bottom/right),
//! and what comes out is mapped back to the image: the map cropped to the image's part, boxes scaled,
//! thresholded and thinned by non-maximum suppression.

use super::manifest::{BoxFormat, Family, Manifest, TextSpec};
use super::preprocess::{self, Intensity};
use super::promptable::{expect_input, expect_input_of, expect_output};
use super::{InferError, Result, ort_error};
use ort::session::Session;
use ort::session::SessionOutputs;
use ort::value::{Tensor, TensorElementType, TensorRef};

/// A loaded grounding model.
pub struct Grounder {
    /// Its manifest.
    pub manifest: Manifest,
    session: Session,
    tokenizer: tokenizers::Tokenizer,
    /// The manifest's `[text]` table (required on load).
    text: TextSpec,
}

/// A phrase as the model gets it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tokens {
    /// Ids, cut or padded to the manifest's length.
    pub ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub mask: Vec<i64>,
    /// The tokens (for the record).
    pub tokens: Vec<String>,
}

/// A similarity map over the image's field of view (the padding cropped away), raw values.
#[derive(Clone, Debug, PartialEq)]
pub struct GroundingMap {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row by row.
    pub values: Vec<f32>,
}

/// A box on the image in continuous pixel coordinates (centres at integers; `min`/`max` are the outer
/// edges less half a pixel, as `box2d` regions store them), with its score.
#[derive(Clone, Debug, PartialEq)]
pub struct GroundedBox {
    /// Smallest (i, j).
    pub min: [f64; 2],
    /// Largest (i, j).
    pub max: [f64; 2],
    /// The model's score.
    pub score: f32,
}

/// Intersection over union of two edge boxes `[x0, y0, x1, y1]`.
fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy non-maximum suppression: highest score first, dropping boxes overlapping a kept one by more
/// than `max_iou`. `boxes` are edge boxes with scores; the kept ones come back best first.
pub fn nms(mut boxes: Vec<([f64; 4], f32)>, max_iou: f64) -> Vec<([f64; 4], f32)> {
    boxes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<([f64; 4], f32)> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| iou(k.0, b.0) <= max_iou) {
            kept.push(b);
        }
    }
    kept
}

impl Grounder {
    /// Loads the graph and the tokenizer and checks them against the manifest.
    pub fn load(manifest: Manifest, provider: Option<&str>) -> Result<Self> {
        if !matches!(
            manifest.family,
            Family::GroundingBox | Family::GroundingHeatmap
        ) {
            return Err(InferError::Request(format!(
                "{} is a {} model, not a grounding one",
                manifest.name,
                manifest.family.as_str()
            )));
        }
        let text = manifest.text.clone().ok_or_else(|| InferError::Manifest {
            path: manifest.path.clone(),
            message: "no [text] table".into(),
        })?;
        let tokenizer_path = manifest.file(&text.tokenizer);
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            InferError::Manifest {
                path: manifest.path.clone(),
                message: format!("tokenizer {}: {e}", tokenizer_path.display()),
            }
        })?;
        let runtime = super::runtime::get()?;
        let graph = manifest.graph_file()?;
        let session = runtime.session(&graph, provider)?;
        let (side, channels) = (manifest.input.side as i64, manifest.input.channels as i64);
        expect_input(
            &session,
            &graph,
            &manifest.input.name,
            &[Some(1), Some(channels), Some(side), Some(side)],
        )?;
        let tokens = [Some(1), Some(text.length as i64)];
        expect_input_of(
            &session,
            &graph,
            &text.ids,
            &tokens,
            TensorElementType::Int64,
        )?;
        if let Some(mask) = &text.mask {
            expect_input_of(&session, &graph, mask, &tokens, TensorElementType::Int64)?;
        }
        let o = &manifest.outputs;
        for name in [&o.heatmap, &o.boxes, &o.scores].into_iter().flatten() {
            expect_output(&session, &graph, name)?;
        }
        Ok(Self {
            manifest,
            session,
            tokenizer,
            text,
        })
    }

    /// The phrase's tokens as the graph takes them.
    pub fn tokens(&self, phrase: &str) -> Result<Tokens> {
        let t = &self.text;
        let enc = self
            .tokenizer
            .encode(phrase, true)
            .map_err(|e| InferError::Request(format!("tokenizing `{phrase}`: {e}")))?;
        let n = enc.get_ids().len().min(t.length);
        let mut ids: Vec<i64> = enc.get_ids()[..n].iter().map(|&i| i64::from(i)).collect();
        let mut mask = vec![1i64; n];
        ids.resize(t.length, i64::from(t.pad_id));
        mask.resize(t.length, 0);
        Ok(Tokens {
            ids,
            mask,
            tokens: enc.get_tokens()[..n].to_vec(),
        })
    }

    fn run<'s>(
        session: &'s mut Session,
        m: &Manifest,
        t: &TextSpec,
        tokens: &Tokens,
        input: &[f32],
    ) -> Result<SessionOutputs<'s>> {
        let side = m.input.side;
        let image = TensorRef::from_array_view(([1usize, m.input.channels, side, side], input))
            .map_err(ort_error)?;
        let ids =
            Tensor::from_array(([1usize, t.length], tokens.ids.clone())).map_err(ort_error)?;
        let mut inputs = ort::inputs![
            m.input.name.as_str() => image,
            t.ids.as_str() => ids,
        ];
        if let Some(name) = &t.mask {
            let mask =
                Tensor::from_array(([1usize, t.length], tokens.mask.clone())).map_err(ort_error)?;
            inputs.push((name.as_str().into(), mask.into()));
        }
        session.run(inputs).map_err(ort_error)
    }

    fn model_input(
        &self,
        values: &[f64],
        height: usize,
        width: usize,
        intensity: Intensity,
    ) -> Result<Vec<f32>> {
        if values.len() != height * width || height == 0 || width == 0 {
            return Err(InferError::Request(format!(
                "a {width}×{height} image needs {} values, got {}",
                height * width,
                values.len()
            )));
        }
        let m = &self.manifest;
        Ok(preprocess::model_input(
            values,
            height,
            width,
            m.input.side,
            intensity,
            m.input.channels,
        ))
    }

    /// The similarity map of `phrase` on a row-major `height × width` plane of modality values.
    pub fn heatmap(
        &mut self,
        values: &[f64],
        height: usize,
        width: usize,
        intensity: Intensity,
        phrase: &str,
    ) -> Result<GroundingMap> {
        let input = self.model_input(values, height, width, intensity)?;
        let tokens = self.tokens(phrase)?;
        let m = &self.manifest;
        let side = m.input.side;
        let name = m.outputs.heatmap.clone().unwrap_or_default();
        let outputs = Self::run(&mut self.session, m, &self.text, &tokens, &input)?;
        let (shape, data) = outputs[name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let (mh, mw) = match dims[..] {
            [.., h, w] if h * w == data.len() && h > 0 && w > 0 => (h, w),
            _ => {
                return Err(InferError::Contract {
                    path: m.path.clone(),
                    message: format!("output `{name}` is {shape:?}: expected one map (… × H × W)"),
                });
            }
        };
        // The image fills the top-left nh × nw of the side × side input.
        let (_, nh, nw) = preprocess::fit_longest(height, width, side);
        let crop = |n: usize, of: usize| {
            ((n * of) as f64 / side as f64)
                .round()
                .clamp(1.0, of as f64) as usize
        };
        let (ch, cw) = (crop(nh, mh), crop(nw, mw));
        let mut values = Vec::with_capacity(ch * cw);
        for y in 0..ch {
            values.extend_from_slice(&data[y * mw..y * mw + cw]);
        }
        Ok(GroundingMap {
            width: cw,
            height: ch,
            values,
        })
    }

    /// The boxes `phrase` grounds to on a row-major `height × width` plane of modality values, best
    /// first, after the score threshold and non-maximum suppression.
    pub fn boxes(
        &mut self,
        values: &[f64],
        height: usize,
        width: usize,
        intensity: Intensity,
        phrase: &str,
    ) -> Result<Vec<GroundedBox>> {
        let input = self.model_input(values, height, width, intensity)?;
        let tokens = self.tokens(phrase)?;
        let m = &self.manifest;
        let side = m.input.side as f64;
        let format = m.box_format().map_err(InferError::Request)?;
        let (b_name, s_name) = (
            m.outputs.boxes.clone().unwrap_or_default(),
            m.outputs.scores.clone().unwrap_or_default(),
        );
        let outputs = Self::run(&mut self.session, m, &self.text, &tokens, &input)?;
        let (b_shape, b) = outputs[b_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        let (_, s) = outputs[s_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        if b.len() % 4 != 0 || b.len() / 4 != s.len() {
            return Err(InferError::Contract {
                path: m.path.clone(),
                message: format!(
                    "output `{b_name}` is {b_shape:?} with {} scores: expected N × 4 boxes and N scores",
                    s.len()
                ),
            });
        }
        let (scale, _, _) = preprocess::fit_longest(height, width, m.input.side);
        let threshold = m.outputs.score_threshold.unwrap_or(0.5) as f32;
        let mut found = Vec::new();
        for (r, &score) in b.chunks_exact(4).zip(s.iter()) {
            // NaN scores fail the test too.
            if score.partial_cmp(&threshold).is_none_or(|o| o.is_lt()) {
                continue;
            }
            let r = [r[0], r[1], r[2], r[3]].map(f64::from);
            let edges = match format {
                BoxFormat::XyxyNormalised => r.map(|v| v * side),
                BoxFormat::XyxyPixels => r,
                BoxFormat::CxcywhNormalised => [
                    (r[0] - r[2] / 2.0) * side,
                    (r[1] - r[3] / 2.0) * side,
                    (r[0] + r[2] / 2.0) * side,
                    (r[1] + r[3] / 2.0) * side,
                ],
            };
            // Input pixels → image pixels, clipped to the image.
            let e = [
                (edges[0] / scale).clamp(0.0, width as f64),
                (edges[1] / scale).clamp(0.0, height as f64),
                (edges[2] / scale).clamp(0.0, width as f64),
                (edges[3] / scale).clamp(0.0, height as f64),
            ];
            if e.iter().all(|v| v.is_finite()) && e[2] > e[0] && e[3] > e[1] {
                found.push((e, score));
            }
        }
        let kept = nms(found, m.outputs.nms_iou.unwrap_or(0.5));
        Ok(kept
            .into_iter()
            .map(|(e, score)| GroundedBox {
                min: [e[0] - 0.5, e[1] - 0.5],
                max: [e[2] - 0.5, e[3] - 0.5],
                score,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let a = ([0.0, 0.0, 10.0, 10.0], 0.9);
        let b = ([1.0, 0.0, 10.0, 10.0], 0.95); // IoU 0.9 with a
        let c = ([20.0, 20.0, 30.0, 30.0], 0.5);
        let kept = nms(vec![a, c, b], 0.5);
        assert_eq!(kept, vec![b, c]);
        assert_eq!(nms(vec![a, b], 1.0).len(), 2);
        assert!((iou(a.0, b.0) - 0.9).abs() < 1e-12);
        assert_eq!(iou(a.0, c.0), 0.0);
    }
}
