//! RabbitMQ over AMQP 0.9.1 (lapin), and its stream protocol for reading the stream queue
//! back ([`stream_protocol`]): the stream queue that keeps Celery's events by itself
//! (docs/protocol.md §2.3), reading it back, and live events for `tail`. This file holds the
//! connection and its errors; each job has its own file: [`admin`] (the stream queue and
//! passive declares), [`reader`] (reading the stream back), [`pidbox`] (remote control and
//! publishing) and [`follow`] (live events).
//!
//! Stream queues close the whole connection on `basic.get`, automatic acks, `nack` and
//! `reject` (trap 17): readers set `basic.qos`, consume with manual acks, and only ever ack
//! or cancel. A read stops at the offset that was the stream's last when it began.
//!
//! lapin is async; this module owns a current-thread tokio runtime per call, so the rest of
//! celtrace stays synchronous.

use std::io::{self};
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties};

use super::url::{BrokerKind, BrokerUrl, redact};

mod admin;
mod follow;
pub mod index;
mod indexer;
mod pidbox;
mod reader;
mod stream_conn;
pub mod stream_protocol;
mod stream_wire;

pub use reader::{AmqpReader, FirstOffset, body_time};
pub use stream_protocol::Transport;

pub const DEFAULT_QUEUE: &str = "celtrace.events";
pub const EVENT_EXCHANGE: &str = "celeryev";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries in flight per read (acks only free credit on a stream).
const PREFETCH: u16 = 2000;
/// How long the probe for the stream's last offset waits for more of the last chunk.
const PROBE_IDLE: Duration = Duration::from_millis(200);
/// How long a probe of a queue that counts no messages waits for one anyway.
const EMPTY_WAIT: Duration = Duration::from_millis(500);
/// How long a stream that holds messages may take to send the first: a busy broker reading
/// small chunks is slow, not empty.
const DELIVERY_STALL: Duration = Duration::from_secs(15);
/// How long the first message of a read from a time may take with one in flight: a message
/// the broker has is sent at once; past the newest it waits for more.
const FIRST_WAIT: Duration = Duration::from_secs(2);
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
    /// `CELTRACE_STREAM_PORT` as given: another port for the stream protocol, or `0`.
    pub stream_port: Option<String>,
    /// `CELTRACE_STREAM_SPLIT`: reads of this many messages or more that fold into a state
    /// come over two stream-protocol connections at once; `0` never.
    pub stream_split: u64,
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
            stream_port: None,
            stream_split: stream_protocol::SPLIT_DEFAULT,
        }
    }

    /// Whether something answers on `port` of the broker's host (the stream protocol's 5552).
    pub fn port_answers(&self, port: u16) -> bool {
        use std::net::ToSocketAddrs;
        let raw = client_url(&self.url);
        let rest = raw.split_once("://").map_or(raw.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host_port.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host_port,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { "localhost" } else { host };
        (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
            addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
        })
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

/// The stream offset RabbitMQ puts in a delivery's headers.
fn stream_offset(d: &lapin::message::Delivery) -> Option<i64> {
    let headers = d.properties.headers().as_ref()?;
    match headers.inner().get("x-stream-offset")? {
        AMQPValue::LongLongInt(o) => Some(*o),
        AMQPValue::LongInt(o) => Some(i64::from(*o)),
        AMQPValue::LongUInt(o) => Some(i64::from(*o)),
        _ => None,
    }
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
