//! Reads a query off the wire (RFC 1035 §4.1, RFC 6891 §6) into a
//! [`Query`], or says how to reject it.
//!
//! The checks, in order: too short for a header or a response (QR=1) →
//! silence; an opcode other than QUERY → NOTIMP; anything malformed
//! (QDCOUNT ≠ 1, bad labels, compression in the question, records that
//! overrun the packet, a second OPT, an OPT not owned by the root, trailing
//! bytes) → FORMERR; an EDNS version above 0 → BADVERS (RFC 6891 §6.1.3).

use crate::dns::name::{MAX_LABEL_LEN, MAX_NAME_LEN};
use crate::dns::{HEADER_LEN, flags, rtype};

/// EDNS option code for NSID (RFC 5001 §2.3).
pub const OPTION_NSID: u16 = 3;

/// The EDNS(0) parameters of a query (RFC 6891 §6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    pub nsid: bool,
    /// EDNS Client Subnet (RFC 7871), when the query carries one.
    pub ecs: Option<ClientSubnet>,
}

/// EDNS option code for Client Subnet (RFC 7871 §6).
pub const OPTION_ECS: u16 = 8;

/// The client subnet a resolver sent (RFC 7871 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// 1 = IPv4, 2 = IPv6 (IANA address family numbers).
    pub family: u16,
    pub source_prefix: u8,
    /// The address octets as sent: ceil(source_prefix / 8) of them.
    pub address: [u8; 16],
}

impl ClientSubnet {
    /// Octets of address the option carries.
    pub fn address_len(&self) -> usize {
        usize::from(self.source_prefix).div_ceil(8)
    }

    /// The address, zero-padded.
    pub fn ip(&self) -> std::net::IpAddr {
        match self.family {
            1 => std::net::IpAddr::from(<[u8; 4]>::try_from(&self.address[..4]).expect("4 octets")),
            _ => std::net::IpAddr::from(self.address),
        }
    }

    /// Reads the option body; `None` if malformed (RFC 7871 §7.1.1 asks
    /// for FORMERR then): unknown family, prefix too long, address length
    /// not matching the prefix, or a non-zero scope in a query.
    fn parse(body: &[u8]) -> Option<ClientSubnet> {
        let family = be16(body, 0)?;
        let (&source_prefix, &scope) = (body.get(2)?, body.get(3)?);
        let max = match family {
            1 => 32,
            2 => 128,
            _ => return None,
        };
        let address = body.get(4..)?;
        let subnet = ClientSubnet {
            family,
            source_prefix,
            address: [0; 16],
        };
        if source_prefix > max || scope != 0 || address.len() != subnet.address_len() {
            return None;
        }
        let mut subnet = subnet;
        subnet.address[..address.len()].copy_from_slice(address);
        Some(subnet)
    }
}

/// The EDNS options Lifeline acts on; others are ignored (RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub nsid: bool,
    pub ecs: Option<ClientSubnet>,
}

/// A well-formed query with one question.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub packet: &'a [u8],
    /// The question name as sent (case kept), uncompressed wire format.
    pub qname: &'a [u8],
    /// The question name lowered, for lookups.
    pub lower: NameBuf,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just past the question.
    pub question_end: usize,
    pub edns: Option<Edns>,
}

impl Query<'_> {
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.packet[0], self.packet[1]])
    }

    pub fn header_flags(&self) -> u16 {
        u16::from_be_bytes([self.packet[2], self.packet[3]])
    }
}

/// A lowercase name on the stack.
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
}

