//! The embedded store (DESIGN.md §6): operator overrides and each record's
//! sticky failover state, in one SQLite file under `state_dir`, so that a
//! restart neither forgets a drain nor a manual failover; and the history
//! ([`history`]): each endpoint's last verdict and the event log.
//!
//! One writer thread owns the connection. A write is acknowledged only
//! after its transaction has committed (WAL, `synchronous = FULL`), so an
//! acknowledged write survives `kill -9` at any moment. The DNS path never
//! touches the store. Webhook deliveries waiting to be made are kept too
//! ([`deliveries`]). Writes that have queued up while the writer was
//! committing are committed together, in one transaction.

mod deliveries;
pub mod history;

pub use deliveries::PendingDelivery;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

/// The file name inside `state_dir`.
pub const FILE: &str = "lifeline.db";

/// What the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state store: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the state store has stopped")]
    Stopped,
    #[error("state store: {0}")]
    Batch(String),
}

/// An operator override as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedOverride {
    pub endpoint: String,
    /// `drain`, `force-up` or `auto`.
    pub mode: String,
    pub reason: String,
    pub by: String,
    pub until: Option<SystemTime>,
    /// When a scheduled override takes effect; `None`: it is in force.
    pub starts: Option<SystemTime>,
}

/// One change of the overrides, for [`Store::change_overrides`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideWrite {
    /// Sets an endpoint's override (in force, or scheduled when it has
    /// `starts`).
    Put(SavedOverride),
    /// Removes an endpoint's override in force.
    Clear(String),
    /// Removes an endpoint's scheduled override.
    Unschedule(String),
}

/// Everything restored at start.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    /// In force and scheduled (with `starts`).
    pub overrides: Vec<SavedOverride>,
    /// Record name → its sticky state, as JSON (decide's `RecordState`).
    pub sticky: Vec<(String, String)>,
    /// Webhook deliveries not yet made, oldest first.
    pub deliveries: Vec<PendingDelivery>,
    /// Verdicts and where the event history ends.
    pub history: history::Kept,
}

enum Write {
    Overrides(Vec<OverrideWrite>),
    Sticky(String, String),
    Delivery(deliveries::Change),
    History(history::Write),
}

type Job = (Write, Option<oneshot::Sender<Result<(), StoreError>>>);

/// A handle to the store's writer thread.
#[derive(Debug, Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    /// Transactions the writer has committed.
    commits: Arc<AtomicU64>,
}

fn seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_error)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(open_error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_error)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS overrides (
             endpoint TEXT PRIMARY KEY, mode TEXT NOT NULL, reason TEXT NOT NULL,
             by TEXT NOT NULL, until INTEGER, at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS scheduled (
             endpoint TEXT PRIMARY KEY, mode TEXT NOT NULL, reason TEXT NOT NULL,
             by TEXT NOT NULL, until INTEGER, starts INTEGER NOT NULL, at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS sticky (record TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL);",
    )
    .map_err(open_error)?;
    deliveries::create(&conn).map_err(open_error)?;
    history::create(&conn).map_err(open_error)?;
    Ok(conn)
}

impl Store {
    /// Opens (or creates) the store in `dir` and reads what it holds.
    pub fn open(dir: &Path) -> Result<(Store, Saved), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let path = dir.join(FILE);
        let conn = open(&path)?;
        let saved = read(&conn)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("lifeline-store".into())
            .spawn(move || writer(conn, rx, &counted))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok((Store { jobs, path, commits }, saved))
    }

    /// Records an override; returns once it is durable.
    pub async fn put_override(&self, saved: SavedOverride) -> Result<(), StoreError> {
        self.change_overrides(vec![OverrideWrite::Put(saved)]).await
    }

    /// Removes an endpoint's override (back to following its checks).
    pub async fn clear_override(&self, endpoint: &str) -> Result<(), StoreError> {
        self.change_overrides(vec![OverrideWrite::Clear(endpoint.to_string())])
            .await
    }

    /// Applies several changes in one transaction (all or none); returns
    /// once they are durable.
    pub async fn change_overrides(&self, writes: Vec<OverrideWrite>) -> Result<(), StoreError> {
        self.acked(Write::Overrides(writes)).await
    }

    /// Records a record's sticky state; not waited for.
    pub fn put_sticky(&self, record: &str, state_json: String) {
        let _ = self.jobs.send((Write::Sticky(record.to_string(), state_json), None));
    }

    /// How many transactions the writer has committed (batches of writes).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    async fn acked(&self, write: Write) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send((write, Some(tx))).map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }
}

