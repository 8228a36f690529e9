//! The recorder's side of the stream (layout in [`super::stream`]): pipelined XADDs with the
//! index writes in the same pipeline, trimming, gap records, and the recorder's lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use redis::Pipeline;

use super::pubsub::Feed;
use super::redis::{Redis, RedisError};
use super::stream::{GAPS_KEPT, IdClock, Layout, hour_of, parse_id, producer_member};
use crate::model::TaskId;
use crate::model::split::{self, GapReason, Line, LineKind, gap_line};

/// How long the lock says a recorder runs without being refreshed (it is refreshed every second).
const LOCK_MS: u64 = 15_000;
/// Index keys outlive the data they index by this much, so no task loses its index early.
const INDEX_MARGIN: Duration = Duration::from_secs(3600);
/// Index lifetime when only `--max-len` bounds the stream.
const INDEX_TTL_BY_LENGTH: Duration = Duration::from_secs(7 * 24 * 3600);
/// Tasks whose root is remembered; forgotten all at once past this (a task still running
/// then is filed under its own id, which readers also look up).
const ROOTS_MAX: usize = 100_000;

#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_len: Option<u64>,
}

impl Retention {
    fn index_ttl(&self) -> Option<Duration> {
        match (self.max_age, self.max_len) {
            (Some(age), _) => Some(age + INDEX_MARGIN),
            (None, Some(_)) => Some(INDEX_TTL_BY_LENGTH),
            (None, None) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("another recorder already writes to `{key}` ({holder})")]
    Locked { key: String, holder: String },
}

/// One entry waiting to be written: its stream id, its line, and what writing it settles.
struct Entry {
    id: (u64, u64),
    line: Line,
    /// A `celtrace.gap` record (also pushed to the gap list; not counted as an event).
    gap: bool,
    /// Arrival time of the message it came from.
    received: f64,
    /// Backlog released once written: the message's bytes ride on its first entry.
    messages: u64,
    bytes: u64,
}

/// What a write settled: events written and the backlog they release.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub events: u64,
    pub messages: u64,
    pub bytes: u64,
}

impl Settled {
    fn add(&mut self, e: &Entry) {
        self.events += u64::from(!e.gap);
        self.messages += e.messages;
        self.bytes += e.bytes;
    }
}

/// Received events the recorder gave up on: what an `unwritten` gap record says.
#[derive(Debug, Clone, PartialEq)]
pub struct Abandoned {
    pub events: u64,
    pub messages: u64,
    pub bytes: u64,
    pub from: f64,
    pub to: f64,
}

/// Redis refuses or cannot take writes: since when, why, and when to try again.
#[derive(Debug)]
pub struct Failing {
    pub since: f64,
    pub error: RedisError,
    retry_at: Instant,
    backoff: Duration,
}

/// Entries per pipeline: big enough to amortise round trips, small enough that one failed
/// write costs little to retry and no pipeline is ever a burst Redis stalls on.
const CHUNK: usize = 1000;
/// First and longest wait between attempts while Redis refuses writes.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Writes the recording. Nothing here blocks for longer than one pipeline: entries wait in
/// order until Redis takes them, and a failure only schedules the next attempt, so the
/// recorder keeps receiving, keeps its backlog bounded and stays stoppable meanwhile.
pub struct Writer {
    redis: Redis,
    conn: Option<redis::Connection>,
    layout: Layout,
    clock: IdClock,
    retention: Retention,
    /// Root of each recent task, learnt from its `task-sent`/`task-received`: later events of
    /// the task (`task-started`, ...) do not name it.
    /// Ids as [`TaskId`]s: a UUID in 16 bytes inline, where two strings cost about 150 bytes
    /// a task, and the map holds up to [`ROOTS_MAX`] of them.
    roots: HashMap<TaskId, TaskId>,
    flows_seen: HashSet<TaskId>,
    hours_seen: HashSet<u64>,
    /// A write failed: the next pipelines file every task they touch in the id sets again,
    /// since the failed one may have held a task's only filing (idempotent, so harmless).
    refile: bool,
    lock_value: String,
    pending: VecDeque<Entry>,
    failing: Option<Failing>,
    /// Arrival time of the newest message taken (for the lag shown).
    pub last_received: f64,
    /// Events the split could not take apart (kept whole; the reader reports them).
    pub kept_whole: u64,
    /// Events written so far (gap records not counted).
    pub written: u64,
}

