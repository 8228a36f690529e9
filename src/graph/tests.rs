//! Property tests: any event set gives an acyclic flow without self-loops, with every task of
//! the flow's roots exactly once, and a critical path that follows parent links; the flow
//! holds only its root's tasks unless a chord's signature joins others; every parent link
//! is drawn; no group has two callbacks; every container ends once its members do.

use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use proptest::prelude::*;

use super::backend::Backend;
use super::{Aggregate, EdgeKind, Flow, build, chord_callback, root_burst};
use crate::model::TaskId;
use crate::model::decode::decode_entry;
use crate::state::State;

/// `(parent index or none, send delay ms, runtime ms, producer, outcome)` per task; outcome
/// 0–1 succeeded, 2 failed, 3 interrupted (its worker goes offline while it runs).
type Spec = Vec<(Option<prop::sample::Index>, u16, u16, u8, u8)>;

fn id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn state_of(spec: &Spec) -> State {
    let mut s = State::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut sent: Vec<f64> = Vec::new();
    for (i, (parent, delay, runtime, producer, outcome)) in spec.iter().enumerate() {
        let parent = parent.as_ref().filter(|_| i > 0).map(|p| p.index(i));
        let root = parent.map_or(i, |p| roots[p]);
        roots.push(root);
        let at = parent.map_or(1795333620.0, |p| sent[p]) + f64::from(*delay) / 1000.0;
        sent.push(at);
        let parent_json = parent.map_or("null".to_string(), |p| format!("\"{}\"", id(p)));
        let end = match outcome {
            2 => "task-failed",
            3 => "",
            _ => "task-succeeded",
        };
        let worker = if *outcome == 3 { "lost@h" } else { "w@h" };
        let mut lines = vec![
            format!(
                r#"{{"type": "task-sent", "uuid": "{}", "root_id": "{}", "parent_id": {parent_json}, "name": "t{}", "hostname": "gen{producer}@h", "pid": {producer}, "timestamp": {at}}}"#,
                id(i),
                id(root),
                i % 3
            ),
            format!(
                r#"{{"type": "task-started", "uuid": "{}", "hostname": "{worker}", "pid": 7, "clock": {}, "timestamp": {}}}"#,
                id(i),
                2 * i,
                at + 0.001
            ),
        ];
        if !end.is_empty() {
            lines.push(format!(
                r#"{{"type": "{end}", "uuid": "{}", "hostname": "w@h", "pid": 7, "clock": {}, "timestamp": {}}}"#,
                id(i),
                2 * i + 1,
                at + 0.001 + f64::from(*runtime) / 1000.0
            ));
        }
        for line in lines {
            decode_entry(&line, &mut Vec::new(), &mut |e| s.apply(e));
        }
    }
    let offline = r#"{"type": "worker-offline", "hostname": "lost@h", "pid": 7, "clock": 1, "timestamp": 1795333700.0}"#;
    decode_entry(offline, &mut Vec::new(), &mut |e| s.apply(e));
    s
}

fn spec() -> impl Strategy<Value = Spec> {
    proptest::collection::vec(
        (
            proptest::option::weighted(0.8, any::<prop::sample::Index>()),
            0u16..80,
            0u16..200,
            0u8..3,
            0u8..4,
        ),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn flows_are_sound(spec in spec(), focus in any::<prop::sample::Index>()) {
        let state = state_of(&spec);
        let focus = TaskId::parse(&id(focus.index(spec.len())));
        let flow = build(&state, &focus, &Backend::default(), f64::INFINITY, Default::default()).unwrap();
        assert_evidence_only(&state, &flow)?;
        let g = &flow.graph;
        prop_assert!(!petgraph::algo::is_cyclic_directed(g));
        prop_assert!(g.edge_references().all(|e| e.source() != e.target()));
        // Every task whose root is the focus's root appears exactly once.
        let root = state.root_id(state.task(&focus).unwrap()).clone();
        let mut ids: Vec<String> = g.node_weights().filter(|n| n.view.is_some()).map(|n| n.id.clone()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), n);
        for t in state.tasks().filter(|t| state.root_id(t) == &root) {
            prop_assert!(ids.contains(&t.id.to_string()));
        }
        // Each node has at most one parent: the drawing is a forest.
        prop_assert!(g.node_indices().all(|x| g.neighbors_directed(x, petgraph::Direction::Incoming).count() <= 1));
        // The critical path follows parent links, from a top task to the last one to finish.
        let path = &flow.critical_path;
        prop_assert!(!path.is_empty());
        for pair in path.windows(2) {
            let child = g[pair[1]].view.as_ref().unwrap().record;
            let parent = &g[pair[0]].view.as_ref().unwrap().record.id;
            prop_assert_eq!(state.parent_id(child), Some(parent));
        }
        prop_assert!(flow.tops.contains(&path[0]) || g.neighbors_directed(path[0], petgraph::Direction::Incoming).all(|p| g[p].view.is_none()));
    }
}

