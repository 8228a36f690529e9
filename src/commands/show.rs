//! `celtrace show <id>`: everything known about one task.

use clap::Args;

use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::graph::backend::TaskMeta;
use crate::query::lineage::children;
use crate::query::resolve_task;
use crate::query::time::epoch;
use crate::render::show::ShowData;
use crate::render::{self, ShowFormat};
use crate::source::file::LineFilter;
use crate::source::file::LoadReport;
use crate::state::State;
use crate::state::view::TaskView;

/// Show one task: state, timeline of every attempt, arguments, result, traceback, lineage
///
/// The id may be a full task id or a unique prefix of at least 4 characters, as in git.
///
/// Examples:
///   celtrace show 3f2a9c --events rec.ndjson
///   celtrace show 3f2a9c --json | jq .task.attempts
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ShowArgs {
    /// Task id or unique prefix (at least 4 characters)
    #[arg(value_name = "ID")]
    pub id: String,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,

    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Plain ASCII decoration
    #[arg(long)]
    pub ascii: bool,

    #[command(flatten)]
    pub at: super::args::AtArg,

    #[command(flatten)]
    pub wait: super::args::WaitArgs,
}

pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<(), CliError> {
    let live = if args.wait.wait {
        Some(super::wait::subscribe(ctx)?)
    } else {
        None
    };
    let at = args.at.resolve(ctx)?;
    let (mut state, report) = match load(ctx, args.id.trim(), at) {
        // Nothing recorded yet: --wait follows the live events from here.
        Err(CliError::NoRecording { .. }) if live.is_some() => super::wait::nothing_yet(ctx),
        other => other?,
    };
    let finished = match &live {
        Some(live) => Some(wait_for_task(ctx, live, args, &mut state)?),
        None => None,
    };
    let horizon = state.horizon(at.unwrap_or(epoch(ctx.now)));
    let id = resolve_task(&state, &args.id).map_err(|e| {
        CliError::from_resolve(e, &report.source, &|id| describe(&state, id, horizon))
    })?;
    let Some(record) = state.task(id) else {
        return Err(CliError::NotFound {
            typed: args.id.clone(),
            source_label: report.source.clone(),
        });
    };
    let backend = match &ctx.result_backend {
        Some((url, _)) => ctx
            .backend_metas(url, std::slice::from_ref(id))?
            .first()
            .and_then(|m| TaskMeta::parse(m)),
        None => None,
    }
    .or_else(|| TaskMeta::recorded(&state, id));
    let data = ShowData::gather(&state, record, horizon, backend);
    let rctx = ctx.render_ctx(args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    if args.json || args.format == ShowFormat::Json {
        render::show::json(&state, &data, &report, &rctx, horizon, &mut out)?;
    } else {
        render::show::text(&state, &data, &rctx, horizon, &mut out)?;
    }
    std::io::Write::flush(&mut out)?;
    let what = format!("task {}", data.view.record.id);
    drop(data);
    state.discard();
    match finished {
        Some(s) if s != crate::model::TaskState::Success => Err(CliError::TaskFailed {
            what,
            state: s.as_str().to_string(),
        }),
        _ => Ok(()),
    }
}

/// `--wait`: follows the task's live events until it has finished; its final state.
/// A full id not seen yet is waited for too (the task may not have been sent yet).
fn wait_for_task(
    ctx: &Ctx,
    live: &crate::source::live::Live,
    args: &ShowArgs,
    state: &mut State,
) -> Result<crate::model::TaskState, CliError> {
    let typed = args.id.trim().to_ascii_lowercase();
    let target = match resolve_task(state, &typed) {
        Ok(id) => id.to_string(),
        Err(crate::query::ResolveError::NotFound(_)) if typed.len() == 36 => typed,
        Err(e) => {
            return Err(CliError::from_resolve(e, "the recording", &|id| {
                id.to_string()
            }));
        }
    };
    let id = crate::model::TaskId::parse(&target);
    let now = epoch(ctx.now);
    super::wait::follow(
        live,
        args.wait.timeout,
        state,
        std::time::Duration::ZERO,
        &mut |ev| ev.kind.is_worker() || ev.uuid.as_deref() == Some(target.as_str()),
        &mut |st| {
            let rec = st.task(&id)?;
            let v = TaskView::new(st, rec, st.horizon(now));
            super::wait::is_final(v.state).then_some(v.state)
        },
    )
}

/// `<id>  <name>  <state>` for candidate lists.
pub fn describe(state: &crate::state::State, id: &str, horizon: f64) -> String {
    let task = state.task(&crate::model::TaskId::parse(id));
    match task {
        Some(t) => {
            let v = TaskView::new(state, t, horizon);
            format!(
                "{id}  {}  {}",
                t.name().map_or("?", |s| state.sym(s)),
                v.state
            )
        }
        None => id.to_string(),
    }
}

/// Reads what `show` needs. From a file that can be read again, at most three passes decode
/// only the task events that matter:
///
/// 1. events mentioning the typed id: the task's own, and its children's `task-sent` and
///    `task-received` (they name it as parent);
/// 2. every event of the task and its children (by `uuid`), and the events of the whole
///    workflow that mention its root id: each member's `task-sent`/`task-received`, which
///    name it;
/// 3. every event of every other member of the flow (by `uuid`), for the lineage, the
///    siblings and the task's place in a group or chord.
///
/// Worker events are always read, so liveness is the same as in a full read. A recorded Redis
/// Stream is read through its index instead; other sources (stdin) are read once, whole.
fn load(ctx: &Ctx, typed: &str, at: Option<f64>) -> Result<(State, LoadReport), CliError> {
    if let Some(flow) = ctx.load_flow(typed, at)? {
        return Ok(flow); // a recorded stream: its index finds the flow without a scan
    }
    if !ctx.rereadable() || typed.len() < crate::model::id::MIN_PREFIX {
        return ctx.load(&Load::ALL.at(at));
    }
    // A stream queue has no index, and reading it costs a drain: read it newest first, step
    // by step further back, each step up to where the one before began (nothing is read
    // twice), and stop once the task's whole lineage and its root's group mates are in.
    if let Some(mut reads) = ctx.backward(at)? {
        let end = at.unwrap_or(crate::query::time::epoch(ctx.now));
        // The result backend says when the task finished: its events come shortly before.
        let done = finished_by_backend(ctx, typed).filter(|&d| d <= end);
        let mut starts: Vec<f64> = done.map(|d| d - NARROW_BEFORE_SECS).into_iter().collect();
        starts.extend(BACK_WINDOWS_SECS.iter().map(|w| end - w));
        let mut earliest = f64::INFINITY;
        // Once a step finds nothing, the newest message's time: the steps that would begin
        // after it are skipped (each would wait to find nothing, 0.5 s, or 2 s over AMQP).
        let mut newest: Option<Option<f64>> = None;
        for since in starts {
            if since >= earliest {
                continue;
            }
            if let Some(Some(t)) = newest
                && since > t + CLOCK_MARGIN_SECS
            {
                continue;
            }
            earliest = since;
            let before = reads.reached();
            ctx.read_back(&mut reads, Some(since))?;
            if reads.reached() == before && newest.is_none() {
                newest = Some(reads.newest_time()?);
            }
            let state = reads.state();
            if reads.is_complete()
                || (lineage_is_whole(state, typed) && root_begins_after(state, typed, since))
            {
                return Ok(ctx.finish_back(reads));
            }
        }
        ctx.read_back(&mut reads, None)?;
        return Ok(ctx.finish_back(reads));
    }
    passes(ctx, typed, at)
}

/// How far back from now (or `--at`) the steps of a stream queue read begin, before the
/// last one reads from the first message: the task asked about during an incident is most
/// often a recent one.
const BACK_WINDOWS_SECS: [f64; 5] = [300.0, 900.0, 3600.0, 6.0 * 3600.0, 24.0 * 3600.0];

/// How far the producers' and workers' clocks may run ahead of the broker's: a read from a
/// broker time holds the events stamped that much later for sure.
const CLOCK_MARGIN_SECS: f64 = 30.0;

/// Whether the root of the task's flow was first seen late enough after `since` that the
/// tasks sent in a burst with it (its group mates) were read too.
fn root_begins_after(state: &State, typed: &str, since: f64) -> bool {
    let Ok(id) = resolve_task(state, typed) else {
        return false;
    };
    let Some(task) = state.task(id) else {
        return false;
    };
    let root = state.task(state.root_id(task)).unwrap_or(task);
    root.marks
        .iter()
        .map(|m| m.time)
        .filter(|t| *t > 0.0)
        .reduce(f64::min)
        .is_some_and(|first| first - MATES_WINDOW_SECS - CLOCK_MARGIN_SECS > since)
}

/// How long before the backend's `date_done` a stream queue read begins: a task's events
/// (sent, received, started) come before its end, by its queue wait and run time.
const NARROW_BEFORE_SECS: f64 = 600.0;

/// When the result backend says the task `typed` (a full id: the backend is looked up by
/// key) finished, if a backend is configured and has it.
fn finished_by_backend(ctx: &Ctx, typed: &str) -> Option<f64> {
    let (url, _) = ctx.result_backend.as_ref()?;
    let id = crate::model::TaskId::parse(typed);
    let metas = ctx.backend_metas(url, std::slice::from_ref(&id)).ok()?;
    let meta = TaskMeta::parse(metas.first()?)?;
    parse_date_done(meta.date_done.as_deref()?)
}

/// Celery writes `date_done` in ISO 8601, in UTC, with or without an offset.
fn parse_date_done(text: &str) -> Option<f64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros() as f64 / 1e6);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(naive.and_utc().timestamp_micros() as f64 / 1e6)
}

