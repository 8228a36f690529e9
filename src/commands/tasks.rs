//! `celtrace tasks`: list tasks, filtered and sorted.

use clap::{Args, ValueEnum};

use super::args::{ListOutput, TaskFilters};
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::query::tasks::{SortKey, select};
use crate::query::time::epoch;
use crate::render::{self, ListFormat};

/// List tasks with their state, worker, timing and retries
///
/// Every task seen in the events, newest first. Filters combine with AND; a repeated filter
/// (or a comma-separated list) matches any of its values.
///
/// Examples:
///   celtrace tasks --events rec.ndjson --state FAILURE --since 1h
///   celtrace tasks --name 'shop.*' --sort runtime --limit 10
///   celtrace tasks --root 3f2a --json | jq '.tasks[].id'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TasksArgs {
    #[command(flatten)]
    pub filters: TaskFilters,

    #[command(flatten)]
    pub at: super::args::AtArg,

    /// Show at most N tasks (the first N in sort order)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,

    /// Sort order: times and runtime newest/longest first, name and state ascending
    #[arg(long, value_enum, default_value_t = Sort::Received)]
    pub sort: Sort,

    /// Reverse the sort order
    #[arg(long)]
    pub reverse: bool,

    #[command(flatten)]
    pub output: ListOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    Received,
    Started,
    Runtime,
    Name,
    State,
}

pub fn run(ctx: &Ctx, args: &TasksArgs) -> Result<(), CliError> {
    let query = args.filters.check(ctx)?;
    let at = args.at.resolve(ctx)?;
    let (state, report) = ctx.load(&Load::between(query.since, query.until).at(at))?;
    let horizon = state.horizon(at.unwrap_or(epoch(ctx.now)));
    let mut query = args
        .filters
        .resolve(query, &state, &report.source, horizon)?;
    query.sort = match args.sort {
        Sort::Received => SortKey::Received,
        Sort::Started => SortKey::Started,
        Sort::Runtime => SortKey::Runtime,
        Sort::Name => SortKey::Name,
        Sort::State => SortKey::State,
    };
    query.reverse = args.reverse;
    query.limit = args.limit;
    let rows = select(&state, &query, horizon);
    if rows.is_empty() && (query.since.is_some() || query.until.is_some()) {
        explain_empty_range(ctx, &state);
    }
    let format = args.output.format();
    let rctx = ctx.list_ctx(&args.output).at(at);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match format {
        ListFormat::Table => {
            render::tasks::table(&state, &rows, horizon, &rctx, &mut out)?;
        }
        ListFormat::Json => render::tasks::json(&state, &rows, horizon, &report, &rctx, &mut out)?,
        ListFormat::Ndjson => {
            render::tasks::ndjson(&state, &rows, horizon, &report, &rctx, &mut out)?;
        }
        ListFormat::Csv => render::tasks::csv(&state, &rows, horizon, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    drop(rows);
    state.discard();
    Ok(())
}

/// A time filter that left nothing: say where the data's time range lies (a recording from
/// last week, asked about the last hour).
pub fn explain_empty_range(ctx: &Ctx, state: &crate::state::State) {
    use crate::render::fmt::{full_time, relative};
    let note = match state.time_range() {
        // A broker read from `--since` that found nothing: the range is only the read's own
        // clock, not the data's.
        _ if state.counts.events == 0 => {
            "nothing was recorded in that time range (no events in it)".to_string()
        }
        Some((first, last)) => format!(
            "nothing in that time range; the events run from {} to {} ({}); times in --since/--until are measured from now",
            full_time(first, ctx.zone),
            full_time(last, ctx.zone),
            relative(last, ctx.now)
        ),
        None => "nothing in that time range; the source holds no timed events".to_string(),
    };
    ctx.ui.warn(&note);
}
