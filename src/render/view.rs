//! Slice view geometry: which plane of a volume a view shows and the exact affine map between framebuffer
//! pixels and patient space (LPS mm). Pure `f64` math, no GPU.
//!
//! Screen coordinates are framebuffer pixels: x to the right, y down, pixel `(c, r)` covering
//! `[c, c+1) × [r, r+1)` with its centre at `(c + 0.5, r + 0.5)` (WebGPU's fragment positions).

use super::{RenderError, Result};
use crate::core::geometry::{Affine3, Mat3, Vec3, column, cross, dot, from_columns, norm};
use crate::core::reslice::{Orientation, ResliceError, SliceAxes};
use crate::core::volume::Volume;

/// Which plane a view cuts and how its screen axes lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Frame {
    /// The voxel plane `slice` of the axis closest to the view normal, its voxel axes along the screen axes
    /// (flipped to follow the radiological convention as closely as the grid allows). No resampling
    /// across slices; for an oblique grid the anatomy is as tilted as the acquisition.
    #[default]
    VoxelAligned,
    /// The exact patient plane (normal along S, P or R) through the centre of voxel plane `slice`, screen
    /// axes exactly along the patient axes of the convention; oblique grids are resampled.
    PatientAligned,
}

/// What a screen pixel's size is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Aspect {
    /// Square pixels in millimetres: physical proportions.
    #[default]
    Physical,
    /// One voxel step per pixel step along each screen axis (with zoom 1 and a viewport of the plane's
    /// size: one voxel per pixel, `voxmark render --native`).
    Voxel,
}

/// A slice view: orientation, slice, frame, zoom and pan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceView {
    /// Axial, coronal or sagittal.
    pub orientation: Orientation,
    /// Voxel plane index along the volume axis closest to the view normal.
    pub slice: usize,
    /// Voxel-aligned or patient-aligned plane.
    pub frame: Frame,
    /// Physical or voxel pixel aspect.
    pub aspect: Aspect,
    /// 1 fits the slice into the viewport; 2 shows it twice as large.
    pub zoom: f64,
    /// Offset of the viewport centre from the slice centre, in mm along screen right and down.
    pub pan_mm: [f64; 2],
}

impl SliceView {
    /// A voxel-aligned view with physical proportions, fitted to the viewport.
    pub fn new(orientation: Orientation, slice: usize) -> Self {
        Self {
            orientation,
            slice,
            frame: Frame::VoxelAligned,
            aspect: Aspect::Physical,
            zoom: 1.0,
            pan_mm: [0.0; 2],
        }
    }

    /// One voxel per pixel when rendered into a viewport of [`ViewGeometry::native_viewport`].
    pub fn native(orientation: Orientation, slice: usize) -> Self {
        Self {
            aspect: Aspect::Voxel,
            ..Self::new(orientation, slice)
        }
    }
}

/// The grid facts a view needs (a [`Volume`] without its voxels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridGeometry {
    /// Voxels along i, j, k.
    pub size: [usize; 3],
    /// Spacing along i, j, k in mm.
    pub spacing_mm: Vec3,
    /// Columns are the voxel axes in LPS.
    pub direction: Mat3,
    /// Centre of voxel (0, 0, 0) in LPS mm.
    pub origin_lps_mm: Vec3,
}

impl GridGeometry {
    /// The geometry of a volume.
    pub fn of(volume: &Volume) -> Self {
        Self {
            size: volume.size(),
            spacing_mm: volume.spacing_mm(),
            direction: volume.direction(),
            origin_lps_mm: volume.origin_lps_mm(),
        }
    }

    /// Continuous voxel index → LPS mm.
    pub fn world_from_voxel(&self) -> Affine3 {
        Affine3::from_grid(self.origin_lps_mm, self.direction, self.spacing_mm)
    }

    /// LPS mm → continuous voxel index (identity if the direction were singular, which `Volume` forbids).
    pub fn voxel_from_world(&self) -> Affine3 {
        self.world_from_voxel()
            .inverse()
            .unwrap_or(Affine3::IDENTITY)
    }
}

/// A view resolved against a grid and a viewport.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewGeometry {
    /// Viewport size in pixels.
    pub viewport_px: [u32; 2],
    /// `(x, y, depth_mm)` → LPS mm, with `(x, y)` in framebuffer pixels and depth along the unit view normal.
    pub world_from_screen: Affine3,
    /// The inverse: LPS mm → `(x, y, depth_mm)`.
    pub screen_from_world: Affine3,
    /// The voxel axes the view shows.
    pub axes: SliceAxes,
    /// Distance between neighbouring voxel planes along the view normal, mm.
    pub slab_mm: f64,
    /// Size of one pixel along screen right and down, mm.
    pub pixel_mm: [f64; 2],
}

fn scale(v: Vec3, s: f64) -> Vec3 {
    v.map(|x| x * s)
}

fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

