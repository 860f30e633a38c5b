//! Answers prebuilt in wire format, keyed by (lowercase name, type).
//!
//! For every name a zone holds, the snapshot builder runs the ordinary
//! answer logic once per type worth caching and keeps the bytes that follow
//! the question. A query for the same name has a question of the same
//! length at the same offset, so compression pointers into it stay valid;
//! the UDP hot path copies the header, keeps the question in place and
//! appends these bytes (DESIGN.md §8).
//!
//! Storage is two arenas (keys, bodies) and an open-addressing index, so a
//! zone of a million names costs a few allocations, not millions; equal
//! bodies (NODATA answers of same-length names) are stored once.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use super::index::Index;

/// Type code used in the table for "any type without its own entry": the
/// NODATA answer of a name, or the referral at a zone cut. Type 0 is
/// reserved (RFC 6895 §3.1) and never looked up by the hot path.
pub const OTHER_TYPES: u16 = 0;

/// A prebuilt answer.
#[derive(Debug, Clone, Copy)]
pub struct Prebuilt<'a> {
    /// Header flags to set: AA and the rcode (low 4 bits).
    pub flags: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT.
    pub counts: [u16; 3],
    /// The sections, as they follow the question.
    pub body: &'a [u8],
    /// For a health-checked (name, type): its slot in the dynamic part;
    /// `flags`, `counts` and `body` are then unused.
    pub slot: Option<u32>,
    /// Where in `body` the SOA serial sits, to be set from the snapshot's
    /// current serial of `zone`.
    pub serial_at: Option<u16>,
    pub zone: u16,
}

/// No slot / no serial.
const NONE32: u32 = u32::MAX;
const NONE16: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    key_off: u32,
    body_off: u32,
    body_len: u16,
    key_len: u8,
    qtype: u16,
    flags: u16,
    counts: [u16; 3],
    slot: u32,
    serial_at: u16,
    zone: u16,
}

/// An answer whose compression pointers all move with the length of the
/// question name: a zone's NXDOMAIN answer (SOA in the authority section),
/// built for a question that holds only the apex. For a longer name under
/// the same apex, the question grows by `d` octets in front of the apex, so
/// every pointer, into the question or into the body, moves by `d`.
#[derive(Debug, Clone)]
pub struct Relocatable {
    pub flags: u16,
    pub counts: [u16; 3],
    body: Box<[u8]>,
    /// Offsets in `body` of each 2-octet compression pointer.
    pointers: Box<[u16]>,
    /// Length of the apex the body was built after.
    base_len: usize,
    /// Where the SOA serial sits in the body.
    pub serial_at: Option<u16>,
}

impl Relocatable {
    /// Takes the sections that follow the question in `msg` (whose question
    /// name is the apex, `base_len` octets) and finds their pointers.
    pub fn new(msg: &[u8], question_end: usize, base_len: usize) -> Option<Relocatable> {
        let counts = [6, 8, 10].map(|at| u16::from_be_bytes([msg[at], msg[at + 1]]));
        let records = counts.iter().map(|&c| c as usize).sum();
        let (pointers, serial_at) = walk_body(&msg[question_end..], records)?;
        let flags = u16::from_be_bytes([msg[2], msg[3]]) & (crate::dns::flags::AA | 0x000f);
        Some(Relocatable {
            flags,
            counts,
            body: msg[question_end..].into(),
            pointers: pointers.into(),
            base_len,
            serial_at,
        })
    }

    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Writes the body into `out` for a question name of `qname_len`
    /// octets; `None` if a pointer would leave the 14-bit range.
    #[inline]
    pub fn write(&self, out: &mut [u8], qname_len: usize) -> Option<()> {
        let shift = qname_len.checked_sub(self.base_len)?;
        out.get_mut(..self.body.len())?.copy_from_slice(&self.body);
        for &at in self.pointers.iter() {
            let at = at as usize;
            let target = usize::from(u16::from_be_bytes([out[at], out[at + 1]]) & 0x3fff) + shift;
            if target > 0x3fff {
                return None;
            }
            out[at..at + 2].copy_from_slice(&(0xc000 | target as u16).to_be_bytes());
        }
        Some(())
    }
}

