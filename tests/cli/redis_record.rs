//! `record`, the queries over a recorded stream, and `tail`, against a private redis-server
//! (and, where the venv is there, a real Celery 5.7 worker). Under CI=true a missing
//! redis-server or venv fails these tests.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    Recorder, RedisServer, certificates, command, fixture, json, live, repo_path, run_cmd,
    venv_python,
};

/// PUBLISHes every captured envelope (docs/protocol.md §1.4) on DB 0's channels, as a worker would.
pub(crate) fn publish_capture(server: &RedisServer, capture: &str) -> usize {
    use std::io::Read;
    let mut text = String::new();
    let file = std::fs::File::open(fixture(capture)).unwrap();
    if capture.ends_with(".gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    } else {
        std::io::BufReader::new(file)
            .read_to_string(&mut text)
            .unwrap();
    }
    let mut pipe = redis::pipe();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let channel = v["channel"].as_str().unwrap().replacen("/1.", "/0.", 1);
        pipe.cmd("PUBLISH")
            .arg(channel)
            .arg(v["raw"].as_str().unwrap())
            .ignore();
        n += 1;
    }
    pipe.query::<()>(&mut server.conn()).unwrap();
    n
}

fn wait_for_len(server: &RedisServer, key: &str, len: u64) -> u64 {
    let mut conn = server.conn();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: u64 = redis::cmd("XLEN").arg(key).query(&mut conn).unwrap();
        if n >= len || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The recorder's gap records, newest first, once there are `n` (or at the deadline).
fn wait_for_gaps(server: &RedisServer, n: usize, within: Duration) -> Vec<String> {
    let mut conn = server.conn();
    let deadline = Instant::now() + within;
    loop {
        let gaps: Vec<String> = redis::cmd("LRANGE")
            .arg("celtrace:events:gaps")
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .unwrap();
        if gaps.len() >= n || Instant::now() > deadline {
            return gaps;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tasks_of(doc: &serde_json::Value) -> serde_json::Value {
    doc["tasks"].clone()
}

#[test]
fn recorded_captures_read_back_exactly_like_the_files() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &[]);
    publish_capture(&server, "redis/ALL.raw.ndjson.gz");
    let file = fixture("redis/ALL.events.ndjson.gz");
    let from_file = json(&live(&["tasks", "--json", "--events", &file]));
    let events = from_file["diagnostics"]["events"].as_u64().unwrap();
    // Every event, plus the start gap record.
    assert_eq!(
        wait_for_len(&server, "celtrace:events", events + 1),
        events + 1
    );
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("stopped; {events} events recorded")),
        "{stderr}"
    );

    let from_redis = json(&live(&["tasks", "--json", "--broker", &url]));
    assert_eq!(tasks_of(&from_redis), tasks_of(&from_file));
    assert_eq!(from_redis["diagnostics"]["skipped"], 0);

    // show and graph go through the index: the same answers as the whole file gives.
    for id in ["5863973f", "6dda", "e3c4fd9b", "839290ff"] {
        for cmd in ["show", "graph"] {
            let a = json(&live(&[cmd, id, "--json", "--broker", &url, "-q"]));
            let b = json(&live(&[cmd, id, "--json", "--events", &file]));
            let key = if cmd == "show" { "task" } else { "nodes" };
            assert_eq!(a[key], b[key], "{cmd} {id}");
        }
    }
    // Every top-level task's graph, with the group siblings the producer index finds, and
    // again as a stream recorded before that index (no `bursts-since`: the window read).
    let roots: Vec<String> = from_file["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["parent_id"].is_null())
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let graph_of = |id: &str, source: &[&str]| {
        let doc = json(&live(&[&["graph", id, "--json", "-q"], source].concat()));
        (
            doc["nodes"].clone(),
            doc["likely_siblings"].clone(),
            doc["groups"].clone(),
        )
    };
    let files: Vec<_> = roots
        .iter()
        .map(|r| graph_of(r, &["--events", &file]))
        .collect();
    assert!(
        files
            .iter()
            .filter(|g| g.1.as_array().is_some_and(|s| s.len() >= 2))
            .count()
            >= 2,
        "the capture holds groups sent from a client"
    );
    for layout in ["producer index", "older layout"] {
        if layout == "older layout" {
            redis::cmd("DEL")
                .arg("celtrace:events:bursts-since")
                .query::<()>(&mut server.conn())
                .unwrap();
        }
        for (root, expected) in roots.iter().zip(&files) {
            assert_eq!(
                &graph_of(root, &["--broker", &url]),
                expected,
                "{layout}: {root}"
            );
        }
    }

    // An ambiguous prefix lists candidates from the index, as from a file.
    let out = live(&["show", "6d", "--broker", &url]);
    assert_eq!(out.code, 3, "{}", out.stderr);

    // The recorder has stopped: queries say nothing is recorded since.
    let out = live(&["tasks", "--broker", &url, "--json"]);
    assert!(out.stderr.contains("gap (stop)"), "{}", out.stderr);
    let status = live(&["record", "--status", "--broker", &url]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("entries:  {}", events + 2)),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("recorder: not running"));

    // export reads the stream a page at a time; what it writes reads back the same.
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("export.ndjson");
    let out = live(&["export", "--broker", &url, "-o", out_file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let again = json(&live(&[
        "tasks",
        "--json",
        "--events",
        out_file.to_str().unwrap(),
    ]));
    assert_eq!(tasks_of(&again), tasks_of(&from_file));
}

#[test]
fn a_second_recorder_on_the_same_stream_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    let out = live(&["record", "--broker", &server.url(0)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::record::locked"),
        "{}",
        out.stderr
    );
    let (code, _) = rec.stop();
    assert_eq!(code, 0);
}

#[test]
fn broker_problems_are_diagnosed_without_the_password() {
    let Some(server) = RedisServer::start_with(&["--requirepass", "s3cret-pw"]) else {
        return;
    };
    let wrong = format!("redis://:hunter2@127.0.0.1:{}/0", server.port);
    let out = live(&["tasks", "--broker", &wrong]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    let right = format!("redis://:s3cret-pw@127.0.0.1:{}/0", server.port);
    let out = live(&["tasks", "--broker", &right]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::record::missing"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("celtrace record --broker"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret-pw"), "{}", out.stderr);
    let out = live(&["tail", "--broker", &wrong]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    // A named ACL user (redis://user:password@host) works, and is refused with a bad password.
    let mut conn = redis::Client::open(right.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">reader-pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query(&mut conn)
        .unwrap();
    let user = format!("redis://reader:reader-pw@127.0.0.1:{}/0", server.port);
    let out = live(&["tasks", "--broker", &user]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    let bad_user = format!("redis://reader:nope-pw@127.0.0.1:{}/0", server.port);
    let out = live(&["tasks", "--broker", &bad_user]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("nope-pw"), "{}", out.stderr);
}

#[test]
fn a_recorder_redis_drops_for_falling_behind_records_the_gap() {
    // A tiny pub/sub output buffer: Redis drops a subscriber that stops reading.
    let Some(server) =
        RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 256kb 128kb 1"])
    else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &[]);
    let pid = rec.pid().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
    };
    signal("-STOP");
    for _ in 0..10 {
        publish_capture(&server, "redis/ALL.raw.ndjson.gz");
    }
    signal("-CONT");
    let gaps = wait_for_gaps(&server, 2, Duration::from_secs(30));
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(
        gaps[0].contains("\"reason\":\"reconnect\"") || gaps[0].contains("\"reason\":\"lagged\""),
        "{gaps:?}"
    );
    let out = live(&["tasks", "--broker", &url, "-q", "--json"]);
    assert_eq!(
        json(&out)["diagnostics"]["gaps"].as_array().unwrap().len(),
        1
    );
    let (code, _) = rec.stop();
    assert_eq!(code, 0);
}

#[test]
fn rediss_verifies_certificates_and_unix_sockets_work() {
    let dir = tempfile::tempdir().unwrap();
    if !certificates(dir.path()) {
        crate::common::skip("openssl could not make test certificates");
        return;
    }
    let tls_port = crate::common::free_port();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let socket = d("redis.sock");
    let args: Vec<String> = [
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &d("server.pem"),
        "--tls-key-file",
        &d("server.key"),
        "--tls-ca-cert-file",
        &d("ca.pem"),
        "--tls-auth-clients",
        "no",
        "--unixsocket",
        &socket,
        "--unixsocketperm",
        "700",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let Some(server) = RedisServer::start_args(&args) else {
        return;
    };
    let tls = format!("rediss://127.0.0.1:{tls_port}/0");
    // An unknown issuer is refused: the certificate is verified.
    let out = live(&["tasks", "--broker", &tls]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("UnknownIssuer"), "{}", out.stderr);
    // Trusting the test CA, the recorder records over TLS what is published in the clear.
    let mut cmd = command(&["record", "--broker", &tls]);
    cmd.env_remove("CELTRACE_NOW")
        .env("SSL_CERT_FILE", d("ca.pem"))
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    crate::common::wait_for_patterns(&server, 1);
    publish_capture(&server, "redis/ALL.raw.ndjson.gz");
    let file = fixture("redis/ALL.events.ndjson.gz");
    let from_file = json(&live(&["tasks", "--json", "--events", &file]));
    let events = from_file["diagnostics"]["events"].as_u64().unwrap();
    assert_eq!(
        wait_for_len(&server, "celtrace:events", events + 1),
        events + 1
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let mut cmd = command(&["tasks", "--json", "--broker", &tls]);
    cmd.env_remove("CELTRACE_NOW")
        .env("SSL_CERT_FILE", d("ca.pem"));
    let over_tls = json(&run_cmd(cmd));
    assert_eq!(tasks_of(&over_tls), tasks_of(&from_file));
    // The same recording through the socket, in Celery's and kombu's spellings.
    for url in [
        format!("unix://{socket}"),
        format!("redis+socket://{socket}"),
    ] {
        let doc = json(&live(&["tasks", "--json", "--broker", &url]));
        assert_eq!(tasks_of(&doc), tasks_of(&from_file), "{url}");
    }
}

#[test]
fn a_dropped_subscription_is_a_recorded_gap() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &[]);
    let mut conn = server.conn();
    // What Redis does to a subscriber that falls behind: it closes the connection.
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut conn)
        .unwrap();
    let gaps = wait_for_gaps(&server, 2, Duration::from_secs(10));
    assert!(gaps[0].contains("\"reason\":\"reconnect\""), "{gaps:?}");
    // Recording goes on after the reconnect.
    publish_capture(&server, "redis/success.raw.ndjson");
    let out = live(&["tasks", "--json", "--broker", &url]);
    let doc = json(&out);
    assert_eq!(doc["count"], 1, "{doc:#}");
    assert!(out.stderr.contains("gap (reconnect)"), "{}", out.stderr);
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("subscribed again"), "{stderr}");
}

#[test]
fn tail_follows_live_events_and_stops_on_sigint() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut cmd = command(&[
        "tail",
        "--broker",
        &server.url(0),
        "--state",
        "FAILURE",
        "--utc",
    ]);
    cmd.env_remove("CELTRACE_NOW").stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    crate::common::wait_for_patterns(&server, 1);
    publish_capture(&server, "redis/ALL.raw.ndjson.gz");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("task-failed"), "{first}");
    assert!(first.contains("capapp.fail"), "{first}");
    assert!(
        first.contains("STARTED → FAILURE  ValueError('boom')"),
        "{first}"
    );
    std::thread::sleep(Duration::from_millis(300));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // Every failure of the capture came through, in order.
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(rest.iter().all(|l| l.contains("FAILURE")), "{rest:?}");
    assert_eq!(rest.len(), 4, "{rest:?}");
}

