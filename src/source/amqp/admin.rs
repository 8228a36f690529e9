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
    Amqp, AmqpError, EVENT_EXCHANGE, PREFETCH, PROBE_IDLE, StreamInfo, long_string, stream_offset,
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
    pub fn stream_info(&self, queue: &str) -> Result<Option<StreamInfo>, AmqpError> {
        self.with_channel(async |conn, ch| {
            self.check_queue(conn, queue).await?;
            let first = self.probe(ch, queue, "first", Duration::ZERO).await?;
            let last = self.probe(ch, queue, "last", PROBE_IDLE).await?;
            Ok(first
                .zip(last)
                .map(|((first, _), (_, last))| StreamInfo { first, last }))
        })
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

    /// A passive declare on a channel of its own (a missing queue closes the channel).
    async fn check_queue(&self, conn: &Connection, queue: &str) -> Result<(), AmqpError> {
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
            Ok(_) => {
                let _ = ch.close(200, "ok".into()).await;
                Ok(())
            }
            Err(e) if e.to_string().contains("NOT_FOUND") => Err(AmqpError::NoQueue {
                url: self.label.clone(),
                queue: queue.to_string(),
            }),
            Err(e) => Err(self.fail(&e)),
        }
    }

    /// The lowest and highest offset delivered from `spec` (`first`: just the first message;
    /// `last`: the last chunk, until `idle` passes without a delivery).
    async fn probe(
        &self,
        ch: &Channel,
        queue: &str,
        spec: &str,
        idle: Duration,
    ) -> Result<Option<(i64, i64)>, AmqpError> {
        ch.basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .map_err(|e| self.fail(&e))?;
        let mut args = FieldTable::default();
        args.insert("x-stream-offset".into(), long_string(spec));
        let tag = format!("celtrace-probe-{spec}");
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
        // An empty stream delivers nothing: give the first delivery a moment longer.
        let mut wait = Duration::from_millis(500).max(idle);
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
            if idle.is_zero() {
                break;
            }
            wait = idle;
        }
        let _ = ch
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        Ok(range)
    }
}
