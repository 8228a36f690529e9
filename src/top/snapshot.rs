//! What one frame of `top` shows, computed from the state by the same queries the other
//! commands use. Owned rows, so drawing never borrows the state and a frame can be redrawn
//! (a key press, a resize) without asking the state again. Pure: the horizon is an argument.

use crate::model::TaskState;
use std::collections::BTreeMap;

use crate::query::anomalies::{Anomaly, Severity, Thresholds, detect};
use crate::query::tasks::TaskQuery;
use crate::query::workers::{WorkerQuery, workers};
use crate::source::queues::Depth;
use crate::state::State;
use crate::state::task::TaskRecord;
use crate::state::view::TaskView;
use crate::state::worker::Liveness;

/// Tasks listed at most: the newest that match; a terminal never shows more.
pub const TASKS_SHOWN: usize = 500;

/// The window of the queues' rate.
pub const RATE_WINDOW: f64 = 60.0;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub workers: Vec<WorkerLine>,
    pub queues: Vec<QueueLine>,
    /// Whether waiting and in-flight counts came from the broker (else from the events).
    pub queues_from_broker: bool,
    /// Newest first, at most [`TASKS_SHOWN`].
    pub tasks: Vec<TaskLine>,
    /// Tasks that match the filter and search, when counted (always, unless nothing filters:
    /// then it is every task).
    pub tasks_matching: usize,
    pub tasks_total: usize,
    pub anomalies: Vec<AnomalyLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLine {
    pub hostname: String,
    pub status: Liveness,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub load: Option<[f64; 3]>,
    /// Seconds from the newest heartbeat to the horizon.
    pub heartbeat_age: Option<f64>,
    /// Tasks its sessions dropped when they ended (lost with the worker).
    pub lost_tasks: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueLine {
    pub name: String,
    /// Waiting messages (broker) or tasks sent and not yet received (events).
    pub waiting: Option<u64>,
    /// Delivered, not yet acknowledged (broker) or received or running (events).
    pub in_flight: Option<u64>,
    /// Seconds the oldest waiting task has waited, when its task-sent is in the events.
    pub oldest_age: Option<f64>,
    /// Tasks sent to the queue per second over the last [`RATE_WINDOW`], from the events.
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskLine {
    pub id: String,
    pub name: Option<String>,
    pub state: TaskState,
    pub worker: Option<String>,
    pub queue: Option<String>,
    /// When the task was first seen (sent, else received).
    pub seen: Option<f64>,
    pub runtime: Option<f64>,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyLine {
    pub severity: Severity,
    pub rule: &'static str,
    pub summary: String,
    pub tasks: Vec<String>,
    pub worker: Option<String>,
}

impl From<Anomaly> for AnomalyLine {
    fn from(a: Anomaly) -> Self {
        Self {
            severity: a.severity,
            rule: a.rule,
            summary: a.summary,
            tasks: a.tasks,
            worker: a.worker,
        }
    }
}

/// What narrows the task list: the `tasks` filters, then the `/` search.
#[derive(Debug, Clone, Default)]
pub struct TaskSelection {
    pub query: TaskQuery,
    /// An id prefix or a part of the name (case-insensitive); empty for none.
    pub search: String,
}

impl TaskSelection {
    fn is_empty(&self) -> bool {
        let q = &self.query;
        self.search.is_empty()
            && q.states.is_empty()
            && q.names.is_empty()
            && q.workers.is_empty()
            && q.queues.is_empty()
            && q.root.is_none()
            && q.parent.is_none()
            && q.since.is_none()
            && q.until.is_none()
            && q.grep.is_none()
    }

    fn matches(&self, state: &State, view: &TaskView<'_>) -> bool {
        if !self.query.matches(state, view) {
            return false;
        }
        if self.search.is_empty() {
            return true;
        }
        let needle = self.search.to_ascii_lowercase();
        view.record.id.to_string().starts_with(&needle)
            || view
                .record
                .name()
                .is_some_and(|n| state.sym(n).to_ascii_lowercase().contains(&needle))
    }
}

/// The workers pane: every worker's newest session, as `workers` sees it; the tasks each lost
/// come from the slow part.
pub fn worker_lines(
    state: &State,
    lost: &BTreeMap<String, usize>,
    horizon: f64,
) -> Vec<WorkerLine> {
    let query = WorkerQuery {
        sessions_only: true,
        ..WorkerQuery::default()
    };
    workers(state, &query, horizon)
        .iter()
        .map(|w| {
            let s = w.current().session;
            WorkerLine {
                hostname: w.hostname.to_string(),
                status: w.status(),
                active: s.active,
                processed: s.processed,
                load: s.loadavg,
                // An offline worker said goodbye: its last beat's age says nothing.
                heartbeat_age: w
                    .heartbeat_age(horizon)
                    .filter(|_| w.status() != Liveness::Offline),
                lost_tasks: lost.get(w.hostname).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// The task list: the newest matching tasks (by first sight), newest first.
pub fn task_lines(
    state: &State,
    selection: &TaskSelection,
    horizon: f64,
) -> (Vec<TaskLine>, usize, usize) {
    let all: Vec<&TaskRecord> = state.tasks().collect();
    let total = all.len();
    let unfiltered = selection.is_empty();
    let mut lines = Vec::new();
    let mut matching = 0;
    for rec in all.iter().rev() {
        if unfiltered && lines.len() >= TASKS_SHOWN {
            matching = total;
            break;
        }
        let view = TaskView::new(state, rec, horizon);
        if !selection.matches(state, &view) {
            continue;
        }
        matching += 1;
        if lines.len() < TASKS_SHOWN {
            lines.push(task_line(state, &view));
        }
    }
    // Newest first by when each was seen; first sight breaks ties (and orders the unseen).
    lines.sort_by(|a, b| match (a.seen, b.seen) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    (lines, matching, total)
}

fn task_line(state: &State, v: &TaskView<'_>) -> TaskLine {
    let rec = v.record;
    TaskLine {
        id: rec.id.to_string(),
        name: rec.name().map(|n| state.sym(n).to_string()),
        state: v.state,
        worker: v.worker().map(|w| state.sym(w).to_string()),
        queue: rec.queue().map(|q| state.sym(q).to_string()),
        seen: v.sent_at().or_else(|| v.received_at()),
        runtime: v.runtime(),
        retries: v.retries(),
    }
}

/// What the events say about one queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Sent, not yet received.
    pub waiting: u64,
    /// Received or running.
    pub in_flight: u64,
    pub oldest_sent: Option<f64>,
    /// Sent within the [`RATE_WINDOW`] before the horizon.
    pub sent_recently: u64,
}

/// Every queue a task was sent to, with its tally.
pub fn queue_tallies(state: &State, horizon: f64) -> BTreeMap<String, Tally> {
    let mut by_queue: BTreeMap<String, Tally> = BTreeMap::new();
    for rec in state.tasks() {
        let Some(q) = rec.queue() else { continue };
        let v = TaskView::new(state, rec, horizon);
        let t = by_queue.entry(state.sym(q).to_string()).or_default();
        match v.state {
            TaskState::Pending => {
                t.waiting += 1;
                if let Some(sent) = v.sent_at() {
                    t.oldest_sent = Some(t.oldest_sent.map_or(sent, |o: f64| o.min(sent)));
                }
            }
            TaskState::Received | TaskState::Started => t.in_flight += 1,
            _ => {}
        }
        if v.sent_at()
            .is_some_and(|s| s > horizon - RATE_WINDOW && s <= horizon)
        {
            t.sent_recently += 1;
        }
    }
    by_queue
}

/// The queues pane. From the events (`tallies`): per queue a task was sent to, how many wait
/// (sent, not received), how many are in flight (received or running), the oldest wait and
/// the send rate. With `depths` (the broker's own counts) waiting and in-flight are the
/// broker's, and its queues with no task in the events are listed too.
pub fn queue_lines(
    state: &State,
    tallies: &BTreeMap<String, Tally>,
    depths: Option<&[Depth]>,
    horizon: f64,
) -> Vec<QueueLine> {
    let age = |sent: Option<f64>| sent.map(|s| (horizon - s).max(0.0));
    let rate = |t: Option<&Tally>| t.map_or(0.0, |t| t.sent_recently as f64 / RATE_WINDOW);
    let Some(depths) = depths else {
        return tallies
            .iter()
            .map(|(name, t)| QueueLine {
                name: name.clone(),
                waiting: Some(t.waiting),
                in_flight: Some(t.in_flight),
                oldest_age: age(t.oldest_sent),
                rate: rate(Some(t)),
            })
            .collect();
    };
    let mut lines: Vec<QueueLine> = depths
        .iter()
        .map(|d| {
            // The broker's oldest waiting message, dated by its task-sent when recorded.
            let oldest = d
                .oldest_tasks
                .iter()
                .filter_map(|id| {
                    let rec = state.task(&crate::model::TaskId::parse(id))?;
                    TaskView::new(state, rec, horizon).sent_at()
                })
                .reduce(f64::min);
            QueueLine {
                name: d.name.clone(),
                waiting: Some(d.waiting),
                in_flight: d.in_flight,
                oldest_age: if d.waiting == 0 { None } else { age(oldest) },
                rate: rate(tallies.get(&d.name)),
            }
        })
        .collect();
    // Queues only the events name (not asked of the broker yet): their event counts would
    // contradict the broker's, so only the rate is shown.
    lines.extend(
        tallies
            .iter()
            .filter(|(name, _)| !depths.iter().any(|d| &d.name == *name))
            .map(|(name, t)| QueueLine {
                name: name.clone(),
                waiting: None,
                in_flight: None,
                oldest_age: None,
                rate: rate(Some(t)),
            }),
    );
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    lines
}

/// The anomalies strip: every finding of `anomalies` with its default thresholds (and the
/// profile's), errors first.
pub fn anomaly_lines(state: &State, thresholds: &Thresholds, horizon: f64) -> Vec<AnomalyLine> {
    detect(state, thresholds, horizon)
        .into_iter()
        .map(AnomalyLine::from)
        .collect()
}

/// What reads every task (anomalies, the tasks lost with each worker, the queues' tallies):
/// computed on a slower cadence than the frame, and reused by every frame in between.
#[derive(Debug, Clone, Default)]
pub struct Slow {
    pub anomalies: Vec<AnomalyLine>,
    /// Per worker: tasks its ended sessions dropped for good.
    pub lost: BTreeMap<String, usize>,
    pub tallies: BTreeMap<String, Tally>,
}

impl Slow {
    pub fn compute(state: &State, thresholds: &Thresholds, horizon: f64) -> Self {
        let lost = workers(state, &WorkerQuery::default(), horizon)
            .iter()
            .map(|w| {
                let n: usize = w.sessions().map(|s| s.dropped()).sum();
                (w.hostname.to_string(), n)
            })
            .collect();
        Self {
            anomalies: anomaly_lines(state, thresholds, horizon),
            lost,
            tallies: queue_tallies(state, horizon),
        }
    }

    /// The queue names the events mention (the broker is asked about these).
    pub fn queue_names(&self) -> Vec<String> {
        self.tallies.keys().cloned().collect()
    }
}

impl Snapshot {
    /// One frame: the task list and the workers' sessions from the state now, the rest from
    /// `slow`, the queues' counts from the broker (`depths`) when it has answered.
    pub fn build(
        state: &State,
        selection: &TaskSelection,
        depths: Option<&[Depth]>,
        slow: &Slow,
        horizon: f64,
    ) -> Self {
        let (tasks, tasks_matching, tasks_total) = task_lines(state, selection, horizon);
        Self {
            workers: worker_lines(state, &slow.lost, horizon),
            queues: queue_lines(state, &slow.tallies, depths, horizon),
            queues_from_broker: depths.is_some(),
            tasks,
            tasks_matching,
            tasks_total,
            anomalies: slow.anomalies.clone(),
        }
    }
}
