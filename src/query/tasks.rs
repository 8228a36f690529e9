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

/// A row's sort key, computed once per row (comparing views directly recomputed their times
/// at every comparison).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key<'s> {
    Time(Option<f64>),
    Text(Option<&'s str>, Option<f64>),
    State(crate::model::TaskState, Option<f64>),
}

fn key<'s>(state: &'s State, sort: SortKey, v: &TaskView<'s>) -> Key<'s> {
    let seen = v.received_at().or_else(|| v.record.first_time());
    match sort {
        SortKey::Received => Key::Time(seen),
        SortKey::Started => Key::Time(v.started_at()),
        SortKey::Runtime => Key::Time(v.runtime()),
        SortKey::Name => Key::Text(v.record.name.map(|s| state.sym(s)), seen),
        SortKey::State => Key::State(v.state, seen),
    }
}

/// Newest (or longest) first; a missing time sorts after every present one.
fn by_time(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn compare(a: &Key<'_>, b: &Key<'_>) -> Ordering {
    match (a, b) {
        (Key::Time(x), Key::Time(y)) => by_time(*x, *y),
        (Key::Text(x, tx), Key::Text(y, ty)) => x.cmp(y).then_with(|| by_time(*tx, *ty)),
        (Key::State(x, tx), Key::State(y, ty)) => x.cmp(y).then_with(|| by_time(*tx, *ty)),
        _ => Ordering::Equal,
    }
}

fn has_key(k: &Key<'_>) -> bool {
    !matches!(k, Key::Time(None))
}

/// Runs the query. `horizon` is where liveness is judged (see `State::horizon`).
/// Only the rows that survive the limit are kept as full views, so memory stays small.
pub fn select<'s>(state: &'s State, query: &TaskQuery, horizon: f64) -> Vec<TaskView<'s>> {
    let mut rows: Vec<(Key<'s>, &'s crate::state::task::TaskRecord)> = state
        .tasks()
        .filter_map(|t| {
            let v = TaskView::new(state, t, horizon);
            query.matches(state, &v).then(|| (key(state, query.sort, &v), t))
        })
        .collect();
    rows.sort_by(|(ka, a), (kb, b)| {
        // Rows without the sort key (never started, no runtime) stay last in both directions.
        has_key(kb).cmp(&has_key(ka)).then_with(|| {
            let ord = compare(ka, kb);
            if query.reverse { ord.reverse() } else { ord }
        })
        .then_with(|| a.id.cmp(&b.id))
    });
    if let Some(n) = query.limit {
        rows.truncate(n);
    }
    rows.into_iter().map(|(_, t)| TaskView::new(state, t, horizon)).collect()
}
