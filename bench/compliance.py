#!/usr/bin/env python3
"""DNS compliance checks in the manner of ISC's genreport (DNS-Compliance-Testing).

Sends the queries genreport sends (its EDNS, FULL, COMM and TYPE test groups; not the
TSIG "dnswkk" or ICMP tests) to one authoritative server and judges each reply with
genreport's rules, so the tags printed are genreport's: "ok", or what is wrong
("rd", "noaa", "soa", "opt", "noopt", "badversion", "mbz", "z", "echoed", "toobig", ...).
A few extra tests (group "extra", not in genreport) cover truncation of a large answer
and the OPT record in replies that genreport does not look at; they need a zone that
has the large TXT RRset named by --big (bench/conformance.sh adds one to its zone copy).

    bench/compliance.py --server 127.0.0.1 --port 5353 --zone example.test
    bench/compliance.py ... --groups edns,full --verbose      # also the replies in full

Prints one line per test: ok/FAIL, the test, genreport's tags, and the reply in short.
Exit status: 0 when every test is ok, 1 otherwise. Standard library plus dnspython
(dnspython only to print replies with --verbose).

Traffic goes only to --server; use it with loopback or namespace-local addresses.
"""

import argparse
import random
import socket
import struct
import sys

# Header bits in the second 16-bit word (RFC 1035 §4.1.1, RFC 4035 §3.2).
QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010

T_A, T_NS, T_SOA, T_OPT, T_RRSIG, T_DNSKEY, T_TSIG, T_TXT = 1, 2, 6, 41, 46, 48, 250, 16
R_NOERROR, R_FORMERR, R_NOTIMP, R_BADVERS, R_BADCOOKIE = 0, 1, 4, 16, 23
RCODES = {0: "noerror", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp",
          5: "refused", 6: "yxdomain", 7: "yxrrset", 8: "nxrrset", 9: "notauth",
          10: "notzone", 16: "badvers", 23: "badcookie"}
OPCODES = {0: "query", 1: "iquery", 2: "status", 4: "notify", 5: "update"}

NSID = b"\x00\x03\x00\x00"
ECS = b"\x00\x08\x00\x04\x00\x01\x00\x00"
EXPIRE = b"\x00\x09\x00\x00"
COOKIE = b"\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
OPT100 = b"\x00\x64\x00\x00"


def t(name, group, qtype=T_SOA, rdata=b"", udpsize=0, eflags=0, version=0, tcp=False,
      cookie=False, ignore=False, tc=False, rd=False, ra=False, cd=False, ad=False,
      aa=False, z=False, opcode=0, qname=None, note=""):
    return dict(name=name, group=group, qtype=qtype, rdata=rdata, udpsize=udpsize,
                eflags=eflags, version=version, tcp=tcp, cookie=cookie, ignore=ignore,
                tc=tc, rd=rd, ra=ra, cd=cd, ad=ad, aa=aa, z=z, opcode=opcode,
                qname=qname, note=note)


