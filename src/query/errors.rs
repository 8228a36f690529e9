//! `errors`: failures and retries grouped into patterns. A pattern is the exception's type and
//! its message with the parts that change from one occurrence to the next masked (numbers,
//! ids, hex, quoted values), so `RuntimeError('attempt 0')` and `RuntimeError('attempt 1')`
//! are one. Pure.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::model::repr::effective_exception;
use crate::query::tasks::TaskQuery;
use crate::state::State;
use crate::state::task::MarkKind;
use crate::state::view::TaskView;

/// How the rows are split besides their pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsBy {
    Worker,
    Name,
    /// The UTC hour the occurrence happened in.
    Hour,
}

/// One pattern (or pattern and `--by` value) and where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorPattern {
    /// `RuntimeError: attempt <n>`.
    pub pattern: String,
    pub exc_type: String,
    /// The `--by` value (worker, task name, or hour as epoch seconds).
    pub by: Option<String>,
    pub failures: usize,
    pub retries: usize,
    pub first: f64,
    pub last: f64,
    /// Task names and workers with their counts.
    pub names: BTreeMap<String, usize>,
    pub workers: BTreeMap<String, usize>,
    /// Task ids of the first occurrences (at most [`SAMPLES`]).
    pub samples: Vec<String>,
    /// Every occurrence's time, for a sparkline.
    pub times: Vec<f64>,
    /// One occurrence as it was (its first), for people.
    pub example: String,
}

impl ErrorPattern {
    pub fn count(&self) -> usize {
        self.failures + self.retries
    }
}

pub const SAMPLES: usize = 5;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
        .unwrap_or_else(|_| unreachable!())
});
static HEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]{8,}\b").unwrap_or_else(|_| unreachable!())
});
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"'[^']*'|"[^"]*""#).unwrap_or_else(|_| unreachable!()));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?").unwrap_or_else(|_| unreachable!())
});

/// `(type, message)` of an exception as Celery's events carry it: `Type('message', ...)` (a
/// repr), or `Type: message` (a traceback's last line), or a bare type.
fn split(exception: &str) -> (String, String) {
    let e = exception.trim();
    if let Some(open) = e.find('(')
        && e.ends_with(')')
        && e[..open]
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && open > 0
    {
        let inner = &e[open + 1..e.len() - 1];
        // The message is the first argument's text when it is a string.
        let message = match inner.chars().next() {
            Some(q @ ('\'' | '"')) => inner[1..]
                .find(q)
                .map_or(inner, |end| &inner[1..=end])
                .to_string(),
            _ => inner.to_string(),
        };
        return (e[..open].to_string(), message);
    }
    match e.split_once(": ") {
        Some((t, m)) if !t.contains(' ') => (t.to_string(), m.to_string()),
        _ => (e.to_string(), String::new()),
    }
}

/// The message with what changes between occurrences masked.
pub fn mask(message: &str) -> String {
    let m = UUID.replace_all(message, "<id>");
    let m = QUOTED.replace_all(&m, "<str>");
    let m = HEX.replace_all(&m, "<hex>");
    NUMBER.replace_all(&m, "<n>").into_owned()
}

/// The pattern of an exception: its type and its masked message.
pub fn pattern_of(exception: &str) -> (String, String) {
    let (t, message) = split(exception);
    let masked = mask(&message);
    let pattern = if masked.is_empty() {
        t.clone()
    } else {
        format!("{t}: {masked}")
    };
    (pattern, t)
}

