//! Glob-style matching with the exact semantics of Redis 7.0 `stringmatchlen`
//! (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE ...).
//!
//! Redis's matcher is recursive at every `*`, but together with its
//! `skipLongerMatches` pruning only the innermost `*` can ever be resumed:
//! once a deeper `*` is reached the outcome is final (it either matches or it
//! proves no match exists). That is the classic single-backtrack-point glob, so
//! this runs iteratively in O(len(pattern) * len(s)) with no recursion, which
//! keeps hostile patterns from exhausting the stack.
//!
//! Quirks kept on purpose, because clients can observe them:
//! - an empty string matches only the empty pattern (`*` does not match `""`;
//!   Redis's callers special-case the pattern `*` before calling);
//! - inside `[...]`, `\x` compares `x` case-sensitively even with `nocase`;
//! - range bounds compare as C `char`, i.e. signed: bytes >= 0x80 sort below 0;
//! - `[a-]` takes `]` as the range end, so the class continues past it;
//! - an unterminated `[...` is a class of what follows; a trailing lone `\`
//!   is a literal backslash.

/// Byte at `i`, or 0 past the end: Redis reads the sds NUL terminator there.
#[inline]
fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// C `tolower` in the "C" locale (Redis only sets LC_COLLATE), on a value
/// that came from a signed `char`.
#[inline]
fn c_lower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// Matches the single non-`*` token at `pat[p..]` against `c`.
/// Returns whether it matched and the index just past the token. How far the
/// token extends never depends on `c`.
fn match_token(pat: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let plen = pat.len();
    match pat[p] {
        b'?' => (true, p + 1),
        b'[' => {
            let mut i = p + 1;
            let not = at(pat, i) == b'^';
            if not {
                i += 1;
            }
            let mut matched = false;
            loop {
                // Invariant: i <= plen.
                let rem = plen - i;
                if at(pat, i) == b'\\' && rem >= 2 {
                    i += 1;
                    if pat[i] == c {
                        matched = true;
                    }
                } else if at(pat, i) == b']' {
                    break;
                } else if rem == 0 {
                    // Unterminated class: Redis steps back one so that the
                    // common "advance past token" lands exactly at the end.
                    i -= 1;
                    break;
                } else if rem >= 3 && pat[i + 1] == b'-' {
                    let mut start = pat[i] as i8 as i32;
                    let mut end = pat[i + 2] as i8 as i32;
                    let mut ch = c as i8 as i32;
                    if start > end {
                        std::mem::swap(&mut start, &mut end);
                    }
                    if nocase {
                        start = c_lower(start);
                        end = c_lower(end);
                        ch = c_lower(ch);
                    }
                    i += 2;
                    if ch >= start && ch <= end {
                        matched = true;
                    }
                } else if nocase {
                    if pat[i].eq_ignore_ascii_case(&c) {
                        matched = true;
                    }
                } else if pat[i] == c {
                    matched = true;
                }
                i += 1;
            }
            (matched != not, i + 1)
        }
        b'\\' => {
            let q = if plen - p >= 2 { p + 1 } else { p };
            (lit_eq(pat[q], c, nocase), q + 1)
        }
        other => (lit_eq(other, c, nocase), p + 1),
    }
}

