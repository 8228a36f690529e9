//! Reading a RabbitMQ stream queue: a bare consumer's drain against celtrace's full read and
//! rebuild, a time-bounded read, the stream's disk size, and then `record --index` over the
//! whole stream and `show`/`graph` through that index.
//!
//!     cargo bench --bench amqp                  # 1,000,000 events
//!
//! Each read is timed over RabbitMQ's stream protocol (port 5552, plugin `rabbitmq_stream`)
//! and over AMQP (`CELTRACE_STREAM_PORT=0`) in the same run, each beside its bare consumer.
//!     cargo bench --bench amqp -- --events 200000
//!     cargo bench --bench amqp -- --events 200000 --keep   (leaves its virtual host)
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and `rabbitmqctl` (run as a user that may
//! use it): the bench makes a virtual host of its own, lets `celtrace record` declare the
//! stream queue, publishes the events as Celery's workers do (per task a `task.sent`, a
//! `task.multi` [received, started] and a `task.multi` [succeeded]; half of them, then two
//! seconds later the other half), and then times whole `celtrace` processes.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::process::Command;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

const BIN: &str = env!("CARGO_BIN_EXE_celtrace");

fn events_arg() -> u64 {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == "--events")
        .and_then(|i| argv.get(i + 1)?.parse().ok())
        .unwrap_or(1_000_000)
}

struct Vhost(String);

impl Drop for Vhost {
    fn drop(&mut self) {
        // `--keep`: left for a profiler (delete it with `rabbitmqctl delete_vhost NAME`).
        if std::env::args().any(|a| a == "--keep") {
            println!("kept virtual host {}", self.0);
            return;
        }
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

fn uuid(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n.wrapping_mul(2_654_435_761) & 0xffff_ffff,
        n & 0xffff,
        (n >> 16) & 0xfff,
        (n >> 28) & 0xfff,
        n
    )
}

/// The three message bodies of task `n` (four events) and their routing keys.
fn task_bodies(n: u64, t: f64) -> [(&'static str, String); 3] {
    let id = uuid(n);
    let common = |ty: &str, dt: f64, host: &str| {
        format!(
            r#""hostname": "{host}", "utcoffset": 0.0, "pid": 4242, "clock": {n}, "uuid": "{id}", "timestamp": {:.6}, "type": "{ty}""#,
            t + dt
        )
    };
    let producer = format!("gen{n}@bench");
    let w = "w1@bench";
    let sent = format!(
        r#"{{{}, "name": "bench.add", "args": "(2, 3)", "kwargs": "{{}}", "retries": 0, "eta": null, "expires": null, "root_id": "{id}", "parent_id": null, "queue": "celery", "exchange": "", "routing_key": "celery"}}"#,
        common("task-sent", 0.0, &producer)
    );
    let received = format!(
        r#"{{{}, "name": "bench.add", "args": "(2, 3)", "kwargs": "{{}}", "root_id": "{id}", "parent_id": null, "retries": 0, "eta": null, "expires": null}}"#,
        common("task-received", 0.001, w)
    );
    let started = format!("{{{}}}", common("task-started", 0.002, w));
    let done = format!(
        r#"{{{}, "result": "5", "runtime": 0.0012}}"#,
        common("task-succeeded", 0.004, w)
    );
    [
        ("task.sent", sent),
        ("task.multi", format!("[{received}, {started}]")),
        ("task.multi", format!("[{done}]")),
    ]
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn publish(uri: &str, first: u64, tasks: u64) -> u64 {
    let conn = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(1);
    let mut bytes = 0;
    let mut pending = Vec::new();
    for n in first..first + tasks {
        for (rk, body) in task_bodies(n, now()) {
            bytes += body.len() as u64;
            pending.push(
                ch.basic_publish(
                    "celeryev".into(),
                    rk.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    props.clone(),
                )
                .await
                .unwrap(),
            );
        }
        if pending.len() >= 3000 {
            pending.clear();
        }
    }
    let _ = conn.close(200, "done".into()).await;
    bytes
}

/// A bare consumer: from `first` to the last offset, acking in batches, no decoding.
async fn drain(uri: &str, last: i64) -> (u64, u64) {
    let conn = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(2000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        AMQPValue::LongString(LongString::from("first")),
    );
    let mut consumer = ch
        .basic_consume(
            "celtrace.events".into(),
            "drain".into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .unwrap();
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(Ok(d)) = consumer.next().await {
        n += 1;
        bytes += d.data.len() as u64;
        let offset = d
            .properties
            .headers()
            .as_ref()
            .and_then(|h| match h.inner().get("x-stream-offset") {
                Some(AMQPValue::LongLongInt(o)) => Some(*o),
                _ => None,
            })
            .unwrap_or(i64::MAX);
        if n % 1000 == 0 || offset >= last {
            let _ = d.acker.ack(BasicAckOptions { multiple: true }).await;
        }
        if offset >= last {
            break;
        }
    }
    let _ = conn.close(200, "done".into()).await;
    (n, bytes)
}

/// The stream queue drained over the stream protocol by the official client alone, whole
/// chunks with 32 in flight and nothing done with them (the client still decodes every
/// message): a reference beside the bare drain.
async fn drain_stream_protocol(vhost: &str, last: i64) -> (u64, u64) {
    use rabbitmq_stream_client::types::{MessageResult, OffsetSpecification, ResponseKind};
    let options = rabbitmq_stream_client::ClientOptions::builder()
        .host("127.0.0.1")
        .port(5552)
        .v_host(vhost)
        .build();
    let client = rabbitmq_stream_client::Client::connect(options)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, u64, u64)>(32);
    client
        .set_handler(move |item: MessageResult| {
            let tx = tx.clone();
            async move {
                if let Some(Ok(r)) = item
                    && let ResponseKind::Deliver(d) = r.kind()
                {
                    let bytes = d
                        .messages
                        .iter()
                        .map(|m| m.data().map_or(0, |b| b.len() as u64))
                        .sum();
                    let _ = tx
                        .send((d.chunk_first_offset, d.messages.len() as u64, bytes))
                        .await;
                }
                Ok(())
            }
        })
        .await;
    client
        .subscribe(
            1,
            "celtrace.events",
            OffsetSpecification::First,
            32,
            Default::default(),
        )
        .await
        .unwrap();
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some((first, count, b)) = rx.recv().await {
        let _ = client.credit(1, 1).await;
        n += count;
        bytes += b;
        if (first + count) as i64 > last {
            break;
        }
    }
    let _ = client.close().await;
    (n, bytes)
}

/// How the reads reach the stream queue: the stream protocol when it answers (the default),
/// or AMQP only.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Stream,
    Amqp,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Stream => "stream protocol",
            Via::Amqp => "AMQP",
        }
    }
}

