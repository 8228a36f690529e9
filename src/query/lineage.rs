//! Parents and children: the breadcrumb from a task up to its root, and what it spawned.

use rustc_hash::FxHashMap;

use crate::model::TaskId;
use crate::state::State;
use crate::state::task::TaskRecord;

/// Ids from the root down to (not including) `id`'s own record. A parent that was never seen
/// in the events still appears (by id), so the chain is honest about what is missing.
pub fn ancestors(state: &State, record: &TaskRecord) -> Vec<TaskId> {
    let mut chain = Vec::new();
    let mut current = record.parent_id.clone();
    // Parent links come from the wire: guard against cycles and absurd depth.
    while let Some(id) = current {
        if chain.contains(&id) || id == record.id || chain.len() > 1000 {
            break;
        }
        current = state.task(&id).and_then(|t| t.parent_id.clone());
        chain.push(id);
    }
    if let Some(root) = &record.root_id
        && root != &record.id
        && !chain.contains(root)
    {
        chain.push(root.clone());
    }
    chain.reverse();
    chain
}

/// Children of every task, by parent id, each list sorted by first event time then id.
pub fn children_index(state: &State) -> FxHashMap<&TaskId, Vec<&TaskRecord>> {
    let mut map: FxHashMap<&TaskId, Vec<&TaskRecord>> = FxHashMap::default();
    for t in state.tasks() {
        if let Some(p) = &t.parent_id {
            map.entry(p).or_default().push(t);
        }
    }
    for list in map.values_mut() {
        list.sort_by(|a, b| {
            a.first_time()
                .unwrap_or(0.0)
                .total_cmp(&b.first_time().unwrap_or(0.0))
                .then(a.id.cmp(&b.id))
        });
    }
    map
}

/// Children of one task.
pub fn children<'s>(state: &'s State, id: &TaskId) -> Vec<&'s TaskRecord> {
    let mut list: Vec<&TaskRecord> = state
        .tasks()
        .filter(|t| t.parent_id.as_ref() == Some(id))
        .collect();
    list.sort_by(|a, b| {
        a.first_time()
            .unwrap_or(0.0)
            .total_cmp(&b.first_time().unwrap_or(0.0))
            .then(a.id.cmp(&b.id))
    });
    list
}
