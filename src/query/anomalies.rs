//! `anomalies`: rules over the reduced state, each finding with a severity, a one-line
//! explanation, evidence and a help line. Pure: thresholds and the horizon are arguments.

use std::collections::BTreeMap;

use super::count;
use super::workers::{WorkerQuery, workers};
use crate::model::TaskState;
use crate::model::repr::effective_exception;
use crate::state::State;
use crate::state::task::TaskRecord;
use crate::state::view::TaskView;
use crate::state::worker::Liveness;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// The rules, by id (the ids are the keys of profile `thresholds` and of the JSON output).
pub const RULES: &[(&str, Severity, &str)] = &[
    (
        "stuck_in_queue",
        Severity::Warning,
        "sent, never received by a worker",
    ),
    ("not_started", Severity::Warning, "received, never started"),
    ("not_finished", Severity::Warning, "started, never finished"),
    (
        "interrupted",
        Severity::Error,
        "its worker or pool process died while running it",
    ),
    (
        "unregistered",
        Severity::Error,
        "no worker knows the task name",
    ),
    (
        "time_limit_killed",
        Severity::Error,
        "killed at its hard time limit",
    ),
    (
        "chord_callback_never_ran",
        Severity::Error,
        "a chord's callback never ran",
    ),
    (
        "failure_spike",
        Severity::Error,
        "a task name fails far more than just before",
    ),
    (
        "sent_not_taken",
        Severity::Warning,
        "a task name is sent, and no worker takes it",
    ),
    (
        "slow",
        Severity::Warning,
        "ran far longer than its name's p99",
    ),
    ("retry_storm", Severity::Warning, "retried many times"),
    (
        "worker_flapping",
        Severity::Warning,
        "a worker restarted many times",
    ),
    ("recording_gap", Severity::Warning, "events may be missing"),
    (
        "sla",
        Severity::Error,
        "tasks of a name ran (or waited) longer than their SLA",
    ),
];

/// What an SLA limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaKind {
    /// The deciding attempt's runtime.
    Runtime,
    /// The queue wait: first `task-sent` to first `task-received`.
    Wait,
}

/// A limit on the tasks whose name matches a glob (`--sla 'shop.charge_*=2s'`).
#[derive(Debug, Clone)]
pub struct Sla {
    pub names: glob::Pattern,
    pub kind: SlaKind,
    /// Seconds.
    pub limit: f64,
}

impl Sla {
    /// `GLOB=DURATION` (runtime) or `GLOB=wait:DURATION` (queue wait).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (glob, rest) = text
            .rsplit_once('=')
            .ok_or_else(|| format!("`{text}` is not GLOB=DURATION (e.g. 'shop.charge_*=2s')"))?;
        let (kind, duration) = match rest.trim().strip_prefix("wait:") {
            Some(d) => (SlaKind::Wait, d),
            None => (
                SlaKind::Runtime,
                rest.trim().strip_prefix("runtime:").unwrap_or(rest.trim()),
            ),
        };
        let limit = humantime::parse_duration(duration.trim())
            .map_err(|_| format!("`{duration}` in `{text}` is not a duration (e.g. 2s, 500ms)"))?
            .as_secs_f64();
        let names = glob::Pattern::new(glob.trim())
            .map_err(|e| format!("`{glob}` in `{text}` is not a glob: {e}"))?;
        Ok(Self { names, kind, limit })
    }
}

/// Limits of the rules; defaults suit a typical web app's background jobs.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// Seconds a sent task may wait for a worker.
    pub stuck_in_queue: f64,
    /// Seconds a received task may wait to start (tasks with an ETA are exempt).
    pub not_started: f64,
    /// Seconds a task may run.
    pub not_finished: f64,
    /// Retries of one task that make a storm.
    pub retry_storm: u32,
    /// Sessions of one worker within `flapping_window` that make it flapping.
    pub flapping_sessions: usize,
    pub flapping_window: f64,
    /// Heartbeat intervals of silence before a worker is lost.
    pub lost_factor: f64,
    /// Width of the windows compared by `failure_spike` (seconds).
    pub spike_window: f64,
    /// Failures in a window that can make a spike.
    pub spike_failures: usize,
    /// A runtime this many times the name's p99 is `slow`.
    pub slow_factor: f64,
    /// Finished runs of a name needed before its p99 means anything.
    pub slow_samples: usize,
    /// How long a chord may wait for its last header tasks once the others have ended.
    pub chord_grace: f64,
    /// Per task-name runtime and queue-wait limits (the `sla` rule).
    pub sla: Vec<Sla>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            stuck_in_queue: 600.0,
            not_started: 300.0,
            not_finished: 3600.0,
            retry_storm: 5,
            flapping_sessions: 3,
            flapping_window: 600.0,
            lost_factor: crate::state::worker::HEARTBEAT_EXPIRE_FACTOR,
            spike_window: 300.0,
            spike_failures: 3,
            slow_factor: 3.0,
            slow_samples: 20,
            chord_grace: 300.0,
            sla: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub rule: &'static str,
    pub severity: Severity,
    /// One line: what happened, with the numbers.
    pub summary: String,
    pub tasks: Vec<String>,
    pub worker: Option<String>,
    /// When it began (epoch seconds).
    pub at: Option<f64>,
    pub help: &'static str,
}

fn severity_of(rule: &str) -> Severity {
    RULES
        .iter()
        .find(|(id, ..)| *id == rule)
        .map_or(Severity::Warning, |r| r.1)
}

/// Every finding, errors first, then by time.
pub fn detect(state: &State, t: &Thresholds, horizon: f64) -> Vec<Anomaly> {
    let all: Vec<&TaskRecord> = state.tasks().collect();
    detect_among(state, &all, t, horizon)
}

