//! Reducer tests over the real captures: arrival order, duplicates and batching must not
//! change the result (proptest), plus the lifecycle cases of docs/protocol.md §4.

use proptest::prelude::*;

use super::State;
use super::view::TaskView;
use crate::model::Event;
use crate::model::decode::decode_entry;

const ALL: &[&str] = &[
    include_str!("../../tests/fixtures/celery-5.7/redis/retry.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/chord.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/time_limits.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/revoke_queued.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/worker_kill.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/reject.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/custom_event.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/unregistered.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/eta_expires.events.ndjson"),
    include_str!("../../tests/fixtures/celery-5.7/redis/worker_restart.events.ndjson"),
];

fn events(text: &str) -> Vec<Event<'static>> {
    let mut out = Vec::new();
    let mut issues = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        decode_entry(line, &mut issues, &mut |e| out.push(e.clone().into_owned()));
    }
    assert!(issues.is_empty(), "{issues:?}");
    out
}

fn all_events() -> Vec<Event<'static>> {
    ALL.iter().flat_map(|t| events(t)).collect()
}

fn fold(evs: &[Event<'static>]) -> State {
    let mut s = State::new();
    for e in evs {
        s.apply(e);
    }
    s
}

/// Everything a user can see of a state, as text: tasks with attempts, workers with sessions.
fn fingerprint(s: &State) -> String {
    let horizon = s.horizon(f64::INFINITY);
    let mut tasks: Vec<_> = s.tasks().collect();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::new();
    for t in tasks {
        let v = TaskView::new(s, t, horizon);
        out.push_str(&format!(
            "{} {:?} {:?} root={:?} parent={:?} args={:?} q={:?} retries={} lost={:?} rt={:?}\n",
            t.id,
            t.name().map(|n| s.sym(n)),
            v.state,
            s.root_id(t),
            s.parent_id(t),
            t.args(),
            t.queue().map(|n| s.sym(n)),
            v.retries(),
            v.lost,
            v.runtime(),
        ));
        for a in &v.attempts {
            out.push_str(&format!(
                "  {:?} {:?} {:?} {:?} {:?} {:?} dup={} lost={:?} progress={}\n",
                a.state(),
                a.sent.map(|m| m.time),
                a.received.map(|m| m.time),
                a.started.map(|m| m.time),
                a.finished.map(|m| (m.time, m.kind)),
                a.rejected.map(|m| m.time),
                a.duplicates,
                a.lost,
                a.progress.len()
            ));
        }
    }
    for (host, w) in &s.workers {
        for (pid, sess) in &w.sessions {
            out.push_str(&format!("worker {host} {pid} {sess:?}\n"));
        }
    }
    out
}

#[test]
fn lifecycle_cases_from_the_captures() {
    let s = fold(&all_events());
    let h = s.horizon(f64::INFINITY);
    let view = |prefix: &str| {
        let t = s.tasks().find(|t| t.id.starts_with(prefix)).unwrap();
        TaskView::new(&s, t, h)
    };
    let flaky = view("122a0415");
    assert_eq!(flaky.state.as_str(), "SUCCESS");
    assert_eq!(flaky.attempts.len(), 3);
    assert_eq!(flaky.retries(), 2);
    assert!(s.parent_id(flaky.record).is_none(), "no self-loop");

    let hard = view("df3d5f28");
    assert_eq!(
        (
            hard.state.as_str(),
            hard.attempts.len(),
            hard.attempts[0].duplicates
        ),
        ("FAILURE", 1, 1)
    );

    let reject = view("22836296");
    assert_eq!(reject.state.as_str(), "FAILURE");
    assert!(reject.attempts[0].rejected.is_some());

    let unregistered = s
        .tasks()
        .find(|t| {
            t.name()
                .is_some_and(|n| s.sym(n) == "capapp.does_not_exist")
        })
        .unwrap();
    let v = TaskView::new(&s, unregistered, h);
    assert_eq!((v.state.as_str(), v.attempts.len()), ("FAILURE", 1));
    assert!(v.traceback().is_none(), "NotRegistered has no traceback");

    let expired = view("b0cfa6e7");
    assert_eq!(expired.state.as_str(), "REVOKED");

    let early = view("839290ff");
    assert_eq!(early.state.as_str(), "STARTED");
    assert!(early.lost.is_some(), "acks-early task lost with its worker");
    let late = view("eaf93c04");
    assert_eq!((late.state.as_str(), late.attempts.len()), ("SUCCESS", 2));
}

#[test]
fn a_late_received_never_demotes_a_finished_task() {
    let evs = events(include_str!(
        "../../tests/fixtures/celery-5.7/redis/success.events.ndjson"
    ));
    let mut late = evs
        .iter()
        .find(|e| e.type_name == "task-received")
        .unwrap()
        .clone();
    // A duplicate delivery received after the task succeeded (e.g. visibility timeout).
    late.timestamp = late.timestamp.map(|t| t + 10.0);
    late.clock = late.clock.map(|c| c + 100);
    let mut all = evs.clone();
    all.push(late);
    let s = fold(&all);
    let v = TaskView::new(&s, s.tasks().next().unwrap(), f64::INFINITY);
    assert_eq!(v.attempts.len(), 2);
    assert_eq!(v.state.as_str(), "SUCCESS");
}

#[test]
fn sessions_split_on_restart() {
    let s = fold(&events(include_str!(
        "../../tests/fixtures/celery-5.7/redis/worker_restart.events.ndjson"
    )));
    let w = s.workers.values().next().unwrap();
    assert_eq!(w.sessions.len(), 2, "restart = new pid = new session");
}

fn shuffled(len: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..len).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_gives_the_same_state(order in shuffled(all_events().len())) {
        let evs = all_events();
        let permuted: Vec<_> = order.iter().map(|&i| evs[i].clone()).collect();
        prop_assert_eq!(fingerprint(&fold(&permuted)), fingerprint(&fold(&evs)));
    }

    #[test]
    fn duplicated_events_change_nothing(dups in proptest::collection::vec(any::<prop::sample::Index>(), 1..40)) {
        let evs = all_events();
        let mut with_dups = evs.clone();
        for d in &dups {
            with_dups.push(evs[d.index(evs.len())].clone());
        }
        prop_assert_eq!(fingerprint(&fold(&with_dups)), fingerprint(&fold(&evs)));
    }

    #[test]
    fn folding_in_two_parts_equals_folding_at_once(split in any::<prop::sample::Index>()) {
        let evs = all_events();
        let at = split.index(evs.len());
        let mut s = fold(&evs[..at]);
        for e in &evs[at..] {
            s.apply(e);
        }
        prop_assert_eq!(fingerprint(&s), fingerprint(&fold(&evs)));
    }
}

#[test]
fn records_stay_small() {
    // Memory per task is a target (≤ 500 B beyond argument strings at a million events):
    // these sizes are what it is built on.
    assert_eq!(std::mem::size_of::<super::task::Mark>(), 24);
    assert_eq!(std::mem::size_of::<super::task::Detail>(), 32);
    assert!(
        std::mem::size_of::<super::task::TaskRecord>() <= 96,
        "{}",
        std::mem::size_of::<super::task::TaskRecord>()
    );
}
