//! Values of secret keys in text, whatever the text is: Python reprs (`{'password': 'x'}`,
//! `Auth(token='x')`, `<Auth token=x>`), JSON (also JSON inside a JSON or repr string, with its
//! quotes escaped), exception messages, traceback code lines, URL queries, HTTP headers.
//!
//! It works on tokens, not on a parse: every word followed by `:` or `=` (after an optional
//! closing quote) is a key, at any depth and inside string literals too, so a value the
//! scanner cannot delimit (a repr Celery cut, an unbalanced quote) is filtered to the end of
//! the text rather than shown. Pure.

use super::FILTERED;

/// Byte ranges of `text` to replace, with their replacements, in order.
pub type Edits = Vec<(usize, usize, String)>;

/// Finds the values of keys `is_secret` names; returns the edits, in order, not overlapping.
///
/// Every key is followed by `:` or `=`, so the scan jumps from separator to separator (a
/// vectorised search) and reads each key backwards from its separator: most bytes of a text
/// are never looked at one by one, and texts with neither byte (positional args, plain
/// results) cost one search.
pub fn find(text: &str, is_secret: &dyn Fn(&str) -> bool) -> Edits {
    let b = text.as_bytes();
    let mut edits = Edits::new();
    // Keys start at or after `floor`: never inside a value already dealt with.
    let mut floor = 0;
    let mut from = 0;
    while let Some(found) = memchr::memchr2(b':', b'=', &b[from..]) {
        let at = from + found;
        from = at + 1;
        let Some((start, sep)) = separator_at(b, at, floor) else {
            continue;
        };
        let key = &text[start..sep.key_end];
        if sep.colon && sep.quote.is_none() && !key_before_bare_colon(key) {
            continue;
        }
        if !is_secret(key) {
            continue;
        }
        let value = skip_blanks(b, sep.at + 1);
        if let Some(edit) = value_edit(text, value, &sep) {
            floor = edit.1;
            from = from.max(edit.1);
            if text[edit.0..edit.1] != edit.2 {
                edits.push(edit);
            }
        }
    }
    edits
}

/// Bytes a key is made of: letters, digits, `_ - .`, and any non-ASCII character.
fn is_key_byte(c: u8) -> bool {
    KEY_BYTES[usize::from(c)]
}

/// [`is_key_byte`] as a table: every byte of a text with a `:` or `=` is classified, and one
/// load costs less than the comparisons.
const KEY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || b >= 0x80;
        c += 1;
    }
    t
};

/// What follows a key: its closing quote (backslashes included), and where `:`/`=` is.
struct Separator<'a> {
    key_end: usize,
    quote: Option<&'a [u8]>,
    colon: bool,
    at: usize,
}

/// The key whose separator may be the `:` or `=` at `at`, read backwards, starting no earlier
/// than `floor`: `key`, `key'`, `key\\"` or `key"`, then spaces. A `::`, `:/` (a URL's
/// scheme) or `==` separates nothing. Returns where the key starts.
fn separator_at(b: &[u8], at: usize, floor: usize) -> Option<(usize, Separator<'_>)> {
    let colon = match (b[at], b.get(at + 1)) {
        (b':', next) if next != Some(&b':') && next != Some(&b'/') => true,
        (b'=', next) if next != Some(&b'=') => false,
        _ => return None,
    };
    let mut j = at;
    while j > floor && b[j - 1] == b' ' {
        j -= 1;
    }
    let mut quote = None;
    if j > floor && matches!(b[j - 1], b'\'' | b'"') {
        let quote_end = j;
        j -= 1;
        while j > floor && b[j - 1] == b'\\' {
            j -= 1;
        }
        quote = Some(&b[j..quote_end]);
    }
    let key_end = j;
    while j > floor && is_key_byte(b[j - 1]) {
        j -= 1;
    }
    (j < key_end).then_some((
        j,
        Separator {
            key_end,
            quote,
            colon,
            at,
        },
    ))
}

