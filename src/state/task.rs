//! What the reducer keeps per task: identity fields and a sorted, de-duplicated list of
//! lifecycle marks. Attempts and the final state are derived from the marks on demand
//! ([`super::view`]), which is what makes the result independent of arrival order.

use serde_json::value::RawValue;

use super::intern::{Origin, Sym};
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

/// One task event, reduced to what the views need: 24 bytes (a million tasks hold four or
/// five million of these). Sender and payload are handles into the state; resolve them with
/// `State::host`, `State::pid` and `State::detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Sender's timestamp (UTC epoch seconds).
    pub time: f64,
    /// Sender's Lamport clock (truncated to 32 bits; only compared within one process).
    pub clock: u32,
    /// The sending node and process (`task-sent`: the producer, e.g. `gen123@host`).
    pub origin: Origin,
    pub(super) detail: DetailRef,
    pub kind: MarkKind,
    /// What the event carried besides its kind ([`Mark::IDENTITY`], [`Mark::ROUTE`]).
    pub flags: u8,
    pub retries: u16,
}

/// A payload in the state's detail table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailRef(pub(super) u32);

impl DetailRef {
    pub const NONE: DetailRef = DetailRef(u32::MAX);
}

impl Mark {
    /// The event carried the task's identity fields (name, args, root, parent).
    pub const IDENTITY: u8 = 1;
    /// The event carried routing fields (queue, exchange, routing key).
    pub const ROUTE: u8 = 2;

    /// The total order marks are kept in; equal keys are one event. `sender` orders the
    /// origins by their content (node name, pid), never by interning order, which depends on
    /// the order events arrived in.
    pub fn cmp_key(
        &self,
        other: &Self,
        sender: &dyn Fn(Origin, Origin) -> std::cmp::Ordering,
    ) -> std::cmp::Ordering {
        self.time
            .total_cmp(&other.time)
            .then(self.kind.cmp(&other.kind))
            .then_with(|| {
                if self.origin == other.origin {
                    std::cmp::Ordering::Equal
                } else {
                    sender(self.origin, other.origin)
                }
            })
            .then(self.clock.cmp(&other.clock))
            .then(self.retries.cmp(&other.retries))
    }

    pub fn retries(&self) -> Option<u16> {
        (self.retries != NO_RETRIES).then_some(self.retries)
    }

    /// Which event's identity fields win, whatever the arrival order: the first delivery
    /// (retries 0) before retries, `task-sent` before `task-received`, then the earliest.
    pub fn rank_cmp(
        &self,
        other: &Self,
        sender: &dyn Fn(Origin, Origin) -> std::cmp::Ordering,
    ) -> std::cmp::Ordering {
        let r = |m: &Self| {
            if m.retries == NO_RETRIES {
                0
            } else {
                m.retries
            }
        };
        r(self)
            .cmp(&r(other))
            .then(self.kind.cmp(&other.kind))
            .then_with(|| self.cmp_key(other, sender))
    }
}

/// The payload of marks that carry one, kept in the state's detail table (32 bytes). A
/// traceback (failures are the exception, not the rule) and the rarer fields sit behind a box.
#[derive(Debug, Clone)]
pub struct Detail {
    /// `result` of a success; `exception` of a failure or retry.
    pub text: Option<Box<str>>,
    /// Seconds; NaN when not reported.
    runtime: f64,
    pub rare: Option<Box<RareDetail>>,
}

