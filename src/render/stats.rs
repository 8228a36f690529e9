//! `stats` output: a table with an optional sparkline column, or JSON.

use std::io::{self, Write};

use comfy_table::Cell;
use owo_colors::OwoColorize;
use serde::Serialize;

use super::fmt::{clock_time, duration, rfc3339};
use super::schema::DiagnosticsJson;
use super::{ListFormat, RenderCtx};
use crate::query::stats::{Axis, Percentiles, StatsRow};
use crate::source::file::LoadReport;

/// Widest sparkline; longer series are summed into this many cells.
const SPARK_WIDTH: usize = 40;

/// A sparkline of counts, scaled to the largest; `ascii` uses plain characters.
pub fn sparkline(counts: &[usize], ascii: bool) -> String {
    let cells: Vec<usize> = if counts.len() > SPARK_WIDTH {
        let per = counts.len().div_ceil(SPARK_WIDTH);
        counts.chunks(per).map(|c| c.iter().sum()).collect()
    } else {
        counts.to_vec()
    };
    let bars: &[char] = if ascii {
        &[' ', '.', ':', '-', '=', '+', '*', '#']
    } else {
        &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']
    };
    let top = cells.iter().copied().max().unwrap_or(0).max(1);
    cells
        .iter()
        .map(|&c| {
            if c == 0 {
                if ascii { ' ' } else { '·' }
            } else {
                let i = ((c as f64 / top as f64) * (bars.len() - 1) as f64).round() as usize;
                bars[i.clamp(1, bars.len() - 1)]
            }
        })
        .collect()
}

fn dur(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), duration)
}

pub fn table(
    rows: &[StatsRow],
    axis: Option<Axis>,
    label: &str,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No tasks in range.");
    }
    use super::table::Fit::{Cut, Extra, Whole};
    let mut headers = vec![
        // Time slices are read whole; names are cut.
        (
            label.to_uppercase(),
            if matches!(label, "hour" | "time") {
                Whole
            } else {
                Cut
            },
        ),
        ("TASKS".into(), Whole),
        ("OK%".into(), Whole),
        ("FAILED".into(), Whole),
        ("OTHER".into(), Extra),
        ("RUN P50".into(), Whole),
        ("P90".into(), Extra),
        ("P99".into(), Whole),
        ("MAX".into(), Extra),
        ("WAIT P50".into(), Extra),
        ("WAIT P99".into(), Whole),
        ("RETRIES".into(), Extra),
    ];
    if let Some(ax) = axis {
        let width = std::time::Duration::from_secs_f64(ax.width);
        headers.push((format!("PER {}", humantime::format_duration(width)), Whole));
    }
    let mut t = super::table::new(ctx, &headers);
    for r in rows {
        let failed = r.by_state.get("FAILURE").copied().unwrap_or(0);
        let ok = r.by_state.get("SUCCESS").copied().unwrap_or(0);
        let rate = r
            .success_rate
            .map_or_else(|| "-".into(), |x| format!("{:.1}", x * 100.0));
        let mut cells = vec![
            super::table::text(ctx, &r.key),
            Cell::new(r.count),
            Cell::new(rate),
            Cell::new(if failed > 0 {
                failed.style(ctx.styles.state_failure).to_string()
            } else {
                "0".into()
            }),
            Cell::new(r.count - ok - failed),
            Cell::new(dur(r.runtime.p50)),
            Cell::new(dur(r.runtime.p90)),
            Cell::new(dur(r.runtime.p99)),
            Cell::new(dur(r.runtime.max)),
            Cell::new(dur(r.queue_wait.p50)),
            Cell::new(dur(r.queue_wait.p99)),
            Cell::new(r.retries),
        ];
        if axis.is_some() {
            cells.push(Cell::new(sparkline(&r.buckets, ctx.ascii)));
        }
        t.add_row(cells);
    }
    t.write(out)?;
    writeln!(
        out,
        "{}",
        "OK%: successes among tasks that ended (succeeded, failed, revoked, rejected, or interrupted by their worker's end); OTHER: not succeeded nor failed".style(ctx.styles.muted)
    )
}

#[derive(Serialize)]
struct Doc<'r> {
    by: &'r str,
    buckets: Option<AxisJson>,
    count: usize,
    rows: Vec<RowJson<'r>>,
    diagnostics: DiagnosticsJson<'r>,
}

#[derive(Serialize)]
struct AxisJson {
    start: Option<String>,
    width: f64,
    len: usize,
}

#[derive(Serialize)]
struct PercentilesJson {
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

impl From<Percentiles> for PercentilesJson {
    fn from(p: Percentiles) -> Self {
        Self {
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            max: p.max,
        }
    }
}

#[derive(Serialize)]
struct RowJson<'r> {
    key: &'r str,
    count: usize,
    states: &'r std::collections::BTreeMap<&'static str, usize>,
    success_rate: Option<f64>,
    interrupted: usize,
    runtime: PercentilesJson,
    queue_wait: PercentilesJson,
    retries: u64,
    buckets: Option<&'r [usize]>,
}

