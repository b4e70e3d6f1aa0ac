//! A damaged project: the viewer says so, never modifies the file, and offers to salvage what can
//! still be read into a copy (`store::salvage`, as `voxmark salvage` does), which it then opens.

use crate::store::salvage::{SalvageReport, salvage};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// Where the offer stands.
#[derive(Default)]
enum State {
    /// Nothing damaged was opened.
    #[default]
    Idle,
    /// A damaged project was refused; the window offers to salvage it.
    Offer {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong, in the store's words.
        message: String,
    },
    /// Salvaging on a background thread.
    Running {
        /// The new file.
        target: PathBuf,
        /// The job.
        job: JoinHandle<Result<SalvageReport, String>>,
    },
    /// Salvage failed: why.
    Failed(String),
}

/// The damaged-project window and its salvage job.
#[derive(Default)]
pub struct Damaged {
    state: State,
}

impl Damaged {
    /// A project at `path` was refused as damaged.
    pub fn offer(&mut self, path: PathBuf, message: String) {
        self.state = State::Offer { path, message };
    }

    /// True while the window shows.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Draws the window; returns the salvaged copy to open once salvage has finished, with a line
    /// saying what was kept.
    pub fn ui(&mut self, ctx: &egui::Context) -> Option<(PathBuf, String)> {
        let mut done = None;
        let state = std::mem::take(&mut self.state);
        self.state = match state {
            State::Idle => State::Idle,
            State::Offer { path, message } => {
                let mut next = None;
                egui::Window::new("The project file is damaged")
                    .collapsible(false)
                    .resizable(false)
                    .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
                    .default_width(420.0)
                    .show(ctx, |ui| {
                        ui.label(&message);
                        ui.label(
                            "Voxmark will not change this file. Salvage copies every row that can still be read into a new project and opens it.",
                        );
                        ui.horizontal(|ui| {
                            if ui.button("Salvage into a copy…").clicked()
                                && let Some(target) = rfd::FileDialog::new()
                                    .add_filter("Voxmark project", &["voxmark"])
                                    .set_file_name("salvaged.voxmark")
                                    .save_file()
                            {
                                let from = path.clone();
                                let to = target.clone();
                                let spawned = std::thread::Builder::new()
                                    .name("voxmark-salvage".into())
                                    .spawn(move || salvage(&from, &to).map_err(|e| e.to_string()));
                                next = Some(match spawned {
                                    Ok(job) => State::Running { target, job },
                                    Err(e) => State::Failed(format!("cannot start salvage: {e}")),
                                });
                            }
                            if ui.button("Close").clicked() {
                                next = Some(State::Idle);
                            }
                        });
                    });
                next.unwrap_or(State::Offer { path, message })
            }
            State::Running { target, job } => {
                if job.is_finished() {
                    match job.join() {
                        Ok(Ok(report)) => {
                            let kept: usize = report.tables.iter().map(|t| t.kept).sum();
                            let lost: usize =
                                report.tables.iter().map(|t| t.dropped + t.unreadable).sum();
                            done = Some((
                                target.clone(),
                                format!(
                                    "salvaged {kept} rows into {} ({lost} rows or damaged places lost)",
                                    target.display()
                                ),
                            ));
                            State::Idle
                        }
                        Ok(Err(e)) => State::Failed(e),
                        Err(_) => State::Failed("the salvage job stopped unexpectedly".into()),
                    }
                } else {
                    egui::Window::new("Salvaging…")
                        .collapsible(false)
                        .resizable(false)
                        .show(ctx, |ui| {
                            ui.horizontal(|ui| {
                                ui.spinner();
                                ui.label(format!("writing {}", target.display()));
                            });
                        });
                    ctx.request_repaint_after(std::time::Duration::from_millis(100));
                    State::Running { target, job }
                }
            }
            State::Failed(why) => {
                let mut close = false;
                egui::Window::new("Salvage failed")
                    .collapsible(false)
                    .resizable(false)
                    .show(ctx, |ui| {
                        ui.label(&why);
                        close = ui.button("Close").clicked();
                    });
                if close {
                    State::Idle
                } else {
                    State::Failed(why)
                }
            }
        };
        done
    }
}
