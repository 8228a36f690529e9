//! Edges that bring events in. Adapters move bytes only; decoding is `model::decode`.
//! This build reads recordings from disk or stdin ([`file`]); broker adapters (Redis streams
//! and pub/sub, RabbitMQ stream queues) plug in beside it.

pub mod backend;
pub mod file;
pub mod record;
pub mod url;
