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
pub mod prepare;
pub mod task;
pub mod view;
pub mod worker;

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use serde_json::value::RawValue;

use crate::model::{Event, EventKind, TaskId};
use crate::scrub::Policy;
use intern::{Interner, Origin, Sym};
use prepare::{Prepared, TaskUpdate, prepare};
use task::{Detail, DetailRef, Mark, TaskRecord, TaskRef};
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
    /// Events after the cutoff (`--at`), left out.
    pub after_cutoff: u64,
}

/// Tasks live in fixed-size chunks: a plain `Vec` would double (and copy) as it grows, which
/// at a million tasks means up to twice the memory the tasks need.
const CHUNK: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct State {
    pub interner: Interner,
    chunks: Vec<Vec<TaskRecord>>,
    len: usize,
    /// Payloads of marks (results, exceptions, ...), chunked like the tasks.
    details: Vec<Vec<Detail>>,
    details_len: usize,
    /// Task index by id; holds only positions (4 bytes a task), the ids live in the records.
    index: HashTable<u32>,
    pub workers: BTreeMap<Box<str>, Worker>,
    /// Events of types celtrace does not know, by type: kept, counted, never silently dropped.
    pub unknown_types: BTreeMap<Box<str>, u64>,
    pub celtrace_records: Vec<CeltraceRecord>,
    pub counts: Counts,
    first_time: Option<f64>,
    last_time: Option<f64>,
    /// What is filtered out of the events as they come in: on by default, off for
    /// `--no-scrub` and for `retry` (which must re-send the real arguments).
    pub scrub: Arc<Policy>,
    /// `--at`: events after this epoch second are left out, so the state is the one at that
    /// moment, and the data is known to reach it.
    pub cutoff: Option<f64>,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty state that scrubs incoming events by `policy`.
    pub fn scrubbed_by(policy: Arc<Policy>) -> Self {
        Self {
            scrub: policy,
            ..Self::default()
        }
    }

    /// The same state, leaving out events after `cutoff` (`--at`).
    pub fn with_cutoff(mut self, cutoff: Option<f64>) -> Self {
        self.cutoff = cutoff;
        self
    }

    /// Every task seen in the events, in the order first seen.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> + Clone {
        TaskIter {
            chunks: &self.chunks,
            at: 0,
            len: self.len,
        }
        .filter(|t| t.is_seen())
    }

    pub fn task_count(&self) -> usize {
        self.tasks().count()
    }

    fn linked(&self, r: TaskRef) -> Option<&TaskId> {
        (r != TaskRef::NONE).then(|| &self.get(r.0).id)
    }

    /// The root of the task's workflow (itself for a top-level task).
    pub fn root_id<'s>(&'s self, t: &'s TaskRecord) -> &'s TaskId {
        self.linked(t.root).unwrap_or(&t.id)
    }

    /// The task's parent, if it has one (never itself: see trap 8).
    pub fn parent_id<'s>(&'s self, t: &'s TaskRecord) -> Option<&'s TaskId> {
        self.linked(t.parent)
    }

    fn get(&self, pos: u32) -> &TaskRecord {
        let p = pos as usize;
        &self.chunks[p / CHUNK][p % CHUNK]
    }

    /// The task with this id, if it was seen in the events.
    pub fn task(&self, id: &TaskId) -> Option<&TaskRecord> {
        let hash = rustc_hash::FxBuildHasher.hash_one(id);
        let pos = self.index.find(hash, |&p| &self.get(p).id == id)?;
        Some(self.get(*pos)).filter(|t| t.is_seen())
    }

    pub fn sym(&self, sym: Sym) -> &str {
        self.interner.get(sym)
    }

    /// The moment the data reaches: the newest event, or `now` if that is earlier. Liveness is
    /// judged against this, so a recording read a week later does not call every worker lost.
    pub fn horizon(&self, now: f64) -> f64 {
        self.last_time.map_or(now, |t| t.min(now))
    }

    /// The first and last event times the state holds (epoch seconds).
    pub fn time_range(&self) -> Option<(f64, f64)> {
        self.first_time.zip(self.last_time)
    }

    /// Ends the state without freeing it, for commands about to exit: the OS takes the memory
    /// back at once, while freeing a million small allocations one by one takes a tenth of a
    /// second of the command's time.
    pub fn discard(self) {
        std::mem::forget(self);
    }

    /// Extends the time range to `t` without an event (events a filtered read skipped).
    pub fn observe_time(&mut self, t: f64) {
        if t > 0.0 && t.is_finite() {
            self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
            self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event<'_>) {
        let prepared = prepare(ev, &mut self.interner, &self.scrub);
        self.apply_prepared(prepared);
    }

    /// Folds in an event prepared by [`prepare`] against this state's interner.
    pub fn apply_prepared(&mut self, p: Prepared) {
        if let (Some(cutoff), Some(t)) = (self.cutoff, p.time())
            && t > cutoff
        {
            // The data reaches past the moment asked about: the state is complete up to it.
            self.counts.after_cutoff += 1;
            self.observe_time(cutoff);
            return;
        }
        self.counts.events += 1;
        match p.time() {
            Some(t) => {
                self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
                self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
            }
            None => self.counts.untimed += 1,
        }
        match p {
            Prepared::Task(t) => self.apply_task(t),
            Prepared::Other(ev) => self.apply_other(&ev),
        }
    }

    fn apply_other(&mut self, ev: &Event<'_>) {
        let time = ev.time().unwrap_or(0.0);
        match ev.kind {
            k if k.is_worker() => self.apply_worker(ev, time),
            EventKind::Celtrace => self.celtrace_records.push(CeltraceRecord {
                type_name: ev.type_name.as_ref().into(),
                time: ev.time(),
                fields: ev
                    .extra
                    .iter()
                    .map(|(k, v)| (k.as_ref().into(), v.as_ref().to_owned()))
                    .collect(),
            }),
            _ => {
                *self
                    .unknown_types
                    .entry(ev.type_name.as_ref().into())
                    .or_default() += 1;
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
        // One lookup on the hot path; the insert (and its allocation) only for a new worker.
        if self.workers.contains_key(host) {
            return self
                .workers
                .get_mut(host)
                .unwrap_or_else(|| unreachable!("present"));
        }
        self.workers
            .entry(host.into())
            .or_insert_with(|| Worker::new(host))
    }

    fn slot(&mut self, id: TaskId) -> usize {
        let hash = rustc_hash::FxBuildHasher.hash_one(&id);
        let chunks = &self.chunks;
        let get = |p: u32| &chunks[p as usize / CHUNK][p as usize % CHUNK];
        if let Some(&pos) = self.index.find(hash, |&p| get(p).id == id) {
            return pos as usize;
        }
        let pos = self.len;
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks
            .last_mut()
            .unwrap_or_else(|| unreachable!("pushed above"))
            .push(TaskRecord::new(id));
        self.len += 1;
        let chunks = &self.chunks;
        self.index.insert_unique(hash, pos as u32, |&p| {
            rustc_hash::FxBuildHasher.hash_one(&chunks[p as usize / CHUNK][p as usize % CHUNK].id)
        });
        pos
    }

    fn apply_task(&mut self, u: TaskUpdate) {
        self.counts.task_events += 1;
        if let Some((host, pid)) = &u.worker {
            // One lookup for a known worker (nearly every event).
            match self.workers.get_mut(host.as_ref()) {
                Some(worker) => worker.touch_activity(*pid, u.mark.time),
                None => self.worker_mut(host).touch_activity(*pid, u.mark.time),
            }
        }
        let pos = self.slot(u.id);
        let mut mark = u.mark;
        let (identity, insert_at) = {
            let sender = sender_order(&self.interner);
            let task = &self.chunks[pos / CHUNK][pos % CHUNK];
            let Some(at) = task.mark_position(&mark, &sender) else {
                return; // the same event again: nothing changes
            };
            (
                mark.flags & Mark::IDENTITY != 0 && task.outranks(&mark, Mark::IDENTITY, &sender),
                at,
            )
        };
        let route = mark.flags & Mark::ROUTE != 0 && {
            let sender = sender_order(&self.interner);
            self.chunks[pos / CHUNK][pos % CHUNK].outranks(&mark, Mark::ROUTE, &sender)
        };
        let (mut root, mut parent) = (TaskRef::NONE, TaskRef::NONE);
        if identity {
            // Links become records of their own (without marks until their events arrive).
            if let Some(r) = u.root_id {
                root = TaskRef(self.slot(r) as u32);
            }
            if let Some(p) = u.parent_id {
                parent = TaskRef(self.slot(p) as u32);
            }
            // A root that is the task itself needs no link.
            if root.0 as usize == pos {
                root = TaskRef::NONE;
            }
        }
        if let Some(d) = u.detail {
            mark.detail = self.push_detail(d);
        }
        let task = &mut self.chunks[pos / CHUNK][pos % CHUNK];
        if identity {
            task.name = Sym::from_option(u.name);
            if let Some(call) = u.call {
                task.set_call(call);
            }
            task.root = root;
            task.parent = parent;
        }
        if route {
            [task.queue, task.exchange, task.routing_key] = u.route.map(Sym::from_option);
        }
        task.insert_mark_at(insert_at, mark);
    }

    fn push_detail(&mut self, d: Detail) -> DetailRef {
        if self.details.last().is_none_or(|c| c.len() == CHUNK) {
            self.details.push(Vec::with_capacity(CHUNK));
        }
        let at = self.details_len;
        self.details
            .last_mut()
            .unwrap_or_else(|| unreachable!("pushed above"))
            .push(d);
        self.details_len += 1;
        DetailRef(at as u32)
    }

    /// The payload of a mark (result, exception, traceback, ETA, ...), if it has one.
    pub fn detail(&self, m: &Mark) -> Option<&Detail> {
        let i = m.detail.0 as usize;
        (m.detail != DetailRef::NONE).then(|| &self.details[i / CHUNK][i % CHUNK])
    }

    /// The node that sent the event (`task-sent`: the producer).
    pub fn host(&self, m: &Mark) -> Sym {
        self.interner.origin_parts(m.origin).0
    }

    /// The process that sent the event.
    pub fn pid(&self, m: &Mark) -> u32 {
        self.interner.origin_parts(m.origin).1
    }

    /// Orders marks of one task deterministically (see [`Mark::cmp_key`]).
    pub fn mark_order(&self, a: &Mark, b: &Mark) -> std::cmp::Ordering {
        a.cmp_key(b, &sender_order(&self.interner))
    }
}

/// Orders senders by node name, then pid: content, not interning order.
fn sender_order(interner: &Interner) -> impl Fn(Origin, Origin) -> std::cmp::Ordering + '_ {
    move |a, b| {
        let ((ha, pa), (hb, pb)) = (interner.origin_parts(a), interner.origin_parts(b));
        interner.get(ha).cmp(interner.get(hb)).then(pa.cmp(&pb))
    }
}

#[derive(Clone)]
struct TaskIter<'s> {
    chunks: &'s [Vec<TaskRecord>],
    at: usize,
    len: usize,
}

impl<'s> Iterator for TaskIter<'s> {
    type Item = &'s TaskRecord;

    fn next(&mut self) -> Option<&'s TaskRecord> {
        if self.at >= self.len {
            return None;
        }
        let t = &self.chunks[self.at / CHUNK][self.at % CHUNK];
        self.at += 1;
        Some(t)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len - self.at;
        (n, Some(n))
    }
}

impl ExactSizeIterator for TaskIter<'_> {}

#[cfg(test)]
mod tests;
