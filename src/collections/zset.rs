//! A sorted set: members ordered by (score, member), with rank and position in O(log n).
//!
//! One structure serves both of Redis's encodings. Entries are packed in runs — score (8
//! bytes), member length (LEB128), member — each run one allocation. A small set is one run
//! and nothing else ("listpack": a lookup by member walks it). Past the limits it becomes
//! many runs of at most [`RUN_MAX`] entries, a Fenwick tree of their sizes (rank ↔ position)
//! and a table from member to score ("skiplist"). The table keeps only each member's hash and
//! score; a hit is confirmed by finding (score, member) in its run, so a member's bytes are
//! stored once and never in an allocation of their own — most of what a skip list spends per
//! element.

use std::cmp::Ordering;

use hashbrown::HashTable;

use super::{LIMITS, hash_of};
use crate::util::alloc::size_class;

/// Entries per run in the large encoding: a run is split above this...
const RUN_MAX: usize = 64;
/// ...and merged with a neighbour below this.
const RUN_MIN: usize = 16;

/// The set's order: by score, then by member bytes. Scores are never NaN.
#[inline]
pub fn key_cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// The entry at byte offset `at` of a run: (score, member, offset of the next entry). Runs
/// are only ever written by [`Run::insert`], so every entry is whole.
#[inline]
fn entry(buf: &[u8], at: usize) -> (f64, &[u8], usize) {
    let mut score = [0u8; 8];
    score.copy_from_slice(&buf[at..at + 8]);
    let (mut n, mut shift, mut i) = (0usize, 0, at + 8);
    loop {
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (f64::from_le_bytes(score), &buf[i..i + n], i + n)
}

/// Entries in order, packed in one buffer.
#[derive(Debug, Clone, Default)]
struct Run {
    buf: Vec<u8>,
    len: u32,
}

impl Run {
    fn len(&self) -> usize {
        self.len as usize
    }

    fn iter(&self) -> RunIter<'_> {
        RunIter {
            buf: &self.buf,
            at: 0,
        }
    }

    fn first(&self) -> Option<(f64, &[u8])> {
        self.iter().next()
    }

    /// Index and byte offset of the first entry not below (s, m), and whether it is (s, m).
    fn seek(&self, s: f64, m: &[u8]) -> (usize, usize, bool) {
        let (mut i, mut at) = (0, 0);
        while at < self.buf.len() {
            let (es, em, next) = entry(&self.buf, at);
            match key_cmp(es, em, s, m) {
                Ordering::Less => {}
                Ordering::Equal => return (i, at, true),
                Ordering::Greater => return (i, at, false),
            }
            i += 1;
            at = next;
        }
        (i, at, false)
    }

    /// Byte offset of entry `i` (the end when `i` is the length).
    fn offset_of(&self, i: usize) -> usize {
        let mut at = 0;
        for _ in 0..i {
            at = entry(&self.buf, at).2;
        }
        at
    }

    fn insert(&mut self, at: usize, s: f64, m: &[u8]) {
        // The score and the member's length on the stack: an insert allocates nothing but
        // the run's own growth.
        let mut head = [0u8; 18];
        head[..8].copy_from_slice(&s.to_le_bytes());
        let (mut n, mut used) = (m.len(), 8);
        while n >= 0x80 {
            head[used] = (n as u8) | 0x80;
            n >>= 7;
            used += 1;
        }
        head[used] = n as u8;
        used += 1;
        self.buf.reserve_exact(used + m.len());
        self.buf
            .splice(at..at, head[..used].iter().chain(m).copied());
        self.len += 1;
    }

    /// Removes the `n` entries in byte range `at..end`.
    fn remove(&mut self, at: usize, end: usize, n: usize) {
        self.buf.drain(at..end);
        self.len -= n as u32;
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
            self.buf.shrink_to_fit();
        }
    }

    /// Moves the entries from `i` on into a new run.
    fn split_off(&mut self, i: usize) -> Run {
        let at = self.offset_of(i);
        let tail = Run {
            buf: self.buf[at..].to_vec(),
            len: self.len - i as u32,
        };
        self.buf.truncate(at);
        self.buf.shrink_to_fit();
        self.len = i as u32;
        tail
    }
}

