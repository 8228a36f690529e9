//! `show <id>`: everything known about one task, as text for people or one JSON document.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use super::RenderCtx;
use super::fmt::{clock_time, duration, ellipsize, full_time, printable, rfc3339, time_of_day};
use super::schema::{DiagnosticsJson, TaskJson, task_json};
use crate::model::repr::effective_exception;
use crate::model::{TaskId, TaskState};
use crate::source::file::LoadReport;
use crate::state::State;
use crate::state::task::{Mark, MarkKind};
use crate::state::view::TaskView;

/// Everything `show` prints, gathered once for both formats.
pub struct ShowData<'s> {
    pub view: TaskView<'s>,
    /// The task's flow and its place in it (absent when the task is not in the state).
    pub flow: Option<(crate::graph::Flow<'s>, crate::graph::Place)>,
    /// Root first, direct parent last.
    pub ancestors: Vec<TaskId>,
    pub children: Vec<TaskView<'s>>,
    /// The task's result-backend record (read with --result-backend, or recorded).
    pub backend: Option<crate::graph::backend::TaskMeta>,
}

impl<'s> ShowData<'s> {
    /// Gathers what `show` prints about `record`: its view, its flow (the one `graph` draws,
    /// so the Flow line agrees), its ancestors and children.
    pub fn gather(
        state: &'s State,
        record: &'s crate::state::task::TaskRecord,
        horizon: f64,
        backend: Option<crate::graph::backend::TaskMeta>,
    ) -> Self {
        let id = &record.id;
        let recorded = crate::graph::backend::Backend::from_records(state);
        let flow =
            crate::graph::build(state, id, &recorded, horizon, Default::default()).map(|f| {
                let place = crate::graph::place(&f, f.focus);
                (f, place)
            });
        Self {
            backend,
            view: TaskView::new(state, record, horizon),
            flow,
            ancestors: crate::query::lineage::ancestors(state, record),
            children: crate::query::lineage::children(state, id)
                .into_iter()
                .map(|c| TaskView::new(state, c, horizon))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RelativeJson<'s> {
    pub id: String,
    pub name: Option<&'s str>,
    /// Null when the task was never seen in the events.
    pub state: Option<&'static str>,
    pub runtime: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TimelineJson<'s> {
    pub at: Option<String>,
    pub event: &'s str,
    /// 1-based attempt number; null for events no attempt took.
    pub attempt: Option<usize>,
    pub host: &'s str,
    pub pid: u32,
    pub note: String,
}

/// The task's place in its flow: how big the flow is and who shares its parent.
#[derive(Debug, Serialize)]
pub struct FlowJson<'s> {
    pub tasks: usize,
    pub siblings: Vec<RelativeJson<'s>>,
    /// How the group or chord the task is in is known (`backend`, `signature`, `guess`), as in
    /// `graph --json`; null when it is in none.
    pub evidence: Option<&'static str>,
}

fn flow_json<'s>(state: &'s State, data: &ShowData<'s>, horizon: f64) -> Option<FlowJson<'s>> {
    let (flow, place) = data.flow.as_ref()?;
    let evidence = flow
        .graph
        .neighbors_directed(flow.focus, petgraph::Direction::Incoming)
        .find_map(|p| flow.graph[p].evidence)
        .map(crate::graph::Evidence::as_str);
    Some(FlowJson {
        tasks: place.tasks,
        evidence,
        siblings: place
            .siblings
            .iter()
            .filter_map(|s| flow.graph[*s].view.as_ref())
            .map(|v| relative_json(state, &v.record.id, horizon))
            .collect(),
    })
}

#[derive(Serialize)]
struct ShowDoc<'s, 'r> {
    task: TaskJson<'s>,
    lineage: Vec<RelativeJson<'s>>,
    children: Vec<RelativeJson<'s>>,
    flow: Option<FlowJson<'s>>,
    timeline: Vec<TimelineJson<'s>>,
    /// The result backend's record of the task; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<crate::graph::backend::TaskMeta>,
    diagnostics: DiagnosticsJson<'r>,
}

struct Entry<'s> {
    mark: &'s Mark,
    attempt: Option<usize>,
}

