//! What result-backend records add to a flow: the `group_id` of each task (events carry none,
//! docs/protocol.md §3.4). Records come from a recording (`celtrace.backend` lines, written by a
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

/// One task's record in the result backend (`celery-task-meta-<id>`, docs/protocol.md §7): real
/// JSON where events only have truncated Python reprs. `name`, `args`, `kwargs`, `worker`,
/// `retries` and `queue` are there only with `result_extended = True`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
pub struct TaskMeta {
    pub task_id: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
    pub traceback: Option<String>,
    pub date_done: Option<String>,
    pub group_id: Option<String>,
    pub parent_id: Option<String>,
    /// Ids of the children the backend lists (its result tuples flattened to ids).
    #[serde(default, deserialize_with = "child_ids")]
    pub children: Vec<String>,
    pub name: Option<String>,
    pub args: Option<serde_json::Value>,
    pub kwargs: Option<serde_json::Value>,
    pub worker: Option<String>,
    pub retries: Option<u64>,
    pub queue: Option<String>,
}

/// Children are result tuples `[[id, parent], null]` (or nested group results): every id.
fn child_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        let serde_json::Value::Array(items) = v else {
            return;
        };
        // `[id, parent]`: the first string is the id.
        if let Some(serde_json::Value::String(id)) = items.first() {
            if !out.contains(id) {
                out.push(id.clone());
            }
        } else {
            items.iter().for_each(|i| walk(i, out));
        }
    }
    let v = serde_json::Value::deserialize(d)?;
    let mut out = Vec::new();
    if let serde_json::Value::Array(items) = &v {
        items.iter().for_each(|i| walk(i, &mut out));
    }
    Ok(out)
}

impl TaskMeta {
    /// Parses a stored value; `None` if it is not a task record.
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str::<Self>(json)
            .ok()
            .filter(|m| m.task_id.is_some() || m.status.is_some())
    }

    /// The newest recorded record of `task` among a state's `celtrace.backend` records.
    pub fn recorded(state: &State, task: &TaskId) -> Option<Self> {
        let key = format!("{META_PREFIX}{task}");
        state
            .celtrace_records
            .iter()
            .filter(|r| &*r.type_name == BACKEND_TYPE)
            .filter(|r| {
                r.fields
                    .iter()
                    .any(|(k, v)| &**k == "key" && v.get().trim_matches('"') == key)
            })
            .filter_map(|r| {
                let value = r.fields.iter().find(|(k, _)| &**k == "value")?.1.get();
                Self::parse(value)
            })
            .next_back()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_records_give_real_json_and_child_ids() {
        let json = r#"{"status": "SUCCESS", "result": [1, {"token": "t"}], "traceback": null,
            "children": [[["c1", null], null], [["g1", null], [[["c2", null], null]]]],
            "date_done": "2026-11-22T07:47:11.023+00:00", "task_id": "t1", "group_id": "g0",
            "name": "shop.charge", "args": [2, {"card": {"token": "tok"}}], "kwargs": {"password": "x"},
            "worker": "w1@h", "retries": 1, "queue": "celery"}"#;
        let m = TaskMeta::parse(json).unwrap();
        assert_eq!(m.children, ["c1", "g1", "c2"]);
        assert_eq!(
            m.args,
            Some(serde_json::json!([2, {"card": {"token": "tok"}}]))
        );
        let s = TaskMeta::parse(&crate::scrub::Policy::default().json_text(json)).unwrap();
        assert_eq!(s.args, Some(serde_json::json!([2, {"card": "[Filtered]"}])));
        assert_eq!(
            s.kwargs,
            Some(serde_json::json!({"password": "[Filtered]"}))
        );
        assert_eq!(s.result, serde_json::json!([1, {"token": "[Filtered]"}]));
        assert!(TaskMeta::parse("[1, 2]").is_none());
        assert!(TaskMeta::parse("{}").is_none());
    }
}
