//! Reading the stream queue over RabbitMQ's own stream protocol (plugin `rabbitmq_stream`,
//! port 5552) with the official client: chunks of messages in one frame, several times faster
//! than AMQP's delivery per message. The reader tries it first and falls back to AMQP when
//! the plugin does not answer; which one read is said in the read's diagnostics.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use rabbitmq_stream_client::types::{Message, MessageResult, OffsetSpecification, ResponseKind};
use rabbitmq_stream_client::{Client, ClientOptions};

use super::reader::{ReadSpan, body_time, push_line};
use super::{Amqp, AmqpError, BLOCK, Start, StreamInfo, client_url};

/// The plugin's port when nothing else is said.
pub const DEFAULT_PORT: u16 = 5552;
/// `CELTRACE_STREAM_PORT`: another port for the stream protocol, or `0` for AMQP only.
pub const PORT_ENV: &str = "CELTRACE_STREAM_PORT";
/// `CELTRACE_STREAM_SPLIT`: from how many messages a read that folds into a state comes over
/// two connections at once, or `0` for never.
pub const SPLIT_ENV: &str = "CELTRACE_STREAM_SPLIT";
/// Below this a second connection costs more than it saves.
pub const SPLIT_DEFAULT: u64 = 100_000;

/// [`SPLIT_ENV`]'s value, or what is wrong with it.
pub fn split_setting(setting: Option<&str>) -> Result<u64, String> {
    match setting.map(str::trim) {
        None | Some("") => Ok(SPLIT_DEFAULT),
        Some(n) => n
            .parse()
            .map_err(|_| format!("`{n}` in {SPLIT_ENV} is not a number of messages")),
    }
}

/// How long connecting and subscribing may take before AMQP is used instead.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);
/// A read that receives nothing this long before its last offset has stalled: said, not
/// waited on forever.
const STALL: Duration = Duration::from_secs(15);
/// A subscription's first chunk comes at once when there is one.
const PROBE_WAIT: Duration = Duration::from_millis(500);
/// Chunks in flight: the broker sends this many ahead of the reader (the client's own
/// consumer allows one, which makes a read wait a round trip per chunk).
const CREDIT: u16 = 200;
/// The subscription that reads, and the one that finds the stream's first and last offsets.
const READ: u8 = 1;
const PROBE: u8 = 2;

/// How a stream queue was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// RabbitMQ's stream protocol, on this port.
    Stream(u16),
    /// AMQP 0.9.1, and why not the stream protocol.
    Amqp(String),
}

impl Transport {
    /// What diagnostics say about it.
    pub fn describe(&self) -> String {
        match self {
            Self::Stream(port) => format!("stream protocol, port {port}"),
            Self::Amqp(why) => format!("AMQP; the stream protocol {why}"),
        }
    }
}

/// The port to try, or why the stream protocol is not tried at all.
pub fn port_to_try(setting: Option<&str>, tls: bool) -> Result<u16, String> {
    if tls {
        // The client release this build uses has its own TLS stack (certificate paths
        // only); amqps reads keep to AMQP and its verified TLS.
        return Err("is not used over TLS (amqps)".to_string());
    }
    match setting.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PORT),
        Some("0") => Err(format!("is turned off ({PORT_ENV}=0)")),
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("port `{p}` in {PORT_ENV} is not a port number")),
    }
}

/// Where and as whom to connect.
#[derive(Clone)]
struct Endpoint {
    host: String,
    port: u16,
    user: String,
    password: String,
    vhost: String,
}

impl Endpoint {
    fn options(&self) -> ClientOptions {
        ClientOptions::builder()
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .v_host(&self.vhost)
            .build()
    }
}

impl Amqp {
    fn stream_endpoint(&self) -> Result<Endpoint, String> {
        let uri: lapin::uri::AMQPUri = client_url(&self.url)
            .parse()
            .map_err(|_| "cannot be reached: the URL does not parse".to_string())?;
        let tls = uri.scheme == lapin::uri::AMQPScheme::AMQPS;
        let port = port_to_try(self.stream_port.as_deref(), tls)?;
        Ok(Endpoint {
            host: uri.authority.host,
            port,
            user: uri.authority.userinfo.username,
            password: uri.authority.userinfo.password,
            vhost: uri.vhost,
        })
    }

