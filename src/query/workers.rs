//! `workers`: every worker seen, the state of its newest session, its history, and the tasks
//! it was running when a session ended without finishing them. Pure: the horizon is an argument.

use std::collections::BTreeMap;

use crate::model::TaskState;
use crate::state::State;
use crate::state::task::TaskRecord;
use crate::state::view::TaskView;
use crate::state::worker::{Liveness, Session, Worker};

/// What `workers` needs to decide; every field has a default matching Celery's own.
#[derive(Debug, Clone)]
pub struct WorkerQuery {
    /// A session is lost once `lost_factor × freq` passed without a heartbeat.
    pub lost_factor: f64,
    pub hosts: Vec<glob::Pattern>,
    pub statuses: Vec<Liveness>,
    /// Only workers with a sign of life in `[since, until]`.
    pub since: Option<f64>,
    pub until: Option<f64>,
    /// Leave the interrupted tasks out (they take a pass over every task): for callers that
    /// want the sessions' status only.
    pub sessions_only: bool,
}

impl Default for WorkerQuery {
    fn default() -> Self {
        Self {
            lost_factor: crate::state::worker::HEARTBEAT_EXPIRE_FACTOR,
            hosts: Vec::new(),
            statuses: Vec::new(),
            since: None,
            until: None,
            sessions_only: false,
        }
    }
}

/// One session with its fate at the horizon.
#[derive(Debug, Clone)]
pub struct SessionRow<'s> {
    pub session: &'s Session,
    pub liveness: Liveness,
    /// Tasks this session received or started and never finished, while it is not online.
    pub interrupted: Vec<Interrupted<'s>>,
}

impl SessionRow<'_> {
    pub fn ended_at(&self) -> Option<f64> {
        self.session.ended_at(self.liveness)
    }

    /// Tasks this session dropped for good: interrupted and never run again (the DROPPED
    /// column of `workers` and of `workers --history`).
    pub fn dropped(&self) -> usize {
        self.interrupted.iter().filter(|i| !i.came_back).count()
    }
}

/// A task a session was running when it ended. Its own final state says whether it came
/// back: acks-late tasks are redelivered under the same id, acks-early ones are gone.
#[derive(Debug, Clone)]
pub struct Interrupted<'s> {
    pub task: &'s TaskRecord,
    pub final_state: TaskState,
    /// The task has a later attempt (redelivered or retried elsewhere).
    pub came_back: bool,
}

#[derive(Debug, Clone)]
pub struct WorkerRow<'s> {
    pub hostname: &'s str,
    /// The newest session: the worker as it is now.
    pub current: SessionRow<'s>,
    /// Sessions before it, oldest first.
    pub earlier: Vec<SessionRow<'s>>,
}

impl<'s> WorkerRow<'s> {
    pub fn current(&self) -> &SessionRow<'s> {
        &self.current
    }

    /// Every session, oldest first; the last is the current one.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionRow<'s>> {
        self.earlier.iter().chain(std::iter::once(&self.current))
    }

    fn sessions_mut(&mut self) -> impl Iterator<Item = &mut SessionRow<'s>> {
        self.earlier
            .iter_mut()
            .chain(std::iter::once(&mut self.current))
    }

    /// Status of the worker: that of its newest session (never `Restarted`).
    pub fn status(&self) -> Liveness {
        self.current().liveness
    }

    pub fn restarts(&self) -> usize {
        self.earlier.len()
    }

    /// Seconds from the newest heartbeat to the horizon.
    pub fn heartbeat_age(&self, horizon: f64) -> Option<f64> {
        let s = self.current().session;
        s.last_heartbeat.map(|t| (horizon - t).max(0.0))
    }

    pub fn interrupted(&self) -> impl Iterator<Item = &Interrupted<'s>> {
        self.sessions().flat_map(|s| s.interrupted.iter())
    }
}

