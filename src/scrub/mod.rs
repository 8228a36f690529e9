//! Secrets out of everything celtrace prints: the values of secret-looking keys (in Python
//! reprs, JSON, exception text, tracebacks) and secrets recognisable by their shape whatever
//! their key (URL credentials, `Bearer` tokens, card numbers) become `[Filtered]`.
//!
//! Scrubbing happens where events enter celtrace (the state, `tail`, `export`), so every
//! output format gets the same scrubbed values; `--no-scrub` turns it off. The key list is in
//! `docs/secrets.md`. Pure.

pub mod keyed;
pub mod keys;
mod memo;
pub mod triggers;
pub mod values;

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::model::Event;
use triggers::Triggers;

/// The placeholder shown instead of a secret value (Sentry's spelling).
pub const FILTERED: &str = "[Filtered]";

/// The policy for diagnostics (excerpts of bad input lines, decoder messages): always the
/// default one, even with `--no-scrub`: a diagnostic never needs a secret.
pub fn diagnostics() -> &'static Policy {
    static DEFAULT: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(Policy::default);
    &DEFAULT
}

/// What is scrubbed: on with the default keys unless told otherwise.
#[derive(Debug, Clone)]
pub struct Policy {
    enabled: bool,
    /// The default fragments, `--scrub-key` and the profile's `scrub_keys` (folded), then the
    /// default words: one automaton, so a key is looked at once whatever the list's length.
    patterns: Option<aho_corasick::AhoCorasick>,
    /// The patterns, in the automaton's order: fragments first, then words.
    list: Vec<String>,
    /// Patterns below this index are fragments; the rest are words.
    fragments: usize,
    /// The profile's `safe_keys`, folded: keys never filtered (shaped secrets still are).
    safe: Vec<String>,
    /// Names this policy's answers in the per-thread memo of [`Policy::is_secret_key`].
    id: u64,
}

/// A fresh [`Policy::id`].
fn next_policy_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

std::thread_local! {
    /// This thread's answers of [`Policy::is_secret_key`].
    static SECRET_KEYS: std::cell::RefCell<memo::Memo> = std::cell::RefCell::default();
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(&[], &[])
    }
}

