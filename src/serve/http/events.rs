//! The API's memory of recent events: a ring buffer fed by the health
//! engine's event stream, read by `GET /v1/events`, and the last result of
//! every check, which endpoint views show as evidence.
//!
//! Every check result is an event, far too many to keep: the ring keeps
//! answer, verdict, override and certificate events, and a check result
//! only when it differs from the one before it (the first result, and each
//! change between ok and failing). The last result of each check is kept
//! aside, whatever it was, with a short history of each check's results
//! for the status page's charts, and every event is counted for metrics
//! ([`Counts`]). Whoever [`watch`](EventLog::watch)es the log (the status
//! page's stream) gets every event as it is taken, numbered if it is kept.
//!
//! With a state store the log is also the event history: every event it
//! keeps is appended to the store under the same id, and a page that
//! reaches below the ring is completed from the store, with the same
//! filters. After a restart the ring starts empty and ids continue above
//! the store's reserved mark (see [`crate::persist::history`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::views::record_matches;
pub(crate) use super::views::timestamp;
use crate::decide::verdict::Override;
use crate::persist::Store;
use crate::persist::history::{EventQuery, EventReader, ID_BLOCK, StoredEvent};
use crate::publish::event::{AnswerText, Event, EventKind};

/// The last result of one check of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LastCheck {
    pub ok: bool,
    pub at: SystemTime,
    pub latency: Duration,
    pub detail: String,
}

/// One result in a check's history.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    at: SystemTime,
    latency: Duration,
    ok: bool,
}

/// An event as the log passes it on: its number if the ring kept it.
#[derive(Debug)]
pub struct Logged {
    pub id: Option<u64>,
    pub event: Event,
}

/// Recent events, numbered from 1 in the order they happened.
#[derive(Debug)]
pub struct EventLog {
    capacity: usize,
    /// Results kept per (endpoint, check) in its history.
    history_len: usize,
    inner: Mutex<Inner>,
    /// Every event taken, to watchers; sent under the lock, so that a
    /// watcher sees exactly what follows the state it started from.
    live: broadcast::Sender<Arc<Logged>>,
    history: Option<History>,
}

/// Where the log keeps its events beyond the ring.
#[derive(Debug)]
struct History {
    store: Store,
    reader: EventReader,
}

#[derive(Debug, Default)]
struct Inner {
    /// The id of the last event kept (0 before the first, ever).
    next_id: u64,
    /// Ids up to this are reserved in the store.
    reserved: u64,
    ring: VecDeque<(u64, Event)>,
    /// Keyed by (endpoint, check).
    last_checks: HashMap<(String, String), LastCheck>,
    /// The newest results of each check, oldest first.
    history: HashMap<(String, String), VecDeque<Point>>,
    /// Events the stream dropped because this log fell behind.
    missed: u64,
    counts: Counts,
}

/// Every event the log has taken, counted: what metrics report.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// By kind, in the order of [`KINDS`].
    pub kinds: [u64; KINDS.len()],
    /// Answer changes by record.
    pub answer_changes: HashMap<String, u64>,
    /// Results and latency by (endpoint, check).
    pub checks: HashMap<(String, String), CheckCounts>,
    pub missed: u64,
}

/// The results of one check of one endpoint.
#[derive(Debug, Clone)]
pub struct CheckCounts {
    pub ok: u64,
    pub failed: u64,
    /// Seconds, from 1 ms to about 16 s.
    pub latency: Histogram,
}

