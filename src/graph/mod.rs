//! Flow reconstruction: from any task, the whole workflow it belongs to, as a graph of tasks
//! and GROUP/CHORD nodes, with its critical path. Pure: no I/O, no clock.
//!
//! What can be known (docs/protocol.md §3.4, §4): events link tasks only by `root_id` and
//! `parent_id`, so chains, `.delay()` children and retries are exact, and a flow is its
//! root's tasks. Group and chord ids are only in the result backend ([`backend::Backend`]).
//! Without them, one structure is still proven by the events, a chord's signature
//! ([`chord_callback`]), and drawn as a labelled inference. A burst of siblings without it
//! cannot be told from separate `.delay()` calls: it is drawn as a group only when asked
//! ([`Options::guess_groups`]), labelled as a guess.

pub mod backend;
pub mod diff;

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{TaskId, TaskState};
use crate::state::State;
use crate::state::task::{MarkKind, TaskRecord};
use crate::state::view::TaskView;
use backend::Backend;

/// Siblings sent by one producer within this many seconds of each other may be a group.
pub const BURST_SECS: f64 = 0.05;
/// A burst longer than this, or larger than [`BURST_MAX`], is a producer's steady stream of
/// calls, not one group: nothing can be read from it.
pub const BURST_MAX_SECS: f64 = 2.0;
pub const BURST_MAX: usize = 10_000;

/// What `build` may assume beyond the evidence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--guess-groups`: draw bursts of siblings as groups (labelled guesses), and join
    /// top-level tasks sent together with the root into its flow.
    pub guess_groups: bool,
}

/// How a group or chord node is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Result-backend records name the group.
    Backend,
    /// The events carry a chord's signature (a header sent together, one callback sent by
    /// the member that finished last, at its end).
    Signature,
    /// Siblings sent close together (`--guess-groups`): maybe a group, maybe `.delay()` calls.
    Guess,
}

impl Evidence {
    /// The word JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Signature => "signature",
            Self::Guess => "guess",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    Task,
    Group,
    Chord,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Group => "group",
            Self::Chord => "chord",
        }
    }
}

/// The state of a group or chord, from its header members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Some member has not finished.
    Running,
    Success,
    Failure,
    /// Finished, some succeeded and some did not.
    Partial,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Partial => "PARTIAL",
        }
    }
}

/// A container's state and why: how many members ended in each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub succeeded: usize,
    pub failed: usize,
    pub revoked: usize,
    /// Running when their worker died: they will never finish.
    pub interrupted: usize,
    pub open: usize,
}

impl Tally {
    fn of<'a>(views: impl Iterator<Item = &'a TaskView<'a>>) -> Self {
        let mut t = Self::default();
        for v in views {
            match v.state {
                TaskState::Success => t.succeeded += 1,
                TaskState::Revoked => t.revoked += 1,
                s if s.is_ready() => t.failed += 1,
                _ if v.lost.is_some() => t.interrupted += 1,
                _ => t.open += 1,
            }
        }
        t
    }

    /// A container ends once every member succeeded, failed, was revoked or lost its worker.
    pub fn aggregate(&self) -> Aggregate {
        let bad = self.failed + self.revoked + self.interrupted;
        match (self.succeeded, bad, self.open) {
            (_, _, 1..) => Aggregate::Running,
            (_, 0, 0) => Aggregate::Success,
            (0, _, 0) => Aggregate::Failure,
            _ => Aggregate::Partial,
        }
    }

    /// Why it is not a plain success: `1 failed, 1 interrupted`.
    pub fn reason(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.failed, "failed"),
            (self.revoked, "revoked"),
            (self.interrupted, "interrupted"),
            (self.open, "not finished"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[derive(Debug, Clone)]
pub struct FlowNode<'s> {
    pub kind: NodeKind,
    /// Task id; for a group or chord its group id, or `inferred-<first member id>`.
    pub id: String,
    pub view: Option<TaskView<'s>>,
    /// Not from the backend: a chord signature or a guess (see `evidence`).
    pub inferred: bool,
    /// Groups and chords: how they are known.
    pub evidence: Option<Evidence>,
    /// Groups and chords: the state of their header members.
    pub aggregate: Option<Aggregate>,
    /// Groups and chords: how their members ended.
    pub tally: Tally,
    /// Groups and chords: number of header members.
    pub members: usize,
}

