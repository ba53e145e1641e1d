//! Reconcile: a watermark read never sees a row deleted in the source, so the mart keeps it.
//! A reconcile compares the keys the mart holds inside a window (by the watermark column)
//! with the source's keys in the same window — `compare`'s bounded-memory key diff — and
//! deletes the missing ones from the mart and its targets in one transaction with a ledger
//! row (`reconcile:<window>`), unless they are more than `max_deletes` allows.
//!
//! The window is `watermark >= since` on the mart's side, and `since - lookback` on the
//! source's: a source row's watermark grows, except that a transaction committing late can
//! leave its row with an older one (the reason cycles re-read `lookback`); so a key the mart
//! holds inside the window has its source row inside the wider one, unless the row is gone.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use serde::Serialize;
use tracing::info;

use super::{Pipeline, new_run_id};
use crate::compare::{self, CompareSpec};
use crate::config::{MaxDeletes, TableConfig};
use crate::error::{Error, Result};
use crate::source::Extract;
use crate::stage;
use crate::warehouse::{Apply, MergeRequest, RunRecord};

/// The most missing keys one reconcile deletes: they are held in memory (as text, some
/// 100 MB at most) to be staged. More is refused like a `max_deletes` past its limit.
const MAX_KEYS_AT_ONCE: u64 = 1_000_000;

/// What a reconcile found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub mart: String,
    /// `reconcile:<window>`: the ledger's batch label.
    pub batch: String,
    /// The run id of the ledger row (none for a dry run).
    pub run_id: Option<String>,
    /// Keys the mart holds inside the window.
    pub mart_keys: u64,
    /// Keys the source holds inside the window.
    pub source_keys: u64,
    /// Keys of the mart the source no longer has.
    pub missing: u64,
    /// The most the run could delete (`max_deletes`).
    pub limit: u64,
    /// Mart rows deleted (0 for a dry run).
    pub deleted: u64,
    pub dry_run: bool,
    /// The missing keys, smallest first, each as its key columns' values.
    pub keys: Vec<Vec<String>>,
    pub ms: u64,
}

/// Which rows a reconcile compares.
#[derive(Debug, Clone)]
pub struct Window {
    /// The watermark's lower bound, in the column's unit (µs for timestamps).
    pub since: i64,
    /// How the ledger and errors name it: `7d`, or `since 2026-11-01T00:00:00Z`.
    pub label: String,
}

impl Window {
    /// The last `length`, back from now, labelled like `7d`.
    pub fn last(table: &TableConfig, length: std::time::Duration) -> Window {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Window {
            since: super::in_watermark_units(table, now.saturating_sub(length)),
            label: crate::units::format_duration(length),
        }
    }
}

