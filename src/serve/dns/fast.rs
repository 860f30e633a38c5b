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
use crate::dns::name::{label_offsets, wire_len};
use crate::dns::{CLASS_IN, HEADER_LEN, flags, rcode, rtype};
use crate::publish::dynamic::Content;
use crate::publish::prebuilt::{OTHER_TYPES, Prebuilt, Relocatable};
use crate::publish::snapshot::Snapshot;
use crate::publish::zone::Zone;

/// Answers the query in `buf[..len]` in place; returns the reply length,
/// or `None` when the general path must decide. `seq` numbers the worker's
/// queries and picks the variant of a health-checked answer.
#[inline]
pub fn answer_in_place(snapshot: &Snapshot, buf: &mut [u8], len: usize, seq: u32) -> Option<usize> {
    answer_in_place_from(snapshot, buf, len, seq, None)
}

/// [`answer_in_place`] for a query from `source`, which picks the variant
/// of consistent-hash answers.
#[inline]
pub fn answer_in_place_from(
    snapshot: &Snapshot,
    buf: &mut [u8],
    len: usize,
    seq: u32,
    source: Option<std::net::IpAddr>,
) -> Option<usize> {
    answer_in_place_typed(snapshot, buf, len, seq, source).map(|(reply, _)| reply)
}

/// [`answer_in_place_from`], also returning the type asked for, which the
/// UDP workers count (see [`super::stats`]) without reading the question
/// again.
#[inline]
pub fn answer_in_place_typed(
    snapshot: &Snapshot,
    buf: &mut [u8],
    len: usize,
    seq: u32,
    source: Option<std::net::IpAddr>,
) -> Option<(usize, u16)> {
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
    let qname_end = query::question_name_end(packet, HEADER_LEN)?;
    let mut key = NameBuf::EMPTY;
    key.set_lowered(&packet[HEADER_LEN..qname_end]);
    let question_end = qname_end + 4;
    let qtype = u16::from_be_bytes([*packet.get(qname_end)?, *packet.get(qname_end + 1)?]);
    let qclass = u16::from_be_bytes([*packet.get(qname_end + 2)?, *packet.get(qname_end + 3)?]);
    if qclass != CLASS_IN || matches!(qtype, OTHER_TYPES | rtype::OPT | rtype::ANY | rtype::AXFR | rtype::IXFR) {
        return None;
    }
    let edns = if packet[11] == 1 {
        Some(read_opt(snapshot, &packet[question_end..])?)
    } else if question_end == len {
        None
    } else {
        return None;
    };
    let reply = find_reply(snapshot, key.as_slice(), qtype, seq, source)?;
    let limit = match edns {
        None => super::answer::PLAIN_UDP_SIZE,
        Some((size, _)) => usize::from(size.clamp(512, snapshot.edns_udp_size)),
    };
    let opt_len = if edns.is_some() { 11 } else { 0 };
    let end = question_end + reply.body.len();
    if end + opt_len > limit.min(buf.len()) {
        return None;
    }
    match reply.body {
        Body::Bytes(bytes) => buf[question_end..end].copy_from_slice(bytes),
        Body::Relocated(r) => r.write(&mut buf[question_end..end], qname_end - HEADER_LEN)?,
    }
    if let Some((at, serial)) = reply.serial {
        let at = question_end + at as usize;
        buf[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    }
    let (flags, counts) = (reply.flags, reply.counts);
    let reply_flags = flags::QR | (header_flags & (flags::RD | flags::CD)) | flags;
    buf[2..4].copy_from_slice(&reply_flags.to_be_bytes());
    buf[6..8].copy_from_slice(&counts[0].to_be_bytes());
    buf[8..10].copy_from_slice(&counts[1].to_be_bytes());
    let arcount = counts[2] + u16::from(edns.is_some());
    buf[10..12].copy_from_slice(&arcount.to_be_bytes());
    if let Some((_, dnssec_ok)) = edns {
        let size = snapshot.edns_udp_size.to_be_bytes();
        let do_bit = if dnssec_ok { 0x80 } else { 0 };
        buf[end..end + 11].copy_from_slice(&[0, 0, 41, size[0], size[1], 0, 0, do_bit, 0, 0, 0]);
    }
    Some((end + opt_len, qtype))
}

/// A reply found for the hot path.
struct Reply<'a> {
    flags: u16,
    counts: [u16; 3],
    body: Body<'a>,
    /// Where the SOA serial goes in the body, and its current value.
    serial: Option<(u16, u32)>,
}

