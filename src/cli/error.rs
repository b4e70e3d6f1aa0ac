//! The CLI's one error type and its mapping to exit codes (ARCHITECTURE.md §5: 0 success, 1 user
//! error, 2 internal error). Errors are printed once, where the command ends.

use super::{EXIT_INTERNAL_ERROR, EXIT_USER_ERROR};
use crate::core::EditError;
use crate::io::IoError;
use crate::store::StoreError;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input: a file, an argument or a project that does not hold what was asked (exit 1).
    User(String),
    /// Something that should not happen: a database or serialisation failure (exit 2).
    Internal(String),
}

impl CliError {
    /// A user error with this message.
    pub fn user(why: impl std::fmt::Display) -> Self {
        CliError::User(why.to_string())
    }

    /// An internal error with this message.
    pub fn internal(why: impl std::fmt::Display) -> Self {
        CliError::Internal(why.to_string())
    }

    /// Prints the error and gives the exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::User(why) => {
                eprintln!("error: {why}");
                EXIT_USER_ERROR
            }
            CliError::Internal(why) => {
                eprintln!("error: {why}");
                EXIT_INTERNAL_ERROR
            }
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Sql { .. } => CliError::Internal(e.to_string()),
            _ => CliError::User(e.to_string()),
        }
    }
}

impl From<IoError> for CliError {
    fn from(e: IoError) -> Self {
        CliError::User(e.to_string())
    }
}

impl From<EditError> for CliError {
    fn from(e: EditError) -> Self {
        CliError::User(e.to_string())
    }
}

/// The exit code of a command's result (0, or the error printed and its code).
pub fn exit_code(result: Result<(), CliError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => e.exit_code(),
    }
}