impl FlowNode<'_> {
    /// First and last moment the node was active.
    pub fn span(&self) -> (Option<f64>, Option<f64>) {
        match &self.view {
            Some(v) => (
                v.sent_at().or_else(|| v.record.first_time()),
                v.finished_at().or_else(|| v.last_time()),
            ),
            None => (None, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// Parent sent child (chain step, `.delay()`, group from a task).
    Child,
    /// Group or chord to a header member.
    Member,
    /// Chord to its callback.
    Callback,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Child => "child",
            Self::Member => "member",
            Self::Callback => "callback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEdge {
    pub kind: EdgeKind,
    pub inferred: bool,
}

/// Where group structure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSource {
    Backend,
    Inferred,
    None,
}

#[derive(Debug)]
pub struct Flow<'s> {
    pub graph: StableDiGraph<FlowNode<'s>, FlowEdge>,
    /// Nodes without a parent in the flow, in time order (the root first).
    pub tops: Vec<NodeIndex>,
    pub root: TaskId,
    pub focus: NodeIndex,
    /// Task nodes from the flow's start to the task that finished last.
    pub critical_path: Vec<NodeIndex>,
    critical_nodes: FxHashSet<NodeIndex>,
    /// Edges along the critical path, including those through a group or chord node.
    critical_edges: FxHashSet<(NodeIndex, NodeIndex)>,
    /// Seconds from the first `task-sent` to the last finish.
    pub wall: Option<f64>,
    /// Sum of the tasks' runtimes.
    pub runtime: f64,
    /// Sum of the tasks' queue waits.
    pub queued: f64,
    pub groups: GroupSource,
    /// Top-level tasks the root's producer sent together with the root: maybe its group,
    /// maybe separate `.delay()` calls; not in the flow (see [`Options::guess_groups`]).
    pub likely_siblings: Vec<TaskId>,
}

impl<'s> Flow<'s> {
    /// Children of a node, in the order they started (then by id).
    pub fn children(&self, n: NodeIndex) -> Vec<(NodeIndex, FlowEdge)> {
        let mut out: Vec<_> = self
            .graph
            .edges_directed(n, Direction::Outgoing)
            .map(|e| (e.target(), *e.weight()))
            .collect();
        out.sort_by(|a, b| order(&self.graph[a.0], &self.graph[b.0]));
        out
    }

    pub fn on_critical_path(&self, n: NodeIndex) -> bool {
        self.critical_nodes.contains(&n)
    }

    pub fn critical_edge(&self, from: NodeIndex, to: NodeIndex) -> bool {
        self.critical_edges.contains(&(from, to))
    }

    /// Whether `n` is drawn inside a group or chord (a header member).
    pub fn is_member(&self, n: NodeIndex) -> bool {
        self.graph
            .edges_directed(n, Direction::Incoming)
            .any(|e| e.weight().kind == EdgeKind::Member)
    }
}

fn order(a: &FlowNode<'_>, b: &FlowNode<'_>) -> std::cmp::Ordering {
    let t = |n: &FlowNode<'_>| n.span().0.unwrap_or(f64::INFINITY);
    t(a).total_cmp(&t(b)).then_with(|| a.id.cmp(&b.id))
}

/// The producer process that sent a task (origin of its first `task-sent`).
fn producer(t: &TaskRecord) -> Option<crate::state::intern::Origin> {
    t.marks
        .iter()
        .find(|m| m.kind == MarkKind::Sent)
        .map(|m| m.origin)
}

