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
        Some(command) => quiet_on_broken_pipe(|| cli::run(command)),
        None => run_viewer(args.paths),
    };
    std::process::exit(code);
}

/// `voxmark ls P | head -1`: when whoever reads the output stops reading, the command ends quietly
/// with exit 0, as coreutils do, instead of `println!` panicking on the broken pipe. Any other
/// panic goes on as it was.
fn quiet_on_broken_pipe(run: impl FnOnce() -> i32) -> i32 {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            previous(info);
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(code) => code,
        Err(payload) if is_broken_pipe(payload.as_ref()) => 0,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Whether a panic is `println!`/`eprintln!` finding its pipe closed.
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to std") && text.contains("Broken pipe")
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
