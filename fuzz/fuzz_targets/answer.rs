//! Fuzzes the query parser and both answer paths with arbitrary packets.
//!
//! Each input is answered the way the server would answer it, against
//! snapshots built once from the shipped examples through the library API
//! (`config::load` + `publish::build_snapshot`):
//!
//! - UDP, as `serve::dns::udp` does it: the hot path
//!   (`fast::answer_in_place`) on a copy in a 4096-byte receive buffer,
//!   and the general path (`answer::respond`) into a 65535-byte buffer;
//! - TCP: the general path into a 65535-byte buffer.
//!
//! Invariants, for every input:
//! 1. nothing panics (the parser and writer index only within bounds);
//! 2. there is no reply exactly when the packet is shorter than a header or
//!    is a response (QR=1) (RFC 1035 §4.1.1, RFC 8906 §3.1.1);
//! 3. a reply has a header, QR=1, the query's ID, at most one question,
//!    echoed byte for byte, NOTIMP for an opcode other than QUERY, and
//!    parses completely (every record, RDATA included, nothing left over)
//!    with the `domain` crate;
//! 4. a UDP reply is at most max(512, configured EDNS size) octets
//!    (RFC 1035 §4.2.1, RFC 6891 §6.2.5), a TCP reply at most 65535;
//! 5. when the hot path answers, its reply is byte for byte the general
//!    path's UDP reply: it is a cache of that answer, not a second
//!    implementation. When it declines, it has not touched the packet
//!    (the general path reads it next from the same buffer);
//! 6. the transport only sets the size limit: when the TCP reply would fit
//!    the UDP limit, the UDP reply is the same bytes. The one exception is
//!    QTYPE ANY, which RFC 8482 §4.1 answers with one RRset over UDP and
//!    all of them over TCP.
//! 7. names are compared without regard to ASCII case (RFC 4343 §3): a query
//!    whose name differs only in case gets the same reply after the
//!    question, over both paths.
//!
//! The buffers are prefilled with different patterns, so a reply that
//! depended on stale bytes would differ between the paths.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use domain::base::{Message, ParsedName};
use domain::rdata::AllRecordData;
use libfuzzer_sys::fuzz_target;
use lifeline::config::{self, Sources};
use lifeline::publish::{self, snapshot::Snapshot};
use lifeline::serve::dns::answer::{self, PLAIN_UDP_SIZE, Transport};
use lifeline::serve::dns::{fast, query};

/// The UDP workers' receive buffer (`serve::dns::udp::BUF_LEN`): a longer
/// datagram is truncated by the kernel and dropped unanswered.
const UDP_BUF_LEN: usize = 4096;
/// QTYPE ANY (RFC 1035 §3.2.3).
const ANY: u16 = 255;

/// A snapshot and what it was built from, for failure messages.
struct Setup {
    what: &'static str,
    snapshot: Snapshot,
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Loads a configuration as `lifeline serve` would and builds its snapshot,
/// with the EDNS size overridden when given (within the configured limits,
/// 512..=4096).
fn build(sources: Sources, edns_udp_size: Option<u16>) -> Snapshot {
    let mut config = config::load(&sources).expect("example configuration loads");
    if let Some(size) = edns_udp_size {
        config.edns_udp_size = size;
    }
    publish::build_snapshot(&mut config, Vec::new()).expect("example zones build")
}

/// The example zone in quick mode (`--zone`), at the smallest and largest
/// EDNS sizes, and `examples/lifeline.toml` (NSID, CH identity, an inline
/// zone, EDNS 1232).
fn setups() -> &'static [Setup] {
    static SETUPS: OnceLock<Vec<Setup>> = OnceLock::new();
    SETUPS.get_or_init(|| {
        let zone = format!("example.test={}", examples().join("example.test.zone").display());
        let quick = || Sources {
            zones: vec![zone.clone()],
            ..Sources::default()
        };
        let file = Sources {
            file: Some(examples().join("lifeline.toml")),
            ..Sources::default()
        };
        vec![
            Setup {
                what: "example.test.zone, EDNS 512",
                snapshot: build(quick(), Some(512)),
            },
            Setup {
                what: "example.test.zone, EDNS 4096",
                snapshot: build(quick(), Some(4096)),
            },
            Setup {
                what: "lifeline.toml",
                snapshot: build(file, None),
            },
        ]
    })
}

fuzz_target!(|packet: &[u8]| {
    if packet.len() > u16::MAX as usize {
        return; // cannot be framed on TCP, nor sent over UDP
    }
    let mut udp_out = vec![0x00; u16::MAX as usize];
    let mut tcp_out = vec![0xff; u16::MAX as usize];
    for setup in setups() {
        check(setup, packet, &mut udp_out, &mut tcp_out);
    }
});

