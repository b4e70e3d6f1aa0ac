//! The phrase and region controls of the right panel, and region summaries.

use super::annotations::{Cx, Out};
use crate::core::annotation::{Grounding, Region, RegionId, Status};
use crate::ui::command::Command;
use crate::ui::grounding::{self};
use crate::ui::overlay::{self};
use crate::ui::session::{self, DocumentSession};
use crate::ui::theme;
use egui::{Color32, Sense};
use egui::{RichText, Ui};

/// MS-CXR's eight finding categories, offered for completion.
pub const CATEGORIES: [&str; 8] = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
];

/// Category, "no visible grounding", link of the selected region, delete.
pub(in crate::ui) fn phrase_controls(
    ui: &mut Ui,
    ph: &crate::core::Phrase,
    selected_region: Option<RegionId>,
    linked: &[RegionId],
    commands: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        let combo = egui::ComboBox::from_id_salt(("category", ph.id))
            .selected_text(ph.category.as_deref().unwrap_or("category"))
            .width(120.0)
            .show_ui(ui, |ui| {
                if ui.selectable_label(ph.category.is_none(), "none").clicked() {
                    commands.push(Command::SetCategory {
                        phrase: ph.id,
                        category: None,
                    });
                }
                for c in CATEGORIES {
                    if ui
                        .selectable_label(ph.category.as_deref() == Some(c), c)
                        .clicked()
                    {
                        commands.push(Command::SetCategory {
                            phrase: ph.id,
                            category: Some(c.to_owned()),
                        });
                    }
                }
            });
        grounding::name_widget(&combo.response, egui::Role::ComboBox, "category");
        let mut none_visible = ph.grounding == Grounding::NoVisible;
        if ui
            .add_enabled(
                linked.is_empty(),
                egui::Checkbox::new(&mut none_visible, "none visible"),
            )
            .on_hover_text(
                "nothing in the image grounds this phrase (not the same as not annotated yet)",
            )
            .changed()
        {
            commands.push(Command::SetGrounding {
                phrase: ph.id,
                grounding: if none_visible {
                    Grounding::NoVisible
                } else {
                    Grounding::Pending
                },
            });
        }
        if let Some(r) = selected_region {
            let text = if linked.contains(&r) {
                format!("Unlink #{r}")
            } else {
                format!("Link #{r}")
            };
            if ui.small_button(text).on_hover_text("K").clicked() {
                commands.push(Command::ToggleLink {
                    phrase: ph.id,
                    region: r,
                });
            }
        }
        if ui
            .small_button("Delete")
            .on_hover_text("delete the phrase; its regions stay")
            .clicked()
        {
            commands.push(Command::DeletePhrase(ph.id));
        }
    });
}

/// The "new phrase" command for characters `[start, end)` of the report: the span's text, exactly.
pub(in crate::ui) fn phrase_from_selection(
    report: &str,
    (start, end): (usize, usize),
) -> Option<Command> {
    let text: String = report
        .chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    (!text.trim().is_empty() && end <= report.chars().count()).then_some(Command::AddPhrase {
        span: Some((start, end)),
        text,
    })
}

