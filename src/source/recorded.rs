//! Queries over a recorded Redis Stream: a time range read in pages, or one task's workflow
//! found through the index, folded into a [`State`] by the same decoders a file goes through.
//! Also the gaps a query's range overlaps.

use std::io::Cursor;

use serde::Deserialize;

use super::file::{LineFilter, LoadReport, load_reader_into};
use super::record::RecordError;
use super::redis::{Redis, RedisError};
use super::stream::{Bounds, Store};
use crate::model::id::MIN_PREFIX;
use crate::state::State;

/// Ids listed when a prefix is ambiguous (the answer is "type more", not the whole list).
pub(crate) const CANDIDATES: usize = 20;
/// Tasks whose earlier events a range read completes through the index.
const COMPLETE_AT_MOST: usize = 20_000;
/// Top-level tasks sent this close to a flow's root may be its group siblings (graph infers
/// groups from bursts within 50 ms).
const SIBLING_WINDOW_MS: u64 = 100;
/// Entries read around a root to find such siblings.
const SIBLING_ENTRIES: usize = 5_000;
/// How far from a root's send its producer's sends are read: past the longest burst the
/// graph accepts, so every send of a burst is read and a longer chain is seen as steady.
pub(crate) const BURST_READ_MS: u64 = (crate::graph::BURST_MAX_SECS * 1000.0) as u64 + 100;
/// Sends are filed under the hour they were received: this much later than sent, at most.
const RECEIVE_SLACK_MS: u64 = 60_000;
/// With `--at`, worker events are read from this long before it (five heartbeats of Celery's
/// default two seconds), at most this many entries.
const WORKERS_BEFORE_MS: u64 = 10_000;
const WORKER_ENTRIES: usize = 50_000;

