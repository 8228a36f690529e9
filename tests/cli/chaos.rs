//! The recorder under broker faults, on real servers: every test publishes numbered events
//! and asserts that each one is in the stream, or counted in a gap record that says it is
//! missing. Bounded in time: a recorder that does not stop in time fails the test.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::common::{Recorder, RedisServer, live, wait_for_patterns};

const STREAM: &str = "celtrace:events";

/// One kombu envelope holding a `task.multi` batch of the events numbered `ids`, each with
/// `pad` bytes of arguments (real events carry a repr of their arguments).
fn envelope(tag: &str, ids: std::ops::Range<usize>, pad: usize) -> String {
    let args = format!("('{}',)", "x".repeat(pad));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let events: Vec<serde_json::Value> = ids
        .map(|i| {
            serde_json::json!({
                "type": "task-sent", "uuid": format!("{tag}-{i}"), "root_id": format!("{tag}-{i}"),
                "name": "chaos.work", "args": args, "kwargs": "{}", "queue": "celery",
                "hostname": "gen@chaos", "timestamp": now, "clock": i, "pid": 1,
            })
        })
        .collect();
    let body =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(&events).unwrap());
    serde_json::json!({
        "body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"hostname": "gen@chaos"},
        "properties": {"delivery_mode": 1, "body_encoding": "base64", "priority": 0,
            "delivery_info": {"exchange": "celeryev", "routing_key": "task.multi"},
            "delivery_tag": "t"},
    })
    .to_string()
}

/// PUBLISHes `n` events numbered from `first`, `per` to a message, pipelined; returns once
/// Redis has delivered them all to the subscribers.
fn publish(server: &RedisServer, tag: &str, first: usize, n: usize, per: usize, pad: usize) {
    let mut conn = server.conn();
    let mut i = first;
    while i < first + n {
        let mut pipe = redis::pipe();
        for _ in 0..200 {
            if i >= first + n {
                break;
            }
            let end = (i + per).min(first + n);
            pipe.cmd("PUBLISH")
                .arg("/0.celeryev/task.multi")
                .arg(envelope(tag, i..end, pad))
                .ignore();
            i = end;
        }
        pipe.query::<()>(&mut conn).unwrap();
    }
}

/// The numbers of the `tag` events in the stream, and the gap records.
fn recorded(server: &RedisServer, tag: &str) -> (BTreeSet<usize>, Vec<serde_json::Value>) {
    let mut conn = server.conn();
    let mut seen = BTreeSet::new();
    let mut gaps = Vec::new();
    let mut from = "-".to_string();
    loop {
        let page: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(STREAM)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(5000)
            .query(&mut conn)
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        from = format!("({last}");
        for (_, fields) in &page {
            // Garbage is kept as it came (the reader reports it): not an event of ours.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&fields["e"]) else {
                continue;
            };
            if v["type"] == "celtrace.gap" {
                gaps.push(v);
            } else if let Some(n) = v["uuid"]
                .as_str()
                .and_then(|u| u.strip_prefix(&format!("{tag}-")))
            {
                assert!(seen.insert(n.parse().unwrap()), "{n} recorded twice");
            }
        }
    }
    (seen, gaps)
}

/// Waits until `n` events of `tag` are in the stream (or the deadline), and returns them.
fn wait_recorded(server: &RedisServer, tag: &str, n: usize, within: Duration) -> BTreeSet<usize> {
    let deadline = Instant::now() + within;
    loop {
        let (seen, _) = recorded(server, tag);
        if seen.len() >= n || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes `n` events and waits until every one is in the stream.
fn publish_recorded(server: &RedisServer, tag: &str, n: usize, per: usize, pad: usize) {
    publish(server, tag, 0, n, per, pad);
    assert_eq!(
        wait_recorded(server, tag, n, Duration::from_secs(15)).len(),
        n,
        "not all {n} `{tag}` events were recorded"
    );
}

fn gaps_of<'g>(gaps: &'g [serde_json::Value], reason: &str) -> Vec<&'g serde_json::Value> {
    gaps.iter().filter(|g| g["reason"] == reason).collect()
}

fn counted(gaps: &[serde_json::Value], reason: &str) -> u64 {
    gaps_of(gaps, reason)
        .iter()
        .map(|g| g["events"].as_u64().unwrap())
        .sum()
}

