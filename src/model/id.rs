//! Task ids: compact storage and git-style unique-prefix lookup.
//!
//! Celery ids are uuid4 strings; kept as 16 bytes they cost no heap. Custom ids (Celery
//! allows any string via `task_id=`) fall back to a boxed string.

use std::cmp::Ordering;
use std::fmt;

use crate::swar;

/// A task id as Celery sent it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TaskId {
    /// A canonical lower-case hyphenated uuid.
    Uuid([u8; 16]),
    /// Any other string.
    Text(Box<str>),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl TaskId {
    pub fn parse(s: &str) -> Self {
        parse_uuid(s).map_or_else(|| Self::Text(s.into()), Self::Uuid)
    }

    /// The id as text, appended to `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Self::Uuid(b) => out.extend(uuid_text(b).map(char::from)),
            Self::Text(s) => out.push_str(s),
        }
    }

    /// True when the id's text starts with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self {
            Self::Text(s) => s.starts_with(prefix),
            Self::Uuid(b) => uuid_text(b).starts_with(prefix.as_bytes()),
        }
    }

    /// True when this id is the string `s` (no allocation for uuids).
    pub fn is(&self, s: &str) -> bool {
        match self {
            Self::Uuid(b) => parse_uuid(s).is_some_and(|o| &o == b),
            Self::Text(t) => &**t == s,
        }
    }
}

/// A uuid's canonical text, on the stack.
fn uuid_text(b: &[u8; 16]) -> [u8; 36] {
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[(byte >> 4) as usize];
        out[at + 1] = HEX[(byte & 15) as usize];
        at += 2;
    }
    out
}

/// The 16 bytes of a canonical (lower-case) uuid's text. Eight hex digits are decoded at a
/// time, as one word: every id of every event passes here.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let word = |at: usize| swar::word_at(b, at).unwrap_or(0);
    let half = |at: usize| word(at) & 0xFFFF_FFFF;
    // `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` as four words of eight digits: the first group,
    // the second with the third, the fourth with the last's first four, the last's last eight.
    let words = [
        word(0),
        half(9) | half(14) << 32,
        half(19) | half(24) << 32,
        word(28),
    ];
    let mut out = [0u8; 16];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&hex_word(w)?.to_le_bytes());
    }
    Some(out)
}

/// Eight lower-case hex digits (read little-endian: the first digit in the lowest byte) as
/// four bytes in text order, or `None` if any is not one. Upper-case hex is not canonical:
/// such ids stay text so they print as they came.
fn hex_word(w: u64) -> Option<u32> {
    let letter = swar::in_range(w, b'a', b'f');
    if swar::in_range(w, b'0', b'9') | letter != swar::HIGH {
        return None;
    }
    // Nibble values: the low four bits, plus 9 for `a`-`f`.
    let nibbles = (w & (swar::ONES * 0x0f)) + (letter >> 7) * 9;
    // Each even byte takes its nibble as the high half and the next byte's as the low one,
    // then the even bytes are packed together.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    Some(((quads | (quads >> 16)) & 0xFFFF_FFFF) as u32)
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Hex digits and hyphens: always UTF-8.
            Self::Uuid(b) => f.write_str(std::str::from_utf8(&uuid_text(b)).unwrap_or_default()),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

impl Ord for TaskId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Byte order of a canonical uuid equals the order of its text.
            (Self::Uuid(a), Self::Uuid(b)) => a.cmp(b),
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
            (Self::Uuid(a), Self::Text(b)) => uuid_text(a).as_slice().cmp(b.as_bytes()),
            (Self::Text(a), Self::Uuid(b)) => a.as_bytes().cmp(uuid_text(b).as_slice()),
        }
    }
}

impl PartialOrd for TaskId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Shortest prefix length users may type.
pub const MIN_PREFIX: usize = 4;

/// The outcome of resolving what a user typed against known ids.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a> {
    Found(&'a TaskId),
    NotFound,
    /// Several ids share the prefix; sorted.
    Ambiguous(Vec<&'a TaskId>),
    /// Fewer than [`MIN_PREFIX`] characters and not a whole id.
    TooShort,
}

/// Resolves a full id or unique prefix among `ids`.
pub fn lookup<'a>(ids: impl Iterator<Item = &'a TaskId>, typed: &str) -> Lookup<'a> {
    let typed = typed.trim();
    let mut matches: Vec<&TaskId> = Vec::new();
    let mut exact = None;
    for id in ids {
        if id.is(typed) {
            exact = Some(id);
        } else if id.starts_with(typed) {
            matches.push(id);
        }
    }
    if let Some(id) = exact {
        return Lookup::Found(id);
    }
    if typed.chars().count() < MIN_PREFIX {
        return Lookup::TooShort;
    }
    match matches.len() {
        0 => Lookup::NotFound,
        1 => Lookup::Found(matches[0]),
        _ => {
            matches.sort();
            Lookup::Ambiguous(matches)
        }
    }
}

