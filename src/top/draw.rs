//! Draws one frame: the header, the panes (or a task's detail), the anomalies strip and the
//! bottom line, then any dialog on top. Each pane is its own function over owned rows, so
//! each can be drawn (and snapshotted) alone. Text from events is made printable first: data
//! never drives the terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::app::{Action, App, DetailTab, Overlay, Pane, PromptKind, Screen, Tone};
use super::look::Look;
use super::snapshot::{AnomalyLine, QueueLine, Snapshot, TaskLine, WorkerLine};
use crate::query::anomalies::Severity;
use crate::render::fmt::{duration, ellipsize, printable, time_of_day};
use crate::render::workers::liveness_str;

/// The top line: where the events come from and which moment is shown.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The broker (password hidden) or the file.
    pub source: String,
    /// `live`, or the moment of a recording and whether it plays.
    pub mode: String,
    /// A problem with the source (a gap, unreadable entries, a broker that went away).
    pub warning: Option<String>,
}

/// Everything a frame shows besides the interaction state.
pub struct View<'a> {
    pub snap: &'a Snapshot,
    pub header: &'a Header,
    /// The detail screen's lines (empty on the main screen).
    pub detail: &'a [String],
    pub look: Look,
}

pub fn draw(frame: &mut Frame<'_>, app: &App, data: &View<'_>) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header(frame, head, data);
    match &app.screen {
        Screen::Main => main_screen(frame, body, app, data),
        Screen::Detail { id, tab, scroll } => {
            detail(frame, body, id, *tab, *scroll, data.detail, data.look);
        }
    }
    footer(frame, foot, app, data.look);
    match &app.overlay {
        Overlay::Help => help(frame, data.look),
        Overlay::Confirm(action) => confirm(frame, action, data),
        Overlay::None | Overlay::Prompt { .. } => {}
    }
}