impl Writer {
    /// Takes the stream's lock, continues its ids and records the start gap.
    pub fn start(redis: Redis, key: &str, retention: Retention) -> Result<Self, WriterError> {
        let mut conn = redis.connect()?;
        let layout = Layout::new(key);
        let now = crate::clock::wall_secs();
        let lock_value = serde_json::json!({
            "pid": std::process::id(),
            "started": now,
            "version": env!("CARGO_PKG_VERSION"),
        })
        .to_string();
        let taken: Option<String> = redis::cmd("SET")
            .arg(layout.recorder())
            .arg(&lock_value)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query(&mut conn)
            .map_err(|e| redis.fail(&e))?;
        if taken.is_none() {
            let holder: Option<String> = redis::cmd("GET")
                .arg(layout.recorder())
                .query(&mut conn)
                .map_err(|e| redis.fail(&e))?;
            return Err(WriterError::Locked {
                key: key.to_string(),
                holder: holder.unwrap_or_default(),
            });
        }
        let last = last_id(&redis, &mut conn, &layout)?;
        // From here on (unless an earlier recorder already did), every top-level send is
        // indexed by producer: queries older than this fall back to reading a time window.
        let indexed_from = (now * 1000.0).max(0.0) as u64;
        let indexed_from = indexed_from.max(last.map_or(0, |(ms, _)| ms + 1));
        redis::cmd("SET")
            .arg(layout.bursts_since())
            .arg(indexed_from)
            .arg("NX")
            .query::<()>(&mut conn)
            .map_err(|e| redis.fail(&e))?;
        let mut w = Self {
            redis,
            conn: Some(conn),
            layout,
            clock: IdClock::after(last),
            retention,
            roots: HashMap::new(),
            flows_seen: HashSet::new(),
            hours_seen: HashSet::new(),
            refile: false,
            lock_value,
            pending: VecDeque::new(),
            failing: None,
            last_received: now,
            kept_whole: 0,
            written: 0,
        };
        let from = last.map(|(ms, _)| ms as f64 / 1000.0);
        w.push_gap(&gap_line(GapReason::Start, from, Some(now), now), now);
        w.flush(Duration::from_secs(1));
        if let Some(f) = w.failing.take() {
            return Err(f.error.into());
        }
        Ok(w)
    }

    /// Splits one received message into entries that wait to be written. Returns what to
    /// release from the backlog at once (a message that holds no event, such as `[]`).
    pub fn push_message(&mut self, feed: Feed) -> Settled {
        let Feed::Message {
            channel,
            payload,
            received,
            backend,
        } = feed
        else {
            return Settled::default();
        };
        self.last_received = received;
        let ms = (received * 1000.0) as u64;
        let text = String::from_utf8_lossy(&payload);
        let lines = if backend {
            vec![split::backend_line(&channel, &text, received)]
        } else {
            split::split_message(&text, received).0
        };
        let mut bytes = payload.len() as u64;
        let mut messages = 1;
        for line in lines {
            if line.kind == LineKind::Kept {
                self.kept_whole += 1;
            }
            let id = self.clock.next(ms);
            self.pending.push_back(Entry {
                id: parse_id(&id).unwrap_or((ms, 0)),
                line,
                gap: false,
                received,
                messages: std::mem::take(&mut messages),
                bytes: std::mem::take(&mut bytes),
            });
        }
        Settled {
            events: 0,
            messages,
            bytes,
        }
    }