#[test]
fn sigint_under_backlog_writes_every_event_received() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    for (round, sig) in ["-INT", "-TERM"].iter().enumerate() {
        let tag = format!("burst{round}");
        let rec = Recorder::start(&server, &[]);
        // 50k events of about 1 KB, signalled the moment Redis has delivered the last one:
        // most are still in the recorder's backlog or its socket.
        publish(&server, &tag, 0, 50_000, 1, 900);
        let (code, stderr, took) = rec.stop_with(sig, Duration::from_secs(40));
        assert_eq!(code, 0, "{stderr}");
        assert!(took < Duration::from_secs(31), "{took:?}");
        let (seen, gaps) = recorded(&server, &tag);
        assert_eq!(seen.len(), 50_000, "lost {}", 50_000 - seen.len());
        assert!(gaps_of(&gaps, "unwritten").is_empty(), "{gaps:?}");
        assert!(gaps_of(&gaps, "lagged").is_empty(), "{gaps:?}");
        // Its last word agrees with the stream.
        assert!(
            stderr.contains("stopped; 50000 events recorded"),
            "{stderr}"
        );
    }
}

#[test]
fn a_redis_restart_mid_record_is_a_gap_and_recording_goes_on() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    publish_recorded(&server, "before", 1000, 10, 100);
    // Down for 1.5 s: every key is gone, the recorder must reconnect both its connections.
    server.restart(Duration::from_millis(1500));
    wait_for_patterns(&server, 1);
    publish(&server, "after", 0, 1000, 10, 100);
    let seen = wait_recorded(&server, "after", 1000, Duration::from_secs(15));
    assert_eq!(seen.len(), 1000, "{}", rec.stderr_so_far());
    let (_, gaps) = recorded(&server, "after");
    let reconnects = gaps_of(&gaps, "reconnect");
    assert_eq!(reconnects.len(), 1, "{gaps:?}");
    let (from, to) = (
        reconnects[0]["from"].as_f64().unwrap(),
        reconnects[0]["to"].as_f64().unwrap(),
    );
    assert!(to - from >= 1.0, "the gap covers the outage: {from}..{to}");
    // The lock came back after the data was lost with the restart.
    let status = live(&["record", "--status", "--broker", &server.url(0)]);
    assert!(
        status.stdout.contains("recorder: running"),
        "{}",
        status.stdout
    );
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(stderr.contains("subscribed again"), "{stderr}");
}

#[test]
fn a_killed_subscription_reconnects_and_loses_nothing_published_after() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    publish_recorded(&server, "a", 2000, 20, 200);
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut server.conn())
        .unwrap();
    wait_for_patterns(&server, 1);
    publish_recorded(&server, "b", 2000, 20, 200);
    let (code, stderr) = rec.stop();
    assert_eq!(code, 0, "{stderr}");
    let (_, gaps) = recorded(&server, "b");
    assert_eq!(gaps_of(&gaps, "reconnect").len(), 1, "{gaps:?}");
}

