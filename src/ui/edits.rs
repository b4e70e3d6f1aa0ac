//! Document commands turned into edits for the `DocumentSession`: drawing, painting, labels,
//! phrases, links and review, and the rules they follow (which label a new region takes, which
//! mask a stroke paints, which phrase it grounds).

use crate::core::Edit;
use crate::core::annotation::{Grounding, RegionId, Shape, Status};
use crate::core::paint;
use crate::ui::command::Command;

use crate::ui::app::AppState;
use crate::ui::panels::status::format_value;
use crate::ui::session::rules::{
    grounded, label_for_drawing, mask_target, new_region, next_label, phrase_on,
};
use crate::ui::tools::{FILL_LIMIT, FillJob};

pub(in crate::ui) use crate::core::now_ms;

impl AppState {
    /// Commands that change the document of the open project.
    pub(in crate::ui) fn apply_edit(&mut self, command: Command) -> Result<(), String> {
        let s = self.selected.ok_or("no image is shown")?;
        let entry = self.images.get(s).ok_or("no image is shown")?;
        let p = self
            .project
            .as_mut()
            .ok_or("open or create a project to annotate (File, New project…)")?;
        let image = entry
            .project_image
            .ok_or("this image is not part of the open project (File, Add images…)")?;
        let volume = &entry.volume;
        let size = volume.size();
        let spacing = volume.spacing_mm();
        let now = now_ms();
        match command {
            Command::Undo => {
                if p.history().is_open() {
                    return Ok(());
                }
                self.message = Some(match p.undo()? {
                    Some(name) => format!("undid {name}"),
                    None => "nothing to undo".into(),
                });
                self.selected_region = self
                    .selected_region
                    .filter(|r| p.doc().regions.contains_key(r));
            }
            Command::Redo => {
                if p.history().is_open() {
                    return Ok(());
                }
                self.message = Some(match p.redo()? {
                    Some(name) => format!("redid {name}"),
                    None => "nothing to redo".into(),
                });
            }
            Command::AddShape { shape, name } => {
                // Box depth: the box reaches that many slices above and below.
                let d = self.settings.box_depth;
                let shape = match shape.box_slices() {
                    Some((k, _)) if d > 0 => shape
                        .box_over_slices(k.saturating_sub(d), k + d, size[2])
                        .unwrap_or(shape),
                    _ => shape,
                };
                let id = crate::core::Id::new();
                if matches!(shape, Shape::Line { .. }) {
                    // A ruler is a measurement: no label of its own, and it grounds no phrase.
                    let region = crate::core::Region {
                        label: None,
                        ..new_region(id, image, crate::core::Id::NIL, shape, p, now)
                    };
                    let edits = vec![Edit::AddRegion {
                        region,
                        mask: None,
                        links: vec![],
                    }];
                    p.transact(name, edits)?;
                    self.selected_region = Some(id);
                    self.message = Some(format!("{name}: region #{id}"));
                    return Ok(());
                }
                let (mut edits, label) = label_for_drawing(p.doc(), self.active_label);
                let phrase = phrase_on(p.doc(), self.active_phrase, image);
                edits.push(Edit::AddRegion {
                    region: new_region(id, image, label, shape, p, now),
                    mask: None,
                    links: phrase.into_iter().collect(),
                });
                edits.extend(grounded(p.doc(), phrase, now));
                p.transact(name, edits)?;
                self.active_label = Some(label);
                self.selected_region = Some(id);
                self.message = Some(format!("{name}: region #{id}"));
            }
            Command::SetShape { region, shape } => {
                p.update_region("move region", region, now, |r| r.shape = shape)?;
            }
            Command::SetReport(text) => {
                let text = text.filter(|t| !t.trim().is_empty());
                match crate::core::report::set_report_edits(p.doc(), image, text, now) {
                    Some((edits, changes)) => {
                        p.transact("edit report", edits)?;
                        let mut m = "report saved".to_owned();
                        if changes.moved > 0 {
                            m += &format!("; {} phrase span(s) follow the text", changes.moved);
                        }
                        if changes.freed > 0 {
                            m += &format!(
                                "; {} phrase(s) no longer in the report are kept as free phrases",
                                changes.freed
                            );
                        }
                        self.message = Some(m);
                    }
                    None => self.message = Some("report unchanged".into()),
                }
            }
            Command::StrokeBegin { erase } => {
                if p.history().is_open() {
                    p.finish()?;
                }
                if erase {
                    p.begin("erase")?;
                    self.stroke = p
                        .notes(image)
                        .map(|n| n.regions.clone())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| {
                            p.doc().regions.get(r).is_some_and(|x| {
                                x.shape == Shape::Mask && x.status != Status::Rejected
                            })
                        })
                        .collect();
                } else {
                    p.begin("brush stroke")?;
                    let phrase = phrase_on(p.doc(), self.active_phrase, image);
                    let (region, label) =
                        mask_target(p, image, size, self.active_label, phrase, now)?;
                    self.active_label = Some(label);
                    self.stroke = vec![region];
                }
            }
            Command::StrokeTo {
                from,
                to,
                erase,
                across,
            } => {
                if !p.history().is_open() {
                    return Ok(());
                }
                let Some((bounds, inside)) =
                    paint::capsule(from, to, self.settings.brush, spacing, size, across)
                else {
                    return Ok(());
                };
                for &region in &self.stroke {
                    let Some(mask) = p.doc().masks.get(&region) else {
                        continue;
                    };
                    let value = u8::from(!erase);
                    if let Some(edit) = paint::paint_edit(region, mask, bounds, &inside, value) {
                        p.record(edit)?;
                    }
                }
            }
            Command::StrokeEnd => {
                let regions = std::mem::take(&mut self.stroke);
                if !p.history().is_open() {
                    return Ok(());
                }
                // A new mask that got no voxel (a stroke outside the image) is not kept.
                let empty_new = regions.iter().any(|r| {
                    p.doc().masks.get(r).is_some_and(|m| m.count() == 0)
                        && p.history().open_adds(*r)
                });
                if empty_new {
                    p.abort();
                } else {
                    p.finish()?;
                    self.message = Some("stroke saved".into());
                }
            }
            Command::ClosePolygon { points, k } => {
                if self.settings.polygon_to_mask {
                    let (bounds, inside) = paint::polygon_voxels(&points, k, size)
                        .ok_or("the polygon covers no voxel")?;
                    self.fill_mask("fill polygon", bounds, &inside)?;
                } else {
                    return self.apply_edit(Command::AddShape {
                        shape: Shape::Polygon {
                            slice: u32::try_from(k).unwrap_or(u32::MAX),
                            points,
                        },
                        name: "draw polygon",
                    });
                }
            }
            Command::ThresholdFill { seed } => {
                if self.fill.is_some() {
                    return Err("a threshold fill is still running".into());
                }
                let (lo, hi) = self.settings.threshold;
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                if volume.value(seed, 0).is_none_or(|x| !(x >= lo && x <= hi)) {
                    return Err(format!(
                        "the voxel clicked is outside the range {} … {}",
                        format_value(lo),
                        format_value(hi)
                    ));
                }
                // A 3D fill of a large volume takes seconds: it runs on its own thread and is applied
                // (one undo step, saved at once) when it is done, if the image is still shown.
                let (tx, rx) = std::sync::mpsc::channel();
                let (volume, three_d) = (entry.volume.clone(), self.settings.threshold_3d);
                std::thread::Builder::new()
                    .name("voxmark-fill".into())
                    .spawn(move || {
                        let value_at = |v: [usize; 3]| volume.value(v, 0);
                        let filled = paint::threshold_fill(
                            &value_at,
                            volume.size(),
                            seed,
                            (lo, hi),
                            three_d,
                            FILL_LIMIT,
                        );
                        tx.send(filled).ok();
                    })
                    .map_err(|e| format!("cannot start the fill: {e}"))?;
                let uid = self.displays.get(s).map_or(0, |d| d.uid);
                self.fill = Some(FillJob {
                    rx,
                    image: uid,
                    started: std::time::Instant::now(),
                });
                self.message = Some("threshold fill…".into());
            }
            Command::DeleteRegion(region) => {
                let edit = Edit::remove_region(p.doc(), region).ok_or("the region is gone")?;
                p.transact("delete region", vec![edit])?;
                if self.selected_region == Some(region) {
                    self.selected_region = None;
                }
                self.message = Some(format!("deleted region #{region}"));
            }
            Command::SetRegionLabel { region, label } => {
                p.update_region("change label", region, now, |r| r.label = Some(label))?;
            }
            Command::SetStatus { region, status } => {
                let name = match status {
                    Status::Accepted => "accept",
                    Status::Rejected => "reject",
                    Status::Proposed => "reopen",
                };
                p.update_region(name, region, now, |r| r.status = status)?;
            }
            Command::AddLabel => {
                let label = next_label(p.doc());
                let id = label.id;
                p.transact("add label", vec![Edit::AddLabel(label)])?;
                self.active_label = Some(id);
            }
            Command::AddPhrase { span, text } => {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    return Err("a phrase needs some text".into());
                }
                let id = crate::core::Id::new();
                // The selected region is linked at once (select a box, then text, then P).
                let links: Vec<RegionId> = self
                    .selected_region
                    .filter(|r| p.doc().regions.get(r).is_some_and(|x| x.image == image))
                    .into_iter()
                    .collect();
                let phrase = crate::core::Phrase {
                    id,
                    image,
                    text,
                    author: p.who().clone(),
                    span,
                    category: None,
                    grounding: if links.is_empty() {
                        Grounding::Pending
                    } else {
                        Grounding::Annotated
                    },
                    created_ms: now,
                    modified_ms: now,
                };
                p.transact("new phrase", vec![Edit::AddPhrase { phrase, links }])?;
                self.active_phrase = Some(id);
                self.annotations.report_selection = None;
                self.annotations.free_phrase.clear();
                self.message = Some(format!("phrase #{id}: draw regions to ground it"));
            }
            Command::SetGrounding { phrase, grounding } => {
                p.update_phrase("set grounding", phrase, now, |ph| ph.grounding = grounding)?;
            }
            Command::SetCategory { phrase, category } => {
                let category = category.filter(|c| !c.trim().is_empty());
                p.update_phrase("set category", phrase, now, |ph| ph.category = category)?;
            }
            Command::ToggleLink { phrase, region } => {
                if p.doc().links.contains(&(phrase, region)) {
                    p.transact("unlink", vec![Edit::Unlink { phrase, region }])?;
                    self.message = Some(format!("unlinked region #{region}"));
                } else {
                    let mut edits = vec![Edit::Link { phrase, region }];
                    edits.extend(grounded(p.doc(), Some(phrase), now));
                    p.transact("link", edits)?;
                    self.message = Some(format!("linked region #{region} to phrase #{phrase}"));
                }
            }
            Command::DeletePhrase(phrase) => {
                let edit = Edit::remove_phrase(p.doc(), phrase).ok_or("the phrase is gone")?;
                p.transact("delete phrase", vec![edit])?;
                if self.active_phrase == Some(phrase) {
                    self.active_phrase = None;
                }
            }
            Command::UpdateLabel(after) => {
                let before = p
                    .doc()
                    .labels
                    .get(&after.id)
                    .ok_or("the label is gone")?
                    .clone();
                if before != after {
                    p.transact("edit label", vec![Edit::UpdateLabel { before, after }])?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
