//! The right panel: report, phrases, labels, regions and metrics of the shown image.

use crate::core::Document;
use crate::core::annotation::{Grounding, ImageId, LabelId, PhraseId, RegionId};
use crate::ui::command::Command;
use crate::ui::grounding::{self, HeatmapStyle, RegionFilter};
use crate::ui::overlay::{self};
use crate::ui::theme;
use crate::ui::tools::Gesture;
use egui::{Color32, Key, Modifiers, RichText, Sense, Ui};
use std::collections::BTreeSet;

use crate::ui::app::AppState;
use crate::ui::panels::phrases::{
    phrase_controls, phrase_from_selection, region_on_slice, region_properties, region_slice,
    region_summary,
};

/// Whose regions to draw (key C) and, when the image has heatmaps, how to draw them (key H).
pub(in crate::ui) fn view_filter_section(
    ui: &mut Ui,
    doc: &Document,
    image: ImageId,
    filter: RegionFilter,
    style: HeatmapStyle,
    heat_phrase: Option<PhraseId>,
    commands: &mut Vec<Command>,
) {
    let models_here = doc
        .regions
        .values()
        .any(|r| r.image == image && matches!(r.author, crate::core::Author::Model { .. }))
        || doc.heatmaps.values().any(|h| h.image == image);
    if !models_here && filter == RegionFilter::All {
        return;
    }
    ui.horizontal(|ui| {
        ui.label("Show")
            .on_hover_text("whose regions the views draw (C)");
        for f in RegionFilter::ALL {
            if ui.selectable_label(filter == f, f.name()).clicked() {
                commands.push(Command::SetRegionFilter(f));
            }
        }
    });
    if !doc.heatmaps.values().any(|h| h.image == image) {
        return;
    }
    ui.horizontal(|ui| {
        let mut next = style;
        ui.checkbox(&mut next.visible, "Heatmap")
            .on_hover_text("H; pick a phrase's heatmap with its chip, or hover the phrase");
        let label = ui.label("opacity");
        ui.add(egui::Slider::new(&mut next.opacity, 0.0..=1.0).show_value(false))
            .labelled_by(label.id);
        let combo = egui::ComboBox::from_id_salt("heatmap-colormap")
            .selected_text(next.colormap.name())
            .width(70.0)
            .show_ui(ui, |ui| {
                for c in [
                    crate::render::Colormap::Hot,
                    crate::render::Colormap::Viridis,
                ] {
                    ui.selectable_value(&mut next.colormap, c, c.name());
                }
            });
        grounding::name_widget(&combo.response, egui::Role::ComboBox, "heatmap colours");
        if next != style {
            commands.push(Command::SetHeatmapStyle(next));
        }
    });
    if heat_phrase.is_none() {
        ui.label(
            RichText::new("hover a phrase, or click its heatmap chip, to see its map")
                .small()
                .color(theme::MUTED),
        );
    }
}

