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
    // With -q the exit status is the whole answer on stderr's side.
    let quiet = run(&["anomalies", "--fail-on", "error", "-q", "--events", &kill]);
    assert_eq!(quiet.code, 6);
    assert_eq!(quiet.stderr, "", "{}", quiet.normalized());
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

/// Runs a phase of `tests/scripts/redis_scenarios.py` on a fresh Redis with `celtrace record
/// --result-backend` running; the Redis and the facts the phase printed.
fn recorded_phase(phase: &str) -> Option<(crate::common::RedisServer, serde_json::Value)> {
    use crate::common::{Reaped, Recorder, RedisServer, repo_path, venv_python};
    let py = venv_python()?;
    let redis = RedisServer::start()?;
    let rec = Recorder::start(&redis, &["--result-backend", &redis.url(1)]);
    let mut cmd = std::process::Command::new(&py);
    cmd.arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &redis.port.to_string(), "--phase", phase]);
    let out = Reaped::output(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
    // The last events and backend writes reach the stream before the recorder stops.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = rec.stop();
    Some((redis, facts))
}

/// A real worker on Redis, recorded with its result backend: a chord whose header task failed
/// (the callback never ran), a hard time-limit kill, a failure spike and a slow run are each
/// found, with the right tasks as evidence; `--name` narrows the task rules.
#[test]
fn the_new_rules_on_a_real_worker() {
    use crate::common::live;
    let Some((redis, facts)) = recorded_phase("anomalies") else {
        return;
    };

    let broker = redis.url(0);
    let out = live(&[
        "anomalies",
        "--json",
        "--stuck-after",
        "1s",
        "--spike-window",
        "5s",
        "--sla",
        "scenapp.sleepy=500ms",
        "--sla",
        "scenapp.*=wait:1m",
        "--broker",
        &broker,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let found = |rule: &str| -> Vec<serde_json::Value> {
        doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    };
    let chord = found("chord_callback_never_ran");
    assert_eq!(chord.len(), 1, "{doc:#}");
    assert_eq!(chord[0]["tasks"][0], facts["chord_callback"], "{doc:#}");
    assert_eq!(chord[0]["tasks"][1], facts["chord_failed"][0], "{doc:#}");
    assert_eq!(chord[0]["severity"], "error");
    assert!(chord[0]["help"].as_str().unwrap().contains("header"));
    let killed = found("time_limit_killed");
    assert_eq!(killed.len(), 1, "{doc:#}");
    assert_eq!(killed[0]["tasks"][0], facts["killed"]);
    let slow = found("slow");
    assert_eq!(slow.len(), 1, "{doc:#}");
    assert_eq!(slow[0]["tasks"][0], facts["slow"]);
    // The runtime SLA: the one-second run broke it, the 20 quick ones did not; nothing
    // waited a minute in the queue.
    let sla = found("sla");
    assert_eq!(sla.len(), 1, "{doc:#}");
    assert_eq!(sla[0]["severity"], "error");
    let over: Vec<&str> = sla[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(over.contains(&facts["slow"].as_str().unwrap()), "{over:?}");
    assert!(
        over.len() <= 2,
        "only the slow run (and the one killed at its limit): {over:?}"
    );
    assert!(
        sla[0]["summary"].as_str().unwrap().contains("SLA of 500ms"),
        "{}",
        sla[0]["summary"]
    );
    let failing = live(&[
        "anomalies",
        "--rule",
        "sla",
        "--sla",
        "scenapp.sleepy=500ms",
        "--fail-on",
        "error",
        "-q",
        "--broker",
        &broker,
    ]);
    assert_eq!(
        failing.code, 6,
        "--fail-on honours the sla rule: {}",
        failing.stderr
    );
    let spike = found("failure_spike");
    assert_eq!(spike.len(), 1, "{doc:#}");
    let mut ids: Vec<&str> = spike[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = facts["spike"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    want.sort_unstable();
    assert_eq!(ids, want, "{doc:#}");
    let refused = found("sent_not_taken");
    assert_eq!(refused.len(), 1, "{doc:#}");
    assert_eq!(
        refused[0]["tasks"],
        serde_json::json!([facts["refused"]]),
        "{doc:#}"
    );

    // The tasks filters narrow the task rules: only the slow name's findings remain, with the
    // recording's gaps (the recorder's start and stop), which concern every task.
    let out = live(&[
        "anomalies",
        "--json",
        "--spike-window",
        "5s",
        "--name",
        "scenapp.sleepy",
        "--broker",
        &broker,
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rules: std::collections::BTreeSet<&str> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        ["recording_gap", "slow", "time_limit_killed"]
            .into_iter()
            .collect(),
        "{doc:#}"
    );
}

/// A chord whose header task died with its worker: the result backend still holds the chord's
/// size, so with --result-backend `anomalies` says its callback will never run, naming the lost
/// task first.
#[test]
fn a_chord_waiting_for_a_lost_header_task_on_a_real_worker() {
    use crate::common::live;
    let Some((redis, facts)) = recorded_phase("chord-lost") else {
        return;
    };

    let broker = redis.url(0);
    let backend = redis.url(1);
    let args = [
        "anomalies",
        "--json",
        "--rule",
        "chord_callback_never_ran",
        "--broker",
        &broker,
    ];
    // Without the result backend nothing says this was a chord.
    let doc = json(&live(&args));
    assert_eq!(doc["count"], 0, "{doc:#}");
    let with: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--result-backend", &backend])
        .collect();
    let doc = json(&live(&with));
    let found = doc["anomalies"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{doc:#}");
    assert_eq!(found[0]["tasks"][0], facts["lost"], "{doc:#}");
    assert_eq!(found[0]["tasks"][1], facts["reported"], "{doc:#}");
    let summary = found[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 of 2 header tasks reported"),
        "{summary}"
    );
    assert!(summary.contains("lost with its worker"), "{summary}");
}
