//! Longest common subsequence exactly as Redis 7.0 `LCS` computes it
//! (t_string.c `lcsCommand`): the plain dynamic-programming table, then a
//! walk back from the end that yields the LCS string and the IDX ranges,
//! last range first.
//!
//! Cost: O(len(a) * len(b)) time and 4 * (len(a)+1) * (len(b)+1) bytes of
//! transient memory for the table (u32 cells, like Redis). Callers bound it
//! with `max_table_bytes` (Redis uses proto-max-bulk-len, 512 MB by default)
//! and should run it where blocking for that long is acceptable.

use std::fmt;

/// One IDX range pair: inclusive `(start, end)` byte offsets in each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    pub a: (usize, usize),
    pub b: (usize, usize),
    /// Length of the range (the WITHMATCHLEN value).
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcsResult {
    /// Length of the LCS (the LEN reply and IDX's "len").
    pub len: usize,
    /// The LCS itself; empty unless `want_string`.
    pub string: Vec<u8>,
    /// IDX "matches", in Redis's reply order; empty unless `want_idx`.
    pub matches: Vec<LcsMatch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcsError {
    /// An input is 4294967294 bytes or longer.
    TooLong,
    /// The table would exceed `max_table_bytes`.
    TableTooLarge,
    /// The table size overflows or its allocation failed.
    AllocFailed,
}

impl fmt::Display for LcsError {
    /// The Redis error text, without the "ERR " prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LcsError::TooLong => "String too long for LCS",
            LcsError::TableTooLarge => {
                "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            }
            LcsError::AllocFailed => {
                "Insufficient memory, failed allocating transient memory for LCS"
            }
        })
    }
}

impl std::error::Error for LcsError {}

