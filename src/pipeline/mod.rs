//! The cycle: extract → dedup → stage → merge → clean up, for one mart. `run` and `replay`
//! both go through [`Pipeline::cycle`].

mod batches;
pub mod explain;
pub mod metrics;
pub mod reconcile;
pub mod report;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::units::new_run_id;

use arrow::array::RecordBatch;
use futures::StreamExt;
use tracing::{info, warn};

pub use batches::batch_label;
pub use report::{BatchSummary, BatchUnit, CycleReport, Outcome};

use crate::config::DedupPlacement;
use crate::config::{Config, SourceMode, TableConfig};
use crate::dedup::{self, DedupMemory, Deduped, DedupedRows};
use crate::error::{Error, Result};
use crate::schema::Dialect;
use crate::source::files::FilesSource;
use crate::source::{self, BinlogPosition, Extract, ExtractCounters, Source};
use crate::stage::{self, Stage};
use crate::units::{BatchStream, column_as_i64};
use crate::warehouse::{self, MergeRequest, RunRecord, Warehouse};

/// Told of each replayed file: (mart, files done, files in all).
pub type Progress = Arc<dyn Fn(&str, usize, usize) + Send + Sync>;

/// What a cycle reads.
#[derive(Debug, Clone)]
pub enum Input {
    /// The configured source, above the mart's watermark minus the lookback.
    Watermark,
    /// These files, whole, as one historical batch labelled `label` (replay).
    Files { label: String, files: Vec<PathBuf> },
    /// The configured source's rows of these keys (first key column), as the batch labelled
    /// `label`: a refresh run (`refresh_from`, Gap 1).
    Keys { label: String, keys: Arc<Vec<i64>> },
    /// The configured source's rows with `from <= watermark < until` (the column's unit), as
    /// the batch labelled `label`: one backfill chunk.
    Range {
        label: String,
        from: i64,
        until: i64,
    },
    /// Every row of the warehouse table `name` (an old staging table), as the batch
    /// labelled `label`: `seed`.
    Table { label: String, name: String },
    /// `binlog` mode: every row of the source table, whatever the mart holds, handing over
    /// to the binary log at the position read before it (`run --resnapshot`, after the
    /// mart's position was purged from the server's logs).
    Snapshot,
}

/// The label of a kept staged run re-applied (`replay --from-stage`).
const REAPPLY_LABEL: &str = "stage:";

impl Input {
    /// A kept staged run's files, re-applied as one batch labelled `stage:<run_id>`.
    pub fn reapply(run_id: &str, files: Vec<PathBuf>) -> Input {
        Input::Files {
            label: format!("{REAPPLY_LABEL}{run_id}"),
            files,
        }
    }

    /// Whether this batch re-applies a kept staged run (its own staged files are then a copy,
    /// not kept again).
    pub fn is_reapply(&self) -> bool {
        matches!(self, Input::Files { label, .. } if label.starts_with(REAPPLY_LABEL))
    }

    /// What `martsync_runs` records the cycle's batch as: `run`, or the batch's label.
    pub fn label(&self) -> &str {
        match self {
            Input::Watermark => "run",
            Input::Snapshot => "snapshot",
            Input::Files { label, .. }
            | Input::Keys { label, .. }
            | Input::Range { label, .. }
            | Input::Table { label, .. } => label,
        }
    }
}

/// The opened source, stage and warehouse of a config.
#[derive(Clone)]
pub struct Pipeline {
    pub config: Arc<Config>,
    pub source: Arc<dyn Source>,
    pub stage: Arc<dyn Stage>,
    pub warehouse: Arc<dyn Warehouse>,
    /// The memory pool the marts' dedups share (`[dedup]`).
    pub memory: DedupMemory,
}

impl Pipeline {
    /// Opens everything the config names and creates missing marts.
    pub async fn open(config: Config) -> Result<Self> {
        let source = source::open(&config.source)?;
        let stage = stage::open(&config.stage).await?;
        let warehouse = warehouse::open(&config.warehouse).await?;
        warehouse.ensure_tables(&config.tables).await?;
        let memory = DedupMemory::limited(
            config.dedup.memory_limit,
            Some(config.dedup.spill_dir.clone()),
        )?;
        // An embedded warehouse merges inside this process: within the same limit (a mart's
        // merge starts once its dedup is over).
        warehouse.limit_memory(memory.warehouse_share()).await?;
        Ok(Pipeline {
            config: Arc::new(config),
            source,
            stage,
            warehouse,
            memory,
        })
    }

