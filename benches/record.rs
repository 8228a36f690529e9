//! `celtrace record` and the queries over a recorded Redis Stream, on a private redis-server.
//!
//!     cargo bench --bench record                       # 70,000 events/s for 60 s, then 1M events
//!     cargo bench --bench record -- --rate 100000 --secs 30 --events 1000000
//!     cargo bench --bench record -- --ingest-only      (or --queries-only)
//!     cargo bench --bench record -- --stop-under-load 2 --rate 80000 --events 1000000 --pad 900
//!
//! `--stop-under-load S` sends SIGINT S seconds after the load ends, whatever the recorder
//! still holds, and accounts for every published event: recorded, or counted in a gap
//! record (`lagged`, `unwritten`); anything else is reported as lost. `--pad N` adds N bytes
//! of arguments to each `task.sent` (real reprs are often ~1 KB).
//!
//! 1. **Ingest**: publishes Celery's own envelopes (kombu JSON, base64 bodies; per task a
//!    `task.sent`, a `task.multi` [received, started] and a `task.multi` [succeeded], like a
//!    prefork worker's batches) at a fixed rate, paced every 10 ms, while the release
//!    `celtrace record` runs; then compares events published with events recorded and prints
//!    the recorder's CPU and its resident memory over the run (flat = no growth).
//! 2. **Queries over N events** (a fresh server): records N events of flows of four tasks
//!    (a root and three children), then times whole `celtrace` processes: `show <prefix>`,
//!    `graph <prefix>`, `tasks --since 10s` (the range read), and a full rebuild
//!    (`tasks --limit 1`) against a bare XRANGE scan of the same stream; and prints Redis
//!    memory per million events for the stream alone and with its index.
//!
//! Needs `redis-server` on the PATH. Everything runs on this machine: the generator, Redis and
//! the recorder share its cores, as they would on a small production box.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const BIN: &str = env!("CARGO_BIN_EXE_celtrace");

/// A stream entry as XRANGE returns it: id and field/value pairs.
type Entry = (String, Vec<(String, Vec<u8>)>);

struct Args {
    rate: u64,
    secs: u64,
    events: u64,
    pad: usize,
    stop_under_load: Option<f64>,
}

fn args() -> Args {
    let mut a = Args {
        rate: 70_000,
        secs: 60,
        events: 1_000_000,
        pad: 0,
        stop_under_load: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match argv[i].as_str() {
            "--rate" => a.rate = value().expect("--rate N"),
            "--secs" => a.secs = value().expect("--secs N"),
            "--events" => a.events = value().expect("--events N"),
            "--pad" => a.pad = value().expect("--pad N") as usize,
            "--stop-under-load" => {
                a.stop_under_load = argv.get(i + 1).and_then(|v| v.parse().ok());
            }
            _ => {}
        }
        i += 1;
    }
    a
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
    /// One section of the server's `INFO`.
    fn info(&self, section: &str) -> String {
        redis::cmd("INFO")
            .arg(section)
            .query(&mut self.conn())
            .unwrap()
    }
    fn used_memory(&self) -> u64 {
        let info = self.info("memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds the server used so far (user + system).
    fn cpu_secs(&self) -> f64 {
        let info = self.info("cpu");
        info.lines()
            .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
            .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
            .sum()
    }

    /// The commands that cost Redis the most: `name calls×µs`, busiest first.
    fn command_stats(&self) -> String {
        let info = self.info("commandstats");
        let mut rows: Vec<(f64, String)> = info
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let field = |k: &str| {
                    rest.split(',')
                        .find_map(|f| f.strip_prefix(k))
                        .and_then(|v| v.parse::<f64>().ok())
                };
                let (calls, usec, per) =
                    (field("calls=")?, field("usec=")?, field("usec_per_call=")?);
                Some((usec, format!("{name} {calls:.0}×{per:.2}")))
            })
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        rows.into_iter()
            .take(6)
            .map(|r| r.1)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Celery's envelope around one event body (docs/protocol.md §1.4).
fn envelope(body: &str, routing_key: &str, host: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        r#"{{"body": "{b64}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {{"hostname": "{host}"}}, "properties": {{"delivery_mode": 1, "delivery_info": {{"exchange": "celeryev", "routing_key": "{routing_key}"}}, "priority": 0, "body_encoding": "base64", "delivery_tag": "b330ded0-747d-49ff-9ea9-664e30709d0b"}}}}"#
    )
}

fn uuid(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n.wrapping_mul(2_654_435_761)) & 0xffff_ffff,
        n & 0xffff,
        (n >> 16) & 0xfff,
        (n >> 28) & 0xfff,
        n
    )
}