pub struct Recorded {
    store: Store,
    pub bounds: Bounds,
    /// How the states this read builds scrub their events.
    pub scrub: std::sync::Arc<crate::scrub::Policy>,
    /// `--at`: nothing after this epoch second is read or kept.
    pub cutoff: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl Recorded {
    /// Opens the stream; `Ok(None)` when it does not exist or is empty.
    pub fn open(redis: Redis, key: &str) -> Result<Option<Self>, RedisError> {
        let mut store = Store::open(redis, key)?;
        Ok(store.bounds()?.map(|bounds| Self {
            store,
            bounds,
            scrub: std::sync::Arc::default(),
            cutoff: None,
        }))
    }

    pub fn label(&self) -> String {
        self.store.label()
    }

    /// Every entry between two times (epoch seconds), then the earlier events of tasks the
    /// range caught half-way (their `task-sent`/`task-received` name them).
    pub fn load_range(
        mut self,
        since: Option<f64>,
        until: Option<f64>,
        filter: Option<&LineFilter>,
        progress: &indicatif::ProgressBar,
    ) -> Result<(State, LoadReport), LoadError> {
        let label = self.label();
        let mut state = State::scrubbed_by(self.scrub.clone()).with_cutoff(self.cutoff);
        let workers = self.store.worker_lines()?;
        let ms = |t: f64| (t.max(0.0) * 1000.0) as u64;
        let reader_store = Store::open(self.store.redis.clone(), &self.store.layout.stream)?;
        progress.set_length(self.bounds.len);
        let reader = reader_store
            .range(since.map(ms), until.map(ms))
            .with_progress(progress.clone());
        let mut report = load_reader_into(Box::new(reader), &label, &mut state, filter)?;
        if let Some(since) = since {
            // Tasks the range caught half-way: their earlier events, through the index of the
            // hour before the range began.
            let partial: Vec<String> = state
                .tasks()
                .filter(|t| t.name().is_none())
                .take(COMPLETE_AT_MOST)
                .map(|t| t.id.to_string())
                .collect();
            if !partial.is_empty() {
                let from = ms(since).saturating_sub(3_600_000);
                let roots = self.store.roots_of(&partial, from, ms(since))?;
                let wanted: std::collections::HashSet<&str> =
                    partial.iter().map(String::as_str).collect();
                let flows: Vec<String> = roots.into_iter().map(|(_, r)| r).collect();
                let ids: Vec<String> = self
                    .store
                    .flow_entries(&flows)?
                    .into_iter()
                    .filter(|(task, _)| wanted.contains(task.as_str()))
                    .map(|(_, id)| id)
                    .collect();
                let lines = self.store.entries(&ids)?;
                let more = load_lines(&lines, &label, &mut state)?;
                report.events += more.events;
                report.filtered += more.entries;
            }
        }
        // Worker state as last recorded, for liveness when the range ends before now.
        if until.is_none() {
            load_lines(&workers, &label, &mut state)?;
        }
        Ok((state, report))
    }

    /// The workflow of the task `typed` names (full id or prefix): every event of every task
    /// with its root, group siblings sent in the same burst, and the workers' last events.
    /// An ambiguous prefix loads just the candidates, so the answer can list them.
    pub fn load_flow(mut self, typed: &str) -> Result<(State, LoadReport), LoadError> {
        let label = self.label();
        let mut state = State::scrubbed_by(self.scrub.clone()).with_cutoff(self.cutoff);
        let typed = typed.trim();
        let mut report = LoadReport {
            source: label.clone(),
            ..LoadReport::default()
        };
        if typed.chars().count() < MIN_PREFIX {
            return Ok((state, report));
        }
        let last_ms = self
            .bounds
            .last
            .0
            .max(crate::clock::wall_secs() as u64 * 1000);
        let found =
            self.store
                .tasks_with_prefix(typed, self.bounds.first_ms, last_ms, CANDIDATES + 1)?;
        let candidates: std::collections::BTreeSet<&str> =
            found.iter().map(|(t, _)| t.as_str()).collect();
        let mut roots: Vec<String> = found.iter().map(|(_, r)| r.clone()).collect();
        let mut lines = match self.cutoff {
            None => self.store.worker_lines()?,
            // The workers as they were then: their events of the last heartbeats before it.
            Some(at) => {
                let at_ms = (at.max(0.0) * 1000.0) as u64;
                self.store
                    .range_lines(
                        at_ms.saturating_sub(WORKERS_BEFORE_MS),
                        at_ms,
                        WORKER_ENTRIES,
                    )?
                    .into_iter()
                    .filter(|l| l.contains("\"worker-"))
                    .collect()
            }
        };
        let ids: Vec<String> = if candidates.len() == 1 {
            // The whole workflow, and the top-level tasks sent in the same burst as its root
            // (members of a group sent from a client are each a root of their own).
            let flows = self.store.flow_entries(&roots)?;
            let indexed_from = self.store.bursts_since()?;
            for root in roots.clone() {
                let own: Vec<&String> = flows
                    .iter()
                    .filter(|(t, _)| *t == root)
                    .map(|(_, id)| id)
                    .collect();
                let first = own
                    .iter()
                    .filter_map(|id| super::stream::parse_id(id))
                    .min();
                let Some(first) = first else { continue };
                if indexed_from.is_some_and(|from| first.0 >= from) {
                    let own: Vec<String> = own.into_iter().cloned().collect();
                    roots.extend(self.burst_roots(&root, &own, first.0)?);
                } else {
                    roots.extend(self.sibling_roots(first.0)?);
                }
            }
            roots.sort();
            roots.dedup();
            self.store
                .flow_entries(&roots)?
                .into_iter()
                .map(|(_, id)| id)
                .collect()
        } else {
            // Not found, or ambiguous: the candidates alone, so the answer can describe them.
            self.store
                .flow_entries(&roots)?
                .into_iter()
                .filter(|(t, _)| candidates.contains(t.as_str()))
                .map(|(_, id)| id)
                .collect()
        };
        // Nothing recorded after `--at` (and its slack) is read: entry ids are receive times.
        let cutoff_ms = self
            .cutoff
            .map(|t| ((t + super::history::AT_SLACK).max(0.0) * 1000.0) as u64);
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| {
                cutoff_ms.is_none_or(|c| super::stream::parse_id(id).is_some_and(|(ms, _)| ms <= c))
            })
            .collect();
        lines.extend(self.store.entries(&ids)?);
        let more = load_lines(&lines, &label, &mut state)?;
        report.entries = more.entries;
        report.events = more.events;
        report.issue_counts = more.issue_counts;
        report.issues = more.issues;
        Ok((state, report))
    }

