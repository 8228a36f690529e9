//! What `retry` and `revoke` share: read-only mode, picking the tasks (ids, prefixes or a
//! selection), and the confirmation (a question on a terminal, `--yes` otherwise).

use super::args::{GuardArgs, TaskFilters};
use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::model::TaskId;
use crate::query::resolve_task;
use crate::query::tasks::select;
use crate::query::time::epoch;
use crate::source::broker::Broker;
use crate::state::State;

/// Refuses in read-only mode, before anything is read or sent; the broker to send to, or
/// `None` for a dry run (which sends nothing, so it may read a recording on disk).
pub fn writable(
    ctx: &Ctx,
    command: &'static str,
    dry_run: bool,
) -> Result<Option<Broker>, CliError> {
    if ctx.read_only && !dry_run {
        return Err(CliError::ReadOnly { command });
    }
    if dry_run {
        return Ok(None);
    }
    ctx.broker(&format!("`{command}` sends to the broker"))
        .map(Some)
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
    let (state, report) = ctx.load(&Load::ALL)?;
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
