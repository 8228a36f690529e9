//! celtrace: answers "what happened?" about a Celery deployment from Celery's own events.
//!
//! ```text
//!  broker ──record──▶ recording ──source──▶ raw JSON ──decode──▶ Event ──reduce──▶ State
//!                                                                                   │
//!         render (table, timeline, JSON, NDJSON, CSV) ◀── query ◀────────────────────┘
//! ```
//!
//! Pure core (no I/O, no async, no terminal, no clock): [`model`], [`state`], [`query`].
//! Edges: [`source`] (bytes in), [`render`] (bytes out), [`ui`] (terminal), [`clock`],
//! [`ctx`] (environment), [`commands`] (one file per subcommand).

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod ctx;
pub mod error;
pub mod exit;
pub mod fuzz;
pub mod graph;
pub mod model;
pub mod query;
pub mod render;
pub mod scrub;
pub mod short_table;
pub mod source;
pub mod state;
pub mod swar;
pub mod top;
pub mod ui;
