//! End-to-end runs of the celtrace binary. One test binary with modules (docs/architecture.md §1).

// Test helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::print_stderr
)]

mod common;

mod amqp_record;
mod anomalies;
mod architecture;
mod backend;
mod chaos;
mod config;
mod control;
mod doctor;
mod error_patterns;
mod errors;
mod example;
mod export;
mod generated;
mod graph;
mod help;
mod hostile;
mod inspect;
mod json_envelope;
mod live_workers;
mod lookback;
mod lost_workers;
mod otlp;
mod queues;
mod redis_record;
mod schema;
mod secrets;
mod show;
mod stats;
mod tasks;
mod top;
mod wait;
mod workers;

#[test]
fn no_forgotten_test_files() {
    let dir = common::repo_path("tests/cli");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            if stem != "main" {
                assert!(
                    main.contains(&format!("mod {stem};")),
                    "tests/cli/{stem}.rs is not in main.rs"
                );
            }
        }
    }
}
