//! The reducer: folds [`Event`]s into [`State`].
//!
//! Ordering rule: the reducer keeps, per task, every lifecycle mark sorted by (sender
//! timestamp, event kind, host, pid, clock); identity fields come from the best-ranked event
//! (first delivery, `task-sent` before `task-received`, then time); worker sessions merge by
//! min/max. So the same events in any arrival order give the same state, and a duplicated
//! event changes nothing (both property-tested below). Attempts and final states are derived
//! from the sorted marks in [`view`].
//!
//! Pure: no I/O, no clock; `now` is an argument where it matters.

pub mod intern;
pub mod task;
pub mod view;
pub mod worker;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::value::RawValue;

use crate::model::{Event, EventKind, TaskId};
use intern::{Interner, Sym};
use task::{Detail, Mark, MarkKind, NO_RETRIES, Rank, TaskRecord};
use worker::{Touch, Worker};

/// A `celtrace.*` record (gap marker, recording header, backend record) kept verbatim.
#[derive(Debug, Clone)]
pub struct CeltraceRecord {
    pub type_name: Box<str>,
    pub time: Option<f64>,
    pub fields: Vec<(Box<str>, Box<RawValue>)>,
}

/// Counts of what went in, for summaries and `--json` diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub task_events: u64,
    pub worker_events: u64,
    /// Events without a timestamp or receive time (ordered first).
    pub untimed: u64,
}

#[derive(Debug, Default, Clone)]
pub struct State {
    pub interner: Interner,
    tasks: Vec<TaskRecord>,
    index: FxHashMap<TaskId, u32>,
    pub workers: BTreeMap<Box<str>, Worker>,
    /// Events of types celtrace does not know, by type: kept, counted, never silently dropped.
    pub unknown_types: BTreeMap<Box<str>, u64>,
    pub celtrace_records: Vec<CeltraceRecord>,
    pub counts: Counts,
    first_time: Option<f64>,
    last_time: Option<f64>,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn tasks(&self) -> &[TaskRecord] {
        &self.tasks
    }

    pub fn task(&self, id: &TaskId) -> Option<&TaskRecord> {
        self.index.get(id).map(|&i| &self.tasks[i as usize])
    }

    pub fn sym(&self, sym: Sym) -> &str {
        self.interner.get(sym)
    }

    /// Time of the oldest and newest event seen.
    pub fn time_range(&self) -> Option<(f64, f64)> {
        Some((self.first_time?, self.last_time?))
    }

    /// The moment the data reaches: the newest event, or `now` if that is earlier. Liveness is
    /// judged against this, so a recording read a week later does not call every worker lost.
    pub fn horizon(&self, now: f64) -> f64 {
        self.last_time.map_or(now, |t| t.min(now))
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event<'_>) {
        self.counts.events += 1;
        let time = match ev.time() {
            Some(t) => t,
            None => {
                self.counts.untimed += 1;
                0.0
            }
        };
        if time > 0.0 {
            self.first_time = Some(self.first_time.map_or(time, |t| t.min(time)));
            self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
        }
        match ev.kind {
            k if k.is_task() => self.apply_task(ev, time),
            k if k.is_worker() => self.apply_worker(ev, time),
            EventKind::Celtrace => self.celtrace_records.push(CeltraceRecord {
                type_name: ev.type_name.as_ref().into(),
                time: ev.time(),
                fields: own_fields(ev),
            }),
            _ => {
                *self
                    .unknown_types
                    .entry(ev.type_name.as_ref().into())
                    .or_default() += 1
            }
        }
    }

    fn apply_worker(&mut self, ev: &Event<'_>, time: f64) {
        self.counts.worker_events += 1;
        let Some(host) = ev.hostname.as_deref() else {
            return;
        };
        let worker = self.worker_mut(host);
        let touch = match ev.kind {
            EventKind::WorkerOnline => Touch::Online,
            EventKind::WorkerHeartbeat => Touch::Heartbeat,
            EventKind::WorkerOffline => Touch::Offline,
            _ => {
                *worker
                    .other_events
                    .entry(ev.type_name.as_ref().into())
                    .or_default() += 1;
                return;
            }
        };
        worker.touch(ev.pid.unwrap_or(0), time, touch, ev);
    }

