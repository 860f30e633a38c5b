//! The general answer path: every query the hot path does not take
//! (DESIGN.md §5), and the source of the prebuilt answers.
//!
//! It follows RFC 1034 §4.3.2 for one zone at a time: find the zone, walk
//! down from the apex looking for a cut (referral), then answer the exact
//! name, a wildcard (RFC 4592), a CNAME chain within the zone, NODATA or
//! NXDOMAIN with the SOA (RFC 2308). It writes into the caller's buffer and
//! does not allocate.

use std::net::IpAddr;

use super::query::{self, ClientSubnet, Query, Reject};
use crate::dns::name::label_offsets;
use crate::dns::{CLASS_CH, CLASS_IN, Full, HEADER_LEN, Rrset, Writer, flags, rcode, rtype};
use crate::publish::dynamic::{Content, DynamicAnswer};
use crate::publish::snapshot::Snapshot;
use crate::publish::zone::{Node, Zone};

/// The transport a query came over: it sets the size limit and how ANY is
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// UDP payload without EDNS (RFC 1035 §4.2.1).
pub const PLAIN_UDP_SIZE: usize = 512;
/// Longest CNAME chain followed inside a zone.
const MAX_CNAME_CHAIN: usize = 8;
/// Size of an OPT record without options (RFC 6891 §6.1.2).
const OPT_LEN: usize = 11;

/// Answers one packet into `out`; `None` means send nothing.
///
/// `seq` numbers the queries of one worker: it picks the variant of a
/// health-checked answer (a rotation, a weighted draw).
pub fn respond(snapshot: &Snapshot, packet: &[u8], transport: Transport, seq: u32, out: &mut [u8]) -> Option<usize> {
    respond_from(snapshot, packet, transport, seq, None, out)
}

/// [`respond`] for a query from `source`, which decides consistent-hash
/// answers when the query carries no EDNS Client Subnet.
pub fn respond_from(
    snapshot: &Snapshot,
    packet: &[u8],
    transport: Transport,
    seq: u32,
    source: Option<IpAddr>,
    out: &mut [u8],
) -> Option<usize> {
    match query::parse(packet) {
        Ok(q) => Some(answer_for(snapshot, &q, transport, seq, source, out).0),
        Err(Reject::Drop) => None,
        Err(Reject::Error { rcode, question_end }) => {
            Some(error_reply(packet, rcode, question_end, snapshot.edns_udp_size, out))
        }
    }
}

/// A reply that carries only an rcode, and the question when it was
/// readable (RFC 8906 §3.1.4: FORMERR and NOTIMP still get an answer).
fn error_reply(packet: &[u8], rcode: u16, question_end: Option<usize>, udp_size: u16, out: &mut [u8]) -> usize {
    let end = question_end.unwrap_or(HEADER_LEN);
    out[..end].copy_from_slice(&packet[..end]);
    let query_flags = u16::from_be_bytes([packet[2], packet[3]]);
    // RD has a meaning only for QUERY (RFC 8906 §8.1.4): an unknown
    // opcode gets the header back with QR, opcode and rcode only.
    let keep = if query_flags & flags::OPCODE_MASK == 0 {
        flags::RD
    } else {
        0
    };
    let reply_flags = flags::QR | (query_flags & (flags::OPCODE_MASK | keep)) | rcode;
    out[2..4].copy_from_slice(&reply_flags.to_be_bytes());
    let qdcount = u16::from(question_end.is_some());
    out[4..6].copy_from_slice(&qdcount.to_be_bytes());
    out[6..12].fill(0);
    // RFC 6891 §6.1.1: a query with a (readable) OPT gets one back, even
    // with an error; a broken OPT is not echoed.
    let records_at = match question_end {
        Some(at) => Some(at),
        None if packet[4..6] == [0, 0] => Some(HEADER_LEN),
        None => None,
    };
    let edns = records_at.and_then(|at| query::read_records(packet, at).ok().flatten());
    match edns {
        Some(e) => {
            let [hi, lo] = udp_size.to_be_bytes();
            let do_bit = if e.dnssec_ok { 0x80 } else { 0 };
            out[end..end + 11].copy_from_slice(&[0, 0, 41, hi, lo, 0, 0, do_bit, 0, 0, 0]);
            out[10..12].copy_from_slice(&1u16.to_be_bytes());
            end + 11
        }
        None => end,
    }
}

