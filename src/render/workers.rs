//! `workers` output: one row per worker, one row per session (`--history`), or JSON.

use std::io::{self, Write};

use comfy_table::Cell;
use owo_colors::{OwoColorize, Style};
use serde::Serialize;

use super::fmt::{clock_time, duration, rfc3339};
use super::schema::DiagnosticsJson;
use super::{ListFormat, RenderCtx};
use crate::query::workers::{Interrupted, SessionRow, WorkerQuery, WorkerRow};
use crate::source::file::LoadReport;
use crate::state::State;
use crate::state::worker::Liveness;

/// Interrupted tasks listed under the table, per worker, before "and N more".
const INTERRUPTED_SHOWN: usize = 5;

pub fn liveness_str(l: Liveness) -> &'static str {
    match l {
        Liveness::Online => "online",
        Liveness::Offline => "offline",
        Liveness::Lost => "lost",
        Liveness::Restarted => "restarted",
    }
}

/// How a session ended, for people: a restart without a goodbye means the old process died.
fn how(l: Liveness) -> &'static str {
    match l {
        Liveness::Restarted => "lost, restarted",
        l => liveness_str(l),
    }
}

fn liveness_style(ctx: &RenderCtx, l: Liveness) -> Style {
    let st = &ctx.styles;
    match l {
        Liveness::Online => st.state_success,
        Liveness::Offline => st.muted,
        Liveness::Lost => st.state_failure,
        Liveness::Restarted => st.state_retry,
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

pub fn table(
    state: &State,
    rows: &[WorkerRow<'_>],
    horizon: f64,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No workers match.");
    }
    use super::table::Fit::{Cut, Extra, Whole};
    let mut t = super::table::new(
        ctx,
        &[
            ("WORKER", Cut),
            ("STATUS", Whole),
            ("PID", Extra),
            ("UP SINCE", Whole),
            ("RESTARTS", Extra),
            ("VERSION", Extra),
            ("PROCESSED", Whole),
            ("ACTIVE", Whole),
            ("LOAD", Extra),
            ("LAST BEAT", Whole),
            ("DROPPED", Whole),
        ],
    );
    for w in rows {
        let s = w.current().session;
        let status = w.status();
        let since = s.online_at.unwrap_or(s.first_seen);
        let load = s.loadavg.map_or_else(
            || "-".into(),
            |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]),
        );
        let dropped: usize = w.sessions().map(|s| s.dropped()).sum();
        t.add_row(vec![
            super::table::text(ctx, w.hostname),
            Cell::new(liveness_str(status).style(liveness_style(ctx, status))),
            Cell::new(s.pid),
            Cell::new(clock_time(since, ctx.zone, ctx.now)),
            Cell::new(w.restarts()),
            super::table::text(ctx, &opt(s.sw_ver.as_deref())),
            Cell::new(opt(s.processed)),
            Cell::new(opt(s.active)),
            Cell::new(load),
            Cell::new(match w.heartbeat_age(horizon) {
                Some(_) if status == Liveness::Offline => "-".into(),
                Some(a) if a < 1.0 => "<1s ago".into(),
                Some(a) if a < 60.0 => format!("{}s ago", a.floor()),
                Some(a) => format!("{} ago", duration(a)),
                None => "-".into(),
            }),
            Cell::new(if dropped == 0 {
                "-".to_string()
            } else {
                dropped.style(ctx.styles.state_failure).to_string()
            }),
        ]);
    }
    t.write(out)?;
    for w in rows {
        let list: Vec<(&Interrupted<'_>, Liveness)> = w
            .sessions()
            .flat_map(|s| s.interrupted.iter().map(move |i| (i, s.liveness)))
            .collect();
        if list.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{} was running {} when a session ended:",
            w.hostname.style(ctx.styles.label),
            crate::render::fmt::count(list.len(), "task")
        )?;
        for i in list.iter().take(INTERRUPTED_SHOWN) {
            writeln!(out, "  {}", interrupted_line(state, i.0, i.1, ctx))?;
        }
        if list.len() > INTERRUPTED_SHOWN {
            writeln!(
                out,
                "  … and {} more (see --json or `celtrace tasks --worker {}`)",
                list.len() - INTERRUPTED_SHOWN,
                w.hostname
            )?;
        }
    }
    super::fmt::as_of_footer(horizon, ctx, out)
}

fn interrupted_line(
    state: &State,
    i: &Interrupted<'_>,
    session: Liveness,
    ctx: &RenderCtx,
) -> String {
    let name = i.task.name().map_or("?", |s| state.sym(s));
    let fate = if i.came_back {
        format!(
            "came back, now {} (redelivered: acks_late or retried)",
            i.final_state.as_str()
        )
    } else if session == Liveness::Restarted {
        // The new session consumed the queue and the task did not return: acks-early.
        "lost: did not come back after the restart (acks-early tasks die with the process)"
            .to_string()
    } else {
        format!(
            "unfinished, {}: acks-early tasks are lost; acks-late ones return when a worker consumes the queue again",
            i.final_state.as_str()
        )
    };
    format!(
        "{}  {}  {}",
        i.task.id.to_string().style(ctx.styles.id_prefix),
        name,
        fate.style(if i.came_back {
            ctx.styles.muted
        } else {
            ctx.styles.state_failure
        })
    )
}

