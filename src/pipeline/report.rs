//! What a cycle did: counts and per-phase durations, for logs, `--report-json` and benches.

use serde::Serialize;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The merge committed.
    Committed,
    /// The run id had already committed (a retried cycle): nothing changed.
    AlreadyCommitted,
}

/// One cycle of one mart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleReport {
    pub mart: String,
    pub run_id: String,
    /// `run`, or the replayed file's label.
    pub batch: String,
    pub outcome: Outcome,
    /// Rows above this watermark were extracted (`None`: all rows).
    pub watermark_from: Option<i64>,
    /// The largest watermark among the deduped rows.
    pub watermark_to: Option<i64>,
    pub rows_extracted: u64,
    pub rows_deduped: u64,
    pub rows_rejected: u64,
    /// MySQL zero dates read as NULL.
    pub zero_dates: u64,
    pub rows_deleted: u64,
    pub rows_inserted: u64,
    pub rows_trimmed: u64,
    pub bytes_staged: u64,
    /// Time spent waiting for the source (it overlaps dedup, which consumes it as a stream).
    pub extract_ms: u64,
    pub dedup_ms: u64,
    pub stage_ms: u64,
    pub merge_ms: u64,
    pub total_ms: u64,
}

/// A replay of one mart: every file's cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub mart: String,
    pub files: usize,
    /// Files already committed by an earlier replay, not applied again.
    pub skipped: usize,
    pub cycles: Vec<CycleReport>,
}

/// What a backfill did for one mart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillSummary {
    pub mart: String,
    /// Chunks of the range.
    pub chunks: usize,
    /// Chunks an earlier, interrupted backfill had committed, not applied again.
    pub skipped: usize,
    pub cycles: Vec<CycleReport>,
}