    /// Queues a gap record, in order after everything received before it.
    pub fn push_gap(&mut self, json: &str, at: f64) {
        let id = self.clock.next((at * 1000.0) as u64);
        let ms = (at * 1000.0) as u64;
        self.pending.push_back(Entry {
            id: parse_id(&id).unwrap_or((ms, 0)),
            line: Line {
                json: json.to_string(),
                task: None,
                root: None,
                worker: None,
                sent_by: None,
                kind: LineKind::Other,
            },
            gap: true,
            received: at,
            messages: 0,
            bytes: 0,
        });
    }

    /// Entries waiting to be written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Why writes fail now, if they do.
    pub fn failing(&self) -> Option<&Failing> {
        self.failing.as_ref()
    }

    /// Writes what waits, in order, for about `budget` at most. A failure is remembered and
    /// retried later (reconnecting first); it never loses or reorders an entry.
    pub fn flush(&mut self, budget: Duration) -> Settled {
        let started = Instant::now();
        let mut settled = Settled::default();
        if self
            .failing
            .as_ref()
            .is_some_and(|f| Instant::now() < f.retry_at)
        {
            return settled;
        }
        // Reconnect even with nothing to write: the lock and trimming need the connection.
        if self.conn.is_none() {
            match self.reconnect() {
                Ok(s) => settled = s,
                Err(e) => {
                    self.fail(e);
                    return settled;
                }
            }
            if self.pending.is_empty() {
                self.failing = None;
            }
        }
        while !self.pending.is_empty() && started.elapsed() < budget {
            let n = self.pending.len().min(CHUNK);
            let pipe = self.pipeline(n);
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            match pipe.query::<()>(conn) {
                Ok(()) => {
                    for e in self.pending.drain(..n) {
                        settled.add(&e);
                    }
                    self.failing = None;
                    self.refile = false;
                }
                Err(e) => {
                    let e = self.redis.fail(&e);
                    self.fail(e);
                    // The failed pipeline's index writes and expiries are written again.
                    self.refile = true;
                    self.flows_seen.clear();
                    self.hours_seen.clear();
                    break;
                }
            }
        }
        self.written += settled.events;
        settled
    }

    /// Forces the next [`Self::flush`] to try at once (the stop's last attempt).
    pub fn retry_now(&mut self) {
        if let Some(f) = self.failing.as_mut() {
            f.retry_at = Instant::now();
        }
    }

    /// Gives up on every received event still waiting (gap records stay queued) and says
    /// what they were, for the `unwritten` gap that replaces them.
    pub fn abandon(&mut self) -> Option<Abandoned> {
        let mut out: Option<Abandoned> = None;
        self.pending.retain(|e| {
            if e.gap {
                return true;
            }
            let a = out.get_or_insert(Abandoned {
                events: 0,
                messages: 0,
                bytes: 0,
                from: e.received,
                to: e.received,
            });
            a.events += 1;
            a.messages += e.messages;
            a.bytes += e.bytes;
            a.from = a.from.min(e.received);
            a.to = a.to.max(e.received);
            false
        });
        out
    }