/// Where the sections come from.
enum Body<'a> {
    Bytes(&'a [u8]),
    Relocated(&'a Relocatable),
}

impl Body<'_> {
    fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::Relocated(r) => r.len(),
        }
    }
}

/// The prebuilt answer for (name, type), the name's NODATA answer, a
/// health-checked answer, or the zone's NXDOMAIN.
#[inline]
fn find_reply<'a>(
    snapshot: &'a Snapshot,
    key: &[u8],
    qtype: u16,
    seq: u32,
    source: Option<std::net::IpAddr>,
) -> Option<Reply<'a>> {
    let table = &snapshot.prebuilt;
    let static_reply = |p: Prebuilt<'a>| Reply {
        flags: p.flags,
        counts: p.counts,
        body: Body::Bytes(p.body),
        serial: p.serial_at.map(|at| (at, snapshot.serial(p.zone as usize))),
    };
    match table.get(key, qtype) {
        Some(Prebuilt { slot: Some(slot), .. }) => match &snapshot.dynamic.slots[slot as usize].content {
            Content::Addresses(v) => {
                let (addrs, body, _) = v.pick_for(seq, source);
                Some(Reply {
                    flags: flags::AA,
                    counts: [addrs.len() as u16, 0, 0],
                    body: Body::Bytes(body),
                    serial: None,
                })
            }
            Content::NoData => table.get(key, OTHER_TYPES).map(static_reply),
            Content::ServFail => Some(Reply {
                flags: rcode::SERVFAIL,
                counts: [0; 3],
                body: Body::Bytes(&[]),
                serial: None,
            }),
        },
        Some(p) => Some(static_reply(p)),
        None => match table.get(key, OTHER_TYPES) {
            Some(p) => Some(static_reply(p)),
            None => {
                let (zone, r) = nxdomain(snapshot, key)?;
                let serial = r.serial_at.map(|at| (at, snapshot.serial(zone)));
                Some(Reply {
                    flags: r.flags,
                    counts: r.counts,
                    body: Body::Relocated(r),
                    serial,
                })
            }
        },
    }
}

/// The zone's relocatable NXDOMAIN answer when `key` certainly does not
/// exist: no node of its own, and its closest encloser is neither at or
/// below a cut (a referral) nor the parent of a wildcard (RFC 4592 §4.1),
/// and when the relocated bytes are the general path's (see
/// [`soa_compresses_into_question`]). Anything else is left to the general
/// path.
#[inline]
fn nxdomain<'a>(snapshot: &'a Snapshot, key: &[u8]) -> Option<(usize, &'a Relocatable)> {
    let index = snapshot.zones.find_index(key)?;
    let zone = snapshot.zones.get(index);
    if zone.node(key).is_some() {
        return None;
    }
    let apex_at = key.len() - zone.key().len();
    let mut at = 1 + key[0] as usize;
    let encloser = loop {
        if at >= apex_at {
            break zone.apex_node();
        }
        if let Some(node) = zone.node(&key[at..]) {
            break node;
        }
        at += 1 + key[at] as usize;
    };
    if encloser.occluded || encloser.wildcard_child {
        return None;
    }
    if soa_compresses_into_question(zone, key, apex_at) {
        return None;
    }
    Some((index, snapshot.prebuilt.nxdomain.get(index)?.as_ref()?))
}

