//! NIfTI-1 and NIfTI-2 reader (`.nii`, `.nii.gz`), both byte orders.
//!
//! Geometry follows nibabel: the sform when `sform_code > 0`, else the qform when `qform_code > 0`,
//! else the voxel sizes alone. NIfTI's RAS+ world is converted to LPS by negating x and y.
//! `scl_slope`/`scl_inter` become the volume's rescale (ignored when the slope is 0 or not finite).

use super::{IoError, Result};
use crate::core::geometry::{Mat3, Vec3, from_columns, norm};
use crate::core::{Photometric, Rescale, Volume, VolumeMeta, Voxels};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Parsed NIfTI header: what the reader needs, in f64/usize whatever the version.
#[derive(Clone, Debug)]
pub struct NiftiHeader {
    /// 1 or 2.
    pub version: u8,
    /// Stored little endian.
    pub little_endian: bool,
    /// `dim[0..8]`.
    pub dim: [i64; 8],
    /// NIfTI datatype code.
    pub datatype: i16,
    /// `pixdim[0..8]`.
    pub pixdim: [f64; 8],
    /// Byte offset of the voxel data.
    pub vox_offset: u64,
    /// Value scale.
    pub scl_slope: f64,
    /// Value offset.
    pub scl_inter: f64,
    /// qform code.
    pub qform_code: i32,
    /// sform code.
    pub sform_code: i32,
    /// Quaternion b, c, d.
    pub quatern: [f64; 3],
    /// qoffset x, y, z.
    pub qoffset: [f64; 3],
    /// sform rows x, y, z.
    pub srow: [[f64; 4]; 3],
    /// Description text.
    pub descrip: String,
}

struct Bytes<'a> {
    b: &'a [u8],
    le: bool,
}

impl Bytes<'_> {
    fn arr<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[at..at + N]);
        a
    }
    fn i16(&self, at: usize) -> i16 {
        let a = self.arr(at);
        if self.le {
            i16::from_le_bytes(a)
        } else {
            i16::from_be_bytes(a)
        }
    }
    fn i32(&self, at: usize) -> i32 {
        let a = self.arr(at);
        if self.le {
            i32::from_le_bytes(a)
        } else {
            i32::from_be_bytes(a)
        }
    }
    fn i64(&self, at: usize) -> i64 {
        let a = self.arr(at);
        if self.le {
            i64::from_le_bytes(a)
        } else {
            i64::from_be_bytes(a)
        }
    }
    fn f32(&self, at: usize) -> f64 {
        let a = self.arr(at);
        (if self.le {
            f32::from_le_bytes(a)
        } else {
            f32::from_be_bytes(a)
        }) as f64
    }
    fn f64(&self, at: usize) -> f64 {
        let a = self.arr(at);
        if self.le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        }
    }
    fn text(&self, at: usize, len: usize) -> String {
        let s = &self.b[at..at + len];
        let end = s.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&s[..end]).trim().to_string()
    }
}

