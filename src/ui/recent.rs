//! Recently opened projects, newest first, in `recent-projects.txt` in the config folder
//! ([`super::paths::config_dir`]): one path per line, at most [`KEEP`].

use std::path::{Path, PathBuf};

/// How many projects are remembered.
pub const KEEP: usize = 10;

/// The list's file in the config folder `config`.
pub fn file(config: &Path) -> PathBuf {
    config.join("recent-projects.txt")
}

/// The remembered projects (in the config folder `config`) that still exist, newest first.
pub fn load(config: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(file(config))
        .map(|text| parse(&text))
        .unwrap_or_default()
}

fn parse(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .take(KEEP)
        .collect()
}

/// `list` with `path` moved to the front.
pub fn with_first(list: &[PathBuf], path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    out.extend(list.iter().filter(|p| p.as_path() != path).cloned());
    out.truncate(KEEP);
    out
}

/// Writes the list into the config folder `config`; a failure only costs the list, so it is returned
/// for the status bar.
pub fn save(config: &Path, list: &[PathBuf]) -> Result<(), String> {
    std::fs::create_dir_all(config).map_err(|e| format!("{e}: {}", config.display()))?;
    let f = file(config);
    let text: String = list.iter().map(|p| format!("{}\n", p.display())).collect();
    std::fs::write(&f, text).map_err(|e| format!("{e}: {}", f.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_without_duplicates_and_only_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.voxmark");
        let b = dir.path().join("b.voxmark");
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        let list = with_first(&with_first(&[], &a), &b);
        assert_eq!(list, vec![b.clone(), a.clone()]);
        assert_eq!(with_first(&list, &a), vec![a.clone(), b.clone()]);
        let text = format!("{}\n\n{}\n/no/such.voxmark\n", a.display(), b.display());
        assert_eq!(parse(&text), vec![a, b]);
    }
}