# genreport's opts[] table, same names, same queries.
TESTS = [
    t("dns", "edns", note="plain query, no EDNS"),
    t("aa", "full", aa=True, note="AA set in the query"),
    t("ad", "full", ad=True, note="AD set in the query"),
    t("cd", "full", cd=True, note="CD set in the query"),
    t("ra", "full", ra=True, note="RA set in the query"),
    t("rd", "full", rd=True, note="RD set in the query"),
    t("tc", "full", tc=True, note="TC set in the query"),
    t("zflag", "full", z=True, note="Z (last reserved header bit) set: reply must have Z=0"),
    t("opcode", "full", qtype=0, opcode=15, note="opcode 15, header only: NOTIMP"),
    t("opcodeflg", "full", qtype=0, opcode=15, tc=True, rd=True, ra=True, cd=True, ad=True,
      aa=True, z=True, note="opcode 15 with every header flag set: NOTIMP, no flags back"),
    t("type666", "full", qtype=666, note="unknown QTYPE 666: NOERROR (NODATA), AA"),
    t("tcp", "full", tcp=True, note="plain query over TCP"),
    t("edns", "edns", udpsize=4096, note="EDNS(0)"),
    t("edns1", "edns", udpsize=4096, version=1, note="EDNS version 1: BADVERS, OPT version 0"),
    t("edns@512", "edns", qtype=T_DNSKEY, udpsize=512, eflags=0x8000, ignore=True,
      note="EDNS bufsize 512, DO, DNSKEY; TC ignored, reply must fit 512"),
    t("ednsopt", "edns", rdata=OPT100, udpsize=4096, note="unknown EDNS option 100: not echoed"),
    t("edns1opt", "edns", rdata=OPT100, udpsize=4096, version=1,
      note="EDNS version 1 + unknown option: BADVERS"),
    t("do", "edns", udpsize=4096, eflags=0x8000, note="DO=1"),
    t("docd", "full", udpsize=4096, eflags=0x8000, cd=True, note="DO=1 and CD=1"),
    t("edns1do", "full", udpsize=4096, eflags=0x8000, version=1, note="EDNS version 1 + DO"),
    t("ednsflags", "edns", udpsize=4096, eflags=0x0080,
      note="unknown EDNS flag 0x0080: not echoed (MBZ)"),
    t("optlist", "edns", rdata=NSID + ECS + EXPIRE + COOKIE, udpsize=4096, cookie=True,
      note="NSID, ECS, EXPIRE and COOKIE options"),
    t("ednsnsid", "full", rdata=NSID, udpsize=4096),
    t("ednscookie", "full", rdata=COOKIE, udpsize=4096, cookie=True),
    t("ednsexpire", "full", rdata=EXPIRE, udpsize=4096),
    t("ednssubnet", "full", rdata=ECS, udpsize=4096),
    t("edns1nsid", "full", rdata=NSID, udpsize=4096, version=1),
    t("edns1cookie", "full", rdata=COOKIE, udpsize=4096, version=1, cookie=True),
    t("edns1expire", "full", rdata=EXPIRE, udpsize=4096, version=1),
    t("edns1subnet", "full", rdata=ECS, udpsize=4096, version=1),
    t("ednstcp", "edns", qtype=T_DNSKEY, udpsize=512, eflags=0x8000, tcp=True,
      note="EDNS over TCP (bufsize 512, DO, DNSKEY)"),
    t("bind11", "comm", rdata=COOKIE, udpsize=4096, eflags=0x8000, cookie=True,
      note="what BIND 9.11 sends"),
    t("dig11", "comm", rdata=COOKIE, udpsize=4096, cookie=True, rd=True, ad=True,
      note="what dig 9.11 sends"),
    # RFC 8906 §8.2.4 and §8.2.5 use EDNS flag 0x40 where genreport uses 0x80.
    t("ednsflags40", "extra", udpsize=4096, eflags=0x0040,
      note="RFC 8906: unknown EDNS flag 0x40, MBZ not echoed"),
    t("edns1flags40", "extra", udpsize=4096, eflags=0x0040, version=1,
      note="RFC 8906: EDNS version 1 + unknown flag 0x40: BADVERS, MBZ not echoed"),
]

