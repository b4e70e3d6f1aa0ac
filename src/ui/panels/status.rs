//! The status bar (cursor read-out, saving, jobs) and the keyboard help window.

use crate::ui::session::SaveState;
use crate::ui::theme;
use egui::{RichText, Ui};

use crate::ui::app::AppState;

/// A value with as many decimals as it needs (integers stay integers).
pub(in crate::ui) fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

impl AppState {
    /// The status bar; true when its Cancel button (of a model job) was clicked.
    pub(in crate::ui) fn status_bar(&self, ui: &mut Ui) -> bool {
        let mut cancel = false;
        ui.horizontal(|ui| {
            let Some((entry, display)) = self.current() else {
                ui.weak("No image");
                return;
            };
            let v = &entry.volume;
            let nz = v.size()[2];
            match self.hover_voxel {
                Some((ijk, continuous)) => {
                    let mm = v.world_from_voxel().apply(continuous);
                    let values: Vec<String> = (0..v.components())
                        .filter_map(|c| v.value(ijk, c))
                        .map(format_value)
                        .collect();
                    let unit = if v.meta.modality.as_deref() == Some("CT") {
                        " HU"
                    } else {
                        ""
                    };
                    ui.label(format!("voxel ({}, {}, {})", ijk[0], ijk[1], ijk[2]));
                    ui.label(format!("LPS ({:.1}, {:.1}, {:.1}) mm", mm[0], mm[1], mm[2]));
                    ui.label(format!("value {}{unit}", values.join(", ")));
                }
                _ => {
                    ui.weak("Move the cursor over the image");
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(p) = &self.project {
                    let state = match p.save_state() {
                        SaveState::NotSaved { why, journaled } => {
                            let kept = match journaled {
                                0 => String::new(),
                                n => format!(" ({n} in the recovery journal)"),
                            };
                            let short: String = why.chars().take(60).collect();
                            let more = if short.len() < why.len() { "…" } else { "" };
                            (
                                RichText::new(format!("not saved: {short}{more}{kept}"))
                                    .color(theme::ERROR_MUTED)
                                    .into(),
                                Some(why),
                            )
                        }
                        SaveState::Saved => {
                            (RichText::new("saved").color(theme::MUTED).into(), None)
                        }
                        SaveState::Saving(n) => (
                            RichText::new(format!("saving {n}…"))
                                .color(theme::MUTED)
                                .into(),
                            None,
                        ),
                        SaveState::Journaled(n) => (
                            RichText::new(format!("saved · {n} in the recovery journal"))
                                .color(theme::ERROR_MUTED)
                                .into(),
                            Some("File → Apply the recovery journal".to_string()),
                        ),
                    };
                    let (text, hover): (egui::WidgetText, Option<String>) = state;
                    let r = ui.label(text);
                    if let Some(h) = hover {
                        r.on_hover_text(h);
                    }
                    ui.separator();
                }
                ui.label(format!("tool: {}", self.tool.name()));
                if let Some(job) = &self.fill {
                    ui.separator();
                    ui.spinner();
                    ui.label(format!(
                        "filling… {:.1} s",
                        job.started.elapsed().as_secs_f32()
                    ));
                }
                if let Some(job) = &self.models.running {
                    ui.separator();
                    cancel = ui
                        .small_button("Cancel")
                        .on_hover_text("stop the model job at its next step")
                        .clicked();
                    let (done, total) = self.models.progress();
                    if total > 0 {
                        ui.add(
                            egui::ProgressBar::new(done as f32 / total as f32)
                                .desired_width(90.0)
                                .show_percentage(),
                        );
                    } else {
                        ui.spinner();
                    }
                    ui.label(format!(
                        "{}… {:.1} s",
                        job.what,
                        job.started.elapsed().as_secs_f32()
                    ));
                }
                ui.separator();
                let preset = display
                    .preset
                    .and_then(|p| entry.presets.get(p))
                    .map_or_else(String::new, |(n, _)| format!(" ({n})"));
                ui.label(format!(
                    "C {} W {}{preset}",
                    format_value(display.window.center),
                    format_value(display.window.width)
                ));
                ui.separator();
                ui.label(format!(
                    "slice {} of {nz} (k = {})",
                    display.k + 1,
                    display.k
                ));
                // Last, so that it takes the room left beside the read-out and is cut short
                // there (the whole text on hover) instead of drawing over it.
                if let Some(m) = &self.message {
                    ui.separator();
                    ui.add(egui::Label::new(RichText::new(m).color(theme::MUTED)).truncate())
                        .on_hover_text(m);
                }
            });
        });
        cancel
    }

    pub(in crate::ui) fn help(&mut self, ctx: &egui::Context) {
        let graphics = &self.graphics;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut self.show_help)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (keys, what) in crate::ui::keymap::help_rows() {
                            ui.label(RichText::new(keys).strong());
                            ui.label(what);
                            ui.end_row();
                        }
                    });
                ui.add_space(6.0);
                ui.weak(format!("Graphics: {graphics}"));
                match crate::ui::models::inference_status(ui.ctx()) {
                    Some(line) => ui.weak(line),
                    None => {
                        ui.ctx()
                            .request_repaint_after(std::time::Duration::from_millis(50));
                        ui.weak("Inference: looking for ONNX Runtime…")
                    }
                };
            });
    }
}
