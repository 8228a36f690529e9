//! Reading the stream queue back: a consumer thread hands blocks of recording lines to a
//! synchronous [`AmqpReader`], from a start (first, a time, an offset) to the offset that was
//! last when the read began.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::stream_protocol::Transport;
use super::{Amqp, AmqpError, BLOCK, PREFETCH, Start, StreamInfo, long_string, stream_offset};

impl Amqp {
    /// Reads the stream queue from `start` (`first`, or a time in epoch seconds: chunk
    /// granular, so earlier events come too) to the offset that was last when the read
    /// began. Bodies become recording lines.
    pub fn reader(&self, queue: &str, start: Start) -> Result<AmqpReader, AmqpError> {
        self.reader_until(queue, start, None)
    }

    /// [`Amqp::reader`] that stops at the first message whose event time is after `end` (a
    /// stream has no time index past its chunks; callers asking for `--at` add `history::AT_SLACK`).
    pub fn reader_until(
        &self,
        queue: &str,
        start: Start,
        end: Option<f64>,
    ) -> Result<AmqpReader, AmqpError> {
        self.open_reader(queue, start, end, None, None, false)
    }

    /// Reads the messages from offset `from` up to (not including) `before`, in order, each
    /// line led by its offset and a space (`<offset> <body>`): for the indexer and for reads
    /// of chosen offsets.
    pub fn offset_reader(
        &self,
        queue: &str,
        from: i64,
        before: Option<i64>,
    ) -> Result<AmqpReader, AmqpError> {
        self.open_reader(queue, Start::Offset(from), None, None, before, true)
    }

    /// [`Amqp::reader_until`] for a reader that folds every line into a state, where order
    /// does not matter: a long read over the stream protocol may come in two halves at once,
    /// their blocks interleaved (see [`Amqp::stream_split`]).
    pub fn unordered_reader_until(
        &self,
        queue: &str,
        start: Start,
        end: Option<f64>,
    ) -> Result<AmqpReader, AmqpError> {
        self.open_reader(queue, start, end, Some(self.stream_split), None, false)
    }

    /// The whole of `queue`, in two halves at once over the stream protocol whatever its
    /// length: for a few large messages read in any order (an index's spans).
    pub fn halves_reader(&self, queue: &str) -> Result<AmqpReader, AmqpError> {
        self.open_reader(queue, Start::First, None, Some(2), None, false)
    }

    /// [`Amqp::unordered_reader_until`] that stops short of offset `before`: where an earlier
    /// read began, so a read further back never reads a message twice.
    pub fn unordered_reader_before(
        &self,
        queue: &str,
        start: Start,
        end: Option<f64>,
        before: Option<i64>,
    ) -> Result<AmqpReader, AmqpError> {
        self.open_reader(queue, start, end, Some(self.stream_split), before, false)
    }

