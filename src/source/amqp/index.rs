//! The index `celtrace record --index` keeps beside a RabbitMQ stream queue, in a second
//! stream queue (`<queue>.index`): one message per span of the event stream's offsets,
//! naming, for every task with events in the span, the offsets of the messages that hold
//! them, its root and, for a top-level `task-sent`, its producer and send time; and for every
//! worker the offsets of its last `worker-online` and last event. `show` and `graph` read the
//! index (about a tenth of the stream's bytes) and then only the messages of one workflow,
//! instead of draining the stream. Pure: spans are built from bodies handed in, and read from
//! the index's lines.
//!
//! The index never decides what a flow contains on its own: the spans must cover every
//! offset from the stream's first on, or the query reads the stream as if there were no
//! index; what came after the last span is read whole.

use std::borrow::Cow;
use std::collections::BTreeSet;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::model::split::{LineKind, split_message};

/// The index queue of an event stream queue.
pub fn index_queue(queue: &str) -> String {
    format!("{queue}.index")
}

/// The layout written in each span (`celtrace_index`); a reader skips spans of layouts it
/// does not know, and then finds the index incomplete.
pub const LAYOUT: u32 = 1;

/// Messages of the event stream per span at most: a span of busy traffic stays well under
/// the stream protocol's one-megabyte frame.
pub const SPAN_MESSAGES: i64 = 5_000;

/// One index message: what the event stream holds from offset `from` to `to`. Strings are
/// borrowed from the message where they can be: a query reads every span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span<'a> {
    #[serde(rename = "celtrace_index")]
    pub layout: u32,
    pub from: i64,
    pub to: i64,
    #[serde(borrow, default)]
    pub tasks: Vec<TaskEntry<'a>>,
    #[serde(borrow, default)]
    pub workers: Vec<WorkerEntry<'a>>,
    /// The producers the tasks' `p` point into (a busy client sends thousands of tasks).
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub producers: Vec<Cow<'a, str>>,
}

/// A task's messages in a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry<'a> {
    #[serde(borrow, rename = "t")]
    pub id: Cow<'a, str>,
    /// Its root, when an event of the span names one (`task-sent`, `task-received`) and it
    /// is not the task itself.
    #[serde(borrow, rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Cow<'a, str>>,
    #[serde(rename = "o")]
    pub offsets: Vec<i64>,
    /// The producer of a top-level `task-sent` (`<hostname>:<pid>`, by its place in the
    /// span's `producers`), and the send in ms.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<usize>,
    #[serde(rename = "ms", default, skip_serializing_if = "Option::is_none")]
    pub sent_ms: Option<u64>,
}

/// A worker's last messages in a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerEntry<'a> {
    #[serde(borrow, rename = "w")]
    pub host: Cow<'a, str>,
    /// Its last `worker-online`, which starts the session the later events belong to.
    #[serde(rename = "on", default, skip_serializing_if = "Option::is_none")]
    pub online: Option<i64>,
    /// Its last event of any kind.
    #[serde(rename = "o")]
    pub last: i64,
}

/// Builds one span from the event stream's messages, in offset order.
pub struct SpanBuilder {
    from: i64,
    tasks: Vec<TaskEntry<'static>>,
    task_at: FxHashMap<String, usize>,
    workers: Vec<WorkerEntry<'static>>,
    worker_at: FxHashMap<String, usize>,
    producers: Vec<Cow<'static, str>>,
    producer_at: FxHashMap<String, usize>,
}

impl SpanBuilder {
    pub fn new(from: i64) -> Self {
        Self {
            from,
            tasks: Vec::new(),
            task_at: FxHashMap::default(),
            workers: Vec::new(),
            worker_at: FxHashMap::default(),
            producers: Vec::new(),
            producer_at: FxHashMap::default(),
        }
    }