pub struct RunIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for RunIter<'a> {
    type Item = (f64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(f64, &'a [u8])> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (s, m, next) = entry(self.buf, self.at);
        self.at = next;
        Some((s, m))
    }
}

/// Sizes of the runs, for rank ↔ (run, index) in O(log runs). One-based inside.
#[derive(Debug, Clone, Default)]
struct Fenwick(Vec<u32>);

impl Fenwick {
    fn build(sizes: impl Iterator<Item = u32>) -> Fenwick {
        let mut t = vec![0];
        t.extend(sizes);
        let n = t.len() - 1;
        for i in 1..=n {
            let j = i + (i & i.wrapping_neg());
            if j <= n {
                t[j] += t[i];
            }
        }
        Fenwick(t)
    }

    fn n(&self) -> usize {
        self.0.len().saturating_sub(1)
    }

    fn add(&mut self, run: usize, up: bool) {
        let mut i = run + 1;
        while i <= self.n() {
            if up {
                self.0[i] += 1;
            } else {
                self.0[i] -= 1;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// Entries in the runs before `run`.
    fn prefix(&self, run: usize) -> usize {
        let (mut s, mut i) = (0usize, run);
        while i > 0 {
            s += self.0[i] as usize;
            i -= i & i.wrapping_neg();
        }
        s
    }

    /// The run holding the entry of rank `rank`, and the entry's index in it.
    fn find(&self, rank: usize) -> (usize, usize) {
        let n = self.n();
        let (mut pos, mut rem) = (0, rank);
        let mut step = if n == 0 { 0 } else { 1 << n.ilog2() };
        while step > 0 {
            if pos + step <= n && (self.0[pos + step] as usize) <= rem {
                pos += step;
                rem -= self.0[pos] as usize;
            }
            step >>= 1;
        }
        (pos, rem)
    }
}

/// Where an entry is or would go.
#[derive(Debug, Clone, Copy)]
struct Loc {
    run: usize,
    idx: usize,
    at: usize,
    found: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ZSet {
    runs: Vec<Run>,
    sizes: Fenwick,
    /// Member hash → score, once past the packed encoding's limits.
    table: Option<HashTable<(u64, f64)>>,
    len: usize,
    /// The runs' buffer capacities, kept as they change (memory accounting must not walk).
    bytes: usize,
}

impl Drop for ZSet {
    fn drop(&mut self) {
        if self.len > super::lazyfree::THRESHOLD {
            super::lazyfree::later(std::mem::take(&mut self.runs));
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for ZSet {}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self.table {
            None => "listpack",
            Some(_) => "skiplist",
        }
    }

    pub fn heap_size(&self) -> usize {
        self.bytes
            + self.runs.capacity() * std::mem::size_of::<Run>()
            + self.sizes.0.capacity() * 4
            + self.table.as_ref().map_or(0, |t| {
                t.capacity() * (std::mem::size_of::<(u64, f64)>() + 1)
            })
    }

    /// Every entry, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        self.runs.iter().flat_map(Run::iter)
    }

    fn locate(&self, s: f64, m: &[u8]) -> Loc {
        let after = self.runs.partition_point(|r| {
            r.first()
                .is_some_and(|(fs, fm)| key_cmp(fs, fm, s, m) != Ordering::Greater)
        });
        let run = after.saturating_sub(1);
        match self.runs.get(run) {
            Some(r) => {
                let (idx, at, found) = r.seek(s, m);
                Loc {
                    run,
                    idx,
                    at,
                    found,
                }
            }
            None => Loc {
                run: 0,
                idx: 0,
                at: 0,
                found: false,
            },
        }
    }

    /// A member's score.
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.table {
            None => self.iter().find(|(_, em)| *em == m).map(|(s, _)| s),
            Some(t) => {
                let h = hash_of(m);
                t.find(h, |&(eh, s)| eh == h && self.locate(s, m).found)
                    .map(|&(_, s)| s)
            }
        }
    }

    /// A member's rank (0 = lowest score).
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = self.score(m)?;
        let loc = self.locate(s, m);
        Some(self.sizes.prefix(loc.run) + loc.idx)
    }

    /// Sets a member's score; the score it had (`None`: added). An equal score changes
    /// nothing, as in Redis (so -0 stays -0).
    pub fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
        let old = self.score(m);
        self.insert_known(m, s, old);
        old
    }

    /// [`insert`](Self::insert) for a caller that has just read the member's score (`old`).
    pub fn insert_known(&mut self, m: &[u8], s: f64, old: Option<f64>) {
        match old {
            Some(o) if o == s => return,
            Some(o) => self.remove_entry(o, m),
            None => {
                if self.table.is_none()
                    && (self.len + 1 > LIMITS.zset_entries() || m.len() > LIMITS.zset_value())
                {
                    self.convert();
                }
            }
        }
        let loc = self.locate(s, m);
        if self.runs.is_empty() {
            self.runs.push(Run::default());
            self.sizes = Fenwick::build([0].into_iter());
        }
        let r = loc.run;
        self.on_run(r, |run| run.insert(loc.at, s, m));
        self.len += 1;
        if self.table.is_some() && self.runs[r].len() > RUN_MAX {
            let tail = self.on_run(r, |run| run.split_off(RUN_MAX / 2 + 1));
            self.bytes += size_class(tail.buf.capacity());
            self.runs.insert(r + 1, tail);
            self.reindex();
        } else {
            self.sizes.add(r, true);
        }
        if let Some(t) = &mut self.table {
            let h = hash_of(m);
            t.insert_unique(h, (h, s), |e| e.0);
        }
    }

    /// Removes a member; its score.
    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let s = self.score(m)?;
        self.remove_entry(s, m);
        Some(s)
    }