impl Default for CheckCounts {
    fn default() -> CheckCounts {
        CheckCounts {
            ok: 0,
            failed: 0,
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

/// Which events a page holds.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events numbered below this (the next page of older events).
    pub before: Option<u64>,
    /// Only events numbered above this (new since the last look).
    pub after: Option<u64>,
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
    /// Answer events of this record (`NAME` or `NAME/TYPE`).
    pub record: Option<String>,
    /// Check, verdict, override and certificate events of this endpoint,
    /// and breaker events that name it.
    pub endpoint: Option<String>,
    /// One of [`KINDS`].
    pub kind: Option<String>,
    pub limit: usize,
}

/// The kinds of event, as `kind` names them.
pub const KINDS: [&str; 7] = [
    "check",
    "verdict",
    "answer",
    "certificate",
    "override",
    "breaker",
    "watchdog",
];

/// One page of events, newest first.
#[derive(Debug, Serialize)]
pub struct Page {
    pub events: Vec<EventView>,
    /// `before=` for the next (older) page, when there may be one.
    pub next_before: Option<u64>,
    /// The number of the newest event kept, for `after=` when polling.
    pub latest: u64,
    /// Events lost because the log fell behind the stream (never, unless
    /// the control runtime is starved).
    pub missed: u64,
}

/// What a watcher starts from: the history of every check and the newest
/// events, and the events taken after them.
#[derive(Debug)]
pub struct Watch {
    pub live: broadcast::Receiver<Arc<Logged>>,
    pub history: Vec<Series>,
    pub recent: Page,
}

/// The newest results of one check of one endpoint, oldest first.
#[derive(Debug, Serialize)]
pub struct Series {
    pub endpoint: String,
    pub check: String,
    pub results: Vec<PointView>,
}

#[derive(Debug, Serialize)]
pub struct PointView {
    pub at: String,
    pub ok: bool,
    pub latency_ms: f64,
}

impl EventLog {
    /// A log of `capacity` events and `history_len` results per check;
    /// `live` events buffered per watcher before it falls behind.
    pub fn new(capacity: usize, history_len: usize, live: usize) -> EventLog {
        EventLog {
            capacity,
            history_len,
            inner: Mutex::new(Inner::default()),
            live: broadcast::channel(live).0,
            history: None,
        }
    }

    /// [`EventLog::new`] that keeps its events in the store too,
    /// continuing after the ids the store has reserved.
    pub fn with_history(
        capacity: usize,
        history_len: usize,
        live: usize,
        store: Store,
        last_id: u64,
    ) -> Result<EventLog, crate::persist::StoreError> {
        let reader = store.event_reader()?;
        let inner = Inner {
            next_id: last_id,
            reserved: last_id,
            ..Inner::default()
        };
        Ok(EventLog {
            capacity,
            history_len,
            inner: Mutex::new(inner),
            live: broadcast::channel(live).0,
            history: Some(History { store, reader }),
        })
    }

    /// Reserves the next block of ids in the store when the log has used
    /// up its reservation, so that no id is shown before it is reserved.
    async fn reserve(&self) {
        let Some(history) = &self.history else { return };
        let upto = {
            let inner = self.inner.lock().expect("event log lock");
            if inner.next_id < inner.reserved {
                return;
            }
            inner.next_id + ID_BLOCK
        };
        match history.store.reserve_event_ids(upto).await {
            Ok(()) => self.inner.lock().expect("event log lock").reserved = upto,
            Err(e) => tracing::error!("event ids not reserved; after a crash some may be given again: {e}"),
        }
    }

    /// The number of the newest event.
    pub fn latest(&self) -> u64 {
        self.inner.lock().expect("event log lock").next_id
    }

    /// Takes one event from the stream.
    pub fn record(&self, event: Event) {
        let mut inner = self.inner.lock().expect("event log lock");
        inner.counts.count(&event.kind);
        let keep = match &event.kind {
            EventKind::Check { ok, .. } => self.remember_check(&mut inner, &event).is_none_or(|p| p.ok != *ok),
            _ => true,
        };
        let id = keep.then(|| {
            inner.next_id += 1;
            let id = inner.next_id;
            if let Some(history) = &self.history {
                history.store.append_event(stored(id, &event));
            }
            if inner.ring.len() == self.capacity {
                inner.ring.pop_front();
            }
            inner.ring.push_back((id, event.clone()));
            id
        });
        if self.live.receiver_count() > 0 {
            // A watcher that is gone is no concern of the log's.
            let _ = self.live.send(Arc::new(Logged { id, event }));
        }
    }

    /// Keeps a check result as its check's last and in its history;
    /// returns the result before it.
    fn remember_check(&self, inner: &mut Inner, event: &Event) -> Option<LastCheck> {
        let EventKind::Check {
            endpoint,
            check,
            ok,
            detail,
            latency,
        } = &event.kind
        else {
            return None;
        };
        let key = (endpoint.clone(), check.clone());
        let history = inner.history.entry(key.clone()).or_default();
        if history.len() == self.history_len {
            history.pop_front();
        }
        history.push_back(Point {
            at: event.at,
            latency: *latency,
            ok: *ok,
        });
        let last = LastCheck {
            ok: *ok,
            at: event.at,
            latency: *latency,
            detail: detail.clone(),
        };
        inner.last_checks.insert(key, last)
    }

    /// Starts watching: the history of every check (by endpoint, then
    /// check) and the newest `recent` events, with every event taken from
    /// then on.
    pub fn watch(&self, recent: usize) -> Watch {
        let inner = self.inner.lock().expect("event log lock");
        let mut history: Vec<Series> = inner
            .history
            .iter()
            .map(|((endpoint, check), points)| Series {
                endpoint: endpoint.clone(),
                check: check.clone(),
                results: points.iter().map(PointView::of).collect(),
            })
            .collect();
        history.sort_by(|a, b| (&a.endpoint, &a.check).cmp(&(&b.endpoint, &b.check)));
        Watch {
            live: self.live.subscribe(),
            history,
            recent: page(
                &inner,
                &Filter {
                    limit: recent,
                    ..Filter::default()
                },
            ),
        }
    }

    fn missed(&self, n: u64) {
        let mut inner = self.inner.lock().expect("event log lock");
        inner.missed += n;
        inner.counts.missed += n;
    }

    /// Every event taken so far, counted.
    pub fn counts(&self) -> Counts {
        self.inner.lock().expect("event log lock").counts.clone()
    }

    /// The last result of `check` on `endpoint`.
    pub fn last_check(&self, endpoint: &str, check: &str) -> Option<LastCheck> {
        let inner = self.inner.lock().expect("event log lock");
        inner
            .last_checks
            .get(&(endpoint.to_string(), check.to_string()))
            .cloned()
    }

    /// The newest events that pass `filter`, at most `filter.limit`: from
    /// the ring, then, below the ring, from the store.
    pub async fn page(&self, filter: &Filter) -> Page {
        let (mut events, floor, latest, missed) = {
            let inner = self.inner.lock().expect("event log lock");
            let events: Vec<EventView> = (inner.ring.iter().rev())
                .filter(|(id, event)| passes(*id, event, filter))
                .take(filter.limit + 1)
                .map(|(id, event)| EventView::of(*id, event))
                .collect();
            let floor = inner.ring.front().map_or(inner.next_id + 1, |(id, _)| *id);
            (events, floor, inner.next_id, inner.missed)
        };
        let below_ring = filter.after.is_none_or(|a| a.saturating_add(1) < floor);
        if let (Some(history), true, true) = (&self.history, events.len() <= filter.limit, below_ring) {
            let wanted = filter.limit + 1 - events.len();
            let filter = Filter {
                before: Some(filter.before.map_or(floor, |b| b.min(floor))),
                ..filter.clone()
            };
            let reader = history.reader.clone();
            let stored = tokio::task::spawn_blocking(move || stored_page(&reader, &filter, wanted)).await;
            match stored {
                Ok(Ok(older)) => events.extend(older),
                Ok(Err(e)) => tracing::error!("reading the event history: {e}"),
                Err(e) => tracing::error!("reading the event history: {e}"),
            }
        }
        let more = events.len() > filter.limit;
        events.truncate(filter.limit);
        Page {
            next_before: events.last().filter(|_| more).map(|e| e.id),
            events,
            latest,
            missed,
        }
    }
}

impl PointView {
    fn of(p: &Point) -> PointView {
        PointView {
            at: timestamp(p.at),
            ok: p.ok,
            latency_ms: p.latency.as_secs_f64() * 1e3,
        }
    }
}

fn page(inner: &Inner, filter: &Filter) -> Page {
    let mut matching = inner.ring.iter().rev().filter(|(id, event)| passes(*id, event, filter));
    let events: Vec<EventView> = matching
        .by_ref()
        .take(filter.limit)
        .map(|(id, event)| EventView::of(*id, event))
        .collect();
    let more = matching.next().is_some();
    Page {
        next_before: events.last().filter(|_| more).map(|e| e.id),
        events,
        latest: inner.next_id,
        missed: inner.missed,
    }
}

impl Counts {
    fn count(&mut self, kind: &EventKind) {
        let i = KINDS
            .iter()
            .position(|k| *k == kind_name(kind))
            .expect("every kind is listed");
        self.kinds[i] += 1;
        match kind {
            EventKind::Answer { record, .. } => *self.answer_changes.entry(record.clone()).or_default() += 1,
            EventKind::Check {
                endpoint,
                check,
                ok,
                latency,
                ..
            } => {
                let counts = self.checks.entry((endpoint.clone(), check.clone())).or_default();
                if *ok {
                    counts.ok += 1;
                } else {
                    counts.failed += 1;
                }
                counts.latency.observe(latency.as_secs_f64());
            }
            _ => {}
        }
    }
}

/// An event as the store keeps it.
fn stored(id: u64, event: &Event) -> StoredEvent {
    let subject = match &event.kind {
        EventKind::Answer { record, .. } => Some(record.clone()),
        EventKind::Check { endpoint, .. }
        | EventKind::Verdict { endpoint, .. }
        | EventKind::Certificate { endpoint, .. }
        | EventKind::Override { endpoint, .. } => Some(endpoint.clone()),
        EventKind::Breaker { .. } | EventKind::Watchdog { .. } => None,
    };
    StoredEvent {
        id,
        at: event.at,
        kind: kind_name(&event.kind).to_string(),
        subject,
        json: serde_json::to_string(event).expect("an event encodes"),
    }
}

/// Up to `wanted` stored events that pass `filter`, newest first.
fn stored_page(
    reader: &EventReader,
    filter: &Filter,
    wanted: usize,
) -> Result<Vec<EventView>, crate::persist::StoreError> {
    let query = EventQuery {
        before: filter.before,
        after: filter.after,
        since: filter.since,
        kind: filter.kind.clone(),
        endpoint: filter.endpoint.clone(),
        answers_only: filter.record.is_some(),
    };
    let mut views = Vec::new();
    reader.page(&query, wanted, |row| {
        let event: Event = match serde_json::from_str(&row.json) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(id = row.id, "a stored event is unreadable, skipped: {e}");
                return false;
            }
        };
        let pass = passes(row.id, &event, filter);
        if pass {
            views.push(EventView::of(row.id, &event));
        }
        pass
    })?;
    Ok(views)
}

