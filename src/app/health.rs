//! The health runtime: runs the checks (observe), feeds their results to
//! the pure decide stage, and publishes every changed answer (publish).
//!
//! One task owns all decide state. Observations arrive from the scheduler
//! on a channel; each is fanned out to the (endpoint, check) pairs that
//! share the probe, turned into verdict changes, then into answer sets for
//! the records concerned; a record whose served answer changed gets a new
//! slot in the snapshot's dynamic part, swapped in at once. Time-based
//! transitions (failback holds, staleness) wake the task at their
//! deadline.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::Config;
use crate::config::health::{BodyMatch as ConfigBody, CheckConfig, CheckKind, EndpointConfig, RecordConfig};
use crate::decide::answer_set::{self, Answer, AnswerSet, RecordState};
use crate::decide::from_config::{self, Specs};
use crate::decide::guard::{BreakerChange, Guard};
use crate::decide::verdict::{Override, VerdictChange, Verdicts};
use crate::decide::{CheckId, EndpointId, LocationId, Millis, Outcome};
use crate::observe::{
    BodyMatch, BodyRegex, CaSource, Clients, DnsProbe, ExecProbe, HttpProbe, IcmpProbe, Observation, ProbeKey,
    ProbeKind, ProbeSpec, Scheduler, SchedulerOptions, SchedulerStats, TcpProbe, TlsOptions, TlsVerify,
};
use crate::persist::{Saved, Store};
use crate::publish::dynamic::DynamicAnswer;
use crate::publish::event::{AnswerText, Audit, Event, EventKind};
use crate::publish::snapshot::SharedSnapshot;

mod operator;

pub use crate::decide::answer_set::VARIANTS;
pub use operator::{Applied, Note, Request, Target};
/// Events buffered for slow subscribers before they miss some.
const EVENT_BUFFER: usize = 4096;
/// Observations buffered between the scheduler and the decide task.
const OBSERVATION_BUFFER: usize = 16384;
/// Makes the checker fail on purpose, to see the watchdog at work:
/// `checker-dies-after=2s` or `checker-stalls-after=2s`.
pub const FAULT_ENV: &str = "LIFELINE_FAULT";
/// Longest sleep of the decide task without a deadline: staleness is
/// checked at least this often.
const MAX_IDLE: Duration = Duration::from_millis(500);

/// Who listens to one probe: the (endpoint, check) pairs that share it.
#[derive(Debug, Clone)]
struct Subscriber {
    endpoint: EndpointId,
    check: CheckId,
}

/// Everything derived from the configuration that the runtime needs.
#[derive(Debug)]
pub struct Wiring {
    specs: Specs,
    probes: HashMap<ProbeKey, ProbeSpec>,
    fanout: HashMap<ProbeKey, Vec<Subscriber>>,
    endpoint_names: Vec<String>,
    /// Each endpoint's `key = value` tags.
    endpoint_tags: Vec<Vec<(String, String)>>,
    check_names: Vec<String>,
    record_names: Vec<String>,
    record_types: Vec<u16>,
    /// Records whose answers each endpoint's verdict bears on: its own, and
    /// with `families = "together"` the record of its other family.
    records_of: Vec<Vec<usize>>,
}

impl Wiring {
    /// Derives the probes and decide specs from a configuration.
    pub fn new(config: &Config) -> anyhow::Result<Wiring> {
        let specs = from_config::specs(config)?;
        let mut wiring = Wiring {
            specs,
            probes: HashMap::new(),
            fanout: HashMap::new(),
            endpoint_names: Vec::new(),
            endpoint_tags: Vec::new(),
            check_names: config.checks.iter().map(|c| c.name.clone()).collect(),
            record_names: config.records.iter().map(from_config::record_name).collect(),
            record_types: config.records.iter().map(|r| r.rtype).collect(),
            records_of: Vec::new(),
        };
        for (r, record) in config.records.iter().enumerate() {
            for endpoint in &record.endpoints {
                let id = EndpointId(wiring.endpoint_names.len() as u32);
                wiring.endpoint_names.push(endpoint.name.clone());
                wiring.endpoint_tags.push(endpoint.tags.clone());
                wiring.records_of.push(vec![r]);
                for &c in &endpoint.checks {
                    let check = &config.checks[c];
                    let spec = probe_spec(check, endpoint, record)
                        .with_context(|| format!("check {} of endpoint {}", check.name, endpoint.name))?;
                    let key = ProbeKey::of(&spec);
                    wiring.probes.insert(key, spec);
                    wiring.fanout.entry(key).or_default().push(Subscriber {
                        endpoint: id,
                        check: CheckId(c as u32),
                    });
                }
            }
        }
        for (r, spec) in wiring.specs.records.iter().enumerate() {
            for required in spec.endpoints.iter().flat_map(|e| &e.requires) {
                wiring.records_of[required.0 as usize].push(r);
            }
        }
        Ok(wiring)
    }

    /// How many distinct probes run (identical checks are shared).
    pub fn probe_count(&self) -> usize {
        self.probes.len()
    }
}

