//! `celtrace replay`: a recording's events printed again at their original pace, so a script
//! that reads `tail` can be run on the past. It prints only: nothing is ever sent.

use std::time::{Duration, Instant};

use clap::Args;

use super::args::{EventFilterArgs, moment};
use super::tail::{Printer, TailFormat};
use crate::ctx::{Ctx, EventSource};
use crate::error::CliError;
use crate::model::Event;
use crate::source::file;
use crate::source::record::RecordError;

/// Print a recording's events again, paced by their original timing
///
/// The events of --events FILE (or of the broker's recording) in recording order, each
/// printed when its time comes: the gap between two events is their original gap divided by
/// --speed. Output is `tail`'s: one line per event, or recording lines with --format ndjson,
/// so a script that consumes `tail` runs unchanged on the past. Nothing is sent to a broker.
///
/// Examples:
///   celtrace replay --events rec.ndjson --speed 10
///   celtrace replay --events rec.ndjson --from 3f2a-1s --until 3f2a+30s --format ndjson | ./my-script
///   celtrace replay --events rec.ndjson --speed 0 --name 'shop.*'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ReplayArgs {
    /// How many times faster than it happened (0.5 is half speed; 0 prints without pausing)
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Start at this moment: RFC 3339, a duration ago, or a task plus or minus a duration
    /// (3f2a-1s), as --at takes it
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Stop after this moment (same forms as --from)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    #[command(flatten)]
    pub events: EventFilterArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = TailFormat::Text)]
    pub format: TailFormat,

    /// Plain ASCII arrows
    #[arg(long)]
    pub ascii: bool,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
        _ => Err(format!(
            "`{s}` is not a speed: a factor like 1, 10 or 0.5 (0 = no pauses)"
        )),
    }
}

/// When each event is due: its gap from the first printed event, divided by the speed.
/// Events without a time, or earlier than the one before, are due at once.
#[derive(Debug)]
pub struct Pace {
    speed: f64,
    start: Option<(f64, Instant)>,
}

impl Pace {
    pub fn new(speed: f64) -> Self {
        Self { speed, start: None }
    }

    /// How long to wait before printing an event of time `t`, at wall time `now`.
    pub fn wait(&mut self, t: Option<f64>, now: Instant) -> Duration {
        let (Some(t), true) = (t, self.speed > 0.0) else {
            return Duration::ZERO;
        };
        let (t0, w0) = *self.start.get_or_insert((t, now));
        let due = w0 + Duration::from_secs_f64(((t - t0) / self.speed).max(0.0));
        due.saturating_duration_since(now)
    }
}

pub fn run(ctx: &Ctx, args: &ReplayArgs) -> Result<(), CliError> {
    let from = args
        .from
        .as_deref()
        .map(|t| moment(ctx, "from", t))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| moment(ctx, "until", t))
        .transpose()?;
    if let (Some(f), Some(u)) = (from, until)
        && f > u
    {
        return Err(CliError::usage(
            "--from is after --until",
            "give --from the earlier moment",
        ));
    }
    let mut printer = Printer::new(ctx, args.events.filter()?, args.format, args.ascii);
    let (reader, label) = match &ctx.source {
        EventSource::Recording(input) => (
            file::open_input(input, &indicatif::ProgressBar::hidden())?,
            input.label(),
        ),
        EventSource::Broker(..) => {
            ctx.history(None)?
                .lines(from, until, &indicatif::ProgressBar::hidden())?
        }
    };
    let mut pace = Pace::new(args.speed);
    let mut write_error = None;
    let report = file::read_from(
        reader,
        &label,
        None,
        &|| (),
        &|(), ev: &Event<'_>| ev.clone().into_owned(),
        &mut |ev: Event<'static>| {
            let t = ev.time();
            if from.is_some_and(|f| t.is_some_and(|t| t < f)) {
                return Ok(());
            }
            if until.is_some_and(|u| t.is_some_and(|t| t > u)) {
                return Ok(());
            }
            let wait = pace.wait(t, Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            if let Err(e) = printer.event(&ev, None).and_then(|()| printer.flush()) {
                write_error = Some(e);
                return Err(RecordError::Read {
                    path: label.clone(),
                    source: std::io::Error::other("the output closed"),
                });
            }
            Ok(())
        },
    );
    if let Some(e) = write_error {
        return match e.kind() {
            std::io::ErrorKind::BrokenPipe => Ok(()),
            _ => Err(e.into()),
        };
    }
    let report = report?;
    CliError::refuse_empty(&report)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_divided_by_the_speed() {
        let w0 = Instant::now();
        let mut pace = Pace::new(10.0);
        assert_eq!(pace.wait(Some(100.0), w0), Duration::ZERO);
        assert_eq!(pace.wait(Some(105.0), w0), Duration::from_millis(500));
        // Later, part of the wait has passed already.
        let later = w0 + Duration::from_millis(200);
        assert_eq!(pace.wait(Some(105.0), later), Duration::from_millis(300));
        // An event earlier than the first, or without a time: at once.
        assert_eq!(pace.wait(Some(90.0), later), Duration::ZERO);
        assert_eq!(pace.wait(None, later), Duration::ZERO);
    }

    #[test]
    fn speed_zero_never_waits() {
        let mut pace = Pace::new(0.0);
        let w0 = Instant::now();
        assert_eq!(pace.wait(Some(1.0), w0), Duration::ZERO);
        assert_eq!(pace.wait(Some(1000.0), w0), Duration::ZERO);
    }
}
