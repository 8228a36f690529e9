//! `celtrace queues`: backlog per queue, straight from the broker.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::TaskId;
use crate::query::time::epoch;
use crate::render::fmt::{duration, rfc3339};
use crate::render::schema::SCHEMA_VERSION;
use crate::render::table;
use crate::source::amqp::Amqp;
use crate::source::queues::{self, Depth};
use crate::source::redis::Redis;
use crate::source::url::BrokerKind;

/// Show the backlog of each queue: waiting, in flight, consumers, age of the oldest message
///
/// Queues are found in the recorded events (where tasks were sent), in kombu's bindings on
/// Redis, and in --queue; `celery` is always looked at. On Redis, waiting counts all four
/// priority lists, in-flight counts the `unacked` hash (prefetched, reserved, ETA and running
/// acks-late tasks), and the oldest waiting message is peeked (not consumed) to tell its age
/// from its task-sent event. On RabbitMQ, a passive declare gives waiting (ready) messages
/// and consumers.
///
/// Examples:
///   celtrace queues --broker redis://localhost:6379/0
///   celtrace queues --queue emails --queue reports --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct QueuesArgs {
    /// Also look at this queue (repeatable)
    #[arg(long, value_name = "NAME")]
    pub queue: Vec<String>,

    /// kombu's `global_keyprefix` transport option, if the app sets one (Redis)
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub global_keyprefix: String,

    /// RabbitMQ: also read the management API (in-flight counts, every queue of the vhost),
    /// e.g. http://user:password@localhost:15672
    #[arg(long, value_name = "URL")]
    pub management_url: Option<String>,

    /// Also ask the workers which queues they consume (remote control): finds queues and,
    /// on Redis, counts consumers
    #[arg(long)]
    pub inspect: bool,

    /// How long --inspect collects replies
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration, requires = "inspect")]
    pub timeout: std::time::Duration,

    /// Print one JSON document
    #[arg(long)]
    pub json: bool,

    /// Plain ASCII table borders
    #[arg(long)]
    pub ascii: bool,
}

#[derive(Serialize)]
struct QueueJson<'a> {
    name: &'a str,
    exists: bool,
    waiting: u64,
    /// Redis: waiting per priority list ("0" the plain list, "3", "6", "9").
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    by_priority: &'a std::collections::BTreeMap<u8, u64>,
    in_flight: Option<u64>,
    consumers: Option<u64>,
    oldest_task_id: Option<String>,
    oldest_sent_at: Option<String>,
    oldest_age: Option<f64>,
    /// Where the queue was found: events, bindings, flag, default.
    found_in: Vec<&'static str>,
}

#[derive(Serialize)]
struct QueuesDoc<'a> {
    version: u32,
    kind: &'static str,
    generated_at: String,
    broker: String,
    queues: Vec<QueueJson<'a>>,
}