/// The probe of one check against one endpoint: its `target`, else its
/// first address.
fn probe_spec(check: &CheckConfig, endpoint: &EndpointConfig, record: &RecordConfig) -> anyhow::Result<ProbeSpec> {
    let target: IpAddr = endpoint.target.unwrap_or(endpoint.addresses[0]);
    let kind = match &check.kind {
        CheckKind::Http(h) => ProbeKind::Http(http_probe(h, record)?),
        CheckKind::Tcp(t) => ProbeKind::Tcp(TcpProbe {
            port: t.port,
            send: t.send.clone().unwrap_or_default(),
            expect: t.expect.clone().unwrap_or_default(),
        }),
        CheckKind::Icmp(i) => ProbeKind::Icmp(IcmpProbe {
            count: i.count as u16,
            size: i.size as u16,
        }),
        CheckKind::Dns(d) => {
            let name = domain::base::Name::from_octets(d.query.wire().to_vec()).context("query name")?;
            let mut probe = DnsProbe::new(name);
            probe.port = d.port;
            probe.rtype = domain::base::iana::Rtype::from_int(d.qtype);
            probe.expect_rcode = domain::base::iana::Rcode::checked_from_int(d.rcode as u8).context("rcode")?;
            probe.expect_address = d.answer;
            ProbeKind::Dns(probe)
        }
        CheckKind::Exec(e) => ProbeKind::Exec(ExecProbe {
            command: e.command.clone().into(),
            args: e.args.clone(),
        }),
    };
    Ok(ProbeSpec {
        target,
        kind,
        timeout: check.timeout,
        interval: check.interval,
    })
}

fn http_probe(h: &crate::config::health::HttpCheck, record: &RecordConfig) -> anyhow::Result<HttpProbe> {
    let mut probe = if h.tls {
        HttpProbe::https(h.port)
    } else {
        HttpProbe::http(h.port)
    };
    probe.method = h.method.parse().context("method")?;
    probe.path = h.path.parse().context("path")?;
    // The Host header defaults to the record's name: the site being checked.
    let host = h
        .host
        .clone()
        .unwrap_or_else(|| record.name.to_string().trim_end_matches('.').to_string());
    probe.host = Some(host.parse().context("host")?);
    probe.headers = h
        .headers
        .iter()
        .map(|(k, v)| Ok((k.parse().context("header name")?, v.parse().context("header value")?)))
        .collect::<anyhow::Result<_>>()?;
    probe.user_agent = h.user_agent.parse().context("user_agent")?;
    probe.expect_status = vec![h.status];
    probe.body = match &h.body {
        None => None,
        Some(ConfigBody::Substring(s)) => Some(BodyMatch::Contains(s.as_bytes().to_vec())),
        Some(ConfigBody::Regex(r)) => Some(BodyMatch::Regex(BodyRegex::new(r)?)),
    };
    probe.body_limit = h.body_limit;
    if h.tls {
        let sni = h.sni.clone().unwrap_or(host);
        let verify = match (h.verify, &h.ca) {
            (false, _) => TlsVerify::Off,
            (true, Some(ca)) => TlsVerify::CustomCa(CaSource::File(ca.clone())),
            (true, None) => TlsVerify::BundledRoots,
        };
        probe.tls = Some(TlsOptions {
            sni: Some(rustls::pki_types::ServerName::try_from(sni).context("sni")?),
            verify,
            cert_warn_days: Some(h.cert_warn_days),
        });
    }
    Ok(probe)
}

/// The decide state and what it has published.
#[derive(Debug)]
struct State {
    wiring: Wiring,
    verdicts: Verdicts,
    guard: Guard,
    records: Vec<RecordState>,
    current: Vec<AnswerSet>,
    epoch: Instant,
    scheduler: Scheduler,
    /// What a new scheduler needs if the running one has to be replaced.
    restart: Restart,
    /// When the last check result arrived.
    last_result: Instant,
    /// Probes whose certificate is close to expiry (one event each).
    expiring: std::collections::HashSet<ProbeKey>,
    /// Overrides and sticky state survive restarts here, if configured.
    store: Option<Store>,
    /// Operator overrides: notes, expiries, scheduled ones.
    operator: operator::Operator,
    /// Endpoints whose threshold machines changed since they were last
    /// written to the store.
    unsaved: BTreeSet<EndpointId>,
}

/// The parts of a scheduler that outlive it: the checkers' clients, the
/// channel results arrive on, the shutdown signal.
#[derive(Debug)]
struct Restart {
    clients: Arc<Clients>,
    results: mpsc::Sender<Observation>,
    shutdown: watch::Receiver<bool>,
    count: u32,
}

/// Why the checker must be restarted, if it must: its driver has ended
/// while the server runs, or no result has arrived for three times the
/// longest check interval plus its timeout although checks are configured
/// (a stalled scheduler). Verdicts meanwhile hold their last values and
/// go stale, never "all up" or "all down" (DESIGN.md §3).
fn checker_stalled(running: bool, probes: usize, silent_for: Duration, longest: Duration) -> Option<&'static str> {
    if probes == 0 {
        return None;
    }
    if !running {
        return Some("the checker stopped");
    }
    (silent_for > longest * 3).then_some("no check result for three times the longest check period")
}

/// The longest interval + timeout among the probes.
fn longest_period(probes: &HashMap<ProbeKey, ProbeSpec>) -> Duration {
    probes
        .values()
        .map(|p| p.interval + p.timeout)
        .max()
        .unwrap_or_default()
}

/// Decide state computed for a configuration before it is served.
#[derive(Debug)]
pub struct Prepared {
    pub wiring: Wiring,
    pub verdicts: Verdicts,
    pub guard: Guard,
    pub records: Vec<RecordState>,
    pub sets: Vec<AnswerSet>,
    /// What the snapshot serves for each record, in record order.
    pub answers: Vec<DynamicAnswer>,
}

/// Builds a snapshot from answers; given to the decide task on reload so
/// that the swap happens where the dynamic state lives.
pub type Build = Box<dyn FnOnce(Vec<DynamicAnswer>) -> anyhow::Result<crate::publish::snapshot::Snapshot> + Send>;

