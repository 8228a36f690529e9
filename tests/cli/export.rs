//! `celtrace export`: the NDJSON recording it writes reads back to the same tasks.

use crate::common::{fixture, json, run};
use crate::tasks::SCENARIOS;

#[test]
fn ndjson_export_round_trips_every_capture() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = SCENARIOS
        .iter()
        .map(|s| fixture(&format!("redis/{s}.events.ndjson")))
        .collect();
    files.push(fixture("redis/ALL.raw.ndjson.gz"));
    files.push(fixture("amqp/ALL.raw.ndjson.gz"));
    for (i, file) in files.iter().enumerate() {
        let out = dir.path().join(format!("{i}.ndjson"));
        let exported = run(&["export", "--events", file, "-o", out.to_str().unwrap()]);
        assert_eq!(exported.code, 0, "{}", exported.normalized());
        let a = json(&run(&["tasks", "--json", "--events", file]));
        let b = json(&run(&[
            "tasks",
            "--json",
            "--events",
            out.to_str().unwrap(),
        ]));
        assert_eq!(a["tasks"], b["tasks"], "{file}");
        let first = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        assert!(
            first.contains("\"celtrace.recording\""),
            "header first: {first}"
        );
    }
}

#[test]
fn time_window_and_task_documents() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let window = run(&[
        "export",
        "--events",
        &all,
        "--since",
        "2026-11-22T07:47:59Z",
    ]);
    assert_eq!(window.code, 0);
    for line in window.stdout.lines().skip(1) {
        let ev: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(ev["timestamp"].as_f64().unwrap() >= 1795333679.0, "{line}");
    }
    let csv = run(&["export", "--events", &all, "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 42, "header + 41 tasks");
    let doc = json(&run(&["export", "--events", &all, "--format", "json"]));
    assert_eq!(doc["count"], 41);
}

#[test]
fn task_filters_pick_the_tasks_and_keep_worker_events() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flaky.ndjson");
    let run_ = run(&[
        "export",
        "--events",
        &all,
        "--name",
        "capapp.flaky",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run_.code, 0, "{}", run_.normalized());
    let doc = json(&run(&[
        "tasks",
        "--json",
        "--events",
        out.to_str().unwrap(),
    ]));
    assert_eq!(doc["count"], 1);
    assert_eq!(
        doc["tasks"][0]["attempts"].as_array().unwrap().len(),
        3,
        "every event of the task"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("worker-heartbeat"), "worker events stay");
    let csv = run(&[
        "export", "--events", &all, "--state", "FAILURE", "--format", "csv",
    ]);
    assert_eq!(csv.stdout.lines().count(), 5, "header + 4 failures");
    let piped = crate::common::run_with_stdin(&["export", "--events", "-", "--name", "x"], b"{}");
    assert_eq!(piped.code, 2, "stdin cannot be read twice");
}
