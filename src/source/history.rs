//! What a broker keeps of the past: a Redis Stream kept by `celtrace record`, or a RabbitMQ
//! stream queue bound to `celeryev`. Commands read the past through [`History`] whatever the
//! broker: a state for a time range, the raw lines (`export`), the newest lines (`tail -n`),
//! or one task's workflow through the index (a Redis Stream's, or the one `record --index`
//! keeps beside a stream queue).

use std::io::Read;
use std::sync::Arc;

use super::amqp::{Amqp, AmqpError, Start};
use super::broker::{Broker, BrokerError};
use super::file::{LineFilter, LoadReport, load_reader_into};
use super::record::RecordError;
use super::recorded::{LoadError, Recorded, overlapping_gaps};
use crate::scrub::Policy;
use crate::state::State;

/// How far past `--at` a read goes, in seconds: room for delivery delay, clock skew between
/// hosts and events of several workers arriving a little out of order. What it brings that is
/// after `--at` is left out of the state.
pub const AT_SLACK: f64 = 2.0;

/// Where the recording is kept on each broker.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The Redis Stream key.
    pub stream_key: &'a str,
    /// The RabbitMQ stream queue.
    pub queue: &'a str,
}

/// A broker's recorded history.
pub enum History {
    Stream(Box<Recorded>),
    Queue {
        amqp: Amqp,
        queue: String,
        scrub: Arc<Policy>,
        /// `--at`: the read stops soon after it, and the state leaves out what is after it.
        cutoff: Option<f64>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Nothing is recorded where the names point.
    #[error("nothing is recorded at {url} (`{key}` {why})")]
    Missing {
        url: String,
        key: String,
        why: &'static str,
    },
}

impl From<AmqpError> for HistoryError {
    fn from(e: AmqpError) -> Self {
        Self::Broker(e.into())
    }
}

impl From<super::redis::RedisError> for HistoryError {
    fn from(e: super::redis::RedisError) -> Self {
        Self::Broker(e.into())
    }
}

impl Broker {
    /// The recorded history; events loaded from it are scrubbed by `scrub`. A missing Redis
    /// Stream is an error here; a missing stream queue when it is read.
    /// `cutoff` (`--at`) leaves out, and where the store allows does not read, what is after
    /// it.
    pub fn history(
        &self,
        names: Names<'_>,
        scrub: Arc<Policy>,
        cutoff: Option<f64>,
    ) -> Result<History, HistoryError> {
        match self {
            Self::Redis(redis) => {
                let mut recorded =
                    Recorded::open(redis.clone(), names.stream_key)?.ok_or_else(|| {
                        HistoryError::Missing {
                            url: redis.label.clone(),
                            key: names.stream_key.to_string(),
                            why: "is missing or empty",
                        }
                    })?;
                recorded.scrub = scrub;
                recorded.cutoff = cutoff;
                Ok(History::Stream(Box::new(recorded)))
            }
            Self::Amqp(amqp) => Ok(History::Queue {
                amqp: amqp.clone(),
                queue: names.queue.to_string(),
                scrub,
                cutoff,
            }),
        }
    }
}

/// A read's error, a missing stream queue said as nothing recorded there.
fn queue_error(amqp: &Amqp, queue: &str, e: AmqpError) -> HistoryError {
    match e {
        AmqpError::NoQueue { .. } => HistoryError::Missing {
            url: amqp.label.clone(),
            key: queue.to_string(),
            why: "does not exist or is empty",
        },
        e => e.into(),
    }
}

/// Where a stream queue read comes from, and how it is read (diagnostics' `source`).
fn queue_label(amqp: &Amqp, queue: &str, reader: &super::amqp::AmqpReader) -> String {
    format!(
        "{} (stream queue {queue}, read by {})",
        amqp.label,
        reader.transport.describe()
    )
}

impl History {
    /// A read of the stream queue from `since` (chunk-granular) to its end now.
    /// `ordered: false` lets a long read come in two halves at once (a state's fold does not
    /// care about order; an export does).
    fn queue_reader(
        amqp: &Amqp,
        queue: &str,
        start: Start,
        end: Option<f64>,
        ordered: bool,
    ) -> Result<super::amqp::AmqpReader, HistoryError> {
        let reader = if ordered {
            amqp.reader_until(queue, start, end)
        } else {
            amqp.unordered_reader_until(queue, start, end)
        };
        reader.map_err(|e| queue_error(amqp, queue, e))
    }

