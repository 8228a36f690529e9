//! Two runs of one workflow, compared node by node. A node is matched by its place: the path
//! of names from the top of its flow, each with its index among same-named siblings
//! (`shop.order[0]/chord[0]/shop.charge[1]`), so the second `charge` of one run meets the
//! second `charge` of the other whatever their ids. Pure: flows in, differences out.

use petgraph::stable_graph::NodeIndex;

use super::{Flow, NodeKind};
use crate::model::TaskState;
use crate::model::repr::effective_exception;
use crate::state::State;

/// One run's side of a matched node.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub id: String,
    pub name: String,
    pub state: TaskState,
    pub exception: Option<String>,
    pub retries: u32,
    pub runtime: Option<f64>,
    pub args: Option<String>,
    pub kwargs: Option<String>,
}

/// What differs between the two sides of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The final state (SUCCESS → FAILURE).
    State,
    /// The exception of the final failure or last retry.
    Exception,
    Retries,
    /// The runtime grew (or shrank) by more than the threshold: the factor B/A.
    Runtime(f64),
    /// The arguments (as scrubbed reprs).
    Args,
}

impl Change {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Exception => "exception",
            Self::Retries => "retries",
            Self::Runtime(_) => "runtime",
            Self::Args => "args",
        }
    }

    /// Whether it changes the outcome (what `diff`'s exit status answers): the state, the
    /// exception or the retries. Runtime and arguments differ between any two runs.
    pub fn is_outcome(&self) -> bool {
        matches!(self, Self::State | Self::Exception | Self::Retries)
    }
}

/// A place in the workflow and what each run had there.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDiff {
    pub key: String,
    /// Depth in the flow (0 for a top).
    pub depth: usize,
    pub a: Option<Side>,
    pub b: Option<Side>,
    pub changes: Vec<Change>,
}

impl NodeDiff {
    /// Whether the outcomes differ here: the node is in one run only, or an outcome changed.
    pub fn outcome_differs(&self) -> bool {
        self.a.is_none() || self.b.is_none() || self.changes.iter().any(Change::is_outcome)
    }
}

/// Two runs compared: B's nodes in its flow order, each with A's match, then A's nodes that
/// B lacks (in A's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub nodes: Vec<NodeDiff>,
}

impl Diff {
    pub fn outcome_differs(&self) -> bool {
        self.nodes.iter().any(NodeDiff::outcome_differs)
    }
}

/// Every task node of `flow` with its key and depth, in tree order (tops in time order,
/// children in start order).
pub fn keys(state: &State, flow: &Flow<'_>) -> Vec<(String, usize, NodeIndex)> {
    let mut out = Vec::new();
    let mut seen = rustc_hash::FxHashSet::default();
    let mut stack: Vec<(NodeIndex, String, usize)> = Vec::new();
    let push_level = |stack: &mut Vec<(NodeIndex, String, usize)>,
                      nodes: Vec<NodeIndex>,
                      parent: &str,
                      depth: usize| {
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        let mut level = Vec::new();
        for n in nodes {
            let seg = segment(state, flow, n);
            let i = counts.entry(seg.clone()).or_default();
            let key = if parent.is_empty() {
                format!("{seg}[{i}]")
            } else {
                format!("{parent}/{seg}[{i}]")
            };
            *i += 1;
            level.push((n, key, depth));
        }
        stack.extend(level.into_iter().rev());
    };
    push_level(&mut stack, flow.tops.clone(), "", 0);
    while let Some((n, key, depth)) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        let is_task = flow.graph[n].kind == NodeKind::Task;
        if is_task {
            out.push((key.clone(), depth, n));
        }
        let kids = flow.children(n).into_iter().map(|(c, _)| c).collect();
        push_level(&mut stack, kids, &key, depth + usize::from(is_task));
    }
    out
}

fn segment(state: &State, flow: &Flow<'_>, n: NodeIndex) -> String {
    let node = &flow.graph[n];
    match (&node.view, node.kind) {
        (Some(v), _) => v
            .record
            .name()
            .map_or_else(|| "?".to_string(), |s| state.sym(s).to_string()),
        (None, kind) => kind.as_str().to_string(),
    }
}

fn side(state: &State, flow: &Flow<'_>, n: NodeIndex) -> Option<Side> {
    let v = flow.graph[n].view.as_ref()?;
    Some(Side {
        id: v.record.id.to_string(),
        name: segment(state, flow, n),
        state: v.state,
        exception: effective_exception(v.exception(), v.traceback()).map(str::to_string),
        retries: v.retries(),
        runtime: v.runtime(),
        args: v.record.args().map(str::to_string),
        kwargs: v.record.kwargs().map(str::to_string),
    })
}

/// What changed from `a` to `b`; a runtime counts when one is `slower` times the other.
fn changes(a: &Side, b: &Side, slower: f64) -> Vec<Change> {
    let mut out = Vec::new();
    if a.state != b.state {
        out.push(Change::State);
    }
    if a.exception != b.exception {
        out.push(Change::Exception);
    }
    if a.retries != b.retries {
        out.push(Change::Retries);
    }
    if let (Some(ra), Some(rb)) = (a.runtime, b.runtime) {
        // Below a millisecond a ratio says nothing.
        let (ra, rb) = (ra.max(0.001), rb.max(0.001));
        let factor = rb / ra;
        if factor >= slower || factor <= 1.0 / slower {
            out.push(Change::Runtime(factor));
        }
    }
    if a.args != b.args || a.kwargs != b.kwargs {
        out.push(Change::Args);
    }
    out
}

