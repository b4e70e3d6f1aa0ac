//! The volume pass: ray marching through a volume in patient space (LPS mm) from an orbit camera, with
//! maximum and minimum intensity projection (windowed like the slice pass) and direct volume rendering
//! with a 1D transfer function (front-to-back compositing, opacity corrected for the step, early ray
//! termination, optional gradient shading). It reuses the image textures of [`super::RenderContext`]
//! (stored precision, `textureLoad` with trilinear interpolation in the shader) and the offscreen target.
//!
//! - [`OrbitCamera`]: target, azimuth/elevation about the patient's superior axis, distance, orthographic
//!   or perspective; [`CameraGeometry`] resolves it for a grid and a viewport into the exact rays of
//!   every pixel (pure `f64` math, no GPU).
//! - [`TransferFunction`]: piecewise-linear RGBA over modality values; presets in
//!   `assets/transfer_functions` (`ct-bone`, `ct-soft-tissue`, `mr`); [`GpuTransferFunction`] is its
//!   lookup table on the GPU.
//! - [`VolumeScene`] and [`VolumePass`]: what to draw and the pipeline that draws it, into any render
//!   pass ([`VolumePass::prepare`] + [`PreparedVolume::paint`], for the viewer) or into an owned texture
//!   that is read back ([`VolumePass::render`], for `voxmark render` and the tests).
//!
//! Rays are generated in patient space and composed with `voxel_from_world` on the CPU in `f64`; the
//! shader samples on planes of the voxel axis the ray runs most along (see `shaders/volume.wgsl`), so an
//! orthographic ray along a voxel axis meets every voxel centre and MIP equals
//! [`crate::core::projection::reference_projection`] within the `f32` rounding of the window.

use super::context::{texture_entry, uniform_entry};
use super::offscreen::{OFFSCREEN_FORMAT, OffscreenTarget, gpu_error};
use super::texture::{GpuVolume, TexelKind, VolumeRole};
use super::view::{Aspect, GridGeometry, compose};
use super::{RenderContext, RenderError, Result};
use crate::core::geometry::{Affine3, Vec3, column, dot, from_columns, norm};
use crate::core::reslice::{Orientation, RgbaPicture, Window};
use crate::core::volume::Photometric;
use std::borrow::Cow;
use std::collections::HashMap;
use wgpu::util::DeviceExt as _;

const VOLUME_WGSL: &str = include_str!("../../shaders/volume.wgsl");

// ---------------------------------------------------------------------------------------------
// Transfer functions

/// What the values of a transfer function's control points are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferDomain {
    /// Modality values (HU for CT).
    Modality,
    /// Fractions 0..1 of the volume's modality value range (for MR, which has no absolute scale).
    Range,
}

/// One control point: a value and the straight (not premultiplied) colour and opacity there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransferPoint {
    /// Modality value, or fraction of the value range.
    pub value: f64,
    /// `r, g, b` in 0..1 and the opacity of 1 mm of material ([`TransferFunction::REFERENCE_STEP_MM`]).
    pub rgba: [f32; 4],
}

/// A 1D transfer function: colour and opacity, interpolated linearly between control points (values
/// increasing) and held constant beyond the first and last.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferFunction {
    /// What the point values are.
    pub domain: TransferDomain,
    /// Control points, values non-decreasing (at least one).
    pub points: Vec<TransferPoint>,
}

const PRESET_FILES: [(&str, &str); 3] = [
    (
        "ct-bone",
        include_str!("../../assets/transfer_functions/ct-bone.csv"),
    ),
    (
        "ct-soft-tissue",
        include_str!("../../assets/transfer_functions/ct-soft-tissue.csv"),
    ),
    ("mr", include_str!("../../assets/transfer_functions/mr.csv")),
];

/// Entries of the lookup table a transfer function becomes on the GPU.
const LUT_ENTRIES: usize = 1024;

impl TransferFunction {
    /// The path length the opacities of the control points are given for: 1 mm.
    pub const REFERENCE_STEP_MM: f64 = 1.0;

    /// Names of the presets in `assets/transfer_functions`.
    pub const PRESETS: [&'static str; 3] = ["ct-bone", "ct-soft-tissue", "mr"];

    /// The preset called `name` (see [`Self::PRESETS`]).
    pub fn preset(name: &str) -> Result<Self> {
        let Some((file, text)) = PRESET_FILES.iter().find(|(n, _)| *n == name) else {
            return Err(RenderError::UnknownPreset {
                name: name.to_string(),
                known: Self::PRESETS.join(", "),
            });
        };
        Self::parse(file, text)
    }

    /// The default preset for a modality: `ct-soft-tissue` for CT, `mr` (relative to the value range)
    /// for anything else.
    pub fn default_preset(modality: Option<&str>) -> &'static str {
        match modality {
            Some(m) if m.eq_ignore_ascii_case("CT") => "ct-soft-tissue",
            _ => "mr",
        }
    }