impl Pipeline {
    /// Deletes the keys `table` holds inside `window` that its source no longer has (none on
    /// a `dry_run`), in one transaction with a ledger row, under the mart's hold; more than
    /// `max` allows is [`Error::TooManyDeletes`] and deletes nothing.
    pub async fn reconcile(
        &self,
        table: &TableConfig,
        window: &Window,
        max: MaxDeletes,
        dry_run: bool,
    ) -> Result<ReconcileReport> {
        let started = Instant::now();
        let _hold = self.warehouse.hold(&table.name).await?;
        let mut projected = table.clone();
        projected
            .schema
            .columns
            .retain(|c| table.key.contains(&c.name) || c.name == table.watermark);
        let left = self
            .warehouse
            .export(
                &table.name,
                &projected,
                self.stage.as_ref(),
                Some(window.since),
            )
            .await?;
        let right = self
            .source
            .extract(
                &projected,
                Extract {
                    above: Some(
                        window.since - super::in_watermark_units(table, table.lookback) - 1,
                    ),
                    ..Extract::default()
                },
            )
            .await?;
        let index = |name: &str| projected.schema.index_of(name).expect("kept column");
        let spec = CompareSpec {
            key: table.key.iter().map(|k| index(k)).collect(),
            columns: Vec::new(),
            // Every missing key within the limit is kept (the limit is at most
            // MAX_KEYS_AT_ONCE): those are the keys to delete.
            sample: match max {
                MaxDeletes::Keys(n) => n.min(MAX_KEYS_AT_ONCE) + 1,
                MaxDeletes::Percent(_) => MAX_KEYS_AT_ONCE + 1,
            } as usize,
            memory_limit: 256 << 20,
            spill_dir: std::env::temp_dir(),
        };
        let diff = compare::compare(
            &format!("reconcile of {}", table.name),
            projected.schema.arrow_schema(),
            left,
            right,
            &spec,
        )
        .await?;
        let mut report = ReconcileReport {
            mart: table.name.clone(),
            batch: format!("reconcile:{}", window.label),
            mart_keys: diff.left.keys,
            source_keys: diff.right.keys,
            missing: diff.only_left.keys,
            limit: max.limit(diff.left.keys).min(MAX_KEYS_AT_ONCE),
            dry_run,
            keys: diff.only_left.sample,
            ..ReconcileReport::default()
        };
        if report.missing > report.limit {
            return Err(Error::TooManyDeletes {
                mart: table.name.clone(),
                since: window.label.clone(),
                missing: report.missing,
                window_keys: report.mart_keys,
                limit: report.limit,
                setting: max.to_string(),
            });
        }
        if !dry_run {
            let run_id = new_run_id();
            report.deleted = self.delete_keys(table, &run_id, &report).await?;
            report.run_id = Some(run_id);
        }
        report.ms = started.elapsed().as_millis() as u64;
        info!(table = %table.name, phase = "reconcile", batch = %report.batch, missing = report.missing,
              deleted = report.deleted, dry_run, ms = report.ms, "Reconciled.");
        Ok(report)
    }

    /// Stages `report`'s keys and deletes them in one transaction with the run's ledger row.
    async fn delete_keys(
        &self,
        table: &TableConfig,
        run_id: &str,
        report: &ReconcileReport,
    ) -> Result<u64> {
        let keys = table.keys_only();
        let schema = keys.schema.arrow_schema();
        let batches = if report.keys.is_empty() {
            Vec::new()
        } else {
            vec![keys_batch(&schema, &report.keys, &table.name)?]
        };
        let started_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let staged = stage::write_run(
            self.stage.as_ref(),
            &table.name,
            run_id,
            &schema,
            batches.into_iter().map(Ok),
            &[],
            self.part_format(self.config.stage.part_rows),
        )
        .await?;
        let merged = self
            .warehouse
            .merge(MergeRequest {
                table: &keys,
                staged: &staged,
                stage: self.stage.as_ref(),
                record: RunRecord {
                    run_id: run_id.to_string(),
                    mart: table.name.clone(),
                    batch: report.batch.clone(),
                    started_at_ms,
                    rows_extracted: report.source_keys,
                    rows_deduped: report.missing,
                    bytes_staged: staged.bytes,
                    ..RunRecord::default()
                },
                min_version: None,
                apply: Apply::DeleteKeys,
            })
            .await;
        let _ = self.stage.delete_prefix(&staged.prefix).await;
        Ok(merged?.deleted)
    }
}

/// The keys (each as its columns' text, as `compare` prints them) as a batch of the key
/// columns' types.
fn keys_batch(
    schema: &arrow::datatypes::SchemaRef,
    keys: &[Vec<String>],
    mart: &str,
) -> Result<RecordBatch> {
    let failed = |e: arrow::error::ArrowError| Error::batch(mart, "staging the keys to delete", e);
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let text: ArrayRef = Arc::new(StringArray::from_iter_values(
                keys.iter().map(|k| k[i].as_str()),
            ));
            arrow::compute::cast(&text, field.data_type()).map_err(failed)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(failed)
}
