//! What result-backend records add to a flow: the `group_id` of each task (events carry none,
//! PROTOCOL.md §3.4). Records come from a recording (`celtrace.backend` lines, written by a
//! recorder that watches `celery-task-meta-*`) or from point reads of the backend; both end up
//! here as `(task id, group id)` facts.

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::model::TaskId;
use crate::state::State;

/// The `type` of a recorded backend write.
pub const BACKEND_TYPE: &str = "celtrace.backend";
/// Prefix of Celery's task result keys.
pub const META_PREFIX: &str = "celery-task-meta-";

/// Group membership known from the result backend.
#[derive(Debug, Clone, Default)]
pub struct Backend {
    /// Every task the backend has a record of, with its group (None: not in a group).
    groups: FxHashMap<TaskId, Option<TaskId>>,
}

#[derive(Deserialize)]
struct Meta {
    task_id: Option<String>,
    group_id: Option<String>,
}

impl Backend {
    /// Group ids from the `celtrace.backend` records of a state (later records win).
    pub fn from_records(state: &State) -> Self {
        let mut b = Self::default();
        for r in state
            .celtrace_records
            .iter()
            .filter(|r| &*r.type_name == BACKEND_TYPE)
        {
            let field = |name: &str| {
                r.fields
                    .iter()
                    .find(|(k, _)| &**k == name)
                    .map(|(_, v)| v.get())
            };
            let Some(value) = field("value") else {
                continue;
            };
            b.add_meta(value);
        }
        b
    }

    /// Reads one `celery-task-meta-*` value (JSON text); ignores anything else.
    pub fn add_meta(&mut self, json: &str) {
        let Ok(meta) = serde_json::from_str::<Meta>(json) else {
            return;
        };
        if let Some(task) = meta.task_id {
            self.groups.insert(
                TaskId::parse(&task),
                meta.group_id.as_deref().map(TaskId::parse),
            );
        }
    }

    pub fn group_of(&self, task: &TaskId) -> Option<&TaskId> {
        self.groups.get(task)?.as_ref()
    }

    /// Whether the backend has a record of the task (then its group, or none, is a fact).
    pub fn knows(&self, task: &TaskId) -> bool {
        self.groups.contains_key(task)
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}
