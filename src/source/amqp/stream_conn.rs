//! One stream-protocol connection on a plain blocking socket, read on the thread that cuts
//! its lines: no runtime, no hop between threads per chunk. Every command is built and
//! every reply decoded by the official `rabbitmq-stream-protocol` crate; a `Deliver`
//! frame's chunk is read in place ([`super::stream_wire`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::time::Duration;

use rabbitmq_stream_protocol::codec::{Decoder, Encoder};
use rabbitmq_stream_protocol::commands::close::CloseRequest;
use rabbitmq_stream_protocol::commands::credit::CreditCommand;
use rabbitmq_stream_protocol::commands::open::OpenCommand;
use rabbitmq_stream_protocol::commands::peer_properties::PeerPropertiesCommand;
use rabbitmq_stream_protocol::commands::sasl_authenticate::SaslAuthenticateCommand;
use rabbitmq_stream_protocol::commands::sasl_handshake::SaslHandshakeCommand;
use rabbitmq_stream_protocol::commands::subscribe::{OffsetSpecification, SubscribeCommand};
use rabbitmq_stream_protocol::commands::tune::TunesCommand;
use rabbitmq_stream_protocol::commands::unsubscribe::UnSubscribeCommand;
use rabbitmq_stream_protocol::{Request, Response, ResponseCode, ResponseKind};

use super::stream_wire::{self, Chunk, KEY_CLOSE, KEY_DELIVER, KEY_TUNE};

/// A frame larger than this is not one RabbitMQ sends (a chunk is a few MB at most).
const MAX_FRAME: usize = 512 << 20;
/// What a read asks of the socket at a time.
const READ_BUFFER: usize = 4 << 20;

/// Where and as whom to connect.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

/// An open, authenticated connection to one virtual host.
pub(super) struct WireConn {
    socket: TcpStream,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    correlation: u32,
    port: u16,
}

