//! Hostile recordings a probe found problems with: each is a regression test. Nothing
//! panics, nothing hangs, what is wrong is reported, and the good entries are kept.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::common::{fixture, json, run, run_with_env};

fn write(dir: &tempfile::TempDir, name: &str, lines: &[serde_json::Value]) -> String {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path.display().to_string()
}

#[test]
fn ids_that_are_not_ascii_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let id = "日本語タスク";
    let file = write(
        &dir,
        "utf8.ndjson",
        &[
            serde_json::json!({"type": "task-received", "uuid": id, "name": "t.a", "hostname": "w@h", "timestamp": 1795333600.0}),
            serde_json::json!({"type": "task-started", "uuid": id, "hostname": "w@h", "timestamp": 1795333600.5}),
            serde_json::json!({"type": "task-received", "uuid": "日本語タスケ", "name": "t.a", "hostname": "w@h", "timestamp": 1795333601.0}),
        ],
    );
    for args in [
        vec!["tasks"],
        vec!["tasks", "--ascii"],
        vec!["graph", "日本語タスク"],
        vec!["graph", "日本語タスク", "--dot"],
        vec!["graph", "日本語タスク", "--format", "mermaid"],
        vec!["show", "日本語タスク"],
        vec!["workers"],
    ] {
        let mut a = args.clone();
        a.extend(["--events", &file]);
        let out = run(&a);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
    // Ids that share a prefix are told apart by whole characters.
    let out = run(&["tasks", "--events", &file]);
    assert!(out.stdout.contains("日本語タスク"), "{}", out.stdout);
    let out = run(&["show", "日本語タ", "--events", &file]);
    assert_eq!(out.code, 3, "ambiguous: {}", out.stderr);
}

#[test]
fn huge_names_and_hostnames_are_cut_not_laid_out_for_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n".repeat(256 * 1024);
    let host = format!("w@{}", "h".repeat(256 * 1024));
    let file = write(
        &dir,
        "long.ndjson",
        &[
            serde_json::json!({"type": "worker-online", "hostname": host, "timestamp": 1795333600.0, "freq": 2.0}),
            serde_json::json!({"type": "task-received", "uuid": "u1", "name": name, "hostname": host, "timestamp": 1795333600.0}),
        ],
    );
    for cmd in ["tasks", "workers", "stats"] {
        let started = Instant::now();
        let out = run_with_env(&[cmd, "--events", &file], &[("COLUMNS", "80")]);
        assert_eq!(out.code, 0, "{cmd}: {}", out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{cmd}: {:?}",
            started.elapsed()
        );
        assert!(out.stdout.contains('…'), "{cmd}: cut with an ellipsis");
        assert!(
            out.stdout.len() < 20_000,
            "{cmd}: {} bytes",
            out.stdout.len()
        );
    }
    // JSON keeps the whole name.
    let doc = json(&run(&["tasks", "--json", "--events", &file]));
    assert_eq!(doc["tasks"][0]["name"].as_str().unwrap().len(), name.len());
}

#[test]
fn control_characters_from_events_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "esc.ndjson",
        &[
            serde_json::json!({"type": "worker-online", "hostname": "w@\u{1b}]0;pwned\u{7}", "timestamp": 1795333600.0, "freq": 2.0}),
            serde_json::json!({"type": "task-received", "uuid": "u1", "name": "t.\u{1b}[2Jx", "hostname": "w@\u{1b}]0;pwned\u{7}", "timestamp": 1795333600.0}),
            serde_json::json!({"type": "task-received", "uuid": "u2", "name": "t.y", "hostname": "w@h", "parent_id": "u1", "root_id": "u1",
                "args": "('\u{1b}[31m',)", "kwargs": "{'k': '\u{7}'}", "eta": "\u{1b}]2;t\u{7}", "timestamp": 1795333601.0}),
            serde_json::json!({"type": "task-failed", "uuid": "u2", "hostname": "w@h", "exception": "ValueError('\u{1b}[2J')",
                "traceback": "Traceback:\n  \u{1b}]0;x\u{7}\nValueError", "timestamp": 1795333602.0}),
        ],
    );
    for cmd in [
        "tasks", "workers", "stats", "show u1", "graph u1", "show u2", "graph u2",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.extend(["--events", &file, "--color", "never"]);
        let out = run(&args);
        assert_eq!(out.code, 0, "{cmd}: {}", out.stderr);
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
            "{cmd}: {:?}",
            out.stdout
        );
        assert!(out.stdout.contains("\\u{1b}"), "{cmd}: {}", out.stdout);
        // Tracebacks keep their lines.
        if cmd == "show u2" {
            assert!(out.stdout.contains("\n  ValueError"), "{}", out.stdout);
        }
    }
}

