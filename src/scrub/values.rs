//! Secrets recognised by their shape, whatever key (if any) holds them: credentials in URLs,
//! `Bearer` tokens, payment card numbers. A value cut short (at the end of the text, or where
//! Celery's repr put `...`) is masked from where it starts, so no prefix of it shows. Pure.

use super::FILTERED;
use super::keyed::Edits;
use super::triggers::Triggers;

/// Every shaped secret in `text`, as edits in order, not overlapping. Only the rules that
/// `triggers` (what [`Triggers::of`] read of this text) allows are run.
pub fn find(text: &str, triggers: Triggers) -> Edits {
    let mut edits = Edits::new();
    if triggers.url() {
        url_credentials(text, &mut edits);
    }
    if triggers.bearer() {
        bearer_tokens(text, &mut edits);
    }
    if triggers.cards() {
        card_numbers(text, &mut edits);
    }
    if triggers.tokens() {
        known_tokens(text, &mut edits);
    }
    if edits.len() < 2 {
        return edits;
    }
    edits.sort_by_key(|e| (e.0, e.1));
    // Rules may overlap (a card number inside a URL's password): keep their union.
    let mut merged: Edits = Vec::with_capacity(edits.len());
    for e in edits {
        match merged.last_mut() {
            Some(last) if e.0 < last.1 => last.1 = last.1.max(e.1),
            _ => merged.push(e),
        }
    }
    merged
}

fn mask(edits: &mut Edits, start: usize, end: usize) {
    if end > start {
        edits.push((start, end, FILTERED.to_string()));
    }
}

/// Whether the text is cut right at `i`: Celery's `...` (or `…`) follows. (The end of the
/// text is not a cut: Celery marks every cut.)
fn cut_at(text: &str, i: usize) -> bool {
    let rest = &text[i..];
    let rest = rest.strip_prefix([' ', '-']).unwrap_or(rest);
    rest.starts_with("...") || rest.starts_with('…')
}

/// `scheme://user:password@host` → `scheme://user:[Filtered]@host`. Like Python's `urlsplit`,
/// the user part ends at the last `@` before the path; a user part alone is masked when it is
/// long enough to be a token (`https://ghp_…@github.com`).
fn url_credentials(text: &str, edits: &mut Edits) {
    let b = text.as_bytes();
    // Built once: a finder per call costs more than the search in short strings.
    static SCHEME: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"://"));
    for at in SCHEME.find_iter(b) {
        let has_scheme = at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'+');
        if !has_scheme {
            continue;
        }
        let start = at + 3;
        let mut end = start;
        let mut last_at = None;
        while end < b.len() {
            match b[end] {
                b'@' => last_at = Some(end),
                b'/' | b'?' | b'#' | b'\'' | b'"' | b'\\' | b'<' | b'>' | b'`' => break,
                c if c.is_ascii_whitespace() => break,
                _ => {}
            }
            end += 1;
        }
        // `redis://u:pw...` or `redis://u:pw...)`: a cut fell inside the user part.
        let body = &text[start..end];
        let cut_at_dots = [body.find("..."), body.find('…')]
            .into_iter()
            .flatten()
            .min()
            .filter(|p| last_at.is_none_or(|a| start + p < a));
        let (user_end, cut) = match (cut_at_dots, last_at) {
            (Some(p), _) => (start + p, true),
            (None, Some(a)) => (a, false),
            (None, None) => continue,
        };
        let user = &text[start..user_end];
        match user.find(':') {
            Some(colon) => mask(edits, start + colon + 1, user_end),
            None if !cut && user.len() >= 20 => mask(edits, start, user_end),
            None => {}
        }
    }
}

