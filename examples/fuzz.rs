//! Mutation fuzzing of everything celtrace reads (see `celtrace::fuzz`), on stable Rust:
//!
//!     cargo run --release --example fuzz -- --iterations 10000000
//!
//! Options: `--iterations N` (default 1,000,000), `--seed S` (default: the clock),
//! `--render-every N` (default 2000), `--corpus DIR` (default tests/fixtures/celery-5.7).
//! Every input that panics is written to `target/fuzz-crashes/`; the exit status is 1 then.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut iterations: u64 = 1_000_000;
    let mut render_every: u64 = 2000;
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/celery-5.7");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let Some(v) = value else {
            eprintln!("{a} needs a value");
            std::process::exit(2);
        };
        let number = || {
            v.replace('_', "").parse::<u64>().unwrap_or_else(|_| {
                eprintln!("{a}: `{v}` is not a number");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--iterations" => iterations = number(),
            "--seed" => seed = number(),
            "--render-every" => render_every = number(),
            "--corpus" => corpus = PathBuf::from(&v),
            _ => {
                eprintln!("unknown option {a} (--iterations, --seed, --render-every, --corpus)");
                std::process::exit(2);
            }
        }
    }
    let seeds = match celtrace::fuzz::seeds(&corpus) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("no seeds in {}", corpus.display());
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("cannot read {}: {e}", corpus.display());
            std::process::exit(2);
        }
    };
    std::panic::set_hook(Box::new(|_| {}));
    // Both cores: one run per thread, each from its own seed.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let started = Instant::now();
    let reports: Vec<celtrace::fuzz::Report> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seeds = &seeds;
                let share = iterations / threads + u64::from(t < iterations % threads);
                s.spawn(move || {
                    celtrace::fuzz::run(seeds, share, seed.wrapping_add(t), render_every)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let took = started.elapsed().as_secs_f64();
    let inputs: u64 = reports.iter().map(|r| r.inputs).sum();
    let renders: u64 = reports.iter().map(|r| r.renders).sum();
    let crashes: Vec<_> = reports.into_iter().flat_map(|r| r.crashes).collect();
    println!(
        "{inputs} inputs from {} seeds ({renders} renders) in {took:.1}s ({:.0} inputs/s), seed {seed}: {} panics",
        seeds.len(),
        inputs as f64 / took.max(1e-9),
        crashes.len()
    );
    if crashes.is_empty() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = std::fs::create_dir_all(&dir);
    for (i, c) in crashes.iter().enumerate().take(100) {
        let path = dir.join(format!("crash-{seed}-{i}.txt"));
        let _ = std::fs::write(&path, &c.input);
        println!("{:?}: {} -> {}", c.kind, c.message, path.display());
    }
    std::process::exit(1);
}
