//! The CPU reference slicer: one voxel plane of a [`Volume`] windowed to display grey levels, exactly as
//! ARCHITECTURE.md §5 specifies for `voxmark render --native` (nearest neighbour, one voxel per pixel).
//!
//! It works by index arithmetic on the voxel grid (which voxel axis runs along the screen's columns and
//! rows, and in which direction) and evaluates the DICOM window in `f64`. The GPU slice pass works
//! differently (screen → patient space → voxel coordinates through affine maps, window in `f32`), so
//! comparing the two checks the renderer. Both share [`SliceAxes`], the decision of which voxel axes
//! show a view; tests check that decision on its own with markers at known patient positions.

use super::geometry::{Mat3, Vec3, column, dot};
use super::volume::{Photometric, Volume, Voxels};

/// The three patient-aligned views, with the radiological convention of ARCHITECTURE.md §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Screen right is patient left, screen down is posterior.
    Axial,
    /// Screen right is patient left, screen down is inferior.
    Coronal,
    /// Screen right is posterior, screen down is inferior.
    Sagittal,
}

impl Orientation {
    /// All three, in the usual order.
    pub const ALL: [Orientation; 3] = [
        Orientation::Axial,
        Orientation::Coronal,
        Orientation::Sagittal,
    ];

    /// Lower-case name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Orientation::Axial => "axial",
            Orientation::Coronal => "coronal",
            Orientation::Sagittal => "sagittal",
        }
    }

    /// Parses `axial`, `coronal` or `sagittal` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(text.trim()))
    }

    /// Unit vectors in LPS of screen right and screen down.
    pub fn screen_axes_lps(self) -> (Vec3, Vec3) {
        const LEFT: Vec3 = [1.0, 0.0, 0.0];
        const POSTERIOR: Vec3 = [0.0, 1.0, 0.0];
        const INFERIOR: Vec3 = [0.0, 0.0, -1.0];
        match self {
            Orientation::Axial => (LEFT, POSTERIOR),
            Orientation::Coronal => (LEFT, INFERIOR),
            Orientation::Sagittal => (POSTERIOR, INFERIOR),
        }
    }

    /// Unit normal in LPS: screen right × screen down (superior, posterior and right respectively).
    pub fn normal_lps(self) -> Vec3 {
        let (r, d) = self.screen_axes_lps();
        super::geometry::cross(r, d)
    }
}

/// Which voxel axes a view shows: `right` runs along the screen's columns, `down` along its rows, and
/// `normal` is the axis the slice index counts along (the one closest to the view normal). A flip means
/// the index decreases towards screen right (or down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceAxes {
    /// Voxel axis (0 = i, 1 = j, 2 = k) along screen columns.
    pub right: usize,
    /// Voxel axis along screen rows.
    pub down: usize,
    /// Voxel axis the slice index counts along.
    pub normal: usize,
    /// Column 0 shows the last index along `right`.
    pub flip_right: bool,
    /// Row 0 shows the last index along `down`.
    pub flip_down: bool,
}

impl SliceAxes {
    /// The voxel axes that show `orientation` for a grid whose axes point along the columns of
    /// `direction` (LPS). The normal axis is the one most parallel to the view normal; of the other two,
    /// the assignment to right/down that best matches the screen directions wins (ties: the lower axis
    /// goes right); flips make each axis point as close as possible to its screen direction.
    pub fn new(direction: &Mat3, orientation: Orientation) -> Self {
        let (right_lps, down_lps) = orientation.screen_axes_lps();
        let normal_lps = orientation.normal_lps();
        let axis = |a: usize| column(direction, a);
        let normal = (0..3).fold(0, |best, a| {
            if dot(axis(a), normal_lps).abs() > dot(axis(best), normal_lps).abs() {
                a
            } else {
                best
            }
        });
        let others: Vec<usize> = (0..3).filter(|&a| a != normal).collect();
        let (p, q) = (others[0], others[1]);
        let score =
            |r: usize, d: usize| dot(axis(r), right_lps).abs() + dot(axis(d), down_lps).abs();
        let (right, down) = if score(q, p) > score(p, q) {
            (q, p)
        } else {
            (p, q)
        };
        Self {
            right,
            down,
            normal,
            flip_right: dot(axis(right), right_lps) < 0.0,
            flip_down: dot(axis(down), down_lps) < 0.0,
        }
    }

