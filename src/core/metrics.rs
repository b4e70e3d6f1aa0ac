//! Grounding metrics on one image plane (ARCHITECTURE.md §9). Each function states its definition;
//! `voxmark eval` prints the same definitions with its numbers.
//!
//! Coordinates: boxes are `[min_i, min_j, max_i, max_j]` in continuous pixel coordinates with pixel
//! centres at integers (the voxel convention of `core`); a pixel belongs to a box when its centre
//! lies inside, edges included. A phrase's regions are compared as the union of their pixels.

/// A binary mask on a `width × height` grid, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask2 {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width × height` flags.
    pub bits: Vec<bool>,
}

impl Mask2 {
    /// An empty mask.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            bits: vec![false; width * height],
        }
    }

    /// Adds the pixels whose centres lie in a box (clipped to the grid).
    pub fn add_box(&mut self, b: [f64; 4]) {
        if !b.iter().all(|x| x.is_finite()) || b[0] > b[2] || b[1] > b[3] {
            return;
        }
        let lo = |v: f64, n: usize| (v.ceil().max(0.0) as usize).min(n);
        let hi = |v: f64, n: usize| {
            if v < 0.0 {
                0
            } else {
                ((v.floor() as usize) + 1).min(n)
            }
        };
        let (i0, i1) = (lo(b[0], self.width), hi(b[2], self.width));
        let (j0, j1) = (lo(b[1], self.height), hi(b[3], self.height));
        for j in j0..j1 {
            self.bits[j * self.width + i0..j * self.width + i1.max(i0)].fill(true);
        }
    }

    /// The union of boxes.
    pub fn from_boxes(width: usize, height: usize, boxes: &[[f64; 4]]) -> Self {
        let mut m = Self::new(width, height);
        for b in boxes {
            m.add_box(*b);
        }
        m
    }

    /// Pixels set.
    pub fn count(&self) -> usize {
        self.bits.iter().filter(|&&b| b).count()
    }

    /// True when pixel (i, j) is set (false outside the grid).
    pub fn get(&self, i: usize, j: usize) -> bool {
        i < self.width && j < self.height && self.bits[j * self.width + i]
    }
}

fn overlap(a: &Mask2, b: &Mask2) -> Option<(usize, usize, usize)> {
    if a.width != b.width || a.height != b.height {
        return None;
    }
    let (mut inter, mut na, mut nb) = (0, 0, 0);
    for (x, y) in a.bits.iter().zip(&b.bits) {
        inter += (*x && *y) as usize;
        na += *x as usize;
        nb += *y as usize;
    }
    Some((inter, na, nb))
}

/// Intersection over union, |A∩B| / |A∪B|; `None` when both are empty or the grids differ.
pub const IOU_DEFINITION: &str = "IoU = |A ∩ B| / |A ∪ B| over pixels, A and B the unions of a phrase's truth and predicted regions";

/// IoU of two masks (see [`IOU_DEFINITION`]).
pub fn iou(a: &Mask2, b: &Mask2) -> Option<f64> {
    let (i, na, nb) = overlap(a, b)?;
    let union = na + nb - i;
    (union > 0).then(|| i as f64 / union as f64)
}

/// Dice definition.
pub const DICE_DEFINITION: &str = "Dice = 2|A ∩ B| / (|A| + |B|) over pixels (voxels for masks)";

/// Dice coefficient (see [`DICE_DEFINITION`]).
pub fn dice(a: &Mask2, b: &Mask2) -> Option<f64> {
    let (i, na, nb) = overlap(a, b)?;
    (na + nb > 0).then(|| 2.0 * i as f64 / (na + nb) as f64)
}

/// Pointing game definition.
pub const POINTING_DEFINITION: &str = "pointing game: hit when the prediction's peak (heatmap maximum, or the centre of the most confident box) lies in the truth region";

/// Pointing game for a heatmap: the first maximum (row-major order) inside `truth`? `None` when the
/// grids differ, the heatmap has no finite value, or the truth is empty.
pub fn pointing_heatmap(heat: &[f32], truth: &Mask2) -> Option<bool> {
    if heat.len() != truth.bits.len() || truth.count() == 0 {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (n, &v) in heat.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
            best = Some((n, v));
        }
    }
    best.map(|(n, _)| truth.bits[n])
}

/// Pointing game for boxes: the centre of the most confident box (the first one on ties), rounded to
/// the nearest pixel, inside `truth`?
pub fn pointing_boxes(boxes: &[([f64; 4], f64)], truth: &Mask2) -> Option<bool> {
    if truth.count() == 0 {
        return None;
    }
    let mut best: Option<([f64; 4], f64)> = None;
    for &(b, c) in boxes {
        if best.is_none_or(|(_, bc)| c > bc) {
            best = Some((b, c));
        }
    }
    let (b, _) = best?;
    let (ci, cj) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    if ci < -0.5 || cj < -0.5 {
        return Some(false);
    }
    Some(truth.get(ci.round() as usize, cj.round() as usize))
}

