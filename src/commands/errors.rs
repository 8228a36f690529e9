//! `celtrace errors`: failures and retries grouped into patterns.

use clap::{Args, ValueEnum};

use super::args::{ListOutput, TaskFilters};
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::query::errors::{ErrorsBy, errors};
use crate::query::time::epoch;
use crate::render::{self, ListFormat};

/// Group failures and retries into patterns: which errors, how often, where and when
///
/// Every failed attempt and every retry (marked which) of the tasks the filters keep, grouped
/// by pattern: the exception's type and its message with numbers, ids, hex and quoted values
/// masked, so `RuntimeError('attempt 0')` and `RuntimeError('attempt 1')` are one pattern. For
/// each: how many (failed, retried), first and last seen, the task names and workers, a trend
/// over the whole range, and sample task ids. Most frequent first.
///
/// Examples:
///   celtrace errors --events rec.ndjson
///   celtrace errors --events rec.ndjson --since 1h --by worker
///   celtrace errors --events rec.ndjson --name 'shop.*' --format csv > errors.csv
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ErrorsArgs {
    /// Also split each pattern by worker, task name or hour
    #[arg(long, value_enum, value_name = "BY")]
    pub by: Option<By>,

    #[command(flatten)]
    pub filters: TaskFilters,

    #[command(flatten)]
    pub output: ListOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Worker,
    Name,
    Hour,
}

pub fn run(ctx: &Ctx, args: &ErrorsArgs) -> Result<(), CliError> {
    let query = args.filters.check(ctx)?;
    let (state, report) = ctx.load(&Load::between(query.since, query.until))?;
    let horizon = state.horizon(epoch(ctx.now));
    let query = args
        .filters
        .resolve(query, &state, &report.source, horizon)?;
    let (by, label) = match args.by {
        None => (None, None),
        Some(By::Worker) => (Some(ErrorsBy::Worker), Some("worker")),
        Some(By::Name) => (Some(ErrorsBy::Name), Some("name")),
        Some(By::Hour) => (Some(ErrorsBy::Hour), Some("hour")),
    };
    let rows = errors(&state, &query, by, horizon);
    if rows.is_empty() && (query.since.is_some() || query.until.is_some()) {
        super::tasks::explain_empty_range(ctx, &state);
    }
    let rctx = ctx.list_ctx(&args.output);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match args.output.format() {
        ListFormat::Table => render::errors::table(&rows, label, &rctx, &mut out)?,
        format => render::errors::machine(format, &rows, label, &report, &rctx, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    state.discard();
    Ok(())
}
