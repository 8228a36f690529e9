//! One workflow read from a RabbitMQ stream queue through the index `celtrace record
//! --index` keeps (layout in `amqp::index`): the index is read whole, then only the messages
//! of the workflow, its root's burst and the workers' last events, plus every message the
//! index's last unbroken run of spans does not cover (newer ones; older ones when a span was
//! lost). Where there is more of that before the run than in it, or no index, the caller
//! reads the stream as if there were none.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use super::amqp::index::{Index, index_queue};
use super::amqp::{Amqp, AmqpError, Start};
use super::file::{LoadReport, load_reader_into};
use super::history::HistoryError;
use super::recorded::CANDIDATES;
use crate::model::id::MIN_PREFIX;
use crate::scrub::Policy;
use crate::state::State;

/// Offsets at most this far apart are read in one subscription: a subscription costs a
/// round trip or two, and this many messages cost about as much to read and leave out.
const READ_GAP: i64 = 2_000;

/// The workflow of the task `typed` names, or `None` where the stream queue has no index
/// that covers it.
pub fn load(
    amqp: &Amqp,
    queue: &str,
    scrub: Arc<Policy>,
    typed: &str,
    now: f64,
) -> Result<Option<(State, LoadReport)>, HistoryError> {
    let typed = typed.trim();
    let index_name = index_queue(queue);
    let Some((text, transport)) = amqp.read_index(&index_name)? else {
        return Ok(None);
    };
    let index = Index::read(Index::lines(&text));
    // What came after the last span is read whole: the index does not know it yet. The
    // read tells the stream's first and last offsets as it opens (no probe of its own).
    let after_index = index.last().map_or(0, |l| l + 1);
    let tail = match amqp.unordered_reader_before(queue, Start::Offset(after_index), None, None) {
        Ok(reader) => reader,
        Err(AmqpError::NoQueue { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let info = tail.info;
    let Some(plan) = index.plan(info.first, info.last) else {
        return Ok(None);
    };
    let whole = |run: Option<(i64, i64)>| run.map_or(0, |(a, b)| b - a + 1);
    // An indexer that is not running leaves a long tail: said, as it is what a read costs.
    let behind = match whole(plan.head) + whole(plan.tail) {
        0 => String::new(),
        1 => "; 1 message outside it read whole".to_string(),
        n => format!("; {n} messages outside it read whole"),
    };
    let label = format!(
        "{} (stream queue {queue} through its index {index_name}, read by {}{behind})",
        amqp.label,
        transport.describe()
    );
    let mut state = State::scrubbed_by(scrub);
    let mut report = LoadReport {
        source: label.clone(),
        ..LoadReport::default()
    };
    report.absorb(load_reader_into(Box::new(tail), &label, &mut state, None)?);
    if let Some((first, last)) = plan.head {
        let head =
            amqp.unordered_reader_before(queue, Start::Offset(first), None, Some(last + 1))?;
        report.absorb(load_reader_into(Box::new(head), &label, &mut state, None)?);
    }
    let found = candidates(&index, &state, typed);
    let mut offsets = match (found.len(), found.values().next()) {
        (1, Some(root)) => {
            let mut roots = vec![root.clone()];
            roots.extend(index.burst_roots(root));
            index.flow_offsets(&roots)
        }
        // Not found, or ambiguous: the candidates alone, so the answer can describe them.
        _ => index.task_offsets(&found.keys().cloned().collect::<Vec<_>>()),
    };
    offsets.extend(index.worker_offsets());
    // Only the indexed run's: the rest is read already, or gone by retention.
    let (from, to) = plan.indexed.unwrap_or((0, -1));
    offsets.retain(|&o| (from..=to).contains(&o));
    let lines = amqp.read_offsets(queue, &offsets, READ_GAP)?;
    report.absorb(load_reader_into(
        Box::new(Cursor::new(lines)),
        &label,
        &mut state,
        None,
    )?);
    state.observe_time(now);
    Ok(Some((state, report)))
}

/// Task → root of every task the typed id or prefix names, in the index or in the tail.
fn candidates(index: &Index<'_>, tail: &State, typed: &str) -> BTreeMap<String, String> {
    let mut found: BTreeMap<String, String> = index
        .candidates(typed, CANDIDATES + 1)
        .into_iter()
        .collect();
    let lower = typed.to_ascii_lowercase();
    let exact = found.contains_key(typed);
    for task in tail.tasks() {
        if found.len() > CANDIDATES {
            break;
        }
        let id = &task.id;
        let named = id.is(typed) || (!exact && (id.starts_with(typed) || id.starts_with(&lower)));
        if named {
            found
                .entry(id.to_string())
                .or_insert_with(|| tail.root_id(task).to_string());
        }
    }
    if let Some(root) = found.get(typed).cloned() {
        // A whole id named exactly: never ambiguous with the ids it is a prefix of.
        return BTreeMap::from([(typed.to_string(), root)]);
    }
    if typed.chars().count() < MIN_PREFIX {
        // Too short to be looked up (the answer says so): nothing is read for it.
        return BTreeMap::new();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;

    fn span_text() -> String {
        let mut span = crate::source::amqp::index::SpanBuilder::new(0);
        span.add(
            0,
            r#"{"type":"task-received","uuid":"abcd1111-0000-4000-8000-000000000001","root_id":"abcd1111-0000-4000-8000-000000000001","name":"t","hostname":"w","timestamp":1.0}"#,
        );
        serde_json::to_string(&span.finish(0)).unwrap()
    }

    #[test]
    fn candidates_come_from_the_index_and_from_what_came_after_it() {
        let text = span_text();
        let index = Index::read([text.as_str()].into_iter());
        // Sent after the last span, as the indexer had not reached it yet.
        let tail = state_of(
            r#"{"type":"task-received","uuid":"abcd2222-0000-4000-8000-000000000002","root_id":"abcd1111-0000-4000-8000-000000000001","parent_id":"abcd1111-0000-4000-8000-000000000001","name":"t","hostname":"w","timestamp":2.0}"#,
        );
        let both = candidates(&index, &tail, "abcd");
        assert_eq!(both.len(), 2, "{both:?}");
        let only_tail = candidates(&index, &tail, "ABCD2222");
        assert_eq!(
            only_tail.into_iter().collect::<Vec<_>>(),
            vec![(
                "abcd2222-0000-4000-8000-000000000002".to_string(),
                "abcd1111-0000-4000-8000-000000000001".to_string()
            )],
            "found in the tail with its root, typed in upper case"
        );
        let whole = "abcd1111-0000-4000-8000-000000000001";
        assert_eq!(candidates(&index, &tail, whole).len(), 1);
        assert!(candidates(&index, &tail, "abc").is_empty(), "too short");
        assert!(candidates(&index, &tail, "ffff").is_empty());
    }
}