    /// The configured tables named in `only` (all when empty); an unknown name is an error.
    /// Each mart's gauges for the metrics file; a mart whose gauges cannot be read is left
    /// out (logged): the metrics of the run are still written.
    pub async fn gauges(&self, tables: &[TableConfig]) -> Vec<(String, warehouse::MartGauges)> {
        let mut gauges = Vec::new();
        for table in tables {
            match self.warehouse.gauges(table).await {
                Ok(g) => gauges.push((table.name.clone(), g)),
                Err(e) => {
                    warn!(table = %table.name, error = %e, "Could not read the mart's gauges for the metrics file.")
                }
            }
        }
        gauges
    }

    pub fn select_tables(&self, only: &[String]) -> Result<Vec<TableConfig>> {
        select_tables(&self.config, only)
    }

    /// One cycle per table, tables in parallel. Each result stands alone: one mart's
    /// failure does not stop the others.
    pub async fn run(&self, tables: &[TableConfig]) -> Vec<(String, Result<CycleReport>)> {
        self.run_with(tables, Input::Watermark).await
    }

    /// [`Pipeline::run`] with each mart's cycle reading `input` (the scheduled cycle's
    /// [`Input::Watermark`], or a re-snapshot's [`Input::Snapshot`]).
    pub async fn run_with(
        &self,
        tables: &[TableConfig],
        input: Input,
    ) -> Vec<(String, Result<CycleReport>)> {
        // One check up front: a source that is down fails every mart with the same clear
        // error, instead of each cycle timing out on its own.
        if let Err(e) = self.source.health_check().await {
            // Error is not Clone: each mart gets its own copy, under its own table name.
            let (location, message) = match e {
                Error::Source {
                    location, message, ..
                } => (format!("health check of {location}"), message),
                other => ("health check".to_string(), other.to_string()),
            };
            return tables
                .iter()
                .map(|t| {
                    let error = Error::Source {
                        table: t.schema.name.clone(),
                        location: location.clone(),
                        message: message.clone(),
                    };
                    (t.name.clone(), Err(error))
                })
                .collect();
        }
        self.per_table(tables, |pipeline, table| {
            let input = input.clone();
            async move {
                let mut report = pipeline.cycle(&table, input).await?;
                // `delete_missing`: the source's deletes in the window leave the mart too.
                if let Some(length) = table.delete_missing {
                    let window = reconcile::Window::last(&table, length);
                    let reconciled = pipeline
                        .reconcile(&table, &window, table.max_deletes, false)
                        .await?;
                    report.rows_reconciled = Some(reconciled.deleted);
                }
                Ok(report)
            }
        })
        .await
    }

