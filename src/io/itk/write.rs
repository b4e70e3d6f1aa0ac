//! Writing label maps as NRRD and MetaImage.

use super::super::Result;
use super::bad;
use crate::core::Vec3;
use std::path::{Path, PathBuf};

/// Writes a 3D label map as NRRD or MetaImage, by `path`'s extension: `.nrrd` (gzip, attached),
/// `.nhdr` (a detached header and `<stem>.raw.gz` beside it), `.mha` (zlib, attached) or `.mhd`
/// (a detached header and `<stem>.zraw`). The grid is `size` placed in LPS by `spacing_mm`,
/// `origin_lps_mm` and `direction` (rows of a matrix whose columns are the voxel axes), written as
/// `space: left-posterior-superior` with `space directions` (NRRD) or `TransformMatrix`, `Offset` and
/// `ElementSpacing` (MetaImage), as ITK and Slicer write them. `description` goes in a comment.
///
/// # Errors
/// An extension that names neither format, values that do not fill the grid, or a failed write.
pub fn write_labels(
    path: &Path,
    size: [usize; 3],
    spacing_mm: Vec3,
    origin_lps_mm: Vec3,
    direction: crate::core::Mat3,
    values: super::super::nifti::LabelValues<'_>,
    description: &str,
) -> Result<()> {
    use super::super::nifti::LabelValues;
    use std::io::Write;
    let n = size.iter().product::<usize>();
    let (nrrd_type, met_type, raw): (&str, &str, Vec<u8>) = match values {
        LabelValues::U8(v) if v.len() == n => ("uint8", "MET_UCHAR", v.to_vec()),
        LabelValues::U16(v) if v.len() == n => (
            "uint16",
            "MET_USHORT",
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        _ => {
            return Err(bad(
                path,
                format!("label data does not fill the grid {size:?}"),
            ));
        }
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map_or_else(|| "labels".to_owned(), |s| s.to_string_lossy().into_owned());
    let axis = |c: usize| [direction[0][c], direction[1][c], direction[2][c]];
    let num = |v: f64| format!("{v}");
    let write_err = |e: std::io::Error| bad(path, format!("cannot write: {e}"));
    let compressed = |gzip: bool| -> Result<Vec<u8>> {
        let out = if gzip {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&raw).and_then(|()| z.finish())
        } else {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&raw).and_then(|()| z.finish())
        };
        out.map_err(write_err)
    };
    let (header, data, data_file): (String, Vec<u8>, Option<String>) = match ext.as_str() {
        "nrrd" | "nhdr" => {
            let data_file = (ext == "nhdr").then(|| format!("{stem}.raw.gz"));
            let dirs: Vec<String> = (0..3)
                .map(|c| {
                    let a = axis(c);
                    format!(
                        "({},{},{})",
                        num(a[0] * spacing_mm[c]),
                        num(a[1] * spacing_mm[c]),
                        num(a[2] * spacing_mm[c])
                    )
                })
                .collect();
            let mut h = format!(
                "NRRD0004\n# {description}\ntype: {nrrd_type}\ndimension: 3\nspace: left-posterior-superior\nsizes: {} {} {}\nspace directions: {}\nkinds: domain domain domain\nendian: little\nencoding: gzip\nspace origin: ({},{},{})\n",
                size[0],
                size[1],
                size[2],
                dirs.join(" "),
                num(origin_lps_mm[0]),
                num(origin_lps_mm[1]),
                num(origin_lps_mm[2]),
            );
            if let Some(f) = &data_file {
                h.push_str(&format!("data file: {f}\n"));
            }
            h.push('\n');
            (h, compressed(true)?, data_file)
        }
        "mha" | "mhd" => {
            let data = compressed(false)?;
            let data_file = (ext == "mhd").then(|| format!("{stem}.zraw"));
            let matrix: Vec<String> = (0..3).flat_map(|c| axis(c).map(num)).collect();
            let h = format!(
                "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = True\nCompressedDataSize = {}\nTransformMatrix = {}\nOffset = {} {} {}\nCenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\nElementSpacing = {} {} {}\nDimSize = {} {} {}\nElementType = {met_type}\nElementDataFile = {}\n",
                data.len(),
                matrix.join(" "),
                num(origin_lps_mm[0]),
                num(origin_lps_mm[1]),
                num(origin_lps_mm[2]),
                num(spacing_mm[0]),
                num(spacing_mm[1]),
                num(spacing_mm[2]),
                size[0],
                size[1],
                size[2],
                data_file.as_deref().unwrap_or("LOCAL"),
            );
            (h, data, data_file)
        }
        _ => {
            return Err(bad(
                path,
                "a label map is written as .nrrd, .nhdr, .mha or .mhd (or NIfTI)",
            ));
        }
    };
    // Each file goes through a `.part` file renamed into place.
    let put = |target: &Path, parts: &[&[u8]]| -> Result<()> {
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(".part");
        let tmp = PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp).map_err(write_err)?;
        for p in parts {
            f.write_all(p).map_err(write_err)?;
        }
        f.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, target).map_err(write_err)
    };
    match data_file {
        Some(name) => {
            put(&path.with_file_name(name), &[&data])?;
            put(path, &[header.as_bytes()])
        }
        None => put(path, &[header.as_bytes(), &data]),
    }
}
