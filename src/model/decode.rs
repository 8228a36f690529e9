//! Decoding: bytes a recording or a broker hands us → typed [`Event`]s.
//!
//! One entry can be any of the shapes celtrace meets (docs/protocol.md §1.4, §2.1):
//!
//! - a Celery event dict (the recording format, NDJSON),
//! - a JSON list of event dicts (a `task.multi` batch),
//! - a kombu Redis envelope (`{"body": <base64>, "properties": {"body_encoding": "base64"}, ...}`),
//! - a capture wrapper around an envelope (`{"recv_ts", "channel", "raw": "<envelope JSON>"}`),
//! - an AMQP delivery capture (`{"recv_ts", "routing_key", "properties", "body": "<JSON>"}`).
//!
//! Decoding is tolerant: a field of the wrong type is dropped and noted on the event, a bad
//! element of a batch is one issue while its siblings still decode, and nothing panics.
//! Pure: no I/O, no clock.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::event::{Event, EventKind, MAX_FIELD_BYTES};

/// Longest entry decoded at all. Larger lines are reported, not parsed.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

/// Why an entry (or part of one) could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IssueKind {
    /// Not valid JSON (truncated, binary garbage, invalid UTF-8).
    NotJson,
    /// Valid JSON, but neither an event, a batch nor an envelope.
    NotAnEvent,
    /// An envelope whose body cannot be decoded (bad base64, unsupported content type).
    BadEnvelope,
    /// An event without a field it cannot do without (`type`; `uuid` on task events).
    MissingField,
    /// A field had the wrong JSON type and was ignored; the event was kept.
    WrongType,
    /// A string field was longer than celtrace keeps and was cut.
    Truncated,
    /// The entry is larger than celtrace decodes.
    TooLarge,
    /// The file is damaged (a cut or corrupt gzip stream): what follows could not be read.
    Damaged,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::NotAnEvent => "not_an_event",
            Self::BadEnvelope => "bad_envelope",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::Truncated => "truncated",
            Self::TooLarge => "too_large",
            Self::Damaged => "damaged",
        }
    }

    /// Whether the entry (or batch element) was lost, as opposed to kept with a flaw.
    pub fn is_loss(self) -> bool {
        !matches!(self, Self::WrongType | Self::Truncated)
    }
}

/// One problem found while decoding an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeIssue {
    pub kind: IssueKind,
    pub message: String,
}

