//! Vector overlays: boxes, polygons and the crosshair, tessellated on the CPU into triangles in pixel space
//! (square caps, optional dashes) and drawn with `shaders/lines.wgsl` in the slice's render pass.

use super::view::ViewGeometry;
use crate::core::geometry::{Affine3, Vec3};
use crate::core::mask::VoxelBox;

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineStyle {
    /// Colour and opacity (display values, 8-bit).
    pub colour: [u8; 4],
    /// Width in pixels, centred on the geometric line.
    pub width_px: f32,
    /// Dash and gap lengths in pixels; `None` for a solid line.
    pub dash_px: Option<[f32; 2]>,
}

impl LineStyle {
    /// A solid line.
    pub fn solid(colour: [u8; 4], width_px: f32) -> Self {
        Self {
            colour,
            width_px,
            dash_px: None,
        }
    }
}

/// A shape in patient space.
#[derive(Clone, Debug, PartialEq)]
pub enum VectorShape {
    /// A polyline or polygon, points in LPS mm; drawn when every point lies within half a slice of the view
    /// plane (a polygon drawn on a slice shows on that slice).
    Polyline {
        /// Points, LPS mm.
        points_lps_mm: Vec<Vec3>,
        /// Joins the last point to the first.
        closed: bool,
    },
    /// The voxels `min..max` (half-open) of a grid given by its `world_from_voxel`; what is drawn is the
    /// outline of the box's cross-section with the view plane (its voxel faces at ±0.5), so a 2D box shows
    /// on the slices it spans and a 3D box in every view that cuts it.
    Box {
        /// Voxel range.
        voxels: VoxelBox,
        /// Continuous voxel index → LPS mm of the grid the box is on.
        world_from_voxel: Affine3,
    },
}

/// A shape with its style.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorOverlay {
    /// What to draw.
    pub shape: VectorShape,
    /// How.
    pub style: LineStyle,
}

/// Two lines across the viewport through a point (drawn whatever the point's depth), with a gap around it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crosshair {
    /// The point, LPS mm.
    pub point_lps_mm: Vec3,
    /// Line style.
    pub style: LineStyle,
    /// Half-size of the empty square around the point, pixels (0 for none).
    pub gap_px: f32,
}

/// One vertex of the line pipeline. Keep in sync with `LineVertex` in shaders/lines.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LineVertex {
    /// Normalised device coordinates.
    pub position: [f32; 2],
    /// Linear RGBA the target stores (sRGB targets: linearised display colour).
    pub colour: [f32; 4],
}

const _: () = assert!(std::mem::size_of::<LineVertex>() == 24);

impl LineVertex {
    pub(crate) const ATTRIBUTES: [wgpu::VertexAttribute; 2] =
        wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x4];
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Accumulates triangles in pixel space and converts them to NDC.
pub(crate) struct Tessellator {
    viewport: [f32; 2],
    srgb: bool,
    pub(crate) vertices: Vec<LineVertex>,
}

impl Tessellator {
    pub(crate) fn new(viewport_px: [u32; 2], srgb: bool) -> Self {
        Self {
            viewport: [viewport_px[0] as f32, viewport_px[1] as f32],
            srgb,
            vertices: Vec::new(),
        }
    }

    fn colour(&self, c: [u8; 4]) -> [f32; 4] {
        let f = |x: u8| f32::from(x) / 255.0;
        if self.srgb {
            [
                srgb_to_linear(f(c[0])),
                srgb_to_linear(f(c[1])),
                srgb_to_linear(f(c[2])),
                f(c[3]),
            ]
        } else {
            c.map(f)
        }
    }

    fn vertex(&self, p: [f32; 2], colour: [f32; 4]) -> LineVertex {
        LineVertex {
            position: [
                p[0] / self.viewport[0] * 2.0 - 1.0,
                1.0 - p[1] / self.viewport[1] * 2.0,
            ],
            colour,
        }
    }

