//! The `voxmark` executable: parse the command line, then run a headless command or the viewer.

use clap::Parser as _;
use voxmark::cli::{self, Cli};

fn main() {
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version print and succeed; a wrong command line is a user error (exit 1).
            let code = if e.use_stderr() {
                cli::EXIT_USER_ERROR
            } else {
                0
            };
            // With stdout or stderr closed there is nowhere left to say it; the exit code does.
            e.print().ok();
            std::process::exit(code);
        }
    };
    let code = match args.command {
        Some(command) => cli::run(command),
        None => run_viewer(args.paths),
    };
    std::process::exit(code);
}

#[cfg(feature = "gui")]
fn run_viewer(paths: Vec<std::path::PathBuf>) -> i32 {
    match voxmark::ui::run(paths) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::EXIT_INTERNAL_ERROR
        }
    }
}

#[cfg(not(feature = "gui"))]
fn run_viewer(_paths: Vec<std::path::PathBuf>) -> i32 {
    eprintln!(
        "error: this build has no viewer (built without the `gui` feature); see `voxmark --help` for the headless commands"
    );
    cli::EXIT_USER_ERROR
}