impl DecodeIssue {
    fn new(kind: IssueKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Decodes one entry, handing every good event to `sink` and every problem to `issues`.
/// Returns how many events were handed over.
pub fn decode_entry(
    text: &str,
    issues: &mut Vec<DecodeIssue>,
    sink: &mut dyn FnMut(&Event<'_>),
) -> usize {
    if text.len() > MAX_ENTRY_BYTES {
        issues.push(DecodeIssue::new(
            IssueKind::TooLarge,
            format!(
                "entry of {} bytes is over the {} byte limit",
                text.len(),
                MAX_ENTRY_BYTES
            ),
        ));
        return 0;
    }
    decode_json(text, None, 0, issues, sink)
}

/// Decodes raw bytes (a broker message body, a line that may not be UTF-8).
pub fn decode_bytes(
    bytes: &[u8],
    issues: &mut Vec<DecodeIssue>,
    sink: &mut dyn FnMut(&Event<'_>),
) -> usize {
    // Vectorised validation (every byte of every line is checked); its error is the
    // standard one, which says where.
    match simdutf8::compat::from_utf8(bytes) {
        Ok(text) => decode_entry(text, issues, sink),
        Err(e) => {
            issues.push(DecodeIssue::new(
                IssueKind::NotJson,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            ));
            0
        }
    }
}

// Envelopes nest at most twice (capture wrapper → envelope → body); deeper is not Celery.
const MAX_NESTING: u8 = 3;

fn decode_json(
    text: &str,
    received: Option<f64>,
    depth: u8,
    issues: &mut Vec<DecodeIssue>,
    sink: &mut dyn FnMut(&Event<'_>),
) -> usize {
    // Dispatch on the first byte: an `untagged` enum would buffer the whole value (docs/architecture.md §6).
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let mut entry = Entry::default();
            if super::fast::parse_into(text, &mut entry) {
                return handle_entry(&mut entry, received, depth, issues, sink);
            }
            match parse_object(text) {
                Ok(mut entry) => handle_entry(&mut entry, received, depth, issues, sink),
                Err(e) => {
                    issues.push(json_issue(&e));
                    0
                }
            }
        }
        Some(b'[') => decode_batch(text, received, depth, issues, sink),
        Some(_) => match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => {
                issues.push(DecodeIssue::new(
                    IssueKind::NotAnEvent,
                    "expected a JSON object (an event or envelope) or a list of events",
                ));
                0
            }
            Err(e) => {
                issues.push(json_issue(&e));
                0
            }
        },
        None => {
            issues.push(DecodeIssue::new(IssueKind::NotJson, "empty entry"));
            0
        }
    }
}

fn json_issue(e: &serde_json::Error) -> DecodeIssue {
    let what = if e.is_eof() {
        "truncated JSON"
    } else {
        "invalid JSON"
    };
    DecodeIssue::new(IssueKind::NotJson, format!("{what}: {e}"))
}

fn decode_batch(
    text: &str,
    received: Option<f64>,
    depth: u8,
    issues: &mut Vec<DecodeIssue>,
    sink: &mut dyn FnMut(&Event<'_>),
) -> usize {
    // Elements are decoded one by one so a bad element never hides its siblings.
    let elements: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            issues.push(json_issue(&e));
            return 0;
        }
    };
    if elements.is_empty() {
        issues.push(DecodeIssue::new(
            IssueKind::NotAnEvent,
            "empty list: no events in it",
        ));
        return 0;
    }
    let mut n = 0;
    for (i, element) in elements.iter().enumerate() {
        let raw = element.get();
        if !raw.trim_start().starts_with('{') {
            issues.push(DecodeIssue::new(
                IssueKind::NotAnEvent,
                format!("batch element {i} is not an event object"),
            ));
            continue;
        }
        // The flat fast path first, as for a lone event; serde decides anything else.
        let mut fast = Entry::default();
        let parsed = if super::fast::parse_into(raw, &mut fast) {
            Ok(fast)
        } else {
            parse_object(raw)
        };
        match parsed {
            Ok(entry) if entry.event.type_name.is_empty() && entry.is_wrapper() => {
                issues.push(DecodeIssue::new(
                    IssueKind::NotAnEvent,
                    format!("batch element {i} is an envelope, not an event"),
                ));
            }
            Ok(mut entry) => n += handle_entry(&mut entry, received, depth + 1, issues, sink),
            Err(e) => issues.push(json_issue(&e)),
        }
    }
    n
}

fn handle_entry(
    entry: &mut Entry<'_>,
    received: Option<f64>,
    depth: u8,
    issues: &mut Vec<DecodeIssue>,
    sink: &mut dyn FnMut(&Event<'_>),
) -> usize {
    let received = entry.received.or(received);
    if entry.has_type {
        let event = &mut entry.event;
        if event.local_received.is_none() {
            event.local_received = received;
        }
        if event.type_name.is_empty() {
            issues.push(DecodeIssue::new(
                IssueKind::MissingField,
                "event `type` is empty",
            ));
            return 0;
        }
        event.kind = EventKind::from_type(&event.type_name);
        // A task event's own timestamp orders it; when it also says when it was received and
        // the sender's time zone, nothing uses those, so they are not kept (the fast path does
        // not even parse them, and both paths must agree).
        if event.kind.is_task() && event.timestamp.is_some() {
            event.local_received = None;
            event.utcoffset = None;
        }
        if event.kind.is_task() && event.uuid.as_deref().is_none_or(str::is_empty) {
            issues.push(DecodeIssue::new(
                IssueKind::MissingField,
                format!("`{}` event without a `uuid`", event.type_name),
            ));
            return 0;
        }
        for field in &event.invalid_fields {
            let kind = if field.starts_with("truncated ") {
                IssueKind::Truncated
            } else {
                IssueKind::WrongType
            };
            issues.push(DecodeIssue::new(
                kind,
                format!("`{}`: {field}", event.type_name),
            ));
        }
        sink(&entry.event);
        return 1;
    }
    if depth >= MAX_NESTING {
        issues.push(DecodeIssue::new(
            IssueKind::NotAnEvent,
            "envelopes nested too deep",
        ));
        return 0;
    }
    if let Some(raw) = &entry.raw {
        return decode_json(raw, received, depth + 1, issues, sink);
    }
    if let Some(body) = entry.body {
        return match unwrap_envelope(body, entry.properties, entry.content_type.as_deref()) {
            Ok(inner) => decode_json(&inner, received, depth + 1, issues, sink),
            Err(issue) => {
                issues.push(issue);
                0
            }
        };
    }
    issues.push(DecodeIssue::new(
        IssueKind::MissingField,
        "object has no `type` (not a Celery event) and is not an envelope",
    ));
    0
}

#[derive(serde::Deserialize)]
struct EnvelopeKeys<'a> {
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow, rename = "content-type")]
    content_type: Option<Cow<'a, str>>,
}

