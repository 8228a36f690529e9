//! Reading the stream queue over RabbitMQ's own stream protocol (plugin `rabbitmq_stream`,
//! port 5552): chunks of messages in one frame, several times faster than AMQP's delivery
//! per message. The reader tries it first and falls back to AMQP when the plugin does not
//! answer; which one read is said in the read's diagnostics. Commands are the official
//! protocol crate's ([`super::stream_conn`]); chunks are read in place
//! ([`super::stream_wire`]).

use std::sync::mpsc::SyncSender;
use std::time::Duration;

use rabbitmq_stream_protocol::commands::subscribe::OffsetSpecification;

use super::reader::{ReadSpan, body_time, push_line};
use super::stream_conn::{Endpoint, WireConn};
use super::{Amqp, AmqpError, BLOCK, Start, StreamInfo, client_url};

/// The plugin's port when nothing else is said.
pub const DEFAULT_PORT: u16 = 5552;
/// `CELTRACE_STREAM_PORT`: another port for the stream protocol, or `0` for AMQP only.
pub const PORT_ENV: &str = "CELTRACE_STREAM_PORT";
/// `CELTRACE_STREAM_SPLIT`: from how many messages a read that folds into a state comes over
/// two connections at once, or `0` for never.
pub const SPLIT_ENV: &str = "CELTRACE_STREAM_SPLIT";
/// Below this a second connection (a few milliseconds) saves nothing. Above it, the broker
/// serves each half on a core of its own: twice as fast on a stream of one-message chunks,
/// where the broker's cost per chunk is the whole cost.
pub const SPLIT_DEFAULT: u64 = 10_000;

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
/// Chunks in flight: the broker sends this many ahead of the reader, so a read never waits
/// a round trip per chunk.
const CREDIT: u16 = 200;
/// Credit is given back this many chunks at a time: a stream of one-message chunks (a
/// worker at an ordinary rate) would otherwise cost a command each way per message.
const CREDIT_BATCH: u16 = 32;
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
    /// Each connection is read on one thread, which cuts its lines as its chunks come and
    /// gives the broker credit back for them ([`CREDIT_BATCH`] at a time), so memory stays
    /// bounded by the credit.
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
        let (mut first, info, begin) = open_reader(&at, queue, Plan::Find(start))
            .map_err(|why| redact_reason(&why, &password))?;
        let info = read.capped(info);
        opened(Transport::Stream(at.port), info);
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
        // One thread cuts what one connection reads, and the broker serves a connection on
        // one core: a long read is split in two halves, each on a connection of its own.
        let second = split
            .filter(|&n| n > 0 && info.last - to_i64(begin) + 1 >= to_i64(n))
            .and_then(|_| open_second_half(&at, queue, begin, info.last).ok());
        match second {
            None => {
                if let Err(reason) =
                    cut_lines(&mut first, (start, info.last, end), read.offsets, tx)
                {
                    fail(reason);
                }
            }
            Some((mut second, mid)) => std::thread::scope(|scope| {
                let later = scope.spawn(|| {
                    let plan = (Start::Offset(to_i64(mid)), info.last, end);
                    if let Err(reason) = cut_lines(&mut second, plan, read.offsets, tx) {
                        fail(reason);
                    }
                    second.close();
                });
                let plan = (start, to_i64(mid) - 1, end);
                if let Err(reason) = cut_lines(&mut first, plan, read.offsets, tx) {
                    fail(reason);
                }
                let _ = later.join();
            }),
        }
        first.close();
        Ok(())
    }
}

