//! `GET /v1/stream`: the status page's live feed, as Server-Sent Events
//! (HTML Living Standard §9.2, `text/event-stream`).
//!
//! ```text
//!  EventLog ──watch──► feed task (one per client) ──channel──► Sse body ──► browser
//!                          │  on connect: state, history, events
//!                          └─ then: checks (batched), event, state (after a change)
//! ```
//!
//! A client starts from the whole picture and is then told what changes,
//! so the page never polls. Each message is one named event whose data is
//! one line of JSON (docs/api.md lists them). Nothing is resumed: a
//! browser whose connection drops reconnects by itself (`retry`) and gets
//! the whole picture again; a client too slow to keep up is disconnected
//! the same way, rather than be sent a picture with holes in it. Comments
//! keep idle connections open through proxies, and every feed ends when
//! the server shuts down, so that shutdown never waits for a browser.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, KeepAliveStream, Sse};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use super::events::{EventView, Logged, Page, Series};
use super::routes::Api;
use super::views::{EndpointView, RecordView, timestamp};
use crate::publish::event::EventKind;

/// Events buffered per client between the log and its feed; a client
/// that falls further behind is disconnected (and reconnects afresh).
pub const BUFFER: usize = 4096;
/// Messages waiting to be written to one client.
const OUTGOING: usize = 64;
/// Events on the page when it connects.
const RECENT_EVENTS: usize = 50;
/// An idle connection gets a comment this often (proxies drop silent ones).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(1);
/// How long check results are gathered into one `checks` message.
const CHECKS_WINDOW: Duration = Duration::from_millis(200);
/// Check results in the history sent on connect, over all checks.
const HISTORY_POINTS: usize = 60_000;
/// ... but never fewer than this per check.
const MIN_POINTS: usize = 5;
/// At most one `state` per client this often: with thousands of endpoints
/// a state is megabytes, and a burst of changes needs only the last one.
const STATE_EVERY: Duration = Duration::from_millis(500);

/// `GET /v1/stream`.
pub async fn stream(State(api): State<Api>) -> Sse<KeepAliveStream<Feed>> {
    let (tx, rx) = mpsc::channel(OUTGOING);
    tokio::spawn(feed(api, tx));
    Sse::new(Feed(rx)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The messages of one client, as the body of its response.
#[derive(Debug)]
pub struct Feed(mpsc::Receiver<SseEvent>);

impl futures_core::Stream for Feed {
    type Item = Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|message| message.map(Ok))
    }
}

/// Why a feed stops: the client left, or the picture cannot be had.
#[derive(Debug)]
struct Gone;