impl ViewGeometry {
    /// The viewport that shows the view's voxel plane one voxel per pixel: `[columns, rows]`.
    pub fn native_viewport(grid: &GridGeometry, orientation: Orientation) -> [u32; 2] {
        let axes = SliceAxes::new(&grid.direction, orientation);
        axes.plane_size(grid.size)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// A viewport with physical proportions at the finest in-plane spacing: the plane's extent in mm divided
    /// by the smaller of the two in-plane spacings, rounded.
    pub fn physical_viewport(grid: &GridGeometry, orientation: Orientation) -> [u32; 2] {
        let axes = SliceAxes::new(&grid.direction, orientation);
        let [nr, nd] = axes.plane_size(grid.size);
        let (sr, sd) = (grid.spacing_mm[axes.right], grid.spacing_mm[axes.down]);
        let pixel = sr.min(sd);
        [nr as f64 * sr / pixel, nd as f64 * sd / pixel].map(|x| x.round().max(1.0) as u32)
    }

    /// Resolves `view` for `grid` in a viewport of `viewport_px`.
    pub fn new(grid: &GridGeometry, view: &SliceView, viewport_px: [u32; 2]) -> Result<Self> {
        let axes = SliceAxes::new(&grid.direction, view.orientation);
        let count = axes.slice_count(grid.size);
        if view.slice >= count {
            return Err(RenderError::Slice(ResliceError::SliceOutOfRange {
                slice: view.slice,
                last: count.saturating_sub(1),
                view: view.orientation.name(),
            }));
        }
        let [w, h] = viewport_px;
        if w == 0 || h == 0 {
            return Err(RenderError::TargetSize {
                width: w,
                height: h,
                limit: 0,
            });
        }
        let world_from_voxel = grid.world_from_voxel();
        let [nr, nd] = axes.plane_size(grid.size).map(|n| n as f64);
        let (sr, sd) = (grid.spacing_mm[axes.right], grid.spacing_mm[axes.down]);
        let mut centre_voxel = [0.0; 3];
        centre_voxel[axes.right] = (nr - 1.0) / 2.0;
        centre_voxel[axes.down] = (nd - 1.0) / 2.0;
        centre_voxel[axes.normal] = view.slice as f64;
        let plane_centre = world_from_voxel.apply(centre_voxel);

        let (right_lps, down_lps) = view.orientation.screen_axes_lps();
        // Unit screen axes in LPS, the plane's extent along them (mm) and the offset of its middle.
        let (u_hat, v_hat, extent_mm, middle) = match view.frame {
            Frame::VoxelAligned => {
                let sign = |flip: bool| if flip { -1.0 } else { 1.0 };
                let u_hat = scale(column(&grid.direction, axes.right), sign(axes.flip_right));
                let v_hat = scale(column(&grid.direction, axes.down), sign(axes.flip_down));
                (u_hat, v_hat, [nr * sr, nd * sd], plane_centre)
            }
            Frame::PatientAligned => {
                let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
                for corner in 0..8 {
                    let ijk: Vec3 = [0, 1, 2].map(|a| {
                        if corner >> a & 1 == 1 {
                            grid.size[a] as f64 - 0.5
                        } else {
                            -0.5
                        }
                    });
                    let p = world_from_voxel.apply(ijk);
                    let d = [0, 1, 2].map(|a| p[a] - plane_centre[a]);
                    for (s, axis) in [right_lps, down_lps].into_iter().enumerate() {
                        let t = dot(d, axis);
                        lo[s] = lo[s].min(t);
                        hi[s] = hi[s].max(t);
                    }
                }
                let middle = add(
                    plane_centre,
                    add(
                        scale(right_lps, (lo[0] + hi[0]) / 2.0),
                        scale(down_lps, (lo[1] + hi[1]) / 2.0),
                    ),
                );
                (right_lps, down_lps, [hi[0] - lo[0], hi[1] - lo[1]], middle)
            }
        };
        // Length of one "unit" along each screen axis in mm: 1 mm, or one voxel of the axis shown there.
        let unit_mm = match view.aspect {
            Aspect::Physical => [1.0, 1.0],
            Aspect::Voxel => [sr, sd],
        };
        let extent_units = [extent_mm[0] / unit_mm[0], extent_mm[1] / unit_mm[1]];
        let zoom = if view.zoom.is_finite() && view.zoom > 0.0 {
            view.zoom
        } else {
            1.0
        };
        let units_per_px =
            (extent_units[0] / f64::from(w)).max(extent_units[1] / f64::from(h)) / zoom;
        let pixel_mm = [units_per_px * unit_mm[0], units_per_px * unit_mm[1]];
        let du = scale(u_hat, pixel_mm[0]);
        let dv = scale(v_hat, pixel_mm[1]);
        let n = cross(u_hat, v_hat);
        let n = scale(n, 1.0 / norm(n));
        let centre = add(
            middle,
            add(scale(u_hat, view.pan_mm[0]), scale(v_hat, view.pan_mm[1])),
        );
        let origin = add(
            centre,
            add(
                scale(du, -f64::from(w) / 2.0),
                scale(dv, -f64::from(h) / 2.0),
            ),
        );
        let world_from_screen = Affine3 {
            linear: from_columns(du, dv, n),
            translation: origin,
        };
        let screen_from_world = world_from_screen.inverse().ok_or_else(|| {
            RenderError::Gpu("degenerate view (zero pixel size or parallel screen axes)".into())
        })?;
        let normal_axis = column(&grid.direction, axes.normal);
        let slab_mm = (grid.spacing_mm[axes.normal] * dot(normal_axis, n)).abs();
        Ok(Self {
            viewport_px,
            world_from_screen,
            screen_from_world,
            axes,
            slab_mm,
            pixel_mm,
        })
    }

    /// LPS mm of the screen point `(x, y)` on the view plane.
    pub fn world_at(&self, x: f64, y: f64) -> Vec3 {
        self.world_from_screen.apply([x, y, 0.0])
    }

    /// `(x, y, depth_mm)` of an LPS point.
    pub fn screen_at(&self, world_lps_mm: Vec3) -> Vec3 {
        self.screen_from_world.apply(world_lps_mm)
    }

    /// The map from screen `(x, y, depth)` to continuous voxel indices of a grid with `voxel_from_world`.
    pub fn voxel_from_screen(&self, voxel_from_world: &Affine3) -> Affine3 {
        compose(voxel_from_world, &self.world_from_screen)
    }
}

/// `a ∘ b`.
pub(crate) fn compose(a: &Affine3, b: &Affine3) -> Affine3 {
    let mut linear = [[0.0; 3]; 3];
    for (r, row) in linear.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = (0..3).map(|k| a.linear[r][k] * b.linear[k][c]).sum();
        }
    }
    Affine3 {
        linear,
        translation: a.apply(b.translation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::IDENTITY3;

    fn ct_like() -> GridGeometry {
        GridGeometry {
            size: [512, 512, 20],
            spacing_mm: [0.9765625, 0.9765625, 2.0],
            direction: IDENTITY3,
            origin_lps_mm: [-249.51171875, -437.51171875, -804.5],
        }
    }

    #[test]
    fn native_pixel_centres_land_on_voxel_centres() {
        let g = ct_like();
        for o in Orientation::ALL {
            let vp = ViewGeometry::native_viewport(&g, o);
            let view = ViewGeometry::new(&g, &SliceView::native(o, 7), vp).unwrap();
            let m = view.voxel_from_screen(&g.voxel_from_world());
            let axes = view.axes;
            for (c, r) in [(0, 0), (vp[0] - 1, vp[1] - 1), (3, vp[1] / 2)] {
                let v = m.apply([f64::from(c) + 0.5, f64::from(r) + 0.5, 0.0]);
                let want = axes.voxel(g.size, c as usize, r as usize, 7);
                for a in 0..3 {
                    assert!(
                        (v[a] - want[a] as f64).abs() < 1e-9,
                        "{o:?} {c},{r}: {v:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn physical_viewport_keeps_proportions() {
        let g = ct_like();
        assert_eq!(
            ViewGeometry::physical_viewport(&g, Orientation::Axial),
            [512, 512]
        );
        // 20 slices of 2 mm = 40 mm = 40.96 pixels of 0.977 mm.
        assert_eq!(
            ViewGeometry::physical_viewport(&g, Orientation::Coronal),
            [512, 41]
        );
        let v = ViewGeometry::new(&g, &SliceView::new(Orientation::Coronal, 0), [512, 41]).unwrap();
        assert!((v.pixel_mm[0] - v.pixel_mm[1]).abs() < 1e-12);
    }

    #[test]
    fn patient_frame_axes_are_exact_for_an_oblique_grid() {
        let a = 0.3f64;
        let g = GridGeometry {
            size: [64, 64, 10],
            spacing_mm: [1.0, 1.0, 3.0],
            direction: from_columns(
                [1.0, 0.0, 0.0],
                [0.0, a.cos(), a.sin()],
                [0.0, -a.sin(), a.cos()],
            ),
            origin_lps_mm: [0.0; 3],
        };
        let mut view = SliceView::new(Orientation::Axial, 5);
        view.frame = Frame::PatientAligned;
        let v = ViewGeometry::new(&g, &view, [100, 100]).unwrap();
        let p0 = v.world_at(10.5, 20.5);
        let p1 = v.world_at(11.5, 20.5);
        let p2 = v.world_at(10.5, 21.5);
        assert!((p1[0] - p0[0] - v.pixel_mm[0]).abs() < 1e-12 && (p1[1] - p0[1]).abs() < 1e-12);
        assert!((p2[1] - p0[1] - v.pixel_mm[1]).abs() < 1e-12 && (p2[2] - p0[2]).abs() < 1e-12);
        let back = v.screen_at(p0);
        assert!((back[0] - 10.5).abs() < 1e-9 && back[2].abs() < 1e-9);
        assert!((v.slab_mm - 3.0 * a.cos()).abs() < 1e-12);
    }

    #[test]
    fn slice_out_of_range_is_an_error() {
        let g = ct_like();
        let e =
            ViewGeometry::new(&g, &SliceView::new(Orientation::Axial, 20), [10, 10]).unwrap_err();
        assert!(e.to_string().contains("0..=19"), "{e}");
    }
}
