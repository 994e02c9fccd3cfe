//! Number parsing and formatting with the exact rules of Redis 7.0.
//!
//! Integer parsing is pure Rust. Anything involving floating point goes
//! through `longdouble.c`, because exactness needs what Redis itself uses:
//! libc `strtod`/`strtold`, `snprintf`, and 80-bit `long double` arithmetic.
//! Those C routines read the "C" numeric locale: nothing in this process
//! may call `setlocale(LC_NUMERIC, ...)`.

use std::ffi::{c_char, c_double, c_int, c_longlong};

unsafe extern "C" {
    fn hc_ld_check(s: *const c_char, len: usize) -> c_int;
    fn hc_ld_incr(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_cap: usize,
    ) -> c_int;
    fn hc_ld_timeout_ms(s: *const c_char, len: usize, out: *mut c_longlong) -> c_int;
    fn hc_string2d(s: *const c_char, len: usize, out: *mut c_double) -> c_int;
    fn hc_strtod_lax(s: *const c_char, out: *mut c_double) -> c_int;
    fn hc_strtod_sort(s: *const c_char, out: *mut c_double) -> c_int;
    fn hc_fmt_g17(v: c_double, out: *mut c_char, cap: usize) -> c_int;
}

/// Redis `MAX_LONG_DOUBLE_CHARS`: long double inputs must be shorter, and
/// every formatted finite 80-bit value (at most ~4950 chars) fits.
const LD_MAX_CHARS: usize = 5 * 1024;

/// Redis `LONG_STR_SIZE`: longer inputs are never valid integers.
const LONG_STR_SIZE: usize = 21;

/// Redis `string2ll`: optional `-`, no `+`, no leading zeros, no spaces,
/// `"-0"` invalid, overflow invalid, at most 20 bytes.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// C `isspace` in the "C" locale.
#[inline]
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis `string2ull` (used for stream IDs): `string2ll`, and if that fails,
/// `strtoull` base 10 over the whole string. The fallback is lenient the way
/// libc is: leading whitespace, `+`, leading zeros, and a `-` that wraps
/// (`"-01"` is `u64::MAX`), though a plain negative like `"-1"` is rejected.
/// Redis passes a C string, so bytes from the first NUL on are ignored.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    let s = match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis `string2d` (`getDoubleFromObject`, e.g. ZADD scores): libc `strtod`
/// over the whole input, no leading whitespace, NaN rejected, overflow and
/// underflow-to-zero rejected. Accepts what strtod does: `inf`, `+inf`,
/// `-Infinity`, `1e5`, `.5`, `5.`, hex floats such as `0x1p3`.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    // strtod stops at a NUL, so such input can never be consumed whole.
    if s.is_empty() || s.contains(&0) {
        return None;
    }
    let mut out: f64 = 0.0;
    let ok = with_c_str(s, |p| {
        // SAFETY: p points to s.len() bytes followed by a NUL; out is valid.
        unsafe { hc_string2d(p, s.len(), &mut out) }
    });
    (ok == 1).then_some(out)
}

/// Redis `zslParseRange`'s number (score range bounds): libc `strtod` with no other check
/// than that it read up to the end of the C string (so up to a NUL byte, as Redis) and did
/// not give NaN — leading blanks, "" (0) and overflow (infinity) pass.
pub fn parse_f64_lax(s: &[u8]) -> Option<f64> {
    let s = s.split(|&b| b == 0).next().unwrap_or_default();
    let mut out: f64 = 0.0;
    let ok = with_c_str(s, |p| {
        // SAFETY: p points to a NUL-terminated copy of s; out is valid.
        unsafe { hc_strtod_lax(p, &mut out) }
    });
    (ok == 1).then_some(out)
}

/// SORT's numeric sort key: libc `strtod` over the C string (up to a NUL), refusing
/// leftovers, overflow, underflow and NaN.
pub fn parse_f64_sort(s: &[u8]) -> Option<f64> {
    let s = s.split(|&b| b == 0).next().unwrap_or_default();
    let mut out: f64 = 0.0;
    let ok = with_c_str(s, |p| {
        // SAFETY: p points to a NUL-terminated copy of s; out is valid.
        unsafe { hc_strtod_sort(p, &mut out) }
    });
    (ok == 1).then_some(out)
}

/// Runs `f` on a NUL-terminated copy of `s`.
fn with_c_str<R>(s: &[u8], f: impl FnOnce(*const c_char) -> R) -> R {
    let mut stack = [0u8; 128];
    if s.len() < stack.len() {
        stack[..s.len()].copy_from_slice(s);
        f(stack.as_ptr().cast())
    } else {
        let mut heap = Vec::with_capacity(s.len() + 1);
        heap.extend_from_slice(s);
        heap.push(0);
        f(heap.as_ptr().cast())
    }
}

/// Redis `string2ld` accepts `s` (what INCRBYFLOAT and blocking timeouts
/// parse): strtold rules, shorter than 5120 bytes, no leading whitespace,
/// whole input consumed, NaN / overflow / underflow-to-zero rejected,
/// infinities accepted.
pub fn ld_parse_check(s: &[u8]) -> bool {
    if s.is_empty() || s.len() >= LD_MAX_CHARS {
        return false;
    }
    // SAFETY: the C side copies at most len bytes from s.
    unsafe { hc_ld_check(s.as_ptr().cast(), s.len()) == 1 }
}

/// Why INCRBYFLOAT failed. Redis replies "ERR value is not a valid float"
/// for both of the first two, and "ERR increment would produce NaN or
/// Infinity" for the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    ValueNotFloat,
    IncrNotFloat,
    NanOrInf,
}

impl std::fmt::Display for IncrFloatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IncrFloatError::ValueNotFloat | IncrFloatError::IncrNotFloat => {
                "value is not a valid float"
            }
            IncrFloatError::NanOrInf => "increment would produce NaN or Infinity",
        })
    }
}

impl std::error::Error for IncrFloatError {}

