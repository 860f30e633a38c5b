//! One webhook's queue of events: a FIFO lane per record (and per
//! endpoint, and one for the breaker and one for the watchdog), bounded as
//! a whole. Only the head of a lane is ever sent, so a lane's events
//! arrive in order; each lane waits out its own backoff, so a lane whose
//! head keeps failing holds back only itself. Pure: time comes in.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// An event waiting in a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Queue order across lanes: the oldest item has the lowest.
    seq: u64,
    pub event: String,
    pub body: Arc<str>,
}

#[derive(Debug, Default)]
struct Lane {
    items: VecDeque<Item>,
    /// Failed attempts at the head.
    failures: u32,
    /// No attempt before this (backing off).
    not_before: Option<Instant>,
}

/// What to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the head of this lane.
    Send {
        lane: String,
        item: Item,
        failures: u32,
    },
    /// Every lane is backing off until then.
    Wait(Instant),
    Empty,
}

#[derive(Debug)]
pub struct Queue {
    capacity: usize,
    lanes: BTreeMap<String, Lane>,
    len: usize,
    next_seq: u64,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        Queue {
            capacity: capacity.max(1),
            lanes: BTreeMap::new(),
            len: 0,
            next_seq: 0,
        }
    }

    /// Takes every waiting event out, oldest first, with its lane (to
    /// move them to the queue of a reconfigured webhook).
    pub fn drain(&mut self) -> Vec<(String, Item)> {
        let mut all: Vec<(String, Item)> = std::mem::take(&mut self.lanes)
            .into_iter()
            .flat_map(|(lane, l)| l.items.into_iter().map(move |item| (lane.clone(), item)))
            .collect();
        all.sort_by_key(|(_, item)| item.seq);
        self.len = 0;
        all
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends an event to its lane; when the queue is full, the oldest
    /// event of all lanes makes room, and its id is returned.
    pub fn push(&mut self, lane: &str, event: String, body: Arc<str>) -> Option<String> {
        let dropped = match self.len >= self.capacity {
            true => self.drop_oldest(),
            false => None,
        };
        let item = Item {
            seq: self.next_seq,
            event,
            body,
        };
        self.next_seq += 1;
        self.lanes.entry(lane.to_string()).or_default().items.push_back(item);
        self.len += 1;
        dropped
    }

    fn drop_oldest(&mut self) -> Option<String> {
        let (name, _) = self
            .lanes
            .iter()
            .filter_map(|(name, lane)| Some((name, lane.items.front()?.seq)))
            .min_by_key(|(_, seq)| *seq)?;
        let name = name.clone();
        self.pop(&name).map(|item| item.event)
    }

    /// The head of the ready lane whose head is oldest; or when the first
    /// lane that is backing off is ready.
    pub fn next(&self, now: Instant) -> Next {
        let ready = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.not_before.is_none_or(|t| t <= now))
            .filter_map(|(name, lane)| Some((name, lane, lane.items.front()?)))
            .min_by_key(|(_, _, item)| item.seq);
        if let Some((name, lane, item)) = ready {
            return Next::Send {
                lane: name.clone(),
                item: item.clone(),
                failures: lane.failures,
            };
        }
        match self.lanes.values().filter_map(|lane| lane.not_before).min() {
            Some(at) => Next::Wait(at),
            None => Next::Empty,
        }
    }

    /// The head of `lane` was delivered, or given up: it leaves the queue.
    /// Nothing happens when `event` is no longer the head (it was dropped
    /// to make room meanwhile).
    pub fn finished(&mut self, lane: &str, event: &str) -> bool {
        if !self.is_head(lane, event) {
            return false;
        }
        self.pop(lane);
        true
    }

    /// The head of `lane` failed; it is tried again after `delay`. Returns
    /// its failures so far.
    pub fn failed(&mut self, lane: &str, event: &str, now: Instant, delay: Duration) -> u32 {
        if !self.is_head(lane, event) {
            return 0;
        }
        let lane = self.lanes.get_mut(lane).expect("the head's lane");
        lane.failures += 1;
        lane.not_before = Some(now + delay);
        lane.failures
    }

    fn is_head(&self, lane: &str, event: &str) -> bool {
        self.lanes
            .get(lane)
            .and_then(|l| l.items.front())
            .is_some_and(|i| i.event == event)
    }

    /// Removes the head of a lane, and the lane when it is empty.
    fn pop(&mut self, name: &str) -> Option<Item> {
        let lane = self.lanes.get_mut(name)?;
        let item = lane.items.pop_front()?;
        lane.failures = 0;
        lane.not_before = None;
        if lane.items.is_empty() {
            self.lanes.remove(name);
        }
        self.len -= 1;
        Some(item)
    }
}

