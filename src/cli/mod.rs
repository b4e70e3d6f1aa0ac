//! Headless commands (ARCHITECTURE.md §5). Never uses `ui`.

pub mod error;
pub mod eval;
pub mod export;
pub mod grounding;
pub mod import;
#[cfg(feature = "inference")]
pub mod infer;
pub mod info;
pub mod masks;
pub mod project;
#[cfg(feature = "gpu")]
pub mod render;
pub mod sr;
pub mod stats;

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
    /// Create an empty project file.
    New(project::NewArgs),
    /// Add images to a project (one per series or file), optionally with a report.
    Add(project::AddArgs),
    /// List a project's images with counts of regions, phrases and links.
    Ls(project::LsArgs),
    /// Check a project: SQLite integrity and Voxmark's invariants.
    Check(project::CheckArgs),
    /// Copy a project consistently (SQLite online backup) while others may be writing it.
    Copy(project::CopyArgs),
    /// Re-apply the transactions a writer could not save (the project's recovery journal).
    Recover(project::RecoverArgs),
    /// Copy every row of a damaged project that can still be read into a new, sound project.
    Salvage(project::SalvageArgs),
    /// Point an image of a project at files that moved.
    Relink(project::RelinkArgs),
    /// Render a slice (axial, coronal, sagittal) or a 3D view (MIP, MinIP, DVR) to a PNG on the GPU, offscreen.
    #[cfg(feature = "gpu")]
    Render(render::RenderArgs),
    /// Render (unavailable: this build has no GPU support).
    #[cfg(not(feature = "gpu"))]
    #[command(hide = true)]
    Render {
        /// Ignored.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Import grounding annotations or model predictions into a project.
    Import(grounding::ImportArgs),
    /// Export a project's grounding annotations.
    Export(grounding::ExportArgs),
    /// Compare one author's regions with another's: IoU, Dice, Acc@IoU≥0.5, pointing game.
    Eval(grounding::EvalArgs),
    /// Measure each region: a line's length, an outline's area, a volume, and the image's values
    /// inside (mean, SD, min, max).
    Stats(stats::StatsArgs),
    /// Which ONNX Runtime library was found, its version and execution providers.
    #[cfg(feature = "inference")]
    Doctor(infer::DoctorArgs),
    /// Run a model on a project image; its output becomes proposed regions.
    #[cfg(feature = "inference")]
    Infer(infer::InferArgs),
    /// Commit transactions in a loop (for the crash test).
    #[command(hide = true)]
    StressCommit(project::StressArgs),
}

/// Runs a parsed command; returns the process exit code.
pub fn run(command: Command) -> i32 {
    match command {
        Command::Info(args) => error::exit_code(info::run(&args)),
        Command::New(args) => error::exit_code(project::new(&args)),
        Command::Add(args) => error::exit_code(project::add(&args)),
        Command::Ls(args) => error::exit_code(project::ls(&args)),
        Command::Check(args) => error::exit_code(project::check(&args)),
        Command::Relink(args) => error::exit_code(project::relink(&args)),
        Command::Copy(args) => error::exit_code(project::copy(&args)),
        Command::Recover(args) => error::exit_code(project::recover(&args)),
        Command::Salvage(args) => error::exit_code(project::salvage(&args)),
        #[cfg(feature = "gpu")]
        Command::Render(args) => error::exit_code(render::run(&args)),
        #[cfg(not(feature = "gpu"))]
        Command::Render { .. } => error::exit_code(Err(error::CliError::user(
            "this build has no GPU support (built without the `gpu` feature), so `voxmark render` is unavailable",
        ))),
        Command::StressCommit(args) => error::exit_code(project::stress(&args)),
        Command::Import(args) => error::exit_code(import::run(&args)),
        Command::Export(args) => error::exit_code(export::run(&args)),
        Command::Eval(args) => error::exit_code(eval::run(&args)),
        Command::Stats(args) => error::exit_code(stats::run(&args)),
        #[cfg(feature = "inference")]
        Command::Doctor(args) => error::exit_code(infer::doctor(&args)),
        #[cfg(feature = "inference")]
        Command::Infer(args) => error::exit_code(infer::infer(&args)),
    }
}
