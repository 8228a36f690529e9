//! `celtrace top`: a live terminal dashboard over the same core as the other commands.
//!
//! ```text
//!  source (live broker, or a recording as of a moment) ──▶ State
//!  State ──snapshot (the commands' queries)──▶ owned rows ──draw──▶ frame
//!  key ──app (pure)──▶ Effect ──commands/top.rs──▶ reload, filter, retry, revoke, quit
//! ```

pub mod app;
pub mod detail;
pub mod draw;
pub mod filter;
pub mod look;
pub mod snapshot;
pub mod source;
pub mod terminal;

#[cfg(test)]
mod tests;