fn entries<'s>(state: &'s State, v: &TaskView<'s>) -> Vec<Entry<'s>> {
    let mut list = Vec::new();
    for (i, a) in v.attempts.iter().enumerate() {
        let n = Some(i + 1);
        for m in [a.sent, a.received, a.started, a.finished, a.rejected]
            .into_iter()
            .flatten()
        {
            list.push(Entry {
                mark: m,
                attempt: n,
            });
        }
        list.extend(a.progress.iter().map(|m| Entry {
            mark: m,
            attempt: n,
        }));
    }
    list.extend(
        v.unmatched_sends
            .iter()
            .chain(&v.orphan_progress)
            .map(|m| Entry {
                mark: m,
                attempt: None,
            }),
    );
    // Duplicate terminal events are not in any attempt slot; show them too.
    let shown: Vec<*const Mark> = list.iter().map(|e| std::ptr::from_ref(e.mark)).collect();
    for m in &v.record.marks {
        if !shown.contains(&std::ptr::from_ref(m)) {
            list.push(Entry {
                mark: m,
                attempt: None,
            });
        }
    }
    list.sort_by(|a, b| state.mark_order(a.mark, b.mark));
    list
}

fn event_name<'s>(state: &'s State, m: &'s Mark) -> &'s str {
    match m.kind {
        MarkKind::Custom => state
            .detail(m)
            .and_then(|d| d.custom_type())
            .unwrap_or("task-custom"),
        k => k.event_type(),
    }
}

fn note(state: &State, m: &Mark) -> String {
    let d = state.detail(m);
    let mut parts: Vec<String> = Vec::new();
    match m.kind {
        MarkKind::Sent => {
            parts.push(format!("by {}", state.sym(state.host(m))));
            if let Some(r) = m.retries().filter(|r| *r > 0) {
                parts.push(format!("retries={r}"));
            }
        }
        MarkKind::Received => {
            if let Some(r) = m.retries() {
                parts.push(format!("retries={r}"));
            }
        }
        MarkKind::Succeeded => {
            if let Some(rt) = d.and_then(|d| d.runtime()) {
                parts.push(format!("runtime {}", duration(rt)));
            }
            if let Some(r) = d.and_then(|d| d.text.as_deref()) {
                parts.push(format!("→ {}", ellipsize(r, 60)));
            }
        }
        MarkKind::Failed | MarkKind::Retried => {
            if let Some(e) = effective_exception(
                d.and_then(|d| d.text.as_deref()),
                d.and_then(|d| d.traceback()),
            ) {
                parts.push(ellipsize(e, 80));
            }
        }
        MarkKind::Revoked => {
            if let Some(d) = d {
                if d.expired() == Some(true) {
                    parts.push("expired".into());
                }
                if d.terminated() == Some(true) {
                    parts.push(format!(
                        "terminated (signal {})",
                        d.signum().map_or("?".into(), |s| s.to_string())
                    ));
                }
            }
        }
        MarkKind::Rejected => {
            if let Some(q) = d.and_then(|d| d.requeue()) {
                parts.push(format!("requeue={q}"));
            }
        }
        MarkKind::Custom => {
            if let Some(d) = d {
                parts.extend(
                    d.fields()
                        .iter()
                        .map(|(k, v)| format!("{k}={}", ellipsize(v.get(), 40))),
                );
            }
        }
        MarkKind::Started | MarkKind::Cancelled => {}
    }
    if let Some(eta) = d.and_then(|d| d.eta()) {
        parts.push(format!("eta {eta}"));
    }
    if let Some(exp) = d.and_then(|d| d.expires()) {
        parts.push(format!("expires {exp}"));
    }
    parts.join("  ")
}

/// A terminal event that no attempt took repeats one that did (hard time limits send two).
fn entry_note(state: &State, e: &Entry<'_>) -> String {
    let n = note(state, e.mark);
    let terminal = !matches!(
        e.mark.kind,
        MarkKind::Sent | MarkKind::Received | MarkKind::Started | MarkKind::Custom
    );
    if e.attempt.is_none() && terminal {
        format!("(repeated) {n}")
    } else {
        n
    }
}

