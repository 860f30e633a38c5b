//! What the store keeps of the past (DESIGN.md §6): each endpoint's last
//! verdict, so that a restart resumes from it instead of the configured
//! initial state, and the event history that `GET /v1/events` pages
//! through after a restart.
//!
//! Both are written without waiting: the writer thread takes whatever has
//! queued up since its last commit and commits it in one transaction, so a
//! burst of events costs one `fsync`, not one each. What the health engine
//! sends is therefore durable a few milliseconds later; a `kill -9` in
//! between loses at most those milliseconds of history, never an
//! acknowledged operator write (those are waited for, see [`super::Store`]).
//!
//! Event ids are handed out by the API's event log and keep increasing
//! across restarts, crashes included: ids are reserved in blocks
//! ([`ID_BLOCK`]) with a committed high-water mark, and a restart continues
//! above the mark, so an id shown before a crash is never given to another
//! event.
//!
//! The writer also keeps the history bounded ([`Retention`]) and notes
//! every so often that the server is alive, which tells the next start how
//! long the server was down: verdicts older than that are not trusted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Store, StoreError, Write as Job};

/// Event ids reserved per committed high-water mark: one acknowledged
/// write per this many events.
pub const ID_BLOCK: u64 = 1000;
/// How often the writer prunes the history and notes that the server is
/// alive when nothing else is written.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(30);
/// Most writes committed in one transaction.
pub const BATCH_MAX: usize = 4096;

/// How much history is kept: events older than `age`, and the oldest
/// beyond `rows`, are deleted by the writer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub age: Duration,
    pub rows: u64,
}

/// What the history holds at start.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// Endpoint name → its last verdict, as the health engine wrote it.
    pub verdicts: Vec<(String, String)>,
    /// When the previous server was last known to be alive.
    pub alive: Option<SystemTime>,
    /// Event ids up to this one may have been shown: the next one is above.
    pub last_event_id: u64,
}

/// One stored event, as the API's event log hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: u64,
    pub at: SystemTime,
    /// The event's kind (`answer`, `verdict`, ...).
    pub kind: String,
    /// The record of an answer event, the endpoint of an endpoint's event.
    pub subject: Option<String>,
    /// The event itself, as its writer encoded it.
    pub json: String,
}

/// Which stored events a reader asks for; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub since: Option<SystemTime>,
    pub kind: Option<String>,
    /// Events of this subject, and breaker events (which name several
    /// endpoints; the caller looks inside).
    pub endpoint: Option<String>,
    /// Only answer events (the caller matches the record name).
    pub answers_only: bool,
}

/// A write of the history.
#[derive(Debug)]
pub enum Write {
    /// One endpoint's verdict changed.
    Verdict(String, String),
    /// Every configured endpoint's verdict: replaces what is kept.
    AllVerdicts(Vec<(String, String)>),
    Event(StoredEvent),
    /// Event ids up to this one may be handed out.
    Reserve(u64),
    Retention(Retention),
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Creates the history's tables if they are not there.
pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS verdicts (endpoint TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS events (
             id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT, event TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS events_at ON events (at);
         CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
         CREATE INDEX IF NOT EXISTS events_subject ON events (subject, id);
         CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    )
}

fn mark(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM marks WHERE name = ?1", params![name], |r| r.get(0))
        .optional()
}

fn set_mark(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO marks (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = ?2",
        params![name, value],
    )?;
    Ok(())
}

/// Reads what the history holds at start.
pub(super) fn read(conn: &Connection) -> Result<Kept, StoreError> {
    let mut q = conn.prepare("SELECT endpoint, state FROM verdicts ORDER BY endpoint")?;
    let verdicts = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let max_id: Option<i64> = conn.query_row("SELECT max(id) FROM events", [], |r| r.get(0))?;
    let reserved = mark(conn, "reserved")?.unwrap_or(0);
    Ok(Kept {
        verdicts,
        alive: mark(conn, "alive")?.map(time),
        last_event_id: max_id.unwrap_or(0).max(reserved).max(0) as u64,
    })
}

/// Applies one write inside the writer's transaction.
pub(super) fn apply(conn: &Connection, write: &Write, upkeep: &mut Upkeep) -> rusqlite::Result<()> {
    let now = millis(SystemTime::now());
    match write {
        Write::Verdict(endpoint, state) => {
            conn.execute(
                "INSERT INTO verdicts (endpoint, state, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(endpoint) DO UPDATE SET state = ?2, at = ?3",
                params![endpoint, state, now],
            )?;
        }
        Write::AllVerdicts(all) => {
            conn.execute("DELETE FROM verdicts", [])?;
            let mut insert = conn.prepare_cached("INSERT INTO verdicts (endpoint, state, at) VALUES (?1, ?2, ?3)")?;
            for (endpoint, state) in all {
                insert.execute(params![endpoint, state, now])?;
            }
        }
        Write::Event(e) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO events (id, at, kind, subject, event) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![e.id as i64, millis(e.at), e.kind, e.subject, e.json])?;
            upkeep.written += 1;
        }
        Write::Reserve(upto) => {
            let reserved = mark(conn, "reserved")?.unwrap_or(0);
            set_mark(conn, "reserved", reserved.max(*upto as i64))?;
        }
        Write::Retention(retention) => {
            upkeep.retention = Some(*retention);
            upkeep.last = None;
        }
    }
    Ok(())
}