fn bad(path: &Path, what: impl Into<String>) -> IoError {
    IoError::Nifti {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

impl NiftiHeader {
    /// Parses a header from its first bytes (at least 348 for NIfTI-1, 540 for NIfTI-2).
    pub fn parse(b: &[u8], path: &Path) -> Result<Self> {
        if b.len() < 348 {
            return Err(bad(
                path,
                format!("file is {} bytes, shorter than a NIfTI header", b.len()),
            ));
        }
        let first = [b[0], b[1], b[2], b[3]];
        let (version, le) = match (i32::from_le_bytes(first), i32::from_be_bytes(first)) {
            (348, _) => (1, true),
            (_, 348) => (1, false),
            (540, _) => (2, true),
            (_, 540) => (2, false),
            (a, _) => {
                return Err(bad(
                    path,
                    format!("sizeof_hdr is {a}, expected 348 (NIfTI-1) or 540 (NIfTI-2)"),
                ));
            }
        };
        let r = Bytes { b, le };
        if version == 1 {
            let magic = &b[344..348];
            if magic != b"n+1\0" && magic != b"ni1\0" {
                return Err(bad(
                    path,
                    format!(
                        "magic {magic:?} is not \"n+1\" or \"ni1\" (Analyze 7.5 files are not supported)"
                    ),
                ));
            }
            let mut dim = [0i64; 8];
            let mut pixdim = [0f64; 8];
            for i in 0..8 {
                dim[i] = r.i16(40 + 2 * i) as i64;
                pixdim[i] = r.f32(76 + 4 * i);
            }
            let vox_offset = r.f32(108);
            Ok(Self {
                version,
                little_endian: le,
                dim,
                datatype: r.i16(70),
                pixdim,
                vox_offset: if magic == b"ni1\0" {
                    0
                } else {
                    vox_offset.max(352.0) as u64
                },
                scl_slope: r.f32(112),
                scl_inter: r.f32(116),
                qform_code: r.i16(252) as i32,
                sform_code: r.i16(254) as i32,
                quatern: [r.f32(256), r.f32(260), r.f32(264)],
                qoffset: [r.f32(268), r.f32(272), r.f32(276)],
                srow: [0, 1, 2].map(|row| [0, 1, 2, 3].map(|c| r.f32(280 + 16 * row + 4 * c))),
                descrip: r.text(148, 80),
            })
        } else {
            if b.len() < 540 {
                return Err(bad(
                    path,
                    format!("file is {} bytes, shorter than a NIfTI-2 header", b.len()),
                ));
            }
            if &b[4..7] != b"n+2" && &b[4..7] != b"ni2" {
                return Err(bad(path, "NIfTI-2 magic is not \"n+2\" or \"ni2\""));
            }
            let mut dim = [0i64; 8];
            let mut pixdim = [0f64; 8];
            for i in 0..8 {
                dim[i] = r.i64(16 + 8 * i);
                pixdim[i] = r.f64(104 + 8 * i);
            }
            let vox_offset = r.i64(168);
            if vox_offset < 0 {
                return Err(bad(path, format!("vox_offset {vox_offset} is negative")));
            }
            Ok(Self {
                version,
                little_endian: le,
                dim,
                datatype: r.i16(12),
                pixdim,
                vox_offset: if &b[4..7] == b"ni2" {
                    0
                } else {
                    (vox_offset as u64).max(544)
                },
                scl_slope: r.f64(176),
                scl_inter: r.f64(184),
                qform_code: r.i32(344),
                sform_code: r.i32(348),
                quatern: [r.f64(352), r.f64(360), r.f64(368)],
                qoffset: [r.f64(376), r.f64(384), r.f64(392)],
                srow: [0, 1, 2].map(|row| [0, 1, 2, 3].map(|c| r.f64(400 + 32 * row + 8 * c))),
                descrip: r.text(240, 80),
            })
        }
    }

    /// Voxel grid `[x, y, z]` of one 3D volume.
    pub fn size(&self) -> [usize; 3] {
        let n = self.dim[0].clamp(1, 7) as usize;
        [1, 2, 3].map(|i| {
            if i <= n {
                self.dim[i].max(1) as usize
            } else {
                1
            }
        })
    }

    /// Number of 3D volumes (product of dims 4..7).
    pub fn volume_count(&self) -> usize {
        let n = self.dim[0].clamp(1, 7) as usize;
        (4..=n).map(|i| self.dim[i].max(1) as usize).product()
    }

    fn check(&self, path: &Path) -> Result<()> {
        if !(1..=7).contains(&self.dim[0]) {
            return Err(bad(path, format!("dim[0] = {} is not 1..7", self.dim[0])));
        }
        for i in 1..=self.dim[0] as usize {
            if self.dim[i] < 1 {
                return Err(bad(
                    path,
                    format!("dim[{i}] = {} is not positive", self.dim[i]),
                ));
            }
        }
        Ok(())
    }

    /// `world_from_voxel` in RAS (nibabel's `affine`): rows of the 3×4 matrix.
    pub fn affine_ras(&self) -> [[f64; 4]; 3] {
        if self.sform_code > 0 {
            return self.srow;
        }
        let vox = [self.pixdim[1], self.pixdim[2], self.pixdim[3]]
            .map(|v| if v == 0.0 { 1.0 } else { v.abs() });
        if self.qform_code > 0 {
            let [b, c, d] = self.quatern;
            let w2 = 1.0 - (b * b + c * c + d * d);
            let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
            let r = [
                [
                    a * a + b * b - c * c - d * d,
                    2.0 * (b * c - a * d),
                    2.0 * (b * d + a * c),
                ],
                [
                    2.0 * (b * c + a * d),
                    a * a + c * c - b * b - d * d,
                    2.0 * (c * d - a * b),
                ],
                [
                    2.0 * (b * d - a * c),
                    2.0 * (c * d + a * b),
                    a * a + d * d - c * c - b * b,
                ],
            ];
            let qfac = if self.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
            let s = [vox[0], vox[1], vox[2] * qfac];
            return [0, 1, 2].map(|row| {
                [
                    r[row][0] * s[0],
                    r[row][1] * s[1],
                    r[row][2] * s[2],
                    self.qoffset[row],
                ]
            });
        }
        // Neither form set: nibabel's fallback is a centred grid; NIfTI's method 1 is the scaled identity.
        // We follow nibabel so that both agree on such files.
        let n = self.size();
        let c = [0, 1, 2].map(|i| (n[i] as f64 - 1.0) / 2.0);
        [
            [-vox[0], 0.0, 0.0, vox[0] * c[0]],
            [0.0, vox[1], 0.0, -vox[1] * c[1]],
            [0.0, 0.0, vox[2], -vox[2] * c[2]],
        ]
    }

    /// Spacing, origin and direction in LPS.
    pub fn geometry_lps(&self) -> (Vec3, Vec3, Mat3) {
        let a = self.affine_ras();
        // RAS -> LPS: negate rows x and y.
        let lps = |row: usize, c: usize| if row < 2 { -a[row][c] } else { a[row][c] };
        let cols: [Vec3; 3] = [0, 1, 2].map(|c| [lps(0, c), lps(1, c), lps(2, c)]);
        let spacing = cols.map(norm);
        let dir_cols: [Vec3; 3] = [0, 1, 2].map(|c| {
            let s = if spacing[c] > 0.0 { spacing[c] } else { 1.0 };
            cols[c].map(|x| x / s)
        });
        let direction = from_columns(dir_cols[0], dir_cols[1], dir_cols[2]);
        (spacing, [lps(0, 3), lps(1, 3), lps(2, 3)], direction)
    }

    fn rescale(&self) -> Rescale {
        if self.scl_slope == 0.0 || !self.scl_slope.is_finite() {
            return Rescale::IDENTITY;
        }
        Rescale {
            slope: self.scl_slope,
            intercept: if self.scl_inter.is_finite() {
                self.scl_inter
            } else {
                0.0
            },
        }
    }
}

/// Stored type of a datatype code: (bytes per value, components).
fn datatype_layout(code: i16) -> Option<(usize, usize)> {
    Some(match code {
        2 | 256 => (1, 1),
        4 | 512 => (2, 1),
        8 | 768 | 16 => (4, 1),
        64 | 1024 | 1280 => (8, 1),
        128 => (1, 3),
        2304 => (1, 4),
        _ => return None,
    })
}

fn datatype_name(code: i16) -> String {
    match code {
        32 => "complex64".into(),
        1792 => "complex128".into(),
        1536 => "float128".into(),
        2048 => "complex256".into(),
        1 => "binary".into(),
        c => format!("code {c}"),
    }
}

fn start_of(header: &NiftiHeader, index: usize, n_bytes: usize) -> u64 {
    header.vox_offset + (index as u64) * n_bytes as u64
}

/// The whole compressed file, when it is one gzip member whose uncompressed size (ISIZE) shows that
/// the requested volume is most of it: then one libdeflate pass beats streaming. Otherwise `None`
/// (stream with flate2): multi-volume files read one volume, and ISIZE wraps above 4 GiB.
fn gzip_for_one_pass(path: &Path, start: u64, n_bytes: usize) -> Result<Option<Vec<u8>>> {
    let is_gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    if !is_gz {
        return Ok(None);
    }
    let data = std::fs::read(path).map_err(|e| IoError::read(path, e))?;
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b {
        return Ok(None);
    }
    let n = data.len();
    let isize = u32::from_le_bytes([data[n - 4], data[n - 3], data[n - 2], data[n - 1]]) as u64;
    let end = start + n_bytes as u64;
    if isize < end || isize - end > (n_bytes as u64) / 4 + 65_536 {
        return Ok(None);
    }
    Ok(Some(data))
}

/// Inflates a whole gzip file into a typed buffer and moves volume bytes `start..` to its front.
/// `None` when libdeflate cannot (several members, a wrong ISIZE): the caller streams instead.
fn inflate_volume<T: bytemuck::Pod + Default>(
    gz: &[u8],
    start: usize,
    n_values: usize,
    path: &Path,
) -> Result<Option<Vec<T>>> {
    let n = gz.len();
    let isize = u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]) as usize;
    let size = std::mem::size_of::<T>();
    let mut values: Vec<T> = vec![T::default(); isize.div_ceil(size)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    let mut inflater = libdeflater::Decompressor::new();
    let Ok(written) = inflater.gzip_decompress(gz, bytes) else {
        return Ok(None);
    };
    let n_bytes = n_values * size;
    if written < start + n_bytes {
        return Err(bad(
            path,
            format!(
                "file ends before the end of the voxel data ({written} of {} bytes)",
                start + n_bytes
            ),
        ));
    }
    bytes.copy_within(start..start + n_bytes, 0);
    values.truncate(n_values);
    values.shrink_to_fit();
    Ok(Some(values))
}

/// Facts about a NIfTI file that `voxmark info` lists besides the volume.
#[derive(Clone, Debug)]
pub struct NiftiFile {
    /// The header.
    pub header: NiftiHeader,
    /// The requested 3D volume.
    pub volume: Volume,
}

fn open_stream(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|e| IoError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 2];
    let n = reader
        .read(&mut magic)
        .map_err(|e| IoError::read(path, e))?;
    let prefix = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(prefix)))
    } else {
        Ok(Box::new(prefix))
    }
}

