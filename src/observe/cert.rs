//! Days until a certificate expires: its `notAfter`, read straight from
//! the DER (RFC 5280 §4.1). Reading one field by hand keeps an X.509
//! parser and its dependency tree out of the binary.

/// Whole days from `now` to `not_after` (both Unix seconds), rounded
/// down: `-1` for a certificate that expired an hour ago.
pub(super) fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

/// The certificate's `notAfter` in Unix seconds, or `None` if the DER is
/// not shaped like a certificate.
///
/// ```text
/// Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
/// TBSCertificate ::= SEQUENCE { version [0] EXPLICIT OPTIONAL,
///     serialNumber, signature, issuer, validity Validity, ... }
/// Validity ::= SEQUENCE { notBefore Time, notAfter Time }
/// ```
pub(super) fn not_after(der: &[u8]) -> Option<i64> {
    let cert = expect(SEQUENCE, der)?;
    let tbs = expect(SEQUENCE, cert)?;
    let (tag, _, after_version) = tlv(tbs)?;
    let mut rest = if tag == VERSION { after_version } else { tbs };
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serialNumber, signature, issuer
    }
    let validity = expect(SEQUENCE, rest)?;
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, time, _) = tlv(after_not_before)?;
    parse_time(tag, time)
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: (tag, content, what follows). Definite lengths only,
/// as DER requires (X.690 §10.1).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

fn expect(tag: u8, input: &[u8]) -> Option<&[u8]> {
    match tlv(input)? {
        (t, content, _) if t == tag => Some(content),
        _ => None,
    }
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950-2049) or `YYYYMMDDHHMMSSZ`
/// (GeneralizedTime), the two forms RFC 5280 §4.1.2.5 allows.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = std::str::from_utf8(digits.get(range)?).ok()?;
        s.parse().ok()
    };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return None,
    };
    let field = |i: usize| number(rest + 2 * i..rest + 2 * i + 2);
    let (month, day) = (field(0)?, field(1)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let seconds = field(2)? * 3600 + field(3)? * 60 + field(4)?;
    Some(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring(year: i32, month: u8, day: u8) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2030, 1, 1) * 86_400, 1_893_456_000);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn reads_utc_time() {
        // 2030 is written as UTCTime (RFC 5280 §4.1.2.5).
        assert_eq!(not_after(&cert_expiring(2030, 6, 15)), Some(1_907_712_000));
    }

    #[test]
    fn reads_generalized_time() {
        assert_eq!(not_after(&cert_expiring(2100, 1, 1)), Some(4_102_444_800));
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        let der = cert_expiring(2030, 6, 15);
        assert_eq!(not_after(&der[..40]), None);
        assert_eq!(parse_time(UTC_TIME, b"301315000000Z"), None);
        assert_eq!(parse_time(UTC_TIME, b"3006150000+0Z"), None);
    }

    #[test]
    fn days_round_down() {
        assert_eq!(days_left(86_400 * 10, 0), 10);
        assert_eq!(days_left(86_400 * 10 - 1, 0), 9);
        assert_eq!(days_left(0, 3600), -1);
    }
}
