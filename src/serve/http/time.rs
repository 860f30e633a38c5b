//! RFC 3339 timestamps in requests (`GET /v1/events?since=`): the whole
//! `date-time` of RFC 3339 §5.6, which the OpenAPI document promises,
//! numeric offsets and years before 1970 included (`humantime` reads only
//! UTC after the epoch). A time before the epoch is the epoch: no event is
//! older.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `T` and `Z` in either
/// case (RFC 3339 §5.6 NOTE).
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let b = text.as_bytes();
    let digits = |at: usize, n: usize| -> Result<i64, String> {
        let part = b.get(at..at + n).ok_or("too short")?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(format!("expected {n} digits at byte {at}"));
        }
        Ok(part.iter().fold(0, |v, d| v * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, what: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if what.contains(c) => Ok(()),
            _ => Err(format!("expected {} at byte {at}", String::from_utf8_lossy(what))),
        }
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    expect(4, b"-")?;
    expect(7, b"-")?;
    expect(10, b"Tt")?;
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    expect(13, b":")?;
    expect(16, b":")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date".into());
    }
    // Second 60 is a leap second (RFC 3339 §5.7): counted as 59.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day".into());
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        let end = b[at + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |p| at + 1 + p);
        if end == at + 1 {
            return Err("expected digits after the decimal point".into());
        }
        for (i, d) in b[at + 1..end].iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
        }
        at = end;
    }
    let offset = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            expect(at + 3, b":")?;
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if h > 23 || m > 59 {
                return Err("no such offset".into());
            }
            if sign == b'+' {
                h * 3600 + m * 60
            } else {
                -(h * 3600 + m * 60)
            }
        }
        _ => return Err("expected Z or an offset like +02:00 at the end".into()),
    };
    let seconds =
        crate::observe::cert::days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second.min(59)
            - offset;
    Ok(match u64::try_from(seconds) {
        Ok(s) => UNIX_EPOCH + Duration::new(s, nanos),
        Err(_) => UNIX_EPOCH,
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<f64, String> {
        parse_rfc3339(text).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64())
    }

    #[test]
    fn reads_utc_offsets_fractions_and_clamps_before_the_epoch() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), Ok(0.0));
        assert_eq!(secs("2026-01-02T03:04:05Z"), Ok(1767323045.0));
        assert_eq!(secs("2026-01-02t05:04:05.5+02:00"), Ok(1767323045.5));
        assert_eq!(secs("2026-01-01T23:04:05-04:00"), Ok(1767323045.0));
        assert_eq!(secs("2024-02-29T00:00:00z"), Ok(1709164800.0));
        assert_eq!(secs("2016-12-31T23:59:60Z"), Ok(1483228799.0));
        assert_eq!(secs("0080-07-09T01:36:13Z"), Ok(0.0));
        assert_eq!(secs("0000-01-01T00:00:00Z"), Ok(0.0));
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for bad in [
            "",
            "2026-01-02",
            "2026-01-02T03:04:05",
            "2026-13-02T03:04:05Z",
            "2023-02-29T00:00:00Z",
            "2026-01-02T24:00:00Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+2:00",
            "2026-01-02T03:04:05Zjunk",
            "2026-01-02 03:04:05Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