    /// `[columns, rows]` of a voxel plane of a grid of `size`.
    pub fn plane_size(&self, size: [usize; 3]) -> [usize; 2] {
        [size[self.right], size[self.down]]
    }

    /// Number of slices along the normal axis.
    pub fn slice_count(&self, size: [usize; 3]) -> usize {
        size[self.normal]
    }

    /// The voxel shown at `(column, row)` of slice `slice` (no bounds check beyond the grid's).
    pub fn voxel(&self, size: [usize; 3], column: usize, row: usize, slice: usize) -> [usize; 3] {
        let mut ijk = [0; 3];
        ijk[self.right] = if self.flip_right {
            size[self.right] - 1 - column
        } else {
            column
        };
        ijk[self.down] = if self.flip_down {
            size[self.down] - 1 - row
        } else {
            row
        };
        ijk[self.normal] = slice;
        ijk
    }
}

/// A display window (centre and width in modality units) applied with the DICOM linear function
/// (PS3.3 C.11.2.1.2.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Window centre.
    pub center: f64,
    /// Window width, at least 1.
    pub width: f64,
}

impl Window {
    /// A window with the width raised to DICOM's minimum of 1 (NaN or infinite widths become 1).
    pub fn new(center: f64, width: f64) -> Self {
        Self {
            center,
            width: if width.is_finite() {
                width.max(1.0)
            } else {
                1.0
            },
        }
    }

    /// The window that maps `min` to 0 and `max` to 255.
    pub fn from_range(min: f64, max: f64) -> Self {
        if !(min.is_finite() && max.is_finite()) || max < min {
            return Self::new(0.5, 1.0);
        }
        Self::new((min + max) / 2.0 + 0.5, max - min + 1.0)
    }

    /// The window a volume is shown with by default: its first valid DICOM preset, else 0..255 for
    /// 8-bit colour, else the range of its modality values.
    pub fn initial(volume: &Volume) -> Self {
        if let Some(p) = volume
            .meta
            .windows
            .iter()
            .find(|p| p.center.is_finite() && p.width.is_finite() && p.width >= 1.0)
        {
            return Self::new(p.center, p.width);
        }
        let colour = matches!(
            volume.meta.photometric,
            Photometric::Rgb | Photometric::Rgba
        );
        if colour && matches!(volume.voxels(), Voxels::U8(_)) && volume.rescale().is_identity() {
            return Self::from_range(0.0, 255.0);
        }
        let s = volume.stats();
        Self::from_range(s.min, s.max)
    }

    /// `y = ((x − (c − 0.5)) / (w − 1) + 0.5) · 255`, clamped to 0..255 and rounded; for `w = 1` a step at
    /// `c − 0.5`; NaN gives 0.
    pub fn apply(&self, x: f64) -> u8 {
        if x.is_nan() {
            return 0;
        }
        let threshold = self.center - 0.5;
        let y = if self.width <= 1.0 {
            if x <= threshold { 0.0 } else { 255.0 }
        } else {
            ((x - threshold) / (self.width - 1.0) + 0.5) * 255.0
        };
        y.clamp(0.0, 255.0).round() as u8
    }
}

/// What [`reference_slice`] refuses.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResliceError {
    /// The slice index is past the last slice of the view.
    #[error("slice {slice} is out of range: the {view} view has slices 0..={last}")]
    SliceOutOfRange {
        /// Requested slice.
        slice: usize,
        /// Last valid slice.
        last: usize,
        /// View name.
        view: &'static str,
    },
    /// Only grey (1 component), RGB (3) and RGBA (4) volumes can be shown.
    #[error("cannot display {0} components per voxel (1, 3 or 4 expected)")]
    Components(usize),
}

