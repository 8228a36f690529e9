//! A small direct-mapped table for strings of 1 to 16 bytes, read as two little-endian words:
//! a lookup costs a multiplication and three comparisons instead of hashing the text and
//! comparing it byte by byte. It sits in front of a map for the few values that hot paths
//! look up again and again (secret-key answers, task names, hosts); a collision overwrites,
//! so it never grows. Pure.

const SLOTS: usize = 256;

#[derive(Clone, Copy)]
struct Slot<V> {
    lo: u64,
    hi: u64,
    len: u8,
    value: Option<V>,
}

/// Remembers one value per slot for short strings; longer ones are never kept.
#[derive(Clone)]
pub struct ShortTable<V> {
    slots: Vec<Slot<V>>,
}

impl<V: Copy> Default for ShortTable<V> {
    fn default() -> Self {
        Self { slots: Vec::new() }
    }
}

/// A key of 1 to 16 bytes as two words (zero past its end), and its slot.
fn words(key: &str) -> Option<(u64, u64, usize)> {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    let (lo, hi) = buf.split_at(8);
    let lo = u64::from_le_bytes(lo.try_into().unwrap_or([0; 8]));
    let hi = u64::from_le_bytes(hi.try_into().unwrap_or([0; 8]));
    let mixed = (lo ^ hi.rotate_left(29) ^ b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Some((lo, hi, (mixed >> 56) as usize % SLOTS))
}

impl<V: Copy> ShortTable<V> {
    /// The value kept for `key`, if it is short and was the last put in its slot.
    pub fn get(&self, key: &str) -> Option<V> {
        let (lo, hi, slot) = words(key)?;
        let s = self.slots.get(slot)?;
        (s.len as usize == key.len() && s.lo == lo && s.hi == hi)
            .then_some(s.value)
            .flatten()
    }

    /// Keeps `value` for `key` if `key` is short; whether it was kept.
    pub fn put(&mut self, key: &str, value: V) -> bool {
        let Some((lo, hi, slot)) = words(key) else {
            return false;
        };
        if self.slots.is_empty() {
            let empty = Slot {
                lo: 0,
                hi: 0,
                len: 0,
                value: None,
            };
            self.slots = vec![empty; SLOTS];
        }
        self.slots[slot] = Slot {
            lo,
            hi,
            len: key.len() as u8,
            value: Some(value),
        };
        true
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_keys_are_kept_and_long_ones_are_not() {
        let mut t = ShortTable::default();
        assert!(t.put("amount", 1));
        assert!(t.put("sixteen_bytes_ok", 2));
        assert!(!t.put("seventeen_bytes_x", 3));
        assert!(!t.put("", 4));
        assert_eq!(t.get("amount"), Some(1));
        assert_eq!(t.get("sixteen_bytes_ok"), Some(2));
        assert_eq!(t.get("seventeen_bytes_x"), None);
        assert_eq!(t.get("amoun"), None);
        assert_eq!(t.get("amount\0"), None, "a NUL past the end is not padding");
        t.clear();
        assert_eq!(t.get("amount"), None);
    }

    proptest! {
        /// Whatever was put, a key's value is its own or unknown, never another key's.
        #[test]
        fn a_key_never_gets_another_keys_value(
            keys in proptest::collection::vec("[a-z_\0é]{0,20}", 1..300),
        ) {
            let mut t = ShortTable::default();
            let value = |k: &str| k.len() * 31 + k.bytes().map(usize::from).sum::<usize>();
            for k in &keys {
                let kept = t.put(k, value(k));
                prop_assert_eq!(kept, (1..=16).contains(&k.len()));
                prop_assert_eq!(t.get(k), kept.then(|| value(k)));
            }
            for k in &keys {
                let got = t.get(k);
                prop_assert!(got.is_none() || got == Some(value(k)), "{:?}", k);
            }
        }
    }
}
