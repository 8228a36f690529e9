//! `celtrace doctor`: why can't I see my tasks? Each check asks the live broker, the workers
//! (over the pidbox), the recording and the result backend, then `query::doctor` says what it
//! means and what to change.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use owo_colors::OwoColorize;

use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::decode::decode_entry;
use crate::model::{Event, EventKind};
use crate::query::doctor::{
    BackendFacts, BrokerFacts, EventFacts, Facts, Finding, RecordingFacts, Status, WorkerFacts,
    checks,
};
use crate::query::time::epoch;
use crate::source::broker::Broker;
use crate::source::live::Live;
use crate::source::pubsub::ChannelOptions;
use crate::source::stream::Store;
use crate::source::url::BrokerUrl;

/// Check the setup end to end and say what to change: why can't I see my tasks?
///
/// Asks the broker (reachable, credentials, version, TLS), the workers over the pidbox
/// (`inspect conf`, `stats`, `active_queues`: events on, task-sent events, result_extended,
/// result backend, acks-late with prefetch), the recent events (producers without task-sent,
/// clock skew, arguments Celery cut), the recording (present, a recorder running, its lag,
/// gaps of the last day, Redis memory and the pubsub output buffer against the event rate) and
/// the result backend (reachable, result_extended really on). Each problem comes with the
/// exact fix. Uses --broker and --result-backend (profiles included).
///
/// Exit status: 0 when nothing failed (warnings allowed), 6 when a check failed.
///
/// Examples:
///   celtrace doctor --broker redis://localhost:6379/0 --result-backend redis://localhost:6379/1
///   celtrace doctor --json | jq '.findings[] | select(.status == "fail")'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DoctorArgs {
    /// How long to wait for the workers' answers and their live events (heartbeats come every
    /// 2 s)
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// RabbitMQ: also read the management API, to check the stream queue's binding and
    /// retention (e.g. http://user:password@localhost:15672)
    #[arg(long, value_name = "URL")]
    pub management_url: Option<String>,

    /// Print one JSON document
    #[arg(long)]
    pub json: bool,

    /// Plain ASCII marks
    #[arg(long)]
    pub ascii: bool,
}

/// Recorded entries looked at for the event checks.
const RECENT: usize = 20_000;
/// What `inspect` asks for.
const QUESTIONS: [(&str, &str); 3] = [
    ("conf", r#"{"with_defaults": true}"#),
    ("stats", "{}"),
    ("active_queues", "{}"),
];

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<(), CliError> {
    let EventSource::Broker(url, _) = &ctx.source else {
        return Err(CliError::usage(
            "`doctor` checks a live setup, and a recording on disk is not one",
            "give --broker (a Redis or RabbitMQ URL) instead of --events",
        ));
    };
    let facts = gather(ctx, url, args);
    let found = checks(&facts);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    if args.json {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            broker: &'a str,
            ok: bool,
            findings: &'a [Finding],
        }
        let ok = !found.iter().any(|f| f.status == Status::Fail);
        let doc = Doc {
            broker: &facts.broker.label,
            ok,
            findings: &found,
        };
        crate::render::envelope::json(&mut out, "doctor", ctx.now, &doc)?;
    } else {
        print(ctx, args.ascii, &found, &mut out)?;
    }
    out.flush()?;
    let failed = found.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        return Err(CliError::ChecksFailed { count: failed });
    }
    Ok(())
}

