//! Segmentation models: an image (2D, slice by slice) or a volume (3D) in, per-class scores out, run in
//! overlapping tiles at the image's own resolution and blended with Gaussian weights (the sliding-window
//! inference of nnU-Net and MONAI), then the arg-max class per voxel.

use super::manifest::{Family, Manifest};
use super::preprocess::Intensity;
use super::promptable::{expect_input, expect_output};
use super::{InferError, Result, ort_error};
use crate::core::Volume;
use ort::session::Session;
use ort::value::TensorRef;
use std::ops::Range;

/// A loaded segmentation model.
pub struct Segmenter {
    /// Its manifest.
    pub manifest: Manifest,
    session: Session,
}

/// Tile origins along an axis of `n` voxels for tiles of `tile` overlapping by at least `overlap`:
/// as nnU-Net places them, the fewest tiles whose step is at most `tile × (1 − overlap)`, spread evenly
/// from 0 to flush with the end; one tile at 0 (padded) when the axis is not longer than a tile.
pub fn tile_starts(n: usize, tile: usize, overlap: f64) -> Vec<usize> {
    if n <= tile || tile == 0 {
        return vec![0];
    }
    let step = (tile as f64 * (1.0 - overlap)).floor().max(1.0);
    let span = (n - tile) as f64;
    let count = (span / step).ceil() as usize + 1;
    let actual = span / (count - 1) as f64;
    (0..count)
        .map(|t| (actual * t as f64).round() as usize)
        .collect()
}

/// Gaussian importance along one tile axis (σ = tile / 8, peak 1, floored at 1e-3 so that every voxel
/// counts), as nnU-Net weights its tiles.
fn gaussian(tile: usize) -> Vec<f32> {
    if tile <= 1 {
        return vec![1.0; tile];
    }
    let sigma = tile as f64 / 8.0;
    let c = (tile as f64 - 1.0) / 2.0;
    (0..tile)
        .map(|x| {
            let d = x as f64 - c;
            ((-d * d / (2.0 * sigma * sigma)).exp() as f32).max(1e-3)
        })
        .collect()
}

impl Segmenter {
    /// Loads the graph and checks it against the manifest.
    pub fn load(manifest: Manifest, provider: Option<&str>) -> Result<Self> {
        if manifest.family != Family::Segmentation {
            return Err(InferError::Request(format!(
                "{} is a {} model, not segmentation",
                manifest.name,
                manifest.family.as_str()
            )));
        }
        let runtime = super::runtime::get()?;
        let graph = manifest.graph_file()?;
        let session = runtime.session(&graph, provider)?;
        let (side, channels) = (manifest.input.side as i64, manifest.input.channels as i64);
        let mut dims = vec![Some(1), Some(channels)];
        if let Some(d) = manifest.input.depth {
            dims.push(Some(d as i64));
        }
        dims.extend([Some(side), Some(side)]);
        expect_input(&session, &graph, &manifest.input.name, &dims)?;
        expect_output(&session, &graph, manifest.masks_output())?;
        Ok(Self { manifest, session })
    }

    /// True for a 3D (NCDHW) model.
    pub fn is_3d(&self) -> bool {
        self.manifest.input.depth.is_some()
    }

    /// The class name of index `c` (from the manifest, else `class c`).
    pub fn class_name(&self, c: usize) -> String {
        self.manifest
            .outputs
            .classes
            .get(c)
            .cloned()
            .unwrap_or_else(|| format!("class {c}"))
    }

    /// How many tiles [`Segmenter::segment`] runs for `slices` of a volume of `size`.
    pub fn tile_count(&self, size: [usize; 3], slices: &Range<usize>) -> usize {
        let (side, overlap) = (self.manifest.input.side, self.overlap());
        let plane =
            tile_starts(size[0], side, overlap).len() * tile_starts(size[1], side, overlap).len();
        match self.manifest.input.depth {
            Some(d) => plane * tile_starts(size[2], d, overlap).len(),
            None => plane * slices.len(),
        }
    }