    /// Parses the text format of `assets/transfer_functions/README.md`; `name` is used in errors.
    pub fn parse(name: &'static str, text: &str) -> Result<Self> {
        let bad = |what: String| RenderError::Asset { name, what };
        let mut domain = None;
        let mut points: Vec<TransferPoint> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("domain,") {
                domain = Some(match rest.trim() {
                    "modality" => TransferDomain::Modality,
                    "range" => TransferDomain::Range,
                    other => {
                        return Err(bad(format!(
                            "line {line_no}: domain {other:?} (expected modality or range)"
                        )));
                    }
                });
                continue;
            }
            let v: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(format!("line {line_no}: {e}")))?;
            let [value, r, g, b, a] = v[..] else {
                return Err(bad(format!("line {line_no}: expected value,r,g,b,a")));
            };
            if !value.is_finite() || [r, g, b, a].iter().any(|c| !(0.0..=1.0).contains(c)) {
                return Err(bad(format!(
                    "line {line_no}: expected a finite value and r,g,b,a in 0..1"
                )));
            }
            if points.last().is_some_and(|p| p.value > value) {
                return Err(bad(format!("line {line_no}: values must not decrease")));
            }
            points.push(TransferPoint {
                value,
                rgba: [r, g, b, a].map(|c| c as f32),
            });
        }
        let domain = domain.ok_or_else(|| bad("no `domain,modality|range` line".into()))?;
        if points.is_empty() {
            return Err(bad("no control points".into()));
        }
        Ok(Self { domain, points })
    }

    /// Transparent below `lo`, rising linearly to `rgba` at `hi` and staying there (modality values).
    pub fn ramp(lo: f64, hi: f64, rgba: [f32; 4]) -> Self {
        let [r, g, b, _] = rgba;
        Self {
            domain: TransferDomain::Modality,
            points: vec![
                TransferPoint {
                    value: lo,
                    rgba: [r, g, b, 0.0],
                },
                TransferPoint { value: hi, rgba },
            ],
        }
    }

    /// The control points in modality values, for a volume whose values span `value_range`.
    pub fn resolve(&self, value_range: [f64; 2]) -> Vec<TransferPoint> {
        match self.domain {
            TransferDomain::Modality => self.points.clone(),
            TransferDomain::Range => {
                let [lo, hi] = value_range;
                let span = if (hi - lo).is_finite() { hi - lo } else { 0.0 };
                self.points
                    .iter()
                    .map(|p| TransferPoint {
                        value: lo + p.value * span,
                        rgba: p.rgba,
                    })
                    .collect()
            }
        }
    }

    /// Colour and opacity at modality value `x` (points from [`Self::resolve`]).
    pub fn sample(points: &[TransferPoint], x: f64) -> [f32; 4] {
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return [0.0; 4];
        };
        if x.is_nan() || x <= first.value {
            return first.rgba;
        }
        if x >= last.value {
            return last.rgba;
        }
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            if x < b.value {
                let span = b.value - a.value;
                let t = if span > 0.0 {
                    ((x - a.value) / span) as f32
                } else {
                    1.0
                };
                return [0, 1, 2, 3].map(|c| a.rgba[c] + (b.rgba[c] - a.rgba[c]) * t);
            }
        }
        last.rgba
    }
}

/// A transfer function on the GPU: a lookup table of `LUT_ENTRIES` RGBA values (32-bit float) evenly
/// spaced over the modality values of its first and last control point.
#[derive(Debug)]
pub struct GpuTransferFunction {
    pub(crate) view: wgpu::TextureView,
    /// Modality values at the first and last entry.
    pub value_range: [f64; 2],
}

impl GpuTransferFunction {
    /// Uploads `tf` for a volume whose modality values span `value_range` (used by
    /// [`TransferDomain::Range`] presets).
    pub fn new(ctx: &RenderContext, tf: &TransferFunction, value_range: [f64; 2]) -> Result<Self> {
        let points = tf.resolve(value_range);
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(RenderError::Setting("an empty transfer function".into()));
        };
        let lo = first.value;
        let hi = if last.value > lo {
            last.value
        } else {
            lo + 1.0
        };
        let mut texels: Vec<f32> = Vec::with_capacity(LUT_ENTRIES * 4);
        for i in 0..LUT_ENTRIES {
            let x = lo + (hi - lo) * i as f64 / (LUT_ENTRIES - 1) as f64;
            texels.extend_from_slice(&TransferFunction::sample(&points, x));
        }
        let scope = ctx.device().push_error_scope(wgpu::ErrorFilter::Validation);
        let view = ctx
            .device()
            .create_texture_with_data(
                ctx.queue(),
                &wgpu::TextureDescriptor {
                    label: Some("transfer function"),
                    size: wgpu::Extent3d {
                        width: LUT_ENTRIES as u32,
                        height: 1,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba32Float,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                bytemuck::cast_slice(&texels),
            )
            .create_view(&wgpu::TextureViewDescriptor::default());
        gpu_error(pollster::block_on(scope.pop()))?;
        Ok(Self {
            view,
            value_range: [lo, hi],
        })
    }

    /// Bytes of GPU memory the table holds.
    pub fn bytes(&self) -> u64 {
        (LUT_ENTRIES * 16) as u64
    }
}

// ---------------------------------------------------------------------------------------------
// Camera

/// Parallel or central projection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Projection {
    /// Parallel rays along the view direction.
    Orthographic,
    /// Rays from the eye; the field of view spans the shorter side of the viewport.
    Perspective {
        /// Field of view in degrees (0..180).
        fov_deg: f64,
    },
}

/// A camera orbiting a target point. At azimuth 0 and elevation 0 it looks from the patient's front
/// (anterior view: patient right on screen left, superior up); azimuth turns it about the superior axis
/// towards the patient's left (90: from the left, screen right posterior; 180: from behind), elevation
/// tilts it towards the head (90: from above, posterior up; −90: from the feet, anterior up, which is
/// the axial slice view's layout).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    /// The point looked at and orbited; `None`: the centre of the volume's box.
    pub target_lps_mm: Option<Vec3>,
    /// Degrees about the superior axis.
    pub azimuth_deg: f64,
    /// Degrees towards superior.
    pub elevation_deg: f64,
    /// Eye (perspective) or ray-origin plane (orthographic) distance from the target; `None`: outside
    /// the volume's bounding sphere, and in perspective far enough to fit it into the field of view.
    pub distance_mm: Option<f64>,
    /// Orthographic or perspective.
    pub projection: Projection,
    /// Orthographic: height of the picture in mm; `None` fits the volume's box (times `zoom`).
    pub height_mm: Option<f64>,
    /// Orthographic: square pixels in mm, or one voxel of the axis closest to each screen axis per
    /// pixel (with [`CameraGeometry::native_viewport`]: one voxel column per pixel).
    pub aspect: Aspect,
    /// Magnification: 2 shows the volume twice as large.
    pub zoom: f64,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self::new(0.0, 0.0)
    }
}