    /// The top-level tasks its producer sent in the same burst as `root` (whose entries are
    /// `own`, the first at `first_ms`), through the producer index: every send that could
    /// chain to it, and none when the index shows a steady stream, which the graph never
    /// reads as a group. The graph then finds the exact burst among them.
    fn burst_roots(
        &mut self,
        root: &str,
        own: &[String],
        first_ms: u64,
    ) -> Result<Vec<String>, LoadError> {
        let sent = self
            .store
            .entries(own)?
            .iter()
            .flat_map(|line| crate::model::split::split_message(line, 0.0).0)
            .find_map(|l| l.sent_by);
        // Sent without a `task-sent` event (Celery's default): no producer, no burst.
        let Some(sent) = sent else {
            return Ok(Vec::new());
        };
        let reach = BURST_READ_MS;
        let sends = self.store.producer_sends(
            &sent.producer,
            (sent.ms.saturating_sub(reach), sent.ms + reach),
            sent.ms,
            (
                first_ms.saturating_sub(reach + RECEIVE_SLACK_MS),
                first_ms + reach + RECEIVE_SLACK_MS,
            ),
            crate::graph::BURST_MAX + 1,
        )?;
        Ok(burst_around(&sends, (sent.ms, root)))
    }

    /// Top-level tasks sent within [`SIBLING_WINDOW_MS`] of a root's first event (at `ms`):
    /// how siblings are found in streams recorded before the producer index.
    fn sibling_roots(&mut self, ms: u64) -> Result<Vec<String>, LoadError> {
        let lines = self.store.range_lines(
            ms.saturating_sub(SIBLING_WINDOW_MS),
            ms + SIBLING_WINDOW_MS,
            SIBLING_ENTRIES,
        )?;
        #[derive(Deserialize)]
        struct Sent<'a> {
            #[serde(rename = "type")]
            type_name: &'a str,
            uuid: Option<&'a str>,
            parent_id: Option<&'a str>,
        }
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Sent<'_>>(l).ok())
            .filter(|s| s.type_name == "task-sent" && s.parent_id.is_none())
            .filter_map(|s| s.uuid.map(str::to_string))
            .collect())
    }

    /// Every entry between two times as recording lines, read a page at a time.
    pub fn reader(
        self,
        since: Option<f64>,
        until: Option<f64>,
        progress: &indicatif::ProgressBar,
    ) -> super::stream::RangeReader {
        let ms = |t: f64| (t.max(0.0) * 1000.0) as u64;
        progress.set_length(self.bounds.len);
        self.store
            .range(since.map(ms), until.map(ms))
            .with_progress(progress.clone())
    }

    /// The newest entries, oldest first, read back a page at a time until `enough` says so
    /// (given everything read so far) or `most` entries were read.
    pub fn newest_lines(
        mut self,
        most: usize,
        enough: &mut dyn FnMut(&[String]) -> bool,
    ) -> Result<Vec<String>, RedisError> {
        let mut lines: Vec<String> = Vec::new();
        let mut before: Option<String> = None;
        // `enough` reads everything again, so it is asked at doubling sizes only.
        let mut next_check = 0;
        while lines.len() < most {
            let page = self.store.page_before(before.as_deref(), 1000)?;
            let Some((oldest, _)) = page.last() else {
                break;
            };
            before = Some(oldest.clone());
            let mut older: Vec<String> = page.into_iter().rev().map(|(_, l)| l).collect();
            older.append(&mut lines);
            lines = older;
            if lines.len() >= next_check {
                if enough(&lines) {
                    break;
                }
                next_check = lines.len() * 2;
            }
        }
        Ok(lines)
    }

    /// Gap records and whether a recorder runs now.
    pub fn gaps(&mut self) -> Result<(Vec<String>, bool), RedisError> {
        let lines = self.store.gap_lines()?;
        let running = self.store.recorder()?.is_some();
        Ok((lines, running))
    }
}

