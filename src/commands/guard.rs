//! What `retry` and `revoke` share: read-only mode, picking the tasks (ids, prefixes or a
//! selection), and the confirmation (a question on a terminal, `--yes` otherwise).

use clap::Args;

use super::tasks::TaskFilters;
use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::TaskId;
use crate::query::resolve_task;
use crate::query::tasks::select;
use crate::query::time::epoch;
use crate::source::url::BrokerUrl;
use crate::state::State;

/// The flags every changing command takes.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// Do it without asking (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print what would be sent, and send nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Refuses in read-only mode, before anything is read or sent.
pub fn writable<'a>(ctx: &'a Ctx, command: &'static str) -> Result<&'a BrokerUrl, CliError> {
    if ctx.read_only {
        return Err(CliError::ReadOnly { command });
    }
    match &ctx.source {
        EventSource::Broker(url, _) => Ok(url),
        EventSource::Recording(_) => Err(CliError::usage(
            format!("`{command}` sends to the broker, and a recording on disk is not one"),
            "give --broker (a Redis or RabbitMQ URL); --events may not be used",
        )),
    }
}

/// The tasks named by ids or prefixes, or selected by the filters; full ids not in the
/// recording are kept only when `unknown_ok` (revoke may aim at a task nobody recorded).
pub fn pick(
    ctx: &Ctx,
    ids: &[String],
    filters: &TaskFilters,
    unknown_ok: bool,
) -> Result<(State, Vec<TaskId>), CliError> {
    let has_selection =
        filters.selects_tasks() || filters.since.is_some() || filters.until.is_some();
    if ids.is_empty() && !has_selection {
        return Err(CliError::usage(
            "no task given",
            "name tasks by id (or unique prefix), or select them: --name GLOB --state STATE --since 1h",
        ));
    }
    let query = filters.check(ctx)?;
    let (state, report) = ctx.load_state()?;
    let horizon = state.horizon(epoch(ctx.now));
    let mut picked = Vec::new();
    for typed in ids {
        let typed = typed.trim().to_ascii_lowercase();
        match resolve_task(&state, &typed) {
            Ok(id) => picked.push(id.clone()),
            Err(crate::query::ResolveError::NotFound(_)) if unknown_ok && typed.len() == 36 => {
                picked.push(TaskId::parse(&typed));
            }
            Err(e) => {
                return Err(CliError::from_resolve(e, &report.source, &|id| {
                    super::show::describe(&state, id, horizon)
                }));
            }
        }
    }
    if has_selection {
        let query = filters.resolve(query, &state, &report.source, horizon)?;
        picked.extend(select(&state, &query, horizon).iter().map(|t| t.id.clone()));
    }
    picked.sort();
    picked.dedup();
    Ok((state, picked))
}

/// Asks before doing it: on a terminal a question, otherwise `--yes` is needed.
pub fn confirm(ctx: &Ctx, args: &GuardArgs, question: &str) -> Result<bool, CliError> {
    if args.yes {
        return Ok(true);
    }
    if !ctx.ui.stdin_is_tty() {
        return Err(CliError::usage(
            format!("{question} needs a confirmation"),
            "add --yes (stdin is not a terminal, so celtrace cannot ask); --dry-run shows what would be sent",
        ));
    }
    Ok(ctx.ui.confirm(question))
}
