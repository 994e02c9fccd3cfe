//! Redis's HyperLogLog, byte for byte: the 16-byte "HYLL" header with its cached cardinality,
//! the sparse (run-length opcodes) and dense (16384 six-bit registers) encodings, and Redis
//! 7.0's estimator. A value written here is the value Redis would hold after the same
//! commands, and a value copied from Redis works here. Pure functions on bytes: every input is
//! a string a client may have SET, so nothing here trusts a length, an opcode or a run.

/// Header: "HYLL", encoding, three unused bytes, the cached cardinality (little endian, its
/// top bit set when stale).
pub const HDR: usize = 16;
pub const REGISTERS: usize = 1 << P;
const P: u32 = 14;
/// Hash bits left after the register index.
const Q: usize = 64 - P as usize;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Length of a dense value.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// Where the cached cardinality sits.
pub const CACHE: usize = 8;
/// The byte holding the cache's "stale" bit.
const STALE_BYTE: usize = 15;
const STALE_BIT: u8 = 0x80;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
/// Redis's seed for MurmurHash64A in `hllPatLen`.
const SEED: u64 = 0xadc83b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// Why a string is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not an HLL at all (bad magic, encoding or dense length): Redis's WRONGTYPE.
    NotHll,
    /// An HLL whose registers do not decode: Redis's INVALIDOBJ.
    Corrupt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// Redis's `isHLLObjectOrReply`, past the type check: magic, encoding, dense length.
pub fn check(v: &[u8]) -> Result<Encoding, Invalid> {
    if v.len() < HDR || &v[..4] != b"HYLL" {
        return Err(Invalid::NotHll);
    }
    match v[4] {
        ENC_DENSE if v.len() == DENSE_SIZE => Ok(Encoding::Dense),
        ENC_SPARSE => Ok(Encoding::Sparse),
        _ => Err(Invalid::NotHll),
    }
}

/// The cached cardinality, when it is not stale.
pub fn cached(v: &[u8]) -> Option<u64> {
    let card: [u8; 8] = v.get(CACHE..HDR)?.try_into().ok()?;
    (card[7] & STALE_BIT == 0).then(|| u64::from_le_bytes(card))
}

/// The cache bytes for a freshly computed cardinality.
pub fn cache_bytes(card: u64) -> [u8; 8] {
    card.to_le_bytes()
}

/// Marks the cached cardinality stale.
pub fn invalidate(v: &mut [u8]) {
    v[STALE_BYTE] |= STALE_BIT;
}

/// The value PFADD creates: sparse, every register zero, cardinality 0 (not yet stale).
pub fn empty() -> Vec<u8> {
    let mut v = vec![0u8; HDR];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = ENC_SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(n));
        left -= n;
    }
    v
}

/// MurmurHash64A, as Redis's (little-endian words on every platform).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its hash's "000..1" run
/// (Redis's `hllPatLen`): 1..=51.
#[inline]
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// --- Dense registers: 6 bits each, packed from the least significant bit up ---

/// Register `i` of a dense register array (the value past its header).
#[inline]
fn get_register(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    // The last register's second byte is Redis's sds terminator: zero.
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) as u8) & REGISTER_MAX
}

/// Sets register `i` in `buf`, a window of a register array starting at byte `base`; the
/// window covers the bytes the register occupies.
#[inline]
fn set_register(buf: &mut [u8], base: usize, i: usize, val: u8) {
    let byte = i * BITS / 8 - base;
    let fb = (i * BITS) & 7;
    let v = u16::from(val);
    buf[byte] = (u16::from(buf[byte]) & !(u16::from(REGISTER_MAX) << fb) | (v << fb)) as u8;
    if fb > 8 - BITS {
        let rs = 8 - fb;
        buf[byte + 1] = (buf[byte + 1] & !(REGISTER_MAX >> rs)) | (val >> rs);
    }
}

/// The bytes of a register array register `i` occupies: its first, and its last.
#[inline]
fn register_bytes(i: usize) -> (usize, usize) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    (byte, if fb > 8 - BITS { byte + 1 } else { byte })
}

fn dense_histogram(regs: &[u8], h: &mut [u64; 64]) {
    // Four registers in every three bytes.
    for c in regs.chunks_exact(3) {
        let (b0, b1, b2) = (c[0], c[1], c[2]);
        h[usize::from(b0 & 63)] += 1;
        h[usize::from((b0 >> 6 | b1 << 2) & 63)] += 1;
        h[usize::from((b1 >> 4 | b2 << 4) & 63)] += 1;
        h[usize::from(b2 >> 2)] += 1;
    }
}

