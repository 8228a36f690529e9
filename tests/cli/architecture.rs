//! The pure core (decode, reduce, query) must not reach for async runtimes, brokers, the
//! terminal, printing or the clock (docs/architecture.md §1).

use crate::common::repo_path;

const PURE: &[&str] = &[
    "src/model",
    "src/state",
    "src/query",
    "src/scrub",
    "src/graph",
    "src/swar.rs",
    "src/short_table.rs",
];
const FORBIDDEN: &[&str] = &[
    "tokio",
    "redis::",
    "lapin",
    "comfy_table",
    "owo_colors",
    "indicatif",
    "println!",
    "eprintln!",
    "print!(",
    "std::io::stdout",
    "std::io::stderr",
    "Utc::now",
    "Local::now",
    "SystemTime::now",
    "Instant::now",
    "std::env::var",
    "std::fs::",
    "std::net::",
    "crate::ui",
    "crate::render",
    "crate::source",
    "crate::commands",
    "crate::ctx",
    "crate::clock",
];

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_core_stays_pure() {
    let mut files = Vec::new();
    for path in PURE {
        let path = repo_path(path);
        if path.is_file() {
            files.push(path);
        } else {
            rust_files(&path, &mut files);
        }
    }
    assert!(files.len() >= 10, "found only {files:?}");
    let mut violations = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    violations.push(format!("{}:{}: {word}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "pure core imports I/O:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_itself_catches_a_violation() {
    let code = "use tokio::runtime;";
    assert!(FORBIDDEN.iter().any(|w| code.contains(w)));
}