/// `(cos, sin)` of an angle in degrees, exact at multiples of 90°.
fn cos_sin_deg(deg: f64) -> (f64, f64) {
    let quarter = deg / 90.0;
    if quarter == quarter.round() {
        match (quarter.round() as i64).rem_euclid(4) {
            0 => (1.0, 0.0),
            1 => (0.0, 1.0),
            2 => (-1.0, 0.0),
            _ => (0.0, -1.0),
        }
    } else {
        let r = deg.to_radians();
        (r.cos(), r.sin())
    }
}

impl OrbitCamera {
    /// An orthographic camera at these angles, fitted to the volume.
    pub fn new(azimuth_deg: f64, elevation_deg: f64) -> Self {
        Self {
            target_lps_mm: None,
            azimuth_deg,
            elevation_deg,
            distance_mm: None,
            projection: Projection::Orthographic,
            height_mm: None,
            aspect: Aspect::Physical,
            zoom: 1.0,
        }
    }

    /// The orthographic camera whose picture has the layout of `orientation`'s slice view (the view of
    /// [`crate::core::projection::reference_projection`]): coronal from the front, axial from the feet,
    /// sagittal from the patient's left.
    pub fn looking_along(orientation: Orientation) -> Self {
        match orientation {
            Orientation::Coronal => Self::new(0.0, 0.0),
            Orientation::Axial => Self::new(0.0, -90.0),
            Orientation::Sagittal => Self::new(90.0, 0.0),
        }
    }

    /// Unit vectors in LPS of screen right, screen up and the view direction (into the screen);
    /// right = forward × up.
    pub fn basis(&self) -> [Vec3; 3] {
        let (ca, sa) = cos_sin_deg(self.azimuth_deg);
        let (ce, se) = cos_sin_deg(self.elevation_deg);
        // Rotation about the superior (z) axis, taking anterior (−y) towards left (+x).
        let rot = |v: Vec3| [v[0] * ca - v[1] * sa, v[0] * sa + v[1] * ca, v[2]];
        let right = rot([1.0, 0.0, 0.0]);
        // Eye direction cos(el)·A + sin(el)·S; up cos(el)·S + sin(el)·P.
        let eye = rot([0.0, -ce, se]);
        let up = rot([0.0, se, ce]);
        [right, up, eye.map(|x| -x)]
    }
}

/// A camera resolved against a grid and a viewport: the ray of every framebuffer pixel.
///
/// Screen coordinates are framebuffer pixels as in [`super::ViewGeometry`]: x right, y down, pixel
/// centres at `+0.5`. The ray of screen point `(x, y)` starts at `origin_from_screen.apply([x, y, 0])`
/// and runs along `direction_from_screen.apply([x, y, 0])` (not unit length).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraGeometry {
    /// Viewport size in pixels.
    pub viewport_px: [u32; 2],
    /// Unit screen right, screen up and view direction in LPS.
    pub basis: [Vec3; 3],
    /// The point looked at.
    pub target_lps_mm: Vec3,
    /// The eye (perspective) or the centre of the ray-origin plane (orthographic).
    pub eye_lps_mm: Vec3,
    /// Pixel size along screen right and down in mm (perspective: at the target's depth).
    pub pixel_mm: [f64; 2],
    /// Perspective: tangent of the angle per pixel; `None` for orthographic.
    pub tan_per_px: Option<f64>,
    /// Screen point → ray origin (LPS mm).
    pub origin_from_screen: Affine3,
    /// Screen point → ray direction (LPS, not unit).
    pub direction_from_screen: Affine3,
}

fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn scale(v: Vec3, s: f64) -> Vec3 {
    v.map(|x| x * s)
}

/// Centre and the 8 corners of the grid's box (voxel faces at −0.5 and size − 0.5) in LPS.
fn box_corners(grid: &GridGeometry) -> (Vec3, [Vec3; 8]) {
    let w = grid.world_from_voxel();
    let centre = w.apply([0, 1, 2].map(|a| (grid.size[a] as f64 - 1.0) / 2.0));
    let corners = std::array::from_fn(|c| {
        w.apply([0, 1, 2].map(|a| {
            if c >> a & 1 == 1 {
                grid.size[a] as f64 - 0.5
            } else {
                -0.5
            }
        }))
    });
    (centre, corners)
}

