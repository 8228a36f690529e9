//! Semantic styles. Plain by default; [`Styles::colorized`] fills them when the stream gets
//! colour. Renderers never decide about colour themselves.

use owo_colors::Style;

use crate::model::TaskState;

#[derive(Debug, Clone, Copy, Default)]
pub struct Styles {
    pub state_success: Style,
    pub state_failure: Style,
    pub state_active: Style,
    pub state_waiting: Style,
    pub state_retry: Style,
    pub state_revoked: Style,
    pub id_prefix: Style,
    pub heading: Style,
    pub muted: Style,
    pub label: Style,
    pub error: Style,
}

impl Styles {
    pub fn plain() -> Self {
        Self::default()
    }

    pub fn colorized() -> Self {
        Self {
            state_success: Style::new().green(),
            state_failure: Style::new().red().bold(),
            state_active: Style::new().cyan(),
            state_waiting: Style::new().blue(),
            state_retry: Style::new().yellow(),
            state_revoked: Style::new().magenta(),
            id_prefix: Style::new().bold().purple(),
            heading: Style::new().bold(),
            muted: Style::new().dimmed(),
            label: Style::new().bold(),
            error: Style::new().red(),
        }
    }

    pub fn state(&self, s: TaskState) -> Style {
        match s {
            TaskState::Success => self.state_success,
            TaskState::Failure | TaskState::Rejected => self.state_failure,
            TaskState::Started => self.state_active,
            TaskState::Pending | TaskState::Received => self.state_waiting,
            TaskState::Retry => self.state_retry,
            TaskState::Revoked => self.state_revoked,
        }
    }
}