/// What the rest of the program asks of the decide task.
enum Command {
    Reload {
        wiring: Box<Wiring>,
        build: Build,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Override {
        request: Request,
        reply: oneshot::Sender<Result<Applied, ControlError>>,
    },
    Failback {
        record: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    Restore {
        saved: Saved,
        reply: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Reload { .. } => f.write_str("Command::Reload"),
            Command::Status { .. } => f.write_str("Command::Status"),
            Command::Override { request, .. } => write!(f, "Command::Override({}, {:?})", request.target, request.mode),
            Command::Failback { record, .. } => write!(f, "Command::Failback({record})"),
            Command::Restore { .. } => f.write_str("Command::Restore"),
        }
    }
}

/// Why an operator's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no endpoint named \"{0}\"")]
    UnknownEndpoint(String),
    #[error("no endpoint carries the tag {0}")]
    UnknownTag(String),
    #[error("no health-checked record named \"{0}\" (write it as NAME/A or NAME/AAAA)")]
    UnknownRecord(String),
    #[error("the health engine has stopped")]
    Stopped,
    #[error("{0}")]
    Store(String),
}

/// What the decide task knows now: every record's answer set and every
/// endpoint's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// Milliseconds on decide's clock.
    pub now: Millis,
    pub records: Vec<RecordStatus>,
    pub endpoints: Vec<EndpointStatus>,
    /// The check scheduler's counters and schedule lag (for `/metrics`).
    #[serde(skip)]
    pub scheduler: SchedulerStats,
    /// The checker's liveness and the breaker (for `/metrics`).
    #[serde(skip)]
    pub engine: EngineStatus,
}

