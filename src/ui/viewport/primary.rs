//! The acquisition plane: where the tools draw, with regions, heatmaps and previews.

use crate::ui::command::Command;
use crate::ui::mpr::{self};
use crate::ui::slice::{self, SliceView};
use crate::ui::theme;
use crate::ui::tools::{self, Tool};
use egui::{Color32, PointerButton, Rect, RichText, Sense, Ui};

use crate::ui::app::AppState;
use crate::ui::textures::{PreviewTexture, SliceTexture};
use crate::ui::viewport::{paint_crosshair, pane_title, wheel_lines};

impl AppState {
    /// The acquisition plane (slice k), where the tools draw; with `crosshair` (MPR layouts) it shows
    /// the crosshair and Shift+click moves it.
    pub(in crate::ui) fn primary_view(&mut self, ui: &mut Ui, area: Rect, crosshair: bool) {
        let response = ui
            .allocate_rect(area, Sense::click_and_drag())
            .on_hover_cursor(match self.tool {
                Tool::Navigate => egui::CursorIcon::Default,
                Tool::Window => egui::CursorIcon::ResizeColumn,
                _ => egui::CursorIcon::Crosshair,
            });
        let ctx = ui.ctx().clone();
        let texture = self.slice_texture(&ctx);
        let painter = ui.painter_at(area);
        self.view = None;
        if let (Some(id), Some((entry, display))) = (texture, self.current()) {
            let v = &entry.volume;
            let [nx, ny, _] = v.size();
            let sp = v.spacing_mm();
            let physical = egui::vec2((nx as f64 * sp[0]) as f32, (ny as f64 * sp[1]) as f32);
            let scale = (area.width() / physical.x).min(area.height() / physical.y) * display.zoom;
            if scale.is_finite() && scale > 0.0 {
                let rect = Rect::from_center_size(area.center() + display.pan, physical * scale);
                let view = SliceView::new(rect, v);
                painter.image(id, view.rect, view.uv(), Color32::WHITE);
                let (name, [ci, cj], k) =
                    (mpr::plane_name(&v.direction(), 2), display.cross, display.k);
                self.view = Some(view);
                self.paint_threshold_preview(&ctx, &painter, &view);
                self.paint_regions(&ctx, &painter, &view);
                if crosshair {
                    let colour = theme::plane_colour(name);
                    paint_crosshair(&painter, &view, [ci as f64, cj as f64], colour);
                    pane_title(&painter, area, &format!("{name} · k {k}"), colour);
                }
            }
        } else if let Some(p) = &self.series_preview {
            // Read-only until the whole series is decoded: no tools, no cursor read-out.
            let scale = (area.width() / p.physical.x).min(area.height() / p.physical.y);
            if scale.is_finite() && scale > 0.0 {
                let rect = Rect::from_center_size(area.center(), p.physical * scale);
                painter.image(p.texture.id(), rect, p.uv, Color32::WHITE);
            }
            pane_title(
                &painter,
                area,
                &format!(
                    "slice {} of {} · decoding the series…",
                    p.index + 1,
                    p.count
                ),
                theme::MUTED,
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        } else if self.jobs.is_empty() && self.images.is_empty() && self.errors.is_empty() {
            // The start screen.
            let recent = self.recent.as_deref().unwrap_or_default();
            if let Some(action) = crate::ui::welcome::start_screen(ui, area, recent) {
                self.commands.push(match action {
                    crate::ui::welcome::Action::OpenDemo => Command::OpenDemo,
                    crate::ui::welcome::Action::Open(paths) => Command::Load(paths),
                    crate::ui::welcome::Action::NewProject(path) => Command::NewProject(path),
                    crate::ui::welcome::Action::Settings => Command::ShowSettings,
                });
            }
        } else if self.jobs.is_empty()
            && self.images.is_empty()
            && let Some(e) = self.errors.last()
        {
            ui.put(
                area.shrink(40.0),
                egui::Label::new(RichText::new(e).color(theme::ERROR_MUTED)).wrap(),
            );
        } else if !self.jobs.is_empty() {
            painter.text(
                area.center(),
                egui::Align2::CENTER_CENTER,
                "Loading…",
                egui::FontId::proportional(20.0),
                theme::MUTED,
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        }
        let k = self.current().map(|(_, d)| d.k);
        if let (Some(view), Some(k), Some(p)) = (self.view, k, response.hover_pos())
            && let Some([i, j]) = view.voxel_at(p)
        {
            let [u, w] = view.voxel_from_screen(p);
            self.hover_voxel = Some(([i, j, k], [u, w, k as f64]));
            let shift = ui.input(|i| i.modifiers.shift);
            if crosshair
                && shift
                && (response.clicked() || response.dragged_by(PointerButton::Primary))
            {
                self.commands.push(Command::SetCursor([i, j, k]));
                return;
            }
        }

        if response.contains_pointer() {
            let (wheel, zoom_mod) = (wheel_lines(ui), ui.input(|i| i.modifiers.command));
            if zoom_mod {
                if wheel != 0.0
                    && let Some(p) = response.hover_pos()
                {
                    self.commands.push(Command::Zoom {
                        factor: 1.15f32.powf(wheel),
                        about: p,
                    });
                }
            } else {
                self.wheel_steps += wheel;
                let whole = self.wheel_steps.trunc();
                if whole != 0.0 {
                    self.wheel_steps -= whole;
                    self.commands.push(Command::StepSlice(whole as i64));
                }
            }
        }
        if response.dragged_by(PointerButton::Middle) {
            self.commands.push(Command::Pan(response.drag_delta()));
        }
        let windowing = response.dragged_by(PointerButton::Secondary)
            || (self.tool == Tool::Window && response.dragged_by(PointerButton::Primary));
        if windowing {
            self.window_drag(&response);
        }
        if let (Some(view), Some(k)) = (self.view, self.current().map(|(_, d)| d.k)) {
            self.tool_input(&response, &painter, view, k, 2);
        }
    }

    /// Window change by a drag over any view: horizontal = width, vertical = centre, scaled to the
    /// image's value range.
    pub(in crate::ui) fn window_drag(&mut self, response: &egui::Response) {
        let Some((entry, _)) = self.current() else {
            return;
        };
        let range = entry.stats.max - entry.stats.min;
        let per_point = if range.is_finite() && range > 0.0 {
            range / 500.0
        } else {
            1.0
        };
        let d = response.drag_delta();
        self.commands.push(Command::AdjustWindow {
            dwidth: f64::from(d.x) * per_point,
            dcenter: f64::from(d.y) * per_point,
        });
    }

    /// The active tool's gesture and its drawing over the slice.
    /// `view` shows the plane holding voxel axis `fixed` at `k` (2: the acquisition plane, where all
    /// tools work; 0 or 1: a plane across, where those of [`tools::draws_across`] do).
    pub(in crate::ui) fn tool_input(
        &mut self,
        response: &egui::Response,
        painter: &egui::Painter,
        view: SliceView,
        k: usize,
        fixed: usize,
    ) {
        let Some((entry, _)) = self.current() else {
            return;
        };
        // A gesture belongs to the plane it began in.
        if tools::busy(&self.gesture) && self.gesture_plane != fixed {
            return;
        }
        let spacing_mm = entry.volume.spacing_mm();
        let editable = self.current_project_image().is_some();
        if self.tool.edits() && !editable {
            return;
        }
        let pointer = response.hover_pos().or(response.interact_pointer_pos());
        // Only the select tool clicks regions; skip the hit test for the others.
        let hovered = (self.tool == Tool::Navigate && fixed == 2)
            .then(|| pointer.and_then(|p| self.region_at(&view, k, p)))
            .flatten();
        // Boxes are moved and resized in the acquisition plane.
        let selected_shape = self.selected_region.filter(|_| fixed == 2).and_then(|r| {
            Some((
                r,
                self.project.as_ref()?.doc().regions.get(&r)?.shape.clone(),
            ))
        });
        let input = crate::ui::viewport::input::Input {
            response,
            view: &view,
            k,
            selected: selected_shape.as_ref().map(|(r, s)| (*r, s)),
            hovered,
            spacing_mm,
            fixed,
            editable,
        };
        let mut out = Vec::new();
        let was_busy = tools::busy(&self.gesture);
        crate::ui::viewport::input::interact(self.tool, &mut self.gesture, &input, &mut out);
        if !was_busy && tools::busy(&self.gesture) {
            self.gesture_plane = fixed;
        }
        crate::ui::viewport::input::paint(
            painter,
            self.tool,
            &self.gesture,
            &self.settings,
            &input,
            pointer,
        );
        self.commands.extend(out);
    }

    /// In-range voxels of the slice tinted while the threshold tool is active.
    pub(in crate::ui) fn paint_threshold_preview(
        &mut self,
        ctx: &egui::Context,
        painter: &egui::Painter,
        view: &SliceView,
    ) {
        if self.tool != Tool::Threshold {
            return;
        }
        let (Some(s), Some(((cs, ck), values))) = (self.selected, self.slice_cache.as_ref()) else {
            return;
        };
        let Some(display) = self.displays.get(s) else {
            return;
        };
        if (*cs, *ck) != (s, display.k) {
            return;
        }
        let (lo, hi) = self.settings.threshold;
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let key = (s, display.k, lo.to_bits(), hi.to_bits());
        if self.preview.as_ref().is_none_or(|t| t.key != key) {
            let c = values.components.max(1);
            let tint = theme::THRESHOLD_PREVIEW;
            let pixels: Vec<Color32> = values
                .values
                .chunks_exact(c)
                .map(|px| {
                    let x = f64::from(px[0]);
                    if x >= lo && x <= hi {
                        tint
                    } else {
                        Color32::TRANSPARENT
                    }
                })
                .collect();
            if pixels.len() != values.width * values.height {
                return;
            }
            let image = egui::ColorImage::new([values.width, values.height], pixels);
            match &mut self.preview {
                Some(t) => {
                    t.texture.set(image, egui::TextureOptions::NEAREST);
                    t.key = key;
                }
                None => {
                    let texture =
                        ctx.load_texture("voxmark-threshold", image, egui::TextureOptions::NEAREST);
                    self.preview = Some(PreviewTexture { key, texture });
                }
            }
        }
        if let Some(t) = &self.preview {
            painter.image(t.texture.id(), view.rect, view.uv(), Color32::WHITE);
        }
    }

    /// Re-extracts the slice and re-uploads the texture only when image, slice or window changed.
    pub(in crate::ui) fn slice_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureId> {
        let s = self.selected?;
        let (entry, display) = (self.images.get(s)?, self.displays.get(s)?);
        let key = (s, display.k, display.window);
        if let Some(t) = &self.texture
            && t.key == key
        {
            return Some(t.texture.id());
        }
        let volume = &entry.volume;
        if self
            .slice_cache
            .as_ref()
            .is_none_or(|(k, _)| *k != (s, display.k))
        {
            let max_side = ctx.input(|i| i.max_texture_side);
            self.slice_cache = Some(((s, display.k), slice::extract(volume, display.k, max_side)));
        }
        let values = &self.slice_cache.as_ref()?.1;
        let image = slice::to_image(values, display.window, volume.meta.photometric);
        let options = egui::TextureOptions::LINEAR;
        match &mut self.texture {
            Some(t) => {
                t.texture.set(image, options);
                t.key = key;
            }
            None => {
                let texture = ctx.load_texture("voxmark-slice", image, options);
                self.texture = Some(SliceTexture { key, texture });
            }
        }
        self.texture.as_ref().map(|t| t.texture.id())
    }
}
