//! Bitmaps on byte strings, numbered as Redis numbers them: bit 0 is the most significant bit
//! of the first byte. The pure part of GETBIT … BITFIELD: long ranges go a 64-bit word at a
//! time (what the compiler vectorises), only the partial bytes at a range's edges bit by bit.

/// The bit at `pos`; bits past the end are 0.
#[inline]
pub fn get_bit(b: &[u8], pos: u64) -> bool {
    usize::try_from(pos >> 3)
        .ok()
        .and_then(|i| b.get(i))
        .is_some_and(|&x| x & (0x80 >> (pos & 7)) != 0)
}

/// An 8-byte chunk as a word (in memory order: only compared or counted as a whole).
#[inline]
fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_ne_bytes(w)
}

/// The number of set bits in `b`.
pub fn popcount(b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(8);
    let n: u64 = (&mut words).map(|c| u64::from(word(c).count_ones())).sum();
    n + words
        .remainder()
        .iter()
        .map(|x| u64::from(x.count_ones()))
        .sum::<u64>()
}

/// The bits of one byte from bit `first` to bit `last` (0..=7, MSB first), inclusive.
#[inline]
fn byte_mask(first: u64, last: u64) -> u8 {
    (0xFF >> first) & (0xFF << (7 - last))
}

/// The number of set bits from bit `first` to bit `last`, inclusive; `first <= last` and
/// `last` within `b`.
pub fn count_range(b: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    if fb == lb {
        return u64::from((b[fb] & byte_mask(first & 7, last & 7)).count_ones());
    }
    let edges = (b[fb] & byte_mask(first & 7, 7)).count_ones()
        + (b[lb] & byte_mask(0, last & 7)).count_ones();
    u64::from(edges) + popcount(&b[fb + 1..lb])
}

/// The position of the first bit equal to `bit` in `b`, if there is one.
pub fn find(b: &[u8], bit: bool) -> Option<u64> {
    // A word or byte with nothing to find is all `skip`.
    let skip = if bit { 0 } else { u64::MAX };
    let mut words = b.chunks_exact(8);
    let mut pos = 0u64;
    for c in &mut words {
        if word(c) != skip {
            // Only now in bit order: the first byte is the most significant.
            let w = u64::from_be(word(c));
            let w = if bit { w } else { !w };
            return Some(pos + u64::from(w.leading_zeros()));
        }
        pos += 64;
    }
    for &x in words.remainder() {
        let x = if bit { x } else { !x };
        if x != 0 {
            return Some(pos + u64::from(x.leading_zeros()));
        }
        pos += 8;
    }
    None
}

/// The position of the first bit equal to `bit` from bit `first` to bit `last`, inclusive;
/// `first <= last` and `last` within `b`.
pub fn find_range(b: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let in_byte = |i: usize, from: u64, to: u64| {
        let x = if bit { b[i] } else { !b[i] } & byte_mask(from, to);
        (x != 0).then(|| (i as u64) * 8 + u64::from(x.leading_zeros()))
    };
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    if fb == lb {
        return in_byte(fb, first & 7, last & 7);
    }
    in_byte(fb, first & 7, 7)
        .or_else(|| find(&b[fb + 1..lb], bit).map(|p| (fb as u64 + 1) * 8 + p))
        .or_else(|| in_byte(lb, 0, last & 7))
}

/// The `bits`-wide (1..=64) unsigned field at bit `pos`; bits past the end of `b` are 0.
pub fn get_field(b: &[u8], pos: u64, bits: u32) -> u64 {
    let start = usize::try_from(pos >> 3).unwrap_or(usize::MAX);
    // Nine bytes hold any field of up to 64 bits, whatever its first bit within a byte.
    let mut w: u128 = 0;
    for i in 0..9 {
        let x = start
            .checked_add(i)
            .and_then(|j| b.get(j))
            .copied()
            .unwrap_or(0);
        w = (w << 8) | u128::from(x);
    }
    let shift = 72 - (pos & 7) as u32 - bits;
    ((w >> shift) & field_mask(bits)) as u64
}