/// CNR definition.
pub const CNR_DEFINITION: &str = "CNR = |μin − μout| / √(σ²in + σ²out) of the raw heatmap inside and outside the truth region (population variances)";

/// Contrast-to-noise ratio of a raw heatmap (see [`CNR_DEFINITION`]); `None` when either side is
/// empty or both variances are zero.
pub fn cnr(heat: &[f32], truth: &Mask2) -> Option<f64> {
    if heat.len() != truth.bits.len() {
        return None;
    }
    let (mut n, mut s, mut s2) = ([0f64; 2], [0f64; 2], [0f64; 2]);
    for (&v, &inside) in heat.iter().zip(&truth.bits) {
        if !v.is_finite() {
            continue;
        }
        let k = inside as usize;
        n[k] += 1.0;
        s[k] += v as f64;
        s2[k] += v as f64 * v as f64;
    }
    if n[0] == 0.0 || n[1] == 0.0 {
        return None;
    }
    let mean = [s[0] / n[0], s[1] / n[1]];
    let var = [
        (s2[0] / n[0] - mean[0] * mean[0]).max(0.0),
        (s2[1] / n[1] - mean[1] * mean[1]).max(0.0),
    ];
    let denom = (var[0] + var[1]).sqrt();
    (denom > 0.0).then(|| (mean[1] - mean[0]).abs() / denom)
}

/// Accuracy definition.
pub const ACC_DEFINITION: &str =
    "Acc@IoU≥0.5 = fraction of evaluated phrases whose IoU is at least 0.5";

/// Summary of per-phrase IoUs.
#[derive(Clone, Debug, PartialEq)]
pub struct IouSummary {
    /// Phrases evaluated.
    pub n: usize,
    /// Mean IoU.
    pub mean_iou: f64,
    /// Fraction with IoU ≥ 0.5.
    pub acc_at_05: f64,
}

/// Mean IoU and Acc@IoU≥0.5 of a set of per-phrase IoUs (`None` when empty).
pub fn summarize(ious: &[f64]) -> Option<IouSummary> {
    if ious.is_empty() {
        return None;
    }
    let n = ious.len();
    Some(IouSummary {
        n,
        mean_iou: ious.iter().sum::<f64>() / n as f64,
        acc_at_05: ious.iter().filter(|&&x| x >= 0.5).count() as f64 / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_boxes() {
        // A covers pixels 0..=3 × 0..=3 (16), B covers 2..=5 × 2..=5 (16); they share 2..=3 × 2..=3 (4).
        let a = Mask2::from_boxes(10, 10, &[[0.0, 0.0, 3.0, 3.0]]);
        let b = Mask2::from_boxes(10, 10, &[[2.0, 2.0, 5.0, 5.0]]);
        assert_eq!((a.count(), b.count()), (16, 16));
        assert_eq!(iou(&a, &b), Some(4.0 / 28.0));
        assert_eq!(dice(&a, &b), Some(8.0 / 32.0));
        // Half-pixel edges: centres 1..=2 only.
        assert_eq!(
            Mask2::from_boxes(10, 10, &[[0.5, 0.5, 2.5, 2.5]]).count(),
            4
        );
        // Clipping and empty unions.
        assert_eq!(
            Mask2::from_boxes(4, 4, &[[-5.0, -5.0, 100.0, 1.0]]).count(),
            8
        );
        assert_eq!(iou(&Mask2::new(3, 3), &Mask2::new(3, 3)), None);
        // Union of two boxes counts shared pixels once.
        assert_eq!(
            Mask2::from_boxes(10, 10, &[[0.0, 0.0, 3.0, 3.0], [2.0, 2.0, 5.0, 5.0]]).count(),
            28
        );
    }

    #[test]
    fn hand_computed_pointing_and_cnr() {
        let truth = Mask2::from_boxes(4, 1, &[[2.0, 0.0, 3.0, 0.0]]);
        assert_eq!(pointing_heatmap(&[0.1, 0.2, 0.9, 0.3], &truth), Some(true));
        assert_eq!(
            pointing_heatmap(&[0.95, 0.2, 0.9, 0.3], &truth),
            Some(false)
        );
        // in: 2, 4 → μ 3, σ² 1; out: 0, 0 → μ 0, σ² 0; CNR = 3 / 1.
        assert_eq!(cnr(&[0.0, 0.0, 2.0, 4.0], &truth), Some(3.0));
        assert_eq!(
            pointing_boxes(
                &[([0.0, 0.0, 1.0, 0.0], 0.2), ([2.0, 0.0, 3.0, 0.0], 0.9)],
                &truth
            ),
            Some(true)
        );
        let s = summarize(&[0.2, 0.5, 0.8, 1.0]).unwrap();
        assert_eq!((s.n, s.mean_iou, s.acc_at_05), (4, 0.625, 0.75));
    }
}