# genreport's TYPE group: a plain query for each type at the zone apex.
TYPE_TESTS = [
    ("A", 1), ("NS", 2), ("MD", 3), ("MF", 4), ("CNAME", 5), ("SOA", 6), ("MB", 7),
    ("MG", 8), ("MR", 9), ("NULL", 10), ("WKS", 11), ("PTR", 12), ("HINFO", 13),
    ("MINFO", 14), ("MX", 15), ("TXT", 16), ("RP", 17), ("AFSDB", 18), ("X25", 19),
    ("ISDN", 20), ("RT", 21), ("NSAP", 22), ("NSAP-PTR", 23), ("SIG", 24), ("KEY", 25),
    ("PX", 26), ("GPOS", 27), ("AAAA", 28), ("LOC", 29), ("NXT", 30), ("SRV", 33),
    ("NAPTR", 35), ("KX", 36), ("CERT", 37), ("A6", 38), ("DNAME", 39), ("APL", 42),
    ("DS", 43), ("SSHFP", 44), ("IPSECKEY", 45), ("RRSIG", 46), ("NSEC", 47),
    ("DNSKEY", 48), ("DHCID", 49), ("NSEC3", 50), ("NSEC3PARAM", 51), ("TLSA", 52),
    ("SMIMEA", 53), ("HIP", 55), ("CDS", 59), ("CDNSKEY", 60), ("OPENPGPKEY", 61),
    ("SPF", 99), ("NID", 104), ("L32", 105), ("L64", 106), ("LP", 107), ("EUI48", 108),
    ("EUI64", 109), ("URI", 256), ("CAA", 257), ("AVC", 258), ("DOA", 259),
    ("DLV", 32769), ("TYPE1000", 1000),
]
TESTS += [t(n, "type", qtype=c) for n, c in TYPE_TESTS]


def wire_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def build_query(test, zone, qid):
    """The query genreport's dotest() builds for this test."""
    flags = (test["opcode"] & 0xf) << 11
    for key, bit in (("tc", TC), ("rd", RD), ("ra", RA), ("z", Z), ("ad", AD), ("cd", CD),
                     ("aa", AA)):
        if test[key]:
            flags |= bit
    if test["opcode"] == 15 and test["qtype"] == 0:
        # genreport: header only, QDCOUNT 0.
        return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)
    qname = test["qname"] or zone
    msg = wire_name(qname) + struct.pack("!HH", test["qtype"], 1)
    arcount = 0
    if test["udpsize"]:
        ttl = (test["version"] << 16) | test["eflags"]
        msg += b"\x00" + struct.pack("!HHIH", T_OPT, test["udpsize"], ttl, len(test["rdata"]))
        msg += test["rdata"]
        arcount = 1
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount) + msg


def send_udp(addr, port, query, timeout, tries=3):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    qid = query[:2]
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(tries):
            s.sendto(query, (addr, port))
            try:
                while True:
                    data, _src = s.recvfrom(65535)
                    if data[:2] == qid:
                        return data
            except socket.timeout:
                continue
    return None


def send_tcp(addr, port, query, timeout):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        s.sendall(struct.pack("!H", len(query)) + query)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("eof")
                buf += chunk
            return buf

        (length,) = struct.unpack("!H", read(2))
        return read(length)


class Malformed(Exception):
    pass


def read_name(buf, pos):
    """Returns (name text, position after the name); follows compression."""
    labels, end, hops = [], None, 0
    while True:
        if pos >= len(buf):
            raise Malformed("name overruns")
        n = buf[pos]
        if n & 0xc0 == 0xc0:
            if pos + 1 >= len(buf):
                raise Malformed("pointer overruns")
            if end is None:
                end = pos + 2
            pos = ((n & 0x3f) << 8) | buf[pos + 1]
            hops += 1
            if hops > 64:
                raise Malformed("pointer loop")
            continue
        if n & 0xc0:
            raise Malformed("bad label type")
        pos += 1
        if n == 0:
            return ".".join(labels).lower(), (end if end is not None else pos)
        labels.append(buf[pos:pos + n].decode("latin-1"))
        pos += n


