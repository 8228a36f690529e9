//! What the recorder stores: one broker message (a kombu envelope whose body may be a
//! `task.multi` list) becomes one recording line per event, stamped with the time it arrived,
//! plus the keys the recorder indexes it by. Pure: the arrival time is passed in.
//!
//! A message that cannot be split is kept whole (it is still a valid recording line, and the
//! reader reports what is wrong with it): the recorder never drops what it was handed.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::decode::{DecodeIssue, unwrap_envelope_text};

/// One recording line and what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The event dict with `local_received` added (one line of JSON).
    pub json: String,
    /// The task it belongs to (`uuid` of task events, `task_id` of backend records).
    pub task: Option<String>,
    /// Its workflow root, when the event names one (`task-sent`, `task-received`).
    pub root: Option<String>,
    /// Worker events are kept apart too, so a query that reads a few tasks still knows liveness.
    pub worker: Option<String>,
    /// Who sent it and when, for a top-level `task-sent`: a query finds the group siblings
    /// of a workflow's root (each a root of its own) through these.
    pub sent_by: Option<SentBy>,
    pub kind: LineKind,
}

/// The producer of a top-level `task-sent` and its `timestamp`, as the recorder indexes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBy {
    /// `<hostname>:<pid>` of the sending process (the graph's notion of one producer).
    pub producer: String,
    /// The event's `timestamp` in milliseconds, rounded down.
    pub ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Task,
    Worker,
    /// Something the recorder could not split; kept as received.
    Kept,
    Other,
}

#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow, rename = "type")]
    type_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    root_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
    // Raw, so an odd value never fails the split (the line is then just not indexed by it).
    #[serde(borrow)]
    parent_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pid: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
}

/// Splits one event message (kombu envelope, plain event, or list of events).
/// `received` is the arrival time in epoch seconds.
pub fn split_message(payload: &str, received: f64) -> (Vec<Line>, Option<DecodeIssue>) {
    let body = match unwrap_envelope_text(payload) {
        Ok(body) => body,
        Err(issue) => return (vec![kept(payload, received)], Some(issue)),
    };
    let body = body.trim();
    if body.starts_with('[') {
        let Ok(elements) = serde_json::from_str::<Vec<&RawValue>>(body) else {
            return (vec![kept(payload, received)], None);
        };
        // Elements that are not events (no `type`) are kept together as one line: a batch of
        // garbage must not become one stream entry per element.
        let mut lines = Vec::with_capacity(elements.len());
        let mut not_events: Vec<&str> = Vec::new();
        for e in &elements {
            match event_line(e.get(), received) {
                Some(line) => lines.push(line),
                None => not_events.push(e.get()),
            }
        }
        if !not_events.is_empty() {
            lines.push(kept(&format!("[{}]", not_events.join(", ")), received));
        }
        return (lines, None);
    }
    let line = event_line(body, received).unwrap_or_else(|| kept(body, received));
    (vec![line], None)
}

/// The line of one event dict; `None` when it is not one (not an object, or no `type`).
fn event_line(event: &str, received: f64) -> Option<Line> {
    let keys = serde_json::from_str::<Keys<'_>>(event).ok()?;
    let type_name = keys.type_name.as_deref()?;
    let kind = if type_name.starts_with("task-") {
        LineKind::Task
    } else if type_name.starts_with("worker-") {
        LineKind::Worker
    } else {
        LineKind::Other
    };
    let sent_by = (type_name == "task-sent")
        .then(|| sent_by_of(&keys))
        .flatten();
    Some(Line {
        json: stamp(event, received),
        task: (kind == LineKind::Task)
            .then(|| keys.uuid.map(Cow::into_owned))
            .flatten(),
        root: (kind == LineKind::Task)
            .then(|| keys.root_id.map(Cow::into_owned))
            .flatten(),
        worker: (kind == LineKind::Worker)
            .then(|| keys.hostname.map(Cow::into_owned))
            .flatten(),
        sent_by,
        kind,
    })
}

