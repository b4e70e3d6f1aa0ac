//! Applying the frame's commands: the one place the views, the workspace and (through the
//! `DocumentSession`) the document change; and the keyboard and dropped files that make commands.

use crate::ui::command::Command;
use crate::ui::grounding::{self};
use crate::ui::tools::{Gesture, Tool};
use egui::Event;
use std::path::PathBuf;

use crate::ui::app::AppState;
use crate::ui::panels::phrases::phrase_from_selection;

impl AppState {
    /// Runs one command: the only place the document and the view settings change.
    pub(in crate::ui) fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Load(paths) => self.start_load(ctx, paths),
            Command::NewProject(path) => self.new_project(ctx, path),
            Command::AddImages(paths) => self.add_images(ctx, paths),
            Command::CloseProject => {
                self.end_gesture();
                self.close_project();
                ctx.send_viewport_cmd(egui::ViewportCommand::Title("Voxmark".into()));
            }
            Command::SaveCopy(target) => {
                self.end_gesture();
                let queued = match self.project.as_mut() {
                    Some(p) => p.save_copy(target.clone()),
                    None => Err("no project is open".into()),
                };
                self.message = Some(match queued {
                    Ok(()) => format!("saving a copy at {}…", target.display()),
                    Err(e) => e,
                });
            }
            Command::ApplyJournal { discard_conflicts } => {
                self.end_gesture();
                let queued = match self.project.as_mut() {
                    Some(p) => p.recover_journal(discard_conflicts),
                    None => Err("no project is open".into()),
                };
                self.message = Some(match queued {
                    Ok(()) => "applying the recovery journal…".into(),
                    Err(e) => e,
                });
            }
            Command::DismissJournal => {
                if let Some(p) = &mut self.project {
                    p.dismiss_journal_offer();
                }
            }
            Command::Select(i) => {
                if i < self.images.len() && self.selected != Some(i) {
                    self.end_gesture();
                    self.selected = Some(i);
                    self.selected_region = None;
                    // The phrase being grounded and the report selection belong to the image left.
                    self.active_phrase = None;
                    self.annotations.report_selection = None;
                }
            }
            Command::ToggleHelp => self.show_help = !self.show_help,
            Command::ScaleBrush(f) => {
                let r = &mut self.settings.brush.radius_mm;
                *r = (*r * f).clamp(0.1, 200.0);
            }
            Command::Cancel => {
                if self.gesture != Gesture::Idle {
                    self.end_gesture();
                } else if self.show_help {
                    self.show_help = false;
                } else {
                    self.apply(ctx, Command::SelectRegion(None));
                }
            }
            Command::SetTool(tool) => {
                if tool.edits() && self.current_project_image().is_none() {
                    self.message = Some(format!(
                        "{}: open or create a project to annotate",
                        tool.name()
                    ));
                    return;
                }
                self.end_gesture();
                if tool == Tool::Threshold && self.tool != Tool::Threshold {
                    // Start from the window: what is visible is what the user wants to fill.
                    if let Some((_, d)) = self.current() {
                        let (c, w) = (d.window.center, d.window.width);
                        self.settings.threshold = (c - w / 2.0, c + w / 2.0);
                    }
                }
                self.tool = tool;
            }
            Command::SelectRegion(r) => self.selected_region = r,
            Command::StepSlice(_)
            | Command::SetSlice(_)
            | Command::AdjustWindow { .. }
            | Command::NextPreset
            | Command::ResetWindow
            | Command::SetWindow(_)
            | Command::Pan(_)
            | Command::Zoom { .. }
            | Command::ResetView
            | Command::SetCursor(_)
            | Command::StepPlane { .. }
            | Command::Orbit(_)
            | Command::Zoom3d(_)
            | Command::SetMode3d(_)
            | Command::ResetOrbit => self.apply_view(command),
            Command::SetLayout(layout) => self.layout = layout,
            Command::OpenDemo => {
                let prepared = self
                    .demo_folder
                    .clone()
                    .or_else(crate::ui::demo::folder)
                    .ok_or_else(|| "no home folder for the demo".to_owned())
                    .and_then(|f| crate::ui::demo::prepare(&f));
                match prepared {
                    Ok(crate::ui::demo::Demo::Project(path)) => self.start_load(ctx, vec![path]),
                    Ok(crate::ui::demo::Demo::Files { files, project }) => {
                        self.start_load(ctx, files);
                        self.pending_demo = Some((self.next_job, project));
                    }
                    Err(e) => self.errors.push(e),
                }
            }
            Command::SetTheme(choice) => {
                let mut prefs = self.prefs.clone();
                prefs.theme = choice;
                self.set_preferences(ctx, prefs);
                self.save_preferences();
            }
            Command::SetPreferences(prefs) => {
                self.set_preferences(ctx, *prefs);
                self.save_preferences();
            }
            Command::ShowSettings => {
                self.settings_draft = Some(crate::ui::welcome::Draft::new(&self.prefs));
            }
            Command::SetActiveLabel(l) => self.active_label = Some(l),
            Command::SelectPhrase(ph) => self.active_phrase = ph,
            Command::SetRegionFilter(f) => {
                self.region_filter = f;
                self.message = Some(format!("showing {} regions", f.name().to_lowercase()));
            }
            Command::ShowHeatmap(ph) => {
                self.heat_phrase = ph;
                if ph.is_some() {
                    self.heatmap_style.visible = true;
                }
            }
            Command::SetHeatmapStyle(style) => self.heatmap_style = style,
            Command::ToggleHeatmap => {
                if self.heatmap_style.visible && self.heat_phrase.is_some() {
                    self.heatmap_style.visible = false;
                } else {
                    self.heatmap_style.visible = true;
                    if self.heat_phrase.is_none()
                        && let Some((p, image)) = self.current_project_image()
                    {
                        let with_map = grounding::heatmap_counts(p.doc(), image);
                        let notes = p
                            .notes(image)
                            .map(|n| n.phrases.clone())
                            .unwrap_or_default();
                        self.heat_phrase = self
                            .active_phrase
                            .filter(|ph| with_map.contains_key(ph))
                            .or_else(|| notes.into_iter().find(|ph| with_map.contains_key(ph)));
                    }
                }
            }
            Command::NextProposal => self.next_proposal(),
            Command::ChooseModel(path) => {
                self.models.choose(path);
                #[cfg(feature = "inference")]
                self.models.load(ctx);
            }
            Command::CancelModel => {
                self.models.cancel();
                self.message = Some("cancelling the model job…".into());
            }
            Command::ModelBox(shape) => {
                if let Err(e) = self.start_model(ctx, Some(shape)) {
                    self.message = Some(e);
                }
            }
            Command::RunModel => {
                if let Err(e) = self.start_model(ctx, None) {
                    self.message = Some(e);
                }
            }
            Command::FillDone { image, filled } => {
                let outcome = match filled {
                    _ if self.current().map(|(_, d)| d.uid) != Some(image) => {
                        Err("threshold fill dropped: another image is shown".to_owned())
                    }
                    Some((bounds, inside)) => self.fill_mask("threshold fill", bounds, &inside),
                    None => Err("threshold fill: nothing in range at the seed".to_owned()),
                };
                if let Err(e) = outcome {
                    self.message = Some(e);
                }
            }
            #[cfg(feature = "inference")]
            Command::ModelDone {
                image,
                what,
                outcome,
                seconds,
            } => self.finish_model(image, &what, outcome, seconds),
            edit => {
                if let Err(e) = self.apply_edit(edit) {
                    self.message = Some(e);
                }
            }
        }
    }

    /// Abandons a gesture in progress (an open stroke is committed: what was painted stays).
    pub(in crate::ui) fn end_gesture(&mut self) {
        if (!self.stroke.is_empty() || matches!(self.gesture, Gesture::Stroke { .. }))
            && let Err(e) = self.apply_edit(Command::StrokeEnd)
        {
            self.message = Some(e);
        }
        self.gesture = Gesture::Idle;
    }

    /// The "new phrase" command for the report selection, if text is selected.
    pub(in crate::ui) fn new_phrase_command(&self) -> Option<Command> {
        let (p, image) = self.current_project_image()?;
        let report = p.doc().images.get(&image)?.report.as_deref()?;
        phrase_from_selection(report, self.annotations.report_selection?)
    }

    /// Keys and dropped files, read before the panels draw.
    pub(in crate::ui) fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            self.commands.push(Command::Load(dropped));
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let page = self
            .current()
            .map_or(10, |(e, _)| (e.volume.size()[2] / 10).max(1)) as i64;
        let help = ctx.input(|i| {
            i.events
                .iter()
                .any(|e| matches!(e, Event::Text(t) if t == "?"))
        });
        let cx = crate::ui::keymap::Context {
            page,
            selected_region: self.selected_region,
            active_phrase: self.active_phrase,
            region_filter: self.region_filter,
            new_phrase: self.new_phrase_command(),
        };
        let commands = ctx.input_mut(|i| crate::ui::keymap::commands_for_keys(i, &cx));
        self.commands.extend(commands);
        if help {
            self.commands.push(Command::ToggleHelp);
        }
    }

    /// Slice, window, zoom and pan of the selected image.
    pub(in crate::ui) fn apply_view(&mut self, command: Command) {
        let shown = self.view.map(|v| v.rect);
        if let Some((entry, view)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get_mut(s)?)))
        {
            view.apply(entry, shown, command);
        }
    }
}
