//! The egui application: `voxmark [PATH...]` opens this viewer.
//!
//! A first viewer: images load on a background thread, the left panel lists them, the centre shows
//! one voxel plane `k` of the selected image (the volume's own slice axis, mirrored where needed to
//! follow the radiological convention of ARCHITECTURE.md §5, never transposed) with physical proportions, and the status bar reads out voxel, LPS position and value under the cursor.
//!
//! Slices are windowed on the CPU for now ([`slice`]): each change of slice or window re-uploads one
//! texture. The wgpu shader path of the `render` module (ARCHITECTURE.md §6) replaces this later.

mod app;
mod loader;
pub mod slice;
pub mod theme;

use std::path::PathBuf;

/// Opens the viewer window and loads `paths` (files or folders) in the background; returns when the
/// window closes.
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
        Box::new(move |cc| Ok(Box::new(app::ViewerApp::new(cc, paths)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the viewer window: {e}"))
}
