//! `celtrace stats`: how each task name (or worker, or queue) is doing.

use clap::{Args, ValueEnum};

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::query::stats::{GroupBy, MAX_BUCKETS, StatsQuery, stats};
use crate::query::time::epoch;
use crate::render;

/// Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries
///
/// Tasks count in the group and bucket of the moment they were first seen. Runtime is the
/// deciding attempt's (the worker's own figure when it reports one); queue wait is from the
/// first task-sent to the first task-received.
///
/// Examples:
///   celtrace stats --events rec.ndjson
///   celtrace stats --events rec.ndjson --by worker --since 1h
///   celtrace stats --events rec.ndjson --bucket 5m --json | jq '.rows[0].buckets'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatsArgs {
    /// Group by task name, worker or queue
    #[arg(long, value_enum, default_value_t = By::Name)]
    pub by: By,

    /// Only tasks first seen at or after this time: a duration back from now (15m, 2h) or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only tasks first seen at or before this time
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Add a time series of tasks per bucket of this width (e.g. 5m): a sparkline column, or
    /// the counts in JSON
    #[arg(long, value_name = "DURATION", value_parser = parse_width)]
    pub bucket: Option<f64>,

    /// Print one JSON document
    #[arg(long)]
    pub json: bool,

    /// Plain ASCII table borders and sparkline
    #[arg(long)]
    pub ascii: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Name,
    Worker,
    Queue,
}

fn parse_width(s: &str) -> Result<f64, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.as_secs_f64() > 0.0 => Ok(d.as_secs_f64()),
        _ => Err(format!(
            "`{s}` is not a positive duration; use e.g. 1m, 5m, 1h"
        )),
    }
}

pub fn run(ctx: &Ctx, args: &StatsArgs) -> Result<(), CliError> {
    let q = StatsQuery {
        by: match args.by {
            By::Name => GroupBy::Name,
            By::Worker => GroupBy::Worker,
            By::Queue => GroupBy::Queue,
        },
        since: super::tasks::bound("since", args.since.as_deref(), ctx)?,
        until: super::tasks::bound("until", args.until.as_deref(), ctx)?,
        bucket: args.bucket,
    };
    let (state, report) = ctx.load_state_between(q.since, q.until)?;
    let horizon = state.horizon(epoch(ctx.now));
    let (rows, axis) = stats(&state, &q, horizon);
    if rows.is_empty() && (q.since.is_some() || q.until.is_some()) {
        super::tasks::explain_empty_range(ctx, &state);
    }
    if let Some(ax) = axis.filter(|ax| ax.len >= MAX_BUCKETS) {
        return Err(CliError::usage(
            format!(
                "--bucket {}s makes {} or more buckets over this range",
                ax.width, MAX_BUCKETS
            ),
            "use a wider --bucket or a narrower --since/--until",
        ));
    }
    let rctx = ctx.render_ctx(args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    let label = match args.by {
        By::Name => "name",
        By::Worker => "worker",
        By::Queue => "queue",
    };
    if args.json {
        render::stats::json(&rows, axis, label, &report, &rctx, &mut out)?;
    } else {
        render::stats::table(&rows, axis, label, &rctx, &mut out)?;
    }
    std::io::Write::flush(&mut out)?;
    state.discard();
    Ok(())
}