    /// Reads `queue` from `start` to the offset that is last when the read begins (or to the
    /// first event after `end`) over the stream protocol, sending blocks of lines. `opened`
    /// hears the transport and the stream's offsets before the first block. `Err` (and no
    /// word on `opened`) means "use AMQP", with the reason: the plugin is off, the queue is
    /// missing or empty (AMQP then says which), or the broker refused.
    ///
    /// The client runs on a thread of its own (it decodes the frames) while this one cuts
    /// lines; chunks come over a bounded channel, and each one taken asks the broker for one
    /// more, so memory stays bounded by the credit.
    ///
    /// `split`: from how many messages on the read may come in two halves at once, their
    /// blocks interleaved (`None` keeps the stream's order, for readers that need it).
    pub(super) fn consume_stream_protocol(
        &self,
        queue: &str,
        read: &ReadSpan<'_>,
        split: Option<u64>,
        tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
        opened: &dyn Fn(Transport, StreamInfo),
    ) -> Result<(), String> {
        let (start, end) = (read.start, read.end);
        let at = self.stream_endpoint()?;
        let password = at.password.clone();
        let port = at.port;
        let (first, opened_first) = Connection::open(&at, queue, Plan::Find(start));
        let (info, begin) = match opened_first {
            Ok(opened) => opened,
            Err(why) => {
                first.close();
                return Err(redact_reason(&why, &password));
            }
        };
        let info = read.capped(info);
        opened(Transport::Stream(port), info);
        let fail = |reason: String| {
            let _ = tx.send(Err(AmqpError::Closed {
                url: self.label.clone(),
                reason: redact_reason(&reason, &password),
            }));
        };
        // Nothing from there on, or nothing before where an earlier read began.
        let Some(begin) = begin.filter(|&b| to_i64(b) <= info.last) else {
            first.close();
            return Ok(());
        };
        // Reads are whole from the chunk they begin at: the first offset read is known now.
        read.note_first(match start {
            Start::Offset(o) => o.max(to_i64(begin)),
            _ => to_i64(begin),
        });
        // The client decodes every message on its thread, and that thread is the read's
        // ceiling: a long read is split in two halves, each on a connection of its own.
        let messages = u64::try_from(info.last - to_i64(begin) + 1).unwrap_or(0);
        let second = split.filter(|&n| n > 0 && messages >= n).and_then(|_| {
            let mid = begin + messages / 2;
            let (second, opened) = Connection::open(&at, queue, Plan::At(mid));
            match opened {
                Ok((_, Some(_))) => Some((second, mid)),
                _ => {
                    second.close();
                    None
                }
            }
        });
        match second {
            None => {
                if let Err(reason) = first.cut(start, info.last, end, read.offsets, tx) {
                    fail(reason);
                }
            }
            Some((second, mid)) => std::thread::scope(|scope| {
                let later = scope.spawn(|| {
                    if let Err(reason) =
                        second.cut(Start::Offset(to_i64(mid)), info.last, end, read.offsets, tx)
                    {
                        fail(reason);
                    }
                    second.close();
                });
                if let Err(reason) = first.cut(start, to_i64(mid) - 1, end, read.offsets, tx) {
                    fail(reason);
                }
                let _ = later.join();
            }),
        }
        first.close();
        Ok(())
    }
}

/// Chunks in flight per run of [`Amqp::runs_by_stream_protocol`]: a run is short.
const RUN_CREDIT: u16 = 8;
/// Subscription ids of those runs, one per run in turn: a chunk still in flight for the run
/// before is told apart by its id.
const RUN_IDS: std::ops::RangeInclusive<u8> = 10..=250;