/// The labels: click one to draw with it, edit its name, click its swatch for the next colour.
pub(in crate::ui) fn labels_section(
    ui: &mut Ui,
    doc: &Document,
    active: Option<LabelId>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Labels");
        if ui.small_button("Add label").clicked() {
            commands.push(Command::AddLabel);
        }
    });
    if doc.labels.is_empty() {
        ui.weak("Drawing adds \"Label 1\".");
    }
    for label in doc.labels.values() {
        ui.horizontal(|ui| {
            let [r, g, b, _] = label.color;
            let swatch = ui
                .add(
                    egui::Button::new("")
                        .fill(Color32::from_rgb(r, g, b))
                        .min_size(egui::vec2(14.0, 14.0)),
                )
                .on_hover_text("next colour");
            if swatch.clicked() {
                let at = theme::LABEL_PALETTE
                    .iter()
                    .position(|c| *c == label.color)
                    .map_or(0, |n| (n + 1) % theme::LABEL_PALETTE.len());
                let mut after = label.clone();
                after.color = theme::LABEL_PALETTE[at];
                commands.push(Command::UpdateLabel(after));
            }
            if ui
                .radio(active == Some(label.id), "")
                .on_hover_text("draw with this label")
                .clicked()
            {
                commands.push(Command::SetActiveLabel(label.id));
            }
            let id = ui.make_persistent_id(("label-name", label.id));
            let mut name = ui
                .data(|d| d.get_temp::<String>(id))
                .unwrap_or_else(|| label.name.clone());
            let edit = ui.add(egui::TextEdit::singleline(&mut name).desired_width(140.0));
            grounding::name_widget(&edit, egui::Role::TextInput, "label name");
            if edit.changed() {
                ui.data_mut(|d| d.insert_temp(id, name.clone()));
            }
            if edit.lost_focus() {
                ui.data_mut(|d| d.remove::<String>(id));
                let name = name.trim();
                if !name.is_empty() && name != label.name {
                    let mut after = label.clone();
                    after.name = name.to_owned();
                    commands.push(Command::UpdateLabel(after));
                }
            }
        });
    }
}