    /// Once a second: keep the lock alive, trim by age and length. Skipped while writes fail
    /// (the next successful write resumes it); a failure here is handled like a write's.
    pub fn tick(&mut self, now: f64) {
        if self.failing.is_some() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // PEXPIRE, unlike SET, is allowed when Redis is out of memory: the lock outlives a
        // `maxmemory` stall, so nobody takes the stream from a recorder that still runs.
        let kept: Result<i64, _> = redis::cmd("PEXPIRE")
            .arg(self.layout.recorder())
            .arg(LOCK_MS)
            .query(conn);
        let mut pipe = redis::pipe();
        if matches!(kept, Ok(0)) {
            // The key is gone (Redis restarted empty, or it expired): take it again, unless
            // another recorder took it meanwhile.
            pipe.cmd("SET")
                .arg(self.layout.recorder())
                .arg(&self.lock_value)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_MS)
                .ignore();
        }
        if let Some(age) = self.retention.max_age {
            let min_ms = ((now - age.as_secs_f64()) * 1000.0).max(0.0) as u64;
            pipe.cmd("XTRIM")
                .arg(&self.layout.stream)
                .arg("MINID")
                .arg("~")
                .arg(min_ms)
                .ignore();
        }
        if let Some(n) = self.retention.max_len {
            pipe.cmd("XTRIM")
                .arg(&self.layout.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(n)
                .ignore();
        }
        if let Some(ttl) = self.retention.index_ttl() {
            for key in [self.layout.workers(), self.layout.gaps()] {
                pipe.cmd("PEXPIRE")
                    .arg(key)
                    .arg(ttl.as_millis() as u64)
                    .ignore();
            }
        }
        let result = match kept {
            Err(e) => Err(e),
            // Nothing to trim and the lock still held: no pipeline (an empty one is an error).
            Ok(_) if pipe.is_empty() => Ok(()),
            Ok(_) => pipe.query::<()>(conn),
        };
        if let Err(e) = result {
            let e = self.redis.fail(&e);
            self.fail(e);
        }
    }

