//! ONNX Runtime sessions, model manifests, pre/post-processing and background jobs.
//! Filled by the inference issue; nothing here yet. Uses `core` and ort only.