/// The `bits`-wide field at bit `pos`, sign-extended.
pub fn get_signed_field(b: &[u8], pos: u64, bits: u32) -> i64 {
    let v = get_field(b, pos, bits);
    // Shifting the field's sign bit up to bit 63 and back extends it.
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

#[inline]
fn field_mask(bits: u32) -> u128 {
    (1u128 << bits) - 1
}

/// Writes the low `bits` (1..=64) of `value` at bit `pos`; every byte it touches must be
/// within `b`.
pub fn set_field(b: &mut [u8], pos: u64, bits: u32, value: u64) {
    let start = (pos >> 3) as usize;
    let off = (pos & 7) as u32;
    let n = (off + bits).div_ceil(8) as usize;
    let span = &mut b[start..start + n];
    let mut w: u128 = 0;
    for &x in span.iter() {
        w = (w << 8) | u128::from(x);
    }
    let shift = n as u32 * 8 - off - bits;
    let mask = field_mask(bits) << shift;
    w = (w & !mask) | ((u128::from(value) << shift) & mask);
    for (i, x) in span.iter_mut().enumerate() {
        *x = (w >> ((n - 1 - i) * 8)) as u8;
    }
}

/// BITFIELD's OVERFLOW policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// The value an unsigned `bits`-wide field (1..=63) gets from `value + incr` — `value` being
/// the field's current value for INCRBY, or the requested value (with `incr` 0) for SET — or
/// `None` when it overflows under `Fail`. Exactly Redis's checkUnsignedBitfieldOverflow.
pub fn unsigned_result(value: u64, incr: i64, bits: u32, policy: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let over = value > max || (incr > 0 && incr > max_incr);
    let under = !over && incr < 0 && incr < min_incr;
    if !(over || under) {
        return Some(value.wrapping_add(incr as u64));
    }
    match policy {
        Overflow::Fail => None,
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
    }
}

/// [`unsigned_result`] for a signed field (1..=64 bits): Redis's checkSignedBitfieldOverflow,
/// whose wrapping arithmetic on out-of-range requests is kept (an i8 set to i64::MIN
/// saturates to 127, as in Redis).
pub fn signed_result(value: i64, incr: i64, bits: u32, policy: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits != 64;
    let over =
        value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr);
    let under = !over
        && (value < min
            || (narrow && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    if !(over || under) {
        return Some(value.wrapping_add(incr));
    }
    match policy {
        Overflow::Fail => None,
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Wrap => {
            let sum = value.wrapping_add(incr) as u64;
            Some(((sum << (64 - bits)) as i64) >> (64 - bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: one bool per bit.
    fn bits_of(b: &[u8]) -> Vec<bool> {
        (0..b.len() * 8)
            .map(|i| b[i / 8] >> (7 - i % 8) & 1 == 1)
            .collect()
    }

    fn model_field(b: &[u8], pos: u64, bits: u32) -> u64 {
        let m = bits_of(b);
        (0..u64::from(bits)).fold(0, |v, i| {
            (v << 1) | u64::from(*m.get((pos + i) as usize).unwrap_or(&false))
        })
    }

    fn signed_bounds(bits: u32) -> (i128, i128) {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    }

    /// Over requests a field can hold, the result is the exact sum, wrapped or clamped; an
    /// unsigned field is checked with `value` taken modulo its range.
    fn check_overflow(value: i64, incr: i64, bits: u32) -> Result<(), TestCaseError> {
        let (min, max) = signed_bounds(bits);
        let v = i128::from(value).clamp(min, max);
        let exact = v + i128::from(incr);
        let fits = (min..=max).contains(&exact);
        let wrapped = (exact - min).rem_euclid(1i128 << bits) + min;
        let r = |p| signed_result(v as i64, incr, bits, p);
        prop_assert_eq!(r(Overflow::Sat), Some(exact.clamp(min, max) as i64));
        prop_assert_eq!(r(Overflow::Wrap), Some(wrapped as i64));
        prop_assert_eq!(r(Overflow::Fail), fits.then_some(exact as i64));
        if bits < 64 {
            let umax = (1i128 << bits) - 1;
            let u = i128::from(value).rem_euclid(umax + 1);
            let exact = u + i128::from(incr);
            let fits = (0..=umax).contains(&exact);
            let r = |p| unsigned_result(u as u64, incr, bits, p);
            prop_assert_eq!(r(Overflow::Sat), Some(exact.clamp(0, umax) as u64));
            prop_assert_eq!(r(Overflow::Wrap), Some(exact.rem_euclid(umax + 1) as u64));
            prop_assert_eq!(r(Overflow::Fail), fits.then_some(exact as u64));
        }
        Ok(())
    }

    #[test]
    fn bit_order_is_msb_first() {
        let b = [0b1000_0001, 0b0100_0000];
        assert!(get_bit(&b, 0) && get_bit(&b, 7) && get_bit(&b, 9));
        assert!(!get_bit(&b, 1) && !get_bit(&b, 100) && !get_bit(&b, u64::MAX));
        assert_eq!(find(&b, true), Some(0));
        assert_eq!(find(&b, false), Some(1));
        assert_eq!(find(&[0xFF; 20], false), None);
        assert_eq!(find(&[0; 20], true), None);
        assert_eq!(find_range(&b, true, 1, 15), Some(7));
        assert_eq!(find_range(&b, true, 10, 15), None);
        assert_eq!(count_range(&b, 0, 15), 3);
        assert_eq!(count_range(&b, 1, 8), 1);
    }

    #[test]
    fn fields_follow_redis_layout() {
        // Redis's own example: u5 = 23 at bit 7 of zeroes is 00000001 01110000.
        let mut b = [0u8; 2];
        set_field(&mut b, 7, 5, 23);
        assert_eq!(b, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_field(&b, 7, 5), 23);
        assert_eq!(get_signed_field(&b, 7, 5), 23 - 32);
        let mut b = [0u8; 9];
        set_field(&mut b, 3, 64, u64::MAX - 1);
        assert_eq!(get_field(&b, 3, 64), u64::MAX - 1);
        assert_eq!(get_signed_field(&b, 3, 64), -2);
        assert_eq!(get_field(&[0xFF], 4, 8), 0xF0, "zero-padded past the end");
    }

    #[test]
    fn overflow_matches_redis_examples() {
        use Overflow::*;
        // BITFIELD ... INCRBY u2 100 1 from 3: wraps to 0, saturates at 3, fails.
        assert_eq!(unsigned_result(3, 1, 2, Wrap), Some(0));
        assert_eq!(unsigned_result(3, 1, 2, Sat), Some(3));
        assert_eq!(unsigned_result(3, 1, 2, Fail), None);
        assert_eq!(unsigned_result(0, -1, 8, Sat), Some(0));
        assert_eq!(unsigned_result(0, -1, 8, Wrap), Some(255));
        // SET u8 of -1 is the request 2^64-1: over.
        assert_eq!(unsigned_result(u64::MAX, 0, 8, Wrap), Some(255));
        assert_eq!(unsigned_result(u64::MAX, 0, 8, Sat), Some(255));
        assert_eq!(signed_result(127, 1, 8, Wrap), Some(-128));
        assert_eq!(signed_result(127, 1, 8, Sat), Some(127));
        assert_eq!(signed_result(-128, -1, 8, Sat), Some(-128));
        assert_eq!(signed_result(-128, -1, 8, Fail), None);
        assert_eq!(signed_result(200, 0, 8, Wrap), Some(-56));
        assert_eq!(signed_result(-200, 0, 8, Sat), Some(-128));
        assert_eq!(signed_result(i64::MIN, 0, 8, Sat), Some(127));
        assert_eq!(signed_result(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_result(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_result(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_result(5, i64::MIN, 64, Fail), Some(5 + i64::MIN));
        // Landing exactly on a limit is no overflow.
        assert_eq!(signed_result(126, 1, 8, Fail), Some(127));
        assert_eq!(signed_result(-127, -1, 8, Fail), Some(-128));
        assert_eq!(unsigned_result(254, 1, 8, Fail), Some(255));
        assert_eq!(unsigned_result(1, -1, 8, Fail), Some(0));
    }

    proptest! {
        #[test]
        fn counts_and_searches_match_the_model(
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFF), any::<u8>()], 1..100),
            x in any::<u64>(),
            y in any::<u64>(),
        ) {
            let m = bits_of(&b);
            let n = m.len() as u64;
            let (first, last) = { let (a, c) = (x % n, y % n); (a.min(c), a.max(c)) };
            let range = &m[first as usize..=last as usize];
            prop_assert_eq!(popcount(&b), m.iter().filter(|&&v| v).count() as u64);
            prop_assert_eq!(count_range(&b, first, last), range.iter().filter(|&&v| v).count() as u64);
            for bit in [false, true] {
                prop_assert_eq!(find(&b, bit), m.iter().position(|&v| v == bit).map(|p| p as u64));
                prop_assert_eq!(
                    find_range(&b, bit, first, last),
                    range.iter().position(|&v| v == bit).map(|p| first + p as u64)
                );
            }
            prop_assert_eq!(get_bit(&b, x % (n + 16)), *m.get((x % (n + 16)) as usize).unwrap_or(&false));
        }

        #[test]
        fn fields_match_the_model(
            b in proptest::collection::vec(any::<u8>(), 0..24),
            pos in 0u64..200,
            bits in 1u32..=64,
            value in any::<u64>(),
        ) {
            prop_assert_eq!(get_field(&b, pos, bits), model_field(&b, pos, bits));
            let mut grown = b.clone();
            let end = ((pos + u64::from(bits) - 1) / 8 + 1) as usize;
            if grown.len() < end {
                grown.resize(end, 0);
            }
            let before = bits_of(&grown);
            set_field(&mut grown, pos, bits, value);
            let after = bits_of(&grown);
            for (i, (a, w)) in before.iter().zip(&after).enumerate() {
                let i = i as u64;
                if i < pos || i >= pos + u64::from(bits) {
                    prop_assert_eq!(a, w, "bit {} outside the field changed", i);
                } else {
                    let want = value >> (u64::from(bits) - 1 - (i - pos)) & 1 == 1;
                    prop_assert_eq!(*w, want);
                }
            }
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(get_field(&grown, pos, bits), value & mask);
            let signed = get_signed_field(&grown, pos, bits);
            prop_assert_eq!(signed as u64 & mask, value & mask);
            prop_assert!(bits == 64 || (signed >= -(1i64 << (bits - 1)) && signed < (1i64 << (bits - 1))));
        }

        #[test]
        fn overflow_results_match_wide_arithmetic(
            value in any::<i64>(),
            incr in any::<i64>(),
            bits in 1u32..=64,
        ) {
            check_overflow(value, incr, bits)?;
        }

        /// Increments that land on, or one past, either end of the field's range.
        #[test]
        fn overflow_at_the_edges_matches_wide_arithmetic(
            value in any::<i64>(),
            delta in -2i64..=2,
            upper in any::<bool>(),
            bits in 1u32..=64,
        ) {
            let (min, max) = signed_bounds(bits);
            let v = i128::from(value).clamp(min, max);
            let edge = if upper { max } else { min };
            let incr = (edge - v + i128::from(delta)).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            check_overflow(v as i64, incr as i64, bits)?;
            // The same for the unsigned field of that width, from the value taken modulo.
            if bits < 64 {
                let u = i128::from(value).rem_euclid(1 << bits);
                let edge = if upper { (1i128 << bits) - 1 } else { 0 };
                check_overflow(u as i64, (edge - u + i128::from(delta)) as i64, bits)?;
            }
        }
    }
}
