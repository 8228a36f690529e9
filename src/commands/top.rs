//! `celtrace top`: the live dashboard. The loop: fold in what arrived, recompute the frame
//! once per refresh, draw, and answer keys; everything it shows comes from the same state,
//! queries and renderers as the other commands (src/top/).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ratatui::crossterm::event::{self, Event as TermEvent};

use super::args::{AtArg, TaskFilters};
use crate::ctx::{Ctx, EventSource, Load};
use crate::error::CliError;
use crate::model::TaskId;
use crate::model::control::revoke_request;
use crate::query::tasks::TaskQuery;
use crate::source::file::Input;
use crate::state::State;
use crate::top::app::{Action, App, DetailTab, Effect, Screen as AppScreen, Tone};
use crate::top::draw::{self, Header, View};
use crate::top::look::Look;
use crate::top::snapshot::{Slow, Snapshot, TaskSelection};
use crate::top::source::Source;
use crate::top::terminal::Screen;

/// A live dashboard of workers, queues, tasks and anomalies, with keys to act
///
/// Live from the broker: what `celtrace record` kept, then every event as it comes (no
/// recorder needed to start). From a recording (--events FILE, or the broker's history with
/// --at): the moment shown can be paused, played and stepped with [ and ]. Task filters
/// narrow the task list as in `tasks`; `f` changes them, `/` searches by id prefix or name.
/// Enter opens a task (the `show` view; g its flow), r retries and x revokes it after a
/// confirmation (refused in read-only mode). ? lists the keys; q quits.
///
/// Examples:
///   celtrace top --broker redis://localhost:6379/0
///   celtrace top --name 'shop.*' --state FAILURE,RETRY
///   celtrace top --events rec.ndjson --at 2026-11-30T10:15:00Z
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TopArgs {
    #[command(flatten)]
    pub filters: TaskFilters,

    #[command(flatten)]
    pub at: AtArg,

    /// How often the screen is recomputed (100ms to 1s)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub refresh: Duration,

    /// Plain ASCII borders and marks
    #[arg(long)]
    pub ascii: bool,
}

/// How often, at most, anomalies, lost tasks and queue tallies are recomputed live (they
/// read every task; they change slowly).
const ANOMALIES_EVERY: Duration = Duration::from_secs(5);

/// The longest wait for a key before the loop looks at the source again.
const KEY_WAIT: Duration = Duration::from_millis(200);

pub fn run(ctx: &mut Ctx, args: &TopArgs) -> Result<(), CliError> {
    if !(Duration::from_millis(100)..=Duration::from_secs(1)).contains(&args.refresh) {
        return Err(CliError::usage(
            format!(
                "--refresh {} is out of range",
                humantime::format_duration(args.refresh)
            ),
            "the dashboard refreshes between every 100ms and every 1s",
        ));
    }
    if !ctx.ui.stdout_tty {
        return Err(CliError::usage(
            "top draws on a terminal, and stdout is not one",
            "for scripts, use `celtrace tasks`, `workers`, `queues` or `anomalies` with --json",
        ));
    }
    if matches!(ctx.source, EventSource::Recording(Input::Stdin)) {
        return Err(CliError::usage(
            "top cannot read its events from stdin",
            "give the recording's path (--events FILE): top reads it again to move in time",
        ));
    }
    args.filters.check(ctx)?;
    let at = args.at.resolve(ctx)?;
    let live = matches!(ctx.source, EventSource::Broker(..)) && at.is_none();
    let mut source = if live {
        Source::live(ctx)?
    } else {
        Source::recorded(ctx, at)?
    };
    let mut app = App::new(
        crate::top::filter::text_of(&args.filters),
        ctx.read_only,
        false,
    );
    let mut selection = TaskSelection {
        query: parse_filter(ctx, &source.state, &app.filter, source.horizon())
            .map_err(|e| CliError::usage(e, "see `celtrace top --help`"))?,
        search: String::new(),
    };
    // From here stderr is under the screen: what would be a warning shows in the header.
    let quiet = std::mem::replace(&mut ctx.ui.quiet, true);
    let look = Look {
        color: ctx.ui.stdout_color,
        ascii: args.ascii,
        zone: ctx.zone,
    };
    let thresholds = super::anomalies::profile_thresholds(ctx);
    let mut screen = Screen::enter()?;
    let mut snap = Snapshot::default();
    let mut detail: Vec<String> = Vec::new();
    let mut next_refresh = Instant::now();
    let mut slow = Slow::default();
    let mut next_slow = Instant::now();
    let mut slow_stale = true;
    let mut state_changed = true;
    let mut recompute = true;
    loop {
        if screen.stopped() {
            break;
        }
        match source.pump(ctx) {
            Ok(changed) => {
                state_changed |= changed;
                slow_stale |= changed;
            }
            Err(e) => app.say(e.to_string(), Tone::Error),
        }
        let now = Instant::now();
        if now >= next_refresh {
            next_refresh = now + args.refresh;
            // Live, ages move with the clock: every refresh recomputes unless paused.
            recompute |= if source.is_live() {
                !app.paused
            } else {
                state_changed
            };
            state_changed = false;
        }
        if recompute {
            let horizon = source.horizon();
            // The slow part reads every task: live, at most every ANOMALIES_EVERY and never
            // more than a fortieth of the time; a recording's state changes only on a move.
            if slow_stale && (now >= next_slow || !source.is_live()) {
                let started = Instant::now();
                slow = Slow::compute(&source.state, &thresholds, horizon);
                source.ask_about(slow.queue_names());
                next_slow = now + ANOMALIES_EVERY.max(started.elapsed() * 40);
                slow_stale = false;
            }
            let (depths, depth_error) = source.depths();
            snap = Snapshot::build(&source.state, &selection, depths.as_deref(), &slow, horizon);
            app.follow(&snap);
            if let AppScreen::Detail { id, tab, .. } = &app.screen {
                let width = screen
                    .terminal
                    .size()
                    .map_or(80, |s| s.width)
                    .saturating_sub(2);
                detail = detail_lines(ctx, &source.state, id, *tab, horizon, look, width);
            }
            let header = Header {
                source: source_label(ctx),
                mode: source.mode(ctx.zone, crate::clock::now(), app.paused),
                warning: source.warning.clone().or(depth_error),
            };
            recompute = false;
            screen.terminal.draw(|f| {
                draw::draw(
                    f,
                    &app,
                    &View {
                        snap: &snap,
                        header: &header,
                        detail: &detail,
                        look,
                    },
                );
            })?;
        }
        if !event::poll(KEY_WAIT)? {
            continue;
        }
        match event::read()? {
            TermEvent::Key(key) => {
                let before = app.screen.clone();
                let effect = app.key(key, &snap);
                if effect == Effect::Quit {
                    break;
                }
                // A step loads another moment: everything is computed again.
                slow_stale |= matches!(effect, Effect::Step(_));
                apply(ctx, &mut app, &mut source, &mut selection, effect);
                if app.screen != before {
                    detail.clear();
                }
                recompute = true;
            }
            TermEvent::Resize(..) => recompute = true,
            _ => {}
        }
    }
    drop(screen);
    ctx.ui.quiet = quiet;
    Ok(())
}

