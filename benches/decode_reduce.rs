//! Decode + reduce throughput and memory on a generated recording.
//!
//!     python3 tests/scripts/gen_recording.py --events 1000000 --out tests/data/bench/1m.ndjson
//!     cargo bench --bench decode_reduce -- tests/data/bench/1m.ndjson
//!
//! Prints events/s for each stage (read+decode only, decode+reduce, the `tasks` query) and the
//! resident memory the state holds. `tests/scripts/bench.sh` runs the whole CLI the same way.

// A benchmark prints its figures and may panic on a broken setup.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::disallowed_methods
)]

use std::time::Instant;

use celtrace::query::tasks::{TaskQuery, select};
use celtrace::source::file::{self, Input};
use celtrace::state::State;

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// A `/proc/self/status` figure in KiB (VmRSS: now, VmHWM: peak).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "tests/data/bench/1m.ndjson".into());
    let input = Input::Path(path.clone().into());
    if !std::path::Path::new(&path).exists() {
        eprintln!(
            "no recording at {path}; generate one with tests/scripts/gen_recording.py (see the doc comment)"
        );
        std::process::exit(2);
    }
    for round in 1..=3 {
        let t = Instant::now();
        let mut n = 0u64;
        let report = file::read(&input, &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        let decode = t.elapsed().as_secs_f64();

        let before = rss_kb();
        let t = Instant::now();
        let mut state = State::new();
        file::load_into(&input, &mut state, None).unwrap();
        let reduce = t.elapsed().as_secs_f64();
        let held = rss_kb().saturating_sub(before);
        if round == 1 {
            println!(
                "after load: VmRSS {} MB, VmHWM {} MB (before: {} MB)",
                rss_kb() / 1024,
                status_kb("VmHWM:") / 1024,
                before / 1024
            );
        }

        let t = Instant::now();
        let q = TaskQuery {
            limit: Some(1),
            ..TaskQuery::default()
        };
        let rows = select(&state, &q, f64::INFINITY);
        let query = t.elapsed().as_secs_f64();
        let tasks = state.task_count();
        println!(
            "round {round}: {n} events ({} issues), {tasks} tasks | read+decode {decode:.2} s = {:.0} k events/s | decode+reduce {reduce:.2} s = {:.0} k events/s | tasks query {query:.3} s ({} rows) | state ≈ {} MB = {} B/task (incl. argument strings)",
            report.total_issues(),
            n as f64 / decode / 1e3,
            n as f64 / reduce / 1e3,
            rows.len(),
            held / 1024,
            held * 1024 / tasks.max(1) as u64,
        );
    }
}
