//! LiteMedSAM through Voxmark (pre-processing + encoder; decoder + post-processing back to the slice)
//! on the corpus CT's slice 10 and the liver's box, the inputs `tools/litemedsam_reference.py` uses.
//! `tools/bench_litemedsam.py` runs this and onnxruntime's Python API in one run and prints the ratios.
//!
//! Run: `ORT_DYLIB_PATH=… cargo bench --bench inference`. Needs the corpus (`$VOXMARK_TEST_DATA`, else
//! `../shared/data`) and ONNX Runtime; without either no benchmark is registered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // benchmark code: a failed unwrap stops the run

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use voxmark::inference::preprocess::plane_values;
use voxmark::inference::{Embedding, Manifest, Promptable, preprocess::Intensity};

const SLICE: usize = 10;
/// The liver on slice 10 (TotalSegmentator label 5's pixel bounds), x0, y0, x1, y1.
const LIVER: [f64; 4] = [107.0, 196.0, 269.0, 374.0];
const WINDOW: Intensity = Intensity::Window {
    lo: -160.0,
    hi: 240.0,
};

fn corpus_root() -> PathBuf {
    std::env::var_os("VOXMARK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

struct Case {
    model: Promptable,
    values: Vec<f64>,
    size: (usize, usize),
    embedding: Embedding,
    _dir: tempfile::TempDir,
}

fn case() -> &'static Mutex<Case> {
    static CASE: OnceLock<Mutex<Case>> = OnceLock::new();
    CASE.get_or_init(|| {
        let root = corpus_root();
        let dir = tempfile::tempdir().expect("a temporary folder");
        for f in ["litemedsam_encoder.onnx", "litemedsam_decoder.int8.onnx"] {
            std::os::unix::fs::symlink(root.join("onnx").join(f), dir.path().join(f))
                .expect("link the graphs");
        }
        let manifest = dir.path().join("litemedsam.toml");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/litemedsam.toml"),
            &manifest,
        )
        .expect("copy the manifest");
        let mut model = Promptable::load(Manifest::load(&manifest).expect("manifest"), None)
            .expect("LiteMedSAM loads");
        let scan = voxmark::io::scan_paths(&[root.join("dicom/series/ct_abdomen_20sl_j2kr")]);
        let ct = &scan.images[0].volume;
        let [nx, ny, _] = ct.size();
        let values = plane_values(ct, SLICE);
        let embedding = model.embed(&values, ny, nx, WINDOW).expect("encoder runs");
        Mutex::new(Case {
            model,
            values,
            size: (ny, nx),
            embedding,
            _dir: dir,
        })
    })
}

/// Pre-processing (window, resize, pad, channels) and the encoder.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn encoder_with_preprocessing() -> usize {
    let mut c = case().lock().expect("not poisoned");
    let (h, w) = c.size;
    let values = c.values.clone();
    c.model
        .embed(&values, h, w, WINDOW)
        .expect("encoder")
        .height
}

/// The decoder for one box and the mask back on the 512 × 512 slice (a cached embedding: what a
/// box drawn in the viewer costs).
#[divan::bench(sample_count = 30, sample_size = 1)]
fn decoder_with_postprocessing() -> usize {
    let mut c = case().lock().expect("not poisoned");
    let c = &mut *c;
    let p = c.model.segment_box(&c.embedding, LIVER).expect("decoder");
    p.mask.iter().filter(|m| **m).count()
}

fn main() {
    let root = corpus_root();
    if !root.join("onnx/litemedsam_encoder.onnx").is_file() {
        println!(
            "inference benchmarks skipped: no corpus at {}",
            root.display()
        );
        return;
    }
    if let Err(e) = voxmark::inference::runtime::get() {
        println!("inference benchmarks skipped: {e}");
        return;
    }
    // Load once before timing.
    drop(case().lock());
    divan::main();
}