/// The response being built: the writer and what goes in the header.
struct Response<'b> {
    w: Writer<'b>,
    counts: [u16; 3],
    rcode: u16,
    aa: bool,
    tc: bool,
    /// Picks the variant of health-checked answers.
    seq: u32,
    /// Whether health-checked data went into the answer.
    used_dynamic: bool,
    /// Who asked: the EDNS Client Subnet address, else the source address.
    client: Option<IpAddr>,
    /// The prefix a consistent-hash answer depended on (RFC 7871 scope).
    ecs_scope: Option<u8>,
}

impl Response<'_> {
    /// The variant of a health-checked answer for this query; notes the
    /// scope when the client's subnet chose it.
    fn pick<'v>(&mut self, variants: &'v crate::publish::dynamic::Variants) -> &'v [IpAddr] {
        let (addrs, _, by_client) = variants.pick_for(self.seq, self.client);
        if by_client {
            use crate::decide::answer_set::hash::{CLIENT_PREFIX_V4, CLIENT_PREFIX_V6};
            self.ecs_scope = Some(if self.client.is_some_and(|c| c.is_ipv4()) {
                CLIENT_PREFIX_V4
            } else {
                CLIENT_PREFIX_V6
            });
        }
        addrs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

impl Response<'_> {
    /// Writes a whole RRset or nothing of it.
    fn rrset(&mut self, section: Section, owner: &[u8], class: u16, rrset: &Rrset, ttl: u32) -> Result<(), Full> {
        let mark = self.w.mark();
        for rdata in &rrset.rdata {
            if let Err(full) = self.w.record(owner, rrset.rtype, class, ttl, rdata) {
                self.w.rewind(mark);
                return Err(full);
            }
        }
        self.counts[section as usize] += rrset.rdata.len() as u16;
        Ok(())
    }
}

/// Answers a parsed query: header, question, sections and OPT.
pub fn answer(snapshot: &Snapshot, q: &Query<'_>, transport: Transport, seq: u32, out: &mut [u8]) -> usize {
    answer_traced(snapshot, q, transport, seq, out).0
}

/// Like [`answer`], also saying whether the answer used health-checked
/// data (and so cannot be prebuilt).
pub fn answer_traced(
    snapshot: &Snapshot,
    q: &Query<'_>,
    transport: Transport,
    seq: u32,
    out: &mut [u8],
) -> (usize, bool) {
    answer_for(snapshot, q, transport, seq, None, out)
}

/// The answer to a query from `source` (see [`respond_from`]), and whether
/// it used health-checked data.
pub fn answer_for(
    snapshot: &Snapshot,
    q: &Query<'_>,
    transport: Transport,
    seq: u32,
    source: Option<IpAddr>,
    out: &mut [u8],
) -> (usize, bool) {
    let limit = match (transport, q.edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => PLAIN_UDP_SIZE,
        (Transport::Udp, Some(e)) => usize::from(e.udp_size.clamp(PLAIN_UDP_SIZE as u16, snapshot.edns_udp_size)),
    };
    let qend = q.question_end;
    out[..qend].copy_from_slice(&q.packet[..qend]);
    let w = Writer::new(out, qend, limit);
    let mut resp = Response {
        w,
        counts: [0; 3],
        rcode: rcode::NOERROR,
        aa: false,
        tc: false,
        seq,
        used_dynamic: false,
        client: q.edns.and_then(|e| e.ecs).map(|ecs| ecs.ip()).or(source),
        ecs_scope: None,
    };
    resp.w.remember_name(HEADER_LEN, q.qname);
    let nsid = q.edns.filter(|e| e.nsid).and(snapshot.identity.nsid.as_deref());
    let ecs = q.edns.and_then(|e| e.ecs);
    let opt_len = q.edns.map_or(0, |_| {
        OPT_LEN + nsid.map_or(0, |n| 4 + n.len()) + ecs.map_or(0, |e| 8 + e.address_len())
    });
    resp.w.reserve_tail(opt_len);
    match q.edns {
        Some(e) if e.version > 0 => resp.rcode = rcode::BADVERS,
        _ => resolve(snapshot, q, transport, &mut resp),
    }
    resp.w.release_tail(opt_len);
    if let Some(edns) = q.edns {
        write_opt(&mut resp, snapshot.edns_udp_size, edns.dnssec_ok, nsid, edns.ecs);
    }
    let Response {
        w,
        counts,
        rcode,
        aa,
        tc,
        used_dynamic,
        ..
    } = resp;
    let len = w.pos();
    let query_flags = q.header_flags();
    let mut reply = flags::QR | (query_flags & (flags::RD | flags::CD)) | (rcode & 0x0f);
    if aa {
        reply |= flags::AA;
    }
    if tc {
        reply |= flags::TC;
    }
    out[2..4].copy_from_slice(&reply.to_be_bytes());
    for (i, count) in counts.iter().enumerate() {
        out[6 + 2 * i..8 + 2 * i].copy_from_slice(&count.to_be_bytes());
    }
    (len, used_dynamic)
}