impl Amqp {
    /// The bodies at the `wanted` offsets within these runs of offsets (each `(first, last)`,
    /// in order), as lines, over one stream-protocol connection: a subscription per run,
    /// each from the run's first offset to its last. `Err` means "use AMQP", with the reason.
    pub(super) fn runs_by_stream_protocol(
        &self,
        queue: &str,
        runs: &[(i64, i64)],
        wanted: &dyn Fn(i64) -> bool,
    ) -> Result<Vec<u8>, String> {
        let at = self.stream_endpoint()?;
        let rt = super::runtime().map_err(|e| format!("could not start: {e}"))?;
        let read = rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u8, Chunk)>();
            let options = at.options();
            let client = tokio::time::timeout(OPEN_TIMEOUT, Client::connect(options))
                .await
                .map_err(|_| {
                    format!(
                        "did not answer on port {} within {}s",
                        at.port,
                        OPEN_TIMEOUT.as_secs()
                    )
                })?
                .map_err(|e| format!("is not available on port {}: {e}", at.port))?;
            client.set_handler(run_handler(tx)).await;
            let mut out = Vec::new();
            let mut ids = RUN_IDS.cycle();
            for &(first, last) in runs {
                let id = ids.next().unwrap_or(READ);
                let offset = OffsetSpecification::Offset(u64::try_from(first).unwrap_or(0));
                subscribe(&client, id, queue, offset, RUN_CREDIT).await?;
                'run: loop {
                    let (from, chunk) = match tokio::time::timeout(STALL, rx.recv()).await {
                        Ok(Some((from, chunk))) => (from, chunk),
                        Ok(None) => return Err("the connection closed".to_string()),
                        Err(_) => {
                            return Err(format!(
                                "the broker sent nothing for {}s before offset {last}",
                                STALL.as_secs()
                            ));
                        }
                    };
                    let (chunk_first, messages) = chunk?;
                    if from != id {
                        continue; // in flight for the run before
                    }
                    let _ = client.credit(id, 1).await;
                    for (i, message) in messages.iter().enumerate() {
                        let offset = to_i64(chunk_first + i as u64);
                        if offset > last {
                            break 'run;
                        }
                        if offset >= first
                            && wanted(offset)
                            && let Some(body) = message.data()
                        {
                            push_line(&mut out, None, body);
                        }
                        if offset == last {
                            break 'run;
                        }
                    }
                }
                let _ = client.unsubscribe(id).await;
            }
            let _ = client.close().await;
            Ok::<_, String>(out)
        });
        read.map_err(|why| redact_reason(&why, &at.password))
    }
}

/// Hands each delivered chunk on with its subscription id, in the order they came.
fn run_handler(
    chunks: tokio::sync::mpsc::UnboundedSender<(u8, Chunk)>,
) -> impl FnOnce(MessageResult) -> BoxFuture + Clone + Send + Sync + 'static {
    move |item: MessageResult| -> BoxFuture {
        let delivered = match item {
            Some(Ok(response)) => match response.kind() {
                ResponseKind::Deliver(d) => {
                    (d.subscription_id, Ok((d.chunk_first_offset, d.messages)))
                }
                _ => return Box::pin(async { Ok(()) }),
            },
            Some(Err(e)) => (0, Err(e.to_string())),
            // After the reads, celtrace's own close: then no one is listening.
            None => (
                0,
                Err("the broker closed the stream protocol connection mid-read".to_string()),
            ),
        };
        let _ = chunks.send(delivered);
        Box::pin(async { Ok(()) })
    }
}

/// What a connection does before it reads.
#[derive(Clone, Copy)]
enum Plan {
    /// Find the stream's offsets, then subscribe from the start asked for.
    Find(Start),
    /// Subscribe at this offset, no questions asked (the second half of a split read).
    At(u64),
}

