//! `workers --inspect` on both brokers against a real Celery 5.7 worker busy with a long
//! task: its pool, queues, the running task and its registered tasks come back live, and a
//! worker that does not answer is named.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{RedisServer, Vhost, json, live, repo_path, venv_python};

fn inspect_on(py: &std::path::Path, redis: &RedisServer, broker: &str, amqp: bool) {
    let mut serve = std::process::Command::new(py);
    serve
        .arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &redis.port.to_string(), "--phase", "serve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if amqp {
        serve.args(["--broker", broker]);
    }
    let mut serve = crate::common::Reaped::spawn(&mut serve);
    let mut lines = BufReader::new(serve.0.stdout.take().unwrap()).lines();
    let facts: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let host = facts["hostname"].as_str().unwrap();

    let doc = json(&live(&[
        "workers",
        "--inspect",
        "--timeout",
        "2s",
        "--json",
        "--broker",
        broker,
    ]));
    let w = &doc["inspect"]["workers"][host];
    assert!(w.is_object(), "{doc:#}");
    assert_eq!(w["stats"]["pool"]["max-concurrency"], 1, "{w:#}");
    let active = w["active"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{w:#}");
    assert_eq!(active[0]["id"], facts["busy"]);
    assert_eq!(active[0]["name"], "scenapp.sleepy");
    let registered: Vec<&str> = w["registered"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(registered.contains(&"scenapp.add"), "{registered:?}");
    assert_eq!(w["active_queues"][0]["name"], "celery");
    if !amqp {
        assert_eq!(doc["inspect"]["reached"], 1, "{doc:#}");
    }
    let text = live(&["workers", "--inspect", "--broker", broker]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("active 1: "), "{}", text.stdout);
    assert!(text.stdout.contains("scenapp.sleepy"), "{}", text.stdout);

    // `queues --inspect` learns from the workers what they consume.
    let doc = json(&live(&[
        "queues",
        "--inspect",
        "--timeout",
        "2s",
        "--json",
        "--broker",
        broker,
    ]));
    let celery = doc["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "celery")
        .unwrap();
    assert!(
        celery["found_in"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "inspect"),
        "{doc:#}"
    );
    assert_eq!(celery["consumers"], 1, "{doc:#}");

    drop(serve.0.stdin.take());
    assert!(serve.0.wait().unwrap().success());
    // Nobody left to answer.
    let doc = json(&live(&[
        "workers",
        "--inspect",
        "--timeout",
        "500ms",
        "--json",
        "--broker",
        broker,
    ]));
    assert!(
        doc["inspect"]["workers"].as_object().unwrap().is_empty(),
        "{doc:#}"
    );
}

#[test]
fn inspect_a_busy_worker_on_redis() {
    let Some(py) = venv_python() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    inspect_on(&py, &redis, &redis.url(0), false);
    let out = crate::common::run(&[
        "workers",
        "--inspect",
        "--events",
        &crate::common::fixture("redis/success.events.ndjson"),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn inspect_a_busy_worker_on_rabbitmq() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("inspect") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    inspect_on(&py, &redis, &vhost.url(), true);
}