    /// The recording's lines between two times (a stream queue is read from `since` to its
    /// end: the caller filters by time), and the label of where they come from.
    pub fn lines(
        self,
        since: Option<f64>,
        until: Option<f64>,
        progress: &indicatif::ProgressBar,
    ) -> Result<(Box<dyn Read + Send>, String), HistoryError> {
        match self {
            Self::Stream(recorded) => {
                let label = recorded.label();
                Ok((Box::new(recorded.reader(since, until, progress)), label))
            }
            Self::Queue { amqp, queue, .. } => {
                let start = since.map_or(Start::First, Start::Time);
                let reader = Self::queue_reader(&amqp, &queue, start, until, true)?;
                let label = queue_label(&amqp, &queue, &reader);
                Ok((Box::new(reader.with_progress(progress.clone())), label))
            }
        }
    }

    /// A state of what was recorded between two times (epoch seconds) whose task events
    /// `filter` keeps, with the recording's gaps over that range. `now` extends the state's
    /// time when the recording is complete up to now (a running recorder, or RabbitMQ, which
    /// records all the time), so a worker gone quiet is judged at now.
    pub fn load(
        self,
        since: Option<f64>,
        until: Option<f64>,
        filter: Option<&LineFilter>,
        now: f64,
        progress: &indicatif::ProgressBar,
    ) -> Result<(State, LoadReport), HistoryError> {
        match self {
            Self::Stream(mut recorded) => {
                let newest = recorded.bounds.last.0 as f64 / 1000.0;
                let (records, running) = recorded.gaps()?;
                let (mut state, mut report) =
                    recorded.load_range(since, until, filter, progress)?;
                report.gaps = overlapping_gaps(&records, running, newest, since, until);
                if running && until.is_none() {
                    state.observe_time(now);
                }
                Ok((state, report))
            }
            Self::Queue {
                amqp,
                queue,
                scrub,
                cutoff,
            } => {
                let start = since.map_or(Start::First, Start::Time);
                // `until` already has the slack past `--at` (`Ctx::load`).
                let end = until;
                let reader = Self::queue_reader(&amqp, &queue, start, end, false)?;
                let label = queue_label(&amqp, &queue, &reader);
                let mut state = State::scrubbed_by(scrub).with_cutoff(cutoff);
                let reader = Box::new(reader.with_progress(progress.clone()));
                let report = load_reader_into(reader, &label, &mut state, filter)?;
                if until.is_none() && cutoff.is_none() {
                    state.observe_time(now);
                }
                Ok((state, report))
            }
        }
    }

    /// Reads of the stream queue newest first, further back step by step; `None` for a
    /// Redis Stream, whose index finds a flow without reading back.
    pub fn backward(self, until: Option<f64>, now: f64) -> Option<Backward> {
        let Self::Queue {
            amqp,
            queue,
            scrub,
            cutoff,
        } = self
        else {
            return None;
        };
        Some(Backward {
            observe_now: (until.is_none() && cutoff.is_none()).then_some(now),
            state: State::scrubbed_by(scrub).with_cutoff(cutoff),
            report: LoadReport::default(),
            amqp,
            queue,
            until,
            reached: None,
            complete: false,
        })
    }