fn read(conn: &Connection) -> Result<Saved, StoreError> {
    let mut saved = Saved::default();
    let time = |s: i64| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64);
    for sql in [
        "SELECT endpoint, mode, reason, by, until, NULL FROM overrides ORDER BY endpoint",
        "SELECT endpoint, mode, reason, by, until, starts FROM scheduled ORDER BY endpoint",
    ] {
        let mut q = conn.prepare(sql)?;
        let rows = q.query_map([], |r| {
            let until: Option<i64> = r.get(4)?;
            let starts: Option<i64> = r.get(5)?;
            Ok(SavedOverride {
                endpoint: r.get(0)?,
                mode: r.get(1)?,
                reason: r.get(2)?,
                by: r.get(3)?,
                until: until.map(time),
                starts: starts.map(time),
            })
        })?;
        for row in rows {
            saved.overrides.push(row?);
        }
    }
    let mut q = conn.prepare("SELECT record, state FROM sticky ORDER BY record")?;
    let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for row in rows {
        saved.sticky.push(row?);
    }
    saved.deliveries = deliveries::read(conn)?;
    saved.history = history::read(conn)?;
    Ok(saved)
}

fn apply(conn: &Connection, write: &Write, upkeep: &mut history::Upkeep) -> Result<(), StoreError> {
    let now = seconds(SystemTime::now());
    match write {
        Write::Overrides(writes) => {
            for write in writes {
                match write {
                    OverrideWrite::Put(o) if o.starts.is_none() => conn.execute(
                        "INSERT INTO overrides (endpoint, mode, reason, by, until, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(endpoint) DO UPDATE SET mode = ?2, reason = ?3, by = ?4, until = ?5, at = ?6",
                        params![o.endpoint, o.mode, o.reason, o.by, o.until.map(seconds), now],
                    )?,
                    OverrideWrite::Put(o) => conn.execute(
                        "INSERT INTO scheduled (endpoint, mode, reason, by, until, starts, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT(endpoint) DO UPDATE
                         SET mode = ?2, reason = ?3, by = ?4, until = ?5, starts = ?6, at = ?7",
                        params![
                            o.endpoint,
                            o.mode,
                            o.reason,
                            o.by,
                            o.until.map(seconds),
                            o.starts.map(seconds),
                            now
                        ],
                    )?,
                    OverrideWrite::Clear(endpoint) => {
                        conn.execute("DELETE FROM overrides WHERE endpoint = ?1", params![endpoint])?
                    }
                    OverrideWrite::Unschedule(endpoint) => {
                        conn.execute("DELETE FROM scheduled WHERE endpoint = ?1", params![endpoint])?
                    }
                };
            }
        }
        Write::Sticky(record, state) => {
            let same: Option<String> = conn
                .query_row("SELECT state FROM sticky WHERE record = ?1", params![record], |r| {
                    r.get(0)
                })
                .optional()?;
            if same.as_deref() != Some(state.as_str()) {
                conn.execute(
                    "INSERT INTO sticky (record, state, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(record) DO UPDATE SET state = ?2, at = ?3",
                    params![record, state, now],
                )?;
            }
        }
        Write::Delivery(change) => deliveries::apply(conn, change)?,
        Write::History(write) => history::apply(conn, write, upkeep)?,
    }
    Ok(())
}

