//! RabbitMQ end to end: the stream queue `record` declares, every query over AMQP, `tail`,
//! connection diagnostics, a real Celery 5.7 worker giving the same answers as on Redis, and
//! the history surviving a broker restart. Each test has a virtual host of its own; under
//! CI=true an unreachable RabbitMQ (or a missing venv) fails them.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{
    RedisServer, Vhost, command, fixture, json, live, repo_path, run_cmd, venv_python,
};

/// The broker-restart test stops the whole node: the others wait for it.
static BROKER: Mutex<()> = Mutex::new(());

fn publish(py: &std::path::Path, vhost: &Vhost, capture: &str) -> usize {
    publish_repeated(py, vhost, capture, 1)
}

/// Publishes a capture `repeat` times to the vhost's `celeryev` exchange; the messages sent.
pub(crate) fn publish_repeated(
    py: &std::path::Path,
    vhost: &Vhost,
    capture: &str,
    repeat: usize,
) -> usize {
    publish_with(py, vhost, capture, &["--repeat", &repeat.to_string()])
}

/// `tests/scripts/amqp_publish.py` with these options; the messages sent.
fn publish_with(py: &std::path::Path, vhost: &Vhost, capture: &str, options: &[&str]) -> usize {
    let out = std::process::Command::new(py)
        .arg(repo_path("tests/scripts/amqp_publish.py"))
        .args([&vhost.name, &fixture(capture)])
        .args(options)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn tasks_of(doc: &serde_json::Value) -> serde_json::Value {
    doc["tasks"].clone()
}

#[test]
fn stream_queue_reads_back_exactly_like_the_files() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("captures") else {
        return;
    };
    let url = vhost.url();
    // Nothing there yet: a clear answer that says how to start.
    let out = live(&["tasks", "--broker", &url]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace record --broker"),
        "{}",
        out.stderr
    );

    let out = live(&[
        "record",
        "--broker",
        &url,
        "--retention",
        "7d",
        "--max-bytes",
        "1GB",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("messages:     0"), "{}", out.stdout);
    // Declaring again is harmless.
    assert_eq!(live(&["record", "--broker", &url]).code, 0);

    let published = publish(&py, &vhost, "amqp/ALL.raw.ndjson.gz");
    let file = fixture("amqp/ALL.events.ndjson.gz");
    let from_file = json(&live(&["tasks", "--json", "--events", &file]));
    let mut from_amqp = serde_json::Value::Null;
    for _ in 0..50 {
        from_amqp = json(&live(&["tasks", "--json", "--broker", &url]));
        if from_amqp["diagnostics"]["entries"] == published {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(from_amqp["diagnostics"]["entries"], published);
    assert_eq!(tasks_of(&from_amqp), tasks_of(&from_file));
    // Over AMQP alone (no stream protocol), exactly the same.
    let mut amqp_only = command(&["tasks", "--json", "--broker", &url]);
    amqp_only.env("CELTRACE_STREAM_PORT", "0");
    let amqp_only = json(&run_cmd(amqp_only));
    assert_eq!(amqp_only["diagnostics"]["entries"], published);
    assert_eq!(tasks_of(&amqp_only), tasks_of(&from_file));
    // A stream port where something else answers (garbage, or nothing at all): AMQP reads,
    // and the diagnostics say why.
    for (answer, says) in [
        (
            Some(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]),
            "not a stream-protocol frame",
        ),
        (None, "did not answer on port"),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                if let Some(answer) = answer {
                    let _ = std::io::Write::write_all(&mut conn, answer);
                } else {
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        });
        let mut elsewhere = command(&["tasks", "--json", "--broker", &url]);
        elsewhere.env("CELTRACE_STREAM_PORT", &port);
        let out = json(&run_cmd(elsewhere));
        assert_eq!(tasks_of(&out), tasks_of(&from_file));
        let source = out["diagnostics"]["source"].as_str().unwrap();
        assert!(
            source.contains("read by AMQP; the stream protocol") && source.contains(says),
            "{source}"
        );
    }
    // Split in two halves read at once (long reads are; here from 1 message on), the same
    // again: every message once, whichever half it came in.
    let mut halves = command(&["tasks", "--json", "--broker", &url]);
    halves.env("CELTRACE_STREAM_SPLIT", "1");
    let halves = json(&run_cmd(halves));
    assert_eq!(halves["diagnostics"]["entries"], published);
    assert_eq!(tasks_of(&halves), tasks_of(&from_file));
    let mut bad = command(&["tasks", "--broker", &url]);
    bad.env("CELTRACE_STREAM_SPLIT", "half");
    let bad = run_cmd(bad);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("CELTRACE_STREAM_SPLIT"),
        "{}",
        bad.stderr
    );

    // From a time after the newest message, RabbitMQ waits for more as if it were coming:
    // the read must see there is nothing and answer at once, on both transports.
    std::thread::sleep(Duration::from_millis(1500));
    for port in [None, Some("0")] {
        let mut quiet = command(&["tasks", "--json", "--since", "1s", "--broker", &url]);
        quiet.env_remove("CELTRACE_NOW");
        if let Some(p) = port {
            quiet.env("CELTRACE_STREAM_PORT", p);
        }
        let started = std::time::Instant::now();
        let out = run_cmd(quiet);
        assert_eq!(out.code, 0, "port {port:?}: {}", out.stderr);
        assert_eq!(json(&out)["tasks"], serde_json::json!([]), "port {port:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "port {port:?}: a quiet stream took {:?}",
            started.elapsed()
        );
    }
    let status = live(&["record", "--status", "--broker", &url]);
    assert!(
        status
            .stdout
            .contains(&format!("messages:     {published}")),
        "{}",
        status.stdout
    );

    // show (last hour first) and graph give what the file gives.
    let ids: Vec<String> = from_file["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .take(6)
        .map(|t| t["id"].as_str().unwrap()[..8].to_string())
        .collect();
    for id in &ids {
        for cmd in ["show", "graph"] {
            let a = json(&live(&[cmd, id, "--json", "--broker", &url]));
            let b = json(&live(&[cmd, id, "--json", "--events", &file]));
            let key = if cmd == "show" { "task" } else { "nodes" };
            assert_eq!(a[key], b[key], "{cmd} {id}");
        }
    }
    let out = live(&["show", "ffff0000", "--broker", &url]);
    assert_eq!(out.code, 3, "{}", out.stderr);

    // export reads the queue and writes a recording that reads back the same.
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

    // tail: -n from the stream queue, then live from an own queue; stops on SIGINT.
    let mut cmd = command(&[
        "tail", "-n", "2", "--broker", &url, "--state", "FAILURE", "--utc",
    ]);
    cmd.env_remove("CELTRACE_NOW").stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let recent: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(recent.iter().all(|l| l.contains("FAILURE")), "{recent:?}");
    std::thread::sleep(Duration::from_millis(500));
    publish(&py, &vhost, "amqp/failure.raw.ndjson");
    // The replayed task is already known as failed, so its other events pass the filter too.
    let live_line = (0..4)
        .map(|_| lines.next().unwrap().unwrap())
        .find(|l| l.contains("task-failed"))
        .unwrap();
    assert!(
        live_line.contains("STARTED → FAILURE  ValueError('boom')"),
        "{live_line}"
    );
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // --remove asks for --yes when it cannot ask, then deletes.
    let out = live(&["record", "--remove", "--broker", &url]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = live(&["record", "--remove", "--yes", "--broker", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(live(&["tasks", "--broker", &url]).code, 5);
}

#[test]
fn connection_problems_are_diagnosed_without_the_password() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(vhost) = Vhost::create("errors") else {
        return;
    };
    let wrong = format!("amqp://guest:hunter2@127.0.0.1:5672/{}", vhost.name);
    let out = live(&["tasks", "--broker", &wrong]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    let out = live(&[
        "tasks",
        "--broker",
        "amqp://guest:guest@127.0.0.1:5672/celtrace-no-such-vhost",
    ]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::no_vhost"),
        "{}",
        out.stderr
    );
    let out = live(&["tasks", "--broker", "amqp://guest:hunter2@127.0.0.1:1/x"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::unreachable"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    // No worker has run with events here: no celeryev exchange to follow.
    let out = live(&["tail", "--broker", &vhost.url()]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::no_events"),
        "{}",
        out.stderr
    );
}

#[test]
fn amqps_verifies_the_brokers_certificate() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(vhost) = Vhost::create("tls") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let have_tools = crate::common::certificates(dir.path())
        && std::process::Command::new("socat")
            .arg("-V")
            .output()
            .is_ok();
    if !have_tools {
        crate::common::skip("openssl or socat is missing");
        return;
    }
    // TLS in front of the broker: what an amqps:// endpoint is to a client.
    let port = crate::common::free_port();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let mut proxy = std::process::Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            d("server.pem"),
            d("server.key")
        ))
        .arg("TCP:127.0.0.1:5672")
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("amqps://guest:guest@127.0.0.1:{port}/{}", vhost.name);
    let out = live(&["record", "--broker", &url]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("celtrace::broker::unreachable"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    let mut cmd = command(&["record", "--broker", &url]);
    cmd.env("SSL_CERT_FILE", d("ca.pem"));
    let out = run_cmd(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("messages:     0"), "{}", out.stdout);
    let _ = proxy.kill();
    let _ = proxy.wait();
}

/// (name, state, retries, attempts) of every task, sorted: what must match across brokers.
fn shapes(doc: &serde_json::Value) -> Vec<(String, String, u64, usize)> {
    let mut v: Vec<_> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("?").to_string(),
                t["state"].as_str().unwrap_or("?").to_string(),
                t["retries"].as_u64().unwrap_or(0),
                t["attempts"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    v.sort();
    v
}

/// `show` reads a stream queue newest first and steps back only as far as the task's lineage
/// needs: each step ends where the one before began, so nothing is read twice. `--at` in the
/// future puts the first step's start just before the newer half, so the task (in the older
/// half) takes a second step.
#[test]
fn show_steps_back_through_a_stream_queue_without_reading_twice() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("backward") else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    let older = publish(&py, &vhost, "amqp/chain.raw.ndjson");
    let chain = json(&live(&["tasks", "--json", "--broker", &url]));
    let chain_tasks = chain["tasks"].as_array().unwrap();
    let last = chain_tasks
        .iter()
        .find(|t| t["parent_id"].is_string() && t["children"].as_array().is_some_and(Vec::is_empty))
        .unwrap_or_else(|| panic!("no last link in {chain}"));
    let id = last["id"].as_str().unwrap().to_string();
    // Chunks are stamped with the broker's clock: the newer half comes well after.
    std::thread::sleep(Duration::from_millis(2500));
    let newer_from = chrono::Utc::now() - chrono::Duration::milliseconds(1000);
    let newer = publish(&py, &vhost, "amqp/group.raw.ndjson");
    let at = (newer_from + chrono::Duration::seconds(300)).to_rfc3339();
    for port in [None, Some("0")] {
        let mut cmd = command(&["show", &id, "--json", "--at", &at, "--broker", &url]);
        cmd.env_remove("CELTRACE_NOW");
        if let Some(p) = port {
            cmd.env("CELTRACE_STREAM_PORT", p);
        }
        let show = json(&run_cmd(cmd));
        assert_eq!(show["task"]["id"], id.as_str());
        assert_eq!(show["task"]["parent_id"], last["parent_id"], "{port:?}");
        assert_eq!(show["task"]["root_id"], last["root_id"], "{port:?}");
        // Both halves read (the task is in the older one), each message once.
        assert_eq!(
            show["diagnostics"]["entries"],
            older + newer,
            "{port:?}: {}",
            show["diagnostics"]
        );
    }
    // Nothing recorded in the day before `--at`: after the first empty step, the newest
    // message says the later steps would find nothing, so they are not waited on (five
    // empty steps would wait 2 s each over AMQP).
    let far = (chrono::Utc::now() + chrono::Duration::hours(25)).to_rfc3339();
    let mut cmd = command(&["show", &id, "--json", "--at", &far, "--broker", &url]);
    cmd.env_remove("CELTRACE_NOW")
        .env("CELTRACE_STREAM_PORT", "0");
    let t = std::time::Instant::now();
    let show = json(&run_cmd(cmd));
    let took = t.elapsed();
    assert_eq!(show["task"]["id"], id.as_str());
    assert_eq!(show["diagnostics"]["entries"], older + newer);
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

/// A worker at an ordinary rate publishes events one by one, and the stream keeps each in a
/// chunk of its own. Over AMQP the broker then reads as many chunks as a consumer may have in
/// flight before it sends the first message: half a second for 2,000 chunks on an idle broker,
/// more on a busy one. A wait for the first message must not turn that into "nothing is
/// recorded" (four reads at once said so six times in eight before the probes asked the
/// queue's own count and looked with one message in flight).
#[test]
fn a_stream_of_small_chunks_is_read_whole_by_reads_at_once() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("small-chunks") else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    let before = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    // A confirm for each message: each is a chunk of its own.
    let sent = publish_with(
        &py,
        &vhost,
        "amqp/ALL.raw.ndjson.gz",
        &["--repeat", "15", "--confirm"],
    );
    for port in [Some("0"), None] {
        // Reads from the first message, six at once, and two from a time.
        let mut reads: Vec<Vec<&str>> = vec![vec!["tasks", "--json"]; 5];
        reads.push(vec!["workers", "--json"]);
        reads.extend(vec![vec!["tasks", "--json", "--since", &before]; 2]);
        std::thread::scope(|scope| {
            let runs: Vec<_> = reads
                .iter()
                .map(|args| {
                    let url = &url;
                    scope.spawn(move || {
                        let mut full = args.clone();
                        full.extend(["--broker", url.as_str()]);
                        let mut cmd = command(&full);
                        cmd.env_remove("CELTRACE_NOW");
                        if let Some(p) = port {
                            cmd.env("CELTRACE_STREAM_PORT", p);
                        }
                        (args.clone(), run_cmd(cmd))
                    })
                })
                .collect();
            for run in runs {
                let (args, out) = run.join().unwrap();
                assert_eq!(out.code, 0, "{port:?} {args:?}: {}", out.stderr);
                let doc = json(&out);
                assert_eq!(
                    doc["diagnostics"]["entries"], sent,
                    "{port:?} {args:?}: {}",
                    doc["diagnostics"]
                );
            }
        });
    }
}

#[test]
fn celery_worker_on_rabbitmq_matches_redis_and_survives_a_broker_restart() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(py) = venv_python() else { return };
    // It restarts the broker: no other RabbitMQ test may run meanwhile.
    let Some(vhost) = Vhost::create_exclusive("celery") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = vhost.url();
    let scenarios = |phase: &str, broker: Option<&str>| -> serde_json::Value {
        let mut cmd = std::process::Command::new(&py);
        cmd.arg(repo_path("tests/scripts/redis_scenarios.py"))
            .args(["--port", &redis.port.to_string(), "--phase", phase]);
        if let Some(b) = broker {
            cmd.args(["--broker", b]);
        }
        let out = crate::common::Reaped::output(&mut cmd);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
    };
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    let canvas = scenarios("canvas", Some(&url));
    let kill = scenarios("kill", Some(&url));

    // The same scenarios on Redis, recorded by the Redis recorder.
    let rec = crate::common::Recorder::start(&redis, &[]);
    scenarios("canvas", None);
    scenarios("kill", None);
    let _ = rec.stop();

    let on_amqp = json(&live(&["tasks", "--json", "--broker", &url]));
    let on_redis = json(&live(&["tasks", "--json", "--broker", &redis.url(0)]));
    assert_eq!(shapes(&on_amqp), shapes(&on_redis));

    let last = canvas["chain"][2].as_str().unwrap();
    let show = json(&live(&["show", &last[..8], "--json", "--broker", &url]));
    assert_eq!(show["task"]["parent_id"], canvas["chain"][1]);
    assert_eq!(show["task"]["root_id"], canvas["chain"][0]);
    // Read over RabbitMQ's stream protocol (the plugin is on: .ci/run enables it), and the
    // same answer over AMQP alone, and narrowed by the backend's `date_done`.
    let source = show["diagnostics"]["source"].as_str().unwrap();
    if std::net::TcpStream::connect("127.0.0.1:5552").is_ok() {
        assert!(source.contains("read by stream protocol"), "{source}");
    } else {
        crate::common::skip("RabbitMQ's stream plugin (port 5552) is off");
    }
    let mut over_amqp = command(&["show", last, "--json", "--broker", &url]);
    over_amqp
        .env_remove("CELTRACE_NOW")
        .env("CELTRACE_STREAM_PORT", "0");
    let over_amqp = json(&run_cmd(over_amqp));
    let source = over_amqp["diagnostics"]["source"].as_str().unwrap();
    assert!(
        source.contains("read by AMQP; the stream protocol is turned off"),
        "{source}"
    );
    let narrowed = json(&live(&[
        "show",
        last,
        "--json",
        "--broker",
        &url,
        "--result-backend",
        &redis.url(1),
    ]));
    for key in [
        "id",
        "state",
        "parent_id",
        "root_id",
        "children",
        "worker",
        "started_at",
    ] {
        assert_eq!(over_amqp["task"][key], show["task"][key], "{key}");
        assert_eq!(narrowed["task"][key], show["task"][key], "{key}");
    }
    // Group ids from the backend at query time make the chord exact.
    let graph = json(&live(&[
        "graph",
        canvas["chord"]["callback"].as_str().unwrap(),
        "--json",
        "--broker",
        &url,
        "--result-backend",
        &redis.url(1),
    ]));
    let chord = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "chord")
        .unwrap_or_else(|| panic!("{graph:#}"));
    assert_eq!(chord["id"], canvas["chord"]["group_id"]);
    assert_eq!(chord["inferred"], false);
    let workers = json(&live(&["workers", "--json", "--broker", &url]));
    let w = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["hostname"] == kill["hostname"])
        .unwrap();
    let dropped: Vec<&serde_json::Value> = w["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["interrupted_tasks"].as_array().unwrap())
        .collect();
    assert_eq!(dropped.len(), 2, "{w:#}");

    // The broker restarts; the stream queue keeps everything.
    let before = json(&live(&["tasks", "--json", "--broker", &url]));
    let ctl = |a: &str| {
        assert!(
            std::process::Command::new("rabbitmqctl")
                .arg(a)
                .status()
                .unwrap()
                .success()
        );
    };
    ctl("stop_app");
    ctl("start_app");
    let mut after = serde_json::Value::Null;
    for _ in 0..100 {
        let out = live(&["tasks", "--json", "--broker", &url]);
        if out.code == 0 {
            after = json(&out);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(tasks_of(&after), tasks_of(&before));
}

/// Runs `record --index` until `record --status` says it has caught up, then stops it with
/// SIGINT; its stderr.
fn index_until_caught_up(url: &str) -> String {
    let mut cmd = command(&["record", "--index", "--broker", url]);
    cmd.env_remove("CELTRACE_NOW").stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let t = std::time::Instant::now();
    loop {
        let status = live(&["record", "--status", "--broker", url]);
        if status.stdout.contains("(0 messages behind)") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{}", status.stdout);
        std::thread::sleep(Duration::from_millis(200));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stderr
}

/// Puts these lines in the index queue the indexer declared, as a broken or foreign writer
/// might.
fn publish_index_lines(py: &std::path::Path, vhost: &Vhost, lines: &[&str]) {
    let script = r#"
import sys, amqp
conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=sys.argv[1], confirm_publish=True)
conn.connect()
ch = conn.channel()
for line in sys.argv[2:]:
    ch.basic_publish(amqp.Message(line), exchange="", routing_key="celtrace.events.index")
conn.close()
"#;
    let mut args = vec![vhost.name.as_str()];
    args.extend(lines);
    run_script(py, script, &args);
}

/// Runs a Python script of the test venv with these arguments; it must succeed.
fn run_script(py: &std::path::Path, script: &str, args: &[&str]) {
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites the index queue without what it says of offsets up to `last`.
fn cut_index_head(py: &std::path::Path, vhost: &Vhost, last: i64) {
    let script = r#"
import json, socket, sys, amqp
vhost, last = sys.argv[1], int(sys.argv[2])
conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost, confirm_publish=True)
conn.connect()
ch = conn.channel()
# A stream queue's message count can lag its last publish: read until a second goes by
# with nothing more (and at least that count).
count = ch.queue_declare("celtrace.events.index", passive=True).message_count
ch.basic_qos(0, 100, False)
spans = []
tag = ch.basic_consume("celtrace.events.index", callback=lambda m: spans.append(json.loads(m.body)), arguments={"x-stream-offset": "first"})
while True:
    try:
        conn.drain_events(timeout=1 if len(spans) >= count else 10)
    except socket.timeout:
        if len(spans) >= count:
            break
        raise
ch.close()
ch = conn.channel()
ch.queue_delete("celtrace.events.index")
ch.queue_declare("celtrace.events.index", durable=True, auto_delete=False, arguments={"x-queue-type": "stream"})
for span in spans:
    if span["to"] <= last:
        continue
    span["from"] = max(span["from"], last + 1)
    for t in span["tasks"]:
        t["o"] = [o for o in t["o"] if o > last]
    span["tasks"] = [t for t in span["tasks"] if t["o"]]
    for w in span["workers"]:
        if w.get("on", last + 1) <= last:
            del w["on"]
    span["workers"] = [w for w in span["workers"] if w["o"] > last]
    ch.basic_publish(amqp.Message(json.dumps(span)), exchange="", routing_key="celtrace.events.index")
conn.close()
"#;
    run_script(py, script, &[&vhost.name, &last.to_string()]);
}

#[test]
fn an_index_beside_the_stream_queue_answers_show_and_graph_as_the_whole_stream_does() {
    let _serial = BROKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("index") else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    let status = live(&["record", "--status", "--broker", &url]);
    assert!(
        status.stdout.contains("index:        none"),
        "{}",
        status.stdout
    );
    let published = publish(&py, &vhost, "amqp/ALL.raw.ndjson.gz");
    let stderr = index_until_caught_up(&url);
    assert!(stderr.contains("from its first message"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "covers `celtrace.events` up to offset {}",
            published - 1
        )),
        "{stderr}"
    );
    // Events after the last span: read whole, as the index does not know them yet.
    let more = publish(&py, &vhost, "amqp/failure.raw.ndjson");
    let status = live(&["record", "--status", "--broker", &url]);
    assert!(
        status.stdout.contains(&format!("({more} messages behind)")),
        "{}",
        status.stdout
    );

    // What the whole stream says, read back as a file.
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.ndjson");
    let whole = whole.to_str().unwrap();
    assert_eq!(live(&["export", "--broker", &url, "-o", whole]).code, 0);
    let everything = json(&live(&["tasks", "--json", "--events", whole]));
    let ids: Vec<String> = everything["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() > 30, "{ids:?}");
    // Every scenario of the captures is in some of these (chains, groups, chords, retries).
    let compare = |url: &str, through_index: bool, every: usize| {
        for id in ids.iter().step_by(every) {
            for (cmd, key) in [("show", "task"), ("graph", "nodes")] {
                let a = json(&live(&[cmd, &id[..8], "--json", "--broker", url]));
                let b = json(&live(&[cmd, &id[..8], "--json", "--events", whole]));
                assert_eq!(a[key], b[key], "{cmd} {id}");
                if cmd == "graph" {
                    continue; // its document has no diagnostics
                }
                let source = a["diagnostics"]["source"].as_str().unwrap();
                assert_eq!(
                    source.contains(
                        "through its index celtrace.events.index, read by stream protocol"
                    ),
                    through_index,
                    "{source}"
                );
                if through_index {
                    // Its workflow, the workers' last events and the tail: never the stream.
                    let read = a["diagnostics"]["entries"].as_u64().unwrap();
                    assert!(read < (published + more) as u64 / 2, "{cmd} {id}: {read}");
                }
            }
        }
    };
    compare(&url, true, 2);
    let source = |url: &str| {
        let doc = json(&live(&["show", &ids[0][..8], "--json", "--broker", url]));
        doc["diagnostics"]["source"].as_str().unwrap().to_string()
    };
    let said = source(&url);
    assert!(
        said.ends_with(&format!("; {more} messages outside it read whole)")),
        "{said}"
    );
    // Over AMQP alone the index is read the same way, a read per run of offsets.
    for id in ids.iter().step_by(8) {
        let mut cmd = command(&["show", &id[..8], "--json", "--broker", &url]);
        cmd.env_remove("CELTRACE_NOW")
            .env("CELTRACE_STREAM_PORT", "0");
        let a = json(&run_cmd(cmd));
        let b = json(&live(&["show", &id[..8], "--json", "--events", whole]));
        assert_eq!(a["task"], b["task"], "{id}");
        let source = a["diagnostics"]["source"].as_str().unwrap();
        assert!(
            source.contains("through its index celtrace.events.index, read by AMQP"),
            "{source}"
        );
    }
    // A prefix that names nothing is said as such, through the index too.
    let out = live(&["show", "ffff0000", "--broker", &url]);
    assert_eq!(out.code, 3, "{}", out.stderr);

    // Started again, the indexer goes on where it stopped.
    let stderr = index_until_caught_up(&url);
    assert!(
        stderr.contains(&format!("from offset {published}")),
        "{stderr}"
    );
    compare(&url, true, 5);
    let said = source(&url);
    assert!(said.ends_with("port 5552)"), "caught up: {said}");

    // The index without its first 41 offsets (as when a segment of spans went before the
    // stream's messages did): those are read whole, the rest still through the index.
    cut_index_head(&py, &vhost, 40);
    compare(&url, true, 4);
    let said = source(&url);
    assert!(
        said.ends_with("; 41 messages outside it read whole)"),
        "{said}"
    );

    // A span that leaves a hole (a foreign or broken writer): the index no longer covers the
    // stream, and the queries read the stream itself, with the same answers.
    publish_index_lines(
        &py,
        &vhost,
        &[
            "not a span",
            r#"{"celtrace_index":1,"from":100000,"to":100010,"tasks":[]}"#,
        ],
    );
    compare(&url, false, 8);
    assert_eq!(
        live(&["record", "--remove", "--yes", "--broker", &url]).code,
        0
    );
    assert!(
        live(&["record", "--status", "--broker", &url])
            .stderr
            .contains("does not exist")
    );
}
