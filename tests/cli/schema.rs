//! A test-side mirror of the JSON contract (docs/json.md) with `deny_unknown_fields`: any
//! field added, renamed or retyped by accident fails here, on real output of every scenario.
//! Adding a field on purpose means adding it here and in docs/json.md.

use serde::Deserialize;
use serde_json::Value;

use crate::common::{fixture, json, run, task_ids};
use crate::tasks::SCENARIOS;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TasksDoc {
    version: u32,
    kind: String,
    generated_at: String,
    count: usize,
    tasks: Vec<Task>,
    diagnostics: Diagnostics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ShowDoc {
    version: u32,
    kind: String,
    generated_at: String,
    task: Task,
    lineage: Vec<Relative>,
    children: Vec<Relative>,
    flow: Option<FlowPlace>,
    timeline: Vec<TimelineEntry>,
    diagnostics: Diagnostics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Task {
    id: String,
    name: Option<String>,
    state: String,
    interrupted: Option<String>,
    root_id: Option<String>,
    parent_id: Option<String>,
    children: Vec<String>,
    worker: Option<String>,
    queue: Option<String>,
    exchange: Option<String>,
    routing_key: Option<String>,
    retries: u32,
    args: Option<String>,
    kwargs: Option<String>,
    result: Option<String>,
    exception: Option<String>,
    traceback: Option<String>,
    eta: Option<String>,
    expires: Option<String>,
    sent_at: Option<String>,
    received_at: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    runtime: Option<f64>,
    queue_wait: Option<f64>,
    start_delay: Option<f64>,
    attempts: Vec<Attempt>,
    progress: Vec<Progress>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Attempt {
    number: usize,
    retries: Option<u16>,
    state: String,
    worker: Option<String>,
    pid: Option<u32>,
    sent_at: Option<String>,
    received_at: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    runtime: Option<f64>,
    result: Option<String>,
    exception: Option<String>,
    traceback: Option<String>,
    eta: Option<String>,
    interrupted: Option<String>,
    revoked: Option<Value>,
    rejected: Option<Value>,
    duplicate_events: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Progress {
    #[serde(rename = "type")]
    type_name: String,
    at: Option<String>,
    worker: String,
    fields: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Relative {
    id: String,
    name: Option<String>,
    state: Option<String>,
    runtime: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FlowPlace {
    tasks: usize,
    siblings: Vec<Relative>,
    evidence: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TimelineEntry {
    at: Option<String>,
    event: String,
    attempt: Option<usize>,
    host: String,
    pid: u32,
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Diagnostics {
    source: String,
    entries: u64,
    events: u64,
    filtered: u64,
    skipped: u64,
    issues: std::collections::BTreeMap<String, u64>,
    details: Vec<IssueDetail>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct IssueDetail {
    line: u64,
    kind: String,
    message: String,
}

const STATES: [&str; 8] = [
    "PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED",
];

fn is_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() == 27
}

fn check_task(t: &Task) {
    assert!(STATES.contains(&t.state.as_str()), "{}", t.state);
    for time in [&t.sent_at, &t.received_at, &t.started_at, &t.finished_at]
        .into_iter()
        .flatten()
    {
        assert!(is_time(time), "{time}");
    }
    for a in &t.attempts {
        assert!(STATES.contains(&a.state.as_str()));
    }
}

#[test]
fn tasks_json_matches_the_contract_on_every_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "tasks",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        assert_eq!(out.code, 0);
        let doc: TasksDoc =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            (doc.version, doc.kind.as_str(), doc.count),
            (1, "tasks", doc.tasks.len())
        );
        doc.tasks.iter().for_each(check_task);
    }
}

#[test]
fn show_json_matches_the_contract_for_every_task() {
    let file = fixture("redis/ALL.events.ndjson.gz");
    for id in task_ids(&file) {
        let out = run(&["show", &id, "--json", "--events", &file]);
        let doc: ShowDoc =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!((doc.version, doc.kind.as_str()), (1, "task"));
        check_task(&doc.task);
    }
}

#[test]
fn ndjson_lines_match_the_contract() {
    let out = run(&[
        "tasks",
        "--format",
        "ndjson",
        "--events",
        &fixture("redis/ALL.events.ndjson.gz"),
    ]);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines[0]["data"]["version"], 1);
    assert_eq!(lines.last().unwrap()["type"], "end");
    for l in &lines[1..lines.len() - 1] {
        assert_eq!(l["type"], "task");
        check_task(&serde_json::from_value(l["data"].clone()).unwrap());
    }
    let end: Diagnostics =
        serde_json::from_value(lines.last().unwrap()["data"]["diagnostics"].clone()).unwrap();
    assert_eq!(end.skipped, 0);
    let doc = json(&run(&[
        "tasks",
        "--json",
        "--events",
        &fixture("redis/ALL.events.ndjson.gz"),
    ]));
    assert_eq!(doc["count"].as_u64().unwrap() as usize, lines.len() - 2);
}

#[test]
fn csv_has_the_documented_columns() {
    let out = run(&[
        "tasks",
        "--format",
        "csv",
        "--events",
        &fixture("redis/retry.events.ndjson"),
    ]);
    let header = out.stdout.lines().next().unwrap();
    assert_eq!(
        header,
        "id,name,state,interrupted,worker,queue,root_id,parent_id,retries,sent_at,received_at,started_at,finished_at,runtime,queue_wait,start_delay,exception,args,kwargs,result"
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WorkersDoc {
    version: u32,
    kind: String,
    generated_at: String,
    as_of: Option<String>,
    lost_after_intervals: f64,
    count: usize,
    workers: Vec<WorkerObj>,
    diagnostics: Diagnostics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WorkerObj {
    hostname: String,
    status: String,
    pid: u64,
    started_at: Option<String>,
    restarts: usize,
    sw_ident: Option<String>,
    sw_ver: Option<String>,
    sw_sys: Option<String>,
    freq: f64,
    processed: Option<u64>,
    active: Option<u64>,
    loadavg: Option<[f64; 3]>,
    last_heartbeat_at: Option<String>,
    last_heartbeat_age: Option<f64>,
    dropped: usize,
    sessions: Vec<SessionObj>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SessionObj {
    pid: u64,
    status: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    first_seen_at: Option<String>,
    last_seen_at: Option<String>,
    processed: Option<u64>,
    interrupted_tasks: Vec<InterruptedObj>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct InterruptedObj {
    id: String,
    name: Option<String>,
    state: String,
    came_back: bool,
}

#[test]
fn workers_json_matches_the_contract_on_every_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "workers",
            "--json",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        assert_eq!(out.code, 0);
        let doc: WorkersDoc =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            (doc.version, doc.kind.as_str(), doc.count),
            (1, "workers", doc.workers.len())
        );
        assert!(doc.count > 0, "{s}: every capture has a worker");
        for w in &doc.workers {
            assert!(["online", "offline", "lost"].contains(&w.status.as_str()));
            assert_eq!(w.restarts + 1, w.sessions.len());
            for time in [&w.started_at, &w.last_heartbeat_at].into_iter().flatten() {
                assert!(is_time(time), "{time}");
            }
            for session in &w.sessions {
                assert!(
                    ["online", "offline", "lost", "restarted"].contains(&session.status.as_str())
                );
                for i in &session.interrupted_tasks {
                    assert!(STATES.contains(&i.state.as_str()), "{}", i.state);
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AnomaliesDoc {
    version: u32,
    kind: String,
    generated_at: String,
    as_of: Option<String>,
    thresholds: AnomalyThresholds,
    count: usize,
    anomalies: Vec<AnomalyObj>,
    diagnostics: Diagnostics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AnomalyThresholds {
    stuck_in_queue: f64,
    not_started: f64,
    not_finished: f64,
    retry_storm: u32,
    flapping_sessions: usize,
    flapping_window: f64,
    lost_after_intervals: f64,
    spike_window: f64,
    spike_failures: usize,
    slow_factor: f64,
    slow_samples: usize,
    chord_grace: f64,
    sla: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AnomalyObj {
    rule: String,
    severity: String,
    summary: String,
    at: Option<String>,
    worker: Option<String>,
    tasks: Vec<String>,
    help: String,
}

#[test]
fn anomalies_json_matches_the_contract_on_every_scenario() {
    for s in SCENARIOS {
        let out = run(&[
            "anomalies",
            "--json",
            "--retry-storm",
            "1",
            "--events",
            &fixture(&format!("redis/{s}.events.ndjson")),
        ]);
        assert_eq!(out.code, 0);
        let doc: AnomaliesDoc =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            (doc.version, doc.kind.as_str(), doc.count),
            (1, "anomalies", doc.anomalies.len())
        );
        for a in &doc.anomalies {
            assert!(["warning", "error"].contains(&a.severity.as_str()));
            assert!(!a.summary.is_empty() && !a.help.is_empty());
            if let Some(at) = &a.at {
                assert!(is_time(at), "{at}");
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StatsDoc {
    version: u32,
    kind: String,
    generated_at: String,
    by: String,
    buckets: Option<StatsAxis>,
    count: usize,
    rows: Vec<StatsRowObj>,
    diagnostics: Diagnostics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StatsAxis {
    start: Option<String>,
    width: f64,
    len: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PercentilesObj {
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StatsRowObj {
    key: String,
    count: usize,
    states: std::collections::BTreeMap<String, usize>,
    success_rate: Option<f64>,
    interrupted: usize,
    runtime: PercentilesObj,
    queue_wait: PercentilesObj,
    retries: u64,
    buckets: Option<Vec<usize>>,
}

#[test]
fn stats_json_matches_the_contract_on_every_scenario() {
    for s in SCENARIOS {
        for extra in [&[][..], &["--bucket", "10s"][..]] {
            let file = fixture(&format!("redis/{s}.events.ndjson"));
            let args = [&["stats", "--json", "--events", &file][..], extra].concat();
            let out = run(&args);
            assert_eq!(out.code, 0, "{s}: {}", out.normalized());
            let doc: StatsDoc =
                serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((doc.version, doc.kind.as_str()), (1, "stats"));
            // No tasks in range: no time axis either.
            assert_eq!(doc.buckets.is_some(), !extra.is_empty() && doc.count > 0);
            for r in &doc.rows {
                assert_eq!(r.states.values().sum::<usize>(), r.count);
                assert!(r.states.keys().all(|k| STATES.contains(&k.as_str())));
                assert!(r.success_rate.is_none_or(|x| (0.0..=1.0).contains(&x)));
                assert!(r.interrupted <= r.count);
                assert_eq!(r.buckets.is_some(), !extra.is_empty());
            }
        }
    }
}
