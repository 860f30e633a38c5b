//! Webhooks (DESIGN.md §6): events POSTed as signed JSON to the URLs of
//! `[[webhook]]`, with retries, for operators' chat and paging tools.
//!
//! ```text
//!  health engine ── event stream ──► dispatch ──► store (committed) ──► each webhook's Queue ──► POST
//!                                     (filter, id, JSON body, lane)       (lanes, bound)          (retry, backoff)
//! ```
//!
//! Each event a webhook wants gets an id and its JSON body once; with a
//! state store it is committed there before it counts as queued, and
//! leaves the store when it was delivered, given up or dropped. A restart
//! resends what the store still holds, in the order it was queued.
//! Delivery is at least once: a crash between a delivery and the removal
//! of its row sends it again, with the same id.

mod queue;
mod webhook;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, watch};

use self::queue::Queue;
use crate::config::WebhookConfig;
use crate::persist::{PendingDelivery, Store};
use crate::publish::event::{Event, EventKind};
use crate::serve::http::events::{Detail, about_endpoint, about_record, kind_name, timestamp};

/// What one webhook has done since the start, for metrics.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// The webhook's URL.
    pub url: String,
    pub delivered: AtomicU64,
    /// Given up: refused by the receiver, or out of attempts.
    pub failed: AtomicU64,
    /// Dropped to make room in a full queue, or missed by a lagging
    /// event stream.
    pub dropped: AtomicU64,
    /// Events waiting now.
    pub queued: AtomicU64,
}

impl WebhookStats {
    /// Delivered, failed, dropped, queued.
    pub fn counts(&self) -> [u64; 4] {
        [&self.delivered, &self.failed, &self.dropped, &self.queued].map(|n| n.load(Ordering::Relaxed))
    }
}

/// One webhook: its configuration, queue and counters.
#[derive(Debug)]
struct Hook {
    config: WebhookConfig,
    queue: Mutex<Queue>,
    /// Wakes the delivery task when an event is queued.
    wake: Notify,
    stats: Arc<WebhookStats>,
    store: Option<Store>,
    /// Replaced or removed by a reload: its delivery task ends.
    retired: AtomicBool,
}

impl Hook {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("webhook queue lock")
    }

    /// Adds an event to the queue, dropping the oldest when it is full.
    fn push(&self, lane: &str, event: String, body: Arc<str>) {
        let dropped = {
            let mut queue = self.queue();
            let dropped = queue.push(lane, event, body);
            self.stats.queued.store(queue.len() as u64, Ordering::Relaxed);
            dropped
        };
        if let Some(dropped) = dropped {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                webhook = %self.config.url.text,
                event = %dropped,
                "webhook queue full ({} events): dropped the oldest",
                self.config.queue
            );
            if let Some(store) = &self.store {
                store.delivery_done(&self.config.url.text, &dropped);
            }
        }
        self.wake.notify_one();
    }

    fn wants(&self, kind: &EventKind) -> bool {
        let c = &self.config;
        if !c.events.contains(&kind_name(kind)) {
            return false;
        }
        let by_record =
            |list: &Option<Vec<String>>| list.as_ref().is_none_or(|l| l.iter().any(|r| about_record(kind, r)));
        let by_endpoint =
            |list: &Option<Vec<String>>| list.as_ref().is_none_or(|l| l.iter().any(|e| about_endpoint(kind, e)));
        match kind {
            EventKind::Answer { .. } => by_record(&c.records),
            EventKind::Watchdog { .. } => true,
            _ => by_endpoint(&c.endpoints),
        }
    }
}

/// The lane an event is queued in: events of one record (or of one
/// endpoint) are delivered in the order they happened.
fn lane(kind: &EventKind) -> String {
    match kind {
        EventKind::Answer { record, .. } => format!("record:{record}"),
        EventKind::Check { endpoint, .. }
        | EventKind::Verdict { endpoint, .. }
        | EventKind::Override { endpoint, .. }
        | EventKind::Certificate { endpoint, .. } => format!("endpoint:{endpoint}"),
        EventKind::Breaker { .. } => "breaker".into(),
        EventKind::Watchdog { .. } => "watchdog".into(),
    }
}