def parse(buf):
    """The fields genreport's process() looks at."""
    if len(buf) < 12:
        raise Malformed("short")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", buf[:12])
    r = dict(id=qid, flags=flags, opcode=(flags >> 11) & 0xf, rcode=flags & 0xf,
             qd=qd, an=an, ns=ns, ar=ar, size=len(buf), question=[], answer=[],
             authority=[], additional=[], opt=None)
    pos = 12
    for _ in range(qd):
        name, pos = read_name(buf, pos)
        if pos + 4 > len(buf):
            raise Malformed("question overruns")
        qtype, qclass = struct.unpack("!HH", buf[pos:pos + 4])
        pos += 4
        r["question"].append((name, qtype, qclass))
    for section, count in (("answer", an), ("authority", ns), ("additional", ar)):
        for _ in range(count):
            name, pos = read_name(buf, pos)
            if pos + 10 > len(buf):
                raise Malformed("record overruns")
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", buf[pos:pos + 10])
            pos += 10
            if pos + rdlen > len(buf):
                raise Malformed("rdata overruns")
            rdata = buf[pos:pos + rdlen]
            pos += rdlen
            if rtype == T_OPT and section == "additional":
                if r["opt"] is not None:
                    raise Malformed("second OPT")
                options, o = [], 0
                while len(rdata) - o >= 4:
                    code, olen = struct.unpack("!HH", rdata[o:o + 4])
                    o += 4
                    if len(rdata) - o < olen:
                        raise Malformed("option overruns")
                    options.append((code, rdata[o:o + olen]))
                    o += olen
                if o != len(rdata):
                    raise Malformed("trailing option bytes")
                r["opt"] = dict(udpsize=rclass, ttl=ttl, options=options, owner=name)
            r[section].append((name, rtype, rclass, ttl, rdata))
    if pos != len(buf):
        raise Malformed("trailing bytes")
    return r


def judge(test, zone, r, tcp_used):
    """genreport's process(): returns (tags, info tags)."""
    tags, info = [], []
    flags = r["flags"]
    aa, tc, rd, ra = bool(flags & AA), bool(flags & TC), bool(flags & RD), bool(flags & RA)
    z, ad, cd = bool(flags & Z), bool(flags & AD), bool(flags & CD)
    opcode, rcode = r["opcode"], r["rcode"]
    opt = r["opt"]
    ednsttl = opt["ttl"] if opt else 0
    version = test["version"]
    qname = (test["qname"] or zone).strip(".").lower()

    if test["opcode"] and r["qd"]:
        tags.append("non-empty-question-section")
    for name, qtype, _ in r["question"]:
        if name != qname or qtype != test["qtype"]:
            tags.append("mismatch")
    if test["opcode"] and r["an"]:
        tags.append("non-empty-answer-section")
    if test["opcode"] and r["ns"]:
        tags.append("non-empty-authority-section")
    if test["opcode"] and r["ar"]:
        tags.append("non-empty-additional-section")
    seensoa = any(n == qname and ty == T_SOA for n, ty, *_ in r["answer"])
    seenrrsig = any(ty == T_RRSIG for _, ty, *_ in r["answer"])
    seenecho = False
    if opt:
        for code, data in opt["options"]:
            if code == 3 and data:
                info.append("nsid")
            if code == 8:
                info.append("subnet")
            if code == 9 and len(data) == 4:
                info.append("expire")
            if code == 10 and 16 <= len(data) <= 40:
                if data[:8] == bytes(range(1, 9)):
                    info.append("cookie")
                else:
                    info.append("cookie-mismatch")
                    if test["cookie"]:
                        tags.append("cookie-mismatch")
            if code == 100:
                seenecho = True
    rcode += (ednsttl & 0xff000000) >> 20

    if test["opcode"] != opcode:
        tags.append(OPCODES.get(opcode, "opcode%d" % opcode))
    if version == 0:
        seencookie = "cookie" in info or "cookie-mismatch" in info
        if test["opcode"] == 0 and ((rcode != 0 and not test["cookie"]) or
                                    (rcode != 0 and (rcode != R_BADCOOKIE or not seencookie)
                                     and test["cookie"])):
            tags.append(RCODES.get(rcode, "rcode%d" % rcode))
        if test["opcode"] != 0 and rcode != R_NOTIMP:
            tags.append(RCODES.get(rcode, "rcode%d" % rcode))
    if version != 0 and rcode != R_BADVERS:
        tags.append(RCODES.get(rcode, "rcode%d" % rcode))
    ednsvers = (ednsttl >> 16) & 0xff
    if opt and ednsvers != 0:
        tags.append("version-not-zero")
    if opt and ((ednsvers < version and rcode != R_BADVERS) or
                (ednsvers >= version and rcode == R_BADVERS)):
        tags.append("badversion")
    if not opt and test["udpsize"]:
        tags.append("noopt")
    if opt and not test["udpsize"]:
        tags.append("opt")
    if test["qtype"] == T_SOA and version == 0 and not test["ignore"] and not seensoa \
            and rcode == R_NOERROR:
        tags.append("nosoa")
    if test["qtype"] == T_SOA and seensoa and (version != 0 or rcode != R_NOERROR):
        tags.append("soa")
    if seenecho:
        tags.append("echoed")
    if opt and test["eflags"] & 0x8000 and not ednsttl & 0x8000 and seenrrsig:
        tags.append("nodo")
    if opt and test["eflags"] & 0x8000 and test["cd"] and ednsttl & 0x8000 and not cd \
            and seenrrsig:
        tags.append("nocd")
    if not aa and version == 0 and rcode == R_NOERROR and test["opcode"] == 0:
        tags.append("noaa")
    if aa and test["opcode"] != 0:
        tags.append("aa")
    if ra and test["opcode"]:
        tags.append("ra")
    if rd and (test["opcode"] or not test["rd"]):
        tags.append("rd")
    if not rd and test["rd"] and test["opcode"] == 0:
        tags.append("nord")
    if ad and (test["opcode"] or (not test["ad"] and not test["eflags"] & 0x8000)):
        tags.append("ad")
    if cd and (test["opcode"] or not test["cd"]):
        tags.append("cd")
    if z:
        tags.append("z")
    if ednsttl & 0x7fff:
        tags.append("mbz")
    if test["ignore"] and r["size"] > (test["udpsize"] or 512):
        tags.append("toobig")
    if tc and tcp_used:
        tags.append("tc-over-tcp")  # not genreport's: a TCP reply should not need TC
    return tags, info


