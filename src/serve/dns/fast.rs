//! The UDP hot path (DESIGN.md §8): answer a plain query in place from the
//! prebuilt table, or hand it to the general path.
//!
//! Taken here: QUERY, QDCOUNT 1, nothing in answer/authority, at most an
//! OPT (version 0, well-formed options, no NSID when one is configured),
//! class IN, an ordinary type, a name with a prebuilt answer, and a reply
//! that fits. The question stays where it is in the receive buffer; the
//! header is rewritten and the prebuilt sections are appended, then the
//! OPT. No locks, no allocation.

use super::query::{self, NameBuf};
use crate::dns::{CLASS_IN, HEADER_LEN, flags, rtype};
use crate::publish::prebuilt::OTHER_TYPES;
use crate::publish::snapshot::Snapshot;

/// Answers the query in `buf[..len]` in place; returns the reply length,
/// or `None` when the general path must decide.
#[inline]
pub fn answer_in_place(snapshot: &Snapshot, buf: &mut [u8], len: usize) -> Option<usize> {
    let packet = buf.get(..len)?;
    if len < HEADER_LEN {
        return None;
    }
    let header_flags = u16::from_be_bytes([packet[2], packet[3]]);
    // QR=0, opcode QUERY; QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
    if header_flags & (flags::QR | flags::OPCODE_MASK) != 0
        || packet[4..10] != [0, 1, 0, 0, 0, 0]
        || packet[10] != 0
        || packet[11] > 1
    {
        return None;
    }
    let (key, qname_end) = lowered_qname(packet)?;
    let question_end = qname_end + 4;
    let qtype = u16::from_be_bytes([*packet.get(qname_end)?, *packet.get(qname_end + 1)?]);
    let qclass = u16::from_be_bytes([*packet.get(qname_end + 2)?, *packet.get(qname_end + 3)?]);
    if qclass != CLASS_IN
        || matches!(
            qtype,
            OTHER_TYPES | rtype::OPT | rtype::ANY | rtype::AXFR | rtype::IXFR
        )
    {
        return None;
    }
    let edns = if packet[11] == 1 {
        Some(read_opt(snapshot, &packet[question_end..])?)
    } else if question_end == len {
        None
    } else {
        return None;
    };
    let table = &snapshot.prebuilt;
    let found = table
        .get(key.as_slice(), qtype)
        .or_else(|| table.get(key.as_slice(), OTHER_TYPES))?;
    let limit = match edns {
        None => super::answer::PLAIN_UDP_SIZE,
        Some((size, _)) => usize::from(size.clamp(512, snapshot.edns_udp_size)),
    };
    let opt_len = if edns.is_some() { 11 } else { 0 };
    let end = question_end + found.body.len();
    if end + opt_len > limit.min(buf.len()) {
        return None;
    }
    let reply_flags = flags::QR | (header_flags & (flags::RD | flags::CD)) | found.flags;
    buf[2..4].copy_from_slice(&reply_flags.to_be_bytes());
    buf[6..8].copy_from_slice(&found.counts[0].to_be_bytes());
    buf[8..10].copy_from_slice(&found.counts[1].to_be_bytes());
    let arcount = found.counts[2] + u16::from(edns.is_some());
    buf[10..12].copy_from_slice(&arcount.to_be_bytes());
    buf[question_end..end].copy_from_slice(found.body);
    if let Some((_, dnssec_ok)) = edns {
        let size = snapshot.edns_udp_size.to_be_bytes();
        let do_bit = if dnssec_ok { 0x80 } else { 0 };
        buf[end..end + 11].copy_from_slice(&[0, 0, 41, size[0], size[1], 0, 0, do_bit, 0, 0, 0]);
    }
    Some(end + opt_len)
}

/// The question name, lowered, and where it ends; `None` if it is not a
/// plain uncompressed name.
#[inline]
fn lowered_qname(packet: &[u8]) -> Option<(NameBuf, usize)> {
    let end = query::question_name_end(packet, HEADER_LEN)?;
    Some((NameBuf::lowered(&packet[HEADER_LEN..end]), end))
}

/// A lone OPT record that ends the packet: (client payload size, DO).
#[inline]
fn read_opt(snapshot: &Snapshot, opt: &[u8]) -> Option<(u16, bool)> {
    if opt.len() < 11 || opt[0] != 0 || opt[1..3] != [0, 41] || opt[6] != 0 {
        return None;
    }
    let rdlen = usize::from(u16::from_be_bytes([opt[9], opt[10]]));
    if opt.len() != 11 + rdlen {
        return None;
    }
    let asks_nsid = query::read_options(&opt[11..])?;
    if asks_nsid && snapshot.identity.nsid.is_some() {
        return None;
    }
    Some((u16::from_be_bytes([opt[3], opt[4]]), opt[7] & 0x80 != 0))
}
