//! Pixel data → stored values of one frame, in the volume's voxel type.
//!
//! Native (uncompressed) data is unpacked here, whatever the byte order, planar configuration or
//! bit depth; encapsulated data goes through the codec of dicom-rs's transfer syntax registry, which
//! returns little-endian interleaved samples. Everything after that (sign extension from BitsStored,
//! YBR → RGB, palette lookup) is ours, so both paths agree.

use super::header::DicomHeader;
use crate::io::{IoError, Result};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use std::path::Path;

/// The stored type a header's frames decode to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleType {
    /// u8
    U8,
    /// i8
    I8,
    /// u16
    U16,
    /// i16
    I16,
    /// u32
    U32,
    /// i32
    I32,
    /// f32 (Float Pixel Data)
    F32,
    /// f64 (Double Float Pixel Data)
    F64,
}

/// Layout of decoded frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLayout {
    /// Stored type.
    pub sample: SampleType,
    /// Components per pixel after decoding (3 for colour and palette images).
    pub components: usize,
}

impl FrameLayout {
    /// The layout `header` decodes to.
    pub fn of(h: &DicomHeader) -> Self {
        if h.photometric == "PALETTE COLOR" {
            return Self {
                sample: SampleType::U8,
                components: 3,
            };
        }
        let sample = match (h.bits_allocated, h.signed && h.samples == 1) {
            (1 | 8, false) => SampleType::U8,
            (1 | 8, true) => SampleType::I8,
            (16, false) => SampleType::U16,
            (16, true) => SampleType::I16,
            (32, _) if h.float_data => SampleType::F32,
            (64, _) => SampleType::F64,
            (32, false) => SampleType::U32,
            (32, true) => SampleType::I32,
            _ => SampleType::U16,
        };
        Self {
            sample,
            components: h.samples,
        }
    }

    /// Values per frame.
    pub fn values_per_frame(&self, h: &DicomHeader) -> usize {
        h.rows * h.cols * self.components
    }
}

fn err(path: &Path, what: impl Into<String>) -> IoError {
    IoError::dicom(path, what)
}

/// Raw little-endian bytes of frame `frame`, interleaved, before any value transform.
fn frame_bytes(obj: &DefaultDicomObject, h: &DicomHeader, frame: usize) -> Result<Vec<u8>> {
    let path = h.path.as_path();
    let ts = TransferSyntaxRegistry
        .get(&h.transfer_syntax)
        .ok_or_else(|| {
            err(
                path,
                format!("transfer syntax {} is not known", h.transfer_syntax),
            )
        })?;
    let elem = obj
        .get(tags::PIXEL_DATA)
        .or_else(|| obj.get(tags::FLOAT_PIXEL_DATA))
        .or_else(|| obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA))
        .ok_or_else(|| err(path, "no Pixel Data"))?;
    if elem.value().fragments().is_some() {
        let expected = h.rows * h.cols * h.samples * (h.bits_allocated as usize).div_ceil(8);
        use super::codecs;
        let mut dst = match h.transfer_syntax.as_str() {
            codecs::RLE_LOSSLESS => {
                codecs::decode_rle(&codecs::encapsulated_frame(obj, h, frame)?, h)?
            }
            codecs::JPEG_BASELINE if h.bits_allocated == 8 => {
                codecs::decode_jpeg(&codecs::encapsulated_frame(obj, h, frame)?, h)?
            }
            codecs::JPEG_EXTENDED if h.bits_allocated > 8 => {
                codecs::decode_jpeg12(&codecs::encapsulated_frame(obj, h, frame)?, h)?
            }
            _ => {
                let reader = ts
                    .pixel_data_reader()
                    .filter(|_| !ts.is_unsupported_pixel_encapsulation())
                    .ok_or_else(|| {
                        err(
                            path,
                            format!(
                                "no decoder for transfer syntax {} ({})",
                                ts.name(),
                                h.transfer_syntax
                            ),
                        )
                    })?;
                let mut dst = Vec::new();
                reader
                    .decode_frame(obj, frame as u32, &mut dst)
                    .map_err(|e| {
                        err(
                            path,
                            format!("{} decoding of frame {frame} failed: {e}", ts.name()),
                        )
                    })?;
                dst
            }
        };
        if dst.len() < expected {
            return Err(err(
                path,
                format!(
                    "frame {frame} decoded to {} bytes, expected {expected}",
                    dst.len()
                ),
            ));
        }
        dst.truncate(expected);
        return Ok(dst);
    }
    // Native pixel data.
    let raw = elem
        .to_bytes()
        .map_err(|e| err(path, format!("cannot read Pixel Data: {e}")))?;
    let big_endian = ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Big;
    let pixels = h.rows * h.cols * h.samples;
    if h.bits_allocated == 1 {
        let start_bit = frame * pixels;
        let end_byte = (start_bit + pixels).div_ceil(8);
        if raw.len() < end_byte {
            return Err(short(path, raw.len(), end_byte));
        }
        return Ok((0..pixels)
            .map(|i| {
                let bit = start_bit + i;
                (raw[bit / 8] >> (bit % 8)) & 1
            })
            .collect());
    }
    let bytes_per = h.bits_allocated as usize / 8;
    // YBR_FULL_422 stores two luma and one pair of chroma samples per two pixels.
    let frame_len = if h.photometric == "YBR_FULL_422" && h.samples == 3 {
        h.rows * h.cols.div_ceil(2) * 4 * bytes_per
    } else {
        pixels * bytes_per
    };
    let start = frame * frame_len;
    let need = start + frame_len;
    if raw.len() < need {
        return Err(short(path, raw.len(), h.frames * frame_len));
    }
    let mut out = raw[start..need].to_vec();
    if big_endian && bytes_per > 1 {
        // dicom-rs reads OW as 16-bit words in the file's order and hands them back in native order,
        // so 16-bit values are already right; wider values still have their 16-bit halves swapped.
        let words_native = matches!(
            elem.value().primitive(),
            Some(dicom_core::PrimitiveValue::U16(_))
        );
        for chunk in out.chunks_exact_mut(bytes_per) {
            if words_native {
                // Reverse word order within the value.
                let words: Vec<[u8; 2]> =
                    chunk.chunks_exact(2).map(|w| [w[0], w[1]]).rev().collect();
                for (dst, w) in chunk.chunks_exact_mut(2).zip(words) {
                    dst.copy_from_slice(&w);
                }
            } else {
                chunk.reverse();
            }
        }
    }
    if h.planar && h.samples > 1 {
        out = interleave_planes(&out, h.samples, h.rows * h.cols, bytes_per);
    }
    Ok(out)
}

