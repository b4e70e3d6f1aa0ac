//! The egui application: `voxmark [PATH...]` opens this viewer.
//!
//! A first viewer: images load on a background thread, the left panel lists them, the centre shows
//! one voxel plane `k` of the selected image (the volume's own slice axis, mirrored where needed to
//! follow the radiological convention of ARCHITECTURE.md §5, never transposed) with physical proportions, and the status bar reads out voxel, LPS position and value under the cursor.
//!
//! `voxmark study.voxmark` (or a project dropped on the window) opens a project: its records and
//! annotations are read on the loading thread, then each image's pixels from the files the project
//! names; images whose files are gone are listed with the `voxmark relink` hint and the rest stay
//! usable. The left panel lists the project's images with counts of regions by status, phrases and
//! links; the centre draws the selected image's regions on the current slice through the same
//! [`slice::SliceView`] mapping as the slice and the cursor read-out; the right panel shows the
//! report, its phrases with their linked regions as chips (hover one to highlight its regions), and
//! the regions.
//!
//! **Read-only for now**: nothing here changes a project; the annotation tools, commands through
//! `AppState::apply` and undo (ARCHITECTURE.md §7) come next.
//!
//! Slices are windowed on the CPU for now ([`slice`]): each change of slice or window re-uploads one
//! texture. The wgpu shader path of the `render` module (ARCHITECTURE.md §6) replaces this later.

mod app;
mod demo;
mod loader;
pub mod mpr;
mod overlay;
mod project;
mod recent;
pub mod slice;
pub mod tools;
mod view3d;
mod writer;
pub use app::{AppState, Command};
pub use mpr::Layout;
pub mod theme;

use std::path::PathBuf;

/// Opens the viewer window and loads `paths` (files, folders or `.voxmark` projects) in the
/// background; returns when the window closes.
///
/// # Errors
/// When no window or graphics context can be created.
pub fn run(paths: Vec<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("Voxmark")
            .with_app_id("voxmark")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([480.0, 320.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "voxmark",
        options,
        Box::new(move |cc| Ok(Box::new(app::AppState::new(cc, paths)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the viewer window: {e}"))
}