/// What issue "reconstruction you can trust" asks of every flow drawn without the backend.
fn assert_evidence_only(state: &State, flow: &Flow<'_>) -> Result<(), TestCaseError> {
    use petgraph::Direction::{Incoming, Outgoing};
    let g = &flow.graph;
    let index: std::collections::HashMap<String, petgraph::stable_graph::NodeIndex> =
        g.node_indices().map(|n| (g[n].id.clone(), n)).collect();
    // Only the root's tasks, unless the root heads a chord the events prove.
    let mates = root_burst(state, &flow.root);
    let header: Vec<_> = mates.iter().filter_map(|m| state.task(m)).collect();
    let mut children = rustc_hash::FxHashMap::default();
    for t in state.tasks() {
        if let Some(p) = state.parent_id(t) {
            children.entry(p).or_insert_with(Vec::new).push(t);
        }
    }
    let proven = chord_callback(state, &header, &children, f64::INFINITY).is_some();
    for n in g.node_weights().filter_map(|n| n.view.as_ref()) {
        let root = state.root_id(n.record);
        prop_assert!(
            root == &flow.root || (proven && mates.contains(root)),
            "{} joined the flow of {} without evidence",
            n.record.id,
            flow.root
        );
    }
    for n in g.node_indices() {
        let Some(v) = g[n].view.as_ref() else {
            // A container: at most one callback, and it ends once its members do.
            let callbacks = g
                .edges_directed(n, Outgoing)
                .filter(|e| e.weight().kind == EdgeKind::Callback)
                .count();
            prop_assert!(callbacks <= 1, "{} has {callbacks} callbacks", g[n].id);
            let ended = g
                .edges_directed(n, Outgoing)
                .filter(|e| e.weight().kind == EdgeKind::Member)
                .filter_map(|e| g[e.target()].view.as_ref())
                .all(|m| m.state.is_ready() || m.lost.is_some());
            if ended {
                prop_assert_ne!(g[n].aggregate, Some(Aggregate::Running), "{}", g[n].id);
            }
            continue;
        };
        // A task whose parent is in the flow is drawn under it: directly, as a member of a
        // group it sent, or as the callback of a chord it is a member of.
        let Some(&p) = state
            .parent_id(v.record)
            .and_then(|p| index.get(&p.to_string()))
        else {
            continue;
        };
        let incoming: Vec<_> = g.edges_directed(n, Incoming).collect();
        prop_assert_eq!(incoming.len(), 1, "{} is drawn under nothing", v.record.id);
        let (from, kind) = (incoming[0].source(), incoming[0].weight().kind);
        let holds = match kind {
            EdgeKind::Child => from == p,
            EdgeKind::Member => g.find_edge(p, from).is_some(),
            EdgeKind::Callback => g
                .find_edge(from, p)
                .is_some_and(|e| g[e].kind == EdgeKind::Member),
        };
        prop_assert!(holds, "{} is not drawn under its parent", v.record.id);
    }
    Ok(())
}

/// The chord capture: three `add` tasks sent together, `tsum` sent by the last to finish.
#[test]
fn the_client_side_chord_is_proven_and_separate_delays_are_not_grouped() {
    let mut state = State::new();
    for text in [
        include_str!("../../tests/fixtures/celery-5.7/redis/chord.events.ndjson"),
        include_str!("../../tests/fixtures/celery-5.7/redis/group.events.ndjson"),
    ] {
        for line in text.lines() {
            decode_entry(line, &mut Vec::new(), &mut |e| state.apply(e));
        }
    }
    let first = |name: &str| {
        state
            .tasks()
            .find(|t| t.name().is_some_and(|n| state.sym(n) == name))
            .unwrap()
            .id
            .clone()
    };
    let chord = build(
        &state,
        &first("capapp.tsum"),
        &Backend::default(),
        f64::INFINITY,
        Default::default(),
    )
    .unwrap();
    let tasks = chord
        .graph
        .node_weights()
        .filter(|n| n.view.is_some())
        .count();
    assert_eq!(tasks, 4, "three add tasks and their callback");
    assert!(
        chord
            .graph
            .edge_weights()
            .any(|e| e.kind == EdgeKind::Callback)
    );
    assert_evidence_only(&state, &chord).unwrap();
    // The group capture: three `add` tasks sent together, no callback. Without the backend
    // they look exactly like three `.delay()` calls: each is its own flow, the others named.
    let member = TaskId::parse("a7920398-0000-0000-0000-000000000000");
    let member = state
        .tasks()
        .find(|t| t.id.to_string().starts_with("a7920398"))
        .map_or(member, |t| t.id.clone());
    let group = build(
        &state,
        &member,
        &Backend::default(),
        f64::INFINITY,
        Default::default(),
    )
    .unwrap();
    assert_eq!(group.graph.node_count(), 1);
    assert_eq!(group.likely_siblings.len(), 2);
    let guessed = build(
        &state,
        &member,
        &Backend::default(),
        f64::INFINITY,
        super::Options { guess_groups: true },
    )
    .unwrap();
    assert_eq!(
        guessed
            .graph
            .node_weights()
            .filter(|n| n.view.is_some())
            .count(),
        3
    );
    assert!(
        guessed
            .graph
            .node_weights()
            .any(|n| n.evidence == Some(super::Evidence::Guess))
    );
}
