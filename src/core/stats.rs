//! Value statistics over stored voxels.

use super::volume::{Rescale, Volume, Voxels};
use rayon::prelude::*;

/// Min, max and mean of a set of values; NaNs are counted and left out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueStats {
    /// Smallest value (NaN when there is none).
    pub min: f64,
    /// Largest value (NaN when there is none).
    pub max: f64,
    /// Arithmetic mean (NaN when there is none).
    pub mean: f64,
    /// Values counted.
    pub count: usize,
    /// NaN values skipped.
    pub nan_count: usize,
}

#[derive(Clone, Copy)]
struct Acc {
    min: f64,
    max: f64,
    sum: f64,
    count: usize,
    nan: usize,
}

impl Acc {
    const EMPTY: Acc = Acc {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        count: 0,
        nan: 0,
    };
    fn merge(self, o: Acc) -> Acc {
        Acc {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            sum: self.sum + o.sum,
            count: self.count + o.count,
            nan: self.nan + o.nan,
        }
    }
}

/// A stored value type with a fast accumulation of one chunk.
trait Accumulate: Copy + Send + Sync + Sized {
    fn chunk_acc(values: &[Self]) -> Acc;
}

/// Integers up to 32 bits: min/max in the native type and an exact i64 sum (a chunk of 2^16 values
/// cannot overflow it), no NaN test. These loops vectorise.
macro_rules! small_int {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            fn chunk_acc(values: &[Self]) -> Acc {
                if values.is_empty() {
                    return Acc::EMPTY;
                }
                let (mut lo, mut hi, mut sum) = (<$t>::MAX, <$t>::MIN, 0i64);
                for &v in values {
                    lo = lo.min(v);
                    hi = hi.max(v);
                    sum += v as i64;
                }
                Acc { min: lo as f64, max: hi as f64, sum: sum as f64, count: values.len(), nan: 0 }
            }
        }
    )*};
}
small_int!(u8, i8, u16, i16, u32, i32);

/// 64-bit integers and floats: through f64, skipping NaN.
macro_rules! via_f64 {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            fn chunk_acc(values: &[Self]) -> Acc {
                let mut a = Acc::EMPTY;
                for &v in values {
                    let x = v as f64;
                    if x.is_nan() {
                        a.nan += 1;
                        continue;
                    }
                    a.min = a.min.min(x);
                    a.max = a.max.max(x);
                    a.sum += x;
                    a.count += 1;
                }
                a
            }
        }
    )*};
}
via_f64!(i64, u64, f32, f64);

fn acc_of<T: Accumulate>(values: &[T]) -> Acc {
    // Chunks keep each partial sum small, which also keeps the f64 sum accurate.
    values
        .par_chunks(1 << 16)
        .map(T::chunk_acc)
        .reduce(|| Acc::EMPTY, Acc::merge)
}

impl ValueStats {
    /// Statistics of the stored values.
    pub fn of(voxels: &Voxels) -> Self {
        let a = crate::with_voxels!(voxels, v => acc_of(v));
        let none = a.count == 0;
        ValueStats {
            min: if none { f64::NAN } else { a.min },
            max: if none { f64::NAN } else { a.max },
            mean: if none {
                f64::NAN
            } else {
                a.sum / a.count as f64
            },
            count: a.count,
            nan_count: a.nan,
        }
    }

    /// The same statistics after a linear rescale (exact: the map is affine).
    pub fn rescaled(self, r: Rescale) -> Self {
        if r.is_identity() {
            return self;
        }
        let (a, b) = (r.apply(self.min), r.apply(self.max));
        ValueStats {
            min: a.min(b),
            max: a.max(b),
            mean: r.apply(self.mean),
            ..self
        }
    }
}