/// The writer's housekeeping: pruning and the sign of life.
#[derive(Debug, Default)]
pub(super) struct Upkeep {
    retention: Option<Retention>,
    /// When it last ran.
    last: Option<Instant>,
    /// Events written since.
    written: u64,
}

impl Upkeep {
    /// Whether it is due: every [`UPKEEP_EVERY`], or after [`ID_BLOCK`]
    /// events, so that a burst cannot outgrow the row limit by much.
    pub(super) fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= UPKEEP_EVERY) || self.written >= ID_BLOCK
    }

    /// Notes that the server is alive and prunes the history.
    pub(super) fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let now = SystemTime::now();
        set_mark(conn, "alive", millis(now))?;
        if let Some(r) = self.retention {
            let oldest = now.checked_sub(r.age).map_or(0, millis);
            let by_age = conn.execute("DELETE FROM events WHERE at < ?1", params![oldest])?;
            let by_rows = conn.execute(
                "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                params![r.rows as i64],
            )?;
            if by_age + by_rows > 0 {
                tracing::debug!(by_age, by_rows, "event history pruned");
            }
        }
        self.last = Some(Instant::now());
        self.written = 0;
        Ok(())
    }
}

/// Reads the stored event history, on its own connection (WAL lets it
/// read while the writer writes).
#[derive(Debug, Clone)]
pub struct EventReader {
    conn: Arc<Mutex<Connection>>,
}

impl EventReader {
    /// The newest stored events that the query selects and `accept` takes,
    /// at most `limit`, newest first.
    pub fn page(
        &self,
        query: &EventQuery,
        limit: usize,
        mut accept: impl FnMut(&StoredEvent) -> bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.conn.lock().map_err(|_| StoreError::Stopped)?;
        let mut q = conn.prepare_cached(
            "SELECT id, at, kind, subject, event FROM events
             WHERE id < ?1 AND id > ?2 AND at >= ?3
               AND (?4 IS NULL OR kind = ?4)
               AND (?5 IS NULL OR subject = ?5 OR kind = 'breaker')
               AND (?6 = 0 OR kind = 'answer')
             ORDER BY id DESC",
        )?;
        let rows = q.query_map(
            params![
                query.before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64),
                query.after.map_or(0, |a| a.min(i64::MAX as u64) as i64),
                query.since.map_or(i64::MIN, millis),
                query.kind,
                query.endpoint,
                query.answers_only,
            ],
            |r| {
                Ok(StoredEvent {
                    id: r.get::<_, i64>(0)? as u64,
                    at: time(r.get(1)?),
                    kind: r.get(2)?,
                    subject: r.get(3)?,
                    json: r.get(4)?,
                })
            },
        )?;
        let mut events = Vec::new();
        for row in rows {
            let event = row?;
            if accept(&event) {
                events.push(event);
                if events.len() == limit {
                    break;
                }
            }
        }
        Ok(events)
    }
}

impl Store {
    /// Records an endpoint's changed verdict; not waited for.
    pub fn put_verdict(&self, endpoint: &str, state_json: String) {
        self.send(Job::History(Write::Verdict(endpoint.to_string(), state_json)));
    }

    /// Records every configured endpoint's verdict, replacing those of
    /// endpoints no longer configured; not waited for.
    pub fn put_all_verdicts(&self, all: Vec<(String, String)>) {
        self.send(Job::History(Write::AllVerdicts(all)));
    }

    /// Appends an event to the history; not waited for.
    pub fn append_event(&self, event: StoredEvent) {
        self.send(Job::History(Write::Event(event)));
    }

