//! Webhook deliveries not yet made: each event waiting for a webhook is a
//! row, written (and committed) before the event counts as queued and
//! removed once it was delivered, given up or dropped, so that a restart,
//! even `kill -9`, resends what was pending, in the order it was queued.

use rusqlite::{Connection, params};

use super::{Store, StoreError, Write};

/// One event waiting for one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The webhook's URL.
    pub webhook: String,
    /// The event's id, unique across restarts (it is in the body too).
    pub event: String,
    /// Events of one lane are delivered in order.
    pub lane: String,
    /// The JSON body, as it is sent.
    pub body: String,
}

/// A change to the queue of deliveries.
#[derive(Debug)]
pub(super) enum Change {
    /// An event for each of these webhooks, in one transaction.
    Queue(Vec<PendingDelivery>),
    /// Delivered, given up or dropped: (webhook, event).
    Done(String, String),
    /// Every delivery for a webhook no longer configured.
    Forget(String),
}

pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS webhook_queue (
             seq INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, event TEXT NOT NULL,
             lane TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (webhook, event));",
    )
}

/// What is pending, oldest first.
pub(super) fn read(conn: &Connection) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut q = conn.prepare("SELECT webhook, event, lane, body FROM webhook_queue ORDER BY seq")?;
    let rows = q.query_map([], |r| {
        Ok(PendingDelivery {
            webhook: r.get(0)?,
            event: r.get(1)?,
            lane: r.get(2)?,
            body: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn apply(conn: &Connection, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::Queue(deliveries) => {
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO webhook_queue (webhook, event, lane, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for d in deliveries {
                insert.execute(params![d.webhook, d.event, d.lane, d.body])?;
            }
        }
        Change::Done(webhook, event) => {
            conn.execute(
                "DELETE FROM webhook_queue WHERE webhook = ?1 AND event = ?2",
                params![webhook, event],
            )?;
        }
        Change::Forget(webhook) => {
            conn.execute("DELETE FROM webhook_queue WHERE webhook = ?1", params![webhook])?;
        }
    }
    Ok(())
}

impl Store {
    /// Queues an event for webhooks; returns once it is durable.
    pub async fn queue_deliveries(&self, deliveries: Vec<PendingDelivery>) -> Result<(), StoreError> {
        self.acked(Write::Delivery(Change::Queue(deliveries))).await
    }

    /// Removes a delivery that is over (made, given up or dropped). Not
    /// waited for: a delivery whose removal a crash lost is made again
    /// (at least once).
    pub fn delivery_done(&self, webhook: &str, event: &str) {
        let change = Change::Done(webhook.to_string(), event.to_string());
        let _ = self.jobs.send((Write::Delivery(change), None));
    }

    /// Removes every delivery for a webhook that is no longer configured.
    pub fn forget_webhook(&self, webhook: &str) {
        let _ = self
            .jobs
            .send((Write::Delivery(Change::Forget(webhook.to_string())), None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(webhook: &str, event: &str) -> PendingDelivery {
        PendingDelivery {
            webhook: webhook.into(),
            event: event.into(),
            lane: "record:www.example.test/A".into(),
            body: format!(r#"{{"id":"{event}"}}"#),
        }
    }

    #[tokio::test]
    async fn pending_deliveries_come_back_in_order_without_the_finished_ones() {
        let d = std::env::temp_dir().join(format!("lifeline-deliveries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (store, saved) = Store::open(&d).unwrap();
        assert!(saved.deliveries.is_empty());
        let (a, b) = ("http://127.0.0.1:1/a", "http://127.0.0.1:1/b");
        store
            .queue_deliveries(vec![pending(a, "1-1"), pending(b, "1-1")])
            .await
            .unwrap();
        store.queue_deliveries(vec![pending(a, "1-2")]).await.unwrap();
        store.queue_deliveries(vec![pending(a, "1-3")]).await.unwrap();
        store.delivery_done(a, "1-2");
        store.forget_webhook(b);
        // The writer runs jobs in order: this acknowledgement follows them.
        store.queue_deliveries(vec![pending(a, "1-4")]).await.unwrap();
        drop(store);
        let (_, saved) = Store::open(&d).unwrap();
        let events: Vec<(&str, &str)> = saved
            .deliveries
            .iter()
            .map(|p| (p.webhook.as_str(), p.event.as_str()))
            .collect();
        assert_eq!(events, [(a, "1-1"), (a, "1-3"), (a, "1-4")]);
        assert_eq!(saved.deliveries[0], pending(a, "1-1"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