/// The OPT record of the reply (RFC 6891 §6.1.2): our payload size, the
/// upper bits of the rcode, DO copied (RFC 3225 §3), NSID if asked, and the
/// client subnet echoed with the scope the answer depends on (RFC 7871
/// §7.2.1: 0 when it does not depend on the client).
fn write_opt(resp: &mut Response<'_>, udp_size: u16, dnssec_ok: bool, nsid: Option<&[u8]>, ecs: Option<ClientSubnet>) {
    let ext_rcode = (resp.rcode >> 4) as u8;
    let do_bit = if dnssec_ok { 0x80 } else { 0 };
    let rdlen = nsid.map_or(0, |n| 4 + n.len()) + ecs.map_or(0, |e| 8 + e.address_len());
    let opt = [0, 0, 41, (udp_size >> 8) as u8, udp_size as u8, ext_rcode, 0, do_bit, 0];
    let scope = resp.ecs_scope.unwrap_or(0);
    // Room was reserved before the sections were written.
    let write = |w: &mut Writer<'_>| -> Result<(), Full> {
        w.bytes(&opt)?;
        w.u16(rdlen as u16)?;
        if let Some(n) = nsid {
            w.u16(query::OPTION_NSID)?;
            w.u16(n.len() as u16)?;
            w.bytes(n)?;
        }
        if let Some(e) = ecs {
            w.u16(query::OPTION_ECS)?;
            w.u16(4 + e.address_len() as u16)?;
            w.u16(e.family)?;
            w.bytes(&[e.source_prefix, scope])?;
            w.bytes(&e.address[..e.address_len()])?;
        }
        Ok(())
    };
    if write(&mut resp.w).is_ok() {
        resp.counts[Section::Additional as usize] += 1;
    }
}

/// Dispatches on class (RFC 1035 §3.2.4; RFC 4892 for CH identification).
fn resolve(snapshot: &Snapshot, q: &Query<'_>, transport: Transport, resp: &mut Response<'_>) {
    match q.qclass {
        CLASS_IN => resolve_in(snapshot, q, transport, resp),
        CLASS_CH => resolve_chaos(snapshot, q, resp),
        _ => resp.rcode = rcode::REFUSED,
    }
}

/// Server identification in class CH (RFC 4892 §2): configured strings,
/// REFUSED otherwise (no version disclosure by default).
fn resolve_chaos(snapshot: &Snapshot, q: &Query<'_>, resp: &mut Response<'_>) {
    let id = &snapshot.identity;
    let text = match q.lower.as_slice() {
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => id.version.as_deref(),
        b"\x08hostname\x04bind\x00" | b"\x02id\x06server\x00" => id.hostname.as_deref(),
        _ => None,
    };
    let Some(text) = text else {
        resp.rcode = rcode::REFUSED;
        return;
    };
    resp.aa = true;
    if q.qtype != rtype::TXT && q.qtype != rtype::ANY {
        return;
    }
    // Configuration keeps these strings within one character-string.
    let mut rdata = [0u8; 256];
    let text = &text.as_bytes()[..text.len().min(255)];
    rdata[0] = text.len() as u8;
    rdata[1..=text.len()].copy_from_slice(text);
    if resp
        .w
        .record(q.qname, rtype::TXT, CLASS_CH, 0, &rdata[..=text.len()])
        .is_ok()
    {
        resp.counts[Section::Answer as usize] += 1;
    } else {
        resp.tc = true;
    }
}

/// What stays the same while a query is answered.
struct Ctx<'a> {
    snapshot: &'a Snapshot,
    zone: &'a Zone,
    qtype: u16,
    transport: Transport,
}

