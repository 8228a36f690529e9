//! RabbitMQ over AMQP 0.9.1 (lapin): the stream queue that keeps Celery's events by itself
//! (docs/protocol.md §2.3), reading it back, and live events for `tail`.
//!
//! Stream queues close the whole connection on `basic.get`, automatic acks, `nack` and
//! `reject` (trap 17): readers set `basic.qos`, consume with manual acks, and only ever ack
//! or cancel. A read stops at the offset that was the stream's last when it began.
//!
//! lapin is async; this module owns a current-thread tokio runtime per call, so the rest of
//! celtrace stays synchronous.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties};

use super::url::{BrokerKind, BrokerUrl, redact};

pub const DEFAULT_QUEUE: &str = "celtrace.events";
pub const EVENT_EXCHANGE: &str = "celeryev";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries in flight per read (acks only free credit on a stream).
const PREFETCH: u16 = 2000;
/// How long the probe for the stream's last offset waits for more of the last chunk.
const PROBE_IDLE: Duration = Duration::from_millis(200);
/// Lines per block handed from the consumer thread to the reader.
const BLOCK: usize = 1000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AmqpError {
    #[error("cannot reach RabbitMQ at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("RabbitMQ at {url} refused the credentials: {reason}")]
    Refused { url: String, reason: String },
    #[error("RabbitMQ at {url} has no virtual host `{vhost}`")]
    NoVhost { url: String, vhost: String },
    #[error(
        "RabbitMQ at {url} has no `{exchange}` exchange: no Celery worker has run with events on this virtual host yet"
    )]
    NoExchange { url: String, exchange: String },
    #[error("RabbitMQ at {url} has no stream queue `{queue}`")]
    NoQueue { url: String, queue: String },
    #[error("`{queue}` on {url} is not a stream queue ({reason})")]
    NotAStream {
        url: String,
        queue: String,
        reason: String,
    },
    #[error("RabbitMQ at {url} answered with an error: {reason}")]
    Command { url: String, reason: String },
    #[error("RabbitMQ at {url} closed the connection: {reason}")]
    Closed { url: String, reason: String },
}

/// What the stream queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    pub first: i64,
    pub last: i64,
}

impl StreamInfo {
    pub fn messages(&self) -> u64 {
        (self.last - self.first + 1).max(0) as u64
    }
}

/// Where a read of the stream queue begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    First,
    /// Epoch seconds; RabbitMQ starts at the chunk holding that time, so a little earlier.
    Time(f64),
    Offset(i64),
}

/// One broker, reached over AMQP.
#[derive(Clone)]
pub struct Amqp {
    url: BrokerUrl,
    pub label: String,
    pub vhost: String,
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

impl Amqp {
    pub fn new(url: &BrokerUrl) -> Self {
        let raw = client_url(url);
        let vhost = vhost_of(&raw);
        Self {
            url: url.clone(),
            label: url.redacted(),
            vhost,
        }
    }

    /// Runs `f` on a fresh current-thread runtime with a connection and a channel.
    fn with_channel<T>(
        &self,
        f: impl AsyncFnOnce(&Connection, &Channel) -> Result<T, AmqpError>,
    ) -> Result<T, AmqpError> {
        let rt = runtime().map_err(|e| AmqpError::Unreachable {
            url: self.label.clone(),
            reason: e.to_string(),
        })?;
        rt.block_on(async {
            let conn = self.connect().await?;
            let channel = conn.create_channel().await.map_err(|e| self.fail(&e))?;
            let out = f(&conn, &channel).await;
            let _ = conn.close(200, "bye".into()).await;
            out
        })
    }