/// The JSON inside a kombu envelope (a Redis pub/sub payload); any other JSON is returned as
/// it is. For the recorder, which stores events, not envelopes.
pub fn unwrap_envelope_text(payload: &str) -> Result<Cow<'_, str>, DecodeIssue> {
    if !payload.trim_start().starts_with('{') {
        return Ok(Cow::Borrowed(payload));
    }
    let keys: EnvelopeKeys<'_> = serde_json::from_str(payload).map_err(|e| json_issue(&e))?;
    match keys.body {
        Some(body) => unwrap_envelope(body, keys.properties, keys.content_type.as_deref()),
        None => Ok(Cow::Borrowed(payload)),
    }
}

/// Returns the JSON text inside an envelope body.
fn unwrap_envelope<'a>(
    body: &'a RawValue,
    properties: Option<&RawValue>,
    content_type: Option<&str>,
) -> Result<Cow<'a, str>, DecodeIssue> {
    if let Some(ct) = content_type
        && ct != "application/json"
    {
        return Err(DecodeIssue::new(
            IssueKind::BadEnvelope,
            format!("content type `{ct}` is not supported; celtrace reads JSON-serialized events"),
        ));
    }
    let raw = body.get();
    if !raw.starts_with('"') {
        // AMQP bodies may be stored as JSON directly.
        return Ok(Cow::Borrowed(raw));
    }
    let text: Cow<'a, str> = serde_json::from_str(raw)
        .map_err(|e| DecodeIssue::new(IssueKind::BadEnvelope, format!("envelope body: {e}")))?;
    let base64 = properties
        .and_then(|p| serde_json::from_str::<Properties<'_>>(p.get()).ok())
        .and_then(|p| p.body_encoding)
        .is_some_and(|enc| enc == "base64");
    if !base64 {
        return Ok(text);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .map_err(|e| DecodeIssue::new(IssueKind::BadEnvelope, format!("bad base64 body: {e}")))?;
    String::from_utf8(bytes).map(Cow::Owned).map_err(|e| {
        DecodeIssue::new(
            IssueKind::BadEnvelope,
            format!("body is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

#[derive(serde::Deserialize)]
struct Properties<'a> {
    #[serde(borrow, default)]
    body_encoding: Option<Cow<'a, str>>,
}

/// An object read in one pass: the event fields plus the fields of every wrapper shape.
#[derive(Default)]
pub(super) struct Entry<'a> {
    pub(super) event: Event<'a>,
    pub(super) has_type: bool,
    pub(super) received: Option<f64>,
    raw: Option<Cow<'a, str>>,
    body: Option<&'a RawValue>,
    properties: Option<&'a RawValue>,
    content_type: Option<Cow<'a, str>>,
}

impl Entry<'_> {
    fn is_wrapper(&self) -> bool {
        self.raw.is_some() || self.body.is_some()
    }
}

fn parse_object(text: &str) -> Result<Entry<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let entry = de.deserialize_map(EntryVisitor)?;
    de.end()?;
    Ok(entry)
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry<'de>, A::Error> {
        let mut entry = Entry::default();
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            let ev = &mut entry.event;
            let bad = &mut ev.invalid_fields;
            match Field::of(&key) {
                Field::Type => {
                    if let Some(t) = text(&mut map, "type", bad)? {
                        ev.type_name = t;
                        entry.has_type = true;
                    }
                }
                Field::Hostname => ev.hostname = text(&mut map, "hostname", bad)?,
                Field::Uuid => ev.uuid = text(&mut map, "uuid", bad)?,
                Field::Name => ev.name = text(&mut map, "name", bad)?,
                Field::Args => ev.args = text(&mut map, "args", bad)?,
                Field::Kwargs => ev.kwargs = text(&mut map, "kwargs", bad)?,
                Field::RootId => ev.root_id = text(&mut map, "root_id", bad)?,
                Field::ParentId => ev.parent_id = text(&mut map, "parent_id", bad)?,
                Field::Eta => ev.eta = text(&mut map, "eta", bad)?,
                Field::Expires => ev.expires = text(&mut map, "expires", bad)?,
                Field::Queue => ev.queue = text(&mut map, "queue", bad)?,
                Field::Exchange => ev.exchange = text(&mut map, "exchange", bad)?,
                Field::RoutingKey => ev.routing_key = text(&mut map, "routing_key", bad)?,
                Field::Result => ev.result = text(&mut map, "result", bad)?,
                Field::Exception => ev.exception = text(&mut map, "exception", bad)?,
                Field::Traceback => ev.traceback = text(&mut map, "traceback", bad)?,
                Field::SwIdent => ev.sw_ident = text(&mut map, "sw_ident", bad)?,
                Field::SwVer => ev.sw_ver = text(&mut map, "sw_ver", bad)?,
                Field::SwSys => ev.sw_sys = text(&mut map, "sw_sys", bad)?,
                Field::Utcoffset => ev.utcoffset = number(&mut map, "utcoffset", bad)?,
                Field::Timestamp => ev.timestamp = instant(&mut map, "timestamp", bad)?,
                Field::Runtime => ev.runtime = span(&mut map, "runtime", bad)?,
                Field::Freq => ev.freq = number(&mut map, "freq", bad)?,
                Field::Received => entry.received = instant(&mut map, "local_received", bad)?,
                Field::Pid => ev.pid = count(&mut map, "pid", bad)?,
                Field::Clock => ev.clock = count(&mut map, "clock", bad)?,
                Field::Retries => ev.retries = count(&mut map, "retries", bad)?,
                Field::Active => ev.active = count(&mut map, "active", bad)?,
                Field::Processed => ev.processed = count(&mut map, "processed", bad)?,
                Field::Signum => ev.signum = signed(&mut map, "signum", bad)?,
                Field::Terminated => ev.terminated = flag(&mut map, "terminated", bad)?,
                Field::Expired => ev.expired = flag(&mut map, "expired", bad)?,
                Field::Requeue => ev.requeue = flag(&mut map, "requeue", bad)?,
                Field::Loadavg => {
                    ev.loadavg = match map.next_value::<Lenient<LoadAvg>>()? {
                        Lenient::Value(LoadAvg(v)) => Some(v),
                        Lenient::Null => None,
                        Lenient::Bad(found) => {
                            bad.push(format!("`loadavg` is {found}, expected 3 numbers"));
                            None
                        }
                    }
                }
                Field::Raw => entry.raw = text(&mut map, "raw", bad)?,
                Field::Body => entry.body = Some(map.next_value()?),
                Field::Properties => entry.properties = Some(map.next_value()?),
                Field::ContentType => entry.content_type = text(&mut map, "content-type", bad)?,
                // Capture annotations (`_channel`, `_batch`) are not part of the event.
                Field::Annotation => {
                    map.next_value::<IgnoredAny>()?;
                }
                Field::Other => {
                    let value: &'de RawValue = map.next_value()?;
                    ev.extra.push((key, Cow::Borrowed(value)));
                }
            }
        }
        Ok(entry)
    }
}

