//! `celtrace queues`: backlog per queue, straight from the broker.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use comfy_table::Cell;

use super::args::ListOutput;
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::model::TaskId;
use crate::query::time::epoch;
use crate::render::fmt::{duration, rfc3339};
use crate::render::table::{self, Fit};
use crate::render::{ListFormat, RenderCtx, envelope};
use crate::source::broker::DepthOptions;
use crate::source::queues::Depth;

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

    #[command(flatten)]
    pub output: ListOutput,
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
    broker: &'a str,
    count: usize,
    queues: &'a [QueueJson<'a>],
}

/// CSV columns, in order (docs/json.md).
pub const CSV_COLUMNS: [&str; 9] = [
    "name",
    "exists",
    "waiting",
    "in_flight",
    "consumers",
    "oldest_task_id",
    "oldest_sent_at",
    "oldest_age",
    "found_in",
];

pub fn run(ctx: &Ctx, args: &QueuesArgs) -> Result<(), CliError> {
    let broker = ctx.broker("`queues` asks the broker")?;
    // The recording, when there is one, names the queues tasks were sent to and dates the
    // oldest waiting message.
    let state = match ctx.load(&Load::ALL) {
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
        let found_live = broker.inspect(&args.global_keyprefix, args.timeout)?;
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
    let stream = ctx.stream_queue();
    let opts = DepthOptions {
        keyprefix: &args.global_keyprefix,
        management_url: args.management_url.as_deref(),
        stream_queue: &stream,
    };
    let (discovered, managed) = broker.discover_queues(&opts)?;
    for (q, how) in discovered {
        found.entry(q).or_default().insert(how);
    }
    let names: Vec<String> = found.keys().cloned().collect();
    let mut depths = broker.queue_depths(
        &names,
        &opts,
        args.inspect.then_some(&consumed_by),
        &managed,
    )?;
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
    let rctx = ctx.list_ctx(&args.output);
    match args.output.format() {
        ListFormat::Table => print_table(&rctx, &rows, &mut out)?,
        ListFormat::Json => {
            let doc = QueuesDoc {
                broker: broker.label(),
                count: rows.len(),
                queues: &rows,
            };
            envelope::json(&mut out, "queues", ctx.now, &doc)?;
        }
        ListFormat::Ndjson => {
            let end = serde_json::json!({ "broker": broker.label() });
            envelope::ndjson(&mut out, "queues", ctx.now, "queue", &rows, &end)?;
        }
        ListFormat::Csv => envelope::csv(&mut out, &CSV_COLUMNS, &rows)?,
    }
    out.flush()?;
    if let Some(st) = state {
        st.discard();
    }
    Ok(())
}

fn print_table(
    rctx: &RenderCtx,
    rows: &[QueueJson<'_>],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut t = table::new(
        rctx,
        &[
            ("QUEUE", Fit::Cut),
            ("WAITING", Fit::Whole),
            ("IN FLIGHT", Fit::Whole),
            ("CONSUMERS", Fit::Extra),
            ("OLDEST WAITING", Fit::Whole),
            ("FOUND IN", Fit::Cut),
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
            table::text(rctx, r.name),
            Cell::new(waiting),
            Cell::new(opt(r.in_flight)),
            Cell::new(opt(r.consumers)),
            Cell::new(oldest),
            table::text(rctx, &r.found_in.join(", ")),
        ]);
    }
    t.write(out)
}
