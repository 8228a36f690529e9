//! The dashboard's interaction state and its keys: which pane has the focus, what is
//! selected, which screen or dialog is open. Pure: a key goes in, the state changes, and what
//! the outside world must do (reload, send, quit) comes out as an [`Effect`].

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::snapshot::Snapshot;

/// The panes of the main screen, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Workers,
    Queues,
    Tasks,
    Anomalies,
}

impl Pane {
    const ORDER: [Pane; 4] = [Pane::Tasks, Pane::Workers, Pane::Queues, Pane::Anomalies];

    fn index(self) -> usize {
        Self::ORDER.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn next(self, by: isize) -> Pane {
        let n = Self::ORDER.len() as isize;
        Self::ORDER[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// The detail screen's two views of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailTab {
    /// The `show` view: timeline, arguments, exception, traceback, lineage.
    Task,
    /// The `graph` tree of the task's flow.
    Flow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Main,
    Detail {
        id: String,
        tab: DetailTab,
        scroll: u16,
    },
}

/// What a prompt at the bottom line is typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `/`: an id prefix or a part of a task name; narrows the list as it is typed.
    Search,
    /// `f`: the `tasks` filters, e.g. `state=FAILURE name=shop.*` or `--worker w1@*`.
    Filter,
}

/// An action on the broker, waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Retry { id: String },
    Revoke { id: String, terminate: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Prompt { kind: PromptKind, text: String },
    Confirm(Action),
}

/// How a message at the bottom line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Error,
}

/// What the key asks of the world outside the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// The search changed: recompute the task list.
    Search,
    /// The filter text was entered: parse it and recompute.
    Filter(String),
    /// Send this (confirmed) action.
    Act(Action),
    /// Move the moment shown by this many steps (file and `--at` sources).
    Step(i32),
    /// Play or pause.
    TogglePause,
    /// Scale the time step (a factor).
    StepScale(i32),
}

#[derive(Debug, Clone)]
pub struct App {
    pub focus: Pane,
    pub screen: Screen,
    pub overlay: Overlay,
    /// Selected row per pane (Tab order).
    selected: [usize; 4],
    /// The selected task, kept by id so a live list moving under it keeps the selection.
    pinned_task: Option<String>,
    /// The search in force (`/`).
    pub search: String,
    /// The filter in force (`f`), as typed.
    pub filter: String,
    pub message: Option<(String, Tone)>,
    /// Refreshing (live) or playing (recordings) is paused.
    pub paused: bool,
    pub read_only: bool,
}

impl App {
    pub fn new(filter: String, read_only: bool, paused: bool) -> Self {
        Self {
            focus: Pane::Tasks,
            screen: Screen::Main,
            overlay: Overlay::None,
            selected: [0; 4],
            pinned_task: None,
            search: String::new(),
            filter,
            message: None,
            paused,
            read_only,
        }
    }

    pub fn say(&mut self, text: impl Into<String>, tone: Tone) {
        self.message = Some((text.into(), tone));
    }

    /// The selected row of `pane`, kept inside the list's length.
    pub fn selected(&self, pane: Pane, len: usize) -> usize {
        self.selected[pane.index()].min(len.saturating_sub(1))
    }

    /// After a new snapshot: the pinned task's row is selected wherever it moved to.
    pub fn follow(&mut self, snap: &Snapshot) {
        if let Some(id) = &self.pinned_task
            && let Some(pos) = snap.tasks.iter().position(|t| &t.id == id)
        {
            self.selected[Pane::Tasks.index()] = pos;
        }
    }

    /// The task the selection points at: the detail's task, else the tasks pane's row, else
    /// the first task of the selected anomaly.
    pub fn selected_task(&self, snap: &Snapshot) -> Option<String> {
        if let Screen::Detail { id, .. } = &self.screen {
            return Some(id.clone());
        }
        match self.focus {
            Pane::Tasks => snap
                .tasks
                .get(self.selected(Pane::Tasks, snap.tasks.len()))
                .map(|t| t.id.clone()),
            Pane::Anomalies => snap
                .anomalies
                .get(self.selected(Pane::Anomalies, snap.anomalies.len()))
                .and_then(|a| a.tasks.first().cloned()),
            _ => None,
        }
    }

