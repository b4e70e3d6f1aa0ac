//! The viewer's settings, kept in `settings.toml` in the platform's config folder
//! (`paths::config_dir`): theme, the window presets offered for each modality, and the model
//! folder. Missing keys take their defaults and unknown keys are ignored, so older and newer files both
//! load; a file that cannot be read is reported, left as it is, and moved aside to
//! `settings.toml.bak` before the first save replaces it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The viewer's theme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    /// Dark panels (radiology reading rooms are dark).
    #[default]
    Dark,
    /// Light panels.
    Light,
    /// Follow the desktop's setting (dark when it says nothing).
    System,
}

impl ThemeChoice {
    /// All choices, in menu order.
    pub const ALL: [Self; 3] = [Self::Dark, Self::Light, Self::System];

    /// Menu text.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dark => "Dark",
            Self::Light => "Light",
            Self::System => "Follow the system",
        }
    }

    /// Whether the dark theme applies, given the desktop's theme (`None` when it is not known).
    pub fn is_dark(self, system: Option<egui::Theme>) -> bool {
        match self {
            Self::Dark => true,
            Self::Light => false,
            Self::System => system != Some(egui::Theme::Light),
        }
    }
}

/// A named window offered for images of one modality (or every image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowPreset {
    /// Shown in the preset list ("CT lung").
    pub name: String,
    /// DICOM modality it applies to ("CT", "MR"…); absent: every image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Window centre, modality units.
    pub center: f64,
    /// Window width, modality units (> 0).
    pub width: f64,
}

/// Everything kept between sessions (recent projects have their own file, `super::recent`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Dark, light or the system's.
    pub theme: ThemeChoice,
    /// Folder holding model manifests (`*.toml` beside their `.onnx` files); the model chooser starts
    /// there and lists what it finds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_folder: Option<PathBuf>,
    /// Window presets offered after the file's own and before "auto" and "full range".
    pub window_presets: Vec<WindowPreset>,
}

impl Default for Preferences {
    fn default() -> Self {
        let ct = |name: &str, center: f64, width: f64| WindowPreset {
            name: name.to_owned(),
            modality: Some("CT".to_owned()),
            center,
            width,
        };
        Self {
            theme: ThemeChoice::Dark,
            model_folder: None,
            window_presets: vec![
                ct("CT lung", -600.0, 1500.0),
                ct("CT mediastinum", 50.0, 350.0),
                ct("CT bone", 400.0, 1800.0),
                ct("CT brain", 40.0, 80.0),
            ],
        }
    }
}

impl Preferences {
    /// Parses a settings file's text; the error names the line or the preset at fault.
    ///
    /// # Errors
    /// TOML syntax or type errors, and window presets without a name or with a width ≤ 0.
    pub fn parse(text: &str) -> Result<Self, String> {
        let prefs: Self = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        prefs.check()?;
        Ok(prefs)
    }

    /// The settings as TOML.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Voxmark settings (written by the viewer; edit while it is closed).\n\
             # theme: \"dark\", \"light\" or \"system\". window_presets: name, modality (optional), center, width.\n\n{body}"
        )
    }

    /// Whether every window preset is usable.
    ///
    /// # Errors
    /// Names the first preset that is not.
    pub fn check(&self) -> Result<(), String> {
        for (n, p) in self.window_presets.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(format!("window preset {} has no name", n + 1));
            }
            if !(p.center.is_finite() && p.width.is_finite() && p.width > 0.0) {
                return Err(format!(
                    "window preset '{}': centre and width must be numbers and the width > 0",
                    p.name
                ));
            }
        }
        Ok(())
    }

    /// The presets that apply to an image of `modality`.
    pub fn presets_for<'a>(
        &'a self,
        modality: Option<&'a str>,
    ) -> impl Iterator<Item = &'a WindowPreset> + 'a {
        self.window_presets
            .iter()
            .filter(move |p| match &p.modality {
                None => true,
                Some(m) => modality.is_some_and(|x| x.eq_ignore_ascii_case(m)),
            })
    }

    /// Model manifests in the model folder and its direct sub-folders (a model per folder is common),
    /// sorted by path.
    pub fn model_manifests(&self) -> Vec<PathBuf> {
        let Some(folder) = &self.model_folder else {
            return Vec::new();
        };
        let mut out = toml_files(folder);
        if let Ok(entries) = std::fs::read_dir(folder) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.extend(toml_files(&e.path()));
                }
            }
        }
        out.sort();
        out
    }
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect()
}

