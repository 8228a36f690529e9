//! How the dashboard looks: colour or none (`NO_COLOR`, `--color never`, `TERM=dumb`), box
//! drawing or plain ASCII (`--ascii`), and the time zone of the clock times.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use crate::model::TaskState;
use crate::render::Zone;
use crate::state::worker::Liveness;

/// Borders of `--ascii`: nothing a plain terminal or a log viewer could mangle.
const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub color: bool,
    pub ascii: bool,
    pub zone: Zone,
}

impl Look {
    pub fn border(&self) -> border::Set<'static> {
        if self.ascii {
            ASCII_BORDER
        } else {
            border::ROUNDED
        }
    }

    /// The mark before the selected row.
    pub fn pointer(&self) -> &'static str {
        if self.ascii { "> " } else { "▶ " }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn task_state(&self, s: TaskState) -> Style {
        match s {
            TaskState::Success => self.fg(Color::Green),
            TaskState::Failure => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            TaskState::Started => self.fg(Color::Cyan),
            TaskState::Received | TaskState::Pending => self.fg(Color::Blue),
            TaskState::Retry => self.fg(Color::Yellow),
            TaskState::Revoked | TaskState::Rejected => self.fg(Color::Magenta),
        }
    }

    pub fn liveness(&self, l: Liveness) -> Style {
        match l {
            Liveness::Online => self.fg(Color::Green),
            Liveness::Offline => self.fg(Color::DarkGray),
            Liveness::Lost => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Liveness::Restarted => self.fg(Color::Yellow),
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn muted(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn heading(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The focused pane's border (bold without colour).
    pub fn focus(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reverse video, which needs no colour.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}