def summary(r, via):
    f = r["flags"]
    names = [n for n, b in (("qr", QR), ("aa", AA), ("tc", TC), ("rd", RD), ("ra", RA),
                            ("z", Z), ("ad", AD), ("cd", CD)) if f & b]
    rcode = r["rcode"] + (((r["opt"]["ttl"] if r["opt"] else 0) & 0xff000000) >> 20)
    s = "%s opcode=%d %s flags=[%s] qd=%d an=%d ns=%d ar=%d size=%d" % (
        via, r["opcode"], RCODES.get(rcode, "rcode%d" % rcode).upper(), " ".join(names),
        r["qd"], r["an"], r["ns"], r["ar"], r["size"])
    if r["opt"]:
        o = r["opt"]
        s += " OPT(v%d udp=%d flags=%04x opts=%s)" % ((o["ttl"] >> 16) & 0xff, o["udpsize"],
                                                    o["ttl"] & 0xffff,
                                                    [c for c, _ in o["options"]])
    else:
        s += " no-OPT"
    return s


def pretty(data):
    try:
        import dns.message
        return dns.message.from_wire(data, ignore_trailing=True).to_text()
    except Exception as e:  # dnspython refuses some header-only or odd replies
        return "(dnspython: %s) %s" % (e, data.hex())


def run_genreport(test, args):
    """One genreport test: UDP (then TCP when TC=1 and TC is not ignored), judged."""
    qid = random.randrange(0x10000)
    if args.tcp:
        test = dict(test, tcp=True)
    query = build_query(test, args.zone, qid)
    via = "tcp" if test["tcp"] else "udp"
    try:
        if test["tcp"]:
            data = send_tcp(args.server, args.port, query, args.timeout)
        else:
            data = send_udp(args.server, args.port, query, args.timeout)
            if data is None:
                return ["timeout"], [], None, None
            if len(data) >= 4 and data[2] & 0x02 and not test["ignore"]:
                data = send_tcp(args.server, args.port, query, args.timeout)
                via = "udp(tc)->tcp"
    except (OSError, EOFError) as e:
        return [type(e).__name__.lower()], [], None, None
    if data is None:
        return ["timeout"], [], None, None
    try:
        r = parse(data)
    except Malformed as e:
        return ["malformed(%s)" % e], [], None, data
    tags, info = judge(test, args.zone, r, via != "udp")
    return tags, info, summary(r, via), data