fn relative_json<'s>(state: &'s State, id: &TaskId, horizon: f64) -> RelativeJson<'s> {
    let rec = state.task(id);
    let view = rec.map(|r| TaskView::new(state, r, horizon));
    RelativeJson {
        id: id.to_string(),
        name: rec.and_then(|r| r.name()).map(|s| state.sym(s)),
        state: view.as_ref().map(|v| v.state.as_str()),
        runtime: view.as_ref().and_then(TaskView::runtime),
    }
}

pub fn json(
    state: &State,
    data: &ShowData<'_>,
    report: &LoadReport,
    ctx: &RenderCtx,
    horizon: f64,
    out: &mut dyn Write,
) -> io::Result<()> {
    let v = &data.view;
    let children: Vec<String> = data
        .children
        .iter()
        .map(|c| c.record.id.to_string())
        .collect();
    let doc = ShowDoc {
        task: task_json(state, v, children),
        lineage: data
            .ancestors
            .iter()
            .map(|id| relative_json(state, id, horizon))
            .collect(),
        children: data
            .children
            .iter()
            .map(|c| relative_json(state, &c.record.id, horizon))
            .collect(),
        flow: flow_json(state, data, horizon),
        timeline: entries(state, v)
            .iter()
            .map(|e| TimelineJson {
                at: rfc3339(e.mark.time),
                event: event_name(state, e.mark),
                attempt: e.attempt,
                host: state.sym(state.host(e.mark)),
                pid: state.pid(e.mark),
                note: entry_note(state, e),
            })
            .collect(),
        backend: data.backend.clone(),
        diagnostics: DiagnosticsJson::new(report),
    };
    super::envelope::json(out, "task", ctx.now, &doc)
}

