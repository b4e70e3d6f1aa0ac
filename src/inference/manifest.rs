//! Model manifests: a TOML file next to the `.onnx` graphs stating the model's family and contract
//! (documented with an example in the README and `assets/models/litemedsam.toml`).

use super::preprocess::Intensity;
use super::{InferError, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What a model does.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Image → class probabilities or logits per pixel.
    Segmentation,
    /// SAM-style: an encoder once per image or slice, a decoder per box or point prompt.
    Promptable,
    /// Image + phrase tokens → scored boxes.
    GroundingBox,
    /// Image + phrase tokens → a similarity map.
    GroundingHeatmap,
}

impl Family {
    /// The manifest's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Segmentation => "segmentation",
            Family::Promptable => "promptable",
            Family::GroundingBox => "grounding-box",
            Family::GroundingHeatmap => "grounding-heatmap",
        }
    }
}

/// The graph files, relative to the manifest's folder.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// One-graph models.
    pub graph: Option<PathBuf>,
    /// Promptable models: the image encoder.
    pub encoder: Option<PathBuf>,
    /// Promptable models: the prompt decoder.
    pub decoder: Option<PathBuf>,
}

/// The image input.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    /// Input name in the (encoder) graph.
    pub name: String,
    /// Square side the image is fitted to (longest side, padded bottom/right).
    pub side: usize,
    /// Channels; a grey image is replicated into each.
    pub channels: usize,
    /// `NCHW` (the only layout run so far).
    #[serde(default = "nchw")]
    pub layout: String,
}

fn nchw() -> String {
    "NCHW".into()
}

/// How modality values become input values.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntensitySpec {
    /// `window`, `min-max` or `mean-std`.
    pub mode: String,
    /// For `window`: `[lo, hi]` in modality units (CT: HU) mapped to `[0, 1]`.
    pub window: Option<[f64; 2]>,
    /// For `mean-std`.
    pub mean: Option<f64>,
    /// For `mean-std`.
    pub std: Option<f64>,
}

/// Prompt inputs of a promptable decoder.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// Decoder input that takes the encoder's embedding.
    pub embeddings: String,
    /// Decoder input that takes one box `[x0, y0, x1, y1]`.
    pub boxes: String,
    /// The frame of the box: `input` (pixels of the fitted model input).
    #[serde(default = "input_frame")]
    pub frame: String,
}

fn input_frame() -> String {
    "input".into()
}

/// Output names and meaning.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Promptable: the encoder's embedding output.
    pub embeddings: Option<String>,
    /// The mask (or class map) output.
    pub masks: String,
    /// `logits` or `probabilities`.
    pub kind: String,
    /// Pixels above it are in the mask (logits: 0; probabilities: 0.5 if not given).
    pub threshold: Option<f64>,
    /// The model's own quality score, if it gives one.
    pub scores: Option<String>,
    /// Class names, for segmentation.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// A model manifest.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, recorded as the author of proposals (`model:NAME@VERSION`).
    pub name: String,
    /// Version.
    pub version: String,
    /// Family.
    pub family: Family,
    /// Free text.
    pub description: Option<String>,
    /// Licence of the weights.
    pub licence: Option<String>,
    /// Graph files.
    pub files: Files,
    /// Image input.
    pub input: ImageInput,
    /// Intensity mapping.
    pub intensity: IntensitySpec,
    /// Prompts (promptable).
    pub prompt: Option<PromptSpec>,
    /// Outputs.
    pub outputs: OutputSpec,
    /// The manifest file (set on load).
    #[serde(skip)]
    pub path: PathBuf,
    /// blake3 of the manifest's bytes (set on load), recorded with every proposal.
    #[serde(skip)]
    pub hash: String,
}

