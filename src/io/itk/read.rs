//! Reading NRRD and MetaImage headers and their data into a volume in LPS.

use super::super::{IoError, Result};
use super::bad;
use crate::core::geometry::from_columns;
use crate::core::{Photometric, Rescale, Vec3, Volume, VolumeMeta, Voxels};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The scalar types both formats name, with their size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    fn nrrd(name: &str) -> Option<Self> {
        Some(match name {
            "signed char" | "int8" | "int8_t" => Scalar::I8,
            "uchar" | "unsigned char" | "uint8" | "uint8_t" => Scalar::U8,
            "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
                Scalar::I16
            }
            "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
                Scalar::U16
            }
            "int" | "signed int" | "int32" | "int32_t" => Scalar::I32,
            "uint" | "unsigned int" | "uint32" | "uint32_t" => Scalar::U32,
            "longlong"
            | "long long"
            | "long long int"
            | "signed long long"
            | "signed long long int"
            | "int64"
            | "int64_t" => Scalar::I64,
            "ulonglong"
            | "unsigned long long"
            | "unsigned long long int"
            | "uint64"
            | "uint64_t" => Scalar::U64,
            "float" => Scalar::F32,
            "double" => Scalar::F64,
            _ => return None,
        })
    }

    fn meta(name: &str) -> Option<Self> {
        Some(match name {
            "MET_CHAR" => Scalar::I8,
            "MET_UCHAR" => Scalar::U8,
            "MET_SHORT" => Scalar::I16,
            "MET_USHORT" => Scalar::U16,
            "MET_INT" => Scalar::I32,
            "MET_UINT" => Scalar::U32,
            "MET_LONG_LONG" => Scalar::I64,
            "MET_ULONG_LONG" => Scalar::U64,
            "MET_FLOAT" => Scalar::F32,
            "MET_DOUBLE" => Scalar::F64,
            _ => return None,
        })
    }

    /// Values from bytes in the file's byte order.
    fn decode(self, bytes: &[u8], big_endian: bool) -> Voxels {
        macro_rules! take {
            ($variant:ident, $t:ty) => {{
                const N: usize = std::mem::size_of::<$t>();
                Voxels::$variant(
                    bytes
                        .chunks_exact(N)
                        .map(|c| {
                            let mut a = [0u8; N];
                            a.copy_from_slice(c);
                            if big_endian {
                                <$t>::from_be_bytes(a)
                            } else {
                                <$t>::from_le_bytes(a)
                            }
                        })
                        .collect(),
                )
            }};
        }
        match self {
            Scalar::I8 => Voxels::I8(bytes.iter().map(|&b| b as i8).collect()),
            Scalar::U8 => Voxels::U8(bytes.to_vec()),
            Scalar::I16 => take!(I16, i16),
            Scalar::U16 => take!(U16, u16),
            Scalar::I32 => take!(I32, i32),
            Scalar::U32 => take!(U32, u32),
            Scalar::I64 => take!(I64, i64),
            Scalar::U64 => take!(U64, u64),
            Scalar::F32 => take!(F32, f32),
            Scalar::F64 => take!(F64, f64),
        }
    }

    /// The values of a whole deflate stream (`gzip` member, else zlib) of exactly `n_bytes`,
    /// inflated by libdeflate in one pass straight into their typed vector (about twice as fast as
    /// streaming). `None` when that does not apply (a gzip size field that disagrees, trailing or
    /// missing data, a size the compressed data cannot hold): the caller streams instead.
    fn one_pass(self, gzip: bool, part: &[u8], n_bytes: usize, big_endian: bool) -> Option<Voxels> {
        // Deflate cannot expand more than 1032:1, so a header claiming more is not believed.
        if n_bytes > part.len().saturating_mul(1032) {
            return None;
        }
        if gzip {
            let n = part.len();
            let isize = u32::from_le_bytes(part.get(n.checked_sub(4)?..)?.try_into().ok()?);
            if n < 18 || part[..2] != [0x1f, 0x8b] || u64::from(isize) != n_bytes as u64 % (1 << 32)
            {
                return None;
            }
        }
        fn inflate<T: bytemuck::Pod + Default>(
            gzip: bool,
            part: &[u8],
            n_values: usize,
        ) -> Option<Vec<T>> {
            let mut values = vec![T::default(); n_values];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
            let mut d = libdeflater::Decompressor::new();
            let written = if gzip {
                d.gzip_decompress(part, bytes)
            } else {
                d.zlib_decompress(part, bytes)
            }
            .ok()?;
            (written == bytes.len()).then_some(values)
        }
        let n_values = n_bytes / self.size();
        macro_rules! typed {
            ($variant:ident, $t:ty) => {{
                let mut v = inflate::<$t>(gzip, part, n_values)?;
                // The file's byte order to this machine's (nothing to do when they agree).
                for x in &mut v {
                    *x = if big_endian {
                        <$t>::from_be_bytes(x.to_ne_bytes())
                    } else {
                        <$t>::from_le_bytes(x.to_ne_bytes())
                    };
                }
                Voxels::$variant(v)
            }};
        }
        Some(match self {
            Scalar::I8 => typed!(I8, i8),
            Scalar::U8 => typed!(U8, u8),
            Scalar::I16 => typed!(I16, i16),
            Scalar::U16 => typed!(U16, u16),
            Scalar::I32 => typed!(I32, i32),
            Scalar::U32 => typed!(U32, u32),
            Scalar::I64 => typed!(I64, i64),
            Scalar::U64 => typed!(U64, u64),
            Scalar::F32 => typed!(F32, f32),
            Scalar::F64 => typed!(F64, f64),
        })
    }

    /// Values read from `reader` (decompressing) straight into their typed vector, 1 MiB at a
    /// time: never a byte copy of the whole volume, and never more reserved than the data holds.
    /// Gives the values and how many bytes there were (less than `n_bytes` when the data ends
    /// early).
    fn decode_stream(
        self,
        mut reader: impl Read,
        n_bytes: usize,
        reserve_bytes: usize,
        big_endian: bool,
    ) -> std::io::Result<(Voxels, usize)> {
        // Fills `buf` unless the data ends first; gives how much was read.
        fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut got = 0;
            while got < buf.len() {
                match reader.read(&mut buf[got..]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(got)
        }
        let size = self.size();
        let mut chunk = vec![0u8; (1 << 20) / size * size];
        let mut values = self.decode(&[], big_endian);
        reserve(&mut values, reserve_bytes.min(n_bytes) / size);
        let mut got = 0usize;
        while got < n_bytes {
            let want = chunk.len().min(n_bytes - got);
            let k = fill(&mut reader, &mut chunk[..want])?;
            append(&mut values, self.decode(&chunk[..k - k % size], big_endian));
            got += k;
            if k < want {
                break;
            }
        }
        Ok((values, got))
    }

    /// Values from whitespace-separated text (NRRD `ascii` encoding).
    fn parse_text(self, text: &str, n: usize, path: &Path) -> Result<Voxels> {
        let words: Vec<&str> = text.split_whitespace().take(n).collect();
        if words.len() < n {
            return Err(bad(
                path,
                format!("NRRD ascii data holds {} of {n} values", words.len()),
            ));
        }
        macro_rules! parse {
            ($variant:ident, $t:ty) => {
                Voxels::$variant(
                    words
                        .iter()
                        .map(|w| w.parse::<$t>())
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| bad(path, format!("NRRD ascii value: {e}")))?,
                )
            };
        }
        Ok(match self {
            Scalar::I8 => parse!(I8, i8),
            Scalar::U8 => parse!(U8, u8),
            Scalar::I16 => parse!(I16, i16),
            Scalar::U16 => parse!(U16, u16),
            Scalar::I32 => parse!(I32, i32),
            Scalar::U32 => parse!(U32, u32),
            Scalar::I64 => parse!(I64, i64),
            Scalar::U64 => parse!(U64, u64),
            Scalar::F32 => parse!(F32, f32),
            Scalar::F64 => parse!(F64, f64),
        })
    }
}

