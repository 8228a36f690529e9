//! The answers of [`super::Policy::is_secret_key`] remembered on one thread: the same few keys
//! (`amount`, `order_id`) come back in every argument, and folding and matching them each time
//! was a tenth of decoding. Keys of 16 bytes or fewer (nearly all) sit in a direct-mapped table
//! read as two words, which costs a multiplication and two comparisons instead of hashing and
//! comparing the text; longer ones in a map. Pure.

use rustc_hash::FxHashMap;

/// Keys the map holds before it starts afresh (keys take few values; a flood of distinct
/// ones must not grow it without bound). The table is bounded by its size.
pub(super) const LONG_KEYS: usize = 4096;

const SLOTS: usize = 256;

/// A short key and its answer; `len` 0 is an empty slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    lo: u64,
    hi: u64,
    len: u8,
    secret: bool,
}

/// One thread's answers, for the policy of one id (a policy's [`super::Policy`] id).
#[derive(Default)]
pub struct Memo {
    policy: u64,
    short: Vec<Slot>,
    long: FxHashMap<Box<str>, bool>,
}

/// A key of 1 to 16 bytes as two little-endian words (zero past its end), and its slot.
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

impl Memo {
    /// The answer remembered for `key` under `policy`, if any.
    pub fn get(&self, policy: u64, key: &str) -> Option<bool> {
        if policy != self.policy {
            return None;
        }
        match words(key) {
            Some((lo, hi, slot)) => {
                let s = self.short.get(slot)?;
                (s.len as usize == key.len() && s.lo == lo && s.hi == hi).then_some(s.secret)
            }
            None => self.long.get(key).copied(),
        }
    }

    /// Remembers `secret` for `key` under `policy`, forgetting another policy's answers.
    pub fn put(&mut self, policy: u64, key: &str, secret: bool) {
        if policy != self.policy {
            self.policy = policy;
            self.short.clear();
            self.long.clear();
        }
        match words(key) {
            Some((lo, hi, slot)) => {
                if self.short.is_empty() {
                    self.short = vec![Slot::default(); SLOTS];
                }
                self.short[slot] = Slot {
                    lo,
                    hi,
                    len: key.len() as u8,
                    secret,
                };
            }
            None => {
                if self.long.len() >= LONG_KEYS {
                    self.long.clear();
                }
                self.long.insert(key.into(), secret);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn answers_are_kept_per_policy_and_long_keys_too() {
        let mut memo = Memo::default();
        let long = "a_key_longer_than_sixteen_bytes";
        memo.put(1, "password", true);
        memo.put(1, "amount", false);
        memo.put(1, long, true);
        assert_eq!(memo.get(1, "password"), Some(true));
        assert_eq!(memo.get(1, "amount"), Some(false));
        assert_eq!(memo.get(1, long), Some(true));
        assert_eq!(memo.get(1, "amoun"), None);
        assert_eq!(
            memo.get(1, "amount\0"),
            None,
            "a NUL past the end is not padding"
        );
        assert_eq!(memo.get(2, "password"), None);
        memo.put(2, "amount", true);
        assert_eq!(memo.get(2, "amount"), Some(true));
        assert_eq!(memo.get(1, "amount"), None);
        assert_eq!(memo.get(2, long), None);
    }

    proptest! {
        /// Whatever was put, a key's answer is its own or unknown, never another key's.
        #[test]
        fn a_key_never_gets_another_keys_answer(
            keys in proptest::collection::vec("[a-z_\0é]{0,20}", 1..200),
        ) {
            let mut memo = Memo::default();
            let answer = |k: &str| k.len().is_multiple_of(3);
            for k in &keys {
                memo.put(7, k, answer(k));
                prop_assert_eq!(memo.get(7, k), Some(answer(k)));
            }
            for k in &keys {
                let got = memo.get(7, k);
                prop_assert!(got.is_none() || got == Some(answer(k)), "{:?}", k);
            }
        }
    }
}