/// Counts of values in equal bins over `[lo, hi]` (the last bin includes `hi`); NaNs and values
/// outside are not counted.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Lower edge of the first bin.
    pub lo: f64,
    /// Upper edge of the last bin.
    pub hi: f64,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The histogram of `values` in `bins` bins over `[lo, hi]` (one bin when `hi <= lo`).
    pub fn of(values: impl Iterator<Item = f64>, lo: f64, hi: f64, bins: usize) -> Self {
        let bins = if hi > lo { bins.max(1) } else { 1 };
        let mut counts = vec![0u64; bins];
        let scale = if hi > lo {
            bins as f64 / (hi - lo)
        } else {
            0.0
        };
        for x in values {
            if !(x >= lo && x <= hi) {
                continue;
            }
            let b = (((x - lo) * scale) as usize).min(bins - 1);
            counts[b] += 1;
        }
        Self { lo, hi, counts }
    }

    /// The modality values of `voxels` (every `stride`-th stored value, all components) rescaled
    /// by `rescale`, over the range of `stats`.
    #[allow(
        clippy::unnecessary_cast,
        reason = "`with_voxels!` expands once per stored type, f64 included"
    )]
    pub fn of_voxels(
        voxels: &Voxels,
        rescale: Rescale,
        stats: &ValueStats,
        bins: usize,
        stride: usize,
    ) -> Self {
        crate::with_voxels!(voxels, v => Self::of(
            v.iter().step_by(stride.max(1)).map(|&x| rescale.apply(x as f64)),
            stats.min,
            stats.max,
            bins,
        ))
    }

    /// Width of one bin.
    pub fn bin_width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len().max(1) as f64
    }

    /// The value below which a fraction `q` (0..1) of the counted values lie, interpolated within
    /// its bin; NaN when nothing was counted.
    pub fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return f64::NAN;
        }
        let target = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0.0;
        for (b, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if below + c >= target && c > 0.0 {
                let f = ((target - below) / c).clamp(0.0, 1.0);
                return self.lo + (b as f64 + f) * self.bin_width();
            }
            below += c;
        }
        self.hi
    }
}

