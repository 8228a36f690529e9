//! `celtrace tasks`: list tasks, filtered and sorted.

use clap::{Args, ValueEnum};

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::{TaskId, TaskState};
use crate::query::tasks::{SortKey, TaskQuery, select};
use crate::query::time::{epoch, parse_bound};
use crate::query::{ResolveError, resolve_among};
use crate::render::{self, ListFormat};
use crate::state::State;

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

    /// Plain ASCII table borders
    #[arg(long)]
    pub ascii: bool,
}

/// Which tasks: the filters `tasks` and `export` share. Filters combine with AND; a repeated
/// filter (or a comma-separated list) matches any of its values.
#[derive(Debug, Clone, Default, Args)]
pub struct TaskFilters {
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
}

impl TaskFilters {
    /// Whether any filter beyond the time window is set.
    pub fn selects_tasks(&self) -> bool {
        !self.state.is_empty()
            || !self.name.is_empty()
            || !self.worker.is_empty()
            || !self.queue.is_empty()
            || self.root.is_some()
            || self.parent.is_some()
    }

    /// Checks globs and times before anything is read: a typo should not cost a long read.
    pub fn check(&self, ctx: &Ctx) -> Result<TaskQuery, CliError> {
        Ok(TaskQuery {
            states: self.state.clone(),
            names: globs("name", &self.name)?,
            workers: globs("worker", &self.worker)?,
            queues: globs("queue", &self.queue)?,
            since: bound("since", self.since.as_deref(), ctx)?,
            until: bound("until", self.until.as_deref(), ctx)?,
            ..TaskQuery::default()
        })
    }

    /// Resolves `--root` and `--parent` (ids or unique prefixes) against the loaded tasks.
    pub fn resolve(
        &self,
        mut query: TaskQuery,
        state: &State,
        label: &str,
        horizon: f64,
    ) -> Result<TaskQuery, CliError> {
        let resolve = |typed: Option<&str>, roots: bool| -> Result<Option<TaskId>, CliError> {
            let Some(typed) = typed else { return Ok(None) };
            let mut ids: Vec<&TaskId> = if roots {
                state.tasks().map(|t| state.root_id(t)).collect()
            } else {
                state.tasks().map(|t| &t.id).collect()
            };
            ids.sort();
            ids.dedup();
            resolve_among(ids.into_iter(), typed)
                .cloned()
                .map(Some)
                .map_err(|e: ResolveError| {
                    CliError::from_resolve(e, label, &|id| {
                        super::show::describe(state, id, horizon)
                    })
                })
        };
        query.root = resolve(self.root.as_deref(), true)?;
        query.parent = resolve(self.parent.as_deref(), false)?;
        Ok(query)
    }
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

pub(crate) fn globs(flag: &str, values: &[String]) -> Result<Vec<glob::Pattern>, CliError> {
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

pub(crate) fn bound(flag: &str, value: Option<&str>, ctx: &Ctx) -> Result<Option<f64>, CliError> {
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
    let query = args.filters.check(ctx)?;
    let (state, report) = ctx.load_state_between(query.since, query.until)?;
    let horizon = state.horizon(epoch(ctx.now));
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
    let format = if args.json {
        ListFormat::Json
    } else {
        args.format
    };
    let rctx = ctx.render_ctx(args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match format {
        ListFormat::Table => render::tasks::table(&state, &rows, horizon, &rctx, &mut out)?,
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
