//! Remote control over the broker (PROTOCOL.md §5): broadcast pidbox requests and collect
//! the workers' replies for a bounded time. Messages are built in `model::control`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::amqp::{Amqp, AmqpError};
use super::pubsub::ChannelOptions;
use super::redis::{Redis, RedisError};
use crate::model::control::{self, PIDBOX_EXCHANGE, REPLY_EXCHANGE};

/// Replies by worker, then by method.
pub type Replies = BTreeMap<String, BTreeMap<String, Value>>;

/// What a broadcast reached and what came back.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Redis: mailboxes the broadcast reached (PUBLISH's count); unknown on RabbitMQ.
    pub reached: Option<u64>,
    pub replies: Replies,
}

/// A fresh id for a reply queue or ticket (uuid4-shaped, from the OS's random source).
pub fn unique_id() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No /dev/urandom: time and pid still make it unique enough for a reply queue.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&(t ^ u128::from(std::process::id()) << 64).to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn requests(reply_key: &str) -> Vec<(String, String, Value)> {
    control::INSPECT
        .iter()
        .map(|(method, args)| {
            let ticket = unique_id();
            let args: Value = serde_json::from_str(args).unwrap_or(Value::Null);
            let body = control::request(method, args, &ticket, reply_key);
            ((*method).to_string(), ticket, body)
        })
        .collect()
}

fn file(
    replies: &mut Replies,
    tickets: &BTreeMap<String, String>,
    t: String,
    node: String,
    v: Value,
) {
    if let Some(method) = tickets.get(&t) {
        replies.entry(node).or_default().insert(method.clone(), v);
    }
}

/// `inspect` over Redis: PUBLISH to `/{db}.celery.pidbox`, replies LPUSHed by the workers
/// to our own reply list through kombu's binding set, collected with BRPOP until `timeout`.
pub fn inspect_redis(
    redis: &Redis,
    keyprefix: &str,
    timeout: Duration,
) -> Result<Inspection, RedisError> {
    let mut conn = redis.connect()?;
    let fail = |e: redis::RedisError| redis.fail(&e);
    let reply_key = unique_id();
    let queue = format!("{reply_key}.reply.celery.pidbox");
    let binding_set = format!("{keyprefix}_kombu.binding.{REPLY_EXCHANGE}");
    let member = format!("{reply_key}\x06\x16\x06\x16{queue}");
    let channel = ChannelOptions {
        global_keyprefix: keyprefix.to_string(),
        fanout_prefix: None,
        fanout_patterns: false,
        exchange: PIDBOX_EXCHANGE.to_string(),
    }
    .pattern(redis.db());
    redis::cmd("SADD")
        .arg(&binding_set)
        .arg(&member)
        .query::<()>(&mut conn)
        .map_err(fail)?;
    let now = crate::clock::wall_secs();
    let reqs = requests(&reply_key);
    let tickets: BTreeMap<String, String> = reqs
        .iter()
        .map(|(m, t, _)| (t.clone(), m.clone()))
        .collect();
    let mut reached = None;
    for (i, (_, _, body)) in reqs.iter().enumerate() {
        let env = control::redis_envelope(
            body,
            i as u64 + 1,
            now + timeout.as_secs_f64(),
            &unique_id(),
        );
        let n: u64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(env)
            .query(&mut conn)
            .map_err(fail)?;
        reached = Some(reached.map_or(n, |r: u64| r.max(n)));
    }
    let mut replies = Replies::new();
    let deadline = Instant::now() + timeout;
    let wanted = reached.unwrap_or(0) as usize * reqs.len();
    let mut got = 0;
    while got < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let popped: Option<(String, String)> = redis::cmd("BRPOP")
            .arg(&queue)
            .arg(left.as_secs_f64().max(0.01))
            .query(&mut conn)
            .map_err(fail)?;
        let Some((_, payload)) = popped else { break };
        if let Some((t, node, v)) = control::parse_reply(&payload, None) {
            file(&mut replies, &tickets, t, node, v);
            got += 1;
        }
    }
    let mut pipe = redis::pipe();
    pipe.cmd("SREM").arg(&binding_set).arg(&member).ignore();
    pipe.cmd("DEL").arg(&queue).ignore();
    pipe.query::<()>(&mut conn).map_err(fail)?;
    Ok(Inspection { reached, replies })
}