/// An 8-bit RGBA picture, rows top to bottom, 4 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbaPicture {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl RgbaPicture {
    /// The 4 bytes of pixel `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.width + x) * 4;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// Slice `slice` of `orientation`, one voxel per pixel, nearest neighbour, windowed with `window`:
/// grey volumes give `(g, g, g, 255)` (MONOCHROME1 inverted: `255 − g`), colour volumes window each of
/// their first three components; alpha is always 255.
pub fn reference_slice(
    volume: &Volume,
    orientation: Orientation,
    slice: usize,
    window: Window,
) -> Result<RgbaPicture, ResliceError> {
    let size = volume.size();
    let axes = SliceAxes::new(&volume.direction(), orientation);
    let count = axes.slice_count(size);
    if slice >= count {
        return Err(ResliceError::SliceOutOfRange {
            slice,
            last: count - 1,
            view: orientation.name(),
        });
    }
    let components = volume.components();
    if !matches!(components, 1 | 3 | 4) {
        return Err(ResliceError::Components(components));
    }
    let invert = volume.meta.photometric == Photometric::Monochrome1 && components == 1;
    let [width, height] = axes.plane_size(size);
    let mut rgba = Vec::with_capacity(width * height * 4);
    for row in 0..height {
        for col in 0..width {
            let ijk = axes.voxel(size, col, row, slice);
            let grey = |c: usize| window.apply(volume.value(ijk, c).unwrap_or(f64::NAN));
            if components == 1 {
                let g = if invert { 255 - grey(0) } else { grey(0) };
                rgba.extend_from_slice(&[g, g, g, 255]);
            } else {
                rgba.extend_from_slice(&[grey(0), grey(1), grey(2), 255]);
            }
        }
    }
    Ok(RgbaPicture {
        width,
        height,
        rgba,
    })
}

/// Why a label map cannot be placed on a grid.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum LabelMapError {
    /// Several values per voxel.
    #[error("a label map has one value per voxel")]
    Components,
    /// A value that is not a non-negative integer, at this map voxel.
    #[error("voxel {0:?} is not a non-negative integer label")]
    NotALabel([f64; 3]),
    /// No grid voxel lies inside the map.
    #[error("the label map does not overlap the image in patient space")]
    NoOverlap,
}

/// A label map's values on another grid, and how many of that grid's voxel centres fell between
/// the map's voxel centres (nearest neighbour was used for them).
#[derive(Debug, PartialEq)]
pub struct LabelsOnGrid {
    /// One value per voxel of the grid, i fastest; 0 outside the map.
    pub values: Vec<u32>,
    /// Grid voxels whose centre is more than 0.001 voxel from a map voxel centre.
    pub misaligned: usize,
}