/// Walks `records` resource records written by Lifeline at the start of
/// `body`: the offsets of every compression pointer (in owner names and in
/// the RDATA names RFC 3597 §4 lets us compress), and of the SOA serial if
/// an SOA record is among them.
fn walk_body(body: &[u8], records: usize) -> Option<(Vec<u16>, Option<u16>)> {
    use crate::dns::rtype::{self, CompressLayout};
    let mut pointers = Vec::new();
    let name = |mut pos: usize, pointers: &mut Vec<u16>| -> Option<usize> {
        loop {
            let len = *body.get(pos)?;
            if len & 0xc0 == 0xc0 {
                pointers.push(u16::try_from(pos).ok()?);
                return Some(pos + 2);
            }
            pos += 1 + len as usize;
            if len == 0 {
                return Some(pos);
            }
        }
    };
    let mut serial_at = None;
    let mut pos = 0;
    for _ in 0..records {
        pos = name(pos, &mut pointers)?;
        let rtype = u16::from_be_bytes([*body.get(pos)?, *body.get(pos + 1)?]);
        let rdlen = usize::from(u16::from_be_bytes([*body.get(pos + 8)?, *body.get(pos + 9)?]));
        let rdata = pos + 10;
        match rtype::compressible_names(rtype) {
            CompressLayout::Opaque => {}
            CompressLayout::OneName { at } => {
                name(rdata + at, &mut pointers)?;
            }
            CompressLayout::Soa => {
                let rname = name(rdata, &mut pointers)?;
                serial_at = Some(u16::try_from(name(rname, &mut pointers)?).ok()?);
            }
        }
        pos = rdata + rdlen;
    }
    (pos == body.len()).then_some((pointers, serial_at))
}

/// The table of prebuilt answers.
#[derive(Debug, Default)]
pub struct PrebuiltTable {
    /// Per zone (same index as `Zones`), its NXDOMAIN answer.
    pub nxdomain: Vec<Option<Relocatable>>,
    /// Positions in `entries` by hash.
    index: Index,
    entries: Vec<Entry>,
    keys: Vec<u8>,
    bodies: Vec<u8>,
}

fn hash(key: &[u8], qtype: u16) -> u32 {
    let mut h = FxHasher::default();
    h.write(key);
    h.write_u16(qtype);
    let v = h.finish();
    (v ^ (v >> 32)) as u32
}

impl PrebuiltTable {
    /// Looks up the answer for a lowercase wire name and type.
    #[inline]
    pub fn get(&self, key: &[u8], qtype: u16) -> Option<Prebuilt<'_>> {
        let h = hash(key, qtype);
        let found = self.index.find(u64::from(h), |i| {
            let e = &self.entries[i];
            e.hash == h && e.qtype == qtype && self.key(e) == key
        })?;
        let e = &self.entries[found];
        let body = &self.bodies[e.body_off as usize..e.body_off as usize + e.body_len as usize];
        Some(Prebuilt {
            flags: e.flags,
            counts: e.counts,
            body,
            slot: (e.slot != NONE32).then_some(e.slot),
            serial_at: (e.serial_at != NONE16).then_some(e.serial_at),
            zone: e.zone,
        })
    }

    fn key(&self, e: &Entry) -> &[u8] {
        &self.keys[e.key_off as usize..e.key_off as usize + e.key_len as usize]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held by the table.
    pub fn memory(&self) -> usize {
        self.index.memory()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.keys.capacity()
            + self.bodies.capacity()
            + self.nxdomain.iter().flatten().map(Relocatable::len).sum::<usize>()
    }
}

/// Collects entries, then lays out the index.
#[derive(Debug, Default)]
pub struct Builder {
    table: PrebuiltTable,
    /// Offset of the last key stored: entries of one name come together.
    last_key: Option<(u32, u8)>,
    /// Negative answers (no answer records) repeat across names of equal
    /// length; they are stored once.
    negative_bodies: FxHashMap<Box<[u8]>, u32>,
}

impl Builder {
    /// Adds an answer; bodies over 64 KiB are not cacheable and are skipped.
    pub fn add(&mut self, key: &[u8], qtype: u16, flags: u16, counts: [u16; 3], body: &[u8], zone: u16) {
        let records = counts.iter().map(|&c| c as usize).sum();
        let Some((_, serial_at)) = walk_body(body, records) else {
            return;
        };
        self.push(
            key,
            qtype,
            flags,
            counts,
            body,
            NONE32,
            serial_at.unwrap_or(NONE16),
            zone,
        );
    }

