//! `doctor`: what was found about the broker, the workers, the producers, the recording, the
//! result backend and the data, turned into a checklist with the fix for each problem. Pure:
//! the command gathers the facts, this decides what they mean.

use std::collections::BTreeMap;

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `broker`, `workers`, `producers`, `recording`, `backend`, `data`.
    pub area: &'static str,
    /// A stable id (`broker.reachable`, `worker.events`, ...).
    pub check: &'static str,
    pub status: Status,
    /// What was found, one line.
    pub found: String,
    /// What it means for celtrace, when it is not fine.
    pub means: Option<String>,
    /// The exact change: the setting, where it goes, the command.
    pub fix: Option<String>,
}

/// The broker, as reached.
#[derive(Debug, Clone, Default)]
pub struct BrokerFacts {
    /// `redis` or `amqp`.
    pub kind: &'static str,
    pub label: String,
    /// Why it could not be reached or refused the credentials; `None` when it answered.
    pub unreachable: Option<String>,
    /// The server's version (`7.0.15`, `3.13.7`), when known.
    pub version: Option<String>,
    pub tls: bool,
    /// RabbitMQ: whether the stream protocol port (5552) answers.
    pub stream_plugin: Option<bool>,
}

/// One worker that answered the pidbox, and what its configuration says.
#[derive(Debug, Clone, Default)]
pub struct WorkerFacts {
    pub hostname: String,
    /// Seen sending task events in the recent history (or live). Worker events (heartbeats)
    /// are sent even without `-E`, so they do not count.
    pub seen_task_events: bool,
    /// `worker_send_task_events` as its configuration says (`-E` is not in it).
    pub events_configured: Option<bool>,
    /// Tasks it has run (`inspect stats` total) and seconds it has been up.
    pub processed: Option<u64>,
    pub uptime: Option<f64>,
    /// `inspect conf` (with defaults): setting name to value.
    pub conf: BTreeMap<String, serde_json::Value>,
}

/// What the recent history of events shows.
#[derive(Debug, Clone, Default)]
pub struct EventFacts {
    /// Events looked at, and the seconds they span.
    pub events: usize,
    pub span: f64,
    pub task_sent: usize,
    pub task_received: usize,
    /// Tasks received whose `task-sent` is not in the history (sent before it began excluded).
    pub received_without_sent: usize,
    /// Median of (receive time − event time) in seconds, when both are there.
    pub skew: Option<f64>,
    /// `args`/`kwargs` cut by Celery (`...` at about 1 KiB).
    pub args_cut: usize,
    /// Hostnames seen sending worker events.
    pub workers_seen: Vec<String>,
    /// Hostnames seen sending task events (`task-received`, `task-started`, ...).
    pub task_event_hosts: Vec<String>,
    /// Seconds of events looked at, back from now (the history's reach), and the earliest
    /// event's time.
    pub reach: Option<f64>,
    pub first: Option<f64>,
}

impl EventFacts {
    pub fn rate(&self) -> f64 {
        if self.span > 0.0 {
            self.events as f64 / self.span
        } else {
            0.0
        }
    }
}

/// The recording, on Redis (a stream) or RabbitMQ (a stream queue).
#[derive(Debug, Clone, Default)]
pub struct RecordingFacts {
    /// The stream key or queue name.
    pub name: String,
    pub present: bool,
    pub entries: u64,
    /// Redis: a recorder holds the lock (its description).
    pub recorder: Option<String>,
    /// Seconds from the newest entry to now.
    pub lag: Option<f64>,
    /// Gap records of the last day: reason and missing events (None: unknown).
    pub recent_gaps: Vec<(String, Option<u64>)>,
    /// Redis memory: maxmemory (0 = none), used, and its policy.
    pub maxmemory: Option<(u64, u64, String)>,
    /// Redis `client-output-buffer-limit` for pubsub: hard bytes, soft bytes, soft seconds.
    pub pubsub_limit: Option<(u64, u64, u64)>,
    /// Average bytes per recorded event (to weigh the buffer limit against the rate).
    pub event_bytes: Option<f64>,
    /// Redis: the stream's bytes (MEMORY USAGE) and the seconds of history it holds.
    pub stream_bytes: Option<(u64, f64)>,
    /// RabbitMQ, from the management API: bound to `celeryev` with `#`, and the retention
    /// arguments (`x-max-age=7D, x-max-length-bytes=…`). `None`: not asked.
    pub bound: Option<bool>,
    pub retention: Option<String>,
    /// RabbitMQ: how many messages the stream holds past its index (`record --index`);
    /// `Some(None)`: no index. `None`: not asked.
    pub index_behind: Option<Option<u64>>,
}

