//! How the API and the CLI name override modes. Overrides themselves are
//! kept by the health engine (`app::health`), with who set them, why and
//! until when, so that expiry, scheduling and restarts are handled in one
//! place.

use crate::decide::verdict::Override;

/// `auto`, `drain`, `force-up`: how the API and the CLI name a mode.
pub fn mode_name(mode: Override) -> &'static str {
    match mode {
        Override::Auto => "auto",
        Override::Drain => "drain",
        Override::ForceUp => "force-up",
    }
}
