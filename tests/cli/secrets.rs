//! Secrets never leave through any output: every command and format over a recording full of
//! them, `--no-scrub`, `--scrub-key` and the profile's keys, and broker passwords through
//! every command, against real Redis servers.

use crate::common::*;

const A: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const B: &str = "b2b2b2b2-0000-4000-8000-000000000002";
const C: &str = "c3c3c3c3-0000-4000-8000-000000000003";

/// Parts of every secret in [`recording`]: none may show anywhere.
const SECRETS: &[&str] = &[
    "PASSONE",
    "PASSURL",
    "TOKOBJ",
    "4111",
    "BEARERTOK",
    "APIKEYCUT",
    "PGPASS",
    "APIKEYTB",
    "SESSVAL",
    "CUSTOMSEC",
    "AMQPPASS",
    "BACKENDPW",
    "BADLINEPW",
    "sk_live_4eC39Hq",
];

/// Task A fails after a retry, B succeeds as A's child, C is A's child cut short; a custom
/// event, a result-backend record, a worker, and a malformed line, all carrying secrets.
fn recording() -> String {
    let t = 1_795_333_600.0;
    let task = |kind: &str, id: &str, dt: f64, extra: &str| {
        format!(
            r#"{{"type": "{kind}", "uuid": "{id}", "hostname": "w1@h", "pid": 7, "clock": 1, "timestamp": {}{extra}}}"#,
            t + dt
        )
    };
    let args =
        r#"({'pässword': 'PASSONE1'}, 'redis://app:PASSURL2@cache:6379/0', <Auth token=TOKOBJ3>)"#;
    let kwargs = r#"{'card_number': '4111 1111 1111 1111', 'note': 'Authorization: Bearer BEARERTOK4', 'tenant': 'TENANT13', 'cut': {'api_key': 'APIKEYCUT5abcdef..."#;
    let exception = r#"ConnectionError('cannot reach postgresql://u:PGPASS6@db/app with sk_live_4eC39HqLyjWDarjtT1zdp7dc')"#;
    let traceback = "Traceback (most recent call last):\\n  File \\\"/app/t.py\\\", line 9, in charge\\n    client = Client(api_key='APIKEYTB7')\\nConnectionError: cannot reach postgresql://u:PGPASS6@db/app\\n";
    let identity = |name: &str, parent: &str| {
        format!(
            r#", "name": "{name}", "args": "{}", "kwargs": "{}", "root_id": "{A}", "parent_id": {parent}, "retries": 0, "queue": "celery""#,
            args.replace('"', "\\\""),
            kwargs.replace('"', "\\\"")
        )
    };
    let backend_value = format!(
        r#"{{"status": "FAILURE", "task_id": "{A}", "args": [{{"password": "BACKENDPW11"}}], "kwargs": {{"dsn": "amqp://u:AMQPPASS10@h//"}}, "result": {{"exc_type": "ConnectionError", "exc_message": ["x"]}}, "traceback": null, "children": []}}"#
    );
    [
        r#"{"type": "worker-online", "hostname": "w1@h", "pid": 7, "clock": 1, "timestamp": 1795333599.0, "freq": 2.0, "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux"}"#.to_string(),
        task("task-sent", A, 0.0, &identity("shop.charge", "null")),
        task("task-received", A, 0.1, &identity("shop.charge", "null")),
        task("task-started", A, 0.2, ""),
        task("task-progress", A, 0.3, r#", "secret": "CUSTOMSEC9", "note": "amqp://u:AMQPPASS10@h//""#),
        task("task-sent", B, 0.4, &identity("shop.receipt", &format!("\"{A}\""))),
        task("task-received", B, 0.5, &identity("shop.receipt", &format!("\"{A}\""))),
        task("task-started", B, 0.6, ""),
        task("task-succeeded", B, 0.7, r#", "result": "{'session': 'SESSVAL8', 'ok': True}", "runtime": 0.1"#),
        task("task-received", C, 0.8, &identity("shop.refund", &format!("\"{A}\""))),
        task(
            "task-retried",
            A,
            0.9,
            &format!(r#", "exception": "{exception}", "traceback": "{traceback}""#),
        ),
        task("task-started", A, 1.0, ""),
        task(
            "task-failed",
            A,
            1.1,
            &format!(r#", "exception": "{exception}", "traceback": "{traceback}""#),
        ),
        format!(
            r#"{{"type": "celtrace.backend", "local_received": {}, "key": "celery-task-meta-{A}", "value": {backend_value}}}"#,
            t + 1.2
        ),
        r#"{"type": "task-received", "uuid": 5, "kwargs": "{'password': 'BADLINEPW12'}", "hostname": "w1@h"} trailing"#.to_string(),
    ]
    .join("\n")
        + "\n"
}

fn recording_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("secrets.ndjson");
    std::fs::write(&path, recording()).unwrap();
    path.display().to_string()
}

fn assert_no_secret(what: &str, out: &Run) {
    for s in SECRETS {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "{what}: `{s}` shows\n{}",
            out.normalized()
        );
    }
}

/// Every command, every format: reading the recording shows no secret.
#[test]
fn no_output_of_any_command_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_file(&dir);
    let raw = recording();
    for s in SECRETS {
        assert!(raw.contains(s), "the recording holds {s}");
    }
    let ev = ["--events", file.as_str(), "-vv"];
    let runs: Vec<Vec<&str>> = vec![
        vec!["tasks"],
        vec!["tasks", "--format", "json"],
        vec!["tasks", "--format", "csv"],
        vec!["tasks", "--format", "ndjson"],
        vec!["show", A],
        vec!["show", A, "--json"],
        vec!["show", B],
        vec!["show", B, "--json"],
        vec!["show", C, "--json"],
        vec!["graph", A],
        vec!["graph", A, "--dot"],
        vec!["graph", A, "--format", "mermaid"],
        vec!["graph", A, "--json"],
        vec!["export"],
        vec!["export", "--format", "json"],
        vec!["export", "--format", "csv"],
        vec!["export", "--format", "otlp"],
        vec!["export", "--name", "shop.*"],
        vec!["tail"],
        vec!["tail", "--format", "ndjson"],
        vec!["tail", "-n", "3", "--format", "ndjson"],
        vec!["anomalies"],
        vec!["anomalies", "--json"],
        vec!["stats"],
        vec!["stats", "--json"],
        vec!["workers"],
        vec!["workers", "--json"],
    ];
    let mut shown_filtered = 0;
    for args in runs {
        let all: Vec<&str> = args.iter().chain(&ev).copied().collect();
        let out = run(&all);
        assert!(
            out.code == 0 || out.code == 6,
            "{all:?}:\n{}",
            out.normalized()
        );
        assert!(!out.stderr.contains("panicked"), "{all:?}");
        assert_no_secret(&format!("{args:?}"), &out);
        shown_filtered += usize::from(out.stdout.contains("[Filtered]"));
    }
    assert!(shown_filtered > 15, "the values are there, filtered");
    // The bad line is reported, its secret masked in the excerpt.
    let out = run(&["tasks", "--events", &file, "-vv"]);
    assert!(out.stderr.contains("line 15"), "{}", out.stderr);
    assert!(out.stderr.contains("[Filtered]"), "{}", out.stderr);
}

#[test]
fn a_scrubbed_export_reads_back_as_the_same_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_file(&dir);
    let exported = dir.path().join("exported.ndjson");
    let out = run(&[
        "export",
        "--events",
        &file,
        "-o",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.normalized());
    let text = std::fs::read_to_string(&exported).unwrap();
    for s in SECRETS {
        assert!(!text.contains(s), "{s} in the export:\n{text}");
    }
    let original = json(&run(&["tasks", "--json", "--events", &file]));
    let again = json(&run(&[
        "tasks",
        "--json",
        "--events",
        exported.to_str().unwrap(),
    ]));
    assert_eq!(original["tasks"], again["tasks"]);
    let a = original["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == A)
        .unwrap();
    assert_eq!(
        a["kwargs"],
        "{'card_number': '[Filtered]', 'note': 'Authorization: [Filtered]', 'tenant': 'TENANT13', 'cut': {'api_key': '[Filtered]'"
    );
    assert_eq!(
        a["args"],
        "({'pässword': '[Filtered]'}, 'redis://app:[Filtered]@cache:6379/0', <Auth token=[Filtered]>)"
    );
}

#[test]
fn no_scrub_shows_values_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_file(&dir);
    for args in [
        vec!["tasks", "--json", "--no-scrub"],
        vec!["show", A, "--no-scrub"],
        vec!["--no-scrub", "export"],
        vec!["tail", "--format", "ndjson", "--no-scrub"],
    ] {
        let all: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--events", file.as_str()])
            .collect();
        let out = run(&all);
        assert_eq!(out.code, 0, "{}", out.normalized());
        assert!(out.stdout.contains("PASSONE1"), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("--no-scrub"),
            "{args:?}: {}",
            out.stderr
        );
        // Even asked twice to be quiet.
        let quiet: Vec<&str> = all.iter().copied().chain(["-q"]).collect();
        assert!(run(&quiet).stderr.contains("--no-scrub"));
    }
    // Diagnostics never need a secret: the bad line's excerpt stays scrubbed.
    let out = run(&["tasks", "--no-scrub", "-vv", "--events", &file]);
    assert!(!out.stderr.contains("BADLINEPW"), "{}", out.stderr);
}

#[test]
fn more_keys_from_the_flag_and_the_profile_and_safe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_file(&dir);
    let shown = run(&["tasks", "--json", "--events", &file]);
    assert!(shown.stdout.contains("TENANT13"));
    let out = run(&[
        "tasks",
        "--json",
        "--scrub-key",
        "TENANT",
        "--events",
        &file,
    ]);
    assert!(!out.stdout.contains("TENANT13"), "{}", out.stdout);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[profiles.p]\nscrub_keys = [\"tenant\"]\nsafe_keys = [\"session\"]\n",
    )
    .unwrap();
    let out = run(&[
        "show",
        B,
        "--json",
        "--config",
        config.to_str().unwrap(),
        "--profile",
        "p",
        "--events",
        &file,
    ]);
    assert_eq!(out.code, 0, "{}", out.normalized());
    assert!(!out.stdout.contains("TENANT13"), "{}", out.stdout);
    assert!(out.stdout.contains("SESSVAL8"), "safe key: {}", out.stdout);
    // A safe key's value still has its shaped secrets masked.
    assert!(!out.stdout.contains("PASSURL2"));
}

