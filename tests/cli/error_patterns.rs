//! `errors`: failures and retries grouped into patterns, on the real captures.

use crate::common::{fixture, json, run};

#[test]
fn the_retries_of_one_task_are_one_pattern() {
    let retry = fixture("redis/retry.events.ndjson");
    let doc = json(&run(&["errors", "--events", &retry, "--json"]));
    assert_eq!(doc["kind"], "errors");
    let patterns = doc["patterns"].as_array().unwrap();
    let attempt = patterns
        .iter()
        .find(|p| p["pattern"] == "RuntimeError: attempt <n>")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(
        attempt["retries"], 2,
        "RuntimeError('attempt 0') and ('attempt 1')"
    );
    assert_eq!(attempt["failures"], 0);
    assert_eq!(attempt["count"], 2);
    assert_eq!(attempt["names"]["capapp.flaky"], 2);
    assert_eq!(attempt["samples"].as_array().unwrap().len(), 1);
    assert_eq!(
        attempt["trend"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        2
    );
    assert!(
        attempt["example"]
            .as_str()
            .unwrap()
            .starts_with("RuntimeError('attempt 0')"),
        "{attempt}"
    );
}

#[test]
fn every_failure_of_the_captures_with_the_task_filters_and_by() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let doc = json(&run(&["errors", "--events", &all, "--json"]));
    let patterns: Vec<&str> = doc["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pattern"].as_str().unwrap())
        .collect();
    assert!(patterns.contains(&"ValueError: boom"), "{patterns:?}");
    assert!(patterns.contains(&"SoftTimeLimitExceeded"), "{patterns:?}");
    // Most frequent first.
    let counts: Vec<u64> = doc["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    // The task filters choose the tasks.
    let only = json(&run(&[
        "errors",
        "--events",
        &all,
        "--json",
        "--name",
        "capapp.fail",
    ]));
    assert_eq!(only["count"], 1);
    assert_eq!(only["patterns"][0]["pattern"], "ValueError: boom");
    // --by splits a pattern; the table, NDJSON and CSV carry the same rows.
    let by = json(&run(&[
        "errors", "--events", &all, "--json", "--by", "worker",
    ]));
    assert!(
        by["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["by"] == "w1@celtrace")
    );
    let table = run(&["errors", "--events", &all, "--by", "hour"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("HOUR"), "{}", table.stdout);
    let csv = run(&["errors", "--events", &all, "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), patterns.len() + 1);
    let ndjson = run(&["errors", "--events", &all, "--format", "ndjson"]);
    assert_eq!(ndjson.stdout.lines().count(), patterns.len() + 2);
}
