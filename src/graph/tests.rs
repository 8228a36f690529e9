//! Property tests: any event set gives an acyclic flow without self-loops, with every task of
//! the flow's roots exactly once, and a critical path that follows parent links.

use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use proptest::prelude::*;

use super::backend::Backend;
use super::build;
use crate::model::TaskId;
use crate::model::decode::decode_entry;
use crate::state::State;

/// `(parent index or none, send delay ms, runtime ms, producer, failed)` per task.
type Spec = Vec<(Option<prop::sample::Index>, u16, u16, u8, bool)>;

fn id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn state_of(spec: &Spec) -> State {
    let mut s = State::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut sent: Vec<f64> = Vec::new();
    for (i, (parent, delay, runtime, producer, failed)) in spec.iter().enumerate() {
        let parent = parent.as_ref().filter(|_| i > 0).map(|p| p.index(i));
        let root = parent.map_or(i, |p| roots[p]);
        roots.push(root);
        let at = parent.map_or(1795333620.0, |p| sent[p]) + f64::from(*delay) / 1000.0;
        sent.push(at);
        let parent_json = parent.map_or("null".to_string(), |p| format!("\"{}\"", id(p)));
        let end = if *failed {
            "task-failed"
        } else {
            "task-succeeded"
        };
        for line in [
            format!(
                r#"{{"type": "task-sent", "uuid": "{}", "root_id": "{}", "parent_id": {parent_json}, "name": "t{}", "hostname": "gen{producer}@h", "pid": {producer}, "timestamp": {at}}}"#,
                id(i),
                id(root),
                i % 3
            ),
            format!(
                r#"{{"type": "task-started", "uuid": "{}", "hostname": "w@h", "pid": 7, "clock": {}, "timestamp": {}}}"#,
                id(i),
                2 * i,
                at + 0.001
            ),
            format!(
                r#"{{"type": "{end}", "uuid": "{}", "hostname": "w@h", "pid": 7, "clock": {}, "timestamp": {}}}"#,
                id(i),
                2 * i + 1,
                at + 0.001 + f64::from(*runtime) / 1000.0
            ),
        ] {
            decode_entry(&line, &mut Vec::new(), &mut |e| s.apply(e));
        }
    }
    s
}

fn spec() -> impl Strategy<Value = Spec> {
    proptest::collection::vec(
        (
            proptest::option::weighted(0.8, any::<prop::sample::Index>()),
            0u16..80,
            0u16..200,
            0u8..3,
            any::<bool>(),
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