impl AppState {
    /// Right panel: the report with phrase spans, the phrases with their regions' ids as chips, and
    /// the regions; hovering a phrase, chip or region highlights it in the view.
    pub(in crate::ui) fn annotations_panel(&mut self, ui: &mut Ui) {
        let mut report_selection = self.report_selection;
        let mut free_phrase = std::mem::take(&mut self.free_phrase);
        let mut metrics = std::mem::take(&mut self.metrics);
        let busy = self.gesture != Gesture::Idle;
        let mut draft = self.report_draft.take();
        let Some((p, image)) = self.current_project_image() else {
            self.free_phrase = free_phrase;
            self.metrics = metrics;
            ui.weak("Open a .voxmark project to see its report, phrases and regions.");
            self.hovered_phrase = None;
            return;
        };
        let doc = p.doc();
        let notes = p.notes(image).cloned().unwrap_or_default();
        let k = self.current().map_or(0, |(_, d)| d.k);
        let mut highlight = BTreeSet::new();
        let mut hovered_phrase = None;
        let mut commands = Vec::new();

        labels_section(ui, doc, self.active_label, &mut commands);
        if notes.counts.proposed > 0 {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{} proposals to review", notes.counts.proposed))
                        .color(theme::MODEL),
                );
                if ui
                    .small_button("Next")
                    .on_hover_text("N; then A accepts, X rejects")
                    .clicked()
                {
                    commands.push(Command::NextProposal);
                }
            });
        }
        if let Some(r) = self.selected_region.and_then(|r| doc.regions.get(&r)) {
            let slices = self.current().map_or(1, |(e, _)| e.volume.size()[2]);
            region_properties(ui, p, r, (k, slices), &mut commands);
        }
        view_filter_section(
            ui,
            doc,
            image,
            self.region_filter,
            self.heatmap_style,
            self.heat_phrase,
            &mut commands,
        );
        ui.add_space(6.0);
        let report = doc.images.get(&image).and_then(|i| i.report.as_deref());
        let mut draft = draft.take().filter(|(i, _)| *i == image);
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
                    commands.push(Command::SetReport(Some(text.clone())));
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
                let spans: Vec<(PhraseId, (usize, usize))> = notes
                    .phrases
                    .iter()
                    .filter_map(|id| doc.phrases.get(id))
                    .filter_map(|ph| Some((ph.id, ph.span?)))
                    .collect();
                let hovered = self.hovered_phrase.or(self.active_phrase);
                let font = ui.style().text_styles[&egui::TextStyle::Body].clone();
                let dark = self.dark;
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
                let out = egui::TextEdit::multiline(&mut text)
                    .id(id)
                    .desired_width(f32::INFINITY)
                    .layouter(&mut layouter)
                    .show(ui);
                let selection = out.cursor_range.and_then(|r| {
                    let (a, b) = (r.primary.index.0, r.secondary.index.0);
                    (a != b).then_some((a.min(b), a.max(b)))
                });
                if out.response.has_focus() || selection.is_some() {
                    report_selection = selection;
                }
                let focused = out.response.has_focus();
                ui.horizontal(|ui| {
                    let new = ui
                        .add_enabled(report_selection.is_some(), egui::Button::new("New phrase"))
                        .on_hover_text("from the selected words (P)")
                        .on_disabled_hover_text("select words of the report first");
                    let key = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::P));
                    if (new.clicked() || key)
                        && let Some(c) =
                            report_selection.and_then(|sel| phrase_from_selection(report, sel))
                    {
                        commands.push(c);
                        // Keys go back to the viewer (tool shortcuts) once the phrase exists.
                        out.response.surrender_focus();
                    }
                });
            }
            None if !editing => {
                ui.weak("No report text.");
            }
            None => {}
        }
        ui.horizontal(|ui| {
            let edit = ui.add(
                egui::TextEdit::singleline(&mut free_phrase)
                    .hint_text("free phrase (no span)")
                    .desired_width(170.0),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if (ui.button("Add").clicked() || enter) && !free_phrase.trim().is_empty() {
                commands.push(Command::AddPhrase {
                    span: None,
                    text: free_phrase.clone(),
                });
            }
        });
        ui.add_space(6.0);
        ui.heading(format!("Phrases ({})", notes.phrases.len()));
        let heat_counts = grounding::heatmap_counts(doc, image);
        if let Some(ph) = self
            .active_phrase
            .and_then(|ph| doc.phrases.get(&ph))
            .filter(|ph| ph.image == image)
        {
            ui.label(
                RichText::new(format!(
                    "Drawing grounds “{}” (click it again to stop)",
                    grounding::truncate_chars(&ph.text, 40)
                ))
                .small()
                .color(theme::ACCENT),
            );
        }
        for id in &notes.phrases {
            let Some(ph) = doc.phrases.get(id) else {
                continue;
            };
            let linked: Vec<RegionId> = doc.regions_of(ph.id).collect();
            let frame = egui::Frame::new()
                .inner_margin(egui::Margin::same(4))
                .corner_radius(3.0)
                .fill(if self.active_phrase == Some(ph.id) {
                    ui.visuals().selection.bg_fill
                } else if self.hovered_phrase == Some(ph.id) {
                    theme::report_backgrounds(self.dark)[2]
                } else {
                    Color32::TRANSPARENT
                })
                .show(ui, |ui| {
                    ui.set_min_width(ui.available_width());
                    let active = self.active_phrase == Some(ph.id);
                    let title = ui
                        .add(egui::Label::new(&ph.text).sense(Sense::click()))
                        .on_hover_text(if active {
                            "click to stop grounding this phrase"
                        } else {
                            "click to ground this phrase: regions drawn next are linked to it"
                        });
                    if title.clicked() {
                        commands.push(Command::SelectPhrase((!active).then_some(ph.id)));
                    }
                    phrase_controls(ui, ph, self.selected_region, &linked, &mut commands);
                    ui.horizontal_wrapped(|ui| {
                        if let Some(cat) = &ph.category {
                            ui.label(RichText::new(cat).small().color(theme::MUTED));
                        }
                        match ph.grounding {
                            Grounding::NoVisible => {
                                ui.label(
                                    RichText::new("no visible grounding")
                                        .small()
                                        .color(theme::MUTED),
                                );
                            }
                            Grounding::Pending if linked.is_empty() => {
                                ui.label(
                                    RichText::new("not grounded yet")
                                        .small()
                                        .color(theme::MUTED),
                                );
                            }
                            _ => {}
                        }
                        if let Some(iou) = metrics.phrase_iou(ph.id) {
                            ui.label(RichText::new(format!("IoU {iou:.2}")).small().color(
                                if iou >= 0.5 {
                                    theme::REGION
                                } else {
                                    theme::MODEL
                                },
                            ))
                            .on_hover_text("truth vs prediction (Metrics below)");
                        }
                        if heat_counts.contains_key(&ph.id) {
                            let shown = self.heat_phrase == Some(ph.id);
                            if ui
                                .selectable_label(shown, RichText::new("heatmap").small())
                                .on_hover_text(
                                    "show this phrase's heatmap over the image (H hides)",
                                )
                                .clicked()
                            {
                                commands.push(Command::ShowHeatmap((!shown).then_some(ph.id)));
                            }
                        }
                        for r in &linked {
                            let chip = ui
                                .add(
                                    egui::Button::new(RichText::new(format!("#{r}")).small())
                                        .fill(theme::report_backgrounds(self.dark)[2])
                                        .small(),
                                )
                                .on_hover_text(region_summary(p, *r));
                            if chip.hovered() {
                                highlight.insert(*r);
                            }
                            let here = doc.regions.get(r).is_some_and(|x| x.image == image);
                            if chip.clicked()
                                && here
                                && let Some(k) = region_slice(p, *r)
                            {
                                commands.push(Command::SetSlice(k));
                            }
                        }
                    });
                });
            if ui.rect_contains_pointer(frame.response.rect) {
                hovered_phrase = Some(ph.id);
                if highlight.is_empty() {
                    highlight.extend(linked.iter().copied());
                }
            }
        }
        if notes.phrases.is_empty() {
            ui.weak("No phrases.");
        }
        let authors = crate::core::grounding_eval::region_authors(doc);
        if authors.len() > 1 {
            ui.add_space(6.0);
            egui::CollapsingHeader::new("Metrics")
                .default_open(true)
                .show(ui, |ui| {
                    if let Some(ph) = metrics.show(ui, doc, &authors, p.revision(), image, busy) {
                        hovered_phrase = Some(ph);
                        highlight.extend(doc.regions_of(ph));
                    }
                });
        }
        ui.add_space(6.0);
        egui::CollapsingHeader::new(format!("Regions ({})", notes.regions.len()))
            .default_open(true)
            .show(ui, |ui| {
                for r in &notes.regions {
                    let Some(region) = doc.regions.get(r) else {
                        continue;
                    };
                    let style = overlay::style(region, &doc.labels, false);
                    let on_slice = region_on_slice(p, *r, k);
                    let name = region
                        .label
                        .and_then(|l| doc.labels.get(&l))
                        .map_or("no label", |l| l.name.as_str());
                    let text = RichText::new(format!(
                        "#{r} {name} · {} · {}",
                        region.shape.kind(),
                        region.status.as_str()
                    ))
                    .small()
                    .color(if on_slice { theme::TEXT } else { theme::MUTED });
                    let row = ui.horizontal(|ui| {
                        let (swatch, _) =
                            ui.allocate_exact_size(egui::vec2(10.0, 10.0), Sense::hover());
                        ui.painter().rect_filled(swatch, 2.0, style.color);
                        ui.add(egui::Label::new(text).sense(Sense::click()).truncate())
                    });
                    let label = row.inner.on_hover_text(region_summary(p, *r));
                    if label.hovered() {
                        highlight.insert(*r);
                    }
                    if label.clicked() {
                        commands.push(Command::SelectRegion(Some(*r)));
                        if let Some(k) = region_slice(p, *r) {
                            commands.push(Command::SetSlice(k));
                        }
                    }
                }
            });
        self.metrics = metrics;
        self.report_draft = draft;
        self.highlight = highlight;
        self.report_selection = report_selection;
        self.free_phrase = free_phrase;
        if hovered_phrase != self.hovered_phrase {
            // The report and the row backgrounds follow on the next frame.
            ui.ctx().request_repaint();
        }
        self.hovered_phrase = hovered_phrase;
        self.commands.extend(commands);
    }
}
