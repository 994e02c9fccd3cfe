//! A cuckoo filter (Fan, Andersen, Kaminsky and Mitzenmacher, "Cuckoo Filter: Practically
//! Better Than Bloom", 2014): approximate membership with deletion.
//!
//! Ours rather than a crate's because it must take the key's hash the keyspace already
//! computed, live inside a shard's lock, serialise into our snapshot and replication records,
//! report the figures we export, and grow without ever dropping a fingerprint.
//!
//! Layout: each layer is a power-of-two number of buckets of `slots` fingerprints of `bits`
//! bits each, packed densely into u64 words (fingerprint 0 marks an empty slot). An item with
//! 64-bit hash `h` has fingerprint `f` (bits 32.. of `h`) and two candidate buckets,
//! `i1 = h mod n` and `i2 = i1 ^ H(f) mod n` (partial-key cuckoo hashing: either bucket and
//! the fingerprint give the other).
//!
//! Inserting into two full buckets relocates ("kicks") resident fingerprints to their other
//! bucket, at most `max_kicks` times. If that fails, every move is undone — the layer is
//! exactly as before — and the item goes into a new layer, larger by `expansion`, whose
//! fingerprints are one bit longer so the false-positive rates of all layers sum to less than
//! the first one's bound. A full filter therefore never loses an entry: there is no false
//! negative, ever.

/// Fingerprint bits are kept in this range.
pub const MIN_BITS: u32 = 4;
pub const MAX_BITS: u32 = 24;
/// Layers a filter may have (RedisBloom's limit too).
pub const MAX_LAYERS: usize = 32;

/// Fingerprint bits for a false-positive rate with `slots` per bucket: the paper's bound
/// `2·slots / 2^bits`, plus one bit of headroom so that growth layers stay within the rate.
pub fn bits_for(fpp: f64, slots: usize) -> u32 {
    let fpp = if fpp > 0.0 && fpp < 1.0 { fpp } else { 0.01 };
    let bits = ((2.0 * slots as f64) / fpp).log2().ceil() as u32 + 1;
    bits.clamp(MIN_BITS, MAX_BITS)
}

/// The false-positive rate bound of a layer with these parameters, when full.
pub fn bound(bits: u32, slots: usize) -> f64 {
    2.0 * slots as f64 / (1u64 << bits) as f64
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    bits: u32,
    /// The first layer's bits: the alternate bucket derives from these low bits of a
    /// fingerprint in every layer (see `remove`).
    base_bits: u32,
    slots: usize,
    /// Power of two.
    buckets: usize,
    words: Vec<u64>,
    len: usize,
}