/// The JSON body of a delivery: the event as `GET /v1/events` shows it,
/// with an id that stays the same across retries and restarts.
#[derive(Debug, Serialize)]
struct Body {
    id: String,
    at: String,
    #[serde(flatten)]
    detail: Detail,
    message: String,
}

/// Ids of this run's events: the start time in milliseconds and a count,
/// unique across restarts without keeping a counter.
#[derive(Debug)]
struct Ids {
    run: u128,
    next: u64,
}

impl Ids {
    fn new() -> Ids {
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ids { run, next: 0 }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}-{}", self.run, self.next)
    }
}

/// The running webhooks: what a reload changes and metrics read.
#[derive(Debug)]
pub struct Webhooks {
    hooks: Arc<ArcSwap<Vec<Arc<Hook>>>>,
    store: Option<Store>,
    shutdown: watch::Receiver<bool>,
    /// The event stream, until the first webhook starts the task that
    /// reads it (a stream nobody reads costs nothing).
    idle: Mutex<Option<broadcast::Receiver<Event>>>,
}

impl Webhooks {
    /// Each webhook's counters.
    pub fn stats(&self) -> Vec<Arc<WebhookStats>> {
        self.hooks.load().iter().map(|h| h.stats.clone()).collect()
    }

    /// Applies the `[[webhook]]`s of a reloaded configuration: an
    /// unchanged webhook goes on as it was; a changed one (same URL) keeps
    /// its waiting events, its counters and their order; a new one starts
    /// empty; a removed one stops, and what the store kept for it is
    /// forgotten. Must be called inside the control runtime.
    pub fn reload(&self, configs: Vec<WebhookConfig>) {
        let old = self.hooks.load_full();
        let mut hooks = Vec::new();
        for config in configs {
            let before = old.iter().find(|h| h.config.url.text == config.url.text);
            match before {
                Some(hook) if hook.config == config => hooks.push(hook.clone()),
                Some(hook) => {
                    let new = new_hook(config, self.store.clone(), Some(hook.stats.clone()));
                    hook.retire();
                    let moved = hook.queue().drain();
                    for (lane, item) in moved {
                        new.push(&lane, item.event, item.body);
                    }
                    tracing::info!(webhook = %new.config.url.text, "webhook reconfigured");
                    spawn_delivery(&new, &self.shutdown);
                    hooks.push(new);
                }
                None => {
                    let new = new_hook(config, self.store.clone(), None);
                    tracing::info!(webhook = %new.config.url.text, "webhook added");
                    spawn_delivery(&new, &self.shutdown);
                    hooks.push(new);
                }
            }
        }
        for hook in old
            .iter()
            .filter(|h| !hooks.iter().any(|n| n.config.url.text == h.config.url.text))
        {
            hook.retire();
            tracing::info!(webhook = %hook.config.url.text, "webhook removed; its waiting events are dropped");
            if let Some(store) = &self.store {
                store.forget_webhook(&hook.config.url.text);
            }
        }
        let start = !hooks.is_empty();
        self.hooks.store(Arc::new(hooks));
        if start && let Some(events) = self.idle.lock().expect("webhooks lock").take() {
            tokio::spawn(dispatch(
                self.hooks.clone(),
                self.store.clone(),
                events.resubscribe(),
                self.shutdown.clone(),
            ));
        }
    }
}

