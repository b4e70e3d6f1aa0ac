//! Ending on a signal (ARCHITECTURE.md §4): SIGTERM (what a desktop logout sends), SIGINT and SIGHUP
//! close the viewer the way its Quit does, so that the open stroke is ended, the writer drains its
//! queue and the project is checkpointed into its `.voxmark` file before the process ends. If the
//! window does not close within [`GRACE`], the project file is checkpointed from here and the
//! process exits.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// How long a signalled viewer has to close by itself.
pub const GRACE: Duration = Duration::from_secs(8);

/// The project file open in the viewer, for the last-resort checkpoint.
static OPEN_PROJECT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Records which project file is open (`None` when none is).
pub fn set_open_project(path: Option<PathBuf>) {
    *OPEN_PROJECT.lock().unwrap_or_else(|p| p.into_inner()) = path;
}

/// Starts listening for SIGTERM, SIGINT and SIGHUP; each asks `ctx`'s window to close.
#[cfg(unix)]
pub fn install(ctx: egui::Context) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("voxmark-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
                std::thread::sleep(GRACE);
                last_resort();
                std::process::exit(1);
            }
        });
    if let Err(e) = spawned {
        eprintln!("voxmark: signals will not close the viewer cleanly ({e}); use File → Quit");
    }
}

/// Not on this platform: the window's own close path saves.
#[cfg(not(unix))]
pub fn install(_ctx: egui::Context) {}

/// The window did not close in time: copy what the WAL holds into the file from a connection of
/// our own (commits are in the WAL already; this makes the file complete on its own).
fn last_resort() {
    let path = OPEN_PROJECT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(path) = path
        && let Ok(p) = crate::store::Project::open(&path)
    {
        // The last resort of a process that is ending: nothing is left to report to.
        p.checkpoint().ok();
    }
}
