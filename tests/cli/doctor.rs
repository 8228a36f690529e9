//! `doctor` against real servers, one misconfiguration at a time: a worker without events, a
//! producer without task-sent, result_extended off, no recorder, a recorder stopped with
//! gaps, a tiny pubsub buffer limit. Each asserts the finding and the exit status.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{Reaped, Recorder, RedisServer, live, repo_path, venv_python};

/// A real worker (and a few tasks) with some of its settings off; kept up while alive.
fn worker(
    py: &std::path::Path,
    server: &RedisServer,
    env: &[(&str, &str)],
) -> (serde_json::Value, Reaped) {
    let mut cmd = std::process::Command::new(py);
    cmd.arg(repo_path("tests/scripts/redis_scenarios.py"))
        .args(["--port", &server.port.to_string(), "--phase", "doctor"])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = Reaped::spawn(&mut cmd);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let facts = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    (facts, child)
}

type Findings = std::collections::BTreeMap<String, serde_json::Value>;

/// `doctor --json` with these arguments: the exit status and the findings by check id.
fn run_doctor(args: &[&str]) -> (i32, Findings) {
    let mut all = vec!["doctor", "--json"];
    all.extend(args);
    let out = live(&all);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(doc["kind"], "doctor");
    assert_eq!(doc["ok"], out.code == 0, "{}", out.stdout);
    let found = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    (out.code, found)
}

/// A text field of a finding (`found`, `means`, `fix`).
fn text<'f>(found: &'f Findings, check: &str, field: &str) -> &'f str {
    found[check][field].as_str().unwrap_or_default()
}

/// `doctor --json` on the test Redis (and its DB 1 as result backend).
fn doctor(server: &RedisServer, backend: bool) -> (i32, Findings) {
    let url = server.url(0);
    let backend_url = server.url(1);
    let mut args = vec!["-b", &url, "--timeout", "2s"];
    if backend {
        args.extend(["--result-backend", &backend_url]);
    }
    run_doctor(&args)
}