// --- Sparse opcodes: ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn len(self) -> usize {
        if matches!(self, Op::XZero(_)) { 2 } else { 1 }
    }
}

/// The opcode at `p` (< `s.len()`). An XZERO cut short by the end of the value reads its
/// second byte as zero, as Redis reads its string's terminator.
#[inline]
fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & VAL_BIT != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1)
    } else if b & XZERO_BIT != 0 {
        let lo = s.get(p + 1).copied().unwrap_or(0);
        Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(lo)) + 1)
    } else {
        Op::Zero(usize::from(b & 0x3f) + 1)
    }
}

fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | VAL_BIT
}

fn zero(len: usize) -> u8 {
    len as u8 - 1
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | XZERO_BIT, (l & 0xff) as u8]
}

/// Walks the registers of a sparse value in order, as Redis's `hllMerge` and
/// `hllSparseToDense` do: `f(index, value)` for every non-zero register. The opcodes must
/// cover the 16384 registers exactly, none running past the last (Redis's check since the
/// fix for CVE-2025-32023, which the reference 7.0.15 build carries).
fn sparse_each(v: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Invalid> {
    let (mut p, mut i) = (HDR, 0usize);
    while p < v.len() {
        let op = op_at(v, p);
        if i + op.span() > REGISTERS {
            return Err(Invalid::Corrupt);
        }
        if let Op::Val(value, n) = op {
            for r in i..i + n {
                f(r, value);
            }
        }
        i += op.span();
        p += op.len();
    }
    if i == REGISTERS {
        Ok(())
    } else {
        Err(Invalid::Corrupt)
    }
}

/// Redis's `hllSparseRegHisto`, with the same check as [`sparse_each`].
fn sparse_histogram(v: &[u8], h: &mut [u64; 64]) -> Result<(), Invalid> {
    sparse_each(v, |_, value| h[usize::from(value)] += 1)?;
    h[0] = REGISTERS as u64 - h[1..].iter().sum::<u64>();
    Ok(())
}

/// Redis's `hllSparseToDense`: the same header (cache included), dense registers.
pub fn to_dense(v: &[u8]) -> Result<Vec<u8>, Invalid> {
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&v[..HDR]);
    d[4] = ENC_DENSE;
    let regs = &mut d[HDR..];
    sparse_each(v, |i, value| set_register(regs, 0, i, value))?;
    Ok(d)
}

// --- Estimator: Redis 7.0's hllCount (Ertl, "New cardinality estimation algorithms for
// HyperLogLog sketches", arXiv:1702.01284) ---

