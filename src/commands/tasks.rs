//! `celtrace tasks`: list tasks, filtered and sorted.

use clap::{Args, ValueEnum};

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::TaskState;
use crate::query::tasks::{SortKey, TaskQuery, select};
use crate::query::time::{epoch, parse_bound};
use crate::query::{ResolveError, resolve_among};
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
pub struct TasksArgs {
    /// Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<TaskState>,

    /// Only tasks whose name matches this glob (e.g. 'shop.*')
    #[arg(long, value_name = "GLOB")]
    pub name: Vec<String>,

    /// Only tasks that ran on a worker matching this glob (e.g. 'w1@*')
    #[arg(long, value_name = "GLOB")]
    pub worker: Vec<String>,

    /// Only tasks sent to a queue matching this glob
    #[arg(long, value_name = "GLOB")]
    pub queue: Vec<String>,

    /// Only tasks of the workflow with this root id (full id or unique prefix)
    #[arg(long, value_name = "ID")]
    pub root: Option<String>,

    /// Only direct children of this task (full id or unique prefix)
    #[arg(long, value_name = "ID")]
    pub parent: Option<String>,

    /// Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only tasks with activity at or before this time: a duration back from now or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Show at most N tasks (the first N in sort order)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,

    /// Sort order: times and runtime newest/longest first, name and state ascending
    #[arg(long, value_enum, default_value_t = Sort::Received)]
    pub sort: Sort,

    /// Reverse the sort order
    #[arg(long)]
    pub reverse: bool,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Show secret-looking argument values instead of [Filtered]
    #[arg(long)]
    pub no_scrub: bool,

    /// Plain ASCII table borders
    #[arg(long)]
    pub ascii: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    Received,
    Started,
    Runtime,
    Name,
    State,
}

fn parse_state(s: &str) -> Result<TaskState, String> {
    TaskState::parse(s).ok_or_else(|| {
        let all: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state `{s}`; expected one of {}", all.join(", "))
    })
}

fn globs(flag: &str, values: &[String]) -> Result<Vec<glob::Pattern>, CliError> {
    values
        .iter()
        .map(|v| {
            glob::Pattern::new(v).map_err(|e| {
                CliError::usage(
                    format!("--{flag} `{v}` is not a valid glob: {e}"),
                    "globs use * for any text, ? for one character and [abc] for a set",
                )
            })
        })
        .collect()
}

fn bound(flag: &str, value: Option<&str>, ctx: &Ctx) -> Result<Option<f64>, CliError> {
    value
        .map(|v| parse_bound(v, ctx.now))
        .transpose()
        .map_err(|e| {
            CliError::usage(
                format!("--{flag}: {e}"),
                "examples: 30s, 15m, 2h, 1d, 2026-11-22T07:47:00Z",
            )
        })
}

pub fn run(ctx: &Ctx, args: &TasksArgs) -> Result<(), CliError> {
    // Check every flag before reading anything: a typo should not cost a long read.
    let names = globs("name", &args.name)?;
    let workers = globs("worker", &args.worker)?;
    let queues = globs("queue", &args.queue)?;
    let since = bound("since", args.since.as_deref(), ctx)?;
    let until = bound("until", args.until.as_deref(), ctx)?;

    let (state, report) = ctx.load_state()?;
    let label = report.source.clone();
    let resolve_in = |typed: &str, roots: bool| {
        let ids: Vec<&crate::model::TaskId> = if roots {
            state.tasks().map(|t| state.root_id(t)).collect()
        } else {
            state.tasks().map(|t| &t.id).collect()
        };
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        resolve_among(ids.into_iter(), typed).cloned()
    };
    let resolve = |typed: Option<&str>, roots: bool| -> Result<_, CliError> {
        typed
            .map(|t| resolve_in(t, roots))
            .transpose()
            .map_err(|e: ResolveError| {
                CliError::from_resolve(e, &label, &|id| {
                    super::show::describe(&state, id, state.horizon(epoch(ctx.now)))
                })
            })
    };
    let query = TaskQuery {
        states: args.state.clone(),
        names,
        workers,
        queues,
        root: resolve(args.root.as_deref(), true)?,
        parent: resolve(args.parent.as_deref(), false)?,
        since,
        until,
        sort: match args.sort {
            Sort::Received => SortKey::Received,
            Sort::Started => SortKey::Started,
            Sort::Runtime => SortKey::Runtime,
            Sort::Name => SortKey::Name,
            Sort::State => SortKey::State,
        },
        reverse: args.reverse,
        limit: args.limit,
    };
    let horizon = state.horizon(epoch(ctx.now));
    let rows = select(&state, &query, horizon);
    let format = if args.json {
        ListFormat::Json
    } else {
        args.format
    };
    let rctx = ctx.render_ctx(!args.no_scrub, args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match format {
        ListFormat::Table => render::tasks::table(&state, &rows, horizon, &rctx, &mut out)?,
        ListFormat::Json => render::tasks::json(&state, &rows, horizon, &report, &rctx, &mut out)?,
        ListFormat::Ndjson => {
            render::tasks::ndjson(&state, &rows, horizon, &report, &rctx, &mut out)?;
        }
        ListFormat::Csv => render::tasks::csv(&state, &rows, horizon, &rctx, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    drop(rows);
    state.discard();
    Ok(())
}
