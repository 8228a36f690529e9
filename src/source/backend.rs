//! Point reads of the Redis result backend: `celery-task-meta-<id>` values for a set of task
//! ids, in batches (one MGET per thousand ids, never one round trip per task).

use std::time::Duration;

use crate::model::TaskId;

use super::url::{BrokerKind, BrokerUrl};

/// Ids per MGET.
const BATCH: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach the result backend at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the result backend {url} is not Redis; celtrace reads Redis result backends")]
    Unsupported { url: String },
}

fn failure(url: &BrokerUrl) -> impl Fn(redis::RedisError) -> BackendError + '_ {
    move |e| BackendError::Unreachable {
        url: url.redacted(),
        // Messages from the client can echo the URL: never let a password through.
        reason: super::url::redact(&e.to_string()),
    }
}

fn connect(url: &BrokerUrl) -> Result<redis::Connection, BackendError> {
    let fail = failure(url);
    if url.kind != BrokerKind::Redis || url.scheme == "rediss" {
        return Err(BackendError::Unsupported {
            url: url.redacted(),
        });
    }
    let client = redis::Client::open(url.expose()).map_err(&fail)?;
    let conn = client.get_connection_with_timeout(TIMEOUT).map_err(&fail)?;
    conn.set_read_timeout(Some(TIMEOUT)).map_err(&fail)?;
    Ok(conn)
}

/// Chords still waiting for header tasks: for each group id whose chord size key
/// (`celery-taskset-meta-<gid>.s`, kept only while the chord runs) exists, its size and how
/// many header tasks have reported (`.j`).
pub fn read_pending_chords(
    url: &BrokerUrl,
    group_ids: &[String],
) -> Result<Vec<(String, u64, u64)>, BackendError> {
    let fail = failure(url);
    let mut conn = connect(url)?;
    let mut out = Vec::new();
    for gid in group_ids {
        let key = format!("celery-taskset-meta-{gid}");
        let size: Option<u64> = redis::cmd("GET")
            .arg(format!("{key}.s"))
            .query(&mut conn)
            .map_err(&fail)?;
        if let Some(size) = size {
            let reported: u64 = redis::cmd("ZCARD")
                .arg(format!("{key}.j"))
                .query(&mut conn)
                .map_err(&fail)?;
            out.push((gid.clone(), size, reported));
        }
    }
    Ok(out)
}

/// The stored JSON of each task that has a result key (missing keys are skipped).
pub fn read_metas(url: &BrokerUrl, ids: &[TaskId]) -> Result<Vec<String>, BackendError> {
    let fail = failure(url);
    let mut conn = connect(url)?;
    let mut out = Vec::new();
    for batch in ids.chunks(BATCH) {
        let keys: Vec<String> = batch
            .iter()
            .map(|id| format!("celery-task-meta-{id}"))
            .collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query(&mut conn)
            .map_err(&fail)?;
        out.extend(values.into_iter().flatten());
    }
    Ok(out)
}
