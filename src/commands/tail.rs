//! `celtrace tail`: live events, one line each, straight from Redis pub/sub (no recorder
//! needed), or the events of a recording.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::args::EventFilterArgs;
use super::record::ChannelArgs;
use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::Event;
use crate::model::decode::decode_entry;
use crate::model::encode::write_event;
use crate::model::split::split_message;
use crate::query::tail::{Follower, TailFilter};
use crate::render::{self, RenderCtx};
use crate::source::broker::Broker;
use crate::source::file;
use crate::source::pubsub::Feed;

/// Follow events as they happen, one line each
///
/// Reads Celery's events straight from Redis pub/sub: it needs no recorder, and shows only
/// what happens while it runs (`-n N` first prints the last N events `celtrace record` kept).
/// With --events it prints the events of a recording and exits. Worker heartbeats are left out
/// unless --heartbeats. Stops on Ctrl-C or when the reader of its output goes away.
///
/// Examples:
///   celtrace tail --broker redis://localhost:6379/0
///   celtrace tail --name 'shop.*' --state FAILURE
///   celtrace tail -n 100 --format ndjson > live.ndjson
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TailArgs {
    #[command(flatten)]
    pub events: EventFilterArgs,

    /// First print the last N recorded events (from `celtrace record`'s stream, or the file)
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,

    /// Output format
    #[arg(long, value_enum, default_value_t = TailFormat::Text)]
    pub format: TailFormat,

    /// Keep following (what `tail` does anyway from a broker; accepted for `tail -f` habits)
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// Plain ASCII arrows
    #[arg(long)]
    pub ascii: bool,

    #[command(flatten)]
    pub channels: ChannelArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TailFormat {
    /// One line per event for people.
    #[default]
    Text,
    /// Recording lines (valid input for --events).
    Ndjson,
}

/// Entries read back at most to find the last N that pass the filters.
const LOOK_BACK: usize = 200_000;

/// Writes the lines the filter keeps (`tail`, `replay`).
pub(super) struct Printer<'a> {
    follower: Follower,
    filter: TailFilter,
    format: TailFormat,
    rctx: RenderCtx,
    out: Box<dyn Write + 'a>,
    /// Lines to leave out before printing (`-n`: only the last N that pass the filter).
    skip: usize,
    scrub: std::sync::Arc<crate::scrub::Policy>,
}

impl Printer<'static> {
    /// A printer to stdout, a line at a time.
    pub(super) fn new(ctx: &Ctx, filter: TailFilter, format: TailFormat, ascii: bool) -> Self {
        Printer {
            follower: Follower::default(),
            filter,
            format,
            rctx: ctx.render_ctx(ascii),
            out: Box::new(std::io::LineWriter::new(ctx.ui.stdout())),
            skip: 0,
            scrub: ctx.scrub.clone(),
        }
    }
}

