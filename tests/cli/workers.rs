//! `celtrace workers` over the real captures: status, restarts, dropped tasks, history, JSON.

use crate::common::{fixture, json, run};

const WORKER_SCENARIOS: &[&str] = &[
    "worker_start",
    "worker_stop",
    "worker_restart",
    "worker_kill",
];

#[test]
fn table_and_history_per_worker_scenario() {
    for s in WORKER_SCENARIOS {
        let file = fixture(&format!("redis/{s}.events.ndjson"));
        let out = run(&["workers", "--events", &file]);
        assert_eq!(out.code, 0, "{s}: {}", out.normalized());
        insta::assert_snapshot!(format!("workers_table__{s}"), out.normalized());
        let out = run(&["workers", "--history", "--events", &file]);
        insta::assert_snapshot!(format!("workers_history__{s}"), out.normalized());
    }
}

#[test]
fn killed_worker_json_names_lost_and_redelivered_tasks() {
    let doc = json(&run(&[
        "workers",
        "--json",
        "--events",
        &fixture("redis/worker_kill.events.ndjson"),
    ]));
    assert_eq!(doc["kind"], "workers");
    assert_eq!(doc["count"], 1);
    let w = &doc["workers"][0];
    assert_eq!(w["hostname"], "w1@celtrace");
    assert_eq!(w["status"], "online");
    assert_eq!(w["restarts"], 1);
    let old = &w["sessions"][0];
    assert_eq!(old["status"], "restarted");
    let dropped: Vec<(String, String, bool)> = old["interrupted_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
                t["came_back"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dropped,
        [
            ("capapp.sleepy".to_string(), "STARTED".to_string(), false),
            (
                "capapp.late_sleepy".to_string(),
                "SUCCESS".to_string(),
                true
            ),
        ]
    );
}

#[test]
fn status_filter_and_stopped_worker() {
    let stop = fixture("redis/worker_stop.events.ndjson");
    let doc = json(&run(&[
        "workers", "--json", "--status", "offline", "--events", &stop,
    ]));
    assert_eq!(doc["count"], 1);
    assert_eq!(doc["workers"][0]["status"], "offline");
    assert!(doc["workers"][0]["sessions"][0]["ended_at"].is_string());
    let doc = json(&run(&[
        "workers",
        "--json",
        "--status",
        "online,lost",
        "--events",
        &stop,
    ]));
    assert_eq!(doc["count"], 0);
}

#[test]
fn lost_after_must_be_a_positive_number() {
    let out = run(&[
        "workers",
        "--lost-after",
        "zero",
        "--events",
        &fixture("redis/worker_stop.events.ndjson"),
    ]);
    assert_eq!(out.code, 2, "{}", out.normalized());
    assert!(out.normalized().contains("heartbeat intervals"));
}

#[test]
fn bad_worker_glob_is_a_usage_error() {
    let out = run(&[
        "workers",
        "--worker",
        "w[",
        "--events",
        &fixture("redis/worker_stop.events.ndjson"),
    ]);
    assert_eq!(out.code, 2, "{}", out.normalized());
    assert!(out.normalized().contains("not a valid glob"));
}
