//! Query counters for metrics: replies by RCODE and by the type asked for.
//!
//! A writer counts into its own [`QueryCounts`] (plain integers, one increment
//! per reply each) and publishes them into a [`LiveCounts`] that scrapes
//! read and sum. The UDP workers publish once per batch with plain stores,
//! each into its own `LiveCounts`; TCP connections, which already pay a
//! system call per message, add into one shared `LiveCounts`. Either way
//! the query path takes no lock and allocates nothing.
//!
//! Types are counted in a small fixed table, [`QTYPES`], plus one slot for
//! every other type, so that a counter is an array index and the metric's
//! label set stays bounded whatever clients ask.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::dns::rtype;

/// The query types counted one by one, with their metric label; every
/// other type counts under [`OTHER`].
pub const QTYPES: [(u16, &str); 13] = [
    (rtype::A, "A"),
    (rtype::AAAA, "AAAA"),
    (rtype::NS, "NS"),
    (rtype::SOA, "SOA"),
    (rtype::CNAME, "CNAME"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::SRV, "SRV"),
    (rtype::PTR, "PTR"),
    (rtype::CAA, "CAA"),
    (HTTPS, "HTTPS"),
    (SVCB, "SVCB"),
    (rtype::ANY, "ANY"),
];
/// The label of the slot for every type not in [`QTYPES`], and for replies
/// without a readable question (FORMERR).
pub const OTHER: &str = "other";
/// [`QTYPES`] and the slot for the others.
pub const QTYPE_SLOTS: usize = QTYPES.len() + 1;
/// The number of header RCODE values (RFC 1035 §4.1.1: four bits; an
/// extended rcode counts under its low four bits).
pub const RCODE_SLOTS: usize = 16;

/// SVCB and HTTPS (RFC 9460 §14.1).
const SVCB: u16 = 64;
const HTTPS: u16 = 65;

/// The slot of every type up to the largest in [`QTYPES`], and last the
/// slot of all larger ones: one load per query instead of a `match`.
const SLOT_BY_TYPE: [u8; 259] = {
    let mut slots = [QTYPES.len() as u8; 259];
    let mut i = 0;
    while i < QTYPES.len() {
        slots[QTYPES[i].0 as usize] = i as u8;
        i += 1;
    }
    slots
};

/// The slot of `qtype`: its index in [`QTYPES`], or the last one.
#[inline]
pub fn qtype_slot(qtype: u16) -> usize {
    usize::from(SLOT_BY_TYPE[usize::from(qtype).min(SLOT_BY_TYPE.len() - 1)])
}

/// The label of a slot.
pub fn slot_label(slot: usize) -> &'static str {
    QTYPES.get(slot).map_or(OTHER, |&(_, label)| label)
}

/// The type asked for in the question of a message (query or reply), when
/// it has exactly one question.
pub fn question_type(message: &[u8]) -> Option<u16> {
    if message.get(4..6)? != [0, 1] {
        return None;
    }
    let end = super::query::question_name_end(message, crate::dns::HEADER_LEN)?;
    Some(u16::from_be_bytes([*message.get(end)?, *message.get(end + 1)?]))
}

/// The slot of the type asked for in a reply (or query); [`OTHER`]'s
/// when it has no readable question.
#[inline]
pub fn reply_slot(message: &[u8]) -> usize {
    question_type(message).map_or(QTYPES.len(), qtype_slot)
}

/// One writer's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryCounts {
    /// Replies by the RCODE in their header.
    pub rcodes: [u64; RCODE_SLOTS],
    /// Replies by the slot of the type asked for.
    pub qtypes: [u64; QTYPE_SLOTS],
}

impl Default for QueryCounts {
    fn default() -> QueryCounts {
        QueryCounts {
            rcodes: [0; RCODE_SLOTS],
            qtypes: [0; QTYPE_SLOTS],
        }
    }
}

