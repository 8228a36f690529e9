//! The bytes of a stream-protocol `Deliver` frame, read in place: the chunk's header, its
//! entries, and each message's AMQP 1.0 data sections (the event body as Celery published
//! it). Nothing is copied or allocated per message.
//!
//! Why not the official client's decoder: it copies every message into a vector of its own,
//! decodes every section of it into owned maps and strings, copies the body again, and
//! decodes a frame from its start again each time more of it arrives. On a million events
//! that was the read's ceiling. The other commands keep to the official protocol crate.

use std::borrow::Cow;

/// Command keys (a response carries its request's key with the top bit set).
pub const KEY_DELIVER: u16 = 8;
pub const KEY_TUNE: u16 = 20;
pub const KEY_CLOSE: u16 = 22;
pub const KEY_HEARTBEAT: u16 = 23;

/// Something in a frame that is not as the protocol says: said, never read past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

fn short(what: &str) -> WireError {
    WireError(format!("a frame ended inside {what}"))
}

/// A cursor over a frame's bytes, big-endian as the protocol is.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(short(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, WireError> {
        let b = self.take(8, what)?;
        let mut word = [0; 8];
        word.copy_from_slice(b);
        Ok(u64::from_be_bytes(word))
    }
}

/// A frame's command key (response bit cleared) and the bytes after its header.
pub fn frame_key(frame: &[u8]) -> Result<(u16, &[u8]), WireError> {
    let mut bytes = Bytes(frame);
    let key = bytes.u16("a frame's key")? & 0x7fff;
    bytes.u16("a frame's version")?;
    Ok((key, bytes.0))
}

/// A `Deliver` frame's chunk, its messages still in the frame's bytes.
#[derive(Debug)]
pub struct Chunk<'a> {
    /// The offset of its first message.
    pub first: u64,
    /// How many offsets it holds.
    pub records: u64,
    /// 0 for messages; other kinds (a publisher's tracking) hold none.
    pub kind: u8,
    entries: u16,
    data: &'a [u8],
}

/// Reads a `Deliver` frame's body (after the key and version).
pub fn chunk(body: &[u8]) -> Result<Chunk<'_>, WireError> {
    let mut b = Bytes(body);
    b.u8("a delivery's subscription")?;
    let magic = b.u8("a chunk's header")?;
    if magic >> 4 != 5 {
        return Err(WireError(format!(
            "a chunk's header starts with 0x{magic:02x}, not an osiris chunk (0x5_)"
        )));
    }
    let kind = b.u8("a chunk's header")?;
    let entries = b.u16("a chunk's header")?;
    let records = u64::from(b.u32("a chunk's header")?);
    b.u64("a chunk's timestamp")?;
    b.u64("a chunk's epoch")?;
    let first = b.u64("a chunk's first offset")?;
    let crc = b.u32("a chunk's checksum")?;
    let length = b.u32("a chunk's length")? as usize;
    b.u32("a chunk's trailer length")?;
    b.u32("a chunk's header")?;
    let data = b.take(length, "a chunk's data")?;
    if crc32fast::hash(data) != crc {
        return Err(WireError(format!(
            "the chunk at offset {first} does not match its checksum"
        )));
    }
    Ok(Chunk {
        first,
        records,
        kind,
        entries,
        data,
    })
}

impl<'a> Chunk<'a> {
    /// The bytes of its records, framing included.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Each record's bytes (an AMQP 1.0 message), in offset order. An entry may batch
    /// records; a compressed batch is refused rather than skipped. After the last record,
    /// a count that does not match the header is an error too.
    pub fn records(&self) -> Records<'a> {
        let user_data = self.kind == 0;
        Records {
            bytes: Bytes(self.data),
            entries: if user_data { self.entries } else { 0 },
            batch: Bytes(&[]),
            in_batch: 0,
            first: self.first,
            records: if user_data { self.records } else { 0 },
            seen: 0,
            done: false,
        }
    }

    /// Each record's offset and body ([`body`]), in order; an error ends it.
    pub fn bodies(&self) -> impl Iterator<Item = (u64, Body<'a>)> + use<'a> {
        let first = self.first;
        self.records()
            .enumerate()
            .map(move |(i, record)| (first + i as u64, record.and_then(body)))
    }
}

