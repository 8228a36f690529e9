//! `celtrace tasks` over the real Celery 5.7 captures, in every format.

use crate::common::{fixture, json, run, run_with_stdin, scenario_ids};

/// Every capture scenario (Redis run; the AMQP run behaves the same, checked below).
pub const SCENARIOS: &[&str] = &[
    "success",
    "failure",
    "retry",
    "chain",
    "group",
    "chord",
    "spawn_children",
    "nested_chain_group",
    "nested_chain_group_callback",
    "unregistered",
    "revoke_queued",
    "terminate_running",
    "time_limits",
    "custom_event",
    "eta_expires",
    "long_args",
    "control",
    "worker_kill",
    "worker_restart",
    "pool_child_kill",
    "reject",
];

#[test]
fn table_per_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "tasks",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        insta::assert_snapshot!(format!("tasks_table__{s}"), out.normalized());
    }
}

#[test]
fn json_per_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        assert_eq!(out.code, 0, "{s}: {}", out.normalized());
        insta::assert_snapshot!(format!("tasks_json__{s}"), out.stdout_normalized());
    }
}

#[test]
fn every_scenario_task_is_found_with_no_diagnostics() {
    for s in SCENARIOS {
        let doc = json(&run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]));
        let ids: Vec<&str> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        for id in scenario_ids(s) {
            assert!(ids.contains(&id.as_str()), "{s}: {id} missing");
        }
        assert_eq!(doc["diagnostics"]["skipped"], 0, "{s}");
    }
}

#[test]
fn raw_envelopes_give_the_same_tasks_as_decoded_events() {
    for s in SCENARIOS {
        let a = json(&run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.raw.ndjson")),
        ]));
        let b = json(&run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]));
        assert_eq!(a["tasks"], b["tasks"], "{s}");
    }
}

#[test]
fn amqp_captures_give_the_same_shapes_as_redis() {
    // Same scenarios on RabbitMQ: ids and times differ, states and attempt counts must not.
    let shape = |doc: &serde_json::Value| {
        let mut v: Vec<(String, String, usize, u64)> = doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or("").to_string(),
                    t["state"].as_str().unwrap().to_string(),
                    t["attempts"].as_array().unwrap().len(),
                    t["retries"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    for s in [
        "success",
        "failure",
        "retry",
        "chain",
        "group",
        "chord",
        "spawn_children",
        "time_limits",
        "revoke_queued",
        "reject",
    ] {
        let redis = json(&run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]));
        let amqp = json(&run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("amqp/{s}.raw.ndjson")),
        ]));
        assert_eq!(shape(&redis), shape(&amqp), "{s}");
    }
}

#[test]
fn whole_run_gzipped_in_every_format() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    for format in ["table", "csv", "ndjson"] {
        let out = run(&["tasks", "--events", &all, "--format", format]);
        insta::assert_snapshot!(format!("tasks_all__{format}"), out.normalized());
    }
}

#[test]
fn filters_combine() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["tasks", "--json", "--events", &all];
        a.extend_from_slice(args);
        let doc = json(&run(&a));
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap()[..8].to_string())
            .collect()
    };
    assert_eq!(
        ids(&["--state", "FAILURE", "--name", "*fail"]),
        ["8a4f0c72"]
    );
    assert_eq!(
        ids(&["--state", "failure,revoked", "--name", "capapp.sleepy"]),
        ["c897c3cc", "d9f63a66"]
    );
    assert_eq!(
        ids(&[
            "--state",
            "failure",
            "--state",
            "revoked",
            "--name",
            "capapp.sleepy"
        ])
        .len(),
        2
    );
    assert_eq!(
        ids(&["--root", "6cd7b8fe"]).len(),
        3,
        "spawn and its two children"
    );
    assert_eq!(ids(&["--parent", "6cd7b8fe"]).len(), 2);
    assert_eq!(ids(&["--worker", "nobody@*"]).len(), 0);
    assert_eq!(ids(&["--queue", "celery", "--limit", "2"]).len(), 2);
    assert_eq!(
        ids(&["--since", "2026-11-22T07:47:59Z"]),
        ["eaf93c04", "839290ff"]
    );
    assert_eq!(ids(&["--until", "2026-11-22T07:47:01Z"]), ["ed705c4a"]);
    // Relative to the fixed now (08:47:00): 1h back is 07:47:00.
    assert_eq!(ids(&["--until", "1h"]).len(), 0);
    assert_eq!(
        ids(&[
            "--since",
            "61m",
            "--until",
            "59m59s",
            "--name",
            "capapp.add"
        ])
        .len(),
        1
    );
}