# ----- tests that genreport does not have ------------------------------------------------

def extra_tests(args):
    """(name, note, function) for checks beyond genreport's; each returns (tags, reply, data)."""
    zone, big = args.zone, args.big

    def ask(name, qtype, udpsize=0, opcode=0, version=0, eflags=0, tcp=False):
        test = t("x", "extra", qtype=qtype, udpsize=udpsize, opcode=opcode, version=version,
                 eflags=eflags, qname=name)
        qid = random.randrange(0x10000)
        query = build_query(test, zone, qid)
        data = (send_tcp if tcp else send_udp)(args.server, args.port, query, args.timeout)
        if data is None:
            return None, None
        return parse(data), data

    def big_udp(udpsize):
        def run():
            r, data = ask(big, T_TXT, udpsize=udpsize)
            if r is None:
                return ["timeout"], None, None
            tags = []
            limit = max(udpsize, 512)
            if not r["flags"] & TC:
                tags.append("notc")
            if r["size"] > limit:
                tags.append("toobig")
            if udpsize and not r["opt"]:
                tags.append("noopt")  # RFC 6891 §7: OPT also in a truncated reply
            if not udpsize and r["opt"]:
                tags.append("opt")
            if not r["flags"] & AA:
                tags.append("noaa")
            if r["rcode"] != R_NOERROR:
                tags.append(RCODES.get(r["rcode"], "rcode%d" % r["rcode"]))
            return tags, summary(r, "udp"), data
        return run

    def big_tcp():
        r, data = ask(big, T_TXT, udpsize=1232, tcp=True)
        tags = []
        if r["flags"] & TC:
            tags.append("tc")
        if r["an"] < args.big_count:
            tags.append("short-answer(%d<%d)" % (r["an"], args.big_count))
        if not r["opt"]:
            tags.append("noopt")
        return tags, summary(r, "tcp"), data

    def small_bufsize():
        # RFC 6891 §6.2.5: a payload size below 512 is treated as 512.
        r, data = ask(zone, T_SOA, udpsize=100)
        if r is None:
            return ["timeout"], None, None
        tags = []
        if r["flags"] & TC:
            tags.append("tc")
        if not any(ty == T_SOA for _, ty, *_ in r["answer"]):
            tags.append("nosoa")
        if not r["opt"]:
            tags.append("noopt")
        return tags, summary(r, "udp"), data

    def opcode_with_opt(opcode):
        def run():
            # A question and an OPT: NOTIMP (or, for NOTIFY, any refusal), and the OPT
            # must come back (RFC 6891 §6.1.1: "If an OPT record is present in a received
            # request, compliant responders MUST include an OPT record in their respective
            # responses").
            r, data = ask(zone, T_SOA, udpsize=1232, opcode=opcode)
            if r is None:
                return ["timeout"], None, None
            tags = []
            if r["opcode"] != opcode:
                tags.append("opcode%d" % r["opcode"])
            if opcode == 15 and r["rcode"] != R_NOTIMP:
                tags.append(RCODES.get(r["rcode"], "rcode%d" % r["rcode"]))
            if not r["opt"]:
                tags.append("noopt")
            if r["flags"] & AA:
                tags.append("aa")
            if r["an"] or r["ns"]:
                tags.append("records")
            return tags, summary(r, "udp"), data
        return run

    def badvers_tc(udpsize):
        # BADVERS for version 1 at a small bufsize: the reply is header+question+OPT.
        def run():
            r, data = ask(zone, T_SOA, udpsize=udpsize, version=1)
            if r is None:
                return ["timeout"], None, None
            rcode = r["rcode"] + (((r["opt"]["ttl"] if r["opt"] else 0) & 0xff000000) >> 20)
            tags = [] if rcode == R_BADVERS else [RCODES.get(rcode, "rcode%d" % rcode)]
            if not r["opt"]:
                tags.append("noopt")
            if r["an"]:
                tags.append("answer")
            return tags, summary(r, "udp"), data
        return run

    out = []
    if big:
        out += [
            ("big-noedns", "large TXT RRset, no EDNS: TC=1, <=512 octets, no OPT", big_udp(0)),
            ("big-edns512", "large TXT RRset, EDNS bufsize 512: TC=1, <=512, OPT kept",
             big_udp(512)),
            ("big-tcp", "large TXT RRset over TCP: whole RRset, TC=0", big_tcp),
        ]
    def formerr_with_opt():
        # QDCOUNT 0 with a well-formed OPT: FORMERR, and the OPT comes back (RFC 6891
        # §6.1.1; the OPT itself is fine, so §7's "errors in the OPT" case does not apply).
        qid = random.randrange(0x10000)
        query = struct.pack("!HHHHHH", qid, 0, 0, 0, 0, 1) + b"\x00" + \
            struct.pack("!HHIH", T_OPT, 1232, 0, 0)
        data = send_udp(args.server, args.port, query, args.timeout)
        if data is None:
            return ["timeout"], None, None
        r = parse(data)
        tags = [] if r["rcode"] == R_FORMERR else [RCODES.get(r["rcode"], "rcode%d" % r["rcode"])]
        if not r["opt"]:
            tags.append("noopt")
        return tags, summary(r, "udp"), data

    out += [
        ("qdcount0-edns", "QDCOUNT 0 with an OPT: FORMERR with an OPT (RFC 6891 §6.1.1)",
         formerr_with_opt),
        ("edns-bufsize100", "EDNS bufsize 100 is taken as 512 (RFC 6891 §6.2.5)",
         small_bufsize),
        ("opcode15-edns", "opcode 15 with question and OPT: NOTIMP with an OPT (RFC 6891 §6.1.1)",
         opcode_with_opt(15)),
        ("edns1-bufsize512", "EDNS version 1 at bufsize 512: BADVERS, OPT, no answer",
         badvers_tc(512)),
    ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--zone", default="example.test")
    ap.add_argument("--groups", default="edns,full,comm,type,extra",
                    help="comma list of: edns (genreport's default), full, comm, type, extra")
    ap.add_argument("--big", default=None,
                    help="name of a large TXT RRset in the zone, for the extra TC tests")
    ap.add_argument("--big-count", type=int, default=8, help="records in that RRset")
    ap.add_argument("--tcp", action="store_true",
                    help="send genreport's queries over TCP (extra tests keep their transport)")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--label", default=None, help="label printed in the header line")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every reply in full")
    args = ap.parse_args()
    groups = set(args.groups.split(","))

    print("# compliance: %s @%s port %d zone %s%s" % (args.label or "server", args.server,
                                                     args.port, args.zone,
                                                     " (genreport tests over TCP)"
                                                     if args.tcp else ""))
    failed = passed = 0
    for test in TESTS:
        if test["group"] not in groups:
            continue
        tags, info, reply, data = run_genreport(test, args)
        status = "ok" if not tags else "FAIL"
        passed += not tags
        failed += bool(tags)
        label = ",".join(tags + info) if tags else ",".join(["ok"] + info)
        print("%-4s %-5s %-12s %-28s %s" % (status, test["group"], test["name"], label,
                                            reply or ""))
        if args.verbose and data:
            print("     " + pretty(data).replace("\n", "\n     "))
    if "extra" in groups:
        for name, note, run in extra_tests(args):
            try:
                tags, reply, data = run()
            except (OSError, EOFError, Malformed) as e:
                tags, reply, data = [type(e).__name__.lower()], None, None
            status = "ok" if not tags else "FAIL"
            passed += not tags
            failed += bool(tags)
            print("%-4s %-5s %-16s %-24s %s   # %s" % (status, "extra", name,
                                                     ",".join(tags) or "ok", reply or "", note))
            if args.verbose and data:
                print("     " + pretty(data).replace("\n", "\n     "))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