fn print(ctx: &Ctx, ascii: bool, found: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    let st = ctx.render_ctx(ascii).styles;
    let mut area = "";
    for f in found {
        if f.area != area {
            if !area.is_empty() {
                writeln!(out)?;
            }
            area = f.area;
            writeln!(out, "{}", f.area.style(st.heading))?;
        }
        let mark = match (f.status, ascii) {
            (Status::Ok, false) => "✓".style(st.state_success).to_string(),
            (Status::Warning, false) => "!".style(st.state_retry).to_string(),
            (Status::Fail, false) => "✗".style(st.state_failure).to_string(),
            (Status::Ok, true) => "ok".to_string(),
            (Status::Warning, true) => "!!".to_string(),
            (Status::Fail, true) => "XX".to_string(),
        };
        writeln!(out, "  {mark} {}", crate::render::fmt::printable(&f.found))?;
        if let Some(m) = &f.means {
            writeln!(out, "      {} {m}", "means:".style(st.label))?;
        }
        if let Some(x) = &f.fix {
            writeln!(out, "      {} {x}", "fix:".style(st.label))?;
        }
    }
    let fails = found.iter().filter(|f| f.status == Status::Fail).count();
    let warns = found.iter().filter(|f| f.status == Status::Warning).count();
    writeln!(out)?;
    writeln!(
        out,
        "{} checks: {fails} failed, {warns} warnings",
        found.len()
    )
}

