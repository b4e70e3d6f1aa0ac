//! Keeps the rules of ARCHITECTURE.md §2 and §7 true:
//! - each module reaches only the crate modules and external crates its row allows, whether it
//!   names them in a `use` (grouped `use crate::{a::X, b::{Y, Z}}` included) or inline in code;
//! - inside `ui/`, only `session/` (the `DocumentSession` and its drawing rules) may change the
//!   document or the undo history;
//! - the modules inside each top module (`ui/`, `io/`, `inference/`, `core/`, `store/`, `cli/`,
//!   `render/`) import one another without cycles.
//!
//! Each checker works on source text, so the self-tests below feed it lines that break a rule and
//! see it fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (module, crate modules it must not use, external crates it must not use).
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "core",
        &["io", "store", "render", "ui", "inference", "cli"],
        &[
            "dicom_", "image", "rusqlite", "wgpu", "egui", "eframe", "ort", "rfd", "flate2",
            "std::fs", "std::net",
        ],
    ),
    (
        "io",
        &["store", "render", "ui", "inference", "cli"],
        &["rusqlite", "wgpu", "egui", "eframe", "ort", "rfd"],
    ),
    (
        "store",
        &["io", "render", "ui", "inference", "cli"],
        &["dicom_", "wgpu", "egui", "eframe", "ort", "rfd"],
    ),
    (
        "inference",
        &["io", "store", "render", "ui", "cli"],
        &["dicom_", "rusqlite", "wgpu", "egui", "eframe", "rfd"],
    ),
    (
        "render",
        &["io", "store", "inference", "ui", "cli"],
        &["dicom_", "rusqlite", "egui", "eframe", "ort", "rfd"],
    ),
    ("cli", &["ui"], &["egui", "eframe", "rfd"]),
];

/// What in `ui/` outside `session/` would change the document or the history.
const DOCUMENT_MUTATION: &[&str] = &[
    "&mut Document",
    "&mut crate::core::Document",
    "&mut core::Document",
    "&mut History",
    "&mut crate::core::History",
    ".apply(&mut",
    "apply_all(",
    "sync::merge(",
    "doc_mut(",
    "history_mut(",
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

/// Code lines, without comments (so docs may name other modules) and without `#[cfg(test)]`
/// modules at the end of a file (tests may build documents of their own).
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = l.split("//").next().unwrap_or("");
        if !code.trim().is_empty() {
            out.push((i + 1, code.to_string()));
        }
    }
    out
}

/// Expands one use tree (`crate::{a::X, b::{Y, Z}}`) into its paths (`crate::a::X`, ...).
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let Some(close) = tree.rfind('}') else {
        return vec![tree];
    };
    let inner = &tree[open + 1..close];
    // Split the inner list at top-level commas.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(|x| format!("{prefix}{x}")))
        .map(|p| p.trim_end_matches("::self").to_string())
        .collect()
}

/// Every path a file names: those of its `use` statements (expanded) and the `crate::`/`super::`
/// paths written inline in code, with their line numbers.
fn paths(text: &str) -> Vec<(usize, String)> {
    let lines = code_lines(text);
    let mut out = Vec::new();
    let mut statement: Option<(usize, String)> = None;
    for (n, line) in &lines {
        let t = line.trim();
        let starts_use = t.starts_with("use ") || (t.starts_with("pub") && t.contains(" use "));
        if statement.is_none() && starts_use {
            let body = &t[t.find("use ").unwrap_or(0) + 4..];
            statement = Some((*n, body.to_string()));
        } else if let Some((_, s)) = &mut statement {
            s.push_str(t);
        } else {
            // Inline paths: each `crate::…`/`super::…`/`voxmark::…` run of path characters.
            for root in ["crate::", "super::", "voxmark::"] {
                let mut rest = line.as_str();
                while let Some(at) = rest.find(root) {
                    let before = rest[..at].chars().last();
                    let path: String = rest[at..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        out.push((*n, path.trim_end_matches(':').to_string()));
                    }
                    rest = &rest[at + root.len()..];
                }
            }
        }
        if let Some((start, s)) = &statement
            && s.trim_end().ends_with(';')
        {
            for p in expand(s.trim_end().trim_end_matches(';')) {
                out.push((*start, p.split(" as ").next().unwrap_or(&p).to_string()));
            }
            statement = None;
        }
    }
    out
}

