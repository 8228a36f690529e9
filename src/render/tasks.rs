//! `tasks` output: table, JSON, NDJSON and CSV.

use std::io::{self, Write};

use comfy_table::Cell;
use owo_colors::OwoColorize;
use serde::Serialize;

use super::RenderCtx;
use super::fmt::{clock_time, duration, ellipsize, relative};
use super::schema::{DiagnosticsJson, TaskJson, task_json};
use crate::model::id::{Prefixes, prefix_bytes};
use crate::model::repr::effective_exception;
use crate::source::file::LoadReport;
use crate::state::State;
use crate::state::task::TaskRecord;
use crate::state::view::TaskView;

/// Shortest id prefix shown in tables (git shows 7; uuid4 collide rarely below 8).
const SHORT_ID: usize = 8;

pub fn table(
    state: &State,
    rows: &[&TaskRecord],
    horizon: f64,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No tasks match.");
    }
    let prefixes = Prefixes::new(state.tasks().map(|t| &t.id), rows.len());
    use super::table::Fit::{Cut, Extra, Whole};
    let mut t = super::table::new(
        ctx,
        &[
            ("ID", Whole),
            ("NAME", Cut),
            ("STATE", Whole),
            ("WORKER", Cut),
            ("RECEIVED", Whole),
            ("RUNTIME", Whole),
            ("RETRIES", Extra),
        ],
    );
    let st = &ctx.styles;
    for rec in rows {
        let v = TaskView::new(state, rec, horizon);
        let id = v.record.id.to_string();
        let unique = prefix_bytes(&id, prefixes.unique_len(&v.record.id));
        let shown = if ctx.wide {
            id.as_str()
        } else {
            prefix_bytes(&id, SHORT_ID.max(unique.len()))
        };
        let id_cell = format!("{}{}", unique.style(st.id_prefix), &shown[unique.len()..]);
        let mut state_text = v.state.as_str().style(st.state(v.state)).to_string();
        if v.lost.is_some() {
            state_text.push_str(&" (interrupted)".style(st.state_failure).to_string());
        }
        // Only a `task-received` says when: a task never received has no time here.
        let received = v.received_at().map_or_else(
            || "-".into(),
            |s| {
                format!(
                    "{} ({})",
                    clock_time(s, ctx.zone, ctx.now),
                    relative(s, super::fmt::at(horizon))
                )
            },
        );
        let runtime = v.runtime().map_or_else(|| "-".into(), duration);
        t.add_row(vec![
            Cell::new(id_cell),
            super::table::text(ctx, v.record.name().map_or("?", |s| state.sym(s))),
            Cell::new(state_text),
            super::table::text(ctx, v.worker().map_or("-", |s| state.sym(s))),
            Cell::new(received),
            Cell::new(runtime),
            Cell::new(v.retries()),
        ]);
    }
    t.write(out)?;
    super::fmt::as_of_footer(horizon, ctx, out)
}

#[derive(Serialize)]
struct TasksDoc<'r, T: Serialize> {
    count: usize,
    tasks: T,
    diagnostics: DiagnosticsJson<'r>,
}

/// The rows as contract objects, built one at a time while they are written.
fn task_objects<'s>(
    state: &'s State,
    rows: &[&'s TaskRecord],
    horizon: f64,
) -> impl Iterator<Item = TaskJson<'s>> {
    // Children of the printed rows only: one pass, memory in proportion to the output.
    let wanted: rustc_hash::FxHashMap<&crate::model::TaskId, usize> =
        rows.iter().enumerate().map(|(i, t)| (&t.id, i)).collect();
    let mut children: Vec<Vec<&TaskRecord>> = vec![Vec::new(); rows.len()];
    for t in state.tasks() {
        if let Some(&i) = state.parent_id(t).and_then(|p| wanted.get(p)) {
            children[i].push(t);
        }
    }
    rows.iter()
        .copied()
        .zip(children)
        .map(move |(rec, mut kids)| {
            kids.sort_by(|a, b| {
                a.first_time()
                    .unwrap_or(0.0)
                    .total_cmp(&b.first_time().unwrap_or(0.0))
                    .then(a.id.cmp(&b.id))
            });
            let kids = kids.iter().map(|t| t.id.to_string()).collect();
            task_json(state, &TaskView::new(state, rec, horizon), kids)
        })
}

/// Serializes an iterator as a JSON array without collecting it first.
struct Streamed<I>(std::cell::RefCell<Option<I>>);

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Streamed<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take();
        s.collect_seq(items.into_iter().flatten())
    }
}

pub fn json(
    state: &State,
    rows: &[&TaskRecord],
    horizon: f64,
    report: &LoadReport,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = TasksDoc {
        count: rows.len(),
        tasks: Streamed(std::cell::RefCell::new(Some(task_objects(
            state, rows, horizon,
        )))),
        diagnostics: DiagnosticsJson::new(report),
    };
    super::envelope::json(out, "tasks", ctx.now, &doc)
}

pub fn ndjson(
    state: &State,
    rows: &[&TaskRecord],
    horizon: f64,
    report: &LoadReport,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let end = serde_json::json!({ "diagnostics": DiagnosticsJson::new(report) });
    let tasks = task_objects(state, rows, horizon);
    super::envelope::ndjson(out, "tasks", ctx.now, "task", tasks, &end)
}

/// CSV columns, in order (documented in docs/json.md).
pub const CSV_COLUMNS: [&str; 20] = [
    "id",
    "name",
    "state",
    "interrupted",
    "worker",
    "queue",
    "root_id",
    "parent_id",
    "retries",
    "sent_at",
    "received_at",
    "started_at",
    "finished_at",
    "runtime",
    "queue_wait",
    "start_delay",
    "exception",
    "args",
    "kwargs",
    "result",
];

pub fn csv(
    state: &State,
    rows: &[&TaskRecord],
    horizon: f64,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    let num = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
    for t in task_objects(state, rows, horizon) {
        let s = |x: Option<&str>| x.unwrap_or_default().to_string();
        w.write_record([
            t.id.clone(),
            s(t.name),
            t.state.to_string(),
            s(t.interrupted),
            s(t.worker),
            s(t.queue),
            t.root_id.clone().unwrap_or_default(),
            t.parent_id.clone().unwrap_or_default(),
            t.retries.to_string(),
            t.sent_at.clone().unwrap_or_default(),
            t.received_at.clone().unwrap_or_default(),
            t.started_at.clone().unwrap_or_default(),
            t.finished_at.clone().unwrap_or_default(),
            num(t.runtime),
            num(t.queue_wait),
            num(t.start_delay),
            s(effective_exception(t.exception, None))
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            t.args.as_deref().unwrap_or_default().to_string(),
            t.kwargs.as_deref().unwrap_or_default().to_string(),
            t.result
                .as_deref()
                .map(|r| ellipsize(r, 10_000))
                .unwrap_or_default(),
        ])?;
    }
    w.flush()
}
