//! Configuration errors: each says which file, line and field, what was
//! wrong, and what would be right.

use std::fmt;
use std::path::PathBuf;

/// Where in which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` in `text`.
    pub fn at(file: &str, text: &str, offset: usize) -> Location {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Location {
            file: file.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{location}: {field}: {message}")]
    Field {
        location: Location,
        field: String,
        message: String,
    },
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
    #[error(transparent)]
    Zone(#[from] crate::publish::zone::ZoneError),
    #[error("no zones to serve: add a [[zone]] to the configuration or pass --zone ORIGIN=FILE")]
    NoZones,
}
