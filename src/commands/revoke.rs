//! `celtrace revoke`: a revoke broadcast over remote control (docs/protocol.md §5).

use std::io::Write;
use std::time::Duration;

use clap::Args;

use super::args::GuardArgs;
use super::args::TaskFilters;
use super::guard;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::control::{revoke_request, signal_name};
use crate::render::envelope;

/// Revoke tasks: workers discard them when they come up, or kill them with --terminate
///
/// A revoke is a broadcast to the workers online now, kept in their memory only: a worker
/// started later does not know it (unless workers keep a --statedb), and a queued task is
/// discarded only when a worker takes it from the queue. A revoke no worker heard is lost:
/// celtrace says how many received it (Redis) or collects their answers (--wait-reply).
///
/// Examples:
///   celtrace revoke 3f2a9c --yes
///   celtrace revoke 3f2a9c --terminate --signal KILL --wait-reply
///   celtrace revoke --name 'shop.report_*' --state RECEIVED --since 1h --dry-run
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RevokeArgs {
    /// Task ids or unique prefixes
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,

    #[command(flatten)]
    pub filters: TaskFilters,

    /// Also kill a task that is running now (its pool process gets --signal)
    #[arg(long)]
    pub terminate: bool,

    /// The signal for --terminate: TERM (default), KILL, INT, HUP, QUIT, USR1, USR2, ABRT
    #[arg(long, value_name = "SIGNAL", default_value = "TERM", value_parser = parse_signal)]
    pub signal: String,

    /// Collect the workers' answers for --timeout
    #[arg(long)]
    pub wait_reply: bool,

    /// How long --wait-reply collects answers
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub guard: GuardArgs,

    /// Print the outcome as JSON
    #[arg(long)]
    pub json: bool,
}

fn parse_signal(s: &str) -> Result<String, String> {
    signal_name(s).ok_or_else(|| {
        format!(
            "`{s}` is not a signal a worker takes (TERM, KILL, INT, HUP, QUIT, USR1, USR2, ABRT)"
        )
    })
}

pub fn run(ctx: &Ctx, args: &RevokeArgs) -> Result<(), CliError> {
    let broker = guard::writable(ctx, "revoke", args.guard.dry_run)?;
    let (state, ids) = guard::pick(ctx, &args.ids, &args.filters, true)?;
    if ids.is_empty() {
        ctx.ui.note("no task matches: nothing to revoke");
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let build =
        |reply: Option<(&str, &str)>| revoke_request(&ids, args.terminate, &args.signal, reply);
    let mut out = ctx.ui.stdout();
    if args.guard.dry_run {
        let doc = serde_json::json!({
            "dry_run": true,
            "exchange": crate::model::control::PIDBOX_EXCHANGE,
            "request": build(None),
        });
        envelope::json(&mut out, "revoke", ctx.now, &doc)?;
        state.discard();
        return Ok(());
    }
    let tasks = crate::render::fmt::count(ids.len(), "task");
    let what = if args.terminate {
        format!("Revoke and terminate ({}) {tasks}", args.signal)
    } else {
        format!("Revoke {tasks}")
    };
    for id in ids.iter().take(20) {
        ctx.ui
            .note(&format!("  {}", super::show::describe(&state, id, 0.0)));
    }
    if !guard::confirm(ctx, &args.guard, &format!("{what}?"))? {
        ctx.ui.note("nothing sent");
        return Ok(());
    }
    let wait = args.wait_reply.then_some(args.timeout);
    let Some(broker) = broker else {
        return Ok(()); // a dry run has returned above
    };
    let sent = broker.broadcast(&build, wait)?;
    if args.json {
        let doc = serde_json::json!({
            "dry_run": false,
            "revoked": ids,
            "terminate": args.terminate,
            "signal": args.signal,
            "reached": sent.reached,
            "replies": sent.replies,
        });
        envelope::json(&mut out, "revoke", ctx.now, &doc)?;
    } else {
        match sent.reached {
            Some(n) => writeln!(
                out,
                "revoke sent to {} for {tasks}",
                if n == 1 {
                    "1 worker mailbox".to_string()
                } else {
                    format!("{n} worker mailboxes")
                }
            )?,
            None => writeln!(out, "revoke sent for {tasks}")?,
        }
        for (node, reply) in &sent.replies {
            let text = reply
                .get("ok")
                .or_else(|| reply.get("error"))
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| reply.to_string(), str::to_string);
            writeln!(out, "  {node}: {text}")?;
        }
    }
    let heard = sent
        .reached
        .map_or(!sent.replies.is_empty() || wait.is_none(), |n| n > 0);
    if !heard {
        ctx.ui.warn(
            "no worker received the revoke: it is lost (workers keep revokes in memory; send it again when they are up)",
        );
    } else if sent.reached.is_none() && wait.is_none() {
        ctx.ui.note(
            "RabbitMQ does not say how many workers got it; --wait-reply collects their answers",
        );
    }
    state.discard();
    Ok(())
}
