//! The planes across the acquisition plane, through the crosshair.

use crate::core::annotation::{Region, RegionId};
use crate::ui::command::Command;
use crate::ui::mpr::{self};
use crate::ui::overlay::{self};
use crate::ui::slice::{self, SliceView};
use crate::ui::theme;
use crate::ui::tools::{self};
use egui::{Color32, PointerButton, Rect, Ui};

use crate::ui::app::AppState;
use crate::ui::textures::cached_texture;
use crate::ui::viewport::{mask_layers, paint_crosshair, pane, pane_title, wheel_lines};

impl AppState {
    /// The plane across voxel axis `fixed` through the crosshair (MPR layouts): the image, masks and
    /// boxes cut by it, the crosshair; click or drag moves the crosshair, the wheel moves the plane,
    /// right-drag windows. The annotation tools draw in the acquisition plane.
    pub(in crate::ui) fn across_view(&mut self, ui: &mut Ui, area: Rect, fixed: usize) {
        let (response, painter) = pane(ui, area, egui::CursorIcon::Crosshair);
        let ctx = ui.ctx().clone();
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get(s)?)))
        else {
            return;
        };
        let volume = &entry.volume;
        let axes = slice::plane_axes(fixed);
        let index = display.cross[fixed];
        let cursor = [display.cross[0], display.cross[1], display.k];
        let max_side = ctx.input(|i| i.max_texture_side);
        let (window, photometric) = (display.window, volume.meta.photometric);
        let texture = cached_texture(
            &mut self.plane_textures[fixed],
            &ctx,
            "voxmark-plane",
            (display.uid, fixed, index, window),
            egui::TextureOptions::LINEAR,
            || {
                let values = slice::extract_plane(volume, fixed, index, max_side);
                slice::to_image(&values, window, photometric)
            },
        );
        let physical = SliceView::physical_size(volume, axes);
        let scale = (area.width() / physical.x).min(area.height() / physical.y);
        if !(scale.is_finite() && scale > 0.0) {
            return;
        }
        let view = SliceView::plane(
            Rect::from_center_size(area.center(), physical * scale),
            volume,
            axes,
        );
        painter.image(texture, view.rect, view.uv(), Color32::WHITE);
        self.plane_views[fixed] = Some(view);
        if let Some(p) = self.project.as_ref()
            && let Some(notes) = entry.project_image.and_then(|image| p.notes(image))
        {
            let doc = p.doc();
            let lit =
                |r: &Region| self.highlight.contains(&r.id) || self.selected_region == Some(r.id);
            let filter = self.region_filter;
            let regions: Vec<&Region> = notes
                .regions
                .iter()
                .filter_map(|r| doc.regions.get(r))
                .filter(|r| filter.shows(&r.author))
                .collect();
            let layers = mask_layers(doc, &regions, lit);
            if !layers.is_empty() {
                let step = slice::subsample_step(view.size[0], view.size[1], max_side);
                let mut highlighted: Vec<RegionId> = self.highlight.iter().copied().collect();
                highlighted.extend(self.selected_region);
                let id = cached_texture(
                    &mut self.plane_overlays[fixed],
                    &ctx,
                    "voxmark-plane-masks",
                    (
                        display.uid,
                        fixed,
                        index,
                        step,
                        p.revision(),
                        highlighted,
                        filter,
                    ),
                    egui::TextureOptions::NEAREST,
                    || overlay::mask_overlay_plane(&layers, fixed, index, view.size, step),
                );
                painter.image(id, view.rect, view.uv(), Color32::WHITE);
            }
            for r in &regions {
                if let Some(shape) = overlay::plane_shape(&r.shape, fixed, index, &view) {
                    let length = overlay::measurement(&r.shape, volume.spacing_mm());
                    overlay::paint(
                        &painter,
                        &shape,
                        overlay::style(r, &doc.labels, lit(r)),
                        length.as_deref(),
                    );
                }
            }
        }
        let name = mpr::plane_name(&volume.direction(), fixed);
        let colour = theme::plane_colour(name);
        let at = axes.map(|a| cursor[a] as f64);
        paint_crosshair(&painter, &view, at, colour);
        let axis = ["i", "j"][fixed.min(1)];
        pane_title(&painter, area, &format!("{name} · {axis} {index}"), colour);

        // The voxel under the pointer, in the volume's (i, j, k).
        let under = response.hover_pos().and_then(|p| {
            let [u, w] = view.voxel_at(p)?;
            let [cu, cw] = view.voxel_from_screen(p);
            let (mut ijk, mut continuous) = (cursor, cursor.map(|c| c as f64));
            ijk[fixed] = index;
            continuous[fixed] = index as f64;
            [ijk[axes[0]], ijk[axes[1]]] = [u, w];
            [continuous[axes[0]], continuous[axes[1]]] = [cu, cw];
            Some((ijk, continuous))
        });
        if under.is_some() {
            self.hover_voxel = under;
        }
        // Box, brush, eraser, point and ruler draw here too (Shift+click still moves the crosshair).
        let shift = ui.input(|i| i.modifiers.shift);
        let drawing = tools::draws_across(self.tool)
            && self.current_project_image().is_some()
            && (!shift || tools::busy(&self.gesture));
        // The select tool picks the region under a click here too, or lets go of the selection on
        // a click beside every region (and moves the crosshair there either way).
        if self.tool == tools::Tool::Navigate
            && response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            let picked = self.region_across_at(&view, fixed, index, p);
            self.commands.push(Command::SelectRegion(picked));
        }
        if drawing {
            self.tool_input(&response, &painter, view, index, fixed);
        } else if (response.clicked() || response.dragged_by(PointerButton::Primary))
            && let Some(p) = response.interact_pointer_pos()
            && let Some([u, w]) = view.voxel_at(p)
        {
            let mut ijk = cursor;
            [ijk[axes[0]], ijk[axes[1]]] = [u, w];
            self.commands.push(Command::SetCursor(ijk));
        }
        if response.contains_pointer() {
            self.wheel_steps += wheel_lines(ui);
            let whole = self.wheel_steps.trunc();
            if whole != 0.0 {
                self.wheel_steps -= whole;
                self.commands.push(Command::StepPlane {
                    fixed,
                    delta: whole as i64,
                });
            }
        }
        if response.dragged_by(PointerButton::Secondary) {
            self.window_drag(&response);
        }
    }
}