/// Workers by hostname, with their sessions and interrupted tasks.
pub fn workers<'s>(state: &'s State, query: &WorkerQuery, horizon: f64) -> Vec<WorkerRow<'s>> {
    let mut rows: Vec<WorkerRow<'s>> = state
        .workers
        .values()
        .filter(|w| query.hosts.is_empty() || query.hosts.iter().any(|p| p.matches(&w.hostname)))
        .filter(|w| in_range(w, query))
        .filter_map(|w| {
            let mut earlier = sessions(w, query.lost_factor, horizon);
            let current = earlier.pop()?;
            Some(WorkerRow {
                hostname: &w.hostname,
                current,
                earlier,
            })
        })
        .filter(|r| query.statuses.is_empty() || query.statuses.contains(&r.status()))
        .collect();
    if !query.sessions_only {
        attach_interrupted(state, &mut rows, horizon);
    }
    rows
}

fn in_range(w: &Worker, query: &WorkerQuery) -> bool {
    w.sessions.values().any(|s| {
        query.since.is_none_or(|t| s.last_seen >= t)
            && query.until.is_none_or(|t| s.first_seen <= t)
    })
}

fn sessions(w: &Worker, factor: f64, horizon: f64) -> Vec<SessionRow<'_>> {
    let mut rows: Vec<SessionRow<'_>> = w
        .sessions
        .values()
        .map(|s| SessionRow {
            session: s,
            liveness: w
                .session_liveness_after(s.pid, horizon, factor)
                .unwrap_or(Liveness::Online),
            interrupted: Vec::new(),
        })
        .collect();
    rows.sort_by(|a, b| {
        a.session
            .first_seen
            .total_cmp(&b.session.first_seen)
            .then(a.session.pid.cmp(&b.session.pid))
    });
    rows
}

