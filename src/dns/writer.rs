//! Writes DNS messages into a caller's buffer with name compression
//! (RFC 1035 §4.1.4), without allocating.
//!
//! Every write is checked against a limit (the client's UDP payload size, or
//! 65535 on TCP). A write that does not fit returns [`Full`] and the caller
//! rewinds to a [`Mark`] so that whole RRsets are kept or dropped together
//! (RFC 2181 §9).

use super::name::label_offsets;
use super::rtype::{self, CompressLayout};

/// The message does not fit within the writer's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Compression pointers can address only the first 16 KiB of a message.
const MAX_POINTER_TARGET: usize = 0x3fff;
/// How many name positions are remembered for compression. Beyond this,
/// names are still written correctly, just less compactly. 256 covers a
/// question of the most labels a name can have (127) and one more such
/// name, so that an answer made of one record of two names (the NXDOMAIN
/// answer's SOA) is compressed the same whatever the question: the hot
/// path's relocated NXDOMAIN answer relies on it (`serve::dns::fast`).
const MAX_TARGETS: usize = 256;
/// Longest chain of pointers followed when comparing names.
const MAX_POINTER_HOPS: usize = 32;

/// A rewind point.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pos: usize,
    targets: usize,
}

/// A message writer over a borrowed buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    limit: usize,
    targets: [u16; MAX_TARGETS],
    n_targets: usize,
}

