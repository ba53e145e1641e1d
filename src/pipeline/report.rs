//! What a cycle did: counts and per-phase durations, for logs, `--report-json` and benches.

use serde::Serialize;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The merge committed.
    #[default]
    Committed,
    /// The run id had already committed (a retried cycle): nothing changed.
    AlreadyCommitted,
}

/// One cycle of one mart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    /// Rows a `delete_missing` reconcile deleted after the cycle (none: not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_reconciled: Option<u64>,
    /// How long the merge's statements took (load, drop_stale, delete, insert, trim, targets).
    pub timings: crate::warehouse::Timings,
    /// The warehouse statements the merge ran, in order (what `explain` showed).
    #[serde(skip)]
    pub statements: Vec<crate::warehouse::Statement>,
}

/// What one batch is, in a command that applies many (named in reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BatchUnit {
    /// Replayed or seeded files (and a seed's one table).
    #[default]
    Files,
    /// Backfill chunks.
    Chunks,
}

impl BatchUnit {
    pub fn name(self) -> &'static str {
        match self {
            BatchUnit::Files => "files",
            BatchUnit::Chunks => "chunks",
        }
    }
}

/// What a command that applies batches one cycle each (replay, seed, backfill) did for one
/// mart. In JSON the batch count is named after the unit (`files` or `chunks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub mart: String,
    pub unit: BatchUnit,
    /// Batches in all.
    pub batches: usize,
    /// Batches an earlier, interrupted run of the same command had committed, not applied again.
    pub skipped: usize,
    pub cycles: Vec<CycleReport>,
}

impl Serialize for BatchSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("BatchSummary", 4)?;
        s.serialize_field("mart", &self.mart)?;
        s.serialize_field(self.unit.name(), &self.batches)?;
        s.serialize_field("skipped", &self.skipped)?;
        s.serialize_field("cycles", &self.cycles)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON reports keep the field names they had as two types.
    #[test]
    fn batch_summaries_name_their_unit() {
        let summary = BatchSummary {
            mart: "m".into(),
            unit: BatchUnit::Chunks,
            batches: 3,
            skipped: 1,
            cycles: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"mart":"m","chunks":3,"skipped":1,"cycles":[]}"#
        );
        let files = BatchSummary {
            unit: BatchUnit::Files,
            ..summary
        };
        assert!(
            serde_json::to_string(&files)
                .unwrap()
                .contains(r#""files":3"#)
        );
    }
}
