//! A mutation fuzzer on stable Rust for everything celtrace reads from outside: recording
//! lines, kombu envelopes, `task.multi` batches, Python reprs and backend records. It mutates
//! the real Celery captures, feeds each input through decode, split, scrub and the state
//! fold, and renders the state now and then (tables, trees, DOT, Mermaid, anomalies), so a
//! panic anywhere on the way is found. Run by `cargo run --release --example fuzz`; a short
//! run is part of the test suite.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::model::decode::decode_entry;
use crate::model::split::{backend_line, count_events, split_message};
use crate::state::State;

/// What one input is, so the mutated copy goes through the path that reads that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A line of a recording (an event dict, envelope, capture wrapper or celtrace record).
    Line,
    /// A broker message as the recorder receives it (envelope, plain event, or batch).
    Message,
    /// A Python repr of arguments or a result.
    Repr,
    /// A result-backend value (`celery-task-meta-*`).
    Backend,
}

#[derive(Debug, Clone)]
pub struct Seed {
    pub kind: Kind,
    pub text: String,
}

/// An input that panicked, and where it was saved.
#[derive(Debug, Clone)]
pub struct Crash {
    pub kind: Kind,
    pub input: Vec<u8>,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    pub renders: u64,
    pub crashes: Vec<Crash>,
}

/// The seeds of a capture directory (`tests/fixtures/celery-5.7`): every line of every
/// recording, every raw broker message, the reprs inside them and the backend values.
pub fn seeds(dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["redis", "amqp"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "ndjson") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push(Seed {
                kind: Kind::Line,
                text: line.to_string(),
            });
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(raw) = v["raw"].as_str() {
                out.push(Seed {
                    kind: Kind::Message,
                    text: raw.to_string(),
                });
            }
            for key in ["args", "kwargs", "result", "exception"] {
                if let Some(r) = v[key].as_str() {
                    out.push(Seed {
                        kind: Kind::Repr,
                        text: r.to_string(),
                    });
                }
            }
            if v["type"] == "celtrace.backend" {
                out.push(Seed {
                    kind: Kind::Backend,
                    text: v["value"].to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to break parsers of JSON and Python reprs.
const TOKENS: &[&str] = &[
    "[]",
    "{}",
    "[",
    "{",
    "\"",
    "'",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "1e300",
    "-1e18",
    "18446744073709551616",
    "NaN",
    "-0",
    "\"type\": \"task-multi\"",
    "\"uuid\": \"日本語タスク\"",
    "\u{1b}]0;x\u{7}",
    "b'\\x00'",
    "(((",
    ")))",
    "...",
    "\"body\": \"W10=\"",
    "[[[[[[[[",
    "]]]]",
    ", ",
    ": ",
    "\u{feff}",
    "\n",
    "\u{0}",
    "𝔘",
];

fn mutate(rng: &mut Rng, seeds: &[Seed], base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..=rng.below(4) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                b.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                b.drain(i..i + n);
            }
            3 if len > 0 => b.truncate(rng.below(len)),
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let i = rng.below(len + 1);
                b.splice(i..i, t.iter().copied());
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(256) + 1);
                let copy = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, copy);
            }
            6 => {
                let other = seeds[rng.below(seeds.len())].text.as_bytes();
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => {
                // A digit run replaced by an extreme number.
                let i = rng.below(len);
                if b[i].is_ascii_digit() {
                    let t = ["1e308", "-1", "99999999999999999999", "0.0"][rng.below(4)];
                    b.splice(i..=i, t.bytes());
                }
            }
            _ => {
                // A batch: several events in one list, some of them mutated copies.
                let n = rng.below(4) + 1;
                let mut list = Vec::from(&b"["[..]);
                for k in 0..n {
                    if k > 0 {
                        list.extend_from_slice(b", ");
                    }
                    list.extend_from_slice(seeds[rng.below(seeds.len())].text.as_bytes());
                }
                list.push(b']');
                b = list;
            }
        }
    }
    b
}

/// Feeds one input through the path its kind takes, into `state`.
fn feed(kind: Kind, input: &[u8], state: &mut State) {
    let text = String::from_utf8_lossy(input);
    let mut issues = Vec::new();
    match kind {
        Kind::Line => {
            decode_entry(&text, &mut issues, &mut |ev| state.apply(ev));
        }
        Kind::Message => {
            let _ = count_events(&text);
            let (lines, _) = split_message(&text, 1_795_333_620.0);
            for l in lines {
                decode_entry(&l.json, &mut issues, &mut |ev| state.apply(ev));
            }
        }
        Kind::Repr => {
            let _ = crate::scrub::Policy::default().text(&text);
        }
        Kind::Backend => {
            let line = backend_line("celery-task-meta-fuzz", &text, 1_795_333_620.0);
            decode_entry(&line.json, &mut issues, &mut |ev| state.apply(ev));
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) {
                crate::scrub::Policy::default().json(&mut v);
            }
        }
    }
}