    /// Adds the entry of a health-checked (name, type), answered from
    /// `slot` of the snapshot's dynamic part.
    pub fn add_slot(&mut self, key: &[u8], qtype: u16, slot: u32) {
        self.push(key, qtype, 0, [0; 3], &[], slot, NONE16, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        key: &[u8],
        qtype: u16,
        flags: u16,
        counts: [u16; 3],
        body: &[u8],
        slot: u32,
        serial_at: u16,
        zone: u16,
    ) {
        let (Ok(body_len), Ok(key_len)) = (u16::try_from(body.len()), u8::try_from(key.len())) else {
            return;
        };
        let t = &mut self.table;
        let key_off = match self.last_key {
            Some((off, len)) if t.keys[off as usize..off as usize + len as usize] == *key => off,
            _ => {
                t.keys.extend_from_slice(key);
                let off = (t.keys.len() - key.len()) as u32;
                self.last_key = Some((off, key_len));
                off
            }
        };
        let mut store = |body: &[u8]| {
            t.bodies.extend_from_slice(body);
            (t.bodies.len() - body.len()) as u32
        };
        let body_off = if counts[0] == 0 {
            *self.negative_bodies.entry(body.into()).or_insert_with(|| store(body))
        } else {
            store(body)
        };
        t.entries.push(Entry {
            hash: hash(key, qtype),
            key_off,
            body_off,
            body_len,
            key_len,
            qtype,
            flags,
            counts,
            slot,
            serial_at,
            zone,
        });
    }

    /// Sets the NXDOMAIN answers, one per zone.
    pub fn nxdomain(&mut self, answers: Vec<Option<Relocatable>>) {
        self.table.nxdomain = answers;
    }

    /// Lays out the open-addressing index at a load factor of at most 1/2.
    pub fn finish(self) -> PrebuiltTable {
        let mut table = self.table;
        table.index = Index::build(table.entries.iter().map(|e| u64::from(e.hash)));
        table.keys.shrink_to_fit();
        table.bodies.shrink_to_fit();
        table.entries.shrink_to_fit();
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One A record owned by the question name.
    fn a_record(last: u8) -> Vec<u8> {
        vec![0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, last]
    }

    /// An SOA record (root MNAME and RNAME) with the given serial.
    fn soa_record(serial: u32) -> Vec<u8> {
        let mut r = vec![0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0];
        r.extend_from_slice(&serial.to_be_bytes());
        r.extend_from_slice(&[0; 16]);
        r
    }

    #[test]
    fn finds_what_was_added_and_nothing_else() {
        let mut b = Builder::default();
        b.add(b"\x03www\x04test\x00", 1, 0x0400, [1, 0, 0], &a_record(1), 0);
        b.add(b"\x03www\x04test\x00", 28, 0x0400, [1, 0, 0], &a_record(2), 0);
        b.add(
            b"\x03ftp\x04test\x00",
            OTHER_TYPES,
            0x0400,
            [0, 1, 0],
            &soa_record(7),
            3,
        );
        b.add_slot(b"\x03app\x04test\x00", 1, 5);
        let t = b.finish();
        assert_eq!(t.get(b"\x03www\x04test\x00", 1).unwrap().body, a_record(1));
        assert_eq!(t.get(b"\x03www\x04test\x00", 28).unwrap().body, a_record(2));
        let nodata = t.get(b"\x03ftp\x04test\x00", 0).unwrap();
        assert_eq!((nodata.counts, nodata.zone, nodata.serial_at), ([0, 1, 0], 3, Some(14)));
        assert_eq!(&nodata.body[14..18], &7u32.to_be_bytes());
        assert_eq!(t.get(b"\x03app\x04test\x00", 1).unwrap().slot, Some(5));
        assert_eq!(t.get(b"\x03www\x04test\x00", 1).unwrap().slot, None);
        assert!(t.get(b"\x03www\x04test\x00", 15).is_none());
        assert!(t.get(b"\x03xyz\x04test\x00", 1).is_none());
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn relocated_pointers_follow_the_longer_question() {
        // Question "test." at 12; body: one A record owned by a pointer to 12.
        let mut msg = vec![0, 0, 0x84, 0x03, 0, 1, 0, 0, 0, 1, 0, 0];
        msg.extend_from_slice(b"\x04test\x00\x00\x01\x00\x01");
        let qend = msg.len();
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
        let r = Relocatable::new(&msg, qend, 6).unwrap();
        assert_eq!((r.flags, r.counts), (0x0403, [0, 1, 0]));
        let mut out = [0u8; 16];
        r.write(&mut out, 10).unwrap(); // "\x03www\x04test\x00": apex now at 16
        assert_eq!(&out[..2], &[0xc0, 16]);
        assert!(
            r.write(&mut out, 3).is_none(),
            "a name shorter than the apex is not under it"
        );
    }

    #[test]
    fn equal_bodies_are_stored_once() {
        let mut b = Builder::default();
        for i in 0..100u8 {
            b.add(&[1, i, 0], 0, 0, [0, 1, 0], &soa_record(1), 0);
        }
        let t = b.finish();
        assert_eq!(t.bodies.len(), soa_record(1).len());
        assert_eq!(t.keys.len(), 100 * 3);
        assert!(t.get(&[1, 42, 0], 0).is_some());
    }
}
