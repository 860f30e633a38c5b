//! Answers that change while the server runs: one slot per health-checked
//! record, plus each zone's SOA serial, which moves with every change.
//!
//! A change builds a new [`Dynamic`] that shares every unchanged slot with
//! the old one and is swapped in with the rest of the snapshot; the static
//! zones and their prebuilt answers are not rebuilt. Each slot carries its
//! answer prebuilt in wire format, once per variant (a rotation, a
//! weighted draw), so a health-checked name costs a query no more than a
//! static one.

use std::net::IpAddr;
use std::sync::Arc;

use crate::dns::{CLASS_IN, rtype};

/// The current answer of one health-checked record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicAnswer {
    pub rtype: u16,
    pub ttl: u32,
    pub content: Content,
}

/// What a health-checked record answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Addresses, in one or more variants served in turn.
    Addresses(Variants),
    /// The name exists, this type has no data (RFC 2308 §2.2).
    NoData,
    /// SERVFAIL (RFC 1035 §4.1.1), an operator's choice for "all down".
    ServFail,
}

/// Answer variants and their answer-section bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variants {
    addresses: Vec<Vec<IpAddr>>,
    /// Per variant: the answer records, owned by a pointer to the question
    /// name at offset 12 (RFC 1035 §4.1.4).
    bodies: Vec<Box<[u8]>>,
    /// For consistent hashing: the variant of each client bucket
    /// (`decide::answer_set::hash::BUCKETS` of them).
    buckets: Option<Box<[u16]>>,
}

impl Variants {
    /// The variant served to query number `seq`.
    #[inline]
    pub fn pick(&self, seq: u32) -> (&[IpAddr], &[u8]) {
        let i = seq as usize % self.addresses.len();
        (&self.addresses[i], &self.bodies[i])
    }

    /// The variant for a client: by its bucket when the answer is
    /// consistent-hashed and the client is known, else by query number.
    /// The flag says whether the client decided.
    #[inline]
    pub fn pick_for(&self, seq: u32, client: Option<IpAddr>) -> (&[IpAddr], &[u8], bool) {
        if let (Some(buckets), Some(client)) = (&self.buckets, client) {
            let i = usize::from(buckets[usize::from(crate::decide::answer_set::hash::bucket(client))]);
            let i = i.min(self.addresses.len() - 1);
            return (&self.addresses[i], &self.bodies[i], true);
        }
        let (addrs, body) = self.pick(seq);
        (addrs, body, false)
    }

    /// Whether the variant depends on the client.
    pub fn hashed(&self) -> bool {
        self.buckets.is_some()
    }

    pub fn all(&self) -> &[Vec<IpAddr>] {
        &self.addresses
    }
}

impl DynamicAnswer {
    /// An address answer; `variants` must not be empty, nor any variant.
    pub fn addresses(rtype: u16, ttl: u32, variants: Vec<Vec<IpAddr>>) -> DynamicAnswer {
        assert!(
            variants.iter().all(|v| !v.is_empty()) && !variants.is_empty(),
            "an address answer has addresses"
        );
        let bodies = variants.iter().map(|v| answer_body(rtype, ttl, v)).collect();
        DynamicAnswer {
            rtype,
            ttl,
            content: Content::Addresses(Variants {
                addresses: variants,
                bodies,
                buckets: None,
            }),
        }
    }

    /// A consistent-hash answer: `buckets[b]` is the variant of client
    /// bucket `b`.
    pub fn hashed(rtype: u16, ttl: u32, variants: Vec<Vec<IpAddr>>, buckets: Vec<u16>) -> DynamicAnswer {
        let mut answer = DynamicAnswer::addresses(rtype, ttl, variants);
        if let Content::Addresses(v) = &mut answer.content {
            v.buckets = Some(buckets.into());
        }
        answer
    }

    pub fn nodata(rtype: u16, ttl: u32) -> DynamicAnswer {
        DynamicAnswer {
            rtype,
            ttl,
            content: Content::NoData,
        }
    }

    pub fn servfail(rtype: u16, ttl: u32) -> DynamicAnswer {
        DynamicAnswer {
            rtype,
            ttl,
            content: Content::ServFail,
        }
    }
}

/// The answer section for `addrs` after a question for the record's own
/// name: each record's owner is the pointer `C0 0C`.
fn answer_body(rtype: u16, ttl: u32, addrs: &[IpAddr]) -> Box<[u8]> {
    let mut body = Vec::with_capacity(addrs.len() * 28);
    for addr in addrs {
        let octets: Vec<u8> = match addr {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        body.extend_from_slice(&[0xc0, 0x0c]);
        body.extend_from_slice(&rtype.to_be_bytes());
        body.extend_from_slice(&CLASS_IN.to_be_bytes());
        body.extend_from_slice(&ttl.to_be_bytes());
        body.extend_from_slice(&(octets.len() as u16).to_be_bytes());
        body.extend_from_slice(&octets);
    }
    debug_assert!(rtype == rtype::A || rtype == rtype::AAAA);
    body.into()
}

/// The part of a snapshot that follows health: one answer per slot, one
/// serial per zone.
#[derive(Debug, Clone, Default)]
pub struct Dynamic {
    pub serials: Vec<u32>,
    pub slots: Vec<Arc<DynamicAnswer>>,
}

impl Dynamic {
    /// Replaces the answers of some slots; each zone with a change gets its
    /// serial advanced by one (RFC 1982 arithmetic). Returns the new state
    /// and whether anything changed.
    pub fn with_changes(&self, changes: Vec<(usize, usize, DynamicAnswer)>) -> (Dynamic, bool) {
        let mut next = self.clone();
        let mut changed = false;
        for (slot, zone, answer) in changes {
            if *next.slots[slot] != answer {
                next.slots[slot] = Arc::new(answer);
                next.serials[zone] = next.serials[zone].wrapping_add(1);
                changed = true;
            }
        }
        (next, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_rotate_by_query_number() {
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let answer = DynamicAnswer::addresses(rtype::A, 30, vec![vec![a, b], vec![b, a]]);
        let Content::Addresses(v) = &answer.content else {
            panic!()
        };
        assert_eq!(v.pick(0).0, &[a, b]);
        assert_eq!(v.pick(1).0, &[b, a]);
        assert_eq!(v.pick(2).0, &[a, b]);
        assert_eq!(v.pick(0).1.len(), 2 * 16);
        assert_eq!(&v.pick(0).1[..2], &[0xc0, 0x0c]);
    }

    #[test]
    fn a_change_advances_only_its_zone_serial() {
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let d = Dynamic {
            serials: vec![10, 20],
            slots: vec![Arc::new(DynamicAnswer::addresses(rtype::A, 30, vec![vec![a]]))],
        };
        let (same, changed) = d.with_changes(vec![(0, 1, DynamicAnswer::addresses(rtype::A, 30, vec![vec![a]]))]);
        assert!(!changed);
        assert_eq!(same.serials, [10, 20]);
        let (next, changed) = d.with_changes(vec![(0, 1, DynamicAnswer::nodata(rtype::A, 30))]);
        assert!(changed);
        assert_eq!(next.serials, [10, 21]);
    }
}
