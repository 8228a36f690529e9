//! `workers` and `anomalies` on a real Celery 5.7 worker killed with SIGKILL mid-task (its own
//! redis-server, tests/scripts/record_worker_kill.py): the worker shows as lost, both running
//! tasks are named, and so is a task name no worker registered. Needs the venv from
//! tests/scripts/setup_venv.sh; under CI=true its absence fails.

use crate::common::{Run, command, json, repo_path, run_cmd, venv_python};

/// Runs celtrace with the real clock: the recording is from just now, not from the fixtures' day.
fn run(args: &[&str]) -> Run {
    let mut cmd = command(args);
    cmd.env_remove("CELTRACE_NOW");
    run_cmd(cmd)
}

#[test]
fn sigkilled_worker_is_lost_with_its_running_tasks() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("kill.ndjson");
    let out = crate::common::Reaped::output(
        std::process::Command::new(&py)
            .arg(repo_path("tests/scripts/record_worker_kill.py"))
            .arg("--out")
            .arg(&rec),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: serde_json::Value =
        serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line of facts");
    let rec = rec.to_str().unwrap();

    let doc = json(&run(&["workers", "--json", "--events", rec]));
    assert_eq!(doc["count"], 1, "{doc:#}");
    let w = &doc["workers"][0];
    assert_eq!(w["hostname"], facts["hostname"]);
    assert_eq!(w["pid"], facts["pid"]);
    let recording = std::fs::read_to_string(rec).unwrap();
    assert_eq!(w["status"], "lost", "{w:#}\n{recording}");
    let mut dropped: Vec<String> = w["sessions"][0]["interrupted_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["state"], "STARTED");
            assert_eq!(t["came_back"], false);
            t["id"].as_str().unwrap().to_string()
        })
        .collect();
    dropped.sort();
    let mut expected = vec![
        facts["early"].as_str().unwrap().to_string(),
        facts["late"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(dropped, expected);

    // A patient threshold keeps the silent worker online; the filter finds it as lost.
    let doc = json(&run(&[
        "workers",
        "--json",
        "--lost-after",
        "100",
        "--events",
        rec,
    ]));
    assert_eq!(doc["workers"][0]["status"], "online");
    let table = run(&["workers", "--status", "lost", "--events", rec]);
    assert!(table.stdout.contains("lost"), "{}", table.normalized());
    assert!(table.stdout.contains(facts["early"].as_str().unwrap()));

    // The same recording through `anomalies`: the kill and the unknown name, as errors.
    let out = run(&["anomalies", "--json", "--fail-on", "error", "--events", rec]);
    assert_eq!(out.code, 6, "{}", out.normalized());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let by_rule = |rule: &str| -> Vec<String> {
        doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .flat_map(|a| a["tasks"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let mut interrupted = by_rule("interrupted");
    interrupted.sort();
    assert_eq!(interrupted, expected);
    assert_eq!(
        by_rule("unregistered"),
        [facts["unregistered"].as_str().unwrap()]
    );
}