pub fn text(
    state: &State,
    data: &ShowData<'_>,
    ctx: &RenderCtx,
    horizon: f64,
    out: &mut dyn Write,
) -> io::Result<()> {
    let st = &ctx.styles;
    let v = &data.view;
    let rec = v.record;
    let id = rec.id.to_string();
    // Everything below that came from events goes through `printable`: data never drives
    // the terminal (ESC, BEL and the other control characters are shown escaped).
    let name = printable(rec.name().map_or("(name unknown)", |s| state.sym(s)));
    writeln!(
        out,
        "{} {}",
        name.style(st.heading),
        printable(&id).style(st.id_prefix)
    )?;

    let label = |s: &str| format!("{s:<10}").style(st.label).to_string();
    let mut state_line = v.state.as_str().style(st.state(v.state)).to_string();
    let attempts = v.attempts.len();
    let retries = v.retries();
    if retries > 0 || attempts > 1 {
        state_line.push_str(&format!(
            "  after {retries} {} ({attempts} attempt{})",
            if retries == 1 { "retry" } else { "retries" },
            if attempts == 1 { "" } else { "s" }
        ));
    }
    if let Some(l) = super::schema::interrupted(v.lost) {
        state_line.push_str(&format!(
            "  {}",
            format!("interrupted ({})", l.replace('_', " ")).style(st.state_failure)
        ));
    }
    writeln!(out, "  {}{state_line}", label("State"))?;
    if let Some(w) = v.worker() {
        writeln!(out, "  {}{}", label("Worker"), printable(state.sym(w)))?;
    }
    if let Some(q) = rec.queue() {
        let ex = rec
            .exchange()
            .map_or(String::new(), |e| format!("exchange {:?}", state.sym(e)));
        let rk = rec.routing_key().map_or(String::new(), |r| {
            format!("routing key {}", printable(state.sym(r)))
        });
        let extra = [ex, rk]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "  {}{}{}",
            label("Queue"),
            printable(state.sym(q)),
            if extra.is_empty() {
                String::new()
            } else {
                format!("  ({extra})")
            }
        )?;
    }
    for (lbl, t) in [
        ("Sent", v.sent_at()),
        ("Received", v.received_at()),
        ("Started", v.started_at()),
        ("Finished", v.finished_at()),
    ] {
        if let Some(t) = t {
            writeln!(out, "  {}{}", label(lbl), full_time(t, ctx.zone))?;
        }
    }
    let mut times = Vec::new();
    if let Some(r) = v.runtime() {
        times.push(format!("ran {}", duration(r)));
    } else if let (TaskState::Started, None, Some(s)) = (v.state, v.lost, v.started_at()) {
        // Measured up to the moment the data is shown as of (the newest event, or --at).
        times.push(format!(
            "running for {} as of {}",
            duration((horizon - s).max(0.0)),
            clock_time(horizon, ctx.zone, ctx.now)
        ));
    }
    if let Some(q) = v.queue_wait() {
        times.push(format!("queued {}", duration(q)));
    }
    if let Some(d) = v.start_delay() {
        times.push(format!("waited {} to start", duration(d)));
    }
    if let Some(w) = v.revoked_waiting() {
        times.push(format!(
            "waited {} until it was revoked, never started",
            duration(w)
        ));
    }
    if !times.is_empty() {
        writeln!(out, "  {}{}", label("Duration"), times.join(", "))?;
    }
    if let Some(eta) = v.eta() {
        writeln!(out, "  {}{}", label("ETA"), printable(eta))?;
    }
    if let Some(exp) = v.expires() {
        writeln!(out, "  {}{}", label("Expires"), printable(exp))?;
    }

    if !data.ancestors.is_empty() {
        writeln!(out, "\n{}", "Lineage".style(st.heading))?;
        let arrow = if ctx.ascii { "->" } else { "→" };
        let mut crumbs: Vec<String> = data
            .ancestors
            .iter()
            .map(|a| {
                let r = relative_json(state, a, horizon);
                let short = crate::model::id::short_id(&r.id);
                format!(
                    "{} {}",
                    printable(r.name.unwrap_or("(not in events)")),
                    short.style(st.muted)
                )
            })
            .collect();
        crumbs.push(format!(
            "{} {}",
            name.style(st.heading),
            crate::model::id::short_id(&id)
        ));
        writeln!(out, "  {}", crumbs.join(&format!(" {arrow} ")))?;
    }

    writeln!(out, "\n{}", "Timeline".style(st.heading))?;
    let list = entries(state, v);
    let t0 = list.first().map(|e| e.mark.time);
    for e in &list {
        let offset = t0.map_or(String::new(), |t| format!("+{}", duration(e.mark.time - t)));
        let attempt = e.attempt.map_or("  ".to_string(), |n| format!("#{n}"));
        let host = match e.mark.kind {
            MarkKind::Sent => String::new(),
            _ => printable(state.sym(state.host(e.mark))).into_owned(),
        };
        let kind = printable(event_name(state, e.mark));
        let kind_styled = match e.mark.kind {
            MarkKind::Failed | MarkKind::Rejected => kind.style(st.state_failure).to_string(),
            MarkKind::Succeeded => kind.style(st.state_success).to_string(),
            MarkKind::Retried => kind.style(st.state_retry).to_string(),
            MarkKind::Revoked => kind.style(st.state_revoked).to_string(),
            _ => kind.to_string(),
        };
        let pad = 15usize.saturating_sub(kind.chars().count());
        let line = format!(
            "  {}  {:>9}  {attempt}  {kind_styled}{}{:<16} {}",
            time_of_day(e.mark.time, ctx.zone),
            offset,
            " ".repeat(pad),
            host,
            printable(&entry_note(state, e))
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    for (i, a) in v.attempts.iter().enumerate() {
        if let Some(l) = a.lost {
            let what = match l {
                crate::state::worker::Liveness::Restarted => "its worker restarted",
                crate::state::worker::Liveness::Offline => "its worker went offline",
                _ => "its worker stopped sending heartbeats",
            };
            writeln!(
                out,
                "  {}",
                format!("attempt #{} never finished: {what}", i + 1).style(st.state_failure)
            )?;
        }
    }

    let (args, kwargs) = (rec.args(), rec.kwargs());
    if args.is_some() || kwargs.is_some() {
        writeln!(out, "\n{}", "Arguments".style(st.heading))?;
        if let Some(a) = args {
            writeln!(out, "  {}{}", label("args"), printable(a))?;
        }
        if let Some(k) = kwargs {
            writeln!(out, "  {}{}", label("kwargs"), printable(k))?;
        }
    }
    if let Some(r) = v.result() {
        writeln!(out, "\n{}\n  {}", "Result".style(st.heading), printable(r))?;
    }
    if let Some(e) = effective_exception(v.exception(), v.traceback()) {
        writeln!(
            out,
            "\n{}\n  {}",
            "Exception".style(st.heading),
            printable(e).style(st.error)
        )?;
    }
    if let Some(tb) = v.traceback() {
        writeln!(out, "\n{}", "Traceback".style(st.heading))?;
        for line in tb.trim_end().lines() {
            writeln!(out, "  {}", printable(line))?;
        }
    }

    if let Some(meta) = &data.backend {
        backend_text(meta, ctx, out)?;
    }

    if let Some((flow, place)) = &data.flow
        && place.tasks > 1
    {
        let short = crate::model::id::short_id(&id);
        writeln!(
            out,
            "\n{}  {}",
            "Flow".style(st.heading),
            format!(
                "{}; `celtrace graph {short}` draws it",
                crate::render::fmt::count(place.tasks, "task")
            )
            .style(st.muted)
        )?;
        if !place.siblings.is_empty() {
            let shown: Vec<String> = place
                .siblings
                .iter()
                .take(10)
                .filter_map(|s| flow.graph[*s].view.as_ref())
                .map(|v| {
                    let sid = v.record.id.to_string();
                    format!(
                        "{} {} {}",
                        printable(v.record.name().map_or("?", |s| state.sym(s))),
                        crate::model::id::short_id(&sid),
                        v.state.as_str().style(st.state(v.state))
                    )
                })
                .collect();
            let more = place.siblings.len().saturating_sub(10);
            let tail = if more > 0 {
                format!(", … {more} more")
            } else {
                String::new()
            };
            // Siblings in a group or chord not from the backend say how it is known.
            let how = flow
                .graph
                .neighbors_directed(flow.focus, petgraph::Direction::Incoming)
                .find_map(|p| crate::render::graph::evidence_label(&flow.graph[p]))
                .map_or(String::new(), |label| {
                    format!("  ({label})").style(st.muted).to_string()
                });
            writeln!(
                out,
                "  siblings ({}): {}{tail}{how}",
                place.siblings.len(),
                shown.join(", ")
            )?;
        }
    }

    if !data.children.is_empty() {
        writeln!(
            out,
            "\n{}",
            format!("Children ({})", data.children.len()).style(st.heading)
        )?;
        for c in &data.children {
            let cid = c.record.id.to_string();
            writeln!(
                out,
                "  {}  {:<28} {:<9} {}",
                crate::model::id::short_id(&cid),
                printable(c.record.name().map_or("?", |s| state.sym(s))),
                c.state.as_str().style(st.state(c.state)),
                c.runtime().map_or(String::new(), duration)
            )?;
        }
    }
    Ok(())
}

/// The result backend's record: real JSON where the events have truncated reprs.
fn backend_text(
    meta: &crate::graph::backend::TaskMeta,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let st = &ctx.styles;
    let label = |s: &str| format!("{s:<10}").style(st.label).to_string();
    writeln!(out, "\n{}", "Result backend".style(st.heading))?;
    let status = meta.status.as_deref().unwrap_or("?");
    let done = meta
        .date_done
        .as_deref()
        .map_or(String::new(), |d| format!("  done {d}"));
    writeln!(out, "  {}{status}{done}", label("status"))?;
    if let Some(g) = &meta.group_id {
        writeln!(out, "  {}{g}", label("group"))?;
    }
    let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
    if let Some(a) = &meta.args {
        writeln!(out, "  {}{}", label("args"), json(a))?;
    }
    if let Some(k) = &meta.kwargs {
        writeln!(out, "  {}{}", label("kwargs"), json(k))?;
    }
    if !meta.result.is_null() || meta.status.as_deref() == Some("SUCCESS") {
        writeln!(out, "  {}{}", label("result"), json(&meta.result))?;
    }
    if !meta.children.is_empty() {
        let short: Vec<&str> = meta
            .children
            .iter()
            .map(|c| c.get(..8).unwrap_or(c))
            .collect();
        writeln!(out, "  {}{}", label("children"), short.join(", "))?;
    }
    if meta.args.is_none() && meta.kwargs.is_none() {
        writeln!(
            out,
            "  {}",
            "(no args: the app runs without result_extended = True)".style(st.muted)
        )?;
    }
    Ok(())
}
