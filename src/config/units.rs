//! The grammars of values: the file's sizes (`64MB`, powers of 1024) and durations (`30s`),
//! numbers, booleans, and Redis's memory argument (`1gb` = 1024^3 but `1g` = 10^9), with the
//! formatting that reads back to the same value. The grammar itself is in the module docs
//! of [`crate::config`].

use std::time::Duration;

use super::InvalidValue;

pub(super) const KIB: u64 = 1024;
pub(super) const MIB: u64 = 1024 * KIB;
pub(super) const GIB: u64 = 1024 * MIB;
pub(super) const TIB: u64 = 1024 * GIB;

/// `<digits>[.<digits>]` split from its unit; fraction kept as num/den.
struct Number {
    int: u128,
    frac: u128,
    den: u128,
}

impl Number {
    /// `self * mult`, rounded down; `None` on overflow.
    fn scale(&self, mult: u128) -> Option<u128> {
        let whole = self.int.checked_mul(mult)?;
        let part = self.frac.checked_mul(mult)? / self.den;
        whole.checked_add(part)
    }

    fn has_fraction(&self) -> bool {
        self.frac != 0
    }
}

enum NumError {
    Syntax,
    Negative,
    TooLarge,
    TooPrecise,
}

impl NumError {
    /// What follows the quoted text in the error message.
    fn why(self) -> &'static str {
        match self {
            NumError::Syntax => "",
            NumError::Negative => ": must not be negative",
            NumError::TooLarge => ": too large",
            NumError::TooPrecise => ": at most 9 decimal places",
        }
    }
}

/// Splits `"1.5 GB"` into (1.5, "GB"). The unit must be ASCII letters.
fn split_number(text: &str) -> Result<(Number, &str), NumError> {
    let s = text.trim();
    if s.starts_with('-') {
        return Err(NumError::Negative);
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let unit = unit.trim_start();
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(NumError::Syntax);
    }
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    if int_part.is_empty() {
        return Err(NumError::Syntax);
    }
    let digits = |d: &str| -> Result<u128, NumError> {
        d.bytes().try_fold(0u128, |acc, b| {
            if !b.is_ascii_digit() {
                return Err(NumError::Syntax);
            }
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b - b'0')))
                .ok_or(NumError::TooLarge)
        })
    };
    let int = digits(int_part)?;
    let (frac, den) = match frac_part {
        None => (0, 1),
        Some("") => return Err(NumError::Syntax),
        // Bounded so scale() cannot overflow u128 for any unit we support.
        Some(f) if f.len() > 9 => return Err(NumError::TooPrecise),
        Some(f) => (digits(f)?, 10u128.pow(f.len() as u32)),
    };
    Ok((Number { int, frac, den }, unit))
}

/// Parses a byte size; see the module docs for the grammar.
pub fn parse_size(text: &str) -> Result<u64, InvalidValue> {
    let hint = "(use e.g. 512MB, 1GB)";
    let fail = |why: &str| InvalidValue(format!("invalid size '{text}'{why} {hint}"));
    let (num, unit) = split_number(text).map_err(|e| fail(e.why()))?;
    let mult = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => KIB,
        "M" | "MB" | "MIB" => MIB,
        "G" | "GB" | "GIB" => GIB,
        "T" | "TB" | "TIB" => TIB,
        _ => return Err(fail(": unknown unit")),
    };
    if mult == 1 && num.has_fraction() {
        return Err(fail(": fractional bytes"));
    }
    num.scale(u128::from(mult))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| fail(": too large"))
}

/// Parses a duration; see the module docs for the grammar.
pub fn parse_duration(text: &str) -> Result<Duration, InvalidValue> {
    let hint = "(use e.g. 500ms, 5s, 5m, 1h, 2d)";
    let fail = |why: &str| InvalidValue(format!("invalid duration '{text}'{why} {hint}"));
    let (num, unit) = split_number(text).map_err(|e| fail(e.why()))?;
    const NS_PER_SEC: u128 = 1_000_000_000;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3600 * NS_PER_SEC,
        "d" => 86_400 * NS_PER_SEC,
        _ => return Err(fail(": unknown unit")),
    };
    num.scale(mult)
        .and_then(|v| u64::try_from(v).ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| fail(": too large"))
}

