//! The report: shown with its phrase spans shaded in their labels' colours, selectable (select
//! words, then P or "New phrase"), and edited in place (Edit / Add report; spans follow the text).

use super::annotations::{Cx, Out};
use super::phrases::phrase_from_selection;
use crate::core::annotation::PhraseId;
use crate::ui::command::Command;
use crate::ui::grounding;
use crate::ui::grounding::AnnotationsPanel;
use egui::{Key, Modifiers, Ui};

/// The report section of the annotations panel.
pub(in crate::ui) fn report_section(
    ui: &mut Ui,
    cx: &Cx<'_>,
    state: &mut AnnotationsPanel,
    out: &mut Out,
) {
    let (doc, image) = (cx.doc, cx.image);
    let report = doc.images.get(&image).and_then(|i| i.report.as_deref());
    let mut draft = state.report_draft.take().filter(|(i, _)| *i == image);
    let mut opened = false;
    ui.horizontal(|ui| {
        ui.heading("Report");
        if draft.is_none()
            && ui
                .small_button(if report.is_some() {
                    "Edit"
                } else {
                    "Add report"
                })
                .on_hover_text("type or paste the report; phrase spans follow the text")
                .clicked()
        {
            draft = Some((image, report.unwrap_or_default().to_owned()));
            opened = true;
        }
    });
    if let Some((_, text)) = &mut draft {
        let edit = ui.add(
            egui::TextEdit::multiline(text)
                .id(ui.make_persistent_id(("report-draft", image)))
                .desired_width(f32::INFINITY)
                .desired_rows(6)
                .hint_text("report text"),
        );
        if opened {
            edit.request_focus();
        }
        let mut close = false;
        ui.horizontal(|ui| {
            if ui.button("Save report").clicked() {
                out.commands.push(Command::SetReport(Some(text.clone())));
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
        if close {
            draft = None;
        }
    }
    let editing = draft.is_some();
    match report.filter(|_| !editing) {
        Some(report) => {
            let spans: Vec<(PhraseId, (usize, usize))> = cx
                .notes
                .phrases
                .iter()
                .filter_map(|id| doc.phrases.get(id))
                .filter_map(|ph| Some((ph.id, ph.span?)))
                .collect();
            let hovered = cx.hovered_phrase.or(cx.active_phrase);
            let font = ui.style().text_styles[&egui::TextStyle::Body].clone();
            let dark = cx.dark;
            let colours = grounding::phrase_colours(doc, image);
            let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, width: f32| {
                let mut job = grounding::report_layout(
                    text.as_str(),
                    &spans,
                    &colours,
                    hovered,
                    font.clone(),
                    dark,
                );
                job.wrap.max_width = width;
                ui.fonts_mut(|f| f.layout_job(job))
            };
            // Read-only but selectable: select words, then P (or the button) makes a phrase.
            let mut text: &str = report;
            let id = ui.make_persistent_id(("report", image));
            let shown = egui::TextEdit::multiline(&mut text)
                .id(id)
                .desired_width(f32::INFINITY)
                .layouter(&mut layouter)
                .show(ui);
            let selection = shown.cursor_range.and_then(|r| {
                let (a, b) = (r.primary.index.0, r.secondary.index.0);
                (a != b).then_some((a.min(b), a.max(b)))
            });
            if shown.response.has_focus() || selection.is_some() {
                state.report_selection = selection;
            }
            let focused = shown.response.has_focus();
            ui.horizontal(|ui| {
                let new = ui
                    .add_enabled(
                        state.report_selection.is_some(),
                        egui::Button::new("New phrase"),
                    )
                    .on_hover_text("from the selected words (P)")
                    .on_disabled_hover_text("select words of the report first");
                let key = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::P));
                if (new.clicked() || key)
                    && let Some(c) = state
                        .report_selection
                        .and_then(|sel| phrase_from_selection(report, sel))
                {
                    out.commands.push(c);
                    // Keys go back to the viewer (tool shortcuts) once the phrase exists.
                    shown.response.surrender_focus();
                }
            });
        }
        None if !editing => {
            ui.weak("No report text.");
        }
        None => {}
    }
    state.report_draft = draft;
}