fn sent_time(t: &TaskRecord) -> Option<f64> {
    t.marks
        .iter()
        .find(|m| m.kind == MarkKind::Sent)
        .map(|m| m.time)
}

fn finished(v: &TaskView<'_>) -> Option<f64> {
    v.finished_at()
}

/// The callback that proves `header` was a chord, if the events carry its signature: Celery
/// sends a chord's callback from the header member that finishes last, at its end (its
/// `task-sent` falls between that member's `task-started` and its finish) and so after every
/// other member finished; the callback names that member as its parent. Exactly one task may
/// fit: with none or several, the header is not known to be a chord.
pub fn chord_callback<'s>(
    state: &'s State,
    header: &[&'s TaskRecord],
    children: &FxHashMap<&TaskId, Vec<&'s TaskRecord>>,
    horizon: f64,
) -> Option<&'s TaskRecord> {
    if header.len() < 2 {
        return None;
    }
    let views: Vec<TaskView<'_>> = header
        .iter()
        .map(|t| TaskView::new(state, t, horizon))
        .collect();
    let ends: Vec<f64> = views.iter().map(finished).collect::<Option<_>>()?;
    let (last, &end) = ends.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let others_done = ends
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != last)
        .map(|(_, e)| *e)
        .fold(f64::NEG_INFINITY, f64::max);
    let start = views[last].started_at()?;
    let mut fits = children
        .get(&header[last].id)
        .into_iter()
        .flatten()
        .filter(|c| sent_time(c).is_some_and(|s| s >= start && s <= end && s >= others_done));
    let callback = fits.next()?;
    fits.next().is_none().then_some(callback)
}