/// Sends one client the whole picture, then every change, until it
/// leaves, falls behind, or the server shuts down.
async fn feed(api: Api, tx: mpsc::Sender<SseEvent>) {
    let watch = api.0.log.watch(RECENT_EVENTS);
    let mut live = watch.live;
    let mut shutdown = api.0.shutdown.clone();
    if start(&api, &tx, watch.history, watch.recent).await.is_err() {
        return;
    }
    // When the last state was sent, and whether a change since awaits one.
    let mut last_state = tokio::time::Instant::now();
    let mut state_due = false;
    loop {
        let next_state = last_state + STATE_EVERY;
        let first = tokio::select! {
            first = live.recv() => Some(first),
            _ = tokio::time::sleep_until(next_state), if state_due => None,
            _ = tx.closed() => return,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Some(first) = first else {
            if send_state(&api, &tx).await.is_err() {
                return;
            }
            (last_state, state_due) = (tokio::time::Instant::now(), false);
            continue;
        };
        // Lagged or closed: either way the picture would have holes.
        let Ok(first) = first else { return };
        // Check results are gathered for a moment, so that thousands a
        // second make a few messages; anything the log keeps (a verdict,
        // an answer) goes out at once.
        let mut urgent = first.id.is_some();
        let mut batch = vec![first];
        let window = tokio::time::sleep(CHECKS_WINDOW);
        tokio::pin!(window);
        while !urgent {
            tokio::select! {
                biased;
                next = live.recv() => match next {
                    Ok(next) => {
                        urgent = next.id.is_some();
                        batch.push(next);
                    }
                    Err(_) => return,
                },
                _ = &mut window => break,
            }
        }
        loop {
            match live.try_recv() {
                Ok(next) => batch.push(next),
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(_) => return,
            }
        }
        match forward(&tx, &batch).await {
            Err(Gone) => return,
            Ok(changed) => state_due |= changed,
        }
        if state_due && last_state.elapsed() >= STATE_EVERY {
            if send_state(&api, &tx).await.is_err() {
                return;
            }
            (last_state, state_due) = (tokio::time::Instant::now(), false);
        }
    }
}

async fn send_state(api: &Api, tx: &mpsc::Sender<SseEvent>) -> Result<(), Gone> {
    send(tx, message("state", &state(api).await?)).await
}

/// The whole picture: records and endpoints, check histories, recent
/// events (newest first).
async fn start(api: &Api, tx: &mpsc::Sender<SseEvent>, mut history: Vec<Series>, recent: Page) -> Result<(), Gone> {
    // With thousands of checks the newest results of each are enough for
    // the page's small charts: the first message stays a few MB.
    let keep = (HISTORY_POINTS / history.len().max(1)).max(MIN_POINTS);
    for series in &mut history {
        let drop = series.results.len().saturating_sub(keep);
        series.results.drain(..drop);
    }
    send(tx, message("state", &state(api).await?).retry(RETRY)).await?;
    send(tx, message("history", &history)).await?;
    send(tx, message("events", &recent.events)).await
}

/// One batch of events: the check results in one message, each event the
/// log kept in its own; says whether anything but a check result happened
/// (the records and endpoints are then sent again, at most every
/// [`STATE_EVERY`]).
async fn forward(tx: &mpsc::Sender<SseEvent>, batch: &[Arc<Logged>]) -> Result<bool, Gone> {
    let checks: Vec<CheckResult> = batch.iter().filter_map(|l| CheckResult::of(l)).collect();
    if !checks.is_empty() {
        send(tx, message("checks", &checks)).await?;
    }
    for logged in batch {
        if let Some(id) = logged.id {
            send(tx, message("event", &EventView::of(id, &logged.event))).await?;
        }
    }
    Ok(batch.iter().any(|l| !matches!(l.event.kind, EventKind::Check { .. })))
}

/// What the page shows of records and endpoints.
#[derive(Debug, Serialize)]
struct StateView {
    version: &'static str,
    records: Vec<RecordView>,
    endpoints: Vec<EndpointView>,
}

async fn state(api: &Api) -> Result<StateView, Gone> {
    let status = api.status().await.map_err(|_| Gone)?;
    let ctx = api.context(&status);
    Ok(StateView {
        version: env!("CARGO_PKG_VERSION"),
        records: status.records.iter().map(|r| RecordView::of(r, &ctx)).collect(),
        endpoints: status
            .endpoints
            .iter()
            .filter_map(|e| EndpointView::of(e, &ctx))
            .collect(),
    })
}

/// One check result, as a point of its check's history.
#[derive(Debug, Serialize)]
struct CheckResult<'a> {
    endpoint: &'a str,
    check: &'a str,
    at: String,
    ok: bool,
    latency_ms: f64,
    detail: &'a str,
}

impl CheckResult<'_> {
    fn of(logged: &Logged) -> Option<CheckResult<'_>> {
        let EventKind::Check {
            endpoint,
            check,
            ok,
            detail,
            latency,
        } = &logged.event.kind
        else {
            return None;
        };
        Some(CheckResult {
            endpoint,
            check,
            at: timestamp(logged.event.at),
            ok: *ok,
            latency_ms: latency.as_secs_f64() * 1e3,
            detail,
        })
    }
}

/// A named message with one line of JSON as its data.
fn message(name: &str, data: &impl Serialize) -> SseEvent {
    let json = serde_json::to_string(data).expect("views serialize");
    SseEvent::default().event(name).data(json)
}

async fn send(tx: &mpsc::Sender<SseEvent>, message: SseEvent) -> Result<(), Gone> {
    tx.send(message).await.map_err(|_| Gone)
}