#[test]
fn maxmemory_noeviction_is_a_clear_error_then_a_counted_gap_not_a_crash() {
    let Some(server) =
        RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"])
    else {
        return;
    };
    let rec = Recorder::start(&server, &["--max-backlog", "2MB", "--retention", "0"]);
    // About 12 MB: Redis fills up, the backlog fills up, the rest is dropped and counted.
    let published = 12_000;
    publish(&server, "oom", 0, published, 10, 900);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !rec.stderr_so_far().contains("level=error") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = rec.stderr_so_far();
    assert!(log.contains("level=error"), "{log}");
    assert!(log.contains("OOM"), "{log}");
    assert!(!log.contains("empty command"), "{log}");
    // Still running, still receiving: no crash loop.
    std::thread::sleep(Duration::from_secs(1));
    assert!(rec.stderr_so_far().lines().all(|l| !l.contains("stopped")));
    // Memory comes back: what waited is written, what was dropped is one counted gap.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query(&mut server.conn())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (seen, gaps) = loop {
        let (seen, gaps) = recorded(&server, "oom");
        let accounted = seen.len() as u64 + counted(&gaps, "lagged");
        if accounted >= published as u64 || Instant::now() > deadline {
            break (seen, gaps);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let dropped = counted(&gaps, "lagged");
    assert!(dropped > 0, "the 2 MB backlog cannot hold 12 MB: {gaps:?}");
    assert_eq!(seen.len() as u64 + dropped, published as u64, "{gaps:?}");
    let lagged = gaps_of(&gaps, "lagged");
    assert!(
        lagged
            .iter()
            .any(|g| g["cause"].as_str().unwrap().contains("OOM")),
        "{lagged:?}"
    );
    // Readers say it too.
    let out = live(&["tasks", "--broker", &server.url(0), "--json"]);
    for g in &lagged {
        let n = g["events"].as_u64().unwrap();
        assert!(
            out.stderr
                .contains(&format!("{n} received events are missing")),
            "{}",
            out.stderr
        );
    }
    let (code, stderr, _) = rec.stop_with("-INT", Duration::from_secs(40));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_stop_while_redis_refuses_writes_is_quick_and_counts_what_it_could_not_write() {
    let Some(server) =
        RedisServer::start_with(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
    else {
        return;
    };
    let rec = Recorder::start(&server, &["--retention", "0"]);
    publish(&server, "stuck", 0, 6000, 10, 900);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !rec.stderr_so_far().contains("level=error") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, stderr, took) = rec.stop_with("-INT", Duration::from_secs(30));
    // Redis still refuses the events. The stop gives up after its short bound, and what it
    // could not write is counted: in an `unwritten` gap record when Redis takes that small
    // write (exit 0), or on stderr when not even that goes in (exit 4).
    assert!(took < Duration::from_secs(12), "{took:?}");
    let (seen, gaps) = recorded(&server, "stuck");
    let missing = 6000 - seen.len() as u64;
    assert!(missing > 0);
    match code {
        0 => assert_eq!(counted(&gaps, "unwritten"), missing, "{gaps:?}"),
        4 => {
            assert!(
                stderr.contains(&format!("{missing} received events")),
                "{missing} missing; {stderr}"
            );
            assert!(stderr.contains("celtrace::record::unwritten"), "{stderr}");
        }
        other => panic!("exit {other}: {stderr}"),
    }
    assert!(
        stderr.contains(&format!("{missing} received events from")),
        "the log says it too: {stderr}"
    );
}

#[test]
fn a_sigkilled_recorder_is_replaced_once_its_lock_expires() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    publish_recorded(&server, "first", 500, 10, 100);
    rec.signal("-KILL");
    // Readers see that nobody records any more once the lock is gone; a new recorder is
    // refused until then.
    let mut second = crate::common::command(&["record", "--broker", &server.url(0)]);
    second.env_remove("CELTRACE_NOW");
    let mut second = second.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second recorder was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(1));
    let deadline = Instant::now() + Duration::from_secs(20);
    let started = loop {
        let status = live(&["record", "--status", "--broker", &server.url(0)]);
        if status.stdout.contains("recorder: not running") {
            break Recorder::start(&server, &[]);
        }
        assert!(Instant::now() < deadline, "the lock never expired");
        std::thread::sleep(Duration::from_millis(250));
    };
    publish_recorded(&server, "second", 500, 10, 100);
    let (code, stderr) = started.stop();
    assert_eq!(code, 0, "{stderr}");
    let (_, gaps) = recorded(&server, "second");
    // The new recorder's start gap covers the time nobody recorded.
    let starts: Vec<_> = gaps_of(&gaps, "start")
        .into_iter()
        .filter(|g| g["from"].is_number())
        .collect();
    assert_eq!(starts.len(), 1, "{gaps:?}");
}

#[test]
fn poison_batches_never_wedge_the_recorder() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let rec = Recorder::start(&server, &[]);
    let mut conn = server.conn();
    let empty = base64::engine::general_purpose::STANDARD.encode("[]");
    let poison = [
        "[]".to_string(),
        serde_json::json!({"body": empty, "properties": {"body_encoding": "base64"}}).to_string(),
        format!("[{}]", vec!["0"; 100_000].join(",")),
        "\u{0}\u{1}garbage".to_string(),
    ];
    for (i, p) in poison.iter().enumerate() {
        for channel in ["/0.celeryev/task.multi", "/0.celeryev/task.sent"] {
            let _: () = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(p)
                .query(&mut conn)
                .unwrap();
        }
        publish(&server, "good", i * 250, 250, 5, 50);
    }
    assert_eq!(
        wait_recorded(&server, "good", 1000, Duration::from_secs(10)).len(),
        1000
    );
    // The lock is kept fresh and a stop is clean.
    let status = live(&["record", "--status", "--broker", &server.url(0)]);
    assert!(
        status.stdout.contains("recorder: running"),
        "{}",
        status.stdout
    );
    let (code, stderr, took) = rec.stop_with("-INT", Duration::from_secs(10));
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A batch of 100k non-events is one kept entry, not 100k.
    let len: u64 = redis::cmd("XLEN").arg(STREAM).query(&mut conn).unwrap();
    assert!(len < 1100, "{len} entries");
}