    /// Files the message at `offset` under every task and worker its events name. A body
    /// that holds no event (garbage, an unknown shape) names nothing: a query never needs it.
    pub fn add(&mut self, offset: i64, body: &str) {
        for line in split_message(body, 0.0).0 {
            match line.kind {
                LineKind::Task => {
                    let Some(task) = line.task else { continue };
                    let producer = line.sent_by.as_ref().map(|sent| {
                        *self
                            .producer_at
                            .entry(sent.producer.clone())
                            .or_insert_with(|| {
                                self.producers.push(Cow::Owned(sent.producer.clone()));
                                self.producers.len() - 1
                            })
                    });
                    let at = *self.task_at.entry(task.clone()).or_insert_with(|| {
                        self.tasks.push(TaskEntry {
                            id: Cow::Owned(task.clone()),
                            root: None,
                            offsets: Vec::new(),
                            producer: None,
                            sent_ms: None,
                        });
                        self.tasks.len() - 1
                    });
                    let entry = &mut self.tasks[at];
                    if entry.offsets.last() != Some(&offset) {
                        entry.offsets.push(offset);
                    }
                    // A task that is its own root is said by no `r` at all.
                    if entry.root.is_none()
                        && let Some(root) = line.root.filter(|r| *r != task)
                    {
                        entry.root = Some(Cow::Owned(root));
                    }
                    if let Some(sent) = line.sent_by {
                        entry.producer = producer;
                        entry.sent_ms = Some(sent.ms);
                    }
                }
                LineKind::Worker => {
                    let Some(host) = line.worker else { continue };
                    let online = line.json.contains("\"worker-online\"");
                    let at = *self.worker_at.entry(host.clone()).or_insert_with(|| {
                        self.workers.push(WorkerEntry {
                            host: Cow::Owned(host),
                            online: None,
                            last: offset,
                        });
                        self.workers.len() - 1
                    });
                    let entry = &mut self.workers[at];
                    entry.last = offset;
                    if online {
                        entry.online = Some(offset);
                    }
                }
                LineKind::Kept | LineKind::Other => {}
            }
        }
    }

    /// The span, up to offset `to` (the last offset read, whatever it held).
    pub fn finish(self, to: i64) -> Span<'static> {
        Span {
            layout: LAYOUT,
            from: self.from,
            to,
            tasks: self.tasks,
            workers: self.workers,
            producers: self.producers,
        }
    }
}

/// What the index knows of one task, over every span.
#[derive(Debug, Default)]
struct Known<'a> {
    root: Option<Cow<'a, str>>,
    offsets: Vec<i64>,
    sent: Option<(Cow<'a, str>, u64)>,
}

/// The index as read back: every span merged, its strings borrowed from the spans' text.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// Runs of offsets the spans cover, merged where they follow on; in order.
    runs: Vec<(i64, i64)>,
    tasks: FxHashMap<Cow<'a, str>, Known<'a>>,
    /// host → (last online, last event).
    workers: FxHashMap<Cow<'a, str>, (Option<i64>, i64)>,
    /// Lines that were not spans of a known layout.
    pub skipped: usize,
}

impl<'a> Index<'a> {
    /// The lines of an index queue's text (one span each; a line that is not UTF-8 is
    /// handed on empty, and counted as skipped by [`Index::read`]).
    pub fn lines(text: &'a [u8]) -> impl Iterator<Item = &'a str> {
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| std::str::from_utf8(l).unwrap_or("\u{fffd}"))
    }