/// `Bearer <token>` (any case) → `Bearer [Filtered]`.
fn bearer_tokens(text: &str, edits: &mut Edits) {
    const WORD: &[u8] = b"bearer";
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(found) = memchr::memchr2(b'b', b'B', &b[from..]) {
        let i = from + found;
        from = i + 1;
        let hit = b.len() > i + WORD.len()
            && b[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !hit {
            continue;
        }
        let mut s = i + WORD.len();
        let gap = s;
        while s < b.len() && matches!(b[s], b' ' | b'\t') {
            s += 1;
        }
        let mut e = s;
        while e < b.len()
            && (b[e].is_ascii_alphanumeric()
                || matches!(b[e], b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
        {
            e += 1;
        }
        if s > gap {
            mask(edits, s, e);
        }
        from = from.max(e);
    }
}

/// Prefixes of API keys and tokens that say what they are (the services' own formats). Each
/// holds a `_`, a `-` or an `A`, which [`known_tokens`] searches for.
const TOKEN_PREFIXES: &[&str] = &[
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "tok_live_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AKIA",
    "ASIA",
    "AIza",
    "hf_",
    "npm_",
    "pypi-",
];

/// A token with a well-known prefix (`sk_live_…`, `ghp_…`, `AKIA…`) → `[Filtered]`, prefix
/// and all; at least 8 characters must follow the prefix. A word is a run of token bytes
/// and the prefix starts it.
fn known_tokens(text: &str, edits: &mut Edits) {
    let b = text.as_bytes();
    let is_token = |c: u8| TOKEN_BYTES[usize::from(c)];
    // Every prefix holds a `_`, a `-` or an `A`: only the words around those bytes are read
    // (found by a vectorised search; most arguments and results have none of them).
    let mut from = 0;
    while let Some(found) = memchr::memchr3(b'_', b'-', b'A', &b[from..]) {
        let mut start = from + found;
        while start > from && is_token(b[start - 1]) {
            start -= 1;
        }
        let mut end = from + found + 1;
        while end < b.len() && is_token(b[end]) {
            end += 1;
        }
        from = end;
        let word = &text[start..end];
        if TOKEN_PREFIXES
            .iter()
            .any(|p| word.starts_with(p) && word.len() >= p.len() + 8)
        {
            mask(edits, start, end);
        }
    }
}

/// Bytes of a token: ASCII letters and digits, `_` and `-` (a table: the bytes of the words
/// read are classified).
const TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
        c += 1;
    }
    t
};

/// 13 to 19 digits, in groups split by single spaces or dashes, that pass the Luhn check;
/// at a cut, any run of 6 digits or more (what shows of a card could be most of it).
fn card_numbers(text: &str, edits: &mut Edits) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        i = next_digit(b, i);
        if i == b.len() {
            break;
        }
        if i > 0 && b[i - 1].is_ascii_alphanumeric() {
            i = digits_end(b, i);
            continue;
        }
        // Groups of digits: (start, end) byte ranges. Most numbers are one short group.
        let first = (i, digits_end(b, i));
        let single = first.1 - first.0 < 6
            && !(first.1 + 1 < b.len()
                && matches!(b[first.1], b' ' | b'-')
                && b[first.1 + 1].is_ascii_digit());
        if single {
            i = first.1;
            continue;
        }
        // Walk the run once without keeping it: most runs are ids and amounts, not cards.
        let (mut run_end, mut total) = (first.1, first.1 - first.0);
        while run_end + 1 < b.len()
            && matches!(b[run_end], b' ' | b'-')
            && b[run_end + 1].is_ascii_digit()
        {
            let end = digits_end(b, run_end + 1);
            total += end - run_end - 1;
            run_end = end;
        }
        i = run_end;
        if run_end < b.len() && b[run_end].is_ascii_alphabetic() {
            continue;
        }
        if total < 6 || (total < 13 && !cut_at(text, run_end)) {
            continue;
        }
        let mut groups = vec![first];
        while groups[groups.len() - 1].1 < run_end {
            let start = groups[groups.len() - 1].1 + 1;
            groups.push((start, digits_end(b, start)));
        }
        let digits = |from: usize, to: usize| -> Vec<u8> {
            groups[from..=to]
                .iter()
                .flat_map(|&(s, e)| b[s..e].iter().map(|d| d - b'0'))
                .collect()
        };
        if cut_at(text, run_end) && digits(0, groups.len() - 1).len() >= 6 {
            mask(edits, groups[0].0, run_end);
            continue;
        }
        // Windows of whole groups that are card numbers; a date or an amount may stand next
        // to the card with the same separators, so all of them are masked.
        let mut found: Option<(usize, usize)> = None;
        for from in 0..groups.len() {
            for to in from..groups.len() {
                let d = digits(from, to);
                if (13..=19).contains(&d.len()) && luhn(&d) {
                    let (s, e) = (groups[from].0, groups[to].1);
                    found = Some(found.map_or((s, e), |(fs, fe)| (fs.min(s), fe.max(e))));
                }
            }
        }
        if let Some((s, e)) = found {
            mask(edits, s, e);
        }
    }
}

