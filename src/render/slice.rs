//! The slice pass: what one view shows ([`SliceScene`]), its uniforms, and the prepared draw.

use super::colormap::{Colormap, GpuLabelLut};
use super::lines::{Crosshair, VectorOverlay};
use super::texture::{GpuVolume, VolumeRole};
use super::view::{SliceView, ViewGeometry};
use super::{RenderError, Result};
use crate::core::geometry::Affine3;
use crate::core::reslice::Window;
use crate::core::volume::Photometric;

/// Uniforms of the slice pass. Keep in sync with `SliceUniforms` in shaders/slice.wgsl
/// (`tests/render_wgsl.rs` compares size and member offsets with naga's layout of the WGSL struct).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SliceUniforms {
    /// Rows `(a, b, c, 0)` of "image voxel = a·x + b·y + c" from framebuffer pixel `(x, y)`.
    pub image_rows: [[f32; 4]; 3],
    /// The same for the label map.
    pub label_rows: [[f32; 4]; 3],
    /// The same for the heatmap.
    pub heat_rows: [[f32; 4]; 3],
    /// Image grid size and components.
    pub image_size: [i32; 4],
    /// Label grid size (components unused).
    pub label_size: [i32; 4],
    /// Heatmap grid size (components unused).
    pub heat_size: [i32; 4],
    /// Rescale slope, rescale intercept, window centre, window width.
    pub value_map: [f32; 4],
    /// Heatmap value at colormap index 0 and 255, heatmap opacity, label opacity.
    pub heat_map: [f32; 4],
    /// Image texel kind, image interpolation, colormap row, flags (`FLAG_*`).
    pub modes: [u32; 4],
    /// Heatmap colormap row, heatmap interpolation, label outline width (pixels), unused.
    pub modes2: [u32; 4],
    /// Colour outside the image, 0..1.
    pub background: [f32; 4],
}

const _: () = assert!(std::mem::size_of::<SliceUniforms>() == 272);

/// MONOCHROME1: invert the grey level.
pub(crate) const FLAG_INVERT: u32 = 1;
/// Draw the label map.
pub(crate) const FLAG_LABELS: u32 = 2;
/// Label outlines instead of fill.
pub(crate) const FLAG_OUTLINE: u32 = 4;
/// Draw the heatmap.
pub(crate) const FLAG_HEAT: u32 = 8;
/// The target format is sRGB: write linear values.
pub(crate) const FLAG_SRGB: u32 = 16;

/// How values between voxel centres are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The nearest voxel.
    #[default]
    Nearest,
    /// Trilinear between the 8 surrounding voxel centres (edges clamp).
    Linear,
}

impl Interpolation {
    fn index(self) -> u32 {
        match self {
            Interpolation::Nearest => 0,
            Interpolation::Linear => 1,
        }
    }
}

/// How the image's values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageDisplay {
    /// DICOM window on modality values.
    pub window: Window,
    /// Colour table for the grey level (ignored for colour images).
    pub colormap: Colormap,
    /// Sampling.
    pub interpolation: Interpolation,
    /// Invert the grey level (MONOCHROME1).
    pub invert: bool,
}

impl ImageDisplay {
    /// Grey, nearest, inverted for MONOCHROME1.
    pub fn new(image: &GpuVolume, window: Window) -> Self {
        Self {
            window,
            colormap: Colormap::Grey,
            interpolation: Interpolation::Nearest,
            invert: image.photometric() == Photometric::Monochrome1 && image.components() == 1,
        }
    }
}

/// Fill or outline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LabelStyle {
    /// Every labelled pixel.
    #[default]
    Fill,
    /// Only pixels whose label differs from a neighbour `width_px` pixels away (left, right, up or down).
    Outline {
        /// Neighbour distance, pixels (1 for a thin line).
        width_px: u32,
    },
}

/// A label map drawn over the image: colour and opacity per label from a [`GpuLabelLut`], times `opacity`.
#[derive(Clone, Copy, Debug)]
pub struct LabelLayer<'a> {
    /// The label texture (role [`VolumeRole::Labels`]), on any grid: sampled at each pixel's LPS position.
    pub volume: &'a GpuVolume,
    /// Label colours; `None` for the standard table.
    pub colours: Option<&'a GpuLabelLut>,
    /// Overall opacity 0..1.
    pub opacity: f32,
    /// Fill or outline.
    pub style: LabelStyle,
}

/// A heatmap drawn over image and labels.
#[derive(Clone, Copy, Debug)]
pub struct HeatLayer<'a> {
    /// The heatmap texture (role [`VolumeRole::Heatmap`]), on any grid.
    pub volume: &'a GpuVolume,
    /// Colour table.
    pub colormap: Colormap,
    /// Values mapped to the first and last colour; values below the first are transparent.
    pub range: [f32; 2],
    /// Opacity 0..1.
    pub opacity: f32,
    /// Sampling.
    pub interpolation: Interpolation,
}

/// Everything one slice view draws.
#[derive(Clone, Copy, Debug)]
pub struct SliceScene<'a> {
    /// The image (role [`VolumeRole::Image`]); the view's slices are its voxel planes.
    pub image: &'a GpuVolume,
    /// Orientation, slice, frame, zoom and pan.
    pub view: SliceView,
    /// Window, colormap, interpolation.
    pub display: ImageDisplay,
    /// Optional label map.
    pub labels: Option<LabelLayer<'a>>,
    /// Optional heatmap.
    pub heatmap: Option<HeatLayer<'a>>,
    /// Boxes and polygons.
    pub vectors: &'a [VectorOverlay],
    /// Optional crosshair.
    pub crosshair: Option<Crosshair>,
    /// Colour outside the image (8-bit RGBA).
    pub background: [u8; 4],
}

