//! Decode benchmarks on the shared corpus (ARCHITECTURE.md §10).
//!
//! Each case loads the images through `voxmark::io::scan_paths` (the same path `voxmark info` takes) and then
//! computes `Volume::stats()` over every voxel. Peers are timed on synthetic data by `tools/bench_peers.py`.
//!
//! Run: `cargo bench --no-default-features --bench decode`. The corpus root is `$VOXMARK_TEST_DATA`, else
//! `<CARGO_MANIFEST_DIR>/../shared/data`; when it is missing no benchmark is registered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // benchmark code: a failed unwrap stops the run

use std::path::{Path, PathBuf};

use voxmark::io::scan_paths;

/// Corpus-relative paths of the cases, with a short name for the report.
const CASES: &[(&str, &str)] = &[
    ("ct_j2k_series", "dicom/series/ct_abdomen_20sl_j2kr"),
    (
        "mr_uncompressed_series",
        "dicom/series/mr_prostate_adc_20sl",
    ),
    (
        "mni_t1_nii_gz",
        "nifti/nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    ),
];

fn corpus_root() -> PathBuf {
    std::env::var_os("VOXMARK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// Loads everything under `path` and returns the summed voxel count and stats, so nothing is optimised away.
fn load_and_stats(path: &Path) -> (usize, f64) {
    let scan = scan_paths(&[path.to_path_buf()]);
    assert!(
        scan.errors.is_empty(),
        "errors loading {}: {:?}",
        path.display(),
        scan.errors
    );
    assert!(
        !scan.images.is_empty(),
        "no image found in {}",
        path.display()
    );
    let mut voxels = 0;
    let mut acc = 0.0;
    for image in &scan.images {
        let stats = image.volume.stats();
        voxels += image.volume.voxel_count();
        acc += stats.min + stats.max + stats.mean;
    }
    (voxels, acc)
}

#[divan::bench(args = CASES.iter().map(|(name, _)| *name), sample_count = 10, sample_size = 1)]
fn scan_and_stats(name: &str) -> (usize, f64) {
    let rel = CASES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, rel)| *rel)
        .unwrap_or_default();
    load_and_stats(&corpus_root().join(rel))
}

fn main() {
    let root = corpus_root();
    let missing: Vec<&str> = CASES
        .iter()
        .map(|(_, rel)| *rel)
        .filter(|rel| !root.join(rel).exists())
        .collect();
    if !missing.is_empty() {
        println!(
            "decode benchmarks skipped: corpus missing ({} not found under {}); set VOXMARK_TEST_DATA",
            missing.join(", "),
            root.display()
        );
        return;
    }
    divan::main();
}