/// Spacing (mm) of the voxel axis most parallel to `axis_lps`.
fn spacing_along(grid: &GridGeometry, axis_lps: Vec3) -> f64 {
    let best = (0..3)
        .max_by(|&a, &b| {
            let da = dot(column(&grid.direction, a), axis_lps).abs();
            let db = dot(column(&grid.direction, b), axis_lps).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(0);
    grid.spacing_mm[best]
}

impl CameraGeometry {
    /// Resolves `camera` for `grid` in a viewport of `viewport_px`.
    pub fn new(grid: &GridGeometry, camera: &OrbitCamera, viewport_px: [u32; 2]) -> Result<Self> {
        let [w, h] = viewport_px;
        if w == 0 || h == 0 {
            return Err(RenderError::TargetSize {
                width: w,
                height: h,
                limit: 0,
            });
        }
        if !(camera.azimuth_deg.is_finite() && camera.elevation_deg.is_finite()) {
            return Err(RenderError::Setting(format!(
                "azimuth {} and elevation {} must be finite",
                camera.azimuth_deg, camera.elevation_deg
            )));
        }
        let zoom = if camera.zoom.is_finite() && camera.zoom > 0.0 {
            camera.zoom
        } else {
            1.0
        };
        let [right, up, forward] = camera.basis();
        let (centre, corners) = box_corners(grid);
        let target = camera.target_lps_mm.unwrap_or(centre);
        if target.iter().any(|x| !x.is_finite()) {
            return Err(RenderError::Setting(format!(
                "target {target:?} is not finite"
            )));
        }
        let radius = corners
            .iter()
            .map(|c| norm(sub(*c, target)))
            .fold(0.0, f64::max);
        if let Some(d) = camera.distance_mm
            && !(d.is_finite() && d > 0.0)
        {
            return Err(RenderError::Setting(format!(
                "distance {d} mm must be positive"
            )));
        }
        let half = [f64::from(w) / 2.0, f64::from(h) / 2.0];
        match camera.projection {
            Projection::Orthographic => {
                let unit_mm = match camera.aspect {
                    Aspect::Physical => [1.0, 1.0],
                    Aspect::Voxel => [spacing_along(grid, right), spacing_along(grid, up)],
                };
                let units_per_px = match camera.height_mm {
                    Some(hm) if hm.is_finite() && hm > 0.0 => hm / unit_mm[1] / f64::from(h),
                    Some(hm) => {
                        return Err(RenderError::Setting(format!(
                            "picture height {hm} mm must be positive"
                        )));
                    }
                    None => {
                        let extent = |axis: Vec3| {
                            2.0 * corners
                                .iter()
                                .map(|c| dot(sub(*c, target), axis).abs())
                                .fold(0.0, f64::max)
                        };
                        (extent(right) / unit_mm[0] / f64::from(w))
                            .max(extent(up) / unit_mm[1] / f64::from(h))
                    }
                } / zoom;
                let pixel_mm = [units_per_px * unit_mm[0], units_per_px * unit_mm[1]];
                if !(pixel_mm[0] > 0.0 && pixel_mm[1] > 0.0) {
                    return Err(RenderError::Setting("zero pixel size".into()));
                }
                let distance = camera.distance_mm.unwrap_or(radius + 1.0);
                let eye = sub(target, scale(forward, distance));
                let du = scale(right, pixel_mm[0]);
                let dv = scale(up, -pixel_mm[1]);
                let origin = add(eye, add(scale(du, -half[0]), scale(dv, -half[1])));
                Ok(Self {
                    viewport_px,
                    basis: [right, up, forward],
                    target_lps_mm: target,
                    eye_lps_mm: eye,
                    pixel_mm,
                    tan_per_px: None,
                    origin_from_screen: Affine3 {
                        linear: from_columns(du, dv, forward),
                        translation: origin,
                    },
                    direction_from_screen: Affine3 {
                        linear: from_columns([0.0; 3], [0.0; 3], [0.0; 3]),
                        translation: forward,
                    },
                })
            }
            Projection::Perspective { fov_deg } => {
                if !(fov_deg.is_finite() && fov_deg > 0.0 && fov_deg < 180.0) {
                    return Err(RenderError::Setting(format!(
                        "field of view {fov_deg}° must be between 0 and 180"
                    )));
                }
                let half_angle = fov_deg.to_radians() / 2.0;
                let distance = camera
                    .distance_mm
                    .unwrap_or(radius / half_angle.sin().max(1e-6));
                let tan_per_px = half_angle.tan() / zoom / half[0].min(half[1]);
                let eye = sub(target, scale(forward, distance));
                let du = scale(right, tan_per_px);
                let dv = scale(up, -tan_per_px);
                let centre_dir = add(forward, add(scale(du, -half[0]), scale(dv, -half[1])));
                Ok(Self {
                    viewport_px,
                    basis: [right, up, forward],
                    target_lps_mm: target,
                    eye_lps_mm: eye,
                    pixel_mm: [tan_per_px * distance; 2],
                    tan_per_px: Some(tan_per_px),
                    origin_from_screen: Affine3 {
                        linear: from_columns([0.0; 3], [0.0; 3], [0.0; 3]),
                        translation: eye,
                    },
                    direction_from_screen: Affine3 {
                        linear: from_columns(du, dv, [0.0; 3]),
                        translation: centre_dir,
                    },
                })
            }
        }
    }

    /// The viewport that shows `grid` one voxel column per pixel with an orthographic camera of
    /// [`Aspect::Voxel`] at zoom 1 (exact when the view runs along a voxel axis).
    pub fn native_viewport(grid: &GridGeometry, camera: &OrbitCamera) -> [u32; 2] {
        let [right, up, _] = camera.basis();
        let (centre, corners) = box_corners(grid);
        let target = camera.target_lps_mm.unwrap_or(centre);
        let extent = |axis: Vec3| {
            2.0 * corners
                .iter()
                .map(|c| dot(sub(*c, target), axis).abs())
                .fold(0.0, f64::max)
                / spacing_along(grid, axis)
        };
        [extent(right), extent(up)].map(|e| e.round().clamp(1.0, f64::from(u32::MAX)) as u32)
    }

    /// The ray of screen point `(x, y)`: origin and unit direction in LPS.
    pub fn ray(&self, x: f64, y: f64) -> (Vec3, Vec3) {
        let o = self.origin_from_screen.apply([x, y, 0.0]);
        let d = self.direction_from_screen.apply([x, y, 0.0]);
        (o, scale(d, 1.0 / norm(d)))
    }

    /// The screen point `(x, y)` an LPS point projects to; `None` behind a perspective eye.
    pub fn screen_at(&self, p_lps_mm: Vec3) -> Option<[f64; 2]> {
        let [right, up, forward] = self.basis;
        let v = sub(p_lps_mm, self.eye_lps_mm);
        let [w, h] = self.viewport_px.map(f64::from);
        let (sx, sy) = match self.tan_per_px {
            None => (self.pixel_mm[0], self.pixel_mm[1]),
            Some(t) => {
                let depth = dot(v, forward);
                if depth <= 0.0 {
                    return None;
                }
                (t * depth, t * depth)
            }
        };
        Some([w / 2.0 + dot(v, right) / sx, h / 2.0 - dot(v, up) / sy])
    }
}

// ---------------------------------------------------------------------------------------------
// Scene

/// Headlight shading of DVR samples with the gradient of the interpolated values (two-sided):
/// `colour · (ambient + diffuse · |n·l|) + specular · |n·l|^shininess`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shading {
    /// Light everywhere.
    pub ambient: f32,
    /// Lambert term.
    pub diffuse: f32,
    /// Highlight strength.
    pub specular: f32,
    /// Highlight exponent.
    pub shininess: f32,
}

impl Default for Shading {
    fn default() -> Self {
        Self {
            ambient: 0.3,
            diffuse: 0.7,
            specular: 0.2,
            shininess: 24.0,
        }
    }
}

/// What each ray computes.
#[derive(Clone, Copy, Debug)]
pub enum VolumeMode<'a> {
    /// Maximum intensity projection, windowed to grey.
    Mip {
        /// DICOM window on the maximum.
        window: Window,
    },
    /// Minimum intensity projection, windowed to grey.
    Minip {
        /// DICOM window on the minimum.
        window: Window,
    },
    /// Direct volume rendering.
    Dvr {
        /// Colour and opacity of modality values.
        transfer: &'a GpuTransferFunction,
        /// Gradient shading, or flat colours.
        shading: Option<Shading>,
    },
}