/// Converges long before the bound on any histogram of 16384 registers; the bound only
/// keeps a loop finite whatever it is given.
const MAX_ITERATIONS: usize = 1000;

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    for _ in 0..MAX_ITERATIONS {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    for _ in 0..MAX_ITERATIONS {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // Redis's pow(1 - x, 2), which the compiler makes a product.
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

/// The cardinality of a register histogram. Past i64's range Redis's `llroundl` gives
/// LLONG_MIN, which it then stores and replies as is: so do we.
fn estimate(h: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = ALPHA_INF * m * m / z;
    if e.is_nan() || e >= 9_223_372_036_854_775_808.0 {
        1 << 63
    } else {
        e.round() as u64
    }
}

/// The cardinality of a valid HLL (see [`check`]), computed from its registers.
pub fn count(v: &[u8], enc: Encoding) -> Result<u64, Invalid> {
    let mut h = [0u64; 64];
    match enc {
        Encoding::Dense => dense_histogram(&v[HDR..], &mut h),
        Encoding::Sparse => sparse_histogram(v, &mut h)?,
    }
    Ok(estimate(&h))
}

/// One register per byte: what several HLLs merge into.
pub type Registers = [u8; REGISTERS];

/// Raises `max` to the registers of a valid HLL (Redis's `hllMerge`).
pub fn merge_into(max: &mut Registers, v: &[u8], enc: Encoding) -> Result<(), Invalid> {
    match enc {
        Encoding::Dense => {
            let regs = &v[HDR..];
            for (i, m) in max.iter_mut().enumerate() {
                *m = (*m).max(get_register(regs, i));
            }
            Ok(())
        }
        Encoding::Sparse => sparse_each(v, |i, value| max[i] = max[i].max(value)),
    }
}

/// The cardinality of merged registers (PFCOUNT of several keys).
pub fn count_registers(max: &Registers) -> u64 {
    let mut h = [0u64; 64];
    for &r in max.iter() {
        h[usize::from(r & 63)] += 1;
    }
    estimate(&h)
}

// --- Changing a sparse value: Redis's hllSparseSet, on a copy laid out as its sds ---

/// A sparse value being changed, laid out as Redis's sds string: the bytes, a terminator and
/// room for the 3 bytes one change may add. The room is read and written exactly where
/// Redis's code does, so a malformed value changes here as it would there.
struct Sds {
    buf: Vec<u8>,
    len: usize,
}

enum Set {
    Unchanged,
    Updated,
    /// Needs the dense encoding (a value over 32, or past `hll-sparse-max-bytes`).
    Promote,
    Corrupt,
}

impl Sds {
    fn new(v: &[u8]) -> Sds {
        let mut buf = Vec::with_capacity(v.len() + 4);
        buf.extend_from_slice(v);
        buf.resize(v.len() + 4, 0);
        Sds { buf, len: v.len() }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn into_value(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf.shrink_to_fit();
        self.buf
    }

    /// Redis's `sdsIncrLen`: the new length, and a terminator after it.
    fn incr_len(&mut self, delta: isize) {
        self.len = self.len.wrapping_add_signed(delta);
        self.buf[self.len] = 0;
    }

    /// Sets register `index` to `count` if that raises it.
    fn set(&mut self, index: usize, count: u8, max_bytes: usize) -> Set {
        if count > VAL_MAX_VALUE {
            return Set::Promote;
        }
        // sdsMakeRoomFor(3): a terminator and 3 spare bytes past the end.
        if self.buf.len() < self.len + 4 {
            self.buf.resize(self.len + 4, 0);
        }
        // Step 1: the opcode covering `index`.
        let (mut p, mut first, mut prev, mut span) = (HDR, 0usize, None, 0usize);
        let mut op = Op::Zero(0);
        while p < self.len {
            op = op_at(&self.buf, p);
            span = op.span();
            if index < first + span {
                break;
            }
            prev = Some(p);
            p += op.len();
            first += span;
        }
        if span == 0 || p >= self.len {
            return Set::Corrupt;
        }
        let next = Some(p + op.len()).filter(|&n| n < self.len);
        let runlen = span;
        // Step 2: the cases that change the opcode in place.
        let mut grew = false;
        match op {
            Op::Val(old, _) if old >= count => return Set::Unchanged,
            Op::Val(_, 1) | Op::Zero(1) => self.buf[p] = val(count, 1),
            _ => grew = true,
        }
        if grew {
            // Split the opcode around `index`: at most XZERO VAL XZERO.
            let mut seq = [0u8; 5];
            let mut n = 0;
            let last = first + runlen - 1;
            fn zeros(len: usize, seq: &mut [u8; 5], n: &mut usize) {
                if len > ZERO_MAX_LEN {
                    seq[*n..*n + 2].copy_from_slice(&xzero(len));
                    *n += 2;
                } else {
                    seq[*n] = zero(len);
                    *n += 1;
                }
            }
            match op {
                Op::Val(cur, _) => {
                    if index != first {
                        seq[n] = val(cur, index - first);
                        n += 1;
                    }
                    seq[n] = val(count, 1);
                    n += 1;
                    if index != last {
                        seq[n] = val(cur, last - index);
                        n += 1;
                    }
                }
                _ => {
                    if index != first {
                        zeros(index - first, &mut seq, &mut n);
                    }
                    seq[n] = val(count, 1);
                    n += 1;
                    if index != last {
                        zeros(last - index, &mut seq, &mut n);
                    }
                }
            }
            // Step 3: put the sequence in the opcode's place.
            let delta = n as isize - op.len() as isize;
            if delta > 0 && self.len + delta as usize > max_bytes {
                return Set::Promote;
            }
            if delta != 0
                && let Some(next) = next
            {
                let to = next.wrapping_add_signed(delta);
                self.buf.copy_within(next..self.len, to);
            }
            self.incr_len(delta);
            self.buf[p..p + n].copy_from_slice(&seq[..n]);
        }
        // Step 4: merge adjacent VALs of one value, scanning up to 5 opcodes from `prev`.
        let mut p = prev.unwrap_or(HDR);
        let mut scan = 5;
        while p < self.len && scan > 0 {
            scan -= 1;
            let b = self.buf[p];
            if b & VAL_BIT == 0 {
                p += if b & XZERO_BIT != 0 { 2 } else { 1 };
                continue;
            }
            if p + 1 < self.len && self.buf[p + 1] & VAL_BIT != 0 {
                let (Op::Val(v1, l1), Op::Val(v2, l2)) =
                    (op_at(&self.buf, p), op_at(&self.buf, p + 1))
                else {
                    unreachable!("both bytes have the VAL bit")
                };
                if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                    self.buf[p + 1] = val(v1, l1 + l2);
                    // Redis's memmove moves the terminator along.
                    self.buf.copy_within(p + 1..self.len + 1, p);
                    self.incr_len(-1);
                    continue;
                }
            }
            p += 1;
        }
        invalidate(&mut self.buf);
        Set::Updated
    }
}

/// What PFADD (or PFMERGE) did to a value.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    /// The new value, whole: a sparse value, or one just made dense.
    Whole(Vec<u8>),
    /// Bytes written over a dense value: (offset, bytes), in order, not overlapping.
    Patches(Vec<(usize, Vec<u8>)>),
}

/// PFADD's outcome: the change, and whether the value turned out corrupt on the way.
/// Redis keeps what it changed before it found the corruption (and replies INVALIDOBJ),
/// so the change stands either way.
#[derive(Debug, PartialEq, Eq)]
pub struct Added {
    pub change: Change,
    pub corrupt: bool,
}

/// Adds `elements` to a valid HLL (see [`check`]); `max_bytes` is `hll-sparse-max-bytes`.
pub fn add<'e>(
    v: &[u8],
    enc: Encoding,
    elements: impl IntoIterator<Item = &'e [u8]>,
    max_bytes: usize,
) -> Added {
    match enc {
        Encoding::Dense => Added {
            change: dense_add(v, elements),
            corrupt: false,
        },
        Encoding::Sparse => sparse_add(v, elements, max_bytes),
    }
}