/// From one producer's top-level sends `(sent ms, task)` in time order, those that may be in
/// the burst of `root` (sent at `root.0`). Times are whole milliseconds, so the graph's 50 ms
/// chain is bracketed: chained by ≤ 49 ms gaps is surely in the burst, and if that alone is
/// a steady stream (longer or larger than the graph accepts), nothing is; otherwise every
/// send chained by ≤ 51 ms gaps is returned, a superset from which the graph picks the same
/// burst it would pick from the whole recording.
pub fn burst_around(sends: &[(u64, String)], root: (u64, &str)) -> Vec<String> {
    let Some(at) = sends
        .iter()
        .position(|(ms, t)| *ms == root.0 && t == root.1)
    else {
        return Vec::new();
    };
    let chain = |gap: u64| {
        let (mut lo, mut hi) = (at, at);
        while lo > 0 && sends[lo].0 - sends[lo - 1].0 <= gap {
            lo -= 1;
        }
        while hi + 1 < sends.len() && sends[hi + 1].0 - sends[hi].0 <= gap {
            hi += 1;
        }
        (lo, hi)
    };
    let burst_ms = (crate::graph::BURST_SECS * 1000.0) as u64;
    let (lo, hi) = chain(burst_ms - 1);
    let longest_ms = (crate::graph::BURST_MAX_SECS * 1000.0) as u64;
    if hi - lo + 1 > crate::graph::BURST_MAX || sends[hi].0 - sends[lo].0 > longest_ms + 1 {
        return Vec::new();
    }
    let (lo, hi) = chain(burst_ms + 1);
    if lo == hi {
        return Vec::new();
    }
    sends[lo..=hi].iter().map(|(_, t)| t.clone()).collect()
}

fn load_lines(lines: &[String], label: &str, state: &mut State) -> Result<LoadReport, LoadError> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    Ok(load_reader_into(
        Box::new(Cursor::new(text.into_bytes())),
        label,
        state,
        None,
    )?)
}

/// A stretch of time the recording misses.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub reason: String,
    /// Start (epoch seconds); `None` = before the recording began.
    pub from: Option<f64>,
    /// End; `None` = still open (no recorder since).
    pub to: Option<f64>,
    /// How many received events it misses, when the recorder counted them (`lagged` drops,
    /// `unwritten` at a stop); `None` when nobody could count (nothing was received).
    pub events: Option<u64>,
    /// Why, in the recorder's words, when it said.
    pub cause: Option<String>,
}

#[derive(Deserialize)]
struct GapRecord {
    reason: Option<String>,
    from: Option<f64>,
    to: Option<f64>,
    events: Option<u64>,
    cause: Option<String>,
}

