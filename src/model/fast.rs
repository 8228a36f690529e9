//! A fast path for the common case: a flat Celery event dict (the recording format).
//!
//! serde_json's generic visitor spends most of decoding time in dispatch; a Celery event is a
//! flat object of strings, numbers, null and booleans, so a scanner for exactly that shape
//! is several times cheaper. Anything else — nested values, unknown keys, a field of the wrong
//! type, odd escapes — returns `None` and the entry goes through the full serde path, which
//! is the reference: a differential test checks both give the same events.

use std::borrow::Cow;

use super::decode::{Entry, Field, cap_text};
use crate::swar;

/// The high bit of each byte of `w` (little-endian) that may be a quote, a backslash or a
/// control character. The lowest flagged byte is exact, and none is flagged if there is no
/// such byte: borrows only run upwards from a real one, and bytes >= 0x80 never match.
fn stops(w: u64) -> u64 {
    use swar::{HIGH, ONES};
    let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    let control = w.wrapping_sub(ONES * 0x20);
    (quote | backslash | control) & !w & HIGH
}

/// A mask of the low `n` bytes of a word (`n` <= 8).
fn low_bytes(n: usize) -> u64 {
    if n >= 8 { !0 } else { (1 << (8 * n)) - 1 }
}

/// Index of the first quote, backslash or control character at or after `i` (or the end).
/// Eight bytes at a time with word arithmetic (as serde_json does), then byte by byte.
fn plain_run(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = swar::word_at(b, i) {
        let hit = stops(w);
        if hit != 0 {
            return i + swar::first(hit);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if STOP[c as usize] {
            break;
        }
        i += 1;
    }
    i
}

/// The end of the run of ASCII digits from `i`, and `m` with those digits appended (wrapping
/// past 19 digits, where [`NumberScan::value`] does not use it). Local state only, so the
/// loop keeps it in registers. (Eight digits at a time cost more: most runs are shorter.)
#[inline(always)]
fn digit_run(b: &[u8], mut i: usize, mut m: u64) -> (u64, usize) {
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    (m, i)
}

/// What one pass over a JSON number learnt.
struct NumberScan {
    negative: bool,
    /// All digits (integer and fraction) as one integer, if at most 19 of them.
    mantissa: u64,
    digits: usize,
    frac: usize,
    exponent: bool,
    len: usize,
}

impl NumberScan {
    /// The value. Integers and decimals whose digits form an integer below 2^53 are exact
    /// (Clinger's fast path: an exact mantissa divided by an exact power of ten is correctly
    /// rounded by IEEE division); anything else goes to Rust's parser, correctly rounded too,
    /// like serde_json with `float_roundtrip`. Up to 19 digits past 2^53, the quotient is
    /// rounded in integers ([`exact_quotient`]).
    fn value(&self, text: &str) -> Option<f64> {
        if !self.exponent && self.digits <= 19 {
            let v = match POW10.get(self.frac) {
                Some(p) if self.mantissa < (1 << 53) => Some(self.mantissa as f64 / p),
                _ => exact_quotient(self.mantissa, self.frac),
            };
            if let Some(v) = v {
                return Some(if self.negative { -v } else { v });
            }
        }
        let n: f64 = text.parse().ok()?;
        n.is_finite().then_some(n)
    }
}

/// `m / 10^k` rounded to the nearest f64 (ties to even), for any `m` and `k` up to 22: the
/// quotient is taken in integers to 54 bits or more, and the bits past the 53 kept, with the
/// remainder, say which way to round. Celery's timestamps and runtimes with 17 significant
/// digits need this: their mantissa is past 2^53, where the division of two floats may round
/// twice.
fn exact_quotient(m: u64, k: usize) -> Option<f64> {
    let divisor = *POW10_INT.get(k)?;
    if m == 0 {
        return Some(0.0);
    }
    // `m` moved to the top of 128 bits: the quotient is at least 2^127 / 10^22 > 2^53.
    let shift = m.leading_zeros() + 64;
    let n = u128::from(m) << shift;
    let q = n / divisor;
    let r = n - q * divisor;
    let extra = (128 - q.leading_zeros()) - 53;
    let mut top = (q >> extra) as u64;
    let rest = q & ((1 << extra) - 1);
    let half = 1 << (extra - 1);
    if rest > half || (rest == half && (r != 0 || top & 1 == 1)) {
        top += 1;
    }
    // top * 2^(extra - shift): both exact (top <= 2^53; the power of two is a normal f64, as
    // extra - shift lies between -127 and 11).
    let exponent = i64::from(extra) - i64::from(shift);
    let scale = f64::from_bits(u64::try_from(exponent + 1023).ok()? << 52);
    Some(top as f64 * scale)
}

/// 10^k as integers, k up to 22.
const POW10_INT: [u128; 23] = {
    let mut t = [1u128; 23];
    let mut k = 1;
    while k < 23 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// Powers of ten exactly representable as f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Bytes that end the plain part of a JSON string.
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The next byte that is not white space. Python's json writes `", "` and `": "`, so one
    /// space is checked before the general loop.
    fn peek(&mut self) -> Option<u8> {
        match self.b.get(self.i)? {
            b' ' => match self.b.get(self.i + 1)? {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                &c => {
                    self.i += 1;
                    return Some(c);
                }
            },
            b'\t' | b'\n' | b'\r' => {}
            &c => return Some(c),
        }
        self.ws();
        self.b.get(self.i).copied()
    }

    /// The field a key names, after its opening quote. Celery's keys are short plain names:
    /// the 16 bytes from the key's start are read as two words, the closing quote is found
    /// in them, and the words look the field up; a longer key, or one with an escape, goes
    /// the general way.
    fn key_field(&mut self) -> Option<Field> {
        let start = self.i;
        if let Some(key) = self.b.get(start..start + 16) {
            let (lo, hi) = key.split_at(8);
            let lo = u64::from_le_bytes(lo.try_into().unwrap_or([0; 8]));
            let hi = u64::from_le_bytes(hi.try_into().unwrap_or([0; 8]));
            let len = match (stops(lo), stops(hi)) {
                (0, h) => 8 + swar::first(h),
                (l, _) => swar::first(l),
            };
            if len < 16 && self.b[start + len] == b'"' {
                let (lo, hi) = if len <= 8 {
                    (lo & low_bytes(len), 0)
                } else {
                    (lo, hi & low_bytes(len - 8))
                };
                self.i = start + len + 1;
                return Some(Field::of_words(lo, hi, len));
            }
        }
        let key = self.string()?;
        Some(Field::of(&key))
    }

    /// A string after its opening quote.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let end = plain_run(self.b, start);
        match self.b.get(end)? {
            b'"' => {
                self.i = end + 1;
                Some(Cow::Borrowed(&self.s[start..end]))
            }
            b'\\' => self.escaped(start),
            _ => None, // raw control characters are invalid JSON: let serde say so
        }
    }

    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let mut out = String::with_capacity(64);
        let mut i = start;
        loop {
            let rel = memchr::memchr2(b'"', b'\\', &self.b[i..])?;
            let seg = &self.b[i..i + rel];
            if seg.iter().any(|&c| c < 0x20) {
                return None;
            }
            out.push_str(&self.s[i..i + rel]);
            i += rel;
            if self.b[i] == b'"' {
                self.i = i + 1;
                return Some(Cow::Owned(out));
            }
            let c = *self.b.get(i + 1)?;
            i += 2;
            match c {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hex = self.s.get(i..i + 4)?;
                    let cp = u32::from_str_radix(hex, 16).ok()?;
                    i += 4;
                    // Surrogates (and pairs) are rare: leave them to serde_json.
                    out.push(char::from_u32(cp)?);
                }
                _ => return None,
            }
        }
    }

    /// Reads a JSON number, checking its grammar and gathering its digits in one pass.
    fn number_text(&mut self) -> Option<NumberScan> {
        let b = self.b;
        let start = self.i;
        let negative = b.get(start) == Some(&b'-');
        let int_start = start + usize::from(negative);
        let (mut mantissa, int_end) = digit_run(b, int_start, 0);
        // JSON has no leading zeros and needs a digit before any fraction.
        if int_end == int_start || (int_end - int_start > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut end = int_end;
        let mut frac = 0;
        if b.get(end) == Some(&b'.') {
            let (m, frac_end) = digit_run(b, end + 1, mantissa);
            frac = frac_end - (end + 1);
            if frac == 0 {
                return None;
            }
            mantissa = m;
            end = frac_end;
        }
        let exponent = matches!(b.get(end), Some(b'e' | b'E'));
        if exponent {
            end += 1;
            if matches!(b.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            let (_, exp_end) = digit_run(b, end, 0);
            if exp_end == end {
                return None;
            }
            end = exp_end;
        }
        self.i = end;
        Some(NumberScan {
            negative,
            mantissa,
            digits: int_end - int_start + frac,
            frac,
            exponent,
            len: end - start,
        })
    }

    /// A JSON number's value.
    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        let n = self.number_text()?;
        n.value(&self.s[start..start + n.len])
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.b[self.i..]
            .starts_with(word.as_bytes())
            .then(|| self.i += word.len())
    }
}