/// A bare word then `:` is a key (`password: x`, `Authorization: Bearer x`) unless it is an
/// exception's class (`InvalidTokenError: Signature has expired`).
fn key_before_bare_colon(key: &str) -> bool {
    ![
        "Error",
        "Exception",
        "Warning",
        "Exit",
        "Interrupt",
        "Expired",
    ]
    .iter()
    .any(|s| key.ends_with(s))
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// The edit that filters the value starting at `v`, if there is a value.
fn value_edit(text: &str, v: usize, sep: &Separator<'_>) -> Option<(usize, usize, String)> {
    let b = text.as_bytes();
    if v >= b.len() {
        return None;
    }
    // A string literal, maybe prefixed (b'', u'', r'', rb'') and maybe escaped (\"...\").
    let prefix = b[v..]
        .iter()
        .take(2)
        .take_while(|c| matches!(c, b'b' | b'B' | b'u' | b'U' | b'r' | b'R'))
        .count();
    for p in 0..=prefix {
        if let Some(q) = opening_quote(b, v + p) {
            let content = v + p + q.len();
            return Some(match closing_quote(b, content, q) {
                Some(end) => (content, end, FILTERED.to_string()),
                // Cut before the closing quote: all of the rest of the line is the secret's.
                None => (
                    content,
                    memchr::memchr(b'\n', &b[content..]).map_or(b.len(), |n| content + n),
                    format!("{FILTERED}{}", String::from_utf8_lossy(q)),
                ),
            });
        }
    }
    let quoted = |s: &str| match sep.quote {
        Some(q) => {
            let q = String::from_utf8_lossy(q);
            format!("{q}{s}{q}")
        }
        None => s.to_string(),
    };
    let end = bare_value_end(b, v, sep);
    (end > v).then(|| (v, end, quoted(FILTERED)))
}

/// The quote (with its escaping backslashes) opening a string at `i`.
fn opening_quote(b: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i;
    while j < b.len() && b[j] == b'\\' {
        j += 1;
    }
    (j < b.len() && matches!(b[j], b'\'' | b'"')).then(|| &b[i..=j])
}

/// Start of the quote closing a string whose content starts at `i`. Unescaped strings end at
/// the first quote not escaped by a backslash; a string quoted as `\"` ends at the next `\"`
/// with exactly as many backslashes (more would be a quote escaped inside it). A repr or JSON
/// string never holds a raw line break: one reached first means the string was cut (a
/// traceback line ends inside it), and the quote on a later line is another string's.
fn closing_quote(b: &[u8], mut i: usize, q: &[u8]) -> Option<usize> {
    let (quote, slashes) = (q[q.len() - 1], q.len() - 1);
    if slashes == 0 {
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'\n' => return None,
                c if c == quote => return Some(i),
                _ => i += 1,
            }
        }
        return None;
    }
    while i < b.len() {
        if b[i] == quote {
            let run = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            if run == slashes {
                return Some(i - slashes);
            }
        }
        i += 1;
    }
    None
}