    fn len_of(pane: Pane, snap: &Snapshot) -> usize {
        match pane {
            Pane::Workers => snap.workers.len(),
            Pane::Queues => snap.queues.len(),
            Pane::Tasks => snap.tasks.len(),
            Pane::Anomalies => snap.anomalies.len(),
        }
    }

    fn move_by(&mut self, by: isize, snap: &Snapshot) {
        let len = Self::len_of(self.focus, snap);
        let at = self.selected(self.focus, len) as isize;
        let to = (at + by).clamp(0, len.saturating_sub(1) as isize) as usize;
        self.selected[self.focus.index()] = to;
        if self.focus == Pane::Tasks {
            self.pinned_task = snap.tasks.get(to).map(|t| t.id.clone());
        }
    }

    /// One key. `snap` is the frame on screen (what the selection points at).
    pub fn key(&mut self, key: KeyEvent, snap: &Snapshot) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d'))
        {
            return Effect::Quit;
        }
        match self.overlay.clone() {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Effect::None;
            }
            Overlay::Prompt { kind, text } => return self.prompt_key(key, kind, text),
            Overlay::Confirm(action) => return self.confirm_key(key, action),
            Overlay::None => {}
        }
        self.message = None;
        match &self.screen {
            Screen::Main => self.main_key(key, snap),
            Screen::Detail { .. } => self.detail_key(key, snap),
        }
    }

    fn common_key(&mut self, key: KeyEvent, snap: &Snapshot) -> Option<Effect> {
        Some(match key.code {
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help;
                Effect::None
            }
            KeyCode::Char('r') => self.ask(snap, |id| Action::Retry { id }),
            KeyCode::Char('x') => self.ask(snap, |id| Action::Revoke {
                id,
                terminate: false,
            }),
            KeyCode::Char(' ') => Effect::TogglePause,
            KeyCode::Char('[') => Effect::Step(-1),
            KeyCode::Char(']') => Effect::Step(1),
            KeyCode::Char('-') => Effect::StepScale(-1),
            KeyCode::Char('+') | KeyCode::Char('=') => Effect::StepScale(1),
            _ => return None,
        })
    }

    fn main_key(&mut self, key: KeyEvent, snap: &Snapshot) -> Effect {
        if let Some(effect) = self.common_key(key, snap) {
            return effect;
        }
        match key.code {
            KeyCode::Char('q') => return Effect::Quit,
            KeyCode::Esc => {
                // Esc first clears what narrows the list, then quits.
                if !self.search.is_empty() {
                    self.search.clear();
                    return Effect::Search;
                }
                if !self.filter.is_empty() {
                    return Effect::Filter(String::new());
                }
                return Effect::Quit;
            }
            KeyCode::Tab => self.focus = self.focus.next(1),
            KeyCode::BackTab => self.focus = self.focus.next(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1, snap),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1, snap),
            KeyCode::PageDown => self.move_by(10, snap),
            KeyCode::PageUp => self.move_by(-10, snap),
            KeyCode::Home => self.move_by(isize::MIN / 2, snap),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2, snap),
            KeyCode::Char('/') => {
                self.overlay = Overlay::Prompt {
                    kind: PromptKind::Search,
                    text: self.search.clone(),
                };
            }
            KeyCode::Char('f') => {
                self.overlay = Overlay::Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter.clone(),
                };
            }
            KeyCode::Enter => return self.enter(snap),
            KeyCode::Char('g') => self.open(snap, DetailTab::Flow),
            _ => {}
        }
        Effect::None
    }

    /// Enter: a task opens; a worker or a queue filters the task list by it.
    fn enter(&mut self, snap: &Snapshot) -> Effect {
        match self.focus {
            Pane::Tasks | Pane::Anomalies => {
                self.open(snap, DetailTab::Task);
                Effect::None
            }
            Pane::Workers => snap
                .workers
                .get(self.selected(Pane::Workers, snap.workers.len()))
                .map_or(Effect::None, |w| {
                    self.focus = Pane::Tasks;
                    Effect::Filter(format!("worker={}", w.hostname))
                }),
            Pane::Queues => snap
                .queues
                .get(self.selected(Pane::Queues, snap.queues.len()))
                .map_or(Effect::None, |q| {
                    self.focus = Pane::Tasks;
                    Effect::Filter(format!("queue={}", q.name))
                }),
        }
    }

    fn open(&mut self, snap: &Snapshot, tab: DetailTab) {
        match self.selected_task(snap) {
            Some(id) => {
                self.pinned_task = Some(id.clone());
                self.screen = Screen::Detail { id, tab, scroll: 0 };
            }
            None => self.say("no task selected (Tab to the tasks pane)", Tone::Error),
        }
    }

    fn detail_key(&mut self, key: KeyEvent, snap: &Snapshot) -> Effect {
        if let Some(effect) = self.common_key(key, snap) {
            return effect;
        }
        let Screen::Detail { tab, scroll, .. } = &mut self.screen else {
            return Effect::None;
        };
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc | KeyCode::Backspace => self.screen = Screen::Main,
            KeyCode::Char('g') | KeyCode::Tab | KeyCode::BackTab => {
                *tab = match tab {
                    DetailTab::Task => DetailTab::Flow,
                    DetailTab::Flow => DetailTab::Task,
                };
                *scroll = 0;
            }
            KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char('d') => *scroll = scroll.saturating_add(10),
            KeyCode::PageUp | KeyCode::Char('u') => *scroll = scroll.saturating_sub(10),
            KeyCode::Home => *scroll = 0,
            _ => {}
        }
        Effect::None
    }

    /// `r` and `x`: refused in read-only mode, else a confirmation dialog.
    fn ask(&mut self, snap: &Snapshot, action: impl Fn(String) -> Action) -> Effect {
        let Some(id) = self.selected_task(snap) else {
            self.say("no task selected", Tone::Error);
            return Effect::None;
        };
        let what = action(id);
        if self.read_only {
            let verb = match what {
                Action::Retry { .. } => "retry",
                Action::Revoke { .. } => "revoke",
            };
            self.say(
                format!("read-only mode: {verb} is refused (the profile or CELTRACE_READ_ONLY)"),
                Tone::Error,
            );
            return Effect::None;
        }
        self.overlay = Overlay::Confirm(what);
        Effect::None
    }

    fn confirm_key(&mut self, key: KeyEvent, action: Action) -> Effect {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.overlay = Overlay::None;
                Effect::Act(action)
            }
            KeyCode::Char('t') | KeyCode::Char('T') => {
                self.overlay = Overlay::None;
                match action {
                    Action::Revoke { id, .. } => Effect::Act(Action::Revoke {
                        id,
                        terminate: true,
                    }),
                    other => {
                        self.overlay = Overlay::Confirm(other);
                        Effect::None
                    }
                }
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q') | KeyCode::Esc => {
                self.overlay = Overlay::None;
                self.say("nothing sent", Tone::Info);
                Effect::None
            }
            _ => Effect::None,
        }
    }

    fn prompt_key(&mut self, key: KeyEvent, kind: PromptKind, mut text: String) -> Effect {
        match key.code {
            KeyCode::Esc => {
                self.overlay = Overlay::None;
                if kind == PromptKind::Search && self.search != text {
                    // The search narrowed as it was typed; Esc puts the list back.
                    return Effect::Search;
                }
                return Effect::None;
            }
            KeyCode::Enter => {
                self.overlay = Overlay::None;
                return match kind {
                    PromptKind::Search => {
                        self.search = text.trim().to_string();
                        self.focus = Pane::Tasks;
                        self.selected[Pane::Tasks.index()] = 0;
                        self.pinned_task = None;
                        Effect::Search
                    }
                    PromptKind::Filter => Effect::Filter(text.trim().to_string()),
                };
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if !c.is_control() => text.push(c),
            _ => return Effect::None,
        }
        self.overlay = Overlay::Prompt {
            kind,
            text: text.clone(),
        };
        if kind == PromptKind::Search {
            return Effect::Search;
        }
        Effect::None
    }

    /// The search the task list uses now: while `/` is being typed, the text so far.
    pub fn live_search(&self) -> &str {
        match &self.overlay {
            Overlay::Prompt {
                kind: PromptKind::Search,
                text,
            } => text,
            _ => &self.search,
        }
    }

    /// The filter was applied: select from the top again.
    pub fn filter_applied(&mut self, text: String) {
        self.filter = text;
        self.selected[Pane::Tasks.index()] = 0;
        self.pinned_task = None;
    }
}
