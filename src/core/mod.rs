//! Pure data model, no I/O: volumes and their geometry (LPS, mm), value statistics.
//!
//! May use std, math crates, `uuid` (identities) and `serde` derives (the recovery journal) only
//! (ARCHITECTURE.md §2).

pub mod annotation;
pub mod builder;
pub mod edit;
pub mod geometry;
pub mod grounding_eval;
pub mod id;
pub mod mask;
pub mod metrics;
pub mod paint;
pub mod projection;
pub mod report;
pub mod reslice;
pub mod split;
pub mod stats;
pub mod sync;
pub mod volume;

pub use annotation::{
    Author, Concept, Document, Grounding, Heatmap, HeatmapId, ImageId, ImageInfo, Label, LabelId,
    Phrase, PhraseId, Region, RegionId, Reported, ReportedValue, Shape, Status, geometry_digest,
};
pub use edit::{Edit, EditError, History, Transaction};
pub use geometry::{Affine3, Mat3, Vec3};
pub use id::{Id, format_utc_ms, now_ms};
pub use mask::{MaskTiles, VoxelBox};
pub use stats::{Histogram, RegionStats, ValueStats, region_stats};
pub use volume::{Photometric, Rescale, Volume, VolumeError, VolumeMeta, Voxels, WindowPreset};
