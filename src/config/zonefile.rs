//! Zone data in RFC 1035 §5 master-file format, read with the `domain`
//! crate's zone-file scanner and turned into Lifeline's records.

use std::path::Path;

use bytes::Bytes;
use domain::base::iana::Class;
use domain::base::name::ToName;
use domain::base::rdata::ComposeRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use super::error::ConfigError;
use super::limits::INCLUDE_DEPTH;
use crate::dns::{Name, Record};

/// A record together with the line it was written on.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    pub record: Record,
    pub line: usize,
}

/// Reads a zone file; `$INCLUDE` files are read relative to it.
pub fn load_file(path: &Path, origin: &Name) -> Result<Vec<SourcedRecord>, ConfigError> {
    let mut records = Vec::new();
    load_into(path, origin, 0, &mut records)?;
    Ok(records)
}

fn load_into(path: &Path, origin: &Name, depth: usize, records: &mut Vec<SourcedRecord>) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let includes = parse_text(&text, origin, &file, |line| line, records)?;
    for (include, include_origin, line) in includes {
        if depth + 1 > INCLUDE_DEPTH {
            return Err(syntax(
                &file,
                line,
                format!("$INCLUDE nested deeper than {INCLUDE_DEPTH}"),
            ));
        }
        let include_path = path.parent().unwrap_or(Path::new(".")).join(&include);
        load_into(
            &include_path,
            include_origin.as_ref().unwrap_or(origin),
            depth + 1,
            records,
        )?;
    }
    Ok(())
}

/// Parses zone-file text. `map_line` turns a line of `text` into the line
/// to report (inline records sit at other lines of the config file).
/// Returns the `$INCLUDE`s found: (path, origin, line).
pub fn parse_text(
    text: &str,
    origin: &Name,
    source: &str,
    map_line: impl Fn(usize) -> usize,
    records: &mut Vec<SourcedRecord>,
) -> Result<Vec<(String, Option<Name>, usize)>, ConfigError> {
    let mut zonefile = Zonefile::with_capacity(text.len());
    zonefile.extend_from_slice(text.as_bytes());
    // `origin` came from a validated Name, so this cannot fail.
    let domain_origin = domain::base::Name::<Bytes>::from_octets(Bytes::copy_from_slice(origin.wire()))
        .expect("a valid Name is a valid domain::Name");
    zonefile.set_origin(domain_origin);
    zonefile.set_default_class(Class::IN);
    let mut includes = Vec::new();
    let mut lines = LineCounter::new(text);
    loop {
        let entry = match zonefile.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return Err(scanner_error(source, text, &e.to_string(), &map_line)),
        };
        let line = map_line(lines.line_before(zonefile.current_offset()));
        match entry {
            Entry::Record(record) => records.push(SourcedRecord {
                record: convert(&record, source, line)?,
                line,
            }),
            Entry::Include { path, origin } => {
                let origin = origin
                    .map(|o| Name::from_wire(o.as_slice()))
                    .transpose()
                    .map_err(|e| syntax(source, line, e.to_string()))?;
                includes.push((path.to_string(), origin, line));
            }
        }
    }
    Ok(includes)
}

fn convert(
    record: &domain::zonefile::inplace::ScannedRecord,
    source: &str,
    line: usize,
) -> Result<Record, ConfigError> {
    let owner = Name::from_wire(record.owner().to_vec().as_slice()).map_err(|e| syntax(source, line, e.to_string()))?;
    let mut rdata = Vec::new();
    record
        .data()
        .compose_rdata(&mut rdata)
        .map_err(|_| syntax(source, line, "record data too long".into()))?;
    if rdata.len() > u16::MAX as usize {
        return Err(syntax(source, line, "record data longer than 65535 octets".into()));
    }
    Ok(Record {
        owner,
        rtype: record.rtype().to_int(),
        class: record.class().to_int(),
        ttl: record.ttl().as_secs(),
        rdata: rdata.into(),
    })
}