#[test]
fn a_damaged_gzip_keeps_its_readable_part() {
    let whole = std::fs::read(fixture("redis/ALL.events.ndjson.gz")).unwrap();
    let all = json(&run(&[
        "tasks",
        "--json",
        "--events",
        &fixture("redis/ALL.events.ndjson.gz"),
    ]));
    let total = all["count"].as_u64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut crc = whole.clone();
    let at = crc.len() - 6;
    crc[at] ^= 0xff;
    let cases: [(&str, Vec<u8>); 3] = [
        ("cut", whole[..whole.len() * 2 / 3].to_vec()),
        ("trailing", [whole.clone(), b"garbage!".to_vec()].concat()),
        ("crc", crc),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(format!("{name}.ndjson.gz"));
        std::fs::write(&path, bytes).unwrap();
        let out = run(&["tasks", "--json", "--events", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let doc = json(&out);
        let n = doc["count"].as_u64().unwrap();
        assert!(n > 0 && n <= total, "{name}: {n} of {total}");
        assert_eq!(
            doc["diagnostics"]["issues"]["damaged"], 1,
            "{name}: {doc:#}"
        );
        assert!(out.stderr.contains("damaged"), "{name}: {}", out.stderr);
    }
}

#[test]
fn an_empty_recording_is_bad_input_as_the_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.ndjson");
    std::fs::write(&path, b"").unwrap();
    for cmd in ["tasks", "workers", "stats", "anomalies", "export"] {
        let out = run(&[cmd, "--events", path.to_str().unwrap()]);
        assert_eq!(out.code, 5, "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains("celtrace::record::empty"),
            "{}",
            out.stderr
        );
    }
    let help = run(&["--help"]);
    assert!(
        help.stdout
            .contains("5    bad input: recording missing, unreadable, empty")
    );
}

#[test]
fn times_out_of_range_and_negative_runtimes_are_reported_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "times.ndjson",
        &[
            serde_json::json!({"type": "task-received", "uuid": "big", "name": "t", "hostname": "w@h", "timestamp": 1e300}),
            serde_json::json!({"type": "task-received", "uuid": "neg", "name": "t", "hostname": "w@h", "timestamp": -1e18}),
            serde_json::json!({"type": "task-received", "uuid": "y10k", "name": "t", "hostname": "w@h", "timestamp": 253402300800.5}),
            serde_json::json!({"type": "task-received", "uuid": "ok", "name": "t", "hostname": "w@h", "timestamp": 1795333600.0}),
            serde_json::json!({"type": "task-succeeded", "uuid": "ok", "hostname": "w@h", "timestamp": 1795333601.0, "runtime": -3.0}),
        ],
    );
    let out = run(&["tasks", "--json", "--events", &file]);
    let doc = json(&out);
    assert_eq!(doc["count"], 4);
    assert_eq!(doc["diagnostics"]["issues"]["wrong_type"], 4, "{doc:#}");
    let text = out.stdout;
    assert!(!text.contains("+10000") && !text.contains("-3.0"), "{text}");
    for t in doc["tasks"].as_array().unwrap() {
        assert!(t["runtime"].is_null() || t["runtime"].as_f64().unwrap() >= 0.0);
    }
    let out = run(&["tasks", "--events", &file, "-v"]);
    assert!(
        out.stderr.contains("outside the years 1970 to 9999"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`runtime` is negative"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("1970-01-01"), "{}", out.stdout);
}