/// Class IN: find the zone, then look the name up in it.
fn resolve_in(snapshot: &Snapshot, q: &Query<'_>, transport: Transport, resp: &mut Response<'_>) {
    // Zone transfers are not offered: refuse them as a server whose
    // transfer ACL does not match would.
    if matches!(q.qtype, rtype::AXFR | rtype::IXFR) {
        resp.rcode = rcode::REFUSED;
        return;
    }
    // Not ours: REFUSED, no AA; we are not a resolver (RFC 8906 §3.1.2).
    let Some(zone) = snapshot.zones.find(q.lower.as_slice()) else {
        resp.rcode = rcode::REFUSED;
        return;
    };
    resp.aa = true;
    let ctx = Ctx {
        snapshot,
        zone,
        qtype: q.qtype,
        transport,
    };
    let start = resp.w.mark();
    let mut chain = Chain::default();
    if lookup(&ctx, resp, q.lower.as_slice(), q.qname, &mut chain).is_err() {
        // RFC 2181 §9: what does not fit is left out, with TC set.
        resp.w.rewind(start);
        resp.counts = [0; 3];
        resp.tc = true;
    }
}

/// The names visited along a CNAME chain, to stop at loops.
#[derive(Default)]
struct Chain {
    seen: [u64; MAX_CNAME_CHAIN],
    len: usize,
}

impl Chain {
    /// Records a name; false if it was seen before or the chain is too long.
    fn visit(&mut self, key: &[u8]) -> bool {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        h.write(key);
        let h = h.finish();
        if self.len == MAX_CNAME_CHAIN || self.seen[..self.len].contains(&h) {
            return false;
        }
        self.seen[self.len] = h;
        self.len += 1;
        true
    }

    fn depth(&self) -> usize {
        self.len
    }
}

/// RFC 1034 §4.3.2 step 3 within `ctx.zone`: walk down from the apex;
/// a cut on the way is a referral, a missing name is NXDOMAIN or a
/// wildcard, an existing one is answered from its node.
fn lookup(ctx: &Ctx<'_>, resp: &mut Response<'_>, key: &[u8], owner: &[u8], chain: &mut Chain) -> Result<(), Full> {
    if !chain.visit(key) {
        return Ok(());
    }
    let apex_at = key.len() - ctx.zone.key().len();
    let mut offsets = [0u8; 128];
    let mut below = 0;
    for at in label_offsets(key).take_while(|&at| at < apex_at) {
        offsets[below] = at as u8;
        below += 1;
    }
    let mut node = ctx.zone.apex_node();
    let mut encloser_at = apex_at;
    for &at in offsets[..below].iter().rev() {
        let at = at as usize;
        let Some(next) = ctx.zone.node(&key[at..]) else {
            return not_found(ctx, resp, key, encloser_at, owner, chain);
        };
        if next.cut && !(at == 0 && ctx.qtype == rtype::DS) {
            // A CNAME into a delegated name ends the chain here.
            return if chain.depth() == 1 {
                referral(ctx, resp, next)
            } else {
                Ok(())
            };
        }
        node = next;
        encloser_at = at;
    }
    answer_node(ctx, resp, node, owner, chain)
}

/// The name does not exist: synthesise from `*.<closest encloser>` if the
/// zone has it (RFC 4592 §3.3.1), else NXDOMAIN (RFC 2308 §2.1).
fn not_found(
    ctx: &Ctx<'_>,
    resp: &mut Response<'_>,
    key: &[u8],
    encloser_at: usize,
    owner: &[u8],
    chain: &mut Chain,
) -> Result<(), Full> {
    let encloser = &key[encloser_at..];
    let mut wild = [0u8; 257];
    wild[..2].copy_from_slice(b"\x01*");
    wild[2..2 + encloser.len()].copy_from_slice(encloser);
    let wild = &wild[..2 + encloser.len()];
    let source = (wild.len() <= crate::dns::name::MAX_NAME_LEN)
        .then(|| ctx.zone.node(wild))
        .flatten();
    if let Some(source) = source.filter(|n| !n.cut) {
        return answer_node(ctx, resp, source, owner, chain);
    }
    resp.rcode = rcode::NXDOMAIN;
    negative(ctx, resp)
}