pub fn history(rows: &[WorkerRow<'_>], ctx: &RenderCtx, out: &mut dyn Write) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No workers match.");
    }
    use super::table::Fit::{Cut, Extra, Whole};
    let mut t = super::table::new(
        ctx,
        &[
            ("WORKER", Cut),
            ("PID", Extra),
            ("STARTED", Whole),
            ("ENDED", Whole),
            ("HOW", Whole),
            ("LASTED", Whole),
            ("PROCESSED", Whole),
            ("DROPPED", Whole),
        ],
    );
    for w in rows {
        for s in w.sessions() {
            let start = s.session.online_at.unwrap_or(s.session.first_seen);
            let end = s.ended_at();
            let lasted = end.unwrap_or(s.session.last_seen) - start;
            t.add_row(vec![
                super::table::text(ctx, w.hostname),
                Cell::new(s.session.pid),
                Cell::new(clock_time(start, ctx.zone, ctx.now)),
                Cell::new(end.map_or_else(|| "-".into(), |e| clock_time(e, ctx.zone, ctx.now))),
                Cell::new(how(s.liveness).style(liveness_style(ctx, s.liveness))),
                Cell::new(duration(lasted)),
                Cell::new(opt(s.session.processed)),
                Cell::new(match s.dropped() {
                    0 => "-".to_string(),
                    n => n.to_string(),
                }),
            ]);
        }
    }
    t.write(out)
}

#[derive(Serialize)]
struct WorkersDoc<'r> {
    /// The moment status and ages are judged at: the newest event, or now if earlier.
    as_of: Option<String>,
    lost_after_intervals: f64,
    count: usize,
    workers: Vec<WorkerJson<'r>>,
    /// `--inspect`: the workers' live answers (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    inspect: Option<&'r serde_json::Value>,
    diagnostics: DiagnosticsJson<'r>,
}

#[derive(Serialize)]
struct WorkerJson<'r> {
    hostname: &'r str,
    /// `online`, `offline` or `lost`.
    status: &'static str,
    pid: u64,
    started_at: Option<String>,
    restarts: usize,
    sw_ident: Option<&'r str>,
    sw_ver: Option<&'r str>,
    sw_sys: Option<&'r str>,
    freq: f64,
    processed: Option<u64>,
    active: Option<u64>,
    loadavg: Option<[f64; 3]>,
    last_heartbeat_at: Option<String>,
    /// Seconds from the last heartbeat to `as_of`.
    last_heartbeat_age: Option<f64>,
    /// Tasks its sessions were running when they ended.
    dropped: usize,
    sessions: Vec<SessionJson<'r>>,
}

#[derive(Serialize)]
struct SessionJson<'r> {
    pid: u64,
    /// `online`, `offline`, `lost` or `restarted`.
    status: &'static str,
    started_at: Option<String>,
    ended_at: Option<String>,
    first_seen_at: Option<String>,
    last_seen_at: Option<String>,
    processed: Option<u64>,
    interrupted_tasks: Vec<InterruptedJson<'r>>,
}

#[derive(Serialize)]
struct InterruptedJson<'r> {
    id: String,
    name: Option<&'r str>,
    /// The task's state now (it may have come back on another session).
    state: &'static str,
    came_back: bool,
}

fn session_json<'r>(state: &'r State, s: &SessionRow<'r>) -> SessionJson<'r> {
    SessionJson {
        pid: s.session.pid,
        status: liveness_str(s.liveness),
        started_at: s.session.online_at.and_then(rfc3339),
        ended_at: s.ended_at().and_then(rfc3339),
        first_seen_at: rfc3339(s.session.first_seen),
        last_seen_at: rfc3339(s.session.last_seen),
        processed: s.session.processed,
        interrupted_tasks: s
            .interrupted
            .iter()
            .map(|i| InterruptedJson {
                id: i.task.id.to_string(),
                name: i.task.name().map(|n| state.sym(n)),
                state: i.final_state.as_str(),
                came_back: i.came_back,
            })
            .collect(),
    }
}

/// CSV columns, in order (docs/json.md).
pub const CSV_COLUMNS: [&str; 14] = [
    "hostname",
    "status",
    "pid",
    "started_at",
    "restarts",
    "sw_ident",
    "sw_ver",
    "freq",
    "processed",
    "active",
    "loadavg",
    "last_heartbeat_at",
    "last_heartbeat_age",
    "dropped",
];

