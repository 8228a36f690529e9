//! Derived views of a task: attempts, final state, times. Computed from the sorted marks of a
//! [`TaskRecord`], so they are deterministic whatever order the events arrived in.
//!
//! Assigning marks to attempts (docs/protocol.md §4, traps 7–9):
//!
//! - every `task-received` opens an attempt (retries and redeliveries reuse the uuid);
//! - `task-started` joins the newest attempt on the same worker that has not started;
//! - `task-retried/succeeded/failed` join the newest *started*, unfinished attempt on that
//!   worker. That is how a `task-retried` stamped after the next attempt's `task-received`
//!   still lands on the attempt it ends;
//! - `task-revoked` joins the newest unfinished attempt (a revoked queued task has none and
//!   gets an attempt of its own: it was never received);
//! - a second terminal event for a finished attempt (a hard time limit sends two
//!   `task-failed`) is counted as a duplicate, not a new attempt;
//! - `task-sent` marks are matched to attempts by `retries`.

use super::State;
use super::intern::Sym;
use super::task::{Mark, MarkKind, TaskRecord};
use super::worker::Liveness;
use crate::model::TaskState;

#[derive(Debug, Clone)]
pub struct Attempt<'s> {
    state: &'s State,
    pub sent: Option<&'s Mark>,
    pub received: Option<&'s Mark>,
    pub started: Option<&'s Mark>,
    /// The terminal event: succeeded, failed, retried, revoked, rejected or cancelled.
    pub finished: Option<&'s Mark>,
    /// `task-rejected` that followed a failure (`Reject(requeue=False)` sends both).
    pub rejected: Option<&'s Mark>,
    /// Extra terminal events for this attempt (a hard time limit sends two `task-failed`).
    pub duplicates: u32,
    pub progress: Vec<&'s Mark>,
    /// The worker ran it and then died or restarted without a terminal event.
    pub lost: Option<Liveness>,
}

impl<'s> Attempt<'s> {
    fn empty(state: &'s State) -> Self {
        Self {
            state,
            sent: None,
            received: None,
            started: None,
            finished: None,
            rejected: None,
            duplicates: 0,
            progress: Vec::new(),
            lost: None,
        }
    }

    /// The worker node that handled it.
    pub fn host(&self) -> Option<Sym> {
        self.received
            .or(self.started)
            .or(self.finished)
            .map(|m| self.state.host(m))
    }

    /// The worker main process that handled it.
    pub fn pid(&self) -> Option<u32> {
        self.received
            .or(self.started)
            .or(self.finished)
            .map(|m| self.state.pid(m))
    }

    pub fn retries(&self) -> Option<u16> {
        self.received
            .and_then(Mark::retries)
            .or_else(|| self.sent.and_then(Mark::retries))
    }

    pub fn state(&self) -> TaskState {
        if let Some(m) = self.finished {
            return match m.kind {
                MarkKind::Succeeded => TaskState::Success,
                MarkKind::Failed => TaskState::Failure,
                MarkKind::Retried => TaskState::Retry,
                MarkKind::Rejected => TaskState::Rejected,
                _ => TaskState::Revoked,
            };
        }
        if self.started.is_some() {
            TaskState::Started
        } else if self.received.is_some() {
            TaskState::Received
        } else {
            TaskState::Pending
        }
    }

    /// The exception text of a failed or retried attempt (as the event carried it).
    pub fn exception(&self) -> Option<&'s str> {
        let m = self
            .finished
            .filter(|m| matches!(m.kind, MarkKind::Failed | MarkKind::Retried))?;
        self.state.detail(m)?.text.as_deref()
    }

    /// The traceback of a failed or retried attempt.
    pub fn traceback(&self) -> Option<&'s str> {
        let m = self
            .finished
            .filter(|m| matches!(m.kind, MarkKind::Failed | MarkKind::Retried))?;
        self.state.detail(m)?.traceback()
    }

    /// First moment the attempt is known to exist.
    pub fn begin(&self) -> Option<f64> {
        [self.sent, self.received, self.started, self.finished]
            .iter()
            .flatten()
            .map(|m| m.time)
            .filter(|t| *t > 0.0)
            .reduce(f64::min)
    }

    /// Seconds it ran: the worker's own `runtime` when it reported one.
    pub fn runtime(&self) -> Option<f64> {
        let f = self.finished?;
        self.state.detail(f).and_then(|d| d.runtime()).or_else(|| {
            let s = self.started?;
            matches!(
                f.kind,
                MarkKind::Succeeded | MarkKind::Failed | MarkKind::Retried | MarkKind::Revoked
            )
            .then(|| (f.time - s.time).max(0.0))
        })
    }

    pub fn is_open(&self) -> bool {
        self.finished.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct TaskView<'s> {
    db: &'s State,
    pub record: &'s TaskRecord,
    pub attempts: Vec<Attempt<'s>>,
    /// `task-sent` marks no attempt took (the task is still queued, or was never received).
    pub unmatched_sends: Vec<&'s Mark>,
    /// Custom events that came before any attempt was known.
    pub orphan_progress: Vec<&'s Mark>,
    pub state: TaskState,
    /// The final attempt was lost with its worker (see [`Attempt::lost`]).
    pub lost: Option<Liveness>,
}

