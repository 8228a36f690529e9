//! Which keys name secrets. A key is folded before it is compared: compatibility-decomposed
//! with its accents dropped (`pässword`, `ｐａｓｓｗｏｒｄ` → `password`), lower-cased, and
//! reduced to its letters and digits (`API-Key`, `api_key` → `apikey`). Pure.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Default keys matched anywhere inside the folded key (`db_password`, `X-Api-Key`,
/// `refresh_token`, `sessionid`).
pub const DEFAULT_FRAGMENTS: &[&str] = &[
    "passw",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authoriz",
    "credential",
    "privatekey",
    "accesskey",
    "signature",
    "session",
    "cookie",
    "cvv",
    "cvc",
    "cardnum",
    "iban",
];

/// Default keys too short to match inside other words (`auth` is not `author`, `card` is not
/// `discard`): they match one word of the key, words being split at separators and at
/// camelCase humps (`x_auth`, `creditCard`, `card_no`, `user-ssn`).
pub const DEFAULT_WORDS: &[&str] = &["auth", "card", "ssn", "pin", "otp"];

/// Keys up to this long (ASCII) are folded without allocating.
pub const SHORT_KEY: usize = 64;

/// [`compact`] of an ASCII key into `buf` (at least as long as the key).
pub fn compact_ascii<'b>(key: &str, buf: &'b mut [u8]) -> &'b str {
    let mut n = 0;
    for c in key.bytes().filter(u8::is_ascii_alphanumeric) {
        buf[n] = c.to_ascii_lowercase();
        n += 1;
    }
    // Only ASCII letters and digits were written.
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// The words of an ASCII key (see [`fold`]).
pub fn ascii_words(key: &str) -> Vec<String> {
    fold(key).words
}

/// A key folded for comparison, with its words.
#[derive(Debug)]
pub struct FoldedKey {
    /// Letters and digits only, lower case.
    pub compact: String,
    pub words: Vec<String>,
}

/// Folds a key (see the module doc).
pub fn fold(key: &str) -> FoldedKey {
    let mut compact = String::with_capacity(key.len());
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    let mut push_word = |word: &mut String| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    let base = key.nfkd().filter(|c| !is_combining_mark(*c));
    for c in base {
        if !c.is_alphanumeric() {
            push_word(&mut word);
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            push_word(&mut word);
        }
        prev_lower = c.is_lowercase() || c.is_numeric();
        for l in c.to_lowercase() {
            compact.push(l);
            word.push(l);
        }
    }
    push_word(&mut word);
    FoldedKey { compact, words }
}

/// The letters and digits of a key, folded: how `--scrub-key` and `safe_keys` entries are kept.
pub fn compact(key: &str) -> String {
    fold(key).compact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_accents_width_and_separators() {
        assert_eq!(compact("pässword"), "password");
        assert_eq!(compact("ＰＡＳＳＷＯＲＤ"), "password");
        assert_eq!(compact("X-Api-Key"), "xapikey");
        assert_eq!(compact("api_key"), "apikey");
        assert_eq!(fold("creditCardNo").words, ["credit", "card", "no"]);
        assert_eq!(fold("x_auth-TOKEN").words, ["x", "auth", "token"]);
        assert_eq!(fold("author").words, ["author"]);
    }
}