impl<'a> Writer<'a> {
    /// A writer that starts at `pos` (bytes before it already written) and
    /// may use the buffer up to `limit`.
    pub fn new(buf: &'a mut [u8], pos: usize, limit: usize) -> Writer<'a> {
        let limit = limit.min(buf.len());
        Writer {
            buf,
            pos,
            limit,
            targets: [0; MAX_TARGETS],
            n_targets: 0,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Lowers the limit, e.g. to keep room for the OPT record.
    pub fn reserve_tail(&mut self, bytes: usize) {
        self.limit = self.limit.saturating_sub(bytes);
    }

    /// Gives back room taken by [`Writer::reserve_tail`].
    pub fn release_tail(&mut self, bytes: usize) {
        self.limit = (self.limit + bytes).min(self.buf.len());
    }

    pub fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            targets: self.n_targets,
        }
    }

    pub fn rewind(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.n_targets = mark.targets;
    }

    pub fn buf(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    pub fn bytes(&mut self, data: &[u8]) -> Result<(), Full> {
        let end = self.pos + data.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf[self.pos..end].copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub fn u16(&mut self, v: u16) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }

    pub fn u32(&mut self, v: u32) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Overwrites a 16-bit value already written (counts, RDLENGTH).
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Makes the name already written at `at` (e.g. the question) available
    /// as a compression target.
    pub fn remember_name(&mut self, at: usize, wire: &[u8]) {
        for offset in label_offsets(wire) {
            self.remember(at + offset);
        }
    }

    fn remember(&mut self, at: usize) {
        if at <= MAX_POINTER_TARGET && self.n_targets < MAX_TARGETS {
            self.targets[self.n_targets] = at as u16;
            self.n_targets += 1;
        }
    }

    /// Writes an uncompressed, valid wire name, compressed where possible.
    pub fn name(&mut self, wire: &[u8]) -> Result<(), Full> {
        let start = self.mark();
        let result = self.name_inner(wire);
        if result.is_err() {
            self.rewind(start);
        }
        result
    }

    fn name_inner(&mut self, wire: &[u8]) -> Result<(), Full> {
        for at in label_offsets(wire) {
            if let Some(target) = self.find(&wire[at..]) {
                self.labels(&wire[..at])?;
                return self.u16(0xc000 | target);
            }
        }
        self.labels(&wire[..wire.len() - 1])?;
        self.bytes(&[0])
    }

    /// Writes leading labels literally and remembers each as a target.
    fn labels(&mut self, labels: &[u8]) -> Result<(), Full> {
        let base = self.pos;
        self.bytes(labels)?;
        for offset in label_offsets(labels) {
            self.remember(base + offset);
        }
        Ok(())
    }

    /// Writes a name without compression (SRV targets, RFC 3597 types).
    pub fn name_uncompressed(&mut self, wire: &[u8]) -> Result<(), Full> {
        self.bytes(wire)
    }

    /// The position of an earlier name equal to `suffix`, if remembered.
    fn find(&self, suffix: &[u8]) -> Option<u16> {
        self.targets[..self.n_targets]
            .iter()
            .copied()
            .find(|&t| names_equal(&self.buf[..self.pos], t as usize, suffix))
    }

    /// Writes one resource record; the RDATA's names are compressed where
    /// RFC 3597 §4 allows it.
    pub fn record(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Result<(), Full> {
        let start = self.mark();
        let result = self.record_inner(owner, rtype, class, ttl, rdata);
        if result.is_err() {
            self.rewind(start);
        }
        result
    }

    fn record_inner(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Result<(), Full> {
        self.name(owner)?;
        self.u16(rtype)?;
        self.u16(class)?;
        self.u32(ttl)?;
        let len_at = self.pos;
        self.u16(0)?;
        match rtype::compressible_names(rtype) {
            CompressLayout::Opaque => self.bytes(rdata)?,
            CompressLayout::OneName { at } => {
                self.bytes(&rdata[..at])?;
                self.name(&rdata[at..])?;
            }
            CompressLayout::Soa => {
                let mname = super::name::wire_len(rdata).unwrap_or(rdata.len());
                let rname = super::name::wire_len(&rdata[mname..]).unwrap_or(0);
                self.name(&rdata[..mname])?;
                self.name(&rdata[mname..mname + rname])?;
                self.bytes(&rdata[mname + rname..])?;
            }
        }
        let len = self.pos - len_at - 2;
        self.patch_u16(len_at, len as u16);
        Ok(())
    }
}

/// Whether the (possibly compressed) name at `at` in `msg` equals the
/// uncompressed `wire`, ignoring ASCII case.
fn names_equal(msg: &[u8], mut at: usize, wire: &[u8]) -> bool {
    let mut w = 0;
    let mut hops = 0;
    loop {
        let Some(&len) = msg.get(at) else {
            return false;
        };
        if len & 0xc0 == 0xc0 {
            let Some(&low) = msg.get(at + 1) else {
                return false;
            };
            hops += 1;
            if hops > MAX_POINTER_HOPS {
                return false;
            }
            at = (usize::from(len & 0x3f) << 8) | usize::from(low);
            continue;
        }
        let len = len as usize;
        if wire.get(w) != Some(&(len as u8)) {
            return false;
        }
        if len == 0 {
            return true;
        }
        let (Some(a), Some(b)) = (msg.get(at + 1..at + 1 + len), wire.get(w + 1..w + 1 + len)) else {
            return false;
        };
        if !a.eq_ignore_ascii_case(b) {
            return false;
        }
        at += 1 + len;
        w += 1 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Name;

    #[test]
    fn compresses_repeated_suffixes() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 12, 512);
        let www = Name::parse("www.example.test").unwrap();
        w.bytes(www.wire()).unwrap();
        w.remember_name(12, www.wire());
        let start = w.pos();
        w.name(Name::parse("WWW.example.test").unwrap().wire()).unwrap();
        assert_eq!(&w.buf()[start..], &[0xc0, 12]);
        let start = w.pos();
        w.name(Name::parse("mail.example.test").unwrap().wire()).unwrap();
        assert_eq!(&w.buf()[start..], b"\x04mail\xc0\x10");
    }

    #[test]
    fn full_write_rewinds_the_whole_record() {
        let mut buf = [0u8; 40];
        let mut w = Writer::new(&mut buf, 12, 40);
        let owner = Name::parse("a.test").unwrap();
        let before = w.pos();
        assert_eq!(w.record(owner.wire(), 16, 1, 60, &[20; 30]), Err(Full));
        assert_eq!(w.pos(), before);
    }

    #[test]
    fn soa_names_are_compressed_and_rdlength_is_right() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 12, 512);
        let zone = Name::parse("example.test").unwrap();
        w.bytes(zone.wire()).unwrap();
        w.remember_name(12, zone.wire());
        let mut rdata = Name::parse("ns1.example.test").unwrap().wire().to_vec();
        rdata.extend_from_slice(Name::parse("hostmaster.example.test").unwrap().wire());
        rdata.extend_from_slice(&[0; 20]);
        w.record(zone.wire(), 6, 1, 60, &rdata).unwrap();
        let out = w.buf();
        // owner pointer (2) + type/class/ttl (8) + rdlength (2) + ns1 (6) + hostmaster (13) + 20
        let rr = &out[12 + zone.wire().len()..];
        assert_eq!(rr.len(), 2 + 8 + 2 + 6 + 13 + 20);
        assert_eq!(u16::from_be_bytes([rr[10], rr[11]]) as usize, 6 + 13 + 20);
    }
}