/// The keys the decoder knows ([`KNOWN_KEYS`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Field {
    Type,
    Hostname,
    Uuid,
    Name,
    Args,
    Kwargs,
    RootId,
    ParentId,
    Eta,
    Expires,
    Queue,
    Exchange,
    RoutingKey,
    Result,
    Exception,
    Traceback,
    SwIdent,
    SwVer,
    SwSys,
    Utcoffset,
    Timestamp,
    Runtime,
    Freq,
    Received,
    Pid,
    Clock,
    Retries,
    Active,
    Processed,
    Signum,
    Terminated,
    Expired,
    Requeue,
    Loadavg,
    Raw,
    Body,
    Properties,
    ContentType,
    Annotation,
    Other,
}

/// Every key the decoder knows, with its field.
const KNOWN_KEYS: [(&str, Field); 41] = [
    ("eta", Field::Eta),
    ("pid", Field::Pid),
    ("raw", Field::Raw),
    ("type", Field::Type),
    ("uuid", Field::Uuid),
    ("name", Field::Name),
    ("args", Field::Args),
    ("freq", Field::Freq),
    ("body", Field::Body),
    ("queue", Field::Queue),
    ("clock", Field::Clock),
    ("kwargs", Field::Kwargs),
    ("result", Field::Result),
    ("sw_ver", Field::SwVer),
    ("sw_sys", Field::SwSys),
    ("signum", Field::Signum),
    ("active", Field::Active),
    ("root_id", Field::RootId),
    ("expires", Field::Expires),
    ("retries", Field::Retries),
    ("runtime", Field::Runtime),
    ("expired", Field::Expired),
    ("requeue", Field::Requeue),
    ("loadavg", Field::Loadavg),
    ("recv_ts", Field::Received),
    ("hostname", Field::Hostname),
    ("exchange", Field::Exchange),
    ("sw_ident", Field::SwIdent),
    ("_recv_ts", Field::Received),
    ("parent_id", Field::ParentId),
    ("exception", Field::Exception),
    ("traceback", Field::Traceback),
    ("utcoffset", Field::Utcoffset),
    ("timestamp", Field::Timestamp),
    ("processed", Field::Processed),
    ("terminated", Field::Terminated),
    ("properties", Field::Properties),
    ("routing_key", Field::RoutingKey),
    ("content-type", Field::ContentType),
    ("content_type", Field::ContentType),
    ("local_received", Field::Received),
];