/// Every known id, to tell how many leading characters set one apart (the highlighted part
/// of an id in tables). Built from references: a table of a few rows among a million tasks
/// must not write every id out as text.
pub struct Prefixes<'a> {
    ids: Vec<&'a TaskId>,
    /// Sorted, so an id is compared with its two neighbours only; else every lookup scans.
    sorted: bool,
}

/// Up to this many lookups, scanning every id per lookup costs less than one sort of them
/// all (a sort makes about log2(n) comparisons per id: 17 for 100,000 tasks).
const SCANNED_LOOKUPS: usize = 8;

impl<'a> Prefixes<'a> {
    /// `lookups`: how many ids will be asked about (a table's rows).
    pub fn new(ids: impl Iterator<Item = &'a TaskId>, lookups: usize) -> Self {
        let mut ids: Vec<&TaskId> = ids.collect();
        let sorted = lookups > SCANNED_LOOKUPS;
        if sorted {
            ids.sort_unstable();
        }
        Self { ids, sorted }
    }

    /// Length in bytes of the shortest prefix of `id`'s text that no other known id shares
    /// (at least [`MIN_PREFIX`]); `id` need not be known.
    pub fn unique_len(&self, id: &TaskId) -> usize {
        let common = if self.sorted {
            let (before, after) = match self.ids.binary_search(&id) {
                Ok(i) => (i.checked_sub(1), i + 1),
                Err(i) => (i.checked_sub(1), i),
            };
            let common = |j: Option<usize>| {
                j.and_then(|j| self.ids.get(j))
                    .map_or(0, |other| common_text_prefix(id, other))
            };
            common(before).max(common(Some(after)))
        } else {
            self.ids
                .iter()
                .filter(|other| **other != id)
                .map(|other| common_text_prefix(id, other))
                .max()
                .unwrap_or(0)
        };
        let len = match id {
            TaskId::Uuid(_) => 36,
            TaskId::Text(s) => s.len(),
        };
        (common + 1).clamp(MIN_PREFIX, len.max(MIN_PREFIX))
    }
}

/// How many leading bytes the texts of two ids share.
fn common_text_prefix(a: &TaskId, b: &TaskId) -> usize {
    let common = |x: &[u8], y: &[u8]| x.iter().zip(y).take_while(|(p, q)| p == q).count();
    match (a, b) {
        (TaskId::Uuid(x), TaskId::Uuid(y)) => {
            // Equal hex digits, then the hyphens before them (after digits 8, 12, 16, 20).
            let bytes = x.iter().zip(y).take_while(|(p, q)| p == q).count();
            let digits = if bytes == 16 {
                32
            } else {
                2 * bytes + usize::from(x[bytes] >> 4 == y[bytes] >> 4)
            };
            digits + [8, 12, 16, 20].iter().filter(|&&h| h <= digits).count()
        }
        (TaskId::Text(x), TaskId::Text(y)) => common(x.as_bytes(), y.as_bytes()),
        (TaskId::Uuid(x), TaskId::Text(y)) | (TaskId::Text(y), TaskId::Uuid(x)) => {
            common(&uuid_text(x), y.as_bytes())
        }
    }
}

/// The first `n` bytes of `s`, widened to the end of the character they cut into: ids come
/// from events and may be any UTF-8, and a byte slice inside a character would panic.
pub fn prefix_bytes(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end += 1;
    }
    &s[..end]
}

