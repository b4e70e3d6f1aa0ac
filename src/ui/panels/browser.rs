//! The left panel: the loose images and the project's images with their counts and filter.

use crate::core::annotation::ImageId;
use crate::ui::command::Command;
use crate::ui::loader::{self};
use crate::ui::session::{DocumentSession, RecordState};
use crate::ui::theme;
use egui::{RichText, Ui};

use crate::ui::app::AppState;

impl AppState {
    pub(in crate::ui) fn image_list(&mut self, ui: &mut Ui) {
        self.project_list(ui);
        for job in &self.jobs {
            let what = match job.paths.as_slice() {
                [one] => one.file_name().map_or_else(
                    || one.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                many => format!("{} paths", many.len()),
            };
            let seconds = job.started.elapsed().as_secs_f32();
            let progress = job.progress.map_or_else(String::new, |(done, all)| {
                format!(" ({done} of {all} images)")
            });
            ui.horizontal(|ui| {
                ui.spinner();
                ui.add(
                    egui::Label::new(format!("Loading {what}… {seconds:.0} s{progress}"))
                        .truncate(),
                )
                .on_hover_text(loader::describe_paths(&job.paths));
            });
        }
        if self.images.is_empty() && self.jobs.is_empty() && self.project.is_none() {
            ui.weak(
                "No images. Drop DICOM folders, NIfTI or PNG/JPEG/TIFF files or a .voxmark project on the window.",
            );
        }
        let loose = self.images.iter().any(|e| e.project_image.is_none());
        if loose && self.project.is_some() {
            ui.separator();
            ui.label(RichText::new("Other images").color(theme::MUTED));
        }
        for (i, entry) in self.images.iter().enumerate() {
            if entry.project_image.is_some() {
                continue;
            }
            let img = &entry.image;
            let v = &entry.volume;
            let name = img.source.file_name().map_or_else(
                || img.source.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let [x, y, z] = v.size();
            let modality = v.meta.modality.as_deref().unwrap_or("—");
            let text = format!("{name}\n{} · {x}×{y}×{z} · {modality}", img.kind.as_str());
            let response = ui
                .selectable_label(self.selected == Some(i), text)
                .on_hover_text(format!(
                    "{}\n{}",
                    img.source.display(),
                    v.meta.description.as_deref().unwrap_or("")
                ));
            if response.clicked() {
                self.commands.push(Command::Select(i));
            }
        }
        if !self.non_images.is_empty() {
            ui.separator();
            ui.label(
                RichText::new(format!("{} non-image objects", self.non_images.len()))
                    .color(theme::MUTED),
            );
            for n in &self.non_images {
                let name = n
                    .path
                    .file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
                ui.label(
                    RichText::new(format!("{name}: {}", n.sop_class_name))
                        .small()
                        .color(theme::MUTED),
                );
            }
        }
        if !self.errors.is_empty() {
            ui.separator();
            ui.label(
                RichText::new(format!("{} could not be read", self.errors.len()))
                    .color(theme::ERROR_MUTED),
            );
            for e in &self.errors {
                ui.label(RichText::new(e).small().color(theme::ERROR_MUTED));
            }
        }
    }

    /// The open project's images: each with its counts, or the line saying why it is not shown.
    pub(in crate::ui) fn project_list(&mut self, ui: &mut Ui) {
        let Some(p) = &self.project else {
            return;
        };
        ui.label(RichText::new(p.name()).strong())
            .on_hover_text(p.path.display().to_string());
        if p.records.len() > 1 {
            ui.add(
                egui::TextEdit::singleline(&mut self.image_filter)
                    .hint_text("filter: name, modality, to review, empty…"),
            );
        }
        if p.records.is_empty() {
            ui.weak("The project has no images yet (voxmark add).");
        }
        for (record, state) in p.records.iter().zip(&p.states) {
            let name = record.source.file_name().map_or_else(
                || record.source.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let [x, y, z] = record.size;
            let modality = record.modality.as_deref().unwrap_or("—");
            let title = format!(
                "{}. {name}\n{} · {x}×{y}×{z} · {modality}",
                record.id, record.kind
            );
            let c = p.notes(record.id).map(|n| n.counts).unwrap_or_default();
            if !self.image_filter.is_empty() {
                let status = match (c.proposed, c.accepted + c.rejected) {
                    (p, _) if p > 0 => "to review",
                    (_, 0) => "empty",
                    _ => "annotated",
                };
                let haystack = format!("{title} {status}").to_lowercase();
                if !haystack.contains(&self.image_filter.to_lowercase()) {
                    continue;
                }
            }
            let counts = format!(
                "{} accepted · {} proposed · {} rejected\n{} phrases · {} links",
                c.accepted, c.proposed, c.rejected, c.phrases, c.links
            );
            let shown_at = match state {
                RecordState::Ready(uid) => self.displays.iter().position(|d| d.uid == *uid),
                _ => None,
            };
            match (state, shown_at) {
                (RecordState::Ready(_), Some(i)) => {
                    let text = format!("{title}\n{counts}");
                    let response = ui
                        .selectable_label(self.selected == Some(i), text)
                        .on_hover_text(record.source.display().to_string());
                    if response.clicked() {
                        self.commands.push(Command::Select(i));
                    }
                }
                (RecordState::Ready(_), None) => {
                    ui.label(RichText::new(title).color(theme::MUTED));
                }
                (RecordState::Loading, _) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(RichText::new(title).color(theme::MUTED));
                    });
                }
                (RecordState::Problem(why), _) => {
                    ui.label(RichText::new(title).color(theme::MUTED));
                    ui.label(RichText::new(why).small().color(theme::ERROR_MUTED));
                }
            }
            ui.add_space(2.0);
        }
    }

    /// The selected project image's id and the project, when the selected image belongs to it.
    pub(in crate::ui) fn current_project_image(&self) -> Option<(&DocumentSession, ImageId)> {
        let (entry, _) = self.current()?;
        Some((self.project.as_ref()?, entry.project_image?))
    }
}