/// How rays are sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Step as a fraction of the smallest voxel spacing (0.5: half a voxel); the shader rounds it down
    /// so that samples fall on planes of the voxel axis the ray runs most along.
    pub step_factor: f64,
    /// Offsets each ray's first sample by a fraction of a step from a hash of the pixel and this seed
    /// (against banding); `None` for exact, repeatable sampling.
    pub jitter_seed: Option<u32>,
    /// DVR: a ray stops when its accumulated opacity reaches this (early ray termination).
    pub opaque_alpha: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            step_factor: 0.5,
            jitter_seed: Some(0),
            opaque_alpha: 0.99,
        }
    }
}

/// Everything one volume rendering draws.
#[derive(Clone, Copy, Debug)]
pub struct VolumeScene<'a> {
    /// The image (role [`VolumeRole::Image`], one component).
    pub image: &'a GpuVolume,
    /// Where it is seen from.
    pub camera: OrbitCamera,
    /// MIP, MinIP or DVR.
    pub mode: VolumeMode<'a>,
    /// Step, jitter, early termination.
    pub sampling: Sampling,
    /// Colour where no ray hits and behind translucent material (8-bit RGBA).
    pub background: [u8; 4],
}

impl<'a> VolumeScene<'a> {
    /// `image` seen by `camera` in `mode`, default sampling, on black.
    pub fn new(image: &'a GpuVolume, camera: OrbitCamera, mode: VolumeMode<'a>) -> Self {
        Self {
            image,
            camera,
            mode,
            sampling: Sampling::default(),
            background: [0, 0, 0, 255],
        }
    }
}

/// Uniforms of the volume pass. Keep in sync with `VolumeUniforms` in shaders/volume.wgsl
/// (`tests/render_volume.rs` compares size and member offsets with naga's layout of the WGSL struct).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct VolumeUniforms {
    /// Rows `(a, b, c, 0)` of "ray origin (continuous voxel index) = a·x + b·y + c" from framebuffer pixel `(x, y)`.
    pub origin_rows: [[f32; 4]; 3],
    /// The same for the ray direction in voxel units (not normalised).
    pub dir_rows: [[f32; 4]; 3],
    /// The same for the ray direction in LPS (not normalised; its length converts `dir_rows` to per mm).
    pub world_dir_rows: [[f32; 4]; 3],
    /// Rows of the transpose of `voxel_from_world`'s linear part (voxel gradient → LPS gradient).
    pub gradient_rows: [[f32; 4]; 3],
    /// Grid size (x, y, z, unused).
    pub size: [i32; 4],
    /// Rescale slope, rescale intercept, window centre, window width.
    pub value_map: [f32; 4],
    /// MIP stops at or above `[0]`, MinIP at or below `[1]` (the window saturates); unused.
    pub limits: [f32; 4],
    /// Transfer function: value at its first entry, at its last entry, entries, reference step (mm).
    pub tf: [f32; 4],
    /// Requested step (mm), jitter (0 or 1), opacity that stops a ray, nearest t (mm).
    pub march: [f32; 4],
    /// Ambient, diffuse, specular, shininess.
    pub shading: [f32; 4],
    /// Texel kind (informative: the pipeline's `TEXEL_KIND` decides), mode (0 MIP, 1 MinIP, 2 DVR),
    /// flags (`FLAG_*`), jitter seed.
    pub modes: [u32; 4],
    /// Colour behind the volume, 0..1.
    pub background: [f32; 4],
}

const _: () = assert!(std::mem::size_of::<VolumeUniforms>() == 320);

/// MONOCHROME1: invert the grey level (MIP, MinIP).
const FLAG_INVERT: u32 = 1;
/// Gradient shading (DVR).
const FLAG_SHADE: u32 = 2;
/// The target format is sRGB: write linear values.
const FLAG_SRGB: u32 = 4;

/// Rows `(a, b, c, 0)` of a map applied to `(x, y, 0)`.
fn screen_rows(m: &Affine3) -> [[f32; 4]; 3] {
    [0, 1, 2].map(|r| {
        [
            m.linear[r][0] as f32,
            m.linear[r][1] as f32,
            m.translation[r] as f32,
            0.0,
        ]
    })
}

/// The modality value at which the window reaches 255 and 0: a MIP (MinIP) beyond it cannot change.
fn window_limits(w: Window) -> [f32; 2] {
    if w.width <= 1.0 {
        return [f32::INFINITY, f32::NEG_INFINITY];
    }
    let half = (w.width - 1.0) / 2.0;
    [
        (w.center - 0.5 + half) as f32,
        (w.center - 0.5 - half) as f32,
    ]
}