/// A bare drain of `queue` from its first offset to its last, on celtrace's own connections
/// with the reads' credit, counting records and their bytes and parsing nothing: the floor
/// of a stream-protocol read (`cargo bench --bench amqp`). `halves`: in two halves over two
/// connections at once, as a long read that builds a state is.
pub fn bare_drain(
    host: &str,
    port: u16,
    (user, password): (&str, &str),
    vhost: &str,
    queue: &str,
    halves: bool,
) -> Result<(u64, u64), String> {
    let at = Endpoint {
        host: host.to_string(),
        port,
        user: user.to_string(),
        password: password.to_string(),
        vhost: vhost.to_string(),
    };
    let (mut first, info, begin) = open_reader(&at, queue, Plan::Find(Start::First))?;
    let Some(begin) = begin else {
        first.close();
        return Ok((0, 0));
    };
    let second = if halves && info.last > to_i64(begin) {
        Some(open_second_half(&at, queue, begin, info.last)?)
    } else {
        None
    };
    let drained = if let Some((mut second, mid)) = second {
        let mid = to_i64(mid);
        let (a, b) = std::thread::scope(|scope| {
            let later = scope.spawn(|| drain_until(&mut second, mid, info.last));
            let a = drain_until(&mut first, i64::MIN, mid - 1);
            (a, later.join())
        });
        second.close();
        let b = b.map_err(|_| "the second half's thread failed".to_string())?;
        let ((n1, b1), (n2, b2)) = (a?, b?);
        (n1 + n2, b1 + b2)
    } else {
        drain_until(&mut first, i64::MIN, info.last)?
    };
    first.close();
    Ok(drained)
}

