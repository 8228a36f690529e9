//! Keeping the index of a stream queue (`celtrace record --index`, layout in [`super::index`]):
//! read the event stream from where the index ends, file each message's offset under the
//! tasks and workers it names, and publish one span per [`SPAN_MESSAGES`] messages to the
//! index queue, each confirmed by the broker before the next is built.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};

use super::index::{Index, SPAN_MESSAGES, Span, SpanBuilder, read_runs};
use super::{Amqp, AmqpError, Start};

/// What one step of the indexer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The next offset to index.
    pub next: i64,
    /// Messages indexed.
    pub messages: u64,
}

impl Amqp {
    /// Declares the index queue beside the event stream, with these retention settings: a
    /// stream queue no exchange routes to.
    pub fn declare_index(
        &self,
        index_queue: &str,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Option<String>, AmqpError> {
        self.declare_stream_queue(index_queue, max_age, max_bytes, false)
    }

    /// Publishes one span to the index queue and waits for the broker's confirm: a span
    /// the broker did not take is an error, and the indexer builds it again.
    pub fn publish_span(&self, index_queue: &str, span: &Span<'_>) -> Result<(), AmqpError> {
        let body = serde_json::to_vec(span).map_err(|e| AmqpError::Command {
            url: self.label.clone(),
            reason: format!("cannot encode an index span: {e}"),
        })?;
        self.with_channel(async |_, ch| {
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| self.fail(&e))?;
            let props = lapin::BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2);
            let confirm = ch
                .basic_publish(
                    "".into(),
                    index_queue.into(),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .map_err(|e| self.fail(&e))?
                .await
                .map_err(|e| self.fail(&e))?;
            if confirm.is_ack() {
                Ok(())
            } else {
                Err(AmqpError::Command {
                    url: self.label.clone(),
                    reason: format!("the broker did not confirm an index span to `{index_queue}`"),
                })
            }
        })
    }

    /// The text of a stream queue's whole index (a span per line, see [`Index::lines`]),
    /// and how it was read; `None` when there is no index queue or it is empty.
    pub fn read_index(
        &self,
        index_queue: &str,
    ) -> Result<Option<(Vec<u8>, super::Transport)>, AmqpError> {
        // Missing or empty, either transport says so when it opens.
        let mut reader = match self.halves_reader(index_queue) {
            Ok(reader) => reader,
            Err(AmqpError::NoQueue { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let transport = reader.transport.clone();
        Ok(Some((self.read_all(index_queue, &mut reader)?, transport)))
    }

    /// The offset after the last one the index covers: where indexing goes on. `None` when
    /// nothing is indexed yet.
    pub fn index_resumes_at(&self, index_queue: &str) -> Result<Option<i64>, AmqpError> {
        let info = match self.stream_info(index_queue) {
            Ok(Some(info)) => info,
            Ok(None) | Err(AmqpError::NoQueue { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The newest spans are the last messages; one that does not parse is looked past.
        let from = (info.last - 15).max(info.first);
        let mut reader = self.reader_until(index_queue, Start::Offset(from), None)?;
        let text = self.read_all(index_queue, &mut reader)?;
        Ok(Index::read(Index::lines(&text)).last().map(|last| last + 1))
    }

    /// Indexes the event stream from `next` (`None`: its first message) to its last message
    /// now, a span per [`SPAN_MESSAGES`]. When `stop` is set the span being built is
    /// published up to the last message read, and the step ends.
    pub fn index_step(
        &self,
        queue: &str,
        index_queue: &str,
        next: Option<i64>,
        stop: &AtomicBool,
    ) -> Result<Step, AmqpError> {
        let Some(info) = self.stream_info(queue)? else {
            return Ok(Step {
                next: next.unwrap_or(0),
                messages: 0,
            });
        };
        // What retention removed since is gone: the index goes on from what is left.
        let from = next.unwrap_or(info.first).max(info.first);
        let mut step = Step {
            next: from,
            messages: 0,
        };
        if from > info.last {
            return Ok(step);
        }
        let reader = self.offset_reader(queue, from, Some(info.last + 1))?;
        let mut builder = SpanBuilder::new(from);
        let mut span_from = from;
        let mut read_to = from - 1;
        for line in BufReader::new(reader).split(b'\n') {
            let line = line.map_err(|e| self.read_failed(queue, &e))?;
            let Some((offset, body)) = split_offset(&line) else {
                continue;
            };
            if offset >= span_from + SPAN_MESSAGES {
                let done = std::mem::replace(&mut builder, SpanBuilder::new(offset));
                self.publish_span(index_queue, &done.finish(offset - 1))?;
                step.next = offset;
                span_from = offset;
            }
            builder.add(offset, &String::from_utf8_lossy(body));
            read_to = offset;
            step.messages += 1;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if read_to >= span_from {
            self.publish_span(index_queue, &builder.finish(read_to))?;
            step.next = read_to + 1;
        }
        Ok(step)
    }

    /// The bodies at these offsets of `queue`, one line each: offsets at most `gap` apart
    /// are read in one run. Over one stream-protocol connection when the plugin answers,
    /// else a read per run over AMQP.
    pub fn read_offsets(
        &self,
        queue: &str,
        offsets: &BTreeSet<i64>,
        gap: i64,
    ) -> Result<Vec<u8>, AmqpError> {
        let runs = read_runs(offsets, gap);
        let wanted = |o: i64| offsets.contains(&o);
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        if let Ok(lines) = self.runs_by_stream_protocol(queue, &runs, &wanted) {
            return Ok(lines);
        }
        let mut out = Vec::new();
        for (first, last) in runs {
            let reader = self.offset_reader(queue, first, Some(last + 1))?;
            for line in BufReader::new(reader).split(b'\n') {
                let line = line.map_err(|e| self.read_failed(queue, &e))?;
                if let Some((offset, body)) = split_offset(&line)
                    && wanted(offset)
                {
                    out.extend_from_slice(body);
                    out.push(b'\n');
                }
            }
        }
        Ok(out)
    }

    /// Everything a reader of `queue` hands on.
    fn read_all(&self, queue: &str, reader: &mut super::AmqpReader) -> Result<Vec<u8>, AmqpError> {
        let mut text = Vec::new();
        std::io::Read::read_to_end(reader, &mut text).map_err(|e| self.read_failed(queue, &e))?;
        Ok(text)
    }

    fn read_failed(&self, queue: &str, e: &std::io::Error) -> AmqpError {
        match e.get_ref().and_then(|e| e.downcast_ref::<AmqpError>()) {
            Some(amqp) => amqp.clone(),
            None => AmqpError::Closed {
                url: self.label.clone(),
                reason: format!("reading `{queue}`: {e}"),
            },
        }
    }
}

/// `<offset> <body>` as an offset reader writes each line.
pub fn split_offset(line: &[u8]) -> Option<(i64, &[u8])> {
    let space = memchr::memchr(b' ', line)?;
    let offset = std::str::from_utf8(&line[..space]).ok()?.parse().ok()?;
    Some((offset, &line[space + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_line_splits_at_its_first_space() {
        assert_eq!(
            split_offset(b"42 {\"a\": 1}"),
            Some((42, &b"{\"a\": 1}"[..]))
        );
        assert_eq!(split_offset(b"42 "), Some((42, &b""[..])));
        assert_eq!(split_offset(b"x {}"), None);
        assert_eq!(split_offset(b"42"), None);
    }
}
