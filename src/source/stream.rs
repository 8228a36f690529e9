//! A recording kept in a Redis Stream by `celtrace record`, and its index.
//!
//! Layout under one key prefix `P` (default `celtrace:events`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P` | stream | one entry per event, field `e` = the event's JSON; ids are receive time (ms) |
//! | `P:f:<root id>` | string | `<task id>:<stream id>,` appended for every entry of every task of the workflow |
//! | `P:ids:<hour>` | zset | `<task id>:<root id>` of tasks first seen in that hour (score 0: prefix search by lex), and `~<host>:<pid> <sent ms, 13 digits> <task id>` of every top-level `task-sent` (a producer's sends in time order) |
//! | `P:bursts-since` | string | ms from which top-level sends are indexed by producer (older streams: absent) |
//! | `P:workers` | hash | last event and last `worker-online` of every worker |
//! | `P:gaps` | list | the newest gap records |
//! | `P:recorder` | string | present while a recorder runs (expires when it dies) |
//!
//! One key per workflow, not per task: Redis keeps a million keys less readily than a
//! million appends (measured: per-task keys doubled the recorder's CPU and made Redis stall).
//! A task whose root the recorder does not know (it started recording mid-task) is filed
//! under its own id. Index keys expire with the data they index (`--retention` plus an hour).

use std::collections::BTreeSet;
use std::io::{self, Read};

use redis::Value;

use super::redis::{Redis, RedisError};

pub const DEFAULT_PREFIX: &str = "celtrace:events";
/// Entries per XRANGE page: docs/architecture.md §6: 500–1000 is fastest.
const PAGE: usize = 1000;
/// Keys per MGET and commands per pipeline on reads.
const BATCH: usize = 1000;
/// Gap records kept in `P:gaps`.
pub const GAPS_KEPT: isize = 1000;

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    pub stream: String,
}

impl Layout {
    pub fn new(prefix: &str) -> Self {
        Self {
            stream: prefix.to_string(),
        }
    }
    pub fn flow(&self, root: &str) -> String {
        format!("{}:f:{root}", self.stream)
    }
    pub fn ids(&self, hour: u64) -> String {
        format!("{}:ids:{hour}", self.stream)
    }
    pub fn bursts_since(&self) -> String {
        format!("{}:bursts-since", self.stream)
    }
    pub fn workers(&self) -> String {
        format!("{}:workers", self.stream)
    }
    pub fn gaps(&self) -> String {
        format!("{}:gaps", self.stream)
    }
    pub fn recorder(&self) -> String {
        format!("{}:recorder", self.stream)
    }
}

/// The id-set member of a top-level send: after `~` (no task id starts with it), so prefix
/// searches for ids never meet it, and sorted by time within one producer.
pub fn producer_member(producer: &str, sent_ms: u64, task: &str) -> String {
    format!("~{producer} {sent_ms:013} {task}")
}

/// The hour bucket of a time in milliseconds.
pub fn hour_of(ms: u64) -> u64 {
    ms / 3_600_000
}

/// Stream ids the recorder assigns itself (`<ms>-<seq>`), so index writes can share the
/// pipeline with the XADD. Strictly increasing even if the clock steps back.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdClock {
    ms: u64,
    seq: u64,
}

impl IdClock {
    /// Continues after the stream's newest id.
    pub fn after(last: Option<(u64, u64)>) -> Self {
        last.map_or_else(Self::default, |(ms, seq)| Self { ms, seq })
    }

    pub fn next(&mut self, now_ms: u64) -> String {
        if now_ms > self.ms {
            self.ms = now_ms;
            self.seq = 0;
        } else {
            self.seq += 1;
        }
        format!("{}-{}", self.ms, self.seq)
    }
}

/// Parses `<ms>-<seq>`.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What the stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub len: u64,
    pub first_ms: u64,
    pub last: (u64, u64),
}

/// Read access to a recorded stream.
pub struct Store {
    pub redis: Redis,
    pub layout: Layout,
    conn: redis::Connection,
}

impl Store {
    pub fn open(redis: Redis, prefix: &str) -> Result<Self, RedisError> {
        let conn = redis.connect()?;
        Ok(Self {
            redis,
            layout: Layout::new(prefix),
            conn,
        })
    }