impl Printer<'_> {
    /// One event; `raw` is its recording line when it came as one. Errors are write errors.
    pub(super) fn event(&mut self, ev: &Event<'_>, raw: Option<&str>) -> std::io::Result<()> {
        // Scrubbed events are written re-encoded, never as their raw line: a raw line may be a
        // kombu envelope whose base64 body holds the unscrubbed event.
        let scrubbed;
        let (ev, raw) = if self.scrub.enabled() {
            let mut owned = ev.clone();
            self.scrub.event(&mut owned);
            scrubbed = owned;
            (&scrubbed, None)
        } else {
            (ev, raw)
        };
        let Some(line) = self.follower.follow(ev, &self.filter) else {
            return Ok(());
        };
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        match self.format {
            TailFormat::Text => render::tail::line(&line, &self.rctx, &mut self.out)?,
            TailFormat::Ndjson => match raw {
                Some(raw) => writeln!(self.out, "{raw}")?,
                None => {
                    let mut buf = Vec::with_capacity(512);
                    write_event(ev, &mut buf).map_err(std::io::Error::from)?;
                    buf.push(b'\n');
                    self.out.write_all(&buf)?;
                }
            },
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// A recording line (several events for an unsplit batch).
    fn line(&mut self, raw: &str) -> std::io::Result<()> {
        let mut result = Ok(());
        decode_entry(raw, &mut Vec::new(), &mut |ev| {
            if result.is_ok() {
                result = self.event(ev, Some(raw));
            }
        });
        result?;
        self.out.flush()
    }
}

pub fn run(ctx: &Ctx, args: &TailArgs) -> Result<(), CliError> {
    let filter = args.events.filter()?;
    let mut printer = Printer::new(ctx, filter, args.format, args.ascii);
    let result = match &ctx.source {
        EventSource::Recording(input) => from_recording(input, args.lines, &mut printer),
        EventSource::Broker(..) => live(
            ctx,
            ctx.broker("following live events")?,
            args,
            &mut printer,
        ),
    };
    match result {
        Err(CliError::Write { source }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(())
        }
        other => other,
    }
}

fn from_recording(
    input: &file::Input,
    last: Option<usize>,
    printer: &mut Printer<'_>,
) -> Result<(), CliError> {
    let mut events = Vec::new();
    let report = file::read(input, &mut |ev| {
        events.push(ev.clone().into_owned());
        Ok(())
    })?;
    if let Some(n) = last {
        let mut counter = Follower::default();
        let shown = events
            .iter()
            .filter(|ev| counter.follow(ev, &printer.filter).is_some())
            .count();
        printer.skip = shown.saturating_sub(n);
    }
    for ev in &events {
        printer.event(ev, None)?;
    }
    printer.out.flush()?;
    CliError::refuse_empty(&report)?;
    if report.events == 0 && report.entries > 0 {
        return Err(CliError::NoEvents {
            source_label: report.source,
            entries: report.entries,
            first_problem: String::new(),
        });
    }
    Ok(())
}

/// Live events from the broker, after the newest recorded ones (`-n`): subscribed first,
/// so nothing falls between the recorded lines and the live ones.
fn live(
    ctx: &Ctx,
    broker: Broker,
    args: &TailArgs,
    printer: &mut Printer<'_>,
) -> Result<(), CliError> {
    let channels = args.channels.channel_options();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::system("cannot set up the Ctrl-C handler", e))?;
    }
    let (tx, rx) = mpsc::sync_channel::<Feed>(100_000);
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    std::thread::scope(|scope| -> Result<(), CliError> {
        let sub_stop = Arc::clone(&stop);
        let feeder = &broker;
        scope.spawn(move || feeder.feed(&channels, &tx, ready_tx, &sub_stop));
        let mut recent = |n: usize, filter: &TailFilter| -> Result<Option<Vec<String>>, CliError> {
            let history = match ctx.history(None) {
                Ok(h) => h,
                Err(CliError::NoRecording { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let lines = history.newest_lines(LOOK_BACK, &mut |lines| shown(lines, filter) >= n)?;
            Ok((!lines.is_empty()).then_some(lines))
        };
        let result = follow(ctx, &mut recent, args, printer, &rx, &ready_rx, &stop);
        stop.store(true, Ordering::Relaxed);
        result
    })
}

/// The newest recorded lines, oldest first, enough to show `n` that pass the filters.
type Recent<'a> = dyn FnMut(usize, &TailFilter) -> Result<Option<Vec<String>>, CliError> + 'a;

fn follow(
    ctx: &Ctx,
    recent: &mut Recent<'_>,
    args: &TailArgs,
    printer: &mut Printer<'_>,
    rx: &mpsc::Receiver<Feed>,
    ready: &mpsc::Receiver<()>,
    stop: &AtomicBool,
) -> Result<(), CliError> {
    // Subscribe first, then print the recorded tail: nothing falls between the two (an event
    // in both is printed twice rather than not at all).
    loop {
        match rx.try_recv() {
            Ok(Feed::Failed(e)) => return Err(e.into()),
            Ok(Feed::AmqpFailed(e)) => return Err(e.into()),
            _ => {}
        }
        if ready.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
    if let Some(n) = args.lines {
        let filter = printer.filter.clone();
        match recent(n, &filter)? {
            Some(lines) => {
                printer.skip = shown(&lines, &filter).saturating_sub(n);
                for line in &lines {
                    printer.line(line)?;
                }
                printer.skip = 0;
            }
            None => ctx.ui.warn(&format!(
                "-n {n}: nothing is recorded in `{}` (run `celtrace record`); showing live events only",
                if ctx.is_amqp() { ctx.stream_queue() } else { ctx.stream_key() }
            )),
        }
    }
    while !stop.load(Ordering::Relaxed) {
        let feed = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(f) => f,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match feed {
            Feed::Message {
                payload, received, ..
            } => {
                let text = String::from_utf8_lossy(&payload);
                for line in split_message(&text, received).0 {
                    printer.line(&line.json)?;
                }
            }
            Feed::Lost { reason, .. } => ctx
                .ui
                .warn(&format!("lost the connection ({reason}); reconnecting")),
            Feed::Back { since, at, .. } => ctx.ui.warn(&format!(
                "subscribed again; events of the last {:.1}s were missed",
                at - since
            )),
            Feed::Failed(e) => return Err(e.into()),
            Feed::AmqpFailed(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How many of these recording lines the filter shows.
fn shown(lines: &[String], filter: &TailFilter) -> usize {
    let mut counter = Follower::default();
    let mut n = 0;
    for l in lines {
        decode_entry(l, &mut Vec::new(), &mut |ev| {
            n += usize::from(counter.follow(ev, filter).is_some());
        });
    }
    n
}