fn passes(id: u64, event: &Event, filter: &Filter) -> bool {
    filter.before.is_none_or(|b| id < b)
        && filter.after.is_none_or(|a| id > a)
        && filter.since.is_none_or(|s| event.at >= s)
        && filter.kind.as_deref().is_none_or(|k| k == kind_name(&event.kind))
        && filter.record.as_deref().is_none_or(|r| about_record(&event.kind, r))
        && filter
            .endpoint
            .as_deref()
            .is_none_or(|e| about_endpoint(&event.kind, e))
}

/// Whether an event is about the record `asked` names.
pub(crate) fn about_record(kind: &EventKind, asked: &str) -> bool {
    matches!(kind, EventKind::Answer { record, .. } if record_matches(record, asked))
}

/// Whether an event is about the endpoint `name`.
pub(crate) fn about_endpoint(kind: &EventKind, name: &str) -> bool {
    match kind {
        EventKind::Check { endpoint, .. }
        | EventKind::Verdict { endpoint, .. }
        | EventKind::Certificate { endpoint, .. }
        | EventKind::Override { endpoint, .. } => endpoint == name,
        EventKind::Breaker { endpoints, .. } => endpoints.iter().any(|e| e == name),
        EventKind::Answer { .. } | EventKind::Watchdog { .. } => false,
    }
}