    /// What a reader calls the source: the stream key on the redacted URL.
    pub fn label(&self) -> String {
        format!("{} (stream {})", self.redis.label, self.layout.stream)
    }

    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        cmd.query(&mut self.conn).map_err(|e| self.redis.fail(&e))
    }

    /// Length, first and last id; `None` when the stream does not exist or is empty.
    pub fn bounds(&mut self) -> Result<Option<Bounds>, RedisError> {
        let key = self.layout.stream.clone();
        let len: u64 = self.query(redis::cmd("XLEN").arg(&key))?;
        if len == 0 {
            return Ok(None);
        }
        let first = self.edge_id("XRANGE", "-", "+")?;
        let last = self.edge_id("XREVRANGE", "+", "-")?;
        Ok(match (first, last) {
            (Some(f), Some(l)) => Some(Bounds {
                len,
                first_ms: f.0,
                last: l,
            }),
            _ => None,
        })
    }

    fn edge_id(&mut self, cmd: &str, a: &str, b: &str) -> Result<Option<(u64, u64)>, RedisError> {
        let key = self.layout.stream.clone();
        let v: Value = self.query(redis::cmd(cmd).arg(&key).arg(a).arg(b).arg("COUNT").arg(1))?;
        let mut out = Vec::new();
        entries_of(v, &mut |id, _| out.push(parse_id(id)));
        Ok(out.into_iter().next().flatten())
    }

    /// A reader of every entry from `start_ms` to `end_ms` (inclusive), one line each, paged.
    pub fn range(self, start_ms: Option<u64>, end_ms: Option<u64>) -> RangeReader {
        RangeReader {
            store: self,
            next: start_ms.map_or_else(|| "-".to_string(), |ms| ms.to_string()),
            end: end_ms.map_or_else(
                || "+".to_string(),
                |ms| format!("{ms}-18446744073709551615"),
            ),
            buf: Vec::new(),
            pos: 0,
            done: false,
            progress: indicatif::ProgressBar::hidden(),
        }
    }

    /// Up to `count` entries between two times (ms), oldest first.
    pub fn range_lines(
        &mut self,
        start_ms: u64,
        end_ms: u64,
        count: usize,
    ) -> Result<Vec<String>, RedisError> {
        let key = self.layout.stream.clone();
        let v: Value = self.query(
            redis::cmd("XRANGE")
                .arg(&key)
                .arg(start_ms)
                .arg(format!("{end_ms}-18446744073709551615"))
                .arg("COUNT")
                .arg(count),
        )?;
        let mut out = Vec::new();
        entries_of(v, &mut |_, line| out.push(line.to_string()));
        Ok(out)
    }

    /// Up to `count` entries older than `before` (a stream id; `None` = the newest), newest
    /// first, with their ids.
    pub fn page_before(
        &mut self,
        before: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, RedisError> {
        let key = self.layout.stream.clone();
        let end = before.map_or_else(|| "+".to_string(), |id| format!("({id}"));
        let v: Value = self.query(
            redis::cmd("XREVRANGE")
                .arg(&key)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(count),
        )?;
        let mut out = Vec::new();
        entries_of(v, &mut |id, line| {
            out.push((id.to_string(), line.to_string()));
        });
        Ok(out)
    }

    /// `(task id, root id)` of the tasks whose id starts with `prefix`, seen between two times
    /// (ms); at most `limit` distinct tasks.
    pub fn tasks_with_prefix(
        &mut self,
        prefix: &str,
        first_ms: u64,
        last_ms: u64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, RedisError> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.contains([':', '[', '(', ']']) || prefix.starts_with('~') {
            return Ok(Vec::new());
        }
        let found = self.lex_search(&[prefix], first_ms, last_ms, limit * 2)?;
        let mut kept = BTreeSet::new();
        Ok(found
            .into_iter()
            .filter(|(t, _)| kept.contains(t) || (kept.len() < limit && kept.insert(t.clone())))
            .collect())
    }

    /// `(task id, root id)` of these tasks, if first seen between two times (ms).
    pub fn roots_of(
        &mut self,
        tasks: &[String],
        first_ms: u64,
        last_ms: u64,
    ) -> Result<Vec<(String, String)>, RedisError> {
        let exact: Vec<String> = tasks.iter().map(|t| format!("{t}:")).collect();
        Ok(self
            .lex_search(&exact, first_ms, last_ms, 4)?
            .into_iter()
            .collect())
    }

    /// Members of the hourly id sets that start with any of `prefixes`, as (task, root).
    fn lex_search(
        &mut self,
        prefixes: &[String],
        first_ms: u64,
        last_ms: u64,
        limit: usize,
    ) -> Result<BTreeSet<(String, String)>, RedisError> {
        let mut queries = Vec::new();
        for h in hour_of(first_ms)..=hour_of(last_ms) {
            for p in prefixes {
                queries.push((self.layout.ids(h), p));
            }
        }
        let mut found = BTreeSet::new();
        for chunk in queries.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (key, p) in chunk {
                let (from, to) = (format!("[{p}"), format!("[{p}\u{7f}"));
                lex_range(&mut pipe, "ZRANGEBYLEX", key, &from, &to, limit);
            }
            let lists: Vec<Vec<String>> = pipe
                .query(&mut self.conn)
                .map_err(|e| self.redis.fail(&e))?;
            for member in lists.into_iter().flatten() {
                if let Some((task, root)) = member.split_once(':') {
                    found.insert((task.to_string(), root.to_string()));
                }
            }
        }
        Ok(found)
    }

    /// From when top-level sends are indexed by producer (`None`: never, an older recording).
    pub fn bursts_since(&mut self) -> Result<Option<u64>, RedisError> {
        let key = self.layout.bursts_since();
        self.query(redis::cmd("GET").arg(&key))
    }

    /// `(sent ms, task id)` of `producer`'s top-level sends with a sent time in `sent` (ms),
    /// recorded in the hours of `received`: at most `limit` on each side of `around`, the
    /// nearest first, so a busy producer costs a bounded read.
    pub fn producer_sends(
        &mut self,
        producer: &str,
        sent: (u64, u64),
        around: u64,
        received: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RedisError> {
        let head = format!("~{producer} ");
        let at = |ms: u64| format!("{head}{ms:013}");
        // Upwards from `around` (included), and downwards from just below it.
        let up = (
            "ZRANGEBYLEX",
            format!("[{}", at(around)),
            format!("[{}\u{7f}", at(sent.1)),
        );
        let down = (
            "ZREVRANGEBYLEX",
            format!("({}", at(around)),
            format!("[{}", at(sent.0)),
        );
        let mut pipe = redis::pipe();
        for h in hour_of(received.0)..=hour_of(received.1) {
            let key = self.layout.ids(h);
            for (cmd, from, to) in [&up, &down] {
                lex_range(&mut pipe, cmd, &key, from, to, limit);
            }
        }
        let lists: Vec<Vec<String>> = pipe
            .query(&mut self.conn)
            .map_err(|e| self.redis.fail(&e))?;
        let mut out: BTreeSet<(u64, String)> = BTreeSet::new();
        for member in lists.iter().flatten() {
            let Some((ms, task)) = member.strip_prefix(&head).and_then(|m| m.split_once(' '))
            else {
                continue;
            };
            if let Ok(ms) = ms.parse() {
                out.insert((ms, task.to_string()));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Every indexed entry of these workflows (by root id): `(task id, stream id)`.
    pub fn flow_entries(&mut self, roots: &[String]) -> Result<Vec<(String, String)>, RedisError> {
        let keys: Vec<String> = roots.iter().map(|r| self.layout.flow(r)).collect();
        let mut out = BTreeSet::new();
        for chunk in keys.chunks(BATCH) {
            let values: Vec<Option<String>> = self.query(redis::cmd("MGET").arg(chunk))?;
            for v in values.into_iter().flatten() {
                out.extend(v.split(',').filter_map(|e| {
                    let (task, id) = e.split_once(':')?;
                    Some((task.to_string(), id.to_string()))
                }));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The entries with these ids, in stream order (missing ones, trimmed away, are skipped).
    pub fn entries(&mut self, ids: &[String]) -> Result<Vec<String>, RedisError> {
        let mut ids: Vec<(u64, u64)> = ids.iter().filter_map(|i| parse_id(i)).collect();
        ids.sort_unstable();
        ids.dedup();
        let key = self.layout.stream.clone();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (ms, seq) in chunk {
                let id = format!("{ms}-{seq}");
                pipe.cmd("XRANGE").arg(&key).arg(&id).arg(&id);
            }
            let replies: Vec<Value> = pipe
                .query(&mut self.conn)
                .map_err(|e| self.redis.fail(&e))?;
            for v in replies {
                entries_of(v, &mut |_, line| out.push(line.to_string()));
            }
        }
        Ok(out)
    }

    /// The last event and last `worker-online` of every worker the recorder saw.
    pub fn worker_lines(&mut self) -> Result<Vec<String>, RedisError> {
        let key = self.layout.workers();
        let mut lines: Vec<(String, String)> = self.query(redis::cmd("HGETALL").arg(&key))?;
        // Online records first, so the last event applies on top of its session.
        lines.sort_by_key(|(field, _)| !field.ends_with("\0online"));
        Ok(lines.into_iter().map(|(_, v)| v).collect())
    }

    /// Gap records, oldest first.
    pub fn gap_lines(&mut self) -> Result<Vec<String>, RedisError> {
        let key = self.layout.gaps();
        let mut lines: Vec<String> = self.query(redis::cmd("LRANGE").arg(&key).arg(0).arg(-1))?;
        lines.reverse();
        Ok(lines)
    }

    /// What the running recorder said about itself, if one runs.
    pub fn recorder(&mut self) -> Result<Option<String>, RedisError> {
        let key = self.layout.recorder();
        self.query(redis::cmd("GET").arg(&key))
    }
}

/// Queues a `ZRANGEBYLEX`/`ZREVRANGEBYLEX` of at most `limit` members of an id set.
fn lex_range(pipe: &mut redis::Pipeline, cmd: &str, key: &str, from: &str, to: &str, limit: usize) {
    pipe.cmd(cmd)
        .arg(key)
        .arg(from)
        .arg(to)
        .arg("LIMIT")
        .arg(0)
        .arg(limit);
}

/// Calls `f(id, e)` for every entry of an XRANGE-shaped reply that has an `e` field.
fn entries_of(v: Value, f: &mut dyn FnMut(&str, &str)) {
    let Value::Array(entries) = v else { return };
    for entry in entries {
        let Value::Array(parts) = entry else { continue };
        let mut parts = parts.into_iter();
        let (Some(id), Some(Value::Array(fields))) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(id) = text(&id) else { continue };
        let mut fields = fields.iter();
        while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
            if text(k) == Some("e")
                && let Some(line) = text(v)
            {
                f(id, line);
            }
        }
    }
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// Entries of a range as recording lines, fetched a page at a time as they are read.
pub struct RangeReader {
    store: Store,
    next: String,
    end: String,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    progress: indicatif::ProgressBar,
}

impl RangeReader {
    /// Moves `bar` along the entries read.
    pub fn with_progress(mut self, bar: indicatif::ProgressBar) -> Self {
        self.progress = bar;
        self
    }

    fn fill(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        let key = self.store.layout.stream.clone();
        let v: Value = self
            .store
            .query(
                redis::cmd("XRANGE")
                    .arg(&key)
                    .arg(&self.next)
                    .arg(&self.end)
                    .arg("COUNT")
                    .arg(PAGE),
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut last = None;
        let mut n = 0;
        let buf = &mut self.buf;
        entries_of(v, &mut |id, line| {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            last = Some(id.to_string());
            n += 1;
        });
        if let Some(id) = &last {
            self.next = format!("({id}");
        }
        self.progress.inc(n);
        if n == 0 {
            self.done = true;
        }
        Ok(())
    }
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_strictly_even_when_the_clock_steps_back() {
        let mut c = IdClock::after(Some((1000, 4)));
        assert_eq!(c.next(900), "1000-5");
        assert_eq!(c.next(1000), "1000-6");
        assert_eq!(c.next(1001), "1001-0");
        assert_eq!(c.next(1001), "1001-1");
        assert_eq!(parse_id("1001-1"), Some((1001, 1)));
        assert_eq!(parse_id("x-1"), None);
    }

    #[test]
    fn keys_share_the_prefix() {
        let l = Layout::new("p");
        assert_eq!(l.flow("r"), "p:f:r");
        assert_eq!(l.ids(hour_of(7_200_000)), "p:ids:2");
    }
}
