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
    let order = |a: &Row<'_>, b: &Row<'_>| {
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
    };
    // Ids are unique, so the order is total: the first `n` picked out, then sorted, are the
    // first `n` of the whole sort, without sorting a million rows for a screenful.
    match query.limit {
        Some(0) => rows.clear(),
        Some(n) if n < rows.len() => {
            rows.select_nth_unstable_by(n - 1, order);
            rows.truncate(n);
            rows.sort_unstable_by(order);
        }
        _ => rows.sort_unstable_by(order),
    }
    rows.into_iter().map(|r| r.task).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;
    use proptest::prelude::*;

    /// A task's events: sent, then as far as `stage` goes (received, started, then succeeded
    /// or failed), at times that often tie, so the ids have to break the ties.
    fn events(i: usize, name: u8, stage: u8, t: u8) -> String {
        let id = format!("{:08x}-0000-4000-8000-{:012x}", i * 7919 % 4096, i);
        let t = 1_700_000_000.0 + f64::from(t);
        let end = if stage == 4 {
            "task-failed"
        } else {
            "task-succeeded"
        };
        let kinds = ["task-received", "task-started", end];
        let mut lines = vec![format!(
            r#"{{"type": "task-sent", "uuid": "{id}", "name": "n{name}", "timestamp": {t}}}"#
        )];
        for (k, kind) in kinds.iter().enumerate().take(usize::from(stage.min(3))) {
            let at = t + k as f64 * f64::from(name % 3);
            lines.push(format!(
                r#"{{"type": "{kind}", "uuid": "{id}", "hostname": "w@h", "timestamp": {at}, "runtime": 0.5}}"#
            ));
        }
        lines.join("\n")
    }

    proptest! {
        #[test]
        fn a_limit_keeps_the_first_rows_of_the_whole_order(
            tasks in proptest::collection::vec((0u8..4, 0u8..5, 0u8..6), 0..60),
            limit in 0usize..70,
            sort in 0usize..5,
            reverse: bool,
        ) {
            let text: Vec<String> = tasks
                .iter()
                .enumerate()
                .map(|(i, &(name, stage, t))| events(i, name, stage, t))
                .collect();
            let state = state_of(&text.join("\n"));
            let sort = [
                SortKey::Received,
                SortKey::Started,
                SortKey::Runtime,
                SortKey::Name,
                SortKey::State,
            ][sort];
            let all = TaskQuery { sort, reverse, ..TaskQuery::default() };
            let limited = TaskQuery { limit: Some(limit), ..all.clone() };
            let whole: Vec<&TaskId> = select(&state, &all, f64::INFINITY).iter().map(|t| &t.id).collect();
            let first: Vec<&TaskId> = select(&state, &limited, f64::INFINITY).iter().map(|t| &t.id).collect();
            prop_assert_eq!(whole.len(), tasks.len());
            prop_assert_eq!(&first[..], &whole[..limit.min(whole.len())]);
        }
    }
}