/// The producer and time of a `task-sent` without a parent (a workflow's root, or a member
/// of a group sent from a client); `None` for a child or when a field is missing or odd.
fn sent_by_of(keys: &Keys<'_>) -> Option<SentBy> {
    if keys.parent_id.is_some_and(|p| p.get() != "null") {
        return None;
    }
    let host = keys.hostname.as_deref()?;
    let pid: u64 = keys.pid?.get().parse().ok()?;
    let seconds: f64 = keys.timestamp?.get().parse().ok()?;
    let ms = seconds * 1000.0;
    if !(0.0..1e13).contains(&ms) {
        return None;
    }
    Some(SentBy {
        producer: format!("{host}:{pid}"),
        ms: ms as u64,
    })
}

fn kept(text: &str, received: f64) -> Line {
    let json = if text.trim_start().starts_with('{') {
        stamp(text, received)
    } else {
        one_line(text)
    };
    Line {
        json,
        task: None,
        root: None,
        worker: None,
        sent_by: None,
        kind: LineKind::Kept,
    }
}

/// Adds `local_received` as the object's first field and keeps the line on one line.
fn stamp(object: &str, received: f64) -> String {
    let object = one_line(object);
    let inner = object.trim().strip_prefix('{').unwrap_or(&object);
    let sep = if inner.trim_start().starts_with('}') {
        ""
    } else {
        ", "
    };
    format!("{{\"local_received\": {}{sep}{inner}", number(received))
}

/// JSON never needs a raw line break outside strings: drop them so a line stays a line.
fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text.to_string()
    }
}

fn number(t: f64) -> String {
    if t.is_finite() {
        format!("{t:.6}")
    } else {
        "null".to_string()
    }
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow)]
    task_id: Option<Cow<'a, str>>,
}

/// A result-backend write (`celery-task-meta-<id>` published with its JSON) as a
/// `celtrace.backend` recording line, indexed under its task.
pub fn backend_line(key: &str, value: &str, received: f64) -> Line {
    let task = serde_json::from_str::<Meta<'_>>(value)
        .ok()
        .and_then(|m| m.task_id.map(Cow::into_owned))
        .or_else(|| key.strip_prefix("celery-task-meta-").map(str::to_string));
    let value_json = match serde_json::from_str::<&RawValue>(value) {
        Ok(raw) => one_line(raw.get()),
        // Not JSON (another serializer): kept as a string, never dropped.
        Err(_) => serde_json::Value::String(value.to_string()).to_string(),
    };
    let key_json = serde_json::Value::String(key.to_string()).to_string();
    Line {
        json: format!(
            "{{\"type\": \"celtrace.backend\", \"local_received\": {}, \"key\": {key_json}, \"value\": {value_json}}}",
            number(received)
        ),
        task,
        root: None,
        worker: None,
        sent_by: None,
        kind: LineKind::Other,
    }
}

/// Why the recording has a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// The recorder started: nothing was recorded between `from` (the last entry) and now.
    Start,
    /// The recorder stopped: nothing is recorded from now on until the next start.
    Stop,
    /// The connection to Redis broke and was made again.
    Reconnect,
    /// The recorder fell behind: Redis disconnected it (pub/sub output buffer limit), or its
    /// own backlog was full and it dropped what arrived (the record counts those events).
    Lagged,
    /// The recorder stopped (or gave up) with received events it could not write (counted).
    Unwritten,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Reconnect => "reconnect",
            Self::Lagged => "lagged",
            Self::Unwritten => "unwritten",
        }
    }
}

/// A `celtrace.gap` record: events between `from` and `to` (epoch seconds; `None` = unknown
/// or still open) were not recorded.
pub fn gap_line(reason: GapReason, from: Option<f64>, to: Option<f64>, now: f64) -> String {
    gap_json(reason, from, to, now).to_string()
}

/// A gap record that also says how many received events it misses and why.
pub fn counted_gap_line(
    reason: GapReason,
    (from, to): (f64, f64),
    now: f64,
    events: u64,
    cause: &str,
) -> String {
    let mut v = gap_json(reason, Some(from), Some(to), now);
    v["events"] = events.into();
    v["cause"] = cause.into();
    v.to_string()
}

fn gap_json(reason: GapReason, from: Option<f64>, to: Option<f64>, now: f64) -> serde_json::Value {
    serde_json::json!({
        "type": "celtrace.gap",
        "reason": reason.as_str(),
        "local_received": now,
        "from": from,
        "to": to,
        "producer": concat!("celtrace ", env!("CARGO_PKG_VERSION")),
    })
}

