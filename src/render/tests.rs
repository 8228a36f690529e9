//! The renderers on a hand-built state, snapshotted in-process: a three-task workflow (an
//! order whose charge failed once, was retried and failed again, and whose receipt is still
//! running on a worker that went silent) and two workers (one online, one that said goodbye).
//! Each renderer is fed the same state, so a change in one shows in its own snapshot.

use super::RenderCtx;
use crate::query::testing::state_of;
use crate::query::workers::{WorkerQuery, workers};
use crate::state::State;

const ORDER: &str = "0a0a0a0a-1111-4000-8000-000000000001";
const CHARGE: &str = "0b0b0b0b-2222-4000-8000-000000000002";
const RECEIPT: &str = "0c0c0c0c-3333-4000-8000-000000000003";
const T: f64 = 1_795_333_000.0;

fn event(kind: &str, dt: f64, rest: &str) -> String {
    format!(
        r#"{{"type": "{kind}", "timestamp": {}, "clock": 1{rest}}}"#,
        T + dt
    )
}

fn task(kind: &str, id: &str, host: &str, dt: f64, rest: &str) -> String {
    event(
        kind,
        dt,
        &format!(r#", "uuid": "{id}", "hostname": "{host}", "pid": 40{rest}"#),
    )
}

fn ident(name: &str, parent: Option<&str>, args: &str) -> String {
    let parent = parent.map_or_else(|| "null".to_string(), |p| format!("\"{p}\""));
    format!(
        r#", "name": "{name}", "args": "{args}", "kwargs": "{{}}", "root_id": "{ORDER}", "parent_id": {parent}, "retries": 0, "queue": "orders""#
    )
}

fn hand_built() -> State {
    let worker = |kind: &str, host: &str, dt: f64| {
        event(
            kind,
            dt,
            &format!(
                r#", "hostname": "{host}", "pid": 40, "freq": 2.0, "active": 1, "processed": 3, "loadavg": [0.5, 0.4, 0.3], "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux""#
            ),
        )
    };
    let exc = r#", "exception": "CardDeclined('order 1002')", "traceback": "Traceback (most recent call last):\nCardDeclined: order 1002""#;
    let lines = [
        worker("worker-online", "w1@shop", 0.0),
        worker("worker-online", "w2@shop-with-a-rather-long-hostname", 0.0),
        task(
            "task-sent",
            ORDER,
            "client",
            1.0,
            &ident("shop.place_order", None, "(1002,)"),
        ),
        task(
            "task-received",
            ORDER,
            "w1@shop",
            1.1,
            &ident("shop.place_order", None, "(1002,)"),
        ),
        task("task-started", ORDER, "w1@shop", 1.2, ""),
        task(
            "task-sent",
            CHARGE,
            "w1@shop",
            1.3,
            &ident("shop.charge_card", Some(ORDER), "(1002, 'EUR')"),
        ),
        task(
            "task-sent",
            RECEIPT,
            "w1@shop",
            1.3,
            &ident("shop.send_receipt", Some(ORDER), "(1002,)"),
        ),
        task(
            "task-succeeded",
            ORDER,
            "w1@shop",
            1.4,
            r#", "result": "'queued'", "runtime": 0.2"#,
        ),
        task(
            "task-received",
            CHARGE,
            "w1@shop",
            1.5,
            &ident("shop.charge_card", Some(ORDER), "(1002, 'EUR')"),
        ),
        task("task-started", CHARGE, "w1@shop", 1.6, ""),
        task("task-retried", CHARGE, "w1@shop", 2.0, exc),
        task(
            "task-received",
            CHARGE,
            "w1@shop",
            4.0,
            &ident("shop.charge_card", Some(ORDER), "(1002, 'EUR')"),
        ),
        task("task-started", CHARGE, "w1@shop", 4.1, ""),
        task("task-failed", CHARGE, "w1@shop", 4.5, exc),
        task(
            "task-received",
            RECEIPT,
            "w2@shop-with-a-rather-long-hostname",
            1.5,
            &ident("shop.send_receipt", Some(ORDER), "(1002,)"),
        ),
        task(
            "task-started",
            RECEIPT,
            "w2@shop-with-a-rather-long-hostname",
            1.6,
            "",
        ),
        worker("worker-heartbeat", "w1@shop", 5.0),
        worker("worker-offline", "w2@shop-with-a-rather-long-hostname", 5.0),
    ];
    state_of(&lines.join("\n"))
}

fn ctx(width: u16) -> RenderCtx {
    RenderCtx {
        now: super::fmt::at(T + 6.0),
        ..RenderCtx::plain_for_tests(width)
    }
}

fn text(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn tasks_table_at_100_and_60_columns_and_wide() {
    let state = hand_built();
    let h = state.horizon(T + 6.0);
    let rows = crate::query::tasks::select(&state, &Default::default(), h);
    insta::assert_snapshot!(
        "tasks_100",
        text(|o| super::tasks::table(&state, &rows, h, &ctx(100), o))
    );
    let narrow = text(|o| super::tasks::table(&state, &rows, h, &ctx(60), o));
    insta::assert_snapshot!("tasks_60", narrow);
    // Ids are never broken: every row starts with a whole 8-character prefix.
    for id in [ORDER, CHARGE, RECEIPT] {
        assert!(narrow.contains(&id[..8]), "{narrow}");
    }
    let wide = RenderCtx {
        wide: true,
        ..ctx(60)
    };
    let all = text(|o| super::tasks::table(&state, &rows, h, &wide, o));
    assert!(
        all.contains(CHARGE) && all.contains("shop.send_receipt"),
        "{all}"
    );
}

#[test]
fn workers_table_at_80_columns() {
    let state = hand_built();
    let h = state.horizon(T + 6.0);
    let rows = workers(&state, &WorkerQuery::default(), h);
    let out = text(|o| super::workers::table(&state, &rows, h, &ctx(80), o));
    // A status word is never wrapped onto a second line.
    assert!(out.contains("offline") && out.contains("online"), "{out}");
    insta::assert_snapshot!("workers_80", out);
}

#[test]
fn graph_tree_of_the_workflow() {
    let state = hand_built();
    let h = state.horizon(T + 6.0);
    let backend = crate::graph::backend::Backend::from_records(&state);
    let id = crate::model::TaskId::parse(CHARGE);
    let flow = crate::graph::build(&state, &id, &backend, h, Default::default()).unwrap();
    let opts = super::graph::TreeOptions {
        all: true,
        depth: None,
    };
    insta::assert_snapshot!(
        "graph_tree",
        text(|o| super::graph::tree(&state, &flow, opts, &ctx(100), o))
    );
}

#[test]
fn show_of_the_retried_failure() {
    let state = hand_built();
    let h = state.horizon(T + 6.0);
    let id = crate::model::TaskId::parse(CHARGE);
    let rec = state.task(&id).unwrap();
    let backend = crate::graph::backend::Backend::from_records(&state);
    let flow = crate::graph::build(&state, &id, &backend, h, Default::default()).unwrap();
    let place = crate::graph::place(&flow, flow.focus);
    let data = super::show::ShowData {
        view: crate::state::view::TaskView::new(&state, rec, h),
        flow: Some((flow, place)),
        ancestors: vec![crate::model::TaskId::parse(ORDER)],
        children: Vec::new(),
        backend: None,
    };
    insta::assert_snapshot!(
        "show_charge",
        text(|o| super::show::text(&state, &data, &ctx(100), h, o))
    );
}