fn check(setup: &Setup, packet: &[u8], udp_out: &mut [u8], tcp_out: &mut [u8]) {
    let snapshot = &setup.snapshot;
    let udp_limit = PLAIN_UDP_SIZE.max(usize::from(snapshot.edns_udp_size));
    let tcp = answer::respond(snapshot, packet, Transport::Tcp, 0, tcp_out);
    let tcp = tcp.map(|n| &tcp_out[..n]);
    check_reply(setup, packet, tcp, u16::MAX as usize, "TCP");
    if packet.len() > UDP_BUF_LEN {
        return;
    }
    let udp = answer::respond(snapshot, packet, Transport::Udp, 0, udp_out);
    let udp = udp.map(|n| &udp_out[..n]);
    check_reply(setup, packet, udp, udp_limit, "UDP");
    check_fast_path(setup, packet, udp);
    let parsed = query::parse(packet).ok();
    if let (Some(udp), Some(tcp)) = (udp, tcp)
        && tcp.len() <= udp_limit
        && parsed.as_ref().map(|q| q.qtype) != Some(ANY)
    {
        assert_eq!(udp, tcp, "{}: UDP and TCP replies differ", setup.what);
    }
    if let (Some(q), Some(udp)) = (parsed, udp) {
        check_case_blind(setup, packet, q.question_end, udp);
    }
}

/// Invariant 7: flipping the case of every letter of the question name
/// changes nothing after the question, on the hot path or the general one.
fn check_case_blind(setup: &Setup, packet: &[u8], question_end: usize, reply: &[u8]) {
    let mut flipped = packet.to_vec();
    let name_end = question_end - 4;
    for byte in &mut flipped[12..name_end] {
        if byte.is_ascii_alphabetic() {
            *byte ^= 0x20;
        }
    }
    if flipped == packet {
        return;
    }
    let mut out = vec![0u8; u16::MAX as usize];
    let m = answer::respond(&setup.snapshot, &flipped, Transport::Udp, 0, &mut out)
        .expect("a query with its case flipped is still a query");
    let same = out[..12] == reply[..12] && out[question_end..m] == reply[question_end..];
    assert!(same, "{}: the reply depends on the case of the question", setup.what);
    let mut buf = [0u8; UDP_BUF_LEN];
    buf[..flipped.len()].copy_from_slice(&flipped);
    if let Some(n) = fast::answer_in_place(&setup.snapshot, &mut buf, flipped.len(), 0) {
        assert_eq!(buf[..n], out[..m], "{}: hot path, case flipped", setup.what);
    }
}

/// Invariant 5: the hot path gives the general path's UDP reply, or leaves
/// the packet as it was.
fn check_fast_path(setup: &Setup, packet: &[u8], general: Option<&[u8]>) {
    let mut buf = [0xa5u8; UDP_BUF_LEN];
    buf[..packet.len()].copy_from_slice(packet);
    match fast::answer_in_place(&setup.snapshot, &mut buf, packet.len(), 0) {
        None => assert_eq!(
            &buf[..packet.len()],
            packet,
            "{}: the hot path declined but changed the packet",
            setup.what
        ),
        Some(n) => assert_eq!(
            Some(&buf[..n]),
            general,
            "{}: the hot path and the general path disagree",
            setup.what
        ),
    }
}

/// Invariants 2 to 4 for one reply.
fn check_reply(setup: &Setup, packet: &[u8], reply: Option<&[u8]>, limit: usize, over: &str) {
    let what = setup.what;
    let droppable = packet.len() < 12 || packet[2] & 0x80 != 0;
    let Some(reply) = reply else {
        assert!(droppable, "{what}, {over}: no reply to a query");
        return;
    };
    assert!(!droppable, "{what}, {over}: a reply to a non-query");
    assert!(reply.len() >= 12, "{what}, {over}: reply without a header");
    assert!(reply.len() <= limit, "{what}, {over}: {} > {limit} octets", reply.len());
    assert_eq!(reply[..2], packet[..2], "{what}, {over}: ID");
    assert!(reply[2] & 0x80 != 0, "{what}, {over}: QR");
    let opcode = (packet[2] >> 3) & 0x0f;
    if opcode != 0 {
        assert_eq!(reply[3] & 0x0f, 4, "{what}, {over}: opcode {opcode} is NOTIMP");
    }
    let qdcount = u16::from_be_bytes([reply[4], reply[5]]);
    assert!(qdcount <= 1, "{what}, {over}: QDCOUNT {qdcount}");
    if qdcount == 1 {
        let end = query::question_name_end(packet, 12).expect("echoed question is valid") + 4;
        assert_eq!(reply[12..end], packet[12..end], "{what}, {over}: question echo");
    }
    parses_completely(reply).unwrap_or_else(|e| panic!("{what}, {over}: reply does not parse: {e}"));
}

/// Reads every section and record of `reply` with `domain`, RDATA
/// included, and checks that nothing follows the last record.
fn parses_completely(reply: &[u8]) -> Result<(), String> {
    let msg = Message::from_octets(reply).map_err(|e| e.to_string())?;
    let mut section = msg.answer().map_err(|e| format!("question: {e}"))?;
    loop {
        for record in &mut section {
            let record = record.map_err(|e| format!("record: {e}"))?;
            record
                .to_record::<AllRecordData<&[u8], ParsedName<&[u8]>>>()
                .map_err(|e| format!("RDATA of {}: {e}", record.rtype()))?;
        }
        match section.next_section().map_err(|e| e.to_string())? {
            Some(next) => section = next,
            None => break,
        }
    }
    match section.pos() {
        end if end == reply.len() => Ok(()),
        end => Err(format!("{} octets after the last record", reply.len() - end)),
    }
}
