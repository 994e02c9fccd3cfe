//! What the allocator really hands out for a request: jemalloc's size classes (16-byte
//! quantum, four classes per doubling). Memory accounting charges these, not the bytes asked
//! for — a 1,060-byte block costs 1,280 — so a memory limit holds in the allocator's terms.

/// The size class a request of `n` bytes is served from.
#[inline]
pub fn size_class(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => (n + 15) & !15,
        _ => {
            // Four classes between each power of two and the next.
            let step = n.next_power_of_two() >> 3;
            (n + step - 1) & !(step - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_classes() {
        let cases = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (100, 112),
            (128, 128),
            (129, 160),
            (160, 160),
            (161, 192),
            (257, 320),
            (1024, 1024),
            (1025, 1280),
            (1060, 1280),
            (1281, 1536),
            (4097, 5120),
            (3 << 20, 3 << 20),
        ];
        for (n, want) in cases {
            assert_eq!(size_class(n), want, "{n}");
        }
        for n in 1..100_000 {
            let c = size_class(n);
            assert!(c >= n && c - n <= n / 4 + 16, "{n} -> {c}");
        }
    }
}
