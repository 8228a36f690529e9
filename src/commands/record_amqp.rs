//! `celtrace record` on RabbitMQ: the broker keeps the history in a stream queue bound to
//! Celery's `celeryev` exchange, so recording is declaring that queue once (docs/protocol.md §2.3).
//! With `--index` it stays running and keeps the queue's index (`source/amqp/index.rs`).

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::record::RecordArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::source::amqp::index::index_queue;
use crate::source::amqp::{Amqp, AmqpError};

pub fn run(ctx: &Ctx, amqp: Amqp, args: &RecordArgs) -> Result<(), CliError> {
    let queue = ctx.stream_queue();
    if args.remove {
        return remove(ctx, &amqp, &queue, args.yes);
    }
    let max_age = (!args.retention.is_zero()).then_some(args.retention);
    if !args.status {
        if let Some(reason) = amqp.declare_stream(&queue, max_age, args.max_bytes)? {
            ctx.ui.warn(&format!(
                "`{queue}` already exists with other retention settings, kept as they are ({reason}); change them with a policy (rabbitmqctl set_policy ... '{{\"max-age\":\"7D\"}}' --apply-to queues) or --remove and record again"
            ));
        }
        ctx.ui.note(&format!(
            "stream queue `{queue}` is bound to celeryev with `#`: RabbitMQ records every event from now on, without celtrace running"
        ));
    }
    if args.index {
        print_status(ctx, &amqp, &queue)?;
        return index(ctx, &amqp, &queue, (max_age, args.max_bytes));
    }
    print_status(ctx, &amqp, &queue)
}

/// How often the indexer looks for new messages once it has caught up.
const INDEX_EVERY: Duration = Duration::from_secs(1);
/// How often it logs what it indexed.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long it waits after a failed step (a broker restart, say) before the next.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Keeps the index of `queue` until SIGINT or SIGTERM: from where it ends (or the stream's
/// first message), a span per few thousand messages, then once a second.
fn index(
    ctx: &Ctx,
    amqp: &Amqp,
    queue: &str,
    (max_age, max_bytes): (Option<Duration>, Option<u64>),
) -> Result<(), CliError> {
    let signals = super::record::Signals::watch()?;
    let index_name = index_queue(queue);
    // Kept twice as long as the stream: a segment of spans must not go before the stream's
    // messages it names (what no span covers is read whole).
    if let Some(reason) = amqp.declare_index(&index_name, max_age.map(|a| a * 2), max_bytes)? {
        ctx.ui.warn(&format!(
            "`{index_name}` already exists with other retention settings, kept as they are ({reason})"
        ));
    }
    let mut next = amqp.index_resumes_at(&index_name)?;
    ctx.ui.note(&format!(
        "indexing `{queue}` into `{index_name}` from {} (Ctrl-C stops; show and graph use it as it grows)",
        next.map_or_else(|| "its first message".to_string(), |n| format!("offset {n}"))
    ));
    let mut failures = 0;
    // Messages indexed since the last line logged, and since when.
    let (mut unlogged, mut since) = (0, Instant::now());
    let mut caught_up = false;
    while signals.received() == 0 {
        match amqp.index_step(queue, &index_name, next, &signals.stop) {
            Ok(step) => {
                failures = 0;
                unlogged += step.messages;
                next = Some(step.next);
                // The first catch-up at once (a backfill may be long), then every 10 s.
                let first = !caught_up && step.messages == 0 && unlogged > 0;
                if unlogged > 0 && (first || since.elapsed() >= LOG_EVERY) {
                    ctx.ui.note(&format!(
                        "indexed {unlogged} messages in {:.1}s, up to offset {}",
                        since.elapsed().as_secs_f64(),
                        step.next - 1
                    ));
                    (unlogged, since) = (0, Instant::now());
                }
                if step.messages == 0 {
                    caught_up = true;
                    if unlogged == 0 {
                        since = Instant::now();
                    }
                }
            }
            // Not there any more: said, never waited on.
            Err(e @ (AmqpError::NoQueue { .. } | AmqpError::Refused { .. })) => {
                return Err(e.into());
            }
            Err(e) => {
                failures += 1;
                ctx.ui.warn(&format!(
                    "indexing stopped for now ({e}); trying again in {}s",
                    RETRY_AFTER.as_secs()
                ));
                // Where the index ends now: a span may have landed before the failure.
                if let Ok(resumed) = amqp.index_resumes_at(&index_name) {
                    next = resumed.or(next);
                }
            }
        }
        let pause = if failures > 0 {
            RETRY_AFTER
        } else {
            INDEX_EVERY
        };
        let until = Instant::now() + pause;
        while Instant::now() < until && signals.received() == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    signals.stop.store(true, Ordering::Relaxed);
    ctx.ui.note(&format!(
        "stopped; `{index_name}` covers `{queue}` up to offset {}",
        next.map_or_else(|| "none".to_string(), |n| (n - 1).to_string())
    ));
    Ok(())
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
    let index_name = index_queue(queue);
    match amqp.index_resumes_at(&index_name) {
        Ok(Some(next)) => {
            let behind = info.map_or(0, |i| (i.last + 1 - next).max(0));
            writeln!(
                out,
                "index:        {index_name} up to offset {} ({behind} messages behind)",
                next - 1
            )?;
        }
        Ok(None) => writeln!(
            out,
            "index:        none (`celtrace record --index` keeps one; show and graph read the stream without)"
        )?,
        Err(e) => writeln!(out, "index:        cannot be read ({e})")?,
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
    amqp.remove_stream(&index_queue(queue))?;
    ctx.ui
        .note(&format!("deleted the stream queue `{queue}` and its index"));
    Ok(())
}
