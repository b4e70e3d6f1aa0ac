//! Grounding metrics against a reference implementation in Python (tools/metrics_reference.py,
//! numpy, written from the definitions); CI regenerates the reference and checks it is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

use voxmark::core::metrics::{Mask2, cnr, dice, iou, pointing_boxes, pointing_heatmap};

fn close(a: Option<f64>, b: &serde_json::Value) -> bool {
    match (a, b.as_f64()) {
        (None, None) => b.is_null(),
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
        _ => false,
    }
}

#[test]
fn metrics_match_the_python_reference() {
    let path = std::env::var_os("VOXMARK_METRICS_REFERENCE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/metrics.json")
        });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 100);
    let boxes = |v: &serde_json::Value| -> Vec<[f64; 4]> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap()))
            .collect()
    };
    let mut checked = 0;
    for (n, c) in cases.iter().enumerate() {
        let (w, h) = (
            c["w"].as_u64().unwrap() as usize,
            c["h"].as_u64().unwrap() as usize,
        );
        let truth = Mask2::from_boxes(w, h, &boxes(&c["truth"]));
        let pred_boxes: Vec<([f64; 4], f64)> = c["pred"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    [0, 1, 2, 3].map(|i| p[0][i].as_f64().unwrap()),
                    p[1].as_f64().unwrap(),
                )
            })
            .collect();
        let pred = Mask2::from_boxes(w, h, &pred_boxes.iter().map(|p| p.0).collect::<Vec<_>>());
        let heat: Vec<f32> = c["heat"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let e = &c["expected"];
        assert!(
            close(iou(&truth, &pred), &e["iou"]),
            "case {n}: IoU {:?} vs {}",
            iou(&truth, &pred),
            e["iou"]
        );
        assert!(
            close(dice(&truth, &pred), &e["dice"]),
            "case {n}: Dice {:?} vs {}",
            dice(&truth, &pred),
            e["dice"]
        );
        assert_eq!(
            pointing_heatmap(&heat, &truth),
            e["pointing_heatmap"].as_bool(),
            "case {n}: pointing (heatmap)"
        );
        assert_eq!(
            pointing_boxes(&pred_boxes, &truth),
            e["pointing_boxes"].as_bool(),
            "case {n}: pointing (boxes)"
        );
        let c_ours = cnr(&heat, &truth);
        match (c_ours, e["cnr"].as_f64()) {
            (Some(x), Some(y)) => assert!(
                (x - y).abs() <= 1e-9 * y.abs().max(1.0) * 1e3,
                "case {n}: CNR {x} vs {y}"
            ),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "case {n}: CNR {a:?} vs {b:?}"),
        }
        checked += 1;
    }
    println!("{checked} cases agree with the numpy reference");
}