/// Formats bytes with the largest unit that divides them exactly (`1GB`).
pub fn format_size(bytes: u64) -> String {
    for (mult, unit) in [(TIB, "TB"), (GIB, "GB"), (MIB, "MB"), (KIB, "KB")] {
        if bytes != 0 && bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    format!("{bytes}B")
}

/// Formats a duration with the largest unit that divides it exactly (`5m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ns", d.as_nanos());
    }
    for (mult, unit) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if ms != 0 && ms.is_multiple_of(mult) {
            return format!("{}{unit}", ms / mult);
        }
    }
    format!("{ms}ms")
}

pub(super) fn parse_bool(text: &str) -> Result<bool, InvalidValue> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(true),
        "false" | "no" | "off" => Ok(false),
        _ => Err(InvalidValue(format!(
            "invalid boolean '{text}' (expected true or false)"
        ))),
    }
}

pub(super) fn parse_uint<T: TryFrom<u64>>(text: &str) -> Result<T, InvalidValue> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(InvalidValue(format!("'{text}' must not be negative")));
    }
    let v: u64 = t.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            InvalidValue(format!("'{text}' is too large"))
        } else {
            InvalidValue(format!("invalid integer '{text}'"))
        }
    })?;
    T::try_from(v).map_err(|_| InvalidValue(format!("'{text}' is too large")))
}

pub(super) fn parse_port(text: &str) -> Result<u16, InvalidValue> {
    parse_uint(text).map_err(|_| InvalidValue(format!("invalid port '{text}' (expected 0-65535)")))
}

pub(super) fn parse_f64(text: &str) -> Result<f64, InvalidValue> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| InvalidValue(format!("invalid number '{text}'")))
}

/// `None` for "all nodes", otherwise a count (0 is rejected by validation).
pub(super) fn parse_replication_factor(text: &str) -> Result<Option<u32>, InvalidValue> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    parse_uint(text).map(Some)
}

/// Plain text, taken as written.
pub(super) fn text(s: &str) -> Result<String, InvalidValue> {
    Ok(s.to_owned())
}

/// Redis's memtoull, as CONFIG SET reads memory: "1gb" = 1024^3, "1g" = 10^9, plain = bytes.
pub fn parse_redis_memory(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::parse_redis_memory as parse_memory;
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("0", 0),
            ("1024", 1024),
            ("1B", 1),
            ("64kb", 64 * KIB),
            ("64K", 64 * KIB),
            ("2KiB", 2 * KIB),
            ("512MB", 512 * MIB),
            ("512 mb", 512 * MIB),
            ("1GB", GIB),
            ("1g", GIB),
            ("1.5GB", 3 * GIB / 2),
            ("0.5K", 512),
            ("2TB", 2 * TIB),
            ("+10", 10),
            ("16777215TB", 16_777_215 * TIB),
        ];
        for (text, want) in ok {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "abc",
            "-1",
            "-1GB",
            "1.5",
            "1.5B",
            "10XB",
            "GB",
            "1..5GB",
            "1.GB",
            ".5GB",
            "1e3",
            "1_000",
            "16777216TB",
            "99999999999999999999999",
            "1.0000000001GB",
            "1 G B",
        ] {
            let err = parse_size(bad).expect_err(bad);
            assert!(err.0.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
        assert!(parse_size("abc").unwrap_err().0.contains("512MB"));
        assert!(parse_size("-5").unwrap_err().0.contains("negative"));
        assert_eq!(parse_size(&u64::MAX.to_string()), Ok(u64::MAX));
        assert!(parse_size("18446744073709551616").is_err());
    }

    #[test]
    fn durations() {
        let ok = [
            ("0", Duration::ZERO),
            ("5", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("5s", Duration::from_secs(5)),
            ("5S", Duration::from_secs(5)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1.5h", Duration::from_secs(5400)),
            ("0.5", Duration::from_millis(500)),
            ("1.5ms", Duration::from_micros(1500)),
            ("10 s", Duration::from_secs(10)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "", "x", "-1", "-5s", "5w", "5 mins", "1h30m", "ms", "300000d", "1e3",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.0.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for v in [0, 1, 1000, KIB, 3 * GIB / 2, 512 * MIB, 2 * TIB] {
            assert_eq!(parse_size(&format_size(v)), Ok(v), "{v}");
        }
        assert_eq!(format_size(GIB), "1GB");
        for d in [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_secs(90),
            Duration::from_secs(3600),
            Duration::from_nanos(1),
            Duration::from_micros(1500),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(1500))),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn memory_values_follow_redis_units() {
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"1kb"), Some(1024));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"2GB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory(b"1x"), None);
        assert_eq!(parse_memory(b""), None);
    }
}
