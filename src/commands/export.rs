//! `celtrace export`: hand celtrace's history to other tools — the recording format (NDJSON,
//! streamed), or one document of task objects (JSON, CSV).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::ctx::{Ctx, EventSource, Load};
use crate::error::CliError;
use crate::model::encode::write_event;
use crate::query::tasks::{TaskQuery, select};
use crate::query::time::epoch;
use crate::render;
use crate::source::file;
use crate::source::record::{self, RecordError};

/// Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents
///
/// `--format ndjson` writes the recording format (a header line, then one Celery event per
/// line), which `--events` reads back: the same `tasks --json` comes out. It streams: memory
/// does not grow with the input. `json` and `csv` write every task, as `tasks` does.
///
/// Examples:
///   celtrace export --events rec.ndjson.gz --since 2026-11-22T00:00:00Z -o day.ndjson
///   celtrace export --events rec.ndjson --format csv -o tasks.csv
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Ndjson)]
    pub format: ExportFormat,

    /// Write to this file instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Which tasks (`--since`/`--until` keep the events in the window for ndjson)
    #[command(flatten)]
    pub filters: super::args::TaskFilters,

    /// Post the traces to this OTLP/HTTP collector (JSON encoding), e.g. http://localhost:4318
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The recording format: a header, then one Celery event dict per line.
    Ndjson,
    /// One JSON document of task objects (as `tasks --json`).
    Json,
    /// One CSV row per task (as `tasks --format csv`).
    Csv,
    /// OTLP/JSON traces: one trace per flow, one span per task attempt.
    Otlp,
}

