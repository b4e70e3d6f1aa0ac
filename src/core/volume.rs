//! `Volume`: voxels in their stored type plus the geometry that places them in patient space (LPS, mm).

use super::geometry::{Mat3, Vec3};

/// Voxel values in the type the source file stored them in, x fastest, then y, then z;
/// with several components per voxel the components of one voxel are adjacent.
#[derive(Clone, Debug, PartialEq)]
pub enum Voxels {
    /// Unsigned 8-bit.
    U8(Vec<u8>),
    /// Signed 8-bit.
    I8(Vec<i8>),
    /// Unsigned 16-bit.
    U16(Vec<u16>),
    /// Signed 16-bit.
    I16(Vec<i16>),
    /// Unsigned 32-bit.
    U32(Vec<u32>),
    /// Signed 32-bit.
    I32(Vec<i32>),
    /// Signed 64-bit.
    I64(Vec<i64>),
    /// Unsigned 64-bit.
    U64(Vec<u64>),
    /// 32-bit float.
    F32(Vec<f32>),
    /// 64-bit float.
    F64(Vec<f64>),
}

/// Calls `$body` with `$v` bound to the typed slice inside a [`Voxels`].
#[macro_export]
macro_rules! with_voxels {
    ($voxels:expr, $v:ident => $body:expr) => {
        match $voxels {
            $crate::core::Voxels::U8($v) => $body,
            $crate::core::Voxels::I8($v) => $body,
            $crate::core::Voxels::U16($v) => $body,
            $crate::core::Voxels::I16($v) => $body,
            $crate::core::Voxels::U32($v) => $body,
            $crate::core::Voxels::I32($v) => $body,
            $crate::core::Voxels::I64($v) => $body,
            $crate::core::Voxels::U64($v) => $body,
            $crate::core::Voxels::F32($v) => $body,
            $crate::core::Voxels::F64($v) => $body,
        }
    };
}

impl Voxels {
    /// Number of stored values (voxels × components).
    pub fn len(&self) -> usize {
        with_voxels!(self, v => v.len())
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored type's name, as `voxmark info` reports it.
    pub fn dtype(&self) -> &'static str {
        match self {
            Voxels::U8(_) => "uint8",
            Voxels::I8(_) => "int8",
            Voxels::U16(_) => "uint16",
            Voxels::I16(_) => "int16",
            Voxels::U32(_) => "uint32",
            Voxels::I32(_) => "int32",
            Voxels::I64(_) => "int64",
            Voxels::U64(_) => "uint64",
            Voxels::F32(_) => "float32",
            Voxels::F64(_) => "float64",
        }
    }

    /// Bytes held by the values.
    pub fn byte_len(&self) -> usize {
        with_voxels!(self, v => std::mem::size_of_val(v.as_slice()))
    }

    /// The stored value at flat index `i` as f64 (no rescale).
    #[allow(clippy::unnecessary_cast)] // the macro casts every type, f64 included
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        with_voxels!(self, v => v.get(i).map(|&x| x as f64))
    }
}

/// The linear map from stored values to modality values (HU for CT): `slope * stored + intercept`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rescale {
    /// Multiplier.
    pub slope: f64,
    /// Offset added after the multiplication.
    pub intercept: f64,
}

impl Default for Rescale {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Rescale {
    /// Stored values are modality values.
    pub const IDENTITY: Rescale = Rescale {
        slope: 1.0,
        intercept: 0.0,
    };

    /// Applies the map to one stored value.
    pub fn apply(&self, stored: f64) -> f64 {
        stored * self.slope + self.intercept
    }

    /// True when the map changes nothing.
    pub fn is_identity(&self) -> bool {
        self.slope == 1.0 && self.intercept == 0.0
    }
}

/// A display window preset (DICOM window centre/width), kept as metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowPreset {
    /// Window centre in modality units.
    pub center: f64,
    /// Window width in modality units.
    pub width: f64,
    /// Explanation from the file, if any.
    pub name: Option<String>,
}

/// How stored grey values are meant to be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Photometric {
    /// Higher values are brighter.
    #[default]
    Monochrome2,
    /// Higher values are darker (DICOM MONOCHROME1): display inverts.
    Monochrome1,
    /// Three components, red/green/blue.
    Rgb,
    /// Four components, red/green/blue/alpha.
    Rgba,
}

/// Descriptive facts about a volume that do not affect its geometry or values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeMeta {
    /// Modality (CT, MR, CR, ...), if known.
    pub modality: Option<String>,
    /// DICOM SeriesInstanceUID, if any.
    pub series_uid: Option<String>,
    /// Series or file description, if any.
    pub description: Option<String>,
    /// Display intent of the values.
    pub photometric: Photometric,
    /// Window presets from the file.
    pub windows: Vec<WindowPreset>,
    /// Transfer syntax UIDs of the files this volume came from (DICOM only), deduplicated.
    pub transfer_syntaxes: Vec<String>,
}

/// Everything wrong with a volume's shape, found by [`Volume::new`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VolumeError {
    /// The number of values does not match size × components.
    #[error(
        "expected {expected} values for {size:?} voxels × {components} components, found {found}"
    )]
    WrongLength {
        /// Values needed.
        expected: usize,
        /// Values given.
        found: usize,
        /// Voxel grid size.
        size: [usize; 3],
        /// Components per voxel.
        components: usize,
    },
    /// A size, spacing or direction that cannot describe a grid.
    #[error("invalid geometry: {0}")]
    Geometry(String),
}