/// domain's errors read "LINE:COL: message"; re-point them at the source.
/// An error found after the scanner consumed the end of a line is reported
/// at column 1 of a later line; it belongs to the last line with content.
fn scanner_error(source: &str, zone_text: &str, text: &str, map_line: &impl Fn(usize) -> usize) -> ConfigError {
    let mut parts = text.splitn(3, ':');
    let (line, col, msg) = (parts.next(), parts.next(), parts.next());
    match (
        line.and_then(|l| l.trim().parse().ok()),
        col.and_then(|c| c.trim().parse().ok()),
        msg,
    ) {
        (Some(line), Some(column), Some(msg)) => {
            let line = if column == 1 {
                last_line_with_content(zone_text, line)
            } else {
                line
            };
            ConfigError::Syntax {
                location: super::error::Location {
                    file: source.into(),
                    line: map_line(line),
                    column,
                },
                message: format!("zone file: {}", msg.trim()),
            }
        }
        _ => ConfigError::Syntax {
            location: super::error::Location {
                file: source.into(),
                line: map_line(1),
                column: 1,
            },
            message: format!("zone file: {text}"),
        },
    }
}

/// The last line before `line` (1-based) that holds more than whitespace;
/// `line` itself if there is none.
fn last_line_with_content(text: &str, line: usize) -> usize {
    let lines: Vec<&str> = text.lines().take(line.saturating_sub(1)).collect();
    lines.iter().rposition(|l| !l.trim().is_empty()).map_or(line, |i| i + 1)
}

fn syntax(source: &str, line: usize, message: String) -> ConfigError {
    ConfigError::Syntax {
        location: super::error::Location {
            file: source.into(),
            line,
            column: 1,
        },
        message,
    }
}

/// Turns byte offsets into line numbers, scanning each byte once.
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The line of the last character before `offset` that is not
    /// whitespace: the end of the entry just read.
    fn line_before(&mut self, offset: usize) -> usize {
        let mut end = offset.min(self.text.len());
        while end > self.pos && self.text[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        if end > self.pos {
            self.line += self.text[self.pos..end].iter().filter(|&&c| c == b'\n').count();
            self.pos = end;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_with_their_lines() {
        let text = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n  IN NS ns1\nns1 IN A 127.0.0.1\n\nwww 60 IN AAAA ::1\n";
        let mut records = Vec::new();
        parse_text(
            text,
            &Name::parse("example.test").unwrap(),
            "t.zone",
            |l| l,
            &mut records,
        )
        .unwrap();
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.record.owner.to_string(), r.record.rtype, r.record.ttl, r.line))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("example.test.".into(), 6, 300, 2),
                ("example.test.".into(), 2, 300, 3),
                ("ns1.example.test.".into(), 1, 300, 4),
                ("www.example.test.".into(), 28, 60, 6),
            ]
        );
        assert_eq!(&records[2].record.rdata[..], &[127, 0, 0, 1]);
    }

    #[test]
    fn reports_the_line_of_a_bad_record() {
        let text = "@ IN SOA ns1 hostmaster 1 3600 600 604800 60\nwww IN A not-an-address\n";
        let err = parse_text(
            text,
            &Name::parse("example.test").unwrap(),
            "t.zone",
            |l| l,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("t.zone:2:"), "{err}");
    }

    #[test]
    fn reads_unknown_types_in_rfc3597_syntax() {
        let text = "x IN TYPE65280 \\# 3 abcdef\n";
        let mut records = Vec::new();
        parse_text(
            text,
            &Name::parse("example.test").unwrap(),
            "t.zone",
            |l| l,
            &mut records,
        )
        .unwrap();
        assert_eq!(records[0].record.rtype, 65280);
        assert_eq!(&records[0].record.rdata[..], &[0xab, 0xcd, 0xef]);
    }
}