fn celtrace(args: &[&str]) -> (f64, String) {
    celtrace_via(Via::Stream, args)
}

fn celtrace_via(via: Via, args: &[&str]) -> (f64, String) {
    let t = Instant::now();
    let mut cmd = Command::new(BIN);
    if via == Via::Amqp {
        cmd.env("CELTRACE_STREAM_PORT", "0");
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn main() {
    let events = events_arg();
    let tasks = events / 4;
    let name = format!("celtrace-bench-{}", std::process::id());
    let ok = Command::new("rabbitmqctl")
        .args(["add_vhost", &name])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("rabbitmqctl")
            .args(["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(ok, "needs RabbitMQ on 127.0.0.1:5672 and rabbitmqctl");
    let vhost = Vhost(name);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{}", vhost.0);
    celtrace(&["record", "--broker", &url, "-q"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let mut bytes = rt.block_on(publish(&url, 0, tasks / 2));
    std::thread::sleep(Duration::from_secs(3));
    let half_at = now() - 1.0;
    bytes += rt.block_on(publish(&url, tasks / 2, tasks - tasks / 2));
    let published = t.elapsed().as_secs_f64() - 3.0;
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "published {events} events ({} messages, {:.0} MB of bodies) in {published:.1} s",
        tasks * 3,
        bytes as f64 / 1e6
    );
    let (_, status) = celtrace(&["record", "--status", "--broker", &url]);
    let last: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("offsets:"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .expect("offsets in record --status");
    let t = Instant::now();
    let (n, drained_bytes) = rt.block_on(drain(&url, last));
    let bare = t.elapsed().as_secs_f64();
    println!(
        "bare AMQP consumer drain: {n} messages in {bare:.2} s = {:.0} events/s, {:.0} MB/s",
        events as f64 / bare,
        drained_bytes as f64 / bare / 1e6
    );
    let t = Instant::now();
    let (n, _) = rt.block_on(drain_stream_protocol(&vhost.0, last));
    let official = t.elapsed().as_secs_f64();
    println!(
        "official client's stream-protocol drain (rabbitmq-stream-client, decodes each message): {n} messages in {official:.2} s = {:.0} events/s, {:.0} MB/s",
        events as f64 / official,
        drained_bytes as f64 / official / 1e6
    );
    let mut bare_stream = 0.0;
    for halves in [false, true] {
        let t = Instant::now();
        let (n, chunk_bytes) = celtrace::source::amqp::stream_protocol::bare_drain(
            "127.0.0.1",
            5552,
            ("guest", "guest"),
            &vhost.0,
            "celtrace.events",
            halves,
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let how = if halves {
            "two halves at once, as a full read"
        } else {
            "one connection"
        };
        println!(
            "bare stream-protocol consumer drain (celtrace's socket reader, {how}, frames counted, nothing parsed): {n} messages in {secs:.2} s = {:.0} events/s, {:.0} MB/s of chunks",
            events as f64 / secs,
            chunk_bytes as f64 / secs / 1e6
        );
        // The full read's floor is the drain that reads as it does.
        bare_stream = secs;
    }
    let mut full_by = Vec::new();
    for via in [Via::Stream, Via::Amqp] {
        let mut fulls = Vec::new();
        let mut source = String::new();
        for _ in 0..3 {
            let (secs, out) = celtrace_via(
                via,
                &["tasks", "--limit", "1", "--json", "--broker", &url, "-q"],
            );
            fulls.push(secs);
            let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
            source = doc["diagnostics"]["source"]
                .as_str()
                .unwrap_or("")
                .to_string();
        }
        fulls.sort_by(f64::total_cmp);
        let full = fulls[1];
        let floor = if via == Via::Stream {
            bare_stream
        } else {
            bare
        };
        println!(
            "full read + rebuild over {} (tasks --limit 1, median of 3): {full:.2} s = {:.0} events/s; {:.2}x its bare drain [source: {source}]",
            via.name(),
            events as f64 / full,
            full / floor
        );
        full_by.push(full);
    }
    println!(
        "stream protocol vs AMQP, full read + rebuild: {:.1}x faster",
        full_by[1] / full_by[0]
    );
    let since = chrono_like(half_at);
    let (secs, out) = celtrace(&["tasks", "--since", &since, "--json", "--broker", &url, "-q"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    println!(
        "tasks --since <the second half>: {secs:.2} s, read {} of {} messages (timestamp offset, chunk-granular)",
        doc["diagnostics"]["entries"],
        tasks * 3
    );
    let id = uuid(tasks - 10);
    for via in [Via::Stream, Via::Amqp] {
        let mut times: Vec<f64> = (0..3)
            .map(|_| celtrace_via(via, &["show", &id[..8], "--broker", &url, "-q"]).0)
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "show <prefix> of a task in the last hour over {} (median of 3): {:.2} s",
            via.name(),
            times[1]
        );
    }
    // A task from before the last five minutes: `--at` makes the newer half the last five
    // minutes, so `show` reads it first, then steps back over the older half only.
    let older = uuid(tasks / 4);
    let at = chrono_like(half_at + 300.0);
    let mut runs: Vec<(f64, String)> = (0..3)
        .map(|_| {
            celtrace_via(
                Via::Stream,
                &[
                    "show",
                    &older[..8],
                    "--at",
                    &at,
                    "--json",
                    "--broker",
                    &url,
                    "-q",
                ],
            )
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let doc: serde_json::Value = serde_json::from_str(&runs[1].1).unwrap_or_default();
    println!(
        "show <prefix> of a task older than the last 5 minutes (--at), over stream protocol (median of 3): {:.2} s, read {} of {} messages",
        runs[1].0,
        doc["diagnostics"]["entries"],
        tasks * 3
    );
    let disk = disk_bytes(&format!("{}_celtrace_events_1*", vhost.0));
    println!(
        "stream on disk: {:.0} MB = {:.0} MB per million events",
        disk / 1e6,
        disk / events as f64
    );
    indexed_reads(&url, &vhost.0, events, tasks);
}

/// `record --index` over the whole stream, then `show` and `graph` through the index.
fn indexed_reads(url: &str, vhost: &str, events: u64, tasks: u64) {
    let t = Instant::now();
    let mut indexer = Command::new(BIN)
        .args(["record", "--index", "--broker", url, "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let (_, status) = celtrace(&["record", "--status", "--broker", url]);
        if status.contains("(0 messages behind)") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(900), "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let indexed = t.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-INT", &indexer.id().to_string()])
        .status();
    let _ = indexer.wait();
    let disk = disk_bytes(&format!("{vhost}_celtrace_events_index_*"));
    println!(
        "record --index from the first message: {events} events in {indexed:.1} s = {:.0} events/s; index on disk {:.0} MB",
        events as f64 / indexed,
        disk / 1e6
    );
    let recent = uuid(tasks - 10);
    let older = uuid(tasks / 4);
    for via in [Via::Stream, Via::Amqp] {
        for (what, args) in [
            (
                "show <prefix> of a task in the last hour",
                vec!["show", &recent[..8]],
            ),
            (
                "show <prefix> of the oldest half's task",
                vec!["show", &older[..8]],
            ),
            ("graph <prefix>", vec!["graph", &recent[..8]]),
        ] {
            let mut runs: Vec<(f64, String)> = (0..5)
                .map(|_| {
                    let mut args = args.clone();
                    args.extend(["--json", "--broker", url, "-q"]);
                    celtrace_via(via, &args)
                })
                .collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let doc: serde_json::Value = serde_json::from_str(&runs[2].1).unwrap_or_default();
            println!(
                "{what} through the index over {} (median of 5): {:.3} s, read {} of {} messages [source: {}]",
                via.name(),
                runs[2].0,
                doc["diagnostics"]["entries"],
                tasks * 3,
                doc["diagnostics"]["source"].as_str().unwrap_or("")
            );
        }
    }
}

/// Bytes on disk of the stream directories matching `pattern`.
fn disk_bytes(pattern: &str) -> f64 {
    let du = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "du -sb /var/lib/rabbitmq/mnesia/*/stream/{pattern} | cut -f1"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&du.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .sum()
}

/// RFC 3339 of an epoch time, for `--since`.
fn chrono_like(t: f64) -> String {
    let secs = t as i64;
    let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
