//! The dashboard on real Celery 5.7 captures (a worker starting, a retry, a failure, a chord
//! and a worker killed mid-task): each pane drawn alone into ratatui's TestBackend and
//! snapshotted, the whole screen at 80×24 in ASCII, and the keys driving the pure state.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Color;

use super::app::{Action, App, DetailTab, Effect, Overlay, Pane, Screen};
use super::draw::{self, Header, View};
use super::look::Look;
use super::snapshot::{Slow, Snapshot, TaskSelection, queue_lines, queue_tallies};
use crate::query::anomalies::Thresholds;
use crate::query::testing::state_of;
use crate::render::Zone;
use crate::source::queues::Depth;
use crate::state::State;

const CAPTURES: [&str; 5] = [
    include_str!("../../tests/fixtures/celery-5.7/redis/worker_start.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/retry.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/failure.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/chord.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/worker_kill.events.ndjson"),
];

const FAILED: &str = "8a4f0c72";

fn captured() -> State {
    state_of(&CAPTURES.concat())
}

fn horizon(state: &State) -> f64 {
    state.time_range().map_or(0.0, |(_, last)| last)
}

fn slow(state: &State) -> Slow {
    Slow::compute(state, &Thresholds::default(), horizon(state))
}

fn snapshot(state: &State) -> Snapshot {
    let h = horizon(state);
    Snapshot::build(state, &TaskSelection::default(), None, &slow(state), h)
}

const PLAIN: Look = Look {
    color: false,
    ascii: false,
    zone: Zone::Utc,
};

const ASCII: Look = Look {
    color: false,
    ascii: true,
    zone: Zone::Utc,
};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn chars(app: &mut App, snap: &Snapshot, text: &str) -> Effect {
    let mut last = Effect::None;
    for c in text.chars() {
        last = app.key(key(KeyCode::Char(c)), snap);
    }
    last
}

