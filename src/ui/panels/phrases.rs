//! The phrase and region controls of the right panel, and region summaries.

use crate::core::annotation::{Grounding, Region, RegionId, Status};
use crate::ui::command::Command;
use crate::ui::grounding::{self};
use crate::ui::overlay::{self};
use crate::ui::session::{self, DocumentSession};
use crate::ui::theme;
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
    (k, slices): (usize, usize),
    commands: &mut Vec<Command>,
) {
    ui.add_space(6.0);
    ui.heading(format!("Region #{}", r.id));
    ui.label(
        RichText::new(format!(
            "{} · {} · {}",
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
    if let Some(m) = p.doc().masks.get(&r.id) {
        ui.label(
            RichText::new(format!("{} voxels", m.count()))
                .small()
                .color(theme::MUTED),
        );
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
