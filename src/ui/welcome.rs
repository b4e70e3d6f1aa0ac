//! The first-run screen (demo project, open, recent projects, the README's quick start) and the
//! settings window (theme, window presets, model folder; `super::prefs`). Both return what the user
//! asked for; the app turns it into commands.

use super::prefs::{Preferences, ThemeChoice, WindowPreset};
use super::theme;
use egui::{Rect, RichText, Ui, Vec2};
use std::path::{Path, PathBuf};

/// Where the quick start lives (also installed with the packages as `/usr/share/doc/voxmark/README.md`).
pub const QUICK_START_URL: &str = "https://github.com/voxmark/voxmark#quick-start";

/// What the start screen asked for.
pub enum Action {
    /// Make (first use) or open the demo project.
    OpenDemo,
    /// Open these projects, files or folders.
    Open(Vec<PathBuf>),
    /// Make a new project file here.
    NewProject(PathBuf),
    /// Show the settings window.
    Settings,
}

/// The file dialog for projects and images.
pub fn pick_files() -> Option<Vec<PathBuf>> {
    rfd::FileDialog::new()
        .add_filter(
            "Projects and images",
            &[
                "voxmark", "dcm", "nii", "gz", "nrrd", "nhdr", "mha", "mhd", "png", "jpg", "jpeg",
                "tif", "tiff",
            ],
        )
        .add_filter("All files", &["*"])
        .pick_files()
}

/// The file dialog for a new project.
pub fn pick_new_project() -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter("Voxmark project", &["voxmark"])
        .set_file_name("annotations.voxmark")
        .save_file()
}

/// How a path is shown in a list: its file name, the folder weak beside it.
fn name_and_folder(path: &Path) -> (String, String) {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let folder = path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    (name, folder)
}

/// A button named after a file (its stem when `stem`), the whole path on hover; true when clicked.
pub fn file_button(ui: &mut Ui, path: &Path, stem: bool) -> bool {
    let name = if stem {
        path.file_stem()
    } else {
        path.file_name()
    };
    let name = name.map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    ui.button(name)
        .on_hover_text(path.display().to_string())
        .clicked()
}

/// Draws the start screen centred in `area` of `ui`.
pub fn start_screen(ui: &mut Ui, area: Rect, recent: &[PathBuf]) -> Option<Action> {
    let mut action = None;
    let height = 230.0 + 22.0 * recent.len().min(6) as f32;
    let mut child = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(Rect::from_center_size(
                area.center(),
                Vec2::new(420.0_f32.min(area.width() - 16.0), height),
            ))
            .layout(egui::Layout::top_down(egui::Align::Center)),
    );
    let ui = &mut child;
    ui.label(RichText::new("Voxmark").size(26.0).color(theme::MUTED));
    ui.weak(format!(
        "version {} · view and annotate medical images",
        env!("CARGO_PKG_VERSION")
    ));
    ui.add_space(10.0);
    if ui
        .button("Open the demo project")
        .on_hover_text(
            "a chest radiograph, a head CT slice and the MNI152 brain MR template (public data)",
        )
        .clicked()
    {
        action = Some(Action::OpenDemo);
    }
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        // Centre the row: egui lays out left to right from the row's start.
        let width = 250.0;
        ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
        if ui.button("Open…").clicked()
            && let Some(paths) = pick_files()
        {
            action = Some(Action::Open(paths));
        }
        if ui
            .button("Open folder…")
            .on_hover_text("a DICOM folder or DICOMDIR tree")
            .clicked()
            && let Some(path) = rfd::FileDialog::new().pick_folder()
        {
            action = Some(Action::Open(vec![path]));
        }
        if ui.button("New project…").clicked()
            && let Some(path) = pick_new_project()
        {
            action = Some(Action::NewProject(path));
        }
    });
    if !recent.is_empty() {
        ui.add_space(10.0);
        ui.label(RichText::new("Recent projects").color(theme::MUTED));
        for path in recent.iter().take(6) {
            let (name, folder) = name_and_folder(path);
            if ui.link(name).on_hover_text(folder).clicked() {
                action = Some(Action::Open(vec![path.clone()]));
            }
        }
    }
    ui.add_space(10.0);
    ui.weak("or drop files, folders or a .voxmark project here");
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let width = 190.0;
        ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
        ui.hyperlink_to("Quick start", QUICK_START_URL)
            .on_hover_text("the README's quick start (also in /usr/share/doc/voxmark/README.md)");
        ui.weak("·");
        if ui.link("Settings").clicked() {
            action = Some(Action::Settings);
        }
        ui.weak("·");
        ui.weak("F1: keys");
    });
    action
}

/// The settings being edited: a copy of the preferences, saved only on "Save".
pub struct Draft {
    prefs: Preferences,
    error: Option<String>,
    /// Manifests found in the model folder, counted when the folder was chosen (not every frame).
    manifests: Option<(PathBuf, usize)>,
}

