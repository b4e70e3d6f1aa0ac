//! Reader behaviour on real corpus files beyond the reference statistics: identical voxels across
//! encodings, NIfTI volumes and versions, and clear errors on broken input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::path::PathBuf;
use voxmark::core::Voxels;
use voxmark::io::{self, IoError};

fn one(path: PathBuf) -> voxmark::io::LoadedImage {
    let mut scan = io::scan_paths(std::slice::from_ref(&path));
    assert!(
        scan.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        scan.errors
    );
    assert_eq!(scan.images.len(), 1, "{}", path.display());
    scan.images.remove(0)
}

#[test]
fn nine_encodings_of_one_mr_slice_give_identical_voxels() {
    let Some(data) = common::corpus() else { return };
    let dir = data.join("dicom/transfer_syntax/same_mr_slice");
    let first = one(dir.join("1.dcm"));
    for i in 2..=9 {
        let other = one(dir.join(format!("{i}.dcm")));
        println!("{i}.dcm: {:?}", other.volume.meta.transfer_syntaxes);
        assert_eq!(
            other.volume.voxels(),
            first.volume.voxels(),
            "{i}.dcm differs from 1.dcm"
        );
        assert_eq!(other.volume.size(), first.volume.size());
        assert_eq!(other.volume.rescale(), first.volume.rescale());
    }
}

#[test]
fn nifti_4d_exposes_each_volume() {
    let Some(data) = common::corpus() else { return };
    let path = data.join("nifti/nibabel/example4d.nii.gz");
    let first = io::nifti::read(&path, 0).unwrap();
    let count = first.header.volume_count();
    assert_eq!(count, 2, "example4d has 2 volumes");
    let second = io::nifti::read(&path, 1).unwrap();
    assert_eq!(second.volume.size(), first.volume.size());
    assert_ne!(second.volume.voxels(), first.volume.voxels());
    let err = io::nifti::read(&path, 2).unwrap_err();
    assert!(
        err.to_string()
            .contains("volume 2 requested, the file has 2"),
        "{err}"
    );
}

#[test]
fn nifti2_reads_like_nifti1() {
    let Some(data) = common::corpus() else { return };
    let n2 = io::nifti::read(&data.join("nifti/nibabel/example_nifti2.nii.gz"), 0).unwrap();
    assert_eq!(n2.header.version, 2);
    assert!(matches!(
        n2.volume.voxels(),
        Voxels::I16(_) | Voxels::F32(_) | Voxels::U8(_) | Voxels::F64(_) | Voxels::I32(_)
    ));
}

fn temp_with(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn broken_nifti_headers_give_clear_errors() {
    let Some(data) = common::corpus() else { return };
    let good = std::fs::read(data.join("nifti/nibabel/anatomical.nii")).unwrap();
    let le = i32::from_le_bytes([good[0], good[1], good[2], good[3]]) == 348;
    let i16b = |v: i16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.nii", vec![], "end of the header"),
        ("short.nii", good[..200].to_vec(), "end of the header"),
        (
            "sizeof.nii",
            [&[1u8, 2, 3, 4][..], &good[4..]].concat(),
            "sizeof_hdr",
        ),
        (
            "magic.nii",
            {
                let mut b = good.clone();
                b[344..348].copy_from_slice(b"xxx\0");
                b
            },
            "magic",
        ),
        (
            "dim0.nii",
            {
                let mut b = good.clone();
                b[40..42].copy_from_slice(&i16b(9));
                b
            },
            "dim[0]",
        ),
        (
            "dim.nii",
            {
                let mut b = good.clone();
                b[42..44].copy_from_slice(&i16b(-5));
                b
            },
            "dim[1]",
        ),
        (
            "dtype.nii",
            {
                let mut b = good.clone();
                b[70..72].copy_from_slice(&i16b(32));
                b
            },
            "complex64",
        ),
        (
            "truncated.nii",
            good[..good.len() / 2].to_vec(),
            "file ends before",
        ),
    ];
    for (name, bytes, expect) in cases {
        let (_dir, path) = temp_with(name, &bytes);
        let err = io::nifti::read(&path, 0)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        let msg = err.to_string();
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: the error does not name the file: {msg}"
        );
        assert!(matches!(err, IoError::Nifti { .. }), "{name}: {err:?}");
    }
}

