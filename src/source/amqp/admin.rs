//! Administration of the stream queue that keeps the events: declaring, removing and
//! measuring it, and passive declares of Celery's queues (`queues`).

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};

use super::super::url::redact;
use super::{
    Amqp, AmqpError, DELIVERY_STALL, EMPTY_WAIT, EVENT_EXCHANGE, FIRST_WAIT, PREFETCH, PROBE_IDLE,
    StreamInfo, long_string, stream_offset,
};

impl Amqp {
    /// Declares the durable stream queue bound to `celeryev` with `#` (idempotent), and
    /// the exchange itself as Celery declares it, so history starts before the first worker.
    /// Returns `Some(reason)` when the queue already existed with other retention settings
    /// (RabbitMQ keeps a queue's arguments; a policy changes them).
    pub fn declare_stream(
        &self,
        queue: &str,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Option<String>, AmqpError> {
        self.declare_stream_queue(queue, max_age, max_bytes, true)
    }

    /// A durable stream queue with these retention settings, bound to `celeryev` with `#`
    /// when `bind` (an index queue is not: only the indexer writes to it).
    pub(super) fn declare_stream_queue(
        &self,
        queue: &str,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
        bind: bool,
    ) -> Result<Option<String>, AmqpError> {
        self.with_channel(async |conn, ch| {
            ch.exchange_declare(
                EVENT_EXCHANGE.into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), long_string("stream"));
            if let Some(age) = max_age {
                args.insert(
                    "x-max-age".into(),
                    long_string(&format!("{}s", age.as_secs().max(1))),
                );
            }
            if let Some(bytes) = max_bytes {
                args.insert(
                    "x-max-length-bytes".into(),
                    AMQPValue::LongLongInt(bytes as i64),
                );
            }
            let declared = ch
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    args,
                )
                .await;
            let mut differs = None;
            let bind_on = match declared {
                Ok(_) => ch.clone(),
                Err(e) => {
                    let reason = redact(&e.to_string());
                    if !reason.contains("PRECONDITION_FAILED") || reason.contains("x-queue-type") {
                        return Err(match self.fail(&e) {
                            AmqpError::Command { url, reason }
                                if reason.contains("PRECONDITION_FAILED") =>
                            {
                                AmqpError::NotAStream {
                                    url,
                                    queue: queue.to_string(),
                                    reason,
                                }
                            }
                            other => other,
                        });
                    }
                    // The stream queue exists with other retention: keep it as it is.
                    differs = Some(reason);
                    conn.create_channel().await.map_err(|e| self.fail(&e))?
                }
            };
            if !bind {
                return Ok(differs);
            }
            bind_on
                .queue_bind(
                    queue.into(),
                    EVENT_EXCHANGE.into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.fail(&e))?;
            Ok(differs)
        })
    }

    /// Deletes the stream queue and everything in it.
    pub fn remove_stream(&self, queue: &str) -> Result<(), AmqpError> {
        self.with_channel(async |_, ch| {
            ch.queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| self.fail(&e))?;
            Ok(())
        })
    }

    /// First and last offset of the stream queue now; `None` when it is empty.
    ///
    /// Empty is what the queue's own count says, never a guess from a wait: on a stream of
    /// small chunks (events published one at a time) a busy broker may take seconds to send
    /// the first message, and a probe that gave up early would call a full stream empty.
    pub fn stream_info(&self, queue: &str) -> Result<Option<StreamInfo>, AmqpError> {
        self.with_channel(async |conn, ch| {
            let count = self.check_queue(conn, queue).await?;
            let wait = if count > 0 {
                DELIVERY_STALL
            } else {
                EMPTY_WAIT
            };
            let first = Probe {
                offset: long_string("first"),
                name: "first",
                prefetch: 1,
                first_wait: wait,
                idle: Duration::ZERO,
            };
            // The last chunk comes whole: as many in flight as a read has.
            let last = Probe {
                offset: long_string("last"),
                name: "last",
                prefetch: PREFETCH,
                first_wait: wait,
                idle: PROBE_IDLE,
            };
            let first = self.probe(ch, queue, first).await?;
            let last = self.probe(ch, queue, last).await?;
            match first.zip(last) {
                Some(((first, _), (_, last))) => Ok(Some(StreamInfo { first, last })),
                None if count > 0 => Err(AmqpError::Command {
                    url: self.label.clone(),
                    reason: format!(
                        "`{queue}` holds {count} messages but none was delivered within {}s",
                        DELIVERY_STALL.as_secs()
                    ),
                }),
                None => Ok(None),
            }
        })
    }

    /// The offset of the first message at or after `time` (seconds), or `None` when nothing
    /// was recorded since: RabbitMQ then waits for more, so nothing within [`FIRST_WAIT`] is
    /// the answer. One message in flight: with more, the broker reads that many chunks
    /// before it sends the first, which on a stream of small chunks takes longer than the wait.
    pub(super) async fn offset_at_time(
        &self,
        ch: &Channel,
        queue: &str,
        time: f64,
    ) -> Result<Option<i64>, AmqpError> {
        let probe = Probe {
            offset: AMQPValue::Timestamp(time.max(0.0) as u64),
            name: "time",
            prefetch: 1,
            first_wait: FIRST_WAIT,
            idle: Duration::ZERO,
        };
        Ok(self.probe(ch, queue, probe).await?.map(|(first, _)| first))
    }

    /// `(ready messages, consumers)` of each queue, `None` for a missing one: one passive
    /// declare per queue, each on a channel of its own (a missing queue closes its channel).
    pub fn passive_declares(&self, names: &[String]) -> Result<Vec<Option<(u64, u64)>>, AmqpError> {
        self.with_channel(async |conn, _| {
            let mut out = Vec::new();
            for name in names {
                let ch = conn.create_channel().await.map_err(|e| self.fail(&e))?;
                match ch
                    .queue_declare(
                        name.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                {
                    Ok(q) => {
                        out.push(Some((
                            u64::from(q.message_count()),
                            u64::from(q.consumer_count()),
                        )));
                        let _ = ch.close(200, "ok".into()).await;
                    }
                    Err(e) if e.to_string().contains("NOT_FOUND") => out.push(None),
                    Err(e) => return Err(self.fail(&e)),
                }
            }
            Ok(out)
        })
    }

    /// A passive declare on a channel of its own (a missing queue closes the channel); the
    /// messages a stream queue holds.
    async fn check_queue(&self, conn: &Connection, queue: &str) -> Result<u32, AmqpError> {
        let ch = conn.create_channel().await.map_err(|e| self.fail(&e))?;
        match ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(q) => {
                let _ = ch.close(200, "ok".into()).await;
                Ok(q.message_count())
            }
            Err(e) if e.to_string().contains("NOT_FOUND") => Err(AmqpError::NoQueue {
                url: self.label.clone(),
                queue: queue.to_string(),
            }),
            Err(e) => Err(self.fail(&e)),
        }
    }

    /// The lowest and highest offset delivered from the probe's offset (just the first
    /// message, or until `idle` passes without a delivery), `None` when nothing came within
    /// its `first_wait`.
    async fn probe(
        &self,
        ch: &Channel,
        queue: &str,
        probe: Probe,
    ) -> Result<Option<(i64, i64)>, AmqpError> {
        ch.basic_qos(probe.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| self.fail(&e))?;
        let mut args = FieldTable::default();
        args.insert("x-stream-offset".into(), probe.offset);
        let tag = format!("celtrace-probe-{}", probe.name);
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                args,
            )
            .await
            .map_err(|e| self.fail(&e))?;
        let mut range: Option<(i64, i64)> = None;
        let mut wait = probe.first_wait;
        loop {
            let Ok(next) = tokio::time::timeout(wait, consumer.next()).await else {
                break;
            };
            let Some(Ok(delivery)) = next else { break };
            let offset = stream_offset(&delivery);
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            if let Some(o) = offset {
                range = Some(range.map_or((o, o), |(lo, hi)| (lo.min(o), hi.max(o))));
            }
            if probe.idle.is_zero() {
                break;
            }
            wait = probe.idle;
        }
        let _ = ch
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        Ok(range)
    }
}

/// A consumer that only looks where a stream begins, ends, or reaches a time.
struct Probe {
    offset: AMQPValue,
    /// For the consumer's tag.
    name: &'static str,
    /// Messages in flight (the broker reads this many chunks ahead before the first).
    prefetch: u16,
    /// How long the first delivery may take.
    first_wait: Duration,
    /// After the first, how long without a delivery ends the probe (zero: one is enough).
    idle: Duration,
}