    /// Reads the index queue's lines, one span each.
    pub fn read(lines: impl Iterator<Item = &'a str>) -> Self {
        let mut index = Self::default();
        let mut spans: Vec<Span<'a>> = Vec::new();
        for line in lines {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Span<'a>>(line) {
                Ok(span) if span.layout == LAYOUT && span.from <= span.to => spans.push(span),
                _ => index.skipped += 1,
            }
        }
        spans.sort_by_key(|s| s.from);
        let tasks = spans.iter().map(|s| s.tasks.len()).sum();
        index.tasks.reserve(tasks);
        for span in spans {
            index.absorb(span);
        }
        index
    }

    fn absorb(&mut self, span: Span<'a>) {
        match self.runs.last_mut() {
            Some((_, to)) if span.from <= *to + 1 => *to = (*to).max(span.to),
            _ => self.runs.push((span.from, span.to)),
        }
        for task in span.tasks {
            let known = self.tasks.entry(task.id).or_default();
            if known.root.is_none() {
                known.root = task.root;
            }
            if known.offsets.is_empty() {
                known.offsets = task.offsets;
            } else {
                known.offsets.extend(task.offsets);
            }
            let producer = task.producer.and_then(|p| span.producers.get(p));
            if let (Some(p), Some(ms)) = (producer, task.sent_ms) {
                known.sent = Some((p.clone(), ms));
            }
        }
        for w in span.workers {
            let known = self.workers.entry(w.host).or_insert((None, w.last));
            known.1 = known.1.max(w.last);
            if w.online.is_some() && w.online > known.0 {
                known.0 = w.online;
            }
        }
    }

    /// The last offset indexed, if any.
    pub fn last(&self) -> Option<i64> {
        self.runs.last().map(|r| r.1)
    }

    /// How to read a stream whose offsets now run from `first` to `last` with this index:
    /// what is before its last unbroken run of spans (a span lost to retention before the
    /// stream's messages were, or a hole) and what is after it are read whole. `None` when
    /// there is nothing indexed, or more to read whole before the run than the run covers:
    /// the stream is then read as if there were no index.
    pub fn plan(&self, first: i64, last: i64) -> Option<ReadPlan> {
        let &(from, to) = self.runs.last()?;
        let indexed = (from.max(first), to.min(last));
        let indexed = (indexed.0 <= indexed.1).then_some(indexed);
        let head = (first < from).then(|| (first, (from - 1).min(last)));
        if let Some((a, b)) = head
            && b - a + 1 > indexed.map_or(0, |(a, b)| b - a + 1)
        {
            return None;
        }
        let tail_from = (to + 1).max(first);
        Some(ReadPlan {
            head,
            indexed,
            tail: (tail_from <= last).then_some((tail_from, last)),
        })
    }

    /// `(task, root)` of the tasks the typed id or prefix names, up to `most`.
    pub fn candidates(&self, typed: &str, most: usize) -> Vec<(String, String)> {
        let typed = typed.trim();
        if let Some((id, known)) = self.tasks.get_key_value(typed) {
            return vec![(typed.to_string(), self.root_of(id, known).to_string())];
        }
        let lower = typed.to_ascii_lowercase();
        let mut found: Vec<(String, String)> = self
            .tasks
            .iter()
            .filter(|(id, _)| id.starts_with(typed) || id.starts_with(&lower))
            .take(most)
            .map(|(id, known)| (id.to_string(), self.root_of(id, known).to_string()))
            .collect();
        found.sort();
        found
    }

    fn root_of<'s>(&'s self, id: &'s str, known: &'s Known<'a>) -> &'s str {
        known.root.as_deref().unwrap_or(id)
    }

    /// The top-level tasks its producer sent in the same burst as `root` (its group
    /// siblings when a client sent a group), as the Redis index finds them.
    pub fn burst_roots(&self, root: &str) -> Vec<String> {
        let Some((producer, ms)) = self.tasks.get(root).and_then(|k| k.sent.as_ref()) else {
            return Vec::new();
        };
        let reach = super::super::recorded::BURST_READ_MS;
        let mut sends: Vec<(u64, String)> = self
            .tasks
            .iter()
            .filter_map(|(id, k)| {
                let (p, at) = k.sent.as_ref()?;
                let top_level = self.root_of(id, k) == id.as_ref();
                (p == producer && top_level && at.abs_diff(*ms) <= reach)
                    .then(|| (*at, id.to_string()))
            })
            .collect();
        sends.sort();
        super::super::recorded::burst_around(&sends, (*ms, root))
    }

    /// The offsets of every message of the tasks under these roots (the roots included).
    pub fn flow_offsets(&self, roots: &[String]) -> BTreeSet<i64> {
        let roots: BTreeSet<&str> = roots.iter().map(String::as_str).collect();
        self.tasks
            .iter()
            .filter(|(id, k)| roots.contains(self.root_of(id, k)) || roots.contains(id.as_ref()))
            .flat_map(|(_, k)| k.offsets.iter().copied())
            .collect()
    }

    /// The offsets of these tasks' own messages.
    pub fn task_offsets(&self, tasks: &[String]) -> BTreeSet<i64> {
        tasks
            .iter()
            .filter_map(|t| self.tasks.get(t.as_str()))
            .flat_map(|k| k.offsets.iter().copied())
            .collect()
    }

    /// Each worker's last `worker-online` and last event: liveness as a full read sees it.
    pub fn worker_offsets(&self) -> BTreeSet<i64> {
        self.workers
            .values()
            .flat_map(|(online, last)| online.iter().copied().chain([*last]))
            .collect()
    }

    /// How many tasks the index knows.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }
}

