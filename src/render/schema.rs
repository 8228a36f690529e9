//! The public JSON contract (version [`SCHEMA_VERSION`]), kept apart from the internal model so
//! a refactor cannot change the output by accident. Rules (README, docs/json.md): fields are
//! only added within a version; times are RFC 3339 UTC with microseconds; durations are
//! seconds as numbers; states use Celery's spelling; keys are snake_case.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

use super::fmt::rfc3339;
use crate::model::repr::effective_exception;
use crate::source::file::LoadReport;
use crate::state::State;
use crate::state::task::{Mark, MarkKind};
use crate::state::view::{Attempt, TaskView};
use crate::state::worker::Liveness;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct TaskJson<'s> {
    pub id: String,
    pub name: Option<&'s str>,
    pub state: &'static str,
    /// Why an unfinished task will not finish: `worker_lost`, `worker_restarted`,
    /// `worker_offline`; null otherwise.
    pub interrupted: Option<&'static str>,
    pub root_id: Option<String>,
    pub parent_id: Option<String>,
    pub children: Vec<String>,
    pub worker: Option<&'s str>,
    pub queue: Option<&'s str>,
    pub exchange: Option<&'s str>,
    pub routing_key: Option<&'s str>,
    pub retries: u32,
    pub args: Option<Cow<'s, str>>,
    pub kwargs: Option<Cow<'s, str>>,
    pub result: Option<Cow<'s, str>>,
    pub exception: Option<&'s str>,
    pub traceback: Option<&'s str>,
    pub eta: Option<&'s str>,
    pub expires: Option<&'s str>,
    pub sent_at: Option<String>,
    pub received_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Seconds the deciding attempt ran (the worker's own `runtime` when reported).
    pub runtime: Option<f64>,
    /// Seconds from the first `task-sent` to the first `task-received`.
    pub queue_wait: Option<f64>,
    /// Seconds from the first `task-received` to the first `task-started`.
    pub start_delay: Option<f64>,
    pub attempts: Vec<AttemptJson<'s>>,
    pub progress: Vec<ProgressJson<'s>>,
}

#[derive(Debug, Serialize)]
pub struct AttemptJson<'s> {
    pub number: usize,
    pub retries: Option<u16>,
    pub state: &'static str,
    pub worker: Option<&'s str>,
    pub pid: Option<u32>,
    pub sent_at: Option<String>,
    pub received_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub runtime: Option<f64>,
    pub result: Option<Cow<'s, str>>,
    pub exception: Option<&'s str>,
    pub traceback: Option<&'s str>,
    pub eta: Option<&'s str>,
    pub interrupted: Option<&'static str>,
    pub revoked: Option<RevokedJson>,
    pub rejected: Option<RejectedJson>,
    /// Extra terminal events for the same attempt (a hard time limit sends two `task-failed`).
    pub duplicate_events: u32,
}

#[derive(Debug, Serialize)]
pub struct RevokedJson {
    pub terminated: Option<bool>,
    pub signum: Option<i64>,
    pub expired: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct RejectedJson {
    pub requeue: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ProgressJson<'s> {
    #[serde(rename = "type")]
    pub type_name: &'s str,
    pub at: Option<String>,
    pub worker: &'s str,
    pub fields: BTreeMap<&'s str, &'s RawValue>,
}

/// How recording problems appear in JSON output.
#[derive(Debug, Serialize)]
pub struct DiagnosticsJson<'r> {
    pub source: &'r str,
    pub entries: u64,
    pub events: u64,
    /// Entries not decoded because the command did not need them (`show` reads only the
    /// events of the task, its children and its ancestors); not problems.
    pub filtered: u64,
    /// Entries (or batch elements) that could not be used at all.
    pub skipped: u64,
    pub issues: BTreeMap<&'static str, u64>,
    pub details: Vec<IssueJson<'r>>,
    /// Stretches of the range the recording misses (Redis recordings; absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<GapJson<'r>>,
}

#[derive(Debug, Serialize)]
pub struct GapJson<'r> {
    pub reason: &'r str,
    /// RFC 3339; null = before the recording began.
    pub from: Option<String>,
    /// RFC 3339; null = still open (nothing recorded since).
    pub to: Option<String>,
    /// Received events the gap misses, when the recorder counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Why, in the recorder's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'r str>,
}

#[derive(Debug, Serialize)]
pub struct IssueJson<'r> {
    pub line: u64,
    pub kind: &'static str,
    pub message: &'r str,
}

