//! `show --wait` and `graph --wait` on both brokers with a real Celery 5.7 worker: a task that
//! succeeds (exit 0), one that fails (exit 6), a flow, and a timeout (exit 7). The waits start
//! before the tasks are sent, from ids the driver announces first.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::common::{Recorder, RedisServer, Vhost, command, repo_path, venv_python};

fn spawn(args: &[&str]) -> Child {
    let mut cmd = command(args);
    cmd.env_remove("CELTRACE_NOW")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the driver's `wait` phase against `broker`, with the waits started in between.
fn waits_on(py: &std::path::Path, redis: &RedisServer, broker: &str, amqp: bool) {
    let mut driver = std::process::Command::new(py);
    driver
        .arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &redis.port.to_string(), "--phase", "wait"])
        .stdout(Stdio::piped());
    if amqp {
        driver.args(["--broker", broker]);
    }
    let mut driver = crate::common::Reaped::spawn(&mut driver);
    let mut lines = BufReader::new(driver.0.stdout.take().unwrap()).lines();
    let ids: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    let ok = spawn(&[
        "show",
        &id("ok"),
        "--wait",
        "--timeout",
        "60s",
        "--json",
        "-b",
        broker,
    ]);
    let bad = spawn(&[
        "show",
        &id("bad"),
        "--wait",
        "--timeout",
        "60s",
        "-b",
        broker,
    ]);
    let flow = spawn(&[
        "graph",
        &id("first"),
        "--wait",
        "--timeout",
        "60s",
        "--json",
        "-b",
        broker,
    ]);
    let never = "00000000-0000-4000-8000-00000000dead";
    let late = spawn(&["show", never, "--wait", "--timeout", "2s", "-b", broker]);

    let (code, out, err) = finish(ok);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["task"]["state"], "SUCCESS", "{doc:#}");
    let (code, out, err) = finish(bad);
    assert_eq!(code, 6, "{out}{err}");
    assert!(out.contains("ValueError('boom')"), "{out}");
    assert!(err.contains("celtrace::wait::failed"), "{err}");
    let (code, out, err) = finish(flow);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tasks: Vec<&serde_json::Value> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "task")
        .collect();
    assert_eq!(tasks.len(), 2, "{doc:#}");
    assert!(tasks.iter().all(|t| t["state"] == "SUCCESS"), "{doc:#}");
    let (code, _, err) = finish(late);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("celtrace::wait::timeout"), "{err}");
    assert!(driver.0.wait().unwrap().success());
}

#[test]
fn wait_for_tasks_and_flows_on_redis() {
    let Some(py) = venv_python() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&redis, &[]);
    waits_on(&py, &redis, &redis.url(0), false);
    let (code, _) = rec.stop();
    assert_eq!(code, 0);
    // A recording on disk has no live events to wait for.
    let out = crate::common::run(&[
        "show",
        "abcd",
        "--wait",
        "--events",
        &crate::common::fixture("redis/success.events.ndjson"),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn wait_for_tasks_and_flows_on_rabbitmq() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("wait") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = vhost.url();
    assert_eq!(crate::common::run(&["record", "--broker", &url]).code, 0);
    // The stream queue is there and empty: a wait starts from nothing, and times out (7).
    let never = "00000000-0000-4000-8000-00000000beef";
    for cmd in ["show", "graph"] {
        let out = crate::common::live(&[cmd, never, "--wait", "--timeout", "1s", "-b", &url]);
        assert_eq!(out.code, 7, "{cmd}: {}", out.stderr);
    }
    waits_on(&py, &redis, &url, true);
}