impl Policy {
    /// Scrubbing on, with the default keys plus `extra`, minus `safe`.
    pub fn new(extra: &[String], safe: &[String]) -> Self {
        let fold = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .map(|k| keys::compact(k))
                .filter(|k| !k.is_empty())
                .collect()
        };
        let mut fragments: Vec<String> = keys::DEFAULT_FRAGMENTS
            .iter()
            .map(ToString::to_string)
            .collect();
        fragments.extend(fold(extra));
        let count = fragments.len();
        let list: Vec<String> = fragments
            .into_iter()
            .chain(keys::DEFAULT_WORDS.iter().map(ToString::to_string))
            .collect();
        Self {
            enabled: true,
            patterns: aho_corasick::AhoCorasick::new(&list).ok(),
            list,
            fragments: count,
            safe: fold(safe),
            id: next_policy_id(),
        }
    }

    /// No scrubbing at all (`--no-scrub`, and `retry`, which must re-send the real values).
    pub fn off() -> Self {
        Self {
            enabled: false,
            patterns: None,
            list: Vec::new(),
            fragments: 0,
            safe: Vec::new(),
            id: next_policy_id(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether values under `key` are secrets.
    pub fn is_secret_key(&self, key: &str) -> bool {
        if !self.enabled {
            return false;
        }
        if let Some(secret) = SECRET_KEYS.with_borrow(|memo| memo.get(self.id, key)) {
            return secret;
        }
        let secret = self.is_secret_key_uncached(key);
        SECRET_KEYS.with_borrow_mut(|memo| memo.put(self.id, key, secret));
        secret
    }

    fn is_secret_key_uncached(&self, key: &str) -> bool {
        // Most keys are short ASCII (`name`, `order_id`): folded on the stack, no allocation.
        if key.is_ascii() && key.len() <= keys::SHORT_KEY {
            let mut buf = [0u8; keys::SHORT_KEY];
            let compact = keys::compact_ascii(key, &mut buf);
            return self.matches(compact, || keys::ascii_words(key));
        }
        let folded = keys::fold(key);
        self.matches(&folded.compact, || folded.words.clone())
    }

    fn matches<W: AsRef<str>>(&self, compact: &str, words: impl FnOnce() -> Vec<W>) -> bool {
        if !self.safe.is_empty() && self.safe.iter().any(|s| s == compact) {
            return false;
        }
        let mut word_hint = false;
        let mut found = |pattern: usize| {
            word_hint |= pattern >= self.fragments;
            pattern < self.fragments
        };
        let fragment = match &self.patterns {
            Some(ac) => ac
                .find_overlapping_iter(compact)
                .any(|m| found(m.pattern().as_usize())),
            None => (0..self.list.len()).any(|i| compact.contains(&self.list[i]) && found(i)),
        };
        if fragment {
            return true;
        }
        word_hint
            && words()
                .iter()
                .any(|w| keys::DEFAULT_WORDS.contains(&w.as_ref()))
    }

    /// Text with its secrets filtered: a repr, JSON, an exception, a traceback, any text.
    /// Borrowed when there was nothing to filter.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.enabled || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let triggers = Triggers::of(text);
        if !triggers.any() {
            return Cow::Borrowed(text);
        }
        let keyed = if triggers.keyed() {
            apply(text, keyed::find(text, &|k| self.is_secret_key(k)))
        } else {
            Cow::Borrowed(text)
        };
        // Filtered values change the text: read again what the shapes' rules can find in it.
        let triggers = match &keyed {
            Cow::Borrowed(_) => triggers,
            Cow::Owned(o) => Triggers::of(o),
        };
        match apply(&keyed, values::find(&keyed, triggers)) {
            Cow::Borrowed(_) => keyed,
            Cow::Owned(o) => Cow::Owned(o),
        }
    }

    /// [`Policy::text`] on an optional field, in place.
    pub fn field(&self, field: &mut Option<Cow<'_, str>>) -> bool {
        let Some(value) = field else { return false };
        match self.text(value) {
            Cow::Borrowed(_) => false,
            Cow::Owned(o) => {
                *field = Some(Cow::Owned(o));
                true
            }
        }
    }

    /// A JSON value with its secrets filtered, in place: values under secret keys at any depth
    /// and shaped secrets in every string. Whether anything changed.
    pub fn json(&self, value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        if !self.enabled {
            return false;
        }
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    if self.is_secret_key(k) {
                        if !v.is_null() && v.as_str() != Some(FILTERED) {
                            *v = Value::String(FILTERED.to_string());
                            changed = true;
                        }
                    } else {
                        changed |= self.json(v);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.json(v) | c),
            Value::String(s) => match self.text(s) {
                Cow::Borrowed(_) => false,
                Cow::Owned(o) => {
                    *s = o;
                    true
                }
            },
            _ => false,
        }
    }

    /// A JSON document (a result-backend record) with its secrets filtered; text that is not
    /// JSON is filtered as text.
    pub fn json_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.enabled {
            return Cow::Borrowed(text);
        }
        match self.json_str(text) {
            Some(Ok(filtered)) => Cow::Owned(filtered),
            Some(Err(())) => self.text(text),
            None => Cow::Borrowed(text),
        }
    }

    /// Secrets out of JSON text: `None` when there are none, `Some(Err(()))` when it is not
    /// JSON. Parsed and filtered as a value; the text is also scanned, because what a parser
    /// keeps is not all the text holds (a duplicate key's first value is dropped by the parse,
    /// yet still in the text another reader may see): then the filtered text is kept if it is
    /// still JSON, else the filtered value.
    fn json_str(&self, raw: &str) -> Option<Result<String, ()>> {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(raw) else {
            return Some(Err(()));
        };
        let changed = self.json(&mut value);
        match self.text(raw) {
            Cow::Borrowed(_) if !changed => None,
            Cow::Owned(t) if serde_json::from_str::<serde_json::Value>(&t).is_ok() => {
                // Both filters agree on what is left only if the text scan missed nothing
                // the value filter found: keep the value's form when it did change.
                Some(Ok(if changed { value.to_string() } else { t }))
            }
            _ => Some(Ok(value.to_string())),
        }
    }

    /// One raw JSON field of an event (custom event payloads, fields celtrace does not model).
    pub fn raw_field(&self, key: &str, raw: &RawValue) -> Option<Box<RawValue>> {
        if !self.enabled {
            return None;
        }
        if self.is_secret_key(key) {
            let filtered = format!("\"{FILTERED}\"");
            return (raw.get() != filtered && raw.get() != "null")
                .then(|| RawValue::from_string(filtered).ok())
                .flatten();
        }
        // Numbers, booleans and null hold nothing to filter.
        if !raw.get().contains(['"']) {
            return None;
        }
        match self.json_str(raw.get())? {
            Ok(filtered) => RawValue::from_string(filtered).ok(),
            Err(()) => None,
        }
    }

    /// The event with its secrets filtered, in place: `args`, `kwargs`, `result`,
    /// `exception`, `traceback` and every field celtrace does not model. Whether anything
    /// changed.
    pub fn event(&self, ev: &mut Event<'_>) -> bool {
        if !self.enabled {
            return false;
        }
        let mut changed = false;
        for field in [
            &mut ev.args,
            &mut ev.kwargs,
            &mut ev.result,
            &mut ev.exception,
            &mut ev.traceback,
        ] {
            changed |= self.field(field);
        }
        for (k, v) in &mut ev.extra {
            if let Some(filtered) = self.raw_field(k, v) {
                *v = Cow::Owned(filtered);
                changed = true;
            }
        }
        changed
    }
}

/// `text` with the edits applied (in order, not overlapping).
fn apply(text: &str, mut edits: keyed::Edits) -> Cow<'_, str> {
    edits.retain(|(start, end, replacement)| text[*start..*end] != *replacement);
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, replacement) in edits {
        out.push_str(&text[at..start]);
        out.push_str(&replacement);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
