//! Lifeline: an authoritative DNS server whose answers follow the health of
//! the endpoints behind them.
//!
//! ```text
//!  config ──► checks ──► observations ──► verdicts ──► answer sets ──► snapshot ──► DNS server (UDP/TCP)
//!  (TOML,     (HTTP,     (per check,      (per endpoint:  (per record:    (immutable,
//!   zones)    TCP, ICMP,  per location,    rise/fall,      policy, tiers,  swapped
//!             DNS, exec)  with latency)    quorum, admin   failback, TTL)  atomically)
//!                                          overrides)
//! ```
//!
//! **config** ([`config`]): the TOML file and zone files are parsed as
//! written (`config::raw`), then resolved into a validated
//! [`Config`](config::Config): typed values, defaults, limits
//! ([`config::limits`]), zone data read. Every error names file, line and
//! field.
//!
//! **observe** ([`observe`]): HTTP/HTTPS, TCP, ICMP, DNS and exec checks,
//! run by one scheduler on their intervals with jitter, one run in flight
//! per check and a bound on all of them; each run is an
//! [`Observation`](observe::Observation) with per-phase latency.
//!
//! **decide** ([`decide`]): pure functions, time passed in: observations →
//! [`verdicts`](decide::verdict) (rise/fall, all/any, quorum, staleness,
//! overrides, damping, the correlated-failure breaker) → per record an
//! [`AnswerSet`](decide::answer_set::AnswerSet) (tiers, policies, failback,
//! all-down, TTL) that carries its cause. `app::health` owns this state,
//! feeds it, and publishes every change.
//!
//! **publish** ([`publish`]): the zones are checked and assembled into an
//! immutable [`Snapshot`](publish::snapshot::Snapshot), with the answer for
//! every name prebuilt in wire format ([`publish::prebuilt`]); answer sets
//! live in its dynamic part ([`publish::dynamic`]), also prebuilt, with the
//! zones' serials. A change or a reload builds the next snapshot off the
//! query path and swaps it in atomically; every change is an
//! [`Event`](publish::event::Event).
//!
//! **persist** ([`persist`]): operator overrides and sticky failover state
//! in an SQLite file, durable before they are acknowledged; each endpoint's
//! last verdict, resumed on start, and the event history, written in
//! batches and pruned to a retention;
//! webhook deliveries not yet made.
//!
//! **notify** ([`notify`]): events POSTed to `[[webhook]]` URLs as signed
//! JSON, per-record lanes in order, retried with backoff, queued in the
//! store so that a restart resends them.
//!
//! **serve** ([`serve`]): the DNS server reads the current snapshot without
//! locks. UDP runs on one thread per core with batched
//! `recvmmsg`/`sendmmsg` and answers plain queries in place from the
//! prebuilt table ([`serve::dns::fast`]); everything else, and TCP, goes
//! through the general answer path ([`serve::dns::answer`]). The HTTP API
//! ([`serve::http`]) shows what the health engine decided and why, takes
//! the operator's overrides, failbacks and reloads, serves Prometheus
//! metrics and a live status page at `/`; the `lifeline status`, `drain`,
//! `events`, ... commands are its client.
//!
//! [`dns`] holds the wire vocabulary the stages share; [`app`] wires the
//! stages together and owns startup, reload and shutdown.

pub mod app;
pub mod config;
pub mod decide;
pub mod dns;
pub mod notify;
pub mod observe;
pub mod persist;
pub mod publish;
pub mod serve;
