//! Finding and loading the ONNX Runtime library (ort's `load-dynamic`): `ORT_DYLIB_PATH`, then next to
//! the executable, then the `onnxruntime` Python package's copy. Loaded once per process.

use super::{InferError, Result};
use ort::ep::ExecutionProvider;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The loaded ONNX Runtime.
pub struct Runtime {
    /// The library file.
    pub library: PathBuf,
    /// Where it was found (`ORT_DYLIB_PATH`, `next to voxmark`, `python package`).
    pub found_by: &'static str,
    /// Its version, e.g. `1.31.1`.
    pub version: String,
    /// Execution providers compiled into it, CPU first.
    pub providers: Vec<&'static str>,
    environment: ort::environment::Environment,
}

/// Where a library is looked for, in order, with how each was found; files that do not exist are left out.
/// A set `ORT_DYLIB_PATH` is the only place looked at (what the user asked for, no silent fallback).
pub fn candidates() -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), "ORT_DYLIB_PATH"));
        return out;
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for d in [dir.clone(), dir.join("lib"), dir.join("../lib/voxmark")] {
            out.extend(
                library_files(&d)
                    .into_iter()
                    .map(|f| (f, "next to voxmark")),
            );
        }
    }
    for site in python_site_packages() {
        let capi = site.join("onnxruntime").join("capi");
        out.extend(
            library_files(&capi)
                .into_iter()
                .map(|f| (f, "python package")),
        );
    }
    if out.is_empty()
        && let Some(site) = python3_purelib()
    {
        let capi = site.join("onnxruntime").join("capi");
        out.extend(
            library_files(&capi)
                .into_iter()
                .map(|f| (f, "python package")),
        );
    }
    out
}

/// The package folder of the `python3` on PATH (pyenv, conda and others keep it elsewhere).
fn python3_purelib() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let path = PathBuf::from(text.trim());
    (out.status.success() && path.is_dir()).then_some(path)
}

/// `libonnxruntime.so*` / `libonnxruntime*.dylib` / `onnxruntime.dll` in `dir`, newest name first.
fn library_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.starts_with("libonnxruntime.so")
                || (name.starts_with("libonnxruntime") && name.ends_with(".dylib"))
                || name.eq_ignore_ascii_case("onnxruntime.dll"))
                && !name.contains("providers")
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

/// Python's package folders: the active virtual environment, the user's, and the system's.
fn python_site_packages() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        roots.push(PathBuf::from(v).join("lib"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(&h).join(".local/lib"));
    }
    roots.extend(["/usr/local/lib", "/usr/lib", "/opt/homebrew/lib"].map(PathBuf::from));
    let mut out = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pythons.sort();
        pythons.reverse();
        for p in pythons {
            out.push(p.join("site-packages"));
            out.push(p.join("dist-packages"));
        }
    }
    out
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// The process's ONNX Runtime, loaded on first use; the error lists every place tried.
pub fn get() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|e| InferError::Unavailable(e.clone()))
}

fn load() -> std::result::Result<Runtime, String> {
    let tried = candidates();
    if tried.is_empty() {
        return Err(
            "no ONNX Runtime library found: set ORT_DYLIB_PATH to libonnxruntime, put it next to \
             voxmark, or `pip install onnxruntime`"
                .into(),
        );
    }
    let mut why = Vec::new();
    for (path, found_by) in tried {
        let builder = match ort::init_from(&path) {
            Ok(b) => b,
            Err(e) => {
                why.push(format!("{found_by}: {e}"));
                continue;
            }
        };
        let environment = builder
            .with_name("voxmark")
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Runtime {
            version: version_of(&path),
            providers: providers(),
            library: path,
            found_by,
            environment,
        });
    }
    Err(format!(
        "no usable ONNX Runtime library: {}",
        why.join("; ")
    ))
}

/// The version from the build string (`git-branch=rel-1.31.1`), else from the file name.
fn version_of(path: &Path) -> String {
    let info = ort::info();
    if let Some(v) = info
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
    {
        return v.to_owned();
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.rsplit_once(".so.")
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether ONNX Runtime was built with an execution provider.
type Probe = fn() -> ort::Result<bool>;

fn providers() -> Vec<&'static str> {
    let mut out = vec!["CPU"];
    let checks: [(&str, Probe); 4] = [
        ("CUDA", ort::ep::CUDA::is_available),
        ("TensorRT", ort::ep::TensorRT::is_available),
        ("CoreML", ort::ep::CoreML::is_available),
        ("DirectML", ort::ep::DirectML::is_available),
    ];
    for (name, available) in checks {
        if available().unwrap_or(false) {
            out.push(name);
        }
    }
    out
}

impl Runtime {
    /// A session on `graph`, on the CPU unless `provider` names one this runtime offers (then that
    /// one, falling back to the CPU for operators it lacks).
    pub fn session(&self, graph: &Path, provider: Option<&str>) -> Result<ort::session::Session> {
        let mut builder =
            ort::session::Session::builder(&self.environment).map_err(super::ort_error)?;
        if let Some(p) = provider.filter(|p| !p.eq_ignore_ascii_case("cpu")) {
            let ep = match p.to_ascii_lowercase().as_str() {
                "cuda" => ort::ep::CUDA::default().build(),
                "tensorrt" => ort::ep::TensorRT::default().build(),
                "coreml" => ort::ep::CoreML::default().build(),
                "directml" => ort::ep::DirectML::default().build(),
                other => {
                    return Err(InferError::Request(format!(
                        "unknown execution provider `{other}` (cpu, cuda, tensorrt, coreml, directml)"
                    )));
                }
            };
            builder = builder
                .with_execution_providers([ep.error_on_failure()])
                .map_err(|e| InferError::Runtime(format!("{p}: {e}")))?;
        }
        builder
            .commit_from_file(graph)
            .map_err(|e| InferError::Contract {
                path: graph.to_path_buf(),
                message: e.to_string(),
            })
    }
}