    /// The workflow of the task `typed` names, through the recording's index; `None` where
    /// there is none that covers the recording (a stream queue without `record --index`, or
    /// `--at` on one: `show` then reads it newest first, step by step).
    pub fn load_flow(
        self,
        typed: &str,
        now: f64,
    ) -> Result<Option<(State, LoadReport)>, HistoryError> {
        let mut recorded = match self {
            Self::Stream(recorded) => recorded,
            Self::Queue {
                amqp,
                queue,
                scrub,
                cutoff: None,
            } => return super::queue_flow::load(&amqp, &queue, scrub, typed, now),
            Self::Queue { .. } => return Ok(None),
        };
        let newest = recorded.bounds.last.0 as f64 / 1000.0;
        let (records, running) = recorded.gaps()?;
        let cutoff = recorded.cutoff;
        let (mut state, mut report) = recorded.load_flow(typed)?;
        if running {
            state.observe_time(cutoff.map_or(now, |c| c.min(now)));
        }
        let span = state.tasks().filter_map(|t| t.first_time()).fold(
            None,
            |acc: Option<(f64, f64)>, t| {
                Some(acc.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
            },
        );
        if let Some((lo, hi)) = span {
            report.gaps = overlapping_gaps(&records, running, newest, Some(lo), Some(hi));
        }
        Ok(Some((state, report)))
    }

    /// The newest recorded lines, oldest first, read back until `enough` says so (given the
    /// lines read so far) or about `most` were read.
    pub fn newest_lines(
        self,
        most: usize,
        enough: &mut dyn FnMut(&[String]) -> bool,
    ) -> Result<Vec<String>, HistoryError> {
        match self {
            Self::Stream(recorded) => Ok(recorded.newest_lines(most, enough)?),
            Self::Queue { amqp, queue, .. } => {
                let info = match amqp.stream_info(&queue) {
                    Ok(Some(info)) => info,
                    Ok(None) | Err(AmqpError::NoQueue { .. }) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                };
                // Messages can be batches and filters hide some: read back further until
                // enough, four times as far each time.
                let mut back = 400_i64;
                loop {
                    let start = (info.last + 1 - back).max(info.first);
                    let mut reader =
                        Self::queue_reader(&amqp, &queue, Start::Offset(start), None, true)?;
                    let mut text = String::new();
                    reader.read_to_string(&mut text).map_err(|e| {
                        match e.get_ref().and_then(|e| e.downcast_ref::<AmqpError>()) {
                            Some(amqp_error) => amqp_error.clone().into(),
                            None => HistoryError::Record(RecordError::Read {
                                path: format!("{} (stream queue {queue})", amqp.label),
                                source: e,
                            }),
                        }
                    })?;
                    let lines: Vec<String> = text.lines().map(str::to_string).collect();
                    if start == info.first || enough(&lines) || back as usize > most {
                        return Ok(lines);
                    }
                    back *= 4;
                }
            }
        }
    }
}

/// Reads of a stream queue further and further back into one state (`show` on RabbitMQ,
/// which has no index): each from an earlier time up to the offset where the one before
/// began, so no message is read twice however many steps it takes.
pub struct Backward {
    amqp: Amqp,
    queue: String,
    /// Nothing after this event time is read (`--at` and its slack).
    until: Option<f64>,
    state: State,
    report: LoadReport,
    /// The first offset read so far: the next read stops short of it.
    reached: Option<i64>,
    /// A read began at the stream's first message: there is nothing further back.
    complete: bool,
    /// The state's time goes on to now (no `--at`, no end): RabbitMQ records all the time.
    observe_now: Option<f64>,
}

impl Backward {
    /// Reads from `since` (`None`: the first message) up to where the reads so far began.
    pub fn extend(
        &mut self,
        since: Option<f64>,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), HistoryError> {
        if self.complete {
            return Ok(());
        }
        let start = since.map_or(Start::First, Start::Time);
        let reader = self
            .amqp
            .unordered_reader_before(&self.queue, start, self.until, self.reached)
            .map_err(|e| queue_error(&self.amqp, &self.queue, e))?;
        let label = queue_label(&self.amqp, &self.queue, &reader);
        let first_offset = reader.first_offset();
        let stream_first = reader.info.first;
        let reader = Box::new(reader.with_progress(progress.clone()));
        let report = load_reader_into(reader, &label, &mut self.state, None)?;
        self.report.absorb(report);
        if let Some(first) = first_offset.get() {
            self.reached = Some(first);
        }
        // From the first message, or from a time before it (the read began at the first).
        self.complete = since.is_none() || self.reached.is_some_and(|r| r <= stream_first);
        Ok(())
    }

    /// The first offset read so far (`None`: nothing yet).
    pub fn reached(&self) -> Option<i64> {
        self.reached
    }

    /// The event time of the newest message the stream holds (`None` when it has none or no
    /// time): a step from a later time would read nothing, and only wait to find that out.
    pub fn newest_time(&self) -> Result<Option<f64>, HistoryError> {
        let queue = History::Queue {
            amqp: self.amqp.clone(),
            queue: self.queue.clone(),
            scrub: Arc::default(),
            cutoff: None,
        };
        let lines = queue.newest_lines(1, &mut |lines| !lines.is_empty())?;
        Ok(lines
            .last()
            .and_then(|l| super::amqp::body_time(l.as_bytes())))
    }

    /// What the reads so far hold.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether a read reached the stream's first message.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn finish(mut self) -> (State, LoadReport) {
        if let Some(now) = self.observe_now {
            self.state.observe_time(now);
        }
        (self.state, self.report)
    }
}
