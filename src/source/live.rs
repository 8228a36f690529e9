//! Live events from either broker as recording lines, for commands that wait on them
//! (`show --wait`, `graph --wait`): a subscriber thread, lines handed over as they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::amqp::AmqpError;
use super::broker::Broker;
use super::pubsub::{ChannelOptions, Feed};
use super::redis::RedisError;
use crate::model::split::split_message;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Amqp(#[from] AmqpError),
}

/// A running subscription; stopped when dropped.
pub struct Live {
    rx: Receiver<Feed>,
    stop: Arc<AtomicBool>,
}

impl Live {
    /// Subscribes and returns once the subscription is in place (events from then on are
    /// seen), or with the broker's error.
    pub fn start(broker: Broker, channels: ChannelOptions) -> Result<Self, LiveError> {
        let label = broker.label().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<Feed>(100_000);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread_stop = Arc::clone(&stop);
        std::thread::spawn(move || broker.feed(&channels, &tx, ready_tx, &thread_stop));
        let live = Self { rx, stop };
        loop {
            match live.rx.try_recv() {
                Ok(Feed::Failed(e)) => return Err(e.into()),
                Ok(Feed::AmqpFailed(e)) => return Err(e.into()),
                _ => {}
            }
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return Ok(live),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The thread ended without being ready: its error is in the feed.
                    return match live.rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(Feed::Failed(e)) => Err(e.into()),
                        Ok(Feed::AmqpFailed(e)) => Err(e.into()),
                        _ => Err(LiveError::Amqp(AmqpError::Command {
                            url: label,
                            reason: "the subscription ended".to_string(),
                        })),
                    };
                }
            }
        }
    }

    /// The recording lines of the events that arrive before `until` (at least one wait of
    /// up to that long; then whatever else is already there). Empty at the deadline.
    pub fn lines_until(&self, until: Instant) -> Result<Vec<String>, LiveError> {
        let mut out = Vec::new();
        let wait = until.saturating_duration_since(Instant::now());
        let Ok(first) = self.rx.recv_timeout(wait) else {
            return Ok(out);
        };
        for feed in std::iter::once(first).chain(std::iter::from_fn(|| self.rx.try_recv().ok())) {
            match feed {
                Feed::Message {
                    payload, received, ..
                } => {
                    let text = String::from_utf8_lossy(&payload);
                    out.extend(split_message(&text, received).0.into_iter().map(|l| l.json));
                }
                Feed::Failed(e) => return Err(e.into()),
                Feed::AmqpFailed(e) => return Err(e.into()),
                Feed::Lost { .. } | Feed::Back { .. } => {}
            }
        }
        Ok(out)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
