//! The broker a command talks to, chosen once from its URL. Commands read its history
//! ([`Broker::history`], in `source/history.rs`), follow its live events ([`Broker::feed`]),
//! inspect workers, broadcast, publish and measure queues through [`Broker`]: the broker kind
//! is matched here, not in each command. Only `record` picks a recorder per broker (a Redis
//! Stream writer or a RabbitMQ stream queue) at its top.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::amqp::{Amqp, AmqpError};
use super::control::{self, BuildRequest, Inspection, Sent};
use super::pubsub::{self, ChannelOptions, Feed};
use super::queues::{self, Depth, ManagedQueue, ManagementError};
use super::redis::{Redis, RedisError};
use super::url::{BrokerKind, BrokerUrl};
use crate::model::control::TaskMessage;

/// A Redis or RabbitMQ broker.
#[derive(Clone)]
pub enum Broker {
    Redis(Redis),
    Amqp(Amqp),
}

/// What can go wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error(transparent)]
    Management(#[from] ManagementError),
}

/// Queues a broker knows of: `(name, where it was found)`, and RabbitMQ's management list.
pub type Discovered = (Vec<(String, &'static str)>, Vec<ManagedQueue>);

/// Options of a queue-depth read.
#[derive(Debug, Clone, Default)]
pub struct DepthOptions<'a> {
    /// kombu's `global_keyprefix` (Redis).
    pub keyprefix: &'a str,
    /// RabbitMQ's management API, for in-flight counts and every queue of the vhost.
    pub management_url: Option<&'a str>,
    /// The recording's own stream queue, never listed as one of Celery's.
    pub stream_queue: &'a str,
}

impl Broker {
    pub fn open(url: &BrokerUrl) -> Result<Self, BrokerError> {
        Ok(match url.kind {
            BrokerKind::Redis => Self::Redis(Redis::new(url)?),
            BrokerKind::Amqp => Self::Amqp(Amqp::new(url)),
        })
    }

    /// RabbitMQ: the stream protocol's port setting (`CELTRACE_STREAM_PORT`).
    pub fn with_stream_port(self, setting: Option<String>) -> Self {
        match self {
            Self::Amqp(mut a) => {
                a.stream_port = setting;
                Self::Amqp(a)
            }
            other => other,
        }
    }

    /// RabbitMQ: from how many messages a stream-protocol read may use two connections
    /// (`CELTRACE_STREAM_SPLIT`).
    pub fn with_stream_split(self, messages: u64) -> Self {
        match self {
            Self::Amqp(mut a) => {
                a.stream_split = messages;
                Self::Amqp(a)
            }
            other => other,
        }
    }

    /// The URL with its password hidden.
    pub fn label(&self) -> &str {
        match self {
            Self::Redis(r) => &r.label,
            Self::Amqp(a) => &a.label,
        }
    }

    /// Asks every worker the `inspect` questions over the pidbox, collecting replies until
    /// `timeout`.
    pub fn inspect(&self, keyprefix: &str, timeout: Duration) -> Result<Inspection, BrokerError> {
        self.inspect_with(keyprefix, timeout, &crate::model::control::INSPECT)
    }

    /// [`Broker::inspect`] with other questions: `(method, JSON arguments)`.
    pub fn inspect_with(
        &self,
        keyprefix: &str,
        timeout: Duration,
        methods: &[(&str, &str)],
    ) -> Result<Inspection, BrokerError> {
        Ok(match self {
            Self::Redis(r) => control::inspect_redis(r, keyprefix, timeout, methods)?,
            Self::Amqp(a) => control::inspect_amqp(a, timeout, methods)?,
        })
    }

    /// Broadcasts one pidbox request; with `wait`, collects the replies meanwhile.
    pub fn broadcast(
        &self,
        build: &BuildRequest<'_>,
        wait: Option<Duration>,
    ) -> Result<Sent, BrokerError> {
        Ok(match self {
            Self::Redis(r) => control::broadcast_redis(r, "", build, wait)?,
            Self::Amqp(a) => control::broadcast_amqp(a, build, wait)?,
        })
    }

    /// Follows the live events, sending them to `tx` until `stop` is set: `ready` once the
    /// subscription is in place (events from then on are seen), [`Feed::Lost`] and
    /// [`Feed::Back`] around a lost connection, and the failure when the first subscription
    /// fails. Blocks: run it on a thread of its own.
    pub fn feed(
        &self,
        channels: &ChannelOptions,
        tx: &SyncSender<Feed>,
        ready: SyncSender<()>,
        stop: &Arc<AtomicBool>,
    ) {
        match self {
            Self::Redis(r) => {
                let pattern = channels.pattern(r.db());
                pubsub::subscribe(r, &pattern, false, tx, stop, Some(ready));
            }
            Self::Amqp(a) => a.follow_feed(tx, ready, stop),
        }
    }

    /// Puts a task message on its queue, as a Celery client would.
    pub fn publish_task(&self, msg: &TaskMessage) -> Result<(), BrokerError> {
        match self {
            Self::Redis(r) => control::publish_task_redis(r, "", msg)?,
            Self::Amqp(a) => a.publish_task(msg)?,
        }
        Ok(())
    }

    /// Queues the broker itself knows of besides `known` (Redis: kombu's bindings; RabbitMQ:
    /// the management API's list, when given), each with where it was found.
    pub fn discover_queues(&self, opts: &DepthOptions<'_>) -> Result<Discovered, BrokerError> {
        match self {
            Self::Redis(r) => {
                let bound = queues::redis_bound_queues(r, opts.keyprefix)?;
                Ok((
                    bound.into_iter().map(|q| (q, "bindings")).collect(),
                    Vec::new(),
                ))
            }
            Self::Amqp(a) => {
                let managed = match opts.management_url {
                    Some(m) => queues::management_queues(m, &a.vhost)?,
                    None => Vec::new(),
                };
                let found = managed
                    .iter()
                    .filter(|q| !queues::is_plumbing(&q.name, opts.stream_queue))
                    .map(|q| (q.name.clone(), "management"))
                    .collect();
                Ok((found, managed))
            }
        }
    }

    /// Depth of each named queue. `consumers` (Redis, from `inspect`: consuming workers per
    /// queue) and `managed` (RabbitMQ's management list) fill what the broker's own answer
    /// lacks.
    pub fn queue_depths(
        &self,
        names: &[String],
        opts: &DepthOptions<'_>,
        consumers: Option<&BTreeMap<String, u64>>,
        managed: &[ManagedQueue],
    ) -> Result<Vec<Depth>, BrokerError> {
        let mut depths = match self {
            Self::Redis(r) => queues::redis_depths(r, opts.keyprefix, names)?,
            Self::Amqp(a) => queues::amqp_depths(a, names)?,
        };
        for d in &mut depths {
            if let (Self::Redis(_), Some(c)) = (self, consumers) {
                d.consumers = Some(c.get(&d.name).copied().unwrap_or(0));
            }
            if let Some(m) = managed.iter().find(|m| m.name == d.name) {
                d.in_flight = m.messages_unacknowledged;
            }
        }
        Ok(depths)
    }
}