/// Counts the records from `from` to `last` and their chunks' bytes.
fn drain_until(conn: &mut WireConn, from: i64, last: i64) -> Result<(u64, u64), String> {
    let (mut messages, mut bytes, mut owed) = (0, 0, 0);
    loop {
        let Some(chunk) = conn.next_chunk(READ)? else {
            return Err(format!("the broker sent nothing for {}s", STALL.as_secs()));
        };
        let (first, end) = (to_i64(chunk.first), to_i64(chunk.first + chunk.records));
        messages += u64::try_from(end.min(last + 1) - first.max(from)).unwrap_or(0);
        bytes += chunk.size() as u64;
        if end > last {
            return Ok((messages, bytes));
        }
        owed += 1;
        if owed == CREDIT_BATCH {
            conn.credit(READ, owed)?;
            owed = 0;
        }
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
        let read = || -> Result<Vec<u8>, String> {
            let mut conn = WireConn::open(&at, OPEN_TIMEOUT)?;
            conn.wait_at_most(STALL);
            let mut out = Vec::new();
            let mut ids = RUN_IDS.cycle();
            for &(first, last) in runs {
                let id = ids.next().unwrap_or(READ);
                let offset = OffsetSpecification::Offset(u64::try_from(first).unwrap_or(0));
                conn.subscribe(id, queue, offset, RUN_CREDIT)?;
                'run: loop {
                    let Some(chunk) = conn.next_chunk(id)? else {
                        return Err(format!(
                            "the broker sent nothing for {}s before offset {last}",
                            STALL.as_secs()
                        ));
                    };
                    for (offset, body) in chunk.bodies() {
                        let offset = to_i64(offset);
                        if offset > last {
                            break 'run;
                        }
                        if offset >= first
                            && wanted(offset)
                            && let Some(body) = body.map_err(|e| e.0)?
                        {
                            push_line(&mut out, None, &body);
                        }
                        if offset == last {
                            break 'run;
                        }
                    }
                    conn.credit(id, 1)?;
                }
                conn.unsubscribe(id)?;
            }
            conn.close();
            Ok(out)
        };
        read().map_err(|why| redact_reason(&why, &at.password))
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

/// A second connection subscribed at the middle of `begin..=last`, and that middle offset.
fn open_second_half(
    at: &Endpoint,
    queue: &str,
    begin: u64,
    last: i64,
) -> Result<(WireConn, u64), String> {
    let messages = u64::try_from(last - to_i64(begin) + 1).unwrap_or(0);
    let mid = begin + messages / 2;
    match open_reader(at, queue, Plan::At(mid))? {
        (second, _, Some(_)) => Ok((second, mid)),
        (second, _, None) => {
            second.close();
            Err("nothing to read at the middle offset".to_string())
        }
    }
}

/// Connects and subscribes: the connection, the stream's offsets and where the read begins
/// (`None`: nothing to read), or why the stream protocol cannot be used.
fn open_reader(
    at: &Endpoint,
    queue: &str,
    plan: Plan,
) -> Result<(WireConn, StreamInfo, Option<u64>), String> {
    let mut conn = WireConn::open(at, OPEN_TIMEOUT)?;
    let (info, begin) = match plan {
        Plan::At(offset) => (
            StreamInfo {
                first: to_i64(offset),
                last: to_i64(offset),
            },
            Some(offset),
        ),
        Plan::Find(start) => {
            let info = offsets(&mut conn, queue)?;
            let begin = match start {
                Start::First => Some(info.first.max(0) as u64),
                Start::Offset(o) => Some(o.max(info.first).max(0) as u64),
                // RabbitMQ waits at the end for a time past the newest chunk, as if more
                // were coming: find the chunk first, so a quiet stream reads as nothing at
                // once. Milliseconds here (AMQP's `x-stream-offset` takes seconds).
                Start::Time(t) => {
                    let at = OffsetSpecification::Timestamp((t.max(0.0) * 1000.0) as i64);
                    delivered_from(&mut conn, queue, at)?.map(|(first, _)| first)
                }
            };
            // Past the last offset RabbitMQ would wait for more: nothing to read.
            (info, begin.filter(|&b| to_i64(b) <= info.last))
        }
    };
    if let Some(offset) = begin {
        conn.subscribe(READ, queue, OffsetSpecification::Offset(offset), CREDIT)?;
    }
    conn.wait_at_most(STALL);
    Ok((conn, info, begin))
}

/// The reader's side: chunks in, blocks of recording lines out (each led by its offset when
/// `offsets`), from `start` to offset `last` or the first event after `end`. Offsets must
/// follow on from chunk to chunk: a chunk missing or out of order is an error, never a
/// silent hole.
fn cut_lines(
    conn: &mut WireConn,
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
    let mut owed = 0;
    'read: loop {
        let Some(chunk) = conn.next_chunk(READ)? else {
            return Err(format!(
                "the broker sent nothing for {}s before offset {last} (read up to {})",
                STALL.as_secs(),
                next.map_or_else(|| "none".to_string(), |n| n.to_string())
            ));
        };
        if next.is_some_and(|n| n != chunk.first) {
            return Err(format!(
                "chunks did not follow on: offset {} came where {} was due",
                chunk.first,
                next.unwrap_or_default()
            ));
        }
        next = Some(chunk.first + chunk.records);
        for (offset, body) in chunk.bodies() {
            let offset = to_i64(offset);
            // A chunk starts where it starts, whatever offset was asked for.
            if offset < from {
                continue;
            }
            if offset > last {
                break 'read;
            }
            if let Some(body) = body.map_err(|e| e.0)? {
                if let (Some(end), Some(t)) = (end, body_time(&body))
                    && t > end
                {
                    break 'read;
                }
                push_line(&mut block, offsets.then_some(offset), &body);
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
        owed += 1;
        if owed == CREDIT_BATCH {
            conn.credit(READ, owed)?;
            owed = 0;
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

/// The stream's first and last offsets. Chunks come whole: the newest one ends at the last
/// offset, the oldest starts at the first. No waiting for the end of a chunk as over AMQP.
fn offsets(conn: &mut WireConn, queue: &str) -> Result<StreamInfo, String> {
    let (last_start, last_len) = first_chunk(conn, queue, OffsetSpecification::Last)?;
    let (first, _) = first_chunk(conn, queue, OffsetSpecification::First)?;
    Ok(StreamInfo {
        first: to_i64(first),
        last: to_i64(last_start + last_len.max(1) - 1),
    })
}

/// The first offset and the length of the first chunk delivered from `offset`, on a
/// subscription of its own, closed after.
fn first_chunk(
    conn: &mut WireConn,
    queue: &str,
    offset: OffsetSpecification,
) -> Result<(u64, u64), String> {
    // Nothing to deliver: the stream is empty (AMQP says so in its words).
    delivered_from(conn, queue, offset)?
        .ok_or_else(|| format!("delivered nothing from `{queue}` (empty?)"))
}

/// [`first_chunk`], or `None` when nothing is delivered from `offset` within [`PROBE_WAIT`]
/// (the broker sends a chunk it has at once).
fn delivered_from(
    conn: &mut WireConn,
    queue: &str,
    offset: OffsetSpecification,
) -> Result<Option<(u64, u64)>, String> {
    conn.subscribe(PROBE, queue, offset, 1)?;
    conn.wait_at_most(PROBE_WAIT);
    let found = conn
        .next_chunk(PROBE)
        .map(|chunk| chunk.map(|c| (c.first, c.records)));
    conn.wait_at_most(OPEN_TIMEOUT);
    conn.unsubscribe(PROBE)?;
    found
}

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