/// The result backend.
#[derive(Debug, Clone, Default)]
pub struct BackendFacts {
    pub label: String,
    /// Why it could not be reached; `None` when it answered.
    pub unreachable: Option<String>,
    /// Task records looked at, and how many carry `args` (result_extended on).
    pub records: usize,
    pub extended: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub broker: BrokerFacts,
    /// `None` when the pidbox could not be asked.
    pub workers: Option<Vec<WorkerFacts>>,
    pub events: EventFacts,
    pub recording: RecordingFacts,
    pub backend: Option<BackendFacts>,
    /// How long `inspect` waited.
    pub timeout: f64,
}

fn finding(area: &'static str, check: &'static str, status: Status, found: String) -> Finding {
    Finding {
        area,
        check,
        status,
        found,
        means: None,
        fix: None,
    }
}

impl Finding {
    fn means(mut self, m: impl Into<String>) -> Self {
        self.means = Some(m.into());
        self
    }

    fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

/// Seconds a worker may be up before its first event (booting before `worker-online`).
const EVENT_SLACK: f64 = 10.0;

/// A version string compared by its numbers (`7.0.15` ≥ `6.2`).
fn at_least(version: &str, min: &[u64]) -> bool {
    let parts: Vec<u64> = version
        .split(['.', '-', '+'])
        .map_while(|p| p.parse().ok())
        .collect();
    parts.as_slice() >= min
}

fn conf_bool(w: &WorkerFacts, key: &str) -> Option<bool> {
    match w.conf.get(key)? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Null => Some(false),
        _ => None,
    }
}