    /// Runs `work` for every table on its own task (marts are independent, and dedup is
    /// CPU work that should use every core), and collects the results in table order.
    pub(crate) async fn per_table<T, F, Fut>(
        &self,
        tables: &[TableConfig],
        work: F,
    ) -> Vec<(String, Result<T>)>
    where
        T: Send + 'static,
        F: Fn(Pipeline, TableConfig) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let handles: Vec<_> = tables
            .iter()
            .map(|table| {
                (
                    table.name.clone(),
                    tokio::spawn(work(self.clone(), table.clone())),
                )
            })
            .collect();
        let mut results = Vec::new();
        for (mart, handle) in handles {
            results.push((mart, handle.await.expect("a mart's task does not panic")));
        }
        results
    }

    /// One cycle of one mart; see the crate docs for the steps. Anything that fails before
    /// the merge commits leaves the mart unchanged.
    pub async fn cycle(&self, table: &TableConfig, input: Input) -> Result<CycleReport> {
        let started = Instant::now();
        // Held until this cycle commits or fails: another run of the mart waits here, before
        // it reads anything, so the run that extracted last always commits last.
        let _hold = self.warehouse.hold(&table.name).await?;
        crate::fault::point("after_hold").await;
        // MySQL's rows are its current rows: they replace the mart's whatever their version,
        // unless the mart guards every input (`version_guard`).
        let live = self.config.source.url.reads_current_rows()
            && matches!(
                input,
                Input::Watermark | Input::Snapshot | Input::Keys { .. } | Input::Range { .. }
            );
        let table = &table.for_input(live);
        // A source table that gained columns: with allow_new_columns the mart gains them too
        // (before anything is extracted), otherwise the cycle stops here naming them.
        let resolved;
        // Only a scheduled cycle refreshes other marts: a replayed file is history, and the
        // sources' current rows are not that history's.
        let binlog_mode = self.config.source.mode == SourceMode::Binlog;
        let refreshes_others = matches!(input, Input::Watermark) && !binlog_mode;
        let table = match input {
            Input::Watermark | Input::Snapshot | Input::Keys { .. } | Input::Range { .. } => {
                resolved = self.source.resolve_table(table).await?;
                if resolved.schema.columns.len() > table.schema.columns.len() {
                    for written in resolved.written_tables() {
                        let added = self.warehouse.add_columns(&written).await?;
                        if !added.is_empty() {
                            info!(table = %written.name, columns = ?added, "Added the source's new columns to the table.");
                        }
                    }
                }
                &resolved
            }
            Input::Files { .. } | Input::Table { .. } => table,
        };
        let started_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let run_id = new_run_id();
        let binlog = match input {
            Input::Watermark | Input::Snapshot if binlog_mode => {
                Some(self.binlog_span(table, &input).await?)
            }
            _ => None,
        };
        // Every binlog-mode cycle, its snapshot too, replaces each key it read with the
        // source's row (or deletes it): an append mart's rows change in this mode as well.
        let mart = table;
        let changes;
        let (table, apply, spec) = match &binlog {
            Some(_) => {
                changes = table.with_change_marker();
                // The binary log's order is the source's: a key's last change wins.
                let spec = dedup::DedupSpec {
                    keep: dedup::Keep::Latest,
                    version: None,
                    ..dedup::spec_for(&changes)
                };
                (&changes, warehouse::Apply::Changes, spec)
            }
            _ => (table, warehouse::Apply::Rows, dedup::spec_for(table)),
        };
        let schema = table.schema.arrow_schema();
        // `dedup = "warehouse"`: the valid rows are staged with their arrival numbers and
        // ranked inside the merge transaction (binlog mode never gets here: validated).
        // `auto` on Redshift: deduped here unless the batch outgrows its memory share, then
        // handed over the same way.
        let placement = match (&binlog, table.dedup) {
            (Some(_), _) => Placement::Local,
            (None, DedupPlacement::Warehouse) => Placement::Warehouse,
            (None, DedupPlacement::Auto) if self.warehouse.dialect() == Dialect::Redshift => {
                Placement::HandOverPastMemory
            }
            (None, _) => Placement::Local,
        };
        let raw = table.with_arrival_column();
        let raw_schema = raw.schema.arrow_schema();

        let counters = Arc::new(ExtractCounters::default());
        // The dedup decodes dictionary-encoded text for the rows it keeps, and a file is read
        // further ahead of it (`Extract::for_dedup`); raw rows for the warehouse to rank are
        // staged whole, so they are read as plain text, two batches ahead.
        let for_dedup = !matches!(placement, Placement::Warehouse);
        let batch = input.label().to_string();
        let reapplied = input.is_reapply();
        let snapshot = matches!(input, Input::Snapshot);
        let (watermark_from, stream) = match (input, &binlog) {
            (Input::Watermark | Input::Snapshot, Some((Some(from), to))) => {
                let reader = self.binlog_reader_id(table);
                info!(table = %table.name, from = %from, to = %to, "Reading the binary log.");
                (None, self.source.changes(table, from, to, reader).await?)
            }
            (Input::Watermark | Input::Snapshot, _) => {
                let max = if snapshot {
                    None
                } else {
                    self.warehouse.max_watermark(mart).await?
                };
                let from = extraction_start(mart, max);
                let extract = Extract {
                    above: from,
                    below: None,
                    keys: None,
                    counters: Arc::clone(&counters),
                    for_dedup,
                };
                let stream = self.source.extract(mart, extract).await?;
                if binlog.is_some() {
                    (
                        from,
                        marked_current(stream, Arc::clone(&schema), &mart.name),
                    )
                } else {
                    (from, stream)
                }
            }
            (Input::Keys { keys, .. }, _) => {
                let extract = Extract {
                    above: None,
                    below: None,
                    keys: Some(keys),
                    counters: Arc::clone(&counters),
                    for_dedup,
                };
                (None, self.source.extract(table, extract).await?)
            }
            (Input::Range { from, until, .. }, _) => {
                // Watermarks are integers in their unit, so `> from - 1` is `>= from`: chunk
                // edges belong to exactly one chunk.
                let extract = Extract {
                    above: Some(from - 1),
                    below: Some(until),
                    keys: None,
                    counters: Arc::clone(&counters),
                    for_dedup,
                };
                let stream = self.source.extract(table, extract).await?;
                (Some(from - 1), stream)
            }
            (Input::Table { name, .. }, _) => (
                None,
                self.warehouse
                    .export(&name, table, self.stage.as_ref(), None)
                    .await?,
            ),
            (Input::Files { files, .. }, _) => {
                let source = FilesSource::new(PathBuf::new(), self.config.source.batch_rows);
                let extract = Extract {
                    for_dedup,
                    ..Extract::default()
                };
                (None, source.read_files(table, files, extract))
            }
        };
        let (stream, source_wait) = timed(stream);
        let dedup_started = Instant::now();
        let Deduped {
            batches,
            rejected,
            stats,
            spilled_bytes,
            for_warehouse,
        } = match placement {
            Placement::Local => {
                dedup::dedup(&table.name, Arc::clone(&schema), stream, spec, &self.memory).await?
            }
            Placement::Warehouse => {
                let raw_schema = Arc::clone(&raw_schema);
                dedup::number_arrivals(&table.name, raw_schema, stream, spec, &self.memory).await?
            }
            Placement::HandOverPastMemory => {
                let (schema, raw_schema) = (Arc::clone(&schema), Arc::clone(&raw_schema));
                dedup::dedup_or_hand_over(
                    &table.name,
                    schema,
                    raw_schema,
                    stream,
                    spec,
                    &self.memory,
                )
                .await?
            }
        };
        let (staged_table, staged_schema, apply) = if for_warehouse {
            (&raw, raw_schema, warehouse::Apply::Ranked)
        } else {
            (table, Arc::clone(&schema), apply)
        };
        let extract_ms = source_wait
            .lock()
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let dedup_ms = (dedup_started.elapsed().as_millis() as u64).saturating_sub(extract_ms);
        let (watermark_to, min_version) = watermark_and_version_bounds(table, &batches)?;
        crate::fault::point("after_extract").await;
        info!(table = %table.name, run_id = %run_id, phase = "extract", rows = stats.rows_in, ms = extract_ms, "Extracted.");
        info!(table = %table.name, run_id = %run_id, phase = "dedup", rows = stats.rows_out, rejected = stats.rows_rejected, spilled_bytes, for_warehouse, ms = dedup_ms, "Deduplicated.");

        if stats.rows_rejected > table.max_rejected {
            // Stage only the rejected rows, for the user to inspect; nothing is merged.
            let staged = stage::write_run(
                self.stage.as_ref(),
                &table.name,
                &run_id,
                &schema,
                std::iter::empty(),
                &rejected,
                self.part_format(1),
            )
            .await?;
            let mut columns = table.key.clone();
            columns.extend(table.version.iter().cloned());
            return Err(Error::Rejected {
                mart: table.name.clone(),
                count: stats.rows_rejected,
                max: table.max_rejected,
                columns: columns.join(", "),
                first: format!(
                    "run {run_id}; they are in {}/{}/rejected.parquet",
                    self.stage.url(),
                    staged.prefix
                ),
            });
        }

        if refreshes_others {
            self.refresh_dependents(table, &batches, &run_id).await?;
        }

        let stage_started = Instant::now();
        match self.delete_expired_runs(&table.name).await {
            Ok(deleted) if !deleted.is_empty() => {
                info!(table = %table.name, runs = ?deleted, "Deleted staged files past keeping (runs that never committed, or committed past stage.keep_for).")
            }
            Ok(_) => {}
            Err(e) => {
                warn!(table = %table.name, error = %e, "Could not look for staged files past keeping.")
            }
        }
        let staged = stage::write_run(
            self.stage.as_ref(),
            &table.name,
            &run_id,
            &staged_schema,
            batches.into_batches()?,
            &rejected,
            self.part_format(self.config.stage.part_rows),
        )
        .await?;
        let stage_ms = stage_started.elapsed().as_millis() as u64;
        crate::fault::point("after_stage").await;
        info!(table = %table.name, run_id = %run_id, phase = "stage", rows = staged.rows, bytes = staged.bytes, ms = stage_ms, "Staged.");
        // The dedup's and the stage's memory is free by now, but mimalloc returns a page only
        // when the thread that holds it next allocates or frees, and the stage's encoding
        // threads sit idle: without this, an embedded warehouse's merge started on top of it.
        crate::units::return_freed_memory();

        let merge_started = Instant::now();
        let record = RunRecord {
            run_id: run_id.clone(),
            mart: table.name.clone(),
            batch: batch.clone(),
            started_at_ms,
            watermark_from,
            watermark_to,
            rows_extracted: stats.rows_in,
            rows_deduped: stats.rows_out,
            rows_rejected: stats.rows_rejected,
            bytes_staged: staged.bytes,
            extract_ms,
            dedup_ms,
            stage_ms,
            source_position: binlog.as_ref().map(|(_, to)| to.to_string()),
        };
        let merged = self
            .warehouse
            .merge(MergeRequest {
                table: staged_table,
                staged: &staged,
                stage: self.stage.as_ref(),
                record,
                min_version,
                apply,
            })
            .await;
        let merge_ms = merge_started.elapsed().as_millis() as u64;
        if merged.is_ok() {
            crate::fault::point("after_commit").await;
        }
        // Staged files are only a means to load: drop them whether or not the merge worked
        // (a failed run is retried from the source, not from its files), unless kept. A
        // re-applied kept run's files are a copy of that run's: not kept again.
        if (!self.config.stage.keep || merged.is_err() || reapplied)
            && let Err(e) = self.stage.delete_prefix(&staged.prefix).await
        {
            warn!(table = %table.name, run_id = %run_id, error = %e, "Could not delete staged files.");
        }
        let merged = merged?;
        info!(table = %table.name, run_id = %run_id, phase = "merge", rows = merged.inserted, deleted = merged.deleted, trimmed = merged.trimmed, ms = merge_ms, "Merged.");
        let warn_after = self.config.warehouse.warn_delete_after;
        if let Some(delete_ms) = merged.timings.get(warehouse::Timed::Delete)
            && delete_ms as u128 > warn_after.as_millis()
        {
            warn!(table = %table.name, run_id = %run_id, delete_ms, warn_delete_after = %crate::units::format_duration(warn_after),
                  "The merge's DELETE took longer than warehouse.warn_delete_after: the seed's rule is to move this mart's heavy reads to a target (Option A).");
        }

        let report = CycleReport {
            mart: table.name.clone(),
            run_id,
            batch,
            outcome: if merged.already_committed {
                Outcome::AlreadyCommitted
            } else {
                Outcome::Committed
            },
            watermark_from,
            watermark_to,
            rows_extracted: stats.rows_in,
            rows_deduped: stats.rows_out,
            rows_rejected: stats.rows_rejected,
            zero_dates: counters
                .zero_dates
                .load(std::sync::atomic::Ordering::Relaxed),
            rows_deleted: merged.deleted,
            rows_inserted: merged.inserted,
            rows_trimmed: merged.trimmed,
            bytes_staged: staged.bytes,
            extract_ms,
            dedup_ms,
            stage_ms,
            merge_ms,
            total_ms: started.elapsed().as_millis() as u64,
            timings: merged.timings,
            rows_reconciled: None,
            statements: merged.statements,
        };
        info!(
            table = %report.mart,
            run_id = %report.run_id,
            phase = "cycle",
            batch = %report.batch,
            rows = report.rows_extracted,
            deduped = report.rows_deduped,
            deleted = report.rows_deleted,
            inserted = report.rows_inserted,
            trimmed = report.rows_trimmed,
            ms = report.total_ms,
            "Cycle committed."
        );
        Ok(report)
    }
}

