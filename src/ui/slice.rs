//! CPU slicing and windowing: one voxel plane of a [`Volume`] to display pixels.
//!
//! Temporary: the render module's shader path replaces this (ARCHITECTURE.md §6).

use crate::core::{Histogram, Mat3, Photometric, Volume, Voxels};
use egui::{Color32, ColorImage, Pos2, Rect};

/// The DICOM linear window, shared with the renderer and its CPU reference.
pub use crate::core::reslice::Window;

/// The window a newly opened image starts with: the file's first preset, else the range of its values
/// (for 8-bit RGB the full 0..255, so colours show unchanged).
pub fn initial_window(volume: &Volume, min: f64, max: f64) -> Window {
    if let Some(p) = volume.meta.windows.first()
        && p.center.is_finite()
        && p.width.is_finite()
        && p.width >= 1.0
    {
        return Window::new(p.center, p.width);
    }
    let rgb = matches!(
        volume.meta.photometric,
        Photometric::Rgb | Photometric::Rgba
    );
    if rgb && matches!(volume.voxels(), Voxels::U8(_)) && volume.rescale().is_identity() {
        return Window::from_range(0.0, 255.0);
    }
    Window::from_range(min, max)
}

/// The window presets offered for `volume` (L cycles through them): the file's own, then the user's
/// for its modality (by default CT's usual lung, mediastinum, bone and brain windows), then "Auto" from the histogram (0.5 to 99.5 %,
/// as ITK-SNAP's auto contrast clips outliers), then the full range.
pub fn window_presets(
    volume: &Volume,
    histogram: &Histogram,
    prefs: &super::prefs::Preferences,
) -> Vec<(String, Window)> {
    let mut out: Vec<(String, Window)> = volume
        .meta
        .windows
        .iter()
        .enumerate()
        .filter(|(_, p)| p.center.is_finite() && p.width.is_finite() && p.width >= 1.0)
        .map(|(n, p)| {
            let name = p
                .name
                .clone()
                .unwrap_or_else(|| format!("file preset {}", n + 1));
            (name, Window::new(p.center, p.width))
        })
        .collect();
    for p in prefs.presets_for(volume.meta.modality.as_deref()) {
        out.push((p.name.clone(), Window::new(p.center, p.width)));
    }
    let (lo, hi) = (histogram.quantile(0.005), histogram.quantile(0.995));
    if lo.is_finite() && hi.is_finite() && hi > lo {
        out.push(("auto (histogram)".to_owned(), Window::from_range(lo, hi)));
    }
    if histogram.hi.is_finite() && histogram.lo.is_finite() {
        out.push((
            "full range".to_owned(),
            Window::from_range(histogram.lo, histogram.hi),
        ));
    }
    out
}

/// Whether to mirror the plane's columns and rows so the view follows the radiological convention
/// (ARCHITECTURE.md §5): patient left to the right, posterior or inferior down, as far as the voxel
/// axes i and j allow without transposing. `direction` columns are the voxel axes in LPS.
pub fn display_flips(direction: &Mat3) -> [bool; 2] {
    plane_flips(direction, [0, 1])
}

/// [`display_flips`] for a plane whose screen columns and rows run along voxel axes `axes` (for the
/// coronal and sagittal views of an axial series: `[0, 2]` and `[1, 2]`, the slice axis upwards).
pub fn plane_flips(direction: &Mat3, axes: [usize; 2]) -> [bool; 2] {
    axes.map(|axis| {
        let column = [direction[0][axis], direction[1][axis], direction[2][axis]];
        let dominant = (0..3).fold(0, |best, a| {
            if column[a].abs() > column[best].abs() {
                a
            } else {
                best
            }
        });
        // L (+x) and P (+y) point right/down; S (+z) points up.
        let wanted = if dominant == 2 { -1.0 } else { 1.0 };
        column[dominant] * wanted < 0.0
    })
}

