//! Sparse label voxels on an image grid, in 64×64 tiles per slice, and a run-length codec for the
//! deltas that undo keeps (a brush stroke stores the touched box, never the whole volume).

use std::collections::BTreeMap;

/// Tile edge in voxels.
pub const TILE: usize = 64;

/// Key of a tile: (slice k, tile row, tile column).
pub type TileKey = (u32, u32, u32);

/// Label voxels of one region (0 = outside); tiles that are all zero are not stored.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct MaskTiles {
    size: [usize; 3],
    #[serde(with = "tiles_as_list")]
    tiles: BTreeMap<TileKey, Vec<u8>>,
}

/// Tiles as a list of (key, voxels) pairs (JSON object keys must be strings).
mod tiles_as_list {
    use super::TileKey;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        t: &BTreeMap<TileKey, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        t.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<TileKey, Vec<u8>>, D::Error> {
        Ok(Vec::<(TileKey, Vec<u8>)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

/// A half-open voxel box `[min, max)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct VoxelBox {
    /// First voxel (i, j, k).
    pub min: [usize; 3],
    /// One past the last voxel.
    pub max: [usize; 3],
}

impl VoxelBox {
    /// Voxels inside.
    pub fn len(&self) -> usize {
        (0..3)
            .map(|a| self.max[a].saturating_sub(self.min[a]))
            .product()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when the box lies inside a grid of `size`.
    pub fn fits(&self, size: [usize; 3]) -> bool {
        (0..3).all(|a| self.min[a] <= self.max[a] && self.max[a] <= size[a])
    }
}

impl MaskTiles {
    /// An empty mask on a grid of `size`.
    pub fn new(size: [usize; 3]) -> Self {
        Self {
            size,
            tiles: BTreeMap::new(),
        }
    }

    /// The grid size.
    pub fn size(&self) -> [usize; 3] {
        self.size
    }

    /// The value at a voxel (0 outside the grid).
    pub fn get(&self, ijk: [usize; 3]) -> u8 {
        if (0..3).any(|a| ijk[a] >= self.size[a]) {
            return 0;
        }
        let key = (
            ijk[2] as u32,
            (ijk[1] / TILE) as u32,
            (ijk[0] / TILE) as u32,
        );
        self.tiles
            .get(&key)
            .map_or(0, |t| t[(ijk[1] % TILE) * TILE + ijk[0] % TILE])
    }

    /// Values of a box, x fastest.
    pub fn read_box(&self, b: VoxelBox) -> Vec<u8> {
        let mut out = Vec::with_capacity(b.len());
        for k in b.min[2]..b.max[2] {
            for j in b.min[1]..b.max[1] {
                for i in b.min[0]..b.max[0] {
                    out.push(self.get([i, j, k]));
                }
            }
        }
        out
    }

    /// Keys of the tiles a box touches.
    pub fn tiles_touched(b: VoxelBox) -> Vec<TileKey> {
        let mut keys = Vec::new();
        if b.is_empty() {
            return keys;
        }
        for k in b.min[2]..b.max[2] {
            for ty in b.min[1] / TILE..=(b.max[1] - 1) / TILE {
                for tx in b.min[0] / TILE..=(b.max[0] - 1) / TILE {
                    keys.push((k as u32, ty as u32, tx as u32));
                }
            }
        }
        keys
    }

    /// Writes a box of values (x fastest); tiles left all zero are dropped. The box must fit the grid.
    pub fn write_box(&mut self, b: VoxelBox, values: &[u8]) {
        debug_assert_eq!(values.len(), b.len());
        if !b.fits(self.size) || values.len() != b.len() {
            return;
        }
        let mut n = 0;
        for k in b.min[2]..b.max[2] {
            for j in b.min[1]..b.max[1] {
                for i in b.min[0]..b.max[0] {
                    let v = values[n];
                    n += 1;
                    let key = (k as u32, (j / TILE) as u32, (i / TILE) as u32);
                    let at = (j % TILE) * TILE + i % TILE;
                    match self.tiles.get_mut(&key) {
                        Some(t) => t[at] = v,
                        None if v != 0 => {
                            let mut t = vec![0u8; TILE * TILE];
                            t[at] = v;
                            self.tiles.insert(key, t);
                        }
                        None => {}
                    }
                }
            }
        }
        for key in Self::tiles_touched(b) {
            if self
                .tiles
                .get(&key)
                .is_some_and(|t| t.iter().all(|&v| v == 0))
            {
                self.tiles.remove(&key);
            }
        }
    }

    /// Masks of every non-zero value of a dense label volume (x fastest), built tile by tile in one
    /// pass: value → mask with 1 where the volume holds that value.
    pub fn split_labels<T: Copy + Into<u64>>(
        size: [usize; 3],
        values: &[T],
    ) -> BTreeMap<u64, MaskTiles> {
        let mut out: BTreeMap<u64, MaskTiles> = BTreeMap::new();
        if values.len() != size.iter().product::<usize>() {
            return out;
        }
        for (n, &v) in values.iter().enumerate() {
            let v: u64 = v.into();
            if v == 0 {
                continue;
            }
            let (i, j, k) = (
                n % size[0],
                (n / size[0]) % size[1],
                n / (size[0] * size[1]),
            );
            let m = out.entry(v).or_insert_with(|| MaskTiles::new(size));
            let tile = m
                .tiles
                .entry((k as u32, (j / TILE) as u32, (i / TILE) as u32))
                .or_insert_with(|| vec![0u8; TILE * TILE]);
            tile[(j % TILE) * TILE + i % TILE] = 1;
        }
        out
    }

    /// Writes `value` into a dense volume (x fastest) wherever this mask is set.
    pub fn paint_into<T: Copy>(&self, dense: &mut [T], value: T) {
        let [x, y, z] = self.size;
        if dense.len() != x * y * z {
            return;
        }
        for (&(k, ty, tx), t) in &self.tiles {
            for (n, &v) in t.iter().enumerate() {
                let (i, j) = (tx as usize * TILE + n % TILE, ty as usize * TILE + n / TILE);
                if v != 0 && i < x && j < y && (k as usize) < z {
                    dense[(k as usize * y + j) * x + i] = value;
                }
            }
        }
    }

    /// Stored tiles.
    pub fn tiles(&self) -> &BTreeMap<TileKey, Vec<u8>> {
        &self.tiles
    }

    /// One tile's values, if stored.
    pub fn tile(&self, key: TileKey) -> Option<&[u8]> {
        self.tiles.get(&key).map(Vec::as_slice)
    }

    /// Sets a whole tile (as read back from storage); all-zero or wrongly sized tiles are not kept.
    pub fn set_tile(&mut self, key: TileKey, values: Vec<u8>) {
        if values.len() == TILE * TILE && values.iter().any(|&v| v != 0) {
            self.tiles.insert(key, values);
        } else {
            self.tiles.remove(&key);
        }
    }

    /// Voxels with a non-zero value.
    pub fn count(&self) -> usize {
        self.tiles
            .values()
            .map(|t| t.iter().filter(|&&v| v != 0).count())
            .sum()
    }

    /// Whether slice `k` has a non-zero voxel (reads only that slice's tiles).
    pub fn touches_slice(&self, k: usize) -> bool {
        let Ok(k) = u32::try_from(k) else {
            return false;
        };
        self.tiles
            .range((k, 0, 0)..=(k, u32::MAX, u32::MAX))
            .any(|(_, t)| t.iter().any(|&v| v != 0))
    }

    /// The smallest box holding every non-zero voxel, if any.
    pub fn bounds(&self) -> Option<VoxelBox> {
        let mut min = [usize::MAX; 3];
        let mut max = [0usize; 3];
        for (&(k, ty, tx), t) in &self.tiles {
            for (n, &v) in t.iter().enumerate() {
                if v != 0 {
                    let p = [
                        tx as usize * TILE + n % TILE,
                        ty as usize * TILE + n / TILE,
                        k as usize,
                    ];
                    for a in 0..3 {
                        min[a] = min[a].min(p[a]);
                        max[a] = max[a].max(p[a] + 1);
                    }
                }
            }
        }
        (min[0] != usize::MAX).then_some(VoxelBox { min, max })
    }
}

/// Run-length encodes bytes as (varint run length, value) pairs.
pub fn rle_encode(values: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let v = values[i];
        let mut run = 1usize;
        while i + run < values.len() && values[i + run] == v {
            run += 1;
        }
        let mut r = run;
        loop {
            let byte = (r & 0x7f) as u8;
            r >>= 7;
            if r == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.push(v);
        i += run;
    }
    out
}

/// Decodes [`rle_encode`] output; `None` when it is malformed or longer than `limit` values.
pub fn rle_decode(data: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let (mut run, mut shift) = (0usize, 0);
        loop {
            let b = *data.get(i)?;
            i += 1;
            run |= ((b & 0x7f) as usize).checked_shl(shift)?;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 63 {
                return None;
            }
        }
        let v = *data.get(i)?;
        i += 1;
        if out.len() + run > limit {
            return None;
        }
        out.extend(std::iter::repeat_n(v, run));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_drop_empty_tiles() {
        let mut m = MaskTiles::new([200, 150, 3]);
        let b = VoxelBox {
            min: [60, 60, 1],
            max: [70, 66, 2],
        };
        m.write_box(b, &vec![1; b.len()]);
        assert_eq!(m.count(), 60);
        assert_eq!(m.tiles().len(), 4, "the box straddles four tiles");
        assert_eq!(m.get([63, 63, 1]), 1);
        assert_eq!(m.get([59, 63, 1]), 0);
        assert_eq!(m.bounds(), Some(b));
        assert!(m.touches_slice(1) && !m.touches_slice(0) && !m.touches_slice(2));
        m.write_box(b, &vec![0; b.len()]);
        assert!(m.tiles().is_empty());
        assert_eq!(m.bounds(), None);
    }

    #[test]
    fn split_and_paint_back() {
        let size = [70, 3, 2];
        let mut dense = vec![0u16; 70 * 3 * 2];
        dense[5] = 3;
        dense[69] = 3;
        dense[70 * 3 + 66] = 700;
        let masks = MaskTiles::split_labels(size, &dense);
        assert_eq!(masks.keys().copied().collect::<Vec<_>>(), vec![3, 700]);
        assert_eq!((masks[&3].count(), masks[&700].count()), (2, 1));
        let mut back = vec![0u16; dense.len()];
        for (v, m) in &masks {
            m.paint_into(&mut back, *v as u16);
        }
        assert_eq!(back, dense);
    }

    #[test]
    fn rle_round_trip_and_limits() {
        let mut v = vec![0u8; 1000];
        v[500..700].fill(3);
        v[999] = 1;
        let e = rle_encode(&v);
        assert!(e.len() < 12);
        assert_eq!(rle_decode(&e, 1000).unwrap(), v);
        assert!(rle_decode(&e, 999).is_none());
        assert!(rle_decode(&[0x80], 10).is_none());
        assert_eq!(rle_decode(&[], 10).unwrap(), Vec::<u8>::new());
    }
}
