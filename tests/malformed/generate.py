#!/usr/bin/env python3
"""Writes the corpus of malformed DNS queries replayed by tests/malformed.rs.

Each case becomes CASE.bin in this directory, plus one line in cases.tsv:

    file  udp  tcp  question  description

where `udp` and `tcp` are what the server must do with the packet over that
transport: `none` (no reply at all) or the rcode of the reply (FORMERR,
NOTIMP, ...), and `question` is the QDCOUNT of that reply (1 when the
question was readable and is echoed, 0 when it was not). README.md is
written from the same table, so the three cannot disagree.

Run from anywhere: python3 tests/malformed/generate.py
Only the standard library is used; the output is deterministic.
"""

import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Types, classes and opcodes used below (RFC 1035 §3.2.2, §3.2.4, §4.1.1;
# RFC 6891 §6.1.1 for OPT; IANA DNS parameters for the opcodes).
A, TXT, NULL, OPT = 1, 16, 10, 41
IN = 1
QR = 0x8000


def opcode(n):
    return n << 11


def header(ident, flags=0, qd=1, an=0, ns=0, ar=0):
    """The 12-byte header (RFC 1035 §4.1.1)."""
    return struct.pack("!6H", ident, flags, qd, an, ns, ar)


def name(text):
    """An uncompressed wire name; no length checks, so it can build bad ones."""
    wire = b""
    for label in text.split(".") if text else []:
        wire += bytes([len(label)]) + label.encode()
    return wire + b"\x00"


WWW = name("www.example.test")


def question(qname=WWW, qtype=A, qclass=IN):
    return qname + struct.pack("!HH", qtype, qclass)


def rr(owner, rtype, rdata, rclass=IN, ttl=0, rdlength=None):
    """A resource record; `rdlength` can lie about the RDATA's length."""
    rdlen = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, rdlen) + rdata


def opt(size=1232, version=0, options=b"", owner=b"\x00", rdlength=None, dnssec_ok=False):
    """An OPT pseudo-record (RFC 6891 §6.1.2; DO is RFC 3225 §3)."""
    ttl = version << 16 | (0x8000 if dnssec_ok else 0)
    return rr(owner, OPT, options, rclass=size, ttl=ttl, rdlength=rdlength)


def query(ident, qname=WWW, qtype=A, flags=0, additional=b"", ar=0):
    """A well-formed query; the building block for the bad ones."""
    return header(ident, flags, ar=ar) + question(qname, qtype) + additional


def labels_of(total, suffix):
    """Labels of at most 63 octets that, put before `suffix`, make a name of
    exactly `total` octets in wire format."""
    room = total - len(suffix)
    wire = b""
    while room > 0:
        size = min(63, room - 1)
        wire += bytes([size]) + b"x" * size
        room -= size + 1
    assert room == 0, "no label split gives that length"
    return wire + suffix


