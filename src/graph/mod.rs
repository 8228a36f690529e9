//! Flow reconstruction: from any task, the whole workflow it belongs to, as a graph of tasks
//! and (exact or inferred) GROUP/CHORD nodes, with its critical path. Pure: no I/O, no clock.
//!
//! What can be known (PROTOCOL.md §3.4, §4): events link tasks only by `root_id` and
//! `parent_id`, so chains, `.delay()` children and retries are exact. Group and chord ids are
//! only in the result backend ([`backend::Backend`]). Without them this module infers, and
//! marks every inferred node and edge:
//!
//! - **group**: two or more siblings (same parent, or top-level tasks) sent by the same
//!   producer process within [`BURST_SECS`] of each other;
//! - **chord**: a task whose parent belongs to a group and that was sent after every member
//!   of that group had finished (Celery sends a chord callback from the last header task to
//!   finish, which events then report as its parent).

pub mod backend;

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

/// Siblings sent by one producer within this many seconds of each other look like a group.
pub const BURST_SECS: f64 = 0.05;

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

    fn of(states: impl Iterator<Item = TaskState>) -> Self {
        let (mut ok, mut bad, mut open) = (0, 0, 0);
        for s in states {
            match s {
                TaskState::Success => ok += 1,
                s if s.is_ready() => bad += 1,
                _ => open += 1,
            }
        }
        match (ok, bad, open) {
            (_, _, 1..) => Self::Running,
            (_, 0, 0) => Self::Success,
            (0, _, 0) => Self::Failure,
            _ => Self::Partial,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlowNode<'s> {
    pub kind: NodeKind,
    /// Task id; for a group or chord its group id, or `inferred-<first member id>`.
    pub id: String,
    pub view: Option<TaskView<'s>>,
    pub inferred: bool,
    /// Groups and chords: the state of their header members.
    pub aggregate: Option<Aggregate>,
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

/// Builds the flow of `focus`. `backend` supplies group ids when known.
pub fn build<'s>(
    state: &'s State,
    focus: &TaskId,
    backend: &Backend,
    horizon: f64,
) -> Option<Flow<'s>> {
    build_with(state, focus, backend, horizon, true)
}

/// The flow as parent links alone: no group or chord nodes. `show` uses it, because it reads
/// only the flow's own tasks, not the other top-level tasks a client-applied group spans.
pub fn build_links<'s>(state: &'s State, focus: &TaskId, horizon: f64) -> Option<Flow<'s>> {
    build_with(state, focus, &Backend::default(), horizon, false)
}

fn build_with<'s>(
    state: &'s State,
    focus: &TaskId,
    backend: &Backend,
    horizon: f64,
    canvas: bool,
) -> Option<Flow<'s>> {
    let focus_rec = state.task(focus)?;
    let root = state.root_id(focus_rec).clone();

    // Roots of the flow: the root, and the roots it was sent together with as a group.
    let mut roots: FxHashSet<TaskId> = FxHashSet::default();
    roots.insert(root.clone());
    let mut groups = if backend.is_empty() {
        GroupSource::None
    } else {
        GroupSource::Backend
    };
    if !canvas {
        groups = GroupSource::None;
    } else if let Some(root_rec) = state.task(&root).filter(|r| state.parent_id(r).is_none()) {
        if let Some(g) = backend.group_of(&root) {
            for t in state
                .tasks()
                .filter(|t| state.parent_id(t).is_none() && backend.group_of(&t.id) == Some(g))
            {
                roots.insert(t.id.clone());
            }
        } else if !backend.knows(&root)
            && let (Some(origin), Some(at)) = (producer(root_rec), sent_time(root_rec))
        {
            let mates = burst(
                state,
                |t| state.parent_id(t).is_none() && producer(t) == Some(origin),
                at,
            );
            roots.extend(mates);
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
            aggregate: None,
            members: 0,
        });
        index.insert(&t.id, n);
    }

    // Exact groups from the backend: members sharing a group id; a member whose parent is
    // another member is the chord's callback.
    let mut by_group: BTreeMap<&TaskId, Vec<&TaskRecord>> = BTreeMap::new();
    for t in members.iter().filter(|_| canvas) {
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
            false,
        );
        grouped.extend(ids);
    }

    // Inferred groups: bursts of siblings from one producer, not already grouped.
    let mut siblings: BTreeMap<Option<&TaskId>, Vec<&TaskRecord>> = BTreeMap::new();
    for t in &members {
        // The backend's word (in a group or not) beats a guess.
        if canvas && !grouped.contains(&t.id) && !backend.knows(&t.id) {
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
            if header.len() < 2 {
                continue;
            }
            let ids: FxHashSet<&TaskId> = header.iter().map(|t| &t.id).collect();
            let views: Vec<TaskView<'_>> = header
                .iter()
                .map(|t| TaskView::new(state, t, horizon))
                .collect();
            // A chord callback is sent by the last header task to finish, while it runs: after
            // that task started and after every other member finished.
            let is_callback = |c: &TaskRecord| {
                let (Some(sent), Some(parent)) = (sent_time(c), state.parent_id(c)) else {
                    return false;
                };
                views.iter().all(|v| {
                    if &v.record.id == parent {
                        v.started_at().is_some_and(|s| sent >= s)
                    } else {
                        v.finished_at().is_some_and(|f| sent >= f)
                    }
                })
            };
            let callbacks: Vec<&TaskRecord> = members
                .iter()
                .copied()
                .filter(|c| state.parent_id(c).is_some_and(|p| ids.contains(p)))
                .filter(|c| !grouped.contains(&c.id) && !ids.contains(&c.id))
                .filter(|c| is_callback(c))
                .collect();
            let id = format!("inferred-{}", header[0].id);
            add_group(&mut graph, &index, state, id, &header, &callbacks, true);
            grouped.extend(header.iter().map(|t| &t.id));
            grouped.extend(callbacks.iter().map(|t| &t.id));
            groups = if groups == GroupSource::Backend {
                GroupSource::Backend
            } else {
                GroupSource::Inferred
            };
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
    })
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
    if hi == lo {
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
    inferred: bool,
) {
    if header.is_empty() {
        return;
    }
    let aggregate = Aggregate::of(header.iter().map(|t| {
        graph[index[&t.id]]
            .view
            .as_ref()
            .map_or(TaskState::Pending, |v| v.state)
    }));
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
        aggregate: Some(aggregate),
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
