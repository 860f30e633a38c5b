//! Record type codes Lifeline treats specially (IANA "Resource Record (RR) TYPEs").

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const SOA: u16 = 6;
pub const PTR: u16 = 12;
pub const HINFO: u16 = 13;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const SRV: u16 = 33;
pub const DNAME: u16 = 39;
pub const OPT: u16 = 41;
pub const DS: u16 = 43;
pub const TSIG: u16 = 250;
pub const IXFR: u16 = 251;
pub const AXFR: u16 = 252;
pub const ANY: u16 = 255;
pub const CAA: u16 = 257;

/// Where, inside this type's RDATA, a domain name sits that may be compressed
/// when written. RFC 3597 §4: only the RR types of RFC 1035 may be
/// compressed; SRV targets (RFC 2782) and everything newer are written as is.
pub fn compressible_names(rtype: u16) -> CompressLayout {
    match rtype {
        NS | CNAME | PTR => CompressLayout::OneName { at: 0 },
        MX => CompressLayout::OneName { at: 2 },
        SOA => CompressLayout::Soa,
        _ => CompressLayout::Opaque,
    }
}

/// How a record's RDATA is laid out for compression purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressLayout {
    /// No compressible names: copy the bytes.
    Opaque,
    /// One name starting at byte `at`, then nothing.
    OneName { at: usize },
    /// MNAME, RNAME, then five 32-bit fields.
    Soa,
}

/// The name whose address records belong in the additional section
/// (RFC 1035 §3.3.9 MX, §3.3.11 NS; RFC 2782 SRV), as an offset into RDATA.
pub fn additional_target(rtype: u16) -> Option<usize> {
    match rtype {
        NS => Some(0),
        MX => Some(2),
        SRV => Some(6),
        _ => None,
    }
}

/// A readable mnemonic for logs and summaries.
pub fn mnemonic(rtype: u16) -> std::borrow::Cow<'static, str> {
    let s = match rtype {
        A => "A",
        NS => "NS",
        CNAME => "CNAME",
        SOA => "SOA",
        PTR => "PTR",
        HINFO => "HINFO",
        MX => "MX",
        TXT => "TXT",
        AAAA => "AAAA",
        SRV => "SRV",
        DNAME => "DNAME",
        OPT => "OPT",
        DS => "DS",
        CAA => "CAA",
        ANY => "ANY",
        other => return format!("TYPE{other}").into(),
    };
    s.into()
}