impl Hook {
    fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

fn new_hook(config: WebhookConfig, store: Option<Store>, stats: Option<Arc<WebhookStats>>) -> Arc<Hook> {
    Arc::new(Hook {
        stats: stats.unwrap_or_else(|| {
            Arc::new(WebhookStats {
                url: config.url.text.clone(),
                ..WebhookStats::default()
            })
        }),
        queue: Mutex::new(Queue::new(config.queue)),
        wake: Notify::new(),
        store,
        retired: AtomicBool::new(false),
        config,
    })
}

fn spawn_delivery(hook: &Arc<Hook>, shutdown: &watch::Receiver<bool>) {
    tokio::spawn(webhook::deliver(hook.clone(), shutdown.clone()));
}

/// Starts a delivery task per webhook and the task that queues events for
/// them; `pending` is what the store kept from before. Must be called
/// inside the control runtime.
pub fn start(
    webhooks: Vec<WebhookConfig>,
    store: Option<Store>,
    pending: Vec<PendingDelivery>,
    events: broadcast::Receiver<Event>,
    shutdown: watch::Receiver<bool>,
) -> Arc<Webhooks> {
    let hooks: Vec<Arc<Hook>> = webhooks
        .into_iter()
        .map(|config| new_hook(config, store.clone(), None))
        .collect();
    requeue(&hooks, store.as_ref(), pending);
    for hook in &hooks {
        spawn_delivery(hook, &shutdown);
    }
    let running = !hooks.is_empty();
    let webhooks = Arc::new(Webhooks {
        hooks: Arc::new(ArcSwap::from_pointee(hooks)),
        store: store.clone(),
        shutdown: shutdown.clone(),
        idle: Mutex::new(None),
    });
    if running {
        tokio::spawn(dispatch(webhooks.hooks.clone(), store, events, shutdown));
    } else {
        *webhooks.idle.lock().expect("webhooks lock") = Some(events);
    }
    webhooks
}

/// Queues again what the store kept; what was kept for a webhook that is
/// no longer configured is forgotten.
fn requeue(hooks: &[Arc<Hook>], store: Option<&Store>, pending: Vec<PendingDelivery>) {
    let mut forgotten = Vec::new();
    for p in pending {
        match hooks.iter().find(|h| h.config.url.text == p.webhook) {
            Some(hook) => hook.push(&p.lane, p.event, p.body.into()),
            None if !forgotten.contains(&p.webhook) => forgotten.push(p.webhook),
            None => {}
        }
    }
    for url in forgotten {
        tracing::warn!(webhook = %url, "forgetting the deliveries kept for a webhook no longer configured");
        if let Some(store) = store {
            store.forget_webhook(&url);
        }
    }
    for hook in hooks.iter().filter(|h| !h.queue().is_empty()) {
        tracing::info!(webhook = %hook.config.url.text, events = hook.queue().len(), "resending deliveries kept from before the restart");
    }
}

/// Queues every event for the webhooks that want it, until shutdown.
async fn dispatch(
    hooks: Arc<ArcSwap<Vec<Arc<Hook>>>>,
    store: Option<Store>,
    mut events: broadcast::Receiver<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ids = Ids::new();
    loop {
        let mut received = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.changed() => return,
        };
        // What else is waiting goes in the same transaction: a burst of
        // events costs one commit, not one each.
        let mut batch = Vec::new();
        let hooks = hooks.load_full();
        let closed = loop {
            match received {
                Ok(event) => batch.push(event),
                Err(RecvError::Lagged(n)) => missed(&hooks, n),
                Err(RecvError::Closed) => break true,
            }
            if batch.len() >= BATCH {
                break false;
            }
            received = match events.try_recv() {
                Ok(event) => Ok(event),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                Err(TryRecvError::Empty) => break false,
            };
        };
        queue_events(&hooks, store.as_ref(), batch, &mut ids).await;
        if closed {
            return;
        }
    }
}

/// Events queued with one commit at most.
const BATCH: usize = 256;

