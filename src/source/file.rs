//! Recordings on disk (or stdin): NDJSON, one entry per line.
//!
//! Reading is a small pipeline so decoding uses both cores: one thread cuts the input into
//! chunks at line ends, decoder threads turn chunks into owned events, and the calling thread
//! folds them into the state in input order. Memory stays bounded by the chunks in flight,
//! whatever the size of the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use std::sync::Mutex;

use crate::model::Event;
use crate::model::decode::{self, DecodeIssue, IssueKind, MAX_ENTRY_BYTES};
use crate::state::State;
use crate::state::prepare::{LocalSyms, Prepared, prepare};

use super::record::{self, RecordError};

const CHUNK_BYTES: usize = 512 * 1024;
/// Issues kept with their details (all are counted).
pub const KEPT_ISSUES: usize = 200;
const EXCERPT_CHARS: usize = 80;

/// Where a recording comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::Path(arg.to_path_buf())
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Stdin => "<stdin>".to_string(),
        }
    }
}

/// A problem with one line of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct LineIssue {
    pub line: u64,
    pub kind: IssueKind,
    pub message: String,
    pub excerpt: String,
}

/// What a read went through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub source: String,
    /// Non-blank lines read.
    pub entries: u64,
    /// Events decoded and applied.
    pub events: u64,
    /// Every issue, counted by kind.
    pub issue_counts: BTreeMap<IssueKind, u64>,
    /// The first [`KEPT_ISSUES`] issues in input order.
    pub issues: Vec<LineIssue>,
    /// Lines a [`LineFilter`] let through undecoded (not problems: the query did not need them).
    pub filtered: u64,
    /// Newest `timestamp` among lines a [`LineFilter`] skipped: the data still reaches that far.
    pub skipped_until: Option<f64>,
    /// Stretches of the read's time range the recording misses (recorded streams only).
    pub gaps: Vec<super::recorded::Gap>,
}

impl LoadReport {
    pub fn total_issues(&self) -> u64 {
        self.issue_counts.values().sum()
    }