/// The uniforms of `scene` seen through `geometry`, for a viewport whose top-left pixel is at
/// `origin_px` of the framebuffer.
pub(crate) fn uniforms(
    scene: &VolumeScene<'_>,
    geometry: &CameraGeometry,
    origin_px: [f64; 2],
    srgb: bool,
) -> Result<VolumeUniforms> {
    let image = scene.image;
    if image.role() != VolumeRole::Image {
        return Err(RenderError::Update(format!(
            "volume rendering needs an Image texture, not {:?}",
            image.role()
        )));
    }
    if image.components() != 1 {
        return Err(RenderError::Components {
            components: image.components(),
            role: "a volume rendering (grey images only)",
        });
    }
    let step = scene.sampling.step_factor;
    if !(step.is_finite() && step > 0.0) {
        return Err(RenderError::Setting(format!(
            "step factor {step} must be positive"
        )));
    }
    let grid = image.grid();
    let viewport_from_framebuffer = Affine3 {
        linear: crate::core::geometry::IDENTITY3,
        translation: [-origin_px[0], -origin_px[1], 0.0],
    };
    let voxel_from_world = image.voxel_from_world();
    let linear_only = Affine3 {
        linear: voxel_from_world.linear,
        translation: [0.0; 3],
    };
    let origin = compose(
        voxel_from_world,
        &compose(&geometry.origin_from_screen, &viewport_from_framebuffer),
    );
    let world_dir = compose(&geometry.direction_from_screen, &viewport_from_framebuffer);
    let dir = compose(&linear_only, &world_dir);
    let v = voxel_from_world.linear;
    let gradient_rows = [0, 1, 2].map(|r| [v[0][r] as f32, v[1][r] as f32, v[2][r] as f32, 0.0]);
    let min_spacing = grid
        .spacing_mm
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let rescale = image.rescale();
    let mut flags = 0;
    if srgb {
        flags |= FLAG_SRGB;
    }
    let (mode, window, limits, tf, shading) = match scene.mode {
        VolumeMode::Mip { window } => {
            (0, window, window_limits(window), [0.0, 1.0, 2.0, 1.0], None)
        }
        VolumeMode::Minip { window } => {
            (1, window, window_limits(window), [0.0, 1.0, 2.0, 1.0], None)
        }
        VolumeMode::Dvr { transfer, shading } => (
            2,
            Window::new(0.0, 1.0),
            [f32::INFINITY, f32::NEG_INFINITY],
            [
                transfer.value_range[0] as f32,
                transfer.value_range[1] as f32,
                LUT_ENTRIES as f32,
                TransferFunction::REFERENCE_STEP_MM as f32,
            ],
            shading,
        ),
    };
    if mode != 2 && image.photometric() == Photometric::Monochrome1 {
        flags |= FLAG_INVERT;
    }
    let shading = match shading {
        Some(s) => {
            flags |= FLAG_SHADE;
            [s.ambient, s.diffuse, s.specular, s.shininess]
        }
        None => [1.0, 0.0, 0.0, 1.0],
    };
    let s = grid.size;
    Ok(VolumeUniforms {
        origin_rows: screen_rows(&origin),
        dir_rows: screen_rows(&dir),
        world_dir_rows: screen_rows(&world_dir),
        gradient_rows,
        size: [s[0] as i32, s[1] as i32, s[2] as i32, 1],
        value_map: [
            rescale.slope as f32,
            rescale.intercept as f32,
            window.center as f32,
            window.width as f32,
        ],
        limits: [limits[0], limits[1], 0.0, 0.0],
        tf,
        march: [
            (step * min_spacing) as f32,
            if scene.sampling.jitter_seed.is_some() {
                1.0
            } else {
                0.0
            },
            scene.sampling.opaque_alpha.clamp(0.0, 1.0),
            0.0,
        ],
        shading,
        modes: [
            image.kind().index(),
            mode,
            flags,
            scene.sampling.jitter_seed.unwrap_or(0),
        ],
        background: scene.background.map(|c| f32::from(c) / 255.0),
    })
}

// ---------------------------------------------------------------------------------------------
// The pass

/// The volume pass's pipelines (per target format, built once), bind group layout, stand-ins for the
/// unused texel kinds, and its offscreen target. Works with the device of a [`RenderContext`].
#[derive(Debug)]
pub struct VolumePass {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    module: wgpu::ShaderModule,
    /// By target format and texel kind (the shader's `TEXEL_KIND`).
    pipelines: HashMap<(wgpu::TextureFormat, TexelKind), wgpu::RenderPipeline>,
    /// 1×1×1 stand-ins for the texel kinds the image is not: u32, i32, f32.
    dummies: [wgpu::TextureView; 3],
    /// Fills the transfer-function binding for MIP and MinIP, which read no table.
    no_transfer: GpuTransferFunction,
    offscreen: Option<OffscreenTarget>,
}

/// A volume rendering ready to draw into a render pass of the format it was prepared for.
#[derive(Debug)]
pub struct PreparedVolume {
    /// The camera it was prepared with (for picking: screen ↔ LPS).
    pub geometry: CameraGeometry,
    pipeline: wgpu::RenderPipeline,
    bind_group: wgpu::BindGroup,
}