/// End of a value that is not a string: a number, a name, an object repr (`Token(v='x')`,
/// `<Secret x>`: brackets are followed to their match), or the rest of a header line.
fn bare_value_end(b: &[u8], v: usize, sep: &Separator<'_>) -> usize {
    let header = sep.colon && sep.quote.is_none();
    let mut depth = 0usize;
    let mut i = v;
    while i < b.len() {
        let c = b[i];
        if depth > 0 {
            match c {
                b'(' | b'[' | b'{' | b'<' => depth += 1,
                b')' | b']' | b'}' | b'>' => depth -= 1,
                b'\'' | b'"' => {
                    i = closing_quote(b, i + 1, &b[i..=i]).map_or(b.len(), |e| e + 1);
                    continue;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b',' | b';' | b')' | b']' | b'}' | b'>' | b'\'' | b'"' | b'\\' | b'\n' | b'\r' => {
                return i;
            }
            b'&' if !sep.colon => return i,
            b' ' | b'\t' if !header => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        let secret = |k: &str| {
            let k = k.to_ascii_lowercase();
            ["password", "token", "authorization", "secret"]
                .iter()
                .any(|s| k.contains(s))
        };
        let mut out = text.to_string();
        for (s, e, r) in find(text, &secret).into_iter().rev() {
            out.replace_range(s..e, &r);
        }
        out
    }

    #[test]
    fn python_dicts_at_any_depth() {
        assert_eq!(
            scrub("{'user': 'bob', 'password': 'hunter2', 'n': 1}"),
            "{'user': 'bob', 'password': '[Filtered]', 'n': 1}"
        );
        assert_eq!(
            scrub("({'a': [{'token': b'x\\'y', 'k': 2}]},)"),
            "({'a': [{'token': b'[Filtered]', 'k': 2}]},)"
        );
        assert_eq!(
            scrub("{'secret': {'a': [1, ','], 'b': 2}, 'n': 3}"),
            "{'secret': [Filtered], 'n': 3}".replace("[Filtered]", "'[Filtered]'")
        );
        assert_eq!(scrub("{'password': None}"), "{'password': '[Filtered]'}");
    }

    #[test]
    fn object_reprs_and_keyword_arguments() {
        assert_eq!(scrub("<Auth token=abc123>"), "<Auth token=[Filtered]>");
        assert_eq!(
            scrub("Auth(user='u', token='abc')"),
            "Auth(user='u', token='[Filtered]')"
        );
        assert_eq!(
            scrub("{'token': Token(value='abc', n=1)}"),
            "{'token': '[Filtered]'}"
        );
        assert_eq!(
            scrub("https://x/y?token=abc&page=2"),
            "https://x/y?token=[Filtered]&page=2"
        );
    }

    #[test]
    fn json_and_json_inside_strings() {
        assert_eq!(
            scrub(r#"{"password": "x\"y", "n": 12345}"#),
            r#"{"password": "[Filtered]", "n": 12345}"#
        );
        assert_eq!(scrub(r#"{"token": 12345}"#), r#"{"token": "[Filtered]"}"#);
        assert_eq!(
            scrub(r#""{\"password\": \"hunter2\", \"a\": 1}""#),
            r#""{\"password\": \"[Filtered]\", \"a\": 1}""#
        );
        assert_eq!(
            scrub(r#"('{"secret": "s3"}',)"#),
            r#"('{"secret": "[Filtered]"}',)"#
        );
    }

    #[test]
    fn a_cut_inside_a_secret_filters_to_the_end() {
        assert_eq!(scrub("{'token': 'abcdefgh..."), "{'token': '[Filtered]'");
        assert_eq!(scrub("{'password"), "{'password");
        assert_eq!(scrub("{'password': "), "{'password': ");
        assert_eq!(scrub("<Auth token=<Sec abc"), "<Auth token=[Filtered]");
    }

    #[test]
    fn headers_and_exception_text() {
        assert_eq!(
            scrub("Authorization: Basic dXNlcjpwdw==\nHost: x"),
            "Authorization: [Filtered]\nHost: x"
        );
        assert_eq!(
            scrub("InvalidTokenError: Signature has expired"),
            "InvalidTokenError: Signature has expired"
        );
        assert_eq!(
            scrub("    connect(password = 'pw')"),
            "    connect(password = '[Filtered]')"
        );
        assert_eq!(scrub("if password == x:"), "if password == x:");
    }

    /// The scan before it jumped between separators: every byte classified, keys read
    /// forwards. Kept to check the jumps find exactly the same keys.
    fn forward_find(text: &str, is_secret: &dyn Fn(&str) -> bool) -> Edits {
        let b = text.as_bytes();
        let mut edits = Edits::new();
        let mut i = 0;
        while i < b.len() {
            if !is_key_byte(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_key_byte(b[i]) {
                i += 1;
            }
            let key = &text[start..i];
            let Some(sep) = forward_separator(b, i) else {
                continue;
            };
            if sep.colon && sep.quote.is_none() && !key_before_bare_colon(key) {
                continue;
            }
            if !is_secret(key) {
                continue;
            }
            let value = skip_blanks(b, sep.at + 1);
            if let Some(edit) = value_edit(text, value, &sep) {
                i = edit.1.max(i);
                if text[edit.0..edit.1] != edit.2 {
                    edits.push(edit);
                }
            }
        }
        edits
    }

    fn forward_separator(b: &[u8], end: usize) -> Option<Separator<'_>> {
        let mut j = end;
        while j < b.len() && b[j] == b'\\' {
            j += 1;
        }
        let quote = if j < b.len() && matches!(b[j], b'\'' | b'"') {
            j += 1;
            Some(&b[end..j])
        } else {
            j = end;
            None
        };
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let colon = match (b.get(j), b.get(j + 1)) {
            (Some(b':'), next) if next != Some(&b':') && next != Some(&b'/') => true,
            (Some(b'='), next) if next != Some(&b'=') => false,
            _ => return None,
        };
        Some(Separator {
            key_end: end,
            quote,
            colon,
            at: j,
        })
    }

    proptest::proptest! {
        #[test]
        fn jumping_between_separators_finds_what_a_forward_scan_finds(
            parts in proptest::collection::vec(
                proptest::sample::select(&[
                    "password", "token", "user", "TokenError", "é", "a.b-c_d", " ", "  ", ":",
                    "=", "==", "::", "://", "'", "\"", "\\", "\\\\\"", ",", "{", "}", "(", ")",
                    "<", ">", "[", "]", "\n", "&", "12", "...", "b'", "x",
                ][..]),
                0..30,
            )
        ) {
            let text = parts.concat();
            let secret = |k: &str| k.contains("password") || k.contains("token") || k.contains('é');
            proptest::prop_assert_eq!(find(&text, &secret), forward_find(&text, &secret));
        }
    }

    #[test]
    fn already_filtered_text_is_left_alone() {
        let once = scrub("{'password': 'x', 'token': 1}");
        assert_eq!(scrub(&once), once);
        let t = "{'password': '[Filtered]'}";
        assert!(find(t, &|k| k == "password").is_empty());
    }
}
