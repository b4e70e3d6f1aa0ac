//! Where the viewer keeps its files, by platform's convention: settings and recent projects in the
//! config folder, the demo project in the data folder.
//!
//! | | config | data |
//! |---|---|---|
//! | Linux, BSD | `$XDG_CONFIG_HOME/voxmark`, else `~/.config/voxmark` | `$XDG_DATA_HOME/voxmark`, else `~/.local/share/voxmark` |
//! | macOS | `~/Library/Application Support/Voxmark` | the same |
//! | Windows | `%APPDATA%\Voxmark` | `%LOCALAPPDATA%\Voxmark` |
//!
//! `VOXMARK_CONFIG_DIR` replaces the config folder (tests, portable installs).

use std::path::PathBuf;

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn home() -> Option<PathBuf> {
    env_dir("HOME").or_else(|| env_dir("USERPROFILE"))
}

/// The folder for settings and the recent-projects list.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = env_dir("VOXMARK_CONFIG_DIR") {
        return Some(dir);
    }
    if cfg!(target_os = "windows") {
        env_dir("APPDATA").map(|d| d.join("Voxmark"))
    } else if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Application Support/Voxmark"))
    } else {
        env_dir("XDG_CONFIG_HOME")
            .or_else(|| home().map(|h| h.join(".config")))
            .map(|d| d.join("voxmark"))
    }
}

/// The folder for data the viewer writes for the user (the demo project).
pub fn data_dir() -> Option<PathBuf> {
    if cfg!(target_os = "windows") {
        env_dir("LOCALAPPDATA").map(|d| d.join("Voxmark"))
    } else if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Application Support/Voxmark"))
    } else {
        env_dir("XDG_DATA_HOME")
            .or_else(|| home().map(|h| h.join(".local/share")))
            .map(|d| d.join("voxmark"))
    }
}
