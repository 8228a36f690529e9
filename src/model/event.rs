//! Typed Celery events: what one entry of a recording or one broker message becomes.
//!
//! Field names follow Celery 5.7 (docs/protocol.md §3). Strings borrow from the input where the
//! JSON has no escapes, so decoding a line allocates little; [`Event::into_owned`] detaches an
//! event from its buffer when it has to cross a thread or outlive the line.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// What an event is about, from its `type` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    TaskSent,
    TaskReceived,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    TaskRetried,
    TaskRevoked,
    TaskRejected,
    TaskCancelled,
    /// A `task-*` event Celery does not define, sent by `Task.send_event` (e.g. `task-progress`).
    TaskCustom,
    WorkerOnline,
    WorkerHeartbeat,
    WorkerOffline,
    /// Other `worker-*` events (`worker-elect`, `worker-elect-ack`, ...).
    WorkerOther,
    /// celtrace's own record types (`celtrace.recording`, `celtrace.gap`, `celtrace.backend`, ...).
    Celtrace,
    /// Anything else: kept and counted, never dropped.
    #[default]
    Unknown,
}

impl EventKind {
    pub fn from_type(type_name: &str) -> Self {
        match type_name {
            "task-sent" => Self::TaskSent,
            "task-received" => Self::TaskReceived,
            "task-started" => Self::TaskStarted,
            "task-succeeded" => Self::TaskSucceeded,
            "task-failed" => Self::TaskFailed,
            "task-retried" => Self::TaskRetried,
            "task-revoked" => Self::TaskRevoked,
            "task-rejected" => Self::TaskRejected,
            "task-cancelled" => Self::TaskCancelled,
            "worker-online" => Self::WorkerOnline,
            "worker-heartbeat" => Self::WorkerHeartbeat,
            "worker-offline" => Self::WorkerOffline,
            t if t.starts_with("task-") => Self::TaskCustom,
            t if t.starts_with("worker-") => Self::WorkerOther,
            t if t.starts_with("celtrace.") => Self::Celtrace,
            _ => Self::Unknown,
        }
    }

    /// Task events carry a `uuid` and belong to one task.
    pub fn is_task(self) -> bool {
        matches!(
            self,
            Self::TaskSent
                | Self::TaskReceived
                | Self::TaskStarted
                | Self::TaskSucceeded
                | Self::TaskFailed
                | Self::TaskRetried
                | Self::TaskRevoked
                | Self::TaskRejected
                | Self::TaskCancelled
                | Self::TaskCustom
        )
    }

    pub fn is_worker(self) -> bool {
        matches!(
            self,
            Self::WorkerOnline | Self::WorkerHeartbeat | Self::WorkerOffline | Self::WorkerOther
        )
    }
}

/// One Celery event. Every field is optional on the wire; absent and `null` are both `None`.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub kind: EventKind,
    pub type_name: Cow<'a, str>,
    pub hostname: Option<Cow<'a, str>>,
    /// Hours **west** of UTC (Celery's sign, the opposite of ISO 8601's `%z`). Not kept on
    /// task events that carry a `timestamp` (nothing uses it there).
    pub utcoffset: Option<f64>,
    pub pid: Option<u64>,
    pub clock: Option<u64>,
    /// Sender's `time.time()`: UTC epoch seconds.
    pub timestamp: Option<f64>,
    /// When the recorder received it (UTC epoch seconds); not on the wire. Not kept on task
    /// events that carry a `timestamp`, which orders them.
    pub local_received: Option<f64>,
    pub uuid: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub args: Option<Cow<'a, str>>,
    pub kwargs: Option<Cow<'a, str>>,
    pub root_id: Option<Cow<'a, str>>,
    pub parent_id: Option<Cow<'a, str>>,
    pub retries: Option<u64>,
    pub eta: Option<Cow<'a, str>>,
    pub expires: Option<Cow<'a, str>>,
    pub queue: Option<Cow<'a, str>>,
    pub exchange: Option<Cow<'a, str>>,
    pub routing_key: Option<Cow<'a, str>>,
    pub result: Option<Cow<'a, str>>,
    pub exception: Option<Cow<'a, str>>,
    pub traceback: Option<Cow<'a, str>>,
    pub runtime: Option<f64>,
    pub terminated: Option<bool>,
    pub signum: Option<i64>,
    pub expired: Option<bool>,
    pub requeue: Option<bool>,
    pub freq: Option<f64>,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub sw_ident: Option<Cow<'a, str>>,
    pub sw_ver: Option<Cow<'a, str>>,
    pub sw_sys: Option<Cow<'a, str>>,
    /// Fields celtrace does not model (custom event payloads, future Celery fields), verbatim.
    pub extra: Vec<(Cow<'a, str>, Cow<'a, RawValue>)>,
    /// Fields that had the wrong JSON type (dropped) or were cut to [`MAX_FIELD_BYTES`].
    pub invalid_fields: Vec<String>,
}

/// Longest string field kept whole; Celery's own reprs stop near 1 KiB, tracebacks are rarely
/// over 100 KiB, so anything larger is damage or abuse and is cut rather than held in memory.
pub const MAX_FIELD_BYTES: usize = 256 * 1024;

fn own(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    s.map(|s| Cow::Owned(s.into_owned()))
}

impl Event<'_> {
    /// Copies every borrowed string so the event no longer points into the input buffer.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            kind: self.kind,
            type_name: Cow::Owned(self.type_name.into_owned()),
            hostname: own(self.hostname),
            utcoffset: self.utcoffset,
            pid: self.pid,
            clock: self.clock,
            timestamp: self.timestamp,
            local_received: self.local_received,
            uuid: own(self.uuid),
            name: own(self.name),
            args: own(self.args),
            kwargs: own(self.kwargs),
            root_id: own(self.root_id),
            parent_id: own(self.parent_id),
            retries: self.retries,
            eta: own(self.eta),
            expires: own(self.expires),
            queue: own(self.queue),
            exchange: own(self.exchange),
            routing_key: own(self.routing_key),
            result: own(self.result),
            exception: own(self.exception),
            traceback: own(self.traceback),
            runtime: self.runtime,
            terminated: self.terminated,
            signum: self.signum,
            expired: self.expired,
            requeue: self.requeue,
            freq: self.freq,
            active: self.active,
            processed: self.processed,
            loadavg: self.loadavg,
            sw_ident: own(self.sw_ident),
            sw_ver: own(self.sw_ver),
            sw_sys: own(self.sw_sys),
            extra: self
                .extra
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
            invalid_fields: self.invalid_fields,
        }
    }

    /// The time the event happened: the sender's timestamp, else when it was received.
    pub fn time(&self) -> Option<f64> {
        self.timestamp.or(self.local_received)
    }
}
