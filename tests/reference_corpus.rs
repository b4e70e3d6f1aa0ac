//! `voxmark info --json` against reference values that pydicom, SimpleITK, nibabel and Pillow computed
//! on every file of the corpus (`tools/reference.py` wrote `tests/reference/corpus.json`; CI writes it
//! afresh and points `VOXMARK_REFERENCE_JSON` at it).
//!
//! Size exact; spacing, origin and direction within 1e-4; min/max/mean within 1e-6 relative, except
//! where a transfer syntax is lossy and decoders may round differently (named tolerances below).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use rayon::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const GEOMETRY_TOL: f64 = 1e-4;

/// Files the reference libraries decode and we do not yet, each with the error we must give.
/// When one starts decoding, the test fails so that it is moved back into the comparison.
const KNOWN_GAPS: &[(&str, &str)] = &[];
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Cut short after its last fragment (no sequence delimiter): pydicom reads no data set at all.
const TRUNCATED_BUT_COMPLETE: &str = "dicom/pydicom_data/emri_small_jpeg_2k_lossless_too_short.dcm";
const STATS_REL_TOL: f64 = 1e-6;

/// Lossy transfer syntaxes: the standard lets decoders differ by rounding (IDCT precision, colour
/// conversion). Tolerances are absolute, in stored units: (min/max, mean).
fn lossy_tolerance(ts: &str) -> Option<(&'static str, f64, f64)> {
    match ts {
        // libjpeg-turbo (pydicom) and jpeg-decoder (ours) use different IDCTs and upsampling.
        "1.2.840.10008.1.2.4.50" => Some((
            "JPEG baseline: IDCT and chroma upsampling rounding",
            6.0,
            0.5,
        )),
        "1.2.840.10008.1.2.4.51" => Some(("JPEG extended: IDCT rounding", 6.0, 0.5)),
        _ => None,
    }
}

fn reference() -> Value {
    let path = std::env::var_os("VOXMARK_REFERENCE_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/corpus.json")
        });
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn close_vec(name: &str, ours: &Value, theirs: &Value, tol: f64, problems: &mut Vec<String>) {
    let (Some(a), Some(b)) = (ours.as_array(), theirs.as_array()) else {
        problems.push(format!("{name}: missing ({ours} vs {theirs})"));
        return;
    };
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| (f(x) - f(y)).abs() > tol) {
        problems.push(format!("{name}: ours {ours} reference {theirs}"));
    }
}

fn compare_volume(ours: &Value, theirs: &Value, entry_ts: Option<&str>) -> Vec<String> {
    let mut p = Vec::new();
    if ours["size"] != theirs["size"] {
        p.push(format!(
            "size: ours {} reference {}",
            ours["size"], theirs["size"]
        ));
    }
    if ours["components"] != theirs["components"] {
        p.push(format!(
            "components: ours {} reference {}",
            ours["components"], theirs["components"]
        ));
    }
    close_vec(
        "spacing_mm",
        &ours["spacing_mm"],
        &theirs["spacing_mm"],
        GEOMETRY_TOL,
        &mut p,
    );
    close_vec(
        "origin_lps_mm",
        &ours["origin_lps_mm"],
        &theirs["origin_lps_mm"],
        GEOMETRY_TOL,
        &mut p,
    );
    close_vec(
        "direction",
        &ours["direction"],
        &theirs["direction"],
        GEOMETRY_TOL,
        &mut p,
    );
    let ts = theirs["transfer_syntax"]
        .as_str()
        .or(entry_ts)
        .unwrap_or("");
    // 2D JPEG files: Pillow (libjpeg-turbo) and the image crate (zune-jpeg) round differently too.
    let is_jpeg_file = ours["kind"] == "image2d"
        && ours["source"]
            .as_str()
            .is_some_and(|s| s.ends_with(".jpg") || s.ends_with(".jpeg"));
    let ts = if is_jpeg_file {
        "1.2.840.10008.1.2.4.50"
    } else {
        ts
    };
    let expected = theirs.get("stats_modality").unwrap_or(&theirs["stats"]);
    for key in ["min", "max", "mean"] {
        let (a, b) = (f(&ours["stats"][key]), f(&expected[key]));
        let ok = match lossy_tolerance(ts) {
            Some((_, range_tol, mean_tol)) => {
                (a - b).abs() <= if key == "mean" { mean_tol } else { range_tol }
            }
            None => (a - b).abs() <= STATS_REL_TOL * b.abs().max(1.0),
        };
        if !ok {
            p.push(format!("stats.{key}: ours {a} reference {b}"));
        }
    }
    p
}

