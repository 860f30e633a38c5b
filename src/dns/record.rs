//! Resource records as loaded from configuration, and RRsets as served.

use super::Name;

/// One resource record; RDATA in uncompressed wire format (RFC 3597 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Box<[u8]>,
}

/// All records of one owner and type (RFC 2181 §5): one TTL, no duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrset {
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<Box<[u8]>>,
}
