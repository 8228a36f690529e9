//! Bad input of every kind: a clear diagnostic, the documented exit code, no panic, and the
//! good entries still read.

use crate::common::{fixture, run, run_with_env, run_with_stdin};

fn good_line() -> String {
    std::fs::read_to_string(fixture("redis/success.events.ndjson")).unwrap()
}

#[test]
fn not_found_ambiguous_and_too_short_ids_exit_3() {
    let file = fixture("redis/ALL.events.ndjson.gz");
    // A relative path: miette wraps long lines, so an absolute one would wrap differently
    // from one checkout to the next.
    let relative = "tests/fixtures/celery-5.7/redis/ALL.events.ndjson.gz";
    let out = run(&["show", "ffffffff", "--events", relative]);
    insta::assert_snapshot!("show_not_found", out.normalized());
    // 6dd and 6dda both start several ids in the whole run.
    let out = run(&["show", "6dd", "--events", &file]);
    insta::assert_snapshot!("show_too_short", out.normalized());
    let out = run(&["show", "e3c", "--events", &file]);
    assert_eq!(out.code, 3);
    let ambiguous = run(&["show", "6d", "--events", &file]);
    assert_eq!(ambiguous.code, 3);
}

#[test]
fn ambiguous_prefix_lists_candidates() {
    let lines = [
        r#"{"type":"task-sent","uuid":"abcd0001-0000-4000-8000-000000000000","name":"a","timestamp":1795333620.0,"hostname":"gen1@h"}"#,
        r#"{"type":"task-sent","uuid":"abcd0002-0000-4000-8000-000000000000","name":"b","timestamp":1795333621.0,"hostname":"gen1@h"}"#,
    ]
    .join("\n");
    let out = run_with_stdin(&["show", "abcd", "--events", "-"], lines.as_bytes());
    insta::assert_snapshot!("show_ambiguous", out.normalized());
}

#[test]
fn missing_file_and_garbage_file_exit_5() {
    let out = run(&["tasks", "--events", "/nonexistent/rec.ndjson"]);
    insta::assert_snapshot!("missing_file", out.normalized());
    let out = run_with_stdin(
        &["tasks", "--events", "-"],
        b"\x00\x01\x02garbage\n\xff\xfe\nnot json at all\n",
    );
    insta::assert_snapshot!("garbage_file", out.normalized());
}

#[test]
fn newer_recording_version_exits_5() {
    let input = format!(
        "{{\"type\": \"celtrace.recording\", \"version\": 99}}\n{}",
        good_line()
    );
    let out = run_with_stdin(&["tasks", "--events", "-"], input.as_bytes());
    assert_eq!(out.code, 5, "{}", out.normalized());
    assert!(out.stderr.contains("celtrace::record::version"));
}

#[test]
fn malformed_entries_are_counted_and_never_hide_good_ones() {
    let bad = [
        r#"{"type": "task-sent", "uuid": "0001", "name": "trunc"#, // truncated JSON
        "[1, 2, 3]",                                               // list of non-events
        r#""just a string""#,                                      // not an object
        r#"{"hostname": "w1@h", "timestamp": 1}"#,                 // no type
        r#"{"type": "task-started", "hostname": "w1@h"}"#,         // task event without uuid
        r#"{"body": "!!!notbase64", "content-type": "application/json", "properties": {"body_encoding": "base64"}}"#,
        r#"{"body": "gASV", "content-type": "application/x-python-serialize", "properties": {"body_encoding": "base64"}}"#,
        r#"{"type": "task-succeeded", "uuid": "ed705c4a-b44d-4d5e-8f68-0758520c8bb9", "runtime": "fast", "timestamp": 1795333620.9, "hostname": "w1@celtrace", "pid": 11065, "clock": 99}"#,
        "",
        "   ",
        r#"{"type": "something-else", "x": 1}"#,
    ];
    let mut input = good_line();
    input.push_str(&bad.join("\n"));
    input.push('\n');
    let out = run_with_stdin(&["tasks", "--events", "-"], input.as_bytes());
    insta::assert_snapshot!("malformed_summary", out.normalized());
    let verbose = run_with_stdin(&["tasks", "--events", "-", "-v"], input.as_bytes());
    insta::assert_snapshot!("malformed_verbose", verbose.normalized());
    let json = run_with_stdin(&["tasks", "--events", "-", "--json"], input.as_bytes());
    assert_eq!(json.code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["count"], 1, "the good task is still there");
    assert_eq!(doc["tasks"][0]["state"], "SUCCESS");
    assert_eq!(doc["diagnostics"]["skipped"], 9);
    assert_eq!(doc["diagnostics"]["issues"]["wrong_type"], 1);
    let quiet = run_with_stdin(&["tasks", "--events", "-", "-q"], input.as_bytes());
    assert!(quiet.stderr.is_empty());
}

