//! Every JSON a command prints carries the one envelope of docs/json.md: `version`, `kind` and
//! `generated_at` first in a document, and in the `begin` record of an NDJSON stream, whose
//! `end` record counts the items. Every subcommand is either run here or named with the
//! reason it prints no envelope, so a new command cannot skip this.

use crate::common::{RedisServer, fixture, run};

const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";

/// A failed task with a result-backend record holding its real arguments (what `retry` needs).
fn recording(dir: &tempfile::TempDir) -> String {
    let t = 1_795_333_600.0;
    let task = |kind: &str, dt: f64, extra: &str| {
        format!(
            r#"{{"type": "{kind}", "uuid": "{A}", "hostname": "w1@h", "pid": 7, "clock": 1, "timestamp": {}{extra}}}"#,
            t + dt
        )
    };
    let ident = r#", "name": "shop.charge", "args": "(1002,)", "kwargs": "{}", "retries": 0, "queue": "celery""#;
    let backend = format!(
        r#"{{"type": "celtrace.backend", "local_received": {}, "key": "celery-task-meta-{A}", "value": {{"status": "FAILURE", "task_id": "{A}", "name": "shop.charge", "args": [1002], "kwargs": {{}}, "queue": "celery", "result": {{"exc_type": "RuntimeError", "exc_message": ["x"]}}, "traceback": null, "children": []}}}}"#,
        t + 0.5
    );
    let text = [
        task("task-sent", 0.0, ident),
        task("task-received", 0.1, ident),
        task("task-started", 0.2, ""),
        task("task-failed", 0.3, r#", "exception": "RuntimeError('x')""#),
        backend,
    ]
    .join("\n")
        + "\n";
    let path = dir.path().join("envelope.ndjson");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn check_document(what: &str, stdout: &str, kind: &str) {
    let doc: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{what}: not JSON: {e}\n{stdout}"));
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.contains(&"version") && keys.contains(&"generated_at"),
        "{what}: {keys:?}"
    );
    assert_eq!(doc["version"], 1, "{what}");
    assert_eq!(doc["kind"], kind, "{what}");
    let at = doc["generated_at"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok(),
        "{what}: generated_at {at}"
    );
    // The head comes first, as a reader streaming the document would want it.
    let head = stdout.find("\"version\"").unwrap();
    let first_body_key = keys
        .iter()
        .filter(|k| !["version", "kind", "generated_at"].contains(k))
        .filter_map(|k| stdout.find(&format!("\"{k}\"")))
        .min()
        .unwrap_or(usize::MAX);
    assert!(head < first_body_key, "{what}: the head is not first");
}

fn check_stream(what: &str, stdout: &str, kind: &str, item: &str) {
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
        .collect();
    assert!(lines.len() >= 2, "{what}: {stdout}");
    let begin = &lines[0];
    assert_eq!(begin["type"], "begin", "{what}");
    assert_eq!(begin["data"]["version"], 1, "{what}");
    assert_eq!(begin["data"]["kind"], kind, "{what}");
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end", "{what}");
    let items = &lines[1..lines.len() - 1];
    assert!(items.iter().all(|l| l["type"] == item), "{what}: {stdout}");
    assert_eq!(end["data"]["count"], items.len(), "{what}");
}

#[test]
fn every_command_prints_the_one_envelope() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(&dir);
    let chord = fixture("redis/chord.events.ndjson");
    let Some(redis) = RedisServer::start() else {
        return crate::common::skip("redis-server");
    };
    let broker = redis.url(0);
    // (command, kind, item type of the NDJSON stream or "" when it has none, arguments)
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("tasks", "tasks", "task", vec!["tasks", "--events", &chord]),
        ("show", "task", "", vec!["show", A, "--events", &rec]),
        ("graph", "graph", "", vec!["graph", A, "--events", &rec]),
        (
            "export",
            "tasks",
            "",
            vec!["export", "--format", "json", "--events", &chord],
        ),
        (
            "workers",
            "workers",
            "worker",
            vec!["workers", "--events", &chord],
        ),
        ("stats", "stats", "row", vec!["stats", "--events", &chord]),
        (
            "errors",
            "errors",
            "pattern",
            vec!["errors", "--events", &chord],
        ),
        (
            "anomalies",
            "anomalies",
            "anomaly",
            vec!["anomalies", "--events", &chord],
        ),
        ("queues", "queues", "queue", vec!["queues", "-b", &broker]),
        (
            "revoke",
            "revoke",
            "",
            vec!["revoke", A, "--dry-run", "--events", &rec],
        ),
        (
            "retry",
            "retry",
            "",
            vec!["retry", A, "--dry-run", "--events", &rec],
        ),
        // A run against itself: the same outcome, exit 0.
        ("diff", "diff", "", vec!["diff", A, A, "--events", &rec]),
        // No worker and no recording there: failed checks, exit 6, the envelope all the same.
        (
            "doctor",
            "doctor",
            "",
            vec!["doctor", "-b", &broker, "--timeout", "500ms"],
        ),
    ];
    // What prints no envelope, and why (docs/json.md says what they print instead).
    let without: [(&str, &str); 7] = [
        ("record", "writes a recording; its status is for people"),
        (
            "tail",
            "prints events: lines for people or the recording format",
        ),
        ("replay", "prints events, as tail does"),
        (
            "top",
            "draws a dashboard on a terminal; its numbers are the other commands' JSON",
        ),
        ("completions", "prints a shell script"),
        ("man", "prints roff"),
        ("help", "clap's own"),
    ];
    for sub in celtrace::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            cases.iter().any(|c| c.0 == name) || without.iter().any(|w| w.0 == name),
            "`{name}` is neither checked for the envelope nor listed as printing none"
        );
    }
    for (name, kind, item, args) in &cases {
        // `export --format json` and `retry --dry-run` print JSON without being asked.
        let mut with_json = args.clone();
        if !["export", "retry"].contains(name) {
            with_json.push("--json");
        }
        let out = run(&with_json);
        let expected = if *name == "doctor" { 6 } else { 0 };
        assert_eq!(out.code, expected, "{name}: {}", out.normalized());
        check_document(name, &out.stdout, kind);
        if !item.is_empty() {
            let mut ndjson = args.clone();
            ndjson.extend(["--format", "ndjson"]);
            let out = run(&ndjson);
            assert_eq!(out.code, 0, "{name}: {}", out.normalized());
            check_stream(name, &out.stdout, kind, item);
            let mut csv = args.clone();
            csv.extend(["--format", "csv"]);
            let out = run(&csv);
            assert_eq!(out.code, 0, "{name}: {}", out.normalized());
            let header = out.stdout.lines().next().unwrap_or_default();
            assert!(
                header.split(',').count() > 3,
                "{name}: CSV header `{header}`"
            );
        }
    }
}
