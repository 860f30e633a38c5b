//! One authoritative zone as served: its nodes (every owner name and every
//! empty non-terminal), their RRsets, and where the zone is cut for
//! delegations.
//!
//! [`Zone::build`] checks what RFC 1034/2181 require of zone data and turns
//! a violation into a [`ZoneError`] that names the file and line.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use super::index::Index;
use crate::serve::dns::query::NameBuf;

use crate::config::zonefile::SourcedRecord;
use crate::dns::{CLASS_IN, Name, Record, Rrset, rtype};

/// Zone data that breaks the rules, located in its source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source_name}:{line}: zone {zone}: {message}")]
pub struct ZoneError {
    pub source_name: String,
    pub line: usize,
    pub zone: String,
    pub message: String,
}

/// A name in the zone: an owner of records, or an empty non-terminal.
#[derive(Debug, Clone)]
pub struct Node {
    /// The name as first written in the zone data.
    pub name: Name,
    /// RRsets, sorted by type.
    pub rrsets: Vec<Rrset>,
    /// NS records below the apex: a zone cut (RFC 1034 §4.2.1).
    pub cut: bool,
    /// At or below a zone cut: answered by referral, never from here.
    pub occluded: bool,
    /// `*.<this name>` exists: names below may be synthesised (RFC 4592).
    pub wildcard_child: bool,
    /// Where its first record was written (0 for an empty non-terminal).
    pub line: usize,
    /// Has a health-checked record: its answers live in the snapshot's
    /// dynamic part, found by (name, type).
    pub dynamic: bool,
}

impl Node {
    pub fn rrset(&self, rtype: u16) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

/// A zone ready to answer from.
#[derive(Debug, Clone)]
pub struct Zone {
    pub apex: Name,
    /// Position among the served zones (set by `Zones::new`).
    pub index: usize,
    key: Box<[u8]>,
    /// Every node; found through `lookup` by the hash of its lowercase
    /// name, so a name is stored once (a million names cost a million
    /// nodes and 8 MiB of index, not a second copy of each name as a key).
    nodes: Vec<Node>,
    lookup: Index,
    apex_at: usize,
    pub soa: Rrset,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM)
    /// (RFC 2308 §3, §5).
    pub negative_ttl: u32,
    pub record_count: usize,
    /// A digest of the zone data, independent of record order: tells a
    /// reload whether the content changed when the file's serial did not.
    digest: u64,
}

