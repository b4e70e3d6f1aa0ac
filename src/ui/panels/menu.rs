//! The menu bar.

use crate::ui::command::Command;
use crate::ui::mpr::Layout;
use crate::ui::prefs::ThemeChoice;
use crate::ui::session::DocumentSession;
use egui::Ui;

use crate::ui::app::AppState;

impl AppState {
    /// File menu: projects, images, recent projects; Help.
    pub(in crate::ui) fn menu_bar(&mut self, ui: &mut Ui) {
        let has_project = self.project.is_some();
        let loose = self
            .images
            .iter()
            .filter(|e| e.project_image.is_none())
            .count();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let new_hint = if loose > 0 {
                    format!("a new project file holding the {loose} open images")
                } else {
                    "a new, empty project file".to_owned()
                };
                if ui.button("New project…").on_hover_text(new_hint).clicked()
                    && let Some(path) = crate::ui::welcome::pick_new_project()
                {
                    self.commands.push(Command::NewProject(path));
                }
                if ui.button("Open…").clicked()
                    && let Some(paths) = crate::ui::welcome::pick_files()
                {
                    self.commands.push(Command::Load(paths));
                }
                if ui
                    .button("Open folder…")
                    .on_hover_text("a DICOM folder or DICOMDIR tree")
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new().pick_folder()
                {
                    self.commands.push(Command::Load(vec![path]));
                }
                ui.separator();
                if ui
                    .add_enabled(has_project, egui::Button::new("Add images to project…"))
                    .clicked()
                    && let Some(paths) = rfd::FileDialog::new().pick_files()
                {
                    self.commands.push(Command::AddImages(paths));
                }
                if ui
                    .add_enabled(has_project, egui::Button::new("Add folder to project…"))
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new().pick_folder()
                {
                    self.commands.push(Command::AddImages(vec![path]));
                }
                ui.separator();
                let recent = self.recent.clone().unwrap_or_default();
                ui.add_enabled_ui(!recent.is_empty(), |ui| {
                    ui.menu_button("Recent projects", |ui| {
                        for path in recent {
                            if crate::ui::welcome::file_button(ui, &path, false) {
                                self.commands.push(Command::Load(vec![path]));
                            }
                        }
                    });
                });
                if ui
                    .add_enabled(has_project, egui::Button::new("Save a copy…"))
                    .on_hover_text(
                        "a consistent copy of the project file, made while it stays open",
                    )
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new()
                        .add_filter("Voxmark project", &["voxmark"])
                        .set_file_name("copy.voxmark")
                        .save_file()
                {
                    self.commands.push(Command::SaveCopy(path));
                }
                let journaled = self.project.as_ref().map_or(0, DocumentSession::journaled);
                if ui
                    .add_enabled(journaled > 0, egui::Button::new("Apply the recovery journal"))
                    .on_hover_text(format!(
                        "{journaled} transaction(s) a failed save kept beside the project (as `voxmark recover`)"
                    ))
                    .clicked()
                {
                    self.commands.push(Command::ApplyJournal {
                        discard_conflicts: false,
                    });
                }
                if ui
                    .add_enabled(has_project, egui::Button::new("Close project"))
                    .clicked()
                {
                    self.commands.push(Command::CloseProject);
                }
                ui.separator();
                if ui.button("Settings…").clicked() {
                    self.commands.push(Command::ShowSettings);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                for layout in Layout::ALL {
                    if ui
                        .selectable_label(self.layout == layout, layout.name())
                        .on_hover_text(format!("key {}", layout.key().name()))
                        .clicked()
                    {
                        self.commands.push(Command::SetLayout(layout));
                    }
                }
                ui.separator();
                for choice in ThemeChoice::ALL {
                    let label = format!("{} theme", choice.name());
                    if ui
                        .selectable_label(self.prefs.theme == choice, label)
                        .clicked()
                    {
                        self.commands.push(Command::SetTheme(choice));
                    }
                }
                ui.separator();
                ui.checkbox(&mut self.show_histogram, "Histogram");
            });
            ui.menu_button("Help", |ui| {
                if ui.button("Keyboard shortcuts").clicked() {
                    self.commands.push(Command::ToggleHelp);
                }
            });
        });
    }
}
