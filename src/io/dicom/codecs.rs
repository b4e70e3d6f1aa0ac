//! Codecs we run ourselves because the registry's adapters fall short on real files:
//! RLE Lossless of any sample width (the registry stops at 16 bits), and JPEG with the colour
//! transform decided from the DICOM Photometric Interpretation and the stream's markers.

use crate::io::{IoError, Result};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use std::path::Path;

use super::header::DicomHeader;

/// RLE Lossless transfer syntax.
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
/// JPEG Extended (Process 2 & 4).
pub const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// JPEG Baseline (Process 1).
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

fn err(path: &Path, what: impl Into<String>) -> IoError {
    IoError::dicom(path, what)
}

/// The encoded bytes of frame `frame`: its fragments, found by the basic offset table when there is
/// one, one fragment per frame when the counts match, else (single frame) all fragments joined.
pub fn encapsulated_frame(
    obj: &DefaultDicomObject,
    h: &DicomHeader,
    frame: usize,
) -> Result<Vec<u8>> {
    let path = h.path.as_path();
    let value = obj
        .get(tags::PIXEL_DATA)
        .map(|e| e.value())
        .ok_or_else(|| err(path, "no Pixel Data"))?;
    let fragments = value
        .fragments()
        .ok_or_else(|| err(path, "Pixel Data is not encapsulated"))?;
    if fragments.is_empty() {
        return Err(err(path, "encapsulated Pixel Data has no fragments"));
    }
    let offsets: Vec<u32> = value.offset_table().map(|t| t.to_vec()).unwrap_or_default();
    if h.frames == 1 {
        return Ok(fragments.iter().flat_map(|f| f.iter().copied()).collect());
    }
    if fragments.len() == h.frames {
        return Ok(fragments[frame].to_vec());
    }
    if offsets.len() == h.frames {
        // Offsets count bytes from the first fragment's item tag; each item has an 8-byte header.
        let start = offsets[frame] as usize;
        let end = offsets
            .get(frame + 1)
            .map(|&o| o as usize)
            .unwrap_or(usize::MAX);
        let mut pos = 0usize;
        let mut out = Vec::new();
        for f in fragments {
            if pos >= start && pos < end {
                out.extend_from_slice(f);
            }
            pos += 8 + f.len();
        }
        if !out.is_empty() {
            return Ok(out);
        }
    }
    Err(err(
        path,
        format!(
            "cannot tell which of {} fragments hold frame {frame} of {}",
            fragments.len(),
            h.frames
        ),
    ))
}

/// Decodes one RLE Lossless frame (PS3.5 Annex G) into little-endian interleaved samples.
pub fn decode_rle(data: &[u8], h: &DicomHeader) -> Result<Vec<u8>> {
    let path = h.path.as_path();
    let bytes_per = (h.bits_allocated as usize).div_ceil(8);
    let pixels = h.rows * h.cols;
    let segments_expected = bytes_per * h.samples;
    if data.len() < 64 {
        return Err(err(
            path,
            format!(
                "RLE frame is {} bytes, shorter than its 64-byte header",
                data.len()
            ),
        ));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ]) as usize
    };
    let n = word(0);
    if n != segments_expected {
        return Err(err(
            path,
            format!("RLE header lists {n} segments, the image needs {segments_expected}"),
        ));
    }
    let mut out = vec![0u8; pixels * h.samples * bytes_per];
    for seg in 0..n {
        let start = word(1 + seg);
        let end = if seg + 1 < n {
            word(2 + seg)
        } else {
            data.len()
        };
        if start < 64 || start > end || end > data.len() {
            return Err(err(
                path,
                format!("RLE segment {seg} offsets {start}..{end} lie outside the frame"),
            ));
        }
        let decoded = unpack_bits(&data[start..end], pixels);
        if decoded.len() < pixels {
            return Err(err(
                path,
                format!(
                    "RLE segment {seg} decodes to {} bytes, expected {pixels}",
                    decoded.len()
                ),
            ));
        }
        // Segments run sample by sample, most significant byte first.
        let sample = seg / bytes_per;
        let byte_in_value = bytes_per - 1 - seg % bytes_per;
        for (p, &b) in decoded.iter().take(pixels).enumerate() {
            out[(p * h.samples + sample) * bytes_per + byte_in_value] = b;
        }
    }
    Ok(out)
}

/// PackBits as DICOM RLE uses it; stops once `limit` bytes are produced.
fn unpack_bits(src: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < src.len() && out.len() < limit {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let end = (i + len).min(src.len());
            out.extend_from_slice(&src[i..end]);
            i = end;
        } else if n != -128 {
            let len = (1 - n as isize) as usize;
            if let Some(&b) = src.get(i) {
                out.extend(std::iter::repeat_n(b, len));
            }
            i += 1;
        }
    }
    out
}

/// Decodes one JPEG frame (baseline, extended 8-bit, lossless) with jpeg-decoder.
///
/// Colour: the DICOM Photometric Interpretation decides, not the stream's markers. RGB means the
/// components are R, G, B and no YCbCr conversion is applied (even under a JFIF marker, which some
/// writers add regardless), as pydicom does; YBR_* streams are converted to RGB.
pub fn decode_jpeg(data: &[u8], h: &DicomHeader) -> Result<Vec<u8>> {
    let path = h.path.as_path();
    if h.samples == 3 && h.photometric == "RGB" {
        // Our sequential decoder returns the components as coded, with no colour conversion.
        let d = super::jpeg12::decode(data)
            .map_err(|e| err(path, format!("JPEG decoding failed: {e}")))?;
        return Ok(d.samples.iter().map(|&v| v as u8).collect());
    }
    let mut decoder = jpeg_decoder::Decoder::new(data);
    let pixels = decoder
        .decode()
        .map_err(|e| err(path, format!("JPEG decoding failed: {e}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| err(path, "JPEG stream has no frame header"))?;
    if info.width as usize != h.cols || info.height as usize != h.rows {
        return Err(err(
            path,
            format!(
                "JPEG stream is {}×{}, the data set says {}×{}",
                info.width, info.height, h.cols, h.rows
            ),
        ));
    }
    // 16-bit output of jpeg-decoder is big endian; ours is little endian.
    Ok(match info.pixel_format {
        jpeg_decoder::PixelFormat::L16 => {
            pixels.chunks_exact(2).flat_map(|c| [c[1], c[0]]).collect()
        }
        _ => pixels,
    })
}

/// Decodes one 12-bit JPEG Extended (Process 4) frame with our sequential DCT decoder.
pub fn decode_jpeg12(data: &[u8], h: &DicomHeader) -> Result<Vec<u8>> {
    let path = h.path.as_path();
    let d = super::jpeg12::decode(data)
        .map_err(|e| err(path, format!("JPEG Extended decoding failed: {e}")))?;
    if d.width != h.cols || d.height != h.rows || d.components != h.samples {
        return Err(err(
            path,
            format!(
                "JPEG stream is {}×{}×{}, the data set says {}×{}×{}",
                d.width, d.height, d.components, h.cols, h.rows, h.samples
            ),
        ));
    }
    Ok(d.samples.iter().flat_map(|v| v.to_le_bytes()).collect())
}
