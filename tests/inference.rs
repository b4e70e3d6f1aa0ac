//! LiteMedSAM through Voxmark against onnxruntime's Python API on the same inputs
//! (`tools/litemedsam_reference.py`, run by `.ci/run`): the same boxes from the TotalSegmentator labels,
//! the same Dice per box.

#![cfg(feature = "inference")]

mod common;

use std::path::{Path, PathBuf};
use voxmark::core::Volume;
use voxmark::inference::{self, EmbeddingCache, Manifest, Promptable, preprocess::Intensity};

/// Whether missing ONNX Runtime or reference values must fail (CI) rather than skip.
fn required() -> bool {
    std::env::var_os("VOXMARK_REQUIRE_ORT").is_some_and(|v| v == "1")
}

fn skip(why: &str) {
    assert!(!required(), "{why} (VOXMARK_REQUIRE_ORT=1)");
    println!("skipped: {why}");
}

/// The shipped manifest in a folder beside links to the corpus graphs.
fn litemedsam(corpus: &Path, dir: &Path) -> Manifest {
    for f in ["litemedsam_encoder.onnx", "litemedsam_decoder.int8.onnx"] {
        std::os::unix::fs::symlink(corpus.join("onnx").join(f), dir.join(f)).unwrap();
    }
    let manifest = dir.join("litemedsam.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/litemedsam.toml"),
        &manifest,
    )
    .unwrap();
    Manifest::load(&manifest).unwrap()
}

/// Labels on slice `k` of the CT grid, by nearest neighbour through world coordinates.
fn labels_on_slice(ct: &Volume, labels: &Volume, k: usize) -> Vec<u32> {
    let [nx, ny, _] = ct.size();
    let (world, to_label) = (ct.world_from_voxel(), labels.voxel_from_world());
    let ls = labels.size();
    let mut out = vec![0; nx * ny];
    for j in 0..ny {
        for i in 0..nx {
            let v = to_label.apply(world.apply([i as f64, j as f64, k as f64]));
            let r = v.map(|x| x.round());
            if (0..3).all(|a| r[a] >= 0.0 && r[a] < ls[a] as f64) {
                let ijk = r.map(|x| x as usize);
                out[j * nx + i] = labels.value(ijk, 0).unwrap_or(0.0) as u32;
            }
        }
    }
    out
}

#[test]
fn litemedsam_matches_onnxruntime_python_on_the_corpus_ct() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if let Err(e) = inference::runtime::get() {
        return skip(&e.to_string());
    }
    let Some(reference) = std::env::var_os("VOXMARK_LITEMEDSAM_REFERENCE").map(PathBuf::from)
    else {
        return skip("VOXMARK_LITEMEDSAM_REFERENCE is not set (tools/litemedsam_reference.py)");
    };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut model = Promptable::load(litemedsam(&corpus, dir.path()), None).unwrap();
    let ct = common::gpu::load_one(&corpus.join("dicom/series/ct_abdomen_20sl_j2kr"));
    let labels = common::gpu::load_one(&corpus.join("nifti/totalseg/example_seg_dicom.nii.gz"));
    let [nx, ny, _] = ct.size();
    let intensity = Intensity::Window {
        lo: -160.0,
        hi: 240.0,
    };
    let mut cache = EmbeddingCache::new(2);
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 6, "{} cases", cases.len());
    let mut dices = Vec::new();
    for case in cases {
        let k = case["slice"].as_u64().unwrap() as usize;
        let label = case["label"].as_u64().unwrap() as u32;
        let (embedding, _) = cache
            .get_or_make(&EmbeddingCache::key("ct", k, intensity), || {
                let values: Vec<f64> = (0..nx * ny)
                    .map(|p| ct.value([p % nx, p / nx, k], 0).unwrap())
                    .collect();
                model.embed(&values, ny, nx, intensity)
            })
            .unwrap();
        let truth: Vec<bool> = labels_on_slice(&ct, &labels, k)
            .into_iter()
            .map(|l| l == label)
            .collect();
        // The box: the label's pixel bounds, as the reference took them.
        let (mut lo, mut hi) = ([usize::MAX; 2], [0usize; 2]);
        for (p, _) in truth.iter().enumerate().filter(|(_, t)| **t) {
            let ij = [p % nx, p / nx];
            for a in 0..2 {
                lo[a] = lo[a].min(ij[a]);
                hi[a] = hi[a].max(ij[a]);
            }
        }
        let bbox = [lo[0], lo[1], hi[0], hi[1]].map(|v| v as f64);
        let proposal = model.segment_box(&embedding, bbox).unwrap();
        let expected_box: Vec<f32> = case["box_256"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(
            proposal.model_box.to_vec(),
            expected_box,
            "slice {k} label {label}: the same box as the reference"
        );
        let both = proposal
            .mask
            .iter()
            .zip(&truth)
            .filter(|(a, b)| **a && **b)
            .count();
        let total =
            proposal.mask.iter().filter(|a| **a).count() + truth.iter().filter(|t| **t).count();
        let dice = 2.0 * both as f64 / total as f64;
        let theirs = case["dice"].as_f64().unwrap();
        println!(
            "slice {k} label {label}: Dice {dice:.4} (onnxruntime Python {theirs:.4}), score {:?}",
            proposal.score
        );
        assert!(
            (dice - theirs).abs() <= 0.005,
            "slice {k} label {label}: Dice {dice} vs {theirs}"
        );
        dices.push(dice);
    }
    let mean = dices.iter().sum::<f64>() / dices.len() as f64;
    let theirs = reference["mean_dice"].as_f64().unwrap();
    println!(
        "mean Dice {mean:.4} over {} boxes (onnxruntime Python {theirs:.4})",
        dices.len()
    );
    assert!(
        (mean - theirs).abs() <= 0.002 && mean > 0.9,
        "{mean} vs {theirs}"
    );
}

#[test]
fn a_graph_that_breaks_its_manifest_is_refused_by_name() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if let Err(e) = inference::runtime::get() {
        return skip(&e.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let mut m = litemedsam(&corpus, dir.path());
    m.input.name = "pixels".into();
    let e = Promptable::load(m.clone(), None).err().unwrap().to_string();
    assert!(
        e.contains("no input `pixels`") && e.contains("image") && e.contains("litemedsam_encoder"),
        "{e}"
    );
    m.input.name = "image".into();
    m.input.side = 512;
    let e = Promptable::load(m.clone(), None).err().unwrap().to_string();
    assert!(
        e.contains("1×3×256×256") && e.contains("1×3×512×512"),
        "{e}"
    );
    m.input.side = 256;
    m.outputs.masks = "masks".into();
    let e = Promptable::load(m, None).err().unwrap().to_string();
    assert!(
        e.contains("no output `masks`") && e.contains("low_res_masks"),
        "{e}"
    );
}
