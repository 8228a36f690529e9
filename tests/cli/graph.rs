//! `celtrace graph` over the real captures, with and without result-backend records, in every
//! format; every DOT output is rendered by the real Graphviz `dot`.

use std::io::Write;

use crate::common::{fixture, json, run, task_ids};

const SCENARIOS: &[&str] = &[
    "chain",
    "group",
    "chord",
    "nested_chain_group",
    "nested_chain_group_callback",
    "spawn_children",
    "retry",
    "worker_kill",
];

/// The scenario's events followed by every recorded backend write of the run.
fn with_backend(scenario: &str, dir: &std::path::Path) -> String {
    let path = dir.join(format!("{scenario}.with-backend.ndjson"));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&std::fs::read(fixture(&format!("redis/{scenario}.events.ndjson"))).unwrap())
        .unwrap();
    f.write_all(&std::fs::read(fixture("redis/backend.ndjson")).unwrap())
        .unwrap();
    path.display().to_string()
}

/// Renders DOT with Graphviz and fails on any warning. Under CI=true Graphviz must exist.
fn assert_renders(dot_source: &str, what: &str) {
    let child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "CI=true but Graphviz `dot` is missing"
        );
        eprintln!("skipped DOT rendering: no Graphviz `dot` (apt-get install graphviz)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot_source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: dot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{what}: dot warned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn focus(file: &str) -> String {
    // The newest task: in a chord, the callback; in a chain, the last step.
    task_ids(file).last().unwrap()[..8].to_string()
}

#[test]
fn every_format_of_every_scenario_without_backend() {
    for s in SCENARIOS {
        let file = fixture(&format!("redis/{s}.events.ndjson"));
        let id = focus(&file);
        let tree = run(&["graph", &id, "--events", &file]);
        insta::assert_snapshot!(format!("graph_tree__{s}"), tree.normalized());
        let dot = run(&["graph", &id, "--dot", "--events", &file]);
        assert_eq!(dot.code, 0);
        assert_renders(&dot.stdout, s);
        insta::assert_snapshot!(format!("graph_dot__{s}"), dot.stdout);
        let mermaid = run(&["graph", &id, "--format", "mermaid", "--events", &file]);
        insta::assert_snapshot!(format!("graph_mermaid__{s}"), mermaid.stdout);
        let doc = run(&["graph", &id, "--json", "--events", &file]);
        insta::assert_snapshot!(format!("graph_json__{s}"), doc.stdout);
    }
}

