//! The right panel: report, phrases, labels, regions and metrics of the shown image.

use crate::core::Document;
use crate::core::annotation::{ImageId, LabelId, PhraseId, RegionId};
use crate::ui::command::Command;
use crate::ui::grounding::{self, HeatmapStyle, RegionFilter};
use crate::ui::overlay::{self};
use crate::ui::theme;
use crate::ui::tools::Gesture;
use egui::{Color32, Key, RichText, Sense, Ui};
use std::collections::BTreeSet;

use crate::ui::app::AppState;
use crate::ui::grounding::MetricsPanel;
use crate::ui::panels::phrases::phrases_section;
use crate::ui::panels::phrases::{
    region_on_slice, region_properties, region_slice, region_summary,
};
use crate::ui::panels::report::report_section;
use crate::ui::session::{DocumentSession, ImageNotes};

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

/// What the sections read this frame, borrowed from the app.
pub(in crate::ui) struct Cx<'a> {
    /// The open project.
    pub(in crate::ui) p: &'a DocumentSession,
    /// Its document.
    pub(in crate::ui) doc: &'a Document,
    /// The shown image.
    pub(in crate::ui) image: ImageId,
    /// Its regions and phrases.
    pub(in crate::ui) notes: ImageNotes,
    /// The shown slice and the image's slice count.
    pub(in crate::ui) k: usize,
    pub(in crate::ui) slices: usize,
    /// The image's voxel size (i, j, k), for the measurements shown.
    pub(in crate::ui) spacing_mm: [f64; 3],
    /// The phrase regions drawn next are linked to.
    pub(in crate::ui) active_phrase: Option<PhraseId>,
    /// The phrase hovered last frame.
    pub(in crate::ui) hovered_phrase: Option<PhraseId>,
    /// The selected region.
    pub(in crate::ui) selected_region: Option<RegionId>,
    /// The phrase whose heatmap is drawn.
    pub(in crate::ui) heat_phrase: Option<PhraseId>,
    /// Dark theme.
    pub(in crate::ui) dark: bool,
}

/// What the sections give back: commands, and what to highlight in the views.
#[derive(Default)]
pub(in crate::ui) struct Out {
    pub(in crate::ui) commands: Vec<Command>,
    pub(in crate::ui) highlight: BTreeSet<RegionId>,
    pub(in crate::ui) hovered_phrase: Option<PhraseId>,
}

impl AppState {
    /// Right panel: labels, the selected region, the report with phrase spans, the phrases with
    /// their regions as chips, metrics and the regions; hovering a phrase, chip or region
    /// highlights it in the views.
    pub(in crate::ui) fn annotations_panel(&mut self, ui: &mut Ui) {
        // Disjoint borrows: the panel's own state is changed while the project is read.
        let AppState {
            project,
            images,
            displays,
            selected,
            annotations,
            active_label,
            active_phrase,
            hovered_phrase,
            selected_region,
            heat_phrase,
            region_filter,
            heatmap_style,
            region_stats,
            dark,
            gesture,
            highlight,
            commands,
            ..
        } = self;
        let shown = selected.and_then(|s| Some((images.get(s)?, displays.get(s)?)));
        let (Some(p), Some((entry, view))) = (project.as_ref(), shown) else {
            ui.weak("Open a .voxmark project to see its report, phrases and regions.");
            *hovered_phrase = None;
            return;
        };
        let Some(image) = entry.project_image else {
            ui.weak("This image is not in the project: File → Add images to project….");
            *hovered_phrase = None;
            return;
        };
        let cx = Cx {
            p,
            doc: p.doc(),
            image,
            notes: p.notes(image).cloned().unwrap_or_default(),
            k: view.k,
            slices: entry.volume.size()[2],
            spacing_mm: entry.volume.spacing_mm(),
            active_phrase: *active_phrase,
            hovered_phrase: *hovered_phrase,
            selected_region: *selected_region,
            heat_phrase: *heat_phrase,
            dark: *dark,
        };
        let mut out = Out::default();
        labels_section(ui, cx.doc, *active_label, &mut out.commands);
        proposals_line(ui, &cx, &mut out);
        if let Some(r) = cx.selected_region.and_then(|r| cx.doc.regions.get(&r)) {
            let key = (r.id, p.revision());
            let (stats, reported_current) = match region_stats {
                Some((id, rev, s, c)) if (*id, *rev) == key => (*s, *c),
                _ => {
                    let mask = cx.doc.masks.get(&r.id);
                    let s = crate::core::region_stats(&entry.volume, &r.shape, mask);
                    let c = r.reported_current(mask).is_some();
                    *region_stats = Some((key.0, key.1, s, c));
                    (s, c)
                }
            };
            region_properties(
                ui,
                p,
                r,
                (cx.k, cx.slices, cx.spacing_mm),
                stats
                    .as_ref()
                    .map(|s| (s, entry.volume.meta.modality.as_deref())),
                reported_current,
                &mut out.commands,
            );
        }
        view_filter_section(
            ui,
            cx.doc,
            image,
            *region_filter,
            *heatmap_style,
            cx.heat_phrase,
            &mut out.commands,
        );
        ui.add_space(6.0);
        report_section(ui, &cx, annotations, &mut out);
        free_phrase_line(ui, &mut annotations.free_phrase, &mut out);
        ui.add_space(6.0);
        phrases_section(ui, &cx, &annotations.metrics, &mut out);
        let busy = *gesture != Gesture::Idle;
        metrics_section(ui, &cx, &mut annotations.metrics, busy, &mut out);
        ui.add_space(6.0);
        regions_section(ui, &cx, &mut out);
        *highlight = out.highlight;
        if out.hovered_phrase != *hovered_phrase {
            // The report and the row backgrounds follow on the next frame.
            ui.ctx().request_repaint();
        }
        *hovered_phrase = out.hovered_phrase;
        commands.extend(out.commands);
    }
}

