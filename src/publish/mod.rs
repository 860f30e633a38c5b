//! The publish stage: turn configuration (and, later, answer sets) into an
//! immutable [`Snapshot`](snapshot::Snapshot) and swap it in whole.

pub mod prebuilt;
pub mod snapshot;
pub mod zone;

use crate::config::Config;
use zone::{Zone, ZoneError};

/// Builds every zone of the configuration and the snapshot serving them.
/// The zone data is consumed: a large zone is not held twice.
pub fn build_snapshot(config: &mut Config) -> Result<snapshot::Snapshot, ZoneError> {
    let zones = std::mem::take(&mut config.zones)
        .into_iter()
        .map(|z| Zone::build(z.origin, &z.source, z.records))
        .collect::<Result<Vec<_>, _>>()?;
    let identity = snapshot::Identity {
        version: config.version.clone(),
        hostname: config.identity.clone(),
        nsid: config.nsid.clone(),
    };
    Ok(snapshot::Snapshot::build(
        zones,
        identity,
        config.edns_udp_size,
    ))
}
