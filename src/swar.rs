//! Eight bytes at a time: byte tests on a `u64` read little-endian (the first byte lowest),
//! for the scanners on the hot path (decoding, ids, secret scans). A test sets the high bit
//! of each byte it flags.

pub const ONES: u64 = 0x0101_0101_0101_0101;
pub const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `b` from `at` as a word, if there are eight.
pub fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at + 8)?;
    Some(u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
}

/// Flags the bytes of `w` in `lo..=hi` (both ASCII, `hi` below 0x7f), exactly: on the low
/// seven bits no sum carries out of its byte, and bytes >= 0x80 are never flagged.
pub fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let low7 = w & !HIGH;
    let at_least = |c: u8| (low7 + ONES * (0x80 - u64::from(c))) & HIGH;
    at_least(lo) & !at_least(hi + 1) & !w
}

/// Index of the lowest flagged byte, 8 if none.
pub fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ranges_flag_exactly_their_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 8),
            lo in 0u8..0x7e,
            width in 0u8..0x20,
        ) {
            let hi = lo.saturating_add(width).min(0x7e);
            let w = word_at(&bytes, 0).unwrap();
            let flags = in_range(w, lo, hi);
            for (k, &c) in bytes.iter().enumerate() {
                prop_assert_eq!(flags >> (8 * k + 7) & 1 == 1, (lo..=hi).contains(&c), "byte {}", k);
            }
            let expected = bytes.iter().position(|c| (lo..=hi).contains(c)).unwrap_or(8);
            prop_assert_eq!(first(flags), expected);
        }
    }
}
