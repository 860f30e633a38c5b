//! The DNS server: the UDP hot path ([`udp`], [`fast`]), TCP ([`tcp`]),
//! and the general answer path ([`answer`]) both fall back on; the query
//! counters metrics read ([`stats`]).

pub mod answer;
pub mod fast;
pub mod query;
pub mod stats;
pub mod tcp;
pub mod udp;

pub use answer::Transport;