#[test]
fn sort_orders() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let first = |args: &[&str]| -> String {
        let mut a = vec!["tasks", "--json", "--events", &all, "--limit", "1"];
        a.extend_from_slice(args);
        json(&run(&a))["tasks"][0]["id"].as_str().unwrap()[..8].to_string()
    };
    assert_eq!(first(&[]), "eaf93c04", "newest received first");
    assert_eq!(first(&["--reverse"]), "ed705c4a", "oldest first");
    assert_eq!(
        first(&["--sort", "runtime"]),
        "eaf93c04",
        "15 s late_sleepy is the longest"
    );
    assert_eq!(
        first(&["--sort", "name"]),
        "b0cfa6e7",
        "capapp.add, newest first within the name"
    );
    assert_eq!(
        first(&["--sort", "state"]),
        "839290ff",
        "STARTED sorts before SUCCESS"
    );
    assert_eq!(first(&["--sort", "started", "--reverse"]), "ed705c4a");
}

#[test]
fn stdin_reads_the_same_as_a_file() {
    let bytes = std::fs::read(fixture("redis/chord.events.ndjson")).unwrap();
    let from_stdin = run_with_stdin(&["tasks", "--json", "--events", "-"], &bytes);
    let from_file = run(&[
        "tasks",
        "--json",
        "--events",
        &fixture("redis/chord.events.ndjson"),
    ]);
    let (a, b) = (json(&from_stdin), json(&from_file));
    assert_eq!(a["tasks"], b["tasks"]);
    assert_eq!(a["diagnostics"]["source"], "<stdin>");
}

#[test]
fn secrets_in_kwargs_are_filtered_unless_asked() {
    let line = r#"{"type": "task-received", "uuid": "0b7e8f3a-1111-4222-8333-944455556666", "hostname": "w1@h", "pid": 1, "clock": 1, "timestamp": 1795333620.0, "name": "shop.charge", "args": "(42,)", "kwargs": "{'card_token': 'tok_live_abc', 'amount': 10}", "retries": 0, "root_id": "0b7e8f3a-1111-4222-8333-944455556666", "parent_id": null}"#;
    let filtered = run_with_stdin(&["tasks", "--json", "--events", "-"], line.as_bytes());
    assert!(
        filtered
            .stdout
            .contains("'card_token': '[Filtered]', 'amount': 10"),
        "{}",
        filtered.stdout
    );
    assert!(!filtered.stdout.contains("tok_live_abc"));
    for fmt in ["table", "csv", "ndjson"] {
        let out = run_with_stdin(
            &["tasks", "--format", fmt, "--events", "-"],
            line.as_bytes(),
        );
        assert!(!out.stdout.contains("tok_live_abc"), "{fmt}");
    }
    let shown = run_with_stdin(&["show", "0b7e", "--events", "-"], line.as_bytes());
    assert!(!shown.stdout.contains("tok_live_abc"));
    let raw = run_with_stdin(
        &["tasks", "--json", "--no-scrub", "--events", "-"],
        line.as_bytes(),
    );
    assert!(raw.stdout.contains("tok_live_abc"));
}

/// A time filter that leaves nothing says where the data lies, for `tasks` and `stats`.
#[test]
fn an_empty_time_range_says_where_the_events_are() {
    for cmd in ["tasks", "stats"] {
        let out = run(&[
            cmd,
            "--until",
            "2026-11-01T00:00:00Z",
            "--events",
            "tests/data/example.ndjson",
        ]);
        assert_eq!(out.code, 0, "{}", out.normalized());
        assert!(
            out.stderr
                .contains("the events run from 2026-11-23 05:20:36.775 +00:00 to 2026-11-23 05:20:41.424 +00:00"),
            "{cmd}: {}",
            out.stderr
        );
    }
}

#[test]
fn grep_finds_tasks_by_what_they_carry() {
    let example = crate::common::repo_path("tests/data/example.ndjson");
    let example = example.to_str().unwrap();
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["tasks", "--events", example, "--json"];
        all.extend(args);
        json(&run(&all))["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap()[..8].to_string())
            .collect()
    };
    // The refused order, by its number, looking in the arguments only.
    assert_eq!(
        ids(&["--grep", r"^\(1002,", "--grep-field", "args"]),
        ["739c048f"]
    );
    // A retry's exception counts: the charge that timed out once, then succeeded.
    assert_eq!(ids(&["--grep", "gateway TIMED", "-i"]), ["31d7f5a5"]);
    // Repeated: any of them; combined with the other filters: all of them.
    let either = ids(&[
        "--grep",
        r"^\(1002,",
        "--grep",
        "gateway timed",
        "--grep-field",
        "args,exception",
    ]);
    assert_eq!(either.len(), 2, "{either:?}");
    assert!(ids(&["--grep", "gateway timed", "--state", "FAILURE"]).is_empty());
    // A bad expression is a usage error with a help line.
    let bad = run(&["tasks", "--events", example, "--grep", "("]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("not a valid regular expression"),
        "{}",
        bad.stderr
    );
}