/// CSV columns, in order (docs/json.md).
pub const CSV_COLUMNS: [&str; 20] = [
    "key",
    "count",
    "states.SUCCESS",
    "states.FAILURE",
    "states.RETRY",
    "states.REVOKED",
    "states.REJECTED",
    "states.STARTED",
    "states.RECEIVED",
    "states.PENDING",
    "success_rate",
    "interrupted",
    "runtime.p50",
    "runtime.p90",
    "runtime.p99",
    "runtime.max",
    "queue_wait.p50",
    "queue_wait.p99",
    "retries",
    "buckets",
];

/// JSON, NDJSON (a `row` record per row) or CSV.
pub fn machine(
    format: ListFormat,
    rows: &[StatsRow],
    axis: Option<Axis>,
    label: &str,
    report: &LoadReport,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = Doc {
        by: label,
        buckets: axis.map(|a| AxisJson {
            start: rfc3339(a.start),
            width: a.width,
            len: a.len,
        }),
        count: rows.len(),
        rows: rows
            .iter()
            .map(|r| RowJson {
                key: &r.key,
                count: r.count,
                states: &r.by_state,
                success_rate: r.success_rate,
                interrupted: r.interrupted,
                runtime: r.runtime.into(),
                queue_wait: r.queue_wait.into(),
                retries: r.retries,
                buckets: axis.map(|_| r.buckets.as_slice()),
            })
            .collect(),
        diagnostics: DiagnosticsJson::new(report),
    };
    match format {
        ListFormat::Table | ListFormat::Json => super::envelope::json(out, "stats", ctx.now, &doc),
        ListFormat::Ndjson => {
            let end = serde_json::json!({
                "by": doc.by,
                "buckets": doc.buckets,
                "diagnostics": doc.diagnostics,
            });
            super::envelope::ndjson(out, "stats", ctx.now, "row", &doc.rows, &end)
        }
        ListFormat::Csv => super::envelope::csv(out, &CSV_COLUMNS, &doc.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparkline_scales_to_the_largest_and_marks_empty_buckets() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8], false), "·▂▃▅█");
        assert_eq!(sparkline(&[0, 8], true), " #");
        assert_eq!(sparkline(&vec![1; 100], false).chars().count(), 34);
    }
}

/// The worker × time heatmap: a row of shaded cells per worker, a time axis and a legend.
pub fn heatmap(
    map: &crate::query::stats::Heatmap,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    use crate::query::stats::HeatMeasure;
    let shades: [&str; 5] = if ctx.ascii {
        [".", "-", "+", "*", "#"]
    } else {
        ["·", "░", "▒", "▓", "█"]
    };
    let max = map.max();
    let name_width = map
        .rows
        .iter()
        .map(|(w, _)| w.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 40);
    let shade = |v: f64| -> &str {
        if v <= 0.0 || max <= 0.0 {
            return shades[0];
        }
        let level = ((v / max) * 4.0).ceil().clamp(1.0, 4.0) as usize;
        shades[level]
    };
    let end = map.start + map.width * map.cells as f64;
    let from = clock_time(map.start, ctx.zone, ctx.now);
    let to = clock_time(end, ctx.zone, ctx.now);
    // The time axis over the cells: the first cell's time on the left, the end on the right.
    let fill = map
        .cells
        .saturating_sub(from.chars().count() + to.chars().count())
        .max(1);
    writeln!(
        out,
        "{}  {from}{}{to}",
        format!("{:name_width$}", "WORKER").style(ctx.styles.heading),
        " ".repeat(fill)
    )?;
    for (worker, values) in &map.rows {
        let name = super::fmt::ellipsize(&super::fmt::printable(worker), name_width);
        let cells: String = values.iter().map(|v| shade(*v)).collect();
        writeln!(out, "{name:name_width$}  {cells}")?;
    }
    let what = match map.measure {
        HeatMeasure::Tasks => format!("{max:.0} tasks"),
        HeatMeasure::Runtime => format!("{} of runtime", duration(max)),
    };
    let cell = duration(map.width);
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        if ctx.ascii {
            format!(
                "each cell {cell}; {} none, {} up to 1/4, {} 1/2, {} 3/4, {} the most in a cell ({what})",
                shades[0], shades[1], shades[2], shades[3], shades[4]
            )
        } else {
            format!(
                "each cell {cell}; {} none, {} up to ¼, {} ½, {} ¾, {} the most in a cell ({what})",
                shades[0], shades[1], shades[2], shades[3], shades[4]
            )
        }
        .style(ctx.styles.muted)
    )
}

#[derive(Serialize)]
struct HeatmapDoc<'r> {
    measure: &'static str,
    start: Option<String>,
    width: f64,
    cells: usize,
    rows: Vec<HeatRowJson<'r>>,
}

#[derive(Serialize)]
struct HeatRowJson<'r> {
    worker: &'r str,
    values: &'r [f64],
}

/// The heatmap as one JSON document (`kind: heatmap`).
pub fn heatmap_json(
    map: &crate::query::stats::Heatmap,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = HeatmapDoc {
        measure: match map.measure {
            crate::query::stats::HeatMeasure::Tasks => "tasks",
            crate::query::stats::HeatMeasure::Runtime => "runtime",
        },
        start: rfc3339(map.start),
        width: map.width,
        cells: map.cells,
        rows: map
            .rows
            .iter()
            .map(|(w, v)| HeatRowJson {
                worker: w,
                values: v,
            })
            .collect(),
    };
    super::envelope::json(out, "heatmap", ctx.now, &doc)
}