fn short(path: &Path, have: usize, need: usize) -> IoError {
    err(
        path,
        format!("Pixel Data is truncated: {have} bytes, the image needs {need}"),
    )
}

fn interleave_planes(src: &[u8], samples: usize, pixels: usize, bytes_per: usize) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for s in 0..samples {
        for p in 0..pixels {
            let from = (s * pixels + p) * bytes_per;
            let to = (p * samples + s) * bytes_per;
            out[to..to + bytes_per].copy_from_slice(&src[from..from + bytes_per]);
        }
    }
    out
}

/// YBR_FULL → RGB as pydicom computes it (float32 matrix, round half up, clip).
fn ybr_full_to_rgb(px: &mut [u8]) {
    const M: [[f32; 3]; 3] = [
        [1.0, 1.0, 1.0],
        [0.0, -0.114 * 1.772 / 0.587, 1.772],
        [1.402, -0.299 * 1.402 / 0.587, 0.0],
    ];
    for p in px.chunks_exact_mut(3) {
        let v = [p[0] as f32, p[1] as f32 - 128.0, p[2] as f32 - 128.0];
        for c in 0..3 {
            let x = v[0] * M[0][c] + v[1] * M[1][c] + v[2] * M[2][c];
            p[c] = (x + 0.5).floor().clamp(0.0, 255.0) as u8;
        }
    }
}

/// YBR_FULL_422 native data (Y0 Y1 Cb Cr per pixel pair) → full YBR_FULL samples.
fn expand_422(src: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rows * cols * 3);
    let row_len = cols.div_ceil(2) * 4;
    if src.len() < rows * row_len {
        return None;
    }
    for r in 0..rows {
        let row = &src[r * row_len..(r + 1) * row_len];
        for pair in row.chunks_exact(4) {
            let (y0, y1, cb, cr) = (pair[0], pair[1], pair[2], pair[3]);
            out.extend_from_slice(&[y0, cb, cr]);
            if out.len() % (cols * 3) != 0 {
                out.extend_from_slice(&[y1, cb, cr]);
            }
        }
    }
    Some(out)
}

