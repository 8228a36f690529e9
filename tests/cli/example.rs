//! The shipped example recording comes from a real Celery 5.7 worker, made by
//! tests/scripts/record_example.py. This reruns the script (real redis-server, real worker)
//! and checks the fresh recording has the same shape as the committed one, so the example
//! stays reproducible. Needs the venv from tests/scripts/setup_venv.sh; under CI=true a
//! missing venv fails the test instead of skipping it.

use crate::common::{json, repo_path, run, venv_python};

/// The chord's header: whichever of them finishes last sends the callback (its child), so
/// which one has that child changes from run to run.
const CHORD_HEADER: [&str; 3] = [
    "shop.send_receipt",
    "shop.notify_warehouse",
    "shop.update_loyalty",
];

/// (name, state, attempts, retries, progress events, children) of every task, sorted; the
/// chord header's children are counted together, on a row of their own.
fn shape(file: &str) -> Vec<(String, String, usize, u64, usize, usize)> {
    let doc = json(&run(&["tasks", "--json", "--events", file]));
    let mut v: Vec<_> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
                t["attempts"].as_array().unwrap().len(),
                t["retries"].as_u64().unwrap(),
                t["progress"].as_array().unwrap().len(),
                t["children"].as_array().unwrap().len(),
            )
        })
        .collect();
    let mut header_children = 0;
    for t in v
        .iter_mut()
        .filter(|t| CHORD_HEADER.contains(&t.0.as_str()))
    {
        header_children += std::mem::take(&mut t.5);
    }
    v.push((
        "(chord header)".into(),
        String::new(),
        0,
        0,
        0,
        header_children,
    ));
    v.sort();
    v
}

#[test]
fn shipped_example_tells_the_story() {
    let file = repo_path("tests/data/example.ndjson").display().to_string();
    let s = shape(&file);
    let find = |n: &str| s.iter().filter(|t| t.0 == n).cloned().collect::<Vec<_>>();
    assert_eq!(s.len(), 12 + 1);
    assert_eq!(
        find("(chord header)")[0].5,
        1,
        "one header task sent the callback"
    );
    assert_eq!(
        find("shop.charge_card"),
        [("shop.charge_card".into(), "SUCCESS".into(), 2, 1, 0, 1)]
    );
    assert!(find("shop.validate_order").iter().any(|t| t.1 == "FAILURE"));
    assert_eq!(find("shop.nightly_report")[0].4, 3, "progress events");
    assert_eq!(find("shop.nightly_report")[0].5, 2, "spawned children");
    let failed = json(&run(&[
        "tasks", "--json", "--state", "FAILURE", "--events", &file,
    ]));
    assert!(
        failed["tasks"][0]["exception"]
            .as_str()
            .unwrap()
            .contains("FraudSuspected")
    );
}

#[test]
fn example_recorder_reproduces_the_shipped_example() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fresh.ndjson");
    let run_out = crate::common::Reaped::output(
        std::process::Command::new(py)
            .arg(repo_path("tests/scripts/record_example.py"))
            .arg("--out")
            .arg(&out),
    );
    assert!(
        run_out.status.success(),
        "record_example.py failed: {}",
        String::from_utf8_lossy(&run_out.stderr)
    );
    let fresh = out.display().to_string();
    let shipped = repo_path("tests/data/example.ndjson").display().to_string();
    assert_eq!(shape(&fresh), shape(&shipped));
    let doc = json(&run(&["tasks", "--json", "--events", &fresh]));
    assert_eq!(doc["diagnostics"]["skipped"], 0);
}