fn read_exact_or(path: &Path, r: &mut dyn Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(path, format!("file ends before the {what}"))
        } else {
            IoError::read(path, e)
        }
    })
}

/// Reads 3D volume `index` (0-based) of a NIfTI file.
pub fn read(path: &Path, index: usize) -> Result<NiftiFile> {
    let mut stream = open_stream(path)?;
    let mut head = vec![0u8; 540];
    read_exact_or(
        path,
        &mut stream,
        &mut head[..348],
        "end of the header (348 bytes)",
    )?;
    let mut got = 348;
    let first = [head[0], head[1], head[2], head[3]];
    if i32::from_le_bytes(first) == 540 || i32::from_be_bytes(first) == 540 {
        read_exact_or(
            path,
            &mut stream,
            &mut head[348..540],
            "end of the NIfTI-2 header (540 bytes)",
        )?;
        got = 540;
    }
    head.truncate(got);
    let header = NiftiHeader::parse(&head, path)?;
    header.check(path)?;
    if header.vox_offset == 0 {
        return Err(bad(
            path,
            "detached header/image pairs (.hdr/.img) are not supported",
        ));
    }
    let (bytes, components) = datatype_layout(header.datatype).ok_or_else(|| {
        bad(
            path,
            format!(
                "datatype {} is not supported",
                datatype_name(header.datatype)
            ),
        )
    })?;
    let count = header.volume_count();
    if index >= count {
        return Err(bad(
            path,
            format!("volume {index} requested, the file has {count}"),
        ));
    }
    let size = header.size();
    let n_values = size
        .iter()
        .try_fold(components, |a, &s| a.checked_mul(s))
        .ok_or_else(|| bad(path, format!("size {size:?} overflows")))?;
    let n_bytes = n_values
        .checked_mul(bytes)
        .ok_or_else(|| bad(path, format!("size {size:?} overflows")))?;
    // Skip to the volume.
    if header.vox_offset < got as u64 {
        return Err(bad(
            path,
            format!("vox_offset {} lies inside the header", header.vox_offset),
        ));
    }
    let skip = (header.vox_offset - got as u64)
        .checked_add((index as u64) * n_bytes as u64)
        .ok_or_else(|| bad(path, "offset overflows"))?;
    let whole_gzip = gzip_for_one_pass(path, start_of(&header, index, n_bytes), n_bytes)?;
    let skip_to_volume = |stream: &mut Box<dyn Read>| -> Result<()> {
        let skipped = std::io::copy(&mut stream.take(skip), &mut std::io::sink())
            .map_err(|e| IoError::read(path, e))?;
        if skipped < skip {
            return Err(bad(
                path,
                format!("file ends before vox_offset {}", header.vox_offset),
            ));
        }
        Ok(())
    };
    if whole_gzip.is_none() {
        skip_to_volume(&mut stream)?;
    }
    // Read straight into the typed buffer: one copy of the voxels, swapped in place if big endian.
    // Whole gzip files go through libdeflate (about twice zlib's speed) into that same buffer.
    let swap = header.little_endian != cfg!(target_endian = "little");
    let what = format!("end of volume {index} ({n_bytes} bytes of voxel data)");
    let start = header.vox_offset as usize + index * n_bytes;
    macro_rules! read_as {
        ($variant:ident, $t:ty) => {{
            let mut values: Vec<$t> = Vec::new();
            if let Some(gz) = &whole_gzip {
                if let Some(v) = inflate_volume::<$t>(gz, start, n_values, path)? {
                    values = v;
                }
            }
            if values.is_empty() {
                if whole_gzip.is_some() {
                    skip_to_volume(&mut stream)?;
                }
                values = vec![<$t>::default(); n_values];
                read_exact_or(
                    path,
                    &mut stream,
                    bytemuck::cast_slice_mut(&mut values),
                    &what,
                )?;
            }
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
            if swap && std::mem::size_of::<$t>() > 1 {
                for chunk in bytes.chunks_exact_mut(std::mem::size_of::<$t>()) {
                    chunk.reverse();
                }
            }
            Voxels::$variant(values)
        }};
    }
    let voxels = match header.datatype {
        2 | 128 | 2304 => read_as!(U8, u8),
        256 => read_as!(I8, i8),
        4 => read_as!(I16, i16),
        512 => read_as!(U16, u16),
        8 => read_as!(I32, i32),
        768 => read_as!(U32, u32),
        16 => read_as!(F32, f32),
        64 => read_as!(F64, f64),
        1024 => read_as!(I64, i64),
        1280 => read_as!(U64, u64),
        c => {
            return Err(bad(
                path,
                format!("datatype {} is not supported", datatype_name(c)),
            ));
        }
    };
    let (spacing, origin, direction) = header.geometry_lps();
    let mut volume = Volume::new(
        size,
        spacing,
        origin,
        direction,
        components,
        voxels,
        header.rescale(),
    )
    .map_err(|e| bad(path, e.to_string()))?;
    volume.meta = VolumeMeta {
        description: (!header.descrip.is_empty()).then(|| header.descrip.clone()),
        photometric: match components {
            3 => Photometric::Rgb,
            4 => Photometric::Rgba,
            _ => Photometric::Monochrome2,
        },
        ..VolumeMeta::default()
    };
    Ok(NiftiFile { header, volume })
}