#[test]
fn celery_worker_recorded_across_a_recorder_restart() {
    let Some(py) = venv_python() else { return };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let backend = server.url(1);
    let scenarios = |phase: &str| -> serde_json::Value {
        let out = crate::common::Reaped::output(
            std::process::Command::new(&py)
                .arg(repo_path("tests/scripts/redis_scenarios.py"))
                .args(["--port", &server.port.to_string(), "--phase", phase]),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
    };

    let rec = Recorder::start(&server, &["--result-backend", &backend]);
    let canvas = scenarios("canvas");
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
    let rec = Recorder::start(&server, &["--result-backend", &backend]);
    let kill = scenarios("kill");
    let q = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--broker", &url]);
        live(&a)
    };

    let tasks = q(&["tasks", "--json"]);
    let doc = json(&tasks);
    // The restart is a gap, said on stderr and in JSON; what came before it is all there.
    assert!(tasks.stderr.contains("gap (start)"), "{}", tasks.stderr);
    let gaps = doc["diagnostics"]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["reason"], "start");
    let state_of = |id: &serde_json::Value| {
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| &t["id"] == id)
            .unwrap_or_else(|| panic!("{id} not recorded"))
            .clone()
    };
    for id in canvas["chain"].as_array().unwrap() {
        assert_eq!(state_of(id)["state"], "SUCCESS");
    }
    assert_eq!(state_of(&canvas["failure"])["state"], "FAILURE");
    let retried = state_of(&canvas["retry"]);
    assert_eq!(retried["state"], "SUCCESS");
    assert_eq!(retried["retries"], 2);

    // show: the chain's last step knows its lineage.
    let last = canvas["chain"][2].as_str().unwrap();
    let show = json(&q(&["show", &last[..8], "--json"]));
    assert_eq!(show["task"]["parent_id"], canvas["chain"][1]);
    assert_eq!(show["task"]["root_id"], canvas["chain"][0]);
    let show = json(&q(&["show", canvas["retry"].as_str().unwrap(), "--json"]));
    assert_eq!(show["task"]["attempts"].as_array().unwrap().len(), 3);
    let show = json(&q(&[
        "show",
        canvas["spawn"]["parent"].as_str().unwrap(),
        "--json",
    ]));
    assert_eq!(show["children"].as_array().unwrap().len(), 2);

    // graph: recorded backend writes make the group and the chord exact, not inferred.
    let graph = json(&q(&[
        "graph",
        canvas["chord"]["callback"].as_str().unwrap(),
        "--json",
    ]));
    let chord = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "chord")
        .unwrap_or_else(|| panic!("no chord in {graph:#}"));
    assert_eq!(chord["id"], canvas["chord"]["group_id"]);
    assert_eq!(chord["inferred"], false);
    assert_eq!(chord["members"], 3);
    let graph = json(&q(&[
        "graph",
        canvas["group"]["members"][1].as_str().unwrap(),
        "--json",
    ]));
    let group = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "group")
        .unwrap_or_else(|| panic!("no group in {graph:#}"));
    assert_eq!(group["id"], canvas["group"]["group_id"]);
    assert_eq!(group["inferred"], false);

    // The SIGKILLed session dropped both tasks; the acks-late one came back.
    let workers = json(&q(&["workers", "--json"]));
    let w = &workers["workers"][0];
    assert_eq!(w["hostname"], kill["hostname"]);
    let dropped: Vec<&serde_json::Value> = w["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["interrupted_tasks"].as_array().unwrap())
        .collect();
    assert_eq!(dropped.len(), 2, "{w:#}");
    for t in dropped {
        let came_back = t["id"] == kill["late"];
        assert_eq!(t["came_back"], came_back, "{t}");
    }
    let early = json(&q(&["show", kill["early"].as_str().unwrap(), "--json"]));
    assert_eq!(
        early["task"]["interrupted"], "worker_restarted",
        "{early:#}"
    );

    // tail -n prints the newest recorded events as recording lines, which read back.
    let mut cmd = command(&["tail", "-n", "5", "--format", "ndjson", "--broker", &url]);
    cmd.env_remove("CELTRACE_NOW").stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let newest: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
    let _ = child.kill();
    let _ = child.wait();
    let back = crate::common::run_with_stdin(
        &["tail", "--events", "-", "--format", "ndjson"],
        newest.join("\n").as_bytes(),
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(back.stdout.lines().count(), 5, "{}", back.stdout);
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
}

/// A result-backend write and the task's events come over different channels, so the
/// recorder may see the write first, when the task's root is not known yet. The events that
/// name the root must still file the task under it: `graph` of a chord's callback finds the
/// header through the callback's root, as it does from the file.
#[test]
fn a_backend_write_seen_before_the_events_still_files_the_task_under_its_root() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &["--result-backend", &server.url(1)]);
    // The chord's callback, whose root is a header task.
    let callback = "5863973f-17ee-4535-a76f-ee730cc3b3f9";
    let meta = format!(r#"{{"status": "SUCCESS", "result": 6, "task_id": "{callback}"}}"#);
    let _: () = redis::cmd("PUBLISH")
        .arg(format!("celery-task-meta-{callback}"))
        .arg(meta)
        .query(&mut server.conn())
        .unwrap();
    // The start gap record and the backend write, before any event.
    assert_eq!(wait_for_len(&server, "celtrace:events", 2), 2);
    let n = publish_capture(&server, "redis/chord.raw.ndjson") as u64;
    wait_for_len(&server, "celtrace:events", 2 + n);
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");

    let tasks_of_graph = |args: &[&str]| -> Vec<String> {
        let doc = json(&live(args));
        let mut ids: Vec<String> = doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "task")
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let file = fixture("redis/chord.events.ndjson");
    let from_file = tasks_of_graph(&["graph", callback, "--json", "--events", &file]);
    assert_eq!(from_file.len(), 4, "{from_file:?}");
    let from_redis = tasks_of_graph(&["graph", callback, "--json", "--broker", &url]);
    assert_eq!(from_redis, from_file);
}
