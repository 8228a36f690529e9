//! What the reducer keeps per task: identity fields and a sorted, de-duplicated list of
//! lifecycle marks. Attempts and the final state are derived from the marks on demand
//! ([`super::view`]), which is what makes the result independent of arrival order.

use serde_json::value::RawValue;

use super::intern::Sym;
use crate::model::id::TaskId;

/// Which lifecycle event a mark records. The order is the tie-break for equal timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MarkKind {
    Sent,
    Received,
    Started,
    Custom,
    Retried,
    Succeeded,
    Failed,
    Revoked,
    Rejected,
    Cancelled,
}

impl MarkKind {
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Sent => "task-sent",
            Self::Received => "task-received",
            Self::Started => "task-started",
            Self::Custom => "task-custom",
            Self::Retried => "task-retried",
            Self::Succeeded => "task-succeeded",
            Self::Failed => "task-failed",
            Self::Revoked => "task-revoked",
            Self::Rejected => "task-rejected",
            Self::Cancelled => "task-cancelled",
        }
    }
}

/// Retries unknown (the event had no `retries` field).
pub const NO_RETRIES: u16 = u16::MAX;

/// One task event, reduced to what the views need.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Sender's timestamp (UTC epoch seconds).
    pub time: f64,
    /// Sender's Lamport clock (truncated to 32 bits; only compared within one process).
    pub clock: u32,
    pub pid: u32,
    /// The sending node (`task-sent`: the producer, e.g. `gen123@host`).
    pub host: Sym,
    pub kind: MarkKind,
    pub retries: u16,
    pub detail: Option<Box<Detail>>,
}

impl Mark {
    /// The total order marks are kept in; equal keys with equal kinds are one event.
    pub fn key(&self) -> (f64, MarkKind, Sym, u32, u32, u16) {
        (
            self.time,
            self.kind,
            self.host,
            self.pid,
            self.clock,
            self.retries,
        )
    }

    pub fn cmp_key(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.key(), other.key());
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
            .then(a.4.cmp(&b.4))
            .then(a.5.cmp(&b.5))
    }

    pub fn retries(&self) -> Option<u16> {
        (self.retries != NO_RETRIES).then_some(self.retries)
    }
}

/// The payload of marks that carry one. Boxed so plain marks stay small.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// `result` of a success; `exception` of a failure or retry.
    pub text: Option<Box<str>>,
    pub traceback: Option<Box<str>>,
    pub runtime: Option<f64>,
    pub eta: Option<Box<str>>,
    pub expires: Option<Box<str>>,
    pub terminated: Option<bool>,
    pub signum: Option<i64>,
    pub expired: Option<bool>,
    pub requeue: Option<bool>,
    /// Custom events: the `type` and the fields Celery does not define.
    pub custom_type: Option<Box<str>>,
    pub fields: Vec<(Box<str>, Box<RawValue>)>,
}

/// Which event the identity fields were taken from; lower wins, so the choice does not
/// depend on arrival order. First delivery (retries 0) before retries, sent before received.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rank(pub u16, pub MarkKind, pub f64, pub u32);

impl Rank {
    pub const NONE: Rank = Rank(u16::MAX, MarkKind::Cancelled, f64::INFINITY, u32::MAX);

    pub fn better_than(&self, other: &Rank) -> bool {
        (self.0, self.1)
            .cmp(&(other.0, other.1))
            .then(self.2.total_cmp(&other.2))
            .then(self.3.cmp(&other.3))
            .is_lt()
    }
}

#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: TaskId,
    pub name: Option<Sym>,
    pub root_id: Option<TaskId>,
    pub parent_id: Option<TaskId>,
    pub args: Option<Box<str>>,
    pub kwargs: Option<Box<str>>,
    pub identity_rank: Rank,
    pub queue: Option<Sym>,
    pub exchange: Option<Sym>,
    pub routing_key: Option<Sym>,
    pub route_rank: Rank,
    pub marks: Vec<Mark>,
}

impl TaskRecord {
    pub fn new(id: TaskId) -> Self {
        Self {
            id,
            name: None,
            root_id: None,
            parent_id: None,
            args: None,
            kwargs: None,
            identity_rank: Rank::NONE,
            queue: None,
            exchange: None,
            routing_key: None,
            route_rank: Rank::NONE,
            marks: Vec::new(),
        }
    }

    /// Inserts a mark in order; an identical mark (a duplicate event) is ignored.
    pub fn insert_mark(&mut self, mark: Mark) {
        let pos = self.marks.partition_point(|m| m.cmp_key(&mark).is_lt());
        if let Some(existing) = self.marks.get(pos)
            && existing.cmp_key(&mark).is_eq()
        {
            return;
        }
        // Tasks have 4–6 marks: grow by two instead of doubling to keep memory per task low.
        if self.marks.len() == self.marks.capacity() {
            self.marks.reserve_exact(2);
        }
        self.marks.insert(pos, mark);
    }

    pub fn first(&self, kind: MarkKind) -> Option<&Mark> {
        self.marks.iter().find(|m| m.kind == kind)
    }

    /// Earliest event time known for the task.
    pub fn first_time(&self) -> Option<f64> {
        self.marks.first().map(|m| m.time)
    }
}
