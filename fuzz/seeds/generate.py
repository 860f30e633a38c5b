#!/usr/bin/env python3
"""Writes the seed corpus of the `answer` fuzz target: well-formed queries
for the names, types, classes and EDNS variants of the example zones, one
file each in fuzz/seeds/answer/. The malformed corpus in tests/malformed/
is the other half of the seeds (see fuzz/README.md).

Run from anywhere: python3 fuzz/seeds/generate.py
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "malformed"))
from generate import A, IN, header, name, opt, question  # noqa: E402

AAAA, NS, MX, SOA, CNAME, PTR, SRV, DS, CAA = 28, 2, 15, 6, 5, 12, 33, 43, 257
TXT, ANY, AXFR, CH, HS, NONE = 16, 255, 252, 3, 4, 254
RD, CD = 0x0100, 0x0010
NSID, COOKIE, PADDING = 3, 10, 12


def option(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


def seed(qname, qtype, qclass=IN, flags=0, edns=None):
    """A query; `edns` is None or a dict of opt() arguments."""
    extra = opt(**edns) if edns is not None else b""
    ar = 1 if edns is not None else 0
    return header(0x2000, flags, ar=ar) + question(name(qname), qtype, qclass) + extra


SEEDS = {
    "www_a": seed("www.example.test", A),
    "www_aaaa_edns_do": seed("www.example.test", AAAA, edns={"size": 4096, "dnssec_ok": True}),
    "mixed_case_mx_rd": seed("ExAmPlE.TeSt", MX, flags=RD),
    "apex_soa_edns_512": seed("example.test", SOA, edns={"size": 512}),
    "apex_ns": seed("example.test", NS),
    "apex_caa": seed("example.test", CAA),
    "apex_any_udp": seed("example.test", ANY, edns={"size": 1232}),
    "cname_chain": seed("static.example.test", A, flags=RD | CD),
    "cname_query_cname": seed("cdn.example.test", CNAME),
    "wildcard": seed("host.apps.example.test", A),
    "wildcard_nodata": seed("x.apps.example.test", MX),
    "empty_non_terminal": seed("lab.example.test", A),
    "nxdomain": seed("nope.example.test", A, edns={"size": 1232}),
    "nodata": seed("www.example.test", TXT),
    "srv": seed("_sip._udp.example.test", SRV),
    "ptr": seed("1.1.0.127.in-addr.example.test", PTR),
    "unknown_type": seed("private.example.test", 65280),
    "referral": seed("sub.example.test", A),
    "below_cut": seed("www.sub.example.test", AAAA),
    "glue_name": seed("ns1.sub.example.test", A),
    "ds_at_cut": seed("sub.example.test", DS),
    "axfr": seed("example.test", AXFR),
    "refused_out_of_zone": seed("example.org", A),
    "inline_zone": seed("api.inline.test", A, edns={"size": 1232}),
    "ch_version_bind": seed("version.bind", TXT, qclass=CH),
    "ch_id_server": seed("id.server", TXT, qclass=CH),
    "class_hs": seed("www.example.test", A, qclass=HS),
    "class_none": seed("www.example.test", A, qclass=NONE),
    "edns_nsid": seed("www.example.test", A, edns={"size": 1232, "options": option(NSID)}),
    "edns_cookie": seed("www.example.test", A,
                        edns={"size": 1232, "options": option(COOKIE, b"\x01" * 8)}),
    "edns_padding_nsid": seed("mail.example.test", AAAA,
                              edns={"size": 1232, "options": option(PADDING, bytes(16)) + option(NSID)}),
    "edns_version_1": seed("www.example.test", A, edns={"size": 1232, "version": 1}),
    "edns_size_0": seed("example.test", ANY, edns={"size": 0}),
}


def main():
    out = os.path.join(HERE, "answer")
    os.makedirs(out, exist_ok=True)
    for entry in os.listdir(out):
        os.remove(os.path.join(out, entry))
    for file, packet in SEEDS.items():
        with open(os.path.join(out, file), "wb") as f:
            f.write(packet)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