/// Every failure and retry of the tasks `select` keeps, grouped by pattern (and `by`), most
/// frequent first.
pub fn errors(
    state: &State,
    select: &TaskQuery,
    by: Option<ErrorsBy>,
    horizon: f64,
) -> Vec<ErrorPattern> {
    let mut groups: BTreeMap<(String, Option<String>), ErrorPattern> = BTreeMap::new();
    for rec in state.tasks() {
        let v = TaskView::new(state, rec, horizon);
        if !select.matches(state, &v) {
            continue;
        }
        let name = rec.name().map_or("?", |s| state.sym(s)).to_string();
        for a in &v.attempts {
            let Some(fin) = a.finished else { continue };
            let retry = match fin.kind {
                MarkKind::Failed => false,
                MarkKind::Retried => true,
                _ => continue,
            };
            let Some(text) = effective_exception(a.exception(), a.traceback()) else {
                continue;
            };
            let (pattern, exc_type) = pattern_of(text);
            let worker = a.host().map_or("?", |h| state.sym(h)).to_string();
            let at = fin.time;
            let key = match by {
                None => None,
                Some(ErrorsBy::Worker) => Some(worker.clone()),
                Some(ErrorsBy::Name) => Some(name.clone()),
                Some(ErrorsBy::Hour) => Some(((at / 3600.0).floor() * 3600.0).to_string()),
            };
            let g = groups
                .entry((pattern.clone(), key.clone()))
                .or_insert_with(|| ErrorPattern {
                    pattern,
                    exc_type,
                    by: key,
                    failures: 0,
                    retries: 0,
                    first: at,
                    last: at,
                    names: BTreeMap::new(),
                    workers: BTreeMap::new(),
                    samples: Vec::new(),
                    times: Vec::new(),
                    example: text.lines().next().unwrap_or_default().to_string(),
                });
            if retry {
                g.retries += 1;
            } else {
                g.failures += 1;
            }
            if at < g.first {
                g.first = at;
                g.example = text.lines().next().unwrap_or_default().to_string();
            }
            g.last = g.last.max(at);
            *g.names.entry(name.clone()).or_default() += 1;
            *g.workers.entry(worker).or_default() += 1;
            let id = rec.id.to_string();
            if g.samples.len() < SAMPLES && !g.samples.contains(&id) {
                g.samples.push(id);
            }
            g.times.push(at);
        }
    }
    let mut out: Vec<ErrorPattern> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.count()
            .cmp(&a.count())
            .then_with(|| a.pattern.cmp(&b.pattern))
            .then_with(|| a.by.cmp(&b.by))
    });
    out
}

/// Occurrences per bucket over `[lo, hi]`, for a sparkline.
pub fn buckets(times: &[f64], lo: f64, hi: f64, n: usize) -> Vec<usize> {
    let mut out = vec![0; n.max(1)];
    let width = ((hi - lo) / out.len() as f64).max(f64::MIN_POSITIVE);
    for t in times {
        let i = (((t - lo) / width).floor().max(0.0) as usize).min(out.len() - 1);
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;

    #[test]
    fn what_changes_between_occurrences_is_masked() {
        assert_eq!(
            pattern_of("RuntimeError('attempt 0')").0,
            "RuntimeError: attempt <n>"
        );
        assert_eq!(
            pattern_of("RuntimeError('attempt 1')").0,
            "RuntimeError: attempt <n>"
        );
        assert_eq!(
            pattern_of("KeyError('order 3f2a9c1e-1234-4000-8000-00000000abcd missing')").0,
            "KeyError: order <id> missing"
        );
        assert_eq!(
            pattern_of("ConnectionError: cannot reach 'db-7' at 0xdeadbeef after 3.5s").0,
            "ConnectionError: cannot reach <str> at <hex> after <n>s"
        );
        assert_eq!(pattern_of("WorkerLostError()").0, "WorkerLostError");
        assert_eq!(
            pattern_of("FraudSuspected('order 1002: customer country blocked')").1,
            "FraudSuspected"
        );
        // Words are not hex, and other errors stay apart.
        assert_eq!(mask("bad feed"), "bad feed");
        assert_ne!(
            pattern_of("ValueError('boom')").0,
            pattern_of("ValueError('bang')").0
        );
    }

    #[test]
    fn retries_and_failures_of_one_pattern_are_counted_apart() {
        let state = state_of(include_str!(
            "../../tests/fixtures/celery-5.7/redis/retry.events.ndjson"
        ));
        let found = errors(&state, &TaskQuery::default(), None, f64::MAX);
        let attempt = found
            .iter()
            .find(|p| p.pattern == "RuntimeError: attempt <n>")
            .unwrap_or_else(|| panic!("{found:#?}"));
        assert_eq!((attempt.retries, attempt.failures), (2, 0));
        assert_eq!(attempt.samples.len(), 1);
        assert_eq!(attempt.times.len(), 2);
    }

    #[test]
    fn buckets_hold_every_time() {
        let b = buckets(&[0.0, 1.0, 9.9, 10.0], 0.0, 10.0, 5);
        assert_eq!(b.iter().sum::<usize>(), 4);
        assert_eq!(b[0], 2);
        assert_eq!(b[4], 2);
    }
}
