//! Brush, eraser, polygon fill and threshold fill on a region's mask, as [`Edit::PaintMask`] edits of
//! the box they touch (one stroke records one edit per dab segment; the history groups them).
//!
//! Positions are continuous voxel coordinates (voxel centres at integers); radii are in millimetres
//! and become ellipses/ellipsoids in index space through the grid's spacing, so a 5 mm brush is a
//! circle on screen on an anisotropic grid. The voxel under the pointer is always painted, however
//! small the radius.

use super::annotation::RegionId;
use super::edit::Edit;
use super::mask::{MaskTiles, VoxelBox};

/// Brush shape and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Brush {
    /// Radius in millimetres.
    pub radius_mm: f64,
    /// A sphere across slices; otherwise a disc on the slice of the stroke.
    pub sphere: bool,
}

/// The voxels a capsule from `a` to `b` (continuous voxel coordinates) covers, with their box.
/// `None` when nothing of it lies inside the grid. A disc brush paints the plane of voxel axis
/// `across` held at `a`'s index (2: the slice k; 0 or 1 for strokes drawn in the planes across).
pub fn capsule(
    a: [f64; 3],
    b: [f64; 3],
    brush: Brush,
    spacing_mm: [f64; 3],
    size: [usize; 3],
    across: usize,
) -> Option<(VoxelBox, Vec<bool>)> {
    let across = across.min(2);
    let r = brush.radius_mm.max(0.0);
    let reach = |axis: usize| -> f64 {
        if axis == across && !brush.sphere {
            0.0
        } else {
            r / spacing_mm[axis].max(1e-9)
        }
    };
    let mut min = [0usize; 3];
    let mut max = [0usize; 3];
    for axis in 0..3 {
        let lo = a[axis].min(b[axis]) - reach(axis);
        let hi = a[axis].max(b[axis]) + reach(axis);
        let lo = lo.round().max(0.0);
        let hi = (hi.round() + 1.0).min(size[axis] as f64);
        if lo >= hi || lo.is_nan() || hi.is_nan() {
            return None;
        }
        min[axis] = lo as usize;
        max[axis] = hi as usize;
    }
    if !brush.sphere {
        // A disc lies on the stroke's plane.
        let k = a[across].round();
        if k < 0.0 || k >= size[across] as f64 {
            return None;
        }
        min[across] = k as usize;
        max[across] = k as usize + 1;
    }
    let bounds = VoxelBox { min, max };
    let mm = |v: [f64; 3]| {
        [
            v[0] * spacing_mm[0],
            v[1] * spacing_mm[1],
            v[2] * spacing_mm[2],
        ]
    };
    let (pa, pb) = (mm(a), mm(b));
    let d = [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]];
    let dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    let centres = [a.map(|x| x.round()), b.map(|x| x.round())];
    let mut inside = Vec::with_capacity(bounds.len());
    for k in min[2]..max[2] {
        for j in min[1]..max[1] {
            for i in min[0]..max[0] {
                let v = [i as f64, j as f64, k as f64];
                let mut p = mm(v);
                if !brush.sphere {
                    // Distance within the plane only.
                    p[across] = pa[across];
                }
                let t = if dd > 0.0 {
                    (((p[0] - pa[0]) * d[0] + (p[1] - pa[1]) * d[1] + (p[2] - pa[2]) * d[2]) / dd)
                        .clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let q = [pa[0] + t * d[0], pa[1] + t * d[1], pa[2] + t * d[2]];
                let dist2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2);
                let under = centres
                    .iter()
                    .any(|c| (0..3).all(|x| c[x] == v[x] || (x == across && !brush.sphere)));
                inside.push(dist2 <= r * r || under);
            }
        }
    }
    Some((bounds, inside))
}

/// The edit that sets the voxels `inside` of `bounds` to `value` in `mask`; `None` when nothing
/// changes.
pub fn paint_edit(
    region: RegionId,
    mask: &MaskTiles,
    bounds: VoxelBox,
    inside: &[bool],
    value: u8,
) -> Option<Edit> {
    if inside.len() != bounds.len() || !bounds.fits(mask.size()) {
        return None;
    }
    let before = mask.read_box(bounds);
    let mut after = before.clone();
    for (v, &hit) in after.iter_mut().zip(inside) {
        if hit {
            *v = value;
        }
    }
    (after != before).then(|| Edit::paint(region, bounds, &before, &after))
}

