//! What `status` reports of each mart, shared by its text output and its HTML page.

use serde::Serialize;

use crate::config::TableConfig;
use std::time::Duration;

use crate::warehouse::{MartStatus, RunSummary, Timed};

/// A mart's state and how far it is behind its source.
#[derive(Debug, Clone, Serialize)]
pub struct MartReport {
    #[serde(flatten)]
    pub status: MartStatus,
    /// The source table's largest watermark, in the column's unit.
    pub source_max_watermark: Option<i64>,
    /// Source max watermark minus mart max watermark, in seconds (`None` when either is
    /// unknown). 0 means the mart holds the source's newest change.
    pub lag_seconds: Option<f64>,
    /// Why the source could not be asked, if it could not.
    pub source_error: Option<String>,
    /// The mart's `[[tables.targets]]`: rows and max watermark (their runs are the mart's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<MartStatus>,
    /// The merge statement with the largest median time over the recent runs.
    pub slowest_statement: Option<SlowestStatement>,
    /// The recent runs whose DELETE took longer than `warehouse.warn_delete_after`.
    pub slow_deletes: Option<SlowDeletes>,
    /// `binlog` mode: the binary-log position (`file:offset`) the mart's last cycle applied
    /// the source's changes up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binlog_applied: Option<String>,
    /// `binlog` mode: where the server's binary log ends now (or why it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binlog_end: Option<String>,
}

/// A merge statement's typical time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowestStatement {
    /// `load`, `drop_stale`, `delete`, `insert`, `trim` or `targets`.
    pub statement: &'static str,
    pub median_ms: i64,
    /// The recent runs that ran it (the median's sample).
    pub runs: usize,
}

/// Recent DELETEs past the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowDeletes {
    pub warn_delete_after_ms: i64,
    /// How many of the recent runs, and the slowest of them.
    pub runs: usize,
    pub of_runs: usize,
    pub max_ms: i64,
}

/// The statement whose median over `runs` is the largest (runs recorded before the ledger
/// had timings have none, and are not counted).
pub fn slowest_statement(runs: &[RunSummary]) -> Option<SlowestStatement> {
    Timed::ALL
        .into_iter()
        .filter_map(|timed| {
            let mut times: Vec<i64> = runs.iter().filter_map(|r| r.timings.get(timed)).collect();
            if times.is_empty() {
                return None;
            }
            times.sort_unstable();
            Some(SlowestStatement {
                statement: timed.as_str(),
                median_ms: times[times.len() / 2],
                runs: times.len(),
            })
        })
        .max_by_key(|s| s.median_ms)
}

/// The runs among `runs` whose DELETE took longer than `after`, if any did.
pub fn slow_deletes(runs: &[RunSummary], after: Duration) -> Option<SlowDeletes> {
    let after_ms = after.as_millis() as i64;
    let slow: Vec<i64> = runs
        .iter()
        .filter_map(|r| r.timings.get(Timed::Delete))
        .filter(|ms| *ms > after_ms)
        .collect();
    Some(SlowDeletes {
        warn_delete_after_ms: after_ms,
        runs: slow.len(),
        of_runs: runs.len(),
        max_ms: *slow.iter().max()?,
    })
}

/// `1.2s`, `5m 3s`: a statement's time for people.
pub fn describe_ms(ms: i64) -> String {
    humantime::format_duration(Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// Source max minus mart max, in seconds: watermarks are epoch seconds, or µs for
/// timestamp columns. An empty mart behind a non-empty source has no finite lag.
pub fn lag_seconds(table: &TableConfig, source: Option<i64>, mart: Option<i64>) -> Option<f64> {
    let unit = if table.schema.is_timestamp(&table.watermark) {
        1e6
    } else {
        1.0
    };
    match (source, mart) {
        (Some(s), Some(m)) => Some((s - m).max(0) as f64 / unit),
        _ => None,
    }
}

/// The lag for people: `0s`, `12m 3s`, or why it is unknown.
pub fn describe_lag(report: &MartReport) -> String {
    match (report.lag_seconds, &report.source_error) {
        (Some(s), _) => {
            humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
        }
        (None, Some(_)) => "unknown (source unreachable)".into(),
        (None, None) if report.source_max_watermark.is_some() => "all (mart empty)".into(),
        (None, None) => "-".into(),
    }
}

/// The columns a run is shown with, in the text output and the HTML page.
pub const RUN_COLUMNS: [&str; 8] = [
    "committed",
    "batch",
    "ms",
    "extracted",
    "deduped",
    "deleted",
    "inserted",
    "trimmed",
];

/// A run's values in [`RUN_COLUMNS`] order.
pub fn run_cells(run: &RunSummary) -> [String; 8] {
    [
        format_ms(run.committed_at_ms),
        run.batch.clone().unwrap_or_else(|| "-".into()),
        run.duration_ms().to_string(),
        run.rows_extracted.to_string(),
        run.rows_deduped.to_string(),
        run.rows_deleted.to_string(),
        run.rows_inserted.to_string(),
        run.rows_trimmed.to_string(),
    ]
}

/// Epoch ms as `2026-11-26 21:04:05 UTC`.
pub fn format_ms(ms: i64) -> String {
    let array = arrow::array::TimestampMillisecondArray::from(vec![ms]);
    arrow::util::display::array_value_to_string(&array, 0).map_or_else(
        |_| ms.to_string(),
        |t| format!("{} UTC", t.replace('T', " ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::Timings;

    fn run(times: &[(Timed, i64)]) -> RunSummary {
        let mut timings = Timings::default();
        for (t, ms) in times {
            timings.add(*t, *ms);
        }
        RunSummary {
            timings,
            ..RunSummary::default()
        }
    }

    #[test]
    fn the_slowest_statement_is_the_largest_median() {
        use Timed::*;
        let runs = [
            run(&[(Delete, 10), (Insert, 50)]),
            run(&[(Delete, 900), (Insert, 40)]),
            run(&[(Delete, 20), (Insert, 60)]),
            // A run recorded before the ledger had timings.
            run(&[]),
        ];
        // Delete's one outlier does not make it the slowest: medians 20 vs 50.
        assert_eq!(
            slowest_statement(&runs),
            Some(SlowestStatement {
                statement: "insert",
                median_ms: 50,
                runs: 3
            })
        );
        assert_eq!(slowest_statement(&runs[3..]), None);
    }

    #[test]
    fn slow_deletes_count_the_runs_past_the_threshold() {
        use Timed::*;
        let runs = [
            run(&[(Delete, 300_001)]),
            run(&[(Delete, 300_000)]),
            run(&[(Delete, 420_000)]),
            run(&[(Insert, 999_999)]),
        ];
        let five = Duration::from_secs(300);
        assert_eq!(
            slow_deletes(&runs, five),
            Some(SlowDeletes {
                warn_delete_after_ms: 300_000,
                runs: 2,
                of_runs: 4,
                max_ms: 420_000
            })
        );
        assert_eq!(slow_deletes(&runs[1..2], five), None);
    }
}