impl Pipeline {
    /// Deletes `mart`'s staged runs past keeping: those that never committed (crashed runs)
    /// after an hour, committed ones as `[stage] keep` / `keep_for` say. Only a run the
    /// ledger does not hold is ever treated as crashed, so kept runs stay re-appliable.
    async fn delete_expired_runs(&self, mart: &str) -> Result<Vec<String>> {
        let committed = self.warehouse.committed_runs(mart).await?;
        stage::delete_expired(
            self.stage.as_ref(),
            mart,
            &committed,
            self.config.stage.kept(),
            SystemTime::now(),
        )
        .await
    }

    /// `binlog` mode: where this cycle's changes end, read before anything else, and where
    /// they start: the position the mart's last cycle committed, or none for a snapshot
    /// through the watermark path (the first cycle, or `--resnapshot`), which then hands over
    /// at the end position.
    async fn binlog_span(
        &self,
        table: &TableConfig,
        input: &Input,
    ) -> Result<(Option<BinlogPosition>, BinlogPosition)> {
        let to = self.source.binlog_position().await?;
        let from = match input {
            Input::Snapshot => None,
            _ => self.last_binlog_position(table).await?,
        };
        crate::fault::point("after_position").await;
        Ok((from, to))
    }

    /// The binlog position the mart's last `binlog`-mode cycle committed, if any.
    async fn last_binlog_position(&self, table: &TableConfig) -> Result<Option<BinlogPosition>> {
        let Some(text) = self.warehouse.last_source_position(&table.name).await? else {
            return Ok(None);
        };
        BinlogPosition::parse(&text)
            .map(Some)
            .map_err(|message| Error::Warehouse {
                warehouse: self.warehouse.describe(),
                mart: table.name.clone(),
                run_id: "-".into(),
                statement: "last_source_position".into(),
                message: format!(
                    "{message}: the ledger's last source_position is not one martsync wrote"
                ),
            })
    }