impl Volume {
    /// Min, max and mean of the modality values over all voxels and components (NaN skipped).
    pub fn stats(&self) -> ValueStats {
        ValueStats::of(self.voxels()).rescaled(self.rescale())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_path_matches_the_f64_path() {
        let v: Vec<i16> = (0..200_000)
            .map(|i| ((i * 7919) % 65_536 - 32_768) as i16)
            .collect();
        let s = ValueStats::of(&Voxels::I16(v.clone()));
        let f = ValueStats::of(&Voxels::F64(v.iter().map(|&x| x as f64).collect()));
        assert_eq!((s.min, s.max, s.count), (f.min, f.max, f.count));
        assert!((s.mean - f.mean).abs() < 1e-9);
    }

    #[test]
    fn nan_skipped_and_negative_slope_swaps() {
        let s = ValueStats::of(&Voxels::F32(vec![1.0, f32::NAN, 3.0]));
        assert_eq!((s.min, s.max, s.mean, s.nan_count), (1.0, 3.0, 2.0, 1));
        let r = s.rescaled(Rescale {
            slope: -1.0,
            intercept: 10.0,
        });
        assert_eq!((r.min, r.max, r.mean), (7.0, 9.0, 8.0));
    }

    #[test]
    fn histogram_bins_and_quantiles() {
        let h = Histogram::of((0..100).map(f64::from), 0.0, 100.0, 10);
        assert_eq!(h.counts, vec![10; 10]);
        assert!((h.quantile(0.5) - 50.0).abs() < 1e-9);
        assert!((h.quantile(0.05) - 5.0).abs() < 1e-9);
        // The top edge falls in the last bin; NaN and outside values are not counted.
        let e = Histogram::of([0.0, 1.0, f64::NAN, 2.0].into_iter(), 0.0, 1.0, 4);
        assert_eq!(e.counts, vec![1, 0, 0, 1]);
        let flat = Histogram::of([3.0, 3.0].into_iter(), 3.0, 3.0, 16);
        assert_eq!(flat.counts, vec![2]);
        assert!(
            Histogram::of(std::iter::empty(), 0.0, 1.0, 4)
                .quantile(0.5)
                .is_nan()
        );
        let v = Histogram::of_voxels(
            &Voxels::I16(vec![0, 10, 20, 30]),
            Rescale {
                slope: 1.0,
                intercept: -1024.0,
            },
            &ValueStats {
                min: -1024.0,
                max: -994.0,
                mean: -1009.0,
                count: 4,
                nan_count: 0,
            },
            3,
            1,
        );
        assert_eq!(v.counts, vec![1, 1, 2]);
    }
}

/// What a region covers of an image and the image's values there, as viewers show beside an ROI
/// (OHIF's rectangle and freehand tools, ITK-SNAP's label statistics): voxels are those whose
/// centres lie inside (boxes include their edges, polygons by the even-odd rule, masks voxel by
/// voxel), values are modality values (after rescale) of the first component.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegionStats {
    /// Voxels inside.
    pub voxels: usize,
    /// Geometric area in mm² of a 2D box or polygon (its outline, not its voxels).
    pub area_mm2: Option<f64>,
    /// Volume in mm³ of a 3D box or mask: voxels times the voxel's volume.
    pub volume_mm3: Option<f64>,
    /// Mean, population standard deviation, minimum and maximum of the values (NaN without voxels;
    /// NaN values are left out).
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// [`RegionStats`] of `shape` (with its `mask` voxels for a mask) on `volume`; `None` for shapes
/// without an inside (points, lines) and for masks without voxels.
pub fn region_stats(
    volume: &Volume,
    shape: &super::annotation::Shape,
    mask: Option<&super::mask::MaskTiles>,
) -> Option<RegionStats> {
    use super::annotation::Shape;
    let size = volume.size();
    let [sx, sy, sz] = volume.spacing_mm();
    let mut acc = (0usize, 0.0f64, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    let mut voxels = 0usize;
    let mut add = |ijk: [usize; 3]| {
        voxels += 1;
        if let Some(v) = volume.value(ijk, 0).filter(|v| !v.is_nan()) {
            acc.0 += 1;
            acc.1 += v;
            acc.2 += v * v;
            acc.3 = acc.3.min(v);
            acc.4 = acc.4.max(v);
        }
    };
    // Whole voxel indices in [lo, hi] (continuous, centres at integers) along an axis of n.
    let range = |lo: f64, hi: f64, n: usize| {
        let a = lo.ceil().max(0.0);
        let b = hi.floor().min(n as f64 - 1.0);
        if a > b {
            0..0
        } else {
            a as usize..b as usize + 1
        }
    };
    let (area_mm2, volume_mm3) = match shape {
        Shape::Box2d { slice, min, max } => {
            let k = *slice as usize;
            if k < size[2] {
                for j in range(min[1], max[1], size[1]) {
                    for i in range(min[0], max[0], size[0]) {
                        add([i, j, k]);
                    }
                }
            }
            (Some((max[0] - min[0]) * sx * (max[1] - min[1]) * sy), None)
        }
        Shape::Box3d { min, max } => {
            for k in range(min[2], max[2], size[2]) {
                for j in range(min[1], max[1], size[1]) {
                    for i in range(min[0], max[0], size[0]) {
                        add([i, j, k]);
                    }
                }
            }
            (None, Some(0.0))
        }
        Shape::Polygon { slice, points } => {
            if let Some((b, inside)) = super::paint::polygon_voxels(points, *slice as usize, size) {
                let mut n = 0;
                for j in b.min[1]..b.max[1] {
                    for i in b.min[0]..b.max[0] {
                        if inside[n] {
                            add([i, j, *slice as usize]);
                        }
                        n += 1;
                    }
                }
            }
            let twice: f64 = (0..points.len())
                .map(|a| {
                    let (p, q) = (points[a], points[(a + 1) % points.len()]);
                    p[0] * q[1] - q[0] * p[1]
                })
                .sum();
            (Some(twice.abs() / 2.0 * sx * sy), None)
        }
        Shape::Mask => {
            let m = mask?;
            for (&(k, ty, tx), t) in m.tiles() {
                for (n, &v) in t.iter().enumerate() {
                    let tile = super::mask::TILE;
                    let (i, j) = (tx as usize * tile + n % tile, ty as usize * tile + n / tile);
                    if v != 0 && i < size[0] && j < size[1] && (k as usize) < size[2] {
                        add([i, j, k as usize]);
                    }
                }
            }
            if voxels == 0 {
                return None;
            }
            (None, Some(0.0))
        }
        Shape::Point { .. } | Shape::Line { .. } => return None,
    };
    let (n, sum, sum2, min, max) = acc;
    let mean = if n > 0 { sum / n as f64 } else { f64::NAN };
    Some(RegionStats {
        voxels,
        area_mm2,
        volume_mm3: volume_mm3.map(|_| voxels as f64 * sx * sy * sz),
        mean,
        sd: if n > 0 {
            (sum2 / n as f64 - mean * mean).max(0.0).sqrt()
        } else {
            f64::NAN
        },
        min: if n > 0 { min } else { f64::NAN },
        max: if n > 0 { max } else { f64::NAN },
    })
}
