//! `tail`: one line per event as events arrive. Task events name their task only on
//! `task-sent`/`task-received`, so a follower remembers names and states to show the state
//! change and to filter later events by name. Pure.

use glob::Pattern;
use rustc_hash::FxHashMap;

use crate::model::{Event, EventKind, TaskState};

/// Tasks remembered; forgotten all at once past this (a long tail must not grow forever).
const REMEMBERED: usize = 200_000;

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct TailFilter {
    pub names: Vec<Pattern>,
    pub workers: Vec<Pattern>,
    pub states: Vec<TaskState>,
    /// Task id prefix (lower case).
    pub task: Option<String>,
    /// Show worker heartbeats too (every 2 s per worker: noise unless asked for).
    pub heartbeats: bool,
}

/// One event as `tail` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TailLine {
    pub time: Option<f64>,
    pub event: String,
    pub task: Option<String>,
    pub name: Option<String>,
    pub host: Option<String>,
    pub before: Option<TaskState>,
    pub after: Option<TaskState>,
    /// Runtime, exception, queue or worker counters: the one thing worth reading.
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
struct Known {
    name: Option<String>,
    state: Option<TaskState>,
}

#[derive(Debug, Default)]
pub struct Follower {
    tasks: FxHashMap<String, Known>,
}

/// The state a task is in after this event (custom events change nothing).
pub fn state_after(kind: EventKind) -> Option<TaskState> {
    Some(match kind {
        EventKind::TaskSent => TaskState::Pending,
        EventKind::TaskReceived => TaskState::Received,
        EventKind::TaskStarted => TaskState::Started,
        EventKind::TaskSucceeded => TaskState::Success,
        EventKind::TaskFailed => TaskState::Failure,
        EventKind::TaskRetried => TaskState::Retry,
        EventKind::TaskRevoked | EventKind::TaskCancelled => TaskState::Revoked,
        EventKind::TaskRejected => TaskState::Rejected,
        _ => return None,
    })
}

impl Follower {
    /// Notes the event and returns its line if the filter keeps it.
    pub fn follow(&mut self, ev: &Event<'_>, filter: &TailFilter) -> Option<TailLine> {
        if ev.kind.is_task() {
            self.task_line(ev, filter)
        } else {
            worker_line(ev, filter)
        }
    }

    fn task_line(&mut self, ev: &Event<'_>, filter: &TailFilter) -> Option<TailLine> {
        let id = ev.uuid.as_deref()?.to_string();
        if self.tasks.len() >= REMEMBERED && !self.tasks.contains_key(&id) {
            self.tasks.clear();
        }
        let known = self.tasks.entry(id.clone()).or_default();
        if let Some(n) = &ev.name {
            known.name = Some(n.to_string());
        }
        let before = known.state;
        let after = state_after(ev.kind);
        // A late `task-received` never demotes a finished task (docs/architecture.md §2).
        let after = match (before, after) {
            (Some(b), Some(TaskState::Received | TaskState::Pending)) if is_final(b) => Some(b),
            (_, a) => a,
        };
        if after.is_some() {
            known.state = after;
        }
        let name = known.name.clone();
        // task-sent names the producer (gen<pid>@host), not a worker (docs/protocol.md trap 4).
        let host = ev.hostname.as_deref().map(str::to_string);
        let keep = filter.task.as_deref().is_none_or(|p| id.starts_with(p))
            && (filter.names.is_empty()
                || name
                    .as_deref()
                    .is_some_and(|n| filter.names.iter().any(|g| g.matches(n))))
            && (filter.workers.is_empty()
                || (ev.kind != EventKind::TaskSent
                    && host
                        .as_deref()
                        .is_some_and(|h| filter.workers.iter().any(|g| g.matches(h)))))
            && (filter.states.is_empty()
                || after.or(before).is_some_and(|s| filter.states.contains(&s)));
        if !keep {
            return None;
        }
        Some(TailLine {
            time: ev.time(),
            event: ev.type_name.to_string(),
            task: Some(id),
            name,
            host,
            before,
            after: after.or(before),
            detail: task_detail(ev),
        })
    }
}

fn is_final(s: TaskState) -> bool {
    matches!(
        s,
        TaskState::Success | TaskState::Failure | TaskState::Revoked | TaskState::Rejected
    )
}

fn task_detail(ev: &Event<'_>) -> Option<String> {
    match ev.kind {
        EventKind::TaskSucceeded => ev.runtime.map(|r| format!("{r:.3}s")),
        EventKind::TaskFailed | EventKind::TaskRetried => crate::model::repr::effective_exception(
            ev.exception.as_deref(),
            ev.traceback.as_deref(),
        )
        .map(first_line),
        EventKind::TaskSent => ev.queue.as_deref().map(|q| format!("queue {q}")),
        EventKind::TaskRevoked => Some(match (ev.terminated, ev.expired) {
            (_, Some(true)) => "expired".to_string(),
            (Some(true), _) => format!("terminated (signal {})", ev.signum.unwrap_or(15)),
            _ => "revoked".to_string(),
        }),
        EventKind::TaskCustom => {
            let fields: Vec<String> = ev
                .extra
                .iter()
                .take(4)
                .map(|(k, v)| format!("{k}={}", v.get()))
                .collect();
            (!fields.is_empty()).then(|| fields.join(" "))
        }
        _ => None,
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(119).collect::<String>())
    } else {
        line.to_string()
    }
}