/// True when the name ends in `.nii` or `.nii.gz`.
pub fn is_nifti_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Label values to write: 8-bit when every label fits, else 16-bit.
pub enum LabelValues<'a> {
    /// uint8 voxels.
    U8(&'a [u8]),
    /// uint16 voxels.
    U16(&'a [u16]),
}

/// Writes a 3D label map as NIfTI-1 (`.nii`, or gzipped for `.nii.gz`) on the grid `size` placed by
/// `world_from_voxel` in LPS; the header's sform (code 1, scanner) holds the same affine in RAS, so
/// nibabel and ITK read back the source image's geometry. `descrip` goes in the header.
pub fn write_labels(
    path: &Path,
    size: [usize; 3],
    spacing_mm: Vec3,
    origin_lps_mm: Vec3,
    direction: Mat3,
    values: LabelValues<'_>,
    descrip: &str,
) -> Result<()> {
    use std::io::Write;
    let n = size.iter().product::<usize>();
    let (datatype, bitpix, data): (i16, i16, Vec<u8>) = match values {
        LabelValues::U8(v) if v.len() == n => (2, 8, v.to_vec()),
        LabelValues::U16(v) if v.len() == n => {
            (512, 16, v.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
        _ => {
            return Err(bad(
                path,
                format!("label data does not fill the grid {size:?}"),
            ));
        }
    };
    if size.iter().any(|&s| s == 0 || s > i16::MAX as usize) {
        return Err(bad(
            path,
            format!("grid {size:?} does not fit a NIfTI-1 header"),
        ));
    }
    let mut h = vec![0u8; 352];
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, at: usize, v: f64| {
        h[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes())
    };
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3, size[0], size[1], size[2], 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        put_i16(&mut h, 40 + 2 * i, *d as i16);
    }
    put_i16(&mut h, 70, datatype);
    put_i16(&mut h, 72, bitpix);
    for (i, p) in [
        1.0,
        spacing_mm[0],
        spacing_mm[1],
        spacing_mm[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ]
    .iter()
    .enumerate()
    {
        put_f32(&mut h, 76 + 4 * i, *p);
    }
    put_f32(&mut h, 108, 352.0); // vox_offset
    put_f32(&mut h, 112, 1.0); // scl_slope
    let text = descrip.as_bytes();
    h[148..148 + text.len().min(79)].copy_from_slice(&text[..text.len().min(79)]);
    put_i16(&mut h, 254, 1); // sform_code: scanner anatomical
    h[123] = 2; // xyzt_units: millimetres
    // RAS affine = diag(-1, -1, 1) · LPS affine.
    let flip = [-1.0, -1.0, 1.0];
    for row in 0..3 {
        for c in 0..3 {
            put_f32(
                &mut h,
                280 + 16 * row + 4 * c,
                flip[row] * direction[row][c] * spacing_mm[c],
            );
        }
        put_f32(&mut h, 280 + 16 * row + 12, flip[row] * origin_lps_mm[row]);
    }
    h[344..348].copy_from_slice(b"n+1\0");
    let file = std::fs::File::create(path).map_err(|e| IoError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    let gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    let result = if gz {
        let mut w = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        w.write_all(&h)
            .and_then(|_| w.write_all(&data))
            .and_then(|_| w.finish().map(|_| ()))
    } else {
        let mut w = std::io::BufWriter::new(file);
        w.write_all(&h)
            .and_then(|_| w.write_all(&data))
            .and_then(|_| w.flush())
    };
    result.map_err(|e| IoError::read(path, e))
}
