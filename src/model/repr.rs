//! Python reprs as Celery sends them (`args`, `kwargs`, `result`, `exception`: PROTOCOL.md
//! §3.2): scrubbing secret-looking dict values, and finding the real error behind
//! `ExceptionWithTraceback()`. Pure.

/// The placeholder shown instead of a secret value (Sentry's spelling).
pub const FILTERED: &str = "[Filtered]";

const SENSITIVE: &[&str] = &[
    "passw",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "credential",
    "private_key",
    "access_key",
    "cookie",
    "signature",
    "session_key",
];

/// Whether a dict key looks like it holds a secret.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| k.contains(s))
}

/// Replaces the values of secret-looking keys, at any depth, in real JSON (the result
/// backend's `args`, `kwargs` and `result` with `result_extended`).
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_sensitive_key(k) {
                    *v = serde_json::Value::String(FILTERED.to_string());
                } else {
                    scrub_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        _ => {}
    }
}

/// Replaces the values of secret-looking keys in a Python repr with `'[Filtered]'`.
///
/// Works on the text, without evaluating it: string literals are skipped whole, nesting is
/// tracked, and a repr Celery truncated (ending in `...`) filters to its end. Returns the input
/// unchanged (borrowed) when nothing had to be filtered.
pub fn scrub(repr: &str) -> std::borrow::Cow<'_, str> {
    let b = repr.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `repr` already represented in `out`
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let start = i;
                let end = skip_string(b, i);
                // A key is a string literal directly followed by `:` (inside a dict).
                let mut j = end;
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                if j < b.len()
                    && b[j] == b':'
                    && is_sensitive_key(&repr[start + 1..end.saturating_sub(1).max(start + 1)])
                {
                    let value_start = skip_spaces(b, j + 1);
                    let value_end = skip_value(b, value_start);
                    let o = out.get_or_insert_with(|| String::with_capacity(repr.len()));
                    o.push_str(&repr[copied..value_start]);
                    o.push('\'');
                    o.push_str(FILTERED);
                    o.push('\'');
                    copied = value_end;
                    i = value_end;
                    continue;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&repr[copied..]);
            std::borrow::Cow::Owned(o)
        }
        None => std::borrow::Cow::Borrowed(repr),
    }
}

/// Index just past the string literal starting at `start` (a quote), or the end of input.
fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i
}

/// Index of the `,` or closing bracket that ends the value starting at `start`.
fn skip_value(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// The error worth showing: `exception`, or — for the useless `ExceptionWithTraceback()`
/// a hard time limit or a killed pool child produces (trap 7) — the traceback's last line.
pub fn effective_exception<'a>(
    exception: Option<&'a str>,
    traceback: Option<&'a str>,
) -> Option<&'a str> {
    let last_line = || {
        traceback?
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
    };
    match exception {
        Some(e) if e.trim() == "ExceptionWithTraceback()" || e.trim().is_empty() => {
            last_line().or(Some(e))
        }
        Some(e) => Some(e),
        None => last_line(),
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn json_secrets_are_filtered_at_any_depth() {
        let mut v =
            serde_json::json!([{"card": {"token": "tok_1", "n": 1}}, {"Password": "x"}, "token"]);
        scrub_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!([{"card": {"token": FILTERED, "n": 1}}, {"Password": FILTERED}, "token"])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_sensitive_dict_values_only() {
        assert_eq!(
            scrub("{'user': 'bob', 'password': 'hunter2', 'n': 1}"),
            "{'user': 'bob', 'password': '[Filtered]', 'n': 1}"
        );
        assert_eq!(
            scrub("{'api_key': {'a': [1, ','], 'b': 2}}"),
            "{'api_key': '[Filtered]'}"
        );
        assert_eq!(
            scrub("({'Authorization': \"Bearer x'y\"},)"),
            "({'Authorization': '[Filtered]'},)"
        );
        assert_eq!(scrub("(2, 3)"), "(2, 3)");
        assert!(matches!(scrub("{'n': 1}"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn keys_inside_values_and_escaped_quotes_do_not_confuse_it() {
        assert_eq!(
            scrub("{'note': 'token: abc', 'x': 1}"),
            "{'note': 'token: abc', 'x': 1}"
        );
        assert_eq!(
            scrub("{'it\\'s': 1, 'secret': 's'}"),
            "{'it\\'s': 1, 'secret': '[Filtered]'}"
        );
    }

    #[test]
    fn truncated_reprs_filter_to_the_end() {
        assert_eq!(scrub("{'token': 'abcdefgh..."), "{'token': '[Filtered]'");
        assert_eq!(scrub("{'password"), "{'password");
    }

    #[test]
    fn exception_with_traceback_uses_last_traceback_line() {
        let tb = "Traceback (most recent call last):\n  File x\nbilliard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)\n";
        assert_eq!(
            effective_exception(Some("ExceptionWithTraceback()"), Some(tb)),
            Some("billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)")
        );
        assert_eq!(
            effective_exception(Some("ValueError('boom')"), Some(tb)),
            Some("ValueError('boom')")
        );
        assert_eq!(
            effective_exception(Some("ExceptionWithTraceback()"), None),
            Some("ExceptionWithTraceback()")
        );
        assert_eq!(effective_exception(None, None), None);
    }
}