impl WireConn {
    /// Connects, authenticates (PLAIN), tunes (no heartbeats: a stalled read is found by
    /// `timeout` on every socket read) and opens the virtual host.
    pub fn open(at: &Endpoint, timeout: Duration) -> Result<Self, String> {
        let unavailable =
            |e: &dyn std::fmt::Display| format!("is not available on port {}: {e}", at.port);
        let addresses = (at.host.as_str(), at.port)
            .to_socket_addrs()
            .map_err(|e| unavailable(&e))?;
        let mut last_error = None;
        let mut socket = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(s) => {
                    socket = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let socket = socket.ok_or_else(|| match last_error {
            Some(e) => unavailable(&e),
            None => unavailable(&"the host has no address"),
        })?;
        let _ = socket.set_nodelay(true);
        socket
            .set_read_timeout(Some(timeout))
            .map_err(|e| unavailable(&e))?;
        let mut conn = Self {
            socket,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            correlation: 0,
            port: at.port,
        };
        conn.handshake(at)?;
        Ok(conn)
    }

    fn handshake(&mut self, at: &Endpoint) -> Result<(), String> {
        let properties = HashMap::from([
            ("product".to_string(), "celtrace".to_string()),
            ("connection_name".to_string(), "celtrace".to_string()),
        ]);
        self.call(|c| PeerPropertiesCommand::new(c, properties))?;
        let mechanisms = match self.call(SaslHandshakeCommand::new)?.kind() {
            ResponseKind::SaslHandshake(h) => h.mechanisms,
            _ => Vec::new(),
        };
        if !mechanisms.iter().any(|m| m == "PLAIN") {
            return Err(format!(
                "on port {} does not offer PLAIN authentication (offers {mechanisms:?})",
                self.port
            ));
        }
        let credentials = format!("\u{0}{}\u{0}{}", at.user, at.password).into_bytes();
        let reply = self.call(|c| SaslAuthenticateCommand::new(c, "PLAIN".into(), credentials))?;
        refused_unless_ok(&reply, "refused the credentials")?;
        // The broker proposes its frame size and heartbeat next.
        let tune = loop {
            let frame = self
                .next_frame()
                .map_err(|stall| self.said_of_command(stall))?;
            let (key, _) =
                stream_wire::frame_key(&self.buf[frame.start + 4..frame.end]).map_err(|e| e.0)?;
            if key == KEY_TUNE {
                break decode(&self.buf[frame])?;
            }
        };
        let max_frame = match tune.kind_ref() {
            ResponseKind::Tunes(t) => t.max_frame_size,
            _ => 0,
        };
        self.send(TunesCommand::new(max_frame, 0))?;
        let reply = self.call(|c| OpenCommand::new(c, at.vhost.clone()))?;
        match reply.kind_ref() {
            ResponseKind::Open(open) if open.is_ok() => Ok(()),
            ResponseKind::Open(open) => Err(format!(
                "refused virtual host `{}` ({:?})",
                at.vhost,
                open.code()
            )),
            _ => Err("answered the open with something else".to_string()),
        }
    }

    /// Subscribes `id` to `stream` from `offset`, with `credit` chunks in flight.
    pub fn subscribe(
        &mut self,
        id: u8,
        stream: &str,
        offset: OffsetSpecification,
        credit: u16,
    ) -> Result<(), String> {
        let reply = self.call(|c| {
            SubscribeCommand::new(c, id, stream.to_string(), offset, credit, HashMap::new())
        })?;
        refused_unless_ok(&reply, &format!("could not subscribe to `{stream}`"))
    }

    /// Ends subscription `id`; chunks still in flight for it are dropped.
    pub fn unsubscribe(&mut self, id: u8) -> Result<(), String> {
        self.call(|c| UnSubscribeCommand::new(c, id)).map(|_| ())
    }

    /// Asks for `n` more chunks on subscription `id` mid-read (the broker answers only a
    /// refusal). A connection the broker closed fails here first, as a broken pipe.
    pub fn credit(&mut self, id: u8, n: u16) -> Result<(), String> {
        let bytes = encode(CreditCommand::new(id, n).into())?;
        self.socket.write_all(&bytes).map_err(|e| {
            let stall = match e.kind() {
                std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted => Stall::Closed,
                _ => Stall::Failed(e),
            };
            stall.mid_read(None)
        })
    }

    /// Sets how long a read waits for the broker before it is a stall.
    pub fn wait_at_most(&mut self, timeout: Duration) {
        let _ = self.socket.set_read_timeout(Some(timeout));
    }

    /// The next chunk delivered to subscription `id` (chunks for others, still in flight
    /// for a subscription that ended, are dropped). A stall is `Ok(None)`.
    pub fn next_chunk(&mut self, id: u8) -> Result<Option<Chunk<'_>>, String> {
        let frame = loop {
            let frame = match self.next_frame() {
                Ok(frame) => frame,
                Err(Stall::Timeout) => return Ok(None),
                Err(stall) => return Err(stall.mid_read(self.socket.read_timeout().ok().flatten())),
            };
            let body = &self.buf[frame.start + 4..frame.end];
            let (key, rest) = stream_wire::frame_key(body).map_err(|e| e.0)?;
            match key {
                KEY_DELIVER if rest.first() == Some(&id) => break frame,
                KEY_CLOSE => return Err(closed_by_broker(rest)),
                _ => {}
            }
        };
        let body = &self.buf[frame.start + 8..frame.end];
        stream_wire::chunk(body).map(Some).map_err(|e| e.0)
    }

    /// Says goodbye (briefly: nothing more is needed from the broker).
    pub fn close(mut self) {
        self.wait_at_most(Duration::from_secs(1));
        let _ = self.call(|c| CloseRequest::new(c, ResponseCode::Ok, "done".into()));
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }

    fn said_of_command(&self, stall: Stall) -> String {
        stall.on_command(self.port, self.socket.read_timeout().ok().flatten())
    }

    fn send(&mut self, request: impl Into<Request>) -> Result<(), String> {
        let bytes = encode(request.into())?;
        self.socket
            .write_all(&bytes)
            .map_err(|e| format!("failed on port {}: {e}", self.port))
    }

