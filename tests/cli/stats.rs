//! `celtrace stats` over the real captures and the example recording.

use crate::common::{fixture, json, repo_path, run};

#[test]
fn table_by_name_and_by_worker_with_a_series() {
    let example = repo_path("tests/data/example.ndjson");
    let out = run(&["stats", "--events", example.to_str().unwrap()]);
    assert_eq!(out.code, 0);
    insta::assert_snapshot!("stats_by_name__example", out.normalized());
    let all = fixture("redis/ALL.events.ndjson.gz");
    let out = run(&[
        "stats", "--by", "worker", "--bucket", "1m", "--events", &all,
    ]);
    insta::assert_snapshot!("stats_by_worker_bucketed__all", out.normalized());
}

#[test]
fn json_counts_add_up_to_the_tasks() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    let tasks = json(&run(&["tasks", "--json", "--events", &all]))["count"]
        .as_u64()
        .unwrap();
    for by in ["name", "worker", "queue"] {
        let doc = json(&run(&[
            "stats", "--json", "--by", by, "--bucket", "30s", "--events", &all,
        ]));
        assert_eq!(doc["kind"], "stats");
        assert_eq!(doc["by"], by);
        let rows = doc["rows"].as_array().unwrap();
        let sum: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
        assert_eq!(sum, tasks, "{by}");
        let len = doc["buckets"]["len"].as_u64().unwrap() as usize;
        for r in rows {
            let b = r["buckets"].as_array().unwrap();
            assert_eq!(b.len(), len);
            assert_eq!(
                b.iter().map(|v| v.as_u64().unwrap()).sum::<u64>(),
                r["count"].as_u64().unwrap()
            );
            let (p50, p99) = (&r["runtime"]["p50"], &r["runtime"]["p99"]);
            if let (Some(a), Some(b)) = (p50.as_f64(), p99.as_f64()) {
                assert!(a <= b);
            }
        }
    }
}

#[test]
fn bad_bucket_and_too_many_buckets_are_usage_errors() {
    let all = fixture("redis/ALL.events.ndjson.gz");
    for bucket in ["soon", "0s"] {
        let out = run(&["stats", "--bucket", bucket, "--events", &all]);
        assert_eq!(out.code, 2, "{bucket}: {}", out.normalized());
    }
    let out = run(&["stats", "--bucket", "1ms", "--events", &all]);
    assert_eq!(out.code, 2, "{}", out.normalized());
    assert!(out.stderr.contains("buckets"));
}

#[test]
fn by_hour_and_the_heatmap_on_the_captures() {
    let all = crate::common::fixture("redis/ALL.events.ndjson.gz");
    let doc = json(&run(&["stats", "--events", &all, "--by", "hour", "--json"]));
    let keys: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["2026-11-22T07:00Z"], "{doc:#}");
    assert_eq!(doc["by"], "hour");
    // --bucket sets the width of the time rows: counts, failures and percentiles per slice.
    let slices = json(&run(&[
        "stats", "--events", &all, "--by", "hour", "--bucket", "15s", "--json",
    ]));
    let rows = slices["rows"].as_array().unwrap();
    assert!(rows.len() > 1, "{slices:#}");
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "time order");
    assert!(
        keys[0].ends_with(":00Z")
            || keys[0].ends_with(":15Z")
            || keys[0].ends_with(":30Z")
            || keys[0].ends_with(":45Z"),
        "{keys:?}"
    );
    let total: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, doc["rows"][0]["count"].as_u64().unwrap());
    assert!(
        rows.iter()
            .all(|r| r["runtime"]["p99"].is_number() || r["runtime"]["p99"].is_null())
    );
    let map = json(&run(&["stats", "--events", &all, "--heatmap", "--json"]));
    let total: f64 = map["rows"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(total > 10.0, "{map:#}");
    let text = run(&["stats", "--events", &all, "--heatmap"]);
    assert!(text.stdout.contains("each cell"), "{}", text.stdout);
    assert!(text.stdout.contains("w1@celtrace"), "{}", text.stdout);
    let csv = run(&["stats", "--events", &all, "--heatmap", "--format", "csv"]);
    assert_eq!(csv.code, 2);
}
