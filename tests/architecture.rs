//! Keeps the dependency rules of ARCHITECTURE.md §2 (and `src/lib.rs`) true: each module may only
//! reach the crate modules and external crates its row allows.

use std::path::{Path, PathBuf};

/// (module, crate modules it must not use, external crates it must not use).
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "core",
        &["io", "store", "render", "ui", "inference", "cli"],
        &[
            "dicom_", "image::", "rusqlite", "wgpu", "egui", "eframe", "ort::", "rfd", "flate2",
            "std::fs", "std::net",
        ],
    ),
    (
        "io",
        &["store", "render", "ui", "inference", "cli"],
        &["rusqlite", "wgpu", "egui", "eframe", "ort::", "rfd"],
    ),
    (
        "store",
        &["io", "render", "ui", "inference", "cli"],
        &["dicom_", "wgpu", "egui", "eframe", "ort::", "rfd"],
    ),
    (
        "inference",
        &["io", "store", "render", "ui", "cli"],
        &["dicom_", "rusqlite", "wgpu", "egui", "eframe", "rfd"],
    ),
    (
        "render",
        &["io", "store", "inference", "ui", "cli"],
        &["dicom_", "rusqlite", "egui", "eframe", "ort::", "rfd"],
    ),
    ("cli", &["ui"], &["egui", "eframe", "rfd"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code lines, without comments (so docs may name other modules).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("")))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (module, banned_modules, banned_crates) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        assert!(!files.is_empty(), "module {module} has no files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in code_lines(&text) {
                for m in *banned_modules {
                    for pattern in [
                        format!("crate::{m}::"),
                        format!("crate::{m};"),
                        format!("crate::{m} "),
                        format!("crate::{m}}}"),
                        format!("voxmark::{m}::"),
                    ] {
                        if line.contains(&pattern) {
                            found.push(format!(
                                "{}:{n}: {module} uses {m}: {}",
                                file.display(),
                                line.trim()
                            ));
                        }
                    }
                }
                for c in *banned_crates {
                    let hit = line.contains(&format!("use {c}"))
                        || line.contains(&format!(" {c}"))
                        || line.contains(&format!("({c}"))
                        || line.contains(&format!("<{c}"))
                        || line.contains(&format!("&{c}"))
                        || line.trim_start().starts_with(c);
                    if hit {
                        found.push(format!(
                            "{}:{n}: {module} uses {c}: {}",
                            file.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn modules_keep_their_dependency_rules() {
    let v = violations();
    assert!(
        v.is_empty(),
        "dependency rules broken (ARCHITECTURE.md §2):\n{}",
        v.join("\n")
    );
}

#[test]
fn the_checker_catches_a_forbidden_use() {
    // The check must be able to fail: the same scan over a line that breaks a rule finds it.
    let line = "use crate::store::Project;";
    assert!(code_lines(line).any(|(_, l)| l.contains("crate::store::")));
    let comment = "// core must not use crate::store::Project";
    assert!(!code_lines(comment).any(|(_, l)| l.contains("crate::store::")));
}