/// One stream-protocol connection reading on a thread of its own.
struct Connection {
    chunks: std::sync::mpsc::Receiver<Chunk>,
    credit: tokio::sync::mpsc::UnboundedSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Connection {
    /// Connects and subscribes; the stream's offsets and where the read begins (`None`:
    /// nothing to read), or why the stream protocol cannot be used.
    fn open(at: &Endpoint, queue: &str, plan: Plan) -> (Self, Result<Opened, String>) {
        let (chunks_tx, chunks) = std::sync::mpsc::sync_channel::<Chunk>(usize::from(CREDIT));
        let (open_tx, open_rx) = std::sync::mpsc::channel::<Result<Opened, String>>();
        let (credit, credit_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (at, queue) = (at.clone(), queue.to_string());
        let thread = std::thread::spawn(move || {
            run_client(&at, &queue, plan, &chunks_tx, &open_tx, credit_rx);
        });
        let opened = open_rx
            .recv()
            .unwrap_or_else(|_| Err("could not be used (its thread ended)".to_string()));
        (
            Self {
                chunks,
                credit,
                thread,
            },
            opened,
        )
    }

    /// Hands the lines from `start` to offset `last` (or the first event after `end`) to `tx`.
    fn cut(
        &self,
        start: Start,
        last: i64,
        end: Option<f64>,
        offsets: bool,
        tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
    ) -> Result<(), String> {
        cut_lines(&self.chunks, &self.credit, (start, last, end), offsets, tx)
    }

    /// Dropping the credit sender ends the client's loop, which unsubscribes and closes.
    fn close(self) {
        drop(self.credit);
        drop(self.chunks);
        let _ = self.thread.join();
    }
}

/// The client's side: connect, find the stream's offsets, subscribe, then give credit as
/// the reader asks until it stops asking.
fn run_client(
    at: &Endpoint,
    queue: &str,
    plan: Plan,
    chunks: &SyncSender<Chunk>,
    opened: &std::sync::mpsc::Sender<Result<Opened, String>>,
    mut credit: tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    // One thread: the client hands each frame to a task of its own, and only a
    // current-thread runtime runs those in the order the frames came.
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = opened.send(Err(format!("could not start: {e}")));
            return;
        }
    };
    rt.block_on(async {
        let (probe_tx, mut probes) = tokio::sync::mpsc::unbounded_channel::<Chunk>();
        // Set before celtrace closes the connection itself: that end is not the broker's.
        let closing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = async {
            let options = at.options();
            let client = Client::connect(options)
                .await
                .map_err(|e| format!("is not available on port {}: {e}", at.port))?;
            client
                .set_handler(handler(probe_tx, chunks.clone(), closing.clone()))
                .await;
            let (info, begin) = match plan {
                Plan::At(offset) => (
                    StreamInfo {
                        first: to_i64(offset),
                        last: to_i64(offset),
                    },
                    Some(offset),
                ),
                Plan::Find(start) => {
                    let info = offsets(&client, &mut probes, queue).await?;
                    let begin = match start {
                        Start::First => Some(info.first.max(0) as u64),
                        Start::Offset(o) => Some(o.max(info.first).max(0) as u64),
                        // RabbitMQ waits at the end for a time past the newest chunk, as if
                        // more were coming: find the chunk first, so a quiet stream reads as
                        // nothing at once. Milliseconds here (AMQP's `x-stream-offset` takes
                        // seconds).
                        Start::Time(t) => {
                            let at = OffsetSpecification::Timestamp((t.max(0.0) * 1000.0) as i64);
                            delivered_from(&client, &mut probes, queue, at)
                                .await?
                                .map(|(first, _)| first)
                        }
                    };
                    // Past the last offset RabbitMQ would wait for more: nothing to read.
                    (info, begin.filter(|&b| to_i64(b) <= info.last))
                }
            };
            if let Some(offset) = begin {
                subscribe(
                    &client,
                    READ,
                    queue,
                    OffsetSpecification::Offset(offset),
                    CREDIT,
                )
                .await?;
            }
            Ok::<_, String>((client, info, begin))
        };
        let client = match tokio::time::timeout(OPEN_TIMEOUT, open).await {
            Ok(Ok((client, info, begin))) => {
                let _ = opened.send(Ok((info, begin)));
                if begin.is_none() {
                    // Nothing recorded from that time on: the reader sees the end at once.
                    closing.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = client.close().await;
                    return;
                }
                client
            }
            Ok(Err(why)) => {
                let _ = opened.send(Err(why));
                return;
            }
            Err(_) => {
                let _ = opened.send(Err(format!(
                    "did not answer on port {} within {}s",
                    at.port,
                    OPEN_TIMEOUT.as_secs()
                )));
                return;
            }
        };
        while credit.recv().await.is_some() {
            let _ = client.credit(READ, 1).await;
        }
        closing.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = client.unsubscribe(READ).await;
        let _ = client.close().await;
    });
}