/// Carries out what a key asked for; problems become the bottom line's message.
fn apply(
    ctx: &mut Ctx,
    app: &mut App,
    source: &mut Source,
    selection: &mut TaskSelection,
    effect: Effect,
) {
    match effect {
        Effect::None | Effect::Quit => {}
        Effect::Search => selection.search = app.live_search().to_string(),
        Effect::Filter(text) => match parse_filter(ctx, &source.state, &text, source.horizon()) {
            Ok(query) => {
                selection.query = query;
                app.filter_applied(text);
            }
            Err(e) => app.say(e, Tone::Error),
        },
        Effect::Act(action) => match act(ctx, &action) {
            Ok(done) => app.say(done, Tone::Info),
            Err(e) => app.say(e.to_string(), Tone::Error),
        },
        Effect::Step(n) => {
            if let Err(e) = source.step(ctx, n) {
                app.say(e, Tone::Error);
            }
        }
        Effect::StepScale(n) => {
            if let Err(e) = source.scale_step(n) {
                app.say(e, Tone::Error);
            }
        }
        Effect::TogglePause => {
            if source.is_live() {
                app.paused = !app.paused;
            } else {
                source.toggle_play();
            }
        }
    }
}

/// The broker (password hidden) or the file.
fn source_label(ctx: &Ctx) -> String {
    match &ctx.source {
        EventSource::Broker(url, _) => url.redacted(),
        EventSource::Recording(input) => input.label(),
    }
}

fn detail_lines(
    ctx: &Ctx,
    state: &State,
    id: &str,
    tab: DetailTab,
    horizon: f64,
    look: Look,
    width: u16,
) -> Vec<String> {
    crate::top::detail::lines(
        state,
        id,
        tab,
        None,
        horizon,
        (ctx.zone, look.ascii, width.max(40)),
    )
}

/// Parses and resolves a filter line; the reason in one line when it is not one.
fn parse_filter(ctx: &Ctx, state: &State, text: &str, horizon: f64) -> Result<TaskQuery, String> {
    let filters = crate::top::filter::parse(text)?;
    let query = filters.check(ctx).map_err(|e| e.to_string())?;
    filters
        .resolve(query, state, "the events", horizon)
        .map_err(|e| e.to_string())
}

/// Sends a confirmed retry or revoke: what happened, in one line.
fn act(ctx: &mut Ctx, action: &Action) -> Result<String, CliError> {
    match action {
        Action::Retry { id } => {
            let broker = super::guard::writable(ctx, "retry", false)?
                .ok_or_else(|| CliError::usage("retry needs a broker", "give --broker"))?;
            // The new message carries the real arguments: load them unscrubbed, as `retry`
            // does, and put the policy back whatever happens.
            let policy = std::mem::replace(&mut ctx.ingest, Arc::new(crate::scrub::Policy::off()));
            let built = (|| {
                let (state, _) = match ctx.load_flow(id, None)? {
                    Some(loaded) => loaded,
                    None => ctx.load(&Load::ALL)?,
                };
                let ids = [TaskId::parse(id)];
                let messages = super::retry::messages(ctx, &state, &ids);
                state.discard();
                messages
            })();
            ctx.ingest = policy;
            let messages = built?;
            for m in &messages {
                broker.publish_task(m)?;
            }
            Ok(messages.first().map_or_else(String::new, |m| {
                format!("retried {} as {} on {}", id, m.id, m.queue)
            }))
        }
        Action::Revoke { id, terminate } => {
            let broker = super::guard::writable(ctx, "revoke", false)?
                .ok_or_else(|| CliError::usage("revoke needs a broker", "give --broker"))?;
            let ids = vec![id.clone()];
            let build =
                |reply: Option<(&str, &str)>| revoke_request(&ids, *terminate, "TERM", reply);
            let sent = broker.broadcast(&build, None)?;
            let how = if *terminate {
                "revoke and terminate"
            } else {
                "revoke"
            };
            Ok(match sent.reached {
                Some(0) => format!(
                    "no worker received the {how} of {id}: it is lost (send it again when workers are up)"
                ),
                Some(n) => format!("{how} of {id} sent to {n} worker mailbox(es)"),
                None => format!("{how} of {id} sent"),
            })
        }
    }
}