impl Draft {
    /// Starts editing `prefs`.
    pub fn new(prefs: &Preferences) -> Self {
        Self {
            prefs: prefs.clone(),
            error: None,
            manifests: None,
        }
    }
}

/// What the settings window asked for.
pub enum SettingsOutcome {
    /// Still open.
    Open,
    /// Closed without saving.
    Cancelled,
    /// Apply and save these.
    Save(Box<Preferences>),
}

/// The settings window; `file` is where they are kept (shown), `None` when not kept.
pub fn settings_window(
    ctx: &egui::Context,
    draft: &mut Draft,
    file: Option<&Path>,
) -> SettingsOutcome {
    let mut outcome = SettingsOutcome::Open;
    let mut open = true;
    egui::Window::new("Settings")
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_width(520.0)
        .anchor(egui::Align2::CENTER_CENTER, Vec2::ZERO)
        .show(ctx, |ui| {
            let prefs = &mut draft.prefs;
            ui.horizontal(|ui| {
                ui.label("Theme");
                for choice in ThemeChoice::ALL {
                    ui.radio_value(&mut prefs.theme, choice, choice.name());
                }
            });
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("Model folder");
                let shown = prefs
                    .model_folder
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
                ui.add(egui::Label::new(RichText::new(shown).monospace()).truncate());
            });
            ui.horizontal(|ui| {
                if ui
                    .button("Choose…")
                    .on_hover_text("a folder of model manifests (.toml beside their .onnx files)")
                    .clicked()
                    && let Some(dir) = rfd::FileDialog::new().pick_folder()
                {
                    prefs.model_folder = Some(dir);
                }
                if ui
                    .add_enabled(prefs.model_folder.is_some(), egui::Button::new("Clear"))
                    .clicked()
                {
                    prefs.model_folder = None;
                }
                if let Some(folder) = &prefs.model_folder {
                    if draft.manifests.as_ref().is_none_or(|(f, _)| f != folder) {
                        draft.manifests = Some((folder.clone(), prefs.model_manifests().len()));
                    }
                    let n = draft.manifests.as_ref().map_or(0, |(_, n)| *n);
                    ui.weak(format!("{n} manifest{}", if n == 1 { "" } else { "s" }));
                }
            });
            ui.separator();
            ui.label("Window presets (after the file's own, before auto and full range)");
            let mut remove = None;
            egui::Grid::new("window-presets")
                .num_columns(5)
                .striped(true)
                .show(ui, |ui| {
                    // Column headers name the cells for screen readers (and kittest).
                    let heads = ["name", "modality", "centre", "width"].map(|h| ui.weak(h).id);
                    ui.end_row();
                    for (n, p) in prefs.window_presets.iter_mut().enumerate() {
                        ui.add(egui::TextEdit::singleline(&mut p.name).desired_width(150.0))
                            .labelled_by(heads[0]);
                        let mut modality = p.modality.clone().unwrap_or_default();
                        if ui
                            .add(
                                egui::TextEdit::singleline(&mut modality)
                                    .hint_text("any")
                                    .desired_width(50.0),
                            )
                            .labelled_by(heads[1])
                            .changed()
                        {
                            let m = modality.trim().to_ascii_uppercase();
                            p.modality = (!m.is_empty()).then_some(m);
                        }
                        ui.add(egui::DragValue::new(&mut p.center).speed(1.0))
                            .labelled_by(heads[2]);
                        ui.add(
                            egui::DragValue::new(&mut p.width)
                                .speed(1.0)
                                .range(1.0..=1e7),
                        )
                        .labelled_by(heads[3]);
                        if ui.small_button("×").on_hover_text("remove").clicked() {
                            remove = Some(n);
                        }
                        ui.end_row();
                    }
                });
            if let Some(n) = remove {
                prefs.window_presets.remove(n);
            }
            ui.horizontal(|ui| {
                if ui.button("Add preset").clicked() {
                    prefs.window_presets.push(WindowPreset {
                        name: format!("preset {}", prefs.window_presets.len() + 1),
                        modality: None,
                        center: 40.0,
                        width: 400.0,
                    });
                }
                if ui.button("Restore defaults").clicked() {
                    prefs.window_presets = Preferences::default().window_presets;
                }
            });
            ui.separator();
            if let Some(e) = &draft.error {
                ui.label(RichText::new(e).color(theme::ERROR_MUTED));
            }
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    match draft.prefs.check() {
                        Ok(()) => outcome = SettingsOutcome::Save(Box::new(draft.prefs.clone())),
                        Err(e) => draft.error = Some(e),
                    }
                }
                if ui.button("Cancel").clicked() {
                    outcome = SettingsOutcome::Cancelled;
                }
            });
            ui.weak(file.map_or_else(
                || "not kept (no config folder)".to_owned(),
                |f| format!("kept in {}", f.display()),
            ));
        });
    if !open {
        outcome = SettingsOutcome::Cancelled;
    }
    outcome
}
