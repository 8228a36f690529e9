//! Live events (`tail`, `--wait`): an own exclusive queue bound to `celeryev`, followed until
//! told to stop, resuming after the broker closes the connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use super::super::pubsub::Feed;
use super::{Amqp, AmqpError, EVENT_EXCHANGE};

impl Amqp {
    /// Live events for `tail`: an own exclusive, auto-delete queue bound to `celeryev` with
    /// `#` (never Celery's 5-second TTL). Calls `on_message(routing key, body)` until it
    /// returns false or `stop` says so.
    ///
    /// Returns `Ok` when stopped or told to, and an error when the connection ends any
    /// other way (the broker closing it included): the caller decides whether to resume.
    pub fn follow(
        &self,
        on_ready: &mut dyn FnMut(),
        stop: &std::sync::atomic::AtomicBool,
        on_message: &mut dyn FnMut(&str, &[u8]) -> bool,
    ) -> Result<(), AmqpError> {
        self.with_channel(async |_, ch| {
            let q = ch
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.fail(&e))?;
            ch.queue_bind(
                q.name().clone(),
                EVENT_EXCHANGE.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| match self.fail(&e) {
                AmqpError::Command { url, reason } if reason.contains("NOT_FOUND") => {
                    AmqpError::NoExchange {
                        url,
                        exchange: EVENT_EXCHANGE.to_string(),
                    }
                }
                other => other,
            })?;
            let mut consumer = ch
                .basic_consume(
                    q.name().clone(),
                    "celtrace-tail".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.fail(&e))?;
            on_ready();
            loop {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(next) =
                    tokio::time::timeout(Duration::from_millis(200), consumer.next()).await
                else {
                    continue;
                };
                let Some(delivery) = next else {
                    return Err(AmqpError::Closed {
                        url: self.label.clone(),
                        reason: "the consumer was cancelled".to_string(),
                    });
                };
                let delivery = delivery.map_err(|e| self.fail(&e))?;
                if !on_message(delivery.routing_key.as_str(), &delivery.data) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Follows the live events over AMQP and, once it has followed them, resumes after the
    /// broker closes the connection (an operator, a restart): the lost stretch is reported as
    /// [`Feed::Lost`] and [`Feed::Back`]. A failure before the first subscription is final.
    pub fn follow_feed(&self, tx: &SyncSender<Feed>, ready: SyncSender<()>, stop: &AtomicBool) {
        let mut send = |_: &str, body: &[u8]| {
            tx.send(Feed::Message {
                channel: String::new(),
                payload: body.to_vec(),
                received: crate::clock::wall_secs(),
                backend: false,
            })
            .is_ok()
        };
        let mut ready = Some(ready);
        let mut lost_at: Option<f64> = None;
        let mut backoff = Duration::from_millis(100);
        while !stop.load(Ordering::Relaxed) {
            let mut on_ready = || {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                if let Some(since) = lost_at.take() {
                    let _ = tx.send(Feed::Back {
                        since,
                        at: crate::clock::wall_secs(),
                        lagged: false,
                    });
                }
            };
            let outcome = self.follow(&mut on_ready, stop, &mut send);
            let Err(e) = outcome else { return };
            if ready.is_some() {
                let _ = tx.send(Feed::AmqpFailed(e));
                return;
            }
            if lost_at.is_none() {
                lost_at = Some(crate::clock::wall_secs());
                let _ = tx.send(Feed::Lost {
                    at: crate::clock::wall_secs(),
                    reason: e.to_string(),
                });
                backoff = Duration::from_millis(100);
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