/// Dependency-rule breaks in one file of `module`.
fn rule_violations(module: &str, file: &str, text: &str) -> Vec<String> {
    let Some((_, banned_modules, banned_crates)) = RULES.iter().find(|r| r.0 == module) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (n, path) in paths(text) {
        let crate_module = path
            .strip_prefix("crate::")
            .or_else(|| path.strip_prefix("voxmark::"))
            .map(|p| p.split("::").next().unwrap_or(""));
        if let Some(m) = crate_module
            && banned_modules.contains(&m)
        {
            found.push(format!("{file}:{n}: {module} uses {m}: {path}"));
        }
        for c in *banned_crates {
            let hit = if c.ends_with('_') {
                path.starts_with(c)
            } else {
                path == *c || path.starts_with(&format!("{c}::"))
            };
            if hit {
                found.push(format!("{file}:{n}: {module} uses {c}: {path}"));
            }
        }
    }
    // External crates used inline without a `use` (`egui::Context` in a signature).
    for (n, line) in code_lines(text) {
        for c in *banned_crates {
            let c = c.trim_end_matches('_');
            let needle = format!("{c}::");
            let mut rest = line.as_str();
            while let Some(at) = rest.find(&needle) {
                let before = rest[..at].chars().last();
                if !before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == ':') {
                    found.push(format!("{file}:{n}: {module} uses {c}: {}", line.trim()));
                    break;
                }
                rest = &rest[at + needle.len()..];
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Document or history changes in a `ui/` file outside `session/`.
fn mutation_violations(file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in code_lines(text) {
        for m in DOCUMENT_MUTATION {
            // A whole token: `&mut Document` is not `&mut DocumentSession`.
            let whole = line.match_indices(m).any(|(at, _)| {
                !line[at + m.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    || !m.ends_with(|c: char| c.is_alphanumeric())
            });
            if whole {
                found.push(format!(
                    "{file}:{n}: only ui/session/ may change the document or history ({m}): {}",
                    line.trim()
                ));
            }
        }
    }
    found
}

/// The module a file is in (`app`, `panels`, `viewport`, ... under `ui/`), from its path under its
/// top module's folder.
fn module_node(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The modules of `top` that a file of node `node` (at `depth` modules below `top`) imports.
fn module_edges(top: &str, node: &str, depth: usize, text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let prefix = format!("crate::{top}::");
    for (_, path) in paths(text) {
        let target = if let Some(rest) = path.strip_prefix(prefix.as_str()) {
            rest.split("::").next().map(str::to_string)
        } else if path.starts_with("super::") {
            // `super` climbs one folder per level: at depth 0 it is `ui` itself.
            let mut rest = path.as_str();
            let mut ups = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                ups += 1;
            }
            (ups > depth).then(|| rest.split("::").next().unwrap_or("").to_string())
        } else {
            None
        };
        if let Some(t) = target
            && !t.is_empty()
            && t != node
            && t != "*"
        {
            out.insert(t);
        }
    }
    out
}

/// The cycles of a graph, each as its strongly connected component (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.graph.get(v) {
            for w in next {
                let w = w.as_str();
                if !s.graph.contains_key(w) {
                    continue;
                }
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_keep_their_dependency_rules() {
    let mut found = Vec::new();
    for (module, _, _) in RULES {
        let mut files = Vec::new();
        rust_files(&src().join(module), &mut files);
        assert!(!files.is_empty(), "module {module} has no files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            found.extend(rule_violations(module, &file.display().to_string(), &text));
        }
    }
    assert!(
        found.is_empty(),
        "dependency rules broken (ARCHITECTURE.md §2):\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_session_changes_the_document() {
    let ui = src().join("ui");
    let mut files = Vec::new();
    rust_files(&ui, &mut files);
    let mut found = Vec::new();
    let session_dir = ui.join("session");
    for file in files.iter().filter(|f| !f.starts_with(&session_dir)) {
        let text = std::fs::read_to_string(file).unwrap();
        found.extend(mutation_violations(&file.display().to_string(), &text));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The session hands out its document and history read-only.
    let session = std::fs::read_to_string(session_dir.join("mod.rs")).unwrap();
    for (n, line) in code_lines(&session) {
        assert!(
            !(line.contains("pub")
                && (line.contains("-> &mut Document") || line.contains("-> &mut History"))),
            "session/mod.rs:{n} hands out a mutable document or history: {line}"
        );
        assert!(
            !(line.trim_start().starts_with("pub ")
                && (line.contains(" doc:") || line.contains(" history:"))),
            "session/mod.rs:{n}: the document and history fields are private: {line}"
        );
    }
}

/// The import graph between the modules of `top` (files and folders directly under it).
fn module_graph(top: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = src().join(top);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let node = module_node(relative);
        if node == "mod" {
            continue; // top/mod.rs declares the modules and re-exports the public ones
        }
        // `super` in a folder's mod.rs is one level higher than in the folder's other files.
        let mut depth = relative.components().count() - 1;
        if relative.file_name().is_some_and(|f| f == "mod.rs") {
            depth -= 1;
        }
        let text = std::fs::read_to_string(file).unwrap();
        graph
            .entry(node.clone())
            .or_default()
            .extend(module_edges(top, &node, depth, &text));
    }
    graph
}

#[test]
fn modules_import_each_other_without_cycles() {
    for top in ["ui", "io", "inference", "core", "store", "cli", "render"] {
        let graph = module_graph(top);
        assert!(graph.len() > 4, "{top}: {graph:?}");
        let found = cycles(&graph);
        assert!(
            found.is_empty(),
            "import cycles inside {top}/: {found:?}\n(edges: {graph:#?})"
        );
    }
}

/// Each checker can fail: lines that break its rule are found, comments and allowed lines are not.
#[test]
fn the_checkers_catch_what_they_forbid() {
    // Grouped and nested use trees, inline paths and external crates.
    assert_eq!(
        expand("crate::{a::X, b::{Y, Z}, c}"),
        vec!["crate::a::X", "crate::b::Y", "crate::b::Z", "crate::c"]
    );
    let grouped = "use crate::{\n    core::Document,\n    store::Project,\n};\n";
    assert_eq!(rule_violations("core", "f.rs", grouped).len(), 1);
    let nested = "use crate::{core::{Id, Document}, io::{self, dicom}};";
    assert_eq!(rule_violations("store", "f.rs", nested).len(), 2);
    let inline = "fn f(p: &crate::store::Project) {}";
    assert_eq!(rule_violations("core", "f.rs", inline).len(), 1);
    let external = "fn f(c: &egui::Context) {}";
    assert_eq!(rule_violations("core", "f.rs", external).len(), 1);
    let ok = "// core must not use crate::store::Project\nuse crate::core::Id;\nuse super::mask;";
    assert!(rule_violations("core", "f.rs", ok).is_empty());
    // A crate whose name another contains is not mistaken for it.
    assert!(rule_violations("core", "f.rs", "use imageproc::x;").is_empty());
    // Document changes outside the session.
    assert_eq!(
        mutation_violations("f.rs", "fn f(d: &mut Document) {}").len(),
        1
    );
    assert_eq!(
        mutation_violations("f.rs", "edit.apply(&mut doc)?;").len(),
        1
    );
    assert!(mutation_violations("f.rs", "let d = p.doc();").is_empty());
    assert!(mutation_violations("f.rs", "fn f(p: &mut DocumentSession) {}").is_empty());
    // Cycles, through `crate::ui::` and `super::` alike.
    let a = module_edges(
        "ui",
        "app",
        0,
        "use super::{panels::menu, command::Command};",
    );
    assert_eq!(
        a,
        BTreeSet::from(["command".to_string(), "panels".to_string()])
    );
    let p = module_edges(
        "ui",
        "panels",
        1,
        "use super::status;\nuse super::super::app::AppState;",
    );
    assert_eq!(p, BTreeSet::from(["app".to_string()]));
    let mut g = BTreeMap::new();
    g.insert("app".to_string(), a);
    g.insert("panels".to_string(), p);
    g.insert("command".to_string(), BTreeSet::new());
    assert_eq!(
        cycles(&g),
        vec![vec!["app".to_string(), "panels".to_string()]]
    );
    g.insert("app".to_string(), BTreeSet::from(["command".to_string()]));
    assert!(cycles(&g).is_empty());
}