impl PreparedVolume {
    /// Draws the volume (a full-viewport triangle).
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

impl VolumePass {
    /// Builds the shader, layouts and the pipeline for offscreen pictures on `ctx`'s device.
    pub fn new(ctx: &RenderContext) -> Result<Self> {
        let device = ctx.device();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("volume.wgsl"),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(VOLUME_WGSL)),
        });
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let d3 = wgpu::TextureViewDimension::D3;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("volume bindings"),
            entries: &[
                uniform_entry::<VolumeUniforms>(0),
                texture_entry(1, wgpu::TextureSampleType::Uint, d3),
                texture_entry(2, wgpu::TextureSampleType::Sint, d3),
                texture_entry(3, float, d3),
                texture_entry(4, float, wgpu::TextureViewDimension::D2),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("volume"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let dummy = |format: wgpu::TextureFormat, bytes: &[u8]| {
            device
                .create_texture_with_data(
                    ctx.queue(),
                    &wgpu::TextureDescriptor {
                        label: Some("unused binding"),
                        size: wgpu::Extent3d {
                            width: 1,
                            height: 1,
                            depth_or_array_layers: 1,
                        },
                        mip_level_count: 1,
                        sample_count: 1,
                        dimension: wgpu::TextureDimension::D3,
                        format,
                        usage: wgpu::TextureUsages::TEXTURE_BINDING,
                        view_formats: &[],
                    },
                    wgpu::util::TextureDataOrder::LayerMajor,
                    bytes,
                )
                .create_view(&wgpu::TextureViewDescriptor::default())
        };
        let dummies = [
            dummy(wgpu::TextureFormat::R8Uint, &[0]),
            dummy(wgpu::TextureFormat::R8Sint, &[0]),
            dummy(wgpu::TextureFormat::R32Float, &[0; 4]),
        ];
        gpu_error(pollster::block_on(scope.pop()))?;
        let no_transfer =
            GpuTransferFunction::new(ctx, &TransferFunction::ramp(0.0, 1.0, [0.0; 4]), [0.0, 1.0])?;
        let pass = Self {
            layout,
            pipeline_layout,
            module,
            pipelines: HashMap::new(),
            dummies,
            no_transfer,
            offscreen: None,
        };
        // The image's texel kind decides the pipeline: built when first needed.
        Ok(pass)
    }

    fn pipeline_for(
        &mut self,
        ctx: &RenderContext,
        format: wgpu::TextureFormat,
        kind: TexelKind,
    ) -> Result<wgpu::RenderPipeline> {
        if let Some(p) = self.pipelines.get(&(format, kind)) {
            return Ok(p.clone());
        }
        let constants = [("TEXEL_KIND", f64::from(kind.index()))];
        let device = ctx.device();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let targets = [Some(wgpu::ColorTargetState {
            format,
            blend: None,
            write_mask: wgpu::ColorWrites::ALL,
        })];
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("volume"),
            layout: Some(&self.pipeline_layout),
            vertex: wgpu::VertexState {
                module: &self.module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &self.module,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    ..Default::default()
                },
                targets: &targets,
            }),
            multiview_mask: None,
            cache: None,
        });
        gpu_error(pollster::block_on(scope.pop()))?;
        self.pipelines.insert((format, kind), pipeline.clone());
        Ok(pipeline)
    }

    /// Prepares `scene` for a render pass on a target of `format`, drawn into a viewport of
    /// `viewport_px` pixels whose top-left corner is at `origin_px` of the framebuffer.
    pub fn prepare(
        &mut self,
        ctx: &RenderContext,
        scene: &VolumeScene<'_>,
        viewport_px: [u32; 2],
        origin_px: [f32; 2],
        format: wgpu::TextureFormat,
    ) -> Result<PreparedVolume> {
        let geometry = CameraGeometry::new(scene.image.grid(), &scene.camera, viewport_px)?;
        let u = uniforms(
            scene,
            &geometry,
            [f64::from(origin_px[0]), f64::from(origin_px[1])],
            format.is_srgb(),
        )?;
        let pipeline = self.pipeline_for(ctx, format, scene.image.kind())?;
        let device = ctx.device();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("volume uniforms"),
            contents: bytemuck::bytes_of(&u),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let image_view = |kind: TexelKind| {
            if scene.image.kind() == kind {
                &scene.image.view
            } else {
                &self.dummies[kind.index() as usize]
            }
        };
        let transfer_view = match scene.mode {
            VolumeMode::Dvr { transfer, .. } => &transfer.view,
            VolumeMode::Mip { .. } | VolumeMode::Minip { .. } => &self.no_transfer.view,
        };
        let views = [
            image_view(TexelKind::Uint),
            image_view(TexelKind::Sint),
            image_view(TexelKind::Float),
            transfer_view,
        ];
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: buffer.as_entire_binding(),
        }];
        for (i, view) in views.into_iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("volume"),
            layout: &self.layout,
            entries: &entries,
        });
        gpu_error(pollster::block_on(scope.pop()))?;
        Ok(PreparedVolume {
            geometry,
            pipeline,
            bind_group,
        })
    }

    /// Renders `scene` into an owned `viewport_px` Rgba8Unorm texture and reads it back (rows top to
    /// bottom), through the same offscreen path as [`RenderContext::render_slice`].
    pub fn render(
        &mut self,
        ctx: &RenderContext,
        scene: &VolumeScene<'_>,
        viewport_px: [u32; 2],
    ) -> Result<RgbaPicture> {
        let prepared = self.prepare(ctx, scene, viewport_px, [0.0; 2], OFFSCREEN_FORMAT)?;
        let device = ctx.device();
        if self.offscreen.as_ref().map(|t| t.size) != Some(viewport_px) {
            self.offscreen = Some(OffscreenTarget::new(device, viewport_px)?);
        }
        let Some(target) = self.offscreen.as_ref() else {
            return Err(RenderError::Gpu("no offscreen target".into()));
        };
        target.render(device, ctx.queue(), "volume", scene.background, |pass| {
            prepared.paint(pass)
        })?;
        target.read(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::{IDENTITY3, cross};

    fn grid(size: [usize; 3], spacing: Vec3) -> GridGeometry {
        GridGeometry {
            size,
            spacing_mm: spacing,
            direction: IDENTITY3,
            origin_lps_mm: [-10.0, 20.0, -30.0],
        }
    }

    fn close(a: Vec3, b: Vec3) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
    }

    #[test]
    fn orbit_basis_follows_the_patient_conventions() {
        const L: Vec3 = [1.0, 0.0, 0.0];
        const P: Vec3 = [0.0, 1.0, 0.0];
        const S: Vec3 = [0.0, 0.0, 1.0];
        let neg = |v: Vec3| v.map(|x| -x);
        // (azimuth, elevation) → (right, up, forward).
        for (az, el, right, up, forward) in [
            (0.0, 0.0, L, S, P),             // from the front: patient right on screen left
            (90.0, 0.0, P, S, neg(L)),       // from the left
            (180.0, 0.0, neg(L), S, neg(P)), // from behind
            (-90.0, 0.0, neg(P), S, L),      // from the right
            (0.0, 90.0, L, P, neg(S)),       // from above
            (0.0, -90.0, L, neg(P), S),      // from the feet: the axial slice layout
        ] {
            let [r, u, f] = OrbitCamera::new(az, el).basis();
            assert!(
                close(r, right) && close(u, up) && close(f, forward),
                "{az} {el}"
            );
            assert!(close(cross(f, u), r));
        }
        // Slice layouts: screen right and down of each orientation.
        for o in Orientation::ALL {
            let [r, u, _] = OrbitCamera::looking_along(o).basis();
            let (right, down) = o.screen_axes_lps();
            assert!(close(r, right) && close(neg(u), down), "{o:?}");
        }
        let [r, u, f] = OrbitCamera::new(33.0, 21.0).basis();
        assert!(
            (norm(r) - 1.0).abs() < 1e-12 && dot(r, u).abs() < 1e-12 && dot(u, f).abs() < 1e-12
        );
    }

    #[test]
    fn orthographic_voxel_aspect_puts_pixel_centres_on_voxel_columns() {
        let g = grid([512, 512, 20], [0.9765625, 0.9765625, 2.0]);
        let cam = OrbitCamera {
            aspect: Aspect::Voxel,
            ..OrbitCamera::looking_along(Orientation::Coronal)
        };
        let vp = CameraGeometry::native_viewport(&g, &cam);
        assert_eq!(vp, [512, 20]);
        let geo = CameraGeometry::new(&g, &cam, vp).unwrap();
        let v2w = g.voxel_from_world();
        for (x, y, i, k) in [
            (0, 0, 0.0, 19.0),
            (511, 19, 511.0, 0.0),
            (100, 7, 100.0, 12.0),
        ] {
            let (o, d) = geo.ray(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let v = v2w.apply(o);
            assert!(
                (v[0] - i).abs() < 1e-9 && (v[2] - k).abs() < 1e-9,
                "{x},{y}: {v:?}"
            );
            assert!(close(d, [0.0, 1.0, 0.0]));
            assert!(v[1] < -0.5, "the ray starts in front of the volume");
        }
        let p = geo
            .screen_at(g.world_from_voxel().apply([100.0, 3.0, 12.0]))
            .unwrap();
        assert!((p[0] - 100.5).abs() < 1e-9 && (p[1] - 7.5).abs() < 1e-9);
    }

    #[test]
    fn physical_fit_and_perspective_rays() {
        let g = grid([100, 50, 20], [1.0, 1.0, 2.0]);
        let geo = CameraGeometry::new(&g, &OrbitCamera::new(0.0, 0.0), [200, 200]).unwrap();
        // 100 mm wide, 40 mm high: fitted to the width.
        assert!((geo.pixel_mm[0] - 0.5).abs() < 1e-12 && geo.pixel_mm[0] == geo.pixel_mm[1]);
        let cam = OrbitCamera {
            projection: Projection::Perspective { fov_deg: 40.0 },
            distance_mm: Some(300.0),
            ..OrbitCamera::new(30.0, 20.0)
        };
        let geo = CameraGeometry::new(&g, &cam, [320, 240]).unwrap();
        let target = geo.target_lps_mm;
        let c = geo.screen_at(target).unwrap();
        assert!((c[0] - 160.0).abs() < 1e-9 && (c[1] - 120.0).abs() < 1e-9);
        // A point's ray passes through it.
        let p = [5.0, 40.0, -20.0];
        let s = geo.screen_at(p).unwrap();
        let (o, d) = geo.ray(s[0], s[1]);
        let v = sub(p, o);
        let t = dot(v, d);
        assert!(norm(sub(v, scale(d, t))) < 1e-9);
        // The vertical field of view spans the shorter side.
        let (_, top) = geo.ray(160.0, 0.0);
        let angle = dot(top, geo.basis[2]).acos().to_degrees();
        assert!((angle - 20.0).abs() < 1e-9, "{angle}");
        assert!(matches!(
            CameraGeometry::new(
                &g,
                &OrbitCamera {
                    projection: Projection::Perspective { fov_deg: 180.0 },
                    ..cam
                },
                [10, 10]
            ),
            Err(RenderError::Setting(_))
        ));
    }

    #[test]
    fn presets_parse_and_interpolate() {
        for name in TransferFunction::PRESETS {
            let tf = TransferFunction::preset(name).unwrap();
            assert!(tf.points.len() >= 2, "{name}");
        }
        assert!(matches!(
            TransferFunction::preset("nope"),
            Err(RenderError::UnknownPreset { .. })
        ));
        let tf = TransferFunction::parse(
            "t",
            "# c\ndomain,range\n0,0,0,0,0\n0.5,1,0.5,0,0.2\n0.5,1,1,1,1\n1,0,0,0,1\n",
        )
        .unwrap();
        let p = tf.resolve([100.0, 300.0]);
        assert_eq!(p[1].value, 200.0);
        assert_eq!(TransferFunction::sample(&p, 150.0), [0.5, 0.25, 0.0, 0.1]);
        assert_eq!(TransferFunction::sample(&p, 200.0), [1.0, 1.0, 1.0, 1.0]);
        assert_eq!(TransferFunction::sample(&p, 0.0), [0.0; 4]);
        assert_eq!(TransferFunction::sample(&p, 1e9), [0.0, 0.0, 0.0, 1.0]);
        for bad in [
            "0,0,0,0,0\n",
            "domain,hu\n0,0,0,0,0\n",
            "domain,range\n1,0,0,0,0\n0,0,0,0,0\n",
            "domain,range\n0,0,0,0,2\n",
            "domain,range\n0,0,0\n",
        ] {
            assert!(TransferFunction::parse("t", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            TransferFunction::default_preset(Some("CT")),
            "ct-soft-tissue"
        );
        assert_eq!(TransferFunction::default_preset(Some("MR")), "mr");
    }

    #[test]
    fn window_limits_are_where_the_window_saturates() {
        let w = Window::new(40.0, 400.0);
        let [hi, lo] = window_limits(w);
        assert_eq!((w.apply(f64::from(hi)), w.apply(f64::from(lo))), (255, 0));
        assert!(w.apply(f64::from(hi) - 1.0) < 255);
    }
}
