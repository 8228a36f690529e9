//! Backlog per queue, read from the broker (docs/protocol.md §8). Redis: the queue's four priority
//! lists, in-flight messages in the `unacked` hash, kombu's binding sets, and a peek at the
//! oldest waiting message. RabbitMQ: a passive declare per queue (waiting and consumers).

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use super::amqp::{Amqp, AmqpError};
use super::redis::{Redis, RedisError};

/// kombu's separator and priority suffixes of a Redis queue's extra lists.
const PRIORITY_SEP: &str = "\x06\x16";
const PRIORITY_STEPS: [u8; 3] = [3, 6, 9];
/// Unacked messages parsed for a per-queue count at most (beyond: only the total).
const UNACKED_PARSED: u64 = 100_000;

/// What the broker says about one queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Depth {
    pub name: String,
    pub exists: bool,
    /// Messages waiting to be delivered.
    pub waiting: u64,
    /// Redis: waiting by priority list (0 = the plain list; 3, 6, 9 the others).
    pub by_priority: BTreeMap<u8, u64>,
    /// Delivered to a worker, not acknowledged yet (Redis `unacked`), when known.
    pub in_flight: Option<u64>,
    /// RabbitMQ: consumers attached.
    pub consumers: Option<u64>,
    /// Task ids of the oldest waiting message of each priority list, when they can be
    /// peeked without consuming (the caller dates them from the recording).
    pub oldest_tasks: Vec<String>,
}

/// Queue names kombu has bindings for (`_kombu.binding.<exchange>` sets).
pub fn redis_bound_queues(redis: &Redis, prefix: &str) -> Result<Vec<String>, RedisError> {
    let mut conn = redis.connect()?;
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}_kombu.binding.*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .map_err(|e| redis.fail(&e))?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut queues = BTreeSet::new();
    for key in keys {
        // Celery's own fanout exchanges (events, pidbox) bind no task queues.
        if key.ends_with(".celeryev")
            || key.ends_with(".celery.pidbox")
            || key.contains("reply.celery.pidbox")
        {
            continue;
        }
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query(&mut conn)
            .map_err(|e| redis.fail(&e))?;
        for m in members {
            if let Some(q) = m.rsplit(PRIORITY_SEP).next().filter(|q| !q.is_empty()) {
                queues.insert(q.to_string());
            }
        }
    }
    Ok(queues.into_iter().collect())
}

/// Depths of these Redis queues (`prefix` = kombu's `global_keyprefix`).
pub fn redis_depths(
    redis: &Redis,
    prefix: &str,
    names: &[String],
) -> Result<Vec<Depth>, RedisError> {
    let mut conn = redis.connect()?;
    let fail = |e: redis::RedisError| redis.fail(&e);
    let mut pipe = redis::pipe();
    for q in names {
        let base = format!("{prefix}{q}");
        pipe.cmd("EXISTS").arg(&base);
        pipe.cmd("LLEN").arg(&base);
        for p in PRIORITY_STEPS {
            pipe.cmd("LLEN").arg(format!("{base}{PRIORITY_SEP}{p}"));
        }
        // kombu LPUSHes and BRPOPs: the oldest message is the last of each list.
        pipe.cmd("LINDEX").arg(&base).arg(-1);
        for p in PRIORITY_STEPS {
            pipe.cmd("LINDEX")
                .arg(format!("{base}{PRIORITY_SEP}{p}"))
                .arg(-1);
        }
    }
    let replies: Vec<Value> = pipe.query(&mut conn).map_err(fail)?;
    let in_flight = unacked_by_queue(redis, &mut conn, prefix)?;
    let mut out = Vec::new();
    for (i, q) in names.iter().enumerate() {
        let r = &replies[i * 9..i * 9 + 9];
        let num = |v: &Value| match v {
            Value::Int(n) => (*n).max(0) as u64,
            _ => 0,
        };
        let mut by_priority = BTreeMap::new();
        by_priority.insert(0, num(&r[1]));
        for (j, p) in PRIORITY_STEPS.iter().enumerate() {
            by_priority.insert(*p, num(&r[2 + j]));
        }
        let waiting: u64 = by_priority.values().sum();
        let oldest_tasks = r[5..9]
            .iter()
            .filter_map(|v| match v {
                Value::BulkString(b) => task_id_of(&String::from_utf8_lossy(b)),
                _ => None,
            })
            .collect();
        out.push(Depth {
            name: q.clone(),
            exists: num(&r[0]) > 0 || waiting > 0,
            waiting,
            by_priority,
            in_flight: in_flight.as_ref().map(|m| m.get(q).copied().unwrap_or(0)),
            consumers: None,
            oldest_tasks,
        });
    }
    Ok(out)
}