/// Every command that talks to a broker, with passwords in URLs that cannot work.
#[test]
fn no_command_prints_a_broker_password() {
    let closed = free_port();
    let urls = [
        format!("redis://:hunter2@127.0.0.1:{closed}/0"),
        format!("redis://user:hunter2@127.0.0.1:{closed}/0?password=hunter2"),
        format!("amqp://guest:hunter2@127.0.0.1:{closed}//"),
    ];
    let commands: Vec<Vec<&str>> = vec![
        vec!["tasks"],
        vec!["tasks", "--json"],
        vec!["show", A],
        vec!["graph", A],
        vec!["export"],
        vec!["workers", "--json"],
        vec!["workers", "--inspect"],
        vec!["stats", "--json"],
        vec!["anomalies", "--json"],
        vec!["tail", "-n", "1"],
        vec!["queues", "--json"],
        vec!["record", "--status"],
        vec!["record", "--status", "--json"],
        vec!["retry", A, "--yes"],
        vec!["revoke", A, "--yes"],
        vec!["show", A, "--wait", "--timeout", "1s"],
    ];
    for url in &urls {
        for args in &commands {
            let all: Vec<&str> = args
                .iter()
                .copied()
                .chain(["--broker", url.as_str()])
                .collect();
            let out = Reaped::output(&mut command(&all));
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert!(
                !stdout.contains("hunter2") && !stderr.contains("hunter2"),
                "{all:?}:\n{stdout}\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{all:?}: {stderr}");
        }
        // Nor the result backend's.
        let out = run(&[
            "show",
            A,
            "--result-backend",
            url,
            "--events",
            "tests/data/example.ndjson",
        ]);
        assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"));
    }
    // Help, with the password in every variable celtrace reads.
    let url = &urls[0];
    for args in [
        vec!["--help"],
        vec!["tasks", "--help"],
        vec!["record", "--help"],
    ] {
        let out = run_with_env(
            &args,
            &[
                ("CELTRACE_BROKER_URL", url.as_str()),
                ("CELERY_BROKER_URL", url.as_str()),
                ("CELTRACE_RESULT_BACKEND", url.as_str()),
            ],
        );
        assert_eq!(out.code, 0);
        assert!(!out.stdout.contains("hunter2"), "{args:?}");
    }
}

