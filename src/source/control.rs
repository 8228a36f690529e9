//! Remote control over the broker (docs/protocol.md §5): broadcast pidbox requests and collect
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

fn requests(reply_key: &str, methods: &[(&str, &str)]) -> Vec<(String, String, Value)> {
    methods
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

/// A reply address on Redis (docs/protocol.md §5.2): workers LPUSH replies to our own list,
/// which they find through kombu's binding set for `reply.celery.pidbox`.
struct RedisMailbox<'r> {
    redis: &'r Redis,
    conn: redis::Connection,
    channel: String,
    reply_key: String,
    queue: String,
    binding_set: String,
    member: String,
    bound: bool,
}

impl<'r> RedisMailbox<'r> {
    fn open(redis: &'r Redis, keyprefix: &str) -> Result<Self, RedisError> {
        let reply_key = unique_id();
        let queue = format!("{reply_key}.reply.celery.pidbox");
        Ok(Self {
            conn: redis.connect()?,
            channel: ChannelOptions {
                global_keyprefix: keyprefix.to_string(),
                fanout_prefix: None,
                fanout_patterns: false,
                exchange: PIDBOX_EXCHANGE.to_string(),
            }
            .pattern(redis.db()),
            binding_set: format!("{keyprefix}_kombu.binding.{REPLY_EXCHANGE}"),
            member: format!("{reply_key}\x06\x16\x06\x16{queue}"),
            reply_key,
            queue,
            redis,
            bound: false,
        })
    }

    /// Registers the reply list, so the workers' replies reach it.
    fn bind(&mut self) -> Result<(), RedisError> {
        redis::cmd("SADD")
            .arg(&self.binding_set)
            .arg(&self.member)
            .query::<()>(&mut self.conn)
            .map_err(|e| self.redis.fail(&e))?;
        self.bound = true;
        Ok(())
    }

    /// PUBLISHes a request; the number of worker mailboxes that got it.
    fn publish(&mut self, body: &Value, clock: u64, expires: f64) -> Result<u64, RedisError> {
        let env = control::redis_envelope(body, clock, expires, &unique_id());
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(env)
            .query(&mut self.conn)
            .map_err(|e| self.redis.fail(&e))
    }

    /// Hands every reply `(ticket, node, result)` to `take` until `deadline`, or until
    /// `take` has counted `wanted` of them.
    fn collect(
        &mut self,
        deadline: Instant,
        wanted: usize,
        take: &mut dyn FnMut(String, String, Value) -> bool,
    ) -> Result<(), RedisError> {
        let mut got = 0;
        while got < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let popped: Option<(String, String)> = redis::cmd("BRPOP")
                .arg(&self.queue)
                .arg(left.as_secs_f64().max(0.01))
                .query(&mut self.conn)
                .map_err(|e| self.redis.fail(&e))?;
            let Some((_, payload)) = popped else { break };
            if let Some((t, node, v)) = control::parse_reply(&payload, None)
                && take(t, node, v)
            {
                got += 1;
            }
        }
        Ok(())
    }

    /// Removes the reply list and its binding.
    fn close(mut self) -> Result<(), RedisError> {
        if !self.bound {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.cmd("SREM")
            .arg(&self.binding_set)
            .arg(&self.member)
            .ignore();
        pipe.cmd("DEL").arg(&self.queue).ignore();
        pipe.query::<()>(&mut self.conn)
            .map_err(|e| self.redis.fail(&e))
    }
}

/// `inspect` over Redis: the requests PUBLISHed to `/{db}.celery.pidbox`, replies collected
/// from our own reply list until `timeout`.
pub fn inspect_redis(
    redis: &Redis,
    keyprefix: &str,
    timeout: Duration,
    methods: &[(&str, &str)],
) -> Result<Inspection, RedisError> {
    let mut mailbox = RedisMailbox::open(redis, keyprefix)?;
    mailbox.bind()?;
    let reqs = requests(&mailbox.reply_key, methods);
    let tickets: BTreeMap<String, String> = reqs
        .iter()
        .map(|(m, t, _)| (t.clone(), m.clone()))
        .collect();
    let expires = crate::clock::wall_secs() + timeout.as_secs_f64();
    let mut reached = None;
    for (i, (_, _, body)) in reqs.iter().enumerate() {
        let n = mailbox.publish(body, i as u64 + 1, expires)?;
        reached = Some(reached.map_or(n, |r: u64| r.max(n)));
    }
    let mut replies = Replies::new();
    let wanted = reached.unwrap_or(0) as usize * reqs.len();
    mailbox.collect(Instant::now() + timeout, wanted, &mut |t, node, v| {
        file(&mut replies, &tickets, t, node, v);
        true
    })?;
    mailbox.close()?;
    Ok(Inspection { reached, replies })
}

/// `inspect` over RabbitMQ: an own exclusive reply queue bound to `reply.celery.pidbox`, the
/// requests published to the `celery.pidbox` fanout, replies consumed until `timeout`.
pub fn inspect_amqp(
    amqp: &Amqp,
    timeout: Duration,
    methods: &[(&str, &str)],
) -> Result<Inspection, AmqpError> {
    let reply_key = unique_id();
    let reqs = requests(&reply_key, methods);
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
    let mut mailbox = RedisMailbox::open(redis, keyprefix)?;
    let ticket = unique_id();
    if wait.is_some() {
        mailbox.bind()?;
    }
    let body = build(wait.map(|_| (ticket.as_str(), mailbox.reply_key.as_str())));
    let timeout = wait.unwrap_or(Duration::from_secs(1));
    let reached = mailbox.publish(&body, 1, crate::clock::wall_secs() + timeout.as_secs_f64())?;
    let mut replies = BTreeMap::new();
    if let Some(wait) = wait {
        mailbox.collect(
            Instant::now() + wait,
            reached as usize,
            &mut |t, node, v| {
                let ours = t == ticket;
                if ours {
                    replies.insert(node, v);
                }
                ours
            },
        )?;
    }
    mailbox.close()?;
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