/// The reader's side: chunks in, blocks of recording lines out (each led by its offset when
/// `offsets`), from `start` to offset `last` or the first event after `end`. Offsets must
/// follow on from chunk to chunk: a chunk missing or out of order is an error, never a
/// silent hole.
fn cut_lines(
    chunks: &std::sync::mpsc::Receiver<Chunk>,
    credit: &tokio::sync::mpsc::UnboundedSender<()>,
    (start, last, end): (Start, i64, Option<f64>),
    offsets: bool,
    tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
) -> Result<(), String> {
    let from = match start {
        Start::Offset(o) => o,
        _ => i64::MIN,
    };
    let mut next: Option<u64> = None;
    let mut block = Vec::with_capacity(BLOCK * 600);
    let mut lines = 0;
    'read: loop {
        let chunk = match chunks.recv_timeout(STALL) {
            Ok(chunk) => chunk,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the broker sent nothing for {}s before offset {last} (read up to {})",
                    STALL.as_secs(),
                    next.map_or_else(|| "none".to_string(), |n| n.to_string())
                ));
            }
        };
        let (first, messages) = chunk?;
        let _ = credit.send(());
        if next.is_some_and(|n| n != first) {
            return Err(format!(
                "chunks did not follow on: offset {} came where {} was due",
                first,
                next.unwrap_or_default()
            ));
        }
        next = Some(first + messages.len() as u64);
        for (i, message) in messages.iter().enumerate() {
            let offset = to_i64(first + i as u64);
            // A chunk starts where it starts, whatever offset was asked for.
            if offset < from {
                continue;
            }
            if offset > last {
                break 'read;
            }
            if let Some(body) = message.data() {
                if let (Some(end), Some(t)) = (end, body_time(body))
                    && t > end
                {
                    break 'read;
                }
                push_line(&mut block, offsets.then_some(offset), body);
                lines += 1;
            }
            if lines >= BLOCK {
                if tx.send(Ok(std::mem::take(&mut block))).is_err() {
                    return Ok(());
                }
                lines = 0;
            }
            if offset >= last {
                break 'read;
            }
        }
    }
    if !block.is_empty() {
        let _ = tx.send(Ok(block));
    }
    Ok(())
}