/// The bytes of a key of up to 16 bytes as two little-endian words, zero-padded.
pub(super) const fn key_words(key: &[u8]) -> (u64, u64) {
    let mut w = [0u64; 2];
    let mut i = 0;
    while i < key.len() {
        w[i / 8] |= (key[i] as u64) << (8 * (i % 8));
        i += 1;
    }
    (w[0], w[1])
}

/// Where a key's words sit in [`KEY_TABLE`]: a multiplicative hash whose multiplier was
/// searched for so that no two known keys share a slot (a new key may need a new one: the
/// table's build says so).
const fn key_slot(lo: u64, hi: u64) -> usize {
    ((lo ^ hi.rotate_left(31)).wrapping_mul(0xF24D_04FD_A24C_8407) >> 57) as usize
}

/// [`KNOWN_KEYS`] by [`key_slot`]: (words, length, field). Built at compile time, which
/// fails if two keys share a slot.
const KEY_TABLE: [Option<(u64, u64, u8, Field)>; 128] = {
    let mut table = [None; 128];
    let mut k = 0;
    while k < KNOWN_KEYS.len() {
        let (name, field) = KNOWN_KEYS[k];
        let (lo, hi) = key_words(name.as_bytes());
        let slot = key_slot(lo, hi);
        assert!(table[slot].is_none(), "two known keys share a slot");
        table[slot] = Some((lo, hi, name.len() as u8, field));
        k += 1;
    }
    table
};