/// A Redis that wants a password: right, it works and never says it; wrong, the error does not
/// say the wrong one either.
#[test]
fn a_password_protected_redis_never_shows_its_password() {
    let Some(server) = RedisServer::start_with(&["--requirepass", "hunter2"]) else {
        return;
    };
    let good = format!("redis://:hunter2@127.0.0.1:{}/0", server.port);
    let wrong = format!("redis://:wrongpw9@127.0.0.1:{}/0", server.port);
    // A recorder with the right password: its logs and status never say it.
    let mut cmd = command(&["record", "--broker", &good]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut recorder = Reaped::spawn(&mut cmd);
    let mut stderr = recorder.0.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for args in [
        vec!["record", "--status"],
        vec!["record", "--status", "--json"],
        vec!["tasks", "--json"],
        vec!["stats", "--json"],
        vec!["workers", "--json"],
        vec!["export"],
        vec!["queues", "--json"],
    ] {
        for (url, pw) in [(&good, "hunter2"), (&wrong, "wrongpw9")] {
            let all: Vec<&str> = args
                .iter()
                .copied()
                .chain(["--broker", url.as_str()])
                .collect();
            let out = run(&all);
            assert!(
                !out.stdout.contains(pw) && !out.stderr.contains(pw),
                "{all:?}:\n{}",
                out.normalized()
            );
        }
    }
    Recorder::kill_int(recorder.0.id());
    recorder.0.wait().unwrap();
    let logs = logs.join().unwrap();
    assert!(logs.contains("recording"), "{logs}");
    assert!(!logs.contains("hunter2"), "{logs}");
}

#[test]
fn a_secret_is_never_found_by_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_file(&dir);
    for secret in ["PASSONE1", "4111 1111 1111 1111", "PGPASS6", "BEARERTOK4"] {
        let out = run(&["tasks", "--events", &file, "--grep", secret, "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["count"], 0, "--grep {secret} found a task");
    }
    // What is not secret is found; with --no-scrub the value is there to find.
    let out = run(&["tasks", "--events", &file, "--grep", "TENANT13", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(doc["count"].as_u64().unwrap() > 0);
    let out = run(&[
        "tasks",
        "--events",
        &file,
        "--grep",
        "PASSONE1",
        "--json",
        "--no-scrub",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(doc["count"].as_u64().unwrap() > 0);
}
