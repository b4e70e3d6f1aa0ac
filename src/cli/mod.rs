//! Headless commands (ARCHITECTURE.md §5). Never uses `ui`.

pub mod info;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit status for a user error (bad input); internal errors exit with 2.
pub const EXIT_USER_ERROR: i32 = 1;
/// Exit status for an internal error.
pub const EXIT_INTERNAL_ERROR: i32 = 2;

/// Voxmark: view and annotate medical images (DICOM, NIfTI, chest X-rays) and build phrase-grounding datasets.
#[derive(Parser, Debug)]
#[command(name = "voxmark", version, about, long_about = None)]
pub struct Cli {
    /// A command; without one, the viewer opens the given paths.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Files, folders or a .voxmark project to open in the viewer.
    pub paths: Vec<PathBuf>,
}

/// The headless commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the images and series found under PATHs, with geometry (LPS mm) and value range.
    Info(info::InfoArgs),
}

/// Runs a parsed command; returns the process exit code.
pub fn run(command: Command) -> i32 {
    match command {
        Command::Info(args) => info::run(&args),
    }
}