/// How many events a message holds (a `task.multi` list counts its elements, an empty list
/// none), without splitting it: the tally of what the recorder had to drop.
pub fn count_events(payload: &str) -> u64 {
    let Ok(body) = unwrap_envelope_text(payload) else {
        return 1;
    };
    let body = body.trim();
    if body.starts_with('[') {
        return serde_json::from_str::<Vec<&RawValue>>(body).map_or(1, |v| v.len() as u64);
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn top_level_sends_name_their_producer_and_children_do_not() {
        let sent = |parent: &str, pid: &str, ts: &str| {
            let e = format!(
                r#"{{"type": "task-sent", "uuid": "t1", "root_id": "t1", "parent_id": {parent}, "hostname": "web@h", "pid": {pid}, "timestamp": {ts}}}"#
            );
            split_message(&e, 1.0).0.remove(0)
        };
        let top = sent("null", "42", "1700000000.1234");
        assert_eq!(
            top.sent_by,
            Some(SentBy {
                producer: "web@h:42".to_string(),
                ms: 1_700_000_000_123,
            })
        );
        assert_eq!(top.task.as_deref(), Some("t1"));
        assert_eq!(sent(r#""p1""#, "42", "1700000000.1").sent_by, None);
        // Odd values leave the line unindexed by producer, never unsplit.
        let odd = sent("null", r#""x""#, "-3");
        assert_eq!((odd.sent_by, odd.kind), (None, LineKind::Task));
        let received = split_message(
            r#"{"type": "task-received", "uuid": "t1", "hostname": "w@h", "pid": 1, "timestamp": 1.0}"#,
            1.0,
        )
        .0
        .remove(0);
        assert_eq!(received.sent_by, None);
    }

    fn envelope(body: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        serde_json::json!({
            "body": b64,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": "w1@h"},
            "properties": {"delivery_mode": 1, "body_encoding": "base64",
                "delivery_info": {"exchange": "celeryev", "routing_key": "task.multi"},
                "priority": 0, "delivery_tag": "t"},
        })
        .to_string()
    }

    fn decodes(line: &str) -> Vec<crate::model::Event<'static>> {
        let mut out = Vec::new();
        let mut issues = Vec::new();
        crate::model::decode::decode_entry(line, &mut issues, &mut |e| {
            out.push(e.clone().into_owned());
        });
        assert!(issues.is_empty(), "{issues:?} in {line}");
        out
    }

    #[test]
    fn a_task_multi_batch_becomes_one_stamped_line_per_event() {
        let body = r#"[{"type": "task-received", "uuid": "u1", "root_id": "r1", "name": "a", "timestamp": 1.5},
            {"type": "task-started", "uuid": "u2", "timestamp": 2.5}]"#;
        let (lines, issue) = split_message(&envelope(body), 10.25);
        assert!(issue.is_none());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].task.as_deref(), Some("u1"));
        assert_eq!(lines[0].root.as_deref(), Some("r1"));
        assert_eq!(lines[1].task.as_deref(), Some("u2"));
        assert_eq!(lines[1].root, None);
        for l in &lines {
            assert!(!l.json.contains('\n'));
            assert_eq!(l.kind, LineKind::Task);
            assert!(
                l.json
                    .starts_with(r#"{"local_received": 10.250000, "type""#)
            );
            assert_eq!(decodes(&l.json).len(), 1);
        }
    }

    #[test]
    fn worker_events_name_their_worker_and_keep_the_arrival_time() {
        let ev =
            r#"{"type": "worker-heartbeat", "hostname": "w1@h", "timestamp": 3.0, "freq": 2.0}"#;
        let (lines, _) = split_message(&envelope(ev), 4.0);
        assert_eq!(lines[0].worker.as_deref(), Some("w1@h"));
        assert_eq!(lines[0].kind, LineKind::Worker);
        let evs = decodes(&lines[0].json);
        assert_eq!(evs[0].local_received, Some(4.0));
    }

    #[test]
    fn plain_events_and_empty_objects_are_stamped_too() {
        let (lines, _) = split_message(r#"{"type": "task-progress", "uuid": "u"}"#, 1.0);
        assert_eq!(lines[0].task.as_deref(), Some("u"));
        let (lines, _) = split_message("{}", 1.0);
        assert_eq!(lines[0].json, r#"{"local_received": 1.000000}"#);
    }

    #[test]
    fn what_cannot_be_split_is_kept_whole() {
        let bad = r#"{"body": "!!!not base64", "properties": {"body_encoding": "base64"}}"#;
        let (lines, issue) = split_message(bad, 1.0);
        assert!(issue.is_some());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].kind, LineKind::Kept);
        assert!(lines[0].json.contains("not base64"));
        let (lines, _) = split_message("not json\nat all", 1.0);
        assert_eq!(lines[0].json, "not json at all");
        let (lines, _) = split_message(&envelope("[1, 2"), 1.0);
        assert_eq!(lines[0].kind, LineKind::Kept);
    }

    #[test]
    fn backend_writes_become_celtrace_backend_lines() {
        let value = r#"{"status": "SUCCESS", "result": 5, "task_id": "t1", "group_id": "g1"}"#;
        let line = backend_line("celery-task-meta-t1", value, 2.0);
        assert_eq!(line.task.as_deref(), Some("t1"));
        let evs = decodes(&line.json);
        assert_eq!(&*evs[0].type_name, "celtrace.backend");
        let odd = backend_line("celery-task-meta-t2", "pickled\u{1}bytes", 2.0);
        assert_eq!(odd.task.as_deref(), Some("t2"));
        assert_eq!(decodes(&odd.json).len(), 1);
    }

    #[test]
    fn gap_lines_decode_as_celtrace_records() {
        let line = gap_line(GapReason::Reconnect, Some(1.0), Some(2.0), 2.0);
        let evs = decodes(&line);
        assert_eq!(&*evs[0].type_name, "celtrace.gap");
    }

    #[test]
    fn an_empty_batch_is_no_event_and_counts_none() {
        for payload in ["[]", &envelope("[]"), &envelope(" [ ] ")] {
            let (lines, issue) = split_message(payload, 1.0);
            assert!(lines.is_empty() && issue.is_none(), "{payload}");
            assert_eq!(count_events(payload), 0);
        }
        let body =
            r#"[{"type": "task-started", "uuid": "a"}, {"type": "task-started", "uuid": "b"}]"#;
        assert_eq!(count_events(&envelope(body)), 2);
        assert_eq!(count_events("garbage"), 1);
    }

    #[test]
    fn a_batch_of_garbage_is_one_kept_line_beside_its_events() {
        let garbage = ["1", "{}", "\"x\"", "null"].repeat(250).join(", ");
        let body = format!(r#"[{garbage}, {{"type": "task-started", "uuid": "a"}}]"#);
        let (lines, _) = split_message(&envelope(&body), 1.0);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].task.as_deref(), Some("a"));
        assert_eq!(lines[1].kind, LineKind::Kept);
        assert!(lines[1].json.starts_with("[1, {}, \"x\", null, 1"));
    }

    #[test]
    fn counted_gaps_say_how_many_events_and_why() {
        let line = counted_gap_line(GapReason::Lagged, (1.0, 2.0), 3.0, 42, "backlog full");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["reason"], "lagged");
        assert_eq!(v["events"], 42);
        assert_eq!(v["cause"], "backlog full");
        assert_eq!(decodes(&line).len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn split_and_count_agree(n in 0usize..20) {
            let body = serde_json::Value::Array(
                (0..n).map(|i| serde_json::json!({"type": "task-started", "uuid": i.to_string()})).collect(),
            ).to_string();
            let (lines, _) = split_message(&envelope(&body), 1.0);
            proptest::prop_assert_eq!(lines.len() as u64, count_events(&envelope(&body)));
        }

        #[test]
        fn any_payload_gives_a_line_unless_it_holds_no_event(s in ".{0,200}") {
            let (lines, _) = split_message(&s, 1.0);
            proptest::prop_assert_eq!(lines.is_empty(), count_events(&s) == 0);
            for l in lines {
                proptest::prop_assert!(!l.json.contains('\n'));
            }
        }
    }
}