/// Whether the checker is alive and the breaker holds answers.
#[derive(Debug, Clone, Default)]
pub struct EngineStatus {
    /// Checkers the watchdog replaced because they stopped or stalled.
    pub restarts: u32,
    /// Since the last check result arrived (or the checker started).
    pub silent_for: Duration,
    /// Whether the correlated-failure breaker is configured.
    pub breaker_configured: bool,
    /// The breaker's trip, while it holds answers.
    pub breaker: Option<crate::decide::guard::Trip>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordStatus {
    /// `www.example.test/A`
    pub name: String,
    pub answer: AnswerSet,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointStatus {
    pub name: String,
    pub records: Vec<String>,
    /// The names of its checks, in the order of the verdict's evidence.
    pub checks: Vec<String>,
    pub verdict: Option<crate::decide::verdict::Verdict>,
    /// `key = value` labels from the configuration.
    #[serde(skip)]
    pub tags: Vec<(String, String)>,
    /// Who set the override in force, why, until when.
    #[serde(skip)]
    pub note: Option<Note>,
    /// An override scheduled to start later.
    #[serde(skip)]
    pub scheduled: Option<Note>,
}

impl State {
    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    fn millis(&self, at: Instant) -> Millis {
        at.saturating_duration_since(self.epoch).as_millis() as Millis
    }

    /// Computes record `r`'s answer set now.
    fn compute(&mut self, r: usize, now: Millis) -> AnswerSet {
        let drains = self.operator.drains(self, now);
        let spec = &self.wiring.specs.records[r];
        let health = self.guard.view(&self.verdicts, now);
        let mut set = answer_set::compute(spec, &mut self.records[r], health, now);
        set.lower_ttl(answer_set::lowering::lowered(spec, &drains, now));
        set
    }

    /// The dynamic answer served for an answer set.
    fn served(&self, r: usize, set: &AnswerSet) -> DynamicAnswer {
        dynamic_answer(self.wiring.record_types[r], set, r as u64)
    }
}

/// Turns an answer set into what the snapshot serves.
pub fn dynamic_answer(rtype: u16, set: &AnswerSet, seed: u64) -> DynamicAnswer {
    match &set.answer {
        Answer::Addresses { .. } => {
            let variants = set.variants(VARIANTS, seed);
            if variants.is_empty() || variants.iter().any(Vec::is_empty) {
                DynamicAnswer::nodata(rtype, set.ttl)
            } else if let Some(buckets) = set.buckets() {
                DynamicAnswer::hashed(rtype, set.ttl, variants, buckets)
            } else {
                DynamicAnswer::addresses(rtype, set.ttl, variants)
            }
        }
        Answer::NoData => DynamicAnswer::nodata(rtype, set.ttl),
        Answer::ServFail => DynamicAnswer::servfail(rtype, set.ttl),
    }
}

fn answer_text(set: &AnswerSet) -> AnswerText {
    let (addresses, negative) = match &set.answer {
        Answer::Addresses { candidates, .. } => (candidates.iter().map(|c| c.address).collect(), None),
        Answer::NoData => (Vec::new(), Some("NODATA")),
        Answer::ServFail => (Vec::new(), Some("SERVFAIL")),
    };
    AnswerText {
        addresses,
        negative,
        ttl: set.ttl,
        tier: set.tier,
    }
}

/// The first answers of a configuration: every endpoint at its configured
/// initial state, or, on reload, at the verdict it already has.
pub fn prepare(
    wiring: Wiring,
    previous: Option<(&Verdicts, &Guard, &Wiring, &[RecordState])>,
    now: Millis,
) -> anyhow::Result<Prepared> {
    let (verdicts, guard) = match previous {
        None => (
            Verdicts::new(wiring.specs.endpoints.clone(), now)?,
            Guard::new(wiring.specs.guard, now),
        ),
        Some((old, old_guard, _, _)) => {
            let mut verdicts = old.clone();
            verdicts.reconfigure(wiring.specs.endpoints.clone(), now)?;
            let mut guard = old_guard.clone();
            guard.reconfigure(wiring.specs.guard);
            (verdicts, guard)
        }
    };
    let mut records: Vec<RecordState> = match previous {
        None => vec![RecordState::default(); wiring.specs.records.len()],
        Some((_, _, old_wiring, old_records)) => wiring
            .record_names
            .iter()
            .map(|name| {
                old_wiring
                    .record_names
                    .iter()
                    .position(|n| n == name)
                    .map(|i| old_records[i].clone())
                    .unwrap_or_default()
            })
            .collect(),
    };
    let mut sets = Vec::new();
    let mut answers = Vec::new();
    for (r, spec) in wiring.specs.records.iter().enumerate() {
        let set = answer_set::compute(spec, &mut records[r], guard.view(&verdicts, now), now);
        answers.push(dynamic_answer(wiring.record_types[r], &set, r as u64));
        sets.push(set);
    }
    Ok(Prepared {
        wiring,
        verdicts,
        guard,
        records,
        sets,
        answers,
    })
}

/// A running health engine.
#[derive(Debug)]
pub struct Health {
    events: broadcast::Sender<Event>,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
    epoch: Instant,
}

impl Health {
    /// Starts the checks and the decide task. Must be called inside the
    /// control runtime.
    pub fn start(
        prepared: Prepared,
        epoch: Instant,
        snapshot: SharedSnapshot,
        shutdown: watch::Receiver<bool>,
        store: Option<Store>,
    ) -> anyhow::Result<Health> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (tx, rx) = mpsc::channel(OBSERVATION_BUFFER);
        let (commands, command_rx) = mpsc::channel(4);
        let clients = Arc::new(Clients::new());
        let restart = Restart {
            clients: clients.clone(),
            results: tx.clone(),
            shutdown: shutdown.clone(),
            count: 0,
        };
        // Fault injection for proving the watchdog (docs/operations.md): the
        // first checker only; the one the watchdog starts runs normally.
        // `engine-dies-after=DURATION` makes the decide task itself fail.
        let (fault, engine_dies) = match std::env::var(FAULT_ENV) {
            Ok(text) if text.starts_with("engine-dies-after=") => {
                let after = &text["engine-dies-after=".len()..];
                let after = humantime::parse_duration(after).map_err(|e| anyhow::anyhow!("{FAULT_ENV}: {e}"))?;
                tracing::warn!(?after, "{FAULT_ENV} is set: the health engine will fail on purpose");
                (None, Some(after))
            }
            Ok(text) if !text.is_empty() => {
                let fault: crate::observe::Fault = text.parse().map_err(|e| anyhow::anyhow!("{FAULT_ENV}: {e}"))?;
                tracing::warn!(?fault, "{FAULT_ENV} is set: the checker will fail on purpose");
                (Some(fault), None)
            }
            _ => (None, None),
        };
        let options = SchedulerOptions {
            fault,
            ..SchedulerOptions::default()
        };
        let scheduler = Scheduler::start(clients, tx, shutdown.clone(), options);
        scheduler.apply(prepared.wiring.probes.clone())?;
        let Prepared {
            wiring,
            verdicts,
            guard,
            records,
            sets,
            ..
        } = prepared;
        let state = State {
            wiring,
            verdicts,
            guard,
            records,
            current: sets,
            epoch,
            scheduler,
            restart,
            last_result: Instant::now(),
            expiring: Default::default(),
            store,
            operator: operator::Operator::default(),
            unsaved: BTreeSet::new(),
        };
        let engine = run(state, rx, command_rx, snapshot, events.clone(), shutdown);
        let task = tokio::spawn(async move {
            match engine_dies {
                None => engine.await,
                Some(after) => {
                    tokio::select! {
                        () = engine => {}
                        () = tokio::time::sleep(after) => panic!("injected fault: the health engine dies"),
                    }
                }
            }
        });
        Ok(Health {
            events,
            commands,
            task,
            epoch,
        })
    }

    /// Subscribes to the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// The clock decide runs on.
    pub fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// The current answer sets and verdicts.
    pub async fn status(&self) -> Result<Status, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Status { reply })
            .await
            .map_err(|_| ControlError::Stopped)?;
        answer.await.map_err(|_| ControlError::Stopped)
    }

    /// Carries out an operator's override request: on one endpoint or on
    /// every endpoint with a tag, now or scheduled, for a time or until
    /// changed. Returns once it is durable.
    pub async fn request(&self, request: Request) -> Result<Applied, ControlError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Override { request, reply };
        self.commands.send(command).await.map_err(|_| ControlError::Stopped)?;
        answer.await.map_err(|_| ControlError::Stopped)?
    }

    /// Applies what the store kept from before a restart: overrides (those
    /// not yet expired) and each record's sticky tier. Call before serving.
    pub async fn restore(&self, saved: Saved) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Restore { saved, reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Returns a record with manual failback to its best healthy tier.
    pub async fn failback(&self, record: &str) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Failback {
                record: record.to_string(),
                reply,
            })
            .await
            .map_err(|_| ControlError::Stopped)?;
        answer.await.map_err(|_| ControlError::Stopped)?
    }

    /// Applies a new configuration: verdicts of unchanged endpoints and the
    /// state of unchanged records are kept, new checks start at once,
    /// removed ones stop; `build` makes the new snapshot from the answers.
    pub async fn reload(&self, wiring: Wiring, build: Build) -> anyhow::Result<()> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Reload {
            wiring: Box::new(wiring),
            build,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| anyhow::anyhow!("the health engine has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the health engine has stopped"))?
    }
}

fn emit(events: &broadcast::Sender<Event>, kind: EventKind) {
    match &kind {
        EventKind::Check { ok: false, .. } => tracing::debug!("{kind}"),
        EventKind::Check { .. } => tracing::trace!("{kind}"),
        EventKind::Breaker { tripped: true, .. } => tracing::warn!("{kind}"),
        _ => tracing::info!("{kind}"),
    }
    // No subscriber is fine: the log has it.
    let _ = events.send(Event {
        at: SystemTime::now(),
        kind,
    });
}

