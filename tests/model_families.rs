//! The segmentation, grounding-heatmap and grounding-box families end to end, on small graphs whose
//! outputs are known (`tools/make_test_models.py`; `.ci/run` builds them and sets VOXMARK_TEST_MODELS),
//! run through ONNX Runtime on corpus images. The expectations below are the graphs' formulas, stated
//! here independently of the code under test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test
#![cfg(feature = "inference")]

mod common;

use common::skip_without_ort as skip;

use std::path::{Path, PathBuf};
use voxmark::core::annotation::{Author, ImageInfo, Shape, Status};
use voxmark::core::{Document, Edit, MaskTiles, Volume};
use voxmark::inference::job::{self, Model, Request};
use voxmark::inference::{self, Grounder, InferError, Manifest};

/// Corpus, runtime and graphs, or a skip.
fn setup() -> Option<(PathBuf, PathBuf)> {
    let corpus = common::corpus()?;
    if let Err(e) = inference::runtime::get() {
        skip(&e.to_string());
        return None;
    }
    Some((corpus, common::test_models()?))
}

fn load(models: &Path, name: &str) -> Model {
    Model::load(Manifest::load(&models.join(name)).unwrap(), None).unwrap()
}

fn doc_with(volume: &Volume, report: Option<&str>) -> Document {
    let mut doc = Document::default();
    doc.images.insert(
        voxmark::core::Id::from_u128(1),
        ImageInfo {
            id: voxmark::core::Id::from_u128(1),
            size: volume.size(),
            report: report.map(str::to_owned),
        },
    );
    doc
}

fn request(slice: Option<usize>, prompt: Option<&str>) -> Request {
    Request {
        image: voxmark::core::Id::from_u128(1),
        slice,
        bbox: None,
        prompt: prompt.map(str::to_owned),
        label: None,
        provider: "cpu".into(),
        who: Author::Human("tester".into()),
    }
}

/// The masks the edits add, by the name of their label.
fn masks_by_label(edits: &[Edit]) -> Vec<(String, MaskTiles)> {
    let names: std::collections::BTreeMap<voxmark::core::Id, String> = edits
        .iter()
        .filter_map(|e| match e {
            Edit::AddLabel(l) => Some((l.id, l.name.clone())),
            _ => None,
        })
        .collect();
    edits
        .iter()
        .filter_map(|e| match e {
            Edit::AddRegion {
                region,
                mask: Some(m),
                ..
            } => {
                assert_eq!(region.status, Status::Proposed);
                assert!(
                    region
                        .prompt
                        .as_deref()
                        .unwrap()
                        .contains("manifest_blake3")
                );
                Some((names[&region.label.unwrap()].clone(), m.clone()))
            }
            _ => None,
        })
        .collect()
}

fn ct(corpus: &Path) -> Volume {
    common::load_one(&corpus.join("dicom/series/ct_abdomen_20sl_j2kr"))
}

#[test]
fn segmentation_2d_in_tiles_gives_the_graphs_classes_on_one_slice() {
    let Some((corpus, models)) = setup() else {
        return;
    };
    let ct = ct(&corpus);
    let mut model = load(&models, "seg2d.toml");
    let doc = doc_with(&ct, None);
    let out = job::run(
        &mut model,
        &doc,
        &ct,
        &request(Some(10), None),
        0,
        &mut |_, _| true,
    )
    .unwrap();
    let masks = masks_by_label(&out.edits);
    let names: Vec<&str> = masks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["soft", "dense"]);
    // The graph: dense where the window [-160, 240] HU maps above 0.6, soft between 0.25 and 0.6.
    let [nx, ny, _] = ct.size();
    let (mut checked, mut ties) = (0, 0);
    for j in 0..ny {
        for i in 0..nx {
            let x = ((ct.value([i, j, 10], 0).unwrap() + 160.0) / 400.0).clamp(0.0, 1.0);
            // Integer HU land exactly on the class edges (80 and −60 HU): either class is right there.
            if (x - 0.6).abs() < 1e-5 || (x - 0.25).abs() < 1e-5 {
                ties += 1;
                continue;
            }
            let want = if x > 0.6 {
                (0, 1)
            } else if x > 0.25 {
                (1, 0)
            } else {
                (0, 0)
            };
            let got = (masks[0].1.get([i, j, 10]), masks[1].1.get([i, j, 10]));
            assert_eq!(got, want, "pixel ({i}, {j}): x = {x}");
            checked += 1;
        }
    }
    assert!(
        checked > 260_000 && ties < 2_000,
        "{checked} checked, {ties} ties"
    );
    // Only slice 10 was asked for.
    for (_, m) in &masks {
        let b = m.bounds().unwrap();
        assert_eq!((b.min[2], b.max[2]), (10, 11));
    }
}

