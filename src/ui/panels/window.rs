//! The window panel: presets, width and centre, and the histogram of the shown image.

use crate::ui::command::Command;
use crate::ui::theme;
use egui::Ui;

use crate::ui::app::AppState;
use crate::ui::panels::status::format_value;

impl AppState {
    /// Window presets and the histogram of the image's values with the window drawn over it (the
    /// grey ramp from black at C − W/2 to white at C + W/2). Counts are shown on a log scale so the
    /// air and background peaks do not flatten everything else.
    pub(in crate::ui) fn window_section(&mut self, ui: &mut Ui) {
        let Some((entry, display)) = self.current() else {
            return;
        };
        let (window, presets) = (display.window, &entry.presets);
        let current = display
            .preset
            .and_then(|p| presets.get(p))
            .map_or_else(|| "custom".to_owned(), |(n, _)| n.clone());
        let mut picked = None;
        ui.horizontal(|ui| {
            egui::ComboBox::new("window-preset", "Window")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (name, w) in presets {
                        let label = format!(
                            "{name}  C {} W {}",
                            format_value(w.center),
                            format_value(w.width)
                        );
                        if ui.selectable_label(*w == window, label).clicked() {
                            picked = Some(*w);
                        }
                    }
                });
        });
        if self.show_histogram {
            let h = &entry.histogram;
            // A constant image (every voxel one value) has an empty value range: its one bar
            // gets a unit width around the value.
            let (x0, x1) = if h.hi > h.lo {
                (h.lo, h.hi)
            } else {
                let v = if h.lo.is_finite() { h.lo } else { 0.0 };
                (v - 0.5, v + 0.5)
            };
            let width = if h.hi > h.lo { h.bin_width() } else { 1.0 };
            let bars: Vec<egui_plot::Bar> = h
                .counts
                .iter()
                .enumerate()
                .map(|(b, &c)| {
                    egui_plot::Bar::new(x0 + (b as f64 + 0.5) * width, (1.0 + c as f64).log10())
                        .width(width)
                        .fill(theme::HISTOGRAM)
                        .stroke(egui::Stroke::NONE)
                })
                .collect();
            let top = bars.iter().map(|b| b.value).fold(1.0, f64::max);
            let (lo, hi) = (
                window.center - window.width / 2.0,
                window.center + window.width / 2.0,
            );
            let ramp = vec![[x0.min(lo), 0.0], [lo, 0.0], [hi, top], [x1.max(hi), top]];
            // One plot per image: a plot keeps its axis in memory under its id.
            egui_plot::Plot::new(("histogram", display.uid))
                .height(90.0)
                .show_y(false)
                .show_axes([true, false])
                .show_grid(false)
                .allow_zoom(false)
                .allow_drag(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .default_x_bounds(x0, x1)
                .default_y_bounds(0.0, top * 1.05)
                .show(ui, |plot| {
                    plot.bar_chart(egui_plot::BarChart::new("values", bars));
                    plot.line(
                        egui_plot::Line::new("window", ramp)
                            .color(theme::HISTOGRAM_WINDOW)
                            .width(1.5),
                    );
                });
        }
        if let Some(w) = picked {
            self.commands.push(Command::SetWindow(w));
        }
        ui.separator();
    }
}