/// INCRBYFLOAT exactly as Redis 7.0 on x86_64: both operands parsed as
/// `long double` (see [`ld_parse_check`]), added in 80-bit precision, and
/// the sum formatted "%.17Lf" with trailing zeros / dot removed and "-0"
/// turned into "0". `cur` is `None` when the key does not exist (taken as
/// 0). The current value is checked before the increment, like Redis.
/// The result can be thousands of bytes long (e.g. 3.5 + 1e400).
pub fn incr_by_float(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let (cur_ptr, cur_len) = match cur {
        Some(c) => (c.as_ptr().cast::<c_char>(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // Format on the stack so the returned Vec is only as big as the value.
    let mut out = [0u8; LD_MAX_CHARS];
    // SAFETY: inputs are valid for their lengths (cur may be NULL, meaning
    // missing); out has out.len() writable bytes.
    let n = unsafe {
        hc_ld_incr(
            cur_ptr,
            cur_len,
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        -1 => Err(IncrFloatError::ValueNotFloat),
        -2 => Err(IncrFloatError::IncrNotFloat),
        n if n >= 0 && n as usize <= out.len() => Ok(out[..n as usize].to_vec()),
        // -3, or -4 which cannot happen with a full-size buffer.
        _ => Err(IncrFloatError::NanOrInf),
    }
}

/// Blocking-command timeout given in seconds (BLPOP, BZPOPMIN, ...), as
/// Redis `getTimeoutFromObjectOrReply` converts it to milliseconds:
/// `(long long)ceill(value * 1000.0)` in long double. `None` means "ERR
/// timeout is not a float or out of range". A negative result (including
/// `i64::MIN` for out-of-range values and infinities, as on x86_64) means
/// "ERR timeout is negative"; 0 means block forever.
pub fn parse_timeout_secs_ms(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LD_MAX_CHARS {
        return None;
    }
    let mut out: c_longlong = 0;
    // SAFETY: the C side copies at most len bytes from s; out is valid.
    let ok = unsafe { hc_ld_timeout_ms(s.as_ptr().cast(), s.len(), &mut out) };
    (ok == 1).then_some(out)
}

/// Appends a double the way Redis 7.0 `addReplyDouble` writes it (the bulk
/// payload in RESP2, the part after ',' in RESP3): "%.17g", so 0.1 is
/// "0.10000000000000001", 1.0 is "1", -0.0 is "-0"; infinities are
/// "inf" / "-inf".
pub fn fmt_double(v: f64, out: &mut Vec<u8>) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: buf has buf.len() writable bytes.
    let n = unsafe { hc_fmt_g17(v, buf.as_mut_ptr().cast(), buf.len()) };
    // "%.17g" needs at most 24 bytes, so n is always in range.
    if let Ok(n) = usize::try_from(n) {
        out.extend_from_slice(&buf[..n.min(buf.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn i64_cases() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("10", 10),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_i64(s.as_bytes()), Some(v), "{s}");
        }
        let bad = [
            "",
            "-",
            "+1",
            "01",
            "-0",
            "00",
            " 1",
            "1 ",
            "1a",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "99999999999999999999",
            "000000000000000000001",
            "1.0",
            "0x10",
            "1\0",
        ];
        for s in bad {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn i64_roundtrip(v in any::<i64>()) {
            prop_assert_eq!(parse_i64(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn i64_never_panics(s in prop::collection::vec(any::<u8>(), 0..30)) {
            let _ = parse_i64(&s);
            let _ = parse_u64(&s);
            let _ = parse_f64(&s);
            let _ = ld_parse_check(&s);
            let _ = parse_timeout_secs_ms(&s);
            let _ = incr_by_float(Some(&s), &s);
        }

        #[test]
        fn i64_canonical_only(s in "-?[0-9]{1,21}") {
            let want = s.parse::<i64>().ok().filter(|v| v.to_string() == s);
            prop_assert_eq!(parse_i64(s.as_bytes()), want);
        }

        #[test]
        fn u64_matches_libc(s in "[ \t+-]{0,2}[0-9]{0,22}[ a]?") {
            prop_assert_eq!(parse_u64(s.as_bytes()), libc_string2ull(&s));
        }

        #[test]
        fn f64_matches_rust_for_plain_decimals(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let s = format!("{v:e}");
            prop_assert_eq!(parse_f64(s.as_bytes()), Some(v));
            let s = format!("{v}");
            prop_assert_eq!(parse_f64(s.as_bytes()), Some(v));
        }
    }

    /// Reference for Redis string2ull built on libc's own strtoull.
    fn libc_string2ull(s: &str) -> Option<u64> {
        if let Some(v) = parse_i64(s.as_bytes()) {
            return (v >= 0).then_some(v as u64);
        }
        let c = std::ffi::CString::new(s).unwrap();
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `c` is a NUL-terminated string alive for the call; strtoull sets `end` to a
        // position inside it; errno is this thread's.
        unsafe {
            *libc::__errno_location() = 0;
            let v = libc::strtoull(c.as_ptr(), &mut end, 10);
            let errno = *libc::__errno_location();
            if errno == libc::EINVAL || errno == libc::ERANGE || s.is_empty() || *end != 0 {
                return None;
            }
            Some(v)
        }
    }

    #[test]
    fn u64_cases() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"-01"), Some(u64::MAX));
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b" +007"), Some(7));
        assert_eq!(parse_u64(b"7 "), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b" "), None);
        assert_eq!(parse_u64(b"12\0junk"), Some(12));
    }

    #[test]
    fn f64_cases() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-0", -0.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+2", 2.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("0x1p3", 8.0),
            ("0X10", 16.0),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("-INF", f64::NEG_INFINITY),
            ("1e308", 1e308),
            ("4.9e-324", 4.9e-324),
            ("1e-310", 1e-310),
            ("0e-999999", 0.0),
            ("1.7976931348623157e308", f64::MAX),
        ];
        for &(s, v) in ok {
            let got = parse_f64(s.as_bytes()).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(got.to_bits(), v.to_bits(), "{s}");
        }
        let bad = [
            "", " 1", "1 ", "\t1", "nan", "NaN", "-nan", "1e309", "-1e309", "1e-400", "abc", "1e",
            "e1", "--1", "1\0", "0x", "inf ", "1,5", "1.5.5", "+", "-", ".",
        ];
        for s in bad {
            assert_eq!(parse_f64(s.as_bytes()), None, "{s:?}");
        }
        // Long inputs take the heap path.
        let long = format!("1.{}", "0".repeat(500));
        assert_eq!(parse_f64(long.as_bytes()), Some(1.0));
    }

    fn fmt(v: f64) -> String {
        let mut o = Vec::new();
        fmt_double(v, &mut o);
        String::from_utf8(o).unwrap()
    }

    /// (ZADD score, ZSCORE reply or None if ZADD rejected it) from
    /// redis-server 7.0.15 with skiplist encoding: ZADD parses with string2d,
    /// ZSCORE replies through addReplyDouble.
    #[rustfmt::skip]
    const REDIS_ZSCORE: &[(&str, Option<&str>)] = &[
        ("0.1", Some("0.10000000000000001")),
        ("0.2", Some("0.20000000000000001")),
        ("0.3", Some("0.29999999999999999")),
        ("1", Some("1")),
        ("1.0", Some("1")),
        ("-0", Some("-0")),
        ("0", Some("0")),
        ("1e300", Some("1.0000000000000001e+300")),
        ("1e308", Some("1e+308")),
        ("1.7976931348623157e308", Some("1.7976931348623157e+308")),
        ("inf", Some("inf")),
        ("-inf", Some("-inf")),
        ("+inf", Some("inf")),
        ("nan", None),
        ("1e-320", Some("9.9998886718268301e-321")),
        ("5e-324", Some("4.9406564584124654e-324")),
        ("4e-324", Some("4.9406564584124654e-324")),
        ("2e-324", None),
        ("1e-400", None),
        ("123456789012345678", Some("1.2345678901234568e+17")),
        ("0.381473541259765625", Some("0.38147354125976562")),
        ("0.5", Some("0.5")),
        ("2.5", Some("2.5")),
        ("1e16", Some("10000000000000000")),
        ("1e17", Some("1e+17")),
        ("1e21", Some("1e+21")),
        ("1e22", Some("1e+22")),
        ("-1.5", Some("-1.5")),
        ("3.14159265358979", Some("3.14159265358979")),
        ("0x1p-1074", Some("4.9406564584124654e-324")),
        ("0x1.fffffffffffffp1023", Some("1.7976931348623157e+308")),
        ("100", Some("100")),
        (" 1", None),
        ("1 ", None),
        ("", None),
        ("1e-7", Some("9.9999999999999995e-08")),
        ("0.0001", Some("0.0001")),
        ("1e-5", Some("1.0000000000000001e-05")),
        ("9007199254740993", Some("9007199254740992")),
        ("+947e1387", None),
        ("0719237020709425.5", Some("719237020709425.5")),
        ("47.09218", Some("47.092179999999999")),
        ("61.875", Some("61.875")),
        ("-0", Some("-0")),
        ("0.008", Some("0.0080000000000000002")),
        ("797420227097337034", Some("7.9742022709733709e+17")),
        ("+1.076491e-658", None),
        ("-0x1p3", Some("-8")),
        ("+899654403.99", Some("899654403.99000001")),
        ("-0.000000093", Some("-9.2999999999999999e-08")),
        ("+15.01602", Some("15.016019999999999")),
        ("+0.000000000004", Some("3.9999999999999999e-12")),
        ("-96789873717", Some("-96789873717")),
        (" 1", None),
        ("2.635620e4921", None),
        ("+128.25", Some("128.25")),
        ("9223372036854775100", Some("9.2233720368547748e+18")),
        ("132889024320", Some("132889024320")),
        ("+1e-4951", None),
        ("-06410e-1", Some("-641")),
        ("-.060698556352353036", Some("-0.060698556352353036")),
        ("099665930", Some("99665930")),
        ("-0.000000000000004", Some("-4.0000000000000003e-15")),
        ("+9223372036854775206", Some("9.2233720368547748e+18")),
        ("8.042149e4908", None),
        ("+77757e17", Some("7.7756999999999999e+21")),
        ("5.85291936728039457931e4925", None),
        ("-34e2115", None),
        ("-06679935843934994.5", Some("-6679935843934994")),
        ("90.35282792", Some("90.352827919999996")),
        ("60e-2208", None),
        ("-2537331501470106.5", Some("-2537331501470106.5")),
        ("-3.0938972779954166e-38", Some("-3.0938972779954166e-38")),
        ("+9223372036854775015", Some("9.2233720368547748e+18")),
        ("+43.875", Some("43.875")),
        ("8.88700830", Some("8.8870082999999997")),
        ("+3561016695621352", Some("3561016695621352")),
        ("92412483.98044827", Some("92412483.980448276")),
        ("-3.1305999075451e-496", None),
        ("93.5", Some("93.5")),
        ("-2.40808054114992601202", Some("-2.4080805411499262")),
        ("-96.829900", Some("-96.829899999999995")),
        (".49", Some("0.48999999999999999")),
        ("+42.375", Some("42.375")),
        ("+47454.28714", Some("47454.28714")),
        ("9.62115414997514224e-1369", None),
        ("-0.00000000029", Some("-2.8999999999999998e-10")),
        ("-1634136239", Some("-1634136239")),
        ("+618e1134", None),
        ("628243095179314769540564211251e-18", Some("628243095179.31482")),
        ("1.735136616407246e252", Some("1.7351366164072459e+252")),
        ("44124095.6736290845", Some("44124095.673629083")),
        ("-743605e-18", Some("-7.4360500000000004e-13")),
        ("-.5", Some("-0.5")),
        ("91.25", Some("91.25")),
        ("0.00000000000000000000000000008931835714114235", Some("8.9318357141142354e-29")),
        ("0.08061999361275342", Some("0.080619993612753418")),
        ("-4e159", Some("-3.9999999999999997e+159")),
        ("+9501589985180", Some("9501589985180")),
        ("-90.25", Some("-90.25")),
        ("8.321886260149996e-247", Some("8.3218862601499955e-247")),
        ("-5.349356894478416e-9", Some("-5.3493568944784156e-09")),
        ("+119.125", Some("119.125")),
        ("0.7", Some("0.69999999999999996")),
        ("+3e1956", None),
        ("086958787.5522967", Some("86958787.552296698")),
        ("-65037.3", Some("-65037.300000000003")),
        ("810.52", Some("810.51999999999998")),
        ("-.05504", Some("-0.055039999999999999")),
        ("-3.593", Some("-3.593")),
        ("-2.4811683924922710518e-3419", None),
        ("80.89", Some("80.890000000000001")),
        ("00.167", Some("0.16700000000000001")),
        ("0.000000000000000000081", Some("8.1000000000000005e-20")),
        ("6.67396e-3116", None),
        ("-0x1p3", Some("-8")),
        ("-33051", Some("-33051")),
        ("-9223372036854775180", Some("-9.2233720368547748e+18")),
        ("abc", None),
        ("+7.7", Some("7.7000000000000002")),
        ("3.829841379160450e-2192", None),
        ("0x1p3", Some("8")),
        ("-0.0000000000000007301638912162849", Some("-7.3016389121628488e-16")),
        ("+0.000966", Some("0.00096599999999999995")),
        ("0.0000000000000000007", Some("7.0000000000000003e-19")),
        ("-349915063265653966", Some("-3.4991506326565395e+17")),
        ("7725402.9849", Some("7725402.9848999996")),
        ("+0.000000000000000000000000005339860124813617", Some("5.3398601248136169e-27")),
        ("-1339.73169988271394336", Some("-1339.7316998827139")),
        ("6.41506e4915", None),
        ("-1.990913536361e4907", None),
        ("9887371530212489.5", Some("9887371530212490")),
        ("42770289932712", Some("42770289932712")),
        ("39.4", Some("39.399999999999999")),
        (".5", Some("0.5")),
        ("-0.000000000008", Some("-7.9999999999999998e-12")),
        ("-880.202", Some("-880.202")),
        ("6364215233890", Some("6364215233890")),
        ("-864575773938629668.5", Some("-8.6457577393862963e+17")),
        ("9650.0", Some("9650")),
        ("+4.882", Some("4.8819999999999997")),
        ("+2e906", None),
        ("-93e-821", None),
        ("171.875", Some("171.875")),
        ("9223372036854775441", Some("9.2233720368547758e+18")),
        ("1.65e4927", None),
        ("+3.438192784724e-3623", None),
        ("9223372036854775578", Some("9.2233720368547758e+18")),
        ("57194976435252", Some("57194976435252")),
        ("4.98", Some("4.9800000000000004")),
        ("0082342628306999514495e8", Some("8.2342628306999512e+27")),
        ("08e-572", None),
        ("-1.", Some("-1")),
        ("37036046237028", Some("37036046237028")),
        ("+7.774159543770202e4918", None),
        ("-1e5000", None),
        ("-7020595417332182375e-9", Some("-7020595417.3321819")),
        ("134.25", Some("134.25")),
        ("+5.51e-2489", None),
        ("-9223372036854775295", Some("-9.2233720368547748e+18")),
        ("+20", Some("20")),
        ("+3.233497219198096e162", Some("3.2334972191980959e+162")),
        ("+2.0", Some("2")),
        ("4.551737e-3468", None),
        ("+44.7", Some("44.700000000000003")),
        ("-1.499146e4909", None),
        ("-6.5738164e-1500", None),
        ("3.61606677731411e-200", Some("3.6160667773141099e-200")),
        ("-23", Some("-23")),
        ("-0", Some("-0")),
        ("+5.600369308740e4934", None),
        ("-1.3215266262058073e-23", Some("-1.3215266262058073e-23")),
        ("018.3453971108761", Some("18.3453971108761")),
        ("-726.207", Some("-726.20699999999999")),
        ("-4.3282740001e-3813", None),
        ("4e-1552", None),
        ("+84e-774", None),
        ("0.0000000000000000000000000000000000057876615054679285", Some("5.7876615054679285e-36")),
        ("2.178019797491984e125", Some("2.1780197974919841e+125")),
        ("1.2", Some("1.2")),
        ("3.70109e4921", None),
        ("36.65", Some("36.649999999999999")),
        ("0.0000000000000000000000000000000000000000000000000000000000001000573090945818", Some("1.0005730909458181e-61")),
        ("02.66", Some("2.6600000000000001")),
        ("419e-2013", None),
        ("+869.9", Some("869.89999999999998")),
        ("-7.976251703303823e-139", Some("-7.9762517033038226e-139")),
        ("2053024274192728", Some("2053024274192728")),
        ("-84.625", Some("-84.625")),
        ("914989007766562652.5", Some("9.1498900776656269e+17")),
        ("2645632772790274", Some("2645632772790274")),
        ("-00", Some("-0")),
        ("2.943860564051638e131", Some("2.9438605640516382e+131")),
        ("+11.25", Some("11.25")),
        ("-9223372036854775982", Some("-9.2233720368547758e+18")),
        ("7.08e-108", Some("7.0799999999999999e-108")),
        ("-9223372036854775428", Some("-9.2233720368547758e+18")),
        ("80.1", Some("80.099999999999994")),
        ("53195139046632399e11", Some("5.3195139046632395e+27")),
        ("-0.890790744048439e-2674", None),
        ("+708302108659921273.5", Some("7.0830210865992128e+17")),
        ("56220517046", Some("56220517046")),
        ("9223372036854775163", Some("9.2233720368547748e+18")),
        ("+0x1.8p-2", Some("0.375")),
        ("152.375", Some("152.375")),
        ("3.8693988e4904", None),
        ("-89.875", Some("-89.875")),
        ("6.5140263551e-2714", None),
        ("-9223372036854775363", Some("-9.2233720368547758e+18")),
        ("78.57781262", Some("78.577812620000003")),
        ("1.68192612e4918", None),
        ("-57125066881041363339654616337e-19", Some("-5712506688.1041365")),
        ("+3425.147169", Some("3425.1471689999998")),
        ("+5.380007969529825871371e-3939", None),
        ("+60.487", Some("60.487000000000002")),
        ("135.75", Some("135.75")),
        (".558242958902", Some("0.55824295890200004")),
        ("83e1590", None),
        ("-5.5730532923e-926", None),
        ("0.00000001652", Some("1.6519999999999998e-08")),
        ("-0.00000000842", Some("-8.4200000000000003e-09")),
        ("+55235.04", Some("55235.040000000001")),
        ("222.875", Some("222.875")),
    ];

    #[test]
    fn parse_and_format_match_redis() {
        for &(input, want) in REDIS_ZSCORE {
            assert_eq!(
                parse_f64(input.as_bytes()).map(fmt).as_deref(),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn double_format() {
        assert_eq!(fmt(0.1), "0.10000000000000001");
        assert_eq!(fmt(-0.0), "-0");
        assert_eq!(fmt(1e16), "10000000000000000");
        assert_eq!(fmt(1e17), "1e+17");
        assert_eq!(fmt(f64::INFINITY), "inf");
        assert_eq!(fmt(f64::NEG_INFINITY), "-inf");
    }

    fn incr(cur: Option<&str>, by: &str) -> Result<String, IncrFloatError> {
        incr_by_float(cur.map(str::as_bytes), by.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn incr_float_basic() {
        assert_eq!(incr(None, "1.5").unwrap(), "1.5");
        assert_eq!(incr(Some("10"), "0.1").unwrap(), "10.1");
        assert_eq!(incr(Some("0.1"), "0.2").unwrap(), "0.3");
        assert_eq!(incr(Some("abc"), "1"), Err(IncrFloatError::ValueNotFloat));
        assert_eq!(incr(Some("abc"), "x"), Err(IncrFloatError::ValueNotFloat));
        assert_eq!(incr(Some("1"), "x"), Err(IncrFloatError::IncrNotFloat));
        assert_eq!(incr(None, ""), Err(IncrFloatError::IncrNotFloat));
        assert_eq!(incr(Some(""), "1"), Err(IncrFloatError::ValueNotFloat));
        assert_eq!(incr(None, "inf"), Err(IncrFloatError::NanOrInf));
        assert_eq!(incr(Some("inf"), "-inf"), Err(IncrFloatError::NanOrInf));
        // 4950-ish digits: near the largest finite long double.
        let big = incr(None, "1.18973149535723176502e+4932").unwrap();
        assert!(big.len() > 4900 && big.starts_with("11897314953572317650"));
        let neg = incr(None, "-1.18973149535723176502e+4932").unwrap();
        assert_eq!(neg.len(), big.len() + 1);
        // Length limit of string2ld.
        let long = format!("1.{}", "0".repeat(5117));
        assert_eq!(long.len(), 5119);
        assert_eq!(incr(None, &long).unwrap(), "1");
        let too_long = format!("1.{}", "0".repeat(5118));
        assert_eq!(incr(None, &too_long), Err(IncrFloatError::IncrNotFloat));
        assert!(!ld_parse_check(too_long.as_bytes()));
        assert!(ld_parse_check(long.as_bytes()));
    }

    /// (current value or None for a missing key, increment, Redis reply),
    /// where a reply starting with "ERR" is an error. Every row was produced
    /// by redis-server 7.0.15 INCRBYFLOAT on x86_64.
    #[rustfmt::skip]
    const REDIS_INCR: &[(Option<&str>, &str, &str)] = &[
        (Some("10"), "0.1", "10.1"),
        (Some("0.1"), "0.2", "0.3"),
        (Some("5.0e3"), "2.0e2", "5200"),
        (Some("3.5"), "1e400", "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"),
        (Some("1e4932"), "1e4932", "ERR increment would produce NaN or Infinity"),
        (Some("1e4932"), "0", "1000000000000000000006018949387963891323837774254533114773785041352533019486608722407533327779433142773666525563666277682061860906440460336623416164931097542108653623739947237824273607755646282077337746770628281083461244709457643633409272844851420914666765408339856497738306756454137037618440476182982865954054046320908299555942321302503320602080070208203623921079151881460203745014774931620490030394998719312614654064081373493248877120892455186383753439197870978041502797716880193955403107721911638646256939484197293128160329482360996995779489224859264034146949087194820794222433687849284561987230134006305414553626323614864479565079390052761980633463640128979696615362545507608303960553830866145592644372289102918602696741767741297153998359263135897985849697638678310586803720024647593066044070323761747439375151949994191528876172274034561238465689530914002496208547488452249219821049217690359246594326188537200846025476936856707726986425804304053688317572380292690880454677852210458790733177421098965346383845533016192965653377533421097553773202105452559589360227732550843545717469715211293029277100649951579279463212875228768700827274629951331584994203243708412190948315614798641721054158397351395747758548328754270534225721361640356227816080094892433366902417454242382629232277544026609640255325557814321580325340352330660617642326696140257239552549121071985189443846777623334881929189773707008403466595204838733621633273383631944856989484138444978386656058755310848833689791896484998847550364264104800800578245511762594691161545730891319744107953897993101008217601269310629890308357893793344340072837782716410520818640099771094401772024731084835860689936533035726854175396195351768096519310944631445923638053214575993378468775292865871435742249777979822775014324475845899615096380079899099538453121043851821349178371736640702645304284254885437611441690360616466368202194307769462209963387690446576691969551571041941288302648912827345194286271122230347823246073498285153708579500062656222714954113329293953346495615947784091175883554988117167387650681525781361864450364992605079129770604793291076559668041153558254765774288831330658676910296506538343982699076824147706077401185501337053676875440863113630172067902223837838525802181406003942606507609826320015193807633035586661539150425605940691768637845815434184585255915074081317250319572700370579877977177644345205933505850374212779064837146242765034714569464306865784829936445754893825213995710137567750342556762329137973387913047300554841737506800154984198686923965286147079273203561004647365286049876790788288301130050437207489067798842078443360167772245834103629301041345252122743437501935254370757049878526838283810705343010153283985958550741661374001212323172562230037290597675029278865489570268803618001520280748588481858632332145422181524500970533738858652881625738158955840469334830106366243262210429210258173978186522208306814207038831590332622155464159216193005478809313772661406449321989529908990407599717265354887081027622412165764793106246309910984757869627982700885055259900973567128498437782671492610351088858271463387495833021819318548705558606395846070390500323204636339383655528123657438115225035433947543876805317781492691295772410403746456774175666884503175504415270824258750305653788473882671038340481278188648013647450190431469737277008003041204693859153544058059108384516541261521127088116402349679151317227395183628490922161336429757386698401928682323657056924758648793848799822907606679071280964393541325129231682456669123450140879120137931548652537601508656209183486928384515842973760163601756230697826779237275078471824258664382133759876151537532598429521999758431018087001817485300919479583171049967781322202936864648780744025361452947117776701129210049872555316467204668470989130203733391349501708713181244068921199587314823974568234174792429139799088587794666528769986602820375968045445209219875596678877912103336949894142378173648692130854177898020194629670311101994938157038765957014792056173739623614871557317714453597336202068774935086409386414223375141765601758268418764114651053088281009248246110195084364468926837572992870110411414878770616397817334529367403238061699632089293543118185299881280463481800696201966723511922556078483839325067415562633057448408746541808590342228476964416681055875561781810005936328191844815915658719683522845979901018335050006246392027657149580332319739660376707180429166280658258434773362764563277134220525779869893832824866422909928484939374964071386248088592408142723646533801882861736205992781965360090000802821408763787641023437653119263757280212773694655213507075717622521160227187157631635583682130089364682543007292042009976150135189415923413244100006421082817394988300265734422677548100741829682842668334472314928702968616204691717366798642916146473018363370523427203416579250811577900985980957404830019403600361860520985937973506956557739754741783354728589350876379371163141086538418113791886622720"),
        (Some("1e4933"), "0", "ERR value is not a valid float"),
        (Some("abc"), "1", "ERR value is not a valid float"),
        (Some(" 1"), "1", "ERR value is not a valid float"),
        (Some("1 "), "1", "ERR value is not a valid float"),
        (Some(""), "1", "ERR value is not a valid float"),
        (Some("1"), "abc", "ERR value is not a valid float"),
        (Some("1"), " 1", "ERR value is not a valid float"),
        (Some("1"), "1 ", "ERR value is not a valid float"),
        (Some("1"), "", "ERR value is not a valid float"),
        (Some("inf"), "0", "ERR increment would produce NaN or Infinity"),
        (Some("0"), "inf", "ERR increment would produce NaN or Infinity"),
        (Some("0"), "-inf", "ERR increment would produce NaN or Infinity"),
        (Some("0"), "nan", "ERR value is not a valid float"),
        (Some("1"), "NaN", "ERR value is not a valid float"),
        (Some("-0"), "0", "0"),
        (Some("0"), "-0", "0"),
        (None, "-0", "0"),
        (Some("9223372036854775807"), "1.5", "9223372036854775808"),
        (Some("1.5e-5"), "0", "0.000015"),
        (None, "1.5e-5", "0.000015"),
        (None, "1e-17", "0.00000000000000001"),
        (None, "1e-18", "0"),
        (None, "-1e-18", "0"),
        (None, "0.00000000000000000999", "0.00000000000000001"),
        (Some("1"), "1e-17", "1.00000000000000001"),
        (None, "0x1p3", "8"),
        (None, "0x1.8p-1", "0.75"),
        (None, "+1", "1"),
        (None, ".5", "0.5"),
        (None, "5.", "5"),
        (None, "1e", "ERR value is not a valid float"),
        (None, "infinity", "ERR increment would produce NaN or Infinity"),
        (None, "1e-4951", "ERR value is not a valid float"),
        (None, "1e-4940", "0"),
        (None, "1.18973149535723176502e+4931", "118973149535723176502126385303097020516906332229462420044032373389173700552297072261641029033652888285354569780749557731442744315367028843419812557385374367867359320070697326320191591828296152436552951064679108661431179063216977883889613478656060039914875343321145491116008867984515486651285234014977303760000912547939396622315138362241783854274391783813871780588948754057516822634765923557697480511372564902088485522249479139937758502601177354918009979622602685950855888360815984690023564513234659447638493985927645628457966177293040780660922910271504608538808795932778162298682754783076808004015069494230341172895777710033571401055977524212405734700738625166011082837911962300846927720096515350020847447079244384854591288672300061908512647211195136146752763351956292759795725027800298079590419313960302147099703527646744553092202267965628099149823208332964124103850923918473478612192169721054348428704835340811304257300221642134891734717423480071488075100206439051723424765600472176809648610799494341570347632064355862420744350442438056613601760883747816538902780957697597728686007148702828795556714140463261583262360276289631617397848425448686060994827086796804807870251185893083854658422304090880599629459458620190376604844679092600222541053077590106576067134720012584640695703025713896098375799892695455305236856075868317922311363951946885088077187210470520395758748001314313144425494391994017575316933939236688185618912993172910425292123683515992232205099800167710278403536014082929639811512287776813570604578934353545169653956125404884644716978689321167108722908808277835051822885764606221873970285165508372099234948333443522898475123275372663606621390228126470623407535207172405866507951821730346378263135339370677490195019784169044182473806316282858685774143258116536404021840272491339332094921949842244273042701987304453662035026238695780468200360144729199712309553005720614186697485284685618651483271597448120312194675168637934309618961510733006555242148519520176285859509105183947250286387163249416761380499631979144187025430270675849519200883791516940158174004671147787720145964446117520405945350476472180797576111172084627363927960033967047003761337450955318415007379641260504792325166135484129188421134082301547330475406707281876350361733290800595189632520707167390454777712968226520622565143991937680440029238090311243791261477625596469422198137514696707944687035800439250765945161837981185939204954403611491531078225107269148697980924094677214272701240437718740921675661363493890045123235166814608932240069799317601780533819184998193300841098599393876029260139091141452600372028487213241195542428210183120421610446740462163533690058366460659115629876474552506814500393294140413149540067760295100596225302282300363147382468105964844244132486457313743759509641616804802412935187620466813563687753281467553879887177183651289394719533506188500326760735438867336800207438784965701457609034985757124304510203873049485425670247933932280911052604153852899484920399109194612991249163328991799809438033787952209313146694614970593966415237594928589096048991612194498998638483702248667224914892467841020618336462741696957630763248023558797524525373703543388296086275342774001633343405508353704850737454481975472222897528108302089868263302028525992308416805453968791141829762998896457648276528750456285492426516521775079951625966922911497778896235667095662713848201819134832168799586365263762097828507009933729439678463987902491451422274252700636394232799848397673998715441855420156224415492665301451550468548925862027608576183712976335876121538256512963353814166394951655600026415918655485005705261143195291991880795452239464962763563017858089669222640623538289853586759599064700838568712381032959192649484625076899225841930548076362021508902214922052806984201835084058693849381549890944546197789302911357651677540623227829831403347327660395223160342282471752818181884430488092132193355086987339586127607367086665237555567580317149010847732009642431878007000879734603290627894355374356444885190719161645514115576193939969076741515640282654366402676009508752394550734155613586793306603174472092444651353236664764973540085196704077110364053815007348689179836404957060618953500508984091382686953509006678332447257871219660441528492484004185093281190896363417573989716659600075948780061916409485433875852065711654107226099628815012314437794400874930194474433078438899570184271000480830501217712356062289507626904285680004771889315808935851559386317665294808903126774702966254511086154895839508779675546413794489596052797520987481383976257859210575628440175934932416214833956535018919681138909184379573470326940634289008780584694035245347939808067427323629788710086717580253156130235606487870925986528841635097252953709111431720488774740553905400942537542411931794417513706468964386151771884986701034153254238591108962471088538580868883777725864856414593426212108664758848926003176234596076950884914966244415660441955208681198977024"),
        (Some("3.0e3"), "1.0e3", "4000"),
        (Some("1.1"), "2.2", "3.3"),
        (Some("-1.5"), "1.5", "0"),
        (Some("100"), "-100.000000000000000001", "0"),
        (None, "12345678901234567890.123", "12345678901234567890"),
        (Some("17179869184"), "0.1", "17179869184.09999999962747097"),
        (Some("-37172877263589378.5"), "+38.2075961410", "-37172877263589340.29296875"),
        (Some("+86897.4129173"), "5.5626048986e-1118", "86897.4129172999999966"),
        (Some("913736611"), "+161", "913736772"),
        (Some("-9364197.73211544"), "0e1457", "-9364197.73211543999968853"),
        (Some("-3.396658722058947e-216"), "-0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000008558970709649602", "0"),
        (Some("+351296994e1"), "+9223372036854775645", "9223372040367745585"),
        (Some("+528"), ".5868064454529664384", "528.58680644545296645"),
        (None, "-10.5", "-10.5"),
        (Some("-"), "+57122989157617", "ERR value is not a valid float"),
        (None, "00", "0"),
        (Some("0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000608728784782373"), "-0.7036672418388869e4933", "ERR value is not a valid float"),
        (None, "+9223372036854775874", "9223372036854775874"),
        (Some("1748.9289540454"), "6.0", "1754.92895404540000004"),
        (None, "7.200811587", "7.200811587"),
        (Some("+193530.6308"), "-86587e16", "-865869999999999806464"),
        (Some("3565996848047e11"), "-994434048.000406", "356599684804699005550592"),
        (Some("33.375"), "6.460", "39.835"),
        (None, "-4617565124e-18", "-0.00000000461756512"),
        (Some("2.384510204673311e-44"), "6.6174e-530", "0"),
        (None, "-5", "-5"),
        (Some("--8.466374471055701e18"), "+.600053186", "ERR value is not a valid float"),
        (Some("+2.409280863"), "+0.0000000000000000000000000000005865890307105888", "2.409280863"),
        (Some("5.773675221884e-1776"), "4.75", "4.75"),
        (Some("9223372036854775107"), "-9223372036854775325", "-218"),
        (Some("873e-1016"), "8.89393200106052781e-592", "0"),
        (Some("+352879e-18"), "0.0000000000000000000000000000000000000000009532835180716443", "0.00000000000035288"),
        (Some("-8.697074892"), "44.375", "35.677925108"),
        (Some("9223372036854775073"), "9.5411e-3803", "9223372036854775073"),
        (Some("046.4"), "+inf", "ERR increment would produce NaN or Infinity"),
        (Some("-127"), "-7.11150276334821169e-2767", "-127"),
        (Some("88e-6"), "3026.2383594", "3026.23844740000000009"),
        (Some("57.625"), "+6.572270672870051362e-4807", "57.625"),
        (Some("-1.406694748951541e-157"), "5.5315775e-2177", "0"),
        (Some("+9.35"), "-869440617386048111733e-18", "-860.09061738604811176"),
        (Some("7732e-1"), "9223372036854775767", "9223372036854776540"),
        (Some("42"), "6199.8401451207", "6241.84014512069999991"),
        (None, "17649e-10", "0.0000017649"),
        (None, "-07.0242159", "-7.0242159"),
        (Some("+0.3e-812"), "+246.875", "246.875"),
        (None, "652318766503689169133629396546e12", "652318766503689169145721494783629914537984"),
        (Some("+25567017640729e-14"), "80891536095245703.5", "80891536095245703.7578125"),
        (Some(""), "+0.000000000000000000000000000000000000000000000000000000010385960269282908", "ERR value is not a valid float"),
        (Some("9.5366293e-3367"), "-291.2", "-291.20000000000000001"),
        (Some("-1132.86267964438883949"), "58.73", "-1074.1326796443888395"),
        (Some("inf"), "INF", "ERR increment would produce NaN or Infinity"),
        (Some("+9.75"), "+51089389824", "51089389833.75"),
        (Some("4436824.8624726916"), "+32258.6271", "4469083.48957269160018768"),
        (Some("-0.0000000018"), "-45.57952", "-45.5795200018"),
        (Some("-252.7352824082"), "0.000232", "-252.73505040820000001"),
        (Some("1624601299903434.5"), "0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000013322279859321766", "1624601299903434.5"),
        (Some("+1022238961468760225.5"), "+6.6089182946e-4950", "1022238961468760225.5"),
        (Some("-1e5000"), "-2.4066584045204202e-117", "ERR value is not a valid float"),
        (Some("-5.2098244033003557588191e4933"), "+9.216425150e-4130", "ERR value is not a valid float"),
        (Some("+4.8876475e-2625"), "-48e-1460", "0"),
        (Some("95.385"), "+484.865", "580.25"),
        (Some("-135.25"), "679.8", "544.54999999999999999"),
        (Some("-0.000000382"), "5233819891126218.5", "5233819891126218.5"),
        (Some("+169.875"), "+2.4389199648161553e-193", "169.875"),
        (None, "8.79903432395335564555789e-4333", "0"),
        (Some("2.8839034905916e-4765"), "-3.8786250060407179", "-3.8786250060407179"),
        (Some("+956.7"), "7e-1943", "956.70000000000000001"),
        (None, "+9223372036854775547", "9223372036854775547"),
        (None, "+-3.244941290217939e-26", "ERR value is not a valid float"),
        (None, "--3.5723843433196074e211", "ERR value is not a valid float"),
        (Some("-9223372036854775529"), "1.21008500061184e-262", "-9223372036854775529"),
        (None, "-1.639896847750e-635", "0"),
        (Some("315620695942641e12"), "-0.0008", "315620695942640999988199424"),
        (Some("8.8435628744449"), "239333", "239341.84356287444489908"),
        (Some("-867.0"), "9223372036854775063", "9223372036854774196"),
        (Some("+6.7975377e4936"), "+9223372036854775935", "ERR value is not a valid float"),
        (None, "+9.3", "9.3"),
        (Some("0.000000004166"), "+0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000005398219510240102", "0.000000004166"),
        (Some("+0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000011501106793479026"), "-2.4", "-2.4"),
        (Some("+9223372036854775037"), "21.18", "9223372036854775058"),
        (None, "+5.49124145044057585e-1649", "0"),
        (Some("+NaN"), "0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000012738774154181089", "ERR value is not a valid float"),
        (Some("16829"), "+1.2", "16830.19999999999999929"),
        (None, "9110393407.101357", "9110393407.1013569999486208"),
        (None, "+0.000000000000000000000000000000000000000000000000000012128716067758206", "0"),
        (Some("0.000000077"), "-1110341392222001e-19", "-0.0001109571392222"),
        (None, "-9223372036854775541", "-9223372036854775541"),
        (None, "2e-2318", "0"),
        (Some("-174.25"), "0.0000000005452", "-174.2499999994548"),
        (None, "-9223372036854775585", "-9223372036854775585"),
        (None, "190.125", "190.125"),
        (Some("9.602e-1835"), "--9.485230772234451e111", "ERR value is not a valid float"),
        (None, "486.6", "486.60000000000000001"),
        (Some("038130.019513741"), "64307235536817541.5", "64307235536855671.51953125"),
        (None, "0x1.8p-2", "0.375"),
        (Some("+2127436.279233"), "9223372036854775275", "9223372036856902711"),
        (Some("+2.5"), "+9223372036854775829", "9223372036854775832"),
        (None, "+91e-1602", "0"),
        (Some("-43.2976532"), "+0.0000005020", "-43.297652698"),
        (Some("+954.5420"), "+245", "1199.54200000000000004"),
        (Some("-81638688837627349.5"), "0.000000000000000000000000000000000000000000003932880654179384", "-81638688837627349.5"),
        (None, "70145524896162155.5", "70145524896162155.5"),
        (Some("+57"), "9.23824355856628553e-3864", "57"),
        (Some("-1.2491965966096248e-202"), "296.5", "296.5"),
        (Some("+-5.910823265140589e-269"), "0.000000000000005500", "ERR value is not a valid float"),
        (Some("+06.9173688994036"), "50905254.7822633511", "50905261.69963225050378242"),
        (Some("-.5"), "129.1163373105", "128.6163373105"),
        (Some("+133.125"), "-0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002092363646982405", "133.125"),
        (Some("-."), "2311916151222341.5", "ERR value is not a valid float"),
        (Some("0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000007729761189870615"), "+9525789750497893e7", "95257897504978929999872"),
        (Some("0.0051"), "+0.07e-3302", "0.0051"),
        (None, "9223372036854775373", "9223372036854775373"),
        (None, "78953325481514141", "78953325481514141"),
        (Some("8444090346e17"), "-9223372036854775802", "844409025376627963176419328"),
        (None, "+11.57439709", "11.57439709"),
        (Some("5269943909924489.5"), "3786526962959552906", "3791796906869477395.5"),
        (Some("-2e-8"), "50e-1976", "-0.00000002"),
        (None, "+20.875", "20.875"),
        (None, "0.000000000014", "0.000000000014"),
        (Some("1e-5000"), "-9364751764333554038.5", "ERR value is not a valid float"),
        (Some("004160.1127678855"), "-1.366", "4158.74676788549999973"),
        (Some("243.625"), "2.0311364481718048e98", "203113644817180480005625001488087832556682565402012946092668200422096103410331748475756838209454080"),
        (Some("+0.0000000000000078"), "221.25", "221.2500000000000078"),
        (Some("-51565810128032381.5"), "+-6.898497644069613e-16", "ERR value is not a valid float"),
        (Some("5042419047970949.5"), "+9223372036854775603", "9228414455902746552"),
        (Some("22e1939"), "3.846328425607e4938", "ERR value is not a valid float"),
        (Some("9223372036854775784"), "+0.000003", "9223372036854775784"),
        (Some("--1.458397192625312e301"), "8953.460993162", "ERR value is not a valid float"),
        (None, "56.375", "56.375"),
        (Some("-80048174864283e-16"), "0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000027378184950825292", "-0.0080048174864283"),
        (Some("-9223372036854775804"), "591234042416", "-9223371445620733388"),
        (Some("-7.235632821813432e-135"), "0", "0"),
        (Some("0.007"), "+4.e4934", "ERR value is not a valid float"),
        (Some("-1e-5000"), "0.000000274", "ERR value is not a valid float"),
        (Some("9223372036854775247"), "+7.78296e-3585", "9223372036854775247"),
        (Some("9223372036854775087"), "-49388776283633673065454287046e10", "-493887762836336730637851234455689101312"),
        (Some("+710740233"), "9223372036854775063", "9223372037565515296"),
        (Some("098.794"), "7.3950415989987e-3802", "98.794"),
        (Some(".313657572"), "-0x1p3", "-7.686342428"),
        (Some("9.16762202994e-1400"), "0.000000000073", "0.000000000073"),
        (None, "-0.000000000000000000000000000000000000000000000000000000000000000000000000000000000008912194159103882", "0"),
        (Some("+9223372036854775681"), "16.09545451", "9223372036854775697"),
        (None, "+1464913.9472137310", "1464913.94721373100003348"),
        (None, "0.000000005", "0.000000005"),
        (Some("0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000413368884572414"), "+9223372036854775222", "9223372036854775222"),
        (Some("-1e"), "-0.000000000000000000259", "ERR value is not a valid float"),
        (None, "1\t", "ERR value is not a valid float"),
        (Some("+5.2679145e-2679"), "-1e-4951", "ERR value is not a valid float"),
        (Some("-3.779"), "7987", "7983.22100000000000009"),
        (Some("nan"), "+0.89", "ERR value is not a valid float"),
        (None, "32", "32"),
        (Some("-742e-15"), "7835872e13", "78358720000000000000"),
        (Some("-126670799735"), "+118", "-126670799617"),
        (Some("0.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000015380400374939038"), "-784805.32583", "-784805.32582999999999629"),
        (Some("7700335973570476418.5"), "+858276039255728272.5", "8558612012826204691"),
        (Some("47e-1512"), "+74680232304783", "74680232304783"),
        (Some("+055453891922143440.5"), "-408518546176747625.5", "-353064654254604185"),
        (None, "081390", "81390"),
        (None, "49039.17647488", "49039.17647488000000067"),
        (Some("2369889283108"), "-0.000000000000000000000000000000000000000000000000018294587661744513", "2369889283108"),
        (Some("+0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000004482842798521758"), "9223372036854775438", "9223372036854775438"),
        (Some("-0.000000000"), "3467972214037256.5", "3467972214037256.5"),
        (Some("0.1078550954639620306e-2992"), "9223372036854775600", "9223372036854775600"),
        (Some("35.1423771711068592"), "+484.005879155911255", "519.1482563270181142"),
        (Some("2.05e-987"), "+0045252605319690.5", "45252605319690.5"),
        (Some("5.5064410544366709e4901"), "+5.923237410166619e4936", "ERR value is not a valid float"),
        (Some("-09442716"), "9223372036854775982", "9223372036845333266"),
        (Some("-31.2"), "6.620237282715618e-2413", "-31.2"),
        (Some("94.21570929318034300"), "18308278292900359566291173291e-8", "183082782929003595760"),
        (Some("0.97812824545181e-293"), "9951.31632863806467533307", "9951.31632863806467526"),
        (Some("-16.90"), "0.000000000032", "-16.899999999968"),
        (Some("-54915.877115194"), "083008493897340219923e19", "830084938973402199240020860655785476096"),
        (Some("-802e-2063"), "1567544426277138.5", "1567544426277138.5"),
        (Some("+5.967344824192951e-2203"), "+-5.377492716992541e-74", "ERR value is not a valid float"),
        (None, "-48262861241132577.5", "-48262861241132577.5"),
        (Some("02.2058659354241"), "+inf", "ERR increment would produce NaN or Infinity"),
        (Some("972852832386"), "9223372036854775249", "9223373009707607635"),
        (Some("9.03060611435098e-4135"), "+724249750450596407951e-3", "724249750450596407.9375"),
        (Some("+6.623083486663477e4936"), "-6856340e-8", "ERR value is not a valid float"),
        (Some("+3.948175365920741479054e-3225"), "-42e-1186", "0"),
        (Some("7.855e-2431"), "146987774183994822", "146987774183994822"),
        (None, "+244.375", "244.375"),
        (None, "-9.568191361420e-4534", "0"),
        (None, "9223372036854775261", "9223372036854775261"),
        (Some("+55.378"), "00495924758550804070e17", "49592475855080407000634719377293312"),
        (Some("796.9"), "9223372036854775460", "9223372036854776257"),
        (Some("-6.02475837504281617e-2077"), "4.84", "4.84"),
        (Some("+018312.32"), "+1e-4951", "ERR value is not a valid float"),
        (Some(".7948916021"), "--2.7232134790117584e277", "ERR value is not a valid float"),
        (Some("0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006307902863723112"), "-1005414.586324891", "-1005414.58632489100000384"),
        (Some("+1e5000"), "3.3349148055e4902", "ERR value is not a valid float"),
        (Some("-9223372036854775250"), "073115.40", "-9223372036854702134.5"),
        (Some("9223372036854775179"), "+0.000000000458", "9223372036854775179"),
        (Some("+1750536615169079"), "+75.25", "1750536615169154.25"),
        (Some("753.97"), "-55177193.318", "-55176439.34799999999813735"),
        (Some("+8789991982434379593.5"), "+9223372036854775367", "18013364019289154960"),
        (None, "948.5", "948.5"),
        (Some("104.25"), "+-1.048249977226896e39", "ERR value is not a valid float"),
    ];

    #[test]
    fn incr_float_matches_redis() {
        for &(cur, by, want) in REDIS_INCR {
            let got = match incr(cur, by) {
                Ok(s) => s,
                Err(e) => format!("ERR {e}"),
            };
            assert_eq!(got, want, "{cur:?} + {by:?}");
        }
    }

    #[test]
    fn timeouts() {
        // Confirmed with BLPOP on redis-server 7.0.15.
        assert_eq!(parse_timeout_secs_ms(b"0"), Some(0));
        assert_eq!(parse_timeout_secs_ms(b"1.5"), Some(1500));
        assert_eq!(parse_timeout_secs_ms(b"0.0001"), Some(1));
        assert_eq!(parse_timeout_secs_ms(b"-0.0001"), Some(0));
        assert_eq!(parse_timeout_secs_ms(b"-1"), Some(-1000));
        assert_eq!(parse_timeout_secs_ms(b"inf"), Some(i64::MIN));
        assert_eq!(parse_timeout_secs_ms(b"-inf"), Some(i64::MIN));
        assert_eq!(parse_timeout_secs_ms(b"1e300"), Some(i64::MIN));
        assert_eq!(parse_timeout_secs_ms(b"0x1p-20"), Some(1));
        assert_eq!(parse_timeout_secs_ms(b" 1"), None);
        assert_eq!(parse_timeout_secs_ms(b""), None);
        assert_eq!(parse_timeout_secs_ms(b"1e-5000"), None);
        assert_eq!(parse_timeout_secs_ms(b"nan"), None);
    }
}
