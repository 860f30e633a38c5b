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
}

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
}

/// The table of prebuilt answers.
#[derive(Debug, Default)]
pub struct PrebuiltTable {
    /// Index into `entries` plus one; 0 is an empty slot.
    slots: Vec<u32>,
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
        if self.slots.is_empty() {
            return None;
        }
        let h = hash(key, qtype);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            let e = &self.entries[slot as usize - 1];
            if e.hash == h && e.qtype == qtype && self.key(e) == key {
                let body =
                    &self.bodies[e.body_off as usize..e.body_off as usize + e.body_len as usize];
                return Some(Prebuilt {
                    flags: e.flags,
                    counts: e.counts,
                    body,
                });
            }
            i = (i + 1) & mask;
        }
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
        self.slots.capacity() * 4
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.keys.capacity()
            + self.bodies.capacity()
    }
}

/// Collects entries, then lays out the index.
#[derive(Debug, Default)]
pub struct Builder {
    table: PrebuiltTable,
    key_offsets: FxHashMap<Box<[u8]>, u32>,
    body_offsets: FxHashMap<Box<[u8]>, u32>,
}

impl Builder {
    /// Adds an answer; bodies over 64 KiB are not cacheable and are skipped.
    pub fn add(&mut self, key: &[u8], qtype: u16, flags: u16, counts: [u16; 3], body: &[u8]) {
        let (Ok(body_len), Ok(key_len)) = (u16::try_from(body.len()), u8::try_from(key.len()))
        else {
            return;
        };
        let t = &mut self.table;
        let key_off = *self.key_offsets.entry(key.into()).or_insert_with(|| {
            t.keys.extend_from_slice(key);
            (t.keys.len() - key.len()) as u32
        });
        let body_off = *self.body_offsets.entry(body.into()).or_insert_with(|| {
            t.bodies.extend_from_slice(body);
            (t.bodies.len() - body.len()) as u32
        });
        t.entries.push(Entry {
            hash: hash(key, qtype),
            key_off,
            body_off,
            body_len,
            key_len,
            qtype,
            flags,
            counts,
        });
    }

    /// Lays out the open-addressing index at a load factor of at most 1/2.
    pub fn finish(self) -> PrebuiltTable {
        let mut table = self.table;
        let size = (table.entries.len() * 2).next_power_of_two().max(16);
        table.slots = vec![0; size];
        let mask = size - 1;
        for (n, e) in table.entries.iter().enumerate() {
            let mut i = e.hash as usize & mask;
            while table.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            table.slots[i] = n as u32 + 1;
        }
        table.keys.shrink_to_fit();
        table.bodies.shrink_to_fit();
        table.entries.shrink_to_fit();
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_added_and_nothing_else() {
        let mut b = Builder::default();
        b.add(b"\x03www\x04test\x00", 1, 0x0400, [1, 0, 0], b"answer-a");
        b.add(
            b"\x03www\x04test\x00",
            28,
            0x0400,
            [1, 0, 0],
            b"answer-aaaa",
        );
        b.add(
            b"\x03ftp\x04test\x00",
            OTHER_TYPES,
            0x0400,
            [0, 1, 0],
            b"nodata",
        );
        let t = b.finish();
        assert_eq!(t.get(b"\x03www\x04test\x00", 1).unwrap().body, b"answer-a");
        assert_eq!(
            t.get(b"\x03www\x04test\x00", 28).unwrap().body,
            b"answer-aaaa"
        );
        assert_eq!(t.get(b"\x03ftp\x04test\x00", 0).unwrap().counts, [0, 1, 0]);
        assert!(t.get(b"\x03www\x04test\x00", 15).is_none());
        assert!(t.get(b"\x03xyz\x04test\x00", 1).is_none());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn equal_bodies_are_stored_once() {
        let mut b = Builder::default();
        for i in 0..100u8 {
            b.add(&[1, i, 0], 0, 0, [0, 1, 0], b"same nodata body");
        }
        let t = b.finish();
        assert_eq!(t.bodies.len(), b"same nodata body".len());
        assert!(t.get(&[1, 42, 0], 0).is_some());
    }
}
