//! wgpu rendering (ARCHITECTURE.md §6): volumes as 3D textures, the slice pass with its overlays, vector
//! overlays, and offscreen read-back. Uses `core` and wgpu only, never egui; the viewer's paint callback
//! wraps [`RenderContext::prepare_slice`] and [`PreparedSlice::paint`], and `voxmark render` and the tests
//! use [`RenderContext::render_slice`], which renders through the same pipelines into an owned texture.
//!
//! - [`RenderContext`]: device and queue (headless, or the viewer's), pipelines per target format, the
//!   texture cache keyed by (image, role, data revision), colour tables.
//! - [`GpuVolume`]: a volume in a 3D texture in its stored precision (8/16/32-bit integer or 32-bit
//!   float); [`RenderContext::update_volume_box`] re-uploads only a dirty box.
//! - [`SliceView`] and [`ViewGeometry`]: the axial/coronal/sagittal views in patient space with the
//!   radiological convention, zoom and pan, and the exact map between framebuffer pixels and LPS mm.
//! - [`SliceScene`]: what one view shows: the image with its window, colormap and interpolation, a label
//!   map, a heatmap, vector overlays and a crosshair.
//! - [`VolumePass`], [`VolumeScene`] and [`OrbitCamera`]: ray marching in patient space (MIP, MinIP,
//!   DVR with a [`TransferFunction`]), drawn into a render pass ([`VolumePass::prepare`] +
//!   [`PreparedVolume::paint`]) or offscreen ([`VolumePass::render`]).

mod colormap;
mod context;
mod lines;
mod offscreen;
mod slice;
mod texture;
mod view;
mod volume;

pub use crate::core::reslice::{Orientation, RgbaPicture, Window};
pub use colormap::{Colormap, GpuLabelLut, LabelLut};
pub use context::{AdapterPreference, RenderContext};
pub use lines::{Crosshair, LineStyle, LineVertex, VectorOverlay, VectorShape};
pub use slice::{
    HeatLayer, ImageDisplay, Interpolation, LabelLayer, LabelStyle, PreparedSlice, SliceScene,
    SliceUniforms,
};
pub use texture::{GpuVolume, TexelKind, VolumeKey, VolumeRole};
pub use view::{Aspect, Frame, GridGeometry, SliceView, ViewGeometry};
pub use volume::{
    CameraGeometry, GpuTransferFunction, OrbitCamera, PreparedVolume, Projection, Sampling,
    Shading, TransferDomain, TransferFunction, TransferPoint, VolumeMode, VolumePass, VolumeScene,
    VolumeUniforms,
};

/// Everything the renderer can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No usable adapter (GPU or software rasteriser).
    #[error(
        "no GPU adapter found ({0}); install a GPU driver, or Mesa's software Vulkan driver (Debian: mesa-vulkan-drivers)"
    )]
    NoAdapter(String),
    /// The adapter would not open a device.
    #[error("cannot open the GPU device of {adapter}: {what}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// The driver's reason.
        what: String,
    },
    /// A volume side exceeds the device's 3D texture limit (bricking is not implemented).
    #[error(
        "volume of {size:?} voxels exceeds the 3D texture limit of {limit} voxels per side of {adapter}"
    )]
    VolumeTooLarge {
        /// Grid size.
        size: [usize; 3],
        /// `max_texture_dimension_3d`.
        limit: u32,
        /// Adapter name.
        adapter: String,
    },
    /// An output picture larger than the device's 2D texture limit, or empty.
    #[error(
        "a picture of {width}×{height} pixels is empty or exceeds the 2D texture limit of {limit}"
    )]
    TargetSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// `max_texture_dimension_2d`.
        limit: u32,
    },
    /// Only 1, 3 or 4 components per voxel can be shown (1 for labels and heatmaps).
    #[error("cannot show {components} components per voxel as {role}")]
    Components {
        /// Components per voxel.
        components: usize,
        /// What the volume was for.
        role: &'static str,
    },
    /// A label map must hold integers 0..=65535.
    #[error("not a label map: {0}")]
    Labels(String),
    /// A dirty box outside the grid, or a volume that does not match its texture.
    #[error("cannot update the texture: {0}")]
    Update(String),
    /// The slice index is past the last slice of the view.
    #[error(transparent)]
    Slice(#[from] crate::core::reslice::ResliceError),
    /// A colour table in `assets/colormaps` is malformed (a build problem: they are embedded).
    #[error("colour table {name}: {what}")]
    Asset {
        /// File name.
        name: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A transfer-function preset that does not exist.
    #[error("no transfer-function preset {name:?} (presets: {known})")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The preset names.
        known: String,
    },
    /// A camera, sampling or transfer-function setting that cannot make a picture (zero distance, field
    /// of view ≥ 180°, a transfer function without points, …).
    #[error("cannot render with this setting: {0}")]
    Setting(String),
    /// The device ran out of memory.
    #[error("GPU out of memory: {0}")]
    OutOfMemory(String),
    /// Any other error the GPU API reported.
    #[error("GPU error: {0}")]
    Gpu(String),
}

/// Result with [`RenderError`].
pub type Result<T, E = RenderError> = std::result::Result<T, E>;