async fn run(
    mut state: State,
    mut rx: mpsc::Receiver<Observation>,
    mut commands: mpsc::Receiver<Command>,
    snapshot: SharedSnapshot,
    events: broadcast::Sender<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_tick = Instant::now() + MAX_IDLE;
    // next_deadline is O(endpoints + records): computed again only after
    // something that may bring a deadline closer (a changed verdict or
    // answer, a command, a timer), not after every batch of unchanged
    // results; the regular tick bounds how late anything else is seen.
    let mut cached: Option<Instant> = None;
    loop {
        let deadline = (*cached.get_or_insert_with(|| next_deadline(&state, next_tick))).min(next_tick);
        let mut changed: BTreeSet<usize> = BTreeSet::new();
        let mut observed_only = false;
        tokio::select! {
            observation = rx.recv() => {
                observed_only = true;
                let Some(observation) = observation else { return };
                state.last_result = Instant::now();
                observe(&mut state, &observation, &events, &mut changed);
                // Take what else has arrived, so a burst publishes once.
                while let Ok(more) = rx.try_recv() {
                    observe(&mut state, &more, &events, &mut changed);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if Instant::now() >= next_tick {
                    next_tick = Instant::now() + MAX_IDLE;
                    watchdog(&mut state, &events);
                }
                operator::tick(&mut state, &events, &mut changed).await;
                let now = state.now();
                for change in state.verdicts.tick(now) {
                    verdict_changed(&state, &change, &events, &mut changed);
                }
                // Failback holds and other timed rules: recompute all.
                changed.extend(0..state.current.len());
            }
            command = commands.recv() => match command {
                Some(Command::Reload { wiring, build, reply }) => {
                    let result = reload(&mut state, *wiring, build, &snapshot, &events);
                    if result.is_ok() {
                        save_verdicts(&mut state, true);
                    }
                    // Answers computed from state the reload does not know
                    // of (TTLs lowered ahead of scheduled drains) come back.
                    changed.extend(0..state.current.len());
                    let _ = reply.send(result);
                }
                Some(Command::Status { reply }) => {
                    let _ = reply.send(status(&state));
                }
                Some(Command::Override { request, reply }) => {
                    // Acknowledged only once durable (DESIGN.md §6).
                    let _ = reply.send(operator::request(&mut state, request, &events, &mut changed).await);
                }
                Some(Command::Restore { saved, reply }) => {
                    restore(&mut state, saved, &events, &mut changed);
                    operator::tick(&mut state, &events, &mut changed).await;
                    // Published before the caller goes on to serve.
                    publish(&mut state, &changed, &snapshot, &events);
                    save_verdicts(&mut state, true);
                    changed.clear();
                    let _ = reply.send(());
                }
                Some(Command::Failback { record, reply }) => {
                    let found = state.wiring.record_names.iter().position(|n| n.eq_ignore_ascii_case(&record));
                    let result = match found {
                        Some(r) => {
                            state.records[r].failback();
                            changed.insert(r);
                            tracing::info!(record = %state.wiring.record_names[r], "operator failback");
                            Ok(())
                        }
                        None => Err(ControlError::UnknownRecord(record)),
                    };
                    let _ = reply.send(result);
                }
                None => return,
            },
            _ = shutdown.changed() => return,
        }
        // The breaker moves only with verdicts, and a changed verdict marks its records.
        if !changed.is_empty()
            && let Some(change) = state.guard.update(&state.verdicts, state.now())
        {
            breaker_changed(&state, &change, &events);
            changed.extend(0..state.current.len());
        }
        if !observed_only || !changed.is_empty() {
            cached = None;
        }
        publish(&mut state, &changed, &snapshot, &events);
        if !state.unsaved.is_empty() {
            save_verdicts(&mut state, false);
        }
    }
}

/// The correlated-failure breaker tripped (answers held) or closed.
fn breaker_changed(state: &State, change: &BreakerChange, events: &broadcast::Sender<Event>) {
    let endpoints = change
        .endpoints
        .iter()
        .map(|e| state.wiring.endpoint_names[e.0 as usize].clone())
        .collect();
    let (tripped, groups_down, groups) = (change.tripped, change.groups_down, change.groups);
    emit(
        events,
        EventKind::Breaker {
            tripped,
            groups_down,
            groups,
            endpoints,
            by_operator: change.by_operator,
        },
    );
}

fn status(state: &State) -> Status {
    let records = state
        .wiring
        .record_names
        .iter()
        .zip(&state.current)
        .map(|(name, set)| RecordStatus {
            name: name.clone(),
            answer: set.clone(),
        })
        .collect();
    let endpoints = state
        .wiring
        .endpoint_names
        .iter()
        .enumerate()
        .map(|(e, name)| EndpointStatus {
            name: name.clone(),
            records: state.wiring.records_of[e]
                .iter()
                .map(|&r| state.wiring.record_names[r].clone())
                .collect(),
            checks: state.verdicts.verdict(EndpointId(e as u32)).map_or_else(Vec::new, |v| {
                v.evidence
                    .iter()
                    .map(|c| state.wiring.check_names[c.check.0 as usize].clone())
                    .collect()
            }),
            verdict: state.verdicts.verdict(EndpointId(e as u32)).cloned(),
            tags: state.wiring.endpoint_tags[e].clone(),
            note: state
                .verdicts
                .verdict(EndpointId(e as u32))
                .and_then(|v| state.operator.current(name, v.admin))
                .cloned(),
            scheduled: state.operator.scheduled(name).cloned(),
        })
        .collect();
    Status {
        now: state.now(),
        records,
        endpoints,
        scheduler: state.scheduler.stats(),
        engine: EngineStatus {
            restarts: state.restart.count,
            silent_for: state.last_result.elapsed(),
            breaker_configured: state.guard.spec().breaker.is_some(),
            breaker: state.guard.tripped().copied(),
        },
    }
}

fn set_override(
    state: &mut State,
    endpoint: &str,
    admin: Override,
    audit: Audit,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) -> Result<(), ControlError> {
    let e = state
        .wiring
        .endpoint_names
        .iter()
        .position(|n| n == endpoint)
        .ok_or_else(|| ControlError::UnknownEndpoint(endpoint.to_string()))?;
    let now = state.now();
    tracing::info!(endpoint, ?admin, "operator override");
    let change = state
        .verdicts
        .set_override(EndpointId(e as u32), admin, now)
        .map_err(|_| ControlError::UnknownEndpoint(endpoint.to_string()))?;
    emit(
        events,
        EventKind::Override {
            endpoint: endpoint.to_string(),
            admin,
            audit,
        },
    );
    if let Some(change) = change {
        verdict_changed(state, &change, events, changed);
    }
    Ok(())
}

fn override_mode(admin: Override) -> &'static str {
    match admin {
        Override::Auto => "auto",
        Override::Drain => "drain",
        Override::ForceUp => "force-up",
    }
}