impl QueryCounts {
    /// QueryCounts the reply `header` (its first four bytes at least) to a
    /// question for the type in `slot`.
    #[inline]
    pub fn count(&mut self, header: &[u8], slot: usize) {
        self.rcodes[usize::from(header[3] & 0x0f)] += 1;
        self.qtypes[slot] += 1;
    }

    /// QueryCounts a reply (to a question of any type) from its bytes.
    #[inline]
    pub fn count_reply(&mut self, reply: &[u8]) {
        self.count(reply, reply_slot(reply));
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &QueryCounts) {
        for (sum, n) in self.rcodes.iter_mut().zip(&other.rcodes) {
            *sum += n;
        }
        for (sum, n) in self.qtypes.iter_mut().zip(&other.qtypes) {
            *sum += n;
        }
    }
}

/// QueryCounts where scrapes read them.
#[derive(Debug)]
pub struct LiveCounts {
    rcodes: [AtomicU64; RCODE_SLOTS],
    qtypes: [AtomicU64; QTYPE_SLOTS],
}

impl Default for LiveCounts {
    fn default() -> LiveCounts {
        LiveCounts {
            rcodes: std::array::from_fn(|_| AtomicU64::new(0)),
            qtypes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LiveCounts {
    /// Replaces the totals with a single writer's running `counts`: plain
    /// stores, no read-modify-write.
    pub fn store(&self, counts: &QueryCounts) {
        for (live, &n) in self.rcodes.iter().zip(&counts.rcodes) {
            live.store(n, Ordering::Relaxed);
        }
        for (live, &n) in self.qtypes.iter().zip(&counts.qtypes) {
            live.store(n, Ordering::Relaxed);
        }
    }

    /// QueryCounts one reply from one of several writers.
    pub fn add_reply(&self, reply: &[u8]) {
        self.rcodes[usize::from(reply[3] & 0x0f)].fetch_add(1, Ordering::Relaxed);
        self.qtypes[reply_slot(reply)].fetch_add(1, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn load(&self) -> QueryCounts {
        let mut counts = QueryCounts::default();
        for (n, live) in counts.rcodes.iter_mut().zip(&self.rcodes) {
            *n = live.load(Ordering::Relaxed);
        }
        for (n, live) in counts.qtypes.iter_mut().zip(&self.qtypes) {
            *n = live.load(Ordering::Relaxed);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_has_its_own_slot_and_the_rest_share_one() {
        for (i, &(qtype, label)) in QTYPES.iter().enumerate() {
            assert_eq!(qtype_slot(qtype), i, "{label}");
            assert_eq!(slot_label(i), label);
        }
        for other in [0, rtype::HINFO, rtype::DS, rtype::AXFR, 65535] {
            assert_eq!(qtype_slot(other), QTYPES.len());
        }
        assert_eq!(slot_label(QTYPES.len()), OTHER);
    }

    #[test]
    fn replies_count_by_rcode_and_question_type() {
        // NXDOMAIN to "a." MX; then a FORMERR without a question.
        let mx = [0, 1, 0x84, 3, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 15, 0, 1];
        let formerr = [0, 1, 0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut counts = QueryCounts::default();
        counts.count_reply(&mx);
        counts.count_reply(&formerr);
        assert_eq!(counts.rcodes[3], 1);
        assert_eq!(counts.rcodes[1], 1);
        assert_eq!(counts.qtypes[qtype_slot(rtype::MX)], 1);
        assert_eq!(counts.qtypes[QTYPES.len()], 1);

        let live = LiveCounts::default();
        live.add_reply(&mx);
        live.add_reply(&mx);
        let mut sum = live.load();
        assert_eq!(sum.qtypes[qtype_slot(rtype::MX)], 2);
        sum.add(&counts);
        assert_eq!(sum.rcodes[3], 3);
        live.store(&counts);
        assert_eq!(live.load(), counts);
    }
}
