//! `celtrace record`: keeps Celery's events in a Redis Stream on the user's own Redis, so
//! every query can read history that pub/sub alone forgets.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use crate::clock::wall_secs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::model::split::{GapReason, counted_gap_line, gap_line};
use crate::source::backlog::{Backlog, human_bytes};
use crate::source::broker::Broker;
use crate::source::pubsub::{self, BACKEND_PATTERN, ChannelOptions, Feed, Subscription};
use crate::source::redis::Redis;
use crate::source::stream::Store;
use crate::source::url::BrokerKind;
use crate::source::writer::{Abandoned, Failing, Retention, Writer};

/// Record Celery's events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue
///
/// On RabbitMQ it declares a durable stream queue (--stream, default celtrace.events) bound
/// to the celeryev exchange, prints what it holds and exits: from then on the broker records
/// by itself. --retention sets x-max-age, --max-bytes x-max-length-bytes. With --index it
/// stays running and keeps an index beside it (`<queue>.index`, from the stream's first
/// message on), through which `show` and `graph` read one workflow instead of the stream.
///
/// On Redis it subscribes to the workers' event channels (PSUBSCRIBE /{db}.celeryev/*), splits task.multi
/// batches and appends every event to a Redis Stream (`--stream`, default `celtrace:events`) with an
/// index, so `show` and `graph` find one task or one flow without reading the stream. With a
/// Redis result backend it also records result writes (celery-task-meta-*), so group ids and
/// real JSON arguments are in the history. Every gap (start, stop, reconnect) is written as a
/// `celtrace.gap` record and reported by the queries that read across it.
///
/// SIGINT and SIGTERM write everything received (for at most 30 s; a second signal cuts it
/// short), record what could not be written as a counted gap, and exit 0. While Redis
/// refuses writes, events wait in a backlog bounded by --max-backlog; what arrives beyond it
/// is dropped and counted in a `lagged` gap. Run one recorder per stream.
///
/// Examples:
///   celtrace record --broker redis://localhost:6379/0
///   celtrace record --retention 6h --result-backend redis://localhost:6379/1
///   celtrace record --max-len 5000000 --stream myapp:events
///   celtrace record --broker amqp://localhost// --index
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RecordArgs {
    /// Keep this much history (trimmed by time); `0` keeps everything
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_retention)]
    pub retention: Duration,

    /// Also cap the stream at about this many entries (trimmed in whole blocks, so a little more)
    #[arg(long, value_name = "N")]
    pub max_len: Option<u64>,

    /// Received events that may wait for Redis (bytes; e.g. 64MB). Beyond it, arrivals are
    /// dropped and counted in a `lagged` gap record
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = parse_size)]
    pub max_backlog: u64,

    #[command(flatten)]
    pub channels: ChannelArgs,

    /// Do not record result-backend writes even when --result-backend is Redis
    #[arg(long)]
    pub no_backend: bool,

    /// Print what the stream holds now and exit
    #[arg(long)]
    pub status: bool,

    /// RabbitMQ: cap the stream queue at about this many bytes (x-max-length-bytes, e.g. 2GB)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,

    /// RabbitMQ: delete the stream queue and everything in it (asks first; --yes skips)
    #[arg(long, conflicts_with = "status")]
    pub remove: bool,

    /// Do not ask before --remove (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// RabbitMQ: stay running and keep an index of the stream queue in `<queue>.index`, so
    /// `show` and `graph` read one workflow's messages instead of the whole stream
    #[arg(long, conflicts_with_all = ["status", "remove"])]
    pub index: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n.trim().to_string(), *m)))
    .unwrap_or((t.clone(), 1));
    num.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| (n * mult as f64) as u64)
        .ok_or_else(|| format!("`{s}` is not a size (examples: 500MB, 2GB, 1073741824)"))
}

fn parse_retention(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 6h, 24h, 7d, or 0)"))
}

/// Where Celery publishes events on Redis, when the app changed kombu's defaults.
#[derive(Debug, Args)]
#[command(next_help_heading = "Event channels (Redis)")]
pub struct ChannelArgs {
    /// kombu's `global_keyprefix` transport option, if the app sets one
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub global_keyprefix: String,

    /// kombu's `fanout_prefix` transport option: `true` (default `/{db}.`), `false`, or a prefix
    #[arg(long, value_name = "PREFIX")]
    pub fanout_prefix: Option<String>,

    /// kombu's `fanout_patterns` transport option was set to False by the app
    #[arg(long)]
    pub no_fanout_patterns: bool,

