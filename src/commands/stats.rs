//! `celtrace stats`: how each task name (or worker, or queue) is doing.

use clap::{Args, ValueEnum};

use super::args::{ListOutput, TaskFilters};
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::query::stats::{GroupBy, MAX_BUCKETS, StatsQuery, stats};
use crate::query::time::epoch;
use crate::render::{self, ListFormat};

/// Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries
///
/// Which tasks count is chosen with the `tasks` filters, with the same meaning (--since keeps
/// tasks with any activity at or after that time). A task counts in the bucket of the moment
/// it was first seen. Runtime is the deciding attempt's (the worker's own figure when it
/// reports one); queue wait is from the first task-sent to the first task-received.
///
/// Examples:
///   celtrace stats --events rec.ndjson
///   celtrace stats --events rec.ndjson --by worker --since 1h
///   celtrace stats --events rec.ndjson --name 'shop.*' --format csv
///   celtrace stats --events rec.ndjson --bucket 5m --json | jq '.rows[0].buckets'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatsArgs {
    /// Group by task name, worker, queue or hour (the UTC hour a task was first seen, rows in
    /// time order: counts, OK%, p50/p99 runtime per hour; with --bucket, per slice of that width)
    #[arg(long, value_enum, default_value_t = By::Name)]
    pub by: By,

    /// Instead of the table, a worker × time heatmap of the tasks each worker started (or,
    /// with `--heatmap runtime`, of their runtime), in shaded cells with a legend
    #[arg(long, value_enum, value_name = "MEASURE", num_args = 0..=1, default_missing_value = "tasks")]
    pub heatmap: Option<Heat>,

    #[command(flatten)]
    pub filters: TaskFilters,

    #[command(flatten)]
    pub at: super::args::AtArg,

    /// Add a time series of tasks per bucket of this width (e.g. 5m): a sparkline column, or
    /// the counts in JSON
    #[arg(long, value_name = "DURATION", value_parser = parse_width)]
    pub bucket: Option<f64>,

    #[command(flatten)]
    pub output: ListOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Name,
    Worker,
    Queue,
    Hour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Heat {
    /// Tasks started per cell.
    Tasks,
    /// Seconds of runtime per cell.
    Runtime,
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
    let mut q = StatsQuery {
        by: match args.by {
            By::Name => GroupBy::Name,
            By::Worker => GroupBy::Worker,
            By::Queue => GroupBy::Queue,
            // --bucket sets the width of the time rows.
            By::Hour => GroupBy::Time(args.bucket.map_or(3600, |b| b.round().max(1.0) as u64)),
        },
        select: args.filters.check(ctx)?,
        // With time rows, --bucket is their width, not a sparkline.
        bucket: args.bucket.filter(|_| args.by != By::Hour),
    };
    let at = args.at.resolve(ctx)?;
    let (state, report) = ctx.load(&Load::between(q.select.since, q.select.until).at(at))?;
    let horizon = state.horizon(at.unwrap_or(epoch(ctx.now)));
    q.select = args
        .filters
        .resolve(q.select, &state, &report.source, horizon)?;
    if let Some(measure) = args.heatmap {
        return print_heatmap(ctx, args, &state, &q, horizon, measure);
    }
    let (rows, axis) = stats(&state, &q, horizon);
    if rows.is_empty() && (q.select.since.is_some() || q.select.until.is_some()) {
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
    let rctx = ctx.list_ctx(&args.output).at(at);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    let label = match args.by {
        By::Name => "name",
        By::Worker => "worker",
        By::Queue => "queue",
        By::Hour if args.bucket.is_some() => "time",
        By::Hour => "hour",
    };
    match args.output.format() {
        ListFormat::Table => render::stats::table(&rows, axis, label, &rctx, &mut out)?,
        format => render::stats::machine(format, &rows, axis, label, &report, &rctx, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    state.discard();
    Ok(())
}

fn print_heatmap(
    ctx: &Ctx,
    args: &StatsArgs,
    state: &crate::state::State,
    q: &StatsQuery,
    horizon: f64,
    measure: Heat,
) -> Result<(), CliError> {
    use crate::query::stats::{HeatMeasure, heatmap};
    let format = args.output.format();
    if matches!(format, ListFormat::Csv | ListFormat::Ndjson) {
        return Err(CliError::usage(
            "--heatmap prints a table or one JSON document",
            "use --json, or leave --format out",
        ));
    }
    let rctx = ctx.list_ctx(&args.output);
    // As many cells as the terminal leaves beside the worker names.
    let names = state
        .workers
        .keys()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 40);
    let cells = rctx
        .width
        .map_or(60, |w| usize::from(w).saturating_sub(names + 3))
        .clamp(10, 120);
    let measure = match measure {
        Heat::Tasks => HeatMeasure::Tasks,
        Heat::Runtime => HeatMeasure::Runtime,
    };
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match heatmap(state, &q.select, horizon, cells, measure) {
        None if format == ListFormat::Json => {
            let empty = crate::query::stats::Heatmap {
                start: horizon,
                width: 0.0,
                cells: 0,
                measure,
                rows: Vec::new(),
            };
            render::stats::heatmap_json(&empty, &rctx, &mut out)?;
        }
        None => std::io::Write::write_all(&mut out, b"No task ran on a worker in that range.\n")?,
        Some(map) if format == ListFormat::Json => {
            render::stats::heatmap_json(&map, &rctx, &mut out)?;
        }
        Some(map) => render::stats::heatmap(&map, &rctx, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}