    fn overlap(&self) -> f64 {
        self.manifest.input.tile_overlap.unwrap_or(0.5)
    }

    /// Class indices per voxel (i fastest, then j, then k) of `volume` (components averaged): 2D models run on
    /// each slice in `slices` (intensity mapped per slice), 3D models on the whole volume (mapped once).
    /// Voxels outside `slices` are 0. `progress(done, total)` is called after each tile; returning
    /// false stops the run with [`InferError::Cancelled`].
    pub fn segment(
        &mut self,
        volume: &Volume,
        slices: Range<usize>,
        intensity: Intensity,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<u8>> {
        let [nx, ny, nz] = volume.size();
        let slices = if self.is_3d() { 0..nz } else { slices };
        if slices.start >= slices.end || slices.end > nz {
            return Err(InferError::Request(format!(
                "slices {}..{} are not in the image's {nz}",
                slices.start, slices.end
            )));
        }
        let total = self.tile_count([nx, ny, nz], &slices);
        let mut labels = vec![0u8; nx * ny * nz];
        let mut done = 0;
        let plane = nx * ny;
        let read = |k: usize| -> Vec<f32> {
            super::preprocess::plane_values(volume, k)
                .into_iter()
                .map(|v| v as f32)
                .collect()
        };
        if self.is_3d() {
            let mut values: Vec<f32> = Vec::with_capacity(plane * nz);
            for k in 0..nz {
                values.extend(read(k));
            }
            let map = intensity.mapper(&values);
            for v in &mut values {
                *v = map.map(f64::from(*v)) as f32;
            }
            self.run_tiles(&values, [nx, ny, nz], &mut labels, &mut |d| {
                done += d;
                progress(done, total)
            })?;
        } else {
            for k in slices {
                let mut values = read(k);
                let map = intensity.mapper(&values);
                for v in &mut values {
                    *v = map.map(f64::from(*v)) as f32;
                }
                self.run_tiles(
                    &values,
                    [nx, ny, 1],
                    &mut labels[k * plane..(k + 1) * plane],
                    &mut |d| {
                        done += d;
                        progress(done, total)
                    },
                )?;
            }
        }
        Ok(labels)
    }

    /// Tiles a mapped block of `size` (i fastest), blends the class scores and writes the arg-max.
    fn run_tiles(
        &mut self,
        values: &[f32],
        size: [usize; 3],
        labels: &mut [u8],
        tick: &mut dyn FnMut(usize) -> bool,
    ) -> Result<()> {
        let m = &self.manifest;
        let [nx, ny, nz] = size;
        let side = m.input.side;
        let depth = m.input.depth.unwrap_or(1);
        let channels = m.input.channels;
        let overlap = self.overlap();
        let (xs, ys, zs) = (
            tile_starts(nx, side, overlap),
            tile_starts(ny, side, overlap),
            tile_starts(nz, depth, overlap),
        );
        let (gx, gz) = (gaussian(side), gaussian(depth));
        let tile_len = depth * side * side;
        let mut shape = vec![1usize, channels];
        if m.input.depth.is_some() {
            shape.push(depth);
        }
        shape.extend([side, side]);
        let mut input = vec![0f32; channels * tile_len];
        let mut scores: Vec<f32> = Vec::new();
        let mut weights = vec![0f32; nx * ny * nz];
        let mut classes = 0usize;
        let out_name = m.masks_output().to_owned();
        let input_name = m.input.name.clone();
        for &z0 in &zs {
            for &y0 in &ys {
                for &x0 in &xs {
                    // Fill the tile (zero outside the block) and replicate into each channel.
                    input[..tile_len].fill(0.0);
                    for dz in 0..depth.min(nz - z0) {
                        for dy in 0..side.min(ny - y0) {
                            let src = ((z0 + dz) * ny + y0 + dy) * nx + x0;
                            let n = side.min(nx - x0);
                            let dst = (dz * side + dy) * side;
                            input[dst..dst + n].copy_from_slice(&values[src..src + n]);
                        }
                    }
                    for c in 1..channels {
                        input.copy_within(..tile_len, c * tile_len);
                    }
                    let tensor = TensorRef::from_array_view((shape.clone(), &input[..]))
                        .map_err(ort_error)?;
                    let outputs = self
                        .session
                        .run(ort::inputs![input_name.as_str() => tensor])
                        .map_err(ort_error)?;
                    let (out_shape, data) = outputs[out_name.as_str()]
                        .try_extract_tensor::<f32>()
                        .map_err(ort_error)?;
                    let k = data.len() / tile_len;
                    if k == 0 || k * tile_len != data.len() || k > 255 {
                        return Err(InferError::Contract {
                            path: m.path.clone(),
                            message: format!(
                                "output `{out_name}` is {out_shape:?}: expected 1 × classes × the \
                                 input's {} sides",
                                if depth > 1 { "three" } else { "two" }
                            ),
                        });
                    }
                    if classes == 0 {
                        classes = k;
                        scores = vec![0f32; classes * nx * ny * nz];
                    }
                    let (wz, wy, wx) = (nz - z0, ny - y0, nx - x0);
                    for (dz, &g_z) in gz.iter().enumerate().take(wz) {
                        for (dy, &g_y) in gx.iter().enumerate().take(wy) {
                            for (dx, &g_x) in gx.iter().enumerate().take(wx) {
                                let w = g_z * g_y * g_x;
                                let at = ((z0 + dz) * ny + y0 + dy) * nx + x0 + dx;
                                let t = (dz * side + dy) * side + dx;
                                weights[at] += w;
                                for c in 0..classes {
                                    scores[c * nx * ny * nz + at] += w * data[c * tile_len + t];
                                }
                            }
                        }
                    }
                    if !tick(1) {
                        return Err(InferError::Cancelled);
                    }
                }
            }
        }
        let n = nx * ny * nz;
        let threshold = m.threshold() as f32;
        for (at, label) in labels.iter_mut().enumerate().take(n) {
            let w = weights[at].max(f32::MIN_POSITIVE);
            *label = if classes == 1 {
                u8::from(scores[at] / w > threshold)
            } else {
                let mut best = (0usize, f32::NEG_INFINITY);
                for c in 0..classes {
                    let s = scores[c * n + at] / w;
                    if s > best.1 {
                        best = (c, s);
                    }
                }
                best.0 as u8
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_and_end_flush() {
        assert_eq!(tile_starts(10, 64, 0.5), vec![0]);
        assert_eq!(tile_starts(64, 64, 0.5), vec![0]);
        assert_eq!(tile_starts(100, 64, 0.5), vec![0, 18, 36]);
        assert_eq!(
            tile_starts(512, 64, 0.25),
            vec![0, 45, 90, 134, 179, 224, 269, 314, 358, 403, 448]
        );
        assert_eq!(tile_starts(512, 32, 0.5).len(), 31);
        assert_eq!(tile_starts(20, 16, 0.5), vec![0, 4]);
        for (n, t, o) in [(513, 64, 0.5), (1000, 96, 0.0), (77, 32, 0.9)] {
            let s = tile_starts(n, t, o);
            assert_eq!(*s.last().unwrap() + t, n);
            assert!(
                s.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= t),
                "{s:?}"
            );
        }
    }

    #[test]
    fn gaussian_weights_peak_in_the_middle_and_never_vanish() {
        let g = gaussian(64);
        assert_eq!(g.len(), 64);
        assert!((g[31] - g[32]).abs() < 1e-6 && g[31] > 0.99);
        assert!(g[0] >= 1e-3 && g[0] < 0.01);
        assert_eq!(gaussian(1), vec![1.0]);
    }
}
