//! `[server] log_format` and `serve --log-format`: how log lines are
//! written (see `app::logging`). The server needs the format before the
//! configuration's full load, which logs; so [`configured`] reads just this
//! key from the file, and the full load validates it with its place in
//! the file like every other key.

use std::path::Path;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO lifeline::app: message key=value`
    #[default]
    Text,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":…,"key":…},"target":…}`
    Json,
}

impl LogFormat {
    /// The format named `text` as written in the configuration.
    pub fn parse(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("\"{other}\" is not a log format: \"text\" or \"json\"")),
        }
    }
}

/// `[server] log_format` of the configuration file at `path`, if it can be
/// read and says one; anything wrong with it is for the full load to
/// report, with its place in the file.
pub fn configured(path: &Path) -> Option<LogFormat> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let format = table.get("server")?.get("log_format")?.as_str()?;
    LogFormat::parse(format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_the_file_is_read_without_a_full_load() {
        assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Ok(LogFormat::Text));
        assert!(LogFormat::parse("JSON").unwrap_err().contains("\"text\" or \"json\""));
        let path = std::env::temp_dir().join(format!("lifeline-log-format-{}.toml", std::process::id()));
        std::fs::write(&path, "[server]\nlog_format = \"json\"\nunknown = 1\n").unwrap();
        assert_eq!(configured(&path), Some(LogFormat::Json));
        std::fs::write(&path, "[server]\nlog_format = \"xml\"\n").unwrap();
        assert_eq!(configured(&path), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(configured(&path), None);
    }
}