/// One pass over the tasks: each attempt left open on a session that is no longer online joins
/// that session's list, whether or not the task came back later.
fn attach_interrupted<'s>(state: &'s State, rows: &mut [WorkerRow<'s>], horizon: f64) {
    let mut slot: BTreeMap<(&str, u64), (usize, usize)> = BTreeMap::new();
    for (wi, row) in rows.iter().enumerate() {
        for (si, s) in row.sessions().enumerate() {
            if s.liveness != Liveness::Online {
                slot.insert((row.hostname, s.session.pid), (wi, si));
            }
        }
    }
    if slot.is_empty() {
        return;
    }
    for rec in state.tasks() {
        // Most tasks never touched an ended session: skip them before building a view.
        let touched = rec
            .marks
            .iter()
            .any(|m| slot.contains_key(&(state.sym(state.host(m)), u64::from(state.pid(m)))));
        if !touched {
            continue;
        }
        let view = TaskView::new(state, rec, horizon);
        let last = view.attempts.len().saturating_sub(1);
        for (i, a) in view.attempts.iter().enumerate() {
            if !a.is_open() || (a.received.is_none() && a.started.is_none()) {
                continue;
            }
            let (Some(host), Some(pid)) = (a.host(), a.pid()) else {
                continue;
            };
            let found = slot.get(&(state.sym(host), u64::from(pid)));
            if let Some(s) = found.and_then(|&(wi, si)| rows.get_mut(wi)?.sessions_mut().nth(si)) {
                s.interrupted.push(Interrupted {
                    task: rec,
                    final_state: view.state,
                    came_back: i < last,
                });
            }
        }
    }
    for s in rows.iter_mut().flat_map(WorkerRow::sessions_mut) {
        s.interrupted.sort_by(|a, b| {
            let t = |i: &Interrupted<'_>| i.task.first_time().unwrap_or(0.0);
            t(a).total_cmp(&t(b))
                .then_with(|| a.task.id.cmp(&b.task.id))
        });
        s.interrupted.dedup_by(|a, b| a.task.id == b.task.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;

    /// The state of a real capture, judged at its last event.
    fn rows_of(fixture: &str) -> (State, f64) {
        let text = match fixture {
            "worker_kill" => {
                include_str!("../../tests/fixtures/celery-5.7/redis/worker_kill.events.ndjson")
            }
            "worker_stop" => {
                include_str!("../../tests/fixtures/celery-5.7/redis/worker_stop.events.ndjson")
            }
            "worker_restart" => {
                include_str!("../../tests/fixtures/celery-5.7/redis/worker_restart.events.ndjson")
            }
            other => panic!("no fixture {other}"),
        };
        let state = state_of(text);
        let horizon = state.horizon(f64::MAX);
        (state, horizon)
    }

    #[test]
    fn killed_then_restarted_worker_names_the_task_it_dropped() {
        let q = WorkerQuery::default();
        let (state, horizon) = rows_of("worker_kill");
        let rows = workers(&state, &q, horizon);
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let w = &rows[0];
        assert_eq!((w.status(), w.restarts()), (Liveness::Online, 1));
        let old = &w.earlier[0];
        assert_eq!(old.liveness, Liveness::Restarted);
        let dropped: Vec<_> = old
            .interrupted
            .iter()
            .map(|i| {
                (
                    state.sym(i.task.name().unwrap()),
                    i.came_back,
                    i.final_state,
                )
            })
            .collect();
        // acks-early `sleepy` was lost with the process; acks-late `late_sleepy` was
        // redelivered to the new session under the same id and succeeded there.
        assert_eq!(
            dropped,
            [
                ("capapp.sleepy", false, TaskState::Started),
                ("capapp.late_sleepy", true, TaskState::Success),
            ]
        );
        assert!(w.current.interrupted.is_empty());
    }

    #[test]
    fn silent_worker_is_lost_once_its_heartbeats_are_overdue() {
        let q = WorkerQuery::default();
        let (state, horizon) = rows_of("worker_kill");
        let freq = workers(&state, &q, horizon)[0].current().session.interval();
        let just_before = horizon + freq * q.lost_factor - 0.5;
        assert_eq!(
            workers(&state, &q, just_before)[0].status(),
            Liveness::Online
        );
        let after = horizon + freq * q.lost_factor + 0.5;
        assert_eq!(workers(&state, &q, after)[0].status(), Liveness::Lost);
    }

    #[test]
    fn clean_stop_is_offline_with_nothing_interrupted() {
        let q = WorkerQuery::default();
        let (state, horizon) = rows_of("worker_stop");
        let rows = workers(&state, &q, horizon);
        assert!(!rows.is_empty());
        let stopped: Vec<_> = rows
            .iter()
            .filter(|r| r.status() == Liveness::Offline)
            .collect();
        assert!(!stopped.is_empty(), "{rows:#?}");
        assert!(stopped.iter().all(|r| r.interrupted().next().is_none()));
    }

    #[test]
    fn restart_counts_sessions_and_marks_the_old_one_restarted() {
        let q = WorkerQuery::default();
        let (state, horizon) = rows_of("worker_restart");
        let rows = workers(&state, &q, horizon);
        let restarted: Vec<_> = rows.iter().filter(|r| r.restarts() > 0).collect();
        assert_eq!(restarted.len(), 1, "{rows:#?}");
        let r = restarted[0];
        assert_ne!(r.status(), Liveness::Restarted);
        assert!(
            r.earlier
                .iter()
                .all(|s| matches!(s.liveness, Liveness::Restarted | Liveness::Offline))
        );
    }

    #[test]
    fn a_larger_factor_keeps_a_silent_worker_online() {
        let (state, horizon) = rows_of("worker_kill");
        let later = horizon + 60.0;
        let patient = WorkerQuery {
            lost_factor: 100.0,
            ..WorkerQuery::default()
        };
        assert_eq!(
            workers(&state, &patient, later)[0].status(),
            Liveness::Online
        );
        assert_eq!(
            workers(&state, &WorkerQuery::default(), later)[0].status(),
            Liveness::Lost
        );
    }

    #[test]
    fn filters_by_host_glob_and_status() {
        let (state, horizon) = rows_of("worker_kill");
        let none = WorkerQuery {
            hosts: vec![glob::Pattern::new("nobody@*").unwrap()],
            ..WorkerQuery::default()
        };
        assert!(workers(&state, &none, horizon).is_empty());
        let lost_only = WorkerQuery {
            statuses: vec![Liveness::Lost],
            ..WorkerQuery::default()
        };
        assert!(workers(&state, &lost_only, horizon).is_empty());
        let rows = workers(&state, &lost_only, horizon + 60.0);
        assert_eq!(rows.len(), 1);
    }
}
