//! The decide stage: pure, deterministic functions from observations to
//! verdicts ([`verdict`]), through the guards that keep verdicts from
//! moving answers when they should not ([`guard`]: the correlated-failure
//! breaker, the startup grace), to answer sets ([`answer_set`]).
//!
//! No I/O, no clock reads, no randomness that is not passed in: time comes
//! in as [`Millis`] on a monotonic clock chosen by the caller. The same
//! inputs give the same outputs on every node, and tests drive every
//! transition with virtual time: unit tests next to each rule, and the
//! scenario files `tests/scenarios/*.toml` (a configuration plus a timeline
//! of failures and expected answers, played by `scenarios.rs`).
//!
//! [`from_config`] turns the resolved configuration into the
//! specifications both halves run on, and fixes the numbering of
//! endpoints, checks and records that observations use.

pub mod answer_set;
pub mod from_config;
pub mod guard;
#[cfg(test)]
mod scenarios;
pub mod verdict;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// An endpoint, by its index in the resolved configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointId(pub u32);

/// A check definition (`[check.NAME]`), by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckId(pub u32);

/// A check location: 0 is the local node; probe agents get others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocationId(pub u16);

/// A health-checked record, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId(pub u32);

/// One result of one check of one endpoint from one location, as decide
/// sees it (the observe stage's `Observation` carries more detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub endpoint: EndpointId,
    pub check: CheckId,
    pub location: LocationId,
    pub ok: bool,
    pub at: Millis,
}

/// An address an endpoint answers with.
pub type Address = IpAddr;
