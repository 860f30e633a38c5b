//! The snapshot: everything the DNS server answers from, immutable, built
//! off the query path and swapped in whole (DESIGN.md §1 "publish").

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

use super::dynamic::{Dynamic, DynamicAnswer};
use super::prebuilt::{self, OTHER_TYPES, PrebuiltTable};
use super::zone::Zone;
use crate::dns::Name;
use crate::dns::{CLASS_IN, HEADER_LEN, flags, rtype};
use crate::serve::dns::answer;
use crate::serve::dns::query;

/// What the server says about itself: CH-class TXT answers
/// (`version.bind`, `id.server`) and the EDNS NSID option (RFC 5001).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub version: Option<String>,
    pub hostname: Option<String>,
    pub nsid: Option<Vec<u8>>,
}

/// All served zones, found by the longest matching apex, and the slots of
/// their health-checked records.
#[derive(Debug, Default)]
pub struct Zones {
    list: Vec<Zone>,
    by_apex: FxHashMap<Box<[u8]>, usize>,
    /// (lowercase name ++ type) → slot in `Dynamic::slots`.
    slots: FxHashMap<Box<[u8]>, u32>,
    /// The zone of each slot.
    slot_zones: Vec<usize>,
}

/// A health-checked record's place in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSpec {
    pub name: Name,
    pub rtype: u16,
}

fn slot_key(name: &[u8], rtype: u16) -> ([u8; 257], usize) {
    let mut key = [0u8; 257];
    key[..name.len()].copy_from_slice(name);
    key[name.len()..name.len() + 2].copy_from_slice(&rtype.to_be_bytes());
    (key, name.len() + 2)
}

impl Zones {
    /// Indexes the zones; each slot must lie in one of them (checked by
    /// the configuration).
    pub fn new(mut list: Vec<Zone>, slots: &[SlotSpec]) -> Zones {
        for (i, zone) in list.iter_mut().enumerate() {
            zone.index = i;
        }
        let by_apex = list.iter().enumerate().map(|(i, z)| (z.key().into(), i)).collect();
        let mut zones = Zones {
            list,
            by_apex,
            slots: FxHashMap::default(),
            slot_zones: Vec::new(),
        };
        for (i, slot) in slots.iter().enumerate() {
            let name = slot.name.lowercase();
            let (key, len) = slot_key(name.wire(), slot.rtype);
            zones.slots.insert(key[..len].into(), i as u32);
            zones
                .slot_zones
                .push(zones.find_index(name.wire()).expect("a slot lies in a served zone"));
        }
        zones
    }