    /// Celery's `event_exchange`, if the app changed it
    #[arg(long, value_name = "NAME", default_value = "celeryev")]
    pub exchange: String,
}

impl ChannelArgs {
    pub fn channel_options(&self) -> ChannelOptions {
        let fanout_prefix = match self.fanout_prefix.as_deref() {
            None | Some("true" | "True") => None,
            Some("false" | "False") => Some(String::new()),
            Some(p) => Some(p.to_string()),
        };
        ChannelOptions {
            global_keyprefix: self.global_keyprefix.clone(),
            fanout_prefix,
            fanout_patterns: !self.no_fanout_patterns,
            exchange: self.exchange.clone(),
        }
    }
}

pub fn run(ctx: &Ctx, args: &RecordArgs) -> Result<(), CliError> {
    // One recorder per broker: a Redis Stream writer here, a stream queue on RabbitMQ.
    let broker = match ctx.broker("`record` records from a broker")? {
        Broker::Redis(_) if args.index => {
            return Err(CliError::usage(
                "--index is for a RabbitMQ stream queue",
                "the Redis recorder keeps its index as it records: drop --index",
            ));
        }
        Broker::Redis(redis) => redis,
        Broker::Amqp(amqp) => return super::record_amqp::run(ctx, amqp, args),
    };
    let key = ctx.stream_key();
    if args.status {
        return print_status(ctx, Store::open(broker, &key)?);
    }
    let pattern = args.channels.channel_options().pattern(broker.db());
    let backend = match (&ctx.result_backend, args.no_backend) {
        (Some((b, _)), false) if b.kind == BrokerKind::Redis => Some(Redis::new(b)?),
        _ => None,
    };
    let retention = Retention {
        max_age: (!args.retention.is_zero()).then_some(args.retention),
        max_len: args.max_len,
    };
    let mut writer = Writer::start(broker.clone(), &key, retention)?;
    let backlog = Backlog::new(args.max_backlog);
    let signals = Signals::watch()?;
    let (tx, rx) = mpsc::channel::<Feed>();
    let status = Status::new(ctx, &pattern, &key, backend.is_some());
    let result = std::thread::scope(|scope| -> Result<(), CliError> {
        let mut readies = Vec::new();
        for (redis, pattern, is_backend) in [
            Some((&broker, pattern.as_str(), false)),
            backend.as_ref().map(|b| (b, BACKEND_PATTERN, true)),
        ]
        .into_iter()
        .flatten()
        {
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            readies.push(ready_rx);
            let tx = tx.clone();
            let sub = Subscription {
                redis,
                pattern,
                backend: is_backend,
                stop: &signals.stop,
                ready: Some(ready_tx),
                backlog: Some(&backlog),
            };
            scope.spawn(move || pubsub::subscribe_with(sub, &mut |feed| tx.send(feed).is_ok()));
        }
        drop(tx);
        let pumped = Pump {
            rx: &rx,
            writer: &mut writer,
            backlog: &backlog,
            signals: &signals,
            status: &status,
            refused: None,
        }
        .run(&readies);
        // Whatever ended the pump, the subscribers end too.
        signals.stop.store(true, Ordering::Relaxed);
        pumped
    });
    // Messages a subscriber handed on after the pump stopped (a second signal cut the stop
    // short while it still drained) are received events too: written now, or counted.
    while let Ok(feed) = rx.try_recv() {
        if let Feed::Message { .. } = feed {
            writer.push_message(feed);
        }
    }
    let stopped = finish(&mut writer, &status, result.is_ok());
    status.finish(writer.written);
    result?;
    stopped
}

/// How long a stop may spend writing what was received before counting the rest as an
/// `unwritten` gap (documented in the README).
pub const STOP_WITHIN: Duration = Duration::from_secs(30);
/// The same bound when Redis already refuses writes as the stop begins.
const STOP_WITHIN_FAILING: Duration = Duration::from_secs(5);

/// SIGINT and SIGTERM: the first asks for a clean stop, a second one cuts it short.
pub(super) struct Signals {
    pub(super) stop: AtomicBool,
    count: Arc<AtomicUsize>,
}

