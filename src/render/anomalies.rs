//! `anomalies` output: a list for people, or JSON.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use super::fmt::{clock_time, rfc3339};
use super::schema::DiagnosticsJson;
use super::{ListFormat, RenderCtx};
use crate::query::anomalies::{Anomaly, Severity, Thresholds};
use crate::source::file::LoadReport;

/// Task ids shown per finding before "and N more".
const IDS_SHOWN: usize = 5;

pub fn text(
    found: &[Anomaly],
    horizon: f64,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    if found.is_empty() {
        writeln!(out, "No anomalies found.")?;
        return super::fmt::as_of_footer(horizon, ctx, out);
    }
    let st = &ctx.styles;
    for (i, a) in found.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let sev = match a.severity {
            Severity::Error => "error".style(st.state_failure).to_string(),
            Severity::Warning => "warning".style(st.state_retry).to_string(),
        };
        writeln!(out, "{sev}[{}]: {}", a.rule, a.summary)?;
        if let Some(at) = a.at {
            writeln!(
                out,
                "  {} {}",
                "at:".style(st.label),
                clock_time(at, ctx.zone, ctx.now)
            )?;
        }
        if let Some(w) = &a.worker {
            writeln!(out, "  {} {w}", "worker:".style(st.label))?;
        }
        if !a.tasks.is_empty() {
            let mut ids = a.tasks.iter().take(IDS_SHOWN).cloned().collect::<Vec<_>>();
            if a.tasks.len() > IDS_SHOWN {
                let more = if ctx.ascii { "..." } else { "…" };
                ids.push(format!("{more} and {} more", a.tasks.len() - IDS_SHOWN));
            }
            writeln!(out, "  {} {}", "tasks:".style(st.label), ids.join(", "))?;
        }
        writeln!(out, "  {} {}", "help:".style(st.muted), a.help)?;
    }
    let errors = found
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .count();
    writeln!(out)?;
    let count = crate::render::fmt::count;
    writeln!(
        out,
        "{}: {}, {}",
        count(found.len(), "finding"),
        count(errors, "error"),
        count(found.len() - errors, "warning")
    )?;
    super::fmt::as_of_footer(horizon, ctx, out)
}

#[derive(Serialize)]
struct Doc<'r> {
    as_of: Option<String>,
    thresholds: ThresholdsJson,
    count: usize,
    anomalies: Vec<AnomalyJson<'r>>,
    diagnostics: DiagnosticsJson<'r>,
}

#[derive(Serialize)]
struct ThresholdsJson {
    stuck_in_queue: f64,
    not_started: f64,
    not_finished: f64,
    retry_storm: u32,
    flapping_sessions: usize,
    flapping_window: f64,
    lost_after_intervals: f64,
    spike_window: f64,
    spike_failures: usize,
    slow_factor: f64,
    slow_samples: usize,
    chord_grace: f64,
    /// `--sla` and the profile's: `GLOB=SECONDS` (runtime) or `GLOB=wait:SECONDS`.
    sla: Vec<String>,
}

#[derive(Serialize)]
struct AnomalyJson<'r> {
    rule: &'static str,
    severity: &'static str,
    summary: &'r str,
    at: Option<String>,
    worker: Option<&'r str>,
    tasks: &'r [String],
    help: &'static str,
}

/// CSV columns, in order (docs/json.md).
pub const CSV_COLUMNS: [&str; 7] = [
    "rule", "severity", "summary", "at", "worker", "tasks", "help",
];

/// JSON, NDJSON (an `anomaly` record per finding) or CSV.
pub fn machine(
    format: ListFormat,
    found: &[Anomaly],
    horizon: f64,
    t: &Thresholds,
    report: &LoadReport,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = Doc {
        as_of: rfc3339(horizon),
        thresholds: ThresholdsJson {
            stuck_in_queue: t.stuck_in_queue,
            not_started: t.not_started,
            not_finished: t.not_finished,
            retry_storm: t.retry_storm,
            flapping_sessions: t.flapping_sessions,
            flapping_window: t.flapping_window,
            lost_after_intervals: t.lost_factor,
            spike_window: t.spike_window,
            spike_failures: t.spike_failures,
            slow_factor: t.slow_factor,
            slow_samples: t.slow_samples,
            chord_grace: t.chord_grace,
            sla: t
                .sla
                .iter()
                .map(|s| match s.kind {
                    crate::query::anomalies::SlaKind::Runtime => {
                        format!("{}={}", s.names.as_str(), s.limit)
                    }
                    crate::query::anomalies::SlaKind::Wait => {
                        format!("{}=wait:{}", s.names.as_str(), s.limit)
                    }
                })
                .collect(),
        },
        count: found.len(),
        anomalies: found
            .iter()
            .map(|a| AnomalyJson {
                rule: a.rule,
                severity: a.severity.as_str(),
                summary: &a.summary,
                at: a.at.and_then(rfc3339),
                worker: a.worker.as_deref(),
                tasks: &a.tasks,
                help: a.help,
            })
            .collect(),
        diagnostics: DiagnosticsJson::new(report),
    };
    match format {
        ListFormat::Table | ListFormat::Json => {
            super::envelope::json(out, "anomalies", ctx.now, &doc)
        }
        ListFormat::Ndjson => {
            let end = serde_json::json!({
                "as_of": doc.as_of,
                "thresholds": doc.thresholds,
                "diagnostics": doc.diagnostics,
            });
            super::envelope::ndjson(out, "anomalies", ctx.now, "anomaly", &doc.anomalies, &end)
        }
        ListFormat::Csv => super::envelope::csv(out, &CSV_COLUMNS, &doc.anomalies),
    }
}
