//! The recorder's side of the stream (layout in [`super::stream`]): pipelined XADDs with the
//! index writes in the same pipeline, trimming, gap records, and the recorder's lock.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use redis::Pipeline;

use super::pubsub::Feed;
use super::redis::{Redis, RedisError};
use super::stream::{GAPS_KEPT, IdClock, Layout, hour_of, parse_id};
use crate::model::split::{self, GapReason, Line, LineKind, gap_line};

/// How long the lock says a recorder runs without being refreshed (it is refreshed every second).
const LOCK_MS: u64 = 15_000;
/// Index keys outlive the data they index by this much, so no task loses its index early.
const INDEX_MARGIN: Duration = Duration::from_secs(3600);
/// Index lifetime when only `--max-len` bounds the stream.
const INDEX_TTL_BY_LENGTH: Duration = Duration::from_secs(7 * 24 * 3600);
/// Writes are retried this long (reconnecting) before the recorder gives up.
const RETRY_FOR: Duration = Duration::from_secs(30);
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

/// One entry ready to write: its stream id and its line.
struct Entry {
    id: (u64, u64),
    line: Line,
}

pub struct Writer {
    redis: Redis,
    conn: redis::Connection,
    layout: Layout,
    clock: IdClock,
    retention: Retention,
    /// Root of each recent task, learnt from its `task-sent`/`task-received`: later events of
    /// the task (`task-started`, ...) do not name it.
    roots: HashMap<String, String>,
    flows_seen: HashSet<String>,
    hours_seen: HashSet<u64>,
    lock_value: String,
    /// Arrival time of the newest message written (for the lag shown).
    pub last_received: f64,
    /// Events the split could not take apart (kept whole; the reader reports them).
    pub kept_whole: u64,
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
        let mut w = Self {
            redis,
            conn,
            layout,
            clock: IdClock::after(last),
            retention,
            roots: HashMap::new(),
            flows_seen: HashSet::new(),
            hours_seen: HashSet::new(),
            lock_value,
            last_received: now,
            kept_whole: 0,
        };
        let from = last.map(|(ms, _)| ms as f64 / 1000.0);
        w.gap(&gap_line(GapReason::Start, from, Some(now), now), now)?;
        Ok(w)
    }

    /// Splits and writes a batch of messages (emptied); returns the events written.
    pub fn write(&mut self, batch: &mut Vec<Feed>) -> Result<u64, WriterError> {
        let mut entries = Vec::with_capacity(batch.len() * 2);
        for feed in batch.drain(..) {
            let Feed::Message {
                channel,
                payload,
                received,
                backend,
            } = feed
            else {
                continue;
            };
            self.last_received = received;
            let ms = (received * 1000.0) as u64;
            let text = String::from_utf8_lossy(&payload);
            let lines = if backend {
                vec![split::backend_line(&channel, &text, received)]
            } else {
                split::split_message(&text, received).0
            };
            for line in lines {
                if line.kind == LineKind::Kept {
                    self.kept_whole += 1;
                }
                let id = self.clock.next(ms);
                entries.push(Entry {
                    id: parse_id(&id).unwrap_or((ms, 0)),
                    line,
                });
            }
        }
        let n = entries.len() as u64;
        self.write_entries(&entries)?;
        Ok(n)
    }

    /// Writes a gap record to the stream and to the gap list.
    pub fn gap(&mut self, line: &str, at: f64) -> Result<(), WriterError> {
        let id = self.clock.next((at * 1000.0) as u64);
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(&self.layout.stream)
            .arg(&id)
            .arg("e")
            .arg(line)
            .ignore()
            .cmd("LPUSH")
            .arg(self.layout.gaps())
            .arg(line)
            .ignore()
            .cmd("LTRIM")
            .arg(self.layout.gaps())
            .arg(0)
            .arg(GAPS_KEPT - 1)
            .ignore();
        self.run(&pipe)
    }

    /// Once a second: refresh the lock, trim by age and length.
    pub fn tick(&mut self, now: f64) -> Result<(), WriterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.layout.recorder())
            .arg(&self.lock_value)
            .arg("PX")
            .arg(LOCK_MS)
            .ignore();
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
        self.run(&pipe)
    }

    /// Records the stop gap and releases the lock.
    pub fn stop(mut self, now: f64) -> Result<(), WriterError> {
        self.gap(&gap_line(GapReason::Stop, Some(now), None, now), now)?;
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.layout.recorder()).ignore();
        self.run(&pipe)
    }

    fn write_entries(&mut self, entries: &[Entry]) -> Result<(), WriterError> {
        let mut pipe = self.pipeline(entries);
        let started = std::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            match pipe.query::<()>(&mut self.conn) {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() < RETRY_FOR => {
                    let _ = e;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let Ok(mut conn) = self.redis.connect() else {
                        continue;
                    };
                    // Entries up to the stream's newest id went in before the break.
                    let Ok(last) = last_id(&self.redis, &mut conn, &self.layout) else {
                        continue;
                    };
                    self.conn = conn;
                    let rest: Vec<&Entry> = entries.iter().filter(|e| Some(e.id) > last).collect();
                    pipe = self.pipeline_of(&rest);
                }
                Err(e) => return Err(self.redis.fail(&e).into()),
            }
        }
    }

    fn pipeline(&mut self, entries: &[Entry]) -> Pipeline {
        let refs: Vec<&Entry> = entries.iter().collect();
        self.pipeline_of(&refs)
    }

    fn pipeline_of(&mut self, entries: &[&Entry]) -> Pipeline {
        let ttl = self.retention.index_ttl().map(|d| d.as_millis() as u64);
        if self.roots.len() > ROOTS_MAX {
            self.roots.clear();
            self.flows_seen.clear();
        }
        let mut pipe = redis::pipe();
        // One APPEND per workflow per batch: a worker's task.multi batches carry several
        // events of one task, and flows send bursts.
        let mut appends: HashMap<String, String> = HashMap::new();
        for e in entries {
            let id = format!("{}-{}", e.id.0, e.id.1);
            pipe.cmd("XADD")
                .arg(&self.layout.stream)
                .arg(&id)
                .arg("e")
                .arg(&e.line.json)
                .ignore();
            if let Some(task) = &e.line.task {
                let root = match (&e.line.root, self.roots.get(task)) {
                    (_, Some(known)) => known.clone(),
                    (Some(root), None) => {
                        self.roots.insert(task.clone(), root.clone());
                        let ids = self.layout.ids(hour_of(e.id.0));
                        pipe.cmd("ZADD")
                            .arg(&ids)
                            .arg(0)
                            .arg(format!("{task}:{root}"))
                            .ignore();
                        if let Some(ttl) = ttl
                            && self.hours_seen.insert(hour_of(e.id.0))
                        {
                            pipe.cmd("PEXPIRE").arg(&ids).arg(ttl).ignore();
                        }
                        root.clone()
                    }
                    (None, None) => {
                        // Root unknown (recording began mid-task, or a backend write):
                        // filed under the task's own id.
                        self.roots.insert(task.clone(), task.clone());
                        pipe.cmd("ZADD")
                            .arg(self.layout.ids(hour_of(e.id.0)))
                            .arg(0)
                            .arg(format!("{task}:{task}"))
                            .ignore();
                        task.clone()
                    }
                };
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
        for (root, value) in appends {
            let key = self.layout.flow(&root);
            pipe.cmd("APPEND").arg(&key).arg(value).ignore();
            if let Some(ttl) = ttl
                && self.flows_seen.insert(root)
            {
                pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
            }
        }
        pipe
    }

    fn run(&mut self, pipe: &Pipeline) -> Result<(), WriterError> {
        pipe.query::<()>(&mut self.conn)
            .map_err(|e| self.redis.fail(&e).into())
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