impl Signals {
    pub(super) fn watch() -> Result<Self, CliError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let count = Arc::new(AtomicUsize::new(0));
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| CliError::system("cannot watch for SIGINT and SIGTERM", e))?;
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            for _ in signals.forever() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(Self {
            stop: AtomicBool::new(false),
            count,
        })
    }

    pub(super) fn received(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Moves messages from the subscribers to the writer, and the writer's results to the
/// backlog and the status, until a stop has written everything (or its bound has passed).
struct Pump<'a, 'c> {
    rx: &'a Receiver<Feed>,
    writer: &'a mut Writer,
    backlog: &'a Backlog,
    signals: &'a Signals,
    status: &'a Status<'c>,
    /// The newest write error since the last drop record: why the backlog filled.
    refused: Option<String>,
}

impl Pump<'_, '_> {
    fn run(mut self, readies: &[Receiver<()>]) -> Result<(), CliError> {
        let mut waiting = readies.len();
        let mut last_tick = Instant::now();
        let mut stopping: Option<(Instant, Duration)> = None;
        let mut drained = false;
        loop {
            for r in readies {
                if r.try_recv().is_ok() {
                    waiting -= 1;
                    if waiting == 0 {
                        self.status.subscribed();
                    }
                }
            }
            if !drained {
                drained = self.receive()?;
            }
            self.record_drops(stopping.is_some());
            let settled = self.writer.flush(Duration::from_millis(200));
            self.backlog.release(settled.messages, settled.bytes);
            if let Some(f) = self.writer.failing() {
                self.refused = Some(f.error.to_string());
            }
            self.status.wrote(settled.events, self.writer.last_received);
            self.status.writes(self.writer.failing(), self.backlog);
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                self.writer.tick(wall_secs());
                self.status.tick(self.backlog, self.writer.pending());
            }
            if stopping.is_none() && self.signals.received() > 0 {
                let bound = if self.writer.failing().is_some() {
                    STOP_WITHIN_FAILING
                } else {
                    STOP_WITHIN
                };
                stopping = Some((Instant::now(), bound));
                self.signals.stop.store(true, Ordering::Relaxed);
                self.status.stopping(self.writer.pending(), bound);
            }
            let Some((since, bound)) = stopping else {
                if drained {
                    // Every subscriber ended on its own: nothing more will come.
                    return Ok(());
                }
                continue;
            };
            if drained && self.writer.pending() == 0 && !self.backlog.has_dropped() {
                return Ok(());
            }
            if since.elapsed() >= bound || self.signals.received() > 1 {
                self.give_up();
                return Ok(());
            }
        }
    }

    /// Takes what the subscribers handed on; true once they have all ended.
    fn receive(&mut self) -> Result<bool, CliError> {
        // Wait for news only when there is nothing to write.
        let wait = if self.writer.pending() > 0 && self.writer.failing().is_none() {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        };
        let first = match self.rx.recv_timeout(wait) {
            Ok(feed) => feed,
            Err(RecvTimeoutError::Timeout) => return Ok(false),
            Err(RecvTimeoutError::Disconnected) => return Ok(true),
        };
        self.take(first)?;
        // What already waits, up to a few pipelines' worth per round.
        for _ in 0..4096 {
            match self.rx.try_recv() {
                Ok(feed) => self.take(feed)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(true),
            }
        }
        Ok(false)
    }

    fn take(&mut self, feed: Feed) -> Result<(), CliError> {
        match feed {
            Feed::Message { .. } => {
                let settled = self.writer.push_message(feed);
                self.backlog.release(settled.messages, settled.bytes);
            }
            Feed::Failed(e) => return Err(e.into()),
            Feed::AmqpFailed(e) => return Err(e.into()),
            Feed::Lost { at, reason } => self.status.warn(&format!(
                "subscription lost at {}: {reason}; reconnecting",
                clock_text(at)
            )),
            Feed::Back { since, at, lagged } => {
                let reason = if lagged {
                    GapReason::Lagged
                } else {
                    GapReason::Reconnect
                };
                self.writer
                    .push_gap(&gap_line(reason, Some(since), Some(at), at), at);
                self.status.log(&format!(
                    "subscribed again after {:.1}s ({}); the gap is recorded",
                    at - since,
                    reason.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Messages dropped at the backlog's bound become one `lagged` gap, once the backlog has
    /// room again (or at the stop), so a long overload is one record, not thousands.
    fn record_drops(&mut self, stopping: bool) {
        let (bytes, _) = self.backlog.level();
        if !(stopping || bytes <= self.backlog.limit() / 2) {
            return;
        }
        let Some(d) = self.backlog.take_dropped() else {
            return;
        };
        let cause = match self.refused.take() {
            Some(error) => format!(
                "backlog full ({}) while Redis refused writes: {error}",
                human_bytes(self.backlog.limit()),
            ),
            None => format!(
                "backlog full ({}): Redis took writes slower than events arrived",
                human_bytes(self.backlog.limit())
            ),
        };
        let now = wall_secs();
        let line = counted_gap_line(GapReason::Lagged, (d.from, d.to), now, d.events, &cause);
        self.writer.push_gap(&line, now);
        self.status.warn(&format!(
            "dropped {} events ({}) received from {} to {}: {cause}; the gap is recorded",
            d.events,
            human_bytes(d.bytes),
            clock_text(d.from),
            clock_text(d.to)
        ));
    }

    /// The stop's bound has passed: what is still unwritten (in the writer or still in the
    /// channel) becomes one counted `unwritten` gap.
    fn give_up(&mut self) {
        // Everything still in the channel, reconnect gaps included; a subscriber's failure
        // no longer matters at this point.
        while let Ok(feed) = self.rx.try_recv() {
            let _ = self.take(feed);
        }
        self.record_drops(true);
        let Some(a) = self.writer.abandon() else {
            return;
        };
        self.backlog.release(a.messages, a.bytes);
        let cause = match self.writer.failing() {
            Some(f) => format!("stopped while Redis refused writes: {}", f.error),
            None => "stopped before Redis took them all".to_string(),
        };
        let now = wall_secs();
        let line = counted_gap_line(GapReason::Unwritten, (a.from, a.to), now, a.events, &cause);
        self.writer.push_gap(&line, now);
        self.status.warn(&format!(
            "{} received events from {} to {} were not written ({cause}); the gap is recorded",
            a.events,
            clock_text(a.from),
            clock_text(a.to)
        ));
        self.status.abandoned(a);
    }
}

/// The stop: its gap record, one last try at whatever still waits, the lock released.
/// Fails (exit 4) only when received events, or the record of their loss, could not be
/// written.
fn finish(writer: &mut Writer, status: &Status<'_>, clean: bool) -> Result<(), CliError> {
    let now = wall_secs();
    writer.push_gap(&gap_line(GapReason::Stop, Some(now), None, now), now);
    let deadline = Instant::now() + Duration::from_secs(3);
    while writer.pending() > 0 && Instant::now() < deadline {
        writer.retry_now();
        writer.flush(Duration::from_millis(500));
        if writer.pending() > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if writer.pending() == 0 {
        writer.release_lock();
        return Ok(());
    }
    let unwritten = writer.abandon();
    let reason = writer.failing().map_or_else(
        || "Redis did not answer".to_string(),
        |f| f.error.to_string(),
    );
    match (unwritten, status.abandoned_total()) {
        (None, None) if clean => {
            status.warn(&format!(
                "the stop record could not be written ({reason}); readers will see the recorder as not running once its lock expires"
            ));
            Ok(())
        }
        (None, None) => Ok(()),
        (a, b) => {
            let (events, from, to) = merge_lost(a, b);
            Err(CliError::Unwritten {
                events,
                from: clock_text(from),
                to: clock_text(to),
                reason,
            })
        }
    }
}

fn merge_lost(a: Option<Abandoned>, b: Option<Abandoned>) -> (u64, f64, f64) {
    [a, b]
        .into_iter()
        .flatten()
        .fold((0, f64::INFINITY, f64::NEG_INFINITY), |(n, lo, hi), x| {
            (n + x.events, lo.min(x.from), hi.max(x.to))
        })
}

fn clock_text(t: f64) -> String {
    crate::query::time::from_epoch(t).map_or_else(
        || format!("{t:.3}"),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// The status line on a terminal, structured log lines otherwise.
struct Status<'c> {
    ctx: &'c Ctx,
    bar: indicatif::ProgressBar,
    inner: Mutex<Counters>,
    what: String,
}

struct Counters {
    total: u64,
    window: u64,
    window_start: Instant,
    lag: f64,
    last_log: Instant,
    /// When writes began to fail, and when that was last said.
    failing_said: Option<Instant>,
    abandoned: Option<Abandoned>,
}

impl<'c> Status<'c> {
    fn new(ctx: &'c Ctx, pattern: &str, key: &str, backend: bool) -> Self {
        let what = format!(
            "{pattern}{} → {key}",
            if backend { " + celery-task-meta-*" } else { "" }
        );
        Self {
            ctx,
            bar: ctx.ui.spinner(),
            inner: Mutex::new(Counters {
                total: 0,
                window: 0,
                window_start: Instant::now(),
                lag: 0.0,
                last_log: Instant::now(),
                failing_said: None,
                abandoned: None,
            }),
            what,
        }
    }

    fn subscribed(&self) {
        self.log(&format!("recording {}", self.what));
    }

    fn wrote(&self, n: u64, last_received: f64) {
        if n == 0 {
            return;
        }
        if let Ok(mut c) = self.inner.lock() {
            c.total += n;
            c.window += n;
            c.lag = (wall_secs() - last_received).max(0.0);
        }
    }

    /// Says when writes start failing (then every 10 s) and when they work again.
    fn writes(&self, failing: Option<&Failing>, backlog: &Backlog) {
        let Ok(mut c) = self.inner.lock() else { return };
        match (failing, c.failing_said) {
            (Some(f), said) if said.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) => {
                c.failing_said = Some(Instant::now());
                drop(c);
                let (bytes, messages) = backlog.level();
                self.error(&format!(
                    "cannot write to Redis since {}: {}; retrying (backlog {messages} messages, {} of {}; beyond that events are dropped and counted in a gap)",
                    clock_text(f.since),
                    f.error,
                    human_bytes(bytes),
                    human_bytes(backlog.limit())
                ));
            }
            (None, Some(_)) => {
                c.failing_said = None;
                drop(c);
                self.log("writing to Redis again");
            }
            _ => {}
        }
    }

    fn stopping(&self, pending: usize, bound: Duration) {
        if pending > 0 {
            self.log(&format!(
                "stopping: writing the {pending} entries received (at most {}s; a second signal stops at once)",
                bound.as_secs()
            ));
        }
    }

    fn abandoned(&self, a: Abandoned) {
        if let Ok(mut c) = self.inner.lock() {
            c.abandoned = Some(a);
        }
    }

    fn abandoned_total(&self) -> Option<Abandoned> {
        self.inner.lock().ok().and_then(|c| c.abandoned.clone())
    }

    fn tick(&self, backlog: &Backlog, pending: usize) {
        let Ok(mut c) = self.inner.lock() else { return };
        let secs = c.window_start.elapsed().as_secs_f64().max(1e-3);
        let rate = c.window as f64 / secs;
        c.window = 0;
        c.window_start = Instant::now();
        let (bytes, messages) = backlog.level();
        let line = format!(
            "{:.0} events/s, {} total, lag {:.0} ms, backlog {messages} messages ({})",
            rate,
            c.total,
            c.lag * 1000.0,
            human_bytes(bytes)
        );
        if !self.bar.is_hidden() {
            self.bar
                .set_message(format!("recording {}: {line}", self.what));
            self.bar.tick();
        } else if c.last_log.elapsed() >= Duration::from_secs(10) {
            c.last_log = Instant::now();
            self.ctx.ui.log_line(&[
                ("msg", "recording"),
                ("events_per_sec", &format!("{rate:.0}")),
                ("total", &c.total.to_string()),
                ("lag_ms", &format!("{:.0}", c.lag * 1000.0)),
                ("backlog_messages", &messages.to_string()),
                ("backlog_bytes", &bytes.to_string()),
                ("pending_entries", &pending.to_string()),
            ]);
        }
    }

    fn log(&self, message: &str) {
        if self.bar.is_hidden() {
            self.ctx.ui.log_line(&[("msg", message)]);
        } else {
            self.bar.println(message);
        }
    }

    fn warn(&self, message: &str) {
        self.leveled("warn", message);
    }

    fn error(&self, message: &str) {
        self.leveled("error", message);
    }

    fn leveled(&self, level: &str, message: &str) {
        if self.bar.is_hidden() {
            self.ctx.ui.log_line_at(level, &[("msg", message)]);
        } else {
            self.bar.println(format!("{level}: {message}"));
        }
    }

    fn finish(&self, written: u64) {
        self.bar.finish_and_clear();
        self.log(&format!("stopped; {written} events recorded"));
    }
}

/// `record --status`: what the stream holds and whether a recorder runs.
fn print_status(ctx: &Ctx, mut store: Store) -> Result<(), CliError> {
    use std::io::Write as _;
    let label = store.label();
    let bounds = store.bounds()?;
    let recorder = store.recorder()?;
    let gaps = store.gap_lines()?.len();
    let mut out = ctx.ui.stdout();
    let when = |ms: u64| {
        crate::query::time::from_epoch(ms as f64 / 1000.0).map_or_else(
            || "?".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    };
    writeln!(out, "stream:   {label}")?;
    match bounds {
        Some(b) => {
            writeln!(out, "entries:  {}", b.len)?;
            writeln!(out, "oldest:   {}", when(b.first_ms))?;
            writeln!(out, "newest:   {}", when(b.last.0))?;
        }
        None => writeln!(out, "entries:  0 (nothing recorded yet)")?,
    }
    writeln!(out, "gaps:     {gaps}")?;
    writeln!(
        out,
        "recorder: {}",
        recorder.map_or_else(|| "not running".to_string(), |r| format!("running {r}"))
    )?;
    Ok(())
}