impl NameBuf {
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Lowercases a valid uncompressed wire name. Length octets (at most
    /// 63) are below `A`, so the whole name is lowered as a byte string,
    /// eight octets at a time.
    #[inline]
    pub fn lowered(wire: &[u8]) -> NameBuf {
        let mut buf = NameBuf {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        };
        buf.set_lowered(wire);
        buf
    }

    /// Replaces the contents with `wire` lowered (see [`NameBuf::lowered`]);
    /// lets the hot path keep one buffer instead of moving 256 octets.
    #[inline]
    pub fn set_lowered(&mut self, wire: &[u8]) {
        self.len = wire.len() as u8;
        let mut chunks = wire.chunks_exact(8);
        for (out, chunk) in self.bytes.chunks_exact_mut(8).zip(chunks.by_ref()) {
            let word = u64::from_ne_bytes(chunk.try_into().expect("8 octets"));
            out.copy_from_slice(&lower8(word).to_ne_bytes());
        }
        let done = wire.len() - chunks.remainder().len();
        for (d, s) in self.bytes[done..].iter_mut().zip(chunks.remainder()) {
            *d = s.to_ascii_lowercase();
        }
    }

    /// An empty buffer to fill with [`NameBuf::set_lowered`].
    pub const EMPTY: NameBuf = NameBuf {
        bytes: [0; MAX_NAME_LEN],
        len: 0,
    };
}

/// ASCII-lowercases eight octets at once: adds 0x20 to exactly the octets
/// in `A`..=`Z`, leaves all others (including non-ASCII) alone.
#[inline]
fn lower8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (0x7f * ONES);
    let at_least_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let above_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = at_least_a & !above_z & !x & (0x80 * ONES);
    x | (upper >> 2)
}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::dns::name::fmt_wire(self.as_slice(), f)
    }
}

/// Why a packet gets no normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not even a header, or a response: send nothing (RFC 8906 §3.1.1
    /// allows no reply to what cannot be a query).
    Drop,
    /// Answer with this rcode; `question_end` is set when the question was
    /// readable and should be echoed.
    Error { rcode: u16, question_end: Option<usize> },
}

fn formerr(question_end: Option<usize>) -> Reject {
    Reject::Error {
        rcode: crate::dns::rcode::FORMERR,
        question_end,
    }
}

/// Reads the uncompressed question name at `pos`; returns its end.
/// Compression pointers are not allowed here: nothing precedes the question
/// that they could point to.
pub fn question_name_end(packet: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = *packet.get(pos)? as usize;
        if len > MAX_LABEL_LEN {
            return None;
        }
        pos += 1 + len;
        if pos - start > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Skips a possibly compressed name in a record; returns its end.
///
/// The pointers are followed to check the whole name, since a name that
/// never ends is as malformed as one cut off. RFC 1035 §4.1.4: a pointer
/// refers to a *prior* occurrence of a name, so each must point before the
/// labels that led to it (and past the header). That rules out forward
/// pointers and loops, however many hops they take, and bounds the walk;
/// the name they spell must be valid (RFC 1035 §2.3.4).
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    let mut segment = pos;
    let mut end = None;
    let mut name_len = 0;
    loop {
        let len = *packet.get(pos)?;
        match len & 0xc0 {
            0xc0 => {
                let target = (usize::from(len & 0x3f) << 8) | usize::from(*packet.get(pos + 1)?);
                if target >= segment || target < HEADER_LEN {
                    return None;
                }
                end.get_or_insert(pos + 2);
                (pos, segment) = (target, target);
            }
            0x00 => {
                name_len += 1 + len as usize;
                if name_len > MAX_NAME_LEN {
                    return None;
                }
                pos += 1 + len as usize;
                if len == 0 {
                    return Some(end.unwrap_or(pos));
                }
            }
            _ => return None,
        }
    }
}

fn be16(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// Parses a query; see the module documentation for the order of checks.
pub fn parse(packet: &[u8]) -> Result<Query<'_>, Reject> {
    if packet.len() < HEADER_LEN || packet[2] & 0x80 != 0 {
        return Err(Reject::Drop);
    }
    let header_flags = u16::from_be_bytes([packet[2], packet[3]]);
    let question = read_question(packet);
    if header_flags & flags::OPCODE_MASK != 0 {
        let question_end = question.ok().map(|q| q.2);
        return Err(Reject::Error {
            rcode: crate::dns::rcode::NOTIMP,
            question_end,
        });
    }
    let (qname_end, qtype, question_end) = question.map_err(|()| formerr(None))?;
    let qclass = be16(packet, qname_end + 2).unwrap_or(0);
    let edns = read_records(packet, question_end).map_err(|()| formerr(Some(question_end)))?;
    if qtype == rtype::OPT {
        return Err(formerr(Some(question_end)));
    }
    let qname = &packet[HEADER_LEN..qname_end];
    Ok(Query {
        packet,
        qname,
        lower: NameBuf::lowered(qname),
        qtype,
        qclass,
        question_end,
        edns,
    })
}

