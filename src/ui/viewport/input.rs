//! Pointer input over a plane turned into commands by the chosen tool: the gesture's state
//! machine (press, drag, release) for every tool, and the gesture drawn over the plane; tools never
//! change the document themselves.

use crate::core::annotation::length_mm;
use crate::core::annotation::{RegionId, Shape};
use crate::ui::command::Command;
use crate::ui::overlay::{self};
use crate::ui::slice::SliceView;
use crate::ui::theme;
use crate::ui::tools::{Gesture, Settings, Tool, box_in_plane, dragged, handle_at};
use egui::{Key, Painter, PointerButton, Pos2, Rect, Response, Stroke};

/// Input over the slice for one frame.
pub struct Input<'a> {
    /// The viewport's response.
    pub response: &'a Response,
    /// Where the plane is on screen.
    pub view: &'a SliceView,
    /// The slice shown.
    pub k: usize,
    /// The selected region and its shape, if any.
    pub selected: Option<(RegionId, &'a Shape)>,
    /// The region under the pointer, if any (for clicks in the select tool).
    pub hovered: Option<RegionId>,
    /// Voxel size in mm (i, j, k).
    pub spacing_mm: [f64; 3],
    /// The voxel axis the plane holds at `k`: 2 for the acquisition plane, 0 or 1 for the planes
    /// across i and j.
    pub fixed: usize,
    /// Whether the image is a project's (a finished ruler is then kept as a line region; otherwise
    /// it stays shown until the next one).
    pub editable: bool,
}

impl Input<'_> {
    /// Continuous voxel coordinates (i, j, k) of plane coordinates `uv` on this view's plane.
    pub fn voxel(&self, uv: [f64; 2]) -> [f64; 3] {
        let mut v = [self.k as f64; 3];
        v[self.view.axes[0]] = uv[0];
        v[self.view.axes[1]] = uv[1];
        v
    }
}

/// Turns one frame of pointer input into commands, updating the gesture in progress.
pub fn interact(tool: Tool, gesture: &mut Gesture, input: &Input<'_>, out: &mut Vec<Command>) {
    let r = input.response;
    let view = input.view;
    let k = input.k;
    let at = |p: Pos2| view.voxel_from_screen(p);
    let primary_down = r.ctx.input(|i| i.pointer.primary_down());
    let press = r.ctx.input(|i| i.pointer.press_origin());
    let pointer = r.interact_pointer_pos().or(r.hover_pos());
    let dragging_primary = r.dragged_by(PointerButton::Primary);
    match tool {
        Tool::Navigate => {
            if r.drag_started_by(PointerButton::Primary)
                && let (Some(p0), Some((id, shape))) = (press, input.selected)
                && let Some(handle) = handle_at(shape, k, view, p0)
            {
                *gesture = Gesture::Edit {
                    region: id,
                    original: shape.clone(),
                    handle,
                    from: at(p0),
                    current: shape.clone(),
                };
            }
            if let Gesture::Edit {
                original,
                handle,
                from,
                current,
                region,
            } = gesture
            {
                if dragging_primary && let Some(p) = pointer {
                    *current = dragged(original, *handle, *from, at(p), view.size);
                }
                if r.drag_stopped() {
                    if current != original {
                        out.push(Command::SetShape {
                            region: *region,
                            shape: current.clone(),
                        });
                    }
                    *gesture = Gesture::Idle;
                }
            } else if dragging_primary {
                out.push(Command::Pan(r.drag_delta()));
            } else if r.clicked_by(PointerButton::Primary) {
                out.push(Command::SelectRegion(input.hovered));
            }
        }
        Tool::Window => {}
        Tool::Box | Tool::ModelBox => {
            if r.drag_started_by(PointerButton::Primary)
                && let Some(p0) = press
            {
                *gesture = Gesture::Box {
                    start: at(p0),
                    end: at(p0),
                };
            }
            if let Gesture::Box { start, end } = gesture {
                if let Some(p) = pointer {
                    *end = at(p);
                }
                if r.drag_stopped() || !primary_down {
                    if let Some(shape) = box_in_plane(*start, *end, k, input.fixed, view.size) {
                        out.push(if tool == Tool::ModelBox {
                            Command::ModelBox(shape)
                        } else {
                            Command::AddShape {
                                shape,
                                name: "draw box",
                            }
                        });
                    }
                    *gesture = Gesture::Idle;
                }
            }
        }
        Tool::Brush | Tool::Eraser => {
            let erase = tool == Tool::Eraser;
            if (r.drag_started_by(PointerButton::Primary) || r.clicked_by(PointerButton::Primary))
                && let Some(p0) = press.or(pointer)
            {
                let first = input.voxel(at(p0));
                out.push(Command::StrokeBegin { erase });
                out.push(Command::StrokeTo {
                    from: first,
                    to: first,
                    erase,
                    across: input.fixed,
                });
                *gesture = Gesture::Stroke { last: first };
            }
            if let Gesture::Stroke { last } = gesture {
                if dragging_primary && let Some(p) = pointer {
                    let to = input.voxel(at(p));
                    if to != *last {
                        out.push(Command::StrokeTo {
                            from: *last,
                            to,
                            erase,
                            across: input.fixed,
                        });
                        *last = to;
                    }
                }
                if !primary_down || r.drag_stopped() || r.clicked() {
                    out.push(Command::StrokeEnd);
                    *gesture = Gesture::Idle;
                }
            }
        }
        Tool::Polygon => {
            let closing = r.double_clicked_by(PointerButton::Primary)
                || r.ctx.input(|i| i.key_pressed(Key::Enter));
            if r.clicked_by(PointerButton::Primary)
                && let Some(p) = pointer
            {
                match gesture {
                    Gesture::Polygon { points, k: pk } if *pk == k => points.push(at(p)),
                    _ => {
                        *gesture = Gesture::Polygon {
                            points: vec![at(p)],
                            k,
                        }
                    }
                }
            }
            if closing && let Gesture::Polygon { points, k: pk } = gesture {
                let mut points = std::mem::take(points);
                // A double click adds its position twice.
                points.dedup_by(|a, b| (a[0] - b[0]).abs() < 0.25 && (a[1] - b[1]).abs() < 0.25);
                if points.len() >= 3 {
                    out.push(Command::ClosePolygon { points, k: *pk });
                }
                *gesture = Gesture::Idle;
            }
        }
        Tool::Threshold => {
            if r.clicked_by(PointerButton::Primary)
                && let Some(p) = pointer
                && let Some([i, j]) = view.voxel_at(p)
            {
                out.push(Command::ThresholdFill { seed: [i, j, k] });
            }
        }
        Tool::Ruler => {
            if r.drag_started_by(PointerButton::Primary)
                && let Some(p0) = press
                && view.rect.contains(p0)
            {
                *gesture = Gesture::Ruler {
                    a: at(p0),
                    b: at(p0),
                    k,
                    fixed: input.fixed,
                };
            }
            // A ruler belongs to the plane it was started in.
            if let Gesture::Ruler { a, b, k, fixed } = gesture
                && *fixed == input.fixed
            {
                if dragging_primary && let Some(p) = pointer {
                    *b = at(p);
                }
                if r.drag_stopped() && input.editable {
                    // Kept inside the plane it was drawn on (its slice, even if the view moved on).
                    let inside = |uv: [f64; 2]| {
                        let mut v = input.voxel([
                            uv[0].clamp(-0.5, view.size[0] as f64 - 0.5),
                            uv[1].clamp(-0.5, view.size[1] as f64 - 0.5),
                        ]);
                        v[*fixed] = *k as f64;
                        v
                    };
                    let (va, vb) = (inside(*a), inside(*b));
                    if va != vb {
                        out.push(Command::AddShape {
                            shape: Shape::Line { a: va, b: vb },
                            name: "measure distance",
                        });
                    }
                    *gesture = Gesture::Idle;
                }
            }
        }
        Tool::Point => {
            if r.clicked_by(PointerButton::Primary)
                && let Some(p) = pointer
                && view.rect.contains(p)
            {
                out.push(Command::AddShape {
                    shape: Shape::Point {
                        at: input.voxel(at(p)),
                    },
                    name: "place point",
                });
            }
        }
    }
}