/// Applies restored state: verdicts (see [`super::kept`]), overrides by
/// endpoint name (expired ones are dropped), sticky tiers by record name.
/// Timestamps of the old process's clock (`healthy_since`) do not carry
/// over: a failback hold restarts.
fn restore(state: &mut State, saved: Saved, events: &broadcast::Sender<Event>, changed: &mut BTreeSet<usize>) {
    restore_verdicts(state, &saved.history, events, changed);
    let expired = operator::restore(state, saved.overrides, events, changed);
    if let (false, Some(store)) = (expired.is_empty(), &state.store) {
        let store = store.clone();
        let writes = expired.into_iter().map(crate::persist::OverrideWrite::Clear).collect();
        tokio::spawn(async move { store.change_overrides(writes).await });
    }
    for (name, json) in saved.sticky {
        let Some(r) = state.wiring.record_names.iter().position(|n| *n == name) else {
            continue;
        };
        match serde_json::from_str::<RecordState>(&json) {
            Ok(mut restored) => {
                restored.healthy_since.clear();
                tracing::info!(record = %name, tier = ?restored.tier, "sticky failover state restored");
                state.records[r] = restored;
                changed.insert(r);
            }
            Err(e) => tracing::warn!(record = %name, "stored failover state unreadable, ignored: {e}"),
        }
    }
}

/// Swaps in a new configuration, all or nothing.
fn reload(
    state: &mut State,
    wiring: Wiring,
    build: Build,
    snapshot: &SharedSnapshot,
    events: &broadcast::Sender<Event>,
) -> anyhow::Result<()> {
    let now = state.now();
    let prepared = prepare(
        wiring,
        Some((&state.verdicts, &state.guard, &state.wiring, &state.records)),
        now,
    )?;
    let built = build(prepared.answers)?;
    let old = snapshot.load_full();
    // Answers that the new configuration changes are changes like any other:
    // an event each, and their zone's serial moves.
    let mut touched = vec![false; built.zones.len()];
    for (r, set) in prepared.sets.iter().enumerate() {
        let name = &prepared.wiring.record_names[r];
        let before = state
            .wiring
            .record_names
            .iter()
            .position(|n| n == name)
            .map(|i| &state.current[i]);
        if before.is_some_and(|b| b.answer == set.answer && b.ttl == set.ttl) {
            continue;
        }
        touched[built.zones.slot_zone(r)] = true;
        if let Some(before) = before {
            let cause = format!("reload; {}", cause_text(&prepared.wiring.endpoint_names, set));
            emit(
                events,
                EventKind::Answer {
                    record: name.clone(),
                    old: answer_text(before),
                    new: answer_text(set),
                    cause,
                },
            );
        }
    }
    let serials = continued_serials(&old, &built, &touched);
    let mut dynamic = (*built.dynamic).clone();
    dynamic.serials = serials;
    state.scheduler.apply(prepared.wiring.probes.clone())?;
    snapshot.store(Arc::new(built.with_dynamic(dynamic)));
    state.wiring = prepared.wiring;
    state.verdicts = prepared.verdicts;
    state.guard = prepared.guard;
    state.records = prepared.records;
    state.current = prepared.sets;
    Ok(())
}

/// Serials after a reload: a zone whose file serial, content and
/// health-checked answers are all unchanged keeps the serial it has; any
/// other takes the file's serial if that is ahead (RFC 1982 §3.2), else
/// moves forward by one, so secondaries never miss a change nor see the
/// serial go back.
fn continued_serials(
    old: &crate::publish::snapshot::Snapshot,
    new: &crate::publish::snapshot::Snapshot,
    answers_changed: &[bool],
) -> Vec<u32> {
    new.zones
        .iter()
        .map(|zone| {
            let file = zone.serial();
            let before = old
                .zones
                .iter()
                .find(|z| z.key() == zone.key())
                .map(|z| (old.serial(z.index), z.serial(), z.digest()));
            let unchanged = |old_file: u32, digest: u64| {
                old_file == file && digest == zone.digest() && !answers_changed[zone.index]
            };
            match before {
                Some((served, old_file, digest)) if unchanged(old_file, digest) => served,
                Some((served, _, _)) if !serial_gt(file, served) => served.wrapping_add(1),
                _ => file,
            }
        })
        .collect()
}

/// RFC 1982 §3.2: `a` is greater than `b` in serial number arithmetic.
fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// Replaces a checker that stopped or stalled with a fresh one running the
/// same probes, and says so.
fn watchdog(state: &mut State, events: &broadcast::Sender<Event>) {
    if *state.restart.shutdown.borrow() {
        return;
    }
    let probes = &state.wiring.probes;
    let stalled = checker_stalled(
        state.scheduler.is_running(),
        probes.len(),
        state.last_result.elapsed(),
        longest_period(probes),
    );
    let Some(reason) = stalled else { return };
    let r = &mut state.restart;
    let scheduler = Scheduler::start(
        r.clients.clone(),
        r.results.clone(),
        r.shutdown.clone(),
        SchedulerOptions::default(),
    );
    if let Err(e) = scheduler.apply(probes.clone()) {
        tracing::error!("restarting the checker failed: {e}");
        return;
    }
    r.count += 1;
    state.scheduler = scheduler;
    state.last_result = Instant::now();
    tracing::error!(reason, restarts = r.count, "checker restarted");
    emit(
        events,
        EventKind::Watchdog {
            reason: reason.to_string(),
            restarts: r.count,
        },
    );
}

