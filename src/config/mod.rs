//! Configuration: the TOML file as written ([`raw`]) is resolved into the
//! validated [`Config`] the program runs on ([`resolved`]); zone files are
//! read with [`zonefile`]; every limit lives in [`limits`].

pub mod api;
pub mod error;
pub mod families;
pub mod health;
pub mod limits;
pub mod log_format;
pub mod raw;
pub mod resolved;
pub mod webhook;
pub mod zonefile;

pub use api::ApiConfig;
pub use error::ConfigError;
pub use resolved::{Config, Sources, ZoneData, load};
pub use webhook::WebhookConfig;
