//! A check of a DICOM file's element lengths before the parser trusts them.
//!
//! dicom-rs allocates an element's value from its declared length before reading it, so a damaged
//! or truncated file declaring gigabytes makes it allocate (and zero) gigabytes. This walk reads
//! only element headers — every element and item of the data set, descending into sequences and
//! encapsulated pixel data, skipping other values — and refuses a file whose declared length runs
//! past its end, naming the element. Deflated data sets are not walked (their lengths are inside
//! the compressed stream).

use std::io::{Read, Seek, SeekFrom};

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// How a data set is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// Explicit VR.
    pub explicit: bool,
    /// Big endian.
    pub big_endian: bool,
}

impl Encoding {
    /// The encoding of a transfer syntax UID; `None` for deflated data sets (not walked).
    pub fn of(ts: &str) -> Option<Self> {
        let ts = ts.trim_end_matches(['\0', ' ']);
        match ts {
            DEFLATED => None,
            IMPLICIT_LE => Some(Encoding {
                explicit: false,
                big_endian: false,
            }),
            EXPLICIT_BE => Some(Encoding {
                explicit: true,
                big_endian: true,
            }),
            _ => Some(Encoding {
                explicit: true,
                big_endian: false,
            }),
        }
    }
}

/// Checks a whole file: preamble and file meta, then the data set in the meta's transfer syntax
/// (`fallback` when the meta names none); a file without a meta is left to the tolerant reader.
/// `Err` says which element claims too much.
/// With `header_only`, the walk ends at Pixel Data (a reader stopping there never allocates it).
pub fn check_file(
    path: &std::path::Path,
    fallback: Encoding,
    header_only: bool,
) -> Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    let mut head = [0u8; 132];
    let has_meta = f.read_exact(&mut head).is_ok() && &head[128..132] == b"DICM";
    let (start, encoding) = if has_meta {
        let (end, ts) = walk_meta(&mut f, size)?;
        match ts.as_deref().and_then(Encoding::of) {
            Some(e) => (end, e),
            None if ts.is_some() => return Ok(()),
            None => (end, fallback),
        }
    } else {
        // Without a file meta the reader refuses the file (the tolerant reader checks each guess
        // with `check_bytes`).
        return Ok(());
    };
    f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    walk(&mut f, start, size, encoding, header_only)
}

/// Checks a data set held in `bytes` (the tolerant reader's candidates).
pub fn check_bytes(bytes: &[u8], encoding: Encoding) -> Result<(), String> {
    let mut c = std::io::Cursor::new(bytes);
    walk(&mut c, 0, bytes.len() as u64, encoding, false)
}

/// Walks group 2 (always explicit VR little endian); returns where the data set starts and the
/// transfer syntax it names.
fn walk_meta<R: Read + Seek>(r: &mut R, size: u64) -> Result<(u64, Option<String>), String> {
    let mut pos = 132u64;
    let mut ts = None;
    // Where (0002,0000) says the meta ends: readers (dicom-rs) start the data set there, so a
    // damaged group length must agree with the elements or the data set is read misaligned.
    let mut declared_end: Option<u64> = None;
    let ends = |pos: u64, declared_end: Option<u64>| match declared_end {
        Some(end) if end != pos => Err(format!(
            "the file meta group length (0002,0000) says the meta ends at byte {end}, its elements end at byte {pos} (damaged)"
        )),
        _ => Ok(()),
    };
    loop {
        let mut tag = [0u8; 4];
        if r.read_exact(&mut tag).is_err() {
            ends(pos, declared_end)?;
            return Ok((pos, ts));
        }
        let group = u16::from_le_bytes([tag[0], tag[1]]);
        if group != 0x0002 {
            ends(pos, declared_end)?;
            return Ok((pos, ts));
        }
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        let (len, header) =
            explicit_length(r, false).map_err(|_| truncated(group, element, pos))?;
        let value_at = pos + header;
        if len == UNDEFINED || value_at + u64::from(len) > size {
            return Err(too_long(group, element, len, size.saturating_sub(value_at)));
        }
        if element == 0x0000 && len == 4 {
            let mut v = [0u8; 4];
            r.read_exact(&mut v)
                .map_err(|_| truncated(group, element, pos))?;
            declared_end = Some(value_at + 4 + u64::from(u32::from_le_bytes(v)));
        } else if element == 0x0010 && len <= 64 {
            let mut v = vec![0u8; len as usize];
            r.read_exact(&mut v)
                .map_err(|_| truncated(group, element, pos))?;
            ts = Some(String::from_utf8_lossy(&v).into_owned());
        } else {
            r.seek(SeekFrom::Current(i64::from(len)))
                .map_err(|e| e.to_string())?;
        }
        pos = value_at + u64::from(len);
    }
}

