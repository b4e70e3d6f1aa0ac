//! Sequential DCT JPEG (ISO 10918-1 baseline and extended, Huffman coded) at 8 or 12 bits per
//! sample: the 12-bit form is what DICOM's JPEG Extended (Process 4) holds, and no Rust crate decodes
//! it. Components are returned as decoded, without colour conversion (DICOM 12-bit JPEG is grey).
//!
//! Scan parameters are checked as strictly as libjpeg does: a sequential scan must have Ss=0, Se=63,
//! Ah=Al=0, so streams with a non-conformant scan header are refused, as pydicom/GDCM refuse them.

/// A decoded image: samples interleaved by component, row by row.
pub struct Decoded {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Components per pixel.
    pub components: usize,
    /// Sample precision in bits (8 or 12).
    pub precision: u8,
    /// Samples.
    pub samples: Vec<u16>,
}

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

#[derive(Clone, Default)]
struct Huffman {
    /// (code length, code) → symbol, via per-length ranges.
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Self {
        let mut h = Huffman {
            maxcode: [-1; 18],
            values,
            ..Default::default()
        };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            if n > 0 {
                h.valptr[len] = k;
                h.mincode[len] = code;
                code += n;
                k += n;
                h.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        h
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    td: usize,
    ta: usize,
    /// Decoded samples of the component's full (padded) plane.
    plane: Vec<f32>,
    plane_w: usize,
    pred: i32,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
    hit_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            acc: 0,
            n: 0,
            hit_marker: false,
        }
    }
    fn fill(&mut self) {
        while self.n <= 24 {
            let mut byte = 0u32;
            if !self.hit_marker && self.pos < self.data.len() {
                let b = self.data[self.pos];
                if b == 0xFF {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0);
                    if next == 0x00 {
                        self.pos += 2;
                        byte = 0xFF;
                    } else {
                        self.hit_marker = true;
                    }
                } else {
                    self.pos += 1;
                    byte = b as u32;
                }
            }
            self.acc |= byte << (24 - self.n);
            self.n += 8;
        }
    }
    fn bit(&mut self) -> u32 {
        self.fill();
        let b = self.acc >> 31;
        self.acc <<= 1;
        self.n -= 1;
        b
    }
    fn bits(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        self.fill();
        let v = self.acc >> (32 - count);
        self.acc <<= count;
        self.n -= count;
        v
    }
    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit() as i32;
            if code <= h.maxcode[len] {
                let i = (h.valptr[len] + code - h.mincode[len]) as usize;
                return h
                    .values
                    .get(i)
                    .copied()
                    .ok_or_else(|| "corrupt Huffman code".to_string());
            }
        }
        Err("corrupt Huffman code".into())
    }
    /// Skips to the byte after the next RSTn marker.
    fn restart(&mut self) -> Result<(), String> {
        self.acc = 0;
        self.n = 0;
        self.hit_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return Ok(());
            }
            self.pos += 1;
        }
        Err("missing restart marker".into())
    }
}

fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

/// 8×8 inverse DCT (separable, f32 with an f64-built table).
struct Idct {
    c: [[f32; 8]; 8],
}

impl Idct {
    fn new() -> Self {
        let mut c = [[0f32; 8]; 8];
        for (x, row) in c.iter_mut().enumerate() {
            for (u, v) in row.iter_mut().enumerate() {
                let cu = if u == 0 {
                    std::f64::consts::FRAC_1_SQRT_2
                } else {
                    1.0
                };
                *v = (cu * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()
                    / 2.0) as f32;
            }
        }
        Idct { c }
    }
    fn run(&self, coef: &[f32; 64], out: &mut [f32; 64]) {
        let mut tmp = [0f32; 64];
        for y in 0..8 {
            for u in 0..8 {
                let mut s = 0.0;
                for v in 0..8 {
                    s += self.c[y][v] * coef[v * 8 + u];
                }
                tmp[y * 8 + u] = s;
            }
        }
        for y in 0..8 {
            for x in 0..8 {
                let mut s = 0.0;
                for u in 0..8 {
                    s += self.c[x][u] * tmp[y * 8 + u];
                }
                out[y * 8 + x] = s;
            }
        }
    }
}

fn be16(d: &[u8], at: usize) -> Result<usize, String> {
    d.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| "stream ends inside a marker".to_string())
}

