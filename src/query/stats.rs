//! `stats`: per task name (or worker, or queue) counts by state, success rate, runtime and
//! queue-wait percentiles, retries, and an optional time series. Pure.

use std::collections::BTreeMap;

use crate::model::TaskState;
use crate::query::tasks::TaskQuery;
use crate::state::State;
use crate::state::view::TaskView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    Name,
    Worker,
    Queue,
    /// The time slice (of this many seconds; 3600 for hours) a task was first seen in, rows
    /// in time order.
    Time(u64),
}

#[derive(Debug, Clone, Default)]
pub struct StatsQuery {
    pub by: GroupBy,
    /// Which tasks count: the `tasks` filters, with their meaning (a time window keeps the
    /// tasks with any activity in it).
    pub select: TaskQuery,
    /// Width of a time-series bucket in seconds.
    pub bucket: Option<f64>,
}

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    pub fn of(mut sample: Vec<f64>) -> Self {
        sample.retain(|v| v.is_finite());
        if sample.is_empty() {
            return Self::default();
        }
        sample.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let n = sample.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            sample.get(i).copied()
        };
        Self {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: sample.last().copied(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StatsRow {
    pub key: String,
    pub count: usize,
    pub by_state: BTreeMap<&'static str, usize>,
    /// Successes among tasks that ended (succeeded, failed, revoked, rejected, or interrupted
    /// by their worker's end); `None` when none ended.
    pub success_rate: Option<f64>,
    /// Tasks whose worker ended while they ran (they never finish).
    pub interrupted: usize,
    pub runtime: Percentiles,
    pub queue_wait: Percentiles,
    pub retries: u64,
    /// Tasks first seen in each bucket, oldest first (empty without `bucket`).
    pub buckets: Vec<usize>,
}

/// The time axis of the buckets: start and width in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub start: f64,
    pub width: f64,
    pub len: usize,
}

/// Most buckets a series may have: a longer range gets an error from the command, not a
/// million-cell table.
pub const MAX_BUCKETS: usize = 10_000;

#[derive(Default)]
struct Acc {
    count: usize,
    by_state: BTreeMap<&'static str, usize>,
    runtimes: Vec<f64>,
    waits: Vec<f64>,
    retries: u64,
    firsts: Vec<f64>,
    ended: usize,
    interrupted: usize,
}

/// Rows sorted by count (most first), then key.
pub fn stats(state: &State, q: &StatsQuery, horizon: f64) -> (Vec<StatsRow>, Option<Axis>) {
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for rec in state.tasks() {
        let Some(first) = rec.first_time() else {
            continue;
        };
        let v = TaskView::new(state, rec, horizon);
        if !q.select.matches(state, &v) {
            continue;
        }
        let hour;
        let key = match q.by {
            GroupBy::Name => rec.name().map(|s| state.sym(s)),
            GroupBy::Worker => v.worker().map(|s| state.sym(s)),
            GroupBy::Queue => rec.queue().map(|s| state.sym(s)),
            GroupBy::Time(width) => {
                hour = slice_key(first, width);
                Some(hour.as_str())
            }
        }
        .unwrap_or("-");
        let acc = groups.entry(key.to_string()).or_default();
        acc.count += 1;
        *acc.by_state.entry(v.state.as_str()).or_default() += 1;
        if v.state.is_ready() {
            acc.ended += 1;
        } else if v.lost.is_some() {
            acc.ended += 1;
            acc.interrupted += 1;
        }
        if let Some(r) = v.runtime() {
            acc.runtimes.push(r);
        }
        if let Some(w) = v.queue_wait() {
            acc.waits.push(w);
        }
        acc.retries += u64::from(v.retries());
        acc.firsts.push(first);
        lo = lo.min(first);
        hi = hi.max(first);
    }
    let axis = q.bucket.filter(|_| lo.is_finite()).map(|width| {
        let start = q
            .select
            .since
            .unwrap_or((lo / width).floor() * width)
            .min(lo);
        let end = q.select.until.unwrap_or(hi).max(hi);
        let len = (((end - start) / width).floor() as usize + 1).min(MAX_BUCKETS);
        Axis { start, width, len }
    });
    let mut rows: Vec<StatsRow> = groups
        .into_iter()
        .map(|(key, acc)| {
            let ok = acc
                .by_state
                .get(TaskState::Success.as_str())
                .copied()
                .unwrap_or(0);
            let buckets = axis.map_or_else(Vec::new, |ax| {
                let mut b = vec![0; ax.len];
                for t in &acc.firsts {
                    let i = ((t - ax.start) / ax.width).floor();
                    if i >= 0.0 && (i as usize) < ax.len {
                        b[i as usize] += 1;
                    }
                }
                b
            });
            StatsRow {
                key,
                count: acc.count,
                by_state: acc.by_state,
                success_rate: (acc.ended > 0).then(|| ok as f64 / acc.ended as f64),
                interrupted: acc.interrupted,
                runtime: Percentiles::of(acc.runtimes),
                queue_wait: Percentiles::of(acc.waits),
                retries: acc.retries,
                buckets,
            }
        })
        .collect();
    match q.by {
        // Hours read as a timeline; their keys sort in time order.
        GroupBy::Time(_) => rows.sort_by(|a, b| a.key.cmp(&b.key)),
        _ => rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key))),
    }
    (rows, axis)
}

