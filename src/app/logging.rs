//! Logs on stderr through `tracing`: plain text for people (the default),
//! or one JSON object per line for log collectors (`serve --log-format
//! json` or `[server] log_format = "json"`). `LIFELINE_LOG` sets the level
//! (error, warn, info, debug, trace; default info).
//!
//! The format must be known before the first line is written, and the
//! configuration's own loading logs; so `serve` reads `[server]
//! log_format` from the file on its own first
//! ([`crate::config::log_format::configured`]) and
//! the full load validates it later like every other key.

pub use crate::config::log_format::LogFormat;

/// Starts logging to stderr in `format`.
pub fn init_logging(format: LogFormat) {
    let level = std::env::var("LIFELINE_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colours only for a terminal: logs read by tools stay plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