fn sparse_add<'e>(
    v: &[u8],
    elements: impl IntoIterator<Item = &'e [u8]>,
    max_bytes: usize,
) -> Added {
    let mut s = Sds::new(v);
    let mut updated = false;
    let mut dense: Option<Vec<u8>> = None;
    let mut corrupt = false;
    for ele in elements {
        let (index, count) = pat_len(ele);
        if let Some(d) = dense.as_mut() {
            updated |= dense_set(&mut d[HDR..], index, count);
            continue;
        }
        match s.set(index, count, max_bytes) {
            Set::Unchanged => {}
            Set::Updated => updated = true,
            Set::Promote => match to_dense(s.bytes()) {
                Ok(mut d) => {
                    dense_set(&mut d[HDR..], index, count);
                    dense = Some(d);
                    updated = true;
                }
                Err(_) => {
                    corrupt = true;
                    break;
                }
            },
            Set::Corrupt => {
                corrupt = true;
                break;
            }
        }
    }
    let change = match (updated, dense) {
        (false, _) => Change::Unchanged,
        (true, Some(mut d)) => {
            invalidate(&mut d);
            Change::Whole(d)
        }
        (true, None) => Change::Whole(s.into_value()),
    };
    Added { change, corrupt }
}

/// Raises register `i` to `count`; true if it did.
#[inline]
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > get_register(regs, i) {
        set_register(regs, 0, i, count);
        true
    } else {
        false
    }
}

/// Two changed bytes at most this far apart go in one patch: a patch's own cost (a record
/// on the wire and in the AOF) is about this.
const PATCH_GAP: usize = 48;