/// The selected region: label, status, author, and delete.
pub(in crate::ui) fn region_properties(
    ui: &mut Ui,
    p: &DocumentSession,
    r: &Region,
    (k, slices, spacing_mm): (usize, usize, [f64; 3]),
    stats: Option<(&crate::core::RegionStats, Option<&str>)>,
    reported_current: bool,
    commands: &mut Vec<Command>,
) {
    ui.add_space(6.0);
    ui.heading(format!("Region #{}", r.id));
    let measured = crate::ui::overlay::measurement(&r.shape, spacing_mm)
        .map_or_else(String::new, |m| format!(" · {m}"));
    ui.label(
        RichText::new(format!(
            "{}{measured} · {} · {}",
            r.shape.kind(),
            r.status.as_str(),
            r.author
        ))
        .small()
        .color(theme::MUTED),
    );
    if let Some(c) = r.confidence {
        ui.label(
            RichText::new(format!("confidence {c:.2}"))
                .small()
                .color(theme::MUTED),
        );
    }
    match stats {
        Some((s, modality)) => region_stats_line(ui, s, modality),
        None => {
            if let Some(m) = p.doc().masks.get(&r.id) {
                ui.label(
                    RichText::new(format!("{} voxels", m.count()))
                        .small()
                        .color(theme::MUTED),
                );
            }
        }
    }
    if let Some(rep) = &r.reported {
        // What an imported report said of it (an SUV Voxmark cannot recompute), as Slicer's
        // QuantitativeReporting lists it; folded when long.
        let colour = if reported_current {
            theme::MUTED
        } else {
            theme::ERROR_MUTED
        };
        let title = format!(
            "Reported values ({}){}",
            rep.values.len(),
            if reported_current {
                ""
            } else {
                " · edited since"
            }
        );
        egui::CollapsingHeader::new(RichText::new(title).small().color(colour))
            .id_salt(("reported", r.id))
            .default_open(rep.values.len() <= 6)
            .show(ui, |ui| {
                let mut text = if reported_current {
                    format!("by {}", rep.source)
                } else {
                    format!(
                        "by {}; the region was edited since, so they no longer describe it",
                        rep.source
                    )
                };
                for v in &rep.values {
                    text.push('\n');
                    text.push_str(&v.to_string());
                }
                ui.label(RichText::new(text).small().color(colour));
            });
    }
    if let Some((k0, k1)) = r.shape.box_slices() {
        ui.horizontal(|ui| {
            let span = if k0 == k1 {
                format!("slice {k0}")
            } else {
                format!("slices {k0}–{k1}")
            };
            ui.label(RichText::new(span).small().color(theme::MUTED));
            let extend = if k < k0 {
                Some((k, k1))
            } else if k > k1 {
                Some((k0, k))
            } else {
                None
            };
            if let Some((a, b)) = extend
                && ui
                    .small_button(format!("Extend to slice {k}"))
                    .on_hover_text("a 3D box over every slice between")
                    .clicked()
                && let Some(shape) = r.shape.box_over_slices(a, b, slices)
            {
                commands.push(Command::SetShape {
                    region: r.id,
                    shape,
                });
            }
            if k0 != k1
                && (k0..=k1).contains(&k)
                && ui
                    .small_button(format!("Only slice {k}"))
                    .on_hover_text("back to a 2D box on this slice")
                    .clicked()
                && let Some(shape) = r.shape.box_over_slices(k, k, slices)
            {
                commands.push(Command::SetShape {
                    region: r.id,
                    shape,
                });
            }
        });
    }
    let current = r
        .label
        .and_then(|l| p.doc().labels.get(&l))
        .map_or("no label", |l| l.name.as_str());
    let combo = egui::ComboBox::from_id_salt(("region-label", r.id))
        .selected_text(current)
        .show_ui(ui, |ui| {
            for l in p.doc().labels.values() {
                if ui
                    .selectable_label(r.label == Some(l.id), &l.name)
                    .clicked()
                {
                    commands.push(Command::SetRegionLabel {
                        region: r.id,
                        label: l.id,
                    });
                }
            }
        });
    grounding::name_widget(&combo.response, egui::Role::ComboBox, "region label");
    ui.horizontal(|ui| {
        if r.status != Status::Accepted && ui.button("Accept").clicked() {
            commands.push(Command::SetStatus {
                region: r.id,
                status: Status::Accepted,
            });
        }
        if r.status != Status::Rejected && ui.button("Reject").clicked() {
            commands.push(Command::SetStatus {
                region: r.id,
                status: Status::Rejected,
            });
        }
        if ui.button("Delete").on_hover_text("Delete").clicked() {
            commands.push(Command::DeleteRegion(r.id));
        }
    });
}

/// One line about a region for tooltips: id, label, kind, status, author.
pub(in crate::ui) fn region_summary(p: &DocumentSession, id: RegionId) -> String {
    let Some(r) = p.doc().regions.get(&id) else {
        return format!("region {id} (not found)");
    };
    let label = r
        .label
        .and_then(|l| p.doc().labels.get(&l))
        .map_or("no label", |l| l.name.as_str());
    let confidence = r
        .confidence
        .map_or_else(String::new, |c| format!(" · confidence {c:.2}"));
    let k = region_slice(p, id).map_or_else(String::new, |k| format!(" · slice {k}"));
    format!(
        "#{id} {label}\n{} · {} · {}{confidence}{k}",
        r.shape.kind(),
        r.status.as_str(),
        r.author
    )
}

/// The slice that shows a region best (click a chip or row to go there).
pub(in crate::ui) fn region_slice(p: &DocumentSession, id: RegionId) -> Option<usize> {
    let r = p.doc().regions.get(&id)?;
    session::slice_of(&r.shape, p.doc().masks.get(&id))
}