/// When the decide task must look again without an observation.
/// The regular tick (`next_tick`, which keeps its cadence however many
/// results arrive), a verdict going stale or a damping hold ending, or an
/// answer set's failback hold ending, whichever comes first.
fn next_deadline(state: &State, next_tick: Instant) -> Instant {
    let now = state.now();
    let drains = state.operator.drains(state, now);
    let lowering = match drains.is_empty() {
        true => None,
        false => state
            .wiring
            .specs
            .records
            .iter()
            .filter_map(|spec| answer_set::lowering::next_change(spec, &drains, now))
            .min(),
    };
    let overrides = state.operator.next_deadline().map(|at| {
        let ahead = at.duration_since(SystemTime::now()).unwrap_or_default();
        Instant::now() + ahead
    });
    state
        .current
        .iter()
        .filter_map(AnswerSet::next_deadline)
        .chain(state.verdicts.next_deadline())
        .chain(lowering)
        .map(|at| state.epoch + Duration::from_millis(at))
        .chain(overrides)
        .fold(next_tick, Instant::min)
}

fn observe(
    state: &mut State,
    observation: &Observation,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) {
    let at = state.millis(observation.at);
    let Some(subscribers) = state.wiring.fanout.get(&observation.key).cloned() else {
        return;
    };
    let result = &observation.result;
    if result.cert_expiring && state.expiring.insert(observation.key) {
        for sub in &subscribers {
            emit(
                events,
                EventKind::Certificate {
                    endpoint: state.wiring.endpoint_names[sub.endpoint.0 as usize].clone(),
                    check: state.wiring.check_names[sub.check.0 as usize].clone(),
                    days_left: result.cert_days_left.unwrap_or(0),
                },
            );
        }
    } else if !result.cert_expiring {
        state.expiring.remove(&observation.key);
    }
    for sub in subscribers {
        emit(
            events,
            EventKind::Check {
                endpoint: state.wiring.endpoint_names[sub.endpoint.0 as usize].clone(),
                check: state.wiring.check_names[sub.check.0 as usize].clone(),
                ok: result.ok,
                detail: result.detail.clone(),
                latency: result.latency.total,
            },
        );
        let outcome = Outcome {
            endpoint: sub.endpoint,
            check: sub.check,
            location: LocationId(0),
            ok: result.ok,
            at,
        };
        let machine_before = machine_up(&state.verdicts, &outcome);
        if let Some(change) = state.verdicts.observe(&outcome) {
            verdict_changed(state, &change, events, changed);
            state.unsaved.insert(sub.endpoint);
        }
        if machine_up(&state.verdicts, &outcome) != machine_before {
            state.unsaved.insert(sub.endpoint);
        }
    }
}

/// The state of the threshold machine an outcome feeds, if it has one yet.
fn machine_up(verdicts: &Verdicts, outcome: &Outcome) -> Option<bool> {
    let verdict = verdicts.verdict(outcome.endpoint)?;
    let evidence = verdict.evidence.iter().find(|e| e.check == outcome.check)?;
    evidence.at(outcome.location).map(|l| l.up)
}

/// Writes the verdicts of endpoints whose machines changed (or, with
/// `all`, of every endpoint, replacing those of endpoints no longer
/// configured) to the store; not waited for.
fn save_verdicts(state: &mut State, all: bool) {
    let unsaved = std::mem::take(&mut state.unsaved);
    let Some(store) = &state.store else { return };
    let (now, wall) = (state.now(), SystemTime::now());
    let encode = |e: EndpointId| {
        let spec = state.verdicts.spec(e)?;
        let verdict = state.verdicts.verdict(e)?;
        Some((spec.name.clone(), super::kept::encode(spec, verdict, now, wall)))
    };
    if all {
        let every = (0..state.wiring.endpoint_names.len() as u32).map(EndpointId);
        store.put_all_verdicts(every.filter_map(encode).collect());
    } else {
        for (name, json) in unsaved.into_iter().filter_map(encode) {
            store.put_verdict(&name, json);
        }
    }
}

/// Resumes endpoints from the verdicts the store kept, if the previous
/// server was alive recently enough (see [`super::kept`]).
fn restore_verdicts(
    state: &mut State,
    kept: &crate::persist::history::Kept,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) {
    if !super::kept::recent(kept.alive, SystemTime::now()) {
        if !kept.verdicts.is_empty() {
            tracing::info!("the stored verdicts are too old to trust; endpoints start from their initial state");
        }
        return;
    }
    let now = state.now();
    let mut restored = 0;
    for (name, json) in &kept.verdicts {
        let Some(e) = state.wiring.endpoint_names.iter().position(|n| n == name) else {
            continue;
        };
        let id = EndpointId(e as u32);
        let Some(spec) = state.verdicts.spec(id) else { continue };
        let machines = match super::kept::machines(spec, json) {
            Ok(machines) if !machines.is_empty() => machines,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(endpoint = %name, "stored verdict unreadable, ignored: {e}");
                continue;
            }
        };
        restored += 1;
        if let Some(change) = state.verdicts.restore(id, &machines, now) {
            verdict_changed(state, &change, events, changed);
        }
    }
    // Failures from before the restart are not a burst of new ones: the
    // breaker starts closed and does not count them.
    let _ = state.guard.release(&state.verdicts, now);
    tracing::info!(endpoints = restored, "verdicts restored");
}