/// Index of the first ASCII digit at or after `i` (or the end), eight bytes at a time.
fn next_digit(b: &[u8], mut i: usize) -> usize {
    use crate::swar;
    while let Some(w) = swar::word_at(b, i) {
        let digits = swar::in_range(w, b'0', b'9');
        if digits != 0 {
            return i + swar::first(digits);
        }
        i += 8;
    }
    while i < b.len() && !b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The Luhn checksum over decimal digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scrub(text: &str) -> String {
        let mut out = text.to_string();
        for (s, e, r) in find(text, Triggers::ALL).into_iter().rev() {
            out.replace_range(s..e, &r);
        }
        out
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            scrub("Error 111 connecting to redis://:hunter2@10.0.0.1:6379/0."),
            "Error 111 connecting to redis://:[Filtered]@10.0.0.1:6379/0."
        );
        assert_eq!(
            scrub("'postgresql://app:p@ss:w0rd@db/app'"),
            "'postgresql://app:[Filtered]@db/app'"
        );
        assert_eq!(
            scrub("amqp://guest:guest@localhost//"),
            "amqp://guest:[Filtered]@localhost//"
        );
        assert_eq!(scrub("http://host:8080/a@b"), "http://host:8080/a@b");
        assert_eq!(
            scrub("https://ghp_abcdefghijklmnopqrstu@github.com/x"),
            "https://[Filtered]@github.com/x"
        );
        assert_eq!(
            scrub("('redis://u:hunt...',)"),
            "('redis://u:[Filtered]...',)"
        );
        assert_eq!(scrub("redis://u:hunt"), "redis://u:hunt");
        assert_eq!(
            scrub("to redis://localhost:6379"),
            "to redis://localhost:6379"
        );
    }

    #[test]
    fn bearer_tokens_any_case() {
        assert_eq!(
            scrub("{'h': 'Bearer eyJhbGciOi.J9.x-y_z'}"),
            "{'h': 'Bearer [Filtered]'}"
        );
        assert_eq!(
            scrub("authorization: bearer abc"),
            "authorization: bearer [Filtered]"
        );
        assert_eq!(scrub("the bearer of"), "the bearer [Filtered]");
        assert_eq!(scrub("Bearer [Filtered]"), "Bearer [Filtered]");
    }

    #[test]
    fn card_numbers_that_pass_luhn() {
        assert_eq!(scrub("(4111111111111111,)"), "([Filtered],)");
        assert_eq!(scrub("'4111 1111 1111 1111'"), "'[Filtered]'");
        assert_eq!(scrub("'4111-1111-1111-1111'"), "'[Filtered]'");
        assert_eq!(
            scrub("on 2024-11-22 4111 1111 1111 1111 ok"),
            "on 2024-11-[Filtered] ok"
        );
        // Not Luhn, too short, too long, part of a word: left alone.
        assert_eq!(scrub("4111111111111112"), "4111111111111112");
        assert_eq!(scrub("411111111111"), "411111111111");
        assert_eq!(scrub("id_x4111111111111111"), "id_x4111111111111111");
        assert_eq!(scrub("(1, 22, 333)"), "(1, 22, 333)");
    }

    #[test]
    fn a_card_cut_short_is_masked() {
        assert_eq!(scrub("'4111 1111 11...'"), "'[Filtered]...'");
        assert_eq!(scrub("(4111111..."), "([Filtered]...");
        assert_eq!(scrub("(4111111"), "(4111111");
        assert_eq!(scrub("(41111"), "(41111");
    }

    /// Tokens found the way they were before the search for prefix bytes: every word read,
    /// then its start compared.
    fn word_by_word_tokens(text: &str) -> Edits {
        let mut edits = Edits::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !TOKEN_BYTES[usize::from(b[i])] {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && TOKEN_BYTES[usize::from(b[i])] {
                i += 1;
            }
            let word = &text[start..i];
            if TOKEN_PREFIXES
                .iter()
                .any(|p| word.starts_with(p) && word.len() >= p.len() + 8)
            {
                mask(&mut edits, start, i);
            }
        }
        edits
    }

    proptest::proptest! {
        #[test]
        fn reading_only_words_with_prefix_bytes_finds_every_token(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(TOKEN_PREFIXES).prop_map(str::to_string),
                    "[a-zA-Z0-9_-]{0,12}",
                    "[ ,'\"():=é.]{1,2}",
                ],
                0..12,
            )
        ) {
            let text = parts.concat();
            let mut edits = Edits::new();
            known_tokens(&text, &mut edits);
            proptest::prop_assert_eq!(edits, word_by_word_tokens(&text));
        }

        #[test]
        fn digits_are_found_wherever_they_are(text in "[a-z0-9 é\u{80}-\u{7ff}:/]{0,40}", from in 0usize..40) {
            let b = text.as_bytes();
            let from = from.min(b.len());
            let expected = (from..b.len()).find(|&i| b[i].is_ascii_digit()).unwrap_or(b.len());
            proptest::prop_assert_eq!(next_digit(b, from), expected);
        }
    }

    #[test]
    fn every_token_prefix_holds_a_byte_the_search_finds() {
        for p in TOKEN_PREFIXES {
            assert!(p.bytes().any(|c| matches!(c, b'_' | b'-' | b'A')), "{p}");
        }
    }

    #[test]
    fn luhn_checksum() {
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
    }
}
