//! Edges that bring events in. Adapters move bytes only; decoding is `model::decode`.
//! Recordings come from disk or stdin ([`file`]) or from a Redis Stream kept by `celtrace
//! record` ([`stream`], written by [`writer`]); live events from Redis pub/sub ([`pubsub`]).

pub mod amqp;
pub mod backend;
pub mod backlog;
pub mod broker;
pub mod control;
pub mod file;
pub mod history;
pub mod live;
pub mod pubsub;
pub mod queue_flow;
pub mod queues;
pub mod record;
pub mod recorded;
pub mod redis;
pub mod stream;
pub mod url;
pub mod writer;