/// [`detect`] over some tasks only (the `tasks` filters): task rules, baselines (p99, the
/// preceding window) included, look at these tasks alone; worker and gap rules at all.
pub fn detect_among(
    state: &State,
    tasks: &[&TaskRecord],
    t: &Thresholds,
    horizon: f64,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let views: Vec<TaskView<'_>> = tasks
        .iter()
        .map(|rec| TaskView::new(state, rec, horizon))
        .collect();
    task_rules(state, &views, t, horizon, &mut out);
    sla_rule(state, &views, t, &mut out);
    name_rules(state, &views, t, horizon, &mut out);
    chord_rule(state, &mut out);
    worker_rules(state, t, horizon, &mut out);
    gap_rule(state, &mut out);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.at.unwrap_or(0.0).total_cmp(&b.at.unwrap_or(0.0)))
            .then(a.rule.cmp(b.rule))
            .then(a.tasks.cmp(&b.tasks))
    });
    out
}

/// Tasks over their SLA: one finding per limit, listing every task that broke it.
fn sla_rule(state: &State, views: &[TaskView<'_>], t: &Thresholds, out: &mut Vec<Anomaly>) {
    for sla in &t.sla {
        let mut over: Vec<(f64, f64, &TaskView<'_>)> = views
            .iter()
            .filter(|v| {
                v.record
                    .name()
                    .is_some_and(|n| sla.names.matches(state.sym(n)))
            })
            .filter_map(|v| {
                let (value, at) = match sla.kind {
                    SlaKind::Runtime => (v.runtime()?, v.started_at()?),
                    SlaKind::Wait => (v.queue_wait()?, v.sent_at()?),
                };
                (value > sla.limit).then_some((at, value, v))
            })
            .collect();
        if over.is_empty() {
            continue;
        }
        over.sort_by(|a, b| a.0.total_cmp(&b.0));
        let worst = over.iter().map(|o| o.1).fold(0.0, f64::max);
        let what = match sla.kind {
            SlaKind::Runtime => "ran longer",
            SlaKind::Wait => "waited in the queue longer",
        };
        let mut a = anomaly(
            "sla",
            format!(
                "{} of {} {what} than their SLA of {} (worst {})",
                crate::query::count(over.len(), "task"),
                sla.names.as_str(),
                fmt_secs(sla.limit),
                fmt_secs(worst)
            ),
            "see what they waited on or did (`celtrace show <id>`); `celtrace stats --by hour` shows when durations grew",
        );
        a.at = Some(over[0].0);
        a.tasks = over.iter().map(|o| o.2.record.id.to_string()).collect();
        out.push(a);
    }
}

/// Seconds as people read them: `2s`, `1.5s`, `250ms`.
fn fmt_secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else if (s - s.round()).abs() < 1e-9 {
        format!("{s:.0}s")
    } else {
        format!("{s:.2}s")
    }
}

fn anomaly(rule: &'static str, summary: String, help: &'static str) -> Anomaly {
    Anomaly {
        rule,
        severity: severity_of(rule),
        summary,
        tasks: Vec::new(),
        worker: None,
        at: None,
        help,
    }
}

fn task_rules(
    state: &State,
    views: &[TaskView<'_>],
    t: &Thresholds,
    horizon: f64,
    out: &mut Vec<Anomaly>,
) {
    let mut unregistered: BTreeMap<&str, Vec<(f64, String)>> = BTreeMap::new();
    for v in views {
        let rec = v.record;
        let name = rec.name().map_or("?", |s| state.sym(s));
        let id = rec.id.to_string();
        let worker = v.worker().map(|s| state.sym(s).to_string());
        if ended_under_it(state, v, t.lost_factor, horizon) {
            continue; // the `interrupted` rule speaks for it
        }
        let waited = |since: Option<f64>| since.map(|s| horizon - s);
        match v.state {
            TaskState::Pending => {
                if let Some(w) = waited(v.sent_at()).filter(|w| *w > t.stuck_in_queue) {
                    out.push(Anomaly {
                        tasks: vec![id],
                        at: v.sent_at(),
                        ..anomaly(
                            "stuck_in_queue",
                            format!("{name} sent {} ago, never received by a worker", secs(w)),
                            "is a worker consuming its queue? `celtrace workers`; check the routing (queue) and that workers run with -Q for it",
                        )
                    });
                }
            }
            TaskState::Received if v.eta().is_none() => {
                if let Some(w) = waited(v.received_at()).filter(|w| *w > t.not_started) {
                    out.push(Anomaly {
                        tasks: vec![id],
                        at: v.received_at(),
                        worker,
                        ..anomaly(
                            "not_started",
                            format!("{name} received {} ago, never started", secs(w)),
                            "the worker's pool may be full of long tasks (prefetch holds this one); see `celtrace tasks --state STARTED --worker ...`",
                        )
                    });
                }
            }
            TaskState::Started => {
                if let Some(w) = waited(v.started_at()).filter(|w| *w > t.not_finished) {
                    out.push(Anomaly {
                        tasks: vec![id],
                        at: v.started_at(),
                        worker,
                        ..anomaly(
                            "not_finished",
                            format!("{name} started {} ago, still running", secs(w)),
                            "set a time limit (soft_time_limit / time_limit) so a hung task cannot hold a worker process forever",
                        )
                    });
                }
            }
            TaskState::Failure => {
                let exc = effective_exception(v.exception(), v.traceback());
                if exc.is_some_and(|e| e.starts_with("NotRegistered")) {
                    let when = v.finished_at().or(v.sent_at()).unwrap_or(0.0);
                    unregistered.entry(name).or_default().push((when, id));
                } else if let Some(e) = exc.filter(|e| is_hard_time_limit(e)) {
                    out.push(Anomaly {
                        tasks: vec![id],
                        at: v.finished_at(),
                        worker,
                        ..anomaly(
                            "time_limit_killed",
                            format!(
                                "{name} was killed at its hard time limit after {} ({})",
                                v.runtime()
                                    .or_else(|| Some(v.finished_at()? - v.started_at()?))
                                    .map_or_else(|| "?".to_string(), secs),
                                e.rsplit(": ").next().unwrap_or(e)
                            ),
                            "the pool process was killed mid-task (nothing after the limit ran, no cleanup): set a soft_time_limit below time_limit to stop cleanly, or make the task faster",
                        )
                    });
                } else if let Some(e) = exc.filter(|e| e.contains("WorkerLostError")) {
                    // The pool process running it died (OOM killer, SIGKILL, segfault).
                    let detail = e.split_once(": ").map_or(e, |(_, d)| d);
                    out.push(Anomaly {
                        tasks: vec![id],
                        at: v.finished_at(),
                        worker,
                        ..anomaly(
                            "interrupted",
                            format!("{name}: the pool process running it died ({detail})"),
                            "look for the OOM killer or a crash in the host's logs; with acks_late=True and task_reject_on_worker_lost=True the task is redelivered instead",
                        )
                    });
                }
            }
            _ => {}
        }
        if v.retries() >= t.retry_storm {
            out.push(Anomaly {
                tasks: vec![rec.id.to_string()],
                at: v.sent_at().or(v.received_at()),
                worker: v.worker().map(|s| state.sym(s).to_string()),
                ..anomaly(
                    "retry_storm",
                    format!(
                        "{name} retried {} times (now {})",
                        v.retries(),
                        v.state.as_str()
                    ),
                    "check what each retry failed on (`celtrace show <id>`) and use exponential backoff (retry_backoff=True)",
                )
            });
        }
    }
    for (name, mut hits) in unregistered {
        hits.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push(Anomaly {
            at: hits.first().map(|h| h.0),
            tasks: hits.into_iter().map(|h| h.1).collect(),
            ..anomaly(
                "unregistered",
                format!("no worker has the task `{name}` registered (NotRegistered)"),
                "deploy the module that defines it to the workers (imports / include=), or fix the name the sender uses",
            )
        });
    }
}

/// A hard time limit's kill: `TimeLimitExceeded` (the soft limit raises the other one).
fn is_hard_time_limit(exception: &str) -> bool {
    exception.contains("TimeLimitExceeded") && !exception.contains("SoftTimeLimitExceeded")
}

/// Rules over each task name: failure spikes, slow runs, names no worker takes.
fn name_rules(
    state: &State,
    views: &[TaskView<'_>],
    t: &Thresholds,
    horizon: f64,
    out: &mut Vec<Anomaly>,
) {
    let mut by_name: BTreeMap<&str, Vec<&TaskView<'_>>> = BTreeMap::new();
    for v in views {
        if let Some(n) = v.record.name() {
            by_name.entry(state.sym(n)).or_default().push(v);
        }
    }
    for (name, list) in &by_name {
        failure_spike(name, list, t, out);
        slow_runs(state, name, list, t, out);
    }
    sent_not_taken(state, &by_name, t, horizon, out);
}

/// A window of `spike_window` starting at a failure, against the window just before it: the
/// first such window where the name fails at least `spike_failures` times, at least half of
/// its runs, and at least twice as often (plus 20 points) as before, while the window before
/// had runs to compare with.
fn failure_spike(name: &str, list: &[&TaskView<'_>], t: &Thresholds, out: &mut Vec<Anomaly>) {
    let w = t.spike_window;
    if w.is_nan() || w <= 0.0 {
        return;
    }
    let mut ended: Vec<(f64, bool, &TaskView<'_>)> = list
        .iter()
        .filter_map(|v| Some((v.finished_at()?, v.state == TaskState::Failure, *v)))
        .collect();
    ended.sort_by(|a, b| a.0.total_cmp(&b.0));
    let times: Vec<f64> = ended.iter().map(|e| e.0).collect();
    // Failures up to each index, for counts over any range.
    let mut failed_before = vec![0usize; ended.len() + 1];
    for (i, e) in ended.iter().enumerate() {
        failed_before[i + 1] = failed_before[i] + usize::from(e.1);
    }
    let range = |from: f64, to: f64| {
        let (a, b) = (
            times.partition_point(|x| *x < from),
            times.partition_point(|x| *x < to),
        );
        (a, b, b - a, failed_before[b] - failed_before[a])
    };
    for (i, e) in ended.iter().enumerate() {
        if !e.1 || (i > 0 && ended[i - 1].1 && ended[i - 1].0 > e.0 - w) {
            continue; // start windows only at a failure that opens a run of them
        }
        let (a, b, n, f) = range(e.0, e.0 + w);
        let (_, _, n0, f0) = range(e.0 - w, e.0);
        let (rate, before) = (f as f64 / n as f64, f0 as f64 / n0.max(1) as f64);
        if f < t.spike_failures || n0 == 0 || rate < 0.5 || rate < 2.0 * before + 0.2 {
            continue;
        }
        out.push(Anomaly {
            tasks: ended[a..b]
                .iter()
                .filter(|x| x.1)
                .map(|x| x.2.record.id.to_string())
                .collect(),
            at: Some(e.0),
            ..anomaly(
                "failure_spike",
                format!(
                    "{name} failed {f} of {n} runs in {} from this time, against {f0} of {n0} in the {} before",
                    secs(w),
                    secs(w)
                ),
                "something changed for this task: `celtrace tasks --name NAME --state FAILURE --since ...` and `celtrace show <id>` for the exceptions; a deploy, a dependency down?",
            )
        });
        return;
    }
}

/// Successful runs far above the p99 (nearest rank) of the name's other successful runs, when
/// it has enough to tell. (A p99 that counted the run itself would be that run, below 100
/// samples; failures, time-limit kills among them, have rules of their own.)
fn slow_runs(
    state: &State,
    name: &str,
    list: &[&TaskView<'_>],
    t: &Thresholds,
    out: &mut Vec<Anomaly>,
) {
    let list: Vec<&&TaskView<'_>> = list
        .iter()
        .filter(|v| v.state == TaskState::Success)
        .collect();
    let mut sorted: Vec<f64> = list
        .iter()
        .filter_map(|v| v.runtime())
        .filter(|r| r.is_finite())
        .collect();
    if sorted.len() <= t.slow_samples {
        return;
    }
    sorted.sort_by(f64::total_cmp);
    // The p99 rank among the n - 1 other runs.
    let rank = ((0.99 * (sorted.len() - 1) as f64).ceil() as usize).max(1) - 1;
    for v in list {
        let Some(r) = v.runtime().filter(|r| r.is_finite() && *r > 0.0) else {
            continue;
        };
        // Without one copy of `r`, the value at `rank` moves up one place if `r` was at or
        // below it.
        let at = sorted.partition_point(|x| *x < r);
        let p99 = if at <= rank {
            sorted[rank + 1]
        } else {
            sorted[rank]
        };
        if r <= p99 * t.slow_factor {
            continue;
        }
        out.push(Anomaly {
            tasks: vec![v.record.id.to_string()],
            at: v.started_at(),
            worker: v.worker().map(|s| state.sym(s).to_string()),
            ..anomaly(
                "slow",
                format!(
                    "{name} ran {} where the p99 of its other {} runs is {} ({:.0}×)",
                    span(r),
                    sorted.len() - 1,
                    span(p99),
                    r / p99.max(f64::MIN_POSITIVE)
                ),
                "see what it waited on (`celtrace show <id>`): a slow dependency, a lock, a much larger input?",
            )
        });
    }
}

/// Names sent and never taken by a worker (no `task-received`, no failure) while tasks sent
/// later on the same queue were received: a worker consumes the queue, and skips these.
fn sent_not_taken(
    state: &State,
    by_name: &BTreeMap<&str, Vec<&TaskView<'_>>>,
    t: &Thresholds,
    horizon: f64,
    out: &mut Vec<Anomaly>,
) {
    // The last time a task sent on each queue was received.
    let mut taken_on: BTreeMap<&str, f64> = BTreeMap::new();
    for v in by_name.values().flatten() {
        if let (Some(q), Some(sent), Some(_)) = (v.record.queue(), v.sent_at(), v.received_at()) {
            let e = taken_on.entry(state.sym(q)).or_insert(sent);
            *e = e.max(sent);
        }
    }
    for (name, list) in by_name {
        if list
            .iter()
            .any(|v| v.received_at().is_some() || v.state.is_ready())
        {
            continue;
        }
        let waiting: Vec<&&TaskView<'_>> = list
            .iter()
            .filter(|v| {
                v.sent_at()
                    .is_some_and(|s| horizon - s > t.stuck_in_queue.min(60.0))
            })
            .collect();
        let Some(first) = waiting.iter().filter_map(|v| v.sent_at()).reduce(f64::min) else {
            continue;
        };
        let queue = waiting
            .iter()
            .find_map(|v| v.record.queue())
            .map(|q| state.sym(q));
        let Some((queue, _)) = queue
            .and_then(|q| taken_on.get_key_value(q))
            .filter(|(_, t)| **t > first)
        else {
            continue;
        };
        out.push(Anomaly {
            tasks: waiting.iter().map(|v| v.record.id.to_string()).collect(),
            at: Some(first),
            ..anomaly(
                "sent_not_taken",
                format!(
                    "{name}: {} sent to queue `{queue}`, none taken by a worker, while tasks sent later on that queue were",
                    count(waiting.len(), "task")
                ),
                "the workers on that queue may not know this task (an old deploy, a missing import) or route it elsewhere; `celtrace workers --inspect` lists what each worker has registered",
            )
        });
    }
}

/// Chords whose callback never ran, from result-backend records: when a header task fails or
/// is revoked, Celery stores a `ChordError` as the callback's result and never sends it.
fn chord_rule(state: &State, out: &mut Vec<Anomaly>) {
    for r in state
        .celtrace_records
        .iter()
        .filter(|r| &*r.type_name == "celtrace.backend")
    {
        let Some((_, value)) = r.fields.iter().find(|(k, _)| &**k == "value") else {
            continue;
        };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(value.get()) else {
            continue;
        };
        let result = &meta["result"];
        if meta["status"] != "FAILURE" || result["exc_type"] != "ChordError" {
            continue;
        }
        let Some(callback) = meta["task_id"].as_str() else {
            continue;
        };
        let message = match &result["exc_message"] {
            serde_json::Value::Array(parts) => parts
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" "),
            other => other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string),
        };
        // "Dependency <id> raised ValueError('...')": the header task that broke it.
        let dependency = message
            .strip_prefix("Dependency ")
            .and_then(|m| m.split_whitespace().next())
            .map(str::to_string);
        let name = meta["name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                let t = state.task(&crate::model::TaskId::parse(callback))?;
                Some(state.sym(t.name()?).to_string())
            })
            .unwrap_or_else(|| crate::model::id::short_id(callback).to_string());
        let mut tasks = vec![callback.to_string()];
        tasks.extend(dependency);
        out.push(Anomaly {
            tasks,
            at: r.time,
            ..anomaly(
                "chord_callback_never_ran",
                format!("the chord callback {name} never ran: {message}"),
                "a chord runs its callback only when every header task succeeds: fix or retry the failed header task (`celtrace show <id>`), then re-run the chord",
            )
        });
    }
}

/// A chord the result backend says is still waiting (its size key exists, `reported` of
/// `size` header tasks have reported).
#[derive(Debug, Clone)]
pub struct PendingChord {
    pub group_id: String,
    pub size: u64,
    pub reported: u64,
}

/// Chords whose callback will never run because a header task will never report: one was
/// lost with its worker, or the known ones all ended longer than `chord_grace` ago while
/// the chord still waits. Members are known from the recorded backend records (`group_id`).
pub fn waiting_chords(
    state: &State,
    pending: &[PendingChord],
    t: &Thresholds,
    horizon: f64,
) -> Vec<Anomaly> {
    let backend = crate::graph::backend::Backend::from_records(state);
    let mut out = Vec::new();
    for chord in pending.iter().filter(|c| c.reported < c.size) {
        let gid = crate::model::TaskId::parse(&chord.group_id);
        let members: Vec<TaskView<'_>> = state
            .tasks()
            .filter(|task| backend.group_of(&task.id) == Some(&gid))
            .map(|task| TaskView::new(state, task, horizon))
            .collect();
        if members.is_empty() {
            continue;
        }
        let lost: Vec<&TaskView<'_>> = members.iter().filter(|v| v.lost.is_some()).collect();
        let ended = members
            .iter()
            .all(|v| v.state.is_ready() || v.lost.is_some());
        let last_end = members
            .iter()
            .filter_map(|v| v.finished_at().or_else(|| v.last_time()))
            .fold(f64::NEG_INFINITY, f64::max);
        if lost.is_empty() && !(ended && horizon - last_end > t.chord_grace) {
            continue;
        }
        let why = match lost.len() {
            0 => format!(
                "its known header tasks ended {} ago and it still waits",
                secs(horizon - last_end)
            ),
            n => format!("{} lost with its worker", count(n, "header task")),
        };
        let mut tasks: Vec<String> = lost.iter().map(|v| v.record.id.to_string()).collect();
        tasks.extend(
            members
                .iter()
                .filter(|v| v.lost.is_none())
                .map(|v| v.record.id.to_string()),
        );
        out.push(Anomaly {
            tasks,
            at: Some(last_end).filter(|t| t.is_finite()),
            ..anomaly(
                "chord_callback_never_ran",
                format!(
                    "the chord {} will never run its callback: {} of {} header tasks reported; {why}",
                    crate::model::id::short_id(&chord.group_id),
                    chord.reported,
                    chord.size
                ),
                "a chord runs its callback only when every header task reports: re-run the lost header task (`celtrace retry <id>`), or the whole chord",
            )
        });
    }
    out
}

/// Whether the task's last attempt is open on a session that is no longer online, judged with
/// the chosen heartbeat factor (the view's own `lost` uses Celery's default).
fn ended_under_it(state: &State, v: &TaskView<'_>, factor: f64, horizon: f64) -> bool {
    let Some(a) = v.final_attempt().filter(|a| a.is_open()) else {
        return false;
    };
    let (Some(host), Some(pid)) = (a.host(), a.pid()) else {
        return false;
    };
    state
        .workers
        .get(state.sym(host))
        .and_then(|w| w.session_liveness_after(u64::from(pid), horizon, factor))
        .is_some_and(|l| l != Liveness::Online)
}

fn worker_rules(state: &State, t: &Thresholds, horizon: f64, out: &mut Vec<Anomaly>) {
    let q = WorkerQuery {
        lost_factor: t.lost_factor,
        ..WorkerQuery::default()
    };
    for w in workers(state, &q, horizon) {
        for s in w.sessions() {
            let dropped: Vec<_> = s.interrupted.iter().filter(|i| !i.came_back).collect();
            if dropped.is_empty() {
                continue;
            }
            let how = match s.liveness {
                Liveness::Restarted => "was restarted (no goodbye)",
                Liveness::Offline => "went offline",
                _ => "was lost (heartbeats stopped)",
            };
            let came_back = s.interrupted.len() - dropped.len();
            out.push(Anomaly {
                tasks: dropped.iter().map(|i| i.task.id.to_string()).collect(),
                worker: Some(w.hostname.to_string()),
                at: s.ended_at(),
                ..anomaly(
                    "interrupted",
                    format!(
                        "{} (pid {}) {how} while running {} that never finished{}",
                        w.hostname,
                        s.session.pid,
                        count(dropped.len(), "task"),
                        match came_back {
                            0 => String::new(),
                            1 => "; 1 other came back (acks_late)".to_string(),
                            n => format!("; {n} others came back (acks_late)"),
                        }
                    ),
                    "acks-early tasks die with the worker process: re-send them (`celtrace retry`), or use acks_late=True with task_reject_on_worker_lost=True for idempotent tasks",
                )
            });
        }
        let starts: Vec<f64> = w
            .sessions()
            .map(|s| s.session.online_at.unwrap_or(s.session.first_seen))
            .collect();
        let flaps = starts
            .iter()
            .map(|&a| {
                starts
                    .iter()
                    .filter(|&&b| b >= a && b - a <= t.flapping_window)
                    .count()
            })
            .max()
            .unwrap_or(0);
        if flaps >= t.flapping_sessions {
            out.push(Anomaly {
                worker: Some(w.hostname.to_string()),
                at: starts.first().copied(),
                ..anomaly(
                    "worker_flapping",
                    format!(
                        "{} started {flaps} sessions within {}",
                        w.hostname,
                        secs(t.flapping_window)
                    ),
                    "a worker that keeps restarting is crashing or being killed (OOM?); see `celtrace workers --history` and the host's logs",
                )
            });
        }
    }
}

fn gap_rule(state: &State, out: &mut Vec<Anomaly>) {
    for r in state
        .celtrace_records
        .iter()
        .filter(|r| &*r.type_name == "celtrace.gap")
    {
        let field = |name: &str| {
            r.fields
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, v)| v.get())
        };
        let reason = field("reason").map_or_else(
            || "unknown".to_string(),
            |v| v.trim_matches('"').to_string(),
        );
        let missing = match field("events").and_then(|v| v.parse::<u64>().ok()) {
            Some(1) => "1 received event is missing".to_string(),
            Some(n) => format!("{n} received events are missing"),
            None => "events in it are missing".to_string(),
        };
        out.push(Anomaly {
            at: r.time,
            ..anomaly(
                "recording_gap",
                format!("the recording has a gap ({reason}): {missing}"),
                "answers about that time are incomplete; keep the recorder running (celtrace record) to avoid gaps",
            )
        });
    }
}

/// A runtime for a summary: milliseconds below a second, else seconds.
fn span(s: f64) -> String {
    if s < 1.0 {
        format!("{}ms", (s * 1000.0).round() as u64)
    } else {
        format!("{s:.2}s")
    }
}

/// Whole seconds, or minutes/hours when long: for summaries.
fn secs(s: f64) -> String {
    let s = s.max(0.0);
    if s < 120.0 {
        format!("{}s", s.round() as u64)
    } else if s < 7200.0 {
        format!("{}m", (s / 60.0).round() as u64)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;

    fn rules(found: &[Anomaly]) -> Vec<&'static str> {
        found.iter().map(|a| a.rule).collect()
    }

    const KILL: &str =
        include_str!("../../tests/fixtures/celery-5.7/redis/worker_kill.events.ndjson");
    const UNREGISTERED: &str =
        include_str!("../../tests/fixtures/celery-5.7/redis/unregistered.events.ndjson");
    const RETRY: &str = include_str!("../../tests/fixtures/celery-5.7/redis/retry.events.ndjson");
    const SUCCESS: &str =
        include_str!("../../tests/fixtures/celery-5.7/redis/success.events.ndjson");

    #[test]
    fn killed_worker_interrupts_its_acks_early_task_only() {
        let s = state_of(KILL);
        let found = detect(&s, &Thresholds::default(), s.horizon(f64::MAX));
        assert_eq!(rules(&found), ["interrupted"], "{found:#?}");
        let a = &found[0];
        assert_eq!(a.severity, Severity::Error);
        assert_eq!(a.tasks, ["839290ff-5436-426a-b9e0-5247c00ff1fb"]);
        assert_eq!(a.worker.as_deref(), Some("w1@celtrace"));
        assert!(a.summary.contains("1 other came back"), "{}", a.summary);
    }

    #[test]
    fn an_sla_lists_every_task_over_it_and_only_those() {
        let s = state_of(RETRY);
        let h = s.horizon(f64::MAX);
        let with = |sla: &[&str]| Thresholds {
            sla: sla.iter().map(|t| Sla::parse(t).unwrap()).collect(),
            ..Thresholds::default()
        };
        // The retried task's deciding run took about 8 ms.
        let found = detect(&s, &with(&["capapp.fl*=1ms"]), h);
        assert_eq!(rules(&found), ["sla"], "{found:#?}");
        assert_eq!(found[0].severity, Severity::Error);
        assert_eq!(found[0].tasks.len(), 1);
        assert!(
            found[0].summary.contains("SLA of 1ms"),
            "{}",
            found[0].summary
        );
        assert!(detect(&s, &with(&["capapp.fl*=1s"]), h).is_empty());
        assert!(detect(&s, &with(&["other.*=1ms"]), h).is_empty());
        // A queue wait of milliseconds is within a one-second wait SLA.
        assert!(detect(&s, &with(&["capapp.*=wait:1s"]), h).is_empty());
        assert_eq!(
            rules(&detect(&s, &with(&["capapp.*=wait:1us"]), h)),
            ["sla"]
        );
        assert!(Sla::parse("no-limit").is_err());
        assert!(Sla::parse("x=soon").is_err());
        assert_eq!(Sla::parse("a.*=wait:5s").unwrap().kind, SlaKind::Wait);
    }

    #[test]
    fn unregistered_name_is_an_error_with_its_tasks() {
        let s = state_of(UNREGISTERED);
        let found = detect(&s, &Thresholds::default(), s.horizon(f64::MAX));
        assert_eq!(rules(&found), ["unregistered"]);
        assert!(found[0].summary.contains("capapp.does_not_exist"));
        assert_eq!(found[0].tasks.len(), 1);
    }

    #[test]
    fn retry_storm_follows_its_threshold() {
        let s = state_of(RETRY);
        let h = s.horizon(f64::MAX);
        assert!(detect(&s, &Thresholds::default(), h).is_empty());
        let strict = Thresholds {
            retry_storm: 1,
            ..Thresholds::default()
        };
        assert!(rules(&detect(&s, &strict, h)).contains(&"retry_storm"));
    }

    #[test]
    fn waiting_and_running_tasks_age_into_anomalies() {
        // Only the events up to the first task-started: the task is running, its worker alive.
        let started: String = KILL.lines().take(3).map(|l| format!("{l}\n")).collect();
        let s2 = state_of(&started);
        let h2 = s2.horizon(f64::MAX);
        assert!(detect(&s2, &Thresholds::default(), h2).is_empty());
        let tight = Thresholds {
            not_finished: 0.0,
            lost_factor: 1e9,
            ..Thresholds::default()
        };
        assert_eq!(rules(&detect(&s2, &tight, h2 + 1.0)), ["not_finished"]);
        // Only the task-sent: stuck once past the threshold.
        let sent: String = KILL.lines().take(1).map(|l| format!("{l}\n")).collect();
        let s3 = state_of(&sent);
        let h3 = s3.horizon(f64::MAX);
        let t = Thresholds::default();
        assert!(detect(&s3, &t, h3 + t.stuck_in_queue - 1.0).is_empty());
        assert_eq!(
            rules(&detect(&s3, &t, h3 + t.stuck_in_queue + 1.0)),
            ["stuck_in_queue"]
        );
    }

    #[test]
    fn killed_pool_process_interrupts_its_task() {
        let s = state_of(include_str!(
            "../../tests/fixtures/celery-5.7/redis/pool_child_kill.events.ndjson"
        ));
        let found = detect(&s, &Thresholds::default(), s.horizon(f64::MAX));
        assert_eq!(rules(&found), ["interrupted", "interrupted"], "{found:#?}");
        assert!(
            found
                .iter()
                .all(|a| a.summary.contains("signal 9 (SIGKILL)"))
        );
    }

    #[test]
    fn a_patient_lost_factor_hands_silent_tasks_to_the_age_rules() {
        // The recording ends while both tasks run on the killed session; judged 2 h later.
        let text: String = KILL
            .lines()
            .take_while(|l| !l.contains("worker-online"))
            .map(|l| format!("{l}\n"))
            .collect();
        let s = state_of(&text);
        let later = s.horizon(f64::MAX) + 7200.0;
        let t = Thresholds::default();
        let found = detect(&s, &t, later);
        assert!(!found.is_empty() && rules(&found).iter().all(|r| *r == "interrupted"));
        let patient = Thresholds {
            lost_factor: 1e9,
            ..Thresholds::default()
        };
        let found = detect(&s, &patient, later);
        assert!(!found.is_empty());
        assert!(
            rules(&found).iter().all(|r| *r == "not_finished"),
            "{found:#?}"
        );
    }

    #[test]
    fn a_clean_run_has_no_anomalies() {
        let s = state_of(SUCCESS);
        assert!(detect(&s, &Thresholds::default(), s.horizon(f64::MAX)).is_empty());
    }

    #[test]
    fn flapping_needs_enough_sessions_in_the_window() {
        let text = (0..4)
            .map(|i| {
                format!(
                    r#"{{"type": "worker-online", "hostname": "w@h", "pid": {}, "timestamp": {}, "freq": 2.0}}"#,
                    100 + i,
                    1_000.0 + f64::from(i) * 30.0
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let s = state_of(&text);
        let h = s.horizon(f64::MAX);
        assert_eq!(
            rules(&detect(&s, &Thresholds::default(), h)),
            ["worker_flapping"]
        );
        let narrow = Thresholds {
            flapping_window: 10.0,
            ..Thresholds::default()
        };
        assert!(detect(&s, &narrow, h).is_empty());
    }

    #[test]
    fn gaps_in_the_recording_are_reported() {
        let s = state_of(r#"{"type": "celtrace.gap", "reason": "restart", "local_received": 5.0}"#);
        let counted = state_of(
            r#"{"type": "celtrace.gap", "reason": "lagged", "events": 42, "local_received": 5.0}"#,
        );
        let found = detect(&counted, &Thresholds::default(), 10.0);
        assert!(
            found
                .iter()
                .any(|a| a.summary.contains("42 received events are missing")),
            "{found:?}"
        );
        let found = detect(&s, &Thresholds::default(), 10.0);
        assert_eq!(rules(&found), ["recording_gap"]);
        assert!(found[0].summary.contains("restart"));
    }
}

#[cfg(test)]
mod name_rule_tests {
    use super::*;
    use crate::query::testing::state_of;

    /// `n` runs of `name` (one line each: sent, started, finished), the i-th at `t0 + i`.
    fn runs(name: &str, runtimes: &[(f64, bool)], t0: f64) -> String {
        let mut out = String::new();
        for (i, (rt, ok)) in runtimes.iter().enumerate() {
            let id = format!("{name}-{i:04}-0000-4000-8000-000000000000");
            let at = t0 + i as f64;
            let end = if *ok { "task-succeeded" } else { "task-failed" };
            out.push_str(&format!(
                "{{\"type\": \"task-sent\", \"uuid\": \"{id}\", \"name\": \"{name}\", \"queue\": \"celery\", \"hostname\": \"p@h\", \"pid\": 1, \"timestamp\": {at}}}\n\
                 {{\"type\": \"task-received\", \"uuid\": \"{id}\", \"name\": \"{name}\", \"hostname\": \"w@h\", \"pid\": 2, \"timestamp\": {}}}\n\
                 {{\"type\": \"task-started\", \"uuid\": \"{id}\", \"hostname\": \"w@h\", \"pid\": 2, \"timestamp\": {}}}\n\
                 {{\"type\": \"{end}\", \"uuid\": \"{id}\", \"hostname\": \"w@h\", \"pid\": 2, \"runtime\": {rt}, \"timestamp\": {}}}\n",
                at + 0.001,
                at + 0.002,
                at + 0.002 + rt
            ));
        }
        out
    }

    fn found(text: &str, t: &Thresholds) -> Vec<Anomaly> {
        let s = state_of(text);
        detect(&s, t, s.horizon(f64::MAX))
    }

    #[test]
    fn one_run_far_above_the_others_p99_is_slow() {
        let mut rts = vec![(0.02, true); 20];
        rts.push((1.0, true));
        let f = found(&runs("a", &rts, 1795333600.0), &Thresholds::default());
        let slow: Vec<_> = f.iter().filter(|a| a.rule == "slow").collect();
        assert_eq!(slow.len(), 1, "{f:#?}");
        assert!(slow[0].tasks[0].starts_with("a-0020"));
        // Too few runs to tell, or not far enough above: nothing.
        let f = found(&runs("a", &rts[1..], 1795333600.0), &Thresholds::default());
        assert!(f.iter().all(|a| a.rule != "slow"), "{f:#?}");
        let mut close = vec![(0.02, true); 20];
        close.push((0.05, true));
        let f = found(&runs("a", &close, 1795333600.0), &Thresholds::default());
        assert!(f.iter().all(|a| a.rule != "slow"), "{f:#?}");
    }

    #[test]
    fn a_failure_spike_is_measured_against_the_window_before() {
        let t = Thresholds {
            spike_window: 10.0,
            ..Thresholds::default()
        };
        // 10 successes over 10 s, then 4 failures in the next 4 s.
        let mut rts = vec![(0.01, true); 10];
        rts.extend([(0.01, false); 4]);
        let f = found(&runs("b", &rts, 1795333600.0), &t);
        let spike: Vec<_> = f.iter().filter(|a| a.rule == "failure_spike").collect();
        assert_eq!(spike.len(), 1, "{f:#?}");
        assert_eq!(spike[0].tasks.len(), 4);
        // Close together, as on a real worker: 4 successes, 2.5 s later 4 failures.
        let mut text = runs("e", &[(0.01, true); 4], 1795333600.0);
        text.push_str(&runs("e2", &[(0.01, false); 4], 1795333602.5).replace("\"e2\"", "\"e\""));
        let t5 = Thresholds {
            spike_window: 5.0,
            ..Thresholds::default()
        };
        let f = found(&text, &t5);
        assert_eq!(
            f.iter().filter(|a| a.rule == "failure_spike").count(),
            1,
            "{f:#?}"
        );
        // Failing all along is no spike.
        let f = found(&runs("b", &[(0.01, false); 14], 1795333600.0), &t);
        assert!(f.iter().all(|a| a.rule != "failure_spike"), "{f:#?}");
    }

    #[test]
    fn a_name_no_worker_takes_while_its_queue_moves() {
        let mut text = runs("c", &[(0.01, true); 3], 1795333600.0);
        // `d` sent first, never received; `c` tasks sent after it were.
        text.push_str("{\"type\": \"task-sent\", \"uuid\": \"d-0000-0000-4000-8000-000000000000\", \"name\": \"d\", \"queue\": \"celery\", \"hostname\": \"p@h\", \"pid\": 1, \"timestamp\": 1795333599.0}\n");
        text.push_str("{\"type\": \"worker-heartbeat\", \"hostname\": \"w@h\", \"pid\": 2, \"timestamp\": 1795333900.0, \"freq\": 2.0}\n");
        let f = found(&text, &Thresholds::default());
        let hits: Vec<_> = f.iter().filter(|a| a.rule == "sent_not_taken").collect();
        assert_eq!(hits.len(), 1, "{f:#?}");
        assert_eq!(hits[0].tasks, ["d-0000-0000-4000-8000-000000000000"]);
    }
}

#[cfg(test)]
mod chord_tests {
    use super::*;
    use crate::query::testing::state_of;

    /// Two header tasks of group `g` that succeeded, with their backend records.
    fn chord_members() -> String {
        let mut text = String::new();
        for (i, id) in [
            "a1-0000-0000-4000-8000-000000000000",
            "a2-0000-0000-4000-8000-000000000000",
        ]
        .iter()
        .enumerate()
        {
            let at = 1795333600.0 + i as f64;
            text.push_str(&format!(
                "{{\"type\": \"task-received\", \"uuid\": \"{id}\", \"name\": \"h\", \"hostname\": \"w@h\", \"pid\": 2, \"timestamp\": {at}}}\n\
                 {{\"type\": \"task-succeeded\", \"uuid\": \"{id}\", \"hostname\": \"w@h\", \"pid\": 2, \"runtime\": 0.1, \"timestamp\": {}}}\n\
                 {{\"type\": \"celtrace.backend\", \"local_received\": {}, \"key\": \"celery-task-meta-{id}\", \"value\": {{\"status\": \"SUCCESS\", \"task_id\": \"{id}\", \"group_id\": \"g0000000-0000-4000-8000-000000000000\", \"result\": 2}}}}\n",
                at + 0.1,
                at + 0.1
            ));
        }
        text
    }

    #[test]
    fn a_chord_still_waiting_after_its_header_ended_is_flagged_after_the_grace() {
        let s = state_of(&chord_members());
        let pending = [PendingChord {
            group_id: "g0000000-0000-4000-8000-000000000000".into(),
            size: 3,
            reported: 2,
        }];
        let t = Thresholds::default();
        let end = 1795333601.1;
        assert!(
            waiting_chords(&s, &pending, &t, end + 10.0).is_empty(),
            "within the grace"
        );
        let found = waiting_chords(&s, &pending, &t, end + t.chord_grace + 1.0);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].summary.contains("2 of 3 header tasks reported"),
            "{}",
            found[0].summary
        );
        // A chord whose size was all reported is not waiting.
        let done = [PendingChord {
            reported: 3,
            ..pending[0].clone()
        }];
        assert!(waiting_chords(&s, &done, &t, end + 1e6).is_empty());
    }
}