/// "N proposals to review" with a Next button, when there are any.
fn proposals_line(ui: &mut Ui, cx: &Cx<'_>, out: &mut Out) {
    if cx.notes.counts.proposed == 0 {
        return;
    }
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("{} proposals to review", cx.notes.counts.proposed))
                .color(theme::MODEL),
        );
        if ui
            .small_button("Next")
            .on_hover_text("N; then A accepts, X rejects")
            .clicked()
        {
            out.commands.push(Command::NextProposal);
        }
    });
}

/// The line that adds a phrase without a span.
fn free_phrase_line(ui: &mut Ui, free_phrase: &mut String, out: &mut Out) {
    ui.horizontal(|ui| {
        let edit = ui.add(
            egui::TextEdit::singleline(free_phrase)
                .hint_text("free phrase (no span)")
                .desired_width(170.0),
        );
        let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
        if (ui.button("Add").clicked() || enter) && !free_phrase.trim().is_empty() {
            out.commands.push(Command::AddPhrase {
                span: None,
                text: free_phrase.clone(),
            });
        }
    });
}

/// The metrics section, when the image has regions by more than one author.
fn metrics_section(
    ui: &mut Ui,
    cx: &Cx<'_>,
    metrics: &mut MetricsPanel,
    busy: bool,
    out: &mut Out,
) {
    let authors = crate::core::grounding_eval::region_authors(cx.doc);
    if authors.len() < 2 {
        return;
    }
    ui.add_space(6.0);
    egui::CollapsingHeader::new("Metrics")
        .default_open(true)
        .show(ui, |ui| {
            if let Some(ph) = metrics.show(ui, cx.doc, &authors, cx.p.revision(), cx.image, busy) {
                out.hovered_phrase = Some(ph);
                out.highlight.extend(cx.doc.regions_of(ph));
            }
        });
}

/// The image's regions, each a row that selects it (and goes to its slice).
fn regions_section(ui: &mut Ui, cx: &Cx<'_>, out: &mut Out) {
    let (doc, p) = (cx.doc, cx.p);
    egui::CollapsingHeader::new(format!("Regions ({})", cx.notes.regions.len()))
        .default_open(true)
        .show(ui, |ui| {
            for r in &cx.notes.regions {
                let Some(region) = doc.regions.get(r) else {
                    continue;
                };
                let style = overlay::style(region, &doc.labels, false);
                let on_slice = region_on_slice(p, *r, cx.k);
                let name = region
                    .label
                    .and_then(|l| doc.labels.get(&l))
                    .map_or("no label", |l| l.name.as_str());
                let measured = overlay::measurement(&region.shape, cx.spacing_mm)
                    .map_or_else(String::new, |m| format!(" · {m}"));
                let text = RichText::new(format!(
                    "#{r} {name} · {}{measured} · {}",
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
                    out.highlight.insert(*r);
                }
                if label.clicked() {
                    out.commands.push(Command::SelectRegion(Some(*r)));
                    if let Some(k) = region_slice(p, *r) {
                        out.commands.push(Command::SetSlice(k));
                    }
                }
            }
        });
}
