//! `celtrace anomalies`: what went wrong in the recorded range, for people, cron and CI.

use clap::{Args, ValueEnum};

use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::query::anomalies::{PendingChord, Severity, Thresholds, detect_among, waiting_chords};
use crate::query::time::epoch;
use crate::render;

/// Find what went wrong: lost, stuck, hung, killed, slow and unregistered tasks, failure spikes, chords that never finished, retry storms, flapping workers
///
/// Each finding has a rule id, a severity, a one-line explanation, its evidence (task ids,
/// worker, time) and a help line. With --fail-on, the exit status is 6 when a finding at or
/// above that severity exists, so cron jobs and CI can act on it.
///
/// Thresholds: flags here, else the profile's `[profiles.NAME.thresholds]` (stuck_in_queue,
/// not_started, not_finished, flapping_window, spike_window as durations), else the defaults.
/// The `tasks` filters (--since, --until, --name, --queue, --worker, --state, --root,
/// --parent) choose the tasks the task rules look at.
///
/// Examples:
///   celtrace anomalies --events rec.ndjson
///   celtrace anomalies --events rec.ndjson --fail-on error
///   celtrace anomalies --stuck-after 2m --json | jq '.anomalies[] | select(.rule == "interrupted")'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AnomaliesArgs {
    /// Exit with status 6 when a finding at or above this severity exists
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    /// A sent task never received after this long is stuck in its queue [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stuck_after: Option<f64>,

    /// A received task not started after this long is flagged (ETA tasks exempt) [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub not_started_after: Option<f64>,

    /// A started task not finished after this long is flagged [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub not_finished_after: Option<f64>,

    /// Retries of one task that make a retry storm
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retry_storm: u32,

    /// Sessions of one worker within --flapping-window that make it flapping
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub flapping_sessions: usize,

    /// Window for --flapping-sessions [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub flapping_window: Option<f64>,

    /// Heartbeat intervals of silence before a worker is lost
    #[arg(long, value_name = "N", default_value_t = crate::state::worker::HEARTBEAT_EXPIRE_FACTOR)]
    pub lost_after: f64,

    /// Width of the windows failure_spike compares (the newest window with failures against
    /// the one before it) [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub spike_window: Option<f64>,

    /// A chord still waiting this long after its known header tasks ended is flagged (needs
    /// --result-backend and recorded backend records) [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub chord_grace: Option<f64>,

    /// A run this many times its name's p99 runtime is slow (names with 20 runs or more)
    #[arg(long, value_name = "N", default_value_t = 3.0)]
    pub slow_factor: f64,

    /// Which tasks the task rules look at, as in `tasks` (worker and gap rules look at
    /// every worker, or those --worker names, within --since/--until)
    #[command(flatten)]
    pub filters: super::args::TaskFilters,

    /// Only findings of these rules (comma-separated ids, see the README)
    #[arg(long, value_delimiter = ',', value_name = "RULE", value_parser = parse_rule)]
    pub rule: Vec<String>,

    /// A runtime limit for tasks whose name matches a glob, `GLOB=DURATION`, or a queue-wait
    /// limit, `GLOB=wait:DURATION` (repeatable; adds to the profile's [sla]): the `sla` rule
    #[arg(long, value_name = "GLOB=LIMIT", value_parser = parse_sla)]
    pub sla: Vec<String>,

    #[command(flatten)]
    pub output: super::args::ListOutput,
}

fn parse_sla(s: &str) -> Result<String, String> {
    crate::query::anomalies::Sla::parse(s).map(|_| s.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
}

fn parse_duration(s: &str) -> Result<f64, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_secs_f64())
        .map_err(|_| format!("`{s}` is not a duration; use e.g. 30s, 10m, 2h"))
}

fn parse_rule(s: &str) -> Result<String, String> {
    let ids: Vec<&str> = crate::query::anomalies::RULES.iter().map(|r| r.0).collect();
    if ids.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("unknown rule `{s}`; rules: {}", ids.join(", ")))
    }
}

/// Chords the result backend says still wait (read only with --result-backend): those whose
/// callback will never run.
fn waiting(
    ctx: &Ctx,
    state: &crate::state::State,
    t: &Thresholds,
    horizon: f64,
) -> Result<Vec<crate::query::anomalies::Anomaly>, CliError> {
    let Some((url, _)) = &ctx.result_backend else {
        return Ok(Vec::new());
    };
    let backend = crate::graph::backend::Backend::from_records(state);
    let mut groups: Vec<String> = state
        .tasks()
        .filter_map(|task| backend.group_of(&task.id).map(ToString::to_string))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let pending: Vec<PendingChord> = crate::source::backend::read_pending_chords(url, &groups)?
        .into_iter()
        .map(|(group_id, size, reported)| PendingChord {
            group_id,
            size,
            reported,
        })
        .collect();
    Ok(waiting_chords(state, &pending, t, horizon))
}