#[test]
fn huge_lines_and_fields_are_bounded() {
    let huge_field = format!(
        r#"{{"type": "task-sent", "uuid": "0b7e8f3a-1111-4222-8333-944455556666", "name": "big", "args": "{}", "timestamp": 1795333620.0, "hostname": "gen1@h"}}"#,
        "x".repeat(2_000_000)
    );
    let huge_line = format!(
        "{{\"type\": \"task-sent\", \"pad\": \"{}\"}}",
        "y".repeat(20_000_000)
    );
    let input = format!("{huge_line}\n{huge_field}\n{}", good_line());
    let out = run_with_stdin(&["tasks", "--events", "-", "--json"], input.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["count"], 2);
    assert_eq!(doc["diagnostics"]["issues"]["too_large"], 1);
    assert_eq!(doc["diagnostics"]["issues"]["truncated"], 1);
    let big = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "big")
        .unwrap();
    assert!(big["args"].as_str().unwrap().len() < 300_000);
}

#[test]
fn bad_flags_exit_2() {
    let file = fixture("redis/success.events.ndjson");
    for args in [
        vec!["tasks", "--events", &file, "--since", "yesterday"],
        vec!["tasks", "--events", &file, "--state", "DONE"],
        vec!["tasks", "--events", &file, "--name", "[abc"],
        vec!["tasks", "--events", &file, "--sort", "color"],
        vec!["tasks", "--bogus"],
        vec!["show"],
    ] {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.normalized());
        assert!(!out.stderr.contains("panicked"));
    }
    let out = run(&["tasks", "--events", &file, "--since", "yesterday"]);
    insta::assert_snapshot!("bad_since", out.normalized());
}

#[test]
fn broker_urls_never_print_passwords() {
    // Port 1: nothing listens there.
    let out = run(&["tasks", "--broker", "redis://:hunter2@127.0.0.1:1/0"]);
    assert_eq!(out.code, 4);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    insta::assert_snapshot!("broker_unreachable", out.normalized());
    let out = run(&["tasks", "--broker", "sqs://key:hunter2@x"]);
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains("hunter2"));
    let out = run_with_env(
        &["tasks"],
        &[("CELERY_BROKER_URL", "amqp://guest:hunter2@h/vh")],
    );
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("amqp://guest:****@h/vh"),
        "{}",
        out.stderr
    );
    let out = run_with_env(
        &["tasks", "--broker", "redis://flag"],
        &[("CELTRACE_BROKER_URL", "amqp://env")],
    );
    assert!(
        out.stderr.contains("redis://flag"),
        "flag beats environment: {}",
        out.stderr
    );
    let out = run_with_env(
        &["tasks"],
        &[
            ("CELTRACE_BROKER_URL", "amqp://ct"),
            ("CELERY_BROKER_URL", "redis://celery"),
        ],
    );
    assert!(
        out.stderr.contains("amqp://ct"),
        "CELTRACE_ beats CELERY_: {}",
        out.stderr
    );
}

#[test]
fn closed_pipe_is_success() {
    use std::io::Read;
    let mut child = crate::common::command(&[
        "tasks",
        "--format",
        "csv",
        "--events",
        &fixture("redis/ALL.events.ndjson.gz"),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn color_follows_flag_and_no_color() {
    let file = fixture("redis/failure.events.ndjson");
    let always = run(&["tasks", "--events", &file, "--color", "always"]);
    assert!(
        always.stdout.contains("\x1b["),
        "--color always colours even into a pipe"
    );
    let never = run(&["tasks", "--events", &file, "--color", "never"]);
    assert!(!never.stdout.contains("\x1b["));
    let auto = run_with_env(&["tasks", "--events", &file], &[("NO_COLOR", "1")]);
    assert!(!auto.stdout.contains("\x1b["));
    let json = run(&["tasks", "--events", &file, "--color", "always", "--json"]);
    assert!(!json.stdout.contains("\x1b["), "JSON is never coloured");
    insta::assert_snapshot!("table_coloured", always.stdout_normalized());
}