/// The start of the UTC time slice of `width` seconds an epoch second falls in:
/// `2026-11-22T07:00Z` (with seconds when the slice is shorter than a minute).
pub fn slice_key(t: f64, width: u64) -> String {
    let width = width.max(1) as f64;
    let format = if width < 60.0 {
        "%Y-%m-%dT%H:%M:%SZ"
    } else {
        "%Y-%m-%dT%H:%MZ"
    };
    crate::query::time::from_epoch((t / width).floor() * width)
        .map_or_else(|| "-".to_string(), |h| h.format(format).to_string())
}

/// What a heatmap cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatMeasure {
    /// Tasks started (or received) in the cell.
    Tasks,
    /// Seconds of runtime of the tasks started in the cell.
    Runtime,
}

/// Workers × time: one row per worker, one value per time cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub start: f64,
    /// Seconds per cell.
    pub width: f64,
    pub cells: usize,
    pub measure: HeatMeasure,
    pub rows: Vec<(String, Vec<f64>)>,
}

impl Heatmap {
    pub fn max(&self) -> f64 {
        self.rows
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(0.0, f64::max)
    }
}

/// The heatmap of the tasks `select` keeps over `cells` equal slices of their time range,
/// each task in the cell of its start (or its receipt when it never started).
pub fn heatmap(
    state: &State,
    select: &TaskQuery,
    horizon: f64,
    cells: usize,
    measure: HeatMeasure,
) -> Option<Heatmap> {
    let cells = cells.max(1);
    let mut points: Vec<(String, f64, f64)> = Vec::new();
    for rec in state.tasks() {
        let v = TaskView::new(state, rec, horizon);
        if !select.matches(state, &v) {
            continue;
        }
        let (Some(worker), Some(at)) = (v.worker(), v.started_at().or_else(|| v.received_at()))
        else {
            continue;
        };
        let value = match measure {
            HeatMeasure::Tasks => 1.0,
            HeatMeasure::Runtime => v.runtime().unwrap_or(0.0),
        };
        points.push((state.sym(worker).to_string(), at, value));
    }
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return None;
    }
    let width = ((hi - lo) / cells as f64).max(1e-3);
    let mut rows: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (worker, at, value) in points {
        let i = (((at - lo) / width).floor() as usize).min(cells - 1);
        rows.entry(worker).or_insert_with(|| vec![0.0; cells])[i] += value;
    }
    Some(Heatmap {
        start: lo,
        width,
        cells,
        measure,
        rows: rows.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testing::state_of;
    use proptest::prelude::*;

    const RETRY: &str = include_str!("../../tests/fixtures/celery-5.7/redis/retry.events.ndjson");
    const CHORD: &str = include_str!("../../tests/fixtures/celery-5.7/redis/chord.events.ndjson");

    #[test]
    fn hours_and_heatmaps_hold_every_task_once() {
        let s = state_of(CHORD);
        let h = s.horizon(f64::MAX);
        let q = StatsQuery {
            by: GroupBy::Time(3600),
            ..StatsQuery::default()
        };
        let (rows, _) = stats(&s, &q, h);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, "2026-11-22T07:00Z");
        assert_eq!(rows[0].count, s.task_count());
        let map = heatmap(&s, &TaskQuery::default(), h, 10, HeatMeasure::Tasks).unwrap();
        assert_eq!(map.rows.len(), 1);
        let total: f64 = map.rows[0].1.iter().sum();
        assert_eq!(total as usize, s.task_count());
        assert_eq!(map.rows[0].1.len(), 10);
        let runtime = heatmap(&s, &TaskQuery::default(), h, 10, HeatMeasure::Runtime).unwrap();
        assert!(runtime.max() > 0.0 && runtime.max() < 1.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max),
            (Some(50.0), Some(90.0), Some(99.0), Some(100.0))
        );
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        assert_eq!(Percentiles::of(vec![3.0]).p99, Some(3.0));
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered_and_within_the_sample(sample in proptest::collection::vec(0.0f64..1e6, 1..200)) {
            let p = Percentiles::of(sample.clone());
            let min = sample.iter().copied().fold(f64::INFINITY, f64::min);
            let (p50, p90, p99, max) = (p.p50.unwrap(), p.p90.unwrap(), p.p99.unwrap(), p.max.unwrap());
            prop_assert!(min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max);
            prop_assert!(sample.contains(&p50) && sample.contains(&p99));
        }
    }

    #[test]
    fn retried_task_counts_its_retries_and_final_state() {
        let s = state_of(RETRY);
        let (rows, axis) = stats(&s, &StatsQuery::default(), s.horizon(f64::MAX));
        assert!(axis.is_none());
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let r = &rows[0];
        assert_eq!(r.count, 1);
        assert!(r.retries >= 1, "{r:#?}");
        assert_eq!(r.success_rate, Some(1.0));
        assert!(r.runtime.max.is_some() && r.queue_wait.p50.is_some());
    }

    #[test]
    fn grouping_by_name_worker_and_queue_partitions_the_tasks() {
        let s = state_of(CHORD);
        let h = s.horizon(f64::MAX);
        let total = s.tasks().count();
        for by in [GroupBy::Name, GroupBy::Worker, GroupBy::Queue] {
            let q = StatsQuery {
                by,
                ..StatsQuery::default()
            };
            let (rows, _) = stats(&s, &q, h);
            assert_eq!(rows.iter().map(|r| r.count).sum::<usize>(), total, "{by:?}");
            for r in &rows {
                assert_eq!(r.by_state.values().sum::<usize>(), r.count);
            }
        }
    }

    #[test]
    fn buckets_count_every_task_once() {
        let s = state_of(CHORD);
        let q = StatsQuery {
            bucket: Some(0.005),
            ..StatsQuery::default()
        };
        let (rows, axis) = stats(&s, &q, s.horizon(f64::MAX));
        let axis = axis.unwrap();
        assert!(axis.len >= 1);
        for r in &rows {
            assert_eq!(r.buckets.len(), axis.len);
            assert_eq!(r.buckets.iter().sum::<usize>(), r.count);
        }
    }

    #[test]
    fn the_time_window_keeps_tasks_with_activity_inside_as_tasks_does() {
        let s = state_of(CHORD);
        let h = s.horizon(f64::MAX);
        let window = |since: Option<f64>, until: Option<f64>| StatsQuery {
            select: TaskQuery {
                since,
                until,
                ..TaskQuery::default()
            },
            ..StatsQuery::default()
        };
        assert!(stats(&s, &window(Some(h + 1.0), None), h).0.is_empty());
        // A task first seen before the window but still active in it counts, as in `tasks`.
        let (lo, hi) = s.time_range().unwrap();
        let late = window(Some(hi - 1e-6), None);
        let counted: usize = stats(&s, &late, h).0.iter().map(|r| r.count).sum();
        let listed = crate::query::tasks::select(&s, &late.select, h).len();
        assert!(counted > 0);
        assert_eq!(counted, listed);
        assert!(lo < hi - 1e-6);
    }
}
