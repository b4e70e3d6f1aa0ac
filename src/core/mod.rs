//! Pure data model, no I/O: volumes and their geometry (LPS, mm), value statistics.
//!
//! May use std and math crates only (ARCHITECTURE.md §2).

pub mod geometry;
pub mod stats;
pub mod volume;

pub use geometry::{Affine3, Mat3, Vec3};
pub use stats::ValueStats;
pub use volume::{Photometric, Rescale, Volume, VolumeError, VolumeMeta, Voxels, WindowPreset};
