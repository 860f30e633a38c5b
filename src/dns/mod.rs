//! The DNS vocabulary shared by every stage: names in wire format, record
//! types, resource records, and a message writer with name compression.
//!
//! This is Lifeline's own small wire layer. It exists because the query path
//! (DESIGN.md §8) must parse and answer without allocating; the `domain`
//! crate is used where speed does not matter (zone-file parsing).

pub mod name;
pub mod record;
pub mod rtype;
pub mod writer;

pub use name::{Name, NameError};
pub use record::{Record, Rrset};
pub use writer::{Full, Writer};

/// Class IN (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;
/// Class CH, used for server identification (`version.bind`, `id.server`).
pub const CLASS_CH: u16 = 3;

/// Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for the extended BADVERS).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    /// Extended rcode 16: the upper 8 bits go in the OPT record.
    pub const BADVERS: u16 = 16;
}

/// Header flag bits in the second 16-bit word (RFC 1035 §4.1.1).
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const CD: u16 = 0x0010;
}

/// Size of the fixed message header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
