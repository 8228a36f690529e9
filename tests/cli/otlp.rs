//! `export --format otlp`: traces validated against the official OpenTelemetry protobuf schema
//! (opentelemetry-proto in the test venv) and posted to a local OTLP/HTTP receiver.

use std::io::{BufRead, Write};

use crate::common::{fixture, json, repo_path, run, venv_python};

/// Spans a document holds, per the official schema (fails the test if it does not parse).
fn validate(py: &std::path::Path, doc: &str) -> usize {
    let mut child = std::process::Command::new(py)
        .arg(repo_path("tests/scripts/otlp_check.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn attempts(file: &str) -> usize {
    let doc = json(&run(&["tasks", "--json", "--events", file]));
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["attempts"].as_array().unwrap().len())
        .sum()
}

#[test]
fn one_span_per_attempt_valid_against_the_schema() {
    let Some(py) = venv_python() else { return };
    for file in [
        fixture("redis/ALL.events.ndjson.gz"),
        fixture("amqp/ALL.raw.ndjson.gz"),
        fixture("redis/pool_child_kill.events.ndjson"),
    ] {
        let out = run(&["export", "--format", "otlp", "--events", &file]);
        assert_eq!(out.code, 0, "{}", out.normalized());
        assert_eq!(validate(&py, &out.stdout), attempts(&file), "{file}");
    }
}

#[test]
fn traces_follow_flows_and_times_are_exact() {
    let file = fixture("redis/chain.events.ndjson");
    let doc: serde_json::Value =
        serde_json::from_str(&run(&["export", "--format", "otlp", "--events", &file]).stdout)
            .unwrap();
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 3);
    let trace = spans[0]["traceId"].as_str().unwrap();
    assert!(
        spans.iter().all(|s| s["traceId"] == trace),
        "one trace per flow"
    );
    assert_eq!(trace, "48156da13f3e4ab68da6a89180f037c3", "the root's id");
    let by_id = |id: &str| {
        spans
            .iter()
            .find(|s| {
                s["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["value"]["stringValue"] == id)
            })
            .unwrap()
    };
    let first = by_id("48156da1-3f3e-4ab6-8da6-a89180f037c3");
    let second = by_id("0c9fe960-647e-4f33-b1e9-f17dea6cc837");
    assert!(first.get("parentSpanId").is_none());
    assert_eq!(
        second["parentSpanId"], first["spanId"],
        "chain step under the step that sent it"
    );
    let task = json(&run(&["show", "48156da1", "--json", "--events", &file]));
    let started =
        chrono::DateTime::parse_from_rfc3339(task["task"]["started_at"].as_str().unwrap()).unwrap();
    let nanos: i64 = first["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        nanos / 1000,
        started.timestamp_micros(),
        "microsecond-exact start"
    );
}

#[test]
fn posted_to_a_local_collector_and_refusal_is_reported() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let counts = dir.path().join("counts");
    for refuse in [false, true] {
        let mut cmd = std::process::Command::new(&py);
        cmd.arg(repo_path("tests/scripts/otlp_receiver.py"))
            .arg(&counts)
            .stdout(std::process::Stdio::piped());
        if refuse {
            cmd.arg("--refuse");
        }
        let mut receiver = crate::common::Reaped::spawn(&mut cmd);
        let mut port = String::new();
        std::io::BufReader::new(receiver.0.stdout.as_mut().unwrap())
            .read_line(&mut port)
            .unwrap();
        let url = format!("http://127.0.0.1:{}", port.trim());
        let file = fixture("redis/ALL.events.ndjson.gz");
        let out = run(&[
            "export",
            "--format",
            "otlp",
            "--otlp-endpoint",
            &url,
            "--events",
            &file,
        ]);
        drop(receiver);
        if refuse {
            assert_eq!(out.code, 1, "{}", out.normalized());
            assert!(
                out.stderr.contains("celtrace::otlp::export") && out.stderr.contains("503"),
                "{}",
                out.stderr
            );
        } else {
            assert_eq!(out.code, 0, "{}", out.normalized());
            let received: usize = std::fs::read_to_string(&counts)
                .unwrap()
                .lines()
                .map(|l| l.parse::<usize>().unwrap())
                .sum();
            assert_eq!(received, attempts(&file));
            assert!(
                out.stdout.is_empty(),
                "traces went to the collector, not stdout"
            );
        }
    }
    let unreachable = run(&[
        "export",
        "--format",
        "otlp",
        "--otlp-endpoint",
        "http://127.0.0.1:1",
        "--events",
        &fixture("redis/success.events.ndjson"),
    ]);
    assert_eq!(unreachable.code, 1);
}

/// OTLP export writes each span as it is built: a 60,000-step chain fits in 700 MB of address
/// space (holding every span as a JSON value took about 27 KB each, 1.6 GB here).
#[test]
fn a_long_chain_exports_in_bounded_memory() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..60_000u32 {
        let t = 1_795_333_600.0 + f64::from(i) * 0.01;
        let parent = if i == 0 {
            "null".to_string()
        } else {
            format!("\"c-{}\"", i - 1)
        };
        writeln!(f, r#"{{"type": "task-received", "uuid": "c-{i}", "name": "chain.step", "root_id": "c-0", "parent_id": {parent}, "hostname": "w@h", "timestamp": {t}}}"#).unwrap();
        writeln!(f, r#"{{"type": "task-succeeded", "uuid": "c-{i}", "hostname": "w@h", "timestamp": {}, "runtime": 0.004}}"#, t + 0.005).unwrap();
    }
    drop(f);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 700000 && exec {} export --events {} --format otlp -o {}",
            env!("CARGO_BIN_EXE_celtrace"),
            path.display(),
            dir.path().join("out.json").display()
        ))
        .env("CELTRACE_NOW", crate::common::NOW)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 60_000);
}