    /// Allows event ids up to `upto`; returns once that is durable.
    pub async fn reserve_event_ids(&self, upto: u64) -> Result<(), StoreError> {
        self.acked(Job::History(Write::Reserve(upto))).await
    }

    /// Sets how much event history is kept; the writer prunes to it.
    pub fn set_retention(&self, retention: Retention) {
        self.send(Job::History(Write::Retention(retention)));
    }

    /// A reader of the stored event history.
    pub fn event_reader(&self) -> Result<EventReader, StoreError> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            StoreError::Open {
                path: self.path.clone(),
                source,
            }
        })?;
        Ok(EventReader {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn send(&self, job: Job) {
        let _ = self.jobs.send((job, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lifeline-history-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn event(id: u64, at: SystemTime, kind: &str, subject: &str) -> StoredEvent {
        StoredEvent {
            id,
            at,
            kind: kind.into(),
            subject: Some(subject.into()),
            json: format!("{{\"n\":{id}}}"),
        }
    }

    /// Waits for the writer: an acknowledged write commits after every
    /// write queued before it.
    async fn flush(store: &Store, upto: u64) {
        store.reserve_event_ids(upto).await.unwrap();
    }

    #[tokio::test]
    async fn events_verdicts_and_the_id_mark_are_kept_and_read_back_with_filters() {
        let d = dir("kept");
        let (store, saved) = Store::open(&d).unwrap();
        assert_eq!(saved.history.last_event_id, 0);
        let now = SystemTime::now();
        for id in 1..=10 {
            let (kind, subject) = if id % 2 == 0 {
                ("verdict", "a")
            } else {
                ("answer", "www/A")
            };
            store.append_event(event(id, now, kind, subject));
        }
        store.put_verdict("a", "{\"up\":false}".into());
        store.put_all_verdicts(vec![("b".into(), "{}".into()), ("c".into(), "{}".into())]);
        store.put_verdict("b", "{\"up\":true}".into());
        flush(&store, 1000).await;
        let reader = store.event_reader().unwrap();
        let all = reader.page(&EventQuery::default(), 100, |_| true).unwrap();
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            (1..=10).rev().collect::<Vec<_>>()
        );
        let query = EventQuery {
            endpoint: Some("a".into()),
            before: Some(9),
            ..EventQuery::default()
        };
        let page = reader.page(&query, 2, |_| true).unwrap();
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [8, 6]);
        let answers = EventQuery {
            answers_only: true,
            after: Some(5),
            ..EventQuery::default()
        };
        assert_eq!(reader.page(&answers, 10, |_| true).unwrap().len(), 2, "answers 7 and 9");
        drop((store, reader));
        let (_, saved) = Store::open(&d).unwrap();
        assert_eq!(
            saved.history.last_event_id, 1000,
            "the reserved mark, above the last stored id"
        );
        assert_eq!(
            saved.history.verdicts,
            vec![
                ("b".to_string(), "{\"up\":true}".to_string()),
                ("c".into(), "{}".into())
            ],
            "replacing all verdicts drops the endpoints no longer configured"
        );
        assert!(saved.history.alive.is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_burst_of_events_is_committed_in_a_few_transactions_not_one_each() {
        let d = dir("burst");
        let (store, _) = Store::open(&d).unwrap();
        flush(&store, 1000).await;
        let before = store.commits();
        for id in 1..=2000 {
            store.append_event(event(id, SystemTime::now(), "check", "a"));
        }
        flush(&store, 3000).await;
        let commits = store.commits() - before;
        assert!(commits <= 20, "{commits} commits for 2000 events");
        let stored = store
            .event_reader()
            .unwrap()
            .page(&EventQuery::default(), 5000, |_| true)
            .unwrap();
        assert_eq!(stored.len(), 2000);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn the_writer_prunes_events_beyond_the_retention() {
        let d = dir("prune");
        let (store, _) = Store::open(&d).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3 * 86400);
        for id in 1..=5 {
            store.append_event(event(id, old, "verdict", "a"));
        }
        for id in 6..=20 {
            store.append_event(event(id, SystemTime::now(), "verdict", "a"));
        }
        // A new retention makes upkeep due: it runs after the writes
        // queued before it.
        store.set_retention(Retention {
            age: Duration::from_secs(86400),
            rows: 10,
        });
        flush(&store, 1000).await;
        let ids: Vec<u64> = store
            .event_reader()
            .unwrap()
            .page(&EventQuery::default(), 100, |_| true)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            ids,
            (11..=20).rev().collect::<Vec<_>>(),
            "the newest 10 rows, none too old"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