/// (end of qname, qtype, end of question) when QDCOUNT is 1 and the
/// question is complete.
fn read_question(packet: &[u8]) -> Result<(usize, u16, usize), ()> {
    if be16(packet, 4) != Some(1) {
        return Err(());
    }
    let qname_end = question_name_end(packet, HEADER_LEN).ok_or(())?;
    let qtype = be16(packet, qname_end).ok_or(())?;
    be16(packet, qname_end + 2).ok_or(())?;
    Ok((qname_end, qtype, qname_end + 4))
}

/// Walks the answer, authority and additional sections; returns the EDNS
/// parameters if there is one OPT record.
pub(crate) fn read_records(packet: &[u8], mut pos: usize) -> Result<Option<Edns>, ()> {
    let counts = [
        be16(packet, 6).ok_or(())?,
        be16(packet, 8).ok_or(())?,
        be16(packet, 10).ok_or(())?,
    ];
    let mut edns = None;
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            let owner_start = pos;
            pos = skip_name(packet, pos).ok_or(())?;
            let rtype = be16(packet, pos).ok_or(())?;
            let class = be16(packet, pos + 2).ok_or(())?;
            let rdlen = be16(packet, pos + 8).ok_or(())? as usize;
            let rdata = packet.get(pos + 10..pos + 10 + rdlen).ok_or(())?;
            if rtype == rtype::OPT {
                // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
                if section != 2 || edns.is_some() || packet[owner_start] != 0 {
                    return Err(());
                }
                let ttl = &packet[pos + 4..pos + 8];
                let options = read_options(rdata).ok_or(())?;
                edns = Some(Edns {
                    udp_size: class,
                    version: ttl[1],
                    dnssec_ok: ttl[2] & 0x80 != 0,
                    nsid: options.nsid,
                    ecs: options.ecs,
                });
            }
            pos += 10 + rdlen;
        }
    }
    if pos != packet.len() {
        return Err(());
    }
    Ok(edns)
}