    /// Sends a request and waits for its reply; deliveries meanwhile are dropped (they are
    /// for a subscription being ended, or come after the reply that starts them).
    fn call<R: Into<Request>>(
        &mut self,
        request: impl FnOnce(u32) -> R,
    ) -> Result<Response, String> {
        self.correlation += 1;
        let id = self.correlation;
        self.send(request(id))?;
        loop {
            let frame = self
                .next_frame()
                .map_err(|stall| self.said_of_command(stall))?;
            let body = &self.buf[frame.start + 4..frame.end];
            let (key, rest) = stream_wire::frame_key(body).map_err(|e| e.0)?;
            match key {
                KEY_DELIVER | KEY_TUNE | stream_wire::KEY_HEARTBEAT => continue,
                // The broker's own close carries a reason; a reply to ours has none.
                KEY_CLOSE if body[0] & 0x80 == 0 => return Err(closed_by_broker(rest)),
                _ => {}
            }
            let reply = decode(&self.buf[frame])?;
            if reply.correlation_id() == Some(id) {
                return Ok(reply);
            }
        }
    }

    /// The range of the next whole frame (its size included) in `buf`.
    fn next_frame(&mut self) -> Result<Range<usize>, Stall> {
        loop {
            let unread = self.end - self.start;
            if unread >= 4 {
                let size = &self.buf[self.start..self.start + 4];
                let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
                if !(4..=MAX_FRAME).contains(&size) {
                    return Err(Stall::Failed(std::io::Error::other(format!(
                        "the broker sent a frame of {size} bytes, which is not a stream-protocol frame"
                    ))));
                }
                let whole = 4 + size;
                if unread >= whole {
                    let frame = self.start..self.start + whole;
                    self.start += whole;
                    return Ok(frame);
                }
                self.make_room(whole);
            } else {
                self.make_room(4);
            }
            let read = self.socket.read(&mut self.buf[self.end..]);
            match read {
                Ok(0) => return Err(Stall::Closed),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Stall::Closed);
                }
                Ok(n) => self.end += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Stall::Timeout);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stall::Failed(e)),
            }
        }
    }

    /// Room after the unread bytes for a frame of `whole` bytes and a full read besides.
    fn make_room(&mut self, whole: usize) {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.buf.len() - self.start >= whole.max(READ_BUFFER / 2) {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.end - self.start);
        if self.buf.len() < whole + READ_BUFFER / 2 {
            self.buf.resize(whole + READ_BUFFER, 0);
        }
    }
}

/// Why no frame came: nothing within the wait, the broker closed the connection, or the
/// socket failed.
enum Stall {
    Timeout,
    Closed,
    Failed(std::io::Error),
}

impl Stall {
    /// Said of a read under way.
    fn mid_read(self, wait: Option<Duration>) -> String {
        match self {
            Self::Timeout => format!(
                "the broker sent nothing for {}s",
                wait.unwrap_or_default().as_secs()
            ),
            Self::Closed => "the broker closed the stream protocol connection mid-read (an operator, a shutdown or a policy)".to_string(),
            Self::Failed(e) => format!("the stream protocol connection failed mid-read: {e}"),
        }
    }

    /// Said of a command, as what the stream protocol did (the reason AMQP is used instead).
    fn on_command(self, port: u16, wait: Option<Duration>) -> String {
        match self {
            Self::Timeout => format!(
                "did not answer on port {port} within {}s",
                wait.unwrap_or_default().as_secs()
            ),
            Self::Closed => format!("closed the connection on port {port} before it answered"),
            Self::Failed(e) => format!("failed on port {port}: {e}"),
        }
    }
}

fn encode(request: Request) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(request.encoded_size() as usize + 4);
    request
        .encode(&mut bytes)
        .map_err(|e| format!("could not encode a request: {e:?}"))?;
    Ok(bytes)
}

fn decode(frame: &[u8]) -> Result<Response, String> {
    Response::decode(frame)
        .map(|(_, reply)| reply)
        .map_err(|e| format!("sent a reply that does not decode: {e:?}"))
}

fn refused_unless_ok(reply: &Response, what: &str) -> Result<(), String> {
    match reply.kind_ref() {
        ResponseKind::Generic(g) if g.is_ok() => Ok(()),
        ResponseKind::Generic(g) => Err(format!("{what} ({:?})", g.code())),
        _ => Err(format!("{what} (an unexpected reply)")),
    }
}

/// The broker's close: correlation id, code, then its reason as a short string.
fn closed_by_broker(rest: &[u8]) -> String {
    let reason = rest
        .get(8..)
        .map(|r| String::from_utf8_lossy(r).trim().to_string())
        .unwrap_or_default();
    format!("the broker closed the stream protocol connection mid-read: {reason}")
}
