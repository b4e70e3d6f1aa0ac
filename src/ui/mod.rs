//! The egui application: `voxmark [PATH...]` opens this viewer.
//!
//! Images and projects load on background threads; the left panel lists them (a project's images
//! with their counts and a filter), the centre shows one view, 1×3 MPR or 2×2 with a 3D view
//! ([`mpr`]): the acquisition plane `k` (mirrored to follow the radiological convention of
//! ARCHITECTURE.md §5, never transposed) where the tools draw, the voxel planes across i and j
//! through one crosshair, and the render module's volume pass on the viewer's GPU device
//! (`view3d`). The right panel has the window presets and histogram, labels, the selected region,
//! the report with its phrase spans, the phrases and their regions; the status bar reads out voxel,
//! LPS position and value under the cursor.
//!
//! Panels and tools push commands; `AppState::apply` turns them into calls on the project's
//! `DocumentSession` (`session`), the only owner of the document and its history: each edit is one
//! undo step handed to the project's writer thread at once, and other writers' changes come back
//! from that thread and are merged between steps (ARCHITECTURE.md §7).
//!
//! The 2D views window their planes on the CPU ([`slice`](mod@slice); exact, a few ms per plane in release);
//! the GPU slice pass of the `render` module is used headless (`voxmark render`) and is the next step
//! for them.

mod app;
mod command;
mod damaged;
mod demo;
mod edits;
mod frame;
pub mod grounding;
mod jobs;
mod keymap;
mod loader;
mod models;
pub mod mpr;
mod overlay;
mod panels;
mod paths;
pub mod prefs;
mod queries;
mod recent;
mod recovery;
mod session;
mod shutdown;
pub mod slice;
mod textures;
pub mod tools;
mod view3d;
mod view_state;
mod viewport;
mod welcome;
mod workspace;
mod writer;
pub use app::AppState;
pub use command::Command;
pub use grounding::{HeatmapStyle, RegionFilter};
pub use mpr::Layout;
pub use session::SaveState;
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