/// Where a voxel plane lies on screen: the one mapping between continuous voxel coordinates (i, j)
/// of the plane (pixel centres at integers, so the plane spans −0.5 .. n − 0.5) and screen points,
/// mirrored by [`display_flips`]. The slice texture, the cursor read-out and the region overlays all
/// go through it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceView {
    /// The screen rectangle the whole plane fills.
    pub rect: Rect,
    /// Voxels along i and j.
    pub size: [usize; 2],
    /// Whether columns (i) and rows (j) are mirrored on screen.
    pub flips: [bool; 2],
    /// The voxel axes along the plane's columns and rows: `[0, 1]` for the acquisition plane (the
    /// plane coordinates are then (i, j)), `[0, 2]` or `[1, 2]` for the planes across it.
    pub axes: [usize; 2],
}

impl SliceView {
    /// The view of `volume`'s planes drawn into `rect`.
    pub fn new(rect: Rect, volume: &Volume) -> Self {
        Self::plane(rect, volume, [0, 1])
    }

    /// The view of the plane spanned by voxel axes `axes` of `volume`, drawn into `rect`.
    pub fn plane(rect: Rect, volume: &Volume, axes: [usize; 2]) -> Self {
        let size = volume.size();
        Self {
            rect,
            size: axes.map(|a| size[a]),
            flips: plane_flips(&volume.direction(), axes),
            axes,
        }
    }

    /// The physical size (mm) of the plane spanned by voxel axes `axes` of `volume`.
    pub fn physical_size(volume: &Volume, axes: [usize; 2]) -> egui::Vec2 {
        let (size, spacing) = (volume.size(), volume.spacing_mm());
        let [w, h] = axes.map(|a| (size[a] as f64 * spacing[a]) as f32);
        egui::vec2(w, h)
    }

    /// The screen point of continuous voxel coordinates (i, j).
    pub fn screen_from_voxel(&self, ij: [f64; 2]) -> Pos2 {
        let [fx, fy] = [0, 1].map(|a| {
            let f = (ij[a] + 0.5) / self.size[a].max(1) as f64;
            (if self.flips[a] { 1.0 - f } else { f }) as f32
        });
        Pos2::new(
            self.rect.min.x + fx * self.rect.width(),
            self.rect.min.y + fy * self.rect.height(),
        )
    }

    /// The continuous voxel coordinates (i, j) under screen point `p` (the inverse of
    /// [`Self::screen_from_voxel`]).
    pub fn voxel_from_screen(&self, p: Pos2) -> [f64; 2] {
        let f = [
            f64::from((p.x - self.rect.min.x) / self.rect.width()),
            f64::from((p.y - self.rect.min.y) / self.rect.height()),
        ];
        [0, 1].map(|a| {
            let f = if self.flips[a] { 1.0 - f[a] } else { f[a] };
            f * self.size[a] as f64 - 0.5
        })
    }

    /// The voxel (i, j) under screen point `p`, when it lies on the plane.
    pub fn voxel_at(&self, p: Pos2) -> Option<[usize; 2]> {
        if !self.rect.contains(p) {
            return None;
        }
        let ij = self.voxel_from_screen(p);
        Some([0, 1].map(|a| ((ij[a] + 0.5).max(0.0) as usize).min(self.size[a].saturating_sub(1))))
    }

    /// Texture coordinates that draw a plane texture (row 0 = j 0, column 0 = i 0) into
    /// [`Self::rect`] with the mirroring applied.
    pub fn uv(&self) -> Rect {
        let [u0, v0] = self.flips.map(|f| f32::from(u8::from(f)));
        Rect::from_min_max(Pos2::new(u0, v0), Pos2::new(1.0 - u0, 1.0 - v0))
    }
}

/// Every how many voxels a plane of `nx × ny` is sampled so that neither side exceeds `max_side`.
pub fn subsample_step(nx: usize, ny: usize, max_side: usize) -> usize {
    nx.max(ny).div_ceil(max_side.max(1)).max(1)
}