fn palette_lut(
    obj: &DefaultDicomObject,
    desc: dicom_core::Tag,
    data: dicom_core::Tag,
    path: &Path,
) -> Result<(Vec<u16>, i64, u16)> {
    let d = obj
        .get(desc)
        .and_then(|e| e.to_multi_int::<i64>().ok())
        .filter(|v| v.len() == 3)
        .ok_or_else(|| {
            err(
                path,
                format!("palette colour image without a valid LUT descriptor {desc}"),
            )
        })?;
    let entries = if d[0] == 0 { 65536 } else { d[0] as usize };
    let bits = d[2] as u16;
    let elem = obj
        .get(data)
        .ok_or_else(|| err(path, format!("palette colour image without LUT data {data} (segmented palettes are not supported)")))?;
    let bytes = elem
        .to_bytes()
        .map_err(|e| err(path, format!("palette LUT data: {e}")))?;
    let values: Vec<u16> = if bits == 8 && bytes.len() == entries {
        bytes.iter().map(|&b| b as u16).collect()
    } else {
        bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    };
    if values.len() < entries {
        return Err(err(
            path,
            format!(
                "palette LUT {data} has {} entries, its descriptor says {entries}",
                values.len()
            ),
        ));
    }
    Ok((values, d[1], bits))
}

/// Typed frame values.
pub enum Frame {
    /// u8 values.
    U8(Vec<u8>),
    /// i8 values.
    I8(Vec<i8>),
    /// u16 values.
    U16(Vec<u16>),
    /// i16 values.
    I16(Vec<i16>),
    /// u32 values.
    U32(Vec<u32>),
    /// i32 values.
    I32(Vec<i32>),
    /// f32 values.
    F32(Vec<f32>),
    /// f64 values.
    F64(Vec<f64>),
}

fn sign_extend(v: u64, bits: u16) -> i64 {
    let shift = 64 - bits as u32;
    ((v << shift) as i64) >> shift
}

/// Decodes frame `frame` of a parsed file. A codec that panics on damaged data (openjp2 does on
/// some corrupt code streams) gives an error naming the file, not a crash; the panic message is not
/// printed.
pub fn decode_frame(obj: &DefaultDicomObject, h: &DicomHeader, frame: usize) -> Result<Frame> {
    crate::io::quiet_panic::guard(|| decode_frame_unguarded(obj, h, frame)).unwrap_or_else(|| {
        Err(IoError::dicom(
            &h.path,
            format!(
                "frame {frame}: the {} decoder failed on damaged pixel data",
                h.transfer_syntax
            ),
        ))
    })
}