fn close_connections(vhost: &crate::common::Vhost) {
    let out = std::process::Command::new("rabbitmqctl")
        .args([
            "close_all_connections",
            "--vhost",
            &vhost.name,
            "celtrace chaos test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tail_on_rabbitmq_resumes_after_the_broker_closes_its_connection() {
    use std::io::BufRead;
    let Some(vhost) = crate::common::Vhost::create("chaos-tail") else {
        return;
    };
    let Some(py) = crate::common::venv_python() else {
        return;
    };
    assert_eq!(live(&["record", "--broker", &vhost.url()]).code, 0);
    let mut cmd = crate::common::command(&["tail", "--broker", &vhost.url(), "--format", "ndjson"]);
    cmd.env_remove("CELTRACE_NOW")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = crate::common::Reaped::spawn(&mut cmd);
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (out, err) = (
        child.0.stdout.take().unwrap(),
        child.0.stderr.take().unwrap(),
    );
    let sink = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let sink = std::sync::Arc::clone(&stderr);
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    let wait_until = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "{what}: {}",
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Once its queue exists, what is published is shown.
    std::thread::sleep(Duration::from_millis(1500));
    crate::amqp_record::publish_repeated(&py, &vhost, "amqp/failure.raw.ndjson", 1);
    wait_until("the first events", &|| !lines.lock().unwrap().is_empty());
    let before = {
        std::thread::sleep(Duration::from_millis(500));
        lines.lock().unwrap().len()
    };
    close_connections(&vhost);
    wait_until("subscribed again", &|| {
        stderr.lock().unwrap().contains("subscribed again")
    });
    assert!(stderr.lock().unwrap().contains("CONNECTION_FORCED"));
    crate::amqp_record::publish_repeated(&py, &vhost, "amqp/failure.raw.ndjson", 1);
    wait_until("the same events again", &|| {
        lines.lock().unwrap().len() >= 2 * before
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines.lock().unwrap().len(), 2 * before);
    crate::common::Recorder::kill_int(child.0.id());
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stderr.lock().unwrap());
}

#[test]
fn a_query_on_rabbitmq_whose_connection_is_closed_says_so() {
    let Some(vhost) = crate::common::Vhost::create("chaos-query") else {
        return;
    };
    let Some(py) = crate::common::venv_python() else {
        return;
    };
    assert_eq!(live(&["record", "--broker", &vhost.url()]).code, 0);
    // About 160k messages: a full read takes seconds, time enough to close it mid-read.
    crate::amqp_record::publish_repeated(&py, &vhost, "amqp/ALL.raw.ndjson.gz", 800);
    // Over the stream protocol (where its plugin answers), then over AMQP alone.
    for (port, says) in [
        (None, "closed the stream protocol connection mid-read"),
        (Some("0"), "CONNECTION_FORCED"),
    ] {
        let mut cmd = crate::common::command(&["tasks", "--broker", &vhost.url(), "--json"]);
        cmd.env_remove("CELTRACE_NOW")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(p) = port {
            cmd.env("CELTRACE_STREAM_PORT", p);
        } else if std::net::TcpStream::connect("127.0.0.1:5552").is_err() {
            crate::common::skip("RabbitMQ's stream plugin (port 5552) is off");
            continue;
        }
        let child = cmd.spawn().unwrap();
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        close_connections(&vhost);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            started.elapsed() > Duration::from_millis(300),
            "the read ended before the close"
        );
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("celtrace::broker::closed"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("guest:guest"), "{stderr}");
        assert!(out.stdout.is_empty(), "no half answer on stdout");
    }
}
