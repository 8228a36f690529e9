//! Renderers: (data, [`RenderCtx`]) → bytes into a `&mut dyn Write`. They never read the
//! environment or the terminal; every decision arrives in the context.

pub mod anomalies;
pub mod diff;
pub mod envelope;
pub mod errors;
pub mod fmt;
pub mod graph;
pub mod otlp;
pub mod schema;
pub mod show;
pub mod stats;
pub mod styles;
pub mod table;
pub mod tail;
pub mod tasks;
pub mod workers;

use chrono::{DateTime, Utc};

pub use fmt::Zone;
pub use styles::Styles;

/// Everything a renderer may depend on besides its data.
#[derive(Debug, Clone)]
pub struct RenderCtx {
    pub styles: Styles,
    pub zone: Zone,
    pub now: DateTime<Utc>,
    /// Table width; `None` lets tables take what they need.
    pub width: Option<u16>,
    /// `--ascii`: no box-drawing or other non-ASCII decoration.
    pub ascii: bool,
    /// `--wide`: tables are never fitted to the width; every cell is shown in full.
    pub wide: bool,
    /// `--at`: the moment the data is shown as of (epoch seconds).
    pub at: Option<f64>,
}

impl RenderCtx {
    /// The same settings, showing the data as of `at` (`--at`).
    pub fn at(self, at: Option<f64>) -> Self {
        Self { at, ..self }
    }
}

impl RenderCtx {
    /// No colour, UTC, a fixed clock and width: for renderer tests.
    #[cfg(test)]
    pub fn plain_for_tests(width: u16) -> Self {
        Self {
            styles: Styles::plain(),
            zone: Zone::Utc,
            now: DateTime::<Utc>::from_timestamp(1_795_333_620, 0).unwrap_or_default(),
            width: Some(width),
            ascii: false,
            wide: false,
            at: None,
        }
    }
}

/// Output formats of list-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ListFormat {
    /// A table for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// JSON Lines: a `begin` record, one record per item, an `end` record.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
}

/// Output formats of `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowFormat {
    /// Header, timeline, arguments, result, traceback, lineage, children.
    #[default]
    Text,
    /// One JSON document with the same content.
    Json,
}

#[cfg(test)]
mod tests;