fn header(frame: &mut Frame<'_>, area: Rect, data: &View<'_>) {
    let look = data.look;
    // The mode first: the source's name may be long, and is what gets cut.
    let mut spans = vec![
        Span::styled("celtrace top", look.heading()),
        Span::raw("  "),
        Span::styled(data.header.mode.clone(), look.key()),
        Span::raw("  "),
        Span::raw(printable(&data.header.source).into_owned()),
    ];
    if let Some(w) = &data.header.warning {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(printable(w).into_owned(), look.warning()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Wide terminals put workers and queues side by side; narrow ones stack them, each only as
/// tall as its rows, so 80×24 still leaves the task list most of the screen.
fn main_screen(frame: &mut Frame<'_>, area: Rect, app: &App, data: &View<'_>) {
    let snap = data.snap;
    let tall = |rows: usize| (rows.max(1) as u16 + 3).clamp(4, 8);
    let (workers_h, queues_h) = (tall(snap.workers.len()), tall(snap.queues.len()));
    let strip_h = if area.height >= 30 { 5 } else { 3 };
    let (workers_area, queues_area, tasks_area, strip) = if area.width >= 120 {
        let [top, tasks, strip] = Layout::vertical([
            Constraint::Length(workers_h.max(queues_h)),
            Constraint::Min(4),
            Constraint::Length(strip_h),
        ])
        .areas(area);
        let [w, q] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
        (w, q, tasks, strip)
    } else {
        let [w, q, tasks, strip] = Layout::vertical([
            Constraint::Length(workers_h),
            Constraint::Length(queues_h),
            Constraint::Min(4),
            Constraint::Length(strip_h),
        ])
        .areas(area);
        (w, q, tasks, strip)
    };
    workers_pane(frame, workers_area, app, &snap.workers, data.look);
    queues_pane(
        frame,
        queues_area,
        app,
        &snap.queues,
        snap.queues_from_broker,
        data.look,
    );
    tasks_pane(frame, tasks_area, app, snap, data.look);
    anomalies_pane(frame, strip, app, &snap.anomalies, data.look);
}

/// A pane with nothing to list: its frame and a sentence.
fn empty(frame: &mut Frame<'_>, area: Rect, block: Block<'_>, what: &str, look: Look) {
    frame.render_widget(
        Paragraph::new(Span::styled(what.to_string(), look.muted())).block(block),
        area,
    );
}

fn block<'a>(title: Line<'a>, focused: bool, look: Look) -> Block<'a> {
    let block = Block::bordered().border_set(look.border()).title(title);
    if focused {
        block.border_style(look.focus())
    } else {
        block
    }
}

/// A table with the selection shown when its pane has the focus.
fn list<'a>(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    pane: Pane,
    len: usize,
    table: Table<'a>,
    look: Look,
) {
    let focused = app.focus == pane && app.screen == Screen::Main;
    let table = table
        .row_highlight_style(if focused {
            look.selected()
        } else {
            Style::new()
        })
        .highlight_symbol(if focused { look.pointer() } else { "  " });
    let mut state = TableState::default();
    if len > 0 {
        state.select(Some(app.selected(pane, len)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn age(secs: Option<f64>) -> String {
    match secs {
        None => "-".into(),
        Some(a) if a < 1.0 => "<1s".into(),
        Some(a) if a < 60.0 => format!("{}s", a.floor()),
        Some(a) => duration(a),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

pub fn workers_pane(frame: &mut Frame<'_>, area: Rect, app: &App, rows: &[WorkerLine], look: Look) {
    let online = rows
        .iter()
        .filter(|w| w.status == crate::state::worker::Liveness::Online)
        .count();
    let title = Line::from(format!(" Workers {online}/{} online ", rows.len()));
    let table_rows: Vec<Row<'_>> = rows
        .iter()
        .map(|w| {
            let load = w
                .load
                .map_or_else(|| "-".into(), |l| format!("{:.2}", l[0]));
            let lost = if w.lost_tasks == 0 {
                Cell::from("-")
            } else {
                Cell::from(w.lost_tasks.to_string()).style(look.error())
            };
            Row::new(vec![
                Cell::from(printable(&w.hostname).into_owned()),
                Cell::from(liveness_str(w.status)).style(look.liveness(w.status)),
                Cell::from(opt(w.active)),
                Cell::from(opt(w.processed)),
                Cell::from(load),
                Cell::from(age(w.heartbeat_age)),
                lost,
            ])
        })
        .collect();
    let widths = [
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(4),
    ];
    let header =
        Row::new(["WORKER", "STATUS", "ACT", "DONE", "LOAD", "BEAT", "LOST"]).style(look.heading());
    let block = block(title, app.focus == Pane::Workers, look);
    if rows.is_empty() {
        return empty(frame, area, block, "no worker seen", look);
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    list(frame, area, app, Pane::Workers, rows.len(), table, look);
}

pub fn queues_pane(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    rows: &[QueueLine],
    from_broker: bool,
    look: Look,
) {
    let source = if from_broker { "broker" } else { "from events" };
    let title = Line::from(format!(" Queues ({source}) "));
    let table_rows: Vec<Row<'_>> = rows
        .iter()
        .map(|q| {
            Row::new(vec![
                Cell::from(printable(&q.name).into_owned()),
                Cell::from(opt(q.waiting)),
                Cell::from(opt(q.in_flight)),
                Cell::from(age(q.oldest_age)),
                Cell::from(format!("{:.1}/s", q.rate)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let header =
        Row::new(["QUEUE", "WAITING", "FLIGHT", "OLDEST", "RATE/1m"]).style(look.heading());
    let block = block(title, app.focus == Pane::Queues, look);
    if rows.is_empty() {
        return empty(frame, area, block, "no queue known yet", look);
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    list(frame, area, app, Pane::Queues, rows.len(), table, look);
}

pub fn tasks_pane(frame: &mut Frame<'_>, area: Rect, app: &App, snap: &Snapshot, look: Look) {
    let rows = &snap.tasks;
    let mut title = format!(" Tasks {}", snap.tasks_matching);
    if snap.tasks_matching != snap.tasks_total {
        title.push_str(&format!(" of {}", snap.tasks_total));
    }
    if rows.len() < snap.tasks_matching {
        title.push_str(&format!(", newest {} shown", rows.len()));
    }
    let mut narrowing = Vec::new();
    if !app.filter.is_empty() {
        narrowing.push(format!("filter: {}", app.filter));
    }
    let search = app.live_search();
    if !search.is_empty() {
        narrowing.push(format!("search: {search}"));
    }
    if !narrowing.is_empty() {
        title.push_str(&format!("  [{}]", narrowing.join("; ")));
    }
    title.push(' ');
    let table_rows: Vec<Row<'_>> = rows.iter().map(|t| task_row(t, look)).collect();
    let widths = [
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Fill(3),
        Constraint::Fill(2),
        Constraint::Length(8),
        Constraint::Length(7),
    ];
    let header =
        Row::new(["STATE", "ID", "NAME", "WORKER", "SEEN", "RUNTIME"]).style(look.heading());
    let block = block(
        Line::from(printable(&title).into_owned()),
        app.focus == Pane::Tasks,
        look,
    );
    if rows.is_empty() {
        return empty(frame, area, block, "no task matches", look);
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    list(frame, area, app, Pane::Tasks, rows.len(), table, look);
}

fn task_row(t: &TaskLine, look: Look) -> Row<'static> {
    let mut state = t.state.as_str().to_string();
    if t.retries > 0 {
        state = format!("{state}+{}", t.retries);
    }
    let name = t.name.as_deref().unwrap_or("?");
    Row::new(vec![
        Cell::from(state).style(look.task_state(t.state)),
        Cell::from(crate::model::id::short_id(&t.id).to_string()),
        Cell::from(printable(name).into_owned()),
        Cell::from(printable(t.worker.as_deref().unwrap_or("-")).into_owned()),
        Cell::from(
            t.seen
                .map_or_else(|| "-".into(), |s| time_of_day(s, look.zone)),
        ),
        Cell::from(t.runtime.map_or_else(|| "-".into(), duration)),
    ])
}

pub fn anomalies_pane(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    rows: &[AnomalyLine],
    look: Look,
) {
    let errors = rows
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .count();
    let title = Line::from(vec![
        Span::raw(" Anomalies "),
        Span::styled(
            format!("{errors} error{}", if errors == 1 { "" } else { "s" }),
            if errors > 0 {
                look.error()
            } else {
                Style::new()
            },
        ),
        Span::raw(format!(", {} warning(s) ", rows.len() - errors)),
    ]);
    let table_rows: Vec<Row<'_>> = rows
        .iter()
        .map(|a| {
            let style = match a.severity {
                Severity::Error => look.error(),
                Severity::Warning => look.warning(),
            };
            Row::new(vec![
                Cell::from(a.severity.as_str()).style(style),
                Cell::from(a.rule),
                Cell::from(printable(&a.summary).into_owned()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(16),
        Constraint::Fill(1),
    ];
    let block = block(title, app.focus == Pane::Anomalies, look);
    if rows.is_empty() {
        return empty(frame, area, block, "none found", look);
    }
    let table = Table::new(table_rows, widths)
        .column_spacing(1)
        .block(block);
    list(frame, area, app, Pane::Anomalies, rows.len(), table, look);
}

pub fn detail(
    frame: &mut Frame<'_>,
    area: Rect,
    id: &str,
    tab: DetailTab,
    scroll: u16,
    lines: &[String],
    look: Look,
) {
    let tab_span = |t: DetailTab, label: &'static str| {
        if t == tab {
            Span::styled(label, look.selected())
        } else {
            Span::raw(label)
        }
    };
    let title = Line::from(vec![
        Span::raw(format!(" {} ", printable(id))),
        tab_span(DetailTab::Task, " task "),
        Span::raw(" "),
        tab_span(DetailTab::Flow, " flow "),
        Span::raw(" "),
    ]);
    let text: Vec<Line<'_>> = lines
        .iter()
        .map(|l| Line::from(printable(l).into_owned()))
        .collect();
    let paragraph = Paragraph::new(text)
        .block(block(title, true, look))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    frame.render_widget(paragraph, area);
}

fn footer(frame: &mut Frame<'_>, area: Rect, app: &App, look: Look) {
    let line = match (&app.overlay, &app.message) {
        (Overlay::Prompt { kind, text }, _) => {
            let label = match kind {
                PromptKind::Search => "search (id prefix or name): ",
                PromptKind::Filter => "filter (e.g. state=FAILURE name=shop.* worker=w1@*): ",
            };
            Line::from(vec![
                Span::styled(label, look.key()),
                Span::raw(printable(text).into_owned()),
                Span::styled(if look.ascii { "_" } else { "█" }, look.muted()),
            ])
        }
        (_, Some((text, tone))) => Line::from(Span::styled(
            text.clone(),
            match tone {
                Tone::Error => look.error(),
                Tone::Info => Style::new(),
            },
        )),
        _ => hints(app, look),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hints(app: &App, look: Look) -> Line<'static> {
    let keys: &[(&str, &str)] = match app.screen {
        Screen::Main => &[
            ("?", "help"),
            ("q", "quit"),
            ("Tab", "pane"),
            ("Enter", "open"),
            ("/", "search"),
            ("f", "filter"),
            ("r", "retry"),
            ("x", "revoke"),
        ],
        Screen::Detail { .. } => &[
            ("?", "help"),
            ("g/Tab", "task/flow"),
            ("j/k", "scroll"),
            ("r", "retry"),
            ("x", "revoke"),
            ("q/Esc", "back"),
        ],
    };
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(*k, look.key()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    if app.paused {
        spans.push(Span::styled("PAUSED (space)", look.warning()));
    }
    Line::from(spans)
}

/// A box in the middle of the screen, at most `w`×`h`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The keys, for `?`.
pub const HELP: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("↑ ↓  j k", "move; PgUp PgDn, Home End"),
    ("Enter", "open the task; on a worker or queue: filter by it"),
    ("g", "the task's flow (graph); in a task: task / flow"),
    ("/", "search by id prefix or name"),
    (
        "f",
        "filter: state= name= worker= queue= root= since= grep=",
    ),
    ("r", "retry the task (asks first)"),
    ("x", "revoke the task (asks first; t terminates)"),
    ("space", "pause / resume (a recording: play)"),
    ("[ ]", "a recording: step back / forward in time"),
    ("- +", "a recording: smaller / larger step"),
    ("Esc / q", "back; on the main screen: clear, quit"),
];

fn help(frame: &mut Frame<'_>, look: Look) {
    let area = centered(frame.area(), 72, HELP.len() as u16 + 4);
    let mut lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<17}"), look.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        look.muted(),
    )));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(block(Line::from(" Keys "), true, look)),
        area,
    );
}

fn confirm(frame: &mut Frame<'_>, action: &Action, data: &View<'_>) {
    let look = data.look;
    let name_of = |id: &str| {
        data.snap
            .tasks
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.name.clone())
            .unwrap_or_else(|| "task".to_string())
    };
    let (question, what, keys) = match action {
        Action::Retry { id } => (
            format!("Retry {} {}?", name_of(id), id),
            "It is sent again under a new id, its parent the original, with the arguments the result backend kept.",
            "[y] retry   [n] cancel",
        ),
        Action::Revoke { id, .. } => (
            format!("Revoke {} {}?", name_of(id), id),
            "Workers online now discard it when it comes up; t also kills it if it is running.",
            "[y] revoke   [t] revoke and terminate   [n] cancel",
        ),
    };
    let area = centered(frame.area(), 70, 8);
    let text = vec![
        Line::from(Span::styled(
            ellipsize(&printable(&question), 200),
            look.heading(),
        )),
        Line::from(""),
        Line::from(what),
        Line::from(""),
        Line::from(Span::styled(keys, look.key())),
    ];
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block(
            Line::from(" Confirm "),
            true,
            look,
        )),
        area,
    );
}