/// The records of a [`Chunk`]; it ends after its first error.
pub struct Records<'a> {
    bytes: Bytes<'a>,
    entries: u16,
    batch: Bytes<'a>,
    in_batch: u16,
    first: u64,
    records: u64,
    seen: u64,
    done: bool,
}

impl<'a> Records<'a> {
    fn step(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        loop {
            if self.in_batch > 0 {
                self.in_batch -= 1;
                let size = self.batch.u32("a batched record's size")? as usize;
                self.seen += 1;
                return self.batch.take(size, "a batched record").map(Some);
            }
            if self.entries == 0 {
                if self.seen != self.records {
                    return Err(WireError(format!(
                        "the chunk at offset {} says {} records and holds {}",
                        self.first, self.records, self.seen
                    )));
                }
                return Ok(None);
            }
            self.entries -= 1;
            let head = self.bytes.u8("an entry's header")?;
            if head & 0x80 == 0 {
                // A simple entry: its size's top bit is the 0 just read.
                let rest = self.bytes.take(3, "an entry's size")?;
                let size = u32::from_be_bytes([head, rest[0], rest[1], rest[2]]) as usize;
                self.seen += 1;
                return self.bytes.take(size, "an entry").map(Some);
            }
            let compression = (head >> 4) & 0x07;
            let count = self.bytes.u16("a batch's record count")?;
            self.bytes.u32("a batch's uncompressed size")?;
            let size = self.bytes.u32("a batch's size")? as usize;
            let batch = self.bytes.take(size, "a batch")?;
            if compression != 0 {
                return Err(WireError(format!(
                    "the chunk at offset {} holds a compressed batch (compression {compression}), which celtrace does not read; CELTRACE_STREAM_PORT=0 reads it over AMQP",
                    self.first
                )));
            }
            self.batch = Bytes(batch);
            self.in_batch = count;
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A message's body as [`body`] reads it.
pub type Body<'a> = Result<Option<Cow<'a, [u8]>>, WireError>;

/// Section descriptor codes of an AMQP 1.0 message; `data` holds body bytes.
const SECTION_DATA: u64 = 0x75;
/// Deeper than any message section nests a described value.
const MAX_DEPTH: u8 = 16;

/// A message's body: its data sections joined (one, borrowed, as a rule), or `None` when
/// the body is an AMQP value or sequence (nothing Celery publishes).
pub fn body(message: &[u8]) -> Body<'_> {
    let mut b = Bytes(message);
    let mut found: Option<Cow<'_, [u8]>> = None;
    while !b.0.is_empty() {
        if b.u8("a section")? != 0x00 {
            return Err(WireError(
                "a message section is not a described value".to_string(),
            ));
        }
        let code = descriptor_code(&mut b)?;
        if code == SECTION_DATA {
            let data = binary(&mut b)?;
            found = Some(match found {
                None => Cow::Borrowed(data),
                Some(before) => {
                    let mut joined = before.into_owned();
                    joined.extend_from_slice(data);
                    Cow::Owned(joined)
                }
            });
        } else {
            skip_value(&mut b, 0)?;
        }
    }
    Ok(found)
}

/// A section's descriptor as a number (sections are described by `ulong` codes).
fn descriptor_code(b: &mut Bytes<'_>) -> Result<u64, WireError> {
    match b.u8("a section's descriptor")? {
        0x53 => Ok(u64::from(b.u8("a section's descriptor")?)),
        0x80 => b.u64("a section's descriptor"),
        0x44 => Ok(0),
        other => Err(WireError(format!(
            "a section's descriptor has type 0x{other:02x}, not a number"
        ))),
    }
}

/// A `binary` value's bytes.
fn binary<'a>(b: &mut Bytes<'a>) -> Result<&'a [u8], WireError> {
    let size = match b.u8("a data section")? {
        0xa0 => usize::from(b.u8("a data section's size")?),
        0xb0 => b.u32("a data section's size")? as usize,
        other => {
            return Err(WireError(format!(
                "a data section holds type 0x{other:02x}, not binary"
            )));
        }
    };
    b.take(size, "a data section")
}

