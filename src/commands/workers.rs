//! `celtrace workers`: every worker seen, whether it is online, offline or lost, and what it
//! was running when it went away.

use clap::{Args, ValueEnum};

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::query::time::epoch;
use crate::query::workers::{WorkerQuery, workers};
use crate::render;
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

    /// Print one JSON document (sessions included)
    #[arg(long)]
    pub json: bool,

    /// Plain ASCII table borders
    #[arg(long)]
    pub ascii: bool,
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
        hosts: super::tasks::globs("worker", &args.worker)?,
        statuses: args.status.iter().map(|&s| s.into()).collect(),
        since: super::tasks::bound("since", args.since.as_deref(), ctx)?,
        until: super::tasks::bound("until", args.until.as_deref(), ctx)?,
    };
    let (state, report) = ctx.load_state()?;
    let horizon = state.horizon(epoch(ctx.now));
    let rows = workers(&state, &query, horizon);
    let rctx = ctx.render_ctx(true, args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    if args.json {
        render::workers::json(&state, &rows, horizon, &report, &query, &rctx, &mut out)?;
    } else if args.history {
        render::workers::history(&rows, &rctx, &mut out)?;
    } else {
        render::workers::table(&state, &rows, horizon, &rctx, &mut out)?;
    }
    std::io::Write::flush(&mut out)?;
    drop(rows);
    state.discard();
    Ok(())
}