    async fn connect(&self) -> Result<Connection, AmqpError> {
        let uri = client_url(&self.url);
        let props = ConnectionProperties::default().with_connection_name("celtrace".into());
        match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&uri, props)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.fail(&e)),
            Err(_) => Err(AmqpError::Unreachable {
                url: self.label.clone(),
                reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            }),
        }
    }

    /// Classifies a client error; never echoes the password.
    pub fn fail(&self, e: &lapin::Error) -> AmqpError {
        let reason = redact(&e.to_string());
        let url = self.label.clone();
        let upper = reason.to_ascii_uppercase();
        if upper.contains("ACCESS_REFUSED") || upper.contains("AUTH") && upper.contains("REFUSED") {
            AmqpError::Refused { url, reason }
        } else if upper.contains("NOT_ALLOWED") && upper.contains("VHOST") {
            AmqpError::NoVhost {
                url,
                vhost: self.vhost.clone(),
            }
        } else if upper.contains("CONNECTION_FORCED")
            || upper.contains("CONNECTION-FORCED")
            || matches!(e.kind(), lapin::ErrorKind::InvalidConnectionState(_))
        {
            // An operator (`rabbitmqctl close_connection`), a broker shutdown or a policy.
            AmqpError::Closed { url, reason }
        } else if matches!(e.kind(), lapin::ErrorKind::IOError(_))
            || upper.contains("CONNECTION REFUSED")
            || upper.contains("INVALID PEER CERTIFICATE")
        {
            AmqpError::Unreachable { url, reason }
        } else {
            AmqpError::Command { url, reason }
        }
    }

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

    /// Reads the stream queue from `start` (`first`, or a time in epoch seconds: chunk
    /// granular, so earlier events come too) to the offset that was last when the read
    /// began. Bodies become recording lines.
    pub fn reader(&self, queue: &str, start: Start) -> Result<AmqpReader, AmqpError> {
        let Some(info) = self.stream_info(queue)? else {
            return Err(AmqpError::NoQueue {
                url: self.label.clone(),
                queue: queue.to_string(),
            });
        };
        let (tx, rx) = sync_channel::<Result<Vec<u8>, AmqpError>>(8);
        let this = self.clone();
        let queue = queue.to_string();
        std::thread::spawn(move || {
            let result = this.consume_into(&queue, start, info.last, &tx);
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        });
        Ok(AmqpReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            info,
            progress: indicatif::ProgressBar::hidden(),
            done: false,
        })
    }

    fn consume_into(
        &self,
        queue: &str,
        start: Start,
        last: i64,
        tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
    ) -> Result<(), AmqpError> {
        self.with_channel(async |_, ch| {
            ch.basic_qos(PREFETCH, BasicQosOptions::default())
                .await
                .map_err(|e| self.fail(&e))?;
            let mut args = FieldTable::default();
            let start = match start {
                Start::Time(t) => AMQPValue::Timestamp(t.max(0.0) as u64),
                Start::Offset(o) => AMQPValue::LongLongInt(o),
                Start::First => long_string("first"),
            };
            args.insert("x-stream-offset".into(), start);
            let mut consumer = ch
                .basic_consume(
                    queue.into(),
                    "celtrace-read".into(),
                    BasicConsumeOptions::default(),
                    args,
                )
                .await
                .map_err(|e| self.fail(&e))?;
            let mut block = Vec::with_capacity(BLOCK * 600);
            let mut lines = 0;
            let mut unacked = 0;
            while let Some(delivery) = consumer.next().await {
                let delivery = delivery.map_err(|e| self.fail(&e))?;
                let offset = stream_offset(&delivery);
                if offset.is_some_and(|o| o > last) {
                    break;
                }
                push_line(&mut block, &delivery.data);
                lines += 1;
                unacked += 1;
                if unacked >= usize::from(PREFETCH / 2) {
                    let _ = delivery.acker.ack(BasicAckOptions { multiple: true }).await;
                    unacked = 0;
                }
                if lines >= BLOCK {
                    if tx.send(Ok(std::mem::take(&mut block))).is_err() {
                        break;
                    }
                    lines = 0;
                }
                if offset.is_none_or(|o| o >= last) {
                    break;
                }
            }
            if !block.is_empty() {
                let _ = tx.send(Ok(block));
            }
            // Cancel, never reject: a nack or reject closes the connection (trap 17).
            let _ = ch
                .basic_cancel("celtrace-read".into(), BasicCancelOptions::default())
                .await;
            Ok(())
        })
    }

    /// Publishes pidbox requests to the `celery.pidbox` fanout with replies routed to an own
    /// exclusive queue bound to `reply.celery.pidbox` with `reply_key` (docs/protocol.md §5.3), and
    /// collects `(ticket header, body)` of the replies until `timeout`.
    pub fn broadcast_and_collect(
        &self,
        reply_key: &str,
        bodies: &[serde_json::Value],
        timeout: Duration,
    ) -> Result<Vec<(Option<String>, String)>, AmqpError> {
        use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
        self.with_channel(async |_, ch| {
            // The same flags Celery's workers declare them with (a difference would be refused).
            ch.exchange_declare(
                crate::model::control::PIDBOX_EXCHANGE.into(),
                lapin::ExchangeKind::Fanout,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            ch.exchange_declare(
                crate::model::control::REPLY_EXCHANGE.into(),
                lapin::ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            let queue = format!("{reply_key}.reply.celery.pidbox");
            let mut args = FieldTable::default();
            args.insert("x-expires".into(), AMQPValue::LongInt(10_000));
            args.insert("x-message-ttl".into(), AMQPValue::LongInt(300_000));
            ch.queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .map_err(|e| self.fail(&e))?;
            ch.queue_bind(
                queue.as_str().into(),
                crate::model::control::REPLY_EXCHANGE.into(),
                reply_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.fail(&e))?;
            let mut consumer = ch
                .basic_consume(
                    queue.as_str().into(),
                    "celtrace-inspect".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.fail(&e))?;
            let expires = crate::clock::wall_secs() + timeout.as_secs_f64();
            for (i, body) in bodies.iter().enumerate() {
                let mut headers = FieldTable::default();
                headers.insert("clock".into(), AMQPValue::LongLongInt(i as i64 + 1));
                headers.insert("expires".into(), AMQPValue::Double(expires));
                let props = lapin::BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_content_encoding("utf-8".into())
                    .with_delivery_mode(2)
                    .with_priority(0)
                    .with_headers(headers);
                ch.basic_publish(
                    crate::model::control::PIDBOX_EXCHANGE.into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    body.to_string().as_bytes(),
                    props,
                )
                .await
                .map_err(|e| self.fail(&e))?;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let mut out = Vec::new();
            while let Ok(Some(Ok(d))) = tokio::time::timeout_at(deadline, consumer.next()).await {
                let ticket =
                    d.properties
                        .headers()
                        .as_ref()
                        .and_then(|h| match h.inner().get("ticket") {
                            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                            Some(AMQPValue::ShortString(s)) => Some(s.to_string()),
                            _ => None,
                        });
                out.push((ticket, String::from_utf8_lossy(&d.data).into_owned()));
            }
            Ok(out)
        })
    }

    /// Puts a task message on its queue: the default exchange, routing key = queue name.
    pub fn publish_task(&self, msg: &crate::model::control::TaskMessage) -> Result<(), AmqpError> {
        use lapin::options::BasicPublishOptions;
        self.with_channel(async |_, ch| {
            let headers = match json_to_amqp(&msg.headers()) {
                AMQPValue::FieldTable(t) => t,
                _ => FieldTable::default(),
            };
            let props = lapin::BasicProperties::default()
                .with_content_type("application/json".into())
                .with_content_encoding("utf-8".into())
                .with_delivery_mode(2)
                .with_priority(0)
                .with_correlation_id(msg.id.as_str().into())
                .with_reply_to("".into())
                .with_headers(headers);
            let confirm = ch
                .basic_publish(
                    "".into(),
                    msg.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    msg.body().to_string().as_bytes(),
                    props,
                )
                .await
                .map_err(|e| self.fail(&e))?;
            let _ = confirm.await;
            Ok(())
        })
    }

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
}

/// JSON as an AMQP field value (task message headers are an AMQP table).
pub fn json_to_amqp(v: &serde_json::Value) -> AMQPValue {
    use serde_json::Value;
    match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => long_string(s),
        Value::Array(items) => {
            AMQPValue::FieldArray(items.iter().map(json_to_amqp).collect::<Vec<_>>().into())
        }
        Value::Object(map) => {
            let mut t = FieldTable::default();
            for (k, v) in map {
                t.insert(k.as_str().into(), json_to_amqp(v));
            }
            AMQPValue::FieldTable(t)
        }
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn stream_offset(d: &lapin::message::Delivery) -> Option<i64> {
    let headers = d.properties.headers().as_ref()?;
    match headers.inner().get("x-stream-offset")? {
        AMQPValue::LongLongInt(o) => Some(*o),
        AMQPValue::LongInt(o) => Some(i64::from(*o)),
        AMQPValue::LongUInt(o) => Some(i64::from(*o)),
        _ => None,
    }
}

/// A body as one recording line: JSON never needs a raw line break.
fn push_line(block: &mut Vec<u8>, body: &[u8]) {
    block.extend(
        body.iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
    block.push(b'\n');
}

/// Celery's URLs say `pyamqp://` and `amqp://host//` (vhost `/`); lapin wants `amqp://` and
/// the vhost percent-encoded.
fn client_url(url: &BrokerUrl) -> String {
    let raw = url.expose();
    let (scheme, rest) = raw.split_once("://").unwrap_or(("amqp", raw));
    let scheme = match scheme {
        "pyamqp" => "amqp",
        s => s,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let vhost = if path.is_empty() || path == "/" {
        "%2f".to_string()
    } else {
        path.replace('/', "%2f")
    };
    let mut out = format!("{scheme}://{authority}/{vhost}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn vhost_of(client_url: &str) -> String {
    let path = client_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or("", |(_, p)| p);
    let path = path.split('?').next().unwrap_or("");
    path.replace("%2f", "/").replace("%2F", "/")
}

pub fn is_amqp(url: &BrokerUrl) -> bool {
    url.kind == BrokerKind::Amqp
}

/// Lines of a stream queue read, fed by a consumer thread.
pub struct AmqpReader {
    rx: Receiver<Result<Vec<u8>, AmqpError>>,
    buf: Vec<u8>,
    pos: usize,
    pub info: StreamInfo,
    progress: indicatif::ProgressBar,
    done: bool,
}

impl AmqpReader {
    pub fn with_progress(mut self, bar: indicatif::ProgressBar) -> Self {
        bar.set_length(self.info.messages());
        self.progress = bar;
        self
    }
}

impl Read for AmqpReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(block)) => {
                    self.progress
                        .inc(block.iter().filter(|&&b| b == b'\n').count() as u64);
                    self.buf = block;
                    self.pos = 0;
                }
                // The broker's own error rides inside: the caller reports it as the broker's.
                Ok(Err(e)) => return Err(io::Error::other(e)),
                Err(_) => self.done = true,
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> BrokerUrl {
        BrokerUrl::parse(s).unwrap()
    }

    #[test]
    fn celery_spellings_become_lapin_urls() {
        assert_eq!(
            client_url(&url("amqp://guest:guest@localhost:5672//")),
            "amqp://guest:guest@localhost:5672/%2f"
        );
        assert_eq!(client_url(&url("pyamqp://h")), "amqp://h/%2f");
        assert_eq!(client_url(&url("amqp://h/prod")), "amqp://h/prod");
        assert_eq!(
            client_url(&url("amqps://h:5671/a/b?heartbeat=10")),
            "amqps://h:5671/a%2fb?heartbeat=10"
        );
        assert_eq!(vhost_of("amqp://h/%2f"), "/");
        assert_eq!(vhost_of("amqp://h/prod?x=1"), "prod");
    }
}
