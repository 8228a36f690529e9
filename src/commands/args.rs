//! The argument groups commands share, so a flag means one thing everywhere: which tasks
//! (filters), how the answer is printed (output), `--wait`, and the guard of the commands that
//! change something. A command flattens the groups that make sense for it.

use std::time::Duration;

use clap::Args;

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::{TaskId, TaskState};
use crate::query::tasks::TaskQuery;
use crate::query::time::parse_bound;
use crate::query::{ResolveError, resolve_among};
use crate::render::ListFormat;
use crate::state::State;

/// Which tasks: `tasks`, `stats`, `anomalies`, `export`, `retry` and `revoke` take these, with
/// one meaning everywhere. Filters combine with AND; a repeated
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

    /// Only tasks whose args, kwargs, result, exception or traceback match this regular
    /// expression (repeatable: any of them), after secrets are filtered out
    #[arg(long, value_name = "REGEX")]
    pub grep: Vec<String>,

    /// --grep ignores case
    #[arg(short = 'i', long, requires = "grep")]
    pub ignore_case: bool,

    /// Where --grep looks (repeatable, or comma-separated; default: all of them; `exception`
    /// includes the traceback)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "FIELD",
        requires = "grep"
    )]
    pub grep_field: Vec<GrepFieldArg>,
}

/// `--grep-field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrepFieldArg {
    Args,
    Kwargs,
    Result,
    Exception,
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
            || !self.grep.is_empty()
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
            grep: self.grep_query()?,
            ..TaskQuery::default()
        })
    }

    fn grep_query(&self) -> Result<Option<crate::query::tasks::Grep>, CliError> {
        use crate::query::tasks::{Grep, GrepField};
        if self.grep.is_empty() {
            return Ok(None);
        }
        let patterns = self
            .grep
            .iter()
            .map(|p| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(self.ignore_case)
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| {
                        CliError::usage(
                            format!("--grep `{p}` is not a valid regular expression: {e}"),
                            "Rust regex syntax: `order 1002`, `RuntimeError\\(.attempt`, `(?i)timeout`; escape ( ) [ ] . * + ? with \\",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fields = match self.grep_field.as_slice() {
            [] => GrepField::ALL.to_vec(),
            some => some
                .iter()
                .map(|f| match f {
                    GrepFieldArg::Args => GrepField::Args,
                    GrepFieldArg::Kwargs => GrepField::Kwargs,
                    GrepFieldArg::Result => GrepField::Result,
                    GrepFieldArg::Exception => GrepField::Exception,
                })
                .collect(),
        };
        Ok(Some(Grep { patterns, fields }))
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

pub fn parse_state(s: &str) -> Result<TaskState, String> {
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

/// How a list is printed: `tasks`, `workers`, `stats`, `anomalies` and `queues` take these.
#[derive(Debug, Clone, Default, Args)]
pub struct ListOutput {
    /// Output format: a table for people, or JSON, NDJSON or CSV for programs
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Plain ASCII table borders (and sparklines)
    #[arg(long)]
    pub ascii: bool,

    /// Never cut a table cell to fit the terminal: every name and id in full
    #[arg(long)]
    pub wide: bool,
}

impl ListOutput {
    /// The format asked for, `--json` included.
    pub fn format(&self) -> ListFormat {
        if self.json {
            ListFormat::Json
        } else {
            self.format
        }
    }
}

/// Which events `tail` and `replay` print.
#[derive(Debug, Clone, Default, Args)]
pub struct EventFilterArgs {
    /// Only tasks whose name matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub name: Vec<String>,

    /// Only task events that leave the task in this state (repeatable, or comma-separated)
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<TaskState>,

    /// Only events of workers whose hostname matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub worker: Vec<String>,

    /// Only events of the task with this id (or id prefix)
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,

    /// Show worker heartbeats too
    #[arg(long)]
    pub heartbeats: bool,
}

impl EventFilterArgs {
    pub fn filter(&self) -> Result<crate::query::tail::TailFilter, CliError> {
        Ok(crate::query::tail::TailFilter {
            names: globs("name", &self.name)?,
            workers: globs("worker", &self.worker)?,
            states: self.state.clone(),
            task: self.task.as_deref().map(|t| t.trim().to_ascii_lowercase()),
            heartbeats: self.heartbeats,
        })
    }
}

/// `--at`: look back at a moment (`show`, `graph`, `tasks`, `workers`, `stats`).
#[derive(Debug, Clone, Default, Args)]
pub struct AtArg {
    /// The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m),
    /// or a task's first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after
    /// it are left out, running tasks are measured up to it, workers judged at it
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

impl AtArg {
    /// The moment `--at` names (epoch seconds). A task-relative one reads that task first.
    pub fn resolve(&self, ctx: &Ctx) -> Result<Option<f64>, CliError> {
        self.at
            .as_deref()
            .map(|text| moment(ctx, "at", text))
            .transpose()
    }
}

/// A moment as `--at` takes it (RFC 3339, a duration ago, or a task plus or minus a
/// duration), in epoch seconds; `flag` names the option in errors.
pub fn moment(ctx: &Ctx, flag: &str, text: &str) -> Result<f64, CliError> {
    use crate::query::time::{AtSpec, parse_at};
    {
        let spec = parse_at(text, ctx.now).map_err(|e| {
            CliError::usage(
                format!("--{flag}: {e}"),
                "examples: --at 2026-11-22T07:47:03Z, --at 15m (15 minutes ago), --at 3f2a+2.5s (2.5 s after task 3f2a's first event)",
            )
        })?;
        let (prefix, offset) = match spec {
            AtSpec::Time(t) => return Ok(t),
            AtSpec::Task { prefix, offset } => (prefix, offset),
        };
        let (state, report) = match ctx.load_flow(&prefix, None)? {
            Some(loaded) => loaded,
            None => ctx.load(&crate::ctx::Load::filtered(
                &crate::source::file::LineFilter::mentions(&[prefix.as_str()]),
            ))?,
        };
        let horizon = state.horizon(crate::query::time::epoch(ctx.now));
        let id = crate::query::resolve_task(&state, &prefix).map_err(|e| {
            CliError::from_resolve(e, &report.source, &|id| {
                super::show::describe(&state, id, horizon)
            })
        })?;
        let first = state.task(id).and_then(|t| t.first_time()).ok_or_else(|| {
            CliError::usage(
                format!("--at {text}: task {id} has no timed event"),
                "give the time itself (RFC 3339)",
            )
        })?;
        state.discard();
        Ok(first + offset)
    }
}

/// `--wait` for `show` and `graph`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until it has finished: exit 0 on success, 6 on a failure, 7 on --timeout
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits (e.g. 90s, 10m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Duration,
}

/// The flags every changing command (`retry`, `revoke`) takes.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// Do it without asking (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print what would be sent, and send nothing (works with --events too)
    #[arg(long)]
    pub dry_run: bool,
}