fn truncated(group: u16, element: u16, at: u64) -> String {
    format!("element ({group:04X},{element:04X}) at byte {at} is cut short")
}

fn too_long(group: u16, element: u16, len: u32, left: u64) -> String {
    format!(
        "element ({group:04X},{element:04X}) claims {len} bytes but only {left} remain in the file (truncated or damaged)"
    )
}

/// The value representations of PS3.5 §6.2.
const KNOWN_VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Reads VR and length of an explicit-VR element whose tag was read; returns (length, header size).
/// An unknown VR is an error: parsers disagree on how long its header is.
fn explicit_length<R: Read>(r: &mut R, big_endian: bool) -> std::io::Result<(u32, u64)> {
    let mut vr = [0u8; 2];
    r.read_exact(&mut vr)?;
    if !KNOWN_VRS.contains(&&vr) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "unknown VR",
        ));
    }
    let long = matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"SV"
            | b"UV"
    );
    if long {
        let mut b = [0u8; 6];
        r.read_exact(&mut b)?;
        let l = [b[2], b[3], b[4], b[5]];
        Ok((
            if big_endian {
                u32::from_be_bytes(l)
            } else {
                u32::from_le_bytes(l)
            },
            12,
        ))
    } else {
        let mut b = [0u8; 2];
        r.read_exact(&mut b)?;
        Ok((
            u32::from(if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }),
            8,
        ))
    }
}