/// Whether the SOA's MNAME or RNAME shares more than the apex with the
/// question name `key` (e.g. `x.ns1.example.test` and MNAME
/// `ns1.example.test`). The general path then compresses that name into
/// the question (RFC 1035 §4.1.4), while the relocatable body, built for a
/// question holding only the apex, spells it down to the apex: both are
/// valid, but the hot path must give the general path's bytes. Any such
/// shared suffix ends in the question's label just above the apex, so
/// checking that one suffix is enough; a byte match that is not at a label
/// boundary only sends the query to the general path.
fn soa_compresses_into_question(zone: &Zone, key: &[u8], apex_at: usize) -> bool {
    let Some(above_apex) = label_offsets(key).take_while(|&at| at < apex_at).last() else {
        return true;
    };
    let shared = &key[above_apex..];
    let soa = &zone.soa.rdata[0];
    let Some(mname_len) = wire_len(soa) else {
        return true;
    };
    let (mname, rest) = soa.split_at(mname_len);
    let Some(rname_len) = wire_len(rest) else {
        return true;
    };
    let ends_with_shared =
        |name: &[u8]| name.len() >= shared.len() && name[name.len() - shared.len()..].eq_ignore_ascii_case(shared);
    ends_with_shared(mname) || ends_with_shared(&rest[..rname_len])
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
    // NSID and Client Subnet are answered by the general path.
    let options = query::read_options(&opt[11..])?;
    if options.ecs.is_some() || (options.nsid && snapshot.identity.nsid.is_some()) {
        return None;
    }
    Some((u16::from_be_bytes([opt[3], opt[4]]), opt[7] & 0x80 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::dns::answer::{self, Transport};

    fn example_snapshot() -> Snapshot {
        let zone = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/example.test.zone");
        let sources = crate::config::Sources {
            zones: vec![format!("example.test={zone}")],
            listen: vec!["127.0.0.1:0".into()],
            ..Default::default()
        };
        let mut config = crate::config::load(&sources).unwrap();
        crate::publish::build_snapshot(&mut config, Vec::new()).unwrap()
    }

    fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut p = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        p.extend_from_slice(crate::dns::Name::parse(name).unwrap().wire());
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        if edns {
            p.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
        }
        p
    }

    /// The hot path is an optimisation: whenever it answers, the general
    /// path gives the same bytes.
    #[test]
    fn fast_answers_equal_general_answers() {
        let snapshot = example_snapshot();
        // 120 labels under the zone: 254 octets, more labels than the
        // writer once remembered for compression.
        let long = format!("{}example.test", "a.".repeat(120));
        let names = [
            long.as_str(),
            // Share more than the apex with the SOA's MNAME / RNAME.
            "x.ns1.example.test",
            "deep.x.HostMaster.example.test",
            "www.example.test",
            "WwW.Example.TEST",
            "example.test",
            "nx.example.test",
            "a.b.c.nx.example.test",
            "x.lab.example.test",
            "nx.apps.example.test",
            "x.sub.example.test",
            "sub.example.test",
            "static.example.test",
            "private.example.test",
        ];
        let mut fast_count = 0;
        for name in names {
            for qtype in [1, 2, 6, 15, 16, 28, 33, 43, 65280] {
                for edns in [false, true] {
                    let q = query(name, qtype, edns);
                    let mut buf = [0u8; 4096];
                    buf[..q.len()].copy_from_slice(&q);
                    let Some(n) = answer_in_place(&snapshot, &mut buf, q.len(), 0) else {
                        continue;
                    };
                    fast_count += 1;
                    let mut general = vec![0u8; 65535];
                    let m = answer::respond(&snapshot, &q, Transport::Udp, 0, &mut general).unwrap();
                    assert_eq!(&buf[..n], &general[..m], "{name} type {qtype} edns {edns}");
                }
            }
        }
        assert!(fast_count > 100, "the hot path took only {fast_count} queries");
    }

    #[test]
    fn nxdomain_goes_fast_only_where_no_wildcard_or_cut_applies() {
        let snapshot = example_snapshot();
        let fast = |name: &str| {
            let q = query(name, 1, false);
            let mut buf = [0u8; 4096];
            buf[..q.len()].copy_from_slice(&q);
            answer_in_place(&snapshot, &mut buf, q.len(), 0).map(|_| buf[3] & 0x0f)
        };
        assert_eq!(fast("nx.example.test"), Some(3));
        assert_eq!(fast("deep.nx.example.test"), Some(3));
        assert_eq!(fast("x.apps.example.test"), None, "wildcard *.apps applies");
        assert_eq!(fast("x.sub.example.test"), None, "below a cut: referral");
    }
}

#[cfg(test)]
mod dynamic_tests {
    use super::*;
    use crate::publish::dynamic::{Dynamic, DynamicAnswer};
    use crate::serve::dns::answer::{self, Transport};
    use std::net::IpAddr;

    /// The example zone plus a health-checked `app.example.test A` and a
    /// static CNAME to it.
    pub(super) fn snapshot_with_app(answer: DynamicAnswer) -> Snapshot {
        let dir = std::env::temp_dir().join(format!(
            "lifeline-fast-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let zone = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/example.test.zone")).unwrap();
        std::fs::write(
            dir.join("z.zone"),
            format!("{zone}\nalias IN CNAME app.example.test.\n"),
        )
        .unwrap();
        let config = r#"
[[zone]]
origin = "example.test"
file = "z.zone"
[[record]]
name = "app.example.test"
type = "A"
endpoint = [{ name = "a", address = "127.0.0.2" }, { name = "b", address = "127.0.0.3" }]
"#;
        std::fs::write(dir.join("c.toml"), config).unwrap();
        let sources = crate::config::Sources {
            file: Some(dir.join("c.toml")),
            listen: vec!["127.0.0.1:0".into()],
            ..Default::default()
        };
        let mut config = crate::config::load(&sources).unwrap();
        let snapshot = crate::publish::build_snapshot(&mut config, vec![answer]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        snapshot
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(crate::dns::Name::parse(name).unwrap().wire());
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p
    }

    /// (fast reply, general reply) for a query.
    fn both(snapshot: &Snapshot, name: &str, qtype: u16, seq: u32) -> (Option<Vec<u8>>, Vec<u8>) {
        let q = query(name, qtype);
        let mut buf = [0u8; 4096];
        buf[..q.len()].copy_from_slice(&q);
        let fast = answer_in_place(snapshot, &mut buf, q.len(), seq).map(|n| buf[..n].to_vec());
        let mut out = vec![0u8; 65535];
        let n = answer::respond(snapshot, &q, Transport::Udp, seq, &mut out).unwrap();
        (fast, out[..n].to_vec())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn health_checked_answers_rotate_and_match_the_general_path() {
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.3"));
        let snapshot = snapshot_with_app(DynamicAnswer::addresses(rtype::A, 30, vec![vec![a, b], vec![b, a]]));
        let (fast0, general0) = both(&snapshot, "app.example.test", rtype::A, 0);
        let (fast1, general1) = both(&snapshot, "app.example.test", rtype::A, 1);
        assert_eq!(fast0.as_ref(), Some(&general0));
        assert_eq!(fast1.as_ref(), Some(&general1));
        assert_ne!(general0, general1, "the two variants differ");
        let (fast, general) = both(&snapshot, "app.example.test", rtype::MX, 0);
        assert_eq!(fast.as_ref(), Some(&general), "NODATA for other types");
        let (fast, general) = both(&snapshot, "alias.example.test", rtype::A, 0);
        assert_eq!(
            fast, None,
            "a CNAME to a health-checked name is answered by the general path"
        );
        assert_eq!(u16::from_be_bytes([general[6], general[7]]), 3, "CNAME + two addresses");
    }

    #[test]
    fn a_change_moves_the_serial_in_every_negative_answer() {
        let a = ip("127.0.0.2");
        let snapshot = snapshot_with_app(DynamicAnswer::addresses(rtype::A, 30, vec![vec![a]]));
        let serial_of =
            |reply: &[u8]| u32::from_be_bytes(reply[reply.len() - 20..reply.len() - 16].try_into().unwrap());
        let before = both(&snapshot, "nx.example.test", rtype::A, 0).1;
        let (next, changed) = snapshot
            .dynamic
            .with_changes(vec![(0, 0, DynamicAnswer::servfail(rtype::A, 30))]);
        assert!(changed);
        let next = snapshot.with_dynamic(next);
        for (name, qtype) in [
            ("nx.example.test", rtype::A),
            ("www.example.test", rtype::MX),
            ("example.test", rtype::SOA),
        ] {
            let (fast, general) = both(&next, name, qtype, 0);
            assert_eq!(fast.as_ref(), Some(&general), "{name}");
            let old = both(&snapshot, name, qtype, 0).1;
            assert_eq!(serial_of(&general), serial_of(&old) + 1, "{name}");
        }
        assert_eq!(
            serial_of(&before) + 1,
            serial_of(&both(&next, "nx.example.test", rtype::A, 0).1)
        );
        let (fast, general) = both(&next, "app.example.test", rtype::A, 0);
        assert_eq!(fast.as_ref(), Some(&general));
        assert_eq!(general[3] & 0x0f, 2, "SERVFAIL");
        let _ = Dynamic::default();
    }
}

#[cfg(test)]
mod client_subnet_tests {
    use std::net::IpAddr;

    use super::*;
    use crate::decide::answer_set::hash::{BUCKETS, bucket};
    use crate::publish::dynamic::DynamicAnswer;
    use crate::serve::dns::answer::{self, Transport};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The health-checked app.example.test with two hashed variants.
    fn snapshot() -> Snapshot {
        let buckets: Vec<u16> = (0..BUCKETS as u16).map(|b| b % 2).collect();
        let answer = DynamicAnswer::hashed(
            rtype::A,
            30,
            vec![vec![ip("127.0.0.2")], vec![ip("127.0.0.3")]],
            buckets,
        );
        super::dynamic_tests::snapshot_with_app(answer)
    }

    fn query(ecs: Option<&[u8]>) -> Vec<u8> {
        let mut p = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(ecs.is_some())];
        p.extend_from_slice(crate::dns::Name::parse("app.example.test").unwrap().wire());
        p.extend_from_slice(&[0, 1, 0, 1]);
        if let Some(option) = ecs {
            p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
            p.extend_from_slice(&((option.len() + 4) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 8]);
            p.extend_from_slice(&(option.len() as u16).to_be_bytes());
            p.extend_from_slice(option);
        }
        p
    }

    fn address_in(reply: &[u8], question_end: usize) -> IpAddr {
        let rdata = question_end + 12;
        IpAddr::from(<[u8; 4]>::try_from(&reply[rdata..rdata + 4]).unwrap())
    }

    #[test]
    fn a_client_keeps_its_variant_whatever_the_query_number() {
        let snapshot = snapshot();
        let q = query(None);
        for source in [ip("127.0.0.1"), ip("127.9.8.7"), ip("::1")] {
            let expected = if bucket(source).is_multiple_of(2) {
                ip("127.0.0.2")
            } else {
                ip("127.0.0.3")
            };
            for seq in 0..8 {
                let mut buf = [0u8; 4096];
                buf[..q.len()].copy_from_slice(&q);
                let n = answer_in_place_from(&snapshot, &mut buf, q.len(), seq, Some(source)).unwrap();
                assert_eq!(address_in(&buf[..n], q.len()), expected, "{source} seq {seq}");
                let mut out = vec![0u8; 65535];
                let m = answer::respond_from(&snapshot, &q, Transport::Udp, seq, Some(source), &mut out).unwrap();
                assert_eq!(&buf[..n], &out[..m], "the general path agrees");
            }
        }
    }

    #[test]
    fn client_subnet_decides_and_is_echoed_with_its_scope() {
        let snapshot = snapshot();
        // ECS: family 1, source /24, scope 0, 3 address octets 10.1.2.
        let q = query(Some(&[0, 1, 24, 0, 10, 1, 2]));
        let mut buf = [0u8; 4096];
        buf[..q.len()].copy_from_slice(&q);
        assert_eq!(
            answer_in_place_from(&snapshot, &mut buf, q.len(), 0, Some(ip("127.0.0.1"))),
            None
        );
        let mut out = vec![0u8; 65535];
        let n = answer::respond_from(&snapshot, &q, Transport::Udp, 0, Some(ip("127.0.0.1")), &mut out).unwrap();
        let reply = &out[..n];
        let question_end = q.len() - 22;
        let expected = if bucket(ip("10.1.2.0")).is_multiple_of(2) {
            ip("127.0.0.2")
        } else {
            ip("127.0.0.3")
        };
        assert_eq!(
            address_in(reply, question_end),
            expected,
            "the subnet, not the resolver, decides"
        );
        // The OPT ends the reply: its ECS option, scope /24 (RFC 7871 §7.2.1).
        assert_eq!(&reply[n - 11..], &[0, 8, 0, 7, 0, 1, 24, 24, 10, 1, 2]);
        let malformed = query(Some(&[0, 1, 24, 0, 10, 1])); // 2 octets for a /24
        let n = answer::respond(&snapshot, &malformed, Transport::Udp, 0, &mut out).unwrap();
        assert_eq!(
            out[3] & 0x0f,
            1,
            "FORMERR for a malformed client subnet (RFC 7871 §7.1.1)"
        );
        assert!(n >= 12);
    }
}
