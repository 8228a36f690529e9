//! The `tasks` query: filter, sort and limit task views.

use std::cmp::Ordering;

use crate::model::{TaskId, TaskState};
use crate::state::State;
use crate::state::task::TaskRecord;
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
    /// `--grep`: regular expressions over the task's texts (already scrubbed).
    pub grep: Option<Grep>,
    pub sort: SortKey,
    pub reverse: bool,
    pub limit: Option<usize>,
}

/// Where `--grep` looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrepField {
    Args,
    Kwargs,
    Result,
    /// The exception and the traceback, of every attempt (a retry's too).
    Exception,
}

impl GrepField {
    pub const ALL: [GrepField; 4] = [Self::Args, Self::Kwargs, Self::Result, Self::Exception];
}

/// `--grep`: a task matches when any pattern matches any of the fields.
#[derive(Debug, Clone)]
pub struct Grep {
    pub patterns: Vec<regex::Regex>,
    pub fields: Vec<GrepField>,
}

impl Grep {
    fn matches(&self, view: &TaskView<'_>) -> bool {
        let hit =
            |text: Option<&str>| text.is_some_and(|t| self.patterns.iter().any(|p| p.is_match(t)));
        self.fields.iter().any(|f| match f {
            GrepField::Args => hit(view.record.args()),
            GrepField::Kwargs => hit(view.record.kwargs()),
            GrepField::Result => hit(view.result()),
            GrepField::Exception => view
                .attempts
                .iter()
                .any(|a| hit(a.exception()) || hit(a.traceback())),
        })
    }
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
        if !any_match(&self.names, rec.name().map(|s| state.sym(s))) {
            return false;
        }
        if !any_match(&self.workers, view.worker().map(|s| state.sym(s))) {
            return false;
        }
        if !any_match(&self.queues, rec.queue().map(|s| state.sym(s))) {
            return false;
        }
        if let Some(root) = &self.root {
            let own_root = state.root_id(rec);
            if own_root != root {
                return false;
            }
        }
        if let Some(parent) = &self.parent
            && state.parent_id(rec) != Some(parent)
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
        self.grep.as_ref().is_none_or(|g| g.matches(view))
    }
}

/// A row's sort key, computed once per row and kept small (24 bytes a row): comparing views
/// directly recomputed their times at every comparison, and a million rows of wide keys
/// cost more memory than the tasks themselves.
#[derive(Debug, Clone, Copy)]
struct Row<'s> {
    /// Time (or runtime) for time sorts; name rank or state for the others; NaN = missing.
    primary: f64,
    /// Received time, the tie-break within a name or state.
    secondary: f64,
    task: &'s TaskRecord,
}

fn row<'s>(
    sort: SortKey,
    v: &TaskView<'s>,
    name_rank: &rustc_hash::FxHashMap<crate::state::intern::Sym, u32>,
) -> Row<'s> {
    let seen = v.received_at().or_else(|| v.record.first_time());
    let primary = match sort {
        SortKey::Received => seen,
        SortKey::Started => v.started_at(),
        SortKey::Runtime => v.runtime(),
        SortKey::Name => Some(
            v.record
                .name()
                .and_then(|n| name_rank.get(&n))
                .map_or(-1.0, |&r| f64::from(r)),
        ),
        SortKey::State => Some(v.state as u8 as f64),
    };
    Row {
        primary: primary.unwrap_or(f64::NAN),
        secondary: seen.unwrap_or(f64::NAN),
        task: v.record,
    }
}

/// Newest (or longest) first; a missing time sorts after every present one.
fn by_time(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.total_cmp(&a),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => Ordering::Equal,
    }
}

fn compare(sort: SortKey, a: &Row<'_>, b: &Row<'_>) -> Ordering {
    match sort {
        SortKey::Received | SortKey::Started | SortKey::Runtime => by_time(a.primary, b.primary),
        SortKey::Name | SortKey::State => a
            .primary
            .total_cmp(&b.primary)
            .then_with(|| by_time(a.secondary, b.secondary)),
    }
}

/// Runs the query: the matching tasks in order. `horizon` is where liveness is judged (see
/// `State::horizon`). Views are built again by whoever renders the rows, one at a time, so a
/// million-row answer never holds a million views.
pub fn select<'s>(state: &'s State, query: &TaskQuery, horizon: f64) -> Vec<&'s TaskRecord> {
    // Names sort by text: rank the distinct names once instead of comparing strings per row.
    let mut name_rank = rustc_hash::FxHashMap::default();
    if query.sort == SortKey::Name {
        let mut names: Vec<_> = state.tasks().filter_map(|t| t.name()).collect();
        names.sort_unstable_by(|a, b| state.sym(*a).cmp(state.sym(*b)));
        names.dedup();
        name_rank = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i as u32))
            .collect();
    }
    let mut rows: Vec<Row<'s>> = state
        .tasks()
        .filter_map(|t| {
            let v = TaskView::new(state, t, horizon);
            query
                .matches(state, &v)
                .then(|| row(query.sort, &v, &name_rank))
        })
        .collect();
    rows.sort_by(|a, b| {
        // Rows without the sort key (never started, no runtime) stay last in both directions.
        b.primary
            .is_nan()
            .cmp(&a.primary.is_nan())
            .reverse()
            .then_with(|| {
                let ord = compare(query.sort, a, b);
                if query.reverse { ord.reverse() } else { ord }
            })
            .then_with(|| a.task.id.cmp(&b.task.id))
    });
    if let Some(n) = query.limit {
        rows.truncate(n);
    }
    rows.into_iter().map(|r| r.task).collect()
}