/// Answers from an existing node (or a wildcard's, with `owner` the query
/// name): the RRset asked for, a CNAME to follow, or NODATA.
fn answer_node(
    ctx: &Ctx<'_>,
    resp: &mut Response<'_>,
    node: &Node,
    owner: &[u8],
    chain: &mut Chain,
) -> Result<(), Full> {
    if ctx.qtype == rtype::ANY {
        return answer_any(ctx, resp, node, owner);
    }
    if let Some(dynamic) = dynamic_answer(ctx, node, ctx.qtype) {
        resp.used_dynamic = true;
        return match &dynamic.content {
            Content::Addresses(v) => {
                let addrs = resp.pick(v);
                write_addresses(resp, Section::Answer, owner, dynamic, addrs)
            }
            Content::NoData => negative(ctx, resp),
            // An operator's "servfail when all down": not an authoritative
            // statement about the name (RFC 1035 §4.1.1), so no AA.
            Content::ServFail => {
                resp.rcode = rcode::SERVFAIL;
                resp.aa = false;
                Ok(())
            }
        };
    }
    if let Some(rrset) = node.rrset(ctx.qtype) {
        write_rrset(ctx, resp, Section::Answer, owner, rrset, rrset.ttl)?;
        additional(ctx, resp, rrset);
        return Ok(());
    }
    if let Some(cname) = node.rrset(rtype::CNAME) {
        resp.rrset(Section::Answer, owner, CLASS_IN, cname, cname.ttl)?;
        let target = &cname.rdata[0][..];
        let target_key = query::NameBuf::lowered(target);
        // Followed only inside this zone: another zone's data is not ours
        // to vouch for in this answer.
        let in_zone = crate::dns::Name::from_wire(target_key.as_slice()).is_ok_and(|t| t.ends_with(&ctx.zone.apex));
        return if in_zone {
            lookup(ctx, resp, target_key.as_slice(), target, chain)
        } else {
            Ok(())
        };
    }
    negative(ctx, resp)
}

/// RFC 8482 §4.1: over UDP, one RRset answers ANY; over TCP, all of them.
fn answer_any(ctx: &Ctx<'_>, resp: &mut Response<'_>, node: &Node, owner: &[u8]) -> Result<(), Full> {
    let dynamic: Vec<(&DynamicAnswer, &crate::publish::dynamic::Variants)> = [rtype::A, rtype::AAAA]
        .into_iter()
        .filter_map(|t| dynamic_answer(ctx, node, t))
        .filter_map(|d| match &d.content {
            Content::Addresses(v) => Some((d, v)),
            _ => None,
        })
        .collect();
    if node.rrsets.is_empty() && dynamic.is_empty() {
        return negative(ctx, resp);
    }
    let mut room = match ctx.transport {
        Transport::Udp => 1,
        Transport::Tcp => usize::MAX,
    };
    for rrset in node.rrsets.iter() {
        if room == 0 {
            return Ok(());
        }
        write_rrset(ctx, resp, Section::Answer, owner, rrset, rrset.ttl)?;
        room -= 1;
    }
    for (answer, variants) in dynamic {
        if room == 0 {
            break;
        }
        resp.used_dynamic = true;
        let addrs = resp.pick(variants);
        write_addresses(resp, Section::Answer, owner, answer, addrs)?;
        room -= 1;
    }
    Ok(())
}

/// The current health-checked answer of (`node`, `rtype`), if it has one.
fn dynamic_answer<'a>(ctx: &Ctx<'a>, node: &Node, rtype: u16) -> Option<&'a DynamicAnswer> {
    if !node.dynamic {
        return None;
    }
    let key = query::NameBuf::lowered(node.name.wire());
    let slot = ctx.snapshot.zones.slot(key.as_slice(), rtype)?;
    Some(&ctx.snapshot.dynamic.slots[slot])
}

/// Writes address records, all or none.
fn write_addresses(
    resp: &mut Response<'_>,
    section: Section,
    owner: &[u8],
    answer: &DynamicAnswer,
    addrs: &[std::net::IpAddr],
) -> Result<(), Full> {
    let mark = resp.w.mark();
    for addr in addrs {
        let written = match addr {
            std::net::IpAddr::V4(a) => resp.w.record(owner, answer.rtype, CLASS_IN, answer.ttl, &a.octets()),
            std::net::IpAddr::V6(a) => resp.w.record(owner, answer.rtype, CLASS_IN, answer.ttl, &a.octets()),
        };
        if written.is_err() {
            resp.w.rewind(mark);
            return Err(Full);
        }
    }
    resp.counts[section as usize] += addrs.len() as u16;
    Ok(())
}

