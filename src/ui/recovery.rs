//! The offer to re-apply the recovery journal: transactions that a failed save kept beside the
//! project (`<project>.recovery`) are not lost, and the next time the project opens the viewer
//! offers to commit them, as `voxmark recover` does.

use super::command::Command;
use super::session::DocumentSession;

/// Draws the offer while `session` has one; returns the user's answer.
pub fn offer(ctx: &egui::Context, session: &DocumentSession) -> Option<Command> {
    if !session.offers_journal() {
        return None;
    }
    let mut answer = None;
    egui::Window::new("Changes not saved last time")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .default_width(420.0)
        .show(ctx, |ui| {
            ui.label(format!(
                "{} change(s) to {} could not be saved when they were made and were kept in its recovery journal.",
                session.journaled(),
                session.name()
            ));
            ui.label(
                "Apply them now: each is committed once; one that another writer's later work contradicts stays in the journal and is reported.",
            );
            ui.horizontal(|ui| {
                if ui.button("Apply them now").clicked() {
                    answer = Some(Command::ApplyJournal {
                        discard_conflicts: false,
                    });
                }
                if ui
                    .button("Later")
                    .on_hover_text("the journal stays; File → Apply the recovery journal")
                    .clicked()
                {
                    answer = Some(Command::DismissJournal);
                }
            });
        });
    answer
}