/// The buffer's text, one line per row, trailing blanks cut.
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render(width: u16, height: u16, paint: impl FnOnce(&mut ratatui::Frame<'_>, Rect)) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| paint(f, f.area())).unwrap();
    terminal.backend().buffer().clone()
}

fn screen(app: &App, snap: &Snapshot, detail: &[String], look: Look) -> Buffer {
    let header = Header {
        source: "redis://localhost:6379/0".into(),
        mode: "live".into(),
        warning: None,
    };
    render(80, 24, |f, _| {
        draw::draw(
            f,
            app,
            &View {
                snap,
                header: &header,
                detail,
                look,
            },
        );
    })
}

#[test]
fn workers_pane() {
    let state = captured();
    let snap = snapshot(&state);
    let app = App::new(String::new(), false, false);
    let buf = render(80, 6, |f, area| {
        draw::workers_pane(f, area, &app, &snap.workers, PLAIN);
    });
    insta::assert_snapshot!(text(&buf));
}

#[test]
fn queues_pane_from_events_and_from_the_broker() {
    let state = captured();
    let snap = snapshot(&state);
    let app = App::new(String::new(), false, false);
    let from_events = render(80, 4, |f, area| {
        draw::queues_pane(f, area, &app, &snap.queues, false, PLAIN);
    });
    let depths = [Depth {
        name: "celery".into(),
        exists: true,
        waiting: 7,
        in_flight: Some(2),
        ..Depth::default()
    }];
    let h = horizon(&state);
    let lines = queue_lines(&state, &queue_tallies(&state, h), Some(&depths), h);
    let from_broker = render(80, 4, |f, area| {
        draw::queues_pane(f, area, &app, &lines, true, PLAIN);
    });
    insta::assert_snapshot!(format!("{}\n{}", text(&from_events), text(&from_broker)));
}

#[test]
fn tasks_pane() {
    let state = captured();
    let snap = snapshot(&state);
    let app = App::new(String::new(), false, false);
    let buf = render(80, 14, |f, area| {
        draw::tasks_pane(f, area, &app, &snap, PLAIN);
    });
    insta::assert_snapshot!(text(&buf));
}

#[test]
fn anomalies_strip() {
    let state = captured();
    let snap = snapshot(&state);
    assert!(
        !snap.anomalies.is_empty(),
        "the killed worker is an anomaly"
    );
    let app = App::new(String::new(), false, false);
    let buf = render(80, 5, |f, area| {
        draw::anomalies_pane(f, area, &app, &snap.anomalies, PLAIN);
    });
    insta::assert_snapshot!(text(&buf));
}

/// The failed task opened: the `show` view, then its flow.
#[test]
fn detail_of_a_failed_task_and_its_flow() {
    let state = captured();
    let snap = snapshot(&state);
    let failed = snap
        .tasks
        .iter()
        .find(|t| t.id.starts_with(FAILED))
        .expect("the failure capture's task");
    let h = horizon(&state);
    let mut out = Vec::new();
    for tab in [DetailTab::Task, DetailTab::Flow] {
        let lines = super::detail::lines(&state, &failed.id, tab, None, h, (Zone::Utc, false, 78));
        let buf = render(80, 36, |f, area| {
            draw::detail(f, area, &failed.id, tab, 0, &lines, PLAIN);
        });
        out.push(text(&buf));
    }
    let both = out.join("\n");
    assert!(
        both.contains("FAILURE") && both.contains("Traceback"),
        "{both}"
    );
    insta::assert_snapshot!(both);
}

#[test]
fn whole_screen_at_80_by_24_in_ascii() {
    let state = captured();
    let failures = TaskSelection {
        query: crate::query::tasks::TaskQuery {
            states: vec![crate::model::TaskState::Failure],
            ..Default::default()
        },
        search: String::new(),
    };
    let h = horizon(&state);
    let snap = Snapshot::build(&state, &failures, None, &slow(&state), h);
    assert_eq!(snap.tasks.len(), 1);
    let app = App::new("state=FAILURE".into(), false, false);
    let buf = screen(&app, &snap, &[], ASCII);
    let shown = text(&buf);
    assert!(shown.is_ascii(), "--ascii draws nothing else:\n{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn help_and_confirmation_dialogs() {
    let state = captured();
    let snap = snapshot(&state);
    let mut app = App::new(String::new(), false, false);
    app.key(key(KeyCode::Char('?')), &snap);
    let help = text(&screen(&app, &snap, &[], PLAIN));
    app.key(key(KeyCode::Char('x')), &snap); // closes the help
    app.key(key(KeyCode::Char('x')), &snap);
    assert!(matches!(
        app.overlay,
        Overlay::Confirm(Action::Revoke { .. })
    ));
    let confirm = text(&screen(&app, &snap, &[], PLAIN));
    insta::assert_snapshot!(format!("{help}\n{confirm}"));
}

#[test]
fn no_color_means_no_colour_and_colour_means_states_in_colour() {
    let state = captured();
    let snap = snapshot(&state);
    let app = App::new(String::new(), false, false);
    let colours = |look: Look| -> Vec<Color> {
        let buf = screen(&app, &snap, &[], look);
        buf.content()
            .iter()
            .flat_map(|c| [c.fg, c.bg])
            .filter(|c| *c != Color::Reset)
            .collect()
    };
    assert!(colours(PLAIN).is_empty(), "NO_COLOR draws no colour");
    let coloured = colours(Look {
        color: true,
        ..PLAIN
    });
    assert!(coloured.contains(&Color::Red), "FAILURE is red");
    assert!(coloured.contains(&Color::Green), "SUCCESS is green");
}

#[test]
fn tab_moves_between_panes_and_keys_move_the_selection() {
    let snap = snapshot(&captured());
    let mut app = App::new(String::new(), false, false);
    assert_eq!(app.focus, Pane::Tasks);
    app.key(key(KeyCode::Tab), &snap);
    assert_eq!(app.focus, Pane::Workers);
    app.key(key(KeyCode::BackTab), &snap);
    assert_eq!(app.focus, Pane::Tasks);
    app.key(key(KeyCode::Char('j')), &snap);
    app.key(key(KeyCode::Down), &snap);
    assert_eq!(app.selected(Pane::Tasks, snap.tasks.len()), 2);
    app.key(key(KeyCode::Char('k')), &snap);
    assert_eq!(app.selected(Pane::Tasks, snap.tasks.len()), 1);
    app.key(key(KeyCode::End), &snap);
    assert_eq!(
        app.selected(Pane::Tasks, snap.tasks.len()),
        snap.tasks.len() - 1
    );
    app.key(key(KeyCode::Home), &snap);
    assert_eq!(app.selected(Pane::Tasks, snap.tasks.len()), 0);
}

#[test]
fn enter_opens_the_task_g_its_flow_and_esc_goes_back() {
    let snap = snapshot(&captured());
    let mut app = App::new(String::new(), false, false);
    app.key(key(KeyCode::Down), &snap);
    app.key(key(KeyCode::Enter), &snap);
    let Screen::Detail { id, tab, .. } = app.screen.clone() else {
        panic!("Enter opens the detail");
    };
    assert_eq!(id, snap.tasks[1].id);
    assert_eq!(tab, DetailTab::Task);
    app.key(key(KeyCode::Char('g')), &snap);
    assert!(matches!(
        app.screen,
        Screen::Detail {
            tab: DetailTab::Flow,
            ..
        }
    ));
    app.key(key(KeyCode::Char('j')), &snap);
    assert!(matches!(app.screen, Screen::Detail { scroll: 1, .. }));
    assert_eq!(app.key(key(KeyCode::Esc), &snap), Effect::None);
    assert_eq!(app.screen, Screen::Main);
    assert_eq!(app.key(key(KeyCode::Char('q')), &snap), Effect::Quit);
}

#[test]
fn search_narrows_as_typed_and_esc_puts_it_back() {
    let state = captured();
    let snap = snapshot(&state);
    let mut app = App::new(String::new(), false, false);
    app.key(key(KeyCode::Char('/')), &snap);
    assert_eq!(chars(&mut app, &snap, FAILED), Effect::Search);
    assert_eq!(app.live_search(), FAILED);
    let narrowed = Snapshot::build(
        &state,
        &TaskSelection {
            search: app.live_search().to_string(),
            ..Default::default()
        },
        None,
        &Slow::default(),
        horizon(&state),
    );
    assert_eq!(narrowed.tasks.len(), 1);
    assert!(narrowed.tasks[0].id.starts_with(FAILED));
    assert_eq!(app.key(key(KeyCode::Esc), &snap), Effect::Search);
    assert_eq!(app.live_search(), "");
    // By name, any case; Enter keeps it.
    app.key(key(KeyCode::Char('/')), &snap);
    chars(&mut app, &snap, "FLAKY");
    app.key(key(KeyCode::Enter), &snap);
    assert_eq!(app.search, "FLAKY");
    let by_name = Snapshot::build(
        &state,
        &TaskSelection {
            search: app.search.clone(),
            ..Default::default()
        },
        None,
        &Slow::default(),
        horizon(&state),
    );
    assert!(!by_name.tasks.is_empty());
    assert!(
        by_name
            .tasks
            .iter()
            .all(|t| t.name.as_deref() == Some("capapp.flaky"))
    );
    // Esc on the main screen clears the search before it quits.
    assert_eq!(app.key(key(KeyCode::Esc), &snap), Effect::Search);
    assert_eq!(app.key(key(KeyCode::Esc), &snap), Effect::Quit);
}

#[test]
fn f_enters_a_filter_and_enter_on_a_worker_filters_by_it() {
    let snap = snapshot(&captured());
    let mut app = App::new(String::new(), false, false);
    app.key(key(KeyCode::Char('f')), &snap);
    chars(&mut app, &snap, "state=FAILURE");
    assert_eq!(
        app.key(key(KeyCode::Enter), &snap),
        Effect::Filter("state=FAILURE".into())
    );
    app.key(key(KeyCode::Tab), &snap);
    assert_eq!(app.focus, Pane::Workers);
    let first = snap.workers[0].hostname.clone();
    assert_eq!(
        app.key(key(KeyCode::Enter), &snap),
        Effect::Filter(format!("worker={first}"))
    );
    assert_eq!(app.focus, Pane::Tasks);
}

#[test]
fn retry_and_revoke_ask_first_and_read_only_refuses_them() {
    let snap = snapshot(&captured());
    let first = snap.tasks[0].id.clone();
    let mut app = App::new(String::new(), false, false);
    assert_eq!(app.key(key(KeyCode::Char('r')), &snap), Effect::None);
    assert_eq!(
        app.overlay,
        Overlay::Confirm(Action::Retry { id: first.clone() })
    );
    assert_eq!(
        app.key(key(KeyCode::Char('y')), &snap),
        Effect::Act(Action::Retry { id: first.clone() })
    );
    app.key(key(KeyCode::Char('x')), &snap);
    assert_eq!(app.key(key(KeyCode::Char('n')), &snap), Effect::None);
    assert_eq!(app.overlay, Overlay::None);
    app.key(key(KeyCode::Char('x')), &snap);
    assert_eq!(
        app.key(key(KeyCode::Char('t')), &snap),
        Effect::Act(Action::Revoke {
            id: first.clone(),
            terminate: true
        })
    );

    let mut read_only = App::new(String::new(), true, false);
    for k in ['r', 'x'] {
        assert_eq!(read_only.key(key(KeyCode::Char(k)), &snap), Effect::None);
        assert_eq!(read_only.overlay, Overlay::None);
        let (message, _) = read_only.message.clone().unwrap();
        assert!(message.contains("read-only"), "{message}");
    }
}

#[test]
fn the_selected_task_stays_selected_when_new_tasks_arrive_above_it() {
    let snap = snapshot(&captured());
    let mut app = App::new(String::new(), false, false);
    app.key(key(KeyCode::Down), &snap);
    let chosen = snap.tasks[1].id.clone();
    let mut moved = snap.clone();
    moved.tasks.insert(0, snap.tasks[3].clone());
    moved.tasks.insert(0, snap.tasks[4].clone());
    app.follow(&moved);
    assert_eq!(app.selected_task(&moved), Some(chosen));
}

#[test]
fn queues_from_events_count_what_waits_and_runs() {
    let state = captured();
    let h = horizon(&state);
    let tallies = queue_tallies(&state, h);
    let lines = queue_lines(&state, &tallies, None, h);
    let celery = lines.iter().find(|q| q.name == "celery").unwrap();
    let (waiting, running) = state.tasks().fold((0, 0), |(w, r), t| {
        let v = crate::state::view::TaskView::new(&state, t, h);
        match v.state {
            crate::model::TaskState::Pending => (w + 1, r),
            crate::model::TaskState::Received | crate::model::TaskState::Started => (w, r + 1),
            _ => (w, r),
        }
    });
    assert_eq!(celery.waiting, Some(waiting));
    assert_eq!(celery.in_flight, Some(running));
    // The broker's word replaces the events' where it has one.
    let depths = [Depth {
        name: "celery".into(),
        exists: true,
        waiting: 7,
        ..Depth::default()
    }];
    let lines = queue_lines(&state, &tallies, Some(&depths), h);
    assert_eq!(lines[0].waiting, Some(7));
    assert_eq!(lines[0].in_flight, None);
}