fn conf_text(w: &WorkerFacts, key: &str) -> Option<String> {
    match w.conf.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn names(ws: &[&WorkerFacts]) -> String {
    ws.iter()
        .map(|w| w.hostname.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn broker(f: &Facts, out: &mut Vec<Finding>) -> bool {
    let b = &f.broker;
    if let Some(why) = &b.unreachable {
        out.push(
            finding("broker", "broker.reachable", Status::Fail, format!("{}: {why}", b.label))
                .means("nothing can be read or asked")
                .fix("check --broker (or CELTRACE_BROKER_URL / CELERY_BROKER_URL), the host, port, password and vhost"),
        );
        return false;
    }
    out.push(finding(
        "broker",
        "broker.reachable",
        Status::Ok,
        format!("{} answers", b.label),
    ));
    match (b.kind, b.version.as_deref()) {
        ("redis", Some(v)) if at_least(v, &[6, 2]) => {
            out.push(finding(
                "broker",
                "broker.version",
                Status::Ok,
                format!("Redis {v}"),
            ));
        }
        ("redis", Some(v)) => out.push(
            finding(
                "broker",
                "broker.version",
                Status::Fail,
                format!("Redis {v}"),
            )
            .means("the recorder needs XADD with MINID and XAUTOCLAIM, from Redis 6.2")
            .fix("upgrade Redis to 6.2 or later"),
        ),
        ("amqp", Some(v)) if at_least(v, &[3, 9]) => {
            out.push(finding(
                "broker",
                "broker.version",
                Status::Ok,
                format!("RabbitMQ {v} (stream queues)"),
            ));
        }
        ("amqp", Some(v)) => out.push(
            finding(
                "broker",
                "broker.version",
                Status::Fail,
                format!("RabbitMQ {v}"),
            )
            .means("stream queues, which keep the history, came with RabbitMQ 3.9")
            .fix("upgrade RabbitMQ to 3.9 or later"),
        ),
        ("amqp", None) => out.push(finding(
            "broker",
            "broker.version",
            Status::Ok,
            "RabbitMQ answers (AMQP does not tell its version; the stream queue is checked below)"
                .into(),
        )),
        _ => out.push(finding(
            "broker",
            "broker.version",
            Status::Warning,
            "the server did not say its version".into(),
        )),
    }
    if let Some(on) = b.stream_plugin {
        out.push(if on {
            finding(
                "broker",
                "broker.stream_plugin",
                Status::Ok,
                "the rabbitmq_stream plugin answers on port 5552".into(),
            )
        } else {
            finding(
                "broker",
                "broker.stream_plugin",
                Status::Warning,
                "nothing answers on port 5552 (rabbitmq_stream)".into(),
            )
            .means("reads go over AMQP, several times slower than the stream protocol")
            .fix("rabbitmq-plugins enable rabbitmq_stream")
        });
    }
    out.push(if b.tls {
        finding("broker", "broker.tls", Status::Ok, "TLS".into())
    } else {
        finding(
            "broker",
            "broker.tls",
            Status::Warning,
            "no TLS: events, arguments and passwords cross the network in clear".into(),
        )
        .fix(if b.kind == "redis" {
            "use rediss:// where the network is not trusted"
        } else {
            "use amqps:// where the network is not trusted"
        })
    });
    true
}

fn workers(f: &Facts, out: &mut Vec<Finding>) {
    let Some(ws) = &f.workers else {
        out.push(finding(
            "workers",
            "workers.inspect",
            Status::Warning,
            "the workers could not be asked (no broker to ask)".into(),
        ));
        return;
    };
    if ws.is_empty() {
        let seen = &f.events.workers_seen;
        out.push(if seen.is_empty() {
            finding("workers", "workers.online", Status::Fail, format!("no worker answered within {:.1}s and none sent events", f.timeout))
                .means("no worker is running against this broker, or it is another vhost or database")
                .fix("start a worker: celery -A proj worker -E, with the same broker URL")
        } else {
            finding("workers", "workers.online", Status::Warning, format!("no worker answered within {:.1}s; events came from {}", f.timeout, seen.join(", ")))
                .means("the workers may be busy, stopped, or started with --without-mingle/--without-gossip and no remote control")
                .fix("run again with --timeout 5s; remote control must be on (worker_enable_remote_control = True)")
        });
        return;
    }
    out.push(finding(
        "workers",
        "workers.online",
        Status::Ok,
        format!(
            "{} answered: {}",
            ws.len(),
            names(&ws.iter().collect::<Vec<_>>())
        ),
    ));
    // Sure only when the worker ran tasks within the events looked at and none of their
    // events came; an idle worker started with -E (not in its configuration) looks the same
    // as one without events otherwise.
    let quiet = |w: &&WorkerFacts| !w.seen_task_events && w.events_configured != Some(true);
    let sure = |w: &&WorkerFacts| {
        w.processed.is_some_and(|n| n > 0)
            && matches!((f.events.reach, w.uptime), (Some(reach), Some(up)) if reach + EVENT_SLACK >= up)
    };
    let silent: Vec<&WorkerFacts> = ws.iter().filter(quiet).filter(sure).collect();
    let maybe: Vec<&WorkerFacts> = ws.iter().filter(quiet).filter(|w| !sure(w)).collect();
    const FIX: &str = "start them with -E (celery -A proj worker -E), or set worker_send_task_events = True in the app's configuration; `celery -A proj control enable_events` turns events on until the worker restarts";
    if silent.is_empty() && maybe.is_empty() {
        out.push(finding(
            "workers",
            "worker.events",
            Status::Ok,
            "every worker that answered sends task events".into(),
        ));
    }
    if !silent.is_empty() {
        out.push(
            finding(
                "workers",
                "worker.events",
                Status::Fail,
                format!("ran tasks but sent no task event: {}", names(&silent)),
            )
            .means("celtrace sees no task these workers run (only their heartbeats)")
            .fix(FIX),
        );
    }
    if !maybe.is_empty() {
        out.push(
            finding("workers", "worker.events", Status::Warning, format!("no task event seen from {}, and their configuration has worker_send_task_events off: unless they were started with -E, they send none", names(&maybe)))
                .means("if so, celtrace sees no task these workers run")
                .fix(FIX),
        );
    }
    let check = |key: &'static str, want: bool| -> Vec<&WorkerFacts> {
        ws.iter()
            .filter(|w| conf_bool(w, key).is_some_and(|v| v != want))
            .collect()
    };
    let off = check("task_send_sent_event", true);
    out.push(if off.is_empty() {
        finding("workers", "worker.task_send_sent_event", Status::Ok, "task_send_sent_event = True".into())
    } else {
        finding("workers", "worker.task_send_sent_event", Status::Warning, format!("task_send_sent_event is off on {}", names(&off)))
            .means("tasks these workers send (chains, children) have no task-sent: no queue wait, no stuck-in-queue detection, and a child's link to its parent comes only from task-received")
            .fix("set task_send_sent_event = True in the app's configuration (workers and every producer)")
    });
    let off = check("result_extended", true);
    out.push(if off.is_empty() {
        finding("workers", "worker.result_extended", Status::Ok, "result_extended = True".into())
    } else {
        finding("workers", "worker.result_extended", Status::Warning, format!("result_extended is off on {}", names(&off)))
            .means("the result backend keeps no name, arguments or worker: `retry` cannot re-send these tasks, and arguments are only Celery's reprs cut at about 1 KiB")
            .fix("set result_extended = True in the app's configuration")
    });
    let no_backend: Vec<&WorkerFacts> = ws
        .iter()
        .filter(|w| {
            conf_text(w, "result_backend").is_none_or(|b| b.is_empty() || b.starts_with("disabled"))
        })
        .collect();
    if !no_backend.is_empty() {
        out.push(
            finding(
                "workers",
                "worker.result_backend",
                Status::Warning,
                format!("no result backend on {}", names(&no_backend)),
            )
            .means(
                "groups and chords are drawn only from what the events prove; `retry` cannot work",
            )
            .fix("set result_backend (e.g. redis://host:6379/1) in the app's configuration"),
        );
    }
    for w in ws {
        if let (Some(true), Some(prefetch)) = (
            conf_bool(w, "task_acks_late"),
            w.conf
                .get("worker_prefetch_multiplier")
                .and_then(serde_json::Value::as_u64),
        ) && prefetch > 1
        {
            out.push(
                finding("workers", "worker.prefetch", Status::Warning, format!("{}: task_acks_late with worker_prefetch_multiplier = {prefetch}", w.hostname))
                    .means("each process holds several received tasks: they show RECEIVED long before they start, and stuck-in-queue looks like not-started")
                    .fix("set worker_prefetch_multiplier = 1 with acks-late tasks"),
            );
        }
        let expires = w
            .conf
            .get("event_queue_expires")
            .and_then(serde_json::Value::as_f64);
        if let Some(expires) = expires.filter(|e| *e < 60.0) {
            out.push(
                finding("workers", "worker.event_queue_expires", Status::Warning, format!("{}: event_queue_expires = {expires}s", w.hostname))
                    .means("a monitor's event queue on RabbitMQ is deleted after that long without a consumer")
                    .fix("raise event_queue_expires (celtrace's stream queue does not expire; Flower's queues do)"),
            );
        }
        if let Some(expires) = w
            .conf
            .get("result_expires")
            .and_then(serde_json::Value::as_f64)
            && expires < 86_400.0
        {
            out.push(
                finding("backend", "worker.result_expires", Status::Warning, format!("{}: result_expires = {expires}s", w.hostname))
                    .means("result-backend records are gone before a day's recording is: older flows lose their exact groups, and `retry` their arguments")
                    .fix("raise result_expires (Celery's default is 1 day), or record the backend: celtrace record --result-backend ..."),
            );
        }
        let ttl = w
            .conf
            .get("event_queue_ttl")
            .and_then(serde_json::Value::as_f64);
        if let Some(ttl) = ttl.filter(|t| *t < 5.0) {
            out.push(
                finding("workers", "worker.event_queue_ttl", Status::Warning, format!("{}: event_queue_ttl = {ttl}s", w.hostname))
                    .means("on RabbitMQ, events wait that long in a monitor's queue before they are dropped")
                    .fix("raise event_queue_ttl (celtrace's own queues do not use it; Flower's and celery events' do)"),
            );
        }
    }
}

fn producers(f: &Facts, out: &mut Vec<Finding>) {
    let e = &f.events;
    if e.task_received == 0 {
        return;
    }
    out.push(if e.received_without_sent == 0 {
        finding("producers", "producer.task_sent", Status::Ok, format!("every received task has its task-sent ({} tasks)", e.task_received))
    } else {
        finding("producers", "producer.task_sent", Status::Warning, format!("{} of {} tasks received have no task-sent", e.received_without_sent, e.task_received))
            .means("most likely task_send_sent_event is off where they were sent (unless they waited in the queue since before these events begin): no queue wait, no stuck-in-queue detection")
            .fix("set task_send_sent_event = True in the configuration of every app that sends tasks (web servers, beat, scripts)")
    });
}

fn recording(f: &Facts, out: &mut Vec<Finding>) {
    recording_store(f, out);
    redis_limits(f, out);
}

/// Redis's memory and pubsub buffer settings against the recorder's needs.
fn redis_limits(f: &Facts, out: &mut Vec<Finding>) {
    let r = &f.recording;
    // A day of history (the recorder's default retention) at the rate recorded so far.
    if let (Some((max, _, _)), Some((bytes, held))) = (&r.maxmemory, r.stream_bytes)
        && *max > 0
        && held > 60.0
    {
        let day = (bytes as f64 * 86_400.0 / held.min(86_400.0)) as u64;
        if day * 10 > *max * 8 {
            out.push(
                finding("recording", "recording.retention", Status::Warning, format!("a day of history at this rate is about {day} bytes; maxmemory is {max}"))
                    .means("the stream will reach maxmemory before its retention trims it: writes fail or keys are evicted")
                    .fix("record less history (celtrace record --retention 6h or --max-len N), or raise maxmemory"),
            );
        } else {
            out.push(finding(
                "recording",
                "recording.retention",
                Status::Ok,
                format!(
                    "a day of history at this rate is about {day} bytes, within maxmemory {max}"
                ),
            ));
        }
    }
    if let Some((max, used, policy)) = &r.maxmemory {
        if *max > 0 && *used * 10 > *max * 8 {
            out.push(
                finding("recording", "recording.memory", Status::Warning, format!("Redis uses {used} of maxmemory {max} bytes ({policy})"))
                    .means("at maxmemory, writes fail (noeviction) or keys are evicted: the recording stops or loses history")
                    .fix("lower `celtrace record --retention`, or raise maxmemory"),
            );
        } else if *max > 0 && policy != "noeviction" && !policy.starts_with("volatile") {
            out.push(
                finding("recording", "recording.memory", Status::Warning, format!("maxmemory-policy {policy}"))
                    .means("Redis may evict the recording's stream (and Celery's queues) when memory runs short")
                    .fix("CONFIG SET maxmemory-policy noeviction (or volatile-lru)"),
            );
        } else {
            out.push(finding(
                "recording",
                "recording.memory",
                Status::Ok,
                format!(
                    "memory: {used} bytes used, maxmemory {}",
                    if *max == 0 {
                        "none".to_string()
                    } else {
                        max.to_string()
                    }
                ),
            ));
        }
    }
    if let Some((hard, soft, secs)) = r.pubsub_limit {
        let rate = f.events.rate();
        let bytes = r.event_bytes.unwrap_or(600.0);
        // What a subscriber falling behind for a few seconds at the observed rate buffers.
        let need = (rate * bytes * 5.0) as u64;
        let limit = match (hard, soft) {
            (0, 0) => None,
            (0, s) | (s, 0) => Some(s),
            (h, s) => Some(h.min(s)),
        };
        out.push(match limit {
            Some(l) if l < need.max(1024 * 1024) => finding("recording", "recording.pubsub_limit", Status::Fail, format!("client-output-buffer-limit pubsub {hard} {soft} {secs}: {l} bytes, against about {need} bytes for 5 s of events at {rate:.0}/s"))
                .means("Redis disconnects the recorder when it falls behind: a `lagged` gap each time")
                .fix("CONFIG SET client-output-buffer-limit \"pubsub 256mb 64mb 60\" (and in redis.conf)"),
            _ => finding("recording", "recording.pubsub_limit", Status::Ok, format!("client-output-buffer-limit pubsub {hard} {soft} {secs}")),
        });
    }
}

/// Messages a stream queue may hold without an index, or past it, before `show` and `graph`
/// spend long reading them (about a third of a second per 100,000 here).
const UNINDEXED_AT_MOST: u64 = 100_000;

/// The stream queue's index: there and keeping up, or what `show` and `graph` read instead.
fn index_finding(r: &RecordingFacts, behind: Option<u64>, broker: &str) -> Finding {
    let fix =
        format!("keep `celtrace record --broker {broker} --index` running next to the broker");
    match behind {
        None if r.entries > UNINDEXED_AT_MOST => finding(
            "recording",
            "recording.index",
            Status::Warning,
            format!("`{}` has no index", r.name),
        )
        .means("show and graph read the stream (its newest part first) instead of one workflow: seconds on a busy stream")
        .fix(fix),
        None => finding(
            "recording",
            "recording.index",
            Status::Ok,
            format!("no index (not needed for {} messages)", r.entries),
        ),
        Some(n) if n > UNINDEXED_AT_MOST => finding(
            "recording",
            "recording.index",
            Status::Warning,
            format!("the index of `{}` is {n} messages behind", r.name),
        )
        .means("show and graph read those messages whole: the indexer is not running, or not keeping up")
        .fix(fix),
        Some(n) => finding(
            "recording",
            "recording.index",
            Status::Ok,
            format!("indexed up to {n} messages from the newest"),
        ),
    }
}

fn recording_store(f: &Facts, out: &mut Vec<Finding>) {
    let r = &f.recording;
    let kind = f.broker.kind;
    if !r.present {
        out.push(
            finding(
                "recording",
                "recording.present",
                Status::Fail,
                format!("nothing is recorded in `{}`", r.name),
            )
            .means("queries see only what a live --wait or tail catches: the past is gone")
            .fix(format!(
                "run a recorder next to the broker: celtrace record --broker {}",
                f.broker.label
            )),
        );
        return;
    }
    out.push(finding(
        "recording",
        "recording.present",
        Status::Ok,
        format!("`{}` holds {} entries", r.name, r.entries),
    ));
    if kind == "amqp" {
        out.push(match (r.bound, &r.retention) {
            (Some(true), Some(ret)) => finding("recording", "recording.binding", Status::Ok, format!("bound to celeryev with #; retention {ret}")),
            (Some(true), None) => finding("recording", "recording.binding", Status::Ok, "bound to celeryev with #".into()),
            (Some(false), _) => finding("recording", "recording.binding", Status::Fail, format!("`{}` is not bound to the celeryev exchange with #", r.name))
                .means("no event reaches the recording")
                .fix(format!("celtrace record --broker {} (it declares and binds the stream queue)", f.broker.label)),
            (None, _) => finding("recording", "recording.binding", Status::Warning, "its binding and retention were not checked".into())
                .fix("give --management-url http://user:password@host:15672 (the rabbitmq_management plugin)"),
        });
        if let Some(index) = r.index_behind {
            out.push(index_finding(r, index, &f.broker.label));
        }
    }
    if kind == "redis" {
        out.push(match &r.recorder {
            Some(who) => finding(
                "recording",
                "recording.recorder",
                Status::Ok,
                format!("a recorder runs: {who}"),
            ),
            None => finding(
                "recording",
                "recording.recorder",
                Status::Fail,
                "no recorder holds the lock".into(),
            )
            .means("events published from now on are lost to the recording")
            .fix(format!(
                "start one: celtrace record --broker {} (under systemd or a supervisor)",
                f.broker.label
            )),
        });
    }
    if let Some(lag) = r.lag
        && r.recorder.is_some()
        && lag > 60.0
    {
        out.push(
            finding(
                "recording",
                "recording.lag",
                Status::Warning,
                format!("the newest entry is {lag:.0}s old"),
            )
            .means("either no event was sent for that long, or the recorder is behind")
            .fix("check the recorder's log (it reports lag and gaps)"),
        );
    }
    if r.recent_gaps.is_empty() {
        out.push(finding(
            "recording",
            "recording.gaps",
            Status::Ok,
            "no gap in the last day".into(),
        ));
    } else {
        let lost: u64 = r.recent_gaps.iter().filter_map(|g| g.1).sum();
        let reasons: Vec<String> = r.recent_gaps.iter().map(|g| g.0.clone()).collect();
        let serious = r
            .recent_gaps
            .iter()
            .any(|g| g.0 != "start" && g.0 != "stop");
        out.push(
            finding("recording", "recording.gaps", if serious { Status::Fail } else { Status::Warning }, format!("{} gap(s) in the last day ({}), {lost} events known missing", r.recent_gaps.len(), reasons.join(", ")))
                .means("queries over those stretches are incomplete; they say so")
                .fix("keep the recorder running (restart it with a supervisor); `lagged` gaps: raise --max-backlog or the pubsub buffer limit"),
        );
    }
}

fn backend(f: &Facts, out: &mut Vec<Finding>) {
    let Some(b) = &f.backend else {
        out.push(finding("backend", "backend.configured", Status::Warning, "no result backend given".into())
            .means("groups and chords are drawn only from what the events prove")
            .fix("give --result-backend redis://host:6379/1 (or CELTRACE_RESULT_BACKEND), and record it: celtrace record --result-backend ..."));
        return;
    };
    if let Some(why) = &b.unreachable {
        out.push(
            finding(
                "backend",
                "backend.reachable",
                Status::Fail,
                format!("{}: {why}", b.label),
            )
            .fix("check --result-backend: host, port, password and database"),
        );
        return;
    }
    out.push(finding(
        "backend",
        "backend.reachable",
        Status::Ok,
        format!("{} answers", b.label),
    ));
    out.push(match (b.records, b.extended) {
        (0, _) => finding("backend", "backend.result_extended", Status::Warning, "no task record found to check result_extended".into()),
        (n, e) if e == n => finding("backend", "backend.result_extended", Status::Ok, format!("{n} recent records carry arguments (result_extended on)")),
        (n, e) => finding("backend", "backend.result_extended", Status::Fail, format!("{} of {n} recent records carry no arguments", n - e))
            .means("`retry` cannot re-send those tasks; arguments are known only as reprs cut at about 1 KiB")
            .fix("set result_extended = True in the app's configuration and restart the workers"),
    });
}

fn data(f: &Facts, out: &mut Vec<Finding>) {
    let e = &f.events;
    if let Some(skew) = e.skew {
        out.push(if skew.abs() > 2.0 {
            finding(
                "data",
                "data.clock_skew",
                Status::Warning,
                format!("workers' clocks are {skew:+.1}s off the recorder's"),
            )
            .means("times, queue waits and --at are off by that much")
            .fix("run NTP (chrony or systemd-timesyncd) on the workers and the recorder's host")
        } else {
            finding(
                "data",
                "data.clock_skew",
                Status::Ok,
                format!("clock skew {skew:+.3}s"),
            )
        });
    }
    if e.args_cut > 0 {
        out.push(
            finding(
                "data",
                "data.args_cut",
                Status::Warning,
                format!(
                    "{} tasks' arguments were cut by Celery at about 1 KiB",
                    e.args_cut
                ),
            )
            .means("`show` and `tasks --json` see only the beginning of those arguments")
            .fix("set result_extended = True: the result backend keeps the whole arguments"),
        );
    }
}

/// The checklist, in order: broker, workers, producers, recording, backend, data.
pub fn checks(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    if broker(f, &mut out) {
        workers(f, &mut out);
        producers(f, &mut out);
        recording(f, &mut out);
    }
    backend(f, &mut out);
    data(f, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        let mut conf = BTreeMap::new();
        conf.insert("task_send_sent_event".into(), serde_json::json!(true));
        conf.insert("result_extended".into(), serde_json::json!(true));
        conf.insert(
            "result_backend".into(),
            serde_json::json!("redis://h:6379/1"),
        );
        Facts {
            broker: BrokerFacts {
                kind: "redis",
                label: "redis://h:6379/0".into(),
                unreachable: None,
                version: Some("7.0.15".into()),
                tls: true,
                stream_plugin: None,
            },
            workers: Some(vec![WorkerFacts {
                hostname: "w1@h".into(),
                seen_task_events: true,
                events_configured: None,
                processed: Some(5),
                uptime: Some(60.0),
                conf,
            }]),
            events: EventFacts {
                events: 100,
                span: 10.0,
                task_sent: 10,
                task_received: 10,
                skew: Some(0.01),
                ..EventFacts::default()
            },
            recording: RecordingFacts {
                name: "celtrace:events".into(),
                present: true,
                entries: 100,
                recorder: Some("pid 1".into()),
                lag: Some(1.0),
                maxmemory: Some((0, 1000, "noeviction".into())),
                pubsub_limit: Some((33554432, 8388608, 60)),
                ..RecordingFacts::default()
            },
            backend: Some(BackendFacts {
                label: "redis://h:6379/1".into(),
                unreachable: None,
                records: 3,
                extended: 3,
            }),
            timeout: 1.0,
        }
    }

    fn status_of(f: &Facts, check: &str) -> Status {
        checks(f)
            .into_iter()
            .find(|x| x.check == check)
            .unwrap_or_else(|| panic!("no {check}"))
            .status
    }

    #[test]
    fn a_healthy_setup_has_no_failure_and_every_problem_has_a_fix() {
        let all = checks(&healthy());
        assert!(all.iter().all(|f| f.status == Status::Ok), "{all:#?}");
        let mut bad = healthy();
        bad.workers.as_mut().unwrap()[0].seen_task_events = false;
        bad.events.reach = Some(120.0);
        bad.workers.as_mut().unwrap()[0]
            .conf
            .insert("result_extended".into(), serde_json::json!(false));
        bad.events.received_without_sent = 3;
        bad.recording.recorder = None;
        bad.recording.pubsub_limit = Some((1024, 0, 0));
        bad.backend.as_mut().unwrap().extended = 1;
        bad.events.skew = Some(5.0);
        for f in checks(&bad).iter().filter(|f| f.status != Status::Ok) {
            assert!(f.fix.is_some(), "{f:?}");
        }
        assert_eq!(status_of(&bad, "worker.events"), Status::Fail);
        assert_eq!(status_of(&bad, "worker.result_extended"), Status::Warning);
        assert_eq!(status_of(&bad, "producer.task_sent"), Status::Warning);
        assert_eq!(status_of(&bad, "recording.recorder"), Status::Fail);
        assert_eq!(status_of(&bad, "recording.pubsub_limit"), Status::Fail);
        assert_eq!(status_of(&bad, "backend.result_extended"), Status::Fail);
        assert_eq!(status_of(&bad, "data.clock_skew"), Status::Warning);
    }

    #[test]
    fn rabbitmq_checks_the_binding_and_short_result_expiry_warns() {
        let mut f = healthy();
        f.broker.kind = "amqp";
        f.broker.version = None;
        f.recording.bound = Some(false);
        assert_eq!(status_of(&f, "broker.version"), Status::Ok);
        assert_eq!(status_of(&f, "recording.binding"), Status::Fail);
        f.recording.bound = None;
        assert_eq!(status_of(&f, "recording.binding"), Status::Warning);
        // The index: only said when asked; missing or far behind on a long stream warns.
        assert!(checks(&f).iter().all(|x| x.check != "recording.index"));
        f.recording.entries = 5_000_000;
        f.recording.index_behind = Some(None);
        assert_eq!(status_of(&f, "recording.index"), Status::Warning);
        f.recording.index_behind = Some(Some(300_000));
        assert_eq!(status_of(&f, "recording.index"), Status::Warning);
        f.recording.index_behind = Some(Some(12));
        assert_eq!(status_of(&f, "recording.index"), Status::Ok);
        f.recording.entries = 5_000;
        f.recording.index_behind = Some(None);
        assert_eq!(status_of(&f, "recording.index"), Status::Ok);
        f.workers.as_mut().unwrap()[0]
            .conf
            .insert("result_expires".into(), serde_json::json!(3600));
        assert_eq!(status_of(&f, "worker.result_expires"), Status::Warning);
    }

    #[test]
    fn a_day_of_history_is_weighed_against_maxmemory() {
        let mut f = healthy();
        // 1 MB for an hour: 24 MB a day, against a 10 MB maxmemory.
        f.recording.maxmemory = Some((10_000_000, 2_000_000, "noeviction".into()));
        f.recording.stream_bytes = Some((1_000_000, 3600.0));
        assert_eq!(status_of(&f, "recording.retention"), Status::Warning);
        f.recording.maxmemory = Some((100_000_000, 2_000_000, "noeviction".into()));
        assert_eq!(status_of(&f, "recording.retention"), Status::Ok);
    }

    #[test]
    fn a_quiet_worker_is_a_failure_only_when_it_surely_sends_no_events() {
        let mut f = healthy();
        let w = &mut f.workers.as_mut().unwrap()[0];
        w.seen_task_events = false;
        // Up longer than the events looked at: an idle worker started with -E looks the same.
        f.events.reach = Some(30.0);
        assert_eq!(status_of(&f, "worker.events"), Status::Warning);
        // It ran tasks within the events looked at, and none of their events came.
        f.events.reach = Some(120.0);
        assert_eq!(status_of(&f, "worker.events"), Status::Fail);
        // Its configuration says events are on: nothing to say.
        f.workers.as_mut().unwrap()[0].events_configured = Some(true);
        assert_eq!(status_of(&f, "worker.events"), Status::Ok);
    }

    #[test]
    fn an_unreachable_broker_stops_the_broker_checks() {
        let mut f = healthy();
        f.broker.unreachable = Some("connection refused".into());
        let all = checks(&f);
        assert_eq!(all[0].status, Status::Fail);
        assert!(all.iter().all(|x| !x.check.starts_with("worker")));
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(at_least("7.0.15", &[6, 2]));
        assert!(at_least("6.2.0", &[6, 2]));
        assert!(!at_least("6.0.9", &[6, 2]));
        assert!(at_least("3.13.7", &[3, 9]));
        assert!(!at_least("3.8.35", &[3, 9]));
    }
}