/// PFADD on a dense value, as patches over it: reads the registers it needs, copies nothing
/// else. O(elements log elements).
fn dense_add<'e>(v: &[u8], elements: impl IntoIterator<Item = &'e [u8]>) -> Change {
    let regs = &v[HDR..];
    let mut raised: Vec<(usize, u8)> = elements
        .into_iter()
        .map(pat_len)
        .filter(|&(i, count)| count > get_register(regs, i))
        .collect();
    if raised.is_empty() {
        return Change::Unchanged;
    }
    // Highest count first for each register, so the first of each is the one to keep.
    raised.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    raised.dedup_by_key(|r| r.0);
    // Runs of value bytes: the stale bit (if the cache is valid) and the registers raised.
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new(); // start, end, first, last
    if v[STALE_BYTE] & STALE_BIT == 0 {
        runs.push((STALE_BYTE, STALE_BYTE + 1, 0, 0));
    }
    for (n, &(i, _)) in raised.iter().enumerate() {
        let (b0, b1) = register_bytes(i);
        let (start, end) = (HDR + b0, HDR + b1 + 1);
        match runs.last_mut() {
            Some(r) if start <= r.1 + PATCH_GAP => {
                r.1 = r.1.max(end);
                r.3 = n + 1;
            }
            _ => runs.push((start, end, n, n + 1)),
        }
    }
    let patches = runs
        .into_iter()
        .map(|(start, end, first, last)| {
            let mut bytes = v[start..end].to_vec();
            if start == STALE_BYTE {
                bytes[0] |= STALE_BIT;
            }
            // A window that starts at the stale bit holds the registers from its second byte.
            let (skip, base) = match start.checked_sub(HDR) {
                Some(base) => (0, base),
                None => (HDR - start, 0),
            };
            for &(i, count) in &raised[first..last] {
                set_register(&mut bytes[skip..], base, i, count);
            }
            (start, bytes)
        })
        .collect();
    Change::Patches(patches)
}

/// PFMERGE's destination: `dest` (valid, or absent: a new HLL) raised to `max`, dense if
/// `dense` (one of the inputs was), its cache stale.
pub fn merge_dest(
    dest: Option<&[u8]>,
    max: &Registers,
    dense: bool,
    max_bytes: usize,
) -> Result<Vec<u8>, Invalid> {
    enum Work {
        Dense(Vec<u8>),
        Sparse(Sds),
    }
    let start = dest.map_or_else(empty, <[u8]>::to_vec);
    let mut w = match check(&start)? {
        Encoding::Dense => Work::Dense(start),
        Encoding::Sparse if dense => Work::Dense(to_dense(&start)?),
        Encoding::Sparse => Work::Sparse(Sds::new(&start)),
    };
    for (i, &count) in max.iter().enumerate() {
        if count == 0 {
            continue;
        }
        match &mut w {
            Work::Dense(d) => {
                dense_set(&mut d[HDR..], i, count);
            }
            Work::Sparse(s) => match s.set(i, count, max_bytes) {
                Set::Promote => {
                    let mut d = to_dense(s.bytes())?;
                    dense_set(&mut d[HDR..], i, count);
                    w = Work::Dense(d);
                }
                // Every input, the destination included, decoded whole before this.
                Set::Corrupt => return Err(Invalid::Corrupt),
                Set::Unchanged | Set::Updated => {}
            },
        }
    }
    let mut out = match w {
        Work::Dense(d) => d,
        Work::Sparse(s) => s.into_value(),
    };
    invalidate(&mut out);
    Ok(out)
}

/// The ranges of bytes where `new` differs from `old` (same length), runs closer than a
/// patch's cost merged.
pub fn diff(old: &[u8], new: &[u8]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, _) in old.iter().zip(new).enumerate().filter(|(_, (a, b))| a != b) {
        match runs.last_mut() {
            Some(r) if i <= r.1 + PATCH_GAP => r.1 = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    runs
}

/// The largest value an HLL can become under `max_bytes` (for reserving memory first):
/// dense, or sparse up to the limit (and no sparse value needs more than one opcode per
/// register).
pub fn max_len(max_bytes: usize) -> usize {
    DENSE_SIZE.max(max_bytes.min(HDR + 2 * REGISTERS))
}

/// The opcodes of a sparse value as PFDEBUG DECODE lists them: `z:N`, `Z:N`, `v:VALUE,N`.
pub fn decode(v: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < v.len() {
        let op = op_at(v, p);
        out.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(value, n) => format!("v:{value},{n}"),
        });
        p += op.len();
    }
    out.join(" ")
}

