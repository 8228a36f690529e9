//! Queries over [`State`](crate::state::State): filters, sorting, id resolution, lineage.
//! Pure: `now` and the horizon are arguments.

pub mod anomalies;
pub mod doctor;
pub mod errors;
pub mod lineage;
pub mod stats;
pub mod tail;
pub mod tasks;
#[cfg(test)]
pub(crate) mod testing;
pub mod time;
pub mod workers;

use crate::model::TaskId;
use crate::model::id::{self, Lookup};

/// `1 task`, `2 tasks`: a count with its noun (English plurals by `s`), for summaries and
/// tables alike.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
use crate::state::State;

/// Why a typed id could not be resolved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error("no task matches `{0}`")]
    NotFound(String),
    #[error("`{typed}` matches {} tasks", candidates.len())]
    Ambiguous {
        typed: String,
        candidates: Vec<String>,
    },
    #[error("`{0}` is too short: type at least {min} characters of the id", min = id::MIN_PREFIX)]
    TooShort(String),
}

/// Resolves a full id or unique prefix among the tasks of `state`.
pub fn resolve_task<'s>(state: &'s State, typed: &str) -> Result<&'s TaskId, ResolveError> {
    resolve_among(state.tasks().map(|t| &t.id), typed)
}

/// Resolves a full id or unique prefix among any set of ids.
pub fn resolve_among<'a>(
    ids: impl Iterator<Item = &'a TaskId>,
    typed: &str,
) -> Result<&'a TaskId, ResolveError> {
    match id::lookup(ids, typed) {
        Lookup::Found(id) => Ok(id),
        Lookup::NotFound => Err(ResolveError::NotFound(typed.to_string())),
        Lookup::TooShort => Err(ResolveError::TooShort(typed.to_string())),
        Lookup::Ambiguous(c) => Err(ResolveError::Ambiguous {
            typed: typed.to_string(),
            candidates: c.iter().map(ToString::to_string).collect(),
        }),
    }
}
