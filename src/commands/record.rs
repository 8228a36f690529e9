//! `celtrace record`: keeps Celery's events in a Redis Stream on the user's own Redis, so
//! every query can read history that pub/sub alone forgets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use crate::clock::wall_secs;
use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::split::{GapReason, gap_line};
use crate::source::pubsub::{self, BACKEND_PATTERN, ChannelOptions, Feed};
use crate::source::redis::Redis;
use crate::source::stream::Store;
use crate::source::url::BrokerKind;
use crate::source::writer::{Retention, Writer};

/// Record Celery's events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue
///
/// On RabbitMQ it declares a durable stream queue (--stream, default celtrace.events) bound
/// to the celeryev exchange, prints what it holds and exits: from then on the broker records
/// by itself. --retention sets x-max-age, --max-bytes x-max-length-bytes.
///
/// On Redis it subscribes to the workers' event channels (PSUBSCRIBE /{db}.celeryev/*), splits task.multi
/// batches and appends every event to a Redis Stream (`--stream`, default `celtrace:events`) with an
/// index, so `show` and `graph` find one task or one flow without reading the stream. With a
/// Redis result backend it also records result writes (celery-task-meta-*), so group ids and
/// real JSON arguments are in the history. Every gap (start, stop, reconnect) is written as a
/// `celtrace.gap` record and reported by the queries that read across it.
///
/// SIGINT and SIGTERM flush what was received and exit 0. Run one recorder per stream.
///
/// Examples:
///   celtrace record --broker redis://localhost:6379/0
///   celtrace record --retention 6h --result-backend redis://localhost:6379/1
///   celtrace record --max-len 5000000 --stream myapp:events
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RecordArgs {
    /// Keep this much history (trimmed by time); `0` keeps everything
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_retention)]
    pub retention: Duration,

    /// Also cap the stream at about this many entries (trimmed in whole blocks, so a little more)
    #[arg(long, value_name = "N")]
    pub max_len: Option<u64>,

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
    let url = match &ctx.source {
        EventSource::Broker(url, _) if url.kind == BrokerKind::Redis => url.clone(),
        EventSource::Broker(url, _) => return super::record_amqp::run(ctx, url, args),
        EventSource::Recording(_) => {
            return Err(CliError::usage(
                "`record` writes to a broker, not from a recording",
                "drop --events and give --broker redis://...",
            ));
        }
    };
    let key = ctx.stream_key();
    let broker = Redis::new(&url)?;
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
    let mut writer = Writer::start(Redis::new(&url)?, &key, retention)?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(CliError::from)?;
    }
    // Room for a few seconds of a busy deployment: if the writer falls behind that far the
    // subscriber waits, and Redis (not celtrace) decides when a slow subscriber is dropped.
    let (tx, rx) = mpsc::sync_channel::<Feed>(200_000);
    let subscribed = std::thread::scope(|scope| -> Result<(), CliError> {
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
            let stop = Arc::clone(&stop);
            scope.spawn(move || {
                pubsub::subscribe(redis, pattern, is_backend, &tx, &stop, Some(ready_tx));
            });
        }
        drop(tx);
        let status = Status::new(ctx, &pattern, &key, backend.is_some());
        let result = pump(&rx, &readies, &mut writer, &stop, &status);
        stop.store(true, Ordering::Relaxed);
        status.finish();
        result
    });
    let outcome = writer.stop(wall_secs());
    subscribed?;
    outcome?;
    Ok(())
}

/// Moves messages from the subscribers to the writer until stopped.
fn pump(
    rx: &Receiver<Feed>,
    readies: &[Receiver<()>],
    writer: &mut Writer,
    stop: &AtomicBool,
    status: &Status<'_>,
) -> Result<(), CliError> {
    let mut batch = Vec::with_capacity(1024);
    let mut waiting = readies.len();
    let mut last_tick = Instant::now();
    loop {
        for r in readies {
            if r.try_recv().is_ok() {
                waiting -= 1;
                if waiting == 0 {
                    status.subscribed();
                }
            }
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(feed) => {
                handle(feed, &mut batch, writer, status)?;
                // Take what is already waiting, up to a pipeline's worth.
                while batch.len() < 1024 {
                    match rx.try_recv() {
                        Ok(feed) => handle(feed, &mut batch, writer, status)?,
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if !batch.is_empty() {
            let n = writer.write(&mut batch)?;
            status.wrote(n, writer.last_received);
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            writer.tick(wall_secs())?;
            status.tick();
        }
        if stop.load(Ordering::Relaxed) {
            // Drain what arrived before the signal, then stop.
            while let Ok(feed) = rx.try_recv() {
                handle(feed, &mut batch, writer, status)?;
            }
            if !batch.is_empty() {
                writer.write(&mut batch)?;
            }
            break;
        }
    }
    Ok(())
}

fn handle(
    feed: Feed,
    batch: &mut Vec<Feed>,
    writer: &mut Writer,
    status: &Status<'_>,
) -> Result<(), CliError> {
    match feed {
        Feed::Message { .. } => batch.push(feed),
        Feed::Failed(e) => return Err(e.into()),
        Feed::AmqpFailed(e) => return Err(e.into()),
        Feed::Lost { at, reason } => status.log(&format!(
            "subscription lost at {at:.3}: {reason}; reconnecting"
        )),
        Feed::Back { since, at, lagged } => {
            if !batch.is_empty() {
                writer.write(batch)?;
            }
            let reason = if lagged {
                GapReason::Lagged
            } else {
                GapReason::Reconnect
            };
            writer.gap(&gap_line(reason, Some(since), Some(at), at), at)?;
            status.log(&format!(
                "subscribed again after {:.1}s ({}); the gap is recorded",
                at - since,
                reason.as_str()
            ));
        }
    }
    Ok(())
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
            }),
            what,
        }
    }

    fn subscribed(&self) {
        self.log(&format!("recording {}", self.what));
    }

    fn wrote(&self, n: u64, last_received: f64) {
        if let Ok(mut c) = self.inner.lock() {
            c.total += n;
            c.window += n;
            c.lag = (wall_secs() - last_received).max(0.0);
        }
    }

    fn tick(&self) {
        let Ok(mut c) = self.inner.lock() else { return };
        let secs = c.window_start.elapsed().as_secs_f64().max(1e-3);
        let rate = c.window as f64 / secs;
        c.window = 0;
        c.window_start = Instant::now();
        let line = format!(
            "{:.0} events/s, {} total, lag {:.0} ms",
            rate,
            c.total,
            c.lag * 1000.0
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

    fn finish(&self) {
        self.bar.finish_and_clear();
        let total = self.inner.lock().map_or(0, |c| c.total);
        self.log(&format!("stopped; {total} events recorded"));
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
