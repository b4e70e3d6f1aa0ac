//! ONNX Runtime sessions, model manifests, pre/post-processing and the promptable (SAM-style) family.
//!
//! The runtime library is found at run time ([`runtime`]): without it Voxmark works and says
//! inference is unavailable. A model is one or two `.onnx` graphs plus a TOML [`manifest`] that states
//! its contract; the manifest is checked against the graphs' declared inputs and outputs on load.
//! Pre- and post-processing ([`preprocess`]) is plain Rust on modality values, written to the contract
//! (`tools/litemedsam_reference.py` is the same contract in numpy, run by CI as the reference).

pub mod grounding;
pub mod job;
pub mod manifest;
pub mod preprocess;
pub mod promptable;
pub mod runtime;
pub mod segmentation;

pub use grounding::{GroundedBox, Grounder, GroundingMap};
pub use manifest::{Family, Manifest};
pub use promptable::{Embedding, EmbeddingCache, Promptable, Proposal};
pub use runtime::Runtime;
pub use segmentation::Segmenter;

use std::path::PathBuf;

/// What can go wrong with a model; each message names the file or the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// No ONNX Runtime library could be loaded.
    #[error("inference unavailable: {0}")]
    Unavailable(String),
    /// The manifest cannot be read or says something impossible.
    #[error("model manifest {}: {message}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The graph does not match its manifest (an input or output missing, another shape).
    #[error("model {}: {message}", path.display())]
    Contract {
        /// The graph file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// ONNX Runtime refused a session or a run.
    #[error("onnx runtime: {0}")]
    Runtime(String),
    /// The user stopped the job.
    #[error("cancelled")]
    Cancelled,
    /// The request cannot be served (a box outside the image, a family not run yet).
    #[error("{0}")]
    Request(String),
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, InferError>;

fn ort_error(e: impl std::fmt::Display) -> InferError {
    InferError::Runtime(e.to_string())
}