    /// The slot of a health-checked (lowercase name, type), if any.
    #[inline]
    pub fn slot(&self, name: &[u8], rtype: u16) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let (key, len) = slot_key(name, rtype);
        self.slots.get(&key[..len]).map(|&s| s as usize)
    }

    /// The zone a slot belongs to.
    pub fn slot_zone(&self, slot: usize) -> usize {
        self.slot_zones[slot]
    }

    /// The most specific zone containing the lowercase wire name `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<&Zone> {
        self.find_index(key).map(|i| &self.list[i])
    }

    /// Like [`Zones::find`], giving the zone's index.
    #[inline]
    pub fn find_index(&self, key: &[u8]) -> Option<usize> {
        let mut at = 0;
        loop {
            if let Some(&i) = self.by_apex.get(&key[at..]) {
                return Some(i);
            }
            let len = *key.get(at)? as usize;
            if len == 0 {
                return None;
            }
            at += 1 + len;
        }
    }

    pub fn get(&self, index: usize) -> &Zone {
        &self.list[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Everything one version of the served data holds: the static part
/// (zones, prebuilt answers), shared between versions, and the dynamic
/// part (health-checked answers, serials).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub zones: Arc<Zones>,
    pub identity: Arc<Identity>,
    /// Largest UDP payload we send (RFC 6891 §6.2.5).
    pub edns_udp_size: u16,
    pub prebuilt: Arc<PrebuiltTable>,
    pub dynamic: Arc<Dynamic>,
}

impl Snapshot {
    /// Builds a snapshot and prebuilds the answers for every name.
    /// `initial` gives each slot's first answer.
    pub fn build(
        zones: Vec<Zone>,
        slots: &[SlotSpec],
        initial: Vec<DynamicAnswer>,
        identity: Identity,
        edns_udp_size: u16,
    ) -> Snapshot {
        assert_eq!(slots.len(), initial.len(), "one initial answer per slot");
        let zones = Zones::new(zones, slots);
        let serials = zones.iter().map(Zone::serial).collect();
        let dynamic = Dynamic {
            serials,
            slots: initial.into_iter().map(Arc::new).collect(),
        };
        let mut snapshot = Snapshot {
            zones: Arc::new(zones),
            identity: Arc::new(identity),
            edns_udp_size,
            prebuilt: Arc::new(PrebuiltTable::default()),
            dynamic: Arc::new(dynamic),
        };
        let started = std::time::Instant::now();
        snapshot.prebuilt = Arc::new(prebuild(&snapshot));
        tracing::debug!(took = ?started.elapsed(), answers = snapshot.prebuilt.len(), "answers prebuilt");
        snapshot
    }

    /// The same static data with other health-checked answers.
    pub fn with_dynamic(&self, dynamic: Dynamic) -> Snapshot {
        Snapshot {
            dynamic: Arc::new(dynamic),
            ..self.clone()
        }
    }

    /// A zone's current SOA serial.
    #[inline]
    pub fn serial(&self, zone: usize) -> u32 {
        self.dynamic.serials[zone]
    }
}

/// The shared, atomically swapped pointer to the current snapshot.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// Which query types get a prebuilt answer at a node.
///
/// | node                  | prebuilt types                                      |
/// |-----------------------|-----------------------------------------------------|
/// | below a zone cut      | none (glue; answered by the general path)           |
/// | zone cut              | DS (NODATA) and "other types" (the referral)        |
/// | CNAME                 | CNAME, A, AAAA and every type present in the zone   |
/// | anything else         | each type present, and "other types" (NODATA)       |
fn prebuilt_types(node: &super::zone::Node, zone_types: &[u16]) -> Vec<u16> {
    if node.occluded && !node.cut {
        return Vec::new();
    }
    if node.cut {
        return vec![rtype::DS, OTHER_TYPES];
    }
    let mut types: Vec<u16> = node.rrsets.iter().map(|r| r.rtype).collect();
    if node.dynamic {
        types.extend([rtype::A, rtype::AAAA]);
    }
    if node.rrset(rtype::CNAME).is_some() {
        types.extend([rtype::A, rtype::AAAA]);
        types.extend_from_slice(zone_types);
    } else {
        types.push(OTHER_TYPES);
    }
    types.sort_unstable();
    types.dedup();
    types
}

fn prebuild(snapshot: &Snapshot) -> PrebuiltTable {
    let mut builder = prebuilt::Builder::default();
    builder.nxdomain(snapshot.zones.iter().map(nxdomain_answer).collect());
    let mut packet = Vec::with_capacity(512);
    let mut out = vec![0u8; u16::MAX as usize];
    for zone in snapshot.zones.iter() {
        let mut zone_types: Vec<u16> = zone
            .nodes()
            .flat_map(|(_, n)| n.rrsets.iter().map(|r| r.rtype))
            .collect();
        zone_types.sort_unstable();
        zone_types.dedup();
        for (lowered, node) in zone.nodes() {
            let key = lowered.as_slice();
            for qtype in prebuilt_types(node, &zone_types) {
                if let Some(slot) = node.dynamic.then(|| snapshot.zones.slot(key, qtype)).flatten() {
                    builder.add_slot(key, qtype, slot as u32);
                    continue;
                }
                synthetic_query(&mut packet, key, qtype);
                let Ok(q) = query::parse(&packet) else {
                    continue;
                };
                let (len, used_dynamic) = answer::answer_traced(snapshot, &q, answer::Transport::Tcp, 0, &mut out);
                let header_flags = u16::from_be_bytes([out[2], out[3]]);
                // Answers that depend on health (a CNAME to a health-checked
                // name, its addresses as additional data) are not cached.
                if header_flags & flags::TC != 0 || used_dynamic {
                    continue;
                }
                let counts = [6, 8, 10].map(|at| u16::from_be_bytes([out[at], out[at + 1]]));
                let keep = header_flags & (flags::AA | 0x000f);
                builder.add(key, qtype, keep, counts, &out[q.question_end..len], zone.index as u16);
            }
        }
    }
    builder.finish()
}

/// The zone's NXDOMAIN answer (RFC 2308 §2.1: SOA in the authority
/// section, negative TTL), relocatable to any name under the apex.
fn nxdomain_answer(zone: &Zone) -> Option<prebuilt::Relocatable> {
    let mut msg = vec![0u8; 4096];
    let mut packet = Vec::new();
    synthetic_query(&mut packet, zone.key(), crate::dns::rtype::A);
    msg[..packet.len()].copy_from_slice(&packet);
    let mut w = crate::dns::Writer::new(&mut msg, packet.len(), 4096);
    w.remember_name(HEADER_LEN, zone.key());
    for rdata in &zone.soa.rdata {
        w.record(zone.apex.wire(), rtype::SOA, CLASS_IN, zone.negative_ttl, rdata)
            .ok()?;
    }
    let end = w.pos();
    let reply_flags = flags::QR | flags::AA | crate::dns::rcode::NXDOMAIN;
    msg[2..4].copy_from_slice(&reply_flags.to_be_bytes());
    msg[8..10].copy_from_slice(&(zone.soa.rdata.len() as u16).to_be_bytes());
    prebuilt::Relocatable::new(&msg[..end], packet.len(), zone.key().len())
}

/// A query for (name, type) without EDNS, as a client would send it.
fn synthetic_query(packet: &mut Vec<u8>, name: &[u8], qtype: u16) {
    packet.clear();
    packet.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    debug_assert_eq!(packet.len(), HEADER_LEN);
    packet.extend_from_slice(name);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
}