impl Field {
    /// The field a key names. A key is looked up by its bytes as two words, one comparison
    /// instead of a string compare per known key of its length.
    pub(super) fn of(key: &str) -> Self {
        let b = key.as_bytes();
        if b.len() > 16 {
            return Self::unknown(b.first().copied());
        }
        let (lo, hi) = key_words(b);
        Self::of_words(lo, hi, b.len())
    }

    /// [`Field::of`] for a key already read as words ([`key_words`]) of `len` bytes.
    pub(super) fn of_words(lo: u64, hi: u64, len: usize) -> Self {
        match KEY_TABLE[key_slot(lo, hi)] {
            Some((l, h, n, field)) if l == lo && h == hi && usize::from(n) == len => field,
            _ => Self::unknown((len > 0).then_some(lo as u8)),
        }
    }

    /// A key the decoder does not know: an annotation if it starts with `_`.
    fn unknown(first: Option<u8>) -> Self {
        if first == Some(b'_') {
            Self::Annotation
        } else {
            Self::Other
        }
    }
}

fn text<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(match map.next_value::<Lenient<Str<'de>>>()? {
        Lenient::Value(Str(s)) => Some(cap_text(s, field, bad)),
        Lenient::Null => None,
        Lenient::Bad(found) => {
            bad.push(format!("`{field}` is {found}, expected a string"));
            None
        }
    })
}

/// Cuts a string field longer than [`MAX_FIELD_BYTES`], noting it on the event. Inlined:
/// every string field of every event passes here, and nearly all are short.
#[inline]
pub(super) fn cap_text<'a>(s: Cow<'a, str>, field: &str, bad: &mut Vec<String>) -> Cow<'a, str> {
    if s.len() <= MAX_FIELD_BYTES {
        return s;
    }
    cut_text(s, field, bad)
}

#[cold]
#[inline(never)]
fn cut_text<'a>(s: Cow<'a, str>, field: &str, bad: &mut Vec<String>) -> Cow<'a, str> {
    bad.push(format!("truncated `{field}` from {} bytes", s.len()));
    let mut end = MAX_FIELD_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

fn number<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<f64>, A::Error> {
    Ok(match map.next_value::<Lenient<Number>>()? {
        Lenient::Value(Number(n)) if n.is_finite() => Some(n),
        Lenient::Value(_) => {
            bad.push(format!("`{field}` is not a finite number"));
            None
        }
        Lenient::Null => None,
        Lenient::Bad(found) => {
            bad.push(format!("`{field}` is {found}, expected a number"));
            None
        }
    })
}

/// Epoch seconds RFC 3339 can write (years 1970 to 9999): anything else is a clock or a
/// producer gone wrong, reported and ignored rather than printed as `+10000-…` or null.
pub fn time_in_range(t: f64) -> bool {
    (0.0..253_402_300_800.0).contains(&t)
}

fn instant<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<f64>, A::Error> {
    let t = number(map, field, bad)?;
    Ok(t.filter(|&t| {
        let ok = time_in_range(t);
        if !ok {
            let shown = if t.abs() < 1e15 {
                t.to_string()
            } else {
                format!("{t:e}")
            };
            bad.push(format!(
                "`{field}` is {shown}, outside the years 1970 to 9999 (ignored)"
            ));
        }
        ok
    }))
}

fn span<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<f64>, A::Error> {
    let d = number(map, field, bad)?;
    Ok(d.filter(|&d| {
        if d < 0.0 {
            bad.push(format!("`{field}` is negative ({d}; ignored)"));
        }
        d >= 0.0
    }))
}