/// What a query reads whole (`head`, `tail`) and through the index (`indexed`), as runs of
/// offsets `(first, last)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    pub head: Option<(i64, i64)>,
    pub indexed: Option<(i64, i64)>,
    pub tail: Option<(i64, i64)>,
}

/// Offsets grouped into runs to read, each `(first, last)`: offsets at most `gap` apart
/// share a read (one subscription), what lies between them is read and left out.
pub fn read_runs(offsets: &BTreeSet<i64>, gap: i64) -> Vec<(i64, i64)> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &o in offsets {
        match runs.last_mut() {
            Some((_, last)) if o - *last <= gap => *last = o,
            _ => runs.push((o, o)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sent(id: &str, root: &str, parent: Option<&str>, ts: f64) -> String {
        let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
        format!(
            r#"{{"type":"task-sent","uuid":"{id}","root_id":"{root}","parent_id":{parent},"name":"t","hostname":"gen@client","pid":42,"timestamp":{ts}}}"#
        )
    }

    fn event(kind: &str, id: &str, ts: f64) -> String {
        format!(r#"{{"type":"task-{kind}","uuid":"{id}","hostname":"celery@w1","timestamp":{ts}}}"#)
    }

    fn worker(kind: &str, ts: f64) -> String {
        format!(r#"{{"type":"worker-{kind}","hostname":"celery@w1","timestamp":{ts}}}"#)
    }

    /// A chain root → mid, and two roots sent in one burst (a group from a client), plus a
    /// task sent a minute later by the same producer.
    fn spans() -> Vec<Span<'static>> {
        let mut a = SpanBuilder::new(0);
        a.add(0, &worker("online", 1.0));
        a.add(1, &sent("aaaa-root", "aaaa-root", None, 10.0));
        a.add(2, &sent("bbbb-mate", "bbbb-mate", None, 10.01));
        a.add(
            3,
            &format!(
                "[{}, {}]",
                event("started", "aaaa-root", 10.5),
                worker("heartbeat", 10.6)
            ),
        );
        a.add(4, "not json at all");
        let mut b = SpanBuilder::new(5);
        b.add(5, &sent("cccc-mid", "aaaa-root", Some("aaaa-root"), 11.0));
        b.add(6, &event("succeeded", "aaaa-root", 11.1));
        b.add(7, &event("succeeded", "cccc-mid", 12.0));
        b.add(8, &sent("dddd-later", "dddd-later", None, 70.0));
        b.add(9, &worker("heartbeat", 71.0));
        vec![a.finish(4), b.finish(9)]
    }

    /// The index of these spans as a query reads it back (the text outlives the test).
    fn index_of(spans: &[Span<'_>]) -> Index<'static> {
        let text: String = spans
            .iter()
            .map(|s| serde_json::to_string(s).unwrap() + "\n")
            .collect();
        let text: &'static str = Box::leak(text.into_boxed_str());
        Index::read(Index::lines(text.as_bytes()))
    }

    #[test]
    fn a_span_files_each_message_under_the_tasks_and_workers_it_names() {
        let [a, b] = <[Span<'_>; 2]>::try_from(spans()).unwrap();
        assert_eq!((a.from, a.to, b.from, b.to), (0, 4, 5, 9));
        let root = a.tasks.iter().find(|t| t.id == "aaaa-root").unwrap();
        assert_eq!(root.offsets, vec![1, 3]);
        assert_eq!(root.root, None, "its own root: no `r`");
        assert_eq!(root.producer, Some(0));
        assert_eq!(a.producers, vec!["gen@client:42"]);
        assert_eq!(root.sent_ms, Some(10_000));
        let mate = a.tasks.iter().find(|t| t.id == "bbbb-mate").unwrap();
        assert_eq!(mate.producer, Some(0), "one producer, written once");
        assert_eq!(
            a.workers,
            vec![WorkerEntry {
                host: "celery@w1".into(),
                online: Some(0),
                last: 3
            }]
        );
        let mid = b.tasks.iter().find(|t| t.id == "cccc-mid").unwrap();
        assert_eq!(
            (mid.root.as_deref(), mid.producer),
            (Some("aaaa-root"), None)
        );
        assert_eq!(mid.offsets, vec![5, 7]);
    }

    #[test]
    fn a_flow_is_its_roots_tasks_and_the_burst_its_root_was_sent_in() {
        let index = index_of(&spans());
        assert_eq!(index.task_count(), 4);
        assert_eq!(
            index.candidates("cccc", 5),
            vec![("cccc-mid".to_string(), "aaaa-root".to_string())]
        );
        assert_eq!(index.candidates("CCCC", 5).len(), 1, "typed in upper case");
        assert!(index.candidates("eeee", 5).is_empty());
        let mut burst = index.burst_roots("aaaa-root");
        burst.sort();
        assert_eq!(burst, vec!["aaaa-root", "bbbb-mate"]);
        assert!(
            index.burst_roots("dddd-later").is_empty(),
            "a send of its own"
        );
        assert!(index.burst_roots("cccc-mid").is_empty(), "not top-level");
        let flow = index.flow_offsets(&["aaaa-root".to_string()]);
        assert_eq!(flow.into_iter().collect::<Vec<_>>(), vec![1, 3, 5, 6, 7]);
        assert_eq!(
            index.worker_offsets().into_iter().collect::<Vec<_>>(),
            vec![0, 9]
        );
    }

    #[test]
    fn what_the_spans_do_not_cover_is_read_whole() {
        let all = spans();
        let plan = |index: &Index<'_>, first, last| index.plan(first, last);
        let whole = |head, indexed, tail| {
            Some(ReadPlan {
                head,
                indexed,
                tail,
            })
        };
        let index = index_of(&all);
        assert_eq!(plan(&index, 0, 9), whole(None, Some((0, 9)), None));
        assert_eq!(
            plan(&index, 0, 12),
            whole(None, Some((0, 9)), Some((10, 12))),
            "newer than the last span"
        );
        assert_eq!(
            plan(&index, 7, 12),
            whole(None, Some((7, 9)), Some((10, 12))),
            "older messages gone"
        );
        assert_eq!(
            plan(&index, 15, 20),
            whole(None, None, Some((15, 20))),
            "everything indexed is gone"
        );
        let late = index_of(&all[1..]);
        assert_eq!(
            plan(&late, 0, 9),
            whole(Some((0, 4)), Some((5, 9)), None),
            "offsets 0-4 in no span: read whole"
        );
        assert_eq!(
            plan(&late, 0, 20),
            whole(Some((0, 4)), Some((5, 9)), Some((10, 20))),
            "both ends"
        );
        let holed = index_of(&[
            all[0].clone(),
            Span {
                from: 7,
                ..all[1].clone()
            },
        ]);
        assert_eq!(
            plan(&holed, 5, 9),
            whole(Some((5, 6)), Some((7, 9)), None),
            "a hole: read whole from the stream's first to the last run"
        );
        assert_eq!(plan(&holed, 3, 9), None, "4 to read whole, 3 indexed");
        assert_eq!(plan(&Index::default(), 0, 9), None);
        assert_eq!(index.last(), Some(9));
    }

    #[test]
    fn lines_that_are_not_spans_are_skipped_and_counted() {
        let good = serde_json::to_string(&spans()[0]).unwrap();
        let future = good.replace("\"celtrace_index\":1", "\"celtrace_index\":9");
        let index = Index::read([good.as_str(), "{}", "", "garbage", future.as_str()].into_iter());
        assert_eq!(index.skipped, 3);
        assert_eq!(index.last(), Some(4));
    }

    #[test]
    fn offsets_close_together_share_a_read() {
        let offsets: BTreeSet<i64> = [1, 2, 5, 100, 101, 400].into_iter().collect();
        assert_eq!(
            read_runs(&offsets, 10),
            vec![(1, 5), (100, 101), (400, 400)]
        );
        assert_eq!(
            read_runs(&offsets, 0),
            vec![(1, 1), (2, 2), (5, 5), (100, 100), (101, 101), (400, 400)]
        );
        assert!(read_runs(&BTreeSet::new(), 10).is_empty());
    }

    proptest! {
        /// However a stream is cut into spans, the index finds the same offsets for every
        /// task: a span boundary never loses or moves a message.
        #[test]
        fn cutting_the_stream_anywhere_finds_the_same_offsets(
            tasks in prop::collection::vec((0usize..6, 0usize..3), 1..60),
            cuts in prop::collection::btree_set(1usize..60, 0..6),
        ) {
            let ids = ["a1", "b2", "c3", "d4", "e5", "f6"];
            let bodies: Vec<String> = tasks
                .iter()
                .enumerate()
                .map(|(i, &(t, k))| match k {
                    0 => sent(ids[t], ids[0], Some(ids[0]), i as f64),
                    1 => event("started", ids[t], i as f64),
                    _ => format!("[{}, {}]", event("succeeded", ids[t], i as f64), worker("heartbeat", i as f64)),
                })
                .collect();
            let build = |cuts: &BTreeSet<usize>| {
                let mut spans = Vec::new();
                let mut builder = SpanBuilder::new(0);
                for (i, body) in bodies.iter().enumerate() {
                    if cuts.contains(&i) {
                        spans.push(std::mem::replace(&mut builder, SpanBuilder::new(i as i64)).finish(i as i64 - 1));
                    }
                    builder.add(i as i64, body);
                }
                spans.push(builder.finish(bodies.len() as i64 - 1));
                index_of(&spans)
            };
            let whole = build(&BTreeSet::new());
            let cut = build(&cuts);
            prop_assert_eq!(cut.plan(0, 80), whole.plan(0, 80));
            prop_assert_eq!(cut.last(), whole.last());
            for id in ids {
                prop_assert_eq!(cut.task_offsets(&[id.to_string()]), whole.task_offsets(&[id.to_string()]));
                prop_assert_eq!(cut.candidates(id, 5), whole.candidates(id, 5));
            }
            prop_assert_eq!(cut.worker_offsets(), whole.worker_offsets());
            prop_assert_eq!(cut.flow_offsets(&[ids[0].to_string()]), whole.flow_offsets(&[ids[0].to_string()]));
        }
    }
}