impl<'r> DiagnosticsJson<'r> {
    pub fn new(report: &'r LoadReport) -> Self {
        Self {
            source: &report.source,
            entries: report.entries,
            events: report.events,
            filtered: report.filtered,
            skipped: report.lost(),
            issues: report
                .issue_counts
                .iter()
                .map(|(k, n)| (k.as_str(), *n))
                .collect(),
            details: report
                .issues
                .iter()
                .map(|i| IssueJson {
                    line: i.line,
                    kind: i.kind.as_str(),
                    message: &i.message,
                })
                .collect(),
            gaps: report
                .gaps
                .iter()
                .map(|g| GapJson {
                    reason: &g.reason,
                    from: g.from.and_then(rfc3339),
                    to: g.to.and_then(rfc3339),
                    events: g.events,
                    cause: g.cause.as_deref(),
                })
                .collect(),
        }
    }
}

pub fn interrupted(l: Option<Liveness>) -> Option<&'static str> {
    l.map(|l| match l {
        Liveness::Lost => "worker_lost",
        Liveness::Restarted => "worker_restarted",
        Liveness::Offline => "worker_offline",
        Liveness::Online => "worker_online",
    })
}

fn at(m: Option<&Mark>) -> Option<String> {
    m.and_then(|m| rfc3339(m.time))
}

/// Payload text as the state keeps it: already scrubbed when it was loaded (`crate::scrub`).
fn text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(Cow::Borrowed)
}

pub fn attempt_json<'s>(state: &'s State, n: usize, a: &Attempt<'s>) -> AttemptJson<'s> {
    let fin = a.finished;
    let detail = |kinds: &[MarkKind]| {
        fin.filter(|m| kinds.contains(&m.kind))
            .and_then(|m| state.detail(m))
    };
    let failure = detail(&[MarkKind::Failed, MarkKind::Retried]);
    AttemptJson {
        number: n,
        retries: a.retries(),
        state: a.state().as_str(),
        worker: a.host().map(|h| state.sym(h)),
        pid: a.pid(),
        sent_at: at(a.sent),
        received_at: at(a.received),
        started_at: at(a.started),
        finished_at: at(fin),
        runtime: a.runtime(),
        result: text(detail(&[MarkKind::Succeeded]).and_then(|d| d.text.as_deref())),
        exception: effective_exception(
            failure.and_then(|d| d.text.as_deref()),
            failure.and_then(|d| d.traceback()),
        ),
        traceback: failure.and_then(|d| d.traceback()),
        eta: a
            .received
            .or(a.sent)
            .and_then(|m| state.detail(m))
            .and_then(|d| d.eta()),
        interrupted: interrupted(a.lost),
        revoked: detail(&[MarkKind::Revoked]).map(|d| RevokedJson {
            terminated: d.terminated(),
            signum: d.signum(),
            expired: d.expired(),
        }),
        rejected: a
            .rejected
            .or(fin.filter(|m| m.kind == MarkKind::Rejected))
            .map(|m| RejectedJson {
                requeue: state.detail(m).and_then(|d| d.requeue()),
            }),
        duplicate_events: a.duplicates,
    }
}

pub fn progress_json<'s>(state: &'s State, m: &'s Mark) -> ProgressJson<'s> {
    let d = state.detail(m);
    ProgressJson {
        type_name: d.and_then(|d| d.custom_type()).unwrap_or("task-custom"),
        at: rfc3339(m.time),
        worker: state.sym(state.host(m)),
        fields: d
            .map(|d| d.fields().iter().map(|(k, v)| (&**k, &**v)).collect())
            .unwrap_or_default(),
    }
}

/// Builds the contract's task object. `children` are the ids of tasks whose parent is this one.
pub fn task_json<'s>(state: &'s State, v: &TaskView<'s>, children: Vec<String>) -> TaskJson<'s> {
    let rec = v.record;
    let sym = |s: Option<crate::state::intern::Sym>| s.map(|s| state.sym(s));
    TaskJson {
        id: rec.id.to_string(),
        name: sym(rec.name()),
        state: v.state.as_str(),
        interrupted: interrupted(v.lost),
        root_id: Some(state.root_id(rec).to_string()),
        parent_id: state.parent_id(rec).map(ToString::to_string),
        children,
        worker: sym(v.worker()),
        queue: sym(rec.queue()),
        exchange: sym(rec.exchange()),
        routing_key: sym(rec.routing_key()),
        retries: v.retries(),
        args: text(rec.args()),
        kwargs: text(rec.kwargs()),
        result: text(v.result()),
        exception: effective_exception(v.exception(), v.traceback()),
        traceback: v.traceback(),
        eta: v.eta(),
        expires: v.expires(),
        sent_at: v.sent_at().and_then(rfc3339),
        received_at: v.received_at().and_then(rfc3339),
        started_at: v.started_at().and_then(rfc3339),
        finished_at: v.finished_at().and_then(rfc3339),
        runtime: v.runtime(),
        queue_wait: v.queue_wait(),
        start_delay: v.start_delay(),
        attempts: v
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| attempt_json(state, i + 1, a))
            .collect(),
        progress: v
            .progress()
            .into_iter()
            .map(|m| progress_json(state, m))
            .collect(),
    }
}