/// The values of the label map `map` on the grid of `size` voxels placed by `world_from_voxel`:
/// nearest neighbour through patient space, so a map stored with flipped or permuted axes (as
/// TotalSegmentator writes them) lands voxel for voxel; grid voxels outside the map get 0.
///
/// # Errors
/// A map with several components, a value that is not a non-negative integer, or a map that
/// does not overlap the grid at all.
pub fn labels_on_grid(
    map: &Volume,
    size: [usize; 3],
    world_from_voxel: &super::geometry::Affine3,
) -> Result<LabelsOnGrid, LabelMapError> {
    if map.components() != 1 {
        return Err(LabelMapError::Components);
    }
    let map_from_world = map.voxel_from_world();
    let map_size = map.size();
    let value = |n: usize| -> Option<u32> {
        let x = map.voxels().get_f64(n)?;
        (x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX)).then_some(x as u32)
    };
    let [nx, ny, nz] = size;
    let mut values = vec![0u32; nx * ny * nz];
    let (mut misaligned, mut inside) = (0usize, 0usize);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let q =
                    map_from_world.apply(world_from_voxel.apply([i as f64, j as f64, k as f64]));
                let r = q.map(f64::round);
                if (0..3).any(|a| (q[a] - r[a]).abs() > 1e-3) {
                    misaligned += 1;
                }
                if (0..3).any(|a| r[a] < 0.0 || r[a] >= map_size[a] as f64) {
                    continue;
                }
                inside += 1;
                let n = (r[2] as usize * map_size[1] + r[1] as usize) * map_size[0] + r[0] as usize;
                values[(k * ny + j) * nx + i] = value(n).ok_or(LabelMapError::NotALabel(r))?;
            }
        }
    }
    if inside == 0 {
        return Err(LabelMapError::NoOverlap);
    }
    Ok(LabelsOnGrid { values, misaligned })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::{IDENTITY3, from_columns};
    use crate::core::volume::Rescale;

    #[test]
    fn window_formula_values() {
        let w = Window::new(40.0, 400.0);
        // Lower edge c - 0.5 - (w-1)/2 = -160 maps to 0, upper edge 239 to 255, centre c - 0.5 to 127.5 → 128.
        assert_eq!(w.apply(-160.0), 0);
        assert_eq!(w.apply(-1000.0), 0);
        assert_eq!(w.apply(239.0), 255);
        assert_eq!(w.apply(39.5), 128);
        assert_eq!(w.apply(f64::NAN), 0);
        let step = Window::new(10.0, 0.0);
        assert_eq!((step.apply(9.5), step.apply(9.51)), (0, 255));
        let r = Window::from_range(-1024.0, 3071.0);
        assert_eq!((r.apply(-1024.0), r.apply(3071.0)), (0, 255));
    }

    #[test]
    fn axes_for_identity_and_flipped_grids() {
        let a = SliceAxes::new(&IDENTITY3, Orientation::Axial);
        assert_eq!((a.right, a.down, a.normal), (0, 1, 2));
        assert!(!a.flip_right && !a.flip_down);
        let c = SliceAxes::new(&IDENTITY3, Orientation::Coronal);
        assert_eq!((c.right, c.down, c.normal), (0, 2, 1));
        assert!(
            !c.flip_right && c.flip_down,
            "k points superior, rows go down"
        );
        let s = SliceAxes::new(&IDENTITY3, Orientation::Sagittal);
        assert_eq!((s.right, s.down, s.normal), (1, 2, 0));
        assert!(!s.flip_right && s.flip_down);
        // A NIfTI-like grid: i towards patient right, j towards anterior.
        let ras = from_columns([-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]);
        let a = SliceAxes::new(&ras, Orientation::Axial);
        assert!(a.flip_right && a.flip_down);
        // A sagittal acquisition: i along P, j along I, k along L.
        let sag = from_columns([0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]);
        let s = SliceAxes::new(&sag, Orientation::Sagittal);
        assert_eq!((s.right, s.down, s.normal), (0, 1, 2));
        assert!(!s.flip_right && !s.flip_down);
        let a = SliceAxes::new(&sag, Orientation::Axial);
        assert_eq!((a.right, a.down, a.normal), (2, 0, 1));
    }

    #[test]
    fn reference_slice_reads_the_right_voxels() {
        // 3×2×2, value = 100 k + 10 j + i; RAS-like grid so axial flips both axes.
        let values: Vec<i16> = (0..2)
            .flat_map(|k| (0..2).flat_map(move |j| (0..3).map(move |i| 100 * k + 10 * j + i)))
            .collect();
        let ras = from_columns([-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]);
        let v = Volume::new(
            [3, 2, 2],
            [1.0; 3],
            [0.0; 3],
            ras,
            1,
            Voxels::I16(values),
            Rescale::IDENTITY,
        )
        .unwrap();
        let w = Window::from_range(0.0, 255.0);
        let p = reference_slice(&v, Orientation::Axial, 1, w).unwrap();
        assert_eq!((p.width, p.height), (3, 2));
        // Row 0 = j 1, column 0 = i 2.
        assert_eq!(p.pixel(0, 0), [112, 112, 112, 255]);
        assert_eq!(p.pixel(2, 1), [100, 100, 100, 255]);
        assert_eq!(
            reference_slice(&v, Orientation::Axial, 2, w),
            Err(ResliceError::SliceOutOfRange {
                slice: 2,
                last: 1,
                view: "axial"
            })
        );
    }
}
