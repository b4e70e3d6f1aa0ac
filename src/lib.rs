//! Voxmark: a desktop viewer and annotator for medical images.
//!
//! Layout (ARCHITECTURE.md §2) and the dependency rules that `tests/architecture.rs` enforces:
//!
//! | module | may use | must not use |
//! |---|---|---|
//! | `core` | std, math crates (and rayon for data-parallel loops) | everything else |
//! | `io` | core, dicom-*, image, flate2, serde | store, render, ui, inference |
//! | `store` | core, rusqlite | io, render, ui, inference |
//! | `inference` | core, ort | io, store, render, ui |
//! | `render` | core, wgpu | egui, io, store, inference, ui |
//! | `cli` | all but ui | egui, rfd |
//! | `ui` | all | — |
//!
//! Geometry: one patient space, LPS millimetres; transforms are named `a_from_b`.

pub mod cli;
pub mod core;
#[cfg(feature = "inference")]
pub mod inference;
pub mod io;
#[cfg(feature = "gpu")]
pub mod render;
pub mod store;
#[cfg(feature = "gui")]
pub mod ui;