impl Zone {
    /// Builds the zone from its records, checking the rules zone data must
    /// follow. `source_name` is used in errors (a file path).
    pub fn build(
        apex: Name,
        source_name: &str,
        records: Vec<SourcedRecord>,
        dynamic: &[Name],
    ) -> Result<Zone, ZoneError> {
        let fail = |line: usize, message: String| ZoneError {
            source_name: source_name.to_string(),
            line,
            zone: apex.to_string(),
            message,
        };
        let key: Box<[u8]> = apex.lowercase().wire().into();
        let mut nodes: FxHashMap<Box<[u8]>, Node> = FxHashMap::default();
        let record_count = records.len();
        let mut digest = 0u64;
        for SourcedRecord { record, line } in records {
            check_record(&apex, &record).map_err(|m| fail(line, m))?;
            digest = digest.wrapping_add(record_digest(&record));
            let owner_key: Box<[u8]> = record.owner.wire().to_ascii_lowercase().into();
            let node = match nodes.entry(owner_key) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(empty_node(record.owner.clone(), line)),
            };
            add_to_node(node, record);
        }
        for name in dynamic {
            let key: Box<[u8]> = name.wire().to_ascii_lowercase().into();
            nodes.entry(key).or_insert_with(|| empty_node(name.clone(), 0)).dynamic = true;
        }
        add_empty_non_terminals(&apex, &mut nodes);
        let apex_node = nodes.get(&key[..]);
        let apex_line = apex_node.map_or(1, |n| n.line);
        let soa = apex_node
            .and_then(|n| n.rrset(rtype::SOA).cloned())
            .ok_or_else(|| fail(1, "no SOA record at the zone apex (RFC 1035 §5.2)".into()))?;
        if soa.rdata.len() != 1 {
            let message = format!("{} SOA records at the apex; exactly one is allowed", soa.rdata.len());
            return Err(fail(apex_line, message));
        }
        if apex_node.and_then(|n| n.rrset(rtype::NS)).is_none() {
            return Err(fail(
                apex_line,
                "no NS records at the zone apex (RFC 1034 §4.2.1)".into(),
            ));
        }
        for (node_key, node) in nodes.iter_mut() {
            check_node(node, node_key == &key).map_err(|m| fail(node.line, m))?;
            node.cut = node_key != &key && node.rrset(rtype::NS).is_some();
        }
        mark_occluded_and_wildcards(&key, &mut nodes);
        let negative_ttl = soa.ttl.min(soa_minimum(&soa.rdata[0]));
        // Growing vectors keep room for four elements at least: give back
        // what a zone of mostly single-record RRsets never uses.
        let nodes: Vec<Node> = nodes
            .into_values()
            .map(|mut node| {
                node.rrsets.shrink_to_fit();
                node.rrsets.iter_mut().for_each(|r| r.rdata.shrink_to_fit());
                node
            })
            .collect();
        let lookup = Index::build(nodes.iter().map(|n| name_hash(n.name.wire())));
        let apex_at = nodes
            .iter()
            .position(|n| n.name.wire().eq_ignore_ascii_case(&key))
            .expect("the apex has an SOA");
        Ok(Zone {
            index: 0,
            apex,
            key,
            nodes,
            lookup,
            apex_at,
            soa,
            negative_ttl,
            record_count,
            digest,
        })
    }

    /// The apex in lowercase wire format.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The node at a lowercase wire name.
    #[inline]
    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        let at = self
            .lookup
            .find(name_hash(key), |i| self.nodes[i].name.wire().eq_ignore_ascii_case(key))?;
        Some(&self.nodes[at])
    }

    pub fn apex_node(&self) -> &Node {
        &self.nodes[self.apex_at]
    }

    /// Every node with its lowercase name, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (NameBuf, &Node)> {
        self.nodes.iter().map(|n| (NameBuf::lowered(n.name.wire()), n))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The digest of the zone data (see the field).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        let rdata = &self.soa.rdata[0];
        let at = rdata.len() - 20;
        u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]])
    }
}

/// One record's share of the zone digest: its owner (case-insensitively),
/// type, TTL and data.
fn record_digest(record: &Record) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(NameBuf::lowered(record.owner.wire()).as_slice());
    h.write_u16(record.rtype);
    h.write_u32(record.ttl);
    h.write(&record.rdata);
    h.finish()
}

/// The hash a node is indexed by: of its name in lowercase.
#[inline]
fn name_hash(name: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(NameBuf::lowered(name).as_slice());
    h.finish()
}

fn empty_node(name: Name, line: usize) -> Node {
    Node {
        name,
        rrsets: Vec::new(),
        cut: false,
        occluded: false,
        wildcard_child: false,
        line,
        dynamic: false,
    }
}

/// Sets `occluded` and `wildcard_child` once the cuts are known. Both are
/// rare, so only the nodes concerned are visited.
fn mark_occluded_and_wildcards(apex: &[u8], nodes: &mut FxHashMap<Box<[u8]>, Node>) {
    let wildcard_parents: Vec<Box<[u8]>> = nodes
        .keys()
        .filter(|k| k.starts_with(&[1, b'*']))
        .map(|k| k[2..].into())
        .collect();
    for parent in wildcard_parents {
        if let Some(node) = nodes.get_mut(&parent) {
            node.wildcard_child = true;
        }
    }
    if !nodes.values().any(|n| n.cut) {
        return;
    }
    let at_or_below_cut = |key: &[u8]| {
        let mut name = key;
        while name.len() > apex.len() {
            if nodes.get(name).is_some_and(|n| n.cut) {
                return true;
            }
            name = &name[1 + name[0] as usize..];
        }
        false
    };
    let occluded: Vec<Box<[u8]>> = nodes.keys().filter(|k| at_or_below_cut(k)).cloned().collect();
    for key in occluded {
        nodes.get_mut(&key).expect("key taken from the map").occluded = true;
    }
}