/// Every register, decoded (PFDEBUG GETREG).
pub fn registers(v: &[u8], enc: Encoding) -> Result<Vec<u8>, Invalid> {
    let mut max = [0u8; REGISTERS];
    merge_into(&mut max, v, enc)?;
    Ok(max.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(v: &[u8], change: Change) -> Vec<u8> {
        match change {
            Change::Unchanged => v.to_vec(),
            Change::Whole(w) => w,
            Change::Patches(p) => {
                let mut out = v.to_vec();
                for (off, bytes) in p {
                    out[off..off + bytes.len()].copy_from_slice(&bytes);
                }
                out
            }
        }
    }

    /// PFADD as Redis does it on a value, `None` for a new key.
    fn pfadd(v: Option<&[u8]>, elements: &[&[u8]]) -> (Vec<u8>, bool) {
        let created = v.is_none();
        let mut base = v.map_or_else(empty, <[u8]>::to_vec);
        if created {
            invalidate(&mut base);
        }
        let enc = check(&base).unwrap();
        let added = add(&base, enc, elements.iter().copied(), 3000);
        assert!(!added.corrupt);
        let changed = added.change != Change::Unchanged;
        (apply(&base, added.change), created || changed)
    }

    fn elements(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("e{i}").into_bytes()).collect()
    }

    #[test]
    fn registers_and_runs_match_redis() {
        // (element, register, run length) as Redis 7.0.15's PFDEBUG GETREG showed them.
        for (e, i, c) in [
            (&b"a"[..], 12711, 2),
            (b"hello", 9216, 1),
            (b"", 5938, 2),
            (b"12345678", 10579, 3),
            (b"123456789", 9293, 2),
            (b"foo bar baz qux", 1705, 1),
            (b"x", 16374, 2),
        ] {
            assert_eq!(pat_len(e), (i, c), "{e:?}");
        }
    }

    fn sha256_hex(b: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    }

    /// `PFADD k e0 .. e{n-1}` (in batches of 1000), GET, PFCOUNT, GET: the counts, lengths
    /// and bytes Redis 7.0.15 gave.
    #[test]
    fn counts_and_bytes_match_redis() {
        #[rustfmt::skip]
        let want: &[(u32, u64, usize, &str, &str)] = &[
            (1, 1, 21, "b0e9338b711c718f8c660c838331c48590e4ecac97391cb8408bdd5bec28776d", "ccda8ba82764c30e591077812417c1f3a165c993cdaba7a6c5c185325d6745c5"),
            (5, 5, 33, "01494a2b14c1e212c1bb6a874a0d933fb8a7f0c9ef130ec18a30c3caf53c4e11", "365099a65879b49cf26395a4092f6e71206abfaff09671bd1afcc8886266992e"),
            (10, 10, 48, "5e1f7c888c80593cadd16ec9156fe7ed6c8ab05d1380008868f6e43573ca045d", "0bba112db5cc118cf31893908d2e54640bdf4049ee589c6fbf8d90df0fd3c91a"),
            (100, 100, 285, "53986fa020104b2d94c131f7d7b840674634568242921d84d01b767289a56a1d", "aebee27e50c672722325ed27d2acb1011cc7138f9a0f43d52abc23308a822a44"),
            (300, 302, 713, "ab79ebe4610713608b23a3804528ae5599497cc1c3c75823949c82ce2c86a485", "5c5ae406a720663ee52d40494c2524c28b6a11e991e72ee5280d5c0ccea416c5"),
            (1000, 1008, 1906, "519a7f0764d633e025ff9f8cdeb30cd2f452e2ad37f729f6b9ea7a4699791162", "ab6313e24c05ff993730105e09ef76d5c0c4fcde58406d6a29d1889220a056e4"),
            (2000, 2000, 12304, "2a070facb0df784f674c087a1d2148b97839b9438bfa5d08d0d4a858a0af5e4f", "934a6aaa45ebe9f4d7eb83d8de87a5e1a80bedb95a800a5d53c7008670f21c56"),
            (5000, 4968, 12304, "0a4b61a05c269540574e1293e6e18e69a4e9cb96ade9ecb5b7ff490debf31722", "bd470063c39f632ff0572b22d3ae558cdc523a5ae6f47e7324ed636dcc84e2ec"),
            (20000, 19901, 12304, "f491acb3b4a2b5308b23aba4dc292ccc3905e92ecc131f8f368334741fdc3dc7", "e0b65a9f0a68fd6067a893468cad7c12075492b4a9ebafeece2765c5d950fac3"),
            (100000, 100853, 12304, "db44442a96c3ca475b58a386c4e1263c33d76900a2a9f2a934e50769c36644f9", "548dba672576d8a299d51943c2728e21beda0aea57391bd87567dba08eed8e4e"),
        ];
        for &(n, card, len, stale, fresh) in want {
            let els = elements(0..n);
            let refs: Vec<&[u8]> = els.iter().map(|e| e.as_slice()).collect();
            let mut v: Option<Vec<u8>> = None;
            for batch in refs.chunks(1000) {
                v = Some(pfadd(v.as_deref(), batch).0);
            }
            let mut v = v.unwrap();
            assert_eq!((v.len(), sha256_hex(&v).as_str()), (len, stale), "n={n}");
            let enc = check(&v).unwrap();
            assert_eq!(cached(&v), None);
            let c = count(&v, enc).unwrap();
            assert_eq!(c, card, "n={n}");
            v[CACHE..HDR].copy_from_slice(&cache_bytes(c));
            assert_eq!(sha256_hex(&v), fresh, "n={n}");
            assert_eq!(cached(&v), Some(card));
        }
    }

    #[test]
    fn empty_is_redis_bytes() {
        let (v, created) = pfadd(None, &[]);
        assert!(created);
        assert_eq!(
            v,
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
        );
        assert_eq!(count(&v, Encoding::Sparse), Ok(0));
        assert_eq!(cached(&v), None);
    }

    #[test]
    fn header_checks() {
        assert_eq!(check(b"HYLL"), Err(Invalid::NotHll));
        assert_eq!(check(&[0; 20]), Err(Invalid::NotHll));
        let mut d = vec![0u8; DENSE_SIZE];
        d[..4].copy_from_slice(b"HYLL");
        assert_eq!(check(&d), Ok(Encoding::Dense));
        assert_eq!(check(&d[..DENSE_SIZE - 1]), Err(Invalid::NotHll));
        d[4] = 2;
        assert_eq!(check(&d), Err(Invalid::NotHll));
        let mut s = empty();
        assert_eq!(check(&s), Ok(Encoding::Sparse));
        s.truncate(HDR);
        assert_eq!(check(&s), Ok(Encoding::Sparse));
        assert_eq!(count(&s, Encoding::Sparse), Err(Invalid::Corrupt));
    }

    #[test]
    fn registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; REGISTERS * BITS / 8];
        let mut want = vec![0u8; REGISTERS];
        let mut rng = 0x1234_5678u64;
        for _ in 0..3 {
            for (i, w) in want.iter_mut().enumerate() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (rng >> 33) as u8 & REGISTER_MAX;
                *w = r;
                set_register(&mut regs, 0, i, r);
            }
            for (i, &w) in want.iter().enumerate() {
                assert_eq!(get_register(&regs, i), w, "register {i}");
            }
        }
        let mut h = [0u64; 64];
        dense_histogram(&regs, &mut h);
        for (v, &n) in h.iter().enumerate() {
            assert_eq!(
                n,
                want.iter().filter(|&&w| usize::from(w) == v).count() as u64
            );
        }
    }

    #[test]
    fn sparse_and_dense_agree_and_promotion_happens_at_the_limit() {
        let els = elements(0..5000);
        let refs: Vec<&[u8]> = els.iter().map(|e| e.as_slice()).collect();
        let mut sparse = empty();
        let mut dense = to_dense(&empty()).unwrap();
        let mut promoted_at = None;
        for (n, chunk) in refs.chunks(7).enumerate() {
            let s = add(
                &sparse,
                check(&sparse).unwrap(),
                chunk.iter().copied(),
                3000,
            );
            sparse = apply(&sparse, s.change);
            let d = add(&dense, Encoding::Dense, chunk.iter().copied(), 3000);
            dense = apply(&dense, d.change);
            let enc = check(&sparse).unwrap();
            if enc == Encoding::Sparse {
                assert!(sparse.len() <= 3000);
            } else if promoted_at.is_none() {
                promoted_at = Some(n);
            }
            assert_eq!(
                registers(&sparse, enc).unwrap(),
                registers(&dense, Encoding::Dense).unwrap(),
                "after chunk {n}"
            );
            assert_eq!(count(&sparse, enc), count(&dense, Encoding::Dense));
        }
        assert!(promoted_at.is_some());
        // The dense copies agree byte for byte but for the cache (stale on both).
        assert_eq!(sparse[HDR..], dense[HDR..]);
        let c = count(&dense, Encoding::Dense).unwrap();
        assert!((4800..5200).contains(&c), "{c}");
    }

    #[test]
    fn dense_patches_cover_exactly_the_change() {
        let els = elements(0..3000);
        let refs: Vec<&[u8]> = els.iter().map(|e| e.as_slice()).collect();
        let mut v = to_dense(&empty()).unwrap();
        v[STALE_BYTE] = 0; // a valid cache: the first patch flips its bit
        for chunk in refs.chunks(13) {
            // The reference: Redis's loop on a whole copy.
            let mut want = v.clone();
            let mut changed = false;
            for e in chunk {
                let (i, c) = pat_len(e);
                changed |= dense_set(&mut want[HDR..], i, c);
            }
            if changed {
                invalidate(&mut want);
            }
            let got = dense_add(&v, chunk.iter().copied());
            if let Change::Patches(p) = &got {
                assert!(p.windows(2).all(|w| w[0].0 + w[0].1.len() < w[1].0));
            }
            assert_eq!(changed, got != Change::Unchanged);
            v = apply(&v, got);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn estimator_edges() {
        let mut h = [0u64; 64];
        h[0] = REGISTERS as u64;
        assert_eq!(estimate(&h), 0);
        // Every register at 51 or above: Redis's llroundl overflows to LLONG_MIN.
        let mut all = [0u64; 64];
        all[63] = REGISTERS as u64;
        assert_eq!(estimate(&all), 1 << 63);
    }

    #[test]
    fn corrupt_sparse_values_are_refused_without_panicking() {
        let hdr = &empty()[..HDR];
        let with = |ops: &[u8]| [hdr, ops].concat();
        // Too few registers, too many, a VAL past the end, a cut XZERO, nothing at all.
        for ops in [
            &[0x7f, 0xfe][..],
            &[0x7f, 0xff, 0x00],
            &[0x7f, 0xfe, 0x81],
            &[0x7f],
            &[],
            &[0xff; 10],
            &[0x7f, 0xff, 0x80],
        ] {
            let v = with(ops);
            assert_eq!(
                count(&v, Encoding::Sparse),
                Err(Invalid::Corrupt),
                "{ops:?}"
            );
            let mut max = [0u8; REGISTERS];
            assert_eq!(
                merge_into(&mut max, &v, Encoding::Sparse),
                Err(Invalid::Corrupt)
            );
            let _ = add(&v, Encoding::Sparse, [&b"a"[..], b"b", b"c"], 3000);
            assert_eq!(
                merge_dest(Some(&v), &max, true, 3000),
                Err(Invalid::Corrupt)
            );
        }
        // A VAL past the last register (Redis 7.0.15 before the CVE-2025-32023 fix let its
        // merge accept this one).
        let v = with(&[0x7f, 0xff, 0x80]);
        let mut max = [0u8; REGISTERS];
        assert_eq!(
            merge_into(&mut max, &v, Encoding::Sparse),
            Err(Invalid::Corrupt)
        );
        assert_eq!(count(&v, Encoding::Sparse), Err(Invalid::Corrupt));
    }

    #[test]
    fn diff_finds_runs() {
        let a = vec![0u8; 400];
        let mut b = a.clone();
        b[3] = 1;
        b[10] = 1;
        b[300] = 2;
        assert_eq!(diff(&a, &b), vec![(3, 11), (300, 301)]);
        assert!(diff(&a, &a).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever follows a valid header, nothing panics, loops or reads out of bounds.
        #[test]
        fn hostile_bytes_after_a_header_never_panic(
            sparse in any::<bool>(),
            cache in any::<[u8; 8]>(),
            body in proptest::collection::vec(any::<u8>(), 0..600),
            eles in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..20),
        ) {
            let mut v = b"HYLL".to_vec();
            v.push(u8::from(sparse));
            v.extend_from_slice(&[0, 0, 0]);
            v.extend_from_slice(&cache);
            if sparse {
                v.extend_from_slice(&body);
            } else {
                v.extend(body.iter().copied().cycle().take(DENSE_SIZE - HDR));
                v.resize(DENSE_SIZE, 0);
            }
            let enc = check(&v).unwrap();
            let refs: Vec<&[u8]> = eles.iter().map(|e| e.as_slice()).collect();
            let _ = cached(&v);
            let _ = count(&v, enc);
            let mut max = [0u8; REGISTERS];
            let merged = merge_into(&mut max, &v, enc);
            let _ = count_registers(&max);
            // PFMERGE writes only once every input merged; the write never fails then.
            let r = merge_dest(Some(&v), &max, !sparse, 3000);
            if merged.is_ok() {
                prop_assert!(r.is_ok());
            }
            if let Ok(out) = r {
                prop_assert!(check(&out).is_ok());
            }
            let added = add(&v, enc, refs.iter().copied(), 3000);
            if let Change::Whole(w) = added.change {
                prop_assert!(check(&w).is_ok());
            }
            let _ = add(&v, enc, refs.iter().copied(), 0);
        }
    }
}