/// In-flight messages per routing key, from the `unacked` hash (`[envelope, exchange,
/// routing key]` values); `None` when there are too many to read.
fn unacked_by_queue(
    redis: &Redis,
    conn: &mut redis::Connection,
    prefix: &str,
) -> Result<Option<BTreeMap<String, u64>>, RedisError> {
    let key = format!("{prefix}unacked");
    let n: u64 = redis::cmd("HLEN")
        .arg(&key)
        .query(conn)
        .map_err(|e| redis.fail(&e))?;
    if n > UNACKED_PARSED {
        return Ok(None);
    }
    let values: Vec<String> = redis::cmd("HVALS")
        .arg(&key)
        .query(conn)
        .map_err(|e| redis.fail(&e))?;
    let mut out = BTreeMap::new();
    for v in values {
        if let Ok((_, _, rk)) = serde_json::from_str::<(serde::de::IgnoredAny, String, String)>(&v)
        {
            *out.entry(rk).or_insert(0) += 1;
        }
    }
    Ok(Some(out))
}

/// The task id in a kombu envelope of a task message (`headers.id`, protocol 2).
fn task_id_of(envelope: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Headers {
        id: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        headers: Option<Headers>,
    }
    serde_json::from_str::<Envelope>(envelope).ok()?.headers?.id
}

/// Depths of these RabbitMQ queues: passive declares (waiting excludes unacked messages).
pub fn amqp_depths(amqp: &Amqp, names: &[String]) -> Result<Vec<Depth>, AmqpError> {
    let mut out = Vec::new();
    for (name, found) in names.iter().zip(amqp.passive_declares(names)?) {
        out.push(match found {
            Some((waiting, consumers)) => Depth {
                name: name.clone(),
                exists: true,
                waiting,
                consumers: Some(consumers),
                ..Depth::default()
            },
            None => Depth {
                name: name.clone(),
                ..Depth::default()
            },
        });
    }
    Ok(out)
}

/// One queue as RabbitMQ's management API reports it (numbers lag by its stats interval).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ManagedQueue {
    pub name: String,
    #[serde(default)]
    pub messages_ready: Option<u64>,
    #[serde(default)]
    pub messages_unacknowledged: Option<u64>,
    #[serde(default)]
    pub consumers: Option<u64>,
    /// The queue's declared arguments (`x-queue-type`, `x-max-age`, `x-max-length-bytes`).
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("the RabbitMQ management API at {url} did not answer: {reason}")]
pub struct ManagementError {
    pub url: String,
    pub reason: String,
}

/// Every queue of a virtual host, from the management API (`--management-url`, e.g.
/// `http://user:password@host:15672`).
pub fn management_queues(base: &str, vhost: &str) -> Result<Vec<ManagedQueue>, ManagementError> {
    let text = management_get(base, &format!("queues/{}", encode(vhost)))?;
    serde_json::from_str(&text)
        .map_err(|e| management_failure(base, format!("unexpected answer: {e}")))
}

/// The bindings of a queue as `(exchange, routing key)`, from the management API.
pub fn management_bindings(
    base: &str,
    vhost: &str,
    queue: &str,
) -> Result<Vec<(String, String)>, ManagementError> {
    #[derive(serde::Deserialize)]
    struct Binding {
        source: String,
        routing_key: String,
    }
    let path = format!("queues/{}/{}/bindings", encode(vhost), encode(queue));
    let text = management_get(base, &path)?;
    let list: Vec<Binding> = serde_json::from_str(&text)
        .map_err(|e| management_failure(base, format!("unexpected answer: {e}")))?;
    Ok(list
        .into_iter()
        .map(|b| (b.source, b.routing_key))
        .collect())
}

/// The RabbitMQ version the management API reports (`/api/overview`).
pub fn management_version(base: &str) -> Result<Option<String>, ManagementError> {
    let text = management_get(base, "overview")?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| management_failure(base, format!("unexpected answer: {e}")))?;
    Ok(v["rabbitmq_version"].as_str().map(str::to_string))
}

fn management_failure(base: &str, reason: String) -> ManagementError {
    ManagementError {
        url: super::url::redact(base),
        reason: super::url::redact(&reason),
    }
}

/// A path segment percent-encoded (a vhost `/` is `%2F`); the empty vhost is `/`.
fn encode(segment: &str) -> String {
    let segment = if segment.is_empty() { "/" } else { segment };
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `{base}/api/{path}` with the URL's credentials (guest:guest when it has none).
fn management_get(base: &str, path: &str) -> Result<String, ManagementError> {
    use base64::Engine as _;
    let fail = |reason: String| management_failure(base, reason);
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| fail("not an http(s) URL".into()))?;
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    let url = format!("{scheme}://{}/api/{path}", host.trim_end_matches('/'));
    let credentials = auth.unwrap_or("guest:guest");
    let req = ureq::get(&url).header(
        "Authorization",
        &format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ),
    );
    let mut response = req.call().map_err(|e| fail(e.to_string()))?;
    response
        .body_mut()
        .read_to_string()
        .map_err(|e| fail(e.to_string()))
}

/// Queues of celtrace's or Celery's own plumbing, not task queues.
pub fn is_plumbing(name: &str, stream_queue: &str) -> bool {
    name == stream_queue
        || name.starts_with("celeryev.")
        || name.starts_with("amq.gen-")
        || name.ends_with(".celery.pidbox")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_come_from_protocol_2_headers() {
        let env = r#"{"body": "W1tdLCB7fSwge31d", "headers": {"id": "t1", "task": "x"}, "properties": {}}"#;
        assert_eq!(task_id_of(env).as_deref(), Some("t1"));
        assert_eq!(task_id_of("garbage"), None);
    }
}