/// Everything a user can ask of a state, in every format, written to `out` (a sink for the
/// fuzzer; a buffer for the secrets property test).
pub fn render_all(state: &State, out: &mut dyn std::io::Write) {
    use crate::render::RenderCtx;
    let horizon = state.horizon(1_795_400_000.0);
    let ctx = RenderCtx {
        styles: crate::render::styles::Styles::plain(),
        zone: crate::render::fmt::Zone::Utc,
        now: chrono::DateTime::<chrono::Utc>::from_timestamp(1_795_400_000, 0).unwrap_or_default(),
        width: Some(80),
        ascii: false,
        wide: false,
        at: None,
    };
    let report = crate::source::file::LoadReport::default();
    let rows =
        crate::query::tasks::select(state, &crate::query::tasks::TaskQuery::default(), horizon);
    let _ = crate::render::tasks::table(state, &rows, horizon, &ctx, out);
    let _ = crate::render::tasks::json(state, &rows, horizon, &report, &ctx, out);
    let _ = crate::render::tasks::csv(state, &rows, horizon, out);
    let _ = crate::render::otlp::write_request(state, &rows, horizon, out);
    let workers = crate::query::workers::workers(
        state,
        &crate::query::workers::WorkerQuery::default(),
        horizon,
    );
    let _ = crate::render::workers::table(state, &workers, horizon, &ctx, out);
    let thresholds = crate::query::anomalies::Thresholds::default();
    let found = crate::query::anomalies::detect(state, &thresholds, horizon);
    let _ = crate::render::anomalies::text(&found, horizon, &ctx, out);
    let (stats, axis) = crate::query::stats::stats(state, &Default::default(), horizon);
    let _ = crate::render::stats::table(&stats, axis, "name", &ctx, out);
    use crate::render::ListFormat;
    for format in [ListFormat::Json, ListFormat::Ndjson, ListFormat::Csv] {
        let _ = crate::render::anomalies::machine(
            format,
            &found,
            horizon,
            &thresholds,
            &report,
            &ctx,
            out,
        );
        let _ = crate::render::stats::machine(format, &stats, axis, "name", &report, &ctx, out);
        let query = crate::query::workers::WorkerQuery::default();
        let _ = crate::render::workers::machine(
            format, state, &workers, horizon, &report, &query, None, &ctx, out,
        );
    }
    for rec in rows.iter().take(8) {
        let backend = crate::graph::backend::Backend::from_records(state);
        if let Some(flow) =
            crate::graph::build(state, &rec.id, &backend, horizon, Default::default())
        {
            let opts = crate::render::graph::TreeOptions {
                all: true,
                depth: None,
            };
            let _ = crate::render::graph::tree(state, &flow, opts, &ctx, out);
            let _ = crate::render::graph::dot(state, &flow, out);
            let _ = crate::render::graph::mermaid(state, &flow, out);
            let _ = crate::render::graph::json(state, &flow, &ctx, out);
        }
        let data = crate::render::show::ShowData {
            view: crate::state::view::TaskView::new(state, rec, horizon),
            flow: None,
            ancestors: Vec::new(),
            children: Vec::new(),
            backend: crate::graph::backend::TaskMeta::recorded(state, &rec.id),
        };
        let _ = crate::render::show::text(state, &data, &ctx, horizon, out);
        let _ = crate::render::show::json(state, &data, &report, &ctx, horizon, out);
    }
}

/// Runs `iterations` mutated inputs from `seeds`, rendering the accumulated state every
/// `render_every` inputs. A panic is caught, recorded with its input, and the run goes on.
pub fn run(seeds: &[Seed], iterations: u64, seed: u64, render_every: u64) -> Report {
    let mut report = Report::default();
    if seeds.is_empty() {
        return report;
    }
    let mut rng = Rng(seed | 1);
    let mut state = State::new();
    let mut batch: Vec<(Kind, Vec<u8>)> = Vec::new();
    for i in 0..iterations {
        let s = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seeds, s.text.as_bytes());
        let fed = catch_unwind(AssertUnwindSafe(|| feed(s.kind, &input, &mut state)));
        report.inputs += 1;
        if let Err(p) = fed {
            report.crashes.push(Crash {
                kind: s.kind,
                input: input.clone(),
                message: panic_text(&p),
            });
            state = State::new();
            batch.clear();
            continue;
        }
        batch.push((s.kind, input));
        if (i + 1) % render_every.max(1) == 0 {
            let rendered = catch_unwind(AssertUnwindSafe(|| {
                render_all(&state, &mut std::io::sink());
            }));
            report.renders += 1;
            if let Err(p) = rendered {
                // The state came from the whole batch: keep all of it, one input a line.
                let mut all = Vec::new();
                for (_, b) in &batch {
                    all.extend_from_slice(b);
                    all.push(b'\n');
                }
                report.crashes.push(Crash {
                    kind: Kind::Line,
                    input: all,
                    message: format!("while rendering: {}", panic_text(&p)),
                });
            }
            state = State::new();
            batch.clear();
        }
    }
    report
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_fuzz_run_over_the_captures_finds_no_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/celery-5.7");
        let seeds = seeds(&dir).unwrap();
        assert!(seeds.len() > 1000, "{} seeds", seeds.len());
        for kind in [Kind::Line, Kind::Message, Kind::Repr, Kind::Backend] {
            assert!(seeds.iter().any(|s| s.kind == kind), "no {kind:?} seed");
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let report = run(&seeds, 30_000, 0x5eed, 500);
        std::panic::set_hook(previous);
        assert_eq!(report.inputs, 30_000);
        assert!(report.renders >= 60);
        let first = report.crashes.first().map(|c| {
            format!(
                "{:?} {}: {}",
                c.kind,
                c.message,
                String::from_utf8_lossy(&c.input)
            )
        });
        assert!(
            report.crashes.is_empty(),
            "{} panics; first: {first:?}",
            report.crashes.len()
        );
    }
}