fn decode_frame_unguarded(
    obj: &DefaultDicomObject,
    h: &DicomHeader,
    frame: usize,
) -> Result<Frame> {
    let path = h.path.as_path();
    let layout = FrameLayout::of(h);
    let mut bytes = frame_bytes(obj, h, frame)?;
    let encapsulated = obj
        .get(tags::PIXEL_DATA)
        .is_some_and(|e| e.value().fragments().is_some());
    let pi = h.photometric.as_str();
    if h.samples == 3 && h.bits_allocated == 8 {
        match pi {
            "YBR_FULL_422" if !encapsulated => {
                let full = expand_422(&bytes, h.rows, h.cols)
                    .ok_or_else(|| short(path, bytes.len(), h.rows * h.cols * 2))?;
                bytes = full;
                ybr_full_to_rgb(&mut bytes);
            }
            "YBR_FULL" if !encapsulated || h.transfer_syntax == "1.2.840.10008.1.2.5" => {
                ybr_full_to_rgb(&mut bytes)
            }
            _ => {}
        }
    }
    if pi == "PALETTE COLOR" {
        let (r, first, bits) = palette_lut(
            obj,
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            path,
        )?;
        let (g, _, _) = palette_lut(
            obj,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            path,
        )?;
        let (b, _, _) = palette_lut(
            obj,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            path,
        )?;
        let to8 = |v: u16| if bits > 8 { (v >> 8) as u8 } else { v as u8 };
        let n = r.len().min(g.len()).min(b.len());
        let index = |i: usize| -> i64 {
            if h.bits_allocated == 8 {
                bytes[i] as i64
            } else {
                u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) as i64
            }
        };
        let mut out = Vec::with_capacity(h.rows * h.cols * 3);
        for i in 0..h.rows * h.cols {
            let k = (index(i) - first).clamp(0, n as i64 - 1) as usize;
            out.extend_from_slice(&[to8(r[k]), to8(g[k]), to8(b[k])]);
        }
        return Ok(Frame::U8(out));
    }
    let n = layout.values_per_frame(h);
    let stored = h.bits_stored;
    let ba = h.bits_allocated;
    let mask = |v: u64| {
        if stored < ba && stored < 64 {
            v & ((1u64 << stored) - 1)
        } else {
            v
        }
    };
    Ok(match layout.sample {
        SampleType::U8 => {
            let mut v = bytes;
            v.truncate(n);
            if stored < 8 && ba == 8 {
                v.iter_mut().for_each(|x| *x = mask(*x as u64) as u8);
            }
            Frame::U8(v)
        }
        SampleType::I8 => Frame::I8(
            bytes[..n]
                .iter()
                .map(|&x| sign_extend(x as u64, stored.min(8)) as i8)
                .collect(),
        ),
        SampleType::U16 => Frame::U16(
            bytes[..2 * n]
                .chunks_exact(2)
                .map(|c| mask(u16::from_le_bytes([c[0], c[1]]) as u64) as u16)
                .collect(),
        ),
        SampleType::I16 => Frame::I16(
            bytes[..2 * n]
                .chunks_exact(2)
                .map(|c| {
                    sign_extend(u16::from_le_bytes([c[0], c[1]]) as u64, stored.min(16)) as i16
                })
                .collect(),
        ),
        SampleType::U32 => Frame::U32(
            bytes[..4 * n]
                .chunks_exact(4)
                .map(|c| mask(u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64) as u32)
                .collect(),
        ),
        SampleType::I32 => Frame::I32(
            bytes[..4 * n]
                .chunks_exact(4)
                .map(|c| {
                    sign_extend(
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64,
                        stored.min(32),
                    ) as i32
                })
                .collect(),
        ),
        SampleType::F32 => Frame::F32(
            bytes[..4 * n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        SampleType::F64 => Frame::F64(
            bytes[..8 * n]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
    })
}

/// A 16-bit stored sample type the fast native path can write.
pub trait Sample16: Copy + Send {
    /// The stored value from a 16-bit word with `bits_stored` significant bits.
    fn from_word(word: u16, bits_stored: u16) -> Self;
}

impl Sample16 for u16 {
    #[inline]
    fn from_word(word: u16, bits_stored: u16) -> Self {
        if bits_stored < 16 {
            word & ((1u16 << bits_stored) - 1)
        } else {
            word
        }
    }
}

impl Sample16 for i16 {
    #[inline]
    fn from_word(word: u16, bits_stored: u16) -> Self {
        let shift = 16 - bits_stored.min(16);
        ((word << shift) as i16) >> shift
    }
}

/// Fast path for the common case (native, grey, 16-bit): writes frame `frame` straight from the parsed
/// Pixel Data into `dst`, one pass, no intermediate buffers. `None` when the case does not apply.
pub fn native16_into<T: Sample16>(
    obj: &DefaultDicomObject,
    h: &DicomHeader,
    frame: usize,
    dst: &mut [T],
) -> Option<Result<()>> {
    if h.bits_allocated != 16 || h.samples != 1 || h.photometric == "PALETTE COLOR" || h.float_data
    {
        return None;
    }
    let value = obj.get(tags::PIXEL_DATA)?.value();
    if value.fragments().is_some() {
        return None;
    }
    let n = dst.len();
    let start = frame * n;
    let bits = h.bits_stored;
    match value.primitive()? {
        dicom_core::PrimitiveValue::U16(words) => {
            let Some(src) = words.get(start..start + n) else {
                return Some(Err(short(&h.path, words.len() * 2, (start + n) * 2)));
            };
            for (d, &w) in dst.iter_mut().zip(src) {
                *d = T::from_word(w, bits);
            }
            Some(Ok(()))
        }
        dicom_core::PrimitiveValue::U8(bytes) if h.transfer_syntax != "1.2.840.10008.1.2.2" => {
            let Some(src) = bytes.get(2 * start..2 * (start + n)) else {
                return Some(Err(short(&h.path, bytes.len(), 2 * (start + n))));
            };
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = T::from_word(u16::from_le_bytes([c[0], c[1]]), bits);
            }
            Some(Ok(()))
        }
        _ => None,
    }
}