/// Values at the sample points (a grid on the first, middle and last slice) and per-component means:
/// statistics alone cannot see a transposed image or swapped colour channels.
fn compare_samples(
    v: &voxmark::core::Volume,
    ours: &Value,
    theirs: &Value,
    entry_ts: Option<&str>,
) -> Vec<String> {
    let mut p = Vec::new();
    let ts = theirs["transfer_syntax"]
        .as_str()
        .or(entry_ts)
        .unwrap_or("");
    let is_jpeg_file = ours["kind"] == "image2d"
        && ours["source"]
            .as_str()
            .is_some_and(|s| s.ends_with(".jpg") || s.ends_with(".jpeg"));
    let tol = lossy_tolerance(if is_jpeg_file {
        "1.2.840.10008.1.2.4.50"
    } else {
        ts
    });
    let close = |a: f64, b: f64, lossy_tol: f64| match tol {
        Some(_) => (a - b).abs() <= lossy_tol,
        None => (a - b).abs() <= STATS_REL_TOL * b.abs().max(1.0) || (a.is_nan() && b.is_nan()),
    };
    let samples = theirs["samples"].as_array().cloned().unwrap_or_default();
    if samples.is_empty() {
        p.push("reference has no samples".to_string());
    }
    let mut bad = 0;
    for s in &samples {
        let ijk = [0, 1, 2].map(|i| s[i].as_u64().unwrap_or(0) as usize);
        for (c, expected) in s[3].as_array().into_iter().flatten().enumerate() {
            let got = v.value(ijk, c).unwrap_or(f64::NAN);
            if !close(got, f(expected), tol.map_or(0.0, |t| t.1)) {
                bad += 1;
                if bad <= 3 {
                    p.push(format!(
                        "value at {ijk:?} component {c}: ours {got} reference {expected}"
                    ));
                }
            }
        }
    }
    if bad > 3 {
        p.push(format!("... {bad} sample values differ in all"));
    }
    let means = theirs["component_means"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (c, m) in means.iter().enumerate() {
        let n = v.voxel_count();
        let comps = v.components();
        let mut sum = 0.0;
        let mut count = 0usize;
        for i in 0..n {
            let x = v
                .rescale()
                .apply(v.voxels().get_f64(i * comps + c).unwrap_or(f64::NAN));
            if !x.is_nan() {
                sum += x;
                count += 1;
            }
        }
        let mean = sum / count.max(1) as f64;
        if !close(mean, f(m), tol.map_or(0.0, |t| t.2)) {
            p.push(format!("mean of component {c}: ours {mean} reference {m}"));
        }
    }
    p
}

/// `voxmark info --json` on one reference entry (a path under `data`) compared with the
/// reference's reading: (path, problems, whether it is a known gap).
fn check_entry(data: &Path, entry: &Value) -> (String, Vec<String>, bool) {
    let rel = entry["path"].as_str().unwrap_or_default().to_string();
    let (run, json) = common::info_json(&[data.join(&rel)]);
    let mut problems = Vec::new();
    if let Some((_, expected)) = KNOWN_GAPS.iter().find(|(p, _)| *p == rel) {
        if run.code != 1 || !run.stderr.contains(expected) || !run.stderr.contains(&rel) {
            problems.push(format!(
                "known gap changed: exit {} stderr {:?} (expected {expected:?})",
                run.code, run.stderr
            ));
        }
        return (rel, problems, true);
    }
    if run.code != 0 {
        problems.push(format!("exit code {}: {}", run.code, run.stderr.trim()));
    }
    let ours = json["volumes"].as_array().cloned().unwrap_or_default();
    let theirs = entry["volumes"].as_array().cloned().unwrap_or_default();
    if ours.len() != theirs.len() {
        problems.push(format!(
            "{} volumes, reference has {}",
            ours.len(),
            theirs.len()
        ));
    } else {
        // Series come out sorted by UID on both sides; match by UID where there is one.
        let scan = voxmark::io::scan_paths(&[data.join(&rel)]);
        for t in &theirs {
            let o = ours
                .iter()
                .find(|o| {
                    !t["series_uid"].is_null()
                        && o["series_uid"] == t["series_uid"]
                        && o["size"] == t["size"]
                        && o["origin_lps_mm"]
                            .as_array()
                            .zip(t["origin_lps_mm"].as_array())
                            .is_some_and(|(a, b)| {
                                a.iter()
                                    .zip(b)
                                    .all(|(x, y)| (f(x) - f(y)).abs() <= GEOMETRY_TOL)
                            })
                })
                .or_else(|| {
                    ours.iter().find(|o| {
                        !t["series_uid"].is_null()
                            && o["series_uid"] == t["series_uid"]
                            && o["size"] == t["size"]
                    })
                })
                .or_else(|| {
                    ours.iter()
                        .find(|o| !t["series_uid"].is_null() && o["series_uid"] == t["series_uid"])
                })
                .unwrap_or(&ours[0]);
            let ts = o["transfer_syntaxes"][0].as_str().map(str::to_string);
            problems.extend(compare_volume(o, t, ts.as_deref()));
            let index = ours.iter().position(|x| std::ptr::eq(x, o)).unwrap_or(0);
            if let Some(img) = scan.images.get(index) {
                problems.extend(compare_samples(&img.volume, o, t, ts.as_deref()));
            }
        }
    }
    (rel, problems, false)
}

#[test]
fn info_matches_reference_libraries_on_every_readable_file() {
    let Some(data) = common::corpus() else { return };
    let reference = reference();
    let entries = reference["entries"].as_array().expect("entries");
    assert!(
        entries.len() > 100,
        "reference lists only {} entries",
        entries.len()
    );
    let results: Vec<(String, Vec<String>, bool)> = entries
        .par_iter()
        .map(|entry| check_entry(&data, entry))
        .collect();
    let mut failed = 0;
    for (rel, problems, gap) in &results {
        if *gap && problems.is_empty() {
            println!("gap  {rel}: clear error, decoder missing (see KNOWN_GAPS)");
        } else if problems.is_empty() {
            println!("ok   {rel}");
        } else {
            failed += 1;
            println!("FAIL {rel}");
            for p in problems {
                println!("       {p}");
            }
        }
    }
    println!(
        "{} entries checked against the reference, {failed} failed",
        results.len()
    );
    assert_eq!(
        failed, 0,
        "{failed} corpus entries differ from the reference (see the list above)"
    );
}

#[test]
fn unreadable_files_give_a_clear_error_naming_the_file() {
    let Some(data) = common::corpus() else { return };
    let reference = reference();
    let unreadable = reference["unreadable"].as_array().expect("unreadable");
    assert!(!unreadable.is_empty());
    for u in unreadable {
        let rel = u["path"].as_str().unwrap();
        let file = data.join(rel);
        let (run, json) = common::info_json(&[&file]);
        let errors = json["errors"].as_array().cloned().unwrap_or_default();
        println!(
            "{rel}: {}",
            errors
                .iter()
                .map(|e| e["error"].to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
        assert_eq!(
            run.code, 1,
            "{rel}: expected exit code 1, got {} ({})",
            run.code, run.stderr
        );
        assert!(
            json["volumes"].as_array().is_some_and(|v| v.is_empty()),
            "{rel}: decoded although the reference libraries cannot"
        );
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            errors
                .iter()
                .any(|e| e["error"].as_str().is_some_and(|s| s.contains(&name))),
            "{rel}: no error names the file: {errors:?}"
        );
        assert!(
            !run.stderr.contains("panicked"),
            "{rel}: panicked: {}",
            run.stderr
        );
    }
}

#[test]
fn non_image_objects_are_listed_not_decoded() {
    let Some(data) = common::corpus() else { return };
    let reference = reference();
    let non_images = reference["non_image"].as_array().expect("non_image");
    let listed: usize = non_images
        .par_iter()
        .map(|n| {
            let rel = n["path"].as_str().unwrap();
            let (run, json) = common::info_json(&[data.join(rel)]);
            assert!(
                !run.stderr.contains("panicked"),
                "{rel}: panicked: {}",
                run.stderr
            );
            if n["sop_class"].as_str() == Some(DICOMDIR_SOP_CLASS) {
                // A file named DICOMDIR opens the files it indexes; its variants are listed as what they are.
                let count = |k: &str| json[k].as_array().map_or(0, |v| v.len());
                assert!(
                    count("volumes") + count("errors") + count("non_images") > 0,
                    "{rel}: DICOMDIR gave nothing"
                );
                return 0;
            }
            if rel == TRUNCATED_BUT_COMPLETE {
                // pydicom gives up on this file and sees no data set; every fragment is there, so we
                // decode it: it must then equal the complete file it was cut from.
                let (_, whole) = common::info_json(&[
                    data.join("dicom/pydicom_data/emri_small_jpeg_2k_lossless.dcm")
                ]);
                assert_eq!(
                    json["volumes"][0]["stats"], whole["volumes"][0]["stats"],
                    "{rel}"
                );
                assert_eq!(
                    json["volumes"][0]["size"], whole["volumes"][0]["size"],
                    "{rel}"
                );
                return 0;
            }
            assert!(
                json["volumes"].as_array().is_some_and(|v| v.is_empty()),
                "{rel}: a non-image object was decoded as an image"
            );
            let is_listed = json["non_images"].as_array().is_some_and(|v| v.len() == 1);
            let errored = json["errors"].as_array().is_some_and(|v| v.len() == 1);
            assert!(
                is_listed || errored,
                "{rel}: neither listed nor reported: {json}"
            );
            if is_listed && let Some(uid) = n["sop_class"].as_str() {
                assert_eq!(
                    json["non_images"][0]["sop_class_uid"].as_str(),
                    Some(uid),
                    "{rel}"
                );
            }
            usize::from(is_listed)
        })
        .sum();
    println!(
        "{listed} of {} non-image objects listed with their SOP class",
        non_images.len()
    );
}

/// Files of `tests/fixtures` copied from PyPI packages, read by the same reference script: the RT
/// Image (pynetdicom's `RTImageStorage.dcm`) has its pixel spacing only in RT Image Plane Pixel
/// Spacing (3002,0011), 0.402 mm, which GDCM reads for that SOP class (and so SimpleITK does).
#[test]
fn fixtures_match_reference_libraries() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pynetdicom");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixtures.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/reference.py");
    let Some(summary) = common::python_json(&[
        script.as_os_str(),
        fixtures.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]) else {
        return;
    };
    assert_eq!(summary["entries"], 1, "{summary}");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let entry = &reference["entries"][0];
    let rt = &entry["volumes"][0];
    assert_eq!(entry["path"], "RTImageStorage.dcm");
    assert_eq!(rt["geometry_from"], "SimpleITK", "{rt}");
    assert_eq!(rt["spacing_mm"][0], 0.402, "{rt}");
    let (rel, problems, gap) = check_entry(&fixtures, entry);
    assert!(!gap);
    assert!(problems.is_empty(), "{rel}: {problems:?}");
}