/// Builds the flow of `focus`: its root's tasks, with groups and chords the backend names or
/// the events prove. `backend` supplies group ids when known.
pub fn build<'s>(
    state: &'s State,
    focus: &TaskId,
    backend: &Backend,
    horizon: f64,
    options: Options,
) -> Option<Flow<'s>> {
    let focus_rec = state.task(focus)?;
    let root = state.root_id(focus_rec).clone();
    let mut children: FxHashMap<&TaskId, Vec<&TaskRecord>> = FxHashMap::default();
    for t in state.tasks() {
        if let Some(p) = state.parent_id(t) {
            children.entry(p).or_default().push(t);
        }
    }

    // Roots of the flow: the root, and the top-level tasks it was sent with as one group
    // (the backend says so) or as one chord's header (the events prove it).
    let mut roots: FxHashSet<TaskId> = FxHashSet::default();
    roots.insert(root.clone());
    let mut groups = if backend.is_empty() {
        GroupSource::None
    } else {
        GroupSource::Backend
    };
    let mut likely_siblings = Vec::new();
    if let Some(root_rec) = state.task(&root).filter(|r| state.parent_id(r).is_none()) {
        if let Some(g) = backend.group_of(&root) {
            for t in state
                .tasks()
                .filter(|t| state.parent_id(t).is_none() && backend.group_of(&t.id) == Some(g))
            {
                roots.insert(t.id.clone());
            }
        } else if !backend.knows(&root) {
            let mates = root_burst(state, &root_rec.id);
            let header: Vec<&TaskRecord> = mates.iter().filter_map(|m| state.task(m)).collect();
            if options.guess_groups || chord_callback(state, &header, &children, horizon).is_some()
            {
                roots.extend(mates);
            } else {
                likely_siblings = mates.into_iter().filter(|m| *m != root).collect();
            }
        }
    }

    let members: Vec<&TaskRecord> = state
        .tasks()
        .filter(|t| roots.contains(state.root_id(t)))
        .collect();
    let mut graph: StableDiGraph<FlowNode<'s>, FlowEdge> = StableDiGraph::new();
    let mut index: FxHashMap<&TaskId, NodeIndex> = FxHashMap::default();
    for t in &members {
        let view = TaskView::new(state, t, horizon);
        let n = graph.add_node(FlowNode {
            kind: NodeKind::Task,
            id: t.id.to_string(),
            view: Some(view),
            inferred: false,
            evidence: None,
            aggregate: None,
            tally: Tally::default(),
            members: 0,
        });
        index.insert(&t.id, n);
    }

    // Exact groups from the backend: members sharing a group id; a member whose parent is
    // another member is the chord's callback.
    let mut by_group: BTreeMap<&TaskId, Vec<&TaskRecord>> = BTreeMap::new();
    for t in &members {
        if let Some(g) = backend.group_of(&t.id) {
            by_group.entry(g).or_default().push(t);
        }
    }
    let mut grouped: FxHashSet<&TaskId> = FxHashSet::default();
    for (gid, set) in &by_group {
        let ids: FxHashSet<&TaskId> = set.iter().map(|t| &t.id).collect();
        let (callbacks, header): (Vec<&TaskRecord>, Vec<&TaskRecord>) = set
            .iter()
            .partition(|t| state.parent_id(t).is_some_and(|p| ids.contains(p)));
        add_group(
            &mut graph,
            &index,
            state,
            gid.to_string(),
            &header,
            &callbacks,
            Evidence::Backend,
        );
        grouped.extend(ids);
    }

    // Without the backend: bursts of siblings from one producer are a chord when the events
    // carry its signature, a group only as an asked-for guess.
    let mut siblings: BTreeMap<Option<&TaskId>, Vec<&TaskRecord>> = BTreeMap::new();
    for t in &members {
        // The backend's word (in a group or not) beats inference.
        if !grouped.contains(&t.id) && !backend.knows(&t.id) {
            siblings.entry(state.parent_id(t)).or_default().push(t);
        }
    }
    for set in siblings.values() {
        for header in bursts(set) {
            // A task taken as a chord callback meanwhile stays where it is.
            let header: Vec<&TaskRecord> = header
                .into_iter()
                .filter(|t| !grouped.contains(&t.id))
                .collect();
            let callback = chord_callback(state, &header, &children, horizon)
                .filter(|c| index.contains_key(&c.id) && !grouped.contains(&c.id));
            let evidence = match callback {
                Some(_) => Evidence::Signature,
                None if options.guess_groups && header.len() >= 2 => Evidence::Guess,
                None => continue,
            };
            let id = format!("inferred-{}", header[0].id);
            let callbacks: Vec<&TaskRecord> = callback.into_iter().collect();
            add_group(&mut graph, &index, state, id, &header, &callbacks, evidence);
            grouped.extend(header.iter().map(|t| &t.id));
            grouped.extend(callbacks.iter().map(|t| &t.id));
            if groups != GroupSource::Backend {
                groups = GroupSource::Inferred;
            }
        }
    }

    // Edges from parents, for tasks no group or chord took. Added last: removing edges from a
    // node with a huge fan-out costs time in proportion to that fan-out.
    let child = FlowEdge {
        kind: EdgeKind::Child,
        inferred: false,
    };
    for t in &members {
        if !grouped.contains(&t.id)
            && let Some(p) = state.parent_id(t).and_then(|p| index.get(p))
        {
            graph.add_edge(*p, index[&t.id], child);
        }
    }

    let mut tops: Vec<NodeIndex> = graph
        .node_indices()
        .filter(|n| {
            graph
                .neighbors_directed(*n, Direction::Incoming)
                .next()
                .is_none()
        })
        .collect();
    tops.sort_by(|a, b| order(&graph[*a], &graph[*b]));

    let tasks = || {
        graph
            .node_indices()
            .filter_map(|n| graph[n].view.as_ref().map(|v| (n, v)))
    };
    let last = tasks()
        .filter_map(|(n, v)| v.finished_at().or_else(|| v.last_time()).map(|t| (n, t)))
        .max_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| graph[b.0].id.cmp(&graph[a.0].id))
        });
    let mut critical_path = Vec::new();
    if let Some((mut n, _)) = last {
        // Each task was sent by its parent: the chain of parents is what it waited for.
        loop {
            critical_path.push(n);
            let parent = graph[n]
                .view
                .as_ref()
                .and_then(|v| state.parent_id(v.record))
                .and_then(|p| index.get(p));
            match parent {
                Some(&p) if !critical_path.contains(&p) => n = p,
                _ => break,
            }
        }
        critical_path.reverse();
    }
    let start = tasks()
        .filter_map(|(_, v)| v.sent_at().or_else(|| v.record.first_time()))
        .reduce(f64::min);
    let end = last.map(|(_, t)| t);
    let wall = start.zip(end).map(|(s, e)| (e - s).max(0.0));
    let runtime = tasks().filter_map(|(_, v)| v.runtime()).sum();
    let queued = tasks().filter_map(|(_, v)| v.queue_wait()).sum();
    let focus = index[&focus_rec.id];
    let critical_nodes: FxHashSet<NodeIndex> = critical_path.iter().copied().collect();
    let mut critical_edges = FxHashSet::default();
    for pair in critical_path.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if graph.find_edge(a, b).is_some() {
            critical_edges.insert((a, b));
            continue;
        }
        // Through a group or chord: a → G → b (a sent the group), or G → a and G → b (a was
        // the header task whose finish released the chord's callback b).
        if let Some(g) = graph
            .neighbors_directed(b, Direction::Incoming)
            .find(|g| graph[*g].view.is_none())
        {
            critical_edges.insert((g, b));
            if graph.find_edge(a, g).is_some() {
                critical_edges.insert((a, g));
            }
            if graph.find_edge(g, a).is_some() {
                critical_edges.insert((g, a));
            }
        }
    }
    if let Some(&first) = critical_path.first()
        && let Some(g) = graph
            .neighbors_directed(first, Direction::Incoming)
            .find(|g| graph[*g].view.is_none())
    {
        critical_edges.insert((g, first));
    }
    Some(Flow {
        graph,
        tops,
        root,
        focus,
        critical_path,
        critical_nodes,
        critical_edges,
        wall,
        runtime,
        queued,
        groups,
        likely_siblings,
    })
}