/// Compares run `a` (its flow in `state_a`) with run `b`.
pub fn diff(
    state_a: &State,
    flow_a: &Flow<'_>,
    state_b: &State,
    flow_b: &Flow<'_>,
    slower: f64,
) -> Diff {
    let keyed_a = keys(state_a, flow_a);
    let by_key: std::collections::HashMap<&str, NodeIndex> =
        keyed_a.iter().map(|(k, _, n)| (k.as_str(), *n)).collect();
    let mut matched = rustc_hash::FxHashSet::default();
    let mut nodes = Vec::new();
    for (key, depth, nb) in keys(state_b, flow_b) {
        let b = side(state_b, flow_b, nb);
        let a = by_key.get(key.as_str()).and_then(|&na| {
            matched.insert(na);
            side(state_a, flow_a, na)
        });
        let changes = match (&a, &b) {
            (Some(a), Some(b)) => changes(a, b, slower),
            _ => Vec::new(),
        };
        nodes.push(NodeDiff {
            key,
            depth,
            a,
            b,
            changes,
        });
    }
    for (key, depth, na) in keyed_a {
        if !matched.contains(&na) {
            nodes.push(NodeDiff {
                key,
                depth,
                a: side(state_a, flow_a, na),
                b: None,
                changes: Vec::new(),
            });
        }
    }
    Diff { nodes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::backend::Backend;
    use crate::model::TaskId;
    use crate::query::testing::state_of;

    /// A run: `root` sends two `shop.charge` children; the second one's outcome and runtime
    /// are given.
    fn run(prefix: char, t: f64, second: &str, runtime: f64, extra: &str) -> String {
        let id = |n: u8| {
            format!(
                "{}{n}{}-0000-4000-8000-000000000000",
                prefix.to_string().repeat(7),
                ""
            )
        };
        let (root, c1, c2) = (id(0), id(1), id(2));
        let ev = |kind: &str, id: &str, dt: f64, rest: &str| {
            format!(
                r#"{{"type": "{kind}", "uuid": "{id}", "hostname": "w1@h", "pid": 1, "clock": 1, "timestamp": {}{rest}}}"#,
                t + dt
            )
        };
        let ident = |name: &str, parent: Option<&str>, args: &str| {
            let parent = parent.map_or_else(|| "null".into(), |p| format!("\"{p}\""));
            format!(
                r#", "name": "{name}", "args": "{args}", "kwargs": "{{}}", "root_id": "{root}", "parent_id": {parent}, "retries": 0"#
            )
        };
        [
            ev(
                "task-received",
                &root,
                0.0,
                &ident("shop.order", None, "(1,)"),
            ),
            ev("task-started", &root, 0.1, ""),
            ev(
                "task-received",
                &c1,
                0.2,
                &ident("shop.charge", Some(&root), "(1,)"),
            ),
            ev(
                "task-received",
                &c2,
                0.3,
                &ident("shop.charge", Some(&root), "(2,)"),
            ),
            ev("task-succeeded", &root, 0.4, r#", "runtime": 0.3"#),
            ev("task-started", &c1, 0.5, ""),
            ev("task-succeeded", &c1, 0.6, r#", "runtime": 0.1"#),
            ev("task-started", &c2, 0.7, ""),
            ev(
                second,
                &c2,
                0.8,
                &format!(r#", "runtime": {runtime}{extra}"#),
            ),
        ]
        .join("\n")
    }

    fn compare(a: &str, b: &str) -> Diff {
        let state = state_of(&format!("{a}\n{b}"));
        let h = state.horizon(f64::MAX);
        let backend = Backend::from_records(&state);
        let flow = |p: char| {
            let id = TaskId::parse(&format!(
                "{}0-0000-4000-8000-000000000000",
                p.to_string().repeat(7)
            ));
            crate::graph::build(&state, &id, &backend, h, Default::default()).unwrap()
        };
        let (fa, fb) = (flow('a'), flow('b'));
        diff(&state, &fa, &state, &fb, 2.0)
    }

    #[test]
    fn siblings_of_one_name_are_matched_by_their_order() {
        let d = compare(
            &run('a', 100.0, "task-succeeded", 0.1, ""),
            &run('b', 200.0, "task-succeeded", 0.1, ""),
        );
        let keys: Vec<&str> = d.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "shop.order[0]",
                "shop.order[0]/shop.charge[0]",
                "shop.order[0]/shop.charge[1]"
            ]
        );
        assert!(!d.outcome_differs());
        // The arguments of the same place are compared, not those of the same name.
        assert!(d.nodes.iter().all(|n| n.changes.is_empty()), "{d:?}");
    }

    #[test]
    fn a_failed_member_changes_the_outcome_and_a_slow_one_only_the_runtime() {
        let failed = compare(
            &run('a', 100.0, "task-succeeded", 0.1, ""),
            &run(
                'b',
                200.0,
                "task-failed",
                0.1,
                r#", "exception": "ValueError('x')""#,
            ),
        );
        let second = &failed.nodes[2];
        assert_eq!(second.changes, [Change::State, Change::Exception]);
        assert!(failed.outcome_differs());

        let slow = compare(
            &run('a', 100.0, "task-succeeded", 0.1, ""),
            &run('b', 200.0, "task-succeeded", 0.5, ""),
        );
        let second = &slow.nodes[2];
        assert!(matches!(second.changes[..], [Change::Runtime(f)] if (f - 5.0).abs() < 1e-9));
        assert!(
            !slow.outcome_differs(),
            "a runtime change is reported, not an outcome"
        );
    }
}