pub(crate) fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Check { .. } => "check",
        EventKind::Verdict { .. } => "verdict",
        EventKind::Answer { .. } => "answer",
        EventKind::Certificate { .. } => "certificate",
        EventKind::Override { .. } => "override",
        EventKind::Breaker { .. } => "breaker",
        EventKind::Watchdog { .. } => "watchdog",
    }
}

/// Feeds the log from the event stream until shutdown.
pub async fn follow(log: Arc<EventLog>, mut events: broadcast::Receiver<Event>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    log.reserve().await;
                    log.record(event);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the API's event log fell behind; some events are not in /v1/events");
                    log.missed(n);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// An event as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: u64,
    pub at: String,
    #[serde(flatten)]
    pub detail: Detail,
    /// The event in one line, as the log writes it.
    pub message: String,
}

/// What happened, by kind.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    Check {
        endpoint: String,
        check: String,
        ok: bool,
        detail: String,
        latency_ms: f64,
    },
    Verdict {
        endpoint: String,
        up: bool,
        reason: String,
    },
    Answer {
        record: String,
        old: AnswerView,
        new: AnswerView,
        cause: String,
    },
    Certificate {
        endpoint: String,
        check: String,
        days_left: i64,
    },
    Override {
        endpoint: String,
        mode: Override,
        reason: String,
        by: String,
        until: Option<String>,
    },
    /// The correlated-failure breaker tripped or closed.
    Breaker {
        tripped: bool,
        groups_down: usize,
        groups: usize,
        endpoints: Vec<String>,
        by_operator: bool,
    },
    /// The checker was restarted.
    Watchdog {
        reason: String,
        restarts: u32,
    },
}

