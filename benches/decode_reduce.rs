//! Decode + reduce throughput and memory on a generated recording.
//!
//!     python3 tests/scripts/gen_recording.py --events 1000000 --out tests/data/bench/1m.ndjson
//!     cargo bench --bench decode_reduce -- tests/data/bench/1m.ndjson
//!
//! Prints events/s for each stage (read+decode only, decode+reduce, the `tasks` query) and the
//! resident memory the state holds, then the floors: reading the file, and a bare parse of
//! every line (serde_json into nothing) on two threads. `tests/scripts/bench.sh` runs the whole CLI the same way.

// A benchmark prints its figures and may panic on a broken setup.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::disallowed_methods
)]

use std::time::Instant;

// The allocator the binary uses, so the figures are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        // Later rounds reuse what the allocator kept: only the first says what a state holds.
        let held = if round == 1 {
            rss_kb().saturating_sub(before)
        } else {
            0
        };
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
            "round {round}: {n} events ({} issues), {tasks} tasks | read+decode {decode:.2} s = {:.0} k events/s | decode+reduce {reduce:.2} s = {:.0} k events/s | tasks query {query:.3} s ({} rows) | {}",
            report.total_issues(),
            n as f64 / decode / 1e3,
            n as f64 / reduce / 1e3,
            rows.len(),
            if held > 0 {
                format!(
                    "state ≈ {} MB = {} B/task (incl. argument strings)",
                    held / 1024,
                    held * 1024 / tasks.max(1) as u64
                )
            } else {
                "state: measured in round 1".to_string()
            },
        );
    }
    // Floors: the file read whole, and every line parsed by serde_json into nothing, split
    // between two threads as the decoders are.
    let t = Instant::now();
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 512 * 1024];
    while std::io::Read::read(&mut file, &mut buf).unwrap() > 0 {}
    let read = t.elapsed().as_secs_f64();
    let bytes = std::fs::read(&path).unwrap();
    let t = Instant::now();
    let half = memchr::memchr(b'\n', &bytes[bytes.len() / 2..])
        .map_or(bytes.len(), |i| bytes.len() / 2 + i + 1);
    let (a, b) = bytes.split_at(half);
    let parse = |part: &[u8]| {
        part.split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
            .count()
    };
    let lines = std::thread::scope(|s| {
        let other = s.spawn(|| parse(b));
        parse(a) + other.join().unwrap()
    });
    let bare = t.elapsed().as_secs_f64();
    println!(
        "floors: read the file in 512 KiB pages {read:.2} s; bare parse of its {lines} lines on 2 threads {bare:.2} s = {:.0} k lines/s",
        lines as f64 / bare / 1e3
    );
}