fn gather(ctx: &Ctx, url: &BrokerUrl, args: &DoctorArgs) -> Facts {
    let timeout = args.timeout;
    let mut facts = Facts {
        timeout: timeout.as_secs_f64(),
        ..Facts::default()
    };
    facts.broker = broker_facts(url);
    if let (Some(base), "amqp") = (args.management_url.as_deref(), facts.broker.kind) {
        facts.broker.version = crate::source::queues::management_version(base)
            .ok()
            .flatten();
    }
    if facts.broker.unreachable.is_some() {
        facts.backend = ctx
            .result_backend
            .as_ref()
            .map(|(b, _)| backend_facts(b, &[]));
        return facts;
    }
    let Ok(broker) = Broker::open(url) else {
        return facts;
    };
    // Live events while the workers are asked: who sends events now, without a recording.
    let live = Live::start(broker.clone(), ChannelOptions::celery_defaults()).ok();
    let started = Instant::now();
    let replies = broker.inspect_with("", timeout, &QUESTIONS).ok();
    let (recent, recording) = recording_facts(ctx, &broker, args.management_url.as_deref());
    let mut lines = recent;
    if let Some(live) = &live {
        let deadline = started + timeout.max(Duration::from_millis(2500));
        while let Ok(more) = live.lines_until(deadline) {
            if more.is_empty() && Instant::now() >= deadline {
                break;
            }
            lines.extend(more);
        }
    }
    facts.events = event_facts(&lines);
    facts.events.reach = facts.events.first.map(|t| (epoch(ctx.now) - t).max(0.0));
    facts.recording = recording;
    facts.workers = replies.map(|r| {
        r.replies
            .into_iter()
            .map(|(hostname, answers)| {
                let conf: BTreeMap<String, serde_json::Value> = answers
                    .get("conf")
                    .and_then(serde_json::Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let stats = answers.get("stats");
                let processed = stats
                    .and_then(|s| s.get("total"))
                    .and_then(serde_json::Value::as_object)
                    .map(|t| t.values().filter_map(serde_json::Value::as_u64).sum());
                WorkerFacts {
                    seen_task_events: facts.events.task_event_hosts.contains(&hostname),
                    events_configured: conf
                        .get("worker_send_task_events")
                        .and_then(serde_json::Value::as_bool),
                    processed,
                    uptime: stats
                        .and_then(|s| s.get("uptime"))
                        .and_then(serde_json::Value::as_f64),
                    hostname,
                    conf,
                }
            })
            .collect()
    });
    let ids = recent_task_ids(&lines);
    facts.backend = ctx
        .result_backend
        .as_ref()
        .map(|(b, _)| backend_facts(b, &ids));
    facts
}

fn broker_facts(url: &BrokerUrl) -> BrokerFacts {
    let mut b = BrokerFacts {
        label: url.redacted(),
        ..BrokerFacts::default()
    };
    match Broker::open(url) {
        Ok(Broker::Redis(r)) => {
            b.kind = "redis";
            b.tls = url.scheme == "rediss";
            match r.info_field("server", "redis_version") {
                Ok(v) => b.version = v,
                Err(e) => b.unreachable = Some(e.to_string()),
            }
        }
        Ok(Broker::Amqp(a)) => {
            b.kind = "amqp";
            b.tls = url.scheme == "amqps";
            // A passive look at a queue that is not there: it connects and authenticates.
            if let Err(e) = a.stream_info("celtrace.doctor.probe")
                && !matches!(e, crate::source::amqp::AmqpError::NoQueue { .. })
            {
                b.unreachable = Some(e.to_string());
            }
            b.stream_plugin = Some(a.port_answers(5552));
        }
        Err(e) => b.unreachable = Some(e.to_string()),
    }
    b
}

/// The newest recorded lines (for the event checks) and what the recording looks like.
fn recording_facts(
    ctx: &Ctx,
    broker: &Broker,
    management: Option<&str>,
) -> (Vec<String>, RecordingFacts) {
    let now = epoch(ctx.now);
    let mut r = RecordingFacts::default();
    match broker {
        Broker::Redis(redis) => {
            r.name = ctx.stream_key();
            if let Ok(mut store) = Store::open(redis.clone(), &r.name) {
                if let Ok(Some(bounds)) = store.bounds() {
                    r.present = true;
                    r.entries = bounds.len;
                    r.lag = Some((now - bounds.last.0 as f64 / 1000.0).max(0.0));
                    let held = (bounds.last.0.saturating_sub(bounds.first_ms)) as f64 / 1000.0;
                    r.stream_bytes = redis.memory_usage(&r.name).map(|b| (b, held));
                }
                r.recorder = store.recorder().ok().flatten();
                if let Ok(records) = store.gap_lines() {
                    let newest = r.lag.map_or(now, |l| now - l);
                    r.recent_gaps = crate::source::recorded::overlapping_gaps(
                        &records,
                        r.recorder.is_some(),
                        newest,
                        Some(now - 86_400.0),
                        None,
                    )
                    .into_iter()
                    .map(|g| (g.reason, g.events))
                    .collect();
                }
            }
            let max = redis.config_get("maxmemory").and_then(|v| v.parse().ok());
            let policy = redis.config_get("maxmemory-policy");
            let used = redis
                .info_field("memory", "used_memory")
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok());
            if let (Some(max), Some(used), Some(policy)) = (max, used, policy) {
                r.maxmemory = Some((max, used, policy));
            }
            r.pubsub_limit = redis
                .config_get("client-output-buffer-limit")
                .and_then(|v| pubsub_limit(&v));
        }
        Broker::Amqp(amqp) => {
            r.name = ctx.stream_queue();
            // A stream queue that exists records by itself, even while it is still empty.
            let mut first = 0;
            match amqp.stream_info(&r.name) {
                Ok(Some(info)) => {
                    r.present = true;
                    r.entries = info.messages();
                    first = info.first;
                }
                Ok(None) => r.present = true,
                Err(_) => {}
            }
            if r.present {
                let index = crate::source::amqp::index::index_queue(&r.name);
                r.index_behind = amqp.index_resumes_at(&index).ok().map(|next| {
                    next.map(|n| u64::try_from(r.entries as i64 + first - n).unwrap_or(0))
                });
            }
            if let (true, Some(base)) = (r.present, management) {
                use crate::source::queues::{management_bindings, management_queues};
                r.bound = management_bindings(base, &amqp.vhost, &r.name)
                    .ok()
                    .map(|b| b.iter().any(|(x, key)| x == "celeryev" && key == "#"));
                r.retention = management_queues(base, &amqp.vhost).ok().and_then(|qs| {
                    let q = qs.into_iter().find(|q| q.name == r.name)?;
                    let parts: Vec<String> = ["x-max-age", "x-max-length-bytes", "x-max-length"]
                        .iter()
                        .filter_map(|k| Some(format!("{k}={}", q.arguments.get(*k)?)))
                        .collect();
                    Some(if parts.is_empty() {
                        "none (it keeps everything)".to_string()
                    } else {
                        parts.join(", ")
                    })
                });
            }
        }
    }
    let lines = if r.present {
        ctx.history(None)
            .and_then(|h| Ok(h.newest_lines(RECENT, &mut |_| false)?))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if !lines.is_empty() {
        r.event_bytes =
            Some(lines.iter().map(|l| l.len() as f64).sum::<f64>() / lines.len() as f64);
    }
    (lines, r)
}

/// `pubsub <hard> <soft> <seconds>` out of Redis's `client-output-buffer-limit` setting.
fn pubsub_limit(setting: &str) -> Option<(u64, u64, u64)> {
    let words: Vec<&str> = setting.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "pubsub")?;
    let n = |i: usize| words.get(at + i)?.parse().ok();
    Some((n(1)?, n(2)?, n(3)?))
}