    /// Issues that lost an entry (or a batch element), as opposed to flaws in kept events.
    pub fn lost(&self) -> u64 {
        self.issue_counts
            .iter()
            .filter(|(k, _)| k.is_loss())
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds a further read of the same source: its counts, and its issues numbered on from
    /// the lines read before it.
    pub fn absorb(&mut self, other: LoadReport) {
        let base = self.entries;
        if self.source.is_empty() {
            self.source = other.source;
        }
        self.entries += other.entries;
        self.events += other.events;
        self.filtered += other.filtered;
        for (kind, n) in other.issue_counts {
            *self.issue_counts.entry(kind).or_default() += n;
        }
        let room = KEPT_ISSUES.saturating_sub(self.issues.len());
        self.issues
            .extend(other.issues.into_iter().take(room).map(|mut i| {
                i.line += base;
                i
            }));
        self.skipped_until = match (self.skipped_until, other.skipped_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.gaps.extend(other.gaps);
    }

    fn add(&mut self, issue: LineIssue) {
        *self.issue_counts.entry(issue.kind).or_default() += 1;
        if self.issues.len() < KEPT_ISSUES {
            self.issues.push(issue);
        }
    }
}

/// A run of whole lines, or (with `too_long`) one line that was skipped for its size.
/// Line numbers are counted by the decoders, not the cutter, so the cutter never scans.
struct Chunk {
    seq: u64,
    /// A buffer whose `lines` part holds the chunk: buffers are passed around whole so they
    /// stay initialised, and the next read into one needs no zeroing first.
    bytes: Vec<u8>,
    lines: Range<usize>,
    too_long: Option<usize>,
}

impl Chunk {
    fn lines(&self) -> &[u8] {
        &self.bytes[self.lines.clone()]
    }
}

struct Decoded<T> {
    seq: u64,
    /// Lines in the chunk (blank ones included), to number the next chunk's lines.
    lines: u64,
    entries: u64,
    items: Vec<T>,
    /// Issues with line numbers relative to the chunk (1 = its first line).
    issues: Vec<LineIssue>,
    filtered: u64,
    skipped_until: Option<f64>,
}

/// Lines a query can skip without decoding them: plain task events it does not need
/// (`show <id>` needs the events of a few tasks). Envelopes, worker events and celtrace
/// records are never skipped, so liveness and gaps stay right.
#[derive(Debug, Clone)]
pub struct LineFilter {
    // Searchers are built once: building one per line cost more than the search.
    uuid_key: memchr::memmem::Finder<'static>,
    timestamp_key: memchr::memmem::Finder<'static>,
    /// Keep task events whose text contains any of these (an id prefix as typed, a root id).
    mentions: Vec<memchr::memmem::Finder<'static>>,
    /// Keep task events whose `uuid` is one of these.
    ids: rustc_hash::FxHashSet<String>,
    /// A needle JSON may write escaped (`\u65e5` for `日`): lines with escapes are decoded.
    escapable: bool,
    /// Keep task events whose `timestamp` falls in this range (epoch seconds).
    window: Option<(f64, f64)>,
}

impl Default for LineFilter {
    fn default() -> Self {
        Self {
            uuid_key: memchr::memmem::Finder::new(b"\"uuid\"").into_owned(),
            timestamp_key: memchr::memmem::Finder::new(b"\"timestamp\":").into_owned(),
            mentions: Vec::new(),
            ids: rustc_hash::FxHashSet::default(),
            escapable: false,
            window: None,
        }
    }
}

impl LineFilter {
    pub fn mentions<S: AsRef<str>>(needles: &[S]) -> Self {
        Self::default().and_mentions(needles)
    }

    pub fn and_mentions<S: AsRef<str>>(mut self, needles: &[S]) -> Self {
        self.escapable |= needles.iter().any(|n| {
            n.as_ref()
                .chars()
                .any(|c| !c.is_ascii() || c.is_control() || c == '"' || c == '\\')
        });
        self.mentions.extend(
            needles
                .iter()
                .map(|n| memchr::memmem::Finder::new(n.as_ref().as_bytes()).into_owned()),
        );
        self
    }

    pub fn and_ids(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.ids.extend(ids);
        self
    }

    /// Also keeps every task event stamped between `from` and `to`.
    pub fn and_window(mut self, from: f64, to: f64) -> Self {
        self.window = Some((from, to));
        self
    }

    /// The `timestamp` of a skipped line, found without decoding it.
    fn timestamp(&self, line: &[u8]) -> Option<f64> {
        let at = self.timestamp_key.find(line)? + 12;
        let rest = &line[at..];
        let start = rest.iter().position(|c| !c.is_ascii_whitespace())?;
        let len = rest[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .count();
        std::str::from_utf8(&rest[start..start + len])
            .ok()?
            .parse()
            .ok()
    }

    fn keeps(&self, line: &[u8]) -> bool {
        // Only a decoded task event has an unescaped `"uuid"` key; anything else is kept.
        let Some(at) = self.uuid_key.find(line) else {
            return true;
        };
        if self.mentions.iter().any(|n| n.find(line).is_some()) {
            return true;
        }
        if self.escapable && memchr::memchr(b'\\', line).is_some() {
            return true;
        }
        if let Some((from, to)) = self.window
            && self.timestamp(line).is_none_or(|t| t >= from && t <= to)
        {
            return true;
        }
        if self.ids.is_empty() {
            return false;
        }
        let rest = &line[at + 6..];
        let Some(open) = memchr::memchr(b'"', rest) else {
            return true;
        };
        let value = &rest[open + 1..];
        let Some(close) = memchr::memchr2(b'"', b'\\', value) else {
            return true;
        };
        // An escaped id is unusual enough to decode rather than guess.
        value[close] == b'\\'
            || std::str::from_utf8(&value[..close]).is_ok_and(|id| self.ids.contains(id))
    }
}

/// Reads a recording and hands every event, in input order, to `apply`.
/// `apply` may stop the read by returning an error (e.g. a recording header that is too new).
pub fn read(
    input: &Input,
    apply: &mut dyn FnMut(&Event<'_>) -> Result<(), RecordError>,
) -> Result<LoadReport, RecordError> {
    read_with(
        input,
        None,
        &|| (),
        &|(), ev| ev.clone().into_owned(),
        &mut |ev| apply(&ev),
    )
}

/// The general form of [`read`]: decoder threads decode each line and turn every event into a
/// `T` with `prepare` (given a per-thread value made by `local`); `apply` receives the `T`s in
/// input order on the calling thread. Lines `filter` rejects are not decoded.
pub fn read_with<T: Send, L>(
    input: &Input,
    filter: Option<&LineFilter>,
    local: &(dyn Fn() -> L + Sync),
    prepare: &(dyn Fn(&mut L, &Event<'_>) -> T + Sync),
    apply: &mut dyn FnMut(T) -> Result<(), RecordError>,
) -> Result<LoadReport, RecordError> {
    read_with_progress(
        input,
        filter,
        local,
        prepare,
        apply,
        &indicatif::ProgressBar::hidden(),
    )
}

/// [`read_with`] that moves `progress` along the bytes read (its length is set to the file's
/// size; a hidden bar costs nothing).
pub fn read_with_progress<T: Send, L>(
    input: &Input,
    filter: Option<&LineFilter>,
    local: &(dyn Fn() -> L + Sync),
    prepare: &(dyn Fn(&mut L, &Event<'_>) -> T + Sync),
    apply: &mut dyn FnMut(T) -> Result<(), RecordError>,
    progress: &indicatif::ProgressBar,
) -> Result<LoadReport, RecordError> {
    let reader = open_input(input, progress)?;
    read_from(reader, &input.label(), filter, local, prepare, apply)
}

/// Opens a recording (gunzipping it on the fly), moving `progress` along the bytes read.
pub fn open_input(
    input: &Input,
    progress: &indicatif::ProgressBar,
) -> Result<Box<dyn Read + Send>, RecordError> {
    let label = input.label();
    let reader: Box<dyn Read + Send> = match input {
        Input::Path(p) => {
            let file = File::open(p).map_err(|e| RecordError::Open {
                path: label.clone(),
                source: e,
            })?;
            if let Ok(meta) = file.metadata() {
                progress.set_length(meta.len());
            }
            Box::new(progress.wrap_read(file))
        }
        Input::Stdin => Box::new(progress.wrap_read(io::stdin())),
    };
    maybe_gunzip(reader).map_err(|e| RecordError::Read {
        path: label,
        source: e,
    })
}

/// Recordings are often kept gzipped: recognise the gzip magic and decompress on the fly.
fn maybe_gunzip(reader: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut reader = io::BufReader::with_capacity(CHUNK_BYTES, reader);
    let head = io::BufRead::fill_buf(&mut reader)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(Gunzip(flate2::bufread::MultiGzDecoder::new(
            reader,
        ))))
    } else {
        // The peeked bytes, then straight from the source: through the BufReader, each page
        // would be copied twice.
        let head = reader.buffer().to_vec();
        Ok(Box::new(io::Cursor::new(head).chain(reader.into_inner())))
    }
}

/// A gzip stream whose decompression errors are marked as [`Damaged`]: the lines before
/// the damage are read and the damage is reported, instead of refusing the whole file.
struct Gunzip<R>(R);

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::new(e.kind(), Damaged(e.to_string()))
            }
        })
    }
}

/// The gzip stream ended in damage (cut short, corrupt data, a bad checksum).
#[derive(Debug, thiserror::Error)]
#[error(
    "the gzip stream is damaged ({0}): the lines before the damage were read, nothing after it"
)]
pub struct Damaged(String);

