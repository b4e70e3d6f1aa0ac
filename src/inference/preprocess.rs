//! Image pre- and post-processing for models, on modality values: intensity mapping, bilinear resizing
//! with half-pixel centres (OpenCV's `INTER_LINEAR` without anti-aliasing), longest-side fitting with
//! padding, channel replication. `tools/litemedsam_reference.py` writes the same steps in numpy.

/// Slice `k` of `volume` as modality values, row by row, as a model should see them: several
/// components are averaged, and MONOCHROME1 images (higher is darker) are negated so that bright is
/// dense, as displayed (a min-max or mean-std mapping then gives the displayed picture).
pub fn plane_values(volume: &crate::core::Volume, k: usize) -> Vec<f64> {
    let [nx, ny, _] = volume.size();
    let c = volume.components().max(1);
    let sign = if inverted(volume) { -1.0 } else { 1.0 };
    (0..nx * ny)
        .map(|p| {
            let ijk = [p % nx, p / nx, k];
            sign * (0..c)
                .map(|ch| volume.value(ijk, ch).unwrap_or(f64::NAN))
                .sum::<f64>()
                / c as f64
        })
        .collect()
}

/// True for MONOCHROME1 images, whose values [`plane_values`] negates.
pub fn inverted(volume: &crate::core::Volume) -> bool {
    volume.meta.photometric == crate::core::Photometric::Monochrome1
}

/// How modality values become model input values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Intensity {
    /// Values in `[lo, hi]` (modality units) map linearly to `[0, 1]`, clamped.
    Window {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// The slice's own minimum and maximum map to `[0, 1]`.
    MinMax,
    /// `(v − mean) / std`.
    MeanStd {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

impl Intensity {
    /// The linear map this mapping makes of `values` (min-max looks at their finite range).
    pub fn mapper<T: Copy + Into<f64>>(self, values: &[T]) -> Mapper {
        let (offset, scale, clamp) = match self {
            Intensity::Window { lo, hi } => (lo, 1.0 / (hi - lo).max(f64::MIN_POSITIVE), true),
            Intensity::MinMax => {
                let (lo, hi) = values
                    .iter()
                    .map(|&v| v.into())
                    .filter(|v: &f64| v.is_finite())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                        (a.min(v), b.max(v))
                    });
                if lo.is_finite() && hi > lo {
                    (lo, 1.0 / (hi - lo), true)
                } else {
                    (0.0, 0.0, true)
                }
            }
            Intensity::MeanStd { mean, std } => (mean, 1.0 / std.max(f64::MIN_POSITIVE), false),
        };
        Mapper {
            offset,
            scale,
            clamp,
        }
    }

    /// Maps `values` in place.
    pub fn apply(self, values: &mut [f64]) {
        let m = self.mapper(values);
        for v in values.iter_mut() {
            *v = m.map(*v);
        }
    }
}

/// One intensity mapping made concrete: `(v − offset) × scale`, clamped to `[0, 1]` when `clamp`;
/// non-finite values become 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapper {
    offset: f64,
    scale: f64,
    clamp: bool,
}

impl Mapper {
    /// Maps one modality value.
    #[inline]
    pub fn map(self, v: f64) -> f64 {
        let x = if v.is_finite() {
            (v - self.offset) * self.scale
        } else {
            0.0
        };
        if self.clamp { x.clamp(0.0, 1.0) } else { x }
    }
}

/// Source indices and weight for each output index along one axis.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<(usize, usize, f64)> {
    let ratio = n_in as f64 / n_out.max(1) as f64;
    let last = n_in.saturating_sub(1);
    (0..n_out)
        .map(|o| {
            let src = ((o as f64 + 0.5) * ratio - 0.5).clamp(0.0, last as f64);
            let i0 = src.floor() as usize;
            (i0, (i0 + 1).min(last), src - i0 as f64)
        })
        .collect()
}