fn worker_line(ev: &Event<'_>, filter: &TailFilter) -> Option<TailLine> {
    if ev.kind == EventKind::Celtrace {
        return gap_line(ev, filter);
    }
    if ev.kind == EventKind::WorkerHeartbeat && !filter.heartbeats {
        return None;
    }
    if filter.task.is_some() || !filter.names.is_empty() || !filter.states.is_empty() {
        return None; // asked about tasks
    }
    let host = ev.hostname.as_deref().map(str::to_string);
    if !filter.workers.is_empty()
        && !host
            .as_deref()
            .is_some_and(|h| filter.workers.iter().any(|g| g.matches(h)))
    {
        return None;
    }
    let detail = match ev.kind {
        EventKind::WorkerOnline | EventKind::WorkerHeartbeat => Some(format!(
            "active {} processed {}{}",
            ev.active.map_or_else(|| "?".to_string(), |a| a.to_string()),
            ev.processed
                .map_or_else(|| "?".to_string(), |p| p.to_string()),
            ev.sw_ver
                .as_deref()
                .map(|v| format!(" celery {v}"))
                .unwrap_or_default()
        )),
        _ => None,
    };
    Some(TailLine {
        time: ev.time(),
        event: ev.type_name.to_string(),
        task: None,
        name: None,
        host,
        before: None,
        after: None,
        detail,
    })
}

/// Gaps in a recording are shown (they explain missing events); celtrace's other records
/// (headers, backend writes) are not events.
fn gap_line(ev: &Event<'_>, filter: &TailFilter) -> Option<TailLine> {
    if ev.type_name != "celtrace.gap" || filter.task.is_some() || !filter.names.is_empty() {
        return None;
    }
    let reason = ev
        .extra
        .iter()
        .find(|(k, _)| k == "reason")
        .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok())
        .unwrap_or_else(|| "unknown".to_string());
    Some(TailLine {
        time: ev.time(),
        event: ev.type_name.to_string(),
        task: None,
        name: None,
        host: None,
        before: None,
        after: None,
        detail: Some(format!(
            "recording gap ({reason}): events may be missing here"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode::decode_entry;

    fn lines(input: &[&str], filter: &TailFilter) -> Vec<TailLine> {
        let mut f = Follower::default();
        let mut out = Vec::new();
        for l in input {
            decode_entry(l, &mut Vec::new(), &mut |e| out.extend(f.follow(e, filter)));
        }
        out
    }

    const RUN: [&str; 5] = [
        r#"{"type": "task-sent", "uuid": "abcd1", "name": "shop.charge", "hostname": "gen1@h", "queue": "celery", "timestamp": 1.0}"#,
        r#"{"type": "task-received", "uuid": "abcd1", "name": "shop.charge", "hostname": "w1@h", "timestamp": 2.0}"#,
        r#"{"type": "worker-heartbeat", "hostname": "w1@h", "timestamp": 2.5, "active": 1, "processed": 0}"#,
        r#"{"type": "task-started", "uuid": "abcd1", "hostname": "w1@h", "timestamp": 3.0}"#,
        r#"{"type": "task-failed", "uuid": "abcd1", "hostname": "w1@h", "exception": "ValueError('boom')", "traceback": "Traceback...", "timestamp": 4.0}"#,
    ];

    #[test]
    fn names_and_state_changes_are_carried_to_later_events() {
        let out = lines(&RUN, &TailFilter::default());
        assert_eq!(out.len(), 4, "heartbeats are hidden by default");
        assert_eq!(out[2].name.as_deref(), Some("shop.charge"));
        assert_eq!(out[2].before, Some(TaskState::Received));
        assert_eq!(out[2].after, Some(TaskState::Started));
        assert_eq!(out[3].detail.as_deref(), Some("ValueError('boom')"));
        assert_eq!(out[0].detail.as_deref(), Some("queue celery"));
    }

    #[test]
    fn filters_by_name_state_worker_and_id() {
        let name = |g: &str| TailFilter {
            names: vec![Pattern::new(g).unwrap()],
            ..TailFilter::default()
        };
        assert_eq!(lines(&RUN, &name("shop.*")).len(), 4);
        assert!(lines(&RUN, &name("other.*")).is_empty());
        let failed = TailFilter {
            states: vec![TaskState::Failure],
            ..TailFilter::default()
        };
        assert_eq!(lines(&RUN, &failed).len(), 1);
        let worker = TailFilter {
            workers: vec![Pattern::new("w1@*").unwrap()],
            heartbeats: true,
            ..TailFilter::default()
        };
        // The producer's task-sent is not the worker's.
        assert_eq!(lines(&RUN, &worker).len(), 4);
        let id = TailFilter {
            task: Some("abcd".into()),
            ..TailFilter::default()
        };
        assert_eq!(lines(&RUN, &id).len(), 4);
    }

    #[test]
    fn a_late_received_does_not_demote_a_finished_task() {
        let out = lines(
            &[
                r#"{"type": "task-succeeded", "uuid": "u1", "hostname": "w", "runtime": 0.5, "timestamp": 2.0}"#,
                r#"{"type": "task-received", "uuid": "u1", "name": "n", "hostname": "w", "timestamp": 1.0}"#,
            ],
            &TailFilter::default(),
        );
        assert_eq!(out[1].after, Some(TaskState::Success));
        assert_eq!(out[0].detail.as_deref(), Some("0.500s"));
    }
}