    fn remove_entry(&mut self, s: f64, m: &[u8]) {
        let loc = self.locate(s, m);
        if !loc.found {
            debug_assert!(false, "the table and the runs disagree");
            return;
        }
        let end = entry(&self.runs[loc.run].buf, loc.at).2;
        self.on_run(loc.run, |run| run.remove(loc.at, end, 1));
        self.len -= 1;
        if let Some(t) = &mut self.table {
            forget(t, m, s);
        }
        let r = loc.run;
        let small = self.runs[r].len() < RUN_MIN && self.table.is_some();
        if self.runs[r].len() == 0 || small {
            self.tidy();
        } else {
            self.sizes.add(r, false);
        }
    }

    /// Removes the entries of ranks `start..end`, handing each to `f` first.
    pub fn remove_range(&mut self, start: usize, end: usize, mut f: impl FnMut(f64, &[u8])) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let (mut r, mut i) = self.sizes.find(start);
        let mut left = end - start;
        while left > 0 && r < self.runs.len() {
            let Self { runs, table, .. } = self;
            let run = &mut runs[r];
            let from = run.offset_of(i);
            let (mut at, mut n) = (from, 0);
            while n < left && at < run.buf.len() {
                let (s, m, next) = entry(&run.buf, at);
                f(s, m);
                if let Some(t) = table {
                    forget(t, m, s);
                }
                at = next;
                n += 1;
            }
            let before = size_class(run.buf.capacity());
            run.remove(from, at, n);
            self.bytes = self.bytes - before + size_class(self.runs[r].buf.capacity());
            left -= n;
            self.len -= n;
            r += 1;
            i = 0;
        }
        self.tidy();
    }

    /// The entry of rank `rank`.
    pub fn get(&self, rank: usize) -> Option<(f64, &[u8])> {
        if rank >= self.len {
            return None;
        }
        let (r, i) = self.sizes.find(rank);
        self.runs.get(r)?.iter().nth(i)
    }

    /// Entries from rank `rank` up.
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        let (r, i) = if rank >= self.len {
            (self.runs.len(), 0)
        } else {
            self.sizes.find(rank)
        };
        let first = self
            .runs
            .get(r)
            .into_iter()
            .flat_map(move |run| run.iter().skip(i));
        first.chain(self.runs.iter().skip(r + 1).flat_map(Run::iter))
    }

    /// Entries from rank `rank` down.
    pub fn iter_rev_from(&self, rank: usize) -> RevIter<'_> {
        if rank >= self.len {
            return RevIter {
                z: self,
                run: 0,
                buf: Vec::new(),
            };
        }
        let (r, i) = self.sizes.find(rank);
        RevIter {
            z: self,
            run: r,
            buf: self.runs[r].iter().take(i + 1).collect(),
        }
    }

    /// How many entries satisfy `below`, which must hold for a prefix of the order (e.g.
    /// "score < min"); O(log n).
    pub fn count_below(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        let after = self
            .runs
            .partition_point(|r| r.first().is_some_and(|(s, m)| below(s, m)));
        if after == 0 {
            return 0;
        }
        let r = after - 1;
        self.sizes.prefix(r)
            + self.runs[r]
                .iter()
                .take_while(|(s, m)| below(*s, m))
                .count()
    }

    /// Whether lookups by member walk the entries (the packed encoding).
    pub fn is_packed(&self) -> bool {
        self.table.is_none()
    }

    fn on_run<R>(&mut self, r: usize, f: impl FnOnce(&mut Run) -> R) -> R {
        let before = size_class(self.runs[r].buf.capacity());
        let out = f(&mut self.runs[r]);
        self.bytes = self.bytes - before + size_class(self.runs[r].buf.capacity());
        out
    }

    /// Drops empty runs, merges small neighbours (large encoding), and rebuilds the index.
    fn tidy(&mut self) {
        self.runs.retain(|r| r.len() > 0);
        if self.table.is_some() {
            let mut merged: Vec<Run> = Vec::with_capacity(self.runs.len());
            for run in self.runs.drain(..) {
                match merged.last_mut() {
                    Some(prev)
                        if (prev.len() < RUN_MIN || run.len() < RUN_MIN)
                            && prev.len() + run.len() <= RUN_MAX =>
                    {
                        prev.buf.reserve_exact(run.buf.len());
                        prev.buf.extend_from_slice(&run.buf);
                        prev.len += run.len;
                    }
                    _ => merged.push(run),
                }
            }
            self.runs = merged;
        }
        if self.runs.capacity() > 2 * self.runs.len() + 4 {
            self.runs.shrink_to_fit();
        }
        self.recount();
    }

    /// The byte count and the index, from the runs as they now are.
    fn recount(&mut self) {
        self.bytes = self.runs.iter().map(|r| size_class(r.buf.capacity())).sum();
        self.reindex();
    }

    fn reindex(&mut self) {
        self.sizes = Fenwick::build(self.runs.iter().map(|r| r.len));
    }

    /// Into the large encoding: the table, and runs of three quarters of the maximum.
    fn convert(&mut self) {
        let mut t = HashTable::with_capacity(self.len + 1);
        let mut runs = Vec::with_capacity(self.len / (RUN_MAX * 3 / 4) + 1);
        let mut cur = Run::default();
        for (s, m) in self.iter() {
            let h = hash_of(m);
            t.insert_unique(h, (h, s), |e: &(u64, f64)| e.0);
            if cur.len() == RUN_MAX * 3 / 4 {
                cur.buf.shrink_to_fit();
                runs.push(std::mem::take(&mut cur));
            }
            let at = cur.buf.len();
            cur.insert(at, s, m);
        }
        if cur.len() > 0 {
            cur.buf.shrink_to_fit();
            runs.push(cur);
        }
        self.runs = runs;
        self.table = Some(t);
        self.recount();
    }

    /// Into the large encoding whatever its size (SORT does this to a sorted set in Redis,
    /// and OBJECT ENCODING and lex ranges over mixed scores show it).
    pub fn to_large(&mut self) {
        if self.table.is_none() {
            self.convert();
        }
    }

    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a [u8], f64)>) -> ZSet {
        let mut z = ZSet::new();
        for (m, s) in entries {
            z.insert(m, s);
        }
        z
    }
}