/// The wait after `failures` failed attempts: `initial` doubled per
/// failure, at most `max`, then a random part of its second half taken off
/// (`jitter` in 0..1), so that the retries of many lanes spread out.
pub fn backoff(failures: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let doubled = initial.saturating_mul(1u32 << failures.saturating_sub(1).min(31));
    let capped = doubled.min(max);
    capped.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Arc<str> {
        Arc::from("{}")
    }

    fn sent(next: Next) -> (String, String) {
        match next {
            Next::Send { lane, item, .. } => (lane, item.event),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn lanes_keep_their_order_and_a_failing_lane_holds_back_only_itself() {
        let now = Instant::now();
        let mut q = Queue::new(10);
        q.push("a", "1".into(), body());
        q.push("b", "2".into(), body());
        q.push("a", "3".into(), body());
        assert_eq!(sent(q.next(now)), ("a".into(), "1".into()));
        assert_eq!(q.failed("a", "1", now, Duration::from_secs(1)), 1);
        // Lane a backs off; b goes ahead, a's second event waits behind its first.
        assert_eq!(sent(q.next(now)), ("b".into(), "2".into()));
        assert!(q.finished("b", "2"));
        assert_eq!(q.next(now), Next::Wait(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        assert_eq!(sent(q.next(later)), ("a".into(), "1".into()));
        assert!(q.finished("a", "1"));
        assert_eq!(sent(q.next(later)), ("a".into(), "3".into()));
        assert!(q.finished("a", "3"));
        assert_eq!(q.next(later), Next::Empty);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_drops_its_oldest_event() {
        let now = Instant::now();
        let mut q = Queue::new(2);
        assert_eq!(q.push("a", "1".into(), body()), None);
        assert_eq!(q.push("b", "2".into(), body()), None);
        assert_eq!(q.push("b", "3".into(), body()), Some("1".into()));
        assert_eq!(q.len(), 2);
        // An outcome for the dropped event changes nothing.
        assert!(!q.finished("a", "1"));
        assert_eq!(q.failed("a", "1", now, Duration::from_secs(1)), 0);
        assert_eq!(sent(q.next(now)), ("b".into(), "2".into()));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it() {
        let (s1, s60) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, s1, s60, 0.0), s1);
        assert_eq!(backoff(4, s1, s60, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(40, s1, s60, 0.0), s60);
        assert_eq!(backoff(1, s1, s60, 1.0), Duration::from_millis(500));
    }

    #[test]
    fn drain_takes_everything_oldest_first_with_its_lane() {
        let mut q = Queue::new(10);
        q.push("record:b", "1".into(), body());
        q.push("record:a", "2".into(), body());
        q.push("record:b", "3".into(), body());
        let drained: Vec<(String, String)> = q.drain().into_iter().map(|(lane, item)| (lane, item.event)).collect();
        assert_eq!(
            drained,
            [
                ("record:b".to_string(), "1".to_string()),
                ("record:a".to_string(), "2".to_string()),
                ("record:b".to_string(), "3".to_string())
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.next(Instant::now()), Next::Empty);
    }
}
