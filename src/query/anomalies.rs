//! `anomalies`: rules over the reduced state, each finding with a severity, a one-line
//! explanation, evidence and a help line. Pure: thresholds and the horizon are arguments.

use std::collections::BTreeMap;

use super::workers::{WorkerQuery, workers};
use crate::model::TaskState;
use crate::model::repr::effective_exception;
use crate::state::State;
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
    ("retry_storm", Severity::Warning, "retried many times"),
    (
        "worker_flapping",
        Severity::Warning,
        "a worker restarted many times",
    ),
    ("recording_gap", Severity::Warning, "events may be missing"),
];

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
    let mut out = Vec::new();
    task_rules(state, t, horizon, &mut out);
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

fn task_rules(state: &State, t: &Thresholds, horizon: f64, out: &mut Vec<Anomaly>) {
    let mut unregistered: BTreeMap<&str, Vec<(f64, String)>> = BTreeMap::new();
    for rec in state.tasks() {
        let v = TaskView::new(state, rec, horizon);
        let name = rec.name().map_or("?", |s| state.sym(s));
        let id = rec.id.to_string();
        let worker = v.worker().map(|s| state.sym(s).to_string());
        if ended_under_it(state, &v, t.lost_factor, horizon) {
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
                        "{} (pid {}) {how} while running {} task(s) that never finished{}",
                        w.hostname,
                        s.session.pid,
                        dropped.len(),
                        if came_back > 0 {
                            format!("; {came_back} other(s) came back (acks_late)")
                        } else {
                            String::new()
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
        assert!(a.summary.contains("1 other(s) came back"), "{}", a.summary);
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
