//! Domain names in uncompressed wire format (RFC 1035 §3.1).
//!
//! A [`Name`] is always absolute and valid: at most 255 octets, labels of at
//! most 63 octets, ending in the root label. Case is kept as written;
//! comparisons and lookups use [`Name::lowercase`].

use std::fmt;

/// Longest name in wire format, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why text or wire bytes are not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty label in \"{0}\"")]
    EmptyLabel(String),
    #[error("label longer than 63 octets in \"{0}\"")]
    LongLabel(String),
    #[error("name longer than 255 octets: \"{0}\"")]
    LongName(String),
    #[error("bad escape sequence in \"{0}\"")]
    BadEscape(String),
    #[error("malformed wire-format name")]
    BadWire,
}

/// An absolute domain name in wire format.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name.
    pub fn root() -> Name {
        Name(Box::new([0]))
    }

    /// Validates uncompressed wire bytes that must hold exactly one name.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        match wire_len(wire) {
            Some(len) if len == wire.len() => Ok(Name(wire.into())),
            _ => Err(NameError::BadWire),
        }
    }

    /// Parses presentation format ("www.example.test", "example.test.",
    /// escapes `\.` and `\DDD`). Relative names are taken as absolute.
    pub fn parse(text: &str) -> Result<Name, NameError> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if trimmed.is_empty() {
            return Ok(Name::root());
        }
        let mut wire = Vec::with_capacity(trimmed.len() + 2);
        let mut label = Vec::with_capacity(MAX_LABEL_LEN);
        let mut chars = trimmed.bytes();
        let close = |label: &mut Vec<u8>, wire: &mut Vec<u8>| {
            if label.is_empty() {
                return Err(NameError::EmptyLabel(text.into()));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LongLabel(text.into()));
            }
            wire.push(label.len() as u8);
            wire.append(label);
            Ok(())
        };
        while let Some(c) = chars.next() {
            match c {
                b'.' => close(&mut label, &mut wire)?,
                b'\\' => label.push(unescape(&mut chars).ok_or_else(|| NameError::BadEscape(text.into()))?),
                _ => label.push(c),
            }
        }
        close(&mut label, &mut wire)?;
        wire.push(0);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::LongName(text.into()));
        }
        Ok(Name(wire.into()))
    }

    /// The wire bytes, root label included.
    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// The same name with ASCII letters lowered: the key for lookups.
    pub fn lowercase(&self) -> Name {
        Name(self.0.to_ascii_lowercase().into())
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        label_offsets(&self.0).count()
    }

    /// Whether `self` equals `other` or lies below it (case-insensitive).
    pub fn ends_with(&self, other: &Name) -> bool {
        let (a, b) = (&self.0[..], &other.0[..]);
        b.len() <= a.len()
            && suffix_at_label_boundary(a, a.len() - b.len())
            && a[a.len() - b.len()..].eq_ignore_ascii_case(b)
    }

    /// The parent name (one label removed); `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        let first = *self.0.first()? as usize;
        (first != 0).then(|| Name(self.0[1 + first..].into()))
    }

    /// `label.self`, e.g. `*.example.test`.
    pub fn child(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(NameError::BadWire);
        }
        let mut wire = Vec::with_capacity(self.0.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.0);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::LongName(self.to_string()));
        }
        Ok(Name(wire.into()))
    }

    /// Whether the first label is `*` (RFC 4592 §2.1.1).
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with(&[1, b'*'])
    }
}

/// The offset of each label of a valid wire name, from the leftmost label;
/// the root label is not included.
pub fn label_offsets(wire: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let len = *wire.get(pos)? as usize;
        if len == 0 {
            return None;
        }
        let at = pos;
        pos += 1 + len;
        Some(at)
    })
}

/// Whether `at` is the start of a label of the valid wire name `wire`.
fn suffix_at_label_boundary(wire: &[u8], at: usize) -> bool {
    at == wire.len() - 1 || label_offsets(wire).any(|o| o == at)
}

/// Length of the uncompressed name at the start of `wire`, if valid.
pub fn wire_len(wire: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let len = *wire.get(pos)? as usize;
        if len > MAX_LABEL_LEN {
            return None;
        }
        pos += 1 + len;
        if pos > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

fn unescape(chars: &mut impl Iterator<Item = u8>) -> Option<u8> {
    let first = chars.next()?;
    if !first.is_ascii_digit() {
        return Some(first);
    }
    let mut value = u32::from(first - b'0');
    for _ in 0..2 {
        let d = chars.next().filter(u8::is_ascii_digit)?;
        value = value * 10 + u32::from(d - b'0');
    }
    u8::try_from(value).ok()
}

/// Writes a wire name in presentation format, escaping as RFC 1035 §5.1 does.
pub fn fmt_wire(wire: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if wire.first().is_none_or(|&l| l == 0) {
        return f.write_str(".");
    }
    for at in label_offsets(wire) {
        let len = wire[at] as usize;
        for &c in &wire[at + 1..at + 1 + len] {
            match c {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'$' | b'@' => write!(f, "\\{}", c as char)?,
                0x21..=0x7e => write!(f, "{}", c as char)?,
                _ => write!(f, "\\{c:03}")?,
            }
        }
        f.write_str(".")?;
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_wire(&self.0, f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_presentation_format() {
        let n = Name::parse("WWW.Example.test").unwrap();
        assert_eq!(n.wire(), b"\x03WWW\x07Example\x04test\x00");
        assert_eq!(n.to_string(), "WWW.Example.test.");
        assert_eq!(Name::parse(".").unwrap(), Name::root());
        assert_eq!(Name::parse("a\\.b.test").unwrap().wire(), b"\x03a.b\x04test\x00");
        assert_eq!(Name::parse("\\065.test").unwrap().wire(), b"\x01A\x04test\x00");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(Name::parse("a..b"), Err(NameError::EmptyLabel(_))));
        assert!(matches!(Name::parse(&"a".repeat(64)), Err(NameError::LongLabel(_))));
        let long = vec!["abcdefghi"; 30].join(".");
        assert!(matches!(Name::parse(&long), Err(NameError::LongName(_))));
        assert!(Name::from_wire(b"\x40aaaa").is_err());
        assert!(Name::from_wire(b"\x01a").is_err());
        assert!(Name::from_wire(b"\x01a\x00extra").is_err());
    }

    #[test]
    fn suffix_and_parent_relations() {
        let www = Name::parse("www.Example.test").unwrap();
        let zone = Name::parse("example.TEST").unwrap();
        assert!(www.ends_with(&zone));
        assert!(zone.ends_with(&zone));
        assert!(!zone.ends_with(&www));
        assert!(!Name::parse("xexample.test").unwrap().ends_with(&zone));
        assert!(www.ends_with(&Name::root()));
        assert_eq!(www.parent().unwrap().lowercase(), zone.lowercase());
        assert_eq!(www.label_count(), 3);
        assert!(zone.child(b"*").unwrap().is_wildcard());
    }
}