/// Decodes a sequential Huffman JPEG stream of 8- or 12-bit precision.
pub fn decode(data: &[u8]) -> Result<Decoded, String> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err("not a JPEG stream (no SOI marker)".into());
    }
    let mut qt = [[0f32; 64]; 4];
    let mut dc = vec![Huffman::default(); 4];
    let mut ac = vec![Huffman::default(); 4];
    let mut comps: Vec<Component> = Vec::new();
    let (mut width, mut height, mut precision) = (0usize, 0usize, 8u8);
    let mut restart_interval = 0usize;
    let mut pos = 2;
    let mut scanned = false;
    let idct = Idct::new();
    while pos + 4 <= data.len() {
        if data[pos] != 0xFF {
            pos += 1;
            continue;
        }
        let marker = data[pos + 1];
        if marker == 0xFF {
            pos += 1;
            continue;
        }
        if marker == 0xD9 {
            break;
        }
        let len = be16(data, pos + 2)?;
        let seg = data
            .get(pos + 4..pos + 2 + len)
            .ok_or("stream ends inside a segment")?;
        match marker {
            0xDB => {
                let mut i = 0;
                while i < seg.len() {
                    let (pq, tq) = ((seg[i] >> 4) as usize, (seg[i] & 15) as usize);
                    i += 1;
                    if tq > 3 {
                        return Err(format!("quantisation table {tq} out of range"));
                    }
                    for k in 0..64 {
                        let v = if pq == 0 {
                            *seg.get(i + k).ok_or("short DQT")? as f32
                        } else {
                            be16(seg, i + 2 * k)? as f32
                        };
                        qt[tq][ZIGZAG[k]] = v;
                    }
                    i += if pq == 0 { 64 } else { 128 };
                }
            }
            0xC4 => {
                let mut i = 0;
                while i + 17 <= seg.len() {
                    let (tc, th) = (seg[i] >> 4, (seg[i] & 15) as usize);
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(&seg[i + 1..i + 17]);
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg.get(i + 17..i + 17 + total).ok_or("short DHT")?.to_vec();
                    if th > 3 {
                        return Err(format!("Huffman table {th} out of range"));
                    }
                    let table = Huffman::new(&counts, values);
                    if tc == 0 {
                        dc[th] = table
                    } else {
                        ac[th] = table
                    }
                    i += 17 + total;
                }
            }
            0xC0 | 0xC1 => {
                precision = *seg.first().ok_or("short SOF")?;
                if precision != 8 && precision != 12 {
                    return Err(format!("sample precision {precision} is not 8 or 12"));
                }
                height = be16(seg, 1)?;
                width = be16(seg, 3)?;
                let nf = *seg.get(5).ok_or("short SOF")? as usize;
                if width == 0 || height == 0 || nf == 0 || nf > 4 {
                    return Err(format!(
                        "frame header {width}×{height} with {nf} components"
                    ));
                }
                for c in 0..nf {
                    let b = seg.get(6 + 3 * c..9 + 3 * c).ok_or("short SOF")?;
                    let (h, v) = ((b[1] >> 4) as usize, (b[1] & 15) as usize);
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || b[2] > 3 {
                        return Err("invalid component sampling in SOF".into());
                    }
                    comps.push(Component {
                        id: b[0],
                        h,
                        v,
                        tq: b[2] as usize,
                        td: 0,
                        ta: 0,
                        plane: Vec::new(),
                        plane_w: 0,
                        pred: 0,
                    });
                }
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(format!(
                    "JPEG process SOF{} is not sequential Huffman DCT",
                    marker - 0xC0
                ));
            }
            0xDD => restart_interval = be16(seg, 0)?,
            0xDA => {
                if comps.is_empty() {
                    return Err("scan before frame header".into());
                }
                let ns = *seg.first().ok_or("short SOS")? as usize;
                let mut scan = Vec::new();
                for i in 0..ns {
                    let b = seg.get(1 + 2 * i..3 + 2 * i).ok_or("short SOS")?;
                    let c = comps
                        .iter()
                        .position(|c| c.id == b[0])
                        .ok_or("scan names an unknown component")?;
                    comps[c].td = (b[1] >> 4) as usize;
                    comps[c].ta = (b[1] & 15) as usize;
                    if comps[c].td > 3 || comps[c].ta > 3 {
                        return Err("scan names a Huffman table out of range".into());
                    }
                    scan.push(c);
                }
                let p = seg.get(1 + 2 * ns..4 + 2 * ns).ok_or("short SOS")?;
                if p[0] != 0 || p[1] != 63 || p[2] != 0 {
                    return Err(format!(
                        "invalid SOS parameters for sequential JPEG (Ss={}, Se={}, Ah={}, Al={})",
                        p[0],
                        p[1],
                        p[2] >> 4,
                        p[2] & 15
                    ));
                }
                let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
                let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
                let (mcu_w, mcu_h) = (8 * hmax, 8 * vmax);
                let (mcus_x, mcus_y) = (width.div_ceil(mcu_w), height.div_ceil(mcu_h));
                for c in comps.iter_mut() {
                    c.plane_w = mcus_x * c.h * 8;
                    c.plane = vec![0.0; c.plane_w * mcus_y * c.v * 8];
                    c.pred = 0;
                }
                let mut bits = Bits::new(data, pos + 2 + len);
                let mut coef = [0f32; 64];
                let mut block = [0f32; 64];
                let level = (1i32 << (precision - 1)) as f32;
                // Non-interleaved single-component scans walk blocks, not MCUs.
                let single = scan.len() == 1;
                let (units_x, units_y) = if single {
                    let c = &comps[scan[0]];
                    (
                        (width * c.h).div_ceil(hmax * 8),
                        (height * c.v).div_ceil(vmax * 8),
                    )
                } else {
                    (mcus_x, mcus_y)
                };
                let mut count = 0usize;
                for uy in 0..units_y {
                    for ux in 0..units_x {
                        if restart_interval > 0
                            && count > 0
                            && count.is_multiple_of(restart_interval)
                        {
                            bits.restart()?;
                            for c in comps.iter_mut() {
                                c.pred = 0;
                            }
                        }
                        count += 1;
                        for &ci in &scan {
                            let (bh, bv) = if single {
                                (1, 1)
                            } else {
                                (comps[ci].h, comps[ci].v)
                            };
                            for by in 0..bv {
                                for bx in 0..bh {
                                    let c = &mut comps[ci];
                                    coef.fill(0.0);
                                    let s = bits.decode(&dc[c.td])? as u32;
                                    if s > 16 {
                                        return Err("corrupt DC coefficient".into());
                                    }
                                    c.pred += extend(bits.bits(s), s);
                                    coef[0] = c.pred as f32 * qt[c.tq][0];
                                    let mut k = 1;
                                    while k < 64 {
                                        let rs = bits.decode(&ac[c.ta])?;
                                        let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
                                        if s == 0 {
                                            if r == 15 {
                                                k += 16;
                                                continue;
                                            }
                                            break;
                                        }
                                        k += r;
                                        if k > 63 {
                                            return Err("corrupt AC coefficients".into());
                                        }
                                        let z = ZIGZAG[k];
                                        coef[z] = extend(bits.bits(s), s) as f32 * qt[c.tq][z];
                                        k += 1;
                                    }
                                    idct.run(&coef, &mut block);
                                    let (x0, y0) = if single {
                                        (ux * 8, uy * 8)
                                    } else {
                                        ((ux * c.h + bx) * 8, (uy * c.v + by) * 8)
                                    };
                                    for y in 0..8 {
                                        let row = (y0 + y) * c.plane_w;
                                        if row + x0 + 8 > c.plane.len() {
                                            continue;
                                        }
                                        for x in 0..8 {
                                            c.plane[row + x0 + x] = block[y * 8 + x] + level;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                scanned = true;
                pos = bits.pos;
                continue;
            }
            _ => {}
        }
        pos += 2 + len;
    }
    if !scanned {
        return Err("no scan in the JPEG stream".into());
    }
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let max = ((1u32 << precision) - 1) as f32;
    let n = comps.len();
    let mut samples = vec![0u16; width * height * n];
    for (ci, c) in comps.iter().enumerate() {
        for y in 0..height {
            let sy = y * c.v / vmax;
            for x in 0..width {
                let sx = x * c.h / hmax;
                let v = c.plane.get(sy * c.plane_w + sx).copied().unwrap_or(0.0);
                samples[(y * width + x) * n + ci] = v.round().clamp(0.0, max) as u16;
            }
        }
    }
    Ok(Decoded {
        width,
        height,
        components: n,
        precision,
        samples,
    })
}
