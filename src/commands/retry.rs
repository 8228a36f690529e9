//! `celtrace retry`: publishes a task again under a new id, linked to the original.

use std::io::Write;

use clap::Args;

use super::args::GuardArgs;
use super::args::TaskFilters;
use super::guard;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::graph::backend::TaskMeta;
use crate::model::TaskId;
use crate::model::control::{TaskMessage, validate, validate_redis_envelope};
use crate::render::envelope;
use crate::source::control::unique_id;
use crate::state::State;

/// Run tasks again: each is published under a new id, its parent the original
///
/// The new task has the same name, arguments and queue, and the original as parent (its
/// root stays the same), so `graph` shows the retry beside the first run; a new id because
/// the result backend never overwrites a SUCCESS. Arguments must be real JSON, from the
/// result backend (`result_extended = True` in the app; recorded by `celtrace record
/// --result-backend`, or read with --result-backend): the events only carry Python reprs cut
/// at 1 KiB, which are refused. Every message is checked as a worker reads it before
/// anything is sent.
///
/// Examples:
///   celtrace retry 3f2a9c --result-backend redis://localhost:6379/1 --yes
///   celtrace retry --name 'shop.charge' --state FAILURE --since 1h --dry-run
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RetryArgs {
    /// Task ids or unique prefixes
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,

    #[command(flatten)]
    pub filters: TaskFilters,

    #[command(flatten)]
    pub guard: GuardArgs,

    /// Print the new ids as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: &RetryArgs) -> Result<(), CliError> {
    let broker = guard::writable(ctx, "retry", args.guard.dry_run)?;
    let (state, ids) = guard::pick(ctx, &args.ids, &args.filters, false)?;
    if ids.is_empty() {
        ctx.ui.note("no task matches: nothing to retry");
        return Ok(());
    }
    let messages = messages(ctx, &state, &ids)?;
    let mut out = ctx.ui.stdout();
    if args.guard.dry_run {
        let docs: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "queue": m.queue,
                    "headers": m.headers(),
                    "body": m.body(),
                })
            })
            .collect();
        let mut doc = serde_json::json!({
            "dry_run": true,
            "messages": docs,
        });
        ctx.scrub.json(&mut doc);
        envelope::json(&mut out, "retry", ctx.now, &doc)?;
        state.discard();
        return Ok(());
    }
    for m in messages.iter().take(20) {
        ctx.ui.note(&format!(
            "  {} {} on {}",
            m.task,
            m.parent_id.as_deref().unwrap_or("?"),
            m.queue
        ));
    }
    if !guard::confirm(
        ctx,
        &args.guard,
        &format!(
            "Retry {}?",
            crate::render::fmt::count(messages.len(), "task")
        ),
    )? {
        ctx.ui.note("nothing sent");
        return Ok(());
    }
    let Some(broker) = broker else {
        return Ok(()); // a dry run has returned above
    };
    for m in &messages {
        broker.publish_task(m)?;
    }
    if args.json {
        let doc: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "original": m.parent_id,
                    "new": m.id,
                    "task": m.task,
                    "queue": m.queue,
                })
            })
            .collect();
        let doc = serde_json::json!({ "dry_run": false, "retried": doc });
        envelope::json(&mut out, "retry", ctx.now, &doc)?;
    } else {
        for m in &messages {
            writeln!(
                out,
                "{} → {}  {} on {}",
                m.parent_id.as_deref().unwrap_or("?"),
                m.id,
                m.task,
                m.queue
            )?;
        }
    }
    state.discard();
    Ok(())
}

/// The new messages for `ids`, each checked as a worker reads it, or why they cannot be
/// built (the real arguments are unknown). `state` must be loaded unscrubbed.
pub fn messages(ctx: &Ctx, state: &State, ids: &[TaskId]) -> Result<Vec<TaskMessage>, CliError> {
    let metas = backend_records(ctx, state, ids)?;
    let mut messages = Vec::new();
    let mut refused = Vec::new();
    for id in ids {
        match message_for(state, id, metas.get(id)) {
            Ok(m) => messages.push(m),
            Err(why) => refused.push(format!("{id}: {why}")),
        }
    }
    if !refused.is_empty() {
        return Err(CliError::Refused {
            what: format!("retry {}", crate::render::fmt::count(refused.len(), "task")),
            reason: refused.join("; "),
            help: "retry needs the real JSON arguments the result backend keeps with result_extended = True in the app; record them with `celtrace record --result-backend redis://...` or read them with --result-backend".into(),
        });
    }
    for m in &messages {
        let checked = validate(&m.headers(), &m.body())
            .and_then(|()| validate_redis_envelope(&m.redis_envelope("check")));
        if let Err(why) = checked {
            return Err(CliError::Refused {
                what: format!("retry {}", m.parent_id.as_deref().unwrap_or("?")),
                reason: format!("the message would not be read by a worker: {why}"),
                help: "this is a bug in celtrace; nothing was sent".into(),
            });
        }
    }
    Ok(messages)
}

/// The result-backend records of these tasks: read with --result-backend, else recorded.
fn backend_records(
    ctx: &Ctx,
    state: &State,
    ids: &[TaskId],
) -> Result<std::collections::HashMap<TaskId, TaskMeta>, CliError> {
    let mut out = std::collections::HashMap::new();
    if let Some((url, _)) = &ctx.result_backend {
        for raw in ctx.backend_metas(url, ids)? {
            if let Some(meta) = TaskMeta::parse(&raw)
                && let Some(id) = meta.task_id.as_deref()
            {
                out.insert(TaskId::parse(id), meta);
            }
        }
    }
    for id in ids {
        if !out.contains_key(id)
            && let Some(meta) = TaskMeta::recorded(state, id)
        {
            out.insert(id.clone(), meta);
        }
    }
    Ok(out)
}

/// The new message for `id`, or why it cannot be built.
fn message_for(state: &State, id: &TaskId, meta: Option<&TaskMeta>) -> Result<TaskMessage, String> {
    let record = state.task(id).ok_or("not in the recording")?;
    let name = record
        .name()
        .map(|s| state.sym(s).to_string())
        .or_else(|| meta.and_then(|m| m.name.clone()))
        .ok_or("its task name is not known")?;
    let meta = meta.ok_or("the result backend has no record of it")?;
    let (Some(args), Some(kwargs)) = (meta.args.clone(), meta.kwargs.clone()) else {
        return Err(
            "its arguments are known only as truncated Python reprs (no result_extended record)"
                .into(),
        );
    };
    if !args.is_array() || !kwargs.is_object() {
        return Err("the backend's arguments are not a list and an object".into());
    }
    let queue = record
        .queue()
        .map(|q| state.sym(q).to_string())
        .or_else(|| meta.queue.clone())
        .unwrap_or_else(|| "celery".to_string());
    Ok(TaskMessage {
        id: unique_id(),
        task: name,
        args,
        kwargs,
        queue,
        root_id: state.root_id(record).to_string(),
        parent_id: Some(id.to_string()),
        origin: "celtrace".to_string(),
    })
}
