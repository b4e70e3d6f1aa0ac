//! How one image is viewed (slice, window, zoom, pan, crosshair, 3D orbit), kept apart from its
//! voxels, and the view commands that change it.

use crate::ui::command::Command;
use crate::ui::loader::ImageEntry;
use crate::ui::slice::Window;
use crate::ui::view3d::{Mode3d, Orbit};
use egui::{Rect, Vec2};

/// View settings of one image, kept apart from its voxels.
pub(in crate::ui) struct ViewState {
    pub(in crate::ui) k: usize,
    pub(in crate::ui) window: Window,
    /// Index into the image's window presets; `None` after a manual change or for the data range.
    pub(in crate::ui) preset: Option<usize>,
    /// Zoom relative to fitting the viewport.
    pub(in crate::ui) zoom: f32,
    /// Offset of the image centre from the viewport centre, in points.
    pub(in crate::ui) pan: Vec2,
    /// Crosshair column i and row j (its slice is `k`): where the planes across i and j cut.
    pub(in crate::ui) cross: [usize; 2],
    /// The 3D view's camera and mode.
    pub(in crate::ui) orbit: Orbit,
    pub(in crate::ui) mode3d: Mode3d,
    /// Distinguishes loaded images for the 3D view's texture cache (indices shift when images close).
    pub(in crate::ui) uid: u64,
}

impl ViewState {
    /// Applies a view command (slice, window, zoom, pan, crosshair, 3D camera) for `entry`, shown
    /// in `shown` (the plane's rectangle, for zooming about the cursor); other commands are ignored.
    pub(in crate::ui) fn apply(
        &mut self,
        entry: &ImageEntry,
        shown: Option<Rect>,
        command: Command,
    ) {
        let display = self;
        let last_k = entry.volume.size()[2].saturating_sub(1);
        let presets = &entry.presets;
        match command {
            Command::StepSlice(delta) => {
                let k = i64::try_from(display.k)
                    .unwrap_or(i64::MAX)
                    .saturating_add(delta);
                display.k = usize::try_from(k.max(0)).unwrap_or(usize::MAX).min(last_k);
            }
            Command::SetSlice(k) => display.k = k.min(last_k),
            Command::AdjustWindow { dwidth, dcenter } => {
                let w = display.window;
                display.window = Window::new(w.center + dcenter, w.width + dwidth);
                display.preset = None;
            }
            Command::ResetWindow => {
                display.window = entry.default_window;
                display.preset = presets.iter().position(|(_, w)| *w == entry.default_window);
            }
            Command::NextPreset => {
                let next = display.preset.map_or(0, |p| p + 1) % presets.len().max(1);
                if let Some((_, w)) = presets.get(next) {
                    display.window = *w;
                    display.preset = Some(next);
                }
            }
            Command::SetWindow(w) => {
                display.window = w;
                display.preset = presets.iter().position(|(_, p)| *p == w);
            }
            Command::Pan(d) => display.pan += d,
            Command::Zoom { factor, about } => {
                let zoom = (display.zoom * factor).clamp(0.1, 64.0);
                let f = zoom / display.zoom;
                // Keep the point under the cursor in place: the centre moves away from it by f.
                if let Some(rect) = shown {
                    let centre = rect.center();
                    let new_centre = about + (centre - about) * f;
                    display.pan += new_centre - centre;
                }
                display.zoom = zoom;
            }
            Command::ResetView => {
                display.zoom = 1.0;
                display.pan = Vec2::ZERO;
            }
            Command::SetCursor(ijk) => {
                let size = entry.volume.size();
                let [i, j, k] = [0, 1, 2].map(|a| ijk[a].min(size[a].saturating_sub(1)));
                display.cross = [i, j];
                display.k = k;
            }
            Command::StepPlane { fixed, delta } => {
                let size = entry.volume.size();
                if let Some(at) = display.cross.get_mut(fixed) {
                    let moved = i64::try_from(*at).unwrap_or(i64::MAX).saturating_add(delta);
                    *at = usize::try_from(moved.max(0))
                        .unwrap_or(usize::MAX)
                        .min(size[fixed].saturating_sub(1));
                }
            }
            Command::Orbit(d) => display.orbit.drag(d.x, d.y),
            Command::Zoom3d(f) => {
                display.orbit.zoom = (display.orbit.zoom * f64::from(f)).clamp(0.2, 20.0);
            }
            Command::SetMode3d(m) => display.mode3d = m,
            Command::ResetOrbit => display.orbit = Orbit::default(),
            _ => {}
        }
    }
}