#[test]
fn truncated_gzip_nifti_is_an_error_not_a_panic() {
    let Some(data) = common::corpus() else { return };
    let gz = std::fs::read(data.join("nifti/nibabel/example4d.nii.gz")).unwrap();
    // The file holds two volumes: cut inside the header, inside volume 0, and inside volume 1.
    for (cut, volume) in [(10, 0), (gz.len() / 3, 0), (gz.len() - 20, 1)] {
        let (_dir, path) = temp_with("cut.nii.gz", &gz[..cut]);
        let err = io::nifti::read(&path, volume).err();
        assert!(err.is_some(), "cut at {cut} was accepted");
    }
}

#[test]
fn truncated_and_garbage_dicom_give_clear_errors() {
    let Some(data) = common::corpus() else { return };
    let good = std::fs::read(data.join("dicom/pydicom_test_files/CT_small.dcm")).unwrap();
    for cut in [100, 132, 400, good.len() - 1000, good.len() - 1] {
        let (_dir, path) = temp_with("cut.dcm", &good[..cut]);
        let scan = io::scan_paths(std::slice::from_ref(&path));
        assert!(scan.images.is_empty(), "cut at {cut} decoded");
        if let [listed] = scan.non_images.as_slice() {
            // Cut between elements before Pixel Data: what is left is a valid data set, and pydicom reads
            // it the same way. It must say plainly that the image has no pixels.
            assert!(
                listed.sop_class_name.contains("without Pixel Data"),
                "cut at {cut}: {listed:?}"
            );
            continue;
        }
        assert_eq!(scan.errors.len(), 1, "cut at {cut}: {:?}", scan.errors);
        assert!(
            scan.errors[0].to_string().contains("cut.dcm"),
            "{}",
            scan.errors[0]
        );
    }
    let (_dir, path) = temp_with("garbage.dcm", &[0x5a; 4000]);
    let scan = io::scan_paths(std::slice::from_ref(&path));
    assert_eq!(scan.errors.len(), 1);
}

#[test]
fn a_series_mixing_orientations_is_split() {
    let Some(data) = common::corpus() else { return };
    // MR700 holds seven radial slices under one SeriesInstanceUID.
    let scan =
        io::scan_paths(&[data.join("dicom/pydicom_test_files/dicomdirtests/98892003/MR700")]);
    assert_eq!(scan.images.len(), 7);
    let uid = scan.images[0].volume.meta.series_uid.clone();
    assert!(scan.images.iter().all(|i| i.volume.meta.series_uid == uid));
}

#[test]
fn series_slices_sort_ascending_along_the_normal_whatever_the_file_order() {
    let Some(data) = common::corpus() else { return };
    // File names in this series are not in InstanceNumber or position order.
    let img = one(data.join("dicom/series/mr_prostate_adc_20sl"));
    let v = &img.volume;
    assert_eq!(v.size()[2], 20);
    let w = v.world_from_voxel();
    let d = v.direction();
    let normal = [d[0][2], d[1][2], d[2][2]];
    let mut last = f64::NEG_INFINITY;
    for k in 0..20usize {
        let p = w.apply([0.0, 0.0, k as f64]);
        let along = p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
        assert!(
            along > last,
            "slice {k} is not above slice {}",
            k.saturating_sub(1)
        );
        last = along;
    }
}

#[test]
fn tiff_and_png_of_8_and_16_bits_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (7u32, 5u32);
    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(w, h, |x, y| {
        image::Luma([(x * 9000 + y * 131) as u16])
    });
    let rgb8 = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 200]));
    let grey8 = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x + 10 * y) as u8]));
    for ext in ["tif", "png"] {
        let p16 = dir.path().join(format!("g16.{ext}"));
        let prgb = dir.path().join(format!("rgb.{ext}"));
        let p8 = dir.path().join(format!("g8.{ext}"));
        grey16.save(&p16).unwrap();
        rgb8.save(&prgb).unwrap();
        grey8.save(&p8).unwrap();
        let v = io::image2d::read(&p16).unwrap();
        assert_eq!(
            (v.size(), v.components(), v.voxels().dtype()),
            ([7, 5, 1], 1, "uint16"),
            "{ext}"
        );
        assert_eq!(
            v.value([6, 4, 0], 0),
            Some((6 * 9000 + 4 * 131) as f64),
            "{ext}"
        );
        let v = io::image2d::read(&prgb).unwrap();
        assert_eq!((v.components(), v.voxels().dtype()), (3, "uint8"), "{ext}");
        assert_eq!(
            [0, 1, 2].map(|c| v.value([3, 2, 0], c)),
            [Some(90.0), Some(80.0), Some(200.0)],
            "{ext}"
        );
        let v = io::image2d::read(&p8).unwrap();
        assert_eq!(v.value([2, 3, 0], 0), Some(32.0), "{ext}");
    }
    let bad = dir.path().join("bad.tif");
    std::fs::write(&bad, b"II*\0garbage").unwrap();
    let err = io::image2d::read(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.tif"), "{err}");
}

