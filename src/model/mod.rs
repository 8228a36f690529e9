//! Celery's domain types and decoding. Pure: no I/O, no clock, no terminal.

pub mod control;
pub mod decode;
pub mod encode;
pub mod event;
mod fast;
pub mod id;
pub mod repr;
pub mod split;
pub mod task_state;

pub use event::{Event, EventKind};
pub use id::TaskId;
pub use task_state::TaskState;