/// Whether a read holds the task and every ancestor up to its root with their identity
/// (their `task-sent` or `task-received`): nothing of the lineage began before the read.
fn lineage_is_whole(state: &State, typed: &str) -> bool {
    let Ok(id) = resolve_task(state, typed) else {
        return false;
    };
    let mut at = state.task(id);
    let mut steps = 0;
    while let Some(t) = at {
        if t.name().is_none() || steps > 1000 {
            return false;
        }
        let Some(parent) = state.parent_id(t) else {
            return true;
        };
        at = state.task(parent);
        steps += 1;
    }
    false
}

/// The filtered passes of [`load`].
fn passes(ctx: &Ctx, typed: &str, at: Option<f64>) -> Result<(State, LoadReport), CliError> {
    let (state, report) = ctx.load(&Load::filtered(&LineFilter::mentions(&[typed])).at(at))?;
    let Ok(id) = resolve_task(&state, typed) else {
        // Not found or ambiguous: the first pass saw every candidate, so its answer stands.
        return Ok((state, report));
    };
    let id = id.clone();
    let Some(record) = state.task(&id) else {
        return Ok((state, report));
    };
    let root = state.root_id(record).to_string();
    let kids: Vec<String> = children(&state, &id)
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let mut ids: Vec<String> = vec![id.to_string()];
    ids.extend(kids);
    let mut filter = LineFilter::mentions(&[root.as_str()]).and_ids(ids.iter().cloned());
    // A top-level task without children was read whole by pass 1.
    let whole = ids.len() == 1 && root == id.to_string();
    let (state, report) = if whole {
        (state, report)
    } else {
        ctx.load(&Load::filtered(&filter).at(at))?
    };
    // Pass 2 saw every member of the flow (their `task-sent`/`task-received` name the root);
    // pass 3 reads all events of those not read whole yet: ancestors, siblings, their kin.
    let rest: Vec<String> = state
        .tasks()
        .map(|t| t.id.to_string())
        .filter(|t| !ids.contains(t))
        .collect();
    filter = filter.and_ids(rest.iter().cloned());
    // A top-level root may head a chord with other top-level tasks (`graph` joins them when
    // the events prove it): pass 3 also reads the events sent around the root's.
    let root_id = crate::model::TaskId::parse(&root);
    let sent = state
        .task(&root_id)
        .filter(|r| state.parent_id(r).is_none())
        .and_then(|r| {
            r.marks
                .iter()
                .find(|m| m.kind == crate::state::task::MarkKind::Sent)
                .map(|m| m.time)
        });
    let Some(sent) = sent else {
        return match rest.is_empty() {
            true => Ok((state, report)),
            false => ctx.load(&Load::filtered(&filter).at(at)),
        };
    };
    let around = filter
        .clone()
        .and_window(sent - MATES_WINDOW_SECS, sent + MATES_WINDOW_SECS);
    let (state, report) = ctx.load(&Load::filtered(&around).at(at))?;
    let mates: Vec<String> = crate::graph::root_burst(&state, &root_id)
        .iter()
        .map(ToString::to_string)
        .filter(|m| *m != root)
        .collect();
    if mates.is_empty() {
        return Ok((state, report));
    }
    // Pass 4: the other header candidates whole, with their children (a callback names its
    // sender as parent).
    ctx.load(&Load::filtered(&around.and_mentions(&mates).and_ids(mates)).at(at))
}