/// Modality values of one voxel plane, possibly subsampled to fit a texture.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceValues {
    /// Columns kept.
    pub width: usize,
    /// Rows kept.
    pub height: usize,
    /// Values per pixel.
    pub components: usize,
    /// Row-major values, components adjacent.
    pub values: Vec<f32>,
}

/// Reads plane `k` (clamped to the grid) as modality values, keeping every `step`-th voxel so that
/// neither side exceeds `max_side` pixels.
pub fn extract(volume: &Volume, k: usize, max_side: usize) -> SliceValues {
    extract_plane(volume, 2, k, max_side)
}

/// Reads voxel plane `index` (clamped) across voxel axis `fixed` as modality values: columns run
/// along the lower of the two other axes, rows along the higher (for `fixed` 2 the (i, j) plane, for
/// 1 the (i, k) plane, for 0 the (j, k) plane), every `step`-th voxel so that neither side exceeds
/// `max_side` pixels.
#[allow(
    clippy::unnecessary_cast,
    reason = "`with_voxels!` expands once per stored type, f64 included"
)]
pub fn extract_plane(volume: &Volume, fixed: usize, index: usize, max_side: usize) -> SliceValues {
    let size = volume.size();
    let fixed = fixed.min(2);
    let axes = plane_axes(fixed);
    let index = index.min(size[fixed].saturating_sub(1));
    let components = volume.components();
    let [nu, nv] = axes.map(|a| size[a]);
    let step = subsample_step(nu, nv, max_side);
    let (width, height) = (nu.div_ceil(step), nv.div_ceil(step));
    // Element strides of i, j, k in the stored buffer.
    let strides = [
        components,
        size[0] * components,
        size[0] * size[1] * components,
    ];
    let base = index * strides[fixed];
    let [su, sv] = axes.map(|a| strides[a]);
    let rescale = volume.rescale();
    let mut values = Vec::with_capacity(width * height * components);
    crate::with_voxels!(volume.voxels(), v => {
        for y in (0..nv).step_by(step) {
            let row = base + y * sv;
            for x in (0..nu).step_by(step) {
                let at = row + x * su;
                for c in 0..components {
                    let stored = v.get(at + c).map_or(f64::NAN, |&s| s as f64);
                    values.push(rescale.apply(stored) as f32);
                }
            }
        }
    });
    SliceValues {
        width,
        height,
        components,
        values,
    }
}

/// The voxel axes along the columns and rows of the plane across voxel axis `fixed`.
pub fn plane_axes(fixed: usize) -> [usize; 2] {
    match fixed {
        0 => [1, 2],
        1 => [0, 2],
        _ => [0, 1],
    }
}

