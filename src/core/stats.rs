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