fn verdict_changed(
    state: &State,
    change: &VerdictChange,
    events: &broadcast::Sender<Event>,
    changed: &mut BTreeSet<usize>,
) {
    let e = change.endpoint.0 as usize;
    emit(
        events,
        EventKind::Verdict {
            endpoint: state.wiring.endpoint_names[e].clone(),
            up: change.new,
            flipped: change.flipped(),
            reason: match (change.flipped(), change.stale) {
                (true, _) => format!("{:?}", change.reason),
                (false, true) => "no fresh check results: verdict held, marked stale".into(),
                (false, false) => "check results fresh again".into(),
            },
        },
    );
    changed.extend(state.wiring.records_of[e].iter().copied());
}

/// Recomputes the records in `changed` and swaps in every answer that
/// changed, in one new snapshot.
fn publish(state: &mut State, changed: &BTreeSet<usize>, snapshot: &SharedSnapshot, events: &broadcast::Sender<Event>) {
    if changed.is_empty() {
        return;
    }
    let now = state.now();
    let current = snapshot.load_full();
    let mut updates = Vec::new();
    for &r in changed {
        let tier_before = state.records[r].tier;
        let set = state.compute(r, now);
        let json = (state.records[r].tier != tier_before).then(|| serde_json::to_string(&state.records[r]).ok());
        if let (Some(store), Some(Some(json))) = (&state.store, json) {
            store.put_sticky(&state.wiring.record_names[r], json);
        }
        if set.same_served(&state.current[r]) {
            state.current[r] = set;
            continue;
        }
        updates.push((r, current.zones.slot_zone(r), state.served(r, &set)));
        emit(
            events,
            EventKind::Answer {
                record: state.wiring.record_names[r].clone(),
                old: answer_text(&state.current[r]),
                new: answer_text(&set),
                cause: cause_text(&state.wiring.endpoint_names, &set),
            },
        );
        state.current[r] = set;
    }
    if updates.is_empty() {
        return;
    }
    let (dynamic, changed) = current.dynamic.with_changes(updates);
    if changed {
        snapshot.store(Arc::new(current.with_dynamic(dynamic)));
    }
}

/// Why: the rule, and which endpoints were down.
fn cause_text(names: &[String], set: &AnswerSet) -> String {
    let down: Vec<&str> = set
        .cause
        .verdicts
        .iter()
        .filter(|v| !v.up)
        .map(|v| names[v.endpoint.0 as usize].as_str())
        .collect();
    let mut text = format!("{:?}", set.cause.rule);
    if !down.is_empty() {
        text += &format!("; down: {}", down.join(", "));
    }
    if let Some(lowered) = set.cause.ttl_lowered {
        let endpoint = &names[lowered.endpoint.0 as usize];
        text += &format!("; TTL lowered ahead of the scheduled drain of {endpoint}");
    }
    text
}

#[cfg(test)]
mod watchdog_tests {
    use super::*;

    #[test]
    fn a_stopped_or_silent_checker_is_restarted_and_a_working_one_is_not() {
        let period = Duration::from_millis(1500);
        assert_eq!(checker_stalled(true, 10, Duration::from_secs(1), period), None);
        assert_eq!(checker_stalled(true, 10, Duration::from_millis(4400), period), None);
        assert!(checker_stalled(true, 10, Duration::from_millis(4600), period).is_some());
        assert_eq!(
            checker_stalled(false, 10, Duration::ZERO, period),
            Some("the checker stopped")
        );
        assert_eq!(
            checker_stalled(false, 0, Duration::from_secs(60), period),
            None,
            "no checks, nothing to watch"
        );
    }
}

#[cfg(test)]
mod dual_stack_tests {
    use super::*;
    use crate::config::{self, Sources};

    /// A dual-stack endpoint is probed at each family's own address with
    /// the same Host header, and with `families = "together"` a verdict of
    /// one family marks the other family's record for recomputation.
    #[test]
    fn each_family_is_probed_at_its_own_address_with_the_same_host() {
        let text = r#"
[[zone]]
origin = "example.test"
records = ["@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60", "@ 300 IN NS ns1", "ns1 300 IN A 192.0.2.53"]

[check.web]
kind = "http"
port = 8080

[[record]]
name = "www.example.test"
type = ["A", "AAAA"]
families = "together"
endpoint = [{ name = "web1", addresses = ["127.0.0.1", "::1"], checks = ["web"] }]
"#;
        let path = std::env::temp_dir().join(format!("lifeline-dual-wiring-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let config = config::load(&Sources {
            file: Some(path.clone()),
            ..Sources::default()
        });
        let _ = std::fs::remove_file(path);
        let wiring = Wiring::new(&config.unwrap()).unwrap();
        let mut probed: Vec<(String, String)> = wiring
            .probes
            .values()
            .map(|p| match &p.kind {
                ProbeKind::Http(h) => (p.target.to_string(), h.host.as_ref().unwrap().to_str().unwrap().into()),
                other => panic!("{other:?}"),
            })
            .collect();
        probed.sort();
        assert_eq!(
            probed,
            [
                ("127.0.0.1".into(), "www.example.test".into()),
                ("::1".into(), "www.example.test".into())
            ]
        );
        assert_eq!(wiring.endpoint_names, ["web1/v4", "web1/v6"]);
        // Each probe feeds its own family's verdict.
        for (key, spec) in &wiring.probes {
            let endpoint = wiring.fanout[key][0].endpoint.0 as usize;
            assert_eq!(spec.target.is_ipv6(), wiring.endpoint_names[endpoint].ends_with("/v6"));
        }
        assert_eq!(wiring.records_of, [vec![0, 1], vec![1, 0]]);
    }
}