/// The three messages of task `n` (4 events); tasks come in flows of four: a root and three
/// children, so `graph` has something to draw.
/// Bytes of padding in each `task.sent`'s arguments (`--pad`).
static PAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn task_messages(n: u64, t: f64) -> [(String, String); 3] {
    let id = uuid(n);
    let pad = "x".repeat(PAD.load(std::sync::atomic::Ordering::Relaxed));
    let args = if pad.is_empty() {
        "(2, 3)".to_string()
    } else {
        format!("(2, 3, '{pad}')")
    };
    let root = uuid(n - n % 4);
    let parent = if n.is_multiple_of(4) {
        "null".to_string()
    } else {
        format!("\"{root}\"")
    };
    let w = "w1@bench";
    // Each flow from its own producer process, as from a web server's many requests (one
    // producer's burst of top-level tasks would look like a group).
    let producer = format!("gen{}@bench", n / 4);
    let common = |ty: &str, dt: f64, host: &str| {
        format!(
            r#""hostname": "{host}", "utcoffset": 0.0, "pid": 4242, "clock": {n}, "uuid": "{id}", "timestamp": {:.6}, "type": "{ty}""#,
            t + dt
        )
    };
    let sent = format!(
        r#"{{{}, "name": "bench.add", "args": "{args}", "kwargs": "{{}}", "retries": 0, "eta": null, "expires": null, "root_id": "{root}", "parent_id": {parent}, "queue": "celery", "exchange": "", "routing_key": "celery"}}"#,
        common("task-sent", 0.0, &producer)
    );
    let received = format!(
        r#"{{{}, "name": "bench.add", "args": "(2, 3)", "kwargs": "{{}}", "root_id": "{root}", "parent_id": {parent}, "retries": 0, "eta": null, "expires": null}}"#,
        common("task-received", 0.001, w)
    );
    let started = format!("{{{}}}", common("task-started", 0.002, w));
    let succeeded = format!(
        r#"{{{}, "result": "5", "runtime": 0.0012}}"#,
        common("task-succeeded", 0.004, w)
    );
    [
        (
            "/0.celeryev/task.sent".into(),
            envelope(&sent, "task.sent", "gen4242@bench"),
        ),
        (
            "/0.celeryev/task.multi".into(),
            envelope(&format!("[{received}, {started}]"), "task.multi", w),
        ),
        (
            "/0.celeryev/task.multi".into(),
            envelope(&format!("[{succeeded}]"), "task.multi", w),
        ),
    ]
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `celtrace record` in the background (stopped by [`stop`]).
#[allow(clippy::zombie_processes)]
fn start_recorder(server: &Server) -> Child {
    let child = Command::new(BIN)
        .args(["record", "--broker", &server.url(), "-q"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut conn = server.conn();
    for _ in 0..200 {
        let n: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut conn).unwrap();
        if n >= 1 {
            return child;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("recorder did not subscribe");
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

/// (resident KiB, user+system CPU ticks) of a process.
fn proc_figures(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (rss, ticks)
}

fn recorded_events(server: &Server) -> u64 {
    let mut conn = server.conn();
    let len: u64 = redis::cmd("XLEN")
        .arg("celtrace:events")
        .query(&mut conn)
        .unwrap();
    let gaps: u64 = redis::cmd("LLEN")
        .arg("celtrace:events:gaps")
        .query(&mut conn)
        .unwrap();
    len - gaps
}

/// Publishes tasks from `first` at `rate` events/s for `secs` (0 = as fast as Redis takes
/// them) until `events` events; returns the events published.
fn publish(server: &Server, first: u64, rate: u64, secs: u64, events: u64) -> u64 {
    let mut conn = server.conn();
    let start = Instant::now();
    let mut published = 0;
    let mut n = first;
    let tick = Duration::from_millis(10);
    while published < events {
        let elapsed = start.elapsed();
        if secs > 0 && elapsed >= Duration::from_secs(secs) {
            break;
        }
        let due = if rate == 0 {
            published + 4_000
        } else {
            ((elapsed + tick).as_secs_f64() * rate as f64) as u64
        };
        let mut pipe = redis::pipe();
        let t = now();
        while published < due.min(events) {
            for (ch, msg) in task_messages(n, t) {
                pipe.cmd("PUBLISH").arg(ch).arg(msg).ignore();
            }
            published += 4;
            n += 1;
        }
        pipe.query::<()>(&mut conn).unwrap();
        if rate > 0 {
            let next = start + Duration::from_secs_f64(published as f64 / rate as f64);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    published
}

fn wait_recorded(server: &Server, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    loop {
        let n = recorded_events(server);
        if n >= expected || Instant::now() > deadline {
            return n;
        }
        if n == last {
            std::thread::sleep(Duration::from_millis(500));
        }
        last = n;
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ingest(a: &Args) {
    let server = Server::start();
    let rec = start_recorder(&server);
    let pid = rec.id();
    let (rss0, ticks0) = proc_figures(pid);
    let mut conn = server.conn();
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        let start = Instant::now();
        loop {
            let (rss, _) = proc_figures(pid);
            if rss == 0 {
                break;
            }
            // Lag: how far the newest recorded entry (its id is its arrival time) is behind now.
            let newest: Vec<Entry> = redis::cmd("XREVRANGE")
                .arg("celtrace:events")
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(&mut conn)
                .unwrap_or_default();
            let lag = newest
                .first()
                .and_then(|(id, _)| id.split('-').next()?.parse::<f64>().ok())
                .map_or(0.0, |ms| (now() - ms / 1000.0).max(0.0));
            samples.push((start.elapsed().as_secs(), rss, lag));
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    });
    let redis_cpu0 = server.cpu_secs();
    let t = Instant::now();
    let published = publish(&server, 0, a.rate, a.secs, u64::MAX);
    let secs = t.elapsed().as_secs_f64();
    let recorded = wait_recorded(&server, published);
    let (_, ticks1) = proc_figures(pid);
    let redis_cpu = server.cpu_secs() - redis_cpu0;
    let commands = server.command_stats();
    stop(rec);
    let samples = sampler.join().unwrap();
    let hz = 100.0;
    let cpu = (ticks1 - ticks0) as f64 / hz / secs;
    println!(
        "ingest: published {published} events in {secs:.1} s ({:.0} events/s, {:.0} messages/s)",
        published as f64 / secs,
        published as f64 * 0.75 / secs
    );
    println!(
        "ingest: recorded {recorded} events, lost {} ({:.3} %)",
        published.saturating_sub(recorded),
        published.saturating_sub(recorded) as f64 * 100.0 / published.max(1) as f64
    );
    // The floor: Redis runs commands on one thread, shared by the publisher and the recorder.
    println!(
        "ingest: redis-server CPU {:.2} cores over the load; per command (calls, µs each): {commands}",
        redis_cpu / secs
    );
    let mid = samples.len() / 2;
    let at = |i: usize| samples.get(i).map_or(0, |s| s.1 / 1024);
    let lags: Vec<f64> = samples.iter().map(|s| s.2).collect();
    println!(
        "ingest: lag of the newest recorded event, sampled each second: median {:.0} ms, max {:.0} ms",
        {
            let mut l = lags.clone();
            l.sort_by(f64::total_cmp);
            l.get(l.len() / 2).copied().unwrap_or(0.0) * 1000.0
        },
        lags.iter().copied().fold(0.0, f64::max) * 1000.0
    );
    println!(
        "ingest: recorder CPU {cpu:.2} cores; RSS {} MB at start, {} MB after 5 s, {} MB mid-run, {} MB at the end, max {} MB",
        rss0 / 1024,
        at(5),
        at(mid),
        at(samples.len().saturating_sub(2)),
        samples.iter().map(|s| s.1).max().unwrap_or(0) / 1024
    );
}

/// Median wall time of `runs` whole celtrace processes.
fn time_cli(args: &[&str], runs: usize) -> (f64, String) {
    let mut times = Vec::new();
    let mut out = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let o = Command::new(BIN).args(args).output().unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out)
}

/// The reads a lookup of one workflow cannot do without, on one connection, median of 15:
/// the id set's prefix search, the workflow's index key, and each of its entries.
fn bare_flow_read(server: &Server, prefix: &str, root: &str) -> f64 {
    let mut conn = server.conn();
    let hours: Vec<String> = redis::cmd("KEYS")
        .arg("celtrace:events:ids:*")
        .query(&mut conn)
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let mut pipe = redis::pipe();
        for key in &hours {
            pipe.cmd("ZRANGEBYLEX")
                .arg(key)
                .arg(format!("[{prefix}"))
                .arg(format!("[{prefix}\u{7f}"))
                .arg("LIMIT")
                .arg(0)
                .arg(21);
        }
        let _: Vec<Vec<String>> = pipe.query(&mut conn).unwrap();
        let flow: String = redis::cmd("GET")
            .arg(format!("celtrace:events:f:{root}"))
            .query(&mut conn)
            .unwrap();
        let mut pipe = redis::pipe();
        for entry in flow.split(',').filter_map(|e| e.split_once(':')) {
            pipe.cmd("XRANGE")
                .arg("celtrace:events")
                .arg(entry.1)
                .arg(entry.1);
        }
        let _: Vec<redis::Value> = pipe.query(&mut conn).unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A bare paged XRANGE of the whole stream (page 1000, no decoding): the floor of a rebuild.
fn bare_scan(server: &Server) -> f64 {
    let mut conn = server.conn();
    let t = Instant::now();
    let mut next = "-".to_string();
    loop {
        let page: Vec<Entry> = redis::cmd("XRANGE")
            .arg("celtrace:events")
            .arg(&next)
            .arg("+")
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        next = format!("({last}");
    }
    t.elapsed().as_secs_f64()
}

fn queries(a: &Args) {
    let server = Server::start();
    let base = server.used_memory();
    let rec = start_recorder(&server);
    let t = Instant::now();
    // Paced like the ingest run: a burst faster than the recorder would only test Redis's
    // output buffer limit.
    let published = publish(&server, 0, a.rate, 0, a.events);
    let recorded = wait_recorded(&server, published);
    let load = t.elapsed().as_secs_f64();
    // A last burst, so `--since 10s` has a small range to read among the million.
    std::thread::sleep(Duration::from_secs(11));
    let recent = publish(&server, 10_000_000, a.rate, 0, 4_000);
    wait_recorded(&server, recorded + recent);
    stop(rec);
    println!(
        "queries: recorded {recorded} events ({} tasks) in {load:.1} s, then {recent} more",
        recorded / 4
    );
    let url = server.url();
    let mut conn = server.conn();
    let stream: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("celtrace:events")
        .arg("SAMPLES")
        .arg(0)
        .query(&mut conn)
        .unwrap();
    let total = server.used_memory() - base;
    let per_m = |b: u64| b as f64 / (recorded + recent) as f64 * 1e6 / 1e6;
    println!(
        "memory: stream {:.0} MB per million events; with its index {:.0} MB per million events (index {:.0} B per task)",
        per_m(stream),
        per_m(total),
        (total - stream) as f64 / ((recorded + recent) / 4) as f64
    );
    let middle = uuid(recorded / 8 + 1);
    let prefix = &middle[..8];
    for (what, args) in [
        (
            "show <8-char prefix>",
            vec!["show", prefix, "--broker", &url, "-q"],
        ),
        (
            "show <full id> --json",
            vec!["show", &middle, "--json", "--broker", &url, "-q"],
        ),
        (
            "graph <8-char prefix>",
            vec!["graph", prefix, "--broker", &url, "-q"],
        ),
        (
            "graph <prefix> --dot",
            vec!["graph", prefix, "--dot", "--broker", &url, "-q"],
        ),
    ] {
        let (secs, out) = time_cli(&args, 15);
        assert!(out.contains(&middle[..8]), "{what}: {out}");
        println!(
            "{what}: {:.1} ms (median of 15 whole processes)",
            secs * 1000.0
        );
    }
    let (_, out) = time_cli(&["show", &middle, "--json", "--broker", &url, "-q"], 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    println!(
        "show reads {} entries of {} (the workflow's, and the workers' last events)",
        doc["diagnostics"]["entries"],
        recorded + recent
    );
    // Floors: starting a process at all, and the workflow's reads done bare.
    let (start, _) = time_cli(&["--version"], 15);
    let n = recorded / 8 + 1;
    let root = uuid(n - n % 4);
    let bare = bare_flow_read(&server, prefix, &root);
    println!(
        "floors: `celtrace --version` {:.1} ms (median of 15); bare reads of the workflow (ZRANGEBYLEX, MGET, one XRANGE per entry) {:.2} ms",
        start * 1000.0,
        bare * 1000.0
    );
    let (since, out) = time_cli(
        &["tasks", "--since", "10s", "--json", "--broker", &url, "-q"],
        5,
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    println!(
        "tasks --since 10s: {:.1} ms, {} tasks, {} entries read of {}",
        since * 1000.0,
        doc["count"],
        doc["diagnostics"]["entries"],
        recorded + recent
    );
    let scan = bare_scan(&server);
    let (full, _) = time_cli(&["tasks", "--limit", "1", "--broker", &url, "-q"], 3);
    println!(
        "full rebuild (tasks --limit 1): {full:.2} s; bare XRANGE scan: {scan:.2} s; ratio {:.2}",
        full / scan
    );
}

/// SIGINT while the recorder still holds a backlog: every published event must be recorded
/// or counted in a gap record.
fn stop_under_load(a: &Args, after: f64) {
    let server = Server::start();
    let rec = start_recorder(&server);
    let pid = rec.id();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        std::thread::spawn(move || {
            loop {
                let (rss, _) = proc_figures(pid);
                if rss == 0 {
                    break;
                }
                peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    PAD.store(a.pad, std::sync::atomic::Ordering::Relaxed);
    let t = Instant::now();
    let published = publish(&server, 0, a.rate, 0, a.events);
    let secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(after));
    let in_stream_at_signal = recorded_events(&server);
    let signalled = Instant::now();
    let mut rec = rec;
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = rec.wait().unwrap();
    let stop_took = signalled.elapsed().as_secs_f64();
    let _ = sampler.join();
    let recorded = recorded_events(&server);
    let mut conn = server.conn();
    let gaps: Vec<String> = redis::cmd("LRANGE")
        .arg("celtrace:events:gaps")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    let counted: u64 = gaps
        .iter()
        .filter_map(|g| serde_json::from_str::<serde_json::Value>(g).ok())
        .filter_map(|g| g["events"].as_u64())
        .sum();
    println!(
        "stop under load: published {published} events in {secs:.1} s ({:.0} events/s); {in_stream_at_signal} in the stream when SIGINT came {after} s later",
        published as f64 / secs
    );
    println!(
        "stop under load: exit {:?} after {stop_took:.1} s; recorded {recorded}, counted in gap records {counted}, unaccounted {}",
        status.code(),
        published as i64 - recorded as i64 - counted as i64
    );
    println!(
        "stop under load: recorder peak RSS {} MB",
        peak.load(std::sync::atomic::Ordering::Relaxed) / 1024
    );
}

fn main() {
    let a = args();
    let flag = |f: &str| std::env::args().any(|x| x == f);
    if let Some(after) = a.stop_under_load {
        stop_under_load(&a, after);
        return;
    }
    if !flag("--queries-only") {
        ingest(&a);
    }
    if !flag("--ingest-only") {
        queries(&a);
    }
}