fn status(found: &Findings, check: &str) -> String {
    found
        .get(check)
        .unwrap_or_else(|| panic!("no {check} in {found:#?}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_worker_without_events_is_named_with_its_fix() {
    let Some(py) = venv_python() else { return };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let _rec = Recorder::start(&server, &[]);
    let (facts, _worker) = worker(&py, &server, &[("SCEN_EVENTS", "0")]);
    let (code, found) = doctor(&server, true);
    assert_eq!(code, 6, "{found:#?}");
    assert_eq!(status(&found, "worker.events"), "fail");
    let hostname = facts["hostname"].as_str().unwrap();
    assert!(text(&found, "worker.events", "found").contains(hostname));
    let fix = text(&found, "worker.events", "fix");
    assert!(
        fix.contains("-E") && fix.contains("worker_send_task_events = True"),
        "{fix}"
    );
}

#[test]
fn a_producer_without_task_sent_is_found_in_the_events() {
    let Some(py) = venv_python() else { return };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let _rec = Recorder::start(&server, &["--result-backend", &server.url(1)]);
    let (_, _worker) = worker(&py, &server, &[("SCEN_SENT", "0")]);
    let (code, found) = doctor(&server, true);
    assert_eq!(status(&found, "producer.task_sent"), "warning");
    let seen = text(&found, "producer.task_sent", "found");
    assert!(seen.starts_with("5 of 5 tasks received"), "{seen}");
    assert!(text(&found, "producer.task_sent", "fix").contains("task_send_sent_event = True"));
    assert_eq!(status(&found, "worker.task_send_sent_event"), "warning");
    assert_eq!(status(&found, "worker.events"), "ok");
    // Warnings only: the setup works, with less to see.
    assert_eq!(code, 0, "{found:#?}");
}

#[test]
fn result_extended_off_is_seen_in_the_worker_and_the_backend() {
    let Some(py) = venv_python() else { return };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let _rec = Recorder::start(&server, &["--result-backend", &server.url(1)]);
    let (_, _worker) = worker(&py, &server, &[("SCEN_EXTENDED", "0")]);
    let (code, found) = doctor(&server, true);
    assert_eq!(status(&found, "worker.result_extended"), "warning");
    assert_eq!(status(&found, "backend.result_extended"), "fail");
    assert!(text(&found, "backend.result_extended", "fix").contains("result_extended = True"));
    assert_eq!(code, 6);
}

#[test]
fn no_recorder_a_stopped_one_and_a_tiny_pubsub_buffer() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Nothing recorded at all.
    let (code, found) = doctor(&server, false);
    assert_eq!(code, 6);
    assert_eq!(status(&found, "recording.present"), "fail");
    assert!(
        found["recording.present"]["fix"]
            .as_str()
            .unwrap()
            .contains("celtrace record --broker")
    );
    assert_eq!(status(&found, "workers.online"), "fail");

    // A recorder that ran and stopped: its stop is a gap, and nobody records now.
    let rec = Recorder::start(&server, &[]);
    redis::cmd("PUBLISH")
        .arg("/0.celeryev/worker.heartbeat")
        .arg(r#"{"type": "worker-heartbeat", "hostname": "w@h", "timestamp": 1795333600.0, "freq": 2.0}"#)
        .query::<()>(&mut server.conn())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (rc, stderr) = rec.stop();
    assert_eq!(rc, 0, "{stderr}");
    let (code, found) = doctor(&server, false);
    assert_eq!(code, 6);
    assert_eq!(status(&found, "recording.present"), "ok");
    assert_eq!(status(&found, "recording.recorder"), "fail");
    assert_ne!(status(&found, "recording.gaps"), "ok");
    assert!(
        found["recording.gaps"]["found"]
            .as_str()
            .unwrap()
            .contains("stop"),
        "{:?}",
        found["recording.gaps"]
    );

    // A pubsub output buffer too small for a recorder that falls behind.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 1024 0 0")
        .query::<()>(&mut server.conn())
        .unwrap();
    let (code, found) = doctor(&server, false);
    assert_eq!(code, 6);
    assert_eq!(status(&found, "recording.pubsub_limit"), "fail");
    assert!(
        found["recording.pubsub_limit"]["fix"]
            .as_str()
            .unwrap()
            .contains("client-output-buffer-limit")
    );
}

#[test]
fn a_stream_queue_not_bound_to_celeryev_is_found_through_the_management_api() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = crate::common::Vhost::create("doctor") else {
        return;
    };
    if std::net::TcpStream::connect(("127.0.0.1", 15672)).is_err() {
        return crate::common::skip(
            "the RabbitMQ management plugin is off (rabbitmq-plugins enable rabbitmq_management)",
        );
    }
    let url = vhost.url();
    let management = "http://guest:guest@127.0.0.1:15672";
    let doctor = || {
        run_doctor(&[
            "-b",
            &url,
            "--timeout",
            "500ms",
            "--management-url",
            management,
        ])
    };
    assert_eq!(
        live(&["record", "--broker", &url, "--retention", "7d"]).code,
        0
    );
    let (_, found) = doctor();
    assert_eq!(status(&found, "broker.version"), "ok");
    assert!(
        found["broker.version"]["found"]
            .as_str()
            .unwrap()
            .starts_with("RabbitMQ 3.")
            || found["broker.version"]["found"]
                .as_str()
                .unwrap()
                .starts_with("RabbitMQ 4."),
        "{:?}",
        found["broker.version"]
    );
    assert_eq!(status(&found, "recording.present"), "ok");
    assert_eq!(status(&found, "recording.binding"), "ok");
    let binding = found["recording.binding"]["found"].as_str().unwrap();
    assert!(binding.contains("x-max-age"), "{binding}");
    // No index, and none needed for an empty stream.
    assert_eq!(status(&found, "recording.index"), "ok");
    let index = found["recording.index"]["found"].as_str().unwrap();
    assert!(index.starts_with("no index"), "{index}");
    // Unbound, no event reaches it.
    let unbind = std::process::Command::new(&py)
        .args([
            "-c",
            &format!(
                "import amqp; c = amqp.Connection('127.0.0.1:5672', userid='guest', password='guest', virtual_host='{}'); c.connect(); c.channel().queue_unbind('celtrace.events', 'celeryev', '#'); c.close()",
                vhost.name
            ),
        ])
        .output()
        .unwrap();
    assert!(
        unbind.status.success(),
        "{}",
        String::from_utf8_lossy(&unbind.stderr)
    );
    let (code, found) = doctor();
    assert_eq!(code, 6);
    assert_eq!(status(&found, "recording.binding"), "fail");
    assert!(
        found["recording.binding"]["fix"]
            .as_str()
            .unwrap()
            .contains("celtrace record --broker")
    );
}
