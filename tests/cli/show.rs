//! `celtrace show` over the real captures: every task of every scenario, text and JSON.

use crate::common::{fixture, json, run, scenario_ids, task_ids};
use crate::tasks::SCENARIOS;

#[test]
fn text_for_every_task_of_every_scenario() {
    for s in SCENARIOS {
        let file = fixture(&format!("redis/{s}.events.ndjson"));
        let mut all = String::new();
        for id in task_ids(&file) {
            all.push_str(&run(&["show", &id, "--events", &file]).normalized());
            all.push('\n');
        }
        insta::assert_snapshot!(format!("show_text__{s}"), all);
    }
}

#[test]
fn json_for_the_first_task_of_every_scenario() {
    for s in SCENARIOS {
        let file = fixture(&format!("redis/{s}.events.ndjson"));
        let Some(id) = scenario_ids(s)
            .into_iter()
            .next()
            .or_else(|| task_ids(&file).into_iter().next())
        else {
            continue;
        };
        let out = run(&["show", &id, "--json", "--events", &file]);
        assert_eq!(out.code, 0, "{}", out.normalized());
        insta::assert_snapshot!(format!("show_json__{s}"), out.stdout_normalized());
    }
}

#[test]
fn retry_has_three_attempts_and_no_self_parent() {
    let doc = json(&run(&[
        "show",
        "122a0415",
        "--json",
        "--events",
        &fixture("redis/retry.events.ndjson"),
    ]));
    let t = &doc["task"];
    assert_eq!(t["state"], "SUCCESS");
    assert_eq!(t["retries"], 2);
    assert_eq!(
        t["parent_id"],
        serde_json::Value::Null,
        "a retry message names itself as parent"
    );
    let states: Vec<&str> = t["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["RETRY", "RETRY", "SUCCESS"]);
    assert_eq!(t["attempts"][0]["exception"], "RuntimeError('attempt 0')");
}

#[test]
fn hard_time_limit_is_one_failure_with_the_real_error() {
    let ids = scenario_ids("time_limits");
    let file = fixture("redis/time_limits.events.ndjson");
    let hard = ids
        .iter()
        .map(|id| json(&run(&["show", id, "--json", "--events", &file])))
        .find(|d| d["task"]["name"] == "capapp.hard_limited")
        .unwrap();
    let t = &hard["task"];
    assert_eq!(t["state"], "FAILURE");
    assert_eq!(t["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(t["attempts"][0]["duplicate_events"], 1);
    assert_eq!(
        t["exception"],
        "billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)"
    );
}

#[test]
fn worker_kill_marks_the_acks_early_task_interrupted_and_the_acks_late_one_redelivered() {
    let file = fixture("redis/worker_kill.events.ndjson");
    let docs: Vec<_> = scenario_ids("worker_kill")
        .iter()
        .map(|id| json(&run(&["show", id, "--json", "--events", &file])))
        .collect();
    let by_name = |n: &str| docs.iter().find(|d| d["task"]["name"] == n).unwrap();
    let early = &by_name("capapp.sleepy")["task"];
    assert_eq!(early["state"], "STARTED");
    assert_eq!(early["interrupted"], "worker_restarted");
    let late = &by_name("capapp.late_sleepy")["task"];
    assert_eq!(late["state"], "SUCCESS");
    assert_eq!(
        late["attempts"].as_array().unwrap().len(),
        2,
        "redelivered under the same id"
    );
    assert_eq!(late["attempts"][0]["interrupted"], "worker_restarted");
    assert_ne!(late["attempts"][0]["pid"], late["attempts"][1]["pid"]);
}

#[test]
fn revoked_while_queued_has_an_attempt_without_receipt() {
    let file = fixture("redis/revoke_queued.events.ndjson");
    for id in scenario_ids("revoke_queued") {
        let t = json(&run(&["show", &id, "--json", "--events", &file]))["task"].clone();
        if t["state"] == "REVOKED" && t["received_at"].is_null() {
            assert_eq!(t["attempts"][0]["state"], "REVOKED");
            return;
        }
    }
    panic!("no task revoked from the queue");
}

#[test]
fn lineage_and_children() {
    let file = fixture("redis/spawn_children.events.ndjson");
    let spawn = "6cd7b8fe-40ea-4aa9-a427-83b16b6c8e41";
    let parent = json(&run(&["show", spawn, "--json", "--events", &file]));
    assert_eq!(
        parent["children"][0]["id"], "0f7484f8-57f5-447a-9958-750b5cb0ab69",
        "sent first"
    );
    assert_eq!(parent["task"]["name"], "capapp.spawn");
    assert_eq!(parent["children"].as_array().unwrap().len(), 2);
    let child_id = parent["children"][0]["id"].as_str().unwrap();
    let child = json(&run(&["show", child_id, "--json", "--events", &file]));
    assert_eq!(child["lineage"][0]["id"], spawn);
    assert_eq!(child["task"]["root_id"], spawn);
}

#[test]
fn custom_events_are_progress() {
    let file = fixture("redis/custom_event.events.ndjson");
    let id = &scenario_ids("custom_event")[0];
    let t = json(&run(&["show", id, "--json", "--events", &file]))["task"].clone();
    let p = t["progress"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[2]["type"], "task-progress");
    assert_eq!(p[2]["fields"]["current"], 2);
    assert_eq!(p[2]["fields"]["total"], 3);
}

#[test]
fn filtered_reads_show_the_same_as_full_reads() {
    // From a file, `show` decodes only what it needs; from stdin it reads everything.
    let file = fixture("redis/ALL.events.ndjson.gz");
    let bytes = {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    for id in crate::common::task_ids(&file) {
        let filtered = json(&run(&["show", &id[..8], "--json", "--events", &file]));
        let full = json(&crate::common::run_with_stdin(
            &["show", &id[..8], "--json", "--events", "-"],
            &bytes,
        ));
        for part in ["task", "lineage", "children", "flow", "timeline"] {
            assert_eq!(filtered[part], full[part], "{id}: {part}");
        }
        assert!(filtered["diagnostics"]["filtered"].as_u64().unwrap() > 0);
    }
}
