//! Recently opened projects, newest first, in `$XDG_CONFIG_HOME/voxmark/recent-projects.txt`
//! (else `~/.config/voxmark/…`): one path per line, at most [`KEEP`].

use std::path::{Path, PathBuf};

/// How many projects are remembered.
pub const KEEP: usize = 10;

fn file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("voxmark").join("recent-projects.txt"))
}

/// The remembered projects that still exist, newest first.
pub fn load() -> Vec<PathBuf> {
    file()
        .and_then(|f| std::fs::read_to_string(f).ok())
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

/// Writes the list; a failure only costs the list, so it is returned for the status bar.
pub fn save(list: &[PathBuf]) -> Result<(), String> {
    let f = file().ok_or("no HOME or XDG_CONFIG_HOME to keep recent projects in")?;
    if let Some(dir) = f.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{e}: {}", dir.display()))?;
    }
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