/// `settings.toml` in the config folder `config`.
pub fn file(config: &Path) -> PathBuf {
    config.join("settings.toml")
}

/// The settings saved at `path`; defaults when there is no file.
///
/// # Errors
/// A file that exists but cannot be read or parsed: the message names it (defaults apply meanwhile).
pub fn load_from(path: &Path) -> Result<Preferences, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Preferences::parse(&text)
            .map_err(|e| format!("settings not read, defaults used: {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Preferences::default()),
        Err(e) => Err(format!(
            "settings not read, defaults used: {}: {e}",
            path.display()
        )),
    }
}

/// Saves the settings at `path`: written beside it and renamed over it, so a crash leaves the old
/// file or the new one; a file there that does not parse is kept as `settings.toml.bak` first.
///
/// # Errors
/// A write that failed (named).
pub fn save_to(prefs: &Preferences, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{e}: {}", dir.display()))?;
    }
    if let Ok(old) = std::fs::read_to_string(path)
        && Preferences::parse(&old).is_err()
    {
        let bak = path.with_extension("toml.bak");
        std::fs::rename(path, &bak).map_err(|e| format!("{e}: {}", bak.display()))?;
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, prefs.to_toml()).map_err(|e| format!("{e}: {}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{e}: {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_defaults_and_partial_files() {
        let mut prefs = Preferences {
            theme: ThemeChoice::System,
            model_folder: Some(PathBuf::from("/models")),
            ..Default::default()
        };
        prefs.window_presets.push(WindowPreset {
            name: "MR T1".into(),
            modality: Some("MR".into()),
            center: 500.0,
            width: 1000.0,
        });
        assert_eq!(Preferences::parse(&prefs.to_toml()).unwrap(), prefs);
        // Missing keys take defaults; unknown keys are ignored.
        let partial = Preferences::parse("theme = \"light\"\nfuture = 3\n").unwrap();
        assert_eq!(partial.theme, ThemeChoice::Light);
        assert_eq!(
            partial.window_presets,
            Preferences::default().window_presets
        );
        assert_eq!(Preferences::parse("").unwrap(), Preferences::default());
    }

    #[test]
    fn bad_files_are_named_and_kept() {
        let e = Preferences::parse("theme = \"purple\"").unwrap_err();
        assert!(e.contains("purple") && e.contains("line 1"), "{e}");
        let e = Preferences::parse("[[window_presets]]\nname = \"flat\"\ncenter = 0\nwidth = 0\n")
            .unwrap_err();
        assert!(e.contains("'flat'"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voxmark").join("settings.toml");
        assert_eq!(load_from(&path).unwrap(), Preferences::default());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "theme = [").unwrap();
        let e = load_from(&path).unwrap_err();
        assert!(e.contains("settings.toml"), "{e}");
        // Saving keeps the unreadable file aside, then writes a good one.
        save_to(&Preferences::default(), &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(path.with_extension("toml.bak")).unwrap(),
            "theme = ["
        );
        assert_eq!(load_from(&path).unwrap(), Preferences::default());
    }

    #[test]
    fn presets_follow_the_modality_and_manifests_are_found() {
        let mut prefs = Preferences::default();
        prefs.window_presets.push(WindowPreset {
            name: "any".into(),
            modality: None,
            center: 0.0,
            width: 1.0,
        });
        let names = |m: Option<&str>| -> Vec<String> {
            prefs.presets_for(m).map(|p| p.name.clone()).collect()
        };
        assert_eq!(names(Some("ct")).len(), 5);
        assert_eq!(names(Some("MR")), vec!["any"]);
        assert_eq!(names(None), vec!["any"]);

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sam")).unwrap();
        std::fs::write(dir.path().join("sam/litemedsam.toml"), "").unwrap();
        std::fs::write(dir.path().join("seg.toml"), "").unwrap();
        std::fs::write(dir.path().join("seg.onnx"), "").unwrap();
        prefs.model_folder = Some(dir.path().to_path_buf());
        assert_eq!(
            prefs.model_manifests(),
            vec![
                dir.path().join("sam/litemedsam.toml"),
                dir.path().join("seg.toml")
            ]
        );
    }

    #[test]
    fn system_theme_resolves() {
        assert!(ThemeChoice::System.is_dark(None));
        assert!(!ThemeChoice::System.is_dark(Some(egui::Theme::Light)));
        assert!(ThemeChoice::Dark.is_dark(Some(egui::Theme::Light)));
    }
}
