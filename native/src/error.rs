//! The one error type of the native nodes. Each variant says what went wrong, where, and what
//! was expected; the Python bindings map it to the matching Python exception class.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum NativeError {
    /// The input file does not exist.
    NotFound { path: PathBuf, role: &'static str },
    /// Reading or writing a file failed for another reason.
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// A column named in the job is not in the file's header.
    UnknownColumn {
        column: String,
        role: &'static str,
        available: Vec<String>,
    },
    /// A field that must be a number (or a boolean, for a `bool` column) is not one.
    BadNumber {
        line: u64,
        row: u64,
        column: String,
        expected: &'static str,
        value: String,
    },
    /// The CSV text itself is malformed (wrong field count, invalid UTF-8 in a header, ...).
    Csv { path: PathBuf, message: String },
    /// A parameter has the wrong shape or value.
    Invalid(String),
    /// The caller set the cancel flag; the work stopped early.
    Cancelled { rows_read: u64 },
    /// The parallel pass cannot run this file and the job asked for no sequential fallback.
    Unsupported(String),
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { path, role } => {
                write!(f, "{role} '{}' does not exist (check the path; relative paths are resolved from the engine's working directory)", path.display())
            }
            Self::Io {
                path,
                action,
                source,
            } => {
                write!(f, "cannot {action} '{}': {source}", path.display())
            }
            Self::UnknownColumn {
                column,
                role,
                available,
            } => write!(
                f,
                "unknown column '{column}' in {role}; available columns: {}",
                available.join(", ")
            ),
            Self::BadNumber {
                line,
                row,
                column,
                expected,
                value,
            } => write!(
                f,
                "line {line} (data row {row}), column '{column}': expected {expected}, got '{value}'"
            ),
            Self::Csv { path, message } => {
                write!(f, "malformed CSV in '{}': {message}", path.display())
            }
            Self::Invalid(message) => f.write_str(message),
            Self::Cancelled { rows_read } => {
                write!(f, "cancelled by the caller after {rows_read} rows")
            }
            Self::Unsupported(reason) => write!(
                f,
                "the parallel pass cannot read this file: {reason} (set 'fallback' to read it sequentially)"
            ),
        }
    }
}

impl std::error::Error for NativeError {}

impl NativeError {
    /// Wrap an I/O error, turning "not found" into the clearer [`NativeError::NotFound`].
    pub fn io(
        path: &std::path::Path,
        action: &'static str,
        role: &'static str,
        source: std::io::Error,
    ) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound && action == "open" {
            Self::NotFound {
                path: path.to_path_buf(),
                role,
            }
        } else {
            Self::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        }
    }

    /// Translate an error of the `csv` crate, keeping its line number.
    pub fn csv(path: &std::path::Path, err: csv::Error) -> Self {
        let at = err
            .position()
            .map(|p| format!("line {}: ", p.line()))
            .unwrap_or_default();
        match err.into_kind() {
            csv::ErrorKind::Io(source) => Self::Io {
                path: path.to_path_buf(),
                action: "read",
                source,
            },
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => Self::Csv {
                path: path.to_path_buf(),
                message: format!(
                    "{at}expected {expected_len} fields (as in the header), found {len}"
                ),
            },
            other => Self::Csv {
                path: path.to_path_buf(),
                message: format!("{at}{other:?}"),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, NativeError>;