fn missed(hooks: &[Arc<Hook>], n: u64) {
    tracing::warn!(
        missed = n,
        "webhooks fell behind the event stream; some events are not sent"
    );
    for hook in hooks {
        hook.stats.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

/// One event, ready to queue: for these webhooks, in this lane.
struct Queued {
    hooks: Vec<Arc<Hook>>,
    id: String,
    lane: String,
    body: Arc<str>,
}

async fn queue_events(hooks: &[Arc<Hook>], store: Option<&Store>, events: Vec<Event>, ids: &mut Ids) {
    let queued: Vec<Queued> = events.into_iter().filter_map(|e| prepare(hooks, e, ids)).collect();
    if queued.is_empty() {
        return;
    }
    if let Some(store) = store {
        let rows = queued
            .iter()
            .flat_map(|q| {
                q.hooks.iter().map(|h| PendingDelivery {
                    webhook: h.config.url.text.clone(),
                    event: q.id.clone(),
                    lane: q.lane.clone(),
                    body: q.body.to_string(),
                })
            })
            .collect();
        if let Err(e) = store.queue_deliveries(rows).await {
            tracing::error!("{e}; {} events are queued in memory only", queued.len());
        }
    }
    for q in queued {
        for hook in &q.hooks {
            hook.push(&q.lane, q.id.clone(), q.body.clone());
        }
    }
}

/// The id, lane and body of an event some webhook wants.
fn prepare(hooks: &[Arc<Hook>], event: Event, ids: &mut Ids) -> Option<Queued> {
    let wanting: Vec<Arc<Hook>> = hooks.iter().filter(|h| h.wants(&event.kind)).cloned().collect();
    if wanting.is_empty() {
        return None;
    }
    let id = ids.next();
    let lane = lane(&event.kind);
    let body = Body {
        id: id.clone(),
        at: timestamp(event.at),
        message: event.kind.to_string(),
        detail: Detail::of(event.kind),
    };
    let body: Arc<str> = serde_json::to_string(&body).expect("events serialize").into();
    Some(Queued {
        hooks: wanting,
        id,
        lane,
        body,
    })
}

/// A number in 0..1 for jitter; no generator to seed or share.
fn jitter() -> f64 {
    (RandomState::new().hash_one(std::time::Instant::now()) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::webhook::{DEFAULT_EVENTS, WebhookSecret, WebhookUrl};
    use crate::decide::verdict::Override;
    use crate::publish::event::{AnswerText, Audit};

    fn hook(events: &[&'static str], records: Option<&[&str]>, endpoints: Option<&[&str]>) -> Hook {
        let list = |l: Option<&[&str]>| l.map(|l| l.iter().map(ToString::to_string).collect());
        let config = WebhookConfig {
            url: WebhookUrl::try_new("http://127.0.0.1:9/hook").unwrap(),
            secret: WebhookSecret::try_new("0123456789abcdef").unwrap(),
            events: events.to_vec(),
            records: list(records),
            endpoints: list(endpoints),
            timeout: Duration::from_secs(1),
            max_attempts: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            queue: 10,
            ca: None,
        };
        Hook {
            stats: Arc::default(),
            queue: Mutex::new(Queue::new(config.queue)),
            wake: Notify::new(),
            store: None,
            retired: AtomicBool::new(false),
            config,
        }
    }

    fn answer(record: &str) -> EventKind {
        let text = AnswerText {
            addresses: Vec::new(),
            negative: Some("NODATA"),
            ttl: 5,
            tier: None,
        };
        EventKind::Answer {
            record: record.into(),
            old: text.clone(),
            new: text,
            cause: String::new(),
        }
    }

    fn drain(endpoint: &str) -> EventKind {
        EventKind::Override {
            endpoint: endpoint.into(),
            admin: Override::Drain,
            audit: Audit::default(),
        }
    }

    fn check(endpoint: &str) -> EventKind {
        EventKind::Check {
            endpoint: endpoint.into(),
            check: "web".into(),
            ok: true,
            detail: String::new(),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn by_default_every_change_is_sent_and_no_check_result() {
        let h = hook(&DEFAULT_EVENTS, None, None);
        assert!(h.wants(&answer("www.example.test/A")));
        assert!(h.wants(&drain("a")));
        assert!(!h.wants(&check("a")));
        assert!(hook(&["check"], None, None).wants(&check("a")));
    }

    #[test]
    fn record_and_endpoint_filters_apply_to_the_events_about_them() {
        let h = hook(&DEFAULT_EVENTS, Some(&["www.example.test"]), Some(&["a"]));
        assert!(h.wants(&answer("www.example.test/A")));
        assert!(!h.wants(&answer("api.example.test/A")));
        assert!(h.wants(&drain("a")));
        assert!(!h.wants(&drain("b")));
        let breaker = |endpoints: &[&str]| EventKind::Breaker {
            tripped: true,
            groups_down: 2,
            groups: 3,
            endpoints: endpoints.iter().map(ToString::to_string).collect(),
            by_operator: false,
        };
        assert!(h.wants(&breaker(&["b", "a"])));
        assert!(!h.wants(&breaker(&["b"])));
        let watchdog = EventKind::Watchdog {
            reason: "stalled".into(),
            restarts: 1,
        };
        assert!(h.wants(&watchdog));
    }

    #[test]
    fn lanes_are_per_record_and_per_endpoint() {
        assert_eq!(lane(&answer("www.example.test/A")), "record:www.example.test/A");
        assert_eq!(lane(&drain("a")), "endpoint:a");
        assert_eq!(lane(&check("a")), "endpoint:a");
    }
}