#[test]
fn the_preview_is_the_series_middle_slice_in_sorted_order() {
    let Some(data) = common::corpus() else { return };
    // File names here are in neither InstanceNumber nor position order.
    let dir = data.join("dicom/series/mr_prostate_adc_20sl");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut previews = Vec::new();
    let scan = io::dicom::load_files_with_preview(&files, &|f| f[0].clone(), &mut |p| {
        previews.push(p);
    });
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    let (full, preview) = (&scan.images[0].volume, &previews[..]);
    let [p] = preview else {
        panic!("one preview expected, got {}", preview.len())
    };
    assert_eq!((p.index, p.count), (10, 20));
    let [nx, ny, _] = full.size();
    assert_eq!(p.volume.size(), [nx, ny, 1]);
    let n = nx * ny;
    for i in 0..n {
        assert_eq!(
            p.volume.voxels().get_f64(i),
            full.voxels().get_f64(10 * n + i),
            "voxel {i}"
        );
    }
    assert_eq!(p.volume.rescale(), full.rescale());
    // Where it lies: the full volume's slice 10, to the micrometre.
    let (a, b) = (
        p.volume.world_from_voxel().apply([3.0, 4.0, 0.0]),
        full.world_from_voxel().apply([3.0, 4.0, 10.0]),
    );
    assert!((0..3).all(|c| (a[c] - b[c]).abs() < 1e-3), "{a:?} {b:?}");
    // Small series get no preview.
    let mut count = 0;
    io::dicom::load_files_with_preview(&files[..7], &|f| f[0].clone(), &mut |_| count += 1);
    assert_eq!(count, 0);
}

/// NRRD (.nrrd raw and gzip, detached .nhdr) and MetaImage (.mha, detached .mhd with zlib) written by
/// SimpleITK (`tools/itk_reference.py`: a corpus MR with an oblique direction, anisotropic
/// spacing and an origin, in every scalar type, and an RGB image), and NRRD as pynrrd writes it (a
/// RAS space, a detached big-endian .nhdr, ASCII, `spacings` only, an RGB-color axis) and a gzip
/// NRRD with a byte skip (teem skips it in the decompressed stream):
/// `voxmark info --json` gives SimpleITK's geometry and numpy's statistics.
#[test]
fn nrrd_and_metaimage_read_as_simpleitk_reads_them() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/itk_reference.py");
    let Some(reference) = common::python_json(&[
        script.as_os_str(),
        corpus.as_os_str(),
        dir.path().as_os_str(),
    ]) else {
        return;
    };
    let files = reference.as_object().unwrap();
    assert!(files.len() >= 56, "{}", files.len());
    assert!(files.contains_key("crafted_gzip_byte_skip.nrrd"));
    assert_eq!(
        files.keys().filter(|k| k.starts_with("pynrrd_")).count(),
        5,
        "{:?}",
        files.keys()
    );
    let close = |a: &serde_json::Value, b: &serde_json::Value, tol: f64, what: &str, name: &str| {
        let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
        assert_eq!(a.len(), b.len(), "{name}: {what}");
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{name}: {what} {a:?} vs {b:?}"
            );
        }
    };
    for (name, theirs) in files {
        let run = common::voxmark([
            "info".as_ref(),
            "--json".as_ref(),
            dir.path().join(name).as_os_str(),
        ]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let ours: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let v = &ours["volumes"][0];
        assert_eq!(v["size"], theirs["size"], "{name}");
        assert_eq!(v["components"], theirs["components"], "{name}");
        assert!(
            matches!(v["kind"].as_str(), Some("nrrd" | "metaimage")),
            "{name}: {}",
            v["kind"]
        );
        close(
            &v["spacing_mm"],
            &theirs["spacing_mm"],
            1e-9,
            "spacing",
            name,
        );
        close(
            &v["origin_lps_mm"],
            &theirs["origin_lps_mm"],
            1e-9,
            "origin",
            name,
        );
        close(
            &v["direction"],
            &theirs["direction"],
            1e-9,
            "direction",
            name,
        );
        for s in ["min", "max", "mean"] {
            let (a, b) = (
                v["stats"][s].as_f64().unwrap(),
                theirs["stats"][s].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                "{name}: {s} {a} vs {b}"
            );
        }
    }
}
