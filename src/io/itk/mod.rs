//! NRRD (`.nrrd`, detached `.nhdr`) and MetaImage (`.mha`, detached `.mhd`): 3D Slicer's and
//! ITK's own formats, read into LPS millimetres as ITK reads them.
//!
//! NRRD: `type`, `dimension`, `sizes`, `encoding` (raw, gzip, ascii), `endian`, `space` (any of the
//! anatomical spaces; RAS and LAS are turned into LPS), `space directions` (which hold the spacing),
//! `space origin`, else `spacings`; a first axis without a direction (`none`, kinds `vector`,
//! `RGB-color`…) holds the components; `data file` for detached headers, `byte skip` and
//! `line skip`. MetaImage: `NDims`, `DimSize`, `ElementType`, `ElementNumberOfChannels`,
//! `ElementSpacing`, `Offset`/`Origin`/`Position`, `TransformMatrix` (the axis vectors one after
//! another, as ITK writes them), `BinaryDataByteOrderMSB`, `CompressedData` (zlib),
//! `ElementDataFile` (`LOCAL` or a file beside the header), `HeaderSize`.

mod read;
mod write;

pub use read::read;
pub use write::write_labels;

use super::IoError;
use std::path::{Path, PathBuf};

fn bad(path: &Path, what: impl Into<String>) -> IoError {
    IoError::Image {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// True for `.nrrd`, `.nhdr`, `.mha` and `.mhd` names.
pub fn is_itk_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("nrrd" | "nhdr" | "mha" | "mhd"))
}

/// The data file a detached header (`.nhdr`, `.mhd`) names, beside it; `None` for attached
/// headers or a header that cannot be read.
pub fn detached_data_file(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read(path).ok()?;
    let head = String::from_utf8_lossy(&text[..text.len().min(64 * 1024)]).into_owned();
    let name = head.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("data file:")
            .or_else(|| l.strip_prefix("datafile:"))
            .or_else(|| {
                l.strip_prefix("ElementDataFile")
                    .and_then(|r| r.trim_start().strip_prefix('='))
            })
            .map(|v| v.trim().to_owned())
    })?;
    (name != "LOCAL" && !name.starts_with("LIST") && !name.contains('%'))
        .then(|| path.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A RAS NRRD (as Slicer writes them) comes out in LPS: x and y negated, spacing from the
    /// direction lengths; big-endian shorts read in order.
    #[test]
    fn nrrd_ras_to_lps_and_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"NRRD0004\n# comment\ntype: short\ndimension: 3\nspace: right-anterior-superior\nsizes: 2 1 1\nspace directions: (-2,0,0) (0,-3,0) (0,0,4)\nspace origin: (10,20,30)\nendian: big\nencoding: raw\nkey:=value\n\n".to_vec();
        bytes.extend([0x01, 0x02, 0xff, 0xfe]);
        let v = read(&write(dir.path(), "a.nrrd", &bytes)).unwrap();
        assert_eq!(v.size(), [2, 1, 1]);
        assert_eq!(v.spacing_mm(), [2.0, 3.0, 4.0]);
        assert_eq!(v.origin_lps_mm(), [-10.0, -20.0, 30.0]);
        assert_eq!(
            v.direction(),
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        );
        assert_eq!(v.value([0, 0, 0], 0), Some(258.0));
        assert_eq!(v.value([1, 0, 0], 0), Some(-2.0));
    }

    /// ASCII data after an attached header (as pynrrd writes it), with `line skip` and `byte skip`
    /// counted from the end of the header, not from the start of the file.
    #[test]
    fn attached_ascii_skips_from_the_end_of_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let plain =
            b"NRRD0005\ntype: uint8\ndimension: 3\nsizes: 3 1 1\nencoding: ascii\n\n7\n8\n9\n";
        let v = read(&write(dir.path(), "a.nrrd", plain)).unwrap();
        assert_eq!(v.value([2, 0, 0], 0), Some(9.0));
        let skipping = b"NRRD0005\ntype: short\ndimension: 3\nsizes: 2 1 1\nencoding: ascii\nline skip: 1\nbyte skip: 2\n\n1 2 3\nxx-4 5\n";
        let v = read(&write(dir.path(), "b.nrrd", skipping)).unwrap();
        assert_eq!(v.value([0, 0, 0], 0), Some(-4.0));
        assert_eq!(v.value([1, 0, 0], 0), Some(5.0));
    }

    /// A detached MetaImage with zlib data, and a short file named in the error.
    #[test]
    fn metaimage_detached_zlib_and_short_data() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[1u8, 2, 3, 4, 5, 6]).unwrap();
        write(dir.path(), "a.zraw", &z.finish().unwrap());
        let header = "ObjectType = Image\nNDims = 2\nDimSize = 3 2\nElementType = MET_UCHAR\nElementSpacing = 0.5 0.25\nOffset = 1 2\nTransformMatrix = 0 1 -1 0\nCompressedData = True\nElementDataFile = a.zraw\n";
        let v = read(&write(dir.path(), "a.mhd", header.as_bytes())).unwrap();
        assert_eq!(v.size(), [3, 2, 1]);
        assert_eq!(v.spacing_mm(), [0.5, 0.25, 1.0]);
        assert_eq!(v.value([2, 1, 0], 0), Some(6.0));
        // The first axis runs along +y, the second along -x.
        assert_eq!(v.direction()[1][0], 1.0);
        assert_eq!(v.direction()[0][1], -1.0);
        let header = header.replace("DimSize = 3 2", "DimSize = 4 2");
        let err = read(&write(dir.path(), "b.mhd", header.as_bytes())).unwrap_err();
        assert!(err.to_string().contains("6 of the 8 bytes"), "{err}");
        // A damaged size asks for petabytes: an error naming the shortfall, not an allocation.
        let huge = header.replace("DimSize = 4 2", "DimSize = 400000000 400000000");
        let err = read(&write(dir.path(), "c.mhd", huge.as_bytes())).unwrap_err();
        assert!(
            err.to_string().contains("bytes its header describes"),
            "{err}"
        );
    }

    #[test]
    fn label_maps_written_in_each_container_read_back_with_their_grid() {
        let dir = tempfile::tempdir().unwrap();
        let size = [4usize, 3, 2];
        let values: Vec<u16> = (0..24).map(|v| v * 300).collect();
        let direction = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        for ext in ["nrrd", "nhdr", "mha", "mhd"] {
            let path = dir.path().join(format!("m.{ext}"));
            write_labels(
                &path,
                size,
                [0.5, 1.5, 2.0],
                [10.0, -20.0, 30.5],
                direction,
                super::super::nifti::LabelValues::U16(&values),
                "test",
            )
            .unwrap();
            let v = read(&path).unwrap();
            assert_eq!(v.size(), size, "{ext}");
            assert_eq!(v.spacing_mm(), [0.5, 1.5, 2.0], "{ext}");
            assert_eq!(v.origin_lps_mm(), [10.0, -20.0, 30.5], "{ext}");
            assert_eq!(v.direction(), direction, "{ext}");
            let back: Vec<u16> = (0..24)
                .map(|i| v.voxels().get_f64(i).unwrap() as u16)
                .collect();
            assert_eq!(back, values, "{ext}");
            let detached = detached_data_file(&path);
            assert_eq!(detached.is_some(), ext == "nhdr" || ext == "mhd", "{ext}");
        }
        let bad = write_labels(
            &dir.path().join("m.vtk"),
            size,
            [1.0; 3],
            [0.0; 3],
            direction,
            super::super::nifti::LabelValues::U16(&values),
            "",
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains(".nrrd, .nhdr, .mha or .mhd")
        );
    }
}
