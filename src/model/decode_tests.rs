//! Decoder tests: every shape Celery and kombu produce, and every way an entry can be broken.

use proptest::prelude::*;

use super::*;
use crate::model::EventKind;

fn decode(text: &str) -> (Vec<Event<'static>>, Vec<DecodeIssue>) {
    let mut events = Vec::new();
    let mut issues = Vec::new();
    decode_entry(text, &mut issues, &mut |e| {
        events.push(e.clone().into_owned());
    });
    (events, issues)
}

fn kinds(issues: &[DecodeIssue]) -> Vec<IssueKind> {
    issues.iter().map(|i| i.kind).collect()
}

const SENT: &str = include_str!("../../tests/fixtures/celery-5.7/redis/success.events.ndjson");
const RAW: &str = include_str!("../../tests/fixtures/celery-5.7/redis/success.raw.ndjson");
const AMQP: &str = include_str!("../../tests/fixtures/celery-5.7/amqp/success.raw.ndjson");
const WAKEUP: &str =
    include_str!("../../tests/fixtures/celery-5.7/amqp/wakeup_heartbeat.amqp.raw.ndjson");

#[test]
fn plain_event_dict() {
    let (evs, issues) = decode(SENT.lines().next().unwrap());
    assert!(issues.is_empty());
    let e = &evs[0];
    assert_eq!(e.kind, EventKind::TaskSent);
    assert_eq!(
        e.hostname.as_deref(),
        Some("gen11060@vm"),
        "task-sent carries the producer"
    );
    assert_eq!(e.name.as_deref(), Some("capapp.add"));
    assert_eq!(e.args.as_deref(), Some("(2, 3)"));
    assert_eq!(e.retries, Some(0));
    assert!(e.parent_id.is_none());
    // A task event's own timestamp orders it: receive time and time zone are not kept.
    assert_eq!((e.utcoffset, e.local_received), (None, None));
    let (evs, _) = decode(
        r#"{"type": "worker-heartbeat", "hostname": "w", "utcoffset": 0.0, "_recv_ts": 5.5}"#,
    );
    assert_eq!(
        (evs[0].utcoffset, evs[0].local_received),
        (Some(0.0), Some(5.5)),
        "kept on worker events"
    );
    let (evs, _) = decode(r#"{"type": "task-started", "uuid": "u", "_recv_ts": 5.5}"#);
    assert_eq!(
        evs[0].local_received,
        Some(5.5),
        "kept when the task event has no timestamp"
    );
}

#[test]
fn redis_capture_lines_unwrap_envelope_and_base64_and_batches() {
    let mut total = 0;
    for line in RAW.lines() {
        let (evs, issues) = decode(line);
        assert!(issues.is_empty(), "{issues:?}");
        total += evs.len();
        assert!(
            evs.iter()
                .filter(|e| !e.kind.is_task())
                .all(|e| e.local_received.is_some())
        );
    }
    assert_eq!(
        total,
        SENT.lines().count(),
        "raw and decoded captures hold the same events"
    );
}

#[test]
fn amqp_capture_lines() {
    let total: usize = AMQP.lines().map(|l| decode(l).0.len()).sum();
    assert_eq!(total, 4);
}

#[test]
fn wakeup_heartbeat_with_int_freq() {
    let evs: Vec<_> = WAKEUP.lines().flat_map(|l| decode(l).0).collect();
    let wake = evs.iter().find(|e| e.freq == Some(5.0)).unwrap();
    assert_eq!(wake.kind, EventKind::WorkerHeartbeat);
    assert!(wake.active.is_none());
}

#[test]
fn bare_envelope_and_batch() {
    let body = base64::engine::general_purpose::STANDARD
        .encode(r#"[{"type": "task-started", "uuid": "u1", "hostname": "w"}, {"type": "task-succeeded", "uuid": "u1", "result": "5", "runtime": 0.01}]"#);
    let env = format!(
        r#"{{"body": "{body}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {{}}, "properties": {{"body_encoding": "base64"}}}}"#
    );
    let (evs, issues) = decode(&env);
    assert!(issues.is_empty());
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1].runtime, Some(0.01));
    // A task.multi list as a recording line.
    let (evs, _) = decode(
        r#"[{"type": "task-started", "uuid": "u1"}, {"type": "task-started", "uuid": "u2"}]"#,
    );
    assert_eq!(evs.len(), 2);
}