impl Layer {
    fn new(buckets: usize, slots: usize, bits: u32, base_bits: u32) -> Layer {
        let buckets = buckets.max(1).next_power_of_two();
        let total_bits = buckets * slots * bits as usize;
        // One spare word so a read that straddles the last word boundary stays in bounds.
        Layer {
            bits,
            base_bits,
            slots,
            buckets,
            words: vec![0; total_bits.div_ceil(64) + 1],
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// The item's fingerprint: bits 32.. of its hash. 0 marks an empty slot, so a fingerprint
    /// whose base bits are all 0 gets its lowest bit set — in every layer alike, so that a
    /// layer's fingerprint is always the next layer's with its top bit dropped.
    #[inline]
    fn fingerprint(&self, h: u64) -> u32 {
        let f = ((h >> 32) & self.mask()) as u32;
        if f & ((1u32 << self.base_bits) - 1) == 0 {
            f | 1
        } else {
            f
        }
    }

    #[inline]
    fn index(&self, h: u64) -> usize {
        (h as usize) & (self.buckets - 1)
    }

    #[inline]
    fn alt(&self, i: usize, f: u32) -> usize {
        let base = (f & ((1u32 << self.base_bits) - 1)) as u64;
        // MurmurHash2's multiplier spreads the fingerprint over the index bits.
        (i ^ base.wrapping_mul(0x5bd1_e995) as usize) & (self.buckets - 1)
    }

    #[inline]
    fn get(&self, b: usize, s: usize) -> u32 {
        let pos = (b * self.slots + s) * self.bits as usize;
        let (w, off) = (pos / 64, pos % 64);
        let lo = self.words[w] >> off;
        let v = if off + self.bits as usize > 64 {
            lo | (self.words[w + 1] << (64 - off))
        } else {
            lo
        };
        (v & self.mask()) as u32
    }

    #[inline]
    fn set(&mut self, b: usize, s: usize, f: u32) {
        let pos = (b * self.slots + s) * self.bits as usize;
        let (w, off) = (pos / 64, pos % 64);
        let m = self.mask();
        let f = f as u64 & m;
        self.words[w] = (self.words[w] & !(m << off)) | (f << off);
        if off + self.bits as usize > 64 {
            let spill = 64 - off;
            self.words[w + 1] = (self.words[w + 1] & !(m >> spill)) | (f >> spill);
        }
    }

    fn find(&self, b: usize, f: u32) -> Option<usize> {
        (0..self.slots).find(|&s| self.get(b, s) == f)
    }

    fn put(&mut self, b: usize, f: u32) -> bool {
        match self.find(b, 0) {
            Some(s) => {
                self.set(b, s, f);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn contains(&self, h: u64) -> bool {
        let f = self.fingerprint(h);
        let i1 = self.index(h);
        self.find(i1, f).is_some() || self.find(self.alt(i1, f), f).is_some()
    }

    fn count(&self, h: u64) -> usize {
        let f = self.fingerprint(h);
        let i1 = self.index(h);
        let i2 = self.alt(i1, f);
        let n = |b| (0..self.slots).filter(|&s| self.get(b, s) == f).count();
        if i1 == i2 { n(i1) } else { n(i1) + n(i2) }
    }

    fn remove(&mut self, h: u64) -> bool {
        let f = self.fingerprint(h);
        let i1 = self.index(h);
        for b in [i1, self.alt(i1, f)] {
            if let Some(s) = self.find(b, f) {
                self.set(b, s, 0);
                self.len -= 1;
                return true;
            }
        }
        false
    }

    /// Inserts, kicking residents at most `max_kicks` times; on failure the layer is left
    /// exactly as it was. Returns the kicks made (Err when it failed).
    fn insert(&mut self, h: u64, max_kicks: u32) -> Result<u32, u32> {
        let f = self.fingerprint(h);
        let i1 = self.index(h);
        let i2 = self.alt(i1, f);
        if self.put(i1, f) || self.put(i2, f) {
            return Ok(0);
        }
        // Deterministic choices (seeded by the hash), so replaying the same inserts rebuilds
        // the same filter.
        let mut rng = h | 1;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut path: Vec<(usize, usize)> = Vec::with_capacity(max_kicks as usize);
        let mut b = if next() & 1 == 0 { i1 } else { i2 };
        let mut cur = f;
        for kick in 1..=max_kicks {
            let s = (next() % self.slots as u64) as usize;
            let victim = self.get(b, s);
            self.set(b, s, cur);
            path.push((b, s));
            cur = victim;
            b = self.alt(b, cur);
            if self.put(b, cur) {
                return Ok(kick);
            }
        }
        // Undo the moves, last first: each slot gets back what it held before.
        for &(b, s) in path.iter().rev() {
            let placed = self.get(b, s);
            self.set(b, s, cur);
            cur = placed;
        }
        debug_assert_eq!(cur, f);
        Err(max_kicks)
    }

    fn capacity(&self) -> usize {
        self.buckets * self.slots
    }

    fn memory(&self) -> usize {
        self.words.len() * 8
    }
}

/// Counters of a filter's operations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ops {
    pub adds: u64,
    pub failed_adds: u64,
    pub deletes: u64,
    pub lookups: u64,
    pub kicks: u64,
    pub resizes: u64,
}

impl std::ops::AddAssign for Ops {
    fn add_assign(&mut self, o: Ops) {
        self.adds += o.adds;
        self.failed_adds += o.failed_adds;
        self.deletes += o.deletes;
        self.lookups += o.lookups;
        self.kicks += o.kicks;
        self.resizes += o.resizes;
    }
}

/// A cuckoo filter of one or more layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuckooFilter {
    layers: Vec<Layer>,
    slots: usize,
    bits: u32,
    max_kicks: u32,
    /// Each new layer has this many times the buckets of the last (0: never grow).
    expansion: u32,
    /// Items deleted since creation (CF.INFO reports it).
    deleted: u64,
    pub ops: Ops,
}

/// Why an insert failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The filter may not grow (expansion 0, or the layer limit).
    Full,
}

impl CuckooFilter {
    /// A filter for about `capacity` items with `slots` fingerprints of `bits` bits per bucket.
    pub fn new(capacity: usize, slots: usize, bits: u32, max_kicks: u32, expansion: u32) -> Self {
        let slots = slots.clamp(1, 255);
        let bits = bits.clamp(MIN_BITS, MAX_BITS);
        let buckets = capacity.div_ceil(slots).max(1);
        CuckooFilter {
            layers: vec![Layer::new(buckets, slots, bits, bits)],
            slots,
            bits,
            max_kicks: max_kicks.max(1),
            expansion,
            deleted: 0,
            ops: Ops::default(),
        }
    }

    /// The filter HyperCache keeps per store: buckets of 4, bits from the rate, 500 kicks,
    /// doubling growth.
    pub fn for_keys(capacity: usize, fpp: f64) -> Self {
        CuckooFilter::new(capacity, 4, bits_for(fpp, 4), 500, 2)
    }

    /// An empty filter of the same parameters, sized for `capacity` items in one layer.
    pub fn empty_like(&self, capacity: usize) -> Self {
        CuckooFilter::new(
            capacity,
            self.slots,
            self.bits,
            self.max_kicks,
            self.expansion,
        )
    }

    /// Adds an item; duplicates are stored again (as RedisBloom's CF.ADD).
    pub fn insert(&mut self, h: u64) -> Result<(), Full> {
        self.ops.adds += 1;
        // Older layers may have room again after deletions: try them first without kicking,
        // then kick in the newest only.
        let newest = self.layers.len() - 1;
        for l in self.layers[..newest].iter_mut() {
            let f = l.fingerprint(h);
            let i1 = l.index(h);
            let i2 = l.alt(i1, f);
            if l.put(i1, f) || l.put(i2, f) {
                return Ok(());
            }
        }
        match self.layers[newest].insert(h, self.max_kicks) {
            Ok(k) => {
                self.ops.kicks += k as u64;
                Ok(())
            }
            Err(k) => {
                self.ops.kicks += k as u64;
                self.grow(h)
            }
        }
    }

    fn grow(&mut self, h: u64) -> Result<(), Full> {
        if self.expansion == 0 || self.layers.len() >= MAX_LAYERS {
            self.ops.failed_adds += 1;
            self.ops.adds -= 1;
            return Err(Full::Full);
        }
        let last = &self.layers[self.layers.len() - 1];
        let buckets = last.buckets.saturating_mul(self.expansion as usize);
        let bits = (last.bits + 1).min(MAX_BITS);
        let mut layer = Layer::new(buckets, self.slots, bits, self.bits);
        // An empty layer always has room in its two candidate buckets.
        let placed = layer.insert(h, self.max_kicks).is_ok();
        self.layers.push(layer);
        self.ops.resizes += 1;
        if placed {
            Ok(())
        } else {
            self.ops.failed_adds += 1;
            self.ops.adds -= 1;
            Err(Full::Full)
        }
    }

    /// Whether the item may be present (false: it is certainly absent).
    #[inline]
    pub fn contains(&mut self, h: u64) -> bool {
        self.ops.lookups += 1;
        self.peek(h)
    }

    /// As `contains`, without counting the lookup.
    pub fn peek(&self, h: u64) -> bool {
        self.layers.iter().rev().any(|l| l.contains(h))
    }

    /// How many copies of the item's fingerprint the filter holds (an upper bound).
    pub fn count(&self, h: u64) -> usize {
        self.layers.iter().map(|l| l.count(h)).sum()
    }

    /// Removes one copy of the item; false when it was not there.
    ///
    /// Newest layer first, and that keeps every other item findable: layer sizes are nested
    /// powers of two, a layer's fingerprint is the next one's minus its top bit, and the
    /// alternate bucket uses only the base bits — so two items that collide in a layer collide
    /// in every older one. The first match, found at layer j, belongs to an item that collides
    /// with ours at j and below; our own copy lives at j or below (else it would have matched
    /// first) and answers for that item from now on.
    pub fn remove(&mut self, h: u64) -> bool {
        for l in self.layers.iter_mut().rev() {
            if l.remove(h) {
                self.ops.deletes += 1;
                self.deleted += 1;
                return true;
            }
        }
        false
    }

    /// Fingerprints held.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in all layers.
    pub fn capacity(&self) -> usize {
        self.layers.iter().map(|l| l.capacity()).sum()
    }

    pub fn load_factor(&self) -> f64 {
        self.len() as f64 / self.capacity().max(1) as f64
    }

    /// Bytes of the fingerprint arrays.
    pub fn memory(&self) -> usize {
        self.layers.iter().map(|l| l.memory()).sum::<usize>() + std::mem::size_of::<Self>()
    }

    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// Buckets of the first layer (CF.INFO's "Number of buckets").
    pub fn first_buckets(&self) -> usize {
        self.layers[0].buckets
    }

    pub fn buckets(&self) -> usize {
        self.layers.iter().map(|l| l.buckets).sum()
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Fingerprint bits of the first layer (later ones have one more each).
    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn max_kicks(&self) -> u32 {
        self.max_kicks
    }

    pub fn expansion(&self) -> u32 {
        self.expansion
    }

    pub fn deleted(&self) -> u64 {
        self.deleted
    }

    /// The expected false-positive rate at the current fill: each layer contributes
    /// `2·slots·load / 2^bits`.
    pub fn expected_fpp(&self) -> f64 {
        self.layers
            .iter()
            .map(|l| bound(l.bits, l.slots) * l.len as f64 / l.capacity().max(1) as f64)
            .sum()
    }

    /// Empties the filter, keeping only its first layer's shape.
    pub fn clear(&mut self) {
        self.layers.truncate(1);
        let l = &mut self.layers[0];
        l.words.iter_mut().for_each(|w| *w = 0);
        l.len = 0;
    }

    /// The filter as bytes (for snapshots, the AOF and replication).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(1); // format version
        out.extend_from_slice(&(self.slots as u16).to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        out.extend_from_slice(&self.max_kicks.to_le_bytes());
        out.extend_from_slice(&self.expansion.to_le_bytes());
        out.extend_from_slice(&self.deleted.to_le_bytes());
        out.extend_from_slice(&(self.layers.len() as u32).to_le_bytes());
        for l in &self.layers {
            out.extend_from_slice(&l.bits.to_le_bytes());
            out.extend_from_slice(&(l.buckets as u64).to_le_bytes());
            out.extend_from_slice(&(l.len as u64).to_le_bytes());
            out.extend_from_slice(&(l.words.len() as u64).to_le_bytes());
            for w in &l.words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }

    /// Reads what [`encode`](Self::encode) wrote; `None` for anything malformed.
    pub fn decode(b: &[u8]) -> Option<CuckooFilter> {
        let mut r = Reader { b, at: 0 };
        if r.u8()? != 1 {
            return None;
        }
        let slots = r.u16()? as usize;
        let bits = r.u32()?;
        let max_kicks = r.u32()?;
        let expansion = r.u32()?;
        let deleted = r.u64()?;
        let n = r.u32()? as usize;
        if !(1..=255).contains(&slots)
            || !(MIN_BITS..=MAX_BITS).contains(&bits)
            || !(1..=MAX_LAYERS).contains(&n)
        {
            return None;
        }
        let mut layers = Vec::with_capacity(n);
        for _ in 0..n {
            let lbits = r.u32()?;
            let buckets = usize::try_from(r.u64()?).ok()?;
            let len = usize::try_from(r.u64()?).ok()?;
            let words = usize::try_from(r.u64()?).ok()?;
            if !(bits..=MAX_BITS).contains(&lbits)
                || !buckets.is_power_of_two()
                || words
                    != (buckets.checked_mul(slots)?.checked_mul(lbits as usize)?).div_ceil(64) + 1
                || words > (r.b.len() - r.at) / 8
            {
                return None;
            }
            let mut l = Layer {
                bits: lbits,
                base_bits: bits,
                slots,
                buckets,
                words: Vec::with_capacity(words),
                len: 0,
            };
            for _ in 0..words {
                l.words.push(r.u64()?);
            }
            // The count must match the contents, or later deletes could underflow it.
            let actual = (0..buckets)
                .map(|b| (0..slots).filter(|&s| l.get(b, s) != 0).count())
                .sum::<usize>();
            if actual != len {
                return None;
            }
            l.len = len;
            layers.push(l);
        }
        if r.at != b.len() {
            return None;
        }
        Some(CuckooFilter {
            layers,
            slots,
            bits,
            max_kicks: max_kicks.max(1),
            expansion,
            deleted,
            ops: Ops::default(),
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at + N)?;
        self.at += N;
        s.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn h(i: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())
    }

    #[test]
    fn bits_follow_the_rate() {
        assert_eq!(bits_for(0.01, 4), 11);
        assert_eq!(bits_for(0.001, 4), 14);
        assert!(bound(bits_for(0.01, 4), 4) <= 0.005);
        assert_eq!(bits_for(1e-12, 4), MAX_BITS);
    }

    #[test]
    fn packed_slots_round_trip_across_word_boundaries() {
        for bits in MIN_BITS..=MAX_BITS {
            let mut l = Layer::new(64, 4, bits, bits);
            let m = (1u64 << bits) - 1;
            for b in 0..64 {
                for s in 0..4 {
                    l.set(b, s, (((b * 4 + s) as u64 * 2_654_435_761) & m) as u32);
                }
            }
            for b in 0..64 {
                for s in 0..4 {
                    assert_eq!(
                        l.get(b, s),
                        (((b * 4 + s) as u64 * 2_654_435_761) & m) as u32
                    );
                }
            }
        }
    }

    #[test]
    fn a_failed_kick_chain_leaves_the_layer_unchanged() {
        let mut l = Layer::new(16, 4, 8, 8);
        let mut i = 0;
        while l.insert(h(i), 500).is_ok() {
            i += 1;
        }
        let before = l.clone();
        for j in i..i + 50 {
            assert!(l.insert(h(j), 500).is_err());
            assert_eq!(l, before);
        }
        for j in 0..i {
            assert!(l.contains(h(j)));
        }
    }

    #[test]
    fn it_grows_instead_of_losing_entries() {
        let mut f = CuckooFilter::for_keys(64, 0.01);
        for i in 0..100_000 {
            f.insert(h(i)).unwrap();
        }
        assert!(f.layers() > 1 && f.ops.resizes > 0);
        for i in 0..100_000 {
            assert!(f.peek(h(i)), "false negative for {i}");
        }
        assert_eq!(f.len(), 100_000);
    }

    #[test]
    fn without_expansion_it_reports_full() {
        let mut f = CuckooFilter::new(64, 2, 8, 20, 0);
        let mut added = 0;
        let mut full = false;
        for i in 0..1_000 {
            match f.insert(h(i)) {
                Ok(()) => added += 1,
                Err(Full::Full) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full && added >= 32 && f.layers() == 1, "{added}");
        for i in 0..added {
            assert!(f.peek(h(i)));
        }
    }

    #[test]
    fn encode_decode_round_trip_and_reject_corruption() {
        let mut f = CuckooFilter::for_keys(100, 0.001);
        for i in 0..1_000 {
            f.insert(h(i)).unwrap();
        }
        f.remove(h(3));
        let mut b = Vec::new();
        f.encode(&mut b);
        let g = CuckooFilter::decode(&b).unwrap();
        assert_eq!(g.len(), f.len());
        assert_eq!(g.layers, f.layers);
        assert_eq!(g.deleted(), 1);
        for cut in 0..b.len() {
            assert!(CuckooFilter::decode(&b[..cut]).is_none(), "cut at {cut}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(CuckooFilter::decode(&extra).is_none());
    }

    /// Observed false-positive rate over `probes` absent items after `n` inserts.
    fn observed(fpp: f64, n: u64, probes: u64) -> f64 {
        let mut f = CuckooFilter::for_keys(1024, fpp);
        for i in 0..n {
            f.insert(h(i)).unwrap();
        }
        let fp = (n..n + probes).filter(|&i| f.peek(h(i))).count();
        fp as f64 / probes as f64
    }

    #[test]
    fn false_positive_rate_at_a_million_items() {
        for fpp in [0.01, 0.001] {
            let rate = observed(fpp, 1_000_000, 1_000_000);
            assert!(rate <= fpp * 1.2, "fpp {fpp}: observed {rate}");
            // And not absurdly better: the bits are spent where they are needed.
            assert!(rate >= fpp / 20.0, "fpp {fpp}: observed {rate}");
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Add(u16),
        Del(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => any::<u16>().prop_map(Step::Add),
            1 => any::<u16>().prop_map(Step::Del),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// A multiset model: every item added and not yet deleted as often is found.
        #[test]
        fn no_false_negatives(steps in proptest::collection::vec(step(), 1..3000)) {
            let mut f = CuckooFilter::new(16, 4, 8, 50, 2);
            let mut model: HashMap<u16, usize> = HashMap::new();
            for s in steps {
                match s {
                    Step::Add(k) => {
                        f.insert(h(k as u64)).unwrap();
                        *model.entry(k).or_default() += 1;
                    }
                    // Deleting only what was added, as the keyspace does.
                    Step::Del(k) => {
                        if let Some(n) = model.get_mut(&k).filter(|n| **n > 0) {
                            prop_assert!(f.remove(h(k as u64)));
                            *n -= 1;
                        }
                    }
                }
                prop_assert_eq!(f.len(), model.values().sum::<usize>());
            }
            for (k, n) in model {
                if n > 0 {
                    prop_assert!(f.peek(h(k as u64)), "false negative for {}", k);
                    prop_assert!(f.count(h(k as u64)) >= n);
                }
            }
        }
    }
}