impl<'s> TaskView<'s> {
    pub fn new(state: &'s State, record: &'s TaskRecord, horizon: f64) -> Self {
        let mut attempts: Vec<Attempt<'s>> = Vec::new();
        let mut sends = Vec::new();
        let mut orphan_progress = Vec::new();
        for m in &record.marks {
            match m.kind {
                MarkKind::Sent => sends.push(m),
                MarkKind::Received => {
                    attempts.push(Attempt {
                        received: Some(m),
                        ..Attempt::empty(state)
                    });
                }
                MarkKind::Started => {
                    match newest(&attempts, state.host(m), |a| {
                        a.started.is_none() && a.is_open()
                    }) {
                        Some(i) => attempts[i].started = Some(m),
                        None => attempts.push(Attempt {
                            started: Some(m),
                            ..Attempt::empty(state)
                        }),
                    }
                }
                MarkKind::Succeeded | MarkKind::Failed | MarkKind::Retried => {
                    let slot = newest(&attempts, state.host(m), |a| {
                        a.started.is_some() && a.is_open()
                    })
                    .or_else(|| newest(&attempts, state.host(m), Attempt::is_open));
                    finish(state, &mut attempts, slot, m);
                }
                MarkKind::Revoked | MarkKind::Cancelled => {
                    let slot = newest(&attempts, state.host(m), Attempt::is_open);
                    finish(state, &mut attempts, slot, m);
                }
                MarkKind::Rejected => match newest(&attempts, state.host(m), |_| true) {
                    Some(i) if attempts[i].is_open() => attempts[i].finished = Some(m),
                    Some(i) => attempts[i].rejected = Some(m),
                    None => attempts.push(Attempt {
                        finished: Some(m),
                        ..Attempt::empty(state)
                    }),
                },
                MarkKind::Custom => match newest(&attempts, state.host(m), |_| true) {
                    Some(i) => attempts[i].progress.push(m),
                    None => orphan_progress.push(m),
                },
            }
        }
        // Match sends to attempts by retries, in time order.
        let mut unmatched_sends = Vec::new();
        for s in sends {
            let slot = attempts.iter().position(|a| {
                a.sent.is_none() && a.retries().is_some() && a.retries() == s.retries()
            });
            match slot {
                Some(i) => attempts[i].sent = Some(s),
                None => unmatched_sends.push(s),
            }
        }
        attempts.sort_by(|a, b| {
            a.begin()
                .unwrap_or(0.0)
                .total_cmp(&b.begin().unwrap_or(0.0))
        });
        for a in &mut attempts {
            if a.is_open()
                && let (Some(host), Some(pid)) = (a.host(), a.pid())
                && let Some(w) = state.workers.get(state.sym(host))
                && let Some(l) = w.session_liveness(u64::from(pid), horizon)
                && l != Liveness::Online
            {
                a.lost = Some(l);
            }
        }
        let task_state = final_state(&attempts, &unmatched_sends);
        let lost = attempts
            .last()
            .filter(|_| !task_state.is_ready())
            .and_then(|a| a.lost);
        Self {
            db: state,
            record,
            attempts,
            unmatched_sends,
            orphan_progress,
            state: task_state,
            lost,
        }
    }