fn count<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<u64>, A::Error> {
    let convert = |n: f64| (n >= 0.0 && n.fract() == 0.0 && n < 1.8e19).then_some(n as u64);
    whole(map, field, bad, convert, "a whole number ≥ 0")
}

fn signed<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<i64>, A::Error> {
    let convert = |n: f64| (n.fract() == 0.0 && n.abs() < 9.2e18).then_some(n as i64);
    whole(map, field, bad, convert, "a whole number")
}

/// A number that `convert` accepts; anything else is noted and dropped.
fn whole<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
    convert: impl Fn(f64) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, A::Error> {
    Ok(match map.next_value::<Lenient<Number>>()? {
        Lenient::Value(Number(n)) => {
            let v = convert(n);
            if v.is_none() {
                bad.push(format!("`{field}` is {n}, expected {expected}"));
            }
            v
        }
        Lenient::Null => None,
        Lenient::Bad(found) => {
            bad.push(format!("`{field}` is {found}, expected a whole number"));
            None
        }
    })
}

fn flag<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &str,
    bad: &mut Vec<String>,
) -> Result<Option<bool>, A::Error> {
    Ok(match map.next_value::<Lenient<Flag>>()? {
        Lenient::Value(Flag(b)) => Some(b),
        Lenient::Null => None,
        Lenient::Bad(found) => {
            bad.push(format!("`{field}` is {found}, expected true or false"));
            None
        }
    })
}

/// A value of the expected type, `null`, or something else (consumed and described).
enum Lenient<T> {
    Value(T),
    Null,
    Bad(&'static str),
}

/// Types that accept some JSON shapes; every other shape becomes [`Lenient::Bad`].
trait Accept<'de>: Sized {
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, &'static str>, A::Error> {
        drain_seq(seq).map(|()| Err("a list"))
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

struct Str<'a>(Cow<'a, str>);
struct Number(f64);
struct Flag(bool);
struct LoadAvg([f64; 3]);

impl<'de> Accept<'de> for Str<'de> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(Str(s))
    }
}
impl Accept<'_> for Number {
    fn from_f64(n: f64) -> Option<Self> {
        Some(Number(n))
    }
}
impl Accept<'_> for Flag {
    fn from_bool(b: bool) -> Option<Self> {
        Some(Flag(b))
    }
}
impl<'de> Accept<'de> for LoadAvg {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, &'static str>, A::Error> {
        let mut out = [0.0; 3];
        let mut n = 0;
        let mut ok = true;
        while let Some(v) = seq.next_element::<Lenient<Number>>()? {
            match v {
                Lenient::Value(Number(x)) if n < 3 => out[n] = x,
                _ => ok = false,
            }
            n += 1;
        }
        Ok(if ok && n == 3 {
            Ok(LoadAvg(out))
        } else {
            Err("a list of the wrong shape")
        })
    }
}

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(LenientVisitor::<Str<'de>>(std::marker::PhantomData))? {
            Lenient::Value(s) => Ok(s),
            _ => Err(de::Error::custom("expected a string")),
        }
    }
}

impl<'de, T: Accept<'de>> de::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<T>(std::marker::PhantomData))
    }
}

struct LenientVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Accept<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Borrowed(v)).map_or(Lenient::Bad("a string"), Lenient::Value))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Owned(v.to_owned())).map_or(Lenient::Bad("a string"), Lenient::Value))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Owned(v)).map_or(Lenient::Bad("a string"), Lenient::Value))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_f64(v).map_or(Lenient::Bad("a number"), Lenient::Value))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_f64(v as f64)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v).map_or(Lenient::Bad("a boolean"), Lenient::Value))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lenient::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Lenient::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(match T::from_seq(seq)? {
            Ok(v) => Lenient::Value(v),
            Err(found) => Lenient::Bad(found),
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lenient::Bad("an object"))
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
