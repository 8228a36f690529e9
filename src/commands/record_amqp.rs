//! `celtrace record` on RabbitMQ: the broker keeps the history in a stream queue bound to
//! Celery's `celeryev` exchange, so recording is declaring that queue once (docs/protocol.md §2.3).

use std::io::Write as _;

use super::record::RecordArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::source::amqp::{Amqp, AmqpError};

pub fn run(ctx: &Ctx, amqp: Amqp, args: &RecordArgs) -> Result<(), CliError> {
    let queue = ctx.stream_queue();
    if args.remove {
        return remove(ctx, &amqp, &queue, args.yes);
    }
    if !args.status {
        let max_age = (!args.retention.is_zero()).then_some(args.retention);
        if let Some(reason) = amqp.declare_stream(&queue, max_age, args.max_bytes)? {
            ctx.ui.warn(&format!(
                "`{queue}` already exists with other retention settings, kept as they are ({reason}); change them with a policy (rabbitmqctl set_policy ... '{{\"max-age\":\"7D\"}}' --apply-to queues) or --remove and record again"
            ));
        }
        ctx.ui.note(&format!(
            "stream queue `{queue}` is bound to celeryev with `#`: RabbitMQ records every event from now on, without celtrace running"
        ));
    }
    print_status(ctx, &amqp, &queue)
}

fn print_status(ctx: &Ctx, amqp: &Amqp, queue: &str) -> Result<(), CliError> {
    let info = match amqp.stream_info(queue) {
        Ok(info) => info,
        Err(AmqpError::NoQueue { .. }) => {
            return Err(CliError::NoRecording {
                url: amqp.label.clone(),
                key: queue.to_string(),
                why: "does not exist",
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = ctx.ui.stdout();
    writeln!(out, "stream queue: {queue} on {}", amqp.label)?;
    match info {
        Some(i) => {
            writeln!(out, "messages:     {}", i.messages())?;
            writeln!(out, "offsets:      {} to {}", i.first, i.last)?;
        }
        None => writeln!(out, "messages:     0 (nothing recorded yet)")?,
    }
    Ok(())
}

fn remove(ctx: &Ctx, amqp: &Amqp, queue: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        if !ctx.ui.stdin_is_tty() {
            return Err(CliError::usage(
                format!("--remove deletes the stream queue `{queue}` and its history"),
                "confirm with --yes (stdin is not a terminal, so celtrace cannot ask)",
            ));
        }
        if !ctx.ui.confirm(&format!(
            "Delete the stream queue `{queue}` on {} and every event in it?",
            amqp.label
        )) {
            ctx.ui.note("nothing deleted");
            return Ok(());
        }
    }
    amqp.remove_stream(queue)?;
    ctx.ui.note(&format!("deleted the stream queue `{queue}`"));
    Ok(())
}