/// Draws the gesture in progress, the brush cursor and the ruler.
pub fn paint(
    painter: &Painter,
    tool: Tool,
    gesture: &Gesture,
    settings: &Settings,
    input: &Input<'_>,
    pointer: Option<Pos2>,
) {
    let view = input.view;
    let stroke = Stroke::new(1.5, theme::ACCENT);
    match gesture {
        Gesture::Box { start, end } => {
            let r =
                Rect::from_two_pos(view.screen_from_voxel(*start), view.screen_from_voxel(*end));
            painter.rect_stroke(r, 0.0, stroke, egui::StrokeKind::Middle);
        }
        Gesture::Polygon { points, k } if *k == input.k => {
            let mut screen: Vec<Pos2> = points.iter().map(|&p| view.screen_from_voxel(p)).collect();
            if let Some(p) = pointer {
                screen.push(p);
            }
            painter.add(egui::Shape::line(screen.clone(), stroke));
            for p in &screen {
                painter.circle_filled(*p, 2.5, theme::ACCENT);
            }
        }
        Gesture::Ruler { a, b, k, fixed } if *k == input.k && *fixed == input.fixed => {
            let (pa, pb) = (view.screen_from_voxel(*a), view.screen_from_voxel(*b));
            painter.line_segment([pa, pb], Stroke::new(1.5, theme::HIGHLIGHT));
            for p in [pa, pb] {
                painter.circle_filled(p, 2.5, theme::HIGHLIGHT);
            }
            painter.text(
                pb + egui::vec2(8.0, 0.0),
                egui::Align2::LEFT_CENTER,
                format!(
                    "{:.1} mm",
                    length_mm(input.voxel(*a), input.voxel(*b), input.spacing_mm)
                ),
                egui::FontId::proportional(13.0),
                theme::HIGHLIGHT,
            );
        }
        Gesture::Edit { current, .. } => {
            if let Some(shape) = overlay::screen_shape(current, input.k, view) {
                overlay::paint(
                    painter,
                    &shape,
                    overlay::Style {
                        color: theme::ACCENT,
                        dashed: false,
                        highlighted: false,
                    },
                    None,
                );
            }
        }
        _ => {}
    }
    if matches!(tool, Tool::Brush | Tool::Eraser)
        && let Some(p) = pointer
        && view.rect.contains(p)
    {
        // The brush outline: an ellipse of the radius in mm on screen.
        let [i, j] = view.voxel_from_screen(p);
        let r = settings.brush.radius_mm;
        let [su, sw] = view.axes.map(|a| input.spacing_mm[a]);
        let rx = (view.screen_from_voxel([i + r / su, j]).x - p.x).abs();
        let ry = (view.screen_from_voxel([i, j + r / sw]).y - p.y).abs();
        let n = 48;
        let points: Vec<Pos2> = (0..n)
            .map(|t| {
                let a = t as f32 / n as f32 * std::f32::consts::TAU;
                p + egui::vec2(rx * a.cos(), ry * a.sin())
            })
            .collect();
        let color = if tool == Tool::Eraser {
            theme::ERROR_MUTED
        } else {
            theme::ACCENT
        };
        painter.add(egui::Shape::closed_line(points, Stroke::new(1.0, color)));
    }
}