fn event_facts(lines: &[String]) -> EventFacts {
    let mut f = EventFacts::default();
    let mut sent = std::collections::HashSet::new();
    let mut received: Vec<(String, f64)> = Vec::new();
    let mut skews = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut workers = std::collections::BTreeSet::new();
    let mut task_hosts = std::collections::BTreeSet::new();
    for line in lines {
        decode_entry(line, &mut Vec::new(), &mut |ev: &Event<'_>| {
            f.events += 1;
            if let Some(t) = ev.timestamp {
                lo = lo.min(t);
                hi = hi.max(t);
                if let Some(r) = ev.local_received {
                    skews.push(r - t);
                }
            }
            let id = ev.uuid.as_ref().map(|u| u.to_string());
            if ev.kind.is_task()
                && ev.kind != EventKind::TaskSent
                && let Some(h) = &ev.hostname
            {
                task_hosts.insert(h.to_string());
            }
            match ev.kind {
                EventKind::TaskSent => {
                    f.task_sent += 1;
                    if let Some(id) = id {
                        sent.insert(id);
                    }
                }
                EventKind::TaskReceived => {
                    f.task_received += 1;
                    if let (Some(id), Some(t)) = (id, ev.timestamp) {
                        received.push((id, t));
                    }
                    let cut =
                        |s: Option<&str>| s.is_some_and(|s| s.len() >= 1000 && s.ends_with("..."));
                    if cut(ev.args.as_deref()) || cut(ev.kwargs.as_deref()) {
                        f.args_cut += 1;
                    }
                }
                k if k.is_worker() => {
                    if let Some(h) = &ev.hostname {
                        workers.insert(h.to_string());
                    }
                }
                _ => {}
            }
        });
    }
    // A task received in the first second may have been sent before the history began.
    f.received_without_sent = received
        .iter()
        .filter(|(id, t)| *t > lo + 1.0 && !sent.contains(id))
        .count();
    f.span = if hi > lo { hi - lo } else { 0.0 };
    f.first = lo.is_finite().then_some(lo);
    skews.sort_by(f64::total_cmp);
    f.skew = skews.get(skews.len() / 2).copied();
    f.workers_seen = workers.into_iter().collect();
    f.task_event_hosts = task_hosts.into_iter().collect();
    f
}

/// Ids of the newest tasks that finished, for the result-backend check.
fn recent_task_ids(lines: &[String]) -> Vec<crate::model::TaskId> {
    let mut ids = Vec::new();
    for line in lines.iter().rev() {
        decode_entry(line, &mut Vec::new(), &mut |ev: &Event<'_>| {
            if matches!(ev.kind, EventKind::TaskSucceeded | EventKind::TaskFailed)
                && let Some(u) = &ev.uuid
            {
                ids.push(crate::model::TaskId::parse(u));
            }
        });
        if ids.len() >= 20 {
            break;
        }
    }
    ids
}

fn backend_facts(url: &BrokerUrl, ids: &[crate::model::TaskId]) -> BackendFacts {
    let mut b = BackendFacts {
        label: url.redacted(),
        ..BackendFacts::default()
    };
    match crate::source::backend::read_metas(url, ids) {
        Ok(metas) => {
            for m in metas {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&m) else {
                    continue;
                };
                if v.get("task_id").is_some() {
                    b.records += 1;
                    if v.get("args").is_some_and(|a| !a.is_null()) {
                        b.extended += 1;
                    }
                }
            }
        }
        Err(e) => b.unreachable = Some(e.to_string()),
    }
    b
}
