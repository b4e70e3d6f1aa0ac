//! Patient-space geometry: LPS millimetres, `a_from_b` transforms.

/// A 3-vector (x, y, z).
pub type Vec3 = [f64; 3];
/// A 3×3 matrix stored row-major: `m[row][col]`.
pub type Mat3 = [[f64; 3]; 3];

/// The identity matrix.
pub const IDENTITY3: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Determinant of a 3×3 matrix.
pub fn det3(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Inverse of a 3×3 matrix, or `None` when it is singular.
pub fn inverse3(m: &Mat3) -> Option<Mat3> {
    let d = det3(m);
    if !d.is_finite() || d.abs() < 1e-12 {
        return None;
    }
    let c =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [c(1, 2, 1, 2) / d, -c(0, 2, 1, 2) / d, c(0, 1, 1, 2) / d],
        [-c(1, 2, 0, 2) / d, c(0, 2, 0, 2) / d, -c(0, 1, 0, 2) / d],
        [c(1, 2, 0, 1) / d, -c(0, 2, 0, 1) / d, c(0, 1, 0, 1) / d],
    ])
}

/// Matrix × vector.
pub fn mul3(m: &Mat3, v: Vec3) -> Vec3 {
    [0, 1, 2].map(|r| m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2])
}

/// Cross product.
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Dot product.
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Euclidean length.
pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// Column `c` of a matrix.
pub fn column(m: &Mat3, c: usize) -> Vec3 {
    [m[0][c], m[1][c], m[2][c]]
}

/// A matrix from three columns.
pub fn from_columns(c0: Vec3, c1: Vec3, c2: Vec3) -> Mat3 {
    [
        [c0[0], c1[0], c2[0]],
        [c0[1], c1[1], c2[1]],
        [c0[2], c1[2], c2[2]],
    ]
}

/// An affine map `y = linear · x + translation`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine3 {
    /// The linear part.
    pub linear: Mat3,
    /// The translation.
    pub translation: Vec3,
}

impl Affine3 {
    /// The identity map.
    pub const IDENTITY: Affine3 = Affine3 {
        linear: IDENTITY3,
        translation: [0.0; 3],
    };

    /// `world_from_voxel` of a grid: `origin + direction · diag(spacing) · ijk`.
    pub fn from_grid(origin: Vec3, direction: Mat3, spacing: Vec3) -> Self {
        let mut linear = direction;
        for row in &mut linear {
            for (c, value) in row.iter_mut().enumerate() {
                *value *= spacing[c];
            }
        }
        Self {
            linear,
            translation: origin,
        }
    }

    /// Applies the map to a point.
    pub fn apply(&self, p: Vec3) -> Vec3 {
        let l = mul3(&self.linear, p);
        [0, 1, 2].map(|i| l[i] + self.translation[i])
    }

    /// The inverse map, or `None` when the linear part is singular.
    pub fn inverse(&self) -> Option<Self> {
        let inv = inverse3(&self.linear)?;
        let t = mul3(&inv, self.translation);
        Some(Self {
            linear: inv,
            translation: t.map(|x| -x),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_voxel_round_trip_oblique() {
        let a = 0.3f64;
        let dir = from_columns(
            [a.cos(), a.sin(), 0.0],
            [-a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        );
        let w = Affine3::from_grid([-10.0, 20.0, 5.0], dir, [0.7, 0.7, 3.0]);
        let p = [3.5, -2.0, 7.25];
        let back = w.inverse().unwrap().apply(w.apply(p));
        for i in 0..3 {
            assert!((back[i] - p[i]).abs() < 1e-12);
        }
        // Voxel (0,0,1) is one slice spacing along the third column.
        let q = w.apply([0.0, 0.0, 1.0]);
        assert!((q[2] - 8.0).abs() < 1e-12);
    }

    #[test]
    fn singular_has_no_inverse() {
        assert!(inverse3(&[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).is_none());
    }
}