    /// Releases the lock (the stop gap is queued and flushed by the caller first).
    pub fn release_lock(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = redis::cmd("DEL")
                .arg(self.layout.recorder())
                .query::<()>(conn);
        }
    }

    fn fail(&mut self, error: RedisError) {
        self.conn = None;
        let now = Instant::now();
        let f = self.failing.get_or_insert(Failing {
            since: crate::clock::wall_secs(),
            error: error.clone(),
            retry_at: now,
            backoff: BACKOFF_FIRST / 2,
        });
        f.error = error;
        f.backoff = (f.backoff * 2).min(BACKOFF_MAX);
        f.retry_at = now + f.backoff;
    }

    /// A new connection, and the entries that went in before the old one broke settled:
    /// the stream's newest id says how far the last pipeline got.
    fn reconnect(&mut self) -> Result<Settled, RedisError> {
        let mut conn = self.redis.connect()?;
        let last = last_id(&self.redis, &mut conn, &self.layout)?;
        let mut settled = Settled::default();
        while let Some(front) = self.pending.front() {
            if Some(front.id) > last {
                break;
            }
            if let Some(e) = self.pending.pop_front() {
                settled.add(&e);
            }
        }
        // Redis may have restarted empty: index keys get their expiry again, and the lock is
        // taken again at once rather than at the next tick, so no reader takes a running
        // recorder for a stopped one meanwhile (NX: never from another recorder).
        self.flows_seen.clear();
        self.hours_seen.clear();
        let _ = redis::cmd("SET")
            .arg(self.layout.recorder())
            .arg(&self.lock_value)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query::<redis::Value>(&mut conn);
        self.conn = Some(conn);
        Ok(settled)
    }

    /// The pipeline of the first `n` waiting entries (never empty: `n` ≥ 1).
    fn pipeline(&mut self, n: usize) -> Pipeline {
        let ttl = self.retention.index_ttl().map(|d| d.as_millis() as u64);
        if self.roots.len() > ROOTS_MAX {
            self.roots.clear();
            self.flows_seen.clear();
        }
        let mut pipe = redis::pipe();
        // MULTI/EXEC: a chunk goes in whole or not at all. Without it, a `maxmemory` refusal
        // can reject one XADD and accept the next (Redis frees our query buffer as it goes),
        // and the rejected entry could never be written behind a newer id.
        pipe.atomic();
        // One APPEND per workflow per batch: a worker's task.multi batches carry several
        // events of one task, and flows send bursts.
        let mut appends: HashMap<TaskId, String> = HashMap::new();
        // One ZADD per hour's id set per batch, with all its new members: Redis's cost is
        // mostly per command, and it is the recorder's ceiling at high rates.
        let mut members: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for e in self.pending.iter().take(n) {
            let id = format!("{}-{}", e.id.0, e.id.1);
            pipe.cmd("XADD")
                .arg(&self.layout.stream)
                .arg(&id)
                .arg("e")
                .arg(&e.line.json)
                .ignore();
            if e.gap {
                pipe.cmd("LPUSH")
                    .arg(self.layout.gaps())
                    .arg(&e.line.json)
                    .ignore()
                    .cmd("LTRIM")
                    .arg(self.layout.gaps())
                    .arg(0)
                    .arg(GAPS_KEPT - 1)
                    .ignore();
            }
            if let Some(task) = &e.line.task {
                // `TaskId` prints exactly the text it was parsed from.
                let task_id = TaskId::parse(task);
                let root = match (&e.line.root, self.roots.get(&task_id)) {
                    // The root named for the first time, or named at last for a task filed
                    // under its own id for want of one (its backend write came first): filed
                    // there as well, and its later entries go there. The reader loads every
                    // root a task is filed under, so the entries filed before are read too.
                    (Some(root), known)
                        if known.is_none_or(|k| {
                            *k == task_id && !root.is_empty() && !task_id.is(root)
                        }) =>
                    {
                        let root = TaskId::parse(root);
                        self.roots.insert(task_id, root.clone());
                        members
                            .entry(hour_of(e.id.0))
                            .or_default()
                            .push(format!("{task}:{root}"));
                        root
                    }
                    (_, Some(known)) => {
                        if self.refile {
                            members
                                .entry(hour_of(e.id.0))
                                .or_default()
                                .push(format!("{task}:{known}"));
                        }
                        known.clone()
                    }
                    (_, None) => {
                        // Root unknown (recording began mid-task, or a backend write):
                        // filed under the task's own id. (A named root is taken above.)
                        self.roots.insert(task_id.clone(), task_id.clone());
                        members
                            .entry(hour_of(e.id.0))
                            .or_default()
                            .push(format!("{task}:{task}"));
                        task_id
                    }
                };
                if let Some(sent) = &e.line.sent_by {
                    members
                        .entry(hour_of(e.id.0))
                        .or_default()
                        .push(producer_member(&sent.producer, sent.ms, task));
                }
                let value = appends.entry(root).or_default();
                value.push_str(task);
                value.push(':');
                value.push_str(&id);
                value.push(',');
            }
            if let Some(host) = &e.line.worker {
                let workers = self.layout.workers();
                pipe.cmd("HSET")
                    .arg(&workers)
                    .arg(host)
                    .arg(&e.line.json)
                    .ignore();
                if e.line.json.contains("\"worker-online\"") {
                    pipe.cmd("HSET")
                        .arg(&workers)
                        .arg(format!("{host}\0online"))
                        .arg(&e.line.json)
                        .ignore();
                }
            }
        }
        for (hour, new) in members {
            let key = self.layout.ids(hour);
            let zadd = pipe.cmd("ZADD").arg(&key);
            for m in new {
                zadd.arg(0).arg(m);
            }
            zadd.ignore();
            if let Some(ttl) = ttl
                && self.hours_seen.insert(hour)
            {
                pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
            }
        }
        for (root, value) in appends {
            let key = self.layout.flow(&root.to_string());
            pipe.cmd("APPEND").arg(&key).arg(value).ignore();
            if let Some(ttl) = ttl
                && self.flows_seen.insert(root)
            {
                pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
            }
        }
        pipe
    }
}

fn last_id(
    redis: &Redis,
    conn: &mut redis::Connection,
    layout: &Layout,
) -> Result<Option<(u64, u64)>, RedisError> {
    let v: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg(&layout.stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(conn)
        .map_err(|e| redis.fail(&e))?;
    Ok(v.first().and_then(|(id, _)| parse_id(id)))
}
