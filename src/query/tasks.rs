//! The `tasks` query: filter, sort and limit task views.

use std::cmp::Ordering;

use crate::model::{TaskId, TaskState};
use crate::state::State;
use crate::state::view::TaskView;

/// What `tasks --sort` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Received,
    Started,
    Runtime,
    Name,
    State,
}

/// A resolved `tasks` query. Globs are compiled, ids resolved, times absolute.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub states: Vec<TaskState>,
    pub names: Vec<glob::Pattern>,
    pub workers: Vec<glob::Pattern>,
    pub queues: Vec<glob::Pattern>,
    pub root: Option<TaskId>,
    pub parent: Option<TaskId>,
    /// Keep tasks with any activity at or after this epoch second.
    pub since: Option<f64>,
    /// Keep tasks with any activity at or before this epoch second.
    pub until: Option<f64>,
    pub sort: SortKey,
    pub reverse: bool,
    pub limit: Option<usize>,
}

fn any_match(patterns: &[glob::Pattern], value: Option<&str>) -> bool {
    patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| p.matches(v)))
}

impl TaskQuery {
    pub fn matches(&self, state: &State, view: &TaskView<'_>) -> bool {
        let rec = view.record;
        if !self.states.is_empty() && !self.states.contains(&view.state) {
            return false;
        }
        if !any_match(&self.names, rec.name.map(|s| state.sym(s))) {
            return false;
        }
        if !any_match(&self.workers, view.worker().map(|s| state.sym(s))) {
            return false;
        }
        if !any_match(&self.queues, rec.queue.map(|s| state.sym(s))) {
            return false;
        }
        if let Some(root) = &self.root {
            let own_root = rec.root_id.as_ref().unwrap_or(&rec.id);
            if own_root != root {
                return false;
            }
        }
        if let Some(parent) = &self.parent
            && rec.parent_id.as_ref() != Some(parent)
        {
            return false;
        }
        let (first, last) = (
            rec.first_time().unwrap_or(0.0),
            view.last_time().unwrap_or(0.0),
        );
        if self.since.is_some_and(|s| last < s) || self.until.is_some_and(|u| first > u) {
            return false;
        }
        true
    }
}

/// Runs the query. `horizon` is where liveness is judged (see `State::horizon`).
pub fn select<'s>(state: &'s State, query: &TaskQuery, horizon: f64) -> Vec<TaskView<'s>> {
    let mut rows: Vec<TaskView<'s>> = state
        .tasks()
        .iter()
        .map(|t| TaskView::new(state, t, horizon))
        .filter(|v| query.matches(state, v))
        .collect();
    rows.sort_by(|a, b| {
        // Rows without the sort key (never started, no runtime) stay last in both directions.
        let (ka, kb) = (has_key(query.sort, a), has_key(query.sort, b));
        kb.cmp(&ka)
            .then_with(|| {
                let ord = compare(state, query.sort, a, b);
                if query.reverse { ord.reverse() } else { ord }
            })
            .then_with(|| a.record.id.cmp(&b.record.id))
    });
    if let Some(n) = query.limit {
        rows.truncate(n);
    }
    rows
}

fn has_key(key: SortKey, v: &TaskView<'_>) -> bool {
    match key {
        SortKey::Started => v.started_at().is_some(),
        SortKey::Runtime => v.runtime().is_some(),
        SortKey::Received | SortKey::Name | SortKey::State => true,
    }
}

fn by_time(a: Option<f64>, b: Option<f64>) -> Ordering {
    // Newest first; tasks without the time go last.
    match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn compare(state: &State, key: SortKey, a: &TaskView<'_>, b: &TaskView<'_>) -> Ordering {
    let seen = |v: &TaskView<'_>| v.received_at().or_else(|| v.record.first_time());
    match key {
        SortKey::Received => by_time(seen(a), seen(b)),
        SortKey::Started => by_time(a.started_at(), b.started_at()),
        SortKey::Runtime => by_time(a.runtime(), b.runtime()),
        SortKey::Name => {
            let name = |v: &TaskView<'_>| v.record.name.map(|s| state.sym(s).to_string());
            name(a)
                .cmp(&name(b))
                .then_with(|| by_time(seen(a), seen(b)))
        }
        SortKey::State => a
            .state
            .cmp(&b.state)
            .then_with(|| by_time(seen(a), seen(b))),
    }
}
