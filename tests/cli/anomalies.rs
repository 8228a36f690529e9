//! `celtrace anomalies` over the real captures: findings, JSON, `--fail-on` exit codes.

use crate::common::{fixture, json, run};
use crate::tasks::SCENARIOS;

#[test]
fn text_per_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "anomalies",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        assert_eq!(
            out.code, 0,
            "{s}: without --fail-on findings are not a failure"
        );
        insta::assert_snapshot!(format!("anomalies__{s}"), out.normalized());
    }
}

#[test]
fn fail_on_sets_exit_6_only_at_or_above_its_severity() {
    let kill = fixture("redis/worker_kill.events.ndjson");
    let out = run(&["anomalies", "--fail-on", "error", "--events", &kill]);
    assert_eq!(out.code, 6, "{}", out.normalized());
    assert!(out.stderr.contains("at or above error"));
    let ok = fixture("redis/success.events.ndjson");
    for level in ["warning", "error"] {
        let out = run(&["anomalies", "--fail-on", level, "--events", &ok]);
        assert_eq!(out.code, 0, "{}", out.normalized());
    }
    // A warning-only finding fails `--fail-on warning` and passes `--fail-on error`.
    let retry = fixture("redis/retry.events.ndjson");
    let strict = ["anomalies", "--retry-storm", "1", "--events", &retry];
    let warn = run(&[&strict[..], &["--fail-on", "warning"]].concat());
    assert_eq!(warn.code, 6, "{}", warn.normalized());
    let err = run(&[&strict[..], &["--fail-on", "error"]].concat());
    assert_eq!(err.code, 0, "{}", err.normalized());
}

#[test]
fn json_lists_rule_severity_evidence_and_help() {
    let doc = json(&run(&[
        "anomalies",
        "--json",
        "--events",
        &fixture("redis/unregistered.events.ndjson"),
    ]));
    assert_eq!(doc["kind"], "anomalies");
    assert_eq!(doc["count"], 1);
    let a = &doc["anomalies"][0];
    assert_eq!(a["rule"], "unregistered");
    assert_eq!(a["severity"], "error");
    assert_eq!(a["tasks"].as_array().unwrap().len(), 1);
    assert!(a["help"].as_str().unwrap().len() > 10);
    assert_eq!(doc["thresholds"]["stuck_in_queue"], 600.0);
}

#[test]
fn rule_filter_and_thresholds_from_flags() {
    let retry = fixture("redis/retry.events.ndjson");
    let doc = json(&run(&[
        "anomalies",
        "--json",
        "--retry-storm",
        "1",
        "--rule",
        "unregistered",
        "--events",
        &retry,
    ]));
    assert_eq!(doc["count"], 0);
    let doc = json(&run(&[
        "anomalies",
        "--json",
        "--retry-storm",
        "1",
        "--rule",
        "retry_storm",
        "--events",
        &retry,
    ]));
    assert!(doc["count"].as_u64().unwrap() >= 1);
}

#[test]
fn bad_flags_are_usage_errors() {
    let ok = fixture("redis/success.events.ndjson");
    for bad in [
        vec!["--stuck-after", "soon"],
        vec!["--rule", "nonsense"],
        vec!["--fail-on", "fatal"],
        vec!["--lost-after", "-1"],
    ] {
        let out = run(&[&["anomalies"][..], &bad, &["--events", &ok]].concat());
        assert_eq!(out.code, 2, "{bad:?}: {}", out.normalized());
    }
}