/// Checks that the options fill the RDATA exactly; returns whether NSID was
/// asked for. Unknown options are ignored (RFC 6891 §6.1.2).
pub fn read_options(mut rdata: &[u8]) -> Option<Options> {
    let mut options = Options::default();
    while !rdata.is_empty() {
        let code = be16(rdata, 0)?;
        let len = be16(rdata, 2)? as usize;
        let body = rdata.get(4..4 + len)?;
        match code {
            OPTION_NSID => options.nsid = true,
            OPTION_ECS => options.ecs = Some(ClientSubnet::parse(body)?),
            _ => {}
        }
        rdata = &rdata[4 + len..];
    }
    Some(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, additional: &[u8], arcount: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&arcount.to_be_bytes());
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(additional);
        p
    }

    const OPT: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn reads_a_plain_query() {
        let p = query(b"\x03WwW\x04test\x00", 1, &[], 0);
        let q = parse(&p).unwrap();
        assert_eq!(q.qname, b"\x03WwW\x04test\x00");
        assert_eq!(q.lower.as_slice(), b"\x03www\x04test\x00");
        assert_eq!((q.qtype, q.qclass, q.id()), (1, 1, 0x1234));
        assert_eq!(q.question_end, p.len());
        assert_eq!(q.edns, None);
    }

    #[test]
    fn lowering_touches_only_ascii_capitals() {
        let all: Vec<u8> = (0..=255u8).collect();
        for chunk in all.chunks(37) {
            let lowered = NameBuf::lowered(chunk);
            assert_eq!(lowered.as_slice(), chunk.to_ascii_lowercase().as_slice());
        }
    }

    #[test]
    fn reads_edns() {
        let p = query(b"\x04test\x00", 1, OPT, 1);
        let e = parse(&p).unwrap().edns.unwrap();
        assert_eq!((e.udp_size, e.version, e.dnssec_ok, e.nsid), (1232, 0, true, false));
    }

    #[test]
    fn rejects_malformed_queries() {
        let good = query(b"\x04test\x00", 1, &[], 0);
        assert_eq!(parse(&good[..11]).unwrap_err(), Reject::Drop);
        let mut response = good.clone();
        response[2] |= 0x80;
        assert_eq!(parse(&response).unwrap_err(), Reject::Drop);
        let is_formerr = |p: &[u8]| matches!(parse(p), Err(Reject::Error { rcode: 1, .. }));
        assert!(is_formerr(&good[..good.len() - 1]));
        let mut two = good.clone();
        two[5] = 2;
        assert!(is_formerr(&two));
        assert!(is_formerr(&query(b"\xc0\x0c", 1, &[], 0)));
        assert!(is_formerr(&query(
            &[&[64u8][..], &[b'a'; 64], b"\x00"].concat(),
            1,
            &[],
            0
        )));
        let mut opts = OPT.to_vec();
        opts.extend_from_slice(OPT);
        assert!(is_formerr(&query(b"\x04test\x00", 1, &opts, 2)));
        let overrun = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 8, 0, 3, 0, 9, 1, 2, 3, 4];
        assert!(is_formerr(&query(b"\x04test\x00", 1, &overrun, 1)));
        assert!(is_formerr(&query(b"\x04test\x00", 1, b"junk", 0)));
    }

    /// A query for www.test with ARCOUNT 2 and these two records.
    fn with_records(records: &[u8]) -> Vec<u8> {
        query(b"\x03www\x04test\x00", 1, records, 2)
    }

    #[test]
    fn record_owner_names_may_point_back() {
        // Record 1 owned by "mail" + pointer to "test" in the question
        // (offset 16); record 2 owned by a pointer to record 1's owner.
        let first = 12 + 10 + 4;
        let mut records = b"\x04mail\xc0\x10\x00\x01\x00\x01\0\0\0\0\x00\x00".to_vec();
        records.extend_from_slice(&[0xc0, first as u8, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(parse(&with_records(&records)).is_ok());
    }

    #[test]
    fn pointer_loops_in_records_are_formerr_however_many_hops() {
        let is_formerr = |p: &[u8]| matches!(parse(p), Err(Reject::Error { rcode: 1, .. }));
        let first = 12 + 10 + 4;
        // A pointer to itself.
        let own = [&[0xc0, first as u8][..], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]].concat();
        assert!(is_formerr(&query(b"\x03www\x04test\x00", 1, &own, 1)));
        // Two hops: record 1 (root-owned, type NULL) has in its RDATA a
        // pointer to record 2's owner, which points back into that RDATA.
        // Each pointer points backwards from where it sits; followed, they
        // never end (issue 3 §5, tests/malformed/additional_pointer_loop_two_hops.bin).
        let rdata_at = first + 1 + 10;
        let second = rdata_at + 2;
        let mut records = vec![0, 0, 10, 0, 1, 0, 0, 0, 0, 0, 2, 0xc0, second as u8];
        records.extend_from_slice(&[0xc0, rdata_at as u8, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(is_formerr(&with_records(&records)));
        // A pointer into the header.
        let header = [&[0xc0, 2][..], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]].concat();
        assert!(is_formerr(&query(b"\x03www\x04test\x00", 1, &header, 1)));
    }

    #[test]
    fn unknown_opcode_is_notimp_with_question() {
        let mut p = query(b"\x04test\x00", 1, &[], 0);
        p[2] = 0x10; // opcode 2 (STATUS)
        assert_eq!(
            parse(&p).unwrap_err(),
            Reject::Error {
                rcode: 4,
                question_end: Some(p.len())
            }
        );
    }
}