/// `inspect` over RabbitMQ: an own exclusive reply queue bound to `reply.celery.pidbox`, the
/// requests published to the `celery.pidbox` fanout, replies consumed until `timeout`.
pub fn inspect_amqp(amqp: &Amqp, timeout: Duration) -> Result<Inspection, AmqpError> {
    let reply_key = unique_id();
    let reqs = requests(&reply_key);
    let tickets: BTreeMap<String, String> = reqs
        .iter()
        .map(|(m, t, _)| (t.clone(), m.clone()))
        .collect();
    let bodies: Vec<Value> = reqs.into_iter().map(|(_, _, b)| b).collect();
    let got = amqp.broadcast_and_collect(&reply_key, &bodies, timeout)?;
    let mut replies = Replies::new();
    for (ticket, payload) in got {
        if let Some((t, node, v)) = control::parse_reply(&payload, ticket.as_deref()) {
            file(&mut replies, &tickets, t, node, v);
        }
    }
    Ok(Inspection {
        reached: None,
        replies,
    })
}

/// Builds a pidbox request; given `(ticket, reply key)` when replies are wanted.
pub type BuildRequest<'a> = dyn Fn(Option<(&str, &str)>) -> Value + 'a;

/// What a revoke broadcast reached: Redis's subscriber count, and the answers when asked for.
#[derive(Debug, Default)]
pub struct Sent {
    pub reached: Option<u64>,
    pub replies: BTreeMap<String, Value>,
}

/// Broadcasts one pidbox request over Redis; with `wait`, collects the replies meanwhile.
pub fn broadcast_redis(
    redis: &Redis,
    keyprefix: &str,
    build: &BuildRequest<'_>,
    wait: Option<Duration>,
) -> Result<Sent, RedisError> {
    let mut conn = redis.connect()?;
    let fail = |e: redis::RedisError| redis.fail(&e);
    let channel = ChannelOptions {
        global_keyprefix: keyprefix.to_string(),
        fanout_prefix: None,
        fanout_patterns: false,
        exchange: PIDBOX_EXCHANGE.to_string(),
    }
    .pattern(redis.db());
    let reply_key = unique_id();
    let ticket = unique_id();
    let queue = format!("{reply_key}.reply.celery.pidbox");
    let binding_set = format!("{keyprefix}_kombu.binding.{REPLY_EXCHANGE}");
    let member = format!("{reply_key}\x06\x16\x06\x16{queue}");
    if wait.is_some() {
        redis::cmd("SADD")
            .arg(&binding_set)
            .arg(&member)
            .query::<()>(&mut conn)
            .map_err(fail)?;
    }
    let body = build(wait.map(|_| (ticket.as_str(), reply_key.as_str())));
    let timeout = wait.unwrap_or(Duration::from_secs(1));
    let env = control::redis_envelope(
        &body,
        1,
        crate::clock::wall_secs() + timeout.as_secs_f64(),
        &unique_id(),
    );
    let reached: u64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(env)
        .query(&mut conn)
        .map_err(fail)?;
    let mut replies = BTreeMap::new();
    if let Some(wait) = wait {
        let deadline = Instant::now() + wait;
        while (replies.len() as u64) < reached {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let popped: Option<(String, String)> = redis::cmd("BRPOP")
                .arg(&queue)
                .arg(left.as_secs_f64().max(0.01))
                .query(&mut conn)
                .map_err(fail)?;
            let Some((_, payload)) = popped else { break };
            if let Some((t, node, v)) = control::parse_reply(&payload, None)
                && t == ticket
            {
                replies.insert(node, v);
            }
        }
        let mut pipe = redis::pipe();
        pipe.cmd("SREM").arg(&binding_set).arg(&member).ignore();
        pipe.cmd("DEL").arg(&queue).ignore();
        pipe.query::<()>(&mut conn).map_err(fail)?;
    }
    Ok(Sent {
        reached: Some(reached),
        replies,
    })
}

/// Broadcasts one pidbox request over RabbitMQ; with `wait`, collects the replies.
pub fn broadcast_amqp(
    amqp: &Amqp,
    build: &BuildRequest<'_>,
    wait: Option<Duration>,
) -> Result<Sent, AmqpError> {
    let reply_key = unique_id();
    let ticket = unique_id();
    let body = build(wait.map(|_| (ticket.as_str(), reply_key.as_str())));
    let got = amqp.broadcast_and_collect(&reply_key, &[body], wait.unwrap_or_default())?;
    let mut replies = BTreeMap::new();
    for (t, payload) in got {
        if let Some((t, node, v)) = control::parse_reply(&payload, t.as_deref())
            && t == ticket
        {
            replies.insert(node, v);
        }
    }
    Ok(Sent {
        reached: None,
        replies,
    })
}

/// Puts a task message on its queue over Redis (LPUSH to the queue's list, as kombu does).
pub fn publish_task_redis(
    redis: &Redis,
    keyprefix: &str,
    msg: &control::TaskMessage,
) -> Result<(), RedisError> {
    let mut conn = redis.connect()?;
    let env = msg.redis_envelope(&unique_id());
    redis::cmd("LPUSH")
        .arg(format!("{keyprefix}{}", msg.queue))
        .arg(env.to_string())
        .query::<()>(&mut conn)
        .map_err(|e| redis.fail(&e))
}
