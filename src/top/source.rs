//! Where the dashboard's state comes from, through the same loading as every command:
//! - live: the broker's subscription (taken first, as `--wait` does) folded into the
//!   recorded history, and the broker's queue depths, polled on a thread;
//! - a recording (`--events FILE`, or the broker's history with `--at`): the state as of a
//!   moment, which the user pauses, plays and steps; each move loads that moment again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::model::decode::decode_entry;
use crate::query::time::epoch;
use crate::source::broker::DepthOptions;
use crate::source::file::LoadReport;
use crate::source::live::Live;
use crate::source::queues::Depth;
use crate::state::State;

/// How often the broker is asked for queue depths.
const DEPTH_EVERY: Duration = Duration::from_secs(2);

/// The time steps `-` and `+` move between.
const STEPS: [f64; 8] = [1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

pub struct Source {
    pub state: State,
    /// What the last load reported wrong (gaps, unreadable entries), or a lost broker.
    pub warning: Option<String>,
    kind: Kind,
}

enum Kind {
    Live {
        live: Live,
        depths: Option<Poller>,
    },
    Recorded {
        moment: f64,
        first: f64,
        last: f64,
        step: usize,
        playing: bool,
        ticked: Instant,
    },
}

/// A sentence about what a load left out, for the header.
fn warning_of(report: &LoadReport) -> Option<String> {
    if !report.gaps.is_empty() {
        return Some(format!(
            "the recording has {} gap(s): events are missing",
            report.gaps.len()
        ));
    }
    let lost = report.lost();
    (lost > 0).then(|| format!("{lost} unreadable entries skipped"))
}

impl Source {
    /// Live from the broker: subscribe, then read what is recorded (nothing recorded yet is
    /// fine: the live events fill the state).
    pub fn live(ctx: &Ctx) -> Result<Self, CliError> {
        let live = crate::commands::wait::subscribe(ctx)?;
        let (state, report) = match ctx.load(&Load::ALL) {
            Err(CliError::NoRecording { .. } | CliError::AmqpNoExchange(_)) => {
                crate::commands::wait::nothing_yet(ctx)
            }
            other => other?,
        };
        let depths = ctx
            .broker("queue depths")
            .ok()
            .map(|b| Poller::start(b, ctx.stream_queue()));
        Ok(Self {
            warning: warning_of(&report),
            state,
            kind: Kind::Live { live, depths },
        })
    }

    /// A recording as of `at` (its end when `None`).
    pub fn recorded(ctx: &Ctx, at: Option<f64>) -> Result<Self, CliError> {
        let (state, report) = ctx.load(&Load::ALL)?;
        let (first, last) = state
            .time_range()
            .unwrap_or((epoch(ctx.now), epoch(ctx.now)));
        let mut source = Self {
            warning: warning_of(&report),
            state,
            kind: Kind::Recorded {
                moment: last,
                first,
                last,
                step: 2,
                playing: false,
                ticked: Instant::now(),
            },
        };
        if let Some(at) = at {
            source.go_to(ctx, at)?;
        }
        Ok(source)
    }

    pub fn is_live(&self) -> bool {
        matches!(self.kind, Kind::Live { .. })
    }

    /// Where liveness and ages are judged: now (live), or the moment shown.
    pub fn horizon(&self) -> f64 {
        match &self.kind {
            Kind::Live { .. } => self.state.horizon(crate::clock::wall_secs()),
            Kind::Recorded { moment, .. } => self.state.horizon(*moment),
        }
    }

    /// The header's words for the mode.
    pub fn mode(
        &self,
        zone: crate::render::Zone,
        now: chrono::DateTime<chrono::Utc>,
        paused: bool,
    ) -> String {
        match &self.kind {
            Kind::Live { .. } if paused => "live, display paused".to_string(),
            Kind::Live { .. } => "live".to_string(),
            Kind::Recorded {
                moment,
                last,
                step,
                playing,
                ..
            } => {
                let when = crate::render::fmt::clock_time(*moment, zone, now);
                let end = if moment >= last { " (end)" } else { "" };
                let play = if *playing { "playing" } else { "paused" };
                let step = humantime::format_duration(Duration::from_secs_f64(STEPS[*step]));
                format!("as of {when}{end}, {play}, step {step}")
            }
        }
    }

    /// Folds in what arrived (live) or moves a playing recording on. Whether the state
    /// changed.
    pub fn pump(&mut self, ctx: &Ctx) -> Result<bool, CliError> {
        match &mut self.kind {
            Kind::Live { live, .. } => {
                let lines = match live.lines_until(Instant::now()) {
                    Ok(lines) => lines,
                    Err(e) => {
                        self.warning = Some(format!("live events stopped: {e}"));
                        return Ok(false);
                    }
                };
                for line in &lines {
                    decode_entry(line, &mut Vec::new(), &mut |ev| self.state.apply(ev));
                }
                Ok(!lines.is_empty())
            }
            Kind::Recorded {
                moment,
                last,
                playing,
                ticked,
                ..
            } => {
                if !*playing {
                    *ticked = Instant::now();
                    return Ok(false);
                }
                let elapsed = ticked.elapsed();
                if elapsed < Duration::from_secs(1) {
                    return Ok(false);
                }
                *ticked = Instant::now();
                let to = *moment + elapsed.as_secs_f64();
                if to >= *last {
                    *playing = false;
                }
                let to = to.min(*last);
                self.go_to(ctx, to)?;
                Ok(true)
            }
        }
    }

    /// Play or pause a recording; live, the caller only pauses the display.
    pub fn toggle_play(&mut self) {
        if let Kind::Recorded {
            moment,
            first,
            last,
            playing,
            ticked,
            ..
        } = &mut self.kind
        {
            *playing = !*playing;
            *ticked = Instant::now();
            // Playing from the end starts over from the beginning.
            if *playing && moment >= last {
                *moment = *first;
            }
        }
    }

    /// `[` and `]`: the moment `steps` steps away. Refused live (the broker's present has no
    /// other moment; `--at` opens its history).
    pub fn step(&mut self, ctx: &Ctx, steps: i32) -> Result<(), String> {
        let Kind::Recorded {
            moment,
            first,
            last,
            step,
            ..
        } = &self.kind
        else {
            return Err("live: time steps need a recording (--events FILE) or --at".into());
        };
        let to = (moment + f64::from(steps) * STEPS[*step]).clamp(*first, *last);
        self.go_to(ctx, to).map_err(|e| e.to_string())
    }

    /// `-` and `+`: a smaller or larger step.
    pub fn scale_step(&mut self, by: i32) -> Result<(), String> {
        let Kind::Recorded { step, .. } = &mut self.kind else {
            return Err("live: time steps need a recording (--events FILE) or --at".into());
        };
        *step = (*step as i32 + by).clamp(0, STEPS.len() as i32 - 1) as usize;
        Ok(())
    }

    /// Loads the recording as of `to`.
    fn go_to(&mut self, ctx: &Ctx, to: f64) -> Result<(), CliError> {
        let Kind::Recorded { moment, last, .. } = &mut self.kind else {
            return Ok(());
        };
        *moment = to;
        // At the end, nothing is left out (events may sit a little past the last one read).
        let at = (to < *last).then_some(to);
        let (state, report) = ctx.load(&Load::ALL.at(at))?;
        let old = std::mem::replace(&mut self.state, state);
        old.discard();
        self.warning = warning_of(&report);
        Ok(())
    }

    /// The broker's queue depths, when it is polled and has answered; and its error.
    pub fn depths(&self) -> (Option<Vec<Depth>>, Option<String>) {
        match &self.kind {
            Kind::Live {
                depths: Some(p), ..
            } => p.latest(),
            _ => (None, None),
        }
    }

    /// Tells the poller which queues the events name.
    pub fn ask_about(&self, names: Vec<String>) {
        if let Kind::Live {
            depths: Some(p), ..
        } = &self.kind
        {
            p.ask_about(names);
        }
    }
}

type Shared<T> = Arc<Mutex<T>>;

/// Asks the broker for queue depths every [`DEPTH_EVERY`] on its own thread, so a slow
/// broker never holds up the screen. Stops when dropped.
pub struct Poller {
    names: Shared<Vec<String>>,
    latest: Shared<(Option<Vec<Depth>>, Option<String>)>,
    stop: Arc<AtomicBool>,
}

impl Poller {
    fn start(broker: crate::source::broker::Broker, stream_queue: String) -> Self {
        let names: Shared<Vec<String>> = Arc::default();
        let latest: Shared<(Option<Vec<Depth>>, Option<String>)> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (n, l, s) = (names.clone(), latest.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let opts = DepthOptions {
                    keyprefix: "",
                    management_url: None,
                    stream_queue: &stream_queue,
                };
                let mut wanted: Vec<String> = n.lock().map(|v| v.clone()).unwrap_or_default();
                let answer = broker.discover_queues(&opts).and_then(|(found, managed)| {
                    wanted.push("celery".to_string());
                    wanted.extend(found.into_iter().map(|(q, _)| q));
                    wanted.sort();
                    wanted.dedup();
                    broker.queue_depths(&wanted, &opts, None, &managed)
                });
                if let Ok(mut slot) = l.lock() {
                    *slot = match answer {
                        Ok(d) => (Some(d), None),
                        Err(e) => (slot.0.take(), Some(format!("queue depths: {e}"))),
                    };
                }
                let until = Instant::now() + DEPTH_EVERY;
                while Instant::now() < until && !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Self {
            names,
            latest,
            stop,
        }
    }

    fn latest(&self) -> (Option<Vec<Depth>>, Option<String>) {
        self.latest.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn ask_about(&self, names: Vec<String>) {
        if let Ok(mut n) = self.names.lock() {
            *n = names;
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