impl<'a> SliceScene<'a> {
    /// The image alone on black.
    pub fn new(image: &'a GpuVolume, view: SliceView, display: ImageDisplay) -> Self {
        Self {
            image,
            view,
            display,
            labels: None,
            heatmap: None,
            vectors: &[],
            crosshair: None,
            background: [0, 0, 0, 255],
        }
    }
}

fn rows(m: &Affine3) -> [[f32; 4]; 3] {
    [0, 1, 2].map(|r| {
        [
            m.linear[r][0] as f32,
            m.linear[r][1] as f32,
            m.translation[r] as f32,
            0.0,
        ]
    })
}

fn size4(v: &GpuVolume) -> [i32; 4] {
    let s = v.grid().size;
    [s[0] as i32, s[1] as i32, s[2] as i32, v.components() as i32]
}

fn check_role(v: &GpuVolume, role: VolumeRole, what: &str) -> Result<()> {
    if v.role() == role {
        Ok(())
    } else {
        Err(RenderError::Update(format!(
            "the {what} layer needs a {role:?} texture, not {:?}",
            v.role()
        )))
    }
}

/// The uniforms of `scene` seen through `geometry`, for a viewport whose top-left pixel is at
/// `origin_px` of the framebuffer.
pub(crate) fn uniforms(
    scene: &SliceScene<'_>,
    geometry: &ViewGeometry,
    origin_px: [f64; 2],
    srgb: bool,
) -> Result<SliceUniforms> {
    check_role(scene.image, VolumeRole::Image, "image")?;
    // Framebuffer pixel → viewport pixel → voxel.
    let viewport_from_framebuffer = Affine3 {
        linear: crate::core::geometry::IDENTITY3,
        translation: [-origin_px[0], -origin_px[1], 0.0],
    };
    let from_framebuffer = |v: &GpuVolume| {
        let m = geometry.voxel_from_screen(v.voxel_from_world());
        super::view::compose(&m, &viewport_from_framebuffer)
    };
    let d = &scene.display;
    let rescale = scene.image.rescale();
    let mut flags = 0;
    if d.invert {
        flags |= FLAG_INVERT;
    }
    if srgb {
        flags |= FLAG_SRGB;
    }
    let mut u = SliceUniforms {
        image_rows: rows(&from_framebuffer(scene.image)),
        label_rows: [[0.0; 4]; 3],
        heat_rows: [[0.0; 4]; 3],
        image_size: size4(scene.image),
        label_size: [1, 1, 1, 1],
        heat_size: [1, 1, 1, 1],
        value_map: [
            rescale.slope as f32,
            rescale.intercept as f32,
            d.window.center as f32,
            d.window.width as f32,
        ],
        heat_map: [0.0, 1.0, 0.0, 0.0],
        modes: [
            scene.image.kind().index(),
            d.interpolation.index(),
            d.colormap.row(),
            0,
        ],
        modes2: [0, 0, 1, 0],
        background: scene.background.map(|c| f32::from(c) / 255.0),
    };
    if let Some(l) = &scene.labels {
        check_role(l.volume, VolumeRole::Labels, "label")?;
        flags |= FLAG_LABELS;
        if let LabelStyle::Outline { width_px } = l.style {
            flags |= FLAG_OUTLINE;
            u.modes2[2] = width_px.max(1);
        }
        u.label_rows = rows(&from_framebuffer(l.volume));
        u.label_size = size4(l.volume);
        u.heat_map[3] = l.opacity.clamp(0.0, 1.0);
    }
    if let Some(h) = &scene.heatmap {
        check_role(h.volume, VolumeRole::Heatmap, "heatmap")?;
        flags |= FLAG_HEAT;
        u.heat_rows = rows(&from_framebuffer(h.volume));
        u.heat_size = size4(h.volume);
        u.heat_map[0] = h.range[0];
        u.heat_map[1] = h.range[1];
        u.heat_map[2] = h.opacity.clamp(0.0, 1.0);
        u.modes2[0] = h.colormap.row();
        u.modes2[1] = h.interpolation.index();
    }
    u.modes[3] = flags;
    Ok(u)
}

/// A slice view ready to draw into a render pass of the format it was prepared for: its uniforms, bind
/// group and overlay vertices are on the GPU.
#[derive(Debug)]
pub struct PreparedSlice {
    /// The geometry it was prepared with (for picking: screen ↔ LPS).
    pub geometry: ViewGeometry,
    pub(crate) pipeline: wgpu::RenderPipeline,
    pub(crate) bind_group: wgpu::BindGroup,
    pub(crate) lines: Option<(wgpu::RenderPipeline, wgpu::Buffer, u32)>,
}

impl PreparedSlice {
    /// Draws the slice (a full-viewport triangle) and its vector overlays.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.draw(0..3, 0..1);
        if let Some((pipeline, buffer, count)) = &self.lines {
            pass.set_pipeline(pipeline);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..*count, 0..1);
        }
    }
}
