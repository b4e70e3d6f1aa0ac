//! LiteMedSAM through Voxmark against onnxruntime's Python API on the same inputs
//! (`tools/litemedsam_reference.py`, run by `.ci/run`): the same boxes from the TotalSegmentator labels,
//! the same Dice per box.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test
#![cfg(feature = "inference")]

mod common;

use common::skip_without_ort as skip;

use std::path::{Path, PathBuf};
use voxmark::core::Volume;
use voxmark::inference::{self, EmbeddingCache, Manifest, Promptable, preprocess::Intensity};

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
    let ct = common::load_one(&corpus.join("dicom/series/ct_abdomen_20sl_j2kr"));
    let labels = common::load_one(&corpus.join("nifti/totalseg/example_seg_dicom.nii.gz"));
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
    m.outputs.masks = Some("masks".into());
    let e = Promptable::load(m, None).err().unwrap().to_string();
    assert!(
        e.contains("no output `masks`") && e.contains("low_res_masks"),
        "{e}"
    );
}

#[test]
fn without_onnx_runtime_the_doctor_says_so_and_infer_fails_clearly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(["doctor"])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("inference unavailable") && text.contains("/nonexistent/libonnxruntime.so"),
        "{text}"
    );
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.voxmark");
    let png = corpus.join("cxr/nih_cxr14/00000001_000.png");
    assert_eq!(
        common::voxmark(["new".as_ref(), project.as_os_str()]).code,
        0
    );
    assert_eq!(
        common::voxmark(["add".as_ref(), project.as_os_str(), png.as_os_str()]).code,
        0
    );
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/litemedsam.toml");
    std::fs::copy(&manifest, dir.path().join("litemedsam.toml")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(["infer".as_ref(), project.as_os_str(), "--model".as_ref()])
        .arg(dir.path().join("litemedsam.toml"))
        .args([
            "--image",
            &common::image_ids(&project)[0],
            "--box",
            "10,10,50,50",
        ])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("inference unavailable"), "{err}");
}

#[test]
fn infer_adds_a_proposed_mask_with_its_provenance() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if let Err(e) = inference::runtime::get() {
        return skip(&e.to_string());
    }
    let doctor = common::voxmark(["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert_eq!(v["available"], true, "{}", doctor.stdout);
    assert!(v["version"].as_str().unwrap().starts_with("1."), "{v}");
    assert_eq!(v["providers"][0], "CPU");

    let dir = tempfile::tempdir().unwrap();
    let manifest = litemedsam(&corpus, dir.path());
    let project = dir.path().join("ct.voxmark");
    let ct = corpus.join("dicom/series/ct_abdomen_20sl_j2kr");
    assert_eq!(
        common::voxmark(["new".as_ref(), project.as_os_str()]).code,
        0
    );
    assert_eq!(
        common::voxmark(["add".as_ref(), project.as_os_str(), ct.as_os_str()]).code,
        0
    );
    let image = common::image_ids(&project).remove(0);
    let infer = |bbox: &str| {
        common::voxmark([
            "infer".as_ref(),
            project.as_os_str(),
            "--model".as_ref(),
            manifest.path.as_os_str(),
            "--image".as_ref(),
            image.as_ref(),
            "--slice".as_ref(),
            "10".as_ref(),
            "--box".as_ref(),
            std::ffi::OsStr::new(bbox),
            "--label".as_ref(),
            "liver".as_ref(),
        ])
    };
    // The liver's box on slice 10 (the reference's label 5 box, in pixels).
    let run = infer("107,196,163,179");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = voxmark::store::Project::open(&project)
        .unwrap()
        .load_document()
        .unwrap();
    let region = doc.regions.values().next().expect("one proposal");
    assert_eq!(region.author.to_string(), "model:litemedsam@0.1.1");
    assert_eq!(region.status, voxmark::core::annotation::Status::Proposed);
    assert!(region.confidence.unwrap() > 0.9);
    let prompt: serde_json::Value =
        serde_json::from_str(region.prompt.as_deref().unwrap()).unwrap();
    assert_eq!(
        prompt["box_xywh"],
        serde_json::json!([107.0, 196.0, 163.0, 179.0])
    );
    assert_eq!(prompt["slice"], 10);
    assert_eq!(prompt["manifest_blake3"], manifest.hash.as_str());
    let mask = &doc.masks[&region.id];
    let b = mask.bounds().unwrap();
    assert_eq!((b.min[2], b.max[2]), (10, 11), "on slice 10 only");
    assert!(mask.count() > 15_000, "{}", mask.count());
    assert_eq!(doc.labels[&region.label.unwrap()].name, "liver");
    // A box off the image is refused by name and adds nothing.
    let run = infer("500,196,163,179");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not inside the 512×512 slice"),
        "{}",
        run.stderr
    );
    let doc = voxmark::store::Project::open(&project)
        .unwrap()
        .load_document()
        .unwrap();
    assert_eq!(doc.regions.len(), 1);
}