/// How the voxel bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Raw,
    Gzip,
    Zlib,
    Ascii,
}

/// What both readers gather before the voxels are read.
struct Layout {
    scalar: Scalar,
    /// Spatial sizes (i, j, k; k = 1 for 2D).
    size: [usize; 3],
    components: usize,
    spacing: Vec3,
    origin: Vec3,
    /// Axis unit vectors in LPS.
    axes: [Vec3; 3],
    big_endian: bool,
    encoding: Encoding,
    /// The data file.
    data: PathBuf,
    /// Where the data begin in it: after the header of an attached file, else 0.
    base: usize,
    /// Bytes to skip after `base` and the skipped lines (`None`: counted back from the end, raw
    /// data only).
    skip: Option<u64>,
    /// Lines to skip after `base` (NRRD `line skip`).
    line_skip: usize,
    /// NRRD: with a compressed encoding the byte skip counts decompressed bytes (teem's rule);
    /// MetaImage's `HeaderSize` counts bytes of the file.
    skip_decompressed: bool,
}

/// Reads an NRRD or MetaImage file (`.nrrd`, `.nhdr`, `.mha`, `.mhd`).
pub fn read(path: &Path) -> Result<Volume> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let layout = if bytes.starts_with(b"NRRD") {
        nrrd_layout(path, &bytes)?
    } else {
        meta_layout(path, &bytes)?
    };
    voxels(path, &bytes, layout)
}

