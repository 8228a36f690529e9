//! Parents and children: the breadcrumb from a task up to its root, and what it spawned.

use crate::model::TaskId;
use crate::state::State;
use crate::state::task::TaskRecord;

/// Ids from the root down to (not including) `id`'s own record. A parent that was never seen
/// in the events still appears (by id), so the chain is honest about what is missing.
pub fn ancestors(state: &State, record: &TaskRecord) -> Vec<TaskId> {
    let mut chain = Vec::new();
    let mut current = state.parent_id(record).cloned();
    // Parent links come from the wire: guard against cycles and absurd depth.
    while let Some(id) = current {
        if chain.contains(&id) || id == record.id || chain.len() > 1000 {
            break;
        }
        current = state.task(&id).and_then(|t| state.parent_id(t).cloned());
        chain.push(id);
    }
    let root = state.root_id(record);
    if root != &record.id && !chain.contains(root) {
        chain.push(root.clone());
    }
    chain.reverse();
    chain
}

/// Children of one task.
pub fn children<'s>(state: &'s State, id: &TaskId) -> Vec<&'s TaskRecord> {
    let mut list: Vec<&TaskRecord> = state
        .tasks()
        .filter(|t| state.parent_id(t) == Some(id))
        .collect();
    list.sort_by(|a, b| {
        a.first_time()
            .unwrap_or(0.0)
            .total_cmp(&b.first_time().unwrap_or(0.0))
            .then(a.id.cmp(&b.id))
    });
    list
}
