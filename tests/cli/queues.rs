//! `queues` on both brokers, with tasks a real Celery producer sent to queues no worker
//! consumes: waiting counts (Redis priority lists included), consumers, and the age of the
//! oldest waiting message dated from the recording.

use crate::common::{Recorder, RedisServer, Vhost, json, live, repo_path, venv_python};

fn send(py: &std::path::Path, broker: &str, specs: &[&str]) -> serde_json::Value {
    let out = crate::common::Reaped::output(
        std::process::Command::new(py)
            .arg(repo_path("tests/scripts/send_tasks.py"))
            .arg(broker)
            .args(specs),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}

fn queue<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
}

#[test]
fn redis_backlog_by_queue_and_priority() {
    let Some(py) = venv_python() else { return };
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url(0);
    let rec = Recorder::start(&server, &[]);
    let ids = send(&py, &url, &["emails:3", "reports:2:6"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let doc = json(&live(&["queues", "--json", "--broker", &url]));
    let emails = queue(&doc, "emails");
    assert_eq!(emails["waiting"], 3);
    assert_eq!(emails["in_flight"], 0);
    assert_eq!(
        emails["oldest_task_id"], ids[0][0],
        "the first sent waits longest"
    );
    assert!(emails["oldest_age"].as_f64().unwrap() >= 0.0);
    let found: Vec<&str> = emails["found_in"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(found, ["bindings", "events"]);
    let reports = queue(&doc, "reports");
    assert_eq!(reports["waiting"], 2);
    assert_eq!(reports["by_priority"]["6"], 2, "{reports:#}");
    assert_eq!(queue(&doc, "celery")["exists"], false);
    let table = live(&["queues", "--broker", &url]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("emails"), "{}", table.stdout);
    assert!(table.stdout.contains(" ago"), "{}", table.stdout);
    let _ = rec.stop();
    // Without a recording the counts are still there, undated.
    let Some(bare) = RedisServer::start() else {
        return;
    };
    send(&py, &bare.url(0), &["emails:1"]);
    let doc = json(&live(&["queues", "--json", "--broker", &bare.url(0)]));
    assert_eq!(queue(&doc, "emails")["waiting"], 1);
    assert!(queue(&doc, "emails")["oldest_age"].is_null());
    // A recording on disk has no queues.
    assert_eq!(live(&["queues", "--events", "-"]).code, 2);
}

#[test]
fn rabbitmq_backlog_and_consumers() {
    let Some(py) = venv_python() else { return };
    let Some(vhost) = Vhost::create("queues") else {
        return;
    };
    let url = vhost.url();
    assert_eq!(live(&["record", "--broker", &url]).code, 0);
    send(&py, &url, &["emails:4"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let doc = json(&live(&[
        "queues", "--json", "--broker", &url, "--queue", "missing",
    ]));
    let emails = queue(&doc, "emails");
    assert_eq!(emails["waiting"], 4, "{doc:#}");
    assert_eq!(emails["consumers"], 0);
    assert_eq!(queue(&doc, "missing")["exists"], false);
    // The management API finds every queue of the vhost (not celtrace's or Celery's own)
    // and adds in-flight counts. A plain RabbitMQ has the plugin off: tests/scripts/test.sh
    // enables it where it can; otherwise this part is skipped (a failure under CI=true).
    if std::net::TcpStream::connect(("127.0.0.1", 15672)).is_err() {
        crate::common::skip(
            "the RabbitMQ management plugin is off (rabbitmq-plugins enable rabbitmq_management)",
        );
        return;
    }
    send(&py, &url, &["reports:1"]);
    let mgmt = "http://guest:guest@127.0.0.1:15672";
    let doc = json(&live(&[
        "queues",
        "--json",
        "--broker",
        &url,
        "--management-url",
        mgmt,
    ]));
    let reports = queue(&doc, "reports");
    assert_eq!(reports["waiting"], 1, "{doc:#}");
    assert!(
        reports["found_in"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "management"),
        "{doc:#}"
    );
    assert!(
        doc["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["name"] != "celtrace.events")
    );
    let bad = live(&[
        "queues",
        "--broker",
        &url,
        "--management-url",
        "http://guest:wrong-pw@127.0.0.1:15672",
    ]);
    assert_eq!(bad.code, 4, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("celtrace::broker::management"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("wrong-pw"), "{}", bad.stderr);
}