/// An answer in an answer event.
#[derive(Debug, Serialize)]
pub struct AnswerView {
    pub addresses: Vec<std::net::IpAddr>,
    /// `NODATA` or `SERVFAIL` instead of addresses.
    pub negative: Option<&'static str>,
    pub ttl: u32,
    pub tier: Option<u8>,
}

impl From<&AnswerText> for AnswerView {
    fn from(a: &AnswerText) -> AnswerView {
        AnswerView {
            addresses: a.addresses.clone(),
            negative: a.negative,
            ttl: a.ttl,
            tier: a.tier,
        }
    }
}

impl EventView {
    pub fn of(id: u64, event: &Event) -> EventView {
        EventView {
            id,
            at: timestamp(event.at),
            detail: Detail::of(event.kind.clone()),
            message: event.kind.to_string(),
        }
    }
}

impl Detail {
    /// What happened, as the API and webhooks show it.
    pub fn of(kind: EventKind) -> Detail {
        match kind {
            EventKind::Check {
                endpoint,
                check,
                ok,
                detail,
                latency,
            } => Detail::Check {
                endpoint,
                check,
                ok,
                detail,
                latency_ms: latency.as_secs_f64() * 1e3,
            },
            EventKind::Verdict {
                endpoint, up, reason, ..
            } => Detail::Verdict { endpoint, up, reason },
            EventKind::Answer {
                record,
                old,
                new,
                cause,
            } => Detail::Answer {
                record,
                old: (&old).into(),
                new: (&new).into(),
                cause,
            },
            EventKind::Certificate {
                endpoint,
                check,
                days_left,
            } => Detail::Certificate {
                endpoint,
                check,
                days_left,
            },
            EventKind::Override { endpoint, admin, audit } => Detail::Override {
                endpoint,
                mode: admin,
                reason: audit.reason,
                by: audit.by,
                until: audit.until.map(timestamp),
            },
            EventKind::Breaker {
                tripped,
                groups_down,
                groups,
                endpoints,
                by_operator,
            } => Detail::Breaker {
                tripped,
                groups_down,
                groups,
                endpoints,
                by_operator,
            },
            EventKind::Watchdog { reason, restarts } => Detail::Watchdog { reason, restarts },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(endpoint: &str, ok: bool) -> Event {
        Event {
            at: SystemTime::now(),
            kind: EventKind::Check {
                endpoint: endpoint.into(),
                check: "web".into(),
                ok,
                detail: "HTTP 200".into(),
                latency: Duration::from_millis(2),
            },
        }
    }

    fn verdict(endpoint: &str, up: bool) -> Event {
        Event {
            at: SystemTime::now(),
            kind: EventKind::Verdict {
                endpoint: endpoint.into(),
                up,
                flipped: true,
                reason: "Checks".into(),
            },
        }
    }

    fn all(limit: usize) -> Filter {
        Filter {
            limit,
            ..Filter::default()
        }
    }

    #[tokio::test]
    async fn keeps_check_results_only_when_they_change_but_remembers_the_last() {
        let log = EventLog::new(100, 3, 16);
        for ok in [true, true, false, false, true] {
            log.record(check("a", ok));
        }
        let page = log.page(&all(10)).await;
        assert_eq!(page.events.len(), 3);
        assert_eq!(page.latest, 3);
        assert!(log.last_check("a", "web").unwrap().ok);
        assert!(log.last_check("a", "other").is_none());
    }

    #[test]
    fn keeps_a_short_history_of_every_check_result() {
        let log = EventLog::new(100, 3, 16);
        for ok in [true, false, true, true] {
            log.record(check("a", ok));
        }
        log.record(check("b", true));
        let watch = log.watch(10);
        let series: Vec<(&str, Vec<bool>)> = watch
            .history
            .iter()
            .map(|s| (s.endpoint.as_str(), s.results.iter().map(|p| p.ok).collect()))
            .collect();
        assert_eq!(series, [("a", vec![false, true, true]), ("b", vec![true])]);
        assert_eq!(watch.history[0].results[2].latency_ms, 2.0);
        assert_eq!(watch.recent.events.len(), 4, "three changes of a, the first of b");
    }

    #[tokio::test]
    async fn a_watcher_gets_every_event_after_its_start_numbered_when_kept() {
        let log = EventLog::new(100, 3, 16);
        log.record(check("a", true));
        let mut watch = log.watch(10);
        assert_eq!(watch.recent.latest, 1);
        log.record(check("a", true));
        log.record(verdict("a", false));
        let repeated = watch.live.recv().await.unwrap();
        assert_eq!(repeated.id, None, "an unchanged check result is passed on but not kept");
        let kept = watch.live.recv().await.unwrap();
        assert_eq!(kept.id, Some(2));
        assert!(matches!(kept.event.kind, EventKind::Verdict { up: false, .. }));
        assert!(watch.live.try_recv().is_err());
    }

    #[tokio::test]
    async fn pages_newest_first_and_drops_the_oldest_beyond_capacity() {
        let log = EventLog::new(5, 3, 16);
        for i in 0..8 {
            log.record(verdict("a", i % 2 == 0));
        }
        let first = log.page(&all(3)).await;
        let ids: Vec<u64> = first.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, [8, 7, 6]);
        assert_eq!(first.next_before, Some(6));
        let second = log
            .page(&Filter {
                before: first.next_before,
                ..all(3)
            })
            .await;
        let ids: Vec<u64> = second.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, [5, 4]);
        assert_eq!(second.next_before, None);
    }