/// Writes an RRset; an SOA gets the zone's current serial, which moves
/// with every change of a health-checked answer.
fn write_rrset(
    ctx: &Ctx<'_>,
    resp: &mut Response<'_>,
    section: Section,
    owner: &[u8],
    rrset: &Rrset,
    ttl: u32,
) -> Result<(), Full> {
    if rrset.rtype != rtype::SOA {
        return resp.rrset(section, owner, CLASS_IN, rrset, ttl);
    }
    let mut rdata = [0u8; 2 * crate::dns::name::MAX_NAME_LEN + 20];
    let soa = &rrset.rdata[0];
    rdata[..soa.len()].copy_from_slice(soa);
    let serial_at = soa.len() - 20;
    rdata[serial_at..serial_at + 4].copy_from_slice(&ctx.snapshot.serial(ctx.zone.index).to_be_bytes());
    let mark = resp.w.mark();
    if let Err(full) = resp.w.record(owner, rtype::SOA, CLASS_IN, ttl, &rdata[..soa.len()]) {
        resp.w.rewind(mark);
        return Err(full);
    }
    resp.counts[section as usize] += 1;
    Ok(())
}

/// NODATA or NXDOMAIN: the SOA in the authority section, with the TTL of
/// RFC 2308 §3.
fn negative(ctx: &Ctx<'_>, resp: &mut Response<'_>) -> Result<(), Full> {
    let zone = ctx.zone;
    write_rrset(
        ctx,
        resp,
        Section::Authority,
        zone.apex.wire(),
        &zone.soa,
        zone.negative_ttl,
    )
}

/// A referral to the delegated zone at `cut` (RFC 1034 §4.3.2 step 3b):
/// not authoritative, NS in the authority section, glue as additional
/// data. In-domain glue that does not fit sets TC (RFC 9471 §3).
fn referral(ctx: &Ctx<'_>, resp: &mut Response<'_>, cut: &Node) -> Result<(), Full> {
    resp.aa = false;
    let Some(ns) = cut.rrset(rtype::NS) else {
        return Ok(());
    };
    resp.rrset(Section::Authority, cut.name.wire(), CLASS_IN, ns, ns.ttl)?;
    for target in &ns.rdata {
        let key = query::NameBuf::lowered(target);
        let Some(node) = ctx.zone.node(key.as_slice()) else {
            continue;
        };
        let in_domain = crate::dns::Name::from_wire(key.as_slice()).is_ok_and(|t| t.ends_with(&cut.name));
        for rtype in [rtype::A, rtype::AAAA] {
            let Some(glue) = node.rrset(rtype) else {
                continue;
            };
            if resp
                .rrset(Section::Additional, node.name.wire(), CLASS_IN, glue, glue.ttl)
                .is_err()
            {
                return if in_domain { Err(Full) } else { Ok(()) };
            }
        }
    }
    Ok(())
}

/// Additional section processing (RFC 1035 §3.3.9, §3.3.11; RFC 2782):
/// addresses of the NS, MX and SRV targets we are authoritative for, as far
/// as they fit.
fn additional(ctx: &Ctx<'_>, resp: &mut Response<'_>, rrset: &Rrset) {
    let Some(at) = rtype::additional_target(rrset.rtype) else {
        return;
    };
    for rdata in &rrset.rdata {
        let Some(target) = rdata.get(at..) else {
            continue;
        };
        let key = query::NameBuf::lowered(target);
        let Some(zone) = ctx.snapshot.zones.find(key.as_slice()) else {
            continue;
        };
        let Some(node) = zone.node(key.as_slice()) else {
            continue;
        };
        if node.occluded {
            continue;
        }
        for rtype in [rtype::A, rtype::AAAA] {
            let written = if let Some(dynamic) = dynamic_answer(ctx, node, rtype) {
                resp.used_dynamic = true;
                match &dynamic.content {
                    Content::Addresses(v) => {
                        let addrs = resp.pick(v);
                        write_addresses(resp, Section::Additional, node.name.wire(), dynamic, addrs)
                    }
                    Content::NoData | Content::ServFail => Ok(()),
                }
            } else if let Some(addrs) = node.rrset(rtype) {
                resp.rrset(Section::Additional, node.name.wire(), CLASS_IN, addrs, addrs.ttl)
            } else {
                Ok(())
            };
            if written.is_err() {
                return;
            }
        }
    }
}