    pub fn final_attempt(&self) -> Option<&Attempt<'s>> {
        self.attempts.last()
    }

    fn first(&self, f: impl Fn(&Attempt<'s>) -> Option<&'s Mark>) -> Option<f64> {
        self.attempts
            .iter()
            .filter_map(f)
            .map(|m| m.time)
            // 0 is "no time": the event carried none (or one out of range).
            .filter(|t| *t > 0.0)
            .reduce(f64::min)
    }

    pub fn sent_at(&self) -> Option<f64> {
        self.first(|a| a.sent)
            .into_iter()
            .chain(self.unmatched_sends.iter().map(|m| m.time))
            .filter(|t| *t > 0.0)
            .reduce(f64::min)
    }

    pub fn received_at(&self) -> Option<f64> {
        self.first(|a| a.received)
    }

    pub fn started_at(&self) -> Option<f64> {
        self.first(|a| a.started)
    }

    /// When the task reached its final state (only for ready states).
    pub fn finished_at(&self) -> Option<f64> {
        if !self.state.is_ready() {
            return None;
        }
        self.attempts
            .iter()
            .rev()
            .find(|a| a.state() == self.state)?
            .finished
            .map(|m| m.time)
            .filter(|t| *t > 0.0)
    }

    /// Runtime of the attempt that decided the final state.
    pub fn runtime(&self) -> Option<f64> {
        self.deciding_attempt()?.runtime()
    }

    /// The attempt whose outcome is the task's state.
    pub fn deciding_attempt(&self) -> Option<&Attempt<'s>> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.state() == self.state)
            .or(self.attempts.last())
    }

    /// Seconds between the first `task-sent` and the first `task-received`.
    pub fn queue_wait(&self) -> Option<f64> {
        Some((self.received_at()? - self.sent_at()?).max(0.0))
    }

    /// A task revoked before it started: seconds from when it was sent (else first seen) to
    /// its revocation, the time it really spent waiting.
    pub fn revoked_waiting(&self) -> Option<f64> {
        if self.state != TaskState::Revoked || self.started_at().is_some() {
            return None;
        }
        let from = self.sent_at().or_else(|| self.record.first_time())?;
        Some((self.finished_at()? - from).max(0.0))
    }

    /// Seconds between the first `task-received` and the first `task-started`.
    pub fn start_delay(&self) -> Option<f64> {
        Some((self.started_at()? - self.received_at()?).max(0.0))
    }

    /// How often Celery retried it: the highest `retries` seen, or the retry events counted.
    pub fn retries(&self) -> u32 {
        let seen = self
            .record
            .marks
            .iter()
            .filter_map(Mark::retries)
            .max()
            .map_or(0, u32::from);
        let retried = self
            .attempts
            .iter()
            .filter(|a| a.state() == TaskState::Retry)
            .count() as u32;
        seen.max(retried)
    }

    pub fn worker(&self) -> Option<Sym> {
        self.deciding_attempt().and_then(Attempt::host)
    }

    /// The terminal mark of the deciding attempt, if any.
    pub fn terminal(&self) -> Option<&'s Mark> {
        self.deciding_attempt().and_then(|a| a.finished)
    }

    pub fn result(&self) -> Option<&'s str> {
        let m = self.terminal().filter(|m| m.kind == MarkKind::Succeeded)?;
        self.db.detail(m)?.text.as_deref()
    }

    /// The exception of the final failure, or of the last retry while retrying.
    pub fn exception(&self) -> Option<&'s str> {
        let m = self
            .terminal()
            .filter(|m| matches!(m.kind, MarkKind::Failed | MarkKind::Retried))?;
        self.db.detail(m)?.text.as_deref()
    }

    pub fn traceback(&self) -> Option<&'s str> {
        let m = self
            .terminal()
            .filter(|m| matches!(m.kind, MarkKind::Failed | MarkKind::Retried))?;
        self.db.detail(m)?.traceback()
    }

    /// ETA / expiry of the newest message that had one.
    pub fn eta(&self) -> Option<&'s str> {
        self.record
            .marks
            .iter()
            .rev()
            .find_map(|m| self.db.detail(m)?.eta())
    }

    pub fn expires(&self) -> Option<&'s str> {
        self.record
            .marks
            .iter()
            .rev()
            .find_map(|m| self.db.detail(m)?.expires())
    }

    /// Every custom event of the task, in time order.
    pub fn progress(&self) -> Vec<&'s Mark> {
        let mut all: Vec<&Mark> = self
            .record
            .marks
            .iter()
            .filter(|m| m.kind == MarkKind::Custom)
            .collect();
        all.sort_by(|a, b| self.db.mark_order(a, b));
        all
    }

    /// The most recent moment anything happened to the task.
    pub fn last_time(&self) -> Option<f64> {
        self.record.marks.last().map(|m| m.time)
    }
}

/// Index of the newest attempt on `host` that satisfies `pred`.
fn newest<'s>(
    attempts: &[Attempt<'s>],
    host: Sym,
    pred: impl Fn(&Attempt<'s>) -> bool,
) -> Option<usize> {
    attempts
        .iter()
        .rposition(|a| a.host() == Some(host) && pred(a))
}

fn finish<'s>(state: &'s State, attempts: &mut Vec<Attempt<'s>>, slot: Option<usize>, m: &'s Mark) {
    if let Some(i) = slot {
        attempts[i].finished = Some(m);
        return;
    }
    // No open attempt: a repeat of the terminal event that closed the newest one, or an
    // attempt we only know the end of (revoked while queued, NotRegistered).
    if let Some(i) = newest(attempts, state.host(m), |_| true)
        && attempts[i].finished.is_some_and(|f| f.kind == m.kind)
    {
        attempts[i].duplicates += 1;
        return;
    }
    attempts.push(Attempt {
        finished: Some(m),
        ..Attempt::empty(state)
    });
}

/// Celery's precedence, simplified to what events can show: the newest attempt decides,
/// except that a task that finished for good is never demoted by a later delivery that did
/// not finish (a late or duplicate `task-received`).
fn final_state(attempts: &[Attempt<'_>], unmatched_sends: &[&Mark]) -> TaskState {
    let Some(last) = attempts.last() else {
        return TaskState::Pending;
    };
    let last_state = last.state();
    if last_state.is_ready() {
        return last_state;
    }
    if let Some(ready) = attempts
        .iter()
        .rev()
        .map(Attempt::state)
        .find(|s| s.is_ready())
    {
        return ready;
    }
    // A retry was scheduled and its message was sent, but no worker has taken it yet.
    if last_state == TaskState::Retry
        && unmatched_sends
            .iter()
            .any(|s| s.time >= last.begin().unwrap_or(0.0))
    {
        return TaskState::Retry;
    }
    last_state
}