/// Steps over one encoded value: its constructor says how long it is (AMQP 1.0's encoding
/// keeps every width in the code's top nibble), so nothing inside is read.
fn skip_value(b: &mut Bytes<'_>, depth: u8) -> Result<(), WireError> {
    let code = b.u8("a value")?;
    if code == 0x00 {
        if depth >= MAX_DEPTH {
            return Err(WireError("a value nests too deep".to_string()));
        }
        skip_value(b, depth + 1)?; // the descriptor
        return skip_value(b, depth + 1);
    }
    let size = match code >> 4 {
        0x4 => 0,
        0x5 => 1,
        0x6 => 2,
        0x7 => 4,
        0x8 => 8,
        0x9 => 16,
        0xa | 0xc | 0xe => usize::from(b.u8("a value's size")?),
        0xb | 0xd | 0xf => b.u32("a value's size")? as usize,
        _ => {
            return Err(WireError(format!("0x{code:02x} is not an AMQP 1.0 type")));
        }
    };
    b.take(size, "a value").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as RabbitMQ stores one published over AMQP 0.9.1: annotations,
    /// properties, application properties, then the body in data sections.
    fn message(bodies: &[&[u8]]) -> Vec<u8> {
        let mut m = Vec::new();
        // message-annotations: a map8 of two entries (size, count, sym8 keys, str8 values).
        let map: Vec<u8> = [
            &[0xa3, 10][..],
            b"x-exchange",
            &[0xa1, 8],
            b"celeryev",
            &[0xa3, 13],
            b"x-routing-key",
            &[0xa1, 9],
            b"task.sent",
        ]
        .concat();
        m.extend_from_slice(&[0x00, 0x53, 0x72, 0xc1, (map.len() + 1) as u8, 4]);
        m.extend_from_slice(&map);
        // properties: a list32 with null fields, then content-type, a symbol.
        let list: Vec<u8> = [&[0x40; 6][..], &[0xa3, 16], b"application/json"].concat();
        m.extend_from_slice(&[0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x73, 0xd0]);
        m.extend_from_slice(&((list.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&list);
        // application-properties: an empty map.
        m.extend_from_slice(&[0x00, 0x53, 0x74, 0xc1, 1, 0]);
        for body in bodies {
            if body.len() < 256 {
                m.extend_from_slice(&[0x00, 0x53, 0x75, 0xa0, body.len() as u8]);
            } else {
                m.extend_from_slice(&[0x00, 0x53, 0x75, 0xb0]);
                m.extend_from_slice(&(body.len() as u32).to_be_bytes());
            }
            m.extend_from_slice(body);
        }
        m
    }

    /// A `Deliver` frame body for these records, as simple entries or one plain batch.
    fn deliver(first: u64, records: &[Vec<u8>], batched: bool) -> Vec<u8> {
        let mut data = Vec::new();
        let entries: u16 = if batched {
            let mut batch = Vec::new();
            for r in records {
                batch.extend_from_slice(&(r.len() as u32).to_be_bytes());
                batch.extend_from_slice(r);
            }
            data.push(0x80);
            data.extend_from_slice(&(records.len() as u16).to_be_bytes());
            data.extend_from_slice(&(batch.len() as u32).to_be_bytes());
            data.extend_from_slice(&(batch.len() as u32).to_be_bytes());
            data.extend_from_slice(&batch);
            1
        } else {
            for r in records {
                data.extend_from_slice(&(r.len() as u32).to_be_bytes());
                data.extend_from_slice(r);
            }
            records.len() as u16
        };
        let mut f = vec![7, 0x50, 0];
        f.extend_from_slice(&entries.to_be_bytes());
        f.extend_from_slice(&(records.len() as u32).to_be_bytes());
        f.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        f.extend_from_slice(&1u64.to_be_bytes());
        f.extend_from_slice(&first.to_be_bytes());
        f.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
        f.extend_from_slice(&(data.len() as u32).to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&data);
        f
    }

    fn bodies(frame: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
        chunk(frame)?
            .records()
            .map(|r| Ok(body(r?)?.map(Cow::into_owned).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_chunk_gives_each_body_in_offset_order_past_every_other_section() {
        let long = vec![b'x'; 300];
        // A footer holding a described value in a list, after the body: stepped over too.
        let mut footed = message(&[br#"{"a":"#, br#"1}"#]);
        footed.extend_from_slice(&[0x00, 0x53, 0x78, 0xc0, 6, 1, 0x00, 0x53, 0x01, 0x52, 7]);
        let records = vec![
            message(&[br#"{"type":"task-sent"}"#]),
            message(&[&long]),
            footed,
        ];
        for batched in [false, true] {
            let frame = deliver(40, &records, batched);
            let c = chunk(&frame).unwrap();
            assert_eq!((c.first, c.records), (40, 3));
            assert_eq!(
                bodies(&frame).unwrap(),
                vec![
                    br#"{"type":"task-sent"}"#.to_vec(),
                    long.clone(),
                    br#"{"a":1}"#.to_vec()
                ]
            );
        }
    }

    #[test]
    fn a_body_the_official_decoder_reads_is_read_the_same() {
        use rabbitmq_stream_protocol::codec::Decoder;
        use rabbitmq_stream_protocol::message::Message;
        for body_text in [&b"{}"[..], &[b'y'; 70_000][..]] {
            let m = message(&[body_text]);
            let (_, official) = Message::decode(&m).unwrap();
            assert_eq!(official.data(), Some(body_text));
            assert_eq!(body(&m).unwrap().as_deref(), Some(body_text));
        }
    }

    #[test]
    fn a_damaged_chunk_is_an_error_never_a_shorter_read() {
        let frame = deliver(0, &[message(&[b"{}"]), message(&[b"[]"])], false);
        // A flipped byte in the data: the checksum says so.
        let mut flipped = frame.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(chunk(&flipped).unwrap_err().0.contains("checksum"));
        // Cut anywhere: an error, not a panic.
        for n in 0..frame.len() {
            assert!(bodies(&frame[..n]).is_err(), "cut at {n}");
        }
        // A record count that does not match the entries.
        let mut counted = frame.clone();
        counted[8] = 3;
        assert!(bodies(&counted).unwrap_err().0.contains("says 3 records"));
        // Not a chunk at all.
        let mut magic = frame;
        magic[1] = 0x10;
        assert!(chunk(&magic).unwrap_err().0.contains("osiris"));
    }

    #[test]
    fn a_compressed_batch_is_refused_with_the_way_around_it() {
        let mut frame = deliver(5, &[message(&[b"{}"])], true);
        // The chunk's data starts after 49 bytes of header; its checksum is at 33..37.
        frame[49] = 0x90; // the batch's header: compression 1 (gzip)
        let crc = crc32fast::hash(&frame[49..]);
        frame[33..37].copy_from_slice(&crc.to_be_bytes());
        let err = bodies(&frame).unwrap_err().0;
        assert!(err.contains("compressed") && err.contains("CELTRACE_STREAM_PORT=0"));
    }

    #[test]
    fn garbage_never_panics_and_never_reads_past_a_record() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..300), entries in 0u16..6)| {
            let _ = body(&bytes);
            let _ = frame_key(&bytes);
            let _ = chunk(&bytes);
            // A well-formed header with a valid checksum over garbage data: the entries and
            // sections inside are what is tested.
            let mut frame = deliver(9, &[], false);
            frame[3..5].copy_from_slice(&entries.to_be_bytes());
            frame[5..9].copy_from_slice(&u32::from(entries).to_be_bytes());
            frame[33..37].copy_from_slice(&crc32fast::hash(&bytes).to_be_bytes());
            frame[37..41].copy_from_slice(&(bytes.len() as u32).to_be_bytes());
            frame.extend_from_slice(&bytes);
            let c = chunk(&frame).unwrap();
            for record in c.records() {
                match record {
                    Ok(r) => {
                        prop_assert!(r.len() <= bytes.len());
                        if let Ok(Some(b)) = body(r) {
                            prop_assert!(b.len() <= r.len());
                        }
                    }
                    Err(e) => prop_assert!(!e.0.is_empty()),
                }
            }
        });
    }

    #[test]
    fn a_frame_key_drops_the_response_bit() {
        assert_eq!(frame_key(&[0x80, 0x07, 0, 1, 9]).unwrap(), (7, &[9u8][..]));
        assert_eq!(frame_key(&[0, 8, 0, 1]).unwrap().0, KEY_DELIVER);
        assert!(frame_key(&[0]).is_err());
    }
}