/// JSON, NDJSON (a `worker` record per worker) or CSV.
#[allow(clippy::too_many_arguments)] // one renderer, each argument a different fact
pub fn machine(
    format: ListFormat,
    state: &State,
    rows: &[WorkerRow<'_>],
    horizon: f64,
    report: &LoadReport,
    query: &WorkerQuery,
    inspect: Option<&serde_json::Value>,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let workers = rows
        .iter()
        .map(|w| {
            let s = w.current().session;
            WorkerJson {
                hostname: w.hostname,
                status: liveness_str(w.status()),
                pid: s.pid,
                started_at: rfc3339(s.online_at.unwrap_or(s.first_seen)),
                restarts: w.restarts(),
                sw_ident: s.sw_ident.as_deref(),
                sw_ver: s.sw_ver.as_deref(),
                sw_sys: s.sw_sys.as_deref(),
                freq: s.interval(),
                processed: s.processed,
                active: s.active,
                loadavg: s.loadavg,
                last_heartbeat_at: s.last_heartbeat.and_then(rfc3339),
                last_heartbeat_age: w.heartbeat_age(horizon),
                dropped: w.sessions().map(|s| s.dropped()).sum(),
                sessions: w.sessions().map(|s| session_json(state, s)).collect(),
            }
        })
        .collect::<Vec<_>>();
    let doc = WorkersDoc {
        as_of: rfc3339(horizon),
        lost_after_intervals: query.lost_factor,
        count: workers.len(),
        workers,
        inspect,
        diagnostics: DiagnosticsJson::new(report),
    };
    match format {
        ListFormat::Table | ListFormat::Json => {
            super::envelope::json(out, "workers", ctx.now, &doc)
        }
        ListFormat::Ndjson => {
            let end = serde_json::json!({
                "as_of": doc.as_of,
                "lost_after_intervals": doc.lost_after_intervals,
                "inspect": doc.inspect,
                "diagnostics": doc.diagnostics,
            });
            super::envelope::ndjson(out, "workers", ctx.now, "worker", &doc.workers, &end)
        }
        ListFormat::Csv => super::envelope::csv(out, &CSV_COLUMNS, &doc.workers),
    }
}

/// `--inspect`'s live answers, after the table: pool, prefetch, queues, what is running,
/// reserved and scheduled, registered tasks; and the workers that did not answer.
pub fn inspect_text(
    replies: &crate::source::control::Replies,
    silent: &[String],
    timeout: &str,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    use serde_json::Value;
    let st = &ctx.styles;
    writeln!(
        out,
        "\n{}",
        format!("Live (inspect, replies within {timeout}):").style(st.heading)
    )?;
    if replies.is_empty() && silent.is_empty() {
        writeln!(out, "  no worker answered")?;
    }
    let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    for (node, r) in replies {
        let stats = r.get("stats");
        let pool = stats.and_then(|s| s.get("pool"));
        let implementation = pool
            .and_then(|p| p.get("implementation"))
            .and_then(Value::as_str)
            .map_or("?", |i| i.rsplit([':', '.']).nth(1).unwrap_or(i));
        let concurrency = pool
            .and_then(|p| p.get("max-concurrency"))
            .map_or_else(|| "?".to_string(), Value::to_string);
        let prefetch = stats
            .and_then(|s| s.get("prefetch_count"))
            .map_or_else(|| "?".to_string(), Value::to_string);
        let queues: Vec<&str> = r
            .get("active_queues")
            .and_then(Value::as_array)
            .map(|qs| qs.iter().filter_map(|q| q.get("name")?.as_str()).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "  {}  pool {implementation} ×{concurrency}, prefetch {prefetch}, queues {}",
            node.style(st.label),
            if queues.is_empty() {
                "?".to_string()
            } else {
                queues.join(", ")
            }
        )?;
        let running: Vec<String> = r
            .get("active")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|t| {
                        let id = t.get("id").and_then(Value::as_str).unwrap_or("?");
                        let name = t.get("name").and_then(Value::as_str).unwrap_or("?");
                        format!("{} {name}", id.get(..8).unwrap_or(id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        writeln!(
            out,
            "  {:width$}  active {}{}; reserved {}; scheduled {}",
            "",
            running.len(),
            if running.is_empty() {
                String::new()
            } else {
                format!(": {}", running.join(", "))
            },
            len(r.get("reserved")),
            len(r.get("scheduled")),
            width = node.chars().count()
        )?;
        let registered: Vec<&str> = r
            .get("registered")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "  {:width$}  registered {}: {}",
            "",
            registered.len(),
            registered.join(", "),
            width = node.chars().count()
        )?;
    }
    for node in silent {
        writeln!(
            out,
            "  {}  {}",
            node.style(st.label),
            format!("did not answer within {timeout}").style(st.state_failure)
        )?;
    }
    Ok(())
}
