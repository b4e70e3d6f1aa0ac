//! What the app shows, read from outside the frame (tests, the binary): the open document, the
//! shown image and view, the tool, what is saving and what failed.

use crate::core::Document;
use crate::core::annotation::RegionId;
use crate::ui::command::Command;
use crate::ui::grounding::RegionFilter;
use crate::ui::mpr::Layout;
use crate::ui::prefs::Preferences;
use crate::ui::session::{DocumentSession, SaveState};
use crate::ui::slice::SliceView;
use crate::ui::theme;
use crate::ui::tools::Tool;
use egui::Rect;
use std::path::PathBuf;

use crate::ui::app::AppState;
use crate::ui::loader::ImageEntry;
use crate::ui::view_state::ViewState;

impl AppState {
    /// The names of the selected image's window presets, in the order L cycles through them.
    pub fn window_preset_names(&self) -> Vec<String> {
        self.current()
            .map(|(e, _)| e.presets.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Whose regions the views draw.
    pub fn region_filter(&self) -> RegionFilter {
        self.region_filter
    }

    /// The heatmap and the regions the acquisition-plane view drew last frame.
    pub fn drawn(&self) -> (Option<crate::core::HeatmapId>, &[RegionId]) {
        (self.drawn.0, &self.drawn.1)
    }

    /// Whether the dark theme is in use.
    pub fn is_dark(&self) -> bool {
        self.dark
    }

    /// The settings in use.
    pub fn preferences(&self) -> &Preferences {
        &self.prefs
    }

    /// Uses `prefs`: theme, window presets of the open images (the chosen preset kept when it is
    /// still offered), model folder. Saving is the caller's.
    pub(in crate::ui) fn set_preferences(&mut self, ctx: &egui::Context, prefs: Preferences) {
        self.prefs = prefs;
        self.dark = self.prefs.theme.is_dark(ctx.system_theme());
        theme::apply(ctx, self.dark);
        for (entry, display) in self.images.iter_mut().zip(&mut self.displays) {
            entry.refresh_presets(&self.prefs);
            display.preset = display
                .preset
                .and_then(|_| entry.presets.iter().position(|(_, w)| *w == display.window));
        }
    }

    /// Writes the settings to the config folder (when kept); a failure goes to the status bar.
    pub(in crate::ui) fn save_preferences(&mut self) {
        if let Some(dir) = &self.config {
            let file = crate::ui::prefs::file(dir);
            self.message = Some(match crate::ui::prefs::save_to(&self.prefs, &file) {
                Ok(()) => format!("settings saved in {}", file.display()),
                Err(e) => format!("settings not saved: {e}"),
            });
        }
    }

    /// Makes the demo project in `dir` instead of the user's data folder.
    pub fn set_demo_folder(&mut self, dir: PathBuf) {
        self.demo_folder = Some(dir);
    }

    /// The layout of the centre.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The crosshair (i, j, k) of the selected image.
    pub fn cursor(&self) -> Option<[usize; 3]> {
        let (_, d) = self.current()?;
        Some([d.cross[0], d.cross[1], d.k])
    }

    /// Where the plane across voxel axis `fixed` (0: i, 1: j) was drawn last frame (MPR layouts).
    pub fn plane_view(&self, fixed: usize) -> Option<SliceView> {
        *self.plane_views.get(fixed)?
    }

    /// Where the 3D view was drawn last frame, and the orbit's azimuth and elevation in degrees.
    pub fn view_3d_state(&self) -> Option<(Rect, f64, f64)> {
        let (_, d) = self.current()?;
        Some((self.rect_3d?, d.orbit.azimuth_deg, d.orbit.elevation_deg))
    }

    /// How long the 3D view's latest rendering took (none yet: `None`).
    pub fn last_3d_render(&self) -> Option<std::time::Duration> {
        self.view3d.last_render
    }

    /// True while images or a project are loading.
    pub fn is_loading(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Whether the damaged-project window (with its salvage offer) shows.
    pub fn offers_salvage(&self) -> bool {
        self.damaged.is_open()
    }

    /// The open project's document, if a project is open.
    pub fn document(&self) -> Option<&Document> {
        self.project.as_ref().map(|p| p.doc())
    }

    /// Queues a command as if a panel had pushed it (menus whose dialogs tests cannot click).
    pub fn push_command(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Number of images shown (loose and of the project).
    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Sets who draws (`human:<name>`); projects opened afterwards record it.
    pub fn set_user(&mut self, name: &str) {
        self.user = crate::core::Author::Human(name.to_owned());
    }

    /// How long commits wait for a file another process keeps locked (for projects opened next).
    pub fn set_busy_patience(&mut self, patience: std::time::Duration) {
        self.busy_patience = Some(patience);
    }

    /// The selected image's slice index, if an image is shown.
    pub fn slice(&self) -> Option<usize> {
        self.current().map(|(_, d)| d.k)
    }

    /// The selected image's window (centre, width), if an image is shown.
    pub fn window(&self) -> Option<(f64, f64)> {
        self.current()
            .map(|(_, d)| (d.window.center, d.window.width))
    }

    /// Where the acquisition plane was drawn last frame.
    pub fn slice_view(&self) -> Option<SliceView> {
        self.view
    }

    /// True while a model job runs.
    pub fn model_busy(&self) -> bool {
        self.models.running.is_some()
    }

    /// The status bar's latest message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Where the slice plane was drawn last frame.
    pub fn plane_rect(&self) -> Option<Rect> {
        self.view.map(|v| v.rect)
    }

    /// The active tool.
    pub fn tool(&self) -> Tool {
        self.tool
    }

    /// The selected region, if any.
    pub fn selected_region(&self) -> Option<crate::core::RegionId> {
        self.selected_region
    }

    /// Transactions handed to the writer and not yet in the file.
    pub fn unsaved(&self) -> usize {
        self.project.as_ref().map_or(0, DocumentSession::unsaved)
    }

    /// What the status bar says about saving, when a project is open.
    pub fn save_state(&self) -> Option<SaveState> {
        self.project.as_ref().map(DocumentSession::save_state)
    }

    /// True while the viewer offers to re-apply the project's recovery journal.
    pub fn offers_journal(&self) -> bool {
        self.project
            .as_ref()
            .is_some_and(DocumentSession::offers_journal)
    }

    /// Other writers' changes merged into the open project, and this viewer's saved transactions.
    pub fn sync_counts(&self) -> (usize, usize) {
        self.project
            .as_ref()
            .map_or((0, 0), |p| (p.merged(), p.saved()))
    }

    /// Messages of loads and saves that failed.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.errors.clone();
        if let Some(p) = &self.project {
            out.extend(p.save_errors().iter().cloned());
        }
        out
    }

    /// Waits until every change handed to the project's writer is in the file.
    pub fn flush(&mut self) {
        if let Some(p) = &mut self.project {
            p.flush();
        }
    }

    /// The shown image and how it is viewed.
    pub(in crate::ui) fn current(&self) -> Option<(&ImageEntry, &ViewState)> {
        let s = self.selected?;
        Some((self.images.get(s)?, self.displays.get(s)?))
    }
}