    #[tokio::test]
    async fn every_kind_is_counted_and_a_breaker_event_is_found_by_its_endpoints() {
        let log = EventLog::new(100, 3, 16);
        log.record(check("a", true));
        log.record(check("a", true));
        log.record(Event {
            at: SystemTime::now(),
            kind: EventKind::Breaker {
                tripped: true,
                groups_down: 2,
                groups: 3,
                endpoints: vec!["a".into(), "b".into()],
                by_operator: false,
            },
        });
        let counts = log.counts();
        assert_eq!(counts.kinds, [2, 0, 0, 0, 0, 1, 0]);
        assert_eq!(counts.checks[&("a".to_string(), "web".to_string())].ok, 2);
        let page = log
            .page(&Filter {
                endpoint: Some("b".into()),
                ..all(10)
            })
            .await;
        assert_eq!(page.events.len(), 1);
        assert_eq!(serde_json::to_value(&page.events[0]).unwrap()["kind"], "breaker");
    }

    #[tokio::test]
    async fn filters_by_endpoint_kind_and_after() {
        let log = EventLog::new(100, 3, 16);
        log.record(verdict("a", false));
        log.record(verdict("b", false));
        log.record(check("a", true));
        let by_endpoint = log
            .page(&Filter {
                endpoint: Some("a".into()),
                ..all(10)
            })
            .await;
        assert_eq!(by_endpoint.events.len(), 2);
        let by_kind = log
            .page(&Filter {
                kind: Some("verdict".into()),
                after: Some(1),
                ..all(10)
            })
            .await;
        assert_eq!(by_kind.events.len(), 1);
        assert_eq!(by_kind.events[0].id, 2);
        let json = serde_json::to_value(&by_kind.events[0]).unwrap();
        assert_eq!(json["kind"], "verdict");
        assert_eq!(json["endpoint"], "b");
    }