/// The gaps that overlap `[since, until]`, from the recorder's gap records (oldest first),
/// `running` (whether a recorder holds the lock now) and the newest entry's time.
/// A stop followed by a start is one gap (the start's); a fresh stream's first start is the
/// beginning of the recording, not a gap.
pub fn overlapping_gaps(
    records: &[String],
    running: bool,
    newest: f64,
    since: Option<f64>,
    until: Option<f64>,
) -> Vec<Gap> {
    let parsed: Vec<GapRecord> = records
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect();
    let mut gaps = Vec::new();
    for (i, g) in parsed.iter().enumerate() {
        let reason = g.reason.clone().unwrap_or_else(|| "unknown".to_string());
        let gap = match reason.as_str() {
            "start" if g.from.is_none() => continue,
            // A later start (or a running recorder) closes it; the start's gap covers it.
            "stop" if i + 1 < parsed.len() || running => continue,
            "stop" => Gap {
                reason,
                from: g.from,
                to: None,
                events: None,
                cause: None,
            },
            _ => Gap {
                reason,
                from: g.from,
                to: g.to,
                events: g.events,
                cause: g.cause.clone(),
            },
        };
        gaps.push(gap);
    }
    let last_is_stop = parsed
        .last()
        .is_some_and(|g| g.reason.as_deref() == Some("stop"));
    if !running && !last_is_stop && !parsed.is_empty() {
        // The recorder died without a word (its lock expired): nothing is recorded since.
        gaps.push(Gap {
            reason: "recorder not running".to_string(),
            from: Some(newest),
            to: None,
            events: None,
            cause: None,
        });
    }
    let lo = since.unwrap_or(f64::NEG_INFINITY);
    let hi = until.unwrap_or(f64::INFINITY);
    gaps.retain(|g| {
        g.from.unwrap_or(f64::NEG_INFINITY) <= hi && g.to.unwrap_or(f64::INFINITY) >= lo
    });
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(reason: &str, from: Option<f64>, to: Option<f64>) -> String {
        serde_json::json!({"type": "celtrace.gap", "reason": reason, "from": from, "to": to})
            .to_string()
    }

    fn sends(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(ms, t)| (*ms, t.to_string())).collect()
    }

    #[test]
    fn a_burst_is_read_with_its_doubtful_edges_and_alone_is_nothing() {
        let s = sends(&[
            (1_000, "far"),
            (2_000, "a"),
            (2_030, "root"),
            (2_081, "edge"),
            (2_200, "next"),
        ]);
        // 2_081 - 2_030 = 51 ms in whole ms may be under 50 ms in seconds: read it.
        assert_eq!(burst_around(&s, (2_030, "root")), ["a", "root", "edge"]);
        assert!(burst_around(&s, (2_200, "next")).is_empty());
        assert!(burst_around(&s, (1_000, "far")).is_empty());
        // A send the index does not hold: nothing to chain from.
        assert!(burst_around(&s, (2_030, "other")).is_empty());
    }

    #[test]
    fn a_steady_stream_is_no_burst_but_a_doubtful_one_is_read() {
        // Every 40 ms for 3 s: surely chained, longer than any burst.
        let steady: Vec<(u64, String)> = (0..76).map(|i| (i * 40, format!("t{i}"))).collect();
        assert!(burst_around(&steady, (1_200, "t30")).is_empty());
        // Every 50 ms in whole ms: chained only if the seconds say so; the graph decides.
        let doubtful: Vec<(u64, String)> = (0..61).map(|i| (i * 50, format!("t{i}"))).collect();
        assert_eq!(burst_around(&doubtful, (1_500, "t30")).len(), 61);
    }

    #[test]
    fn a_fresh_start_is_no_gap_and_a_restart_is_one() {
        let records = [
            rec("start", None, Some(100.0)),
            rec("stop", Some(200.0), None),
            rec("start", Some(199.0), Some(300.0)),
        ];
        let gaps = overlapping_gaps(&records, true, 400.0, None, None);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].reason, "start");
        assert_eq!((gaps[0].from, gaps[0].to), (Some(199.0), Some(300.0)));
        // A query that ends before the restart does not overlap it.
        assert!(overlapping_gaps(&records, true, 400.0, None, Some(150.0)).is_empty());
        assert_eq!(
            overlapping_gaps(&records, true, 400.0, Some(250.0), None).len(),
            1
        );
    }

    #[test]
    fn a_stopped_or_dead_recorder_leaves_an_open_gap() {
        let stopped = [rec("start", None, Some(1.0)), rec("stop", Some(50.0), None)];
        let gaps = overlapping_gaps(&stopped, false, 50.0, Some(40.0), None);
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].from, gaps[0].to), (Some(50.0), None));
        let died = [rec("start", None, Some(1.0))];
        let gaps = overlapping_gaps(&died, false, 70.0, None, None);
        assert_eq!(gaps[0].reason, "recorder not running");
        assert_eq!(gaps[0].from, Some(70.0));
        assert!(overlapping_gaps(&died, true, 70.0, None, None).is_empty());
    }

    #[test]
    fn counted_gaps_keep_their_count_and_cause() {
        let line = crate::model::split::counted_gap_line(
            crate::model::split::GapReason::Unwritten,
            (5.0, 6.0),
            7.0,
            12,
            "stopped while Redis refused writes",
        );
        let gaps = overlapping_gaps(&[line], true, 10.0, None, None);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].reason, "unwritten");
        assert_eq!(gaps[0].events, Some(12));
        assert_eq!(
            gaps[0].cause.as_deref(),
            Some("stopped while Redis refused writes")
        );
    }

    #[test]
    fn reconnects_are_closed_gaps() {
        let records = [
            rec("start", None, Some(1.0)),
            rec("reconnect", Some(10.0), Some(12.0)),
        ];
        assert_eq!(
            overlapping_gaps(&records, true, 20.0, Some(11.0), Some(11.5)).len(),
            1
        );
        assert!(overlapping_gaps(&records, true, 20.0, Some(13.0), None).is_empty());
        assert!(overlapping_gaps(&["garbage".to_string()], true, 1.0, None, None).is_empty());
    }
}