/// The short form of an id shown in tables and trees (8 bytes, whole characters).
pub fn short_id(id: &str) -> &str {
    prefix_bytes(id, 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_never_cut_a_character() {
        assert_eq!(short_id(A), "ed705c4a");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id("日本語タスク"), "日本語");
        assert_eq!(prefix_bytes("aé", 2), "aé");
        let ids = ["日本語タスク", "日本語タスケ"].map(TaskId::parse);
        let n = Prefixes::new(ids.iter(), 1).unique_len(&ids[0]);
        assert_eq!(prefix_bytes("日本語タスク", n), "日本語タスク");
    }

    const A: &str = "ed705c4a-b44d-4d5e-8f68-0758520c8bb9";

    #[test]
    fn uuid_round_trips_as_bytes() {
        let id = TaskId::parse(A);
        assert!(matches!(id, TaskId::Uuid(_)));
        assert_eq!(id.to_string(), A);
        assert!(id.is(A));
        assert!(id.starts_with("ed705c"));
        assert!(!id.starts_with("ed705d"));
    }

    #[test]
    fn non_canonical_ids_stay_text() {
        for s in [
            "ED705C4A-B44D-4D5E-8F68-0758520C8BB9",
            "my-task-1",
            "",
            "ed705c4a",
        ] {
            let id = TaskId::parse(s);
            assert!(matches!(id, TaskId::Text(_)), "{s}");
            assert_eq!(id.to_string(), s);
        }
    }

    #[test]
    fn lookup_handles_unique_ambiguous_short_and_missing() {
        let ids: Vec<TaskId> = ["abcd1111", "abcd2222", "ffff0000"]
            .map(TaskId::parse)
            .into();
        assert_eq!(lookup(ids.iter(), "abcd1"), Lookup::Found(&ids[0]));
        assert_eq!(
            lookup(ids.iter(), "abcd"),
            Lookup::Ambiguous(vec![&ids[0], &ids[1]])
        );
        assert_eq!(lookup(ids.iter(), "abc"), Lookup::TooShort);
        assert_eq!(lookup(ids.iter(), "0000"), Lookup::NotFound);
        // A whole id wins even if it is shorter than the minimum prefix.
        let short: Vec<TaskId> = ["ab", "abc"].map(TaskId::parse).into();
        assert_eq!(lookup(short.iter(), "ab"), Lookup::Found(&short[0]));
    }

    #[test]
    fn unique_prefix_is_at_least_four() {
        let ids: Vec<TaskId> = ["abcd1111", "abcd2222", "ffff0000"]
            .map(TaskId::parse)
            .into();
        for lookups in [1, 100] {
            let prefixes = Prefixes::new(ids.iter(), lookups);
            assert_eq!(prefixes.unique_len(&ids[0]), 5);
            assert_eq!(prefixes.unique_len(&ids[2]), 4);
            // An id it does not hold is set apart from its would-be neighbours.
            assert_eq!(prefixes.unique_len(&TaskId::parse("abcd1119")), 8);
        }
    }

    #[test]
    fn uuid_prefixes_count_their_hyphens() {
        let a = TaskId::parse("ed705c4a-b44d-4d5e-8f68-0758520c8bb9");
        for (other, common) in [
            ("ed705c4a-b44d-4d5e-8f68-0758520c8bb8", 35),
            ("ed705c4a-c44d-4d5e-8f68-0758520c8bb9", 9),
            ("ed705c4b-b44d-4d5e-8f68-0758520c8bb9", 7),
            ("ed705c4a-b44d-4d5e-8f68-1758520c8bb9", 24),
            ("fd705c4a-b44d-4d5e-8f68-0758520c8bb9", 0),
            ("ed705c4a-b44d-4d5e-8f68-0758520c8bb9", 36),
        ] {
            assert_eq!(
                common_text_prefix(&a, &TaskId::parse(other)),
                common,
                "{other}"
            );
        }
    }

    /// The prefix read from ids kept as bytes is the one their texts give.
    fn text_unique_len(all: &[String], id: &str) -> usize {
        let common = all
            .iter()
            .filter(|o| o.as_str() != id)
            .map(|o| {
                id.bytes()
                    .zip(o.bytes())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
        (common + 1).clamp(MIN_PREFIX, id.len().max(MIN_PREFIX))
    }

    /// The uuid parser before it decoded words: a table lookup per digit.
    fn parse_uuid_by_digit(s: &str) -> Option<[u8; 16]> {
        let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
        if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        let value = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [0u8; 16];
        for (o, &i) in out.iter_mut().zip(AT.iter()) {
            *o = (value(b[i])? << 4) | value(b[i + 1])?;
        }
        Some(out)
    }

    proptest::proptest! {
        #[test]
        fn uuids_decoded_by_word_are_decoded_by_digit(
            // Mostly hex digits, now and then any ASCII byte (upper-case hex, `g`, `:`, `` ` ``,
            // `/`, `@`: the neighbours of the digit ranges), with the hyphens in place or not.
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    30 => proptest::sample::select(b"0123456789abcdef".to_vec()),
                    1 => 0u8..0x80,
                ],
                36,
            ),
            hyphens in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = bytes;
            if hyphens {
                for at in [8, 13, 18, 23] {
                    bytes[at] = b'-';
                }
            }
            let text = String::from_utf8(bytes).unwrap();
            proptest::prop_assert_eq!(parse_uuid(&text), parse_uuid_by_digit(&text));
        }
    }

    proptest::proptest! {
        #[test]
        fn prefixes_match_the_texts(
            // A state holds each id once.
            ids in proptest::collection::btree_set(
                proptest::prop_oneof![
                    // uuids sharing leading digits, so prefixes run long
                    "ed70[0-9a-f]{4}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                    // custom ids, some ordered among the uuids
                    "ed7[0-9a-z-]{0,12}",
                    "[a-z日]{1,6}",
                ],
                1..40,
            )
        ) {
            let ids: Vec<String> = ids.into_iter().collect();
            let parsed: Vec<TaskId> = ids.iter().map(|s| TaskId::parse(s)).collect();
            // Both ways: a scan per lookup (few rows) and neighbours in sorted order.
            for lookups in [1, SCANNED_LOOKUPS + 1] {
                let prefixes = Prefixes::new(parsed.iter(), lookups);
                for (id, text) in parsed.iter().zip(&ids) {
                    proptest::prop_assert_eq!(prefixes.unique_len(id), text_unique_len(&ids, text));
                }
            }
        }
    }
}
