//! The 3D view pane: the render module's volume pass, orbit and zoom.

use crate::ui::command::Command;
use crate::ui::theme;
use crate::ui::view3d::{Mode3d, View3d};
use egui::{Color32, PointerButton, Pos2, Rect, Ui, Vec2};

use crate::ui::app::AppState;
use crate::ui::viewport::{pane, pane_title, wheel_lines};

impl AppState {
    /// The 3D view (2×2 layout): drag orbits, the wheel zooms, double-click resets; the menu in its
    /// corner switches MIP and the DVR presets. The crosshair is marked where it lies in the volume.
    pub(in crate::ui) fn view_3d(&mut self, ui: &mut Ui, area: Rect) {
        let (response, painter) = pane(ui, area, egui::CursorIcon::Grab);
        let ctx = ui.ctx().clone();
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get(s)?)))
        else {
            return;
        };
        let volume = &entry.volume;
        self.rect_3d = Some(area);
        let ppp = ctx.pixels_per_point();
        // A slow renderer (a CPU rasteriser) gets half the pixels while the camera moves.
        let slow = self
            .view3d
            .last_render
            .is_some_and(|d| d > std::time::Duration::from_millis(40));
        let factor = if slow && response.dragged() { 0.5 } else { 1.0 };
        let size_px = [area.width(), area.height()]
            .map(|x| ((x * ppp * factor).round() as u32).clamp(1, 4096));
        let (orbit, mode) = (display.orbit, display.mode3d);
        match self.view3d.picture(
            &ctx,
            volume,
            (display.uid, 0),
            (entry.stats.min, entry.stats.max),
            orbit,
            mode,
            display.window,
            size_px,
        ) {
            Ok(id) => {
                let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
                painter.image(id, area, uv, Color32::WHITE);
                let ijk = [display.cross[0], display.cross[1], display.k].map(|c| c as f64);
                let lps = volume.world_from_voxel().apply(ijk);
                if let Some(p) = View3d::screen_of(volume, orbit, area, size_px, lps) {
                    painter.circle_stroke(p, 4.0, egui::Stroke::new(1.5, theme::CROSS_3D));
                }
            }
            Err(e) => {
                painter.text(
                    area.center(),
                    egui::Align2::CENTER_CENTER,
                    e,
                    egui::FontId::proportional(14.0),
                    theme::MUTED,
                );
            }
        }
        pane_title(
            &painter,
            area,
            &format!("3D · {}", mode.name()),
            theme::CROSS_3D,
        );
        let corner = Rect::from_min_size(
            area.right_top() + Vec2::new(-206.0, 4.0),
            Vec2::new(200.0, 24.0),
        );
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(corner));
        egui::ComboBox::new("mode3d", "Rendering")
            .selected_text(mode.name())
            .width(120.0)
            .show_ui(&mut child, |ui| {
                for m in Mode3d::all() {
                    if ui.selectable_label(m == mode, m.name()).clicked() {
                        self.commands.push(Command::SetMode3d(m));
                    }
                }
            });
        if response.double_clicked() {
            self.commands.push(Command::ResetOrbit);
        } else if response.dragged_by(PointerButton::Primary) {
            self.commands.push(Command::Orbit(response.drag_delta()));
        }
        if response.dragged_by(PointerButton::Secondary) {
            self.window_drag(&response);
        }
        if response.contains_pointer() {
            let wheel = wheel_lines(ui);
            if wheel != 0.0 {
                self.commands.push(Command::Zoom3d(1.15f32.powf(wheel)));
            }
        }
    }
}
