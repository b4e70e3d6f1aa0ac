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
    /// `NCHW`, or `NCDHW` for 3D segmentation models (with `depth`).
    #[serde(default = "nchw")]
    pub layout: String,
    /// 3D models: the tile's depth in slices (`side × side × depth` voxels).
    pub depth: Option<usize>,
    /// Segmentation: images larger than the input are run in tiles overlapping by this fraction of a
    /// tile (0 ≤ overlap < 1, default 0.5), blended with Gaussian weights as nnU-Net and MONAI do.
    pub tile_overlap: Option<f64>,
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

/// Text input of grounding models.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    /// A Hugging Face `tokenizer.json`, relative to the manifest.
    pub tokenizer: PathBuf,
    /// Graph input for the token ids (int64, 1 × length).
    pub ids: String,
    /// Graph input for the attention mask (int64, 1 × length: 1 for tokens, 0 for padding), if any.
    pub mask: Option<String>,
    /// Token count the graph takes; longer phrases are cut, shorter ones padded with the pad id.
    pub length: usize,
    /// Padding id (default 0).
    #[serde(default)]
    pub pad_id: u32,
}

/// Output names and meaning.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Promptable: the encoder's embedding output.
    pub embeddings: Option<String>,
    /// The mask (promptable) or per-class score (segmentation) output.
    pub masks: Option<String>,
    /// `logits` (default) or `probabilities`.
    #[serde(default = "logits")]
    pub kind: String,
    /// Pixels above it are in the mask (logits: 0; probabilities: 0.5 if not given).
    pub threshold: Option<f64>,
    /// The model's own quality score, if it gives one.
    pub scores: Option<String>,
    /// Class names, for segmentation (class 0 is the background and proposes nothing).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Grounding-heatmap: the map output (1 × side × side, or side × side).
    pub heatmap: Option<String>,
    /// Grounding-box: the boxes output (1 × N × 4).
    pub boxes: Option<String>,
    /// Grounding-box: `xyxy-normalised` (default; 0..1 of the model input), `xyxy` (input pixels)
    /// or `cxcywh-normalised`.
    pub box_format: Option<String>,
    /// Grounding-box: boxes scoring below it are dropped (default 0.5).
    pub score_threshold: Option<f64>,
    /// Grounding-box: non-maximum suppression at this IoU (default 0.5; 1 keeps all).
    pub nms_iou: Option<f64>,
}

fn logits() -> String {
    "logits".into()
}

/// How a grounding-box model states its boxes (edges, in the fitted model input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxFormat {
    /// `x0, y0, x1, y1` as fractions of the input side.
    XyxyNormalised,
    /// `x0, y0, x1, y1` in input pixels.
    XyxyPixels,
    /// Centre and size as fractions of the input side.
    CxcywhNormalised,
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
    /// Text input (grounding).
    pub text: Option<TextSpec>,
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
        let i = &self.input;
        match (i.layout.as_str(), i.depth, self.family) {
            ("NCHW", None, _) => {}
            ("NCDHW", Some(d), Family::Segmentation) if d > 0 => {}
            ("NCDHW", _, Family::Segmentation) => {
                return Err("input.layout NCDHW needs a positive input.depth".into());
            }
            ("NCHW", Some(_), _) => return Err("input.depth needs input.layout = \"NCDHW\"".into()),
            (other, _, _) => {
                return Err(format!(
                    "input.layout `{other}`: NCHW, or NCDHW for 3D segmentation"
                ));
            }
        }
        if i.side == 0 || i.channels == 0 {
            return Err("input.side and input.channels must be positive".into());
        }
        if let Some(o) = i.tile_overlap
            && !(0.0..0.96).contains(&o)
        {
            return Err(format!("input.tile_overlap {o}: from 0 to 0.95"));
        }
        self.intensity()?;
        if !matches!(self.outputs.kind.as_str(), "logits" | "probabilities") {
            return Err(format!(
                "outputs.kind `{}`: logits or probabilities",
                self.outputs.kind
            ));
        }
        let o = &self.outputs;
        let need = |what: Option<&String>, name: &str| match what {
            Some(_) => Ok(()),
            None => Err(format!(
                "a {} model needs outputs.{name}",
                self.family.as_str()
            )),
        };
        if self.family != Family::Promptable && self.files.graph.is_none() {
            return Err(format!(
                "a {} model needs files.graph",
                self.family.as_str()
            ));
        }
        let text = || match &self.text {
            Some(t) if t.length > 0 => Ok(()),
            Some(_) => Err("text.length must be positive".to_string()),
            None => Err(format!(
                "a {} model needs a [text] table (tokenizer, ids, length)",
                self.family.as_str()
            )),
        };
        match self.family {
            Family::Segmentation => need(o.masks.as_ref(), "masks")?,
            Family::GroundingHeatmap => {
                text()?;
                need(o.heatmap.as_ref(), "heatmap")?;
            }
            Family::GroundingBox => {
                text()?;
                need(o.boxes.as_ref(), "boxes")?;
                need(o.scores.as_ref(), "scores")?;
                self.box_format()?;
            }
            Family::Promptable => {
                need(o.masks.as_ref(), "masks")?;
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
        }
        Ok(())
    }

    /// Grounding-box: the boxes' format.
    pub fn box_format(&self) -> std::result::Result<BoxFormat, String> {
        match self.outputs.box_format.as_deref() {
            None | Some("xyxy-normalised") => Ok(BoxFormat::XyxyNormalised),
            Some("xyxy") => Ok(BoxFormat::XyxyPixels),
            Some("cxcywh-normalised") => Ok(BoxFormat::CxcywhNormalised),
            Some(other) => Err(format!(
                "outputs.box_format `{other}`: xyxy-normalised, xyxy or cxcywh-normalised"
            )),
        }
    }

    /// The one-graph models' graph, which must exist.
    pub fn graph_file(&self) -> Result<PathBuf> {
        let bad = |message: String| InferError::Manifest {
            path: self.path.clone(),
            message,
        };
        let name = self
            .files
            .graph
            .as_deref()
            .ok_or_else(|| bad("files.graph is not given".into()))?;
        let graph = self.file(name);
        if graph.is_file() {
            Ok(graph)
        } else {
            Err(bad(format!("graph file not found: {}", graph.display())))
        }
    }

    /// The mask output's name (checked present on load for the families that have one).
    pub fn masks_output(&self) -> &str {
        self.outputs.masks.as_deref().unwrap_or("masks")
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