    /// A solid segment as a quad of the style's width, extended by half the width at both ends.
    fn quad(&mut self, a: [f32; 2], b: [f32; 2], style: &LineStyle) {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if !(len.is_finite() && style.width_px > 0.0) {
            return;
        }
        let h = style.width_px / 2.0;
        let (ux, uy) = if len > 0.0 {
            (dx / len, dy / len)
        } else {
            (1.0, 0.0)
        };
        let (nx, ny) = (-uy * h, ux * h);
        let a = [a[0] - ux * h, a[1] - uy * h];
        let b = [b[0] + ux * h, b[1] + uy * h];
        let colour = self.colour(style.colour);
        let corners = [
            [a[0] + nx, a[1] + ny],
            [b[0] + nx, b[1] + ny],
            [b[0] - nx, b[1] - ny],
            [a[0] - nx, a[1] - ny],
        ];
        for i in [0, 1, 2, 0, 2, 3] {
            let v = self.vertex(corners[i], colour);
            self.vertices.push(v);
        }
    }

    /// A polyline in pixel space, dashed if the style says so (the dash pattern runs on across joints).
    pub(crate) fn polyline(&mut self, points: &[[f32; 2]], closed: bool, style: &LineStyle) {
        let mut segments: Vec<([f32; 2], [f32; 2])> =
            points.windows(2).map(|w| (w[0], w[1])).collect();
        if closed && points.len() > 2 {
            segments.push((points[points.len() - 1], points[0]));
        }
        let Some([on, off]) = style
            .dash_px
            .filter(|d| d[0] > 0.0 && d[1] >= 0.0 && d[0] + d[1] > 0.0)
        else {
            for (a, b) in segments {
                self.quad(a, b, style);
            }
            return;
        };
        let period = on + off;
        let mut phase = 0.0f32;
        // Dashes get flat ends: tessellate them as quads without caps.
        let capless = LineStyle {
            dash_px: None,
            ..*style
        };
        for (a, b) in segments {
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = (dx * dx + dy * dy).sqrt();
            let mut t = 0.0f32;
            while t < len {
                let in_period = phase % period;
                let (drawing, left) = if in_period < on {
                    (true, on - in_period)
                } else {
                    (false, period - in_period)
                };
                let step = left.min(len - t);
                if drawing {
                    let p = |s: f32| [a[0] + dx * s / len, a[1] + dy * s / len];
                    self.flat_quad(p(t), p(t + step), &capless);
                }
                t += step;
                phase += step;
            }
        }
    }

    fn flat_quad(&mut self, a: [f32; 2], b: [f32; 2], style: &LineStyle) {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len <= 0.0 {
            return;
        }
        let h = style.width_px / 2.0;
        let (nx, ny) = (-dy / len * h, dx / len * h);
        let colour = self.colour(style.colour);
        let corners = [
            [a[0] + nx, a[1] + ny],
            [b[0] + nx, b[1] + ny],
            [b[0] - nx, b[1] - ny],
            [a[0] - nx, a[1] - ny],
        ];
        for i in [0, 1, 2, 0, 2, 3] {
            let v = self.vertex(corners[i], colour);
            self.vertices.push(v);
        }
    }

    /// Adds a shape as seen in `view`.
    pub(crate) fn overlay(&mut self, view: &ViewGeometry, overlay: &VectorOverlay) {
        match &overlay.shape {
            VectorShape::Polyline {
                points_lps_mm,
                closed,
            } => {
                let half = view.slab_mm / 2.0 * (1.0 + 1e-9) + 1e-9;
                let screen: Vec<Vec3> = points_lps_mm.iter().map(|p| view.screen_at(*p)).collect();
                if screen.is_empty() || screen.iter().any(|s| s[2].abs() > half) {
                    return;
                }
                let pts: Vec<[f32; 2]> =
                    screen.iter().map(|s| [s[0] as f32, s[1] as f32]).collect();
                self.polyline(&pts, *closed, &overlay.style);
            }
            VectorShape::Box {
                voxels,
                world_from_voxel,
            } => {
                if let Some(section) = box_section(view, voxels, world_from_voxel) {
                    self.polyline(&section, true, &overlay.style);
                }
            }
        }
    }