pub fn run(ctx: &Ctx, args: &QueuesArgs) -> Result<(), CliError> {
    let EventSource::Broker(url, _) = &ctx.source else {
        return Err(CliError::usage(
            "`queues` asks the broker, and a recording on disk has none",
            "give --broker (a Redis or RabbitMQ URL) instead of --events",
        ));
    };
    // The recording, when there is one, names the queues tasks were sent to and dates the
    // oldest waiting message.
    let state = match ctx.load_state() {
        Ok((state, _)) => Some(state),
        Err(CliError::NoRecording { .. } | CliError::AmqpNoExchange(_)) => None,
        Err(e) => return Err(e),
    };
    let mut found: std::collections::BTreeMap<String, BTreeSet<&'static str>> =
        std::collections::BTreeMap::new();
    found
        .entry("celery".to_string())
        .or_default()
        .insert("default");
    for q in &args.queue {
        found.entry(q.clone()).or_default().insert("flag");
    }
    if let Some(st) = &state {
        for t in st.tasks() {
            if let Some(q) = t.queue() {
                found
                    .entry(st.sym(q).to_string())
                    .or_default()
                    .insert("events");
            }
        }
    }
    // Workers' own word on what they consume: queue -> consuming workers.
    let mut consumed_by: std::collections::BTreeMap<String, u64> =
        std::collections::BTreeMap::new();
    if args.inspect {
        let found_live = match url.kind {
            BrokerKind::Redis => crate::source::control::inspect_redis(
                &Redis::new(url)?,
                &args.global_keyprefix,
                args.timeout,
            )?,
            BrokerKind::Amqp => {
                crate::source::control::inspect_amqp(&Amqp::new(url), args.timeout)?
            }
        };
        for replies in found_live.replies.values() {
            let names = replies
                .get("active_queues")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|q| q.get("name")?.as_str());
            for name in names {
                found.entry(name.to_string()).or_default().insert("inspect");
                *consumed_by.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    let mut depths = match url.kind {
        BrokerKind::Redis => {
            let redis = Redis::new(url)?;
            for q in queues::redis_bound_queues(&redis, &args.global_keyprefix)? {
                found.entry(q).or_default().insert("bindings");
            }
            let names: Vec<String> = found.keys().cloned().collect();
            let mut d = queues::redis_depths(&redis, &args.global_keyprefix, &names)?;
            if args.inspect {
                for q in &mut d {
                    q.consumers = Some(consumed_by.get(&q.name).copied().unwrap_or(0));
                }
            }
            d
        }
        BrokerKind::Amqp => {
            let amqp = Amqp::new(url);
            let managed = match &args.management_url {
                Some(m) => queues::management_queues(m, &amqp.vhost)?,
                None => Vec::new(),
            };
            let stream = ctx.stream_queue();
            for q in managed
                .iter()
                .filter(|q| !queues::is_plumbing(&q.name, &stream))
            {
                found
                    .entry(q.name.clone())
                    .or_default()
                    .insert("management");
            }
            let names: Vec<String> = found.keys().cloned().collect();
            let mut d = queues::amqp_depths(&amqp, &names)?;
            for q in &mut d {
                if let Some(m) = managed.iter().find(|m| m.name == q.name) {
                    q.in_flight = m.messages_unacknowledged;
                }
            }
            d
        }
    };
    depths.sort_by(|a, b| a.name.cmp(&b.name));
    let now = epoch(ctx.now);
    // The oldest of the peeked messages (one per priority list), dated by its task-sent.
    let oldest_of = |d: &'_ Depth| -> (Option<String>, Option<f64>) {
        let sent = |id: &str| -> Option<f64> {
            let st = state.as_ref()?;
            let rec = st.task(&TaskId::parse(id))?;
            crate::state::view::TaskView::new(st, rec, st.horizon(now)).sent_at()
        };
        d.oldest_tasks
            .iter()
            .map(|id| (Some(id.clone()), sent(id)))
            .min_by(|a, b| match (a.1, b.1) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .unwrap_or((None, None))
    };
    let rows: Vec<QueueJson<'_>> = depths
        .iter()
        .map(|d| {
            let (oldest_task_id, sent) = oldest_of(d);
            QueueJson {
                name: &d.name,
                exists: d.exists,
                waiting: d.waiting,
                by_priority: &d.by_priority,
                in_flight: d.in_flight,
                consumers: d.consumers,
                oldest_task_id,
                oldest_sent_at: sent.and_then(rfc3339),
                oldest_age: sent.map(|s| (now - s).max(0.0)),
                found_in: found
                    .get(&d.name)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    if args.json {
        let doc = QueuesDoc {
            version: SCHEMA_VERSION,
            kind: "queues",
            generated_at: rfc3339(now).unwrap_or_default(),
            broker: url.redacted(),
            queues: rows,
        };
        serde_json::to_writer_pretty(&mut out, &doc).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        print_table(ctx, args, &rows, &mut out)?;
    }
    out.flush()?;
    if let Some(st) = state {
        st.discard();
    }
    Ok(())
}

fn print_table(
    ctx: &Ctx,
    args: &QueuesArgs,
    rows: &[QueueJson<'_>],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let rctx = ctx.render_ctx(args.ascii);
    let mut t = table::new(
        &rctx,
        &[
            "QUEUE",
            "WAITING",
            "IN FLIGHT",
            "CONSUMERS",
            "OLDEST WAITING",
            "FOUND IN",
        ],
    );
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    for r in rows {
        let waiting = if r.exists || r.waiting > 0 {
            r.waiting.to_string()
        } else {
            "(no queue)".to_string()
        };
        let oldest = match (r.oldest_age, r.oldest_task_id.as_deref()) {
            (Some(age), _) => format!("{} ago", duration(age)),
            (None, Some(id)) => format!("{} (not in the recording)", id.get(..8).unwrap_or(id)),
            (None, None) => "-".to_string(),
        };
        t.add_row(vec![
            r.name.to_string(),
            waiting,
            opt(r.in_flight),
            opt(r.consumers),
            oldest,
            r.found_in.join(", "),
        ]);
    }
    table::write(&t, out)
}
