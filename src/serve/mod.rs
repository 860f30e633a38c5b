//! The serve stage: DNS over UDP and TCP from the current snapshot.

pub mod dns;