/// Computes the LCS of `a` and `b` like Redis's LCS command.
///
/// `want_string` fills [`LcsResult::string`] (plain LCS reply); `want_idx`
/// fills [`LcsResult::matches`] (IDX reply), keeping only ranges at least
/// `min_match_len` long (0 keeps all; Redis clamps negative MINMATCHLEN to
/// 0). With neither flag only `len` is computed (LEN reply), as in Redis.
/// Missing keys are empty strings; that, and rejecting LEN together with
/// IDX, is the caller's job.
pub fn lcs(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_idx: bool,
    min_match_len: usize,
    max_table_bytes: u64,
) -> Result<LcsResult, LcsError> {
    // Redis keeps indexes in uint32_t and refuses lengths >= UINT32_MAX-1.
    const LIMIT: usize = u32::MAX as usize - 1;
    if a.len() >= LIMIT || b.len() >= LIMIT {
        return Err(LcsError::TooLong);
    }
    let alen = a.len();
    let blen = b.len();
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let bytes = cells.checked_mul(4).ok_or(LcsError::AllocFailed)?;
    if bytes > max_table_bytes {
        return Err(LcsError::TableTooLarge);
    }
    let cells = usize::try_from(cells).map_err(|_| LcsError::AllocFailed)?;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| LcsError::AllocFailed)?;
    table.resize(cells, 0);

    // table[i * w + j] = LCS length of a[..i] and b[..j]; row 0 / column 0
    // stay 0.
    let w = blen + 1;
    for i in 1..=alen {
        let (prev, cur) = table.split_at_mut(i * w);
        let prev = &prev[(i - 1) * w..];
        let cur = &mut cur[..w];
        let ai = a[i - 1];
        for j in 1..=blen {
            cur[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
    }
    let at = |i: usize, j: usize| table[i * w + j];
    let total = at(alen, blen) as usize;

    let mut result = LcsResult {
        len: total,
        string: Vec::new(),
        matches: Vec::new(),
    };
    if !want_string && !want_idx {
        return Ok(result);
    }

    // Walk back from the end, choosing the same direction Redis does on
    // ties so the emitted ranges are identical.
    let mut string = vec![0u8; total];
    let mut idx = total;
    // Current range, if any: (a_start, a_end, b_start, b_end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            string[idx - 1] = a[i - 1];
            match &mut range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, _, b_start, _)) => {
                    if *a_start == i && *b_start == j {
                        *a_start -= 1;
                        *b_start -= 1;
                    } else {
                        // Unreachable in practice (a match right after a
                        // match is always contiguous); kept as Redis has it.
                        emit = true;
                    }
                }
            }
            if let Some((a_start, _, b_start, _)) = range
                && (a_start == 0 || b_start == 0)
            {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit && let Some((a_start, a_end, b_start, b_end)) = range.take() {
            let len = a_end - a_start + 1;
            if want_idx && (min_match_len == 0 || len >= min_match_len) {
                result.matches.push(LcsMatch {
                    a: (a_start, a_end),
                    b: (b_start, b_end),
                    len,
                });
            }
        }
    }
    if want_string {
        result.string = string;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BIG: u64 = 512 * 1024 * 1024;

    fn m(a: (usize, usize), b: (usize, usize), len: usize) -> LcsMatch {
        LcsMatch { a, b, len }
    }

    #[test]
    fn redis_doc_example() {
        // Confirmed with redis-server 7.0.15:
        // LCS key1 key2 IDX MINMATCHLEN 0 WITHMATCHLEN
        let r = lcs(b"ohmytext", b"mynewtext", true, true, 0, BIG).unwrap();
        assert_eq!(r.len, 6);
        assert_eq!(r.string, b"mytext");
        assert_eq!(r.matches, vec![m((4, 7), (5, 8), 4), m((2, 3), (0, 1), 2)]);
        let r = lcs(b"ohmytext", b"mynewtext", false, true, 4, BIG).unwrap();
        assert_eq!(r.matches, vec![m((4, 7), (5, 8), 4)]);
        assert!(r.string.is_empty());
        let r = lcs(b"ohmytext", b"mynewtext", false, false, 0, BIG).unwrap();
        assert_eq!(r.len, 6);
        assert!(r.matches.is_empty() && r.string.is_empty());
    }

    #[test]
    fn empty_and_limits() {
        let r = lcs(b"", b"abc", true, true, 0, BIG).unwrap();
        assert_eq!((r.len, r.string.len(), r.matches.len()), (0, 0, 0));
        // (3+1)*(3+1)*4 = 64 bytes.
        assert!(lcs(b"abc", b"abc", true, true, 0, 64).is_ok());
        assert_eq!(
            lcs(b"abc", b"abc", true, true, 0, 63),
            Err(LcsError::TableTooLarge)
        );
        assert_eq!(
            LcsError::TableTooLarge.to_string(),
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        );
    }

    /// (a, b, LCS string, IDX MINMATCHLEN 2 WITHMATCHLEN matches) from
    /// redis-server 7.0.15.
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const REDIS_CASES: &[(&[u8], &[u8], &[u8], &[((usize, usize), (usize, usize), usize)])] = &[
        (b"", b"abc", b"", &[]),
        (b"aaaa", b"aa", b"aa", &[((2, 3), (0, 1), 2)]),
        (b"rosettacode", b"raisethysword", b"rsetod", &[((2, 3), (3, 4), 2)]),
        (b"abab", b"baba", b"bab", &[((1, 3), (0, 2), 3)]),
        (b"aaabbbbbbbbbabbbaaabbabaaaa", b"ababbbabbbba", b"ababbbabbba", &[((18, 20), (6, 8), 3), ((11, 15), (1, 5), 5)]),
        (b"ccbacaacabbcbbbacaacaac", b"bacaaccbbcca", b"bacaaccbbcca", &[((13, 14), (7, 8), 2), ((2, 7), (0, 5), 6)]),
        (b"acddcacbbdbcdabaaadcaa", b"cdcabaaadacd", b"cdcabaaada", &[((13, 18), (3, 8), 6)]),
        (b"cecceeebe", b"cbbadbec", b"cbe", &[((7, 8), (5, 6), 2)]),
        (b"bbabca", b"cbccabb", b"bca", &[((4, 5), (3, 4), 2)]),
        (b"", b"abb", b"", &[]),
        (b"bcbbabbbbdabcddbbacccaacdda", b"ccaaccccaadb", b"caaccccaad", &[((18, 22), (5, 9), 5)]),
        (b"cbbaaacacbacccc", b"abbcbab", b"bbcba", &[((8, 10), (3, 5), 3), ((1, 2), (1, 2), 2)]),
        (b"acbabbbbc", b"bbcabbcabbbbbbcbac", b"cbabbbbc", &[((4, 6), (11, 13), 3)]),
        (b"bbabaaaaaaabaaabbaabbaabbaa", b"bbaaababbababababb", b"bbaaababbabbaabb", &[((22, 24), (15, 17), 3), ((20, 21), (12, 13), 2), ((18, 19), (9, 10), 2), ((14, 16), (6, 8), 3), ((8, 11), (2, 5), 4)]),
        (b"aa", b"bcaabbbaabbbba", b"aa", &[]),
        (b"cbbbbcba", b"aaabccacbaba", b"bcba", &[((6, 7), (10, 11), 2)]),
        (b"cac", b"bacbaabccbaabaabba", b"cac", &[]),
        (b"", b"baaaabaabaabbbabbbbaabbaba", b"", &[]),
        (b"dabddadccadccabadbaebdddcaac", b"ce", b"ce", &[]),
        (b"cdbbcacbdac", b"acbacddabbccbcbaabc", b"cdbbccbac", &[((6, 7), (11, 12), 2), ((2, 4), (8, 10), 3)]),
        (b"acbbccacaaabbabaccacacba", b"accccaabba", b"accccaabba", &[((22, 23), (8, 9), 2), ((13, 14), (6, 7), 2), ((4, 5), (2, 3), 2), ((0, 1), (0, 1), 2)]),
        (b"daabdcbdbbaadcbadba", b"ccaaddacbbbddd", b"aadcbbbdd", &[((8, 9), (9, 10), 2), ((5, 6), (7, 8), 2), ((1, 2), (2, 3), 2)]),
        (b"bcbacaca", b"", b"", &[]),
        (b"caee", b"", b"", &[]),
        (b"abaaaaabbb", b"abaaab", b"abaaab", &[((4, 6), (2, 4), 3), ((0, 1), (0, 1), 2)]),
        (b"ddcacddccdacdba", b"ddbdddbcddbbabcadd", b"dddddcdba", &[((5, 6), (3, 4), 2), ((0, 1), (0, 1), 2)]),
        (b"dcbacaaadbddccbdcdaadacbbacd", b"cdcacccb", b"cdccccb", &[((11, 12), (1, 2), 2)]),
        (b"caabacbadcddadba", b"bdcdddb", b"bdcdddb", &[((13, 14), (5, 6), 2), ((8, 11), (1, 4), 4)]),
        (b"abbbbbbbbaabc", b"cccccbccababbcbacacc", b"bbbbbaac", &[((8, 9), (14, 15), 2), ((6, 7), (11, 12), 2)]),
        (b"aaaaabaddabbdddadcbabaaddbb", b"aadbabcddaadcaaccaaadbddcadaa", b"aadbbddadcaaadb", &[((15, 17), (10, 12), 3), ((13, 14), (7, 8), 2)]),
        (b"dabccddadccbba", b"ccbadc", b"ccadc", &[((7, 8), (3, 4), 2), ((3, 4), (0, 1), 2)]),
        (b"ebccccecdddbacbdebcdac", b"dcaeeccdabddeceae", b"cecdabdeca", &[((15, 16), (11, 12), 2), ((6, 7), (4, 5), 2)]),
        (b"bccbccbac", b"abacbabcbba", b"bcbcba", &[((6, 7), (9, 10), 2), ((2, 3), (3, 4), 2)]),
        (b"d", b"bd", b"d", &[]),
        (b"edddcbddae", b"cca", b"ca", &[]),
        (b"aa", b"aaabbbaaab", b"aa", &[((0, 1), (7, 8), 2)]),
        (b"cacababbcbac", b"bbbc", b"bbbc", &[((6, 7), (0, 1), 2)]),
        (b"dbddddbdbcaadd", b"aacabdbbcdbdbbdcbdbcacaccbcb", b"bddddbdbcaa", &[((6, 10), (16, 20), 5), ((1, 2), (4, 5), 2)]),
        (b"bbecabceaaacecebbaaddabebcd", b"caacdcbcaeeee", b"caaccbae", &[((9, 11), (1, 3), 3)]),
        (b"b", b"ebbccbbeeab", b"b", &[]),
    ];

    #[test]
    fn matches_redis() {
        for &(a, b, s, ms) in REDIS_CASES {
            let r = lcs(a, b, true, true, 2, BIG).unwrap();
            assert_eq!(r.string, s, "{a:?} {b:?}");
            assert_eq!(r.len, s.len());
            let want: Vec<_> = ms.iter().map(|&(x, y, l)| m(x, y, l)).collect();
            assert_eq!(r.matches, want, "{a:?} {b:?}");
        }
    }

    /// Plain O(n*m) LCS length, to check the table.
    fn lcs_len(a: &[u8], b: &[u8]) -> usize {
        let mut prev = vec![0usize; b.len() + 1];
        for &x in a {
            let mut cur = vec![0usize; b.len() + 1];
            for (j, &y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    prev[j + 1].max(cur[j])
                };
            }
            prev = cur;
        }
        prev[b.len()]
    }

    fn is_subsequence(s: &[u8], of: &[u8]) -> bool {
        let mut it = of.iter();
        s.iter().all(|c| it.any(|d| d == c))
    }

    proptest! {
        #[test]
        fn consistent(
            a in prop::collection::vec(0u8..4, 0..40),
            b in prop::collection::vec(0u8..4, 0..40),
            min in 0usize..4,
        ) {
            let r = lcs(&a, &b, true, true, min, BIG).unwrap();
            prop_assert_eq!(r.len, lcs_len(&a, &b));
            prop_assert_eq!(r.string.len(), r.len);
            prop_assert!(is_subsequence(&r.string, &a) && is_subsequence(&r.string, &b));
            let all = lcs(&a, &b, false, true, 0, BIG).unwrap().matches;
            // Ranges tile the LCS, walking backwards through both inputs.
            prop_assert_eq!(all.iter().map(|x| x.len).sum::<usize>(), r.len);
            for w in all.windows(2) {
                prop_assert!(w[1].a.1 < w[0].a.0 && w[1].b.1 < w[0].b.0);
            }
            for x in &all {
                prop_assert_eq!(x.a.1 - x.a.0 + 1, x.len);
                prop_assert_eq!(x.b.1 - x.b.0 + 1, x.len);
                prop_assert_eq!(&a[x.a.0..=x.a.1], &b[x.b.0..=x.b.1]);
            }
            let kept: Vec<_> = all.iter().copied().filter(|x| min == 0 || x.len >= min).collect();
            prop_assert_eq!(r.matches, kept);
        }
    }
}