/// Removes the table entry of (m, s). Two members with the same hash and score have equal
/// entries, so removing either is right.
fn forget(t: &mut HashTable<(u64, f64)>, m: &[u8], s: f64) {
    let h = hash_of(m);
    if let Ok(e) = t.find_entry(h, |&(eh, es)| eh == h && es.to_bits() == s.to_bits()) {
        e.remove();
    }
    if t.capacity() > 64 && t.len() * 8 < t.capacity() {
        t.shrink_to_fit(|e| e.0);
    }
}

/// Entries from a rank down, a run at a time (runs are walked forwards only).
pub struct RevIter<'a> {
    z: &'a ZSet,
    run: usize,
    buf: Vec<(f64, &'a [u8])>,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<(f64, &'a [u8])> {
        loop {
            if let Some(e) = self.buf.pop() {
                return Some(e);
            }
            if self.run == 0 {
                return None;
            }
            self.run -= 1;
            self.buf = self.z.runs[self.run].iter().collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The model: member → score, ordered on demand.
    fn ordered(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = m.iter().map(|(k, s)| (*s, k.clone())).collect();
        v.sort_by(|a, b| key_cmp(a.0, &a.1, b.0, &b.1));
        v
    }

    fn check(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>) {
        let want = ordered(model);
        let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(s, m)| (s, m.to_vec())).collect();
        assert_eq!(got, want);
        assert_eq!(z.len(), want.len());
        for (rank, (s, m)) in want.iter().enumerate() {
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.rank(m), Some(rank));
            assert_eq!(
                z.get(rank).map(|(s, m)| (s, m.to_vec())),
                Some((*s, m.clone()))
            );
        }
        let exact: usize = z.runs.iter().map(|r| size_class(r.buf.capacity())).sum();
        assert_eq!(z.bytes, exact, "kept capacity count");
        if let Some(t) = &z.table {
            assert_eq!(t.len(), z.len());
        }
    }

    #[test]
    fn converts_past_the_limit_and_keeps_order_and_ranks() {
        let mut z = ZSet::new();
        let mut model = BTreeMap::new();
        for i in 0..1000u32 {
            let m = format!("m{}", (i * 7919) % 1000).into_bytes();
            let s = f64::from(i % 37);
            z.insert(&m, s);
            model.insert(m, s);
            if i == 100 {
                assert_eq!(z.encoding(), "listpack");
                check(&z, &model);
            }
        }
        assert_eq!(z.encoding(), "skiplist");
        assert!(z.runs.len() > 8);
        check(&z, &model);
        assert_eq!(
            z.count_below(|s, _| s < 10.0),
            ordered(&model).iter().filter(|e| e.0 < 10.0).count()
        );
        let rev: Vec<_> = z
            .iter_rev_from(z.len() - 1)
            .map(|(s, m)| (s, m.to_vec()))
            .collect();
        let mut want = ordered(&model);
        want.reverse();
        assert_eq!(rev, want);
        let mut gone = Vec::new();
        z.remove_range(10, 900, |_, m| gone.push(m.to_vec()));
        assert_eq!(gone.len(), 890);
        for m in gone {
            model.remove(&m);
        }
        check(&z, &model);
    }

    #[test]
    fn an_equal_score_changes_nothing() {
        let mut z = ZSet::new();
        z.insert(b"a", -0.0);
        assert_eq!(z.insert(b"a", 0.0), Some(-0.0));
        assert!(z.score(b"a").unwrap().is_sign_negative());
    }

    proptest! {
        #[test]
        fn behaves_as_a_map_ordered_by_score(
            ops in proptest::collection::vec((0u8..4, 0u16..400, -20i32..20), 1..1500),
            long in any::<bool>(),
        ) {
            let mut z = ZSet::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for (op, k, n) in ops {
                // Members past the value limit convert a small set too.
                let pad = if long && k % 50 == 0 { 70 } else { 0 };
                let m = format!("member-{k:0pad$}").into_bytes();
                let s = f64::from(n) / 2.0;
                match op {
                    0 | 1 => { prop_assert_eq!(z.insert(&m, s), model.insert(m.clone(), s)); }
                    2 => { prop_assert_eq!(z.remove(&m), model.remove(&m)); }
                    _ => {
                        let start = usize::from(k) % (z.len() + 1);
                        let end = start + n.unsigned_abs() as usize;
                        let mut gone = Vec::new();
                        z.remove_range(start, end, |_, m| gone.push(m.to_vec()));
                        let want: Vec<Vec<u8>> = ordered(&model).into_iter().skip(start).take(end - start).map(|e| e.1).collect();
                        prop_assert_eq!(&gone, &want);
                        for m in gone { model.remove(&m); }
                    }
                }
            }
            check(&z, &model);
        }
    }
}