    /// The replica id a mart's binlog reads register with: one per mart, so that the marts'
    /// reads at once do not cut each other off.
    fn binlog_reader_id(&self, table: &TableConfig) -> u32 {
        let index = self
            .config
            .tables
            .iter()
            .position(|t| t.name == table.name)
            .unwrap_or(0);
        self.config.source.binlog_server_id + index as u32
    }

    fn part_format(&self, rows: usize) -> stage::PartFormat {
        part_format(&self.config.warehouse.url, rows)
    }

    /// Gap 1: each mart with `refresh_from` = this table's source re-reads and replaces its
    /// rows of the keys this batch touched, in a run of its own committed before this batch
    /// merges: if this merge then fails, the next cycle reads the same rows again and
    /// refreshes again, so no touched key is missed.
    async fn refresh_dependents(
        &self,
        table: &TableConfig,
        batches: &DedupedRows,
        run_id: &str,
    ) -> Result<()> {
        let dependents = self.config.tables.iter().filter(|t| {
            t.refresh_from
                .as_deref()
                .is_some_and(|from| from.eq_ignore_ascii_case(&table.schema.name))
        });
        for dependent in dependents {
            let key = &dependent.key[0];
            let column = table.schema.index_of(key).expect("validated refresh key");
            let mut keys = Vec::new();
            for batch in batches.iter()? {
                let batch = batch?;
                let values = column_as_i64(batch.column(column)).map_err(|e| {
                    Error::batch(
                        &table.name,
                        format!("reading the keys to refresh {}", dependent.name),
                        e,
                    )
                })?;
                keys.extend(values.iter().flatten());
            }
            keys.sort_unstable();
            keys.dedup();
            if keys.is_empty() {
                continue;
            }
            info!(table = %dependent.name, from = %table.name, keys = keys.len(), "Refreshing the rows of the keys this batch touched.");
            let input = Input::Keys {
                label: format!("refresh:{run_id}"),
                keys: Arc::new(keys),
            };
            // Boxed: a cycle that calls a cycle is a recursive future.
            Box::pin(self.cycle(&dependent.refresh_run(), input)).await?;
        }
        Ok(())
    }
}