/// Walks element and item headers from `pos` to `size`. Values of defined length are skipped,
/// except sequences (explicit `SQ`, or an implicit value that starts with an item tag), whose
/// items are walked too; undefined lengths are walked into.
fn walk<R: Read + Seek>(
    r: &mut R,
    mut pos: u64,
    size: u64,
    enc: Encoding,
    header_only: bool,
) -> Result<(), String> {
    let u16_of = |b: [u8; 2]| {
        if enc.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_of = |b: [u8; 4]| {
        if enc.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    // Inside encapsulated pixel data, items are fragments of compressed bytes, not elements.
    let mut in_fragments = false;
    // Bounded: each step moves at least 8 bytes forward.
    while pos + 8 <= size {
        let mut tag = [0u8; 4];
        if r.read_exact(&mut tag).is_err() {
            return Ok(());
        }
        let group = u16_of([tag[0], tag[1]]);
        let element = u16_of([tag[2], tag[3]]);
        if header_only && (group, element) == (0x7FE0, 0x0010) {
            return Ok(());
        }
        let (len, header, descend) = if group == 0xFFFE {
            // Items and delimiters: a 4-byte length in every encoding. Items are walked into.
            let mut l = [0u8; 4];
            r.read_exact(&mut l)
                .map_err(|_| truncated(group, element, pos))?;
            if element == 0xE0DD {
                in_fragments = false;
            }
            (u32_of(l), 8, element == 0xE000 && !in_fragments)
        } else if enc.explicit {
            let mut vr = [0u8; 2];
            r.read_exact(&mut vr)
                .map_err(|_| truncated(group, element, pos))?;
            r.seek(SeekFrom::Current(-2)).map_err(|e| e.to_string())?;
            let (len, header) = explicit_length(r, enc.big_endian).map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    format!(
                        "element ({group:04X},{element:04X}) at byte {pos} has an unknown value representation {:?}",
                        String::from_utf8_lossy(&vr)
                    )
                } else {
                    truncated(group, element, pos)
                }
            })?;
            // Only Pixel Data holds fragments; the parser reads any other undefined-length value as
            // items of elements (a damaged tag turns Pixel Data into such an element).
            if len == UNDEFINED
                && matches!(&vr, b"OB" | b"OW")
                && (group, element) == (0x7FE0, 0x0010)
            {
                in_fragments = true;
            }
            (len, header, &vr == b"SQ")
        } else {
            let mut l = [0u8; 4];
            r.read_exact(&mut l)
                .map_err(|_| truncated(group, element, pos))?;
            let len = u32_of(l);
            if len == UNDEFINED && (group, element) == (0x7FE0, 0x0010) {
                in_fragments = true;
            }
            // An implicit value that opens with an item tag is a sequence: walk it.
            let mut peek = [0u8; 4];
            let starts_item = len != UNDEFINED
                && len >= 8
                && r.read_exact(&mut peek).is_ok()
                && u16_of([peek[0], peek[1]]) == 0xFFFE
                && u16_of([peek[2], peek[3]]) == 0xE000;
            if len != UNDEFINED && len >= 8 {
                r.seek(SeekFrom::Current(-4)).map_err(|e| e.to_string())?;
            }
            (len, 8, starts_item)
        };
        let value_at = pos + header;
        if len == UNDEFINED {
            pos = value_at;
            continue;
        }
        if value_at + u64::from(len) > size {
            return Err(too_long(group, element, len, size.saturating_sub(value_at)));
        }
        if descend {
            pos = value_at;
        } else {
            r.seek(SeekFrom::Start(value_at + u64::from(len)))
                .map_err(|e| e.to_string())?;
            pos = value_at + u64::from(len);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_le() -> Encoding {
        Encoding {
            explicit: true,
            big_endian: false,
        }
    }

    #[test]
    fn lengths_past_the_end_are_named() {
        // (0010,0010) PN, 4 bytes "AB^C", then (0028,0010) US claiming 0xFFF0 bytes.
        let mut b = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0];
        b.extend(b"AB^C");
        assert_eq!(check_bytes(&b, explicit_le()), Ok(()));
        b.extend([0x28, 0x00, 0x10, 0x00, b'U', b'S', 0xF0, 0xFF, 1, 0]);
        let e = check_bytes(&b, explicit_le()).unwrap_err();
        assert!(e.contains("(0028,0010) claims 65520 bytes"), "{e}");
    }

    #[test]
    fn encapsulated_fragments_are_not_read_as_elements() {
        // (7FE0,0010) OB undefined: an empty offset table, a fragment whose bytes would read as
        // an element claiming 0xFFFF0000 bytes, then the sequence delimiter.
        let mut b = vec![
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        b.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        b.extend([0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
        b.extend([
            0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0, 0x00, 0x00, 0xFF, 0xFF,
        ]);
        b.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(check_bytes(&b, explicit_le()), Ok(()));
    }

    #[test]
    fn sequences_are_walked_into() {
        // (0008,1115) SQ undefined length, an item of defined length holding (0008,1150) UI
        // claiming 1000 bytes.
        let mut b = vec![
            0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        b.extend([0xFE, 0xFF, 0x00, 0xE0, 16, 0, 0, 0]);
        b.extend([0x08, 0x00, 0x50, 0x11, b'U', b'I', 0xE8, 0x03]);
        b.extend([0u8; 8]);
        let e = check_bytes(&b, explicit_le()).unwrap_err();
        assert!(e.contains("(0008,1150) claims 1000"), "{e}");
    }
}