/// The top-level tasks sent together with the top-level task `root` by its producer (itself
/// included); empty when it was sent alone.
pub fn root_burst(state: &State, root: &TaskId) -> Vec<TaskId> {
    let Some(rec) = state.task(root).filter(|r| state.parent_id(r).is_none()) else {
        return Vec::new();
    };
    let (Some(origin), Some(at)) = (producer(rec), sent_time(rec)) else {
        return Vec::new();
    };
    burst(
        state,
        |t| state.parent_id(t).is_none() && producer(t) == Some(origin),
        at,
    )
}

/// Tasks matching `pick` sent by one producer within [`BURST_SECS`] of `at` (chained: each
/// within the window of the previous one).
fn burst(state: &State, pick: impl Fn(&TaskRecord) -> bool, at: f64) -> Vec<TaskId> {
    let mut found: Vec<(f64, &TaskRecord)> = state
        .tasks()
        .filter(|t| pick(t))
        .filter_map(|t| sent_time(t).map(|s| (s, t)))
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let Some(pos) = found.iter().position(|(s, _)| *s >= at) else {
        return Vec::new();
    };
    let (mut lo, mut hi) = (pos, pos);
    while lo > 0 && found[lo].0 - found[lo - 1].0 <= BURST_SECS {
        lo -= 1;
    }
    while hi + 1 < found.len() && found[hi + 1].0 - found[hi].0 <= BURST_SECS {
        hi += 1;
    }
    let steady = hi - lo + 1 > BURST_MAX || found[hi].0 - found[lo].0 > BURST_MAX_SECS;
    if hi == lo || steady {
        return Vec::new();
    }
    found[lo..=hi].iter().map(|(_, t)| t.id.clone()).collect()
}