/// Runs the writes that have queued up in one committed transaction, then
/// the history's upkeep when it is due (in its own transaction: a failed
/// prune costs no write), and acknowledges each write after its commit. If
/// the batch fails, each write is retried on its own, so that one bad
/// write fails alone.
fn writer(mut conn: Connection, jobs: mpsc::Receiver<Job>, commits: &AtomicU64) {
    let mut upkeep = history::Upkeep::default();
    loop {
        let mut batch = match jobs.recv_timeout(history::UPKEEP_EVERY) {
            Ok(job) => vec![job],
            Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        while batch.len() < history::BATCH_MAX
            && let Ok(job) = jobs.try_recv()
        {
            batch.push(job);
        }
        let writes: Vec<&Write> = batch.iter().map(|(w, _)| w).collect();
        let result = commit(&mut conn, &writes, &mut upkeep);
        commits.fetch_add(1, Ordering::Relaxed);
        if upkeep.due() {
            let kept = conn.transaction().and_then(|tx| {
                upkeep.run(&tx)?;
                tx.commit()
            });
            if let Err(e) = kept {
                tracing::error!("state store upkeep: {e}");
            }
        }
        if result.is_err() && batch.len() > 1 {
            for (write, ack) in batch {
                let result = commit(&mut conn, &[&write], &mut upkeep);
                if let Err(e) = &result {
                    tracing::error!("{e}");
                }
                if let Some(ack) = ack {
                    let _ = ack.send(result);
                }
            }
            continue;
        }
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        for (_, ack) in batch {
            if let Some(ack) = ack {
                let _ = ack.send(
                    result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| StoreError::Batch(e.to_string())),
                );
            }
        }
    }
}

fn commit(conn: &mut Connection, writes: &[&Write], upkeep: &mut history::Upkeep) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for write in writes {
        apply(&tx, write, upkeep)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "lifeline-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[tokio::test]
    async fn what_was_acknowledged_is_there_after_reopening() {
        let d = dir();
        let (store, saved) = Store::open(&d).unwrap();
        assert!(saved.overrides.is_empty());
        let drain = SavedOverride {
            endpoint: "web-a".into(),
            mode: "drain".into(),
            reason: "kernel upgrade".into(),
            by: "ops".into(),
            until: Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
            starts: None,
        };
        store.put_override(drain.clone()).await.unwrap();
        store
            .put_override(SavedOverride {
                endpoint: "web-b".into(),
                mode: "force-up".into(),
                until: None,
                ..drain.clone()
            })
            .await
            .unwrap();
        store.clear_override("web-b").await.unwrap();
        store.put_sticky("www.example.test/A", r#"{"tier":2}"#.into());
        store
            .put_override(SavedOverride {
                endpoint: "web-c".into(),
                ..drain.clone()
            })
            .await
            .unwrap();
        drop(store);
        let (_, saved) = Store::open(&d).unwrap();
        assert_eq!(saved.overrides.len(), 2);
        assert_eq!(saved.overrides[0], drain);
        assert_eq!(saved.overrides[1].endpoint, "web-c");
        assert_eq!(
            saved.sticky,
            vec![("www.example.test/A".to_string(), r#"{"tier":2}"#.to_string())]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn scheduled_overrides_and_batches_are_kept_apart_and_all_or_nothing() {
        let d = dir().with_extension("scheduled");
        let _ = std::fs::remove_dir_all(&d);
        let (store, _) = Store::open(&d).unwrap();
        let at = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        let put = |endpoint: &str, starts| {
            OverrideWrite::Put(SavedOverride {
                endpoint: endpoint.into(),
                mode: "drain".into(),
                reason: "dc move".into(),
                by: "ops".into(),
                until: None,
                starts,
            })
        };
        // In force and scheduled for the same endpoint, one transaction.
        store
            .change_overrides(vec![put("a", None), put("a", at(2_000_000_000)), put("b", None)])
            .await
            .unwrap();
        store
            .change_overrides(vec![
                OverrideWrite::Clear("b".into()),
                OverrideWrite::Unschedule("x".into()),
            ])
            .await
            .unwrap();
        drop(store);
        let (store, saved) = Store::open(&d).unwrap();
        let kept: Vec<(&str, Option<SystemTime>)> = saved
            .overrides
            .iter()
            .map(|o| (o.endpoint.as_str(), o.starts))
            .collect();
        assert_eq!(kept, [("a", None), ("a", at(2_000_000_000))]);
        store
            .change_overrides(vec![OverrideWrite::Unschedule("a".into())])
            .await
            .unwrap();
        drop(store);
        let (_, saved) = Store::open(&d).unwrap();
        assert_eq!(saved.overrides.len(), 1);
        assert_eq!(saved.overrides[0].starts, None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