pub fn run(ctx: &Ctx, args: &ExportArgs) -> Result<(), CliError> {
    let query = args.filters.check(ctx)?;
    let (since, until) = (query.since, query.until);
    if args.otlp_endpoint.is_some() && args.format != ExportFormat::Otlp {
        return Err(CliError::usage(
            "--otlp-endpoint sends traces",
            "add --format otlp",
        ));
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| CliError::system(format!("cannot create {}", p.display()), e),
        )?)),
        None => Box::new(std::io::BufWriter::with_capacity(1 << 20, ctx.ui.stdout())),
    };
    match args.format {
        ExportFormat::Ndjson => {
            // Task filters need to know the tasks first: one read to pick them, a second that
            // decodes only their events (and every worker and celtrace record).
            let only = if args.filters.selects_tasks() {
                if !ctx.rereadable() {
                    return Err(CliError::usage(
                        "task filters with --format ndjson read the recording twice, and stdin can be read once",
                        "give the recording as a file, or filter only by --since/--until",
                    ));
                }
                let (state, report) = ctx.load(&Load::ALL)?;
                let horizon = state.horizon(epoch(ctx.now));
                let query = args
                    .filters
                    .resolve(query, &state, &report.source, horizon)?;
                let ids: Vec<String> = select(&state, &query, horizon)
                    .iter()
                    .map(|t| t.id.to_string())
                    .collect();
                Some(file::LineFilter::default().and_ids(ids))
            } else {
                None
            };
            ndjson(ctx, since, until, only.as_ref(), &mut out)?;
        }
        ExportFormat::Otlp | ExportFormat::Json | ExportFormat::Csv => {
            let (state, report) = ctx.load(&Load::ALL)?;
            let horizon = state.horizon(epoch(ctx.now));
            let query = TaskQuery {
                reverse: true,
                ..args
                    .filters
                    .resolve(query, &state, &report.source, horizon)?
            };
            let rows = select(&state, &query, horizon);
            let rctx = ctx.render_ctx(false);
            match (args.format, &args.otlp_endpoint) {
                (ExportFormat::Otlp, Some(url)) => {
                    let sent = post_otlp(url, &state, &rows, horizon)?;
                    ctx.ui.note(&format!(
                        "posted {sent} spans to {}",
                        crate::source::url::redact(url)
                    ));
                }
                (ExportFormat::Otlp, None) => {
                    render::otlp::write_request(&state, &rows, horizon, &mut out)?;
                    writeln!(out)?;
                }
                (ExportFormat::Json, _) => {
                    render::tasks::json(&state, &rows, horizon, &report, &rctx, &mut out)?;
                }
                _ => render::tasks::csv(&state, &rows, horizon, &mut out)?,
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Spans per OTLP request.
const OTLP_BATCH: usize = 1000;

/// Posts spans in batches to `{url}/v1/traces` as they are built (one batch in memory at a
/// time); returns how many were accepted.
fn post_otlp(
    url: &str,
    state: &crate::state::State,
    rows: &[&crate::state::task::TaskRecord],
    horizon: f64,
) -> Result<usize, CliError> {
    let endpoint = if url.trim_end_matches('/').ends_with("/v1/traces") {
        url.to_string()
    } else {
        format!("{}/v1/traces", url.trim_end_matches('/'))
    };
    let fail = |reason: String| CliError::Otlp {
        url: crate::source::url::redact(&endpoint),
        reason,
    };
    let post = |batch: Vec<serde_json::Value>| -> Result<usize, CliError> {
        let n = batch.len();
        let body =
            serde_json::to_vec(&render::otlp::request(batch)).map_err(|e| fail(e.to_string()))?;
        let response = ureq::post(&endpoint)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!(
                "the collector answered {}",
                response.status()
            )));
        }
        Ok(n)
    };
    let mut sent = 0;
    let mut batch = Vec::with_capacity(OTLP_BATCH);
    let mut failed: Option<CliError> = None;
    let _ = render::otlp::for_each_span(state, rows, horizon, &mut |span| {
        batch.push(span);
        if batch.len() >= OTLP_BATCH {
            match post(std::mem::take(&mut batch)) {
                Ok(n) => sent += n,
                Err(e) => {
                    failed = Some(e);
                    return Err(std::io::Error::other("stopped"));
                }
            }
        }
        Ok(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if !batch.is_empty() {
        sent += post(batch)?;
    }
    Ok(sent)
}

/// Streams the input's events in input order, re-encoded by the decoder threads.
fn ndjson(
    ctx: &Ctx,
    since: Option<f64>,
    until: Option<f64>,
    only: Option<&file::LineFilter>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let created = crate::render::fmt::rfc3339(epoch(ctx.now)).unwrap_or_default();
    let mut write_error = None;
    let (reader, label, progress): (Box<dyn std::io::Read + Send>, String, _) = match &ctx.source {
        EventSource::Recording(input) => {
            let progress = ctx.ui.progress("exporting");
            (file::open_input(input, &progress)?, input.label(), progress)
        }
        EventSource::Broker(..) => {
            let progress = ctx.ui.progress_entries("exporting");
            let (reader, label) = ctx.history(None)?.lines(since, until, &progress)?;
            (reader, label, progress)
        }
    };
    writeln!(out, "{}", record::header_line(&created))?;
    let scrub = ctx.scrub.clone();
    let report = file::read_from(
        reader,
        &label,
        only,
        &|| (),
        &|(), ev| {
            // Headers of the input are not copied: the output has its own.
            if ev.type_name == record::HEADER_TYPE {
                return Ok(None);
            }
            record::check_header(ev)?;
            let t = ev.time();
            if since.is_some_and(|s| t.is_none_or(|t| t < s))
                || until.is_some_and(|u| t.is_none_or(|t| t > u))
            {
                return Ok(None);
            }
            let mut scrubbed = ev.clone();
            scrub.event(&mut scrubbed);
            let mut line = Vec::with_capacity(512);
            write_event(&scrubbed, &mut line).map_err(|e| RecordError::Read {
                path: label.clone(),
                source: e.into(),
            })?;
            line.push(b'\n');
            Ok(Some(line))
        },
        &mut |line: Result<Option<Vec<u8>>, RecordError>| {
            if let Some(line) = line?
                && let Err(e) = out.write_all(&line)
            {
                write_error = Some(e);
                return Err(RecordError::Read {
                    path: "stdout".into(),
                    source: std::io::Error::other("write failed"),
                });
            }
            Ok(())
        },
    );
    progress.finish_and_clear();
    if let Some(e) = write_error {
        return Err(CliError::Write { source: e });
    }
    let report = report?;
    CliError::refuse_empty(&report)?;
    if report.events == 0 && report.entries > 0 && report.lost() > 0 {
        return Err(CliError::NoEvents {
            source_label: report.source.clone(),
            entries: report.entries,
            first_problem: report
                .issues
                .first()
                .map_or_else(String::new, |i| format!("line {}: {}", i.line, i.message)),
        });
    }
    Ok(())
}
