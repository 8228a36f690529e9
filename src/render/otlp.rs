//! OTLP/JSON traces (the JSON encoding of `ExportTraceServiceRequest`): one trace per flow
//! (trace id = the root task's id), one span per task attempt (span kind CONSUMER), parent
//! spans from the flow's parent links, exact times from the events.

use serde_json::{Value, json};

use crate::model::TaskId;
use crate::state::State;
use crate::state::task::TaskRecord;
use crate::state::view::{Attempt, TaskView};

const SPAN_KIND_CONSUMER: u8 = 5;
const STATUS_UNSET: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// 32 hex digits: the uuid itself, or a hash of a non-uuid id.
pub fn trace_id(root: &TaskId) -> String {
    match root {
        TaskId::Uuid(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        TaskId::Text(t) => format!("{:016x}{:016x}", fnv(1, t.as_bytes()), fnv(2, t.as_bytes())),
    }
}

/// 16 hex digits, stable for (task, attempt number), never all zero.
pub fn span_id(task: &TaskId, attempt: usize) -> String {
    let h = fnv(fnv(3, task.to_string().as_bytes()), &attempt.to_le_bytes());
    format!("{:016x}", h.max(1))
}

fn nanos(secs: f64) -> String {
    format!("{}", (secs * 1e9).round() as u64)
}

fn attr(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

fn s(v: &str) -> Value {
    json!({ "stringValue": v })
}

fn i(v: u64) -> Value {
    // OTLP/JSON carries 64-bit integers as strings.
    json!({ "intValue": v.to_string() })
}

/// The attempt of `parent` during which it sent a child at `sent` (else its last).
fn sending_attempt(parent: &TaskView<'_>, sent: Option<f64>) -> usize {
    let during = |a: &Attempt<'_>| {
        let start = a.started.or(a.received).map(|m| m.time);
        let end = a.finished.map(|m| m.time);
        matches!((sent, start), (Some(s), Some(b)) if s >= b && end.is_none_or(|e| s <= e))
    };
    parent
        .attempts
        .iter()
        .position(during)
        .map_or(parent.attempts.len().max(1), |p| p + 1)
}

/// Spans of the given tasks' attempts.
pub fn spans(state: &State, tasks: &[&TaskRecord], horizon: f64) -> Vec<Value> {
    let mut out = Vec::new();
    let _ = for_each_span(state, tasks, horizon, &mut |span| {
        out.push(span);
        Ok(())
    });
    out
}

/// Hands each span to `f` as it is built: a 100k-task export never holds them all.
pub fn for_each_span(
    state: &State,
    tasks: &[&TaskRecord],
    horizon: f64,
    f: &mut dyn FnMut(Value) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for rec in tasks {
        let v = TaskView::new(state, rec, horizon);
        let root = state.root_id(rec);
        let parent_span = state.parent_id(rec).and_then(|p| state.task(p)).map(|p| {
            let pv = TaskView::new(state, p, horizon);
            span_id(&p.id, sending_attempt(&pv, v.sent_at()))
        });
        let name = rec.name().map_or("celery.task", |n| state.sym(n));
        for (k, a) in v.attempts.iter().enumerate() {
            let n = k + 1;
            let start = a
                .started
                .or(a.received)
                .or(a.sent)
                .map(|m| m.time)
                .or(a.begin());
            let end = a
                .finished
                .map(|m| m.time)
                .or_else(|| v.last_time())
                .or(start);
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            let state_name = a.state();
            let (code, message) = match state_name.as_str() {
                "SUCCESS" => (STATUS_OK, None),
                "STARTED" | "RECEIVED" | "PENDING" => (STATUS_UNSET, None),
                _ => (
                    STATUS_ERROR,
                    a.finished
                        .and_then(|f| state.detail(f))
                        .and_then(|d| d.text.as_deref()),
                ),
            };
            let mut attrs = vec![
                attr("celery.task.id", s(&rec.id.to_string())),
                attr("celery.task.name", s(name)),
                attr("celery.state", s(state_name.as_str())),
                attr("celery.attempt", i(n as u64)),
                attr("celery.retries", i(u64::from(a.retries().unwrap_or(0)))),
                attr("celery.root_id", s(&root.to_string())),
            ];
            if let Some(w) = a.host() {
                attrs.push(attr("celery.worker", s(state.sym(w))));
            }
            if let Some(q) = rec.queue() {
                attrs.push(attr("celery.queue", s(state.sym(q))));
            }
            if let Some(p) = state.parent_id(rec) {
                attrs.push(attr("celery.parent_id", s(&p.to_string())));
            }
            if let Some(m) = message {
                attrs.push(attr("exception.message", s(m)));
            }
            let mut span = json!({
                "traceId": trace_id(root),
                "spanId": span_id(&rec.id, n),
                "name": name,
                "kind": SPAN_KIND_CONSUMER,
                "startTimeUnixNano": nanos(start),
                "endTimeUnixNano": nanos(end.max(start)),
                "attributes": attrs,
                "status": match message { Some(m) => json!({"code": code, "message": m}), None => json!({"code": code}) },
            });
            if let Some(p) = &parent_span {
                span["parentSpanId"] = json!(p);
            }
            f(span)?;
        }
    }
    Ok(())
}

/// Writes one `ExportTraceServiceRequest` of the given tasks' spans, a span at a time: the
/// same document as [`request`] of [`spans`], in constant memory.
pub fn write_request(
    state: &State,
    tasks: &[&TaskRecord],
    horizon: f64,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let empty = request(Vec::new()).to_string();
    let (head, tail) = empty
        .split_once("\"spans\":[]")
        .unwrap_or((empty.as_str(), ""));
    write!(out, "{head}\"spans\":[")?;
    let mut first = true;
    for_each_span(state, tasks, horizon, &mut |span| {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &span).map_err(std::io::Error::from)
    })?;
    write!(out, "]{tail}")
}

/// One `ExportTraceServiceRequest` holding `spans`.
pub fn request(spans: Vec<Value>) -> Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [attr("service.name", s("celery"))] },
            "scopeSpans": [{
                "scope": { "name": "celtrace", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
}
