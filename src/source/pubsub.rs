//! Celery's live events on Redis: PSUBSCRIBE to the event channels (docs/protocol.md §1.2–1.3) and,
//! for backend writes, to `celery-task-meta-*` (§7). A subscriber thread hands every message
//! on with the time it arrived, and reconnects with backoff when the connection breaks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::backlog::Backlog;
use super::redis::{Redis, RedisError};
use crate::clock::wall_secs;

/// kombu's Redis transport options that change the event channel names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelOptions {
    /// `global_keyprefix`, prepended to every key and channel.
    pub global_keyprefix: String,
    /// `fanout_prefix`: `None` = the default `/{db}.`; `Some("")` = none (kombu's `False`).
    pub fanout_prefix: Option<String>,
    /// `fanout_patterns`: when false, every event goes to one channel without routing key.
    pub fanout_patterns: bool,
    /// `event_exchange` (default `celeryev`).
    pub exchange: String,
}

impl ChannelOptions {
    pub fn celery_defaults() -> Self {
        Self {
            global_keyprefix: String::new(),
            fanout_prefix: None,
            fanout_patterns: true,
            exchange: "celeryev".to_string(),
        }
    }

    /// The PSUBSCRIBE pattern for the events of broker database `db`.
    pub fn pattern(&self, db: i64) -> String {
        let prefix = self
            .fanout_prefix
            .as_deref()
            .unwrap_or("/{db}.")
            .replace("{db}", &db.to_string());
        let star = if self.fanout_patterns { "/*" } else { "" };
        format!(
            "{}{prefix}{}{star}",
            self.global_keyprefix,
            glob_escape(&self.exchange)
        )
    }
}

fn glob_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// Pattern of the result backend's write notifications (not DB-prefixed, docs/protocol.md trap 20).
pub const BACKEND_PATTERN: &str = "celery-task-meta-*";

/// What a subscriber hands on.
#[derive(Debug)]
pub enum Feed {
    Message {
        channel: String,
        payload: Vec<u8>,
        received: f64,
        backend: bool,
    },
    /// The connection broke at `at`.
    Lost { at: f64, reason: String },
    /// Subscribed again at `at` after a loss at `since`; `lagged` when Redis says it dropped
    /// a slow subscriber meanwhile (INFO stats, Redis 7.2 and later).
    Back { since: f64, at: f64, lagged: bool },
    /// The first subscription failed for good.
    Failed(RedisError),
    /// The AMQP consumer failed.
    AmqpFailed(super::amqp::AmqpError),
}

/// Subscribes to `pattern` and sends every message to `tx` until `stop` is set or the
/// receiver is gone (a full channel makes the subscriber wait). See [`subscribe_with`].
pub fn subscribe(
    redis: &Redis,
    pattern: &str,
    backend: bool,
    tx: &SyncSender<Feed>,
    stop: &Arc<AtomicBool>,
    ready: Option<SyncSender<()>>,
) {
    let sub = Subscription {
        redis,
        pattern,
        backend,
        stop,
        ready,
        backlog: None,
    };
    subscribe_with(sub, &mut |feed| tx.send(feed).is_ok());
}

/// One subscriber's settings.
pub struct Subscription<'a> {
    pub redis: &'a Redis,
    pub pattern: &'a str,
    /// Messages are result-backend writes (`celery-task-meta-*`).
    pub backend: bool,
    pub stop: &'a AtomicBool,
    /// Told once the first subscription is in place.
    pub ready: Option<SyncSender<()>>,
    /// The recorder's bound: a message that does not fit is dropped and tallied there
    /// instead of handed on, so the subscriber never waits and never falls behind Redis.
    pub backlog: Option<&'a Backlog>,
}