    fn open_reader(
        &self,
        queue: &str,
        start: Start,
        end: Option<f64>,
        split: Option<u64>,
        before: Option<i64>,
        offsets: bool,
    ) -> Result<AmqpReader, AmqpError> {
        let (tx, rx) = sync_channel::<Result<Vec<u8>, AmqpError>>(8);
        let (opened_tx, opened_rx) =
            std::sync::mpsc::channel::<Result<(Transport, StreamInfo), AmqpError>>();
        let this = self.clone();
        let queue = queue.to_string();
        let first_read = Arc::new(AtomicI64::new(NOTHING_READ));
        let first = first_read.clone();
        std::thread::spawn(move || {
            let opened = |t: Transport, info: StreamInfo| {
                let _ = opened_tx.send(Ok((t, info)));
            };
            let read = ReadSpan {
                start,
                end,
                before,
                first: &first,
                offsets,
            };
            // The stream protocol when the plugin answers, else AMQP.
            let Err(why) = this.consume_stream_protocol(&queue, &read, split, &tx, &opened) else {
                return;
            };
            let info = match this.stream_info(&queue) {
                Ok(Some(info)) => read.capped(info),
                Ok(None) => {
                    let _ = opened_tx.send(Err(AmqpError::NoQueue {
                        url: this.label.clone(),
                        queue: queue.clone(),
                    }));
                    return;
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            opened(Transport::Amqp(why), info);
            if let Err(e) = this.consume_into(&queue, &read, info.last, &tx) {
                let _ = tx.send(Err(e));
            }
        });
        let (transport, info) = opened_rx.recv().unwrap_or_else(|_| {
            Err(AmqpError::Closed {
                url: self.label.clone(),
                reason: "the reading thread ended before the read began".to_string(),
            })
        })?;
        Ok(AmqpReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            info,
            transport,
            progress: indicatif::ProgressBar::hidden(),
            done: false,
            first_read,
        })
    }

    fn consume_into(
        &self,
        queue: &str,
        read: &ReadSpan<'_>,
        last: i64,
        tx: &SyncSender<Result<Vec<u8>, AmqpError>>,
    ) -> Result<(), AmqpError> {
        let (start, end) = (read.start, read.end);
        // Past the last offset RabbitMQ would wait for more, as if it were coming.
        if let Start::Offset(o) = start
            && o > last
        {
            return Ok(());
        }
        self.with_channel(async |_, ch| {
            // From a time, the offset it reaches first: past the newest message RabbitMQ
            // waits for more as if it were coming, and the probe tells that apart.
            let start = match start {
                Start::Time(t) => match self.offset_at_time(ch, queue, t).await? {
                    Some(offset) => AMQPValue::LongLongInt(offset),
                    None => return Ok(()),
                },
                Start::Offset(o) => AMQPValue::LongLongInt(o),
                Start::First => long_string("first"),
            };
            ch.basic_qos(PREFETCH, BasicQosOptions::default())
                .await
                .map_err(|e| self.fail(&e))?;
            let mut args = FieldTable::default();
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
            let mut noted = false;
            let mut unacked = 0;
            loop {
                let Some(delivery) = consumer.next().await else {
                    break;
                };
                let delivery = delivery.map_err(|e| self.fail(&e))?;
                let offset = stream_offset(&delivery);
                if offset.is_some_and(|o| o > last) {
                    break;
                }
                if let (Some(end), Some(t)) = (end, body_time(&delivery.data))
                    && t > end
                {
                    break;
                }
                // Deliveries come in order: the first one is the read's first offset.
                if !noted && let Some(offset) = offset {
                    read.note_first(offset);
                    noted = true;
                }
                push_line(&mut block, offset.filter(|_| read.offsets), &delivery.data);
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
}

/// What one read asks for: where it starts, the event time it stops after, the offset it
/// stops short of, and where it tells the first offset it read.
pub(super) struct ReadSpan<'a> {
    pub start: Start,
    pub end: Option<f64>,
    pub before: Option<i64>,
    pub first: &'a AtomicI64,
    /// Each line led by its offset and a space.
    pub offsets: bool,
}

/// The first offset a read delivered.
#[derive(Clone)]
pub struct FirstOffset(Arc<AtomicI64>);

impl FirstOffset {
    /// `None`: nothing was read (yet).
    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&o| o != NOTHING_READ)
    }
}

/// [`FirstOffset`] before anything was read.
const NOTHING_READ: i64 = i64::MAX;

impl ReadSpan<'_> {
    /// The stream's offsets as this read sees them: none at or past `before`.
    pub fn capped(&self, info: StreamInfo) -> StreamInfo {
        StreamInfo {
            last: self.before.map_or(info.last, |b| info.last.min(b - 1)),
            ..info
        }
    }

    /// Called with the first offset of each run read in order (a split read's halves each
    /// call it): the smallest is kept.
    pub fn note_first(&self, offset: i64) {
        self.first.fetch_min(offset, Ordering::Relaxed);
    }
}

/// The event time of a message body: its first `"timestamp"` (a batch's first event), read
/// without parsing the whole body.
pub fn body_time(body: &[u8]) -> Option<f64> {
    let key = b"\"timestamp\"";
    let at = memchr::memmem::find(body, key)? + key.len();
    let rest = &body[at..];
    let start = rest.iter().position(|b| !matches!(b, b' ' | b':'))?;
    let len = rest[start..]
        .iter()
        .position(|b| !(b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+')))
        .unwrap_or(rest.len() - start);
    std::str::from_utf8(&rest[start..start + len])
        .ok()?
        .parse()
        .ok()
}

/// A body as one recording line, led by its offset when one is given: JSON never needs a
/// raw line break.
pub(super) fn push_line(block: &mut Vec<u8>, offset: Option<i64>, body: &[u8]) {
    if let Some(offset) = offset {
        block.extend_from_slice(offset.to_string().as_bytes());
        block.push(b' ');
    }
    // JSON bodies hold no raw line breaks as a rule: copy them whole.
    if memchr::memchr2(b'\n', b'\r', body).is_none() {
        block.extend_from_slice(body);
    } else {
        block.extend(
            body.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    }
    block.push(b'\n');
}

/// Lines of a stream queue read, fed by a consumer thread.
pub struct AmqpReader {
    rx: Receiver<Result<Vec<u8>, AmqpError>>,
    buf: Vec<u8>,
    pos: usize,
    pub info: StreamInfo,
    /// How it reads: the stream protocol, or AMQP and why.
    pub transport: Transport,
    progress: indicatif::ProgressBar,
    done: bool,
    first_read: Arc<AtomicI64>,
}

impl AmqpReader {
    /// Where the first offset this read delivers can be asked once it is over.
    pub fn first_offset(&self) -> FirstOffset {
        FirstOffset(self.first_read.clone())
    }

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
    use super::body_time;

    #[test]
    fn a_read_before_an_offset_sees_the_stream_end_there_and_tells_its_first_offset() {
        use std::sync::atomic::AtomicI64;
        let shared = std::sync::Arc::new(AtomicI64::new(super::NOTHING_READ));
        let span = |before| super::ReadSpan {
            start: super::Start::First,
            end: None,
            before,
            first: &shared,
            offsets: false,
        };
        let info = super::StreamInfo {
            first: 10,
            last: 99,
        };
        assert_eq!(span(None).capped(info).last, 99);
        assert_eq!(span(Some(500)).capped(info).last, 99);
        assert_eq!(span(Some(50)).capped(info).last, 49);
        assert_eq!(span(Some(50)).capped(info).first, 10);
        // Nothing before the stream's first offset: an empty range.
        assert_eq!(span(Some(10)).capped(info).messages(), 0);
        let told = super::FirstOffset(shared.clone());
        assert_eq!(told.get(), None);
        let read = span(None);
        for offset in [40, 42, 30, 31] {
            read.note_first(offset);
        }
        assert_eq!(told.get(), Some(30));
    }

    #[test]
    fn the_time_of_a_body_is_its_first_timestamp() {
        assert_eq!(
            body_time(br#"{"type": "task-sent", "timestamp": 1795333600.25}"#),
            Some(1795333600.25)
        );
        assert_eq!(
            body_time(br#"[{"timestamp":12.5,"type":"x"},{"timestamp":13}]"#),
            Some(12.5)
        );
        assert_eq!(body_time(br#"{"type": "worker-heartbeat"}"#), None);
        assert_eq!(body_time(br#"{"timestamp": null}"#), None);
    }
}