/// A 3D grid of voxels placed in patient space. A 2D image is a volume with `size[2] == 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    size: [usize; 3],
    spacing_mm: Vec3,
    origin_lps_mm: Vec3,
    direction: Mat3,
    components: usize,
    voxels: Voxels,
    rescale: Rescale,
    /// Descriptive metadata.
    pub meta: VolumeMeta,
}

impl Volume {
    /// Builds a volume, checking that the values fill the grid and the geometry is usable.
    ///
    /// `direction` columns are the unit vectors of the voxel axes i, j, k in LPS;
    /// `origin_lps_mm` is the centre of voxel (0, 0, 0).
    pub fn new(
        size: [usize; 3],
        spacing_mm: Vec3,
        origin_lps_mm: Vec3,
        direction: Mat3,
        components: usize,
        voxels: Voxels,
        rescale: Rescale,
    ) -> Result<Self, VolumeError> {
        let expected = size
            .iter()
            .try_fold(components, |acc, &s| acc.checked_mul(s))
            .ok_or_else(|| VolumeError::Geometry(format!("size {size:?} overflows")))?;
        if voxels.len() != expected {
            return Err(VolumeError::WrongLength {
                expected,
                found: voxels.len(),
                size,
                components,
            });
        }
        if components == 0 || size.contains(&0) {
            return Err(VolumeError::Geometry(format!(
                "empty grid {size:?} with {components} components"
            )));
        }
        if spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(VolumeError::Geometry(format!(
                "spacing {spacing_mm:?} mm must be finite and positive"
            )));
        }
        if origin_lps_mm.iter().any(|o| !o.is_finite()) {
            return Err(VolumeError::Geometry(format!(
                "origin {origin_lps_mm:?} is not finite"
            )));
        }
        let det = super::geometry::det3(&direction);
        if !det.is_finite() || det.abs() < 1e-6 {
            return Err(VolumeError::Geometry(format!(
                "direction {direction:?} is singular"
            )));
        }
        Ok(Self {
            size,
            spacing_mm,
            origin_lps_mm,
            direction,
            components,
            voxels,
            rescale,
            meta: VolumeMeta::default(),
        })
    }

    /// Grid size `[x, y, z]` in voxels.
    pub fn size(&self) -> [usize; 3] {
        self.size
    }
    /// Voxel spacing along i, j, k in millimetres.
    pub fn spacing_mm(&self) -> Vec3 {
        self.spacing_mm
    }
    /// Centre of voxel (0, 0, 0) in LPS millimetres.
    pub fn origin_lps_mm(&self) -> Vec3 {
        self.origin_lps_mm
    }
    /// Columns are the voxel axes i, j, k as unit vectors in LPS.
    pub fn direction(&self) -> Mat3 {
        self.direction
    }
    /// Values per voxel (1 grey, 3 RGB).
    pub fn components(&self) -> usize {
        self.components
    }
    /// Stored values.
    pub fn voxels(&self) -> &Voxels {
        &self.voxels
    }
    /// Stored → modality value map.
    pub fn rescale(&self) -> Rescale {
        self.rescale
    }
    /// True for a single-slice image.
    pub fn is_2d(&self) -> bool {
        self.size[2] == 1
    }
    /// Number of voxels (not values).
    pub fn voxel_count(&self) -> usize {
        self.size.iter().product()
    }

    /// Flat index of the first component of voxel `(i, j, k)`, or `None` outside the grid.
    pub fn index(&self, ijk: [usize; 3]) -> Option<usize> {
        let [x, y, z] = self.size;
        (ijk[0] < x && ijk[1] < y && ijk[2] < z)
            .then(|| ((ijk[2] * y + ijk[1]) * x + ijk[0]) * self.components)
    }

    /// Modality value (after rescale) of component `c` of voxel `(i, j, k)`.
    pub fn value(&self, ijk: [usize; 3], c: usize) -> Option<f64> {
        if c >= self.components {
            return None;
        }
        let i = self.index(ijk)?;
        self.voxels.get_f64(i + c).map(|v| self.rescale.apply(v))
    }

    /// The 3×4 affine from continuous voxel index to LPS millimetres.
    pub fn world_from_voxel(&self) -> super::geometry::Affine3 {
        super::geometry::Affine3::from_grid(self.origin_lps_mm, self.direction, self.spacing_mm)
    }

    /// The inverse of [`Volume::world_from_voxel`].
    pub fn voxel_from_world(&self) -> super::geometry::Affine3 {
        // `new` rejected singular directions, so the inverse exists.
        self.world_from_voxel()
            .inverse()
            .unwrap_or(super::geometry::Affine3::IDENTITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::IDENTITY3;

    #[test]
    fn rejects_wrong_length() {
        let err = Volume::new(
            [2, 2, 1],
            [1.0; 3],
            [0.0; 3],
            IDENTITY3,
            1,
            Voxels::U8(vec![0; 3]),
            Rescale::IDENTITY,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            VolumeError::WrongLength {
                expected: 4,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn value_applies_rescale_and_index_order() {
        let v = Volume::new(
            [2, 3, 2],
            [1.0; 3],
            [0.0; 3],
            IDENTITY3,
            1,
            Voxels::I16((0..12).collect()),
            Rescale {
                slope: 2.0,
                intercept: -1024.0,
            },
        )
        .unwrap();
        assert_eq!(v.value([1, 2, 1], 0), Some(11.0 * 2.0 - 1024.0));
        assert_eq!(v.value([2, 0, 0], 0), None);
        let s = v.stats();
        assert_eq!((s.min, s.max), (-1024.0, 22.0 - 1024.0));
    }
}