/// The header text: lines up to the first empty one (NRRD) or through `ElementDataFile` (MetaImage),
/// and the byte offset just after it.
fn header_lines(bytes: &[u8], nrrd: bool) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |e| at + e + 1);
        let line = String::from_utf8_lossy(&bytes[at..end])
            .trim_end_matches(['\r', '\n'])
            .to_string();
        at = end;
        if nrrd && line.is_empty() {
            break;
        }
        let done = !nrrd && line.trim_start().starts_with("ElementDataFile");
        lines.push(line);
        if done || lines.len() > 10_000 {
            break;
        }
    }
    (lines, at)
}

fn floats(text: &str) -> Option<Vec<f64>> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect()
}

/// NRRD `(x,y,z)` vectors of `space directions`, `none` for a non-spatial axis.
fn vectors(text: &str) -> Option<Vec<Option<Vec3>>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(None);
            rest = r.trim_start();
            continue;
        }
        let close = rest.find(')')?;
        let v = floats(&rest[..=close])?;
        if v.len() != 3 {
            return None;
        }
        out.push(Some([v[0], v[1], v[2]]));
        rest = rest[close + 1..].trim_start();
    }
    Some(out)
}

fn norm(v: Vec3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The sign flips that take a space's coordinates to LPS (`None`: not an anatomical 3D space).
fn to_lps(space: &str) -> Option<Vec3> {
    Some(match space {
        "left-posterior-superior" | "lps" | "scanner-xyz" | "3d-right-handed" => [1.0, 1.0, 1.0],
        "right-anterior-superior" | "ras" => [-1.0, -1.0, 1.0],
        "left-anterior-superior" | "las" => [1.0, -1.0, 1.0],
        _ => return None,
    })
}

fn nrrd_layout(path: &Path, bytes: &[u8]) -> Result<Layout> {
    let (lines, end) = header_lines(bytes, true);
    let mut field = std::collections::HashMap::new();
    for line in lines.iter().skip(1) {
        if line.starts_with('#') || line.contains(":=") {
            continue;
        }
        if let Some((k, v)) = line.split_once(": ") {
            field.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let get = |k: &str| field.get(k).map(String::as_str);
    let need = |k: &str| get(k).ok_or_else(|| bad(path, format!("NRRD header has no \"{k}\"")));
    let scalar = Scalar::nrrd(need("type")?).ok_or_else(|| {
        bad(
            path,
            format!(
                "NRRD type \"{}\" is not supported",
                get("type").unwrap_or("")
            ),
        )
    })?;
    let dimension: usize = need("dimension")?
        .parse()
        .map_err(|_| bad(path, "NRRD dimension is not a number"))?;
    let sizes: Vec<usize> = need("sizes")?
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(path, "NRRD sizes are not numbers"))?;
    if sizes.len() != dimension || !(2..=4).contains(&dimension) {
        return Err(bad(
            path,
            format!("NRRD dimension {dimension} with sizes {sizes:?} (2 to 4 axes are read)"),
        ));
    }
    let space = get("space").map(str::to_ascii_lowercase);
    let flip = match &space {
        Some(s) => to_lps(s).ok_or_else(|| bad(path, format!("NRRD space \"{s}\" is not read")))?,
        None => [1.0, 1.0, 1.0],
    };
    let directions = match get("space directions") {
        Some(t) => {
            Some(vectors(t).ok_or_else(|| bad(path, "NRRD space directions are not vectors"))?)
        }
        None => None,
    };
    // The component axis: the one without a direction (always the first in practice).
    let kinds: Vec<String> = get("kinds")
        .map(|k| k.split_whitespace().map(str::to_ascii_lowercase).collect())
        .unwrap_or_default();
    let nonspatial = |a: usize| {
        directions.as_ref().map_or_else(
            || {
                kinds.get(a).is_some_and(|k| {
                    !matches!(k.as_str(), "domain" | "space" | "time" | "???" | "none")
                }) || dimension == 4 && a == 0
            },
            |d| d.get(a).is_some_and(Option::is_none),
        )
    };
    let comp_axis = (0..dimension).find(|&a| nonspatial(a));
    if comp_axis.is_some_and(|a| a != 0) {
        return Err(bad(path, "NRRD: only a first axis may hold components"));
    }
    let components = comp_axis.map_or(1, |a| sizes[a]);
    let spatial: Vec<usize> = (0..dimension).filter(|&a| Some(a) != comp_axis).collect();
    if spatial.len() > 3 || spatial.len() < 2 {
        return Err(bad(path, "NRRD: 2 or 3 spatial axes are read"));
    }
    let mut size = [1usize; 3];
    let mut spacing = [1.0; 3];
    let mut axes = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for (n, &a) in spatial.iter().enumerate() {
        size[n] = sizes[a];
        if let Some(d) = directions
            .as_ref()
            .and_then(|d| d.get(a).copied().flatten())
        {
            let d = [d[0] * flip[0], d[1] * flip[1], d[2] * flip[2]];
            let len = norm(d);
            if len <= 0.0 {
                return Err(bad(path, "NRRD space direction of length 0"));
            }
            spacing[n] = len;
            axes[n] = [d[0] / len, d[1] / len, d[2] / len];
        } else if let Some(s) = get("spacings")
            .and_then(floats)
            .and_then(|s| s.get(a).copied())
            && s.is_finite()
            && s > 0.0
        {
            spacing[n] = s;
        }
    }
    if spatial.len() == 2 {
        axes[2] = cross(axes[0], axes[1]);
    }
    let origin = match get("space origin") {
        Some(t) => {
            let o = floats(t)
                .filter(|o| o.len() == 3)
                .ok_or_else(|| bad(path, "NRRD space origin is not a 3-vector"))?;
            [o[0] * flip[0], o[1] * flip[1], o[2] * flip[2]]
        }
        None => [0.0; 3],
    };
    let encoding = match need("encoding")?.to_ascii_lowercase().as_str() {
        "raw" => Encoding::Raw,
        "gzip" | "gz" => Encoding::Gzip,
        "ascii" | "text" | "txt" => Encoding::Ascii,
        other => {
            return Err(bad(
                path,
                format!("NRRD encoding \"{other}\" is not read (raw, gzip, ascii are)"),
            ));
        }
    };
    let big_endian = get("endian") == Some("big");
    let data = match get("data file").or(get("datafile")) {
        None => path.to_path_buf(),
        Some(f) if f.starts_with("LIST") || f.contains('%') => {
            return Err(bad(
                path,
                "NRRD data file lists are not read (one data file is)",
            ));
        }
        Some(f) => path.parent().unwrap_or(Path::new(".")).join(f),
    };
    let base = if data == path { end } else { 0 };
    let skip = byte_skip(path, get("byte skip"), "NRRD byte skip")?;
    let line_skip = get("line skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(Layout {
        scalar,
        size,
        components,
        spacing,
        origin,
        axes,
        big_endian,
        encoding,
        data,
        base,
        skip,
        line_skip,
        skip_decompressed: true,
    })
}

fn meta_layout(path: &Path, bytes: &[u8]) -> Result<Layout> {
    let (lines, end) = header_lines(bytes, false);
    let mut field = std::collections::HashMap::new();
    for line in &lines {
        if let Some((k, v)) = line.split_once('=') {
            field.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let get = |k: &str| field.get(k).map(String::as_str);
    if !field.contains_key("NDims") {
        return Err(bad(
            path,
            "neither an NRRD nor a MetaImage header (no NDims)",
        ));
    }
    let need = |k: &str| get(k).ok_or_else(|| bad(path, format!("MetaImage header has no {k}")));
    let ndims: usize = need("NDims")?
        .parse()
        .map_err(|_| bad(path, "MetaImage NDims is not a number"))?;
    if !(2..=3).contains(&ndims) {
        return Err(bad(
            path,
            format!("MetaImage with {ndims} dimensions (2 or 3 are read)"),
        ));
    }
    let dims: Vec<usize> = need("DimSize")?
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(path, "MetaImage DimSize is not numbers"))?;
    if dims.len() != ndims {
        return Err(bad(path, "MetaImage DimSize does not have NDims numbers"));
    }
    let scalar = Scalar::meta(need("ElementType")?).ok_or_else(|| {
        bad(
            path,
            format!(
                "MetaImage ElementType {} is not read",
                get("ElementType").unwrap_or("")
            ),
        )
    })?;
    let components = get("ElementNumberOfChannels")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let list = |keys: &[&str]| keys.iter().find_map(|k| get(k).and_then(floats));
    let mut size = [1usize; 3];
    let mut spacing = [1.0; 3];
    let mut origin = [0.0; 3];
    let mut axes = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let sp = list(&["ElementSpacing", "ElementSize"]);
    let off = list(&["Offset", "Origin", "Position"]);
    let tm = list(&["TransformMatrix", "Rotation", "Orientation"]);
    for a in 0..ndims {
        size[a] = dims[a];
        if let Some(s) = sp.as_ref().and_then(|s| s.get(a)).filter(|s| **s > 0.0) {
            spacing[a] = *s;
        }
        if let Some(o) = off.as_ref().and_then(|o| o.get(a)) {
            origin[a] = *o;
        }
    }
    if let Some(m) = tm.filter(|m| m.len() == ndims * ndims) {
        for (a, axis) in axes.iter_mut().enumerate().take(ndims) {
            let mut v = [0.0; 3];
            v[..ndims].copy_from_slice(&m[a * ndims..(a + 1) * ndims]);
            let len = norm(v);
            if len > 0.0 {
                *axis = [v[0] / len, v[1] / len, v[2] / len];
            }
        }
        if ndims == 2 {
            axes[2] = cross(axes[0], axes[1]);
        }
    }
    let yes = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let big_endian = yes("BinaryDataByteOrderMSB") || yes("ElementByteOrderMSB");
    let encoding = if yes("CompressedData") {
        Encoding::Zlib
    } else {
        Encoding::Raw
    };
    let file = need("ElementDataFile")?;
    let data = match file {
        "LOCAL" | "Local" | "local" => path.to_path_buf(),
        f if f.starts_with("LIST") || f.contains('%') => {
            return Err(bad(
                path,
                "MetaImage data file lists are not read (one data file is)",
            ));
        }
        f => path.parent().unwrap_or(Path::new(".")).join(f),
    };
    let base = if data == path { end } else { 0 };
    let skip = byte_skip(path, get("HeaderSize"), "MetaImage HeaderSize")?;
    Ok(Layout {
        scalar,
        size,
        components,
        spacing,
        origin,
        axes,
        big_endian,
        encoding,
        data,
        base,
        skip,
        line_skip: 0,
        skip_decompressed: false,
    })
}

/// A byte skip (NRRD `byte skip`, MetaImage `HeaderSize`): `-1` counts the data back from the
/// end of the file (`None`), absent is 0.
fn byte_skip(path: &Path, skip: Option<&str>, what: &str) -> Result<Option<u64>> {
    match skip.map(str::parse::<i64>) {
        Some(Ok(-1)) => Ok(None),
        Some(Ok(n)) if n >= 0 => Ok(Some(n as u64)),
        Some(_) => Err(bad(path, format!("{what} is not a number"))),
        None => Ok(Some(0)),
    }
}

/// Reads the voxels the layout describes and builds the volume.
fn voxels(path: &Path, header_file: &[u8], l: Layout) -> Result<Volume> {
    let n = l
        .size
        .iter()
        .try_fold(l.components, |acc, &s| acc.checked_mul(s))
        .filter(|&n| n > 0)
        .ok_or_else(|| bad(path, format!("empty or oversized grid {:?}", l.size)))?;
    let n_bytes = n
        .checked_mul(l.scalar.size())
        .ok_or_else(|| bad(path, "the voxel data would not fit in memory"))?;
    let data_file;
    let raw: &[u8] = if l.data == path {
        header_file
    } else {
        data_file = std::fs::read(&l.data).map_err(|source| IoError::Open {
            path: l.data.clone(),
            source,
        })?;
        &data_file
    };
    // After an attached header, lines to skip first (NRRD `line skip`), then bytes.
    let mut start = l.base.min(raw.len());
    for _ in 0..l.line_skip {
        start += raw[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len() - start, |p| p + 1);
    }
    let short = |got: usize| {
        bad(
            path,
            format!(
                "the data holds {got} of the {n_bytes} bytes its header describes: {}",
                l.data.display()
            ),
        )
    };
    let voxels = match l.encoding {
        Encoding::Ascii => {
            let from = usize::try_from(l.skip.unwrap_or(0))
                .unwrap_or(usize::MAX)
                .saturating_add(start);
            let text = String::from_utf8_lossy(raw.get(from..).unwrap_or_default());
            l.scalar.parse_text(&text, n, path)?
        }
        Encoding::Raw => {
            let from = match l.skip {
                Some(s) => usize::try_from(s)
                    .unwrap_or(usize::MAX)
                    .saturating_add(start),
                None => raw
                    .len()
                    .checked_sub(n_bytes)
                    .ok_or_else(|| short(raw.len()))?,
            };
            let part = raw.get(from..).ok_or_else(|| short(0))?;
            let bytes = part.get(..n_bytes).ok_or_else(|| short(part.len()))?;
            l.scalar.decode(bytes, l.big_endian)
        }
        Encoding::Gzip | Encoding::Zlib => {
            let skip = usize::try_from(l.skip.unwrap_or(0)).unwrap_or(usize::MAX);
            let from = if l.skip_decompressed {
                start
            } else {
                skip.saturating_add(start)
            };
            let part = raw.get(from..).ok_or_else(|| short(0))?;
            let gzip = l.encoding == Encoding::Gzip;
            if l.skip_decompressed && skip > 0 {
                // Rare (teem writes none): decompress the skipped bytes and the voxels, then cut.
                let reader: Box<dyn Read> = if gzip {
                    Box::new(flate2::read::MultiGzDecoder::new(part))
                } else {
                    Box::new(flate2::read::ZlibDecoder::new(part))
                };
                let mut bytes = Vec::new();
                reader
                    .take(skip.saturating_add(n_bytes) as u64)
                    .read_to_end(&mut bytes)
                    .map_err(|e| bad(path, format!("compressed voxel data: {e}")))?;
                let voxels = bytes
                    .get(skip..)
                    .filter(|b| b.len() == n_bytes)
                    .ok_or_else(|| short(bytes.len().saturating_sub(skip)))?;
                let voxels = l.scalar.decode(voxels, l.big_endian);
                return finish(path, l, voxels);
            }
            if let Some(voxels) = l.scalar.one_pass(gzip, part, n_bytes, l.big_endian) {
                return finish(path, l, voxels);
            }
            // Decoded as it decompresses, grown as it goes: a damaged header must not reserve
            // what it claims.
            let reader: Box<dyn Read> = if l.encoding == Encoding::Gzip {
                Box::new(flate2::read::MultiGzDecoder::new(part))
            } else {
                Box::new(flate2::read::ZlibDecoder::new(part))
            };
            let (voxels, got) = l
                .scalar
                .decode_stream(reader, n_bytes, part.len().saturating_mul(8), l.big_endian)
                .map_err(|e| bad(path, format!("compressed voxel data: {e}")))?;
            if got < n_bytes {
                return Err(short(got));
            }
            voxels
        }
    };
    finish(path, l, voxels)
}

/// Reserves room for `count` more values.
fn reserve(values: &mut Voxels, count: usize) {
    match values {
        Voxels::U8(a) => a.reserve(count),
        Voxels::I8(a) => a.reserve(count),
        Voxels::U16(a) => a.reserve(count),
        Voxels::I16(a) => a.reserve(count),
        Voxels::U32(a) => a.reserve(count),
        Voxels::I32(a) => a.reserve(count),
        Voxels::I64(a) => a.reserve(count),
        Voxels::U64(a) => a.reserve(count),
        Voxels::F32(a) => a.reserve(count),
        Voxels::F64(a) => a.reserve(count),
    }
}

/// Appends `part` to `values` (both of one scalar type, as [`Scalar::decode`] makes them).
fn append(values: &mut Voxels, part: Voxels) {
    match (values, part) {
        (Voxels::U8(a), Voxels::U8(b)) => a.extend(b),
        (Voxels::I8(a), Voxels::I8(b)) => a.extend(b),
        (Voxels::U16(a), Voxels::U16(b)) => a.extend(b),
        (Voxels::I16(a), Voxels::I16(b)) => a.extend(b),
        (Voxels::U32(a), Voxels::U32(b)) => a.extend(b),
        (Voxels::I32(a), Voxels::I32(b)) => a.extend(b),
        (Voxels::I64(a), Voxels::I64(b)) => a.extend(b),
        (Voxels::U64(a), Voxels::U64(b)) => a.extend(b),
        (Voxels::F32(a), Voxels::F32(b)) => a.extend(b),
        (Voxels::F64(a), Voxels::F64(b)) => a.extend(b),
        _ => {}
    }
}

fn finish(path: &Path, l: Layout, voxels: Voxels) -> Result<Volume> {
    let direction = from_columns(l.axes[0], l.axes[1], l.axes[2]);
    let mut volume = Volume::new(
        l.size,
        l.spacing,
        l.origin,
        direction,
        l.components,
        voxels,
        Rescale::default(),
    )
    .map_err(|e| bad(path, e.to_string()))?;
    volume.meta = VolumeMeta {
        photometric: match l.components {
            3 => Photometric::Rgb,
            4 => Photometric::Rgba,
            _ => Photometric::Monochrome2,
        },
        ..VolumeMeta::default()
    };
    Ok(volume)
}