enum Val<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
    /// A short list of numbers (`loadavg`, a capture's `_batch`).
    Nums([f64; 4], usize),
}

/// Decodes a flat event dict, or returns `None` to hand the entry to the full decoder.
#[cfg(test)]
pub(super) fn parse(text: &str) -> Option<Entry<'_>> {
    let mut entry = Entry::default();
    parse_into(text, &mut entry).then_some(entry)
}

/// [`parse`] into a caller's entry (no move of the large struct). On `false` the entry is
/// partly filled and must be discarded.
pub(super) fn parse_into<'a>(text: &'a str, entry: &mut Entry<'a>) -> bool {
    parse_fields(text, entry).is_some()
}

fn parse_fields<'a>(text: &'a str, entry: &mut Entry<'a>) -> Option<()> {
    let (mut received_raw, mut utcoffset_raw): (Option<&str>, Option<&str>) = (None, None);
    let mut sc = Scanner {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    sc.eat(b'{')?;
    if sc.peek()? == b'}' {
        sc.i += 1;
    } else {
        loop {
            sc.eat(b'"')?;
            let field = sc.key_field()?;
            // Python writes `": "`: take it in one step, else the general way.
            if sc.b.get(sc.i..sc.i + 2) == Some(b": ") {
                sc.i += 2;
            } else {
                sc.eat(b':')?;
            }
            // Receive time and time zone are only kept on events without a task timestamp
            // (see `handle_entry`): keep their text and parse it at the end if needed.
            if matches!(field, Field::Received | Field::Utcoffset)
                && matches!(sc.peek()?, b'-' | b'0'..=b'9')
            {
                let start = sc.i;
                sc.number_text()?;
                let raw = &sc.s[start..sc.i];
                if matches!(field, Field::Received) {
                    received_raw = Some(raw);
                } else {
                    utcoffset_raw = Some(raw);
                }
            } else {
                let val = match sc.peek()? {
                    b'"' => {
                        sc.i += 1;
                        Val::Str(sc.string()?)
                    }
                    b'n' => sc.literal("null").map(|()| Val::Null)?,
                    b't' => sc.literal("true").map(|()| Val::Bool(true))?,
                    b'f' => sc.literal("false").map(|()| Val::Bool(false))?,
                    b'-' | b'0'..=b'9' => Val::Num(sc.number()?),
                    b'[' => {
                        sc.i += 1;
                        let mut v = [0.0; 4];
                        let mut n = 0;
                        if sc.peek()? == b']' {
                            sc.i += 1;
                        } else {
                            loop {
                                sc.ws();
                                *v.get_mut(n)? = sc.number()?;
                                n += 1;
                                match sc.peek()? {
                                    b',' => sc.i += 1,
                                    b']' => {
                                        sc.i += 1;
                                        break;
                                    }
                                    _ => return None,
                                }
                            }
                        }
                        Val::Nums(v, n)
                    }
                    _ => return None,
                };
                set(entry, field, val)?;
            }
            // Python writes `", "` before the next key.
            if sc.b.get(sc.i..sc.i + 3) == Some(b", \"") {
                sc.i += 2;
                continue;
            }
            match sc.peek()? {
                b',' => sc.i += 1,
                b'}' => {
                    sc.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    sc.ws();
    if sc.i != sc.b.len() {
        return None;
    }
    let ev = &entry.event;
    let task_with_time = ev.type_name.starts_with("task-") && ev.timestamp.is_some();
    if !task_with_time {
        let parse = |raw: &str| {
            Scanner {
                s: raw,
                b: raw.as_bytes(),
                i: 0,
            }
            .number()
        };
        if let Some(raw) = received_raw {
            entry.received = Some(parse(raw)?);
        }
        if let Some(raw) = utcoffset_raw {
            entry.event.utcoffset = Some(parse(raw)?);
        }
    }
    Some(())
}

/// Stores one value, or gives up (`None`) on anything the fast path does not model.
fn set<'a>(entry: &mut Entry<'a>, field: Field, val: Val<'a>) -> Option<()> {
    let ev = &mut entry.event;
    let str_field =
        |slot: &mut Option<Cow<'a, str>>, name: &str, bad: &mut Vec<String>, v: Val<'a>| match v {
            Val::Str(s) => {
                *slot = Some(cap_text(s, name, bad));
                Some(())
            }
            Val::Null => {
                *slot = None;
                Some(())
            }
            _ => None,
        };
    let num = |v: Val<'a>| match v {
        Val::Num(n) => Some(Some(n)),
        Val::Null => Some(None),
        _ => None,
    };
    // Times outside what RFC 3339 can write, and negative runtimes, go to the full decoder,
    // which reports them.
    let time = |v: Val<'a>| match v {
        Val::Num(n) if super::decode::time_in_range(n) => Some(Some(n)),
        Val::Null => Some(None),
        _ => None,
    };
    let span = |v: Val<'a>| match v {
        Val::Num(n) if n >= 0.0 => Some(Some(n)),
        Val::Null => Some(None),
        _ => None,
    };
    let count = |v: Val<'a>| match v {
        Val::Num(n) if n >= 0.0 && n.fract() == 0.0 && n < 1.8e19 => Some(Some(n as u64)),
        Val::Null => Some(None),
        _ => None,
    };
    let flag = |v: Val<'a>| match v {
        Val::Bool(b) => Some(Some(b)),
        Val::Null => Some(None),
        _ => None,
    };
    let bad = &mut ev.invalid_fields;
    match field {
        Field::Type => match val {
            Val::Str(s) => {
                ev.type_name = cap_text(s, "type", bad);
                entry.has_type = true;
            }
            Val::Null => {}
            _ => return None,
        },
        Field::Hostname => str_field(&mut ev.hostname, "hostname", bad, val)?,
        Field::Uuid => str_field(&mut ev.uuid, "uuid", bad, val)?,
        Field::Name => str_field(&mut ev.name, "name", bad, val)?,
        Field::Args => str_field(&mut ev.args, "args", bad, val)?,
        Field::Kwargs => str_field(&mut ev.kwargs, "kwargs", bad, val)?,
        Field::RootId => str_field(&mut ev.root_id, "root_id", bad, val)?,
        Field::ParentId => str_field(&mut ev.parent_id, "parent_id", bad, val)?,
        Field::Eta => str_field(&mut ev.eta, "eta", bad, val)?,
        Field::Expires => str_field(&mut ev.expires, "expires", bad, val)?,
        Field::Queue => str_field(&mut ev.queue, "queue", bad, val)?,
        Field::Exchange => str_field(&mut ev.exchange, "exchange", bad, val)?,
        Field::RoutingKey => str_field(&mut ev.routing_key, "routing_key", bad, val)?,
        Field::Result => str_field(&mut ev.result, "result", bad, val)?,
        Field::Exception => str_field(&mut ev.exception, "exception", bad, val)?,
        Field::Traceback => str_field(&mut ev.traceback, "traceback", bad, val)?,
        Field::SwIdent => str_field(&mut ev.sw_ident, "sw_ident", bad, val)?,
        Field::SwVer => str_field(&mut ev.sw_ver, "sw_ver", bad, val)?,
        Field::SwSys => str_field(&mut ev.sw_sys, "sw_sys", bad, val)?,
        Field::Utcoffset => ev.utcoffset = num(val)?,
        Field::Timestamp => ev.timestamp = time(val)?,
        Field::Runtime => ev.runtime = span(val)?,
        Field::Freq => ev.freq = num(val)?,
        Field::Received => entry.received = time(val)?,
        Field::Pid => ev.pid = count(val)?,
        Field::Clock => ev.clock = count(val)?,
        Field::Retries => ev.retries = count(val)?,
        Field::Active => ev.active = count(val)?,
        Field::Processed => ev.processed = count(val)?,
        Field::Signum => {
            ev.signum = match val {
                Val::Num(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => Some(n as i64),
                Val::Null => None,
                _ => return None,
            }
        }
        Field::Terminated => ev.terminated = flag(val)?,
        Field::Expired => ev.expired = flag(val)?,
        Field::Requeue => ev.requeue = flag(val)?,
        Field::Loadavg => {
            ev.loadavg = match val {
                Val::Nums(v, 3) => Some([v[0], v[1], v[2]]),
                Val::Null => None,
                _ => return None,
            }
        }
        Field::Annotation => {}
        // Envelopes, captures and custom fields need the full decoder.
        Field::Raw | Field::Body | Field::Properties | Field::ContentType | Field::Other => {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The integer quotient rounds as Rust's parser does (correctly): any mantissa, every
        /// power of ten, ties included (a mantissa ending in 5 over a power of ten of its
        /// width lands on many halfway cases).
        #[test]
        fn an_integer_quotient_is_rounded_as_the_parser_rounds(
            m in prop_oneof![any::<u64>(), (1u64 << 53)..(1u64 << 56), 0u64..1000],
            k in 0usize..=22,
        ) {
            let parsed: f64 = format!("{m}e-{k}").parse().unwrap();
            prop_assert_eq!(exact_quotient(m, k), Some(parsed));
        }

        /// A key read as words names the field its text names, and the scan goes on after
        /// its closing quote: short and long keys, escapes, and lines that end soon after.
        #[test]
        fn a_key_read_as_words_is_the_key_read_as_text(
            key in prop_oneof![
                proptest::sample::select(&["type", "uuid", "timestamp", "local_received", "_recv_ts", "content-type"][..])
                    .prop_map(str::to_string),
                "[a-z_é]{0,20}",
                "[a-z]{0,6}\\\\[n\"][a-z]{0,6}",
            ],
            after in "(: 1, \"clock\": 2\\}|: 1\\}|\\})",
        ) {
            let line = format!("\"{key}\"{after}");
            let mut sc = Scanner { s: &line, b: line.as_bytes(), i: 1 };
            let field = sc.key_field();
            let mut general = Scanner { s: &line, b: line.as_bytes(), i: 1 };
            let text = general.string();
            prop_assert_eq!(field, text.as_deref().map(Field::of));
            prop_assert_eq!(sc.i, general.i);
        }
    }
}