#[inline]
fn lit_eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Redis `stringmatchlen(pattern, s, nocase)`. Binary safe; never panics;
/// O(len(pattern) * len(s)) worst case.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let plen = pattern.len();
    let slen = s.len();
    let mut p = 0usize;
    let mut si = 0usize;
    // (pattern index after the innermost `*`, string index it was tried at).
    let mut star: Option<(usize, usize)> = None;

    loop {
        // One attempt: run until the pattern or the string runs out, or a
        // token fails (`ok == false`).
        let mut ok = true;
        while p < plen && si < slen {
            if pattern[p] == b'*' {
                while p + 1 < plen && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == plen {
                    return true;
                }
                p += 1;
                star = Some((p, si));
                continue;
            }
            let (m, next) = match_token(pattern, p, s[si], nocase);
            if !m {
                ok = false;
                break;
            }
            p = next;
            si += 1;
            if si == slen {
                while at(pattern, p) == b'*' {
                    p += 1;
                }
                break;
            }
        }
        if ok && p == plen && si == slen {
            return true;
        }
        // Retry the rest after the innermost `*` one byte later; the `*`
        // never tries the empty suffix, and when it runs out nothing can match.
        match star {
            Some((sp, ss)) if ss + 1 < slen => {
                star = Some((sp, ss + 1));
                p = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Instant;

    /// Literal transcription of Redis's recursive algorithm (structure, not
    /// code), including the `skipLongerMatches` flag when `prune` is set.
    fn reference(pat: &[u8], s: &[u8], nocase: bool, prune: bool) -> bool {
        fn rec(
            pat: &[u8],
            mut p: usize,
            s: &[u8],
            mut si: usize,
            nocase: bool,
            prune: bool,
            skip: &mut bool,
        ) -> bool {
            while p < pat.len() && si < s.len() {
                if pat[p] == b'*' {
                    while p + 1 < pat.len() && pat[p + 1] == b'*' {
                        p += 1;
                    }
                    if p + 1 == pat.len() {
                        return true;
                    }
                    while si < s.len() {
                        if rec(pat, p + 1, s, si, nocase, prune, skip) {
                            return true;
                        }
                        if prune && *skip {
                            return false;
                        }
                        si += 1;
                    }
                    *skip = true;
                    return false;
                }
                let (m, next) = match_token(pat, p, s[si], nocase);
                if !m {
                    return false;
                }
                p = next;
                si += 1;
                if si == s.len() {
                    while at(pat, p) == b'*' {
                        p += 1;
                    }
                    break;
                }
            }
            p == pat.len() && si == s.len()
        }
        let mut skip = false;
        rec(pat, 0, s, 0, nocase, prune, &mut skip)
    }

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("*", "abc"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("*a", "a"));
        assert!(m("a*b", "ab"));
        assert!(m("a*b", "axxb"));
        assert!(!m("a*b", "axxbc"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\", "a\\"));
        assert!(m("\\", "\\"));
        assert!(!m("[", "["));
        assert!(m("[^", "x"));
        assert!(m("[abc", "b"));
        assert!(!m("[]]", "]"));
        assert!(!m("[]", "]"));
        assert!(m("[a-]x", "]"));
        assert!(m("[\\]]", "]"));
        assert!(!m("[\\]]", "]]"));
        assert!(m("[\\", "\\"));
    }

    #[test]
    fn nocase_rules() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-Z]llo", b"hello", true));
        assert!(!glob_match(b"h[\\E]llo", b"hello", true));
        assert!(glob_match(b"h[E]llo", b"hello", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
    }

    #[test]
    fn signed_char_ranges() {
        // 'a'..=0xff is, as signed chars, -1..=97.
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(glob_match(b"[a-\xff]", b"0", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
    }

    #[test]
    fn binary_safe() {
        assert!(glob_match(b"a\0*", b"a\0b", false));
        assert!(!glob_match(b"a\0", b"a", false));
        assert!(glob_match(b"?", b"\0", false));
        assert!(glob_match(b"[\0]", b"\0", false));
    }

    #[test]
    fn pathological_is_fast() {
        let pat = "a*".repeat(5000) + "b";
        let s = "a".repeat(20000);
        let t = Instant::now();
        assert!(!glob_match(pat.as_bytes(), s.as_bytes(), false));
        let pat2 = "*a".repeat(50) + "*b";
        assert!(!glob_match(pat2.as_bytes(), s.as_bytes(), false));
        // Classic worst case for single backtracking: O(n*m), still quick.
        let pat4 = "*".to_string() + &"a".repeat(300) + "b";
        assert!(!glob_match(
            pat4.as_bytes(),
            "a".repeat(3000).as_bytes(),
            false
        ));
        assert!(t.elapsed().as_secs() < 5);
        // Deeply "nested" stars cannot overflow the stack.
        let pat3 = "*a".repeat(1_000_000);
        assert!(!glob_match(pat3.as_bytes(), &s.as_bytes()[..1], false));
        assert!(glob_match(
            pat3.as_bytes(),
            "a".repeat(1_000_000).as_bytes(),
            false
        ));
    }

    /// Pairs checked against redis-server 7.0.15 `KEYS` (true = listed).
    #[rustfmt::skip]
    const REDIS_CASES: &[(&[u8], &[u8], bool)] = &[
        (b"", b"", true),
        (b"", b"\x00z\x00\xff?\x80", false),
        (b"**", b"\\[\xff\x80b-", true),
        (b"**", b"*\x80[?\xff", true),
        (b"**", b"", false),
        (b"?", b"\x00", true),
        (b"?", b"-", true),
        (b"?", b"b]B[A", false),
        (b"?", b"", false),
        (b"\\", b"\\", true),
        (b"\\", b"-\xff*Baz", false),
        (b"\\", b"", false),
        (b"a\\", b"a\\", true),
        (b"a\\", b"*b*\xffa-", false),
        (b"a\\", b"", false),
        (b"\\*", b"*", true),
        (b"\\*", b"b", false),
        (b"\\*", b"", false),
        (b"[", b"-a\x00", false),
        (b"[", b"", false),
        (b"[^", b"[", true),
        (b"[^", b"ab\\*-[", false),
        (b"[^", b"", false),
        (b"[a", b"a", true),
        (b"[a", b"B\x80A\xff\x00[", false),
        (b"[a", b"", false),
        (b"[^a", b"b", true),
        (b"[^a", b"^", true),
        (b"[^a", b"\\*a", false),
        (b"[^a", b"", false),
        (b"[]", b"azA", false),
        (b"[]", b"", false),
        (b"[]]", b"[zzB", false),
        (b"[]]", b"", false),
        (b"[a-]", b"^", true),
        (b"[a-]", b"a", true),
        (b"[a-]", b"\x00A]", false),
        (b"[a-]", b"", false),
        (b"[a-]b", b"b", true),
        (b"[a-]b", b"]", true),
        (b"[a-]b", b"b\xff\\-\xff", false),
        (b"[a-]b", b"", false),
        (b"[\\]]", b"]", true),
        (b"[\\]]", b"*\x80b\x80\x80", false),
        (b"[\\]]", b"", false),
        (b"[\\", b"\\", true),
        (b"[\\", b"-b*", false),
        (b"[\\", b"", false),
        (b"[a-\xff]", b"[", true),
        (b"[a-\xff]", b"]", true),
        (b"[a-\xff]", b"\x80?]A^z", false),
        (b"[a-\xff]", b"", false),
        (b"[\x80-a]", b"\x80", true),
        (b"[\x80-a]", b"?", true),
        (b"[\x80-a]", b"\x00\x80\x80-^", false),
        (b"[\x80-a]", b"", false),
        (b"[z-a]", b"z", true),
        (b"[z-a]", b"a", true),
        (b"[z-a]", b"?b*", false),
        (b"[z-a]", b"", false),
        (b"*[", b"-aB]A[", false),
        (b"*[", b"", false),
        (b"*\\", b"z?\\", true),
        (b"*\\", b"\x80\\[\\", true),
        (b"*\\", b"*?A^?", false),
        (b"*\\", b"", false),
        (b"[^\\]", b"\x00", true),
        (b"[^\\]", b"\x80", true),
        (b"[^\\]", b"][^", false),
        (b"[^\\]", b"", false),
        (b"[b-a-z]", b"-", true),
        (b"[b-a-z]", b"b", true),
        (b"[b-a-z]", b"*a?\x80", false),
        (b"[b-a-z]", b"", false),
        (b"a*b*", b"ab^B]", true),
        (b"a*b*", b"ab\\*-[", true),
        (b"a*b*", b"[-b*?b", false),
        (b"a*b*", b"", false),
        (b"*a*a*a*b", b"*\x00b*[a", false),
        (b"*a*a*a*b", b"", false),
        (b"[A-b]", b"\\", true),
        (b"[A-b]", b"B", true),
        (b"[A-b]", b"\x00*\x00\x00^?", false),
        (b"[A-b]", b"", false),
        (b"[-a]", b"-", true),
        (b"[-a]", b"a", true),
        (b"[-a]", b"\x00a?]BB", false),
        (b"[-a]", b"", false),
        (b"[a-b-]", b"b", true),
        (b"[a-b-]", b"-Baa", false),
        (b"[a-b-]", b"", false),
        (b"\x00*", b"\x00??\\*\x00", true),
        (b"\x00*", b"\x00-\x00A", true),
        (b"\x00*", b"]\\]\xffaz", false),
        (b"\x00*", b"", false),
        (b"*\x80", b"z-\x80", true),
        (b"*\x80", b"\xff]?\x80", true),
        (b"*\x80", b"zaB^z", false),
        (b"*\x80", b"", false),
        (b"[[]", b"[", true),
        (b"[[]", b"A\x80*-", false),
        (b"[[]", b"", false),
        (b"?*?", b"[?*", true),
        (b"?*?", b"-a-\x00[]", true),
        (b"?*?", b"A", false),
        (b"?*?", b"", false),
        (b"[^]]", b"*]", true),
        (b"[^]]", b"-]", true),
        (b"[^]]", b"\\-A*\x80", false),
        (b"[^]]", b"", false),
        (b"[*]*", b"*^\x00-\\-", true),
        (b"[*]*", b"*\\", true),
        (b"[*]*", b"\\b\\", false),
        (b"[*]*", b"", false),
        (b"a[", b"\xffz]^b", false),
        (b"a[", b"", false),
        (b"[]a]*", b"\\\x80AA-b", false),
        (b"[]a]*", b"", false),
        (b"[z?z[a", b"[", true),
        (b"[z?z[a", b"a", true),
        (b"[z?z[a", b"aBz", false),
        (b"\x00B[]", b"B^B?", false),
        (b"?[-A]*", b"?-\\", true),
        (b"?[-A]*", b"\\A\xff?b", true),
        (b"?[-A]*", b"^\x00B\xff\xff", false),
        (b"\\\x00B", b"\x00B", true),
        (b"\\\x00B", b"^A", false),
        (b"[a[[", b"a", true),
        (b"[a[[", b"[", true),
        (b"[a[[", b"Aa", false),
        (b"b?[\x00[A", b"bb[", true),
        (b"b?[\x00[A", b"b\xff\x00", true),
        (b"b?[\x00[A", b"-**[\xff", false),
        (b"", b"*\x80]*B", false),
        (b"a]", b"a]", true),
        (b"a]", b"-]b\\", false),
        (b"b*", b"b^A[", true),
        (b"b*", b"b]\x80\x00", true),
        (b"b*", b"^a]a", false),
        (b"", b"\\b*\\[B", false),
        (b"B?\x00", b"B-\x00", true),
        (b"B?\x00", b"B?\x00", true),
        (b"B?\x00", b"\xffzA", false),
        (b"[???*?[", b"?", true),
        (b"[???*?[", b"*", true),
        (b"[???*?[", b"B-\x00", false),
        (b"*-?", b"z\xffa^--", true),
        (b"*-?", b"--b", true),
        (b"*-?", b"a?", false),
        (b"\x00]zb", b"-^?\xff\\", false),
        (b"\\", b"A-?\x80]", false),
        (b"", b"*B?*A]", false),
        (b"a\x00[", b"z?a\\", false),
        (b"a^][AB", b"a^]A", true),
        (b"a^][AB", b"^A?", false),
        (b"\\", b"\x80\x80]*zA", false),
        (b"]-\\[[?*", b"?-\\B\xff-", false),
        (b"]*]A*]a", b"b][", false),
        (b"*?b\x00\xff[\x00", b"^*Bzz", false),
        (b"", b"[[[", false),
        (b"]", b"]", true),
        (b"]", b"\xff*\xffb", false),
        (b"^[-z\xff[\x80", b"^\xff", true),
        (b"^[-z\xff[\x80", b"]\x00b\\", false),
        (b"\x80-A?", b"\xffz[", false),
        (b"", b"\x00?[\x80\\^", false),
        (b"]BA-A]", b"Az*B^z", false),
        (b"A??]*a]", b"-*-]", false),
        (b"]\xff[", b"BzB^?", false),
        (b"\\?[[", b"?[", true),
        (b"\\?[[", b"-[a]\x80\x80", false),
        (b"??", b"B?", true),
        (b"??", b"\x80b", true),
        (b"??", b"\x80[zba[", false),
        (b"-?[^", b"-\x00A", true),
        (b"-?[^", b"-\xff^", true),
        (b"-?[^", b"*^\x00-a]", false),
        (b"]]*", b"]]-", true),
        (b"]]*", b"]]-z^*", true),
        (b"]]*", b"\xffB--]", false),
        (b"Bb]", b"z\x80\x00?", false),
        (b"B", b"B", true),
        (b"B", b"B??^A-", false),
        (b"*[\\z*[^", b"--[*z^", true),
        (b"*[\\z*[^", b"\x80\x80^[", true),
        (b"*[\\z*[^", b"*?^\xff[\\", false),
        (b"B?\x80?aa[", b"?[]\x00]A", false),
        (b"a", b"a", true),
        (b"a", b"[[\x80", false),
        (b"?\x00z", b"^\x00z", true),
        (b"?\x00z", b"b", false),
    ];

    /// Pairs checked against redis-server 7.0.15 `FUNCTION LIST LIBRARYNAME`,
    /// which matches with nocase set.
    #[rustfmt::skip]
    const REDIS_NOCASE_CASES: &[(&[u8], &[u8], bool)] = &[
        (b"99_9\\\\9", b"bb9a", false),
        (b"]^AbaA\\", b"b_BBz", false),
        (b"a0", b"a0", true),
        (b"a0", b"b0A9_", false),
        (b"^A*[", b"Baa", false),
        (b"[0B?\\_a", b"b", true),
        (b"[0B?\\_a", b"AzZA_", false),
        (b"00B0z9^", b"Bz_9B", false),
        (b"Za_", b"BaBZ_", false),
        (b"aA", b"aa", true),
        (b"aA", b"9zb", false),
        (b"_]]ab?\\", b"zb", false),
        (b"Z", b"z", true),
        (b"Z", b"z_b0", false),
        (b"z", b"z", true),
        (b"z", b"0BBZ", false),
        (b"AB", b"AB", true),
        (b"AB", b"A_9", false),
        (b"9", b"9", true),
        (b"9", b"Ba0a", false),
        (b"a?", b"aa", true),
        (b"a?", b"0ZbA", false),
        (b"^Za0\\B9", b"9B", false),
        (b"\\9", b"9", true),
        (b"\\9", b"BZa", false),
        (b"0\\?", b"_aB", false),
        (b"a9-^B^B", b"_Bza0", false),
        (b"-z0B?b", b"0", false),
        (b"[B*__", b"b", true),
        (b"[B*__", b"b9", false),
        (b"_z", b"_z", true),
        (b"_z", b"z90bb", false),
        (b"*z", b"9Bz", true),
        (b"*z", b"bAbab", false),
        (b"\\a", b"a", true),
        (b"\\a", b"Baa", false),
        (b"[9-b", b"9", true),
        (b"[9-b", b"0_", false),
        (b"[a__Z90", b"9", true),
        (b"[a__Z90", b"B9bbB", false),
        (b"^bbB\\9a", b"0ZbA", false),
        (b"[\\", b"_a00", false),
        (b"*", b"Za_Zz", true),
        (b"09?", b"09z", true),
        (b"09?", b"B_zz", false),
        (b"Z", b"Z", true),
        (b"Z", b"aZ_Z9", false),
        (b"z]0?A]?", b"aa", false),
        (b"?", b"Z", true),
        (b"?", b"0Az", false),
        (b"9B*]*0b", b"0A_", false),
        (b"^]", b"_zab", false),
        (b"-99-?\\\\", b"AZA", false),
        (b"z0A0Z9]", b"99zB", false),
        (b"\\\\bb09", b"0zz9", false),
        (b"\\??-", b"B0__", false),
        (b"?9_Zz[", b"bzba", false),
        (b"[**^", b"BaAzB", false),
        (b"b^", b"0B_", false),
        (b"-?[", b"BZ_9Z", false),
        (b"zzB^[", b"zAb_A", false),
        (b"^_?-z_A", b"9ba_a", false),
        (b"]\\9[^", b"0ABZz", false),
        (b"]Zbz", b"zA", false),
        (b"9Ba*?Z_", b"b0", false),
        (b"\\\\", b"_Zzz", false),
        (b"90\\z[", b"_AzBz", false),
        (b"^aA]", b"bZAZZ", false),
        (b"za", b"zA", true),
        (b"za", b"0B_", false),
        (b"a0\\\\_", b"B", false),
        (b"\\*", b"0b", false),
        (b"]", b"0_", false),
        (b"_*Z^9", b"9zzaB", false),
        (b"bb-aB0^", b"__", false),
        (b"_*", b"_a0Ba", true),
        (b"_*", b"0a", false),
        (b"b", b"B", true),
        (b"b", b"BZa", false),
        (b"9", b"A90", false),
        (b"0[[", b"9zB0_", false),
    ];

    #[test]
    fn matches_redis_nocase() {
        for &(p, s, want) in REDIS_NOCASE_CASES {
            assert_eq!(glob_match(p, s, true), want, "{:?} {:?}", p, s);
        }
    }

    #[test]
    fn matches_redis_keys() {
        for &(p, s, want) in REDIS_CASES {
            assert_eq!(glob_match(p, s, false), want, "{:?} {:?}", p, s);
        }
    }

    /// Textbook DP glob over `*`, `?` and literals. Redis differs only in
    /// that the empty string matches nothing but the empty pattern.
    fn dp_glob(p: &[u8], s: &[u8]) -> bool {
        let mut row = vec![false; s.len() + 1];
        row[0] = true;
        for &c in p {
            let mut next = vec![false; s.len() + 1];
            if c == b'*' {
                let mut any = false;
                for j in 0..=s.len() {
                    any |= row[j];
                    next[j] = any;
                }
            } else {
                for j in 0..s.len() {
                    next[j + 1] = row[j] && (c == b'?' || c == s[j]);
                }
            }
            row = next;
        }
        row[s.len()] && (!s.is_empty() || p.is_empty())
    }

    fn alphabet() -> impl Strategy<Value = u8> {
        prop::sample::select(b"ab*?[]^-\\zA\0\xff".to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        #[test]
        fn same_as_recursive(
            pat in prop::collection::vec(alphabet(), 0..12),
            s in prop::collection::vec(prop::sample::select(b"abzA]-^\\*\0\xff".to_vec()), 0..10),
            nocase in any::<bool>(),
        ) {
            let got = glob_match(&pat, &s, nocase);
            prop_assert_eq!(got, reference(&pat, &s, nocase, true));
            // The pruning never changes the answer.
            prop_assert_eq!(got, reference(&pat, &s, nocase, false));
        }

        #[test]
        fn any_bytes(
            pat in prop::collection::vec(any::<u8>(), 0..24),
            s in prop::collection::vec(any::<u8>(), 0..24),
            nocase in any::<bool>(),
        ) {
            prop_assert_eq!(glob_match(&pat, &s, nocase), reference(&pat, &s, nocase, true));
        }

        #[test]
        fn same_as_textbook_glob(
            pat in prop::collection::vec(prop::sample::select(b"ab*?".to_vec()), 0..16),
            s in prop::collection::vec(prop::sample::select(b"ab".to_vec()), 0..16),
        ) {
            prop_assert_eq!(glob_match(&pat, &s, false), dp_glob(&pat, &s));
        }
    }
}
