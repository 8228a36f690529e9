//! `errors`: patterns of failures and retries as a table, JSON, NDJSON or CSV.

use std::io::{self, Write};

use comfy_table::Cell;
use serde::Serialize;

use super::fmt::{clock_time, rfc3339};
use super::schema::DiagnosticsJson;
use super::{ListFormat, RenderCtx};
use crate::query::errors::{ErrorPattern, buckets};
use crate::source::file::LoadReport;

/// Cells of the trend column.
const TREND: usize = 20;

fn top(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = v
        .iter()
        .take(3)
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    match v.len() {
        n if n > 3 => format!("{}, +{} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// The range every trend is drawn over: all occurrences' first to last.
fn range(rows: &[ErrorPattern]) -> (f64, f64) {
    rows.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.first), hi.max(p.last))
        })
}

fn kind(p: &ErrorPattern) -> String {
    match (p.failures, p.retries) {
        (f, 0) => format!("{f} failed"),
        (0, r) => format!("{r} retried"),
        (f, r) => format!("{f} failed, {r} retried"),
    }
}

fn by_label(p: &ErrorPattern, ctx: &RenderCtx, hour: bool) -> String {
    match (&p.by, hour) {
        (Some(h), true) => h
            .parse::<f64>()
            .map_or_else(|_| h.clone(), |t| clock_time(t, ctx.zone, ctx.now)),
        (Some(b), false) => b.clone(),
        (None, _) => String::new(),
    }
}

pub fn table(
    rows: &[ErrorPattern],
    by: Option<&str>,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    use super::table::Fit::{Cut, Extra, Whole};
    if rows.is_empty() {
        return writeln!(out, "No failures or retries match.");
    }
    let (lo, hi) = range(rows);
    let mut headers = vec![("PATTERN".to_string(), Cut)];
    if let Some(by) = by {
        headers.push((by.to_uppercase(), Cut));
    }
    headers.extend([
        ("COUNT".to_string(), Whole),
        ("KIND".to_string(), Whole),
        ("FIRST".to_string(), Extra),
        ("LAST".to_string(), Whole),
        ("TASKS".to_string(), Cut),
        ("WORKERS".to_string(), Extra),
        ("TREND".to_string(), Whole),
        ("SAMPLE".to_string(), Extra),
    ]);
    let mut t = super::table::new(ctx, &headers);
    for p in rows {
        let mut cells = vec![super::table::text(ctx, &p.pattern)];
        if by.is_some() {
            cells.push(super::table::text(
                ctx,
                &by_label(p, ctx, by == Some("hour")),
            ));
        }
        let spark = super::stats::sparkline(&buckets(&p.times, lo, hi, TREND), ctx.ascii);
        cells.extend([
            Cell::new(p.count()),
            Cell::new(kind(p)),
            Cell::new(clock_time(p.first, ctx.zone, ctx.now)),
            Cell::new(clock_time(p.last, ctx.zone, ctx.now)),
            super::table::text(ctx, &top(&p.names)),
            super::table::text(ctx, &top(&p.workers)),
            Cell::new(spark),
            Cell::new(p.samples.first().map_or("", |s| s.get(..8).unwrap_or(s))),
        ]);
        t.add_row(cells);
    }
    t.write(out)
}

#[derive(Serialize)]
struct PatternJson<'r> {
    pattern: &'r str,
    exc_type: &'r str,
    example: &'r str,
    by: Option<&'r str>,
    count: usize,
    failures: usize,
    retries: usize,
    first_at: Option<String>,
    last_at: Option<String>,
    names: &'r std::collections::BTreeMap<String, usize>,
    workers: &'r std::collections::BTreeMap<String, usize>,
    samples: &'r [String],
    trend: Vec<usize>,
}

#[derive(Serialize)]
struct Doc<'r> {
    by: Option<&'r str>,
    trend: TrendJson,
    count: usize,
    patterns: Vec<PatternJson<'r>>,
    diagnostics: DiagnosticsJson<'r>,
}

#[derive(Serialize)]
struct TrendJson {
    start: Option<String>,
    end: Option<String>,
    buckets: usize,
}

/// CSV columns, in order (docs/json.md).
pub const CSV_COLUMNS: [&str; 11] = [
    "pattern", "exc_type", "by", "count", "failures", "retries", "first_at", "last_at", "names",
    "workers", "samples",
];

/// JSON, NDJSON (a `pattern` record per row) or CSV.
pub fn machine(
    format: ListFormat,
    rows: &[ErrorPattern],
    by: Option<&str>,
    report: &LoadReport,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (lo, hi) = range(rows);
    let patterns: Vec<PatternJson<'_>> = rows
        .iter()
        .map(|p| PatternJson {
            pattern: &p.pattern,
            exc_type: &p.exc_type,
            example: &p.example,
            by: p.by.as_deref(),
            count: p.count(),
            failures: p.failures,
            retries: p.retries,
            first_at: rfc3339(p.first),
            last_at: rfc3339(p.last),
            names: &p.names,
            workers: &p.workers,
            samples: &p.samples,
            trend: buckets(&p.times, lo, hi, TREND),
        })
        .collect();
    let doc = Doc {
        by,
        trend: TrendJson {
            start: rows.first().and_then(|_| rfc3339(lo)),
            end: rows.first().and_then(|_| rfc3339(hi)),
            buckets: TREND,
        },
        count: patterns.len(),
        patterns,
        diagnostics: DiagnosticsJson::new(report),
    };
    match format {
        ListFormat::Table | ListFormat::Json => super::envelope::json(out, "errors", ctx.now, &doc),
        ListFormat::Ndjson => {
            let end = serde_json::json!({
                "by": doc.by,
                "trend": doc.trend,
                "diagnostics": doc.diagnostics,
            });
            super::envelope::ndjson(out, "errors", ctx.now, "pattern", &doc.patterns, &end)
        }
        ListFormat::Csv => super::envelope::csv(out, &CSV_COLUMNS, &doc.patterns),
    }
}
