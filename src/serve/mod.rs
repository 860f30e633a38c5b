//! The serve stage: DNS over UDP and TCP from the current snapshot, and
//! the HTTP API over the health engine.

pub mod dns;
pub mod http;