impl Default for Detail {
    fn default() -> Self {
        Self {
            text: None,
            runtime: f64::NAN,
            rare: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RareDetail {
    pub traceback: Option<Box<str>>,
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

impl Detail {
    pub fn new(text: Option<Box<str>>, runtime: Option<f64>, rare: Option<RareDetail>) -> Self {
        Self {
            text,
            runtime: runtime.unwrap_or(f64::NAN),
            rare: rare.map(Box::new),
        }
    }
    pub fn runtime(&self) -> Option<f64> {
        (!self.runtime.is_nan()).then_some(self.runtime)
    }
    pub fn traceback(&self) -> Option<&str> {
        self.rare.as_ref()?.traceback.as_deref()
    }
    pub fn eta(&self) -> Option<&str> {
        self.rare.as_ref()?.eta.as_deref()
    }
    pub fn expires(&self) -> Option<&str> {
        self.rare.as_ref()?.expires.as_deref()
    }
    pub fn terminated(&self) -> Option<bool> {
        self.rare.as_ref()?.terminated
    }
    pub fn signum(&self) -> Option<i64> {
        self.rare.as_ref()?.signum
    }
    pub fn expired(&self) -> Option<bool> {
        self.rare.as_ref()?.expired
    }
    pub fn requeue(&self) -> Option<bool> {
        self.rare.as_ref()?.requeue
    }
    pub fn custom_type(&self) -> Option<&str> {
        self.rare.as_ref()?.custom_type.as_deref()
    }
    pub fn fields(&self) -> &[(Box<str>, Box<RawValue>)] {
        self.rare.as_ref().map_or(&[], |r| &r.fields)
    }
}

/// `args` and `kwargs` packed the way [`TaskRecord`] keeps them.
#[derive(Debug, Clone)]
pub struct Call {
    text: Option<Box<str>>,
    args_len: u32,
    kwargs_len: u32,
}

impl Call {
    pub fn new(args: Option<&str>, kwargs: Option<&str>) -> Self {
        // Field lengths are capped far below u32::MAX by the decoder (MAX_FIELD_BYTES).
        let len =
            |s: Option<&str>| s.map_or(u32::MAX, |s| s.len().min(u32::MAX as usize - 1) as u32);
        let text = (args.is_some() || kwargs.is_some()).then(|| {
            let mut s =
                String::with_capacity(args.map_or(0, str::len) + kwargs.map_or(0, str::len));
            s.push_str(args.unwrap_or(""));
            s.push_str(kwargs.unwrap_or(""));
            s.into_boxed_str()
        });
        Self {
            text,
            args_len: len(args),
            kwargs_len: len(kwargs),
        }
    }
}

/// A link to another task: its position in the state's table (see `State::linked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRef(pub(super) u32);

impl TaskRef {
    pub const NONE: TaskRef = TaskRef(u32::MAX);
}

/// One task. Links and names are 4-byte handles into the state (the root and parent may be
/// tasks never seen in the events: they get a record without marks, which no listing shows).
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: TaskId,
    /// `args` then `kwargs`, in one allocation (two would cost a header and a pointer more).
    call: Option<Box<str>>,
    /// Length of `args` in `call`; `u32::MAX` when absent.
    args_len: u32,
    /// Length of `kwargs` in `call`; `u32::MAX` when absent.
    kwargs_len: u32,
    pub(super) root: TaskRef,
    pub(super) parent: TaskRef,
    pub(super) name: Sym,
    pub(super) queue: Sym,
    pub(super) exchange: Sym,
    pub(super) routing_key: Sym,
    pub marks: Vec<Mark>,
}

impl TaskRecord {
    pub fn new(id: TaskId) -> Self {
        Self {
            id,
            call: None,
            args_len: u32::MAX,
            kwargs_len: u32::MAX,
            root: TaskRef::NONE,
            parent: TaskRef::NONE,
            name: Sym::NONE,
            queue: Sym::NONE,
            exchange: Sym::NONE,
            routing_key: Sym::NONE,
            marks: Vec::new(),
        }
    }

    /// The `args` repr as Celery sent it.
    pub fn args(&self) -> Option<&str> {
        let call = self.call.as_deref()?;
        (self.args_len != u32::MAX).then(|| &call[..self.args_len as usize])
    }

    /// The `kwargs` repr as Celery sent it.
    pub fn kwargs(&self) -> Option<&str> {
        let call = self.call.as_deref()?;
        let start = if self.args_len == u32::MAX {
            0
        } else {
            self.args_len as usize
        };
        (self.kwargs_len != u32::MAX).then(|| &call[start..start + self.kwargs_len as usize])
    }

    pub(super) fn set_call(&mut self, call: Call) {
        (self.call, self.args_len, self.kwargs_len) = (call.text, call.args_len, call.kwargs_len);
    }

    pub fn name(&self) -> Option<Sym> {
        self.name.get()
    }
    pub fn queue(&self) -> Option<Sym> {
        self.queue.get()
    }
    pub fn exchange(&self) -> Option<Sym> {
        self.exchange.get()
    }
    pub fn routing_key(&self) -> Option<Sym> {
        self.routing_key.get()
    }

    /// Seen in the events (a record that is only somebody's root or parent has no marks).
    pub fn is_seen(&self) -> bool {
        !self.marks.is_empty()
    }

    /// Where `mark` goes, or `None` for an identical mark (a duplicate event).
    pub fn mark_position(
        &self,
        mark: &Mark,
        sender: &dyn Fn(Origin, Origin) -> std::cmp::Ordering,
    ) -> Option<usize> {
        let pos = self
            .marks
            .partition_point(|m| m.cmp_key(mark, sender).is_lt());
        match self.marks.get(pos) {
            Some(existing) if existing.cmp_key(mark, sender).is_eq() => None,
            _ => Some(pos),
        }
    }

    /// Inserts a mark at a position from [`TaskRecord::mark_position`].
    pub fn insert_mark_at(&mut self, pos: usize, mark: Mark) {
        // Tasks have 4–6 marks: grow by two instead of doubling to keep memory per task low.
        if self.marks.len() == self.marks.capacity() {
            self.marks.reserve_exact(2);
        }
        self.marks.insert(pos, mark);
    }

    /// Whether `mark` outranks every kept mark that carries the same `flag`.
    pub fn outranks(
        &self,
        mark: &Mark,
        flag: u8,
        sender: &dyn Fn(Origin, Origin) -> std::cmp::Ordering,
    ) -> bool {
        self.marks
            .iter()
            .filter(|m| m.flags & flag != 0)
            .all(|m| mark.rank_cmp(m, sender).is_lt())
    }

    /// Earliest event time known for the task.
    pub fn first_time(&self) -> Option<f64> {
        self.marks.iter().map(|m| m.time).find(|t| *t > 0.0)
    }
}
