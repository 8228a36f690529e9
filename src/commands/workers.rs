//! `celtrace workers`: every worker seen, whether it is online, offline or lost, and what it
//! was running when it went away.

use clap::{Args, ValueEnum};

use super::args::ListOutput;
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::query::time::epoch;
use crate::query::workers::{WorkerQuery, workers};
use crate::render::{self, ListFormat};
use crate::state::worker::{HEARTBEAT_EXPIRE_FACTOR, Liveness};

/// List workers: status, sessions, counters and the tasks they dropped
///
/// Status comes from the worker's own events: `online`, `offline` (it said goodbye) or `lost`
/// (its heartbeats stopped without a goodbye: killed, OOM, network). A restart under the same
/// hostname starts a new session; the tasks a session was running when it ended are listed,
/// with whether they came back (acks-late tasks are redelivered under the same id).
///
/// Examples:
///   celtrace workers --events rec.ndjson
///   celtrace workers --status lost --json | jq '.workers[].hostname'
///   celtrace workers --history --worker 'w1@*'
///   celtrace workers --format csv > workers.csv
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct WorkersArgs {
    /// Only workers whose hostname matches this glob (e.g. 'w1@*')
    #[arg(long, value_name = "GLOB")]
    pub worker: Vec<String>,

    /// Only workers with this status now
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<Status>,

    /// Call a worker lost after this many heartbeat intervals without a heartbeat
    #[arg(long, value_name = "N", default_value_t = HEARTBEAT_EXPIRE_FACTOR, value_parser = parse_factor)]
    pub lost_after: f64,

    /// List every session (start, end, how it ended) instead of one row per worker
    #[arg(long)]
    pub history: bool,

    /// Only workers with a sign of life at or after this time: a duration back from now (15m, 2h) or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only workers with a sign of life at or before this time
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    #[command(flatten)]
    pub at: super::args::AtArg,

    #[command(flatten)]
    pub output: ListOutput,

    /// Also ask the workers now (remote control): pool, prefetch, queues, active, reserved,
    /// scheduled and registered tasks; a worker that does not answer is reported
    #[arg(long)]
    pub inspect: bool,

    /// How long --inspect collects replies
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration, requires = "inspect")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Status {
    Online,
    Offline,
    Lost,
}

impl From<Status> for Liveness {
    fn from(s: Status) -> Self {
        match s {
            Status::Online => Liveness::Online,
            Status::Offline => Liveness::Offline,
            Status::Lost => Liveness::Lost,
        }
    }
}

fn parse_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{s}` is not a positive number of heartbeat intervals (Celery uses 2)"
        )),
    }
}

pub fn run(ctx: &Ctx, args: &WorkersArgs) -> Result<(), CliError> {
    let query = WorkerQuery {
        lost_factor: args.lost_after,
        hosts: super::args::globs("worker", &args.worker)?,
        statuses: args.status.iter().map(|&s| s.into()).collect(),
        since: super::args::bound("since", args.since.as_deref(), ctx)?,
        until: super::args::bound("until", args.until.as_deref(), ctx)?,
        sessions_only: false,
    };
    let at = args.at.resolve(ctx)?;
    let (state, report) = match ctx.load(&Load::ALL.at(at)) {
        // Nothing recorded yet: --inspect still asks the workers themselves.
        Err(CliError::NoRecording { .. }) if args.inspect => (
            crate::state::State::new(),
            crate::source::file::LoadReport::default(),
        ),
        other => other?,
    };
    let horizon = state.horizon(at.unwrap_or(epoch(ctx.now)));
    let rows = workers(&state, &query, horizon);
    let rctx = ctx.list_ctx(&args.output).at(at);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    let live = if args.inspect {
        Some(inspect(ctx, args, &rows)?)
    } else {
        None
    };
    let format = args.output.format();
    if format != ListFormat::Table {
        let doc = live.as_ref().map(|(replies, silent, reached)| {
            serde_json::json!({
                "timeout": args.timeout.as_secs_f64(),
                "reached": reached,
                "workers": replies,
                "silent": silent,
            })
        });
        render::workers::machine(
            format,
            &state,
            &rows,
            horizon,
            &report,
            &query,
            doc.as_ref(),
            &rctx,
            &mut out,
        )?;
    } else if args.history {
        render::workers::history(&rows, &rctx, &mut out)?;
    } else {
        render::workers::table(&state, &rows, horizon, &rctx, &mut out)?;
        if let Some((replies, silent, _)) = &live {
            let timeout = humantime::format_duration(args.timeout).to_string();
            render::workers::inspect_text(replies, silent, &timeout, &rctx, &mut out)?;
        }
    }
    std::io::Write::flush(&mut out)?;
    drop(rows);
    state.discard();
    Ok(())
}

/// Broadcasts the inspect requests; the replies, the online workers that stayed silent, and
/// how many mailboxes the broadcast reached (Redis).
fn inspect(
    ctx: &Ctx,
    args: &WorkersArgs,
    rows: &[crate::query::workers::WorkerRow<'_>],
) -> Result<(crate::source::control::Replies, Vec<String>, Option<u64>), CliError> {
    let broker = ctx.broker("--inspect asks the workers over the broker")?;
    let mut found = broker.inspect("", args.timeout)?;
    // Running and reserved tasks come with their arguments.
    for answers in found.replies.values_mut() {
        answers.values_mut().for_each(|v| {
            ctx.scrub.json(v);
        });
    }
    let silent = rows
        .iter()
        .filter(|w| w.status() == Liveness::Online && !found.replies.contains_key(w.hostname))
        .map(|w| w.hostname.to_string())
        .collect();
    Ok((found.replies, silent, found.reached))
}
