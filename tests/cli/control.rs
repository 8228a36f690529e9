//! `revoke` and `retry` on both brokers against a real Celery 5.7 worker (one process, busy
//! with a long task): a queued task revoked never runs, a running one is terminated, a task
//! that failed on a flag runs again once the flag is flipped and is linked to the original,
//! and every refusal has its exit code with nothing sent.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::common::{
    Recorder, RedisServer, Run, Vhost, command, json, live, repo_path, run_cmd, venv_python,
};

fn live_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(args);
    cmd.env_remove("CELTRACE_NOW");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd)
}

fn task_count(broker: &str) -> usize {
    json(&live(&["tasks", "--json", "--broker", broker, "-q"]))["count"]
        .as_u64()
        .unwrap() as usize
}

/// Waits (at most 20 s) until the recording on `broker` holds task `id`.
pub(crate) fn wait_recorded(broker: &str, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = live(&["show", id, "--json", "--broker", broker, "-q"]);
        if out.code == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never recorded: {}",
            out.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn control_on(py: &std::path::Path, redis: &RedisServer, broker: &str, amqp: bool) {
    let (facts, mut ask, _serve) = serve(py, redis, broker, amqp, "serve");
    let busy = facts["busy"].as_str().unwrap().to_string();
    let queued = ask("sleepy 30");
    // The recording must hold both before any query: a fixed sleep raced the broker.
    wait_recorded(broker, &busy);
    wait_recorded(broker, &queued);

    // Refusals first: each with its code, and nothing sent.
    let before = task_count(broker);
    let out = live_env(
        &["revoke", &queued, "--yes", "-b", broker],
        &[("CELTRACE_READ_ONLY", "1")],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::control::read_only"),
        "{}",
        out.stderr
    );
    let out = live(&["revoke", &queued, "-b", broker]);
    assert_eq!(out.code, 2, "no --yes and no terminal: {}", out.stderr);
    let out = live(&["retry", "ffff0000", "--yes", "-b", broker]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let out = live(&[
        "revoke", "--signal", "SIGFOO", &queued, "--yes", "-b", broker,
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // The queued task has no result-backend record yet: its arguments are only reprs.
    let out = live(&["retry", &queued, "--yes", "-b", broker]);
    assert_eq!(out.code, 2, "args only as reprs: {}", out.stderr);
    assert!(out.stderr.contains("result_extended"), "{}", out.stderr);
    let dry = json(&live(&["revoke", &queued, "--dry-run", "-b", broker]));
    assert_eq!(dry["request"]["arguments"]["task_id"][0], queued.as_str());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(task_count(broker), before, "a refusal sent something");

    // A queued task, revoked, never runs.
    let out = live(&["revoke", &queued, "--yes", "--json", "-b", broker]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    if !amqp {
        assert_eq!(json(&out)["reached"], 1, "{}", out.stdout);
    }
    // The running one is killed with the signal asked for.
    let out = live(&[
        "revoke",
        &busy,
        "--terminate",
        "--signal",
        "term",
        "--wait-reply",
        "--timeout",
        "3s",
        "--json",
        "--yes",
        "-b",
        broker,
    ]);
    let doc = json(&out);
    assert_eq!(doc["signal"], "SIGTERM");
    assert!(
        doc["replies"][facts["hostname"].as_str().unwrap()].is_object(),
        "{doc:#}"
    );
    let out = live(&[
        "show",
        &busy,
        "--wait",
        "--timeout",
        "30s",
        "--json",
        "-b",
        broker,
    ]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(json_any(&out)["task"]["state"], "REVOKED");
    let out = live(&[
        "show",
        &queued,
        "--wait",
        "--timeout",
        "30s",
        "--json",
        "-b",
        broker,
    ]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    let q = json_any(&out);
    assert_eq!(q["task"]["state"], "REVOKED", "{q:#}");
    assert!(
        q["task"]["started_at"].is_null(),
        "a revoked queued task never starts: {q:#}"
    );
}

/// Sends the driver a command line and returns the task id it answers with.
pub(crate) type Ask = Box<dyn FnMut(&str) -> String>;

/// The driver's `serve` phase: its first line, a way to ask it for tasks, and the process.
pub(crate) fn serve(
    py: &std::path::Path,
    redis: &RedisServer,
    broker: &str,
    amqp: bool,
    phase: &str,
) -> (serde_json::Value, Ask, crate::common::Reaped) {
    let mut cmd = std::process::Command::new(py);
    cmd.arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &redis.port.to_string(), "--phase", phase])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if amqp {
        cmd.args(["--broker", broker]);
    }
    let mut child = crate::common::Reaped::spawn(&mut cmd);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let facts: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let ask = move |cmd: &str| -> String {
        writeln!(stdin, "{cmd}").unwrap();
        let v: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    (facts, Box::new(ask), child)
}

/// A task that failed on a flag runs again once the flag is set, linked to the original.
fn retry_on(py: &std::path::Path, redis: &RedisServer, broker: &str, amqp: bool) {
    let backend = redis.url(1);
    let (_, mut ask, _serve) = serve(py, redis, broker, amqp, "serve-idle");
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag");
    let failed = ask(&format!("check {}", flag.display()));
    let out = live(&["show", &failed, "--wait", "--timeout", "30s", "-b", broker]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    std::fs::write(&flag, "set").unwrap();
    let out = live(&[
        "retry",
        &failed[..8],
        "--yes",
        "--json",
        "-b",
        broker,
        "--result-backend",
        &backend,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let retried = json(&out)["retried"][0]["new"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(retried, failed);
    let out = live(&[
        "show",
        &retried,
        "--wait",
        "--timeout",
        "30s",
        "--json",
        "-b",
        broker,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    assert_eq!(doc["task"]["state"], "SUCCESS");
    assert_eq!(doc["task"]["parent_id"], failed.as_str());
    assert_eq!(doc["task"]["name"], "scenapp.check");
    assert_eq!(doc["task"]["args"], format!("('{}',)", flag.display()));
    let graph = json(&live(&["graph", &retried, "--json", "-b", broker]));
    let ids: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert!(
        ids.contains(&failed.as_str()) && ids.contains(&retried.as_str()),
        "{graph:#}"
    );
}

/// The JSON document of a run whatever its exit code.
fn json_any(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.normalized()))
}

#[test]
fn revoke_and_retry_on_redis() {
    let Some(py) = venv_python() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&redis, &["--result-backend", &redis.url(1)]);
    control_on(&py, &redis, &redis.url(0), false);
    let _ = rec.stop();
    // A fresh server: the app's short visibility timeout (for the kill scenario) would have
    // the killed task restored to the next worker, ahead of everything.
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&redis, &["--result-backend", &redis.url(1)]);
    retry_on(&py, &redis, &redis.url(0), false);
    let _ = rec.stop();
}

#[test]
fn revoke_and_retry_on_rabbitmq() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("control") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    control_on(&py, &redis, &url, true);
    retry_on(&py, &redis, &url, true);
}

#[test]
fn refusals_send_nothing_to_the_broker() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &[]);
    crate::redis_record::publish_capture(&server, "redis/ALL.raw.ndjson.gz");
    // Two tasks whose ids share a prefix.
    for n in 1..=2 {
        let ev = format!(
            r#"{{"type": "task-sent", "uuid": "abcd000{n}-0000-4000-8000-000000000000", "name": "x.y", "queue": "celery", "hostname": "gen1@h", "timestamp": 1795333620.0}}"#
        );
        let _: i64 = redis::cmd("PUBLISH")
            .arg("/0.celeryev/task.sent")
            .arg(ev)
            .query(&mut server.conn())
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    // A listener on the pidbox channel and the task queue: anything sent would show here.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut sub = client.get_connection().unwrap();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("*celery.pidbox*").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let cases: [(&[&str], i32, &str); 6] = [
        (&["revoke", "abcd", "--yes"], 3, "celtrace::task::ambiguous"),
        (&["retry", "abcd", "--yes"], 3, "celtrace::task::ambiguous"),
        (
            &["revoke", "ffff0000", "--yes"],
            3,
            "celtrace::task::not_found",
        ),
        (&["revoke", "5863"], 2, "needs a confirmation"),
        (&["retry", "5863", "--yes"], 2, "result_extended"),
        (&["retry"], 2, "no task given"),
    ];
    for (args, code, says) in cases {
        let mut a = args.to_vec();
        a.extend(["--broker", url.as_str()]);
        let out = live(&a);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let out = live_env(
        &["revoke", "5863", "--yes", "--broker", &url],
        &[("CELTRACE_READ_ONLY", "1")],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        pubsub.get_message().is_err(),
        "a refusal published to the pidbox"
    );
    drop(pubsub);
    let queued: u64 = redis::cmd("LLEN").arg("celery").query(&mut sub).unwrap();
    assert_eq!(queued, 0, "a refusal queued a task");
    let _ = rec.stop();
}