/// Whether a region has anything on slice `k`.
pub(in crate::ui) fn region_on_slice(p: &DocumentSession, id: RegionId, k: usize) -> bool {
    let Some(r) = p.doc().regions.get(&id) else {
        return false;
    };
    match p.doc().masks.get(&id) {
        Some(m) => u32::try_from(k).is_ok_and(|k| {
            m.tiles()
                .range((k, 0, 0)..=(k, u32::MAX, u32::MAX))
                .next()
                .is_some()
        }),
        None => overlay::on_slice(&r.shape, k),
    }
}

/// The image's phrases: each with its grounding state, category, IoU, heatmap chip and its regions
/// as chips; clicking a phrase makes regions drawn next link to it.
pub(in crate::ui) fn phrases_section(
    ui: &mut Ui,
    cx: &Cx<'_>,
    metrics: &crate::ui::grounding::MetricsPanel,
    out: &mut Out,
) {
    let (doc, image, p) = (cx.doc, cx.image, cx.p);
    ui.heading(format!("Phrases ({})", cx.notes.phrases.len()));
    let heat_counts = grounding::heatmap_counts(doc, image);
    if let Some(ph) = cx
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
    for id in &cx.notes.phrases {
        let Some(ph) = doc.phrases.get(id) else {
            continue;
        };
        let linked: Vec<RegionId> = doc.regions_of(ph.id).collect();
        let frame = egui::Frame::new()
            .inner_margin(egui::Margin::same(4))
            .corner_radius(3.0)
            .fill(if cx.active_phrase == Some(ph.id) {
                ui.visuals().selection.bg_fill
            } else if cx.hovered_phrase == Some(ph.id) {
                theme::report_backgrounds(cx.dark)[2]
            } else {
                Color32::TRANSPARENT
            })
            .show(ui, |ui| {
                ui.set_min_width(ui.available_width());
                let active = cx.active_phrase == Some(ph.id);
                let title = ui
                    .add(egui::Label::new(&ph.text).sense(Sense::click()))
                    .on_hover_text(if active {
                        "click to stop grounding this phrase"
                    } else {
                        "click to ground this phrase: regions drawn next are linked to it"
                    });
                if title.clicked() {
                    out.commands
                        .push(Command::SelectPhrase((!active).then_some(ph.id)));
                }
                phrase_controls(ui, ph, cx.selected_region, &linked, &mut out.commands);
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
                        let shown = cx.heat_phrase == Some(ph.id);
                        if ui
                            .selectable_label(shown, RichText::new("heatmap").small())
                            .on_hover_text("show this phrase's heatmap over the image (H hides)")
                            .clicked()
                        {
                            out.commands
                                .push(Command::ShowHeatmap((!shown).then_some(ph.id)));
                        }
                    }
                    for r in &linked {
                        let chip = ui
                            .add(
                                egui::Button::new(RichText::new(format!("#{r}")).small())
                                    .fill(theme::report_backgrounds(cx.dark)[2])
                                    .small(),
                            )
                            .on_hover_text(region_summary(p, *r));
                        if chip.hovered() {
                            out.highlight.insert(*r);
                        }
                        let here = doc.regions.get(r).is_some_and(|x| x.image == image);
                        if chip.clicked()
                            && here
                            && let Some(k) = region_slice(p, *r)
                        {
                            out.commands.push(Command::SetSlice(k));
                        }
                    }
                });
            });
        if ui.rect_contains_pointer(frame.response.rect) {
            out.hovered_phrase = Some(ph.id);
            if out.highlight.is_empty() {
                out.highlight.extend(linked.iter().copied());
            }
        }
    }
    if cx.notes.phrases.is_empty() {
        ui.weak("No phrases.");
    }
}

/// A region's area or volume and the image's values inside, as OHIF shows them beside an ROI.
fn region_stats_line(ui: &mut Ui, s: &crate::core::RegionStats, modality: Option<&str>) {
    let unit = if modality == Some("CT") { " HU" } else { "" };
    let extent = match (s.area_mm2, s.volume_mm3) {
        (Some(a), _) => format!("area {a:.1} mm²"),
        (None, Some(v)) if v >= 1000.0 => format!("volume {:.2} cm³", v / 1000.0),
        (None, Some(v)) => format!("volume {v:.1} mm³"),
        (None, None) => String::new(),
    };
    let values = if s.mean.is_nan() {
        "no values".to_string()
    } else {
        format!(
            "mean {:.1}{unit} ± {:.1} · min {} · max {}",
            s.mean,
            s.sd,
            trim_number(s.min),
            trim_number(s.max)
        )
    };
    ui.label(
        RichText::new(format!("{extent} · {} voxels\n{values}", s.voxels))
            .small()
            .color(theme::MUTED),
    );
}

/// A value without trailing zeros (integers as integers).
fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