#[test]
fn backend_records_make_groups_and_chords_exact() {
    let dir = tempfile::tempdir().unwrap();
    for s in [
        "group",
        "chord",
        "nested_chain_group",
        "nested_chain_group_callback",
        "spawn_children",
    ] {
        let file = with_backend(s, dir.path());
        let id = focus(&file);
        let tree = run(&["graph", &id, "--events", &file]);
        insta::assert_snapshot!(format!("graph_tree_backend__{s}"), tree.stdout);
        let dot = run(&["graph", &id, "--dot", "--events", &file]);
        assert_renders(&dot.stdout, s);
        insta::assert_snapshot!(format!("graph_dot_backend__{s}"), dot.stdout);
        let mermaid = run(&["graph", &id, "--format", "mermaid", "--events", &file]);
        insta::assert_snapshot!(format!("graph_mermaid_backend__{s}"), mermaid.stdout);
        let doc = json(&run(&["graph", &id, "--json", "--events", &file]));
        let mut stable = doc.clone();
        stable["generated_at"] = serde_json::Value::Null;
        insta::assert_snapshot!(
            format!("graph_json_backend__{s}"),
            serde_json::to_string_pretty(&stable).unwrap()
        );
        assert_eq!(doc["groups"], "backend", "{s}");
        assert!(
            doc["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["inferred"] == false),
            "{s}: nothing guessed"
        );
    }
}

#[test]
fn chord_structure_exact_and_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let exact = json(&run(&[
        "graph",
        "5863",
        "--json",
        "--events",
        &with_backend("chord", dir.path()),
    ]));
    let chord = exact["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "chord")
        .unwrap();
    assert_eq!(
        chord["id"], "b7496f49-255c-461e-9011-de99e05a155c",
        "the group id from the backend"
    );
    assert_eq!(chord["members"], 3);
    assert_eq!(chord["state"], "SUCCESS");
    let callback = exact["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "callback")
        .unwrap();
    assert_eq!(callback["to"], "5863973f-17ee-4535-a76f-ee730cc3b3f9");
    assert_eq!(callback["inferred"], false);

    let guessed = json(&run(&[
        "graph",
        "5863",
        "--json",
        "--events",
        &fixture("redis/chord.events.ndjson"),
    ]));
    assert_eq!(guessed["groups"], "inferred");
    let chord = guessed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "chord")
        .unwrap();
    assert_eq!(chord["inferred"], true);
    assert_eq!(chord["members"], 3);
    let path: Vec<&str> = guessed["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        path.last().unwrap(),
        &"5863973f-17ee-4535-a76f-ee730cc3b3f9"
    );
}

#[test]
fn chain_is_a_path_and_retries_are_one_node() {
    let chain = json(&run(&[
        "graph",
        "23aa",
        "--json",
        "--events",
        &fixture("redis/chain.events.ndjson"),
    ]));
    assert_eq!(chain["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(chain["critical_path"].as_array().unwrap().len(), 3);
    assert!(
        chain["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "child" && e["inferred"] == false)
    );
    let retry = json(&run(&[
        "graph",
        "122a",
        "--json",
        "--events",
        &fixture("redis/retry.events.ndjson"),
    ]));
    assert_eq!(
        retry["nodes"].as_array().unwrap().len(),
        1,
        "attempts of one task, never a self-loop"
    );
    assert_eq!(retry["nodes"][0]["retries"], 2);
    assert!(retry["edges"].as_array().unwrap().is_empty());
}

#[test]
fn dot_is_deterministic() {
    let file = fixture("redis/nested_chain_group_callback.events.ndjson");
    let a = run(&["graph", "745d", "--dot", "--events", &file]).stdout;
    let b = run(&["graph", "411f", "--dot", "--events", &file]).stdout;
    let c = run(&["graph", "745d", "--dot", "--events", &file]).stdout;
    assert_eq!(a, c, "same input, same bytes");
    assert_ne!(a, b, "only the focus mark differs");
    assert_eq!(a.lines().count(), b.lines().count());
}

const ROOT: &str = "00000000-0000-4000-8000-000000000000";

/// A root that sends `n` children in one burst (generated, in the recording format).
fn fan_out(n: usize, dir: &std::path::Path) -> String {
    let path = dir.join("fan.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    let id = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let t0 = 1795333620.0;
    let mut lines = Vec::new();
    for i in 0..=n {
        let (parent, producer, sent) = if i == 0 {
            ("null".to_string(), "gen1@web", t0)
        } else {
            (
                format!("\"{}\"", id(0)),
                "gen2@w1",
                t0 + 0.01 + i as f64 * 1e-4,
            )
        };
        let name = if i == 0 {
            "fan.start"
        } else if i % 10 == 0 {
            "fan.slow"
        } else {
            "fan.item"
        };
        let outcome = if i % 7 == 3 {
            "task-failed"
        } else {
            "task-succeeded"
        };
        lines.push(format!(r#"{{"type": "task-sent", "uuid": "{}", "root_id": "{}", "parent_id": {parent}, "name": "{name}", "hostname": "{producer}", "pid": 1, "clock": 1, "timestamp": {sent}}}"#, id(i), id(0)));
        lines.push(format!(r#"{{"type": "task-started", "uuid": "{}", "hostname": "w1@h", "pid": 9, "clock": {}, "timestamp": {}}}"#, id(i), 2 * i + 1, sent + 0.001));
        lines.push(format!(r#"{{"type": "{outcome}", "uuid": "{}", "hostname": "w1@h", "pid": 9, "clock": {}, "timestamp": {}, "runtime": 0.001}}"#, id(i), 2 * i + 2, sent + 0.002));
    }
    writeln!(f, "{}", lines.join("\n")).unwrap();
    path.display().to_string()
}

#[test]
fn huge_fan_outs_are_summarised_unless_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = fan_out(40, dir.path());
    let tree = run(&["graph", ROOT, "--events", &file]);
    insta::assert_snapshot!("graph_fan_out_summary", tree.stdout);
    assert!(tree.stdout.contains("30 more"), "{}", tree.stdout);
    let all = run(&["graph", ROOT, "--all", "--events", &file]);
    assert_eq!(
        all.stdout
            .lines()
            .filter(|l| l.contains("fan.") && !l.starts_with("critical path"))
            .count(),
        41
    );
    let ascii = run(&["graph", ROOT, "--ascii", "--events", &file]);
    let decoration = ['├', '└', '│', '↓', '★', '◀', '…', '×', '⇒', '⇢', '→'];
    assert!(!ascii.stdout.contains(decoration), "{}", ascii.stdout);
    // Without evidence the fan-out hangs off its parent directly; guessed as a group, the
    // group node is one level deeper.
    let shallow = run(&[
        "graph",
        ROOT,
        "--depth",
        "1",
        "--guess-groups",
        "--events",
        &file,
    ]);
    assert!(
        shallow.stdout.contains("more below (--depth)"),
        "{}",
        shallow.stdout
    );
    assert_renders(
        &run(&["graph", ROOT, "--dot", "--events", &file]).stdout,
        "fan-out",
    );
}

#[test]
fn the_asked_about_task_is_never_summarised_away() {
    let dir = tempfile::tempdir().unwrap();
    let file = fan_out(40, dir.path());
    let member = "00000000-0000-4000-8000-000000000033";
    let tree = run(&["graph", member, "--events", &file]);
    assert_eq!(tree.code, 0, "{}", tree.stderr);
    let focus: Vec<&str> = tree
        .stdout
        .lines()
        .filter(|l| l.contains("◀ this task"))
        .collect();
    assert_eq!(focus.len(), 1, "{}", tree.stdout);
    assert!(focus[0].contains("00000000"), "{}", tree.stdout);
    // Still one summary line for the rest.
    assert!(tree.stdout.contains("30 more"), "{}", tree.stdout);
}

#[test]
fn every_task_of_the_whole_run_has_a_flow_that_renders() {
    let file = fixture("redis/ALL.events.ndjson.gz");
    for id in task_ids(&file) {
        let doc = json(&run(&["graph", &id, "--json", "--events", &file]));
        let ids: Vec<&str> = doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&id.as_str()), "{id} is in its own flow");
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{id}: a node twice");
        assert!(
            doc["edges"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["from"] != e["to"]),
            "{id}: self-loop"
        );
        assert_renders(
            &run(&["graph", &id, "--dot", "--events", &file]).stdout,
            &id,
        );
    }
}

/// The shipped example, as a new user first draws it: each flow holds its root's tasks only
/// (the two orders and the nightly report were sent by separate `.delay()` calls), the
/// report's children hang under it, and the fan-out's chord is read from its signature.
#[test]
fn the_example_graphs_hold_only_their_flows() {
    let file = "tests/data/example.ndjson";
    for (id, tasks) in [("31d7", 8), ("739c", 1), ("860e", 3)] {
        let out = run(&["graph", id, "--events", file]);
        assert_eq!(out.code, 0, "{}", out.normalized());
        insta::assert_snapshot!(format!("graph_example_{id}"), out.stdout);
        let doc = json(&run(&["graph", id, "--json", "--events", file]));
        let count = doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "task")
            .count();
        assert_eq!(count, tasks, "{id}: {doc:#}");
    }
    let report = json(&run(&["graph", "860e", "--json", "--events", file]));
    let edges = report["edges"].as_array().unwrap();
    assert_eq!(
        edges
            .iter()
            .filter(|e| e["kind"] == "child" && e["from"].as_str().unwrap().starts_with("860e9ead"))
            .count(),
        2,
        "both render_section tasks are the report's children: {report:#}"
    );
    assert!(edges.iter().all(|e| e["kind"] != "callback"), "{report:#}");
}

/// `show`'s Flow line and `graph` count the same tasks, for every task of every capture.
#[test]
fn show_and_graph_count_the_same_flow() {
    for file in [
        fixture("redis/ALL.events.ndjson.gz"),
        "tests/data/example.ndjson".to_string(),
    ] {
        let ids = task_ids(&file);
        assert!(ids.len() > 10);
        for id in ids {
            let shown = json(&run(&["show", &id, "--json", "--events", &file]));
            let drawn = json(&run(&["graph", &id, "--json", "--events", &file]));
            let tasks = drawn["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["kind"] == "task")
                .count();
            assert_eq!(
                shown["flow"]["tasks"].as_u64(),
                Some(tasks as u64),
                "{id} in {file}"
            );
        }
    }
}

/// `--guess-groups` joins the group capture's three top-level tasks, and says it guessed in
/// every format; without it each is its own flow.
#[test]
fn guessed_groups_are_labelled_in_every_format() {
    let file = fixture("redis/group.events.ndjson");
    let plain = json(&run(&["graph", "a792", "--json", "--events", &file]));
    assert_eq!(plain["nodes"].as_array().unwrap().len(), 1, "{plain:#}");
    assert_eq!(plain["likely_siblings"].as_array().unwrap().len(), 2);
    for (format, mark) in [
        ("tree", "(guess)"),
        ("dot", "(guess)"),
        ("mermaid", "(guess)"),
        ("json", "\"evidence\": \"guess\""),
    ] {
        let out = run(&[
            "graph",
            "a792",
            "--guess-groups",
            "--format",
            format,
            "--events",
            &file,
        ]);
        assert_eq!(out.code, 0, "{}", out.normalized());
        assert!(out.stdout.contains(mark), "{format}: {}", out.stdout);
    }
}