    #[tokio::test]
    async fn pages_reach_into_the_store_below_the_ring_and_ids_continue_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("lifeline-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, saved) = Store::open(&dir).unwrap();
        let log = Arc::new(EventLog::with_history(5, 3, 16, store.clone(), saved.history.last_event_id).unwrap());
        for i in 0..12 {
            log.reserve().await;
            log.record(verdict(if i % 3 == 0 { "b" } else { "a" }, i % 2 == 0));
        }
        // An acknowledged write commits after everything queued before it.
        store.reserve_event_ids(ID_BLOCK).await.unwrap();
        let ids = |page: &Page| page.events.iter().map(|e| e.id).collect::<Vec<u64>>();
        let first = log.page(&all(4)).await;
        assert_eq!(ids(&first), [12, 11, 10, 9]);
        let second = log
            .page(&Filter {
                before: first.next_before,
                ..all(4)
            })
            .await;
        assert_eq!(ids(&second), [8, 7, 6, 5], "8 is in the ring, 7 and below in the store");
        let of_b = log
            .page(&Filter {
                endpoint: Some("b".into()),
                ..all(10)
            })
            .await;
        assert_eq!(ids(&of_b), [10, 7, 4, 1]);
        let of_b_after = log
            .page(&Filter {
                endpoint: Some("b".into()),
                after: Some(4),
                ..all(10)
            })
            .await;
        assert_eq!(ids(&of_b_after), [10, 7]);
        drop((log, store));

        let (store, saved) = Store::open(&dir).unwrap();
        let log = EventLog::with_history(5, 3, 16, store, saved.history.last_event_id).unwrap();
        let restarted = log.page(&all(3)).await;
        assert_eq!(ids(&restarted), [12, 11, 10], "the history is served after a restart");
        assert_eq!(restarted.next_before, Some(10));
        assert_eq!(serde_json::to_value(&restarted.events[0]).unwrap()["kind"], "verdict");
        log.reserve().await;
        log.record(verdict("a", true));
        assert!(log.latest() > 12, "ids continue above every id handed out before");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