    fn worker_mut(&mut self, host: &str) -> &mut Worker {
        if !self.workers.contains_key(host) {
            self.workers.insert(host.into(), Worker::new(host));
        }
        self.workers
            .get_mut(host)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    fn apply_task(&mut self, ev: &Event<'_>, time: f64) {
        self.counts.task_events += 1;
        let Some(uuid) = ev.uuid.as_deref() else {
            return;
        };
        let kind = match ev.kind {
            EventKind::TaskSent => MarkKind::Sent,
            EventKind::TaskReceived => MarkKind::Received,
            EventKind::TaskStarted => MarkKind::Started,
            EventKind::TaskSucceeded => MarkKind::Succeeded,
            EventKind::TaskFailed => MarkKind::Failed,
            EventKind::TaskRetried => MarkKind::Retried,
            EventKind::TaskRevoked => MarkKind::Revoked,
            EventKind::TaskRejected => MarkKind::Rejected,
            EventKind::TaskCancelled => MarkKind::Cancelled,
            _ => MarkKind::Custom,
        };
        let host = self.interner.intern(ev.hostname.as_deref().unwrap_or(""));
        let pid = ev.pid.unwrap_or(0);
        // `task-sent` comes from the producer and custom events from a pool child: neither
        // says anything about the worker main process's session.
        if !matches!(kind, MarkKind::Sent | MarkKind::Custom)
            && let Some(h) = ev.hostname.as_deref()
        {
            self.worker_mut(h).touch(pid, time, Touch::TaskActivity, ev);
        }
        let retries = ev
            .retries
            .map_or(NO_RETRIES, |r| r.min(u64::from(NO_RETRIES - 1)) as u16);
        let clock = ev.clock.unwrap_or(0) as u32;
        let name = ev.name.as_deref().map(|n| self.interner.intern(n));
        let route = [
            ev.queue.as_deref(),
            ev.exchange.as_deref(),
            ev.routing_key.as_deref(),
        ]
        .map(|s| s.map(|s| self.interner.intern(s)));

        let id = TaskId::parse(uuid);
        let slot = match self.index.get(&id) {
            Some(&i) => i as usize,
            None => {
                let i = self.tasks.len();
                self.index.insert(id.clone(), i as u32);
                self.tasks.push(TaskRecord::new(id));
                i
            }
        };
        let task = &mut self.tasks[slot];

        let rank = Rank(retries, kind, time, clock);
        if name.is_some() && rank.better_than(&task.identity_rank) {
            task.identity_rank = rank;
            task.name = name;
            task.args = ev.args.as_deref().map(Into::into);
            task.kwargs = ev.kwargs.as_deref().map(Into::into);
            task.root_id = ev
                .root_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(TaskId::parse);
            // A retried message names the task itself as its parent (trap 8): not a parent.
            task.parent_id = ev
                .parent_id
                .as_deref()
                .filter(|p| !p.is_empty() && !task.id.is(p))
                .map(TaskId::parse);
        }
        if route.iter().any(Option::is_some) && rank.better_than(&task.route_rank) {
            task.route_rank = rank;
            [task.queue, task.exchange, task.routing_key] = route;
        }
        task.insert_mark(Mark {
            time,
            clock,
            pid: pid.min(u64::from(u32::MAX)) as u32,
            host,
            kind,
            retries,
            detail: detail(kind, ev),
        });
    }
}

fn own_fields(ev: &Event<'_>) -> Vec<(Box<str>, Box<RawValue>)> {
    ev.extra
        .iter()
        .map(|(k, v)| (k.as_ref().into(), v.as_ref().to_owned()))
        .collect()
}

fn boxed(s: &Option<std::borrow::Cow<'_, str>>) -> Option<Box<str>> {
    s.as_deref().map(Into::into)
}

fn detail(kind: MarkKind, ev: &Event<'_>) -> Option<Box<Detail>> {
    let d = match kind {
        MarkKind::Sent | MarkKind::Received if ev.eta.is_some() || ev.expires.is_some() => Detail {
            eta: boxed(&ev.eta),
            expires: boxed(&ev.expires),
            ..Detail::default()
        },
        MarkKind::Succeeded => Detail {
            text: boxed(&ev.result),
            runtime: ev.runtime,
            ..Detail::default()
        },
        MarkKind::Failed | MarkKind::Retried => Detail {
            text: boxed(&ev.exception),
            traceback: boxed(&ev.traceback),
            ..Detail::default()
        },
        MarkKind::Revoked => Detail {
            terminated: ev.terminated,
            signum: ev.signum,
            expired: ev.expired,
            ..Detail::default()
        },
        MarkKind::Rejected => Detail {
            requeue: ev.requeue,
            ..Detail::default()
        },
        MarkKind::Custom => Detail {
            custom_type: Some(ev.type_name.as_ref().into()),
            fields: own_fields(ev),
            ..Detail::default()
        },
        _ => return None,
    };
    Some(Box::new(d))
}

#[cfg(test)]
mod tests;
