//! The publish stage: turn configuration and answer sets into an immutable
//! [`Snapshot`](snapshot::Snapshot) and swap it in whole.

pub mod dynamic;
pub mod event;
pub mod index;
pub mod prebuilt;
pub mod snapshot;
pub mod zone;

use crate::config::Config;
use crate::dns::Name;
use dynamic::DynamicAnswer;
use snapshot::SlotSpec;
use zone::{Zone, ZoneError};

/// The slot of each health-checked record, in configuration order.
pub fn slots(config: &Config) -> Vec<SlotSpec> {
    config
        .records
        .iter()
        .map(|r| SlotSpec {
            name: r.name.clone(),
            rtype: r.rtype,
        })
        .collect()
}

/// Builds every zone of the configuration and the snapshot serving them,
/// with `answers` as the first answer of each health-checked record. The
/// zone data is consumed: a large zone is not held twice.
pub fn build_snapshot(config: &mut Config, answers: Vec<DynamicAnswer>) -> Result<snapshot::Snapshot, ZoneError> {
    let slots = slots(config);
    let zone_data = std::mem::take(&mut config.zones);
    let origins: Vec<Name> = zone_data.iter().map(|z| z.origin.clone()).collect();
    let mut dynamic_names: Vec<Vec<Name>> = vec![Vec::new(); zone_data.len()];
    for slot in &slots {
        let most_specific = origins
            .iter()
            .enumerate()
            .filter(|(_, o)| slot.name.ends_with(o))
            .max_by_key(|(_, o)| o.wire().len())
            .map(|(i, _)| i);
        if let Some(i) = most_specific {
            dynamic_names[i].push(slot.name.clone());
        }
    }
    let zones = zone_data
        .into_iter()
        .zip(&dynamic_names)
        .map(|(z, names)| Zone::build(z.origin, &z.source, z.records, names))
        .collect::<Result<Vec<_>, _>>()?;
    let identity = snapshot::Identity {
        version: config.version.clone(),
        hostname: config.identity.clone(),
        nsid: config.nsid.clone(),
    };
    Ok(snapshot::Snapshot::build(
        zones,
        &slots,
        answers,
        identity,
        config.edns_udp_size,
    ))
}