fn to_i64(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

async fn subscribe(
    client: &Client,
    subscription: u8,
    queue: &str,
    offset: OffsetSpecification,
    credit: u16,
) -> Result<(), String> {
    let reply = client
        .subscribe(subscription, queue, offset, credit, HashMap::new())
        .await
        .map_err(|e| format!("could not subscribe to `{queue}`: {e}"))?;
    if reply.is_ok() {
        Ok(())
    } else {
        Err(format!(
            "could not subscribe to `{queue}` ({:?})",
            reply.code()
        ))
    }
}

/// The stream's first and last offsets. Chunks come whole: the newest one ends at the last
/// offset, the oldest starts at the first. No waiting for the end of a chunk as over AMQP.
async fn offsets(
    client: &Client,
    probes: &mut tokio::sync::mpsc::UnboundedReceiver<Chunk>,
    queue: &str,
) -> Result<StreamInfo, String> {
    let (last_start, last_len) =
        first_chunk(client, probes, queue, OffsetSpecification::Last).await?;
    let (first, _) = first_chunk(client, probes, queue, OffsetSpecification::First).await?;
    Ok(StreamInfo {
        first: to_i64(first),
        last: to_i64(last_start + last_len.max(1) - 1),
    })
}

/// The first offset and the length of the first chunk delivered from `offset`, on a
/// subscription of its own, closed after.
async fn first_chunk(
    client: &Client,
    probes: &mut tokio::sync::mpsc::UnboundedReceiver<Chunk>,
    queue: &str,
    offset: OffsetSpecification,
) -> Result<(u64, u64), String> {
    // Nothing to deliver: the stream is empty (AMQP says so in its words).
    delivered_from(client, probes, queue, offset)
        .await?
        .ok_or_else(|| format!("delivered nothing from `{queue}` (empty?)"))
}

/// [`first_chunk`], or `None` when nothing is delivered from `offset` within [`PROBE_WAIT`]
/// (the broker sends a chunk it has at once).
async fn delivered_from(
    client: &Client,
    probes: &mut tokio::sync::mpsc::UnboundedReceiver<Chunk>,
    queue: &str,
    offset: OffsetSpecification,
) -> Result<Option<(u64, u64)>, String> {
    subscribe(client, PROBE, queue, offset, 1).await?;
    let found = match tokio::time::timeout(PROBE_WAIT, probes.recv()).await {
        Ok(Some(Ok((first, messages)))) => Ok(Some((first, messages.len() as u64))),
        Ok(Some(Err(reason))) => Err(reason),
        Ok(None) => Err("the connection closed".to_string()),
        Err(_) => Ok(None),
    };
    let _ = client.unsubscribe(PROBE).await;
    found
}

/// The stream's offsets, and the offset the read begins at (`None`: nothing to read from
/// the start asked for).
type Opened = (StreamInfo, Option<u64>);

/// A delivered chunk: its first offset and messages; or why the connection ended.
type Chunk = Result<(u64, Vec<Message>), String>;

/// Hands each delivered chunk whole to the probe or the reader, by subscription. The client
/// runs this in a task per frame: the send never waits on another task (a full channel
/// blocks the client's thread), so chunks arrive in the order they came.
fn handler(
    probes: tokio::sync::mpsc::UnboundedSender<Chunk>,
    reads: SyncSender<Chunk>,
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> impl FnOnce(MessageResult) -> BoxFuture + Clone + Send + Sync + 'static {
    move |item: MessageResult| -> BoxFuture {
        if item.is_none() && closing.load(std::sync::atomic::Ordering::Relaxed) {
            return Box::pin(async { Ok(()) });
        }
        let (subscription, chunk) = match item {
            Some(Ok(response)) => match response.kind() {
                ResponseKind::Deliver(d) => {
                    (d.subscription_id, Ok((d.chunk_first_offset, d.messages)))
                }
                _ => return Box::pin(async { Ok(()) }),
            },
            Some(Err(e)) => (READ, Err(e.to_string())),
            None => (
                READ,
                Err("the broker closed the stream protocol connection mid-read (an operator, a shutdown or a policy)".to_string()),
            ),
        };
        if subscription == PROBE {
            let _ = probes.send(chunk);
        } else {
            let _ = reads.send(chunk);
        }
        Box::pin(async { Ok(()) })
    }
}

type BoxFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = rabbitmq_stream_client::RabbitMQStreamResult<()>> + Send>,
>;

/// A client error's text, never with the password in it.
fn redact_reason(reason: &str, password: &str) -> String {
    let reason = super::super::url::redact(reason);
    if password.is_empty() {
        reason
    } else {
        reason.replace(password, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_the_setting_and_tls_keeps_to_amqp() {
        assert_eq!(port_to_try(None, false), Ok(DEFAULT_PORT));
        assert_eq!(port_to_try(Some(" 15552 "), false), Ok(15552));
        assert!(port_to_try(Some("0"), false).unwrap_err().contains("off"));
        assert!(port_to_try(Some("x"), false).unwrap_err().contains("`x`"));
        assert!(port_to_try(None, true).unwrap_err().contains("TLS"));
        assert_eq!(
            Transport::Amqp("is turned off".into()).describe(),
            "AMQP; the stream protocol is turned off"
        );
        assert_eq!(
            Transport::Stream(5552).describe(),
            "stream protocol, port 5552"
        );
    }

    #[test]
    fn the_split_comes_from_the_setting() {
        assert_eq!(split_setting(None), Ok(SPLIT_DEFAULT));
        assert_eq!(split_setting(Some(" ")), Ok(SPLIT_DEFAULT));
        assert_eq!(split_setting(Some("0")), Ok(0));
        assert_eq!(split_setting(Some(" 5000 ")), Ok(5000));
        assert!(split_setting(Some("-1")).unwrap_err().contains("`-1`"));
        assert!(split_setting(Some("half")).unwrap_err().contains(SPLIT_ENV));
    }

    #[test]
    fn reasons_never_carry_the_password() {
        assert_eq!(
            redact_reason("auth failed for s3cret at amqp://u:s3cret@h", "s3cret"),
            "auth failed for **** at amqp://u:****@h"
        );
    }
}
