//! The answers of [`super::Policy::is_secret_key`] remembered on one thread: the same few keys
//! (`amount`, `order_id`) come back in every argument, and folding and matching them each time
//! was a tenth of decoding. Keys of 16 bytes or fewer (nearly all) sit in a [`ShortTable`];
//! longer ones in a map. Pure.

use rustc_hash::FxHashMap;

use crate::short_table::ShortTable;

/// Keys the map holds before it starts afresh (keys take few values; a flood of distinct
/// ones must not grow it without bound). The table is bounded by its size.
pub(super) const LONG_KEYS: usize = 4096;

/// One thread's answers, for the policy of one id (a policy's [`super::Policy`] id).
#[derive(Default)]
pub struct Memo {
    policy: u64,
    short: ShortTable<bool>,
    long: FxHashMap<Box<str>, bool>,
}

impl Memo {
    /// The answer remembered for `key` under `policy`, if any.
    pub fn get(&self, policy: u64, key: &str) -> Option<bool> {
        if policy != self.policy {
            return None;
        }
        match self.short.get(key) {
            Some(secret) => Some(secret),
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
        if !self.short.put(key, secret) {
            if self.long.len() >= LONG_KEYS {
                self.long.clear();
            }
            self.long.insert(key.into(), secret);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(memo.get(2, "password"), None);
        memo.put(2, "amount", true);
        assert_eq!(memo.get(2, "amount"), Some(true));
        assert_eq!(memo.get(1, "amount"), None);
        assert_eq!(memo.get(2, long), None);
    }
}