def cases():
    """(file, packet, udp, tcp, question, description) for every case."""
    good = query(0x1001)
    q_end = 12 + len(question())
    out = []

    def add(file, packet, expect, qd, description, tcp=None):
        out.append((file, packet, expect, tcp or expect, qd, description))

    # Too short for a header: nothing to answer (RFC 8906 §3.1.1).
    add("header_0", b"", "none", 0, "empty message")
    add("header_1", good[:1], "none", 0, "one byte of a header")
    add("header_11", good[:11], "none", 0, "header one byte short")

    # The question cut off.
    add("question_empty", header(0x1002), "FORMERR", 0,
        "QDCOUNT 1 but the message ends after the header")
    add("question_mid_label", header(0x1003) + WWW[:7], "FORMERR", 0,
        "question name cut off inside a label")
    add("question_no_type", header(0x1004) + WWW, "FORMERR", 0,
        "question name complete, QTYPE and QCLASS missing")
    add("question_no_class", header(0x1005) + WWW + b"\x00\x01", "FORMERR", 0,
        "QTYPE present, QCLASS missing")
    add("question_half_class", good[:q_end - 1], "FORMERR", 0,
        "QCLASS one byte short")

    # Compression where nothing can be pointed to (RFC 1035 §4.1.4: a
    # pointer refers to a prior occurrence; only the header precedes the
    # question).
    add("question_pointer_loop", header(0x1006) + b"\xc0\x0c" + question()[-4:],
        "FORMERR", 0, "question name is a pointer to itself (offset 12)")
    add("question_pointer_loop_label", header(0x1007) + b"\x03www\xc0\x0c" + question()[-4:],
        "FORMERR", 0, "label, then a pointer back to the start of the question: an endless name")
    add("question_pointer_to_header", header(0x1008) + b"\x03www\xc0\x02" + question()[-4:],
        "FORMERR", 0, "question name ends in a pointer into the header")
    add("question_forward_pointer", header(0x1009) + b"\xc0\x12" + question()[-4:] + WWW,
        "FORMERR", 0, "question name points forward, past the question, to a name")

    # Compression in an additional record's owner name.
    rec = 12 + len(question())
    add("additional_pointer_loop",
        query(0x100a, ar=1, additional=rr(struct.pack("!H", 0xc000 | rec), A, b"\x7f\0\0\1")),
        "FORMERR", 1, "additional record whose owner is a pointer to itself")
    fwd = rec + 2 + 10 + 4
    add("additional_forward_pointer",
        query(0x100b, ar=2, additional=rr(struct.pack("!H", 0xc000 | fwd), A, b"\x7f\0\0\1")
              + rr(WWW, A, b"\x7f\0\0\2")),
        "FORMERR", 1, "additional record owner points forward to the next record's owner")
    # Record 1 (owned by the root) carries in its RDATA a pointer to record
    # 2's owner; record 2's owner points back into that RDATA. Each pointer
    # alone looks fine; followed, they never end.
    rdata_at = rec + 1 + 10
    second = rdata_at + 2
    add("additional_pointer_loop_two_hops",
        query(0x100c, ar=2, additional=rr(b"\x00", NULL, struct.pack("!H", 0xc000 | second))
              + rr(struct.pack("!H", 0xc000 | rdata_at), A, b"\x7f\0\0\1")),
        "FORMERR", 1, "two pointers that point at each other: one in a record's RDATA, one owning the next record")
    add("additional_bad_label_type",
        query(0x100d, ar=1, additional=rr(b"\x41" + b"x" * 65 + b"\x00", A, b"\x7f\0\0\1")),
        "FORMERR", 1, "additional record owner with a 0x40 (extended, RFC 6891 §5) label type")

    # Labels and names over the limits of RFC 1035 §2.3.4.
    add("label_64", header(0x1010) + question(b"\x40" + b"x" * 64 + name("example.test")),
        "FORMERR", 0, "label of 64 octets (length byte 0x40)")
    add("label_255", header(0x1011) + question(b"\xff" + b"x" * 255 + b"\x00"),
        "FORMERR", 0, "length byte 255 (0xff, the pointer bits set) followed by 255 octets")
    add("name_256", header(0x1012) + question(labels_of(256, name("example.test"))),
        "FORMERR", 0, "name of 256 octets in wire format, every label legal")
    add("name_257_one_octet_labels", header(0x1013) + question(b"\x01a" * 128 + b"\x00"),
        "FORMERR", 0, "128 one-octet labels: 257 octets")
    # The same limits, met exactly: valid queries the parser must not refuse.
    add("name_255_wildcard", header(0x1014) + question(labels_of(255, name("apps.example.test"))),
        "NOERROR", 1, "valid: name of exactly 255 octets, answered from *.apps.example.test")
    add("name_254_many_labels", header(0x1015) + question(b"\x01a" * 120 + name("example.test")),
        "NXDOMAIN", 1, "valid: 122 labels, 254 octets, under the zone but not in it")

    # QDCOUNT other than 1 (RFC 9619: exactly one question).
    add("qdcount_0", header(0x1020, qd=0), "FORMERR", 0, "QDCOUNT 0, header only")
    add("qdcount_0_with_question", header(0x1021, qd=0) + question(), "FORMERR", 0,
        "QDCOUNT 0 but a question follows")
    add("qdcount_0_with_opt", header(0x1024, qd=0, ar=1) + opt(), "FORMERR", 0,
        "QDCOUNT 0 and an OPT record (the shape of an RFC 7873 §5.4 cookie query)")
    add("qdcount_2", header(0x1022, qd=2) + question() + question(name("mail.example.test")),
        "FORMERR", 0, "two questions")
    add("qdcount_2_one_present", header(0x1023, qd=2) + question(), "FORMERR", 0,
        "QDCOUNT 2, one question present")

    # The OPT record (RFC 6891 §6.1.1: at most one, in the additional
    # section, owned by the root; its RDATA a sequence of options).
    add("opt_rdlength_overrun", query(0x1030, ar=1, additional=opt(rdlength=100)),
        "FORMERR", 1, "OPT whose RDLENGTH (100) runs past the end of the message")
    add("opt_option_overrun",
        query(0x1031, ar=1, additional=opt(options=struct.pack("!HH", 10, 20) + b"abcd")),
        "FORMERR", 1, "OPT option (COOKIE) whose length (20) runs past the RDATA (4 bytes left)")
    add("opt_option_header_cut",
        query(0x1032, ar=1, additional=opt(options=b"\x00\x0a")),
        "FORMERR", 1, "OPT RDATA of 2 bytes: an option code without its length")
    add("opt_twice", query(0x1033, ar=2, additional=opt() + opt()),
        "FORMERR", 1, "two OPT records")
    add("opt_in_answer", header(0x1034, an=1) + question() + opt(),
        "FORMERR", 1, "OPT record in the answer section")
    add("opt_in_authority", header(0x1035, ns=1) + question() + opt(),
        "FORMERR", 1, "OPT record in the authority section")
    add("opt_owner_not_root", query(0x1036, ar=1, additional=opt(owner=name("example.test"))),
        "FORMERR", 1, "OPT owned by example.test instead of the root")
    add("opt_cut_off", query(0x1037, ar=1, additional=opt()[:7]),
        "FORMERR", 1, "OPT record cut off inside its fixed fields")

    # Counts that promise records which are not there.
    add("ancount_65535", header(0x1040, an=65535) + question(), "FORMERR", 1,
        "ANCOUNT 65535, nothing after the question")
    add("nscount_65535", header(0x1041, ns=65535) + question(), "FORMERR", 1,
        "NSCOUNT 65535, nothing after the question")
    add("arcount_65535", header(0x1042, ar=65535) + question(), "FORMERR", 1,
        "ARCOUNT 65535, nothing after the question")
    add("arcount_65535_one_opt", query(0x1043, ar=65535, additional=opt()), "FORMERR", 1,
        "ARCOUNT 65535, one OPT present")

    # Not a query.
    add("qr_set", query(0x1050, flags=QR), "none", 0,
        "a response (QR=1): never answered, or two servers could loop")
    add("qr_set_header_only", header(0x1051, flags=QR, qd=0), "none", 0,
        "a bare response header")
    for code, what in [(1, "IQUERY (obsolete, RFC 3425)"), (2, "STATUS"),
                       (3, "unassigned opcode 3"), (4, "NOTIFY (not supported)"),
                       (5, "UPDATE (not supported)"), (15, "unassigned opcode 15")]:
        add(f"opcode_{code}", query(0x1060 + code, flags=opcode(code)), "NOTIMP", 1, what)
    add("opcode_3_with_opt", query(0x1071, flags=opcode(3), ar=1, additional=opt()), "NOTIMP", 1,
        "unassigned opcode 3 with an OPT record")
    add("opcode_3_bad_question", header(0x1070, flags=opcode(3)) + WWW[:5], "NOTIMP", 0,
        "unassigned opcode with a question cut off: NOTIMP without the question")

    # Extra bytes.
    add("trailing_garbage", good + b"garbage", "FORMERR", 1,
        "seven bytes after a complete query")
    add("trailing_after_opt", query(0x1080, ar=1, additional=opt()) + b"\x00", "FORMERR", 1,
        "one byte after the OPT record")
    add("oversize_4097", query(0x1081) + bytes(4097 - len(good)), "none", 1,
        "4097 bytes: a query and zero padding. Over UDP larger than any receive "
        "buffer (4096, the EDNS maximum) and dropped; over TCP read whole and FORMERR",
        tcp="FORMERR")
    add("zeros_512", bytes(512), "FORMERR", 0,
        "512 zero bytes: ID 0, QDCOUNT 0, then zeros")

    # Random bytes (fixed seeds), with the rcode that follows from the header.
    for seed, size in [(1, 64), (2, 512), (27, 512), (27, 1400)]:
        packet = random.Random(seed).randbytes(size)
        flags, qd = struct.unpack("!HH", packet[2:6])
        assert qd != 1, "pick a seed whose QDCOUNT is not 1: the question is then unread"
        if flags & QR:
            expect = "none"
        elif flags & opcode(15):
            expect = "NOTIMP"
        else:
            expect = "FORMERR"
        add(f"random_{size}_seed_{seed}", packet, expect, 0, f"{size} random bytes (seed {seed})")
    return out