impl Manifest {
    /// Reads and checks the manifest at `path` (not the graphs: see [`super::Promptable::load`]).
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |message: String| InferError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut m: Manifest = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        m.path = path.to_path_buf();
        m.hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        m.check().map_err(bad)?;
        Ok(m)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.input.layout != "NCHW" {
            return Err(format!(
                "input.layout `{}`: only NCHW is run",
                self.input.layout
            ));
        }
        if self.input.side == 0 || self.input.channels == 0 {
            return Err("input.side and input.channels must be positive".into());
        }
        self.intensity()?;
        if !matches!(self.outputs.kind.as_str(), "logits" | "probabilities") {
            return Err(format!(
                "outputs.kind `{}`: logits or probabilities",
                self.outputs.kind
            ));
        }
        match self.family {
            Family::Promptable => {
                if self.files.encoder.is_none() || self.files.decoder.is_none() {
                    return Err("a promptable model needs files.encoder and files.decoder".into());
                }
                let p = self
                    .prompt
                    .as_ref()
                    .ok_or("a promptable model needs a [prompt] table")?;
                if p.frame != "input" {
                    return Err(format!("prompt.frame `{}`: only `input` is run", p.frame));
                }
                if self.outputs.embeddings.is_none() {
                    return Err("a promptable model needs outputs.embeddings".into());
                }
            }
            _ => {
                if self.files.graph.is_none() {
                    return Err(format!(
                        "a {} model needs files.graph",
                        self.family.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The intensity mapping.
    pub fn intensity(&self) -> std::result::Result<Intensity, String> {
        let i = &self.intensity;
        match i.mode.as_str() {
            "window" => {
                let [lo, hi] = i.window.ok_or("intensity.window = [lo, hi] is needed")?;
                if hi > lo {
                    Ok(Intensity::Window { lo, hi })
                } else {
                    Err(format!("intensity.window [{lo}, {hi}] is empty"))
                }
            }
            "min-max" => Ok(Intensity::MinMax),
            "mean-std" => match (i.mean, i.std) {
                (Some(mean), Some(std)) if std > 0.0 => Ok(Intensity::MeanStd { mean, std }),
                _ => Err("intensity mean-std needs mean and a positive std".into()),
            },
            other => Err(format!(
                "intensity.mode `{other}`: window, min-max or mean-std"
            )),
        }
    }

    /// The mask threshold.
    pub fn threshold(&self) -> f64 {
        self.outputs
            .threshold
            .unwrap_or(if self.outputs.kind == "logits" {
                0.0
            } else {
                0.5
            })
    }

    /// A graph file's full path (relative names are next to the manifest).
    pub fn file(&self, name: &Path) -> PathBuf {
        if name.is_absolute() {
            name.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(name)
        }
    }

    /// `model:NAME@VERSION`'s parts.
    pub fn author(&self) -> crate::core::Author {
        crate::core::Author::Model {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITEMEDSAM: &str = include_str!("../../assets/models/litemedsam.toml");

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("m.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn the_shipped_litemedsam_manifest_reads() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::load(&write(dir.path(), LITEMEDSAM)).unwrap();
        assert_eq!(m.family, Family::Promptable);
        assert_eq!(m.input.side, 256);
        assert_eq!(
            m.intensity(),
            Ok(Intensity::Window {
                lo: -160.0,
                hi: 240.0
            })
        );
        assert_eq!(m.threshold(), 0.0);
        assert_eq!(m.hash.len(), 64);
        assert_eq!(
            m.file(Path::new("litemedsam_encoder.onnx")),
            dir.path().join("litemedsam_encoder.onnx")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Manifest::load(&write(dir.path(), &LITEMEDSAM.replace("promptable", "sam")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("sam"), "{e}");
        let e = Manifest::load(&write(
            dir.path(),
            &LITEMEDSAM.replace("window = [-160.0, 240.0]", "window = [240.0, -160.0]"),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("is empty"), "{e}");
        let e = Manifest::load(&write(dir.path(), &format!("{LITEMEDSAM}\nsurprise = 1\n")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("surprise"), "{e}");
        assert!(Manifest::load(&dir.path().join("absent.toml")).is_err());
    }
}