/// Hands every message to `send` (which returns false when nobody listens any more) with
/// the time it arrived. The first connection's failure is reported as [`Feed::Failed`];
/// later ones are retried with backoff (100 ms doubling to 5 s) and reported as
/// [`Feed::Lost`] and [`Feed::Back`].
///
/// On `stop` it unsubscribes and hands on every message Redis delivered before confirming
/// (read after PUNSUBSCRIBE, they are still received events): a clean stop loses nothing.
pub fn subscribe_with(sub: Subscription<'_>, send: &mut dyn FnMut(Feed) -> bool) {
    let Subscription {
        redis,
        pattern,
        backend,
        stop,
        mut ready,
        backlog,
    } = sub;
    let mut lost_at: Option<f64> = None;
    let mut backoff = Duration::from_millis(100);
    // Redis's count of dropped slow subscribers while we were subscribed: a rise across a
    // loss means the loss was ours for falling behind.
    let mut dropped_before: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match redis.connect() {
            Ok(c) => c,
            Err(e) => {
                if lost_at.is_none() && ready.is_some() {
                    send(Feed::Failed(e));
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut pubsub = conn.as_pubsub();
        if pubsub.psubscribe(pattern).is_err()
            || pubsub
                .set_read_timeout(Some(Duration::from_millis(200)))
                .is_err()
        {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(100);
        let dropped_now = lagged_count(redis);
        if let Some(since) = lost_at.take() {
            let back = Feed::Back {
                since,
                at: wall_secs(),
                lagged: matches!((dropped_before, dropped_now), (Some(b), Some(n)) if n > b),
            };
            if !send(back) {
                return;
            }
        }
        dropped_before = dropped_now;
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                // Messages that arrive before the confirmation are queued by the client;
                // after it, nothing more comes and the read times out.
                if pubsub.punsubscribe(pattern).is_ok() {
                    while let Ok(msg) = pubsub.get_message() {
                        if !pass(msg, backend, backlog, send) {
                            return;
                        }
                    }
                }
                return;
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    if !pass(msg, backend, backlog, send) {
                        return;
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => {
                    let at = wall_secs();
                    lost_at = Some(at);
                    let lost = Feed::Lost {
                        at,
                        reason: super::url::redact(&e.to_string()),
                    };
                    if !send(lost) {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Hands one message on, unless the backlog is full (then it is tallied there).
fn pass(
    msg: redis::Msg,
    backend: bool,
    backlog: Option<&Backlog>,
    send: &mut dyn FnMut(Feed) -> bool,
) -> bool {
    let payload = msg.get_payload_bytes().to_vec();
    let received = wall_secs();
    if let Some(b) = backlog {
        let admitted = b.admit(payload.len() as u64, received, || {
            crate::model::split::count_events(&String::from_utf8_lossy(&payload))
        });
        if !admitted {
            return true;
        }
    }
    send(Feed::Message {
        channel: msg.get_channel_name().to_string(),
        payload,
        received,
        backend,
    })
}

/// Redis's count of clients it dropped for output buffer limits (INFO stats), if it says.
fn lagged_count(redis: &Redis) -> Option<u64> {
    let mut conn = redis.connect().ok()?;
    let info: String = redis::cmd("INFO").arg("stats").query(&mut conn).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("client_output_buffer_limit_disconnections:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_patterns_follow_kombu_options() {
        let mut o = ChannelOptions::celery_defaults();
        assert_eq!(o.pattern(0), "/0.celeryev/*");
        assert_eq!(o.pattern(5), "/5.celeryev/*");
        o.global_keyprefix = "pfx:".into();
        assert_eq!(o.pattern(5), "pfx:/5.celeryev/*");
        o.fanout_prefix = Some(String::new());
        assert_eq!(o.pattern(5), "pfx:celeryev/*");
        o.fanout_patterns = false;
        assert_eq!(o.pattern(1), "pfx:celeryev");
        o.fanout_prefix = Some("{db}-x/".into());
        o.exchange = "ev*".into();
        assert_eq!(o.pattern(2), "pfx:2-x/ev\\*");
    }
}