/// The configured tables named in `only` (all when empty).
pub fn select_tables(config: &Config, only: &[String]) -> Result<Vec<TableConfig>> {
    if only.is_empty() {
        return Ok(config.tables.clone());
    }
    only.iter()
        .map(|name| {
            config
                .tables
                .iter()
                .find(|t| &t.name == name)
                .cloned()
                .ok_or_else(|| {
                    Error::config(
                        &config.origin,
                        "--table",
                        format!(
                            "no mart named `{name}` is configured (configured: {})",
                            config
                                .tables
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// Where a cycle's extraction starts: the mart's largest watermark minus the lookback
/// (`None`, everything, for an empty mart).
pub fn extraction_start(table: &TableConfig, mart_max: Option<i64>) -> Option<i64> {
    mart_max.map(|m| m - lookback_in_units(table))
}

/// The lookback in the watermark column's unit (seconds, or µs for timestamps).
fn lookback_in_units(table: &TableConfig) -> i64 {
    in_watermark_units(table, table.lookback)
}

/// A duration (or a time since the epoch) in the watermark column's unit: seconds for
/// integer columns (epoch seconds, as the lookback assumes), µs for timestamps.
pub fn in_watermark_units(table: &TableConfig, d: Duration) -> i64 {
    if table.schema.is_timestamp(&table.watermark) {
        d.as_micros() as i64
    } else {
        d.as_secs() as i64
    }
}

/// The least and greatest value of `column` in `batches`, in the column's unit (µs for
/// timestamps): one cast and one pass per batch, however many bounds are wanted of it.
fn column_range(
    table: &TableConfig,
    column: &str,
    batches: &DedupedRows,
) -> Result<(Option<i64>, Option<i64>)> {
    let index = table.schema.index_of(column).expect("validated column");
    let (mut min, mut max): (Option<i64>, Option<i64>) = (None, None);
    for batch in batches.iter()? {
        let batch = batch?;
        let values = column_as_i64(batch.column(index)).map_err(|e| {
            Error::batch(
                &table.name,
                format!("reading the batch's column {column}"),
                e,
            )
        })?;
        if let Some(m) = arrow::compute::min(&values) {
            min = Some(min.map_or(m, |v| v.min(m)));
        }
        max = max.max(arrow::compute::max(&values));
    }
    Ok((min, max))
}

/// How a warehouse's staged parts are written: Snappy for Redshift's COPY (see
/// [`stage::Codec::Snappy`]), zstd elsewhere.
fn part_format(warehouse: &crate::config::WarehouseUrl, rows: usize) -> stage::PartFormat {
    let codec = match warehouse {
        crate::config::WarehouseUrl::Redshift(_) => stage::Codec::Snappy,
        _ => stage::Codec::Zstd,
    };
    stage::PartFormat { rows, codec }
}

/// Where a cycle's batch is deduped (from the mart's `dedup` and the warehouse).
enum Placement {
    Local,
    /// Raw rows with arrival numbers, ranked in the merge.
    Warehouse,
    /// Local until the batch outgrows its memory share, then raw rows from there on.
    HandOverPastMemory,
}

/// The greatest watermark of the rows to merge, and (latest marts) their least version, which
/// the merge's stale-version drop compares mart rows from. The tracking mart's version is its
/// watermark: read once.
fn watermark_and_version_bounds(
    table: &TableConfig,
    batches: &DedupedRows,
) -> Result<(Option<i64>, Option<i64>)> {
    let (watermark_min, watermark_max) = column_range(table, &table.watermark, batches)?;
    let min_version = match table.version.as_deref() {
        None => None,
        Some(v) if v == table.watermark => watermark_min,
        Some(v) => column_range(table, v, batches)?.0,
    };
    Ok((watermark_max, min_version))
}

/// A snapshot's rows as `binlog`-mode changes: each marked as a row the source holds.
fn marked_current(
    stream: BatchStream,
    schema: arrow::datatypes::SchemaRef,
    mart: &str,
) -> BatchStream {
    let mart = mart.to_string();
    Box::pin(stream.map(move |batch| {
        let batch = batch?;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(arrow::array::Int16Array::from(vec![
            0;
            batch
                .num_rows(
                )
        ])));
        RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(|e| Error::batch(&mart, "marking the snapshot's rows", e))
    }))
}

/// Wraps a stream to add up the time spent waiting for it.
fn timed(mut stream: BatchStream) -> (BatchStream, Arc<std::sync::Mutex<Duration>>) {
    let waited = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let total = Arc::clone(&waited);
    let mut pending_since: Option<Instant> = None;
    let wrapped = futures::stream::poll_fn(move |cx| {
        let since = *pending_since.get_or_insert_with(Instant::now);
        let polled = stream.poll_next_unpin(cx);
        if polled.is_ready() {
            if let Ok(mut t) = total.lock() {
                *t += since.elapsed();
            }
            pending_since = None;
        }
        polled
    });
    (Box::pin(wrapped), waited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WarehouseUrl;

    /// Redshift's COPY gets Snappy parts (the codec its own UNLOAD writes); the others zstd.
    #[test]
    fn redshift_is_staged_snappy_the_others_zstd() {
        let codec = |url| part_format(&url, 10).codec;
        assert_eq!(
            codec(WarehouseUrl::Redshift("redshift://h/db".into())),
            stage::Codec::Snappy
        );
        assert_eq!(
            codec(WarehouseUrl::Postgres("postgres://h/db".into())),
            stage::Codec::Zstd
        );
        assert_eq!(
            codec(WarehouseUrl::DuckDb("w.duckdb".into())),
            stage::Codec::Zstd
        );
    }
}