#[test]
fn segmentation_3d_in_overlapping_tiles_gives_the_graphs_class_everywhere() {
    let Some((corpus, models)) = setup() else {
        return;
    };
    let ct = ct(&corpus);
    let mut model = load(&models, "seg3d.toml");
    let doc = doc_with(&ct, None);
    let mut ticks = (0, 0);
    let out = job::run(
        &mut model,
        &doc,
        &ct,
        &request(None, None),
        0,
        &mut |d, t| {
            ticks = (d, t);
            true
        },
    )
    .unwrap();
    // 512 in tiles of 32 at half overlap: 31 starts per in-plane axis; 20 slices in tiles of 16: 2.
    assert_eq!(ticks, (31 * 31 * 2, 31 * 31 * 2));
    let masks = masks_by_label(&out.edits);
    assert_eq!(masks.len(), 1);
    assert_eq!(masks[0].0, "bright");
    let m = &masks[0].1;
    // The graph: bright where the window [0, 400] HU maps above 0.5 (above 200 HU).
    let [nx, ny, nz] = ct.size();
    let mut wrong = Vec::new();
    let mut count = 0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let x = (ct.value([i, j, k], 0).unwrap() / 400.0).clamp(0.0, 1.0);
                if (x - 0.5).abs() < 1e-5 {
                    continue;
                }
                count += usize::from(x > 0.5);
                if (m.get([i, j, k]) == 1) != (x > 0.5) {
                    wrong.push([i, j, k]);
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} voxels differ, first {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(count > 50_000, "{count}");
    // Stopping between tiles gives nothing and says why.
    let mut n = 0;
    let stopped = job::run(
        &mut model,
        &doc,
        &ct,
        &request(None, None),
        0,
        &mut |_, _| {
            n += 1;
            n < 3
        },
    );
    assert!(matches!(stopped, Err(InferError::Cancelled)));
}

/// The demo chest radiograph (MONOCHROME1, 1841 × 1955: not square, so fitting pads and crops).
fn chest() -> Volume {
    common::load_one(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chest_cr.dcm"))
}

#[test]
fn the_tokenizer_lowercases_splits_pads_and_cuts() {
    let Some((_, models)) = setup() else {
        return;
    };
    let g = Grounder::load(Manifest::load(&models.join("boxes.toml")).unwrap(), None).unwrap();
    let t = g.tokens("Left LOWER, effusion!").unwrap();
    assert_eq!(t.tokens, ["left", "lower", "[UNK]", "effusion", "[UNK]"]);
    assert_eq!(t.ids, [2, 5, 1, 7, 1, 0, 0, 0]);
    assert_eq!(t.mask, [1, 1, 1, 1, 1, 0, 0, 0]);
    let t = g
        .tokens("small small small small small small small small small left")
        .unwrap();
    assert_eq!(t.ids, [9; 8]);
    assert_eq!(t.mask, [1; 8]);
}

#[test]
fn a_heatmap_answers_the_phrase_and_covers_only_the_image() {
    let Some((_, models)) = setup() else {
        return;
    };
    let cr = chest();
    assert_eq!(cr.size(), [1841, 1955, 1]);
    let mut model = load(&models, "heatmap.toml");
    let report = "Small left lower effusion. No pneumothorax.";
    let doc = doc_with(&cr, Some(report));
    let out = job::run(
        &mut model,
        &doc,
        &cr,
        &request(None, Some("left lower effusion")),
        5,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(out.edits.len(), 2, "{:?}", out.summary);
    let Edit::AddPhrase { phrase, .. } = &out.edits[0] else {
        panic!("a new phrase first: {:?}", out.edits[0]);
    };
    assert_eq!(phrase.text, "left lower effusion");
    assert_eq!(
        phrase.span,
        Some((6, 25)),
        "the phrase is a span of the report"
    );
    let Edit::AddHeatmap(h) = &out.edits[1] else {
        panic!("then the heatmap");
    };
    assert_eq!(h.phrase, Some(phrase.id));
    assert_eq!(h.author.to_string(), "model:test-heatmap@1");
    // 1955 rows fill the 32 input rows; 1841 columns fill round(1841 × 32 / 1955) = 30 of them.
    assert_eq!((h.width, h.height), (30, 32));
    // The graph: the mean of the words' maps (left: columns ≥ 16, lower: rows ≥ 16, effusion: none)
    // times the model input's maximum, which bilinear shrinking keeps a little under 1.
    let peak = h.values[31 * 30 + 29] * 1.5;
    assert!(peak > 0.9 && peak <= 1.0, "{peak}");
    for y in 0..32 {
        for x in 0..30 {
            let want = peak * (f32::from(u8::from(x >= 16)) + f32::from(u8::from(y >= 16))) / 3.0;
            let got = h.values[y * 30 + x];
            assert!((got - want).abs() < 1e-6, "({x}, {y}): {got} vs {want}");
        }
    }
    let prompt: serde_json::Value = serde_json::from_str(h.prompt.as_deref().unwrap()).unwrap();
    assert_eq!(
        prompt["tokens"],
        serde_json::json!(["left", "lower", "effusion"])
    );
    assert_eq!(prompt["monochrome1_inverted"], true);
}

#[test]
fn grounding_boxes_are_thresholded_thinned_and_linked_to_the_phrase() {
    let Some((_, models)) = setup() else {
        return;
    };
    let cr = chest();
    let mut model = load(&models, "boxes.toml");
    let mut doc = doc_with(&cr, Some("Small left lower effusion."));
    doc.phrases.insert(
        voxmark::core::Id::from_u128(4),
        voxmark::core::Phrase {
            id: voxmark::core::Id::from_u128(4),
            image: voxmark::core::Id::from_u128(1),
            text: "left lower effusion".into(),
            author: Author::Human("tester".into()),
            span: Some((6, 25)),
            category: None,
            grounding: voxmark::core::Grounding::Pending,
            created_ms: 0,
            modified_ms: 0,
        },
    );
    // Without a prompt every phrase of the image runs: here the one phrase.
    let out = job::run(
        &mut model,
        &doc,
        &cr,
        &request(None, None),
        0,
        &mut |_, _| true,
    )
    .unwrap();
    let boxes: Vec<_> = out
        .edits
        .iter()
        .map(|e| match e {
            Edit::AddRegion {
                region,
                mask: None,
                links,
            } => (
                region.shape.clone(),
                region.confidence.unwrap(),
                links.clone(),
            ),
            other => panic!("only boxes: {other:?}"),
        })
        .collect();
    // left 0.9 kept; lower 0.8 overlaps it (IoU 0.855 > 0.5) and goes; effusion 0.7 kept. Normalised
    // edges × 1955 (the longest side) are pixel edges; a box2d keeps them less half a pixel.
    let px = |v: f64| v * 1955.0 - 0.5;
    let want = [
        ([0.5, 0.25], [0.9, 0.75], 0.9),
        ([0.1, 0.6], [0.4, 0.95], 0.7),
    ];
    assert_eq!(boxes.len(), 2, "{boxes:?}");
    // Scores are the words' times the model input's maximum (a little under 1 after shrinking).
    let peak = boxes[0].1 / 0.9;
    assert!(peak > 0.9 && peak <= 1.0, "{peak}");
    for ((shape, score, links), (lo, hi, s)) in boxes.iter().zip(want) {
        let Shape::Box2d { slice, min, max } = shape else {
            panic!("{shape:?}")
        };
        assert_eq!(*slice, 0);
        for a in 0..2 {
            assert!((min[a] - px(lo[a])).abs() < 1e-3, "{min:?} vs {lo:?}");
            assert!((max[a] - px(hi[a])).abs() < 1e-3, "{max:?} vs {hi:?}");
        }
        assert!((score - s * peak).abs() < 1e-6, "{score}");
        assert_eq!(links, &vec![voxmark::core::Id::from_u128(4)]);
    }
    // Below the threshold: nothing.
    let out = job::run(
        &mut model,
        &doc,
        &cr,
        &request(None, Some("right")),
        0,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(out.regions, 0);
}

#[test]
fn a_graph_that_breaks_its_manifest_is_named() {
    let Some((_, models)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for f in ["boxes.onnx", "tokenizer.json"] {
        std::fs::copy(models.join(f), dir.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(models.join("boxes.toml")).unwrap();
    let load = |text: String| {
        let p = dir.path().join("m.toml");
        std::fs::write(&p, text).unwrap();
        Model::load(Manifest::load(&p).unwrap(), None)
            .err()
            .unwrap()
            .to_string()
    };
    let e = load(text.replace("ids = \"input_ids\"", "ids = \"token_ids\""));
    assert!(
        e.contains("no input `token_ids`") && e.contains("input_ids"),
        "{e}"
    );
    let e = load(text.replace("side = 32", "side = 64"));
    assert!(e.contains("1×1×32×32") && e.contains("1×1×64×64"), "{e}");
    let e = load(text.replace("length = 8", "length = 16"));
    assert!(e.contains("input_ids") && e.contains("1×16"), "{e}");
    let e = load(text.replace("scores = \"scores\"", "scores = \"logits\""));
    assert!(e.contains("no output `logits`"), "{e}");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let e = load(text);
    assert!(
        e.contains("tokenizer") && e.contains("tokenizer.json"),
        "{e}"
    );
}

#[test]
fn infer_all_goes_on_past_a_broken_image_and_links_proposals_to_the_prompt() {
    let Some((corpus, models)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.voxmark");
    let png = corpus.join("cxr/nih_cxr14/00000001_000.png");
    let gone = dir.path().join("gone.png");
    std::fs::copy(&png, &gone).unwrap();
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "Small left lower effusion.").unwrap();
    let vox = |args: &[&std::ffi::OsStr]| common::voxmark(args);
    assert_eq!(vox(&["new".as_ref(), project.as_os_str()]).code, 0);
    for (image, with_report) in [(&png, true), (&gone, false)] {
        let mut args = vec!["add".as_ref(), project.as_os_str(), image.as_os_str()];
        if with_report {
            args.extend(["--report".as_ref(), report.as_os_str()]);
        }
        assert_eq!(vox(&args).code, 0);
    }
    let ids = common::image_ids(&project);
    std::fs::remove_file(&gone).unwrap();
    let run = vox(&[
        "infer".as_ref(),
        project.as_os_str(),
        "--model".as_ref(),
        models.join("boxes.toml").as_os_str(),
        "--all".as_ref(),
        "--prompt".as_ref(),
        "left lower effusion".as_ref(),
    ]);
    assert_eq!(
        run.code, 1,
        "one image failed: {}{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "error: image {}: not found",
            common::handle(&ids[1])
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("2 image(s): 2 proposed region(s)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 failed"), "{}", run.stdout);
    let doc = voxmark::store::Project::open(&project)
        .unwrap()
        .load_document()
        .unwrap();
    let phrase = doc.phrases.values().next().unwrap();
    assert_eq!(
        (phrase.image.full(), phrase.span),
        (ids[0].clone(), Some((6, 25)))
    );
    assert_eq!(doc.regions.len(), 2);
    for r in doc.regions.values() {
        assert_eq!(r.author.to_string(), "model:test-boxes@1");
        assert!(doc.links.contains(&(phrase.id, r.id)));
        let p: serde_json::Value = serde_json::from_str(r.prompt.as_deref().unwrap()).unwrap();
        assert_eq!(p["phrase"], "left lower effusion");
        assert_eq!(p["nms_iou"], 0.5);
    }
    // Heatmaps keep their provenance in the project file too.
    let run = vox(&[
        "infer".as_ref(),
        project.as_os_str(),
        "--model".as_ref(),
        models.join("heatmap.toml").as_os_str(),
        "--image".as_ref(),
        ids[0].as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doc = voxmark::store::Project::open(&project)
        .unwrap()
        .load_document()
        .unwrap();
    let h = doc.heatmaps.values().next().unwrap();
    assert_eq!(h.phrase, Some(phrase.id));
    assert!(h.prompt.as_deref().unwrap().contains("manifest_blake3"));
}
