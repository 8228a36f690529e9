//! On both brokers, a real Celery 5.7 worker SIGKILLed mid-task (no goodbye, no restart):
//! `workers` shows it lost with the task it dropped, and `anomalies --fail-on error` names
//! that task and an unregistered task name (exit 6).

use crate::common::{Recorder, RedisServer, Vhost, json, live, repo_path, venv_python};

fn lost_on(py: &std::path::Path, redis: &RedisServer, broker: &str, amqp: bool) {
    let mut cmd = std::process::Command::new(py);
    cmd.arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &redis.port.to_string(), "--phase", "lost"]);
    if amqp {
        cmd.args(["--broker", broker]);
    }
    let out = crate::common::Reaped::output(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();

    let doc = json(&live(&["workers", "--json", "--broker", broker]));
    let w = doc["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["hostname"] == facts["hostname"])
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(w["status"], "lost", "{w:#}");
    let dropped: Vec<&serde_json::Value> = w["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["interrupted_tasks"].as_array().unwrap())
        .map(|t| &t["id"])
        .collect();
    assert_eq!(dropped, [&facts["early"]], "{w:#}");

    let out = live(&[
        "anomalies",
        "--json",
        "--fail-on",
        "error",
        "--broker",
        broker,
    ]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let by_rule = |rule: &str| -> Vec<serde_json::Value> {
        doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .flat_map(|a| a["tasks"].as_array().unwrap().clone())
            .collect()
    };
    assert_eq!(by_rule("interrupted"), [facts["early"].clone()], "{doc:#}");
    assert_eq!(
        by_rule("unregistered"),
        [facts["unregistered"].clone()],
        "{doc:#}"
    );
}

#[test]
fn sigkilled_worker_on_redis() {
    let Some(py) = venv_python() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&redis, &[]);
    lost_on(&py, &redis, &redis.url(0), false);
    let _ = rec.stop();
}

#[test]
fn sigkilled_worker_on_rabbitmq() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("lost") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    lost_on(&py, &redis, &url, true);
}