/// Bilinear resize of a row-major `h × w` plane to `out_h × out_w` (half-pixel centres, edges clamped).
pub fn resize_bilinear(src: &[f64], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f64> {
    if h == 0 || w == 0 || src.len() < h * w {
        return vec![0.0; out_h * out_w];
    }
    // Rows first, then columns, as the reference does.
    let rows = axis_weights(h, out_h);
    let mut tmp = vec![0.0; out_h * w];
    for (o, &(r0, r1, t)) in rows.iter().enumerate() {
        let (a, b) = (&src[r0 * w..(r0 + 1) * w], &src[r1 * w..(r1 + 1) * w]);
        for (x, out) in tmp[o * w..(o + 1) * w].iter_mut().enumerate() {
            *out = a[x] * (1.0 - t) + b[x] * t;
        }
    }
    let cols = axis_weights(w, out_w);
    let mut out = vec![0.0; out_h * out_w];
    for y in 0..out_h {
        let row = &tmp[y * w..(y + 1) * w];
        for (x, &(c0, c1, t)) in cols.iter().enumerate() {
            out[y * out_w + x] = row[c0] * (1.0 - t) + row[c1] * t;
        }
    }
    out
}

/// The scale and size of an `h × w` plane fitted so its longest side is `side`.
pub fn fit_longest(h: usize, w: usize, side: usize) -> (f64, usize, usize) {
    let s = side as f64 / h.max(w).max(1) as f64;
    let round = |n: usize| ((n as f64 * s).round() as usize).clamp(1, side);
    (s, round(h), round(w))
}

/// A plane of modality values as a model input: intensity mapped, fitted to `side` (longest side,
/// padded bottom/right with 0), `channels` identical planes, NCHW, f32.
pub fn model_input(
    values: &[f64],
    h: usize,
    w: usize,
    side: usize,
    intensity: Intensity,
    channels: usize,
) -> Vec<f32> {
    let mut x = values.to_vec();
    intensity.apply(&mut x);
    let (_, nh, nw) = fit_longest(h, w, side);
    let small = resize_bilinear(&x, h, w, nh, nw);
    let mut plane = vec![0.0f32; side * side];
    for y in 0..nh {
        for (xx, v) in small[y * nw..(y + 1) * nw].iter().enumerate() {
            plane[y * side + xx] = *v as f32;
        }
    }
    let mut out = Vec::with_capacity(plane.len() * channels.max(1));
    for _ in 0..channels.max(1) {
        out.extend_from_slice(&plane);
    }
    out
}

/// Model output logits (`side × side`, the fitted part top-left) back on the `h × w` plane, `> threshold`.
pub fn mask_from_logits(
    logits: &[f32],
    side: usize,
    h: usize,
    w: usize,
    threshold: f64,
) -> Vec<bool> {
    let (_, nh, nw) = fit_longest(h, w, side);
    let mut fitted = vec![0.0; nh * nw];
    for y in 0..nh {
        for x in 0..nw {
            fitted[y * nw + x] = f64::from(logits.get(y * side + x).copied().unwrap_or(f32::MIN));
        }
    }
    resize_bilinear(&fitted, nh, nw, h, w)
        .into_iter()
        .map(|v| v > threshold)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_pixel_pairs_and_doubling_interpolates() {
        // 2× down with half-pixel centres: each output is the mean of a 2×2 block.
        let src: Vec<f64> = (0..16).map(f64::from).collect();
        let half = resize_bilinear(&src, 4, 4, 2, 2);
        assert_eq!(half, vec![2.5, 4.5, 10.5, 12.5]);
        // 2× up of [0, 4]: 0, 1, 3, 4 (edges clamped, inside at ¼ and ¾).
        let up = resize_bilinear(&[0.0, 4.0], 1, 2, 1, 4);
        assert_eq!(up, vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn windows_clamp_and_the_longest_side_is_fitted_with_padding() {
        let mut v = vec![-1000.0, -160.0, 40.0, 240.0, 3000.0];
        Intensity::Window {
            lo: -160.0,
            hi: 240.0,
        }
        .apply(&mut v);
        assert_eq!(v, vec![0.0, 0.0, 0.5, 1.0, 1.0]);
        assert_eq!(fit_longest(512, 256, 256), (0.5, 256, 128));
        // A 2 × 4 plane into 4 × 4 × 3: rows 0..2 hold it, rows 2..4 are padding.
        let x = model_input(
            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            2,
            4,
            4,
            Intensity::MinMax,
            3,
        );
        assert_eq!(x.len(), 48);
        assert_eq!(
            &x[0..4],
            &[0.0, 1.0 / 7.0, 2.0 / 7.0, 3.0 / 7.0].map(|v| v as f32)
        );
        assert!(x[8..16].iter().all(|&v| v == 0.0));
        assert_eq!(&x[16..32], &x[0..16]);
    }

    #[test]
    fn logits_come_back_on_the_slice_grid() {
        // A 4 × 4 logit map of which the fitted 2 × 4 (for a 4 × 8 slice) is positive on the left.
        let mut logits = vec![-5.0f32; 16];
        for y in 0..2 {
            logits[y * 4] = 5.0;
            logits[y * 4 + 1] = 5.0;
        }
        let mask = mask_from_logits(&logits, 4, 4, 8, 0.0);
        assert_eq!(mask.len(), 32);
        for y in 0..4 {
            let row: Vec<bool> = mask[y * 8..(y + 1) * 8].to_vec();
            assert_eq!(row, [true, true, true, true, false, false, false, false]);
        }
    }
}