#[test]
fn utcoffset_sign_and_int_values_are_kept_as_sent() {
    let (evs, _) = decode(
        r#"{"type": "worker-heartbeat", "hostname": "w", "utcoffset": -5.5, "freq": 2, "pid": 7, "clock": 3, "loadavg": [0.1, 0.2, 0.3]}"#,
    );
    assert_eq!(
        evs[0].utcoffset,
        Some(-5.5),
        "hours west of UTC: Kolkata is -5.5"
    );
    assert_eq!(evs[0].freq, Some(2.0));
    assert_eq!(evs[0].loadavg, Some([0.1, 0.2, 0.3]));
    let (evs, _) = decode(r#"{"type": "worker-heartbeat", "hostname": "w", "utcoffset": -6}"#);
    assert_eq!(evs[0].utcoffset, Some(-6.0), "Celery 5.6 sent ints");
}

#[test]
fn custom_and_unknown_types_are_kept_with_their_fields() {
    let (evs, issues) =
        decode(r#"{"type": "task-progress", "uuid": "u", "current": 1, "total": {"a": [1]}}"#);
    assert!(issues.is_empty());
    assert_eq!(evs[0].kind, EventKind::TaskCustom);
    assert_eq!(evs[0].extra.len(), 2);
    assert_eq!(evs[0].extra[1].1.get(), r#"{"a": [1]}"#);
    let (evs, _) = decode(r#"{"type": "worker-elect", "hostname": "w"}"#);
    assert_eq!(evs[0].kind, EventKind::WorkerOther);
    let (evs, _) = decode(r#"{"type": "beat-tick", "x": 1}"#);
    assert_eq!(evs[0].kind, EventKind::Unknown);
    let (evs, _) = decode(r#"{"type": "celtrace.gap", "reason": "start"}"#);
    assert_eq!(evs[0].kind, EventKind::Celtrace);
}

#[test]
fn exception_without_traceback_and_exception_with_traceback() {
    let (evs, _) =
        decode(r#"{"type": "task-failed", "uuid": "u", "exception": "NotRegistered('x')"}"#);
    assert!(evs[0].traceback.is_none());
    let (evs, _) = decode(
        r#"{"type": "task-failed", "uuid": "u", "exception": "ExceptionWithTraceback()", "traceback": "T\nE: real"}"#,
    );
    assert_eq!(evs[0].traceback.as_deref(), Some("T\nE: real"));
}

#[test]
fn wrong_types_drop_the_field_keep_the_event() {
    let (evs, issues) = decode(
        r#"{"type": "task-succeeded", "uuid": "u", "runtime": "fast", "pid": -1, "clock": 1.5, "retries": [1], "name": 5, "terminated": "yes", "loadavg": [1, "x"], "result": {"a": 1}}"#,
    );
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert!(e.runtime.is_none() && e.pid.is_none() && e.clock.is_none() && e.retries.is_none());
    assert!(
        e.name.is_none() && e.terminated.is_none() && e.loadavg.is_none() && e.result.is_none()
    );
    assert_eq!(kinds(&issues), vec![IssueKind::WrongType; 8]);
    assert!(
        issues[0]
            .message
            .contains("`runtime` is a string, expected a number"),
        "{}",
        issues[0].message
    );
}

#[test]
fn malformed_entries() {
    let cases: &[(&str, IssueKind)] = &[
        (r#"{"type": "task-sent", "uuid": "#, IssueKind::NotJson),
        ("{not json}", IssueKind::NotJson),
        ("\"text\"", IssueKind::NotAnEvent),
        ("42", IssueKind::NotAnEvent),
        ("null", IssueKind::NotAnEvent),
        ("[1]", IssueKind::NotAnEvent),
        ("[]", IssueKind::NotAnEvent),
        ("{}", IssueKind::MissingField),
        (r#"{"type": ""}"#, IssueKind::MissingField),
        (r#"{"type": null, "uuid": "u"}"#, IssueKind::MissingField),
        (r#"{"type": "task-started"}"#, IssueKind::MissingField),
        (
            r#"{"type": "task-started", "uuid": ""}"#,
            IssueKind::MissingField,
        ),
        (
            r#"{"body": "%%%", "properties": {"body_encoding": "base64"}}"#,
            IssueKind::BadEnvelope,
        ),
        (
            r#"{"body": "gA==", "properties": {"body_encoding": "base64"}}"#,
            IssueKind::BadEnvelope,
        ),
        (
            r#"{"body": "x", "content-type": "application/x-python-serialize"}"#,
            IssueKind::BadEnvelope,
        ),
        (
            r#"{"body": "bm90IGpzb24=", "properties": {"body_encoding": "base64"}}"#,
            IssueKind::NotJson,
        ),
        (
            r#"{"raw": "{\"raw\": \"{\\\"raw\\\": \\\"{}\\\"}\"}"}"#,
            IssueKind::NotAnEvent,
        ),
        (r#"{"type": "task-sent"} trailing"#, IssueKind::NotJson),
        ("", IssueKind::NotJson),
    ];
    for (input, kind) in cases {
        let (evs, issues) = decode(input);
        assert!(evs.is_empty(), "{input}");
        assert_eq!(kinds(&issues), vec![*kind], "{input}: {issues:?}");
    }
    let mut issues = Vec::new();
    decode_bytes(b"\xff\xfe{\"type\"", &mut issues, &mut |_| {});
    assert_eq!(kinds(&issues), vec![IssueKind::NotJson]);
    // The message says where: past a long valid prefix (read in vector-wide blocks) too.
    let mut line = br#"{"type": "task-sent", "uuid": ""#.to_vec();
    line.extend(std::iter::repeat_n(b'a', 100));
    line.extend(b"\xe2\x82\"}");
    issues.clear();
    decode_bytes(&line, &mut issues, &mut |_| {});
    assert_eq!(
        issues[0].message,
        "not UTF-8 text (invalid byte at offset 131)"
    );
}

#[test]
fn one_bad_batch_element_does_not_hide_the_others() {
    let (evs, issues) = decode(
        r#"[{"type": "task-started", "uuid": "a"}, 7, {"uuid": "b"}, {"type": "task-started", "uuid": "c"}]"#,
    );
    assert_eq!(evs.len(), 2);
    assert_eq!(
        kinds(&issues),
        vec![IssueKind::NotAnEvent, IssueKind::MissingField]
    );
}

#[test]
fn huge_fields_are_cut() {
    let big = "x".repeat(MAX_FIELD_BYTES + 10);
    let (evs, issues) = decode(&format!(
        r#"{{"type": "task-sent", "uuid": "u", "args": "{big}"}}"#
    ));
    assert_eq!(evs[0].args.as_ref().unwrap().len(), MAX_FIELD_BYTES + 3);
    assert_eq!(kinds(&issues), vec![IssueKind::Truncated]);
    let huge = " ".repeat(MAX_ENTRY_BYTES + 1);
    assert_eq!(kinds(&decode(&huge).1), vec![IssueKind::TooLarge]);
}

#[test]
fn escaped_strings_decode() {
    let (evs, _) =
        decode(r#"{"type": "task-failed", "uuid": "u", "traceback": "line1\nline2 \u00e9 \"q\""}"#);
    assert_eq!(evs[0].traceback.as_deref(), Some("line1\nline2 é \"q\""));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut issues = Vec::new();
        let n = decode_bytes(&bytes, &mut issues, &mut |_| {});
        // Either something decoded or the problem was reported: never silence.
        let blank = bytes.iter().all(u8::is_ascii_whitespace) && !bytes.is_empty();
        prop_assert!(n > 0 || !issues.is_empty() || blank);
    }

    #[test]
    fn arbitrary_json_values_never_panic(v in arb_json()) {
        let text = v.to_string();
        let mut issues = Vec::new();
        let n = decode_entry(&text, &mut issues, &mut |_| {});
        prop_assert!(n > 0 || !issues.is_empty(), "silently dropped: {}", text);
    }

    #[test]
    fn truncating_a_real_line_is_an_issue_not_a_panic(cut in 0usize..400) {
        let line = SENT.lines().next().unwrap();
        let cut = cut.min(line.len() - 1);
        if line.is_char_boundary(cut) {
            let (evs, issues) = decode(&line[..cut]);
            prop_assert!(evs.is_empty());
            prop_assert_eq!(issues.len(), 1);
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|n| serde_json::json!(n)),
        prop_oneof![
            Just("task-sent".to_string()),
            Just("uuid".to_string()),
            Just("type".to_string()),
            ".*".prop_map(|s: String| s)
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("uuid".to_string()),
                    Just("body".to_string()),
                    Just("raw".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The fast path must agree with the full decoder wherever it answers.
fn same_as_serde(line: &str) -> bool {
    let Some(fast) = super::super::fast::parse(line) else {
        return false;
    };
    let mut slow = parse_object(line).unwrap();
    // The fast path does not parse what `handle_entry` drops (see there); nothing else may
    // differ.
    let dropped = slow.event.type_name.starts_with("task-") && slow.event.timestamp.is_some();
    if dropped {
        slow.event.utcoffset = None;
    } else {
        assert_eq!(fast.received, slow.received, "{line}");
    }
    let (a, b) = (&fast.event, &slow.event);
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line}");
    assert_eq!(fast.has_type, slow.has_type);
    true
}

#[test]
fn fast_path_matches_serde_on_every_captured_event() {
    let mut fast = 0;
    for text in [
        SENT,
        include_str!("../../tests/fixtures/celery-5.7/redis/time_limits.events.ndjson"),
        include_str!("../../tests/fixtures/celery-5.7/redis/long_args.events.ndjson"),
        include_str!("../../tests/fixtures/celery-5.7/redis/worker_kill.events.ndjson"),
        include_str!("../../tests/fixtures/celery-5.7/redis/custom_event.events.ndjson"),
    ] {
        for line in text.lines() {
            if same_as_serde(line) {
                fast += 1;
            }
        }
    }
    assert!(fast > 40, "the fast path should take plain events ({fast})");
}

#[test]
fn fast_path_declines_what_it_does_not_model() {
    for line in [
        r#"{"type": "task-progress", "uuid": "u", "current": 1}"#,
        r#"{"type": "task-sent", "uuid": "u", "runtime": "x"}"#,
        r#"{"body": "e30=", "properties": {}}"#,
        r#"{"type": "task-sent", "uuid": "\ud83d\ude00"}"#,
        r#"{"type": "task-sent", "n": 01}"#,
        "{\"type\": \"a\tb\"}",
    ] {
        assert!(super::super::fast::parse(line).is_none(), "{line}");
    }
}

proptest! {
    #[test]
    fn fast_path_agrees_with_serde_on_generated_events(
        fields in proptest::collection::vec((
            prop_oneof![Just("type"), Just("uuid"), Just("hostname"), Just("timestamp"), Just("pid"), Just("clock"),
                        Just("args"), Just("retries"), Just("runtime"), Just("terminated"), Just("loadavg"), Just("_batch"),
                        Just("traceback"), Just("utcoffset"), Just("signum")],
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::Bool),
                any::<u32>().prop_map(|n| serde_json::json!(n)),
                any::<i64>().prop_map(|n| serde_json::json!(n)),
                (-1e12f64..1e12).prop_map(|n| serde_json::json!(n)),
                "[ -~\n\t\"\\\\é]{0,20}".prop_map(serde_json::Value::String),
                Just(serde_json::json!([0.5, 1, 2.25])),
            ],
        ), 0..10)
    ) {
        let obj: serde_json::Map<String, serde_json::Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let compact = serde_json::Value::Object(obj.clone()).to_string();
        let spaced = serde_json::to_string_pretty(&serde_json::Value::Object(obj)).unwrap();
        same_as_serde(&compact);
        same_as_serde(&spaced);
    }
}

proptest! {
    /// Numbers as they are written, not as serde writes them back: long digit runs (read
    /// eight at a time), leading zeros, fractions of every length, exponents.
    #[test]
    fn fast_path_reads_number_texts_as_serde_does(
        number in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?|-?0[0-9]{1,9}"
    ) {
        let line = format!(
            r#"{{"type": "task-succeeded", "uuid": "u", "timestamp": {number}, "runtime": {number}}}"#
        );
        if parse_object(&line).is_ok() {
            same_as_serde(&line);
        } else {
            prop_assert!(super::super::fast::parse(&line).is_none(), "{line}");
        }
    }
}

/// The key table answers what a comparison with every known key answers.
fn field_by_comparison(key: &str) -> Field {
    KNOWN_KEYS.iter().find(|(k, _)| *k == key).map_or(
        if key.starts_with('_') {
            Field::Annotation
        } else {
            Field::Other
        },
        |(_, f)| *f,
    )
}

#[test]
fn every_known_key_finds_its_field() {
    for (key, field) in KNOWN_KEYS {
        assert_eq!(Field::of(key), field, "{key}");
        // A byte more or less is another key.
        assert_eq!(
            Field::of(&key[..key.len() - 1]),
            field_by_comparison(&key[..key.len() - 1])
        );
        let longer = format!("{key}\0");
        assert_eq!(Field::of(&longer), field_by_comparison(&longer), "{key}");
    }
    assert_eq!(Field::of(""), Field::Other);
    assert_eq!(Field::of("_"), Field::Annotation);
    assert_eq!(Field::of("_a_very_long_annotation_key"), Field::Annotation);
}

proptest! {
    #[test]
    fn the_key_table_answers_as_a_comparison_does(
        key in prop_oneof![
            proptest::sample::select(KNOWN_KEYS.map(|(k, _)| k).to_vec()).prop_map(str::to_string),
            "[a-z_\\-é\0]{0,20}",
        ]
    ) {
        prop_assert_eq!(Field::of(&key), field_by_comparison(&key));
    }
}
