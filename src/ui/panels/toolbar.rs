//! The toolbar: tools, layouts, and the chosen tool's settings.

use crate::ui::command::Command;
use crate::ui::mpr::Layout;
use crate::ui::tools::Tool;
use egui::Ui;

use crate::ui::app::AppState;

impl AppState {
    pub(in crate::ui) fn toolbar(&mut self, ui: &mut Ui) {
        let editable = self.current_project_image().is_some();
        // Two rows of fixed height that never wrap: choosing a tool changes what the second row
        // holds, never the height of the bar (the panels below do not move).
        let row = ui.spacing().interact_size.y;
        ui.horizontal(|ui| {
            ui.set_min_height(row);
            for tool in Tool::ALL {
                let enabled = editable || !tool.edits();
                let hint = if enabled {
                    format!("{} ({:?})", tool.hint(), tool.key())
                } else {
                    "open or create a project to annotate".to_owned()
                };
                let button = ui
                    .add_enabled(
                        enabled,
                        egui::Button::selectable(self.tool == tool, tool.name()),
                    )
                    .on_hover_text(hint)
                    .on_disabled_hover_text("open or create a project to annotate");
                if button.clicked() {
                    self.commands.push(Command::SetTool(tool));
                }
            }
            ui.separator();
            let (can_undo, can_redo) = self.project.as_ref().map_or((false, false), |p| {
                (p.history().undo_len() > 0, p.history().redo_len() > 0)
            });
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.commands.push(Command::Undo);
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
            {
                self.commands.push(Command::Redo);
            }
            ui.separator();
            for layout in Layout::ALL {
                if ui
                    .add(egui::Button::selectable(
                        self.layout == layout,
                        layout.short_name(),
                    ))
                    .on_hover_text(format!("{} (key {})", layout.name(), layout.key().name()))
                    .clicked()
                {
                    self.commands.push(Command::SetLayout(layout));
                }
            }
            if ui
                .button("?")
                .on_hover_text("Keyboard shortcuts (F1)")
                .clicked()
            {
                self.commands.push(Command::ToggleHelp);
            }
        });
        ui.horizontal(|ui| {
            ui.set_min_height(row);
            if let Some((entry, display)) = self.current() {
                let nz = entry.volume.size()[2];
                if nz > 1 {
                    let mut k = display.k;
                    ui.label("Slice");
                    if ui.add(egui::Slider::new(&mut k, 0..=nz - 1)).changed() {
                        self.commands.push(Command::SetSlice(k));
                    }
                    ui.separator();
                }
            }
            ui.label(egui::RichText::new(self.tool.name()).strong());
            if !self.tool_settings(ui) {
                ui.weak(self.tool.hint());
            }
        });
    }

    /// The active tool's settings in the toolbar's second row; false when it has none.
    pub(in crate::ui) fn tool_settings(&mut self, ui: &mut Ui) -> bool {
        let s = &mut self.settings;
        match self.tool {
            Tool::Brush | Tool::Eraser => {
                ui.label("Radius");
                ui.add(
                    egui::DragValue::new(&mut s.brush.radius_mm)
                        .range(0.1..=200.0)
                        .speed(0.1)
                        .suffix(" mm"),
                )
                .on_hover_text("[ and ] change it");
                ui.checkbox(&mut s.brush.sphere, "3D")
                    .on_hover_text("a sphere across slices instead of a disc on the slice");
            }
            Tool::Threshold => {
                ui.label("Range");
                ui.add(egui::DragValue::new(&mut s.threshold.0).speed(1.0));
                ui.label("…");
                ui.add(egui::DragValue::new(&mut s.threshold.1).speed(1.0));
                ui.checkbox(&mut s.threshold_3d, "3D")
                    .on_hover_text("fill connected voxels across slices");
            }
            Tool::Box => {
                ui.label("Depth ±");
                ui.add(
                    egui::DragValue::new(&mut s.box_depth)
                        .range(0..=500)
                        .suffix(" slices"),
                )
                .on_hover_text("0: a 2D box; more: a 3D box over that many slices above and below");
            }
            Tool::ModelBox => {
                let models = &self.models;
                let (name, why) = match &models.status {
                    Some(Err(e)) => ("model unusable".to_owned(), e.clone()),
                    _ => (
                        models.model_name(),
                        models.manifest.as_ref().map_or_else(
                            || "choose a model manifest (.toml beside its .onnx files)".into(),
                            |p| p.display().to_string(),
                        ),
                    ),
                };
                ui.label(name).on_hover_text(why);
                if ui
                    .button("Model…")
                    .on_hover_text("choose a model manifest (.toml beside its .onnx files)")
                    .clicked()
                {
                    let mut dialog = rfd::FileDialog::new().add_filter("Model manifest", &["toml"]);
                    if let Some(dir) = &self.prefs.model_folder {
                        dialog = dialog.set_directory(dir);
                    }
                    if let Some(path) = dialog.pick_file() {
                        self.commands.push(Command::ChooseModel(path));
                    }
                }
                if self.prefs.model_folder.is_some() {
                    ui.menu_button("Folder", |ui| {
                        let found = self.prefs.model_manifests();
                        if found.is_empty() {
                            ui.weak("no manifests in the model folder (File, Settings…)");
                        }
                        for path in found {
                            if crate::ui::welcome::file_button(ui, &path, true) {
                                self.commands.push(Command::ChooseModel(path));
                            }
                        }
                    })
                    .response
                    .on_hover_text("the model folder's manifests");
                }
                let runs_whole = matches!(&models.status, Some(Ok(s)) if !s.contains("promptable"));
                if runs_whole
                    && ui
                        .add_enabled(
                            models.manifest.is_some() && models.running.is_none(),
                            egui::Button::new("Run on image"),
                        )
                        .on_hover_text(
                            "segmentation models: the whole image; grounding models: the active \
                             phrase, else every phrase of the image",
                        )
                        .clicked()
                {
                    self.commands.push(Command::RunModel);
                }
            }
            Tool::Polygon => {
                ui.checkbox(&mut s.polygon_to_mask, "Fill into mask")
                    .on_hover_text(
                        "closed polygons paint the active label instead of staying vectors",
                    );
            }
            _ => return false,
        }
        true
    }
}