fn check_record(apex: &Name, record: &Record) -> Result<(), String> {
    if !record.owner.ends_with(apex) {
        return Err(format!("record {} is outside the zone", record.owner));
    }
    if record.class != CLASS_IN {
        return Err(format!(
            "record {} has class {}; only IN is served",
            record.owner, record.class
        ));
    }
    if record.rtype == rtype::SOA && record.owner.lowercase() != apex.lowercase() {
        return Err(format!("SOA record at {}, which is not the zone apex", record.owner));
    }
    if matches!(
        record.rtype,
        rtype::OPT | rtype::TSIG | rtype::ANY | rtype::AXFR | rtype::IXFR | 0
    ) {
        return Err(format!(
            "record {} has type {}, which cannot be stored in a zone",
            record.owner, record.rtype
        ));
    }
    Ok(())
}

/// Adds a record to its RRset: duplicates are dropped (RFC 2181 §5), a TTL
/// that differs from the RRset's is lowered to the smallest (RFC 2181 §5.2).
fn add_to_node(node: &mut Node, record: Record) {
    let Record {
        owner,
        rtype,
        ttl,
        rdata,
        ..
    } = record;
    match node.rrsets.iter_mut().find(|r| r.rtype == rtype) {
        Some(rrset) => {
            if rrset.ttl != ttl {
                tracing::warn!(%owner, rtype = %rtype::mnemonic(rtype), "records of one RRset have different TTLs; using the smallest (RFC 2181 §5.2)");
                rrset.ttl = rrset.ttl.min(ttl);
            }
            if !rrset.rdata.contains(&rdata) {
                rrset.rdata.push(rdata);
            }
        }
        None => {
            node.rrsets.push(Rrset {
                rtype,
                ttl,
                rdata: vec![rdata],
            });
            node.rrsets.sort_by_key(|r| r.rtype);
        }
    }
}

/// RFC 1034 §3.6.2 / RFC 2181 §10.1: a CNAME is alone at its name, and
/// there is at most one.
fn check_node(node: &Node, is_apex: bool) -> Result<(), String> {
    if let Some(cname) = node.rrset(rtype::CNAME) {
        if cname.rdata.len() > 1 {
            return Err(format!(
                "{} has {} CNAME records; one is allowed (RFC 2181 §10.1)",
                node.name,
                cname.rdata.len()
            ));
        }
        if node.rrsets.len() > 1 || is_apex {
            return Err(format!("{} has a CNAME and other data (RFC 1034 §3.6.2)", node.name));
        }
    }
    Ok(())
}

/// Every ancestor of an owner, up to the apex, exists as a node (RFC 4592
/// §2.2.2): a query for it gets NODATA, not NXDOMAIN.
fn add_empty_non_terminals(apex: &Name, nodes: &mut FxHashMap<Box<[u8]>, Node>) {
    let apex_len = apex.wire().len();
    let owners: Vec<Name> = nodes.values().map(|n| n.name.clone()).collect();
    for owner in owners {
        let mut name = owner;
        while name.wire().len() > apex_len {
            let Some(parent) = name.parent() else { break };
            let key: Box<[u8]> = parent.lowercase().wire().into();
            if nodes.contains_key(&key) {
                break;
            }
            nodes.insert(key, empty_node(parent.clone(), 0));
            name = parent;
        }
    }
}

/// The MINIMUM field: the last 32 bits of SOA RDATA (RFC 1035 §3.3.13).
fn soa_minimum(rdata: &[u8]) -> u32 {
    let at = rdata.len().saturating_sub(4);
    rdata
        .get(at..)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}
