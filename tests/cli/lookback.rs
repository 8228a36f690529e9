//! Looking back and comparing: `--at` on the real captures and on both brokers, `diff` of two
//! runs of the example's workflow, and `replay`'s pacing.

use std::time::{Duration, Instant};

use crate::common::{
    Recorder, RedisServer, Vhost, fixture, json, live, repo_path, run, venv_python,
};

/// `(timestamp, type, uuid, name)` of every task event of a capture.
fn task_events(file: &str) -> Vec<(f64, String, String, String)> {
    std::fs::read_to_string(fixture(file))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("task-")))
        .map(|e| {
            (
                e["timestamp"].as_f64().unwrap(),
                e["type"].as_str().unwrap().to_string(),
                e["uuid"].as_str().unwrap_or_default().to_string(),
                e["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn rfc3339(t: f64) -> String {
    chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn states(doc: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn at_inside_the_chord_shows_the_header_running_and_no_callback_yet() {
    let file = "redis/chord.events.ndjson";
    let events = task_events(file);
    let callback_sent = events
        .iter()
        .find(|e| e.1 == "task-sent" && e.3 == "capapp.tsum")
        .unwrap()
        .0;
    let last_started = events
        .iter()
        .filter(|e| e.1 == "task-started" && e.0 < callback_sent)
        .map(|e| e.0)
        .fold(f64::MIN, f64::max);
    let running = events
        .iter()
        .find(|e| e.1 == "task-started" && e.0 == last_started)
        .unwrap()
        .2
        .clone();
    let at = rfc3339((last_started + callback_sent) / 2.0);
    let path = fixture(file);
    let doc = json(&run(&["tasks", "--events", &path, "--at", &at, "--json"]));
    let st = states(&doc);
    assert_eq!(st.len(), 3, "the three header members, no callback: {st:?}");
    assert_eq!(st[&running], "STARTED");
    assert_eq!(st.values().filter(|s| *s == "SUCCESS").count(), 2);
    // Without --at the callback is there and everything succeeded.
    let all = states(&json(&run(&["tasks", "--events", &path, "--json"])));
    assert_eq!(all.len(), 4);
    assert!(all.values().all(|s| s == "SUCCESS"));

    // The graph at that moment: no callback, the running member marked in DOT and Mermaid.
    let prefix = &running[..8];
    let g = json(&run(&[
        "graph", prefix, "--events", &path, "--at", &at, "--json",
    ]));
    let names: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(!names.contains(&"capapp.tsum"), "{names:?}");
    let dot = run(&["graph", prefix, "--events", &path, "--at", &at, "--dot"]).stdout;
    let line = dot
        .lines()
        .find(|l| l.contains(&format!("\"{running}\" [")))
        .unwrap();
    assert!(line.contains("peripheries=2"), "{line}");
    let mermaid = run(&[
        "graph", prefix, "--events", &path, "--at", &at, "-f", "mermaid",
    ])
    .stdout;
    assert!(mermaid.contains("classDef running"), "{mermaid}");
    assert!(
        mermaid.lines().any(|l| l.starts_with("  class ")
            && l.contains(&running.replace('-', "_"))
            && l.ends_with(" running")),
        "{mermaid}"
    );
    // `show` measures the running task up to --at.
    let out = run(&["show", prefix, "--events", &path, "--at", &at]);
    assert!(out.stdout.contains("running for"), "{}", out.stdout);
}

#[test]
fn at_between_two_attempts_of_a_retried_task() {
    let file = "redis/retry.events.ndjson";
    let events = task_events(file);
    let retried = events.iter().find(|e| e.1 == "task-retried").unwrap();
    let id = retried.2.clone();
    // The next event of the task: the second attempt's delivery.
    let next = events
        .iter()
        .filter(|e| e.2 == id && e.0 > retried.0)
        .map(|e| e.0)
        .fold(f64::MAX, f64::min);
    assert!(next < f64::MAX, "the capture has a second attempt");
    let at = rfc3339((retried.0 + next) / 2.0);
    let path = fixture(file);
    let then = json(&run(&[
        "show", &id, "--events", &path, "--at", &at, "--json",
    ]));
    // Celery delivers the retry's message (its ETA ahead) before it reports task-retried:
    // at that moment the first attempt has been retried and the second waits for its ETA.
    let attempts = then["task"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["state"], "RETRY");
    assert!(attempts[1]["started_at"].is_null(), "{attempts:?}");
    assert_eq!(then["task"]["state"], "RECEIVED");
    assert!(then["task"]["finished_at"].is_null());
    let now = json(&run(&["show", &id, "--events", &path, "--json"]));
    assert!(now["task"]["attempts"].as_array().unwrap().len() > 2);
    assert_eq!(now["task"]["state"], "SUCCESS");

    // The same moment relative to the task's first event.
    let first = events
        .iter()
        .filter(|e| e.2 == id)
        .map(|e| e.0)
        .fold(f64::MAX, f64::min);
    let offset = (retried.0 + next) / 2.0 - first;
    let rel = format!("{}+{}ms", &id[..8], (offset * 1000.0).round() as u64);
    let by_task = json(&run(&[
        "show", &id, "--events", &path, "--at", &rel, "--json",
    ]));
    assert_eq!(by_task["task"], then["task"]);

    // A bad --at is a usage error with a help line.
    let bad = run(&["tasks", "--events", &path, "--at", "yesterday"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--at"), "{}", bad.stderr);
}

#[test]
fn diff_of_two_runs_where_one_failed() {
    let example = repo_path("tests/data/example.ndjson");
    let example = example.to_str().unwrap();
    // 739c048f: an order refused at its first step; cafc4ea0: one that went all the way.
    let out = run(&["diff", "739c", "cafc", "--events", example, "--json"]);
    assert_eq!(out.code, 1, "outcomes differ: {}", out.stderr);
    assert!(out.stderr.is_empty(), "no diagnostic box: {}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "diff");
    assert_eq!(doc["outcomes_differ"], true);
    let nodes = doc["nodes"].as_array().unwrap();
    let root = &nodes[0];
    assert_eq!(root["key"], "shop.validate_order[0]");
    assert_eq!(root["a"]["state"], "FAILURE");
    assert_eq!(root["b"]["state"], "SUCCESS");
    let fields: Vec<&str> = root["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"state") && fields.contains(&"exception") && fields.contains(&"args"),
        "{fields:?}"
    );
    let only_b = nodes.iter().filter(|n| n["a"].is_null()).count();
    assert_eq!(only_b, 7, "the chain after validation ran in B only");
    assert!(nodes.iter().all(|n| !n["b"].is_null()), "nothing only in A");
    // Swapped, the same places show as only in A.
    let swapped = run(&["diff", "cafc", "739c", "--events", example, "--json"]);
    assert_eq!(swapped.code, 1);
    let swapped: serde_json::Value = serde_json::from_str(&swapped.stdout).unwrap();
    let only_a = swapped["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["b"].is_null())
        .count();
    assert_eq!(only_a, 7);

    // The tree for people and DOT of B with the differences.
    let tree = run(&["diff", "739c", "cafc", "--events", example]);
    assert_eq!(tree.code, 1);
    assert!(
        tree.stdout.contains("~ shop.validate_order"),
        "{}",
        tree.stdout
    );
    assert!(tree.stdout.contains("FAILURE → SUCCESS"), "{}", tree.stdout);
    assert!(
        tree.stdout.contains("+   shop.reserve_stock only in B"),
        "{}",
        tree.stdout
    );
    assert!(
        tree.stdout
            .contains("outcomes differ: 0 only in A, 7 only in B, 1 changed"),
        "{}",
        tree.stdout
    );
    let dot = run(&["diff", "739c", "cafc", "--events", example, "--dot"]);
    assert!(dot.stdout.starts_with("digraph"), "{}", dot.stdout);
    assert!(dot.stdout.contains("only in B"), "{}", dot.stdout);

    // A run against itself: the same outcome, exit 0.
    let same = run(&["diff", "cafc", "cafc", "--events", example]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert!(same.stdout.contains("same outcome"), "{}", same.stdout);
    assert!(same.stderr.contains("same run"), "{}", same.stderr);
}

#[test]
fn replay_keeps_the_original_pace() {
    let example = repo_path("tests/data/example.ndjson");
    let example = example.to_str().unwrap();
    let events: Vec<f64> = std::fs::read_to_string(example)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["timestamp"].as_f64())
        .collect();
    let span = events.iter().copied().fold(f64::MIN, f64::max)
        - events.iter().copied().fold(f64::MAX, f64::min);
    assert!(span > 2.0, "the example spans {span}s");
    let speed = 4.0;
    let started = Instant::now();
    let out = run(&[
        "replay",
        "--events",
        example,
        "--speed",
        "4",
        "--format",
        "ndjson",
        "--heartbeats",
    ]);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = span / speed;
    assert!(
        took >= expected * 0.9 && took <= expected + 1.0,
        "replayed {span:.2}s at ×{speed} in {took:.2}s, expected about {expected:.2}s"
    );
    // Every event, as recording lines that read back as the same tasks.
    assert_eq!(out.stdout.lines().count(), events.len());
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("replayed.ndjson");
    std::fs::write(&copy, &out.stdout).unwrap();
    let a = json(&run(&[
        "tasks",
        "--events",
        copy.to_str().unwrap(),
        "--json",
    ]));
    let b = json(&run(&["tasks", "--events", example, "--json"]));
    assert_eq!(a["tasks"], b["tasks"]);

    // --speed 0 does not wait; --from/--until take --at's forms.
    let started = Instant::now();
    let window = run(&[
        "replay",
        "--events",
        example,
        "--speed",
        "0",
        "--from",
        "31d7-10ms",
        "--until",
        "31d7+100ms",
        "--format",
        "ndjson",
    ]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(window.code, 0, "{}", window.stderr);
    let n = window.stdout.lines().count();
    assert!(n > 0 && n < events.len(), "{n}");
}

/// Events published as they happen, with a pause: what `--at` must cut on a live recording.
fn synthetic(kind: &str, id: &str, t: f64) -> String {
    let name = if id.starts_with("aaaa") {
        "shop.slow"
    } else {
        "shop.after"
    };
    format!(
        r#"{{"type": "{kind}", "uuid": "{id}", "name": "{name}", "hostname": "w1@h", "pid": 7, "clock": 1, "timestamp": {t}, "args": "()", "kwargs": "{{}}", "retries": 0, "queue": "celery"}}"#
    )
}

const X: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const Y: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// `(started_at, batches)`: X sent, received, started; a pause longer than the read slack;
/// then X succeeded and Y sent.
fn two_batches(publish: &mut dyn FnMut(&[String])) -> f64 {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let t = now();
    publish(&[
        synthetic("task-sent", X, t),
        synthetic("task-received", X, t + 0.01),
        synthetic("task-started", X, t + 0.02),
    ]);
    std::thread::sleep(Duration::from_millis(3500));
    let t2 = now();
    publish(&[
        synthetic("task-succeeded", X, t2),
        synthetic("task-sent", Y, t2),
    ]);
    t + 0.02
}

fn check_at(broker: &str, started: f64) {
    let at = rfc3339(started + 0.5);
    let then = json(&live(&["tasks", "-b", broker, "--at", &at, "--json"]));
    assert_eq!(
        states(&then).into_iter().collect::<Vec<_>>(),
        vec![(X.to_string(), "STARTED".to_string())]
    );
    // Nothing recorded after --at and its slack was read.
    let whole = json(&live(&["tasks", "-b", broker, "--json"]));
    assert_eq!(states(&whole).len(), 2);
    let read_then = then["diagnostics"]["events"].as_u64().unwrap();
    let read_all = whole["diagnostics"]["events"].as_u64().unwrap();
    assert!(
        read_then <= read_all - 2,
        "read {read_then} of {read_all} events"
    );
    let show = json(&live(&[
        "show", "aaaa", "-b", broker, "--at", &at, "--json", "-q",
    ]));
    assert_eq!(show["task"]["state"], "STARTED");
    let show_now = json(&live(&["show", "aaaa", "-b", broker, "--json", "-q"]));
    assert_eq!(show_now["task"]["state"], "SUCCESS");
}

#[test]
fn at_on_a_recorded_redis_stream_reads_nothing_past_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    let started = two_batches(&mut |events| {
        let mut pipe = redis::pipe();
        for e in events {
            let kind = serde_json::from_str::<serde_json::Value>(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .replace('-', ".");
            pipe.cmd("PUBLISH")
                .arg(format!("/0.celeryev/{kind}"))
                .arg(e)
                .ignore();
        }
        pipe.query::<()>(&mut server.conn()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    check_at(&server.url(0), started);
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn at_on_a_rabbitmq_stream_queue_reads_nothing_past_it() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("lookback") else {
        return;
    };
    let url = vhost.url();
    let out = live(&["record", "--broker", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let mut batch = 0;
    let started = two_batches(&mut |events| {
        batch += 1;
        let path = dir.path().join(format!("batch{batch}.ndjson"));
        let lines: Vec<String> = events
            .iter()
            .map(|e| {
                let kind = serde_json::from_str::<serde_json::Value>(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .replace('-', ".");
                serde_json::json!({"routing_key": kind, "body": e, "properties": {}}).to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let out = std::process::Command::new(&py)
            .arg(repo_path("tests/scripts/amqp_publish.py"))
            .args([&vhost.name, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    std::thread::sleep(Duration::from_millis(500));
    check_at(&url, started);
}
