//! What `status` reports of each mart, shared by its text output and its HTML page.

use serde::Serialize;

use crate::config::TableConfig;
use crate::warehouse::{MartStatus, RunSummary};

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