/// Flag, then profile, then default.
fn pick(flag: Option<f64>, ctx: &Ctx, rule: &str, default: f64) -> f64 {
    flag.or_else(|| ctx.profile.thresholds.get(rule).map(|d| d.as_secs_f64()))
        .unwrap_or(default)
}

/// The thresholds of the profile (else the defaults), for `top`'s anomalies strip.
pub fn profile_thresholds(ctx: &Ctx) -> Thresholds {
    let d = Thresholds::default();
    Thresholds {
        stuck_in_queue: pick(None, ctx, "stuck_in_queue", d.stuck_in_queue),
        not_started: pick(None, ctx, "not_started", d.not_started),
        not_finished: pick(None, ctx, "not_finished", d.not_finished),
        flapping_window: pick(None, ctx, "flapping_window", d.flapping_window),
        spike_window: pick(None, ctx, "spike_window", d.spike_window),
        chord_grace: pick(None, ctx, "chord_grace", d.chord_grace),
        sla: ctx
            .profile
            .sla
            .iter()
            .filter_map(|s| crate::query::anomalies::Sla::parse(s).ok())
            .collect(),
        ..d
    }
}

pub fn run(ctx: &Ctx, args: &AnomaliesArgs) -> Result<(), CliError> {
    if !(args.lost_after.is_finite() && args.lost_after > 0.0) {
        return Err(CliError::usage(
            format!("--lost-after {} must be a positive number", args.lost_after),
            "Celery calls a worker offline after 2 heartbeat intervals",
        ));
    }
    let d = Thresholds::default();
    let thresholds = Thresholds {
        stuck_in_queue: pick(args.stuck_after, ctx, "stuck_in_queue", d.stuck_in_queue),
        not_started: pick(args.not_started_after, ctx, "not_started", d.not_started),
        not_finished: pick(args.not_finished_after, ctx, "not_finished", d.not_finished),
        retry_storm: args.retry_storm.max(1),
        flapping_sessions: args.flapping_sessions.max(2),
        flapping_window: pick(
            args.flapping_window,
            ctx,
            "flapping_window",
            d.flapping_window,
        ),
        lost_factor: args.lost_after,
        spike_window: pick(args.spike_window, ctx, "spike_window", d.spike_window),
        spike_failures: d.spike_failures,
        slow_factor: args.slow_factor,
        slow_samples: d.slow_samples,
        chord_grace: pick(args.chord_grace, ctx, "chord_grace", d.chord_grace),
        sla: ctx
            .profile
            .sla
            .iter()
            .chain(&args.sla)
            .filter_map(|s| crate::query::anomalies::Sla::parse(s).ok())
            .collect(),
    };
    if !(args.slow_factor.is_finite() && args.slow_factor > 1.0) {
        return Err(CliError::usage(
            format!(
                "--slow-factor {} must be a number above 1",
                args.slow_factor
            ),
            "e.g. --slow-factor 3: three times the name's p99 runtime",
        ));
    }
    let query = args.filters.check(ctx)?;
    let (state, report) = ctx.load(&Load::ALL)?;
    let horizon = state.horizon(epoch(ctx.now));
    let query = args
        .filters
        .resolve(query, &state, &report.source, horizon)?;
    let selected = crate::query::tasks::select(&state, &query, horizon);
    let mut found = detect_among(&state, &selected, &thresholds, horizon);
    found.extend(waiting(ctx, &state, &thresholds, horizon)?);
    // Findings about tasks: about selected ones. Others (workers, gaps): the workers
    // --worker names, within --since/--until.
    let ids: rustc_hash::FxHashSet<String> = selected.iter().map(|t| t.id.to_string()).collect();
    found.retain(|a| {
        let in_range = a.at.is_none_or(|t| {
            query.since.is_none_or(|s| t >= s) && query.until.is_none_or(|u| t <= u)
        });
        let worker_ok = a
            .worker
            .as_deref()
            .is_none_or(|w| query.workers.is_empty() || query.workers.iter().any(|g| g.matches(w)));
        let about_selected = match a.tasks.is_empty() {
            true => in_range,
            false => a.tasks.iter().any(|t| ids.contains(t)),
        };
        worker_ok && about_selected
    });
    if !args.rule.is_empty() {
        found.retain(|a| args.rule.iter().any(|r| r == a.rule));
    }
    let rctx = ctx.list_ctx(&args.output);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match args.output.format() {
        render::ListFormat::Table => {
            render::anomalies::text(&found, horizon, &rctx, &mut out)?;
        }
        format => render::anomalies::machine(
            format,
            &found,
            horizon,
            &thresholds,
            &report,
            &rctx,
            &mut out,
        )?,
    }
    std::io::Write::flush(&mut out)?;
    state.discard();
    let floor = args.fail_on.map(|f| match f {
        FailOn::Warning => Severity::Warning,
        FailOn::Error => Severity::Error,
    });
    match floor {
        Some(floor) if found.iter().any(|a| a.severity >= floor) => Err(CliError::Found {
            count: found.iter().filter(|a| a.severity >= floor).count(),
            severity: floor.as_str(),
        }),
        _ => Ok(()),
    }
}
