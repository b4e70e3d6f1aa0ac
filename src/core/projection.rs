//! The CPU reference for the volume pass's intensity projections: the maximum (MIP) or minimum (MinIP)
//! of the modality values along the volume axis closest to a patient axis, one voxel column per pixel,
//! windowed with the DICOM linear function ([`Window`]).
//!
//! The picture is laid out like the slice view of the same [`Orientation`] (radiological convention,
//! ARCHITECTURE.md §5), which is what a camera looking along that orientation's normal sees: coronal =
//! from the front (anterior view, patient right on screen left, superior up), axial = from the feet
//! (anterior up), sagittal = from the patient's left (anterior on screen left). It works by index
//! arithmetic over the grid with [`SliceAxes`] and `f64` values; the GPU marches rays through patient
//! space in `f32`, so comparing the two checks the ray set-up, the sampling and the window.

use super::reslice::{Orientation, RgbaPicture, SliceAxes, Window};
use super::volume::{Photometric, Volume};

/// Which extreme along each column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntensityProjection {
    /// The largest value (MIP).
    Maximum,
    /// The smallest value (MinIP).
    Minimum,
}

impl IntensityProjection {
    /// The extreme of `a` and `b`, ignoring NaN (NaN only when both are NaN).
    fn pick(self, a: f64, b: f64) -> f64 {
        match self {
            IntensityProjection::Maximum => a.max(b),
            IntensityProjection::Minimum => a.min(b),
        }
    }
}

/// What [`project`] refuses.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProjectionError {
    /// Only single-component (grey) volumes can be projected.
    #[error("cannot project {0} components per voxel (grey images only)")]
    Components(usize),
}

/// The projected modality values: `width × height`, rows top to bottom, in the layout of `orientation`'s
/// slice view. NaN voxels are left out of the extreme (a column of only NaN gives NaN).
#[derive(Clone, Debug, PartialEq)]
pub struct Projected {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, row-major.
    pub values: Vec<f64>,
}

/// The extreme of the modality values of every voxel column along the volume axis closest to
/// `orientation`'s normal.
pub fn project(
    volume: &Volume,
    orientation: Orientation,
    kind: IntensityProjection,
) -> Result<Projected, ProjectionError> {
    if volume.components() != 1 {
        return Err(ProjectionError::Components(volume.components()));
    }
    let size = volume.size();
    let axes = SliceAxes::new(&volume.direction(), orientation);
    let [width, height] = axes.plane_size(size);
    let depth = axes.slice_count(size);
    let mut values = Vec::with_capacity(width * height);
    for row in 0..height {
        for col in 0..width {
            let v = (0..depth)
                .filter_map(|k| volume.value(axes.voxel(size, col, row, k), 0))
                .fold(f64::NAN, |acc, x| kind.pick(acc, x));
            values.push(v);
        }
    }
    Ok(Projected {
        width,
        height,
        values,
    })
}

/// [`project`] windowed to grey: `(g, g, g, 255)` per pixel, MONOCHROME1 inverted (`255 − g`), as the
/// GPU's MIP and MinIP draw it.
pub fn reference_projection(
    volume: &Volume,
    orientation: Orientation,
    kind: IntensityProjection,
    window: Window,
) -> Result<RgbaPicture, ProjectionError> {
    let p = project(volume, orientation, kind)?;
    let invert = volume.meta.photometric == Photometric::Monochrome1;
    let rgba = p
        .values
        .iter()
        .flat_map(|&v| {
            let g = window.apply(v);
            let g = if invert { 255 - g } else { g };
            [g, g, g, 255]
        })
        .collect();
    Ok(RgbaPicture {
        width: p.width,
        height: p.height,
        rgba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::{IDENTITY3, from_columns};
    use crate::core::volume::{Rescale, Voxels};

    /// 3×2×2, value = 100 k + 10 j + i, rescaled by 2·x − 5.
    fn sample(direction: crate::core::Mat3) -> Volume {
        let values: Vec<i16> = (0..2)
            .flat_map(|k| (0..2).flat_map(move |j| (0..3).map(move |i| 100 * k + 10 * j + i)))
            .collect();
        Volume::new(
            [3, 2, 2],
            [1.0, 2.0, 3.0],
            [0.0; 3],
            direction,
            1,
            Voxels::I16(values),
            Rescale {
                slope: 2.0,
                intercept: -5.0,
            },
        )
        .unwrap()
    }

    #[test]
    fn extremes_along_the_axis_closest_to_the_view_normal() {
        let v = sample(IDENTITY3);
        let m = |x: f64| 2.0 * x - 5.0;
        // Axial (from the feet): columns along k; row 0 = j 0 (anterior up), column 0 = i 0.
        let a = project(&v, Orientation::Axial, IntensityProjection::Maximum).unwrap();
        assert_eq!((a.width, a.height), (3, 2));
        assert_eq!(a.values[0], m(100.0));
        assert_eq!(a.values[5], m(112.0));
        let a = project(&v, Orientation::Axial, IntensityProjection::Minimum).unwrap();
        assert_eq!(a.values[5], m(12.0));
        // Coronal (from the front): columns along j; row 0 = k 1 (superior up).
        let c = project(&v, Orientation::Coronal, IntensityProjection::Maximum).unwrap();
        assert_eq!((c.width, c.height), (3, 2));
        assert_eq!(c.values, [110.0, 111.0, 112.0, 10.0, 11.0, 12.0].map(m));
        // Sagittal (from the left): columns along i; column 0 = j 0 (anterior left).
        let s = project(&v, Orientation::Sagittal, IntensityProjection::Minimum).unwrap();
        assert_eq!((s.width, s.height), (2, 2));
        assert_eq!(s.values, [100.0, 110.0, 0.0, 10.0].map(m));
    }

    #[test]
    fn flipped_grids_keep_the_patient_layout() {
        // i towards patient right, j towards anterior (NIfTI-like): the axial picture flips both axes.
        let ras = from_columns([-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]);
        let v = sample(ras);
        let a = project(&v, Orientation::Axial, IntensityProjection::Maximum).unwrap();
        assert_eq!(a.values[0], 2.0 * 112.0 - 5.0);
        let w = Window::from_range(-5.0, 2.0 * 112.0 - 5.0);
        let p =
            reference_projection(&v, Orientation::Axial, IntensityProjection::Maximum, w).unwrap();
        assert_eq!(p.pixel(0, 0), [255, 255, 255, 255]);
    }

    #[test]
    fn nan_is_left_out_and_colour_is_refused() {
        let v = Volume::new(
            [1, 1, 3],
            [1.0; 3],
            [0.0; 3],
            IDENTITY3,
            1,
            Voxels::F32(vec![f32::NAN, 4.0, -2.0]),
            Rescale::IDENTITY,
        )
        .unwrap();
        let max = project(&v, Orientation::Axial, IntensityProjection::Maximum).unwrap();
        let min = project(&v, Orientation::Axial, IntensityProjection::Minimum).unwrap();
        assert_eq!((max.values[0], min.values[0]), (4.0, -2.0));
        let rgb = Volume::new(
            [1, 1, 1],
            [1.0; 3],
            [0.0; 3],
            IDENTITY3,
            3,
            Voxels::U8(vec![1, 2, 3]),
            Rescale::IDENTITY,
        )
        .unwrap();
        assert_eq!(
            project(&rgb, Orientation::Axial, IntensityProjection::Maximum),
            Err(ProjectionError::Components(3))
        );
    }
}