/// Voxels of slice `k` whose centres lie inside a closed polygon of (i, j) vertices (even-odd rule).
pub fn polygon_voxels(
    points: &[[f64; 2]],
    k: usize,
    size: [usize; 3],
) -> Option<(VoxelBox, Vec<bool>)> {
    if points.len() < 3 || k >= size[2] {
        return None;
    }
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let mut min = [0usize, 0, k];
    let mut max = [0usize, 0, k + 1];
    for a in 0..2 {
        let l = lo[a].ceil().max(0.0);
        let h = (hi[a].floor() + 1.0).min(size[a] as f64);
        if l >= h || l.is_nan() || h.is_nan() {
            return None;
        }
        min[a] = l as usize;
        max[a] = h as usize;
    }
    let bounds = VoxelBox { min, max };
    let mut inside = Vec::with_capacity(bounds.len());
    for j in min[1]..max[1] {
        for i in min[0]..max[0] {
            inside.push(point_in_polygon([i as f64, j as f64], points));
        }
    }
    Some((bounds, inside))
}

/// Even-odd test of a point against a closed polygon.
pub fn point_in_polygon(p: [f64; 2], points: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = points.len();
    for a in 0..n {
        let (u, v) = (points[a], points[(a + n - 1) % n]);
        if (u[1] > p[1]) != (v[1] > p[1]) {
            let x = u[0] + (p[1] - u[1]) * (v[0] - u[0]) / (v[1] - u[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// The voxels connected to `seed` (6-connected in 3D, 4-connected on the seed's slice in 2D) whose
/// value lies in `[lo, hi]`, at most `limit` of them; `value_at` gives a voxel's modality value.
/// Returns their box and membership, or `None` when the seed itself is out of range.
pub fn threshold_fill(
    value_at: &dyn Fn([usize; 3]) -> Option<f64>,
    size: [usize; 3],
    seed: [usize; 3],
    range: (f64, f64),
    three_d: bool,
    limit: usize,
) -> Option<(VoxelBox, Vec<bool>)> {
    let (lo, hi) = range;
    let ok = |v: [usize; 3]| value_at(v).is_some_and(|x| x >= lo && x <= hi);
    if (0..3).any(|a| seed[a] >= size[a]) || !ok(seed) {
        return None;
    }
    let (k0, k1) = if three_d {
        (0, size[2])
    } else {
        (seed[2], seed[2] + 1)
    };
    let plane = size[0] * size[1];
    let depth = k1 - k0;
    let mut seen = vec![false; plane * depth];
    let index = |v: [usize; 3]| (v[2] - k0) * plane + v[1] * size[0] + v[0];
    let mut stack = vec![seed];
    seen[index(seed)] = true;
    let mut found = Vec::new();
    let (mut min, mut max) = (seed, seed.map(|x| x + 1));
    while let Some(v) = stack.pop() {
        found.push(v);
        for a in 0..3 {
            min[a] = min[a].min(v[a]);
            max[a] = max[a].max(v[a] + 1);
        }
        if found.len() >= limit {
            break;
        }
        let mut next = |n: [usize; 3]| {
            if n[2] < k0 || n[2] >= k1 || n[0] >= size[0] || n[1] >= size[1] {
                return;
            }
            let at = index(n);
            if !seen[at] && ok(n) {
                seen[at] = true;
                stack.push(n);
            }
        };
        let [i, j, k] = v;
        next([i + 1, j, k]);
        next([i.wrapping_sub(1), j, k]);
        next([i, j + 1, k]);
        next([i, j.wrapping_sub(1), k]);
        if three_d {
            next([i, j, k + 1]);
            next([i, j, k.wrapping_sub(1)]);
        }
    }
    let bounds = VoxelBox { min, max };
    let (bx, by) = (max[0] - min[0], max[1] - min[1]);
    let mut inside = vec![false; bounds.len()];
    for v in found {
        inside[((v[2] - min[2]) * by + (v[1] - min[1])) * bx + (v[0] - min[0])] = true;
    }
    Some((bounds, inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(x: &[bool]) -> usize {
        x.iter().filter(|&&b| b).count()
    }

    #[test]
    fn a_disc_is_round_in_millimetres_on_an_anisotropic_grid() {
        // 0.5 mm × 1 mm pixels: a 2 mm disc spans ±4 columns and ±2 rows.
        let brush = Brush {
            radius_mm: 2.0,
            sphere: false,
        };
        let c = [10.0, 10.0, 3.0];
        let (b, inside) = capsule(c, c, brush, [0.5, 1.0, 3.0], [20, 20, 6], 2).unwrap();
        assert_eq!(b.min, [6, 8, 3]);
        assert_eq!(b.max, [15, 13, 4]);
        let at = |i: usize, j: usize| inside[(j - b.min[1]) * 9 + (i - b.min[0])];
        assert!(at(6, 10) && at(14, 10) && at(10, 8) && at(10, 12));
        assert!(!at(6, 8) && !at(14, 12));
        // Area close to π r² = 12.57 mm² = 25.1 pixels of 0.5 mm².
        let n = count(&inside);
        assert!((21..=29).contains(&n), "{n}");
    }

    #[test]
    fn a_tiny_brush_still_paints_the_voxel_under_the_pointer() {
        let brush = Brush {
            radius_mm: 0.01,
            sphere: false,
        };
        let (b, inside) = capsule(
            [3.4, 2.6, 0.0],
            [3.4, 2.6, 0.0],
            brush,
            [1.0; 3],
            [8, 8, 1],
            2,
        )
        .unwrap();
        assert_eq!(count(&inside), 1);
        let n = inside.iter().position(|&x| x).unwrap();
        let w = b.max[0] - b.min[0];
        assert_eq!([b.min[0] + n % w, b.min[1] + n / w], [3, 3]);
    }

    #[test]
    fn a_stroke_covers_the_segment_between_dabs_and_a_sphere_spans_slices() {
        let flat = Brush {
            radius_mm: 1.0,
            sphere: false,
        };
        let (_, inside) = capsule(
            [2.0, 5.0, 1.0],
            [12.0, 5.0, 1.0],
            flat,
            [1.0; 3],
            [16, 10, 3],
            2,
        )
        .unwrap();
        // 11 voxels along the row plus 2 rows of 11 above and below and the round caps.
        assert_eq!(count(&inside), 11 * 3 + 2);
        let ball = Brush {
            radius_mm: 1.0,
            sphere: true,
        };
        let (b, inside) = capsule([5.0; 3], [5.0; 3], ball, [1.0; 3], [10; 3], 2).unwrap();
        assert_eq!((b.min[2], b.max[2]), (4, 7));
        assert_eq!(count(&inside), 7);
        // Outside the grid: nothing.
        assert!(capsule([-9.0; 3], [-9.0; 3], ball, [1.0; 3], [10; 3], 2).is_none());
    }

    #[test]
    fn a_disc_drawn_in_a_plane_across_stays_in_that_plane() {
        let brush = Brush {
            radius_mm: 2.0,
            sphere: false,
        };
        // Drawn in the plane i = 5 (sagittal for an axial series): j and k vary, i does not.
        let c = [5.2, 10.0, 6.0];
        let (b, inside) = capsule(c, c, brush, [0.5, 1.0, 2.0], [20, 20, 12], 0).unwrap();
        assert_eq!((b.min, b.max), ([5, 8, 5], [6, 13, 8]));
        // Round in mm: 5 rows of 1 mm on slice 6; on slices 5 and 7 (2 mm away) only row 10.
        assert_eq!(count(&inside), 7);
        // Across the j axis (coronal): i and k vary.
        let (b, _) = capsule(c, c, brush, [0.5, 1.0, 2.0], [20, 20, 12], 1).unwrap();
        assert_eq!((b.min[1], b.max[1]), (10, 11));
        assert_eq!((b.min[0], b.max[0]), (1, 10));
    }

    #[test]
    fn paint_and_erase_edits_apply_and_invert_exactly() {
        let mut doc = crate::core::Document::default();
        let size = [70, 70, 2];
        doc.masks
            .insert(crate::core::Id::from_u128(1), MaskTiles::new(size));
        let brush = Brush {
            radius_mm: 3.0,
            sphere: false,
        };
        // Across a tile edge (x = 64).
        let (b, inside) = capsule(
            [62.0, 10.0, 1.0],
            [66.0, 12.0, 1.0],
            brush,
            [1.0; 3],
            size,
            2,
        )
        .unwrap();
        let paint = paint_edit(
            crate::core::Id::from_u128(1),
            &doc.masks[&crate::core::Id::from_u128(1)],
            b,
            &inside,
            1,
        )
        .unwrap();
        paint.apply(&mut doc).unwrap();
        assert_eq!(
            doc.masks[&crate::core::Id::from_u128(1)].count(),
            count(&inside)
        );
        // Painting the same voxels again changes nothing, so there is no edit.
        assert!(
            paint_edit(
                crate::core::Id::from_u128(1),
                &doc.masks[&crate::core::Id::from_u128(1)],
                b,
                &inside,
                1
            )
            .is_none()
        );
        let erase = paint_edit(
            crate::core::Id::from_u128(1),
            &doc.masks[&crate::core::Id::from_u128(1)],
            b,
            &inside,
            0,
        )
        .unwrap();
        erase.apply(&mut doc).unwrap();
        assert_eq!(doc.masks[&crate::core::Id::from_u128(1)].count(), 0);
        // The inverses give the painted mask back, then the empty one.
        erase.inverse().apply(&mut doc).unwrap();
        assert_eq!(
            doc.masks[&crate::core::Id::from_u128(1)].count(),
            count(&inside)
        );
        paint.inverse().apply(&mut doc).unwrap();
        assert_eq!(
            doc.masks[&crate::core::Id::from_u128(1)],
            MaskTiles::new(size)
        );
    }

    #[test]
    fn polygon_fill_uses_voxel_centres() {
        // A 4×3 rectangle with corners between voxel centres: exactly 4×3 voxels.
        let square = [[1.5, 1.5], [5.5, 1.5], [5.5, 4.5], [1.5, 4.5]];
        let (b, inside) = polygon_voxels(&square, 0, [10, 10, 1]).unwrap();
        assert_eq!(b.min, [2, 2, 0]);
        assert_eq!(b.max, [6, 5, 1]);
        assert_eq!(count(&inside), 12);
        // A triangle: half of a 10×10 square, about 50 voxels.
        let tri = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let (_, inside) = polygon_voxels(&tri, 0, [20, 20, 1]).unwrap();
        assert!((45..=66).contains(&count(&inside)));
        assert!(polygon_voxels(&tri[..2], 0, [20, 20, 1]).is_none());
    }

    #[test]
    fn threshold_fill_stays_connected_and_in_range() {
        // Two bright blocks on a dark slice; the fill from one reaches only that one.
        let size = [10, 6, 2];
        let value = |v: [usize; 3]| -> Option<f64> {
            let bright = (v[0] < 3 && v[1] < 3) || (v[0] > 6 && v[1] > 2);
            Some(if bright { 100.0 } else { 0.0 })
        };
        let (b, inside) =
            threshold_fill(&value, size, [1, 1, 0], (50.0, 200.0), false, 1000).unwrap();
        assert_eq!(count(&inside), 9);
        assert_eq!((b.min, b.max), ([0, 0, 0], [3, 3, 1]));
        let (b, inside) =
            threshold_fill(&value, size, [8, 4, 1], (50.0, 200.0), true, 1000).unwrap();
        assert_eq!(count(&inside), 3 * 3 * 2);
        assert_eq!((b.min[2], b.max[2]), (0, 2));
        assert!(threshold_fill(&value, size, [5, 0, 0], (50.0, 200.0), false, 1000).is_none());
        // The limit stops a runaway fill.
        let (_, inside) = threshold_fill(&value, size, [5, 0, 0], (-1.0, 1.0), true, 10).unwrap();
        assert_eq!(count(&inside), 10);
    }
}