/// How far around a top-level root's `task-sent` `show` looks for tasks sent with it: far
/// enough that a run of sends longer than a burst may be (a steady stream, not a group) shows
/// as longer here too, so `show` and `graph` judge it alike.
const MATES_WINDOW_SECS: f64 = crate::graph::BURST_MAX_SECS + 2.0 * crate::graph::BURST_SECS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_done_reads_with_or_without_an_offset() {
        let at = 1_795_333_631.023;
        for text in [
            "2026-11-22T07:47:11.023+00:00",
            "2026-11-22T08:47:11.023+01:00",
            "2026-11-22T07:47:11.023000",
        ] {
            let t = parse_date_done(text).unwrap();
            assert!((t - at).abs() < 1e-3, "{text}: {t}");
        }
        assert_eq!(parse_date_done("yesterday"), None);
    }

    /// A chain root → mid → leaf: the root sent at 1000 s, mid at 1010, leaf at 1020.
    fn chain(with_root: bool, with_mid: bool) -> State {
        let event = |kind: &str, id: &str, parent: Option<&str>, t: f64| {
            let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
            format!(
                r#"{{"type": "{kind}", "uuid": "{id}", "name": "t.{id}", "root_id": "root", "parent_id": {parent}, "hostname": "w@h", "pid": 1, "timestamp": {t}}}"#
            )
        };
        let mut lines = Vec::new();
        if with_root {
            lines.push(event("task-sent", "root", None, 1000.0));
        }
        if with_mid {
            lines.push(event("task-sent", "mid", Some("root"), 1010.0));
        }
        lines.push(event("task-sent", "leaf", Some("mid"), 1020.0));
        crate::query::testing::state_of(&lines.join("\n"))
    }

    #[test]
    fn a_window_is_kept_only_with_the_whole_lineage_and_room_for_the_roots_burst() {
        let whole = chain(true, true);
        assert!(lineage_is_whole(&whole, "leaf"));
        assert!(!lineage_is_whole(&chain(false, true), "leaf"));
        assert!(!lineage_is_whole(&chain(true, false), "leaf"));
        assert!(!lineage_is_whole(&whole, "nothing"));
        // The root's mates are sent within MATES_WINDOW_SECS of it, and clocks may run ahead.
        let room = MATES_WINDOW_SECS + CLOCK_MARGIN_SECS;
        assert!(root_begins_after(&whole, "leaf", 1000.0 - room - 1.0));
        assert!(!root_begins_after(&whole, "leaf", 1000.0 - room + 1.0));
        assert!(!root_begins_after(&whole, "nothing", 0.0));
    }
}