/// Splits siblings into bursts of two or more sent by one producer close together.
fn bursts<'s>(siblings: &[&'s TaskRecord]) -> Vec<Vec<&'s TaskRecord>> {
    let mut by_producer: BTreeMap<u32, Vec<(f64, &TaskRecord)>> = BTreeMap::new();
    for t in siblings {
        if let (Some(o), Some(s)) = (producer(t), sent_time(t)) {
            by_producer.entry(o.index()).or_default().push((s, t));
        }
    }
    let mut out = Vec::new();
    for list in by_producer.values_mut() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let mut run: Vec<&TaskRecord> = Vec::new();
        let mut prev: Option<f64> = None;
        for (s, t) in list.iter() {
            if prev.is_some_and(|p| s - p > BURST_SECS) {
                if run.len() >= 2 {
                    out.push(std::mem::take(&mut run));
                }
                run.clear();
            }
            run.push(t);
            prev = Some(*s);
        }
        if run.len() >= 2 {
            out.push(run);
        }
    }
    out
}

/// Inserts a GROUP (or, with callbacks, a CHORD) node between the header's parent and the
/// header, and between the header and the callbacks.
fn add_group<'s>(
    graph: &mut StableDiGraph<FlowNode<'s>, FlowEdge>,
    index: &FxHashMap<&TaskId, NodeIndex>,
    state: &'s State,
    id: String,
    header: &[&TaskRecord],
    callbacks: &[&TaskRecord],
    evidence: Evidence,
) {
    if header.is_empty() {
        return;
    }
    let inferred = evidence != Evidence::Backend;
    let tally = Tally::of(
        header
            .iter()
            .filter_map(|t| graph[index[&t.id]].view.as_ref()),
    );
    let kind = if callbacks.is_empty() {
        NodeKind::Group
    } else {
        NodeKind::Chord
    };
    let g = graph.add_node(FlowNode {
        kind,
        id,
        view: None,
        inferred,
        evidence: Some(evidence),
        aggregate: Some(tally.aggregate()),
        tally,
        members: header.len(),
    });
    // The header's common parent now sends the group.
    let parents: FxHashSet<Option<&TaskId>> = header.iter().map(|t| state.parent_id(t)).collect();
    if parents.len() == 1
        && let Some(Some(p)) = parents.into_iter().next()
        && let Some(&pn) = index.get(p)
    {
        graph.add_edge(
            pn,
            g,
            FlowEdge {
                kind: EdgeKind::Child,
                inferred: false,
            },
        );
    }
    for t in header {
        let n = index[&t.id];
        graph.add_edge(
            g,
            n,
            FlowEdge {
                kind: EdgeKind::Member,
                inferred,
            },
        );
    }
    for c in callbacks {
        let n = index[&c.id];
        graph.add_edge(
            g,
            n,
            FlowEdge {
                kind: EdgeKind::Callback,
                inferred,
            },
        );
    }
}

#[cfg(test)]
mod tests;

/// A task's place in its flow, for `show`: the flow's size and the other tasks sent by the
/// same parent (or in the same group).
#[derive(Debug, Clone)]
pub struct Place {
    /// Tasks in the flow.
    pub tasks: usize,
    /// Other tasks under the same parent (or in the same group), in start order.
    pub siblings: Vec<NodeIndex>,
}

/// Where `n` sits in `flow`.
pub fn place(flow: &Flow<'_>, n: NodeIndex) -> Place {
    let tasks = flow
        .graph
        .node_weights()
        .filter(|x| x.view.is_some())
        .count();
    let incoming = flow
        .graph
        .edges_directed(n, Direction::Incoming)
        .next()
        .map(|e| (e.source(), e.weight().kind));
    let siblings = incoming.map_or_else(Vec::new, |(p, kind)| {
        flow.children(p)
            .into_iter()
            .filter(|(c, e)| *c != n && e.kind == kind && flow.graph[*c].view.is_some())
            .map(|(c, _)| c)
            .collect()
    });
    Place { tasks, siblings }
}
