//! Promptable (SAM-style) models: the encoder runs once per slice and its embedding is kept; each box
//! prompt runs only the decoder. LiteMedSAM is the one shipped manifest (`assets/models/litemedsam.toml`).

use super::manifest::{Family, Manifest};
use super::preprocess::{self, Intensity};
use super::{InferError, Result, ort_error};
use ort::session::Session;
use ort::value::{Tensor, TensorRef};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// An encoder output for one slice, with the slice's size (to map boxes and masks).
pub struct Embedding {
    values: Vec<f32>,
    shape: Vec<i64>,
    /// Slice rows.
    pub height: usize,
    /// Slice columns.
    pub width: usize,
}

/// One decoded prompt.
pub struct Proposal {
    /// Row-major `height × width` mask on the slice.
    pub mask: Vec<bool>,
    /// The model's score for it (LiteMedSAM: its IoU estimate), if it gives one.
    pub score: Option<f32>,
    /// The box as the model got it, in its input frame.
    pub model_box: [f32; 4],
}

/// A loaded promptable model.
pub struct Promptable {
    /// Its manifest.
    pub manifest: Manifest,
    encoder: Session,
    decoder: Session,
}

fn names(outlets: &[ort::value::Outlet]) -> String {
    outlets
        .iter()
        .map(|o| o.name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `session` (from `path`) has an input `name` of `rank` dimensions whose fixed sizes
/// agree with `dims` (`None`: anything).
pub(super) fn expect_input(
    session: &Session,
    path: &Path,
    name: &str,
    dims: &[Option<i64>],
) -> Result<()> {
    expect_input_of(
        session,
        path,
        name,
        dims,
        ort::value::TensorElementType::Float32,
    )
}

/// [`expect_input`] for an element type other than float32 (token ids are int64).
pub(super) fn expect_input_of(
    session: &Session,
    path: &Path,
    name: &str,
    dims: &[Option<i64>],
    want: ort::value::TensorElementType,
) -> Result<()> {
    let contract = |message: String| InferError::Contract {
        path: path.to_path_buf(),
        message,
    };
    let Some(input) = session.inputs().iter().find(|o| o.name() == name) else {
        return Err(contract(format!(
            "the graph has no input `{name}` (its inputs: {})",
            names(session.inputs())
        )));
    };
    let ort::value::ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(contract(format!("input `{name}` is not a tensor")));
    };
    if *ty != want {
        return Err(contract(format!("input `{name}` is {ty:?}, not {want:?}")));
    }
    let actual: &[i64] = shape;
    let fits = actual.len() == dims.len()
        && actual
            .iter()
            .zip(dims)
            .all(|(a, d)| *a < 0 || d.is_none_or(|d| d == *a));
    if !fits {
        let show = |v: Vec<String>| v.join("×");
        return Err(contract(format!(
            "input `{name}` is {}, the manifest says {}",
            show(
                actual
                    .iter()
                    .map(|a| if *a < 0 { "?".into() } else { a.to_string() })
                    .collect()
            ),
            show(
                dims.iter()
                    .map(|d| d.map_or("?".into(), |d| d.to_string()))
                    .collect()
            ),
        )));
    }
    Ok(())
}

pub(super) fn expect_output(session: &Session, path: &Path, name: &str) -> Result<()> {
    if session.outputs().iter().any(|o| o.name() == name) {
        Ok(())
    } else {
        Err(InferError::Contract {
            path: path.to_path_buf(),
            message: format!(
                "the graph has no output `{name}` (its outputs: {})",
                names(session.outputs())
            ),
        })
    }
}

impl Promptable {
    /// Loads the manifest's encoder and decoder and checks them against it.
    pub fn load(manifest: Manifest, provider: Option<&str>) -> Result<Self> {
        if manifest.family != Family::Promptable {
            return Err(InferError::Request(format!(
                "{} is a {} model, not promptable",
                manifest.name,
                manifest.family.as_str()
            )));
        }
        let runtime = super::runtime::get()?;
        let (Some(enc), Some(dec), Some(prompt), Some(emb_out)) = (
            manifest.files.encoder.as_deref(),
            manifest.files.decoder.as_deref(),
            manifest.prompt.as_ref(),
            manifest.outputs.embeddings.as_deref(),
        ) else {
            return Err(InferError::Request(
                "the manifest lacks the promptable parts".into(),
            ));
        };
        let (enc, dec) = (manifest.file(enc), manifest.file(dec));
        for f in [&enc, &dec] {
            if !f.is_file() {
                return Err(InferError::Manifest {
                    path: manifest.path.clone(),
                    message: format!("graph file not found: {}", f.display()),
                });
            }
        }
        let encoder = runtime.session(&enc, provider)?;
        let decoder = runtime.session(&dec, provider)?;
        let (side, channels) = (manifest.input.side as i64, manifest.input.channels as i64);
        expect_input(
            &encoder,
            &enc,
            &manifest.input.name,
            &[Some(1), Some(channels), Some(side), Some(side)],
        )?;
        expect_output(&encoder, &enc, emb_out)?;
        expect_input(&decoder, &dec, &prompt.boxes, &[None, Some(4)])?;
        expect_input(
            &decoder,
            &dec,
            &prompt.embeddings,
            &[None, None, None, None],
        )?;
        expect_output(&decoder, &dec, manifest.masks_output())?;
        if let Some(s) = &manifest.outputs.scores {
            expect_output(&decoder, &dec, s)?;
        }
        Ok(Self {
            manifest,
            encoder,
            decoder,
        })
    }

    /// Runs the encoder on a row-major `height × width` plane of modality values.
    pub fn embed(
        &mut self,
        values: &[f64],
        height: usize,
        width: usize,
        intensity: Intensity,
    ) -> Result<Embedding> {
        if values.len() != height * width || height == 0 || width == 0 {
            return Err(InferError::Request(format!(
                "a {width}×{height} slice needs {} values, got {}",
                height * width,
                values.len()
            )));
        }
        let m = &self.manifest;
        let side = m.input.side;
        let input =
            preprocess::model_input(values, height, width, side, intensity, m.input.channels);
        let shape = [1usize, m.input.channels, side, side];
        let tensor = TensorRef::from_array_view((shape, &input[..])).map_err(ort_error)?;
        let out_name = m.outputs.embeddings.clone().unwrap_or_default();
        let outputs = self
            .encoder
            .run(ort::inputs![m.input.name.as_str() => tensor])
            .map_err(ort_error)?;
        let (shape, data) = outputs[out_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        Ok(Embedding {
            values: data.to_vec(),
            shape: shape.iter().copied().collect(),
            height,
            width,
        })
    }

    /// Decodes one box `[x_min, y_min, x_max, y_max]` in pixel indices of the slice.
    pub fn segment_box(&mut self, embedding: &Embedding, bbox: [f64; 4]) -> Result<Proposal> {
        let (h, w) = (embedding.height, embedding.width);
        let [x0, y0, x1, y1] = bbox;
        let inside = |v: f64, n: usize| v.is_finite() && v >= -0.5 && v <= n as f64 - 0.5;
        if !(inside(x0, w) && inside(x1, w) && inside(y0, h) && inside(y1, h)) || x1 < x0 || y1 < y0
        {
            return Err(InferError::Request(format!(
                "box [{x0}, {y0}, {x1}, {y1}] is not inside the {w}×{h} slice"
            )));
        }
        let m = &self.manifest;
        let side = m.input.side;
        let (scale, _, _) = preprocess::fit_longest(h, w, side);
        let model_box = bbox.map(|v| (v * scale) as f32);
        let prompt = m
            .prompt
            .as_ref()
            .ok_or(InferError::Request("no prompt table".into()))?;
        let emb = TensorRef::from_array_view((embedding.shape.clone(), &embedding.values[..]))
            .map_err(ort_error)?;
        let boxes = Tensor::from_array(([1usize, 4], model_box.to_vec())).map_err(ort_error)?;
        let outputs = self
            .decoder
            .run(ort::inputs![
                prompt.embeddings.as_str() => emb,
                prompt.boxes.as_str() => boxes,
            ])
            .map_err(ort_error)?;
        let (shape, logits) = outputs[m.masks_output()]
            .try_extract_tensor::<f32>()
            .map_err(ort_error)?;
        let n = shape.iter().rev().take(2).product::<i64>();
        if n != (side * side) as i64 {
            return Err(InferError::Contract {
                path: m.path.clone(),
                message: format!(
                    "output `{}` is {shape:?}, expected its last two sides to be {side}",
                    m.masks_output()
                ),
            });
        }
        // Logits or probabilities alike: the manifest's threshold applies to the values as given.
        let mask = preprocess::mask_from_logits(&logits[..side * side], side, h, w, m.threshold());
        let score = match &m.outputs.scores {
            Some(name) => outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .ok()
                .and_then(|(_, s)| s.first().copied()),
            None => None,
        };
        Ok(Proposal {
            mask,
            score,
            model_box,
        })
    }
}

/// Embeddings kept by (image, slice, intensity) so that each new box on a slice runs only the decoder;
/// the oldest go first beyond `capacity`.
pub struct EmbeddingCache {
    capacity: usize,
    entries: VecDeque<(String, Arc<Embedding>)>,
}

impl EmbeddingCache {
    /// Keeps at most `capacity` embeddings (LiteMedSAM's is 4 MB each).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    /// The key of a slice of an image under an intensity mapping.
    pub fn key(image: &str, slice: usize, intensity: Intensity) -> String {
        format!("{image}|{slice}|{intensity:?}")
    }

    /// The embedding for `key`, computed by `make` when not kept.
    pub fn get_or_make(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Result<Embedding>,
    ) -> Result<(Arc<Embedding>, bool)> {
        if let Some(entry) = self
            .entries
            .iter()
            .position(|(k, _)| k == key)
            .and_then(|at| self.entries.remove(at))
        {
            let e = Arc::clone(&entry.1);
            self.entries.push_back(entry);
            return Ok((e, true));
        }
        let e = Arc::new(make()?);
        self.entries.push_back((key.to_owned(), Arc::clone(&e)));
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        Ok((e, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_newest_and_reuses_them() {
        let mut cache = EmbeddingCache::new(2);
        let make = |h| {
            move || {
                Ok(Embedding {
                    values: vec![],
                    shape: vec![],
                    height: h,
                    width: 1,
                })
            }
        };
        let k = |s| EmbeddingCache::key("7", s, Intensity::MinMax);
        assert!(!cache.get_or_make(&k(1), make(1)).unwrap().1);
        assert!(!cache.get_or_make(&k(2), make(2)).unwrap().1);
        let (e, kept) = cache.get_or_make(&k(1), make(99)).unwrap();
        assert!(kept && e.height == 1);
        cache.get_or_make(&k(3), make(3)).unwrap();
        // Slice 2 was the least recently used.
        assert!(!cache.get_or_make(&k(2), make(2)).unwrap().1);
        assert!(cache.get_or_make(&k(3), make(3)).unwrap().1);
    }
}