/// [`read_with`] over any byte stream.
pub fn read_from<T: Send, L>(
    reader: Box<dyn Read + Send>,
    label: &str,
    filter: Option<&LineFilter>,
    local: &(dyn Fn() -> L + Sync),
    prepare: &(dyn Fn(&mut L, &Event<'_>) -> T + Sync),
    apply: &mut dyn FnMut(T) -> Result<(), RecordError>,
) -> Result<LoadReport, RecordError> {
    let mut report = LoadReport {
        source: label.to_string(),
        ..LoadReport::default()
    };
    let decoders = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<Chunk>(decoders * 2);
    let chunk_rx = std::sync::Mutex::new(chunk_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<Decoded<T>>(decoders * 3);

    // Decoded chunk buffers go back to the cutter: fresh half-megabyte buffers would each be
    // mapped and faulted in by the kernel again.
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    // Likewise the batches of decoded items, emptied by the fold.
    let (batch_tx, batch_rx) = mpsc::channel::<Vec<T>>();
    let batch_rx = std::sync::Mutex::new(batch_rx);

    std::thread::scope(|scope| {
        let cutter = scope.spawn(move || cut_chunks(reader, &chunk_tx, &spare_rx));
        for _ in 0..decoders {
            let rx = &chunk_rx;
            let tx = done_tx.clone();
            let spare = spare_tx.clone();
            let batches = &batch_rx;
            scope.spawn(move || {
                let mut state = local();
                loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok(chunk)) = next else { break };
                    let items = batches
                        .lock()
                        .ok()
                        .and_then(|b| b.try_recv().ok())
                        .unwrap_or_default();
                    let decoded = decode_chunk(&chunk, items, filter, &mut state, prepare);
                    let _ = spare.send(chunk.bytes);
                    if tx.send(decoded).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(spare_tx);

        // Fold in input order, whatever order the decoders finish in.
        let mut pending: BTreeMap<u64, Decoded<T>> = BTreeMap::new();
        let mut next_seq = 0;
        let mut line_base = 0;
        let mut outcome = Ok(());
        for decoded in done_rx.iter() {
            pending.insert(decoded.seq, decoded);
            while let Some(d) = pending.remove(&next_seq) {
                next_seq += 1;
                if outcome.is_err() {
                    continue;
                }
                report.entries += d.entries;
                for mut issue in d.issues {
                    issue.line += line_base;
                    report.add(issue);
                }
                line_base += d.lines;
                report.filtered += d.filtered;
                if let Some(t) = d.skipped_until {
                    report.skipped_until = Some(report.skipped_until.map_or(t, |u: f64| u.max(t)));
                }
                let mut items = d.items;
                for item in items.drain(..) {
                    if let Err(e) = apply(item) {
                        outcome = Err(e);
                        break;
                    }
                    report.events += 1;
                }
                items.clear();
                let _ = batch_tx.send(items);
            }
            if outcome.is_err() {
                // Dropping the receiver stops the decoders and, through them, the cutter.
                break;
            }
        }
        drop(done_rx);
        let cut = cutter
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("reader thread panicked")));
        outcome?;
        match cut {
            Err(e) if e.get_ref().is_some_and(|i| i.is::<Damaged>()) => {
                report.add(LineIssue {
                    line: line_base,
                    kind: IssueKind::Damaged,
                    message: e.get_ref().map(ToString::to_string).unwrap_or_default(),
                    excerpt: String::new(),
                });
                Ok(())
            }
            other => other.map_err(|e| RecordError::Read {
                path: label.to_string(),
                source: e,
            }),
        }
    })?;
    Ok(report)
}

/// Cuts the stream into chunks that end at a line end. A line longer than
/// [`MAX_ENTRY_BYTES`] is skipped and reported instead of being held in memory.
fn cut_chunks(
    mut reader: Box<dyn Read + Send>,
    tx: &mpsc::SyncSender<Chunk>,
    spare: &mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut seq = 0;
    let mut send = |bytes: Vec<u8>, lines: Range<usize>, too_long: Option<usize>| {
        let ok = tx
            .send(Chunk {
                seq,
                bytes,
                lines,
                too_long,
            })
            .is_ok();
        seq += 1;
        ok
    };
    // Each chunk is read straight into its own buffer (no second copy); only the partial line
    // at its end moves to the next one.
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping: Option<usize> = None; // bytes of an over-long line skipped so far
    let mut first = true;
    let mut damage: Option<io::Error> = None;
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        let start = carry.len();
        let full = start + CHUNK_BYTES;
        // Zeroed once per buffer (or when a long line's carry outgrows it), not per read.
        if buf.len() < full {
            buf.resize(full, 0);
        }
        buf[..start].copy_from_slice(&carry);
        carry.clear();
        let mut end = start;
        while end < full {
            match reader.read(&mut buf[end..full]) {
                Ok(0) => break,
                Ok(n) => end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // What was read before the damage is in `buf`: cut it as the last chunk.
                Err(e) if e.get_ref().is_some_and(|i| i.is::<Damaged>()) => {
                    damage = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if end == start || damage.is_some() {
            carry.extend_from_slice(&buf[..end]);
            break;
        }
        let mut from = 0;
        if first {
            first = false;
            if buf[start..end].starts_with(b"\xEF\xBB\xBF") {
                from = start + 3; // UTF-8 BOM (the first read has no carry before it)
            }
        }
        if let Some(skipped) = skipping.as_mut() {
            match memchr::memchr(b'\n', &buf[from..end]) {
                None => {
                    *skipped += end - from;
                    continue;
                }
                Some(i) => {
                    let total = *skipped + i;
                    skipping = None;
                    if !send(Vec::new(), 0..0, Some(total)) {
                        return Ok(());
                    }
                    from += i + 1;
                }
            }
        }
        match memchr::memrchr(b'\n', &buf[from..end]).map(|i| from + i) {
            Some(last) => {
                carry.extend_from_slice(&buf[last + 1..end]);
                if !send(buf, from..last + 1, None) {
                    return Ok(());
                }
            }
            None => {
                // A line longer than a chunk: the buffer itself carries it on (no copy).
                if from == 0 {
                    buf.truncate(end);
                    carry = buf;
                } else {
                    carry.extend_from_slice(&buf[from..end]);
                }
                if carry.len() > MAX_ENTRY_BYTES {
                    skipping = Some(carry.len());
                    carry = Vec::new();
                }
            }
        }
    }
    if let Some(skipped) = skipping {
        send(Vec::new(), 0..0, Some(skipped));
    } else if !carry.is_empty() {
        let len = carry.len();
        send(carry, 0..len, None);
    }
    damage.map_or(Ok(()), Err)
}

fn too_large(line: u64, bytes: usize) -> LineIssue {
    LineIssue {
        line,
        kind: IssueKind::TooLarge,
        message: format!("line of {bytes} bytes is over the {MAX_ENTRY_BYTES} byte limit"),
        excerpt: String::new(),
    }
}

fn decode_chunk<T, L>(
    chunk: &Chunk,
    mut items: Vec<T>,
    filter: Option<&LineFilter>,
    local: &mut L,
    prepare: &(dyn Fn(&mut L, &Event<'_>) -> T + Sync),
) -> Decoded<T> {
    if let Some(bytes) = chunk.too_long {
        return Decoded {
            seq: chunk.seq,
            lines: 1,
            entries: 1,
            items,
            issues: vec![too_large(1, bytes)],
            filtered: 0,
            skipped_until: None,
        };
    }
    // About one event per 300 bytes in real recordings: sized once instead of doubling.
    items.reserve(chunk.lines.len() / 256);
    let mut issues = Vec::new();
    let mut entries = 0;
    let mut lines = 0;
    let mut skipped_until = None;
    let mut filtered = 0;
    let mut found = Vec::new();
    let bytes = chunk.lines();
    let mut start = 0;
    let ends =
        memchr::memchr_iter(b'\n', bytes).chain((!bytes.ends_with(b"\n")).then_some(bytes.len()));
    for (i, end) in ends.enumerate() {
        lines += 1;
        let line = &bytes[start..end];
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        entries += 1;
        if let Some(f) = filter.filter(|f| !f.keeps(line)) {
            filtered += 1;
            if let Some(t) = f.timestamp(line) {
                skipped_until = Some(skipped_until.map_or(t, |u: f64| u.max(t)));
            }
            continue;
        }
        found.clear();
        decode::decode_bytes(line, &mut found, &mut |ev| items.push(prepare(local, ev)));
        for DecodeIssue { kind, message } in found.drain(..) {
            issues.push(LineIssue {
                line: i as u64 + 1,
                kind,
                message: crate::scrub::diagnostics().text(&message).into_owned(),
                excerpt: excerpt(line),
            });
        }
    }
    // A chunk always ends with a newline, except the last one of the input.
    Decoded {
        seq: chunk.seq,
        lines,
        entries,
        items,
        issues,
        filtered,
        skipped_until,
    }
}

/// The start of a line, printable and scrubbed, for diagnostics.
pub fn excerpt(line: &[u8]) -> String {
    let cut = line.len().min(EXCERPT_CHARS * 4);
    let mut text = String::from_utf8_lossy(&line[..cut]).into_owned();
    if cut < line.len() {
        // Marked as cut the way Celery marks its reprs, so a secret cut short is masked whole.
        text.push_str("...");
    }
    let text = crate::scrub::diagnostics().text(&text).into_owned();
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .take(EXCERPT_CHARS)
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Reads a recording into `state`, checking the header; decoder threads prepare the events so
/// the sequential fold only does lookups and inserts. `filter` skips unrelated task events.
pub fn load_into_with_progress(
    input: &Input,
    state: &mut State,
    filter: Option<&LineFilter>,
    progress: &indicatif::ProgressBar,
) -> Result<LoadReport, RecordError> {
    let reader = open_input(input, progress)?;
    load_reader_into(reader, &input.label(), state, filter)
}

/// [`load_into_with_progress`] over any stream of recording lines (a broker's recording).
pub fn load_reader_into(
    reader: Box<dyn Read + Send>,
    label: &str,
    state: &mut State,
    filter: Option<&LineFilter>,
) -> Result<LoadReport, RecordError> {
    let shared = Mutex::new(std::mem::take(&mut state.interner));
    let scrub = state.scrub.clone();
    let result = read_from(
        reader,
        label,
        filter,
        &|| LocalSyms::new(&shared),
        &|syms, ev| {
            record::check_header(ev)?;
            Ok(prepare(ev, syms, &scrub))
        },
        &mut |p: Result<Prepared, RecordError>| {
            state.apply_prepared(p?);
            Ok(())
        },
    );
    state.interner = shared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Ok(report) = &result
        && let Some(t) = report.skipped_until
    {
        state.observe_time(t);
    }
    result
}

/// [`load_into_with_progress`] without a progress bar.
pub fn load_into(
    input: &Input,
    state: &mut State,
    filter: Option<&LineFilter>,
) -> Result<LoadReport, RecordError> {
    load_into_with_progress(input, state, filter, &indicatif::ProgressBar::hidden())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_bytes(data: Vec<u8>) -> (LoadReport, u64) {
        let mut n = 0;
        let report = read_from(
            Box::new(io::Cursor::new(data)),
            "test",
            None,
            &|| (),
            &|(), _| (),
            &mut |()| {
                n += 1;
                Ok(())
            },
        )
        .unwrap();
        (report, n)
    }

    #[test]
    fn line_numbers_stay_right_across_chunks_and_skipped_lines() {
        let good = r#"{"type": "task-started", "uuid": "u", "hostname": "w", "timestamp": 1.0}"#;
        let mut data = String::new();
        for i in 1..=30_000 {
            match i {
                15_000 => data.push_str("{broken"),
                20_000 => data.push_str(&"x".repeat(MAX_ENTRY_BYTES + 10)),
                25_000 => data.push_str("   "),
                _ => data.push_str(good),
            }
            data.push(if i % 7 == 0 { '\r' } else { ' ' });
            data.push('\n');
        }
        data.push_str(good); // last line without a newline
        let (report, events) = read_bytes(data.into_bytes());
        assert_eq!(events, 29_998);
        let lines: Vec<(u64, IssueKind)> = report.issues.iter().map(|i| (i.line, i.kind)).collect();
        assert_eq!(
            lines,
            [(15_000, IssueKind::NotJson), (20_000, IssueKind::TooLarge)]
        );
        assert_eq!(report.entries, 30_000);
    }

    #[test]
    fn reports_of_two_reads_add_up_with_their_issues_numbered_on() {
        let issue = |line, kind| LineIssue {
            line,
            kind,
            message: String::new(),
            excerpt: String::new(),
        };
        let mut first = LoadReport {
            source: "q".into(),
            entries: 10,
            events: 9,
            skipped_until: Some(5.0),
            ..LoadReport::default()
        };
        first.add(issue(3, IssueKind::NotJson));
        let mut second = LoadReport {
            source: "q".into(),
            entries: 4,
            events: 3,
            filtered: 2,
            skipped_until: Some(4.0),
            ..LoadReport::default()
        };
        second.add(issue(2, IssueKind::NotJson));
        second.add(issue(4, IssueKind::TooLarge));
        let mut total = LoadReport::default();
        total.absorb(first);
        total.absorb(second);
        assert_eq!(total.source, "q");
        assert_eq!((total.entries, total.events, total.filtered), (14, 12, 2));
        assert_eq!(total.issue_counts[&IssueKind::NotJson], 2);
        assert_eq!(total.total_issues(), 3);
        let lines: Vec<u64> = total.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [3, 12, 14]);
        assert_eq!(total.skipped_until, Some(5.0));
        // Kept issues stay capped, counts do not.
        let mut many = LoadReport::default();
        for n in 0..KEPT_ISSUES as u64 + 5 {
            many.add(issue(n + 1, IssueKind::NotJson));
        }
        total.absorb(many);
        assert_eq!(total.issues.len(), KEPT_ISSUES);
        assert_eq!(total.total_issues(), 3 + KEPT_ISSUES as u64 + 5);
    }

    /// A reader that hands out its bytes in pieces of the given sizes, in turn.
    struct Trickle {
        data: io::Cursor<Vec<u8>>,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()].min(buf.len());
            self.turn += 1;
            self.data.read(&mut buf[..size])
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// However the reads fall, the chunks are the input's lines, each whole, in order.
        #[test]
        fn chunks_are_the_input_cut_at_line_ends(
            lines in proptest::collection::vec((0usize..200_000, proptest::bool::ANY), 0..24),
            sizes in proptest::collection::vec(1usize..700_000, 1..6),
            bom: bool,
            last_newline: bool,
        ) {
            let mut data = Vec::new();
            for (i, &(len, long)) in lines.iter().enumerate() {
                // Some lines span chunks.
                let len = if long { len * 4 } else { len % 300 };
                data.extend((0..len).map(|k| b'a' + ((i + k) % 26) as u8));
                data.push(b'\n');
            }
            if !last_newline {
                data.extend_from_slice(b"tail");
            }
            let mut input = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            input.extend_from_slice(&data);
            let reader = Trickle { data: io::Cursor::new(input), sizes, turn: 0 };
            let (tx, rx) = mpsc::sync_channel(1024);
            let (_spare_tx, spare_rx) = mpsc::channel();
            let cutter = std::thread::spawn(move || cut_chunks(Box::new(reader), &tx, &spare_rx));
            let chunks: Vec<Chunk> = rx.iter().collect();
            proptest::prop_assert!(cutter.join().unwrap().is_ok());
            let mut joined = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                proptest::prop_assert_eq!(chunk.seq, i as u64);
                proptest::prop_assert!(chunk.too_long.is_none());
                proptest::prop_assert!(!chunk.lines().is_empty());
                if i + 1 < chunks.len() || last_newline {
                    proptest::prop_assert_eq!(chunk.lines().last(), Some(&b'\n'));
                }
                joined.extend_from_slice(chunk.lines());
            }
            proptest::prop_assert!(joined == data, "{} bytes cut, {} given", joined.len(), data.len());
        }
    }

    #[test]
    fn bom_and_empty_input() {
        let (report, events) = read_bytes(
            b"\xEF\xBB\xBF{\"type\": \"worker-heartbeat\", \"hostname\": \"w\"}\n".to_vec(),
        );
        assert_eq!((events, report.total_issues()), (1, 0));
        let (report, events) = read_bytes(Vec::new());
        assert_eq!((events, report.entries), (0, 0));
    }

    #[test]
    fn filter_skips_only_unrelated_task_events() {
        let f = LineFilter::mentions(&["abc"]);
        assert!(f.keeps(br#"{"type": "task-sent", "uuid": "abc-1"}"#));
        assert!(!f.keeps(br#"{"type": "task-sent", "uuid": "zzz"}"#));
        assert!(f.keeps(br#"{"type": "worker-heartbeat", "hostname": "w"}"#));
        assert!(f.keeps(br#"{"body": "eyJ1dWlkIjogInp6eiJ9", "properties": {}}"#));
        assert_eq!(
            f.timestamp(br#"{"uuid": "x", "timestamp": 1795333620.25, "type": "t"}"#),
            Some(1795333620.25)
        );
        assert_eq!(f.timestamp(br#"{"uuid": "x"}"#), None);
        let ids = LineFilter::default().and_ids(["abc-1".to_string()]);
        assert!(ids.keeps(br#"{"type": "task-started", "uuid": "abc-1"}"#));
        assert!(!ids.keeps(br#"{"type": "task-started", "uuid": "abc-10", "parent_id": "abc-1"}"#));
        assert!(ids.keeps(br#"{"type": "worker-online"}"#));
    }
}