/// Applies `window` to every value: grey for monochrome (MONOCHROME1 inverted), RGB for colour images.
pub fn to_image(slice: &SliceValues, window: Window, photometric: Photometric) -> ColorImage {
    let c = slice.components.max(1);
    let colour = matches!(photometric, Photometric::Rgb | Photometric::Rgba) && c >= 3;
    let invert = photometric == Photometric::Monochrome1;
    let pixels: Vec<Color32> = slice
        .values
        .chunks_exact(c)
        .map(|px| {
            let w = |x: f32| window.apply(f64::from(x));
            if colour {
                Color32::from_rgb(w(px[0]), w(px[1]), w(px[2]))
            } else {
                let g = w(px[0]);
                Color32::from_gray(if invert { 255 - g } else { g })
            }
        })
        .collect();
    if pixels.len() != slice.width * slice.height {
        // Cannot happen for a slice built by `extract`; show nothing rather than a wrong picture.
        return ColorImage::filled([1, 1], Color32::BLACK);
    }
    ColorImage::new([slice.width, slice.height], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::IDENTITY3;
    use crate::core::{Histogram, Rescale, Volume, Voxels, WindowPreset};

    fn ct(values: Vec<i16>, size: [usize; 3]) -> Volume {
        Volume::new(
            size,
            [0.5, 0.5, 2.0],
            [0.0; 3],
            IDENTITY3,
            1,
            Voxels::I16(values),
            Rescale {
                slope: 1.0,
                intercept: -1024.0,
            },
        )
        .unwrap()
    }

    #[test]
    fn dicom_linear_window() {
        let w = Window::new(40.0, 400.0);
        // ((40 − 39.5) / 399 + 0.5) · 255 = 127.82
        assert_eq!(w.apply(40.0), 128);
        assert_eq!(w.apply(-160.0), 0);
        assert_eq!(w.apply(240.0), 255);
        assert_eq!(w.apply(-1000.0), 0);
        assert_eq!(w.apply(f64::NAN), 0);
        let binary = Window::new(10.0, 1.0);
        assert_eq!((binary.apply(9.5), binary.apply(9.6)), (0, 255));
    }

    #[test]
    fn range_window_maps_ends_exactly() {
        for (lo, hi) in [(0.0, 255.0), (-1024.0, 3071.0), (0.0, 1.0)] {
            let w = Window::from_range(lo, hi);
            assert_eq!((w.apply(lo), w.apply(hi)), (0, 255), "{lo}..{hi}");
        }
        let identity = Window::from_range(0.0, 255.0);
        assert!((0..=255).all(|x| identity.apply(f64::from(x)) == x as u8));
    }

    #[test]
    fn extract_reads_plane_k_in_modality_units() {
        let v = ct((0..2 * 3 * 2).collect(), [2, 3, 2]);
        let s = extract(&v, 1, 4096);
        assert_eq!((s.width, s.height), (2, 3));
        assert_eq!(
            s.values,
            (6..12).map(|x| (x - 1024) as f32).collect::<Vec<_>>()
        );
        // Out-of-range k is clamped; large planes are subsampled.
        assert_eq!(extract(&v, 9, 4096).values, s.values);
        let small = extract(&v, 0, 2);
        assert_eq!((small.width, small.height), (1, 2));
    }

    #[test]
    fn planes_across_i_and_j_read_the_right_voxels() {
        // Value = index of the voxel in storage: i + 2 j + 6 k on a 2 × 3 × 2 grid.
        let v = ct((0..12).collect(), [2, 3, 2]);
        let value = |i: i16, j: i16, k: i16| f32::from(i + 2 * j + 6 * k - 1024);
        // Across j at j = 2: columns i, rows k.
        let s = extract_plane(&v, 1, 2, 4096);
        assert_eq!((s.width, s.height), (2, 2));
        assert_eq!(
            s.values,
            vec![
                value(0, 2, 0),
                value(1, 2, 0),
                value(0, 2, 1),
                value(1, 2, 1)
            ]
        );
        // Across i at i = 1: columns j, rows k.
        let s = extract_plane(&v, 0, 1, 4096);
        assert_eq!((s.width, s.height), (3, 2));
        assert_eq!(
            s.values,
            (0..2)
                .flat_map(|k| (0..3).map(move |j| value(1, j, k)))
                .collect::<Vec<_>>()
        );
        assert_eq!(extract_plane(&v, 2, 1, 4096), extract(&v, 1, 4096));
    }

    #[test]
    fn ct_presets_auto_and_full_range() {
        let mut v = ct((0..1000).map(|x| x * 3).collect(), [10, 10, 10]);
        v.meta.modality = Some("CT".into());
        let stats = v.stats();
        let h = Histogram::of_voxels(v.voxels(), v.rescale(), &stats, 256, 1);
        let names: Vec<String> = window_presets(&v, &h, &Default::default())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "CT lung",
                "CT mediastinum",
                "CT bone",
                "CT brain",
                "auto (histogram)",
                "full range"
            ]
        );
        let auto = window_presets(&v, &h, &Default::default())[4].1;
        // 0.5 % and 99.5 % of a uniform ramp over −1024 … 1973.
        assert!((auto.center - 474.5).abs() < 15.0, "{auto:?}");
        assert!((auto.width - 0.99 * 2997.0).abs() < 30.0, "{auto:?}");
    }

    #[test]
    fn first_preset_then_range() {
        let mut v = ct(vec![0; 4], [2, 2, 1]);
        assert_eq!(
            initial_window(&v, -1024.0, -1024.0),
            Window::from_range(-1024.0, -1024.0)
        );
        v.meta.windows.push(WindowPreset {
            center: 40.0,
            width: 400.0,
            name: None,
        });
        assert_eq!(initial_window(&v, -1024.0, 0.0), Window::new(40.0, 400.0));
    }

    #[test]
    fn radiological_flips() {
        assert_eq!(display_flips(&IDENTITY3), [false, false]);
        // NIfTI RAS stored as LPS: i points right (−x), j anterior (−y).
        let ras = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(display_flips(&ras), [true, true]);
        // Coronal: i along L, j along S (up) → rows mirrored so inferior is down.
        let coronal = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        assert_eq!(display_flips(&coronal), [false, true]);
    }

    fn view(flips: [bool; 2]) -> SliceView {
        SliceView {
            rect: Rect::from_min_size(Pos2::new(100.0, 50.0), egui::vec2(400.0, 200.0)),
            size: [8, 4],
            flips,
            axes: [0, 1],
        }
    }

    #[test]
    fn plane_edges_map_to_the_rect_with_mirroring() {
        let v = view([false, false]);
        assert_eq!(v.screen_from_voxel([-0.5, -0.5]), Pos2::new(100.0, 50.0));
        assert_eq!(v.screen_from_voxel([7.5, 3.5]), Pos2::new(500.0, 250.0));
        // Voxel centre (0, 0): half a voxel (25 × 25 points) in from the corner.
        assert_eq!(v.screen_from_voxel([0.0, 0.0]), Pos2::new(125.0, 75.0));
        let m = view([true, true]);
        assert_eq!(m.screen_from_voxel([-0.5, -0.5]), Pos2::new(500.0, 250.0));
        assert_eq!(m.screen_from_voxel([0.0, 3.0]), Pos2::new(475.0, 75.0));
        assert_eq!(
            m.uv(),
            Rect::from_min_max(Pos2::new(1.0, 1.0), Pos2::new(0.0, 0.0))
        );
    }

    #[test]
    fn screen_to_voxel_inverts_voxel_to_screen() {
        for flips in [[false, false], [true, false], [false, true], [true, true]] {
            let v = view(flips);
            for ij in [[0.0, 0.0], [3.25, 1.5], [7.0, 3.0], [-0.5, 3.5]] {
                let back = v.voxel_from_screen(v.screen_from_voxel(ij));
                assert!((back[0] - ij[0]).abs() < 1e-4 && (back[1] - ij[1]).abs() < 1e-4);
            }
            // The voxel under a point is the one whose centre is nearest.
            let p = v.screen_from_voxel([2.4, 1.6]);
            assert_eq!(v.voxel_at(p), Some([2, 2]), "{flips:?}");
            assert_eq!(v.voxel_at(Pos2::new(0.0, 0.0)), None);
        }
    }

    #[test]
    fn monochrome1_inverts() {
        let s = SliceValues {
            width: 2,
            height: 1,
            components: 1,
            values: vec![0.0, 255.0],
        };
        let w = Window::from_range(0.0, 255.0);
        let m1 = to_image(&s, w, Photometric::Monochrome1);
        assert_eq!(
            m1.pixels,
            vec![Color32::from_gray(255), Color32::from_gray(0)]
        );
        let m2 = to_image(&s, w, Photometric::Monochrome2);
        assert_eq!(
            m2.pixels,
            vec![Color32::from_gray(0), Color32::from_gray(255)]
        );
    }
}
