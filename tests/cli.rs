//! The `voxmark info` contract (ARCHITECTURE.md §5): JSON fields, the table, exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

#[test]
fn info_json_has_the_contract_fields() {
    let Some(data) = common::corpus() else { return };
    let (run, json) = common::info_json(&[data.join("dicom/series/ct_abdomen_20sl_j2kr")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = &json["volumes"][0];
    for key in [
        "source",
        "kind",
        "series_uid",
        "modality",
        "size",
        "spacing_mm",
        "origin_lps_mm",
        "direction",
        "dtype",
        "components",
        "stats",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["kind"], "dicom-series");
    assert_eq!(v["modality"], "CT");
    assert_eq!(v["size"], serde_json::json!([512, 512, 20]));
    assert_eq!(v["direction"].as_array().map(|d| d.len()), Some(9));
    for key in ["min", "max", "mean"] {
        assert!(v["stats"][key].is_number(), "stats.{key}");
    }
    // CT presets from the files are kept.
    assert!(
        v["windows"].as_array().is_some_and(|w| !w.is_empty()),
        "{}",
        v["windows"]
    );
}

#[test]
fn info_prints_a_table_and_keeps_going_past_bad_files() {
    let Some(data) = common::corpus() else { return };
    let good = data.join("nifti/nibabel/anatomical.nii");
    let missing = data.join("no/such/file.nii");
    let truncated = data.join("dicom/pydicom_test_files/MR_truncated.dcm");
    let run = common::voxmark([
        std::ffi::OsStr::new("info"),
        good.as_os_str(),
        missing.as_os_str(),
        truncated.as_os_str(),
    ]);
    assert_eq!(run.code, 1, "a bad input is a user error: {}", run.stderr);
    let mut lines = run.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("kind") && header.contains("spacing mm") && header.contains("mean"),
        "{header}"
    );
    let row = lines.next().unwrap_or_default();
    assert!(
        row.starts_with("nifti") && row.contains("anatomical.nii"),
        "{row}"
    );
    assert!(
        run.stderr.contains("file.nii") && run.stderr.contains("no such file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("MR_truncated.dcm") && run.stderr.contains("truncated"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn info_exit_codes() {
    let run = common::voxmark(["info", "/definitely/not/here.dcm"]);
    assert_eq!(run.code, 1);
    let run = common::voxmark(["info"]);
    assert_eq!(
        run.code, 1,
        "a wrong command line is a user error: {}",
        run.stderr
    );
    let run = common::voxmark(["--version"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("voxmark "));
}

/// `voxmark ls P | head -1`: a reader that stops reading ends the command quietly (exit 0, no
/// panic message), as coreutils do.
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.voxmark");
    assert_eq!(
        common::voxmark([std::ffi::OsStr::new("new"), project.as_os_str()]).code,
        0
    );
    for json in [false, true] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_voxmark"));
        c.arg("ls").arg(&project);
        if json {
            c.arg("--json");
        }
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