README_HEAD = """# Malformed queries

Packets that a DNS server must survive. `tests/malformed.rs` sends each one to
the running server over UDP and over TCP, checks the reply (or that there is
none), then checks that the server still answers a good query.

Written by `generate.py` (python3, standard library only); change the cases
there and run `python3 tests/malformed/generate.py`, which rewrites the
`.bin` files, `cases.tsv` (read by the test) and this file.

Expected outcome: `none` means no reply at all (RFC 8906 §3.1.1 allows no
reply to what cannot be a query); otherwise the reply's rcode, with QR=1 and
the query's ID. "Question" is the QDCOUNT of the reply, where there is one: 1
when the question was readable and is echoed back byte for byte, 0 when it
was not.

| file | UDP | TCP | question | what it is |
|---|---|---|---|---|
"""


def main():
    all_cases = cases()
    for entry in os.listdir(HERE):
        if entry.endswith(".bin"):
            os.remove(os.path.join(HERE, entry))
    table = []
    for file, packet, udp, tcp, qd, description in all_cases:
        with open(os.path.join(HERE, file + ".bin"), "wb") as f:
            f.write(packet)
        table.append((file + ".bin", udp, tcp, str(qd), description))
    with open(os.path.join(HERE, "cases.tsv"), "w") as f:
        f.write("# file\tudp\ttcp\tquestion\tdescription (written by generate.py)\n")
        for row in table:
            f.write("\t".join(row) + "\n")
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write(README_HEAD)
        for file, udp, tcp, qd, description in table:
            f.write(f"| `{file}` | {udp} | {tcp} | {qd} | {description} |\n")
    print(f"wrote {len(table)} cases to {HERE}")


if __name__ == "__main__":
    main()