    /// Adds the crosshair: flat-ended lines from the viewport edges to `gap_px` from the point.
    pub(crate) fn crosshair(&mut self, view: &ViewGeometry, c: &Crosshair) {
        let s = view.screen_at(c.point_lps_mm);
        let (x, y) = (s[0] as f32, s[1] as f32);
        let [w, h] = self.viewport;
        let g = c.gap_px.max(0.0);
        let pieces = [
            ([0.0, y], [x - g, y]),
            ([x + g, y], [w, y]),
            ([x, 0.0], [x, y - g]),
            ([x, y + g], [x, h]),
        ];
        for (a, b) in pieces {
            if c.style.dash_px.is_some() {
                self.polyline(&[a, b], false, &c.style);
            } else {
                self.flat_quad(a, b, &c.style);
            }
        }
    }
}

/// The outline of a voxel box's cross-section with the view plane, in pixels, or `None` if the plane
/// misses it.
fn box_section(
    view: &ViewGeometry,
    b: &VoxelBox,
    world_from_voxel: &Affine3,
) -> Option<Vec<[f32; 2]>> {
    if b.is_empty() {
        return None;
    }
    let corner = |c: usize| -> Vec3 {
        let ijk: Vec3 = [0, 1, 2].map(|a| {
            if c >> a & 1 == 1 {
                b.max[a] as f64 - 0.5
            } else {
                b.min[a] as f64 - 0.5
            }
        });
        view.screen_at(world_from_voxel.apply(ijk))
    };
    let corners: Vec<Vec3> = (0..8).map(corner).collect();
    let eps = 1e-9;
    let mut points: Vec<[f64; 2]> = Vec::new();
    for a in 0..8usize {
        for axis in 0..3 {
            let bit = 1 << axis;
            if a & bit != 0 {
                continue;
            }
            let (p, q) = (corners[a], corners[a | bit]);
            let (dp, dq) = (p[2], q[2]);
            if dp.abs() <= eps {
                points.push([p[0], p[1]]);
            }
            if dq.abs() <= eps {
                points.push([q[0], q[1]]);
            }
            if (dp < -eps && dq > eps) || (dp > eps && dq < -eps) {
                let t = dp / (dp - dq);
                points.push([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t]);
            }
        }
    }
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup_by(|a, b| (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let cx = points.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = points.iter().map(|p| p[1]).sum::<f64>() / n;
    points.sort_by(|a, b| {
        (a[1] - cy)
            .atan2(a[0] - cx)
            .total_cmp(&(b[1] - cy).atan2(b[0] - cx))
    });
    Some(points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::IDENTITY3;
    use crate::core::reslice::Orientation;
    use crate::render::view::{GridGeometry, SliceView};

    #[test]
    fn box_section_is_the_voxel_rectangle_in_a_native_view() {
        let g = GridGeometry {
            size: [32, 32, 8],
            spacing_mm: [1.0, 1.0, 2.0],
            direction: IDENTITY3,
            origin_lps_mm: [0.0; 3],
        };
        let view =
            ViewGeometry::new(&g, &SliceView::native(Orientation::Axial, 3), [32, 32]).unwrap();
        let b = VoxelBox {
            min: [4, 6, 2],
            max: [10, 9, 5],
        };
        let s = box_section(&view, &b, &g.world_from_voxel()).unwrap();
        let xs: Vec<f32> = s.iter().map(|p| p[0]).collect();
        let ys: Vec<f32> = s.iter().map(|p| p[1]).collect();
        assert_eq!(s.len(), 4);
        assert_eq!(xs.iter().cloned().fold(f32::MAX, f32::min), 4.0);
        assert_eq!(xs.iter().cloned().fold(f32::MIN, f32::max), 10.0);
        assert_eq!(ys.iter().cloned().fold(f32::MAX, f32::min), 6.0);
        assert_eq!(ys.iter().cloned().fold(f32::MIN, f32::max), 9.0);
        let outside =
            ViewGeometry::new(&g, &SliceView::native(Orientation::Axial, 5), [32, 32]).unwrap();
        assert!(box_section(&outside, &b, &g.world_from_voxel()).is_none());
    }

    #[test]
    fn dashes_alternate() {
        let mut t = Tessellator::new([100, 100], false);
        let style = LineStyle {
            colour: [255; 4],
            width_px: 2.0,
            dash_px: Some([4.0, 4.0]),
        };
        t.polyline(&[[0.0, 50.0], [40.0, 50.0]], false, &style);
        assert_eq!(t.vertices.len(), 5 * 6);
    }
}
