//! `--wait` for `show` and `graph`: after reading what is recorded, follow the broker's live
//! events (a subscription, not a loop of reads) and fold those of the task or flow into the
//! same state until it has finished or `--timeout` passes.

use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::decode::decode_entry;
use crate::model::{Event, TaskState};
use crate::source::live::Live;
use crate::source::pubsub::ChannelOptions;
use crate::state::State;

/// The empty start of a `--wait` when the broker has recorded nothing yet.
pub fn nothing_yet(ctx: &Ctx) -> (crate::state::State, crate::source::file::LoadReport) {
    let source = match &ctx.source {
        crate::ctx::EventSource::Broker(url, _) => url.redacted(),
        crate::ctx::EventSource::Recording(input) => input.label(),
    };
    (
        crate::state::State::scrubbed_by(ctx.ingest.clone()),
        crate::source::file::LoadReport {
            source,
            ..Default::default()
        },
    )
}

/// Whether a task in this state has finished (a retry or a lost worker may still bring it
/// back, so those are not finished).
pub fn is_final(s: TaskState) -> bool {
    matches!(
        s,
        TaskState::Success | TaskState::Failure | TaskState::Revoked | TaskState::Rejected
    )
}

/// Subscribes to live events; called before the recording is read, so nothing that happens
/// meanwhile falls between the read and the subscription.
pub fn subscribe(ctx: &Ctx) -> Result<Live, CliError> {
    let broker = ctx.broker("--wait follows live events")?;
    Ok(Live::start(broker, ChannelOptions::celery_defaults())?)
}

/// Follows live events into `state` until `done` says it is finished (returns its verdict).
/// `relevant` chooses the events to fold in. `settle` is how long no new relevant event may
/// come after `done` first says yes (a chord's callback is sent after its header finished).
pub fn follow<T>(
    live: &Live,
    timeout: Duration,
    state: &mut State,
    settle: Duration,
    relevant: &mut dyn FnMut(&Event<'_>) -> bool,
    done: &mut dyn FnMut(&State) -> Option<T>,
) -> Result<T, CliError> {
    let deadline = Instant::now() + timeout;
    let mut verdict = done(state);
    let mut settled_at = verdict.as_ref().map(|_| Instant::now() + settle);
    loop {
        if settled_at.is_some_and(|at| Instant::now() >= at)
            && let Some(v) = verdict.take()
        {
            return Ok(v);
        }
        let until = settled_at.map_or(deadline, |at| at.min(deadline));
        if Instant::now() >= deadline {
            return Err(CliError::WaitTimeout {
                after: humantime::format_duration(timeout).to_string(),
            });
        }
        let mut changed = false;
        for line in live.lines_until(until)? {
            decode_entry(&line, &mut Vec::new(), &mut |ev| {
                if relevant(ev) {
                    state.apply(ev);
                    changed = true;
                }
            });
        }
        if changed {
            verdict = done(state);
            settled_at = verdict.as_ref().map(|_| Instant::now() + settle);
        }
    }
}
