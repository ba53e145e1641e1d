//! Warehouses: where the marts live. A merge loads one staged run into a temp table and
//! applies it to the mart in one transaction.
//!
//! The merge is data: [`dialect::merge_plan`] renders a [`plan::MergePlan`] (typed steps) for
//! the warehouse's dialect, and [`executor::merge`] runs any plan on any backend's
//! [`executor::Session`], owning the transaction, the row-count check, the lock error, the
//! time bound and the retry. `explain` prints the same plan.
//!
//! Backends, one file each: [`duckdb`] (`duckdb://PATH`, embedded), [`postgres`]
//! (`postgres://…`) and [`redshift`] (`redshift://…`); the two wire-protocol ones share the
//! connection code of [`pgwire`].
//!
//! To add a warehouse: a [`Dialect`] variant with its SQL in [`dialect`] (which statements
//! a merge runs, in [`dialect::merge_plan`]), a sibling module with a session type
//! implementing [`executor::Session`] and a type implementing [`Warehouse`] whose `merge`
//! hands its sessions to [`executor::merge`], a URL scheme in `config`, and a line in
//! [`open`]; then run the warehouse contract tests (`tests/it/warehouse_contract.rs`) on it.

pub mod dialect;
#[cfg(feature = "duckdb")]
pub mod duckdb;
pub mod executor;
pub mod pgcopy;
pub mod pgwire;
pub mod plan;
pub mod postgres;
pub mod redshift;

use std::collections::HashSet;
use std::sync::Arc;

pub use dialect::Dialect;
pub use plan::{Statement, StepName, Timed, Timings};

use crate::config::{MaintenanceConfig, TableConfig, WarehouseConfig, WarehouseUrl};
use crate::error::Result;
use crate::stage::{Stage, StagedRun};
use crate::units::BatchStream;

/// One run's facts, recorded in `martsync_runs` inside the merge transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub mart: String,
    /// What the run was fed: `run` for a normal cycle, or the replayed file's label.
    pub batch: String,
    /// Epoch milliseconds.
    pub started_at_ms: i64,
    pub watermark_from: Option<i64>,
    pub watermark_to: Option<i64>,
    pub rows_extracted: u64,
    pub rows_deduped: u64,
    pub rows_rejected: u64,
    pub bytes_staged: u64,
    pub extract_ms: u64,
    pub dedup_ms: u64,
    pub stage_ms: u64,
    /// `binlog` mode: the binary-log position (`file:offset`) up to which this run applied
    /// the source's changes; the next cycle reads on from it.
    pub source_position: Option<String>,
}

/// One value of the run record's insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunValue {
    Text(String),
    Int(Option<i64>),
    /// A text that may be NULL.
    MaybeText(Option<String>),
}

impl RunRecord {
    /// The values of the `record_run` statement, in [`dialect::RUNS_COLUMNS`] order, with
    /// `started_at` and `committed_at` (now) as epoch milliseconds.
    pub fn values(&self, outcome: &MergeOutcome, merge_ms: i64) -> Vec<RunValue> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let int = |v: u64| RunValue::Int(Some(v as i64));
        vec![
            RunValue::Text(self.run_id.clone()),
            RunValue::Text(self.mart.clone()),
            RunValue::Text(self.batch.clone()),
            RunValue::Int(Some(self.started_at_ms)),
            RunValue::Int(Some(now_ms)),
            RunValue::Int(self.watermark_from),
            RunValue::Int(self.watermark_to),
            int(self.rows_extracted),
            int(self.rows_deduped),
            int(self.rows_rejected),
            int(outcome.deleted),
            int(outcome.inserted),
            int(outcome.trimmed),
            int(self.bytes_staged),
            int(self.extract_ms),
            int(self.dedup_ms),
            int(self.stage_ms),
            RunValue::Int(Some(merge_ms)),
        ]
        .into_iter()
        .chain(Timed::ALL.map(|t| RunValue::Int(outcome.timings.get(t))))
        .chain([RunValue::MaybeText(self.source_position.clone())])
        .collect()
    }
}

/// A staged run to merge.
pub struct MergeRequest<'a> {
    pub table: &'a TableConfig,
    pub staged: &'a StagedRun,
    pub stage: &'a dyn Stage,
    pub record: RunRecord,
    /// The least version among the staged rows (latest marts; µs for timestamps), which
    /// bounds the mart rows the stale-version drop compares.
    pub min_version: Option<i64>,
    /// What the staged rows are for.
    pub apply: Apply,
}

/// What a merge does with its staged rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Apply {
    /// Rows to merge into the mart (a cycle, replay, seed, backfill, refresh).
    #[default]
    Rows,
    /// Keys to delete from the mart and its targets (a reconcile); `table` has only the key
    /// columns.
    DeleteKeys,
    /// A `binlog`-mode run: one row per touched key, deleted or current; `table` has the
    /// mart's columns and the change marker ([`TableConfig::with_change_marker`]).
    Changes,
    /// Raw rows for the warehouse to rank (`dedup = "warehouse"`): `table` has the mart's
    /// columns and the arrival number ([`TableConfig::with_arrival_column`]).
    Ranked,
}

impl MergeRequest<'_> {
    /// The plan the warehouse runs for this request in `dialect`, loading as `load` says.
    pub fn plan(&self, dialect: Dialect, load: &dialect::Load) -> plan::MergePlan {
        match self.apply {
            Apply::Rows => dialect::merge_plan(dialect, self.table, load),
            Apply::DeleteKeys => dialect::delete_keys_plan(dialect, self.table, load),
            Apply::Changes => dialect::changes_plan(dialect, self.table, load),
            Apply::Ranked => dialect::ranked_plan(dialect, self.table, load),
        }
    }
}

/// What a merge changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeOutcome {
    /// Mart rows replaced by newer versions (`latest`).
    pub deleted: u64,
    pub inserted: u64,
    /// Mart rows removed by the retention trim.
    pub trimmed: u64,
    /// The run id had already committed: nothing was done.
    pub already_committed: bool,
    /// How long the merge's statements took (those recorded in the ledger).
    pub timings: Timings,
    /// The statements the merge ran, in order (what `explain` showed for the same state).
    #[serde(skip)]
    pub statements: Vec<Statement>,
}

/// One committed run of a mart, as `martsync_runs` recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub batch: Option<String>,
    /// Epoch milliseconds, UTC.
    pub started_at_ms: i64,
    pub committed_at_ms: i64,
    pub watermark_to: Option<i64>,
    pub rows_extracted: i64,
    pub rows_deduped: i64,
    pub rows_rejected: i64,
    pub rows_deleted: i64,
    pub rows_inserted: i64,
    pub rows_trimmed: i64,
    pub bytes_staged: i64,
    pub extract_ms: i64,
    pub dedup_ms: i64,
    pub stage_ms: i64,
    pub merge_ms: i64,
    /// The merge's statements' times (none for runs recorded by a martsync before them).
    pub timings: Timings,
}

impl RunSummary {
    /// Wall time of the run, start to COMMIT.
    pub fn duration_ms(&self) -> i64 {
        self.committed_at_ms - self.started_at_ms
    }
}

/// A mart's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MartStatus {
    pub mart: String,
    pub exists: bool,
    pub rows: i64,
    pub max_watermark: Option<i64>,
    /// Committed runs in `martsync_runs`.
    pub runs: i64,
    /// The last committed runs, newest first, as many as asked for.
    pub recent_runs: Vec<RunSummary>,
}

/// A mart's gauges in the metrics file, read after a run (cheap on any size of mart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MartGauges {
    /// Rows of the mart (PostgreSQL: the planner's estimate); `None` when it does not exist.
    pub rows: Option<i64>,
    /// When the mart's last committed scheduled cycle started (epoch ms).
    pub synced_at_ms: Option<i64>,
}

/// A mart held by one run from before its extraction until after its merge commits
/// ([`Warehouse::hold`]); dropping it releases the mart.
pub struct MartHold {
    _held: Box<dyn std::any::Any + Send + Sync>,
}

impl MartHold {
    /// A hold kept for as long as `held` lives (a lock guard, or the connection whose open
    /// transaction holds the lock).
    pub fn new(held: impl std::any::Any + Send + Sync) -> Self {
        MartHold {
            _held: Box::new(held),
        }
    }
}

/// A place the marts live.
///
/// Contract, checked by the contract tests on every backend:
/// - [`Warehouse::merge`] is atomic: it commits every change of the run (mart rows, trim,
///   run record) or none; any error leaves the mart as it was.
/// - [`Warehouse::merge`] is idempotent for a run id: a run id already in `martsync_runs`
///   changes nothing and reports `already_committed`.
/// - `latest`: a staged row replaces the mart's row of its key when it differs from it and,
///   for a guarded table ([`TableConfig::guards_versions`]), only if its version is greater
///   or equal. `append`: a staged row whose key the mart holds is not inserted.
/// - [`Warehouse::hold`] excludes every other hold of the same mart, from any process, and
///   no reader.
#[async_trait::async_trait]
pub trait Warehouse: Send + Sync + 'static {
    /// The warehouse's URL, without secrets.
    fn describe(&self) -> String;

    fn dialect(&self) -> Dialect;

    /// Creates the marts that do not exist, and the run ledger.
    async fn ensure_tables(&self, tables: &[TableConfig]) -> Result<()>;

    /// Bounds the memory an embedded warehouse uses inside martsync's process (DuckDB);
    /// a server warehouse's memory is its own, so by default nothing changes.
    async fn limit_memory(&self, _bytes: usize) -> Result<()> {
        Ok(())
    }

    /// Adds to the mart the columns of `table` it does not have (a source that gained
    /// columns, with `allow_new_columns`); returns their names.
    async fn add_columns(&self, table: &TableConfig) -> Result<Vec<String>>;

    /// The mart's largest watermark, in the column's unit; `None` when it is empty.
    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>>;

    /// Every row of the warehouse table `name` in `table`'s mart schema (its columns, by
    /// name), as a stream: what `seed` and `compare` read an existing table with. A
    /// warehouse that cannot stream a table to a client (Redshift) unloads it to `stage`
    /// and reads it back from there. With `since`, only rows whose watermark is at or above
    /// it (the column's unit), selected by the warehouse.
    async fn export(
        &self,
        name: &str,
        table: &TableConfig,
        stage: &dyn Stage,
        since: Option<i64>,
    ) -> Result<BatchStream>;

    /// Labels of the batches already committed to a mart (replay skips them).
    async fn committed_batches(&self, mart: &str) -> Result<HashSet<String>>;

    /// The run ids committed to a mart (what staged-file cleanup keeps or expires).
    async fn committed_runs(&self, mart: &str) -> Result<HashSet<String>>;

    /// The binlog position (`file:offset`) of the mart's last committed `binlog`-mode cycle;
    /// `None` before the first (whose snapshot then records one).
    async fn last_source_position(&self, mart: &str) -> Result<Option<String>>;

    /// Holds `mart` for one run, waiting up to the warehouse's lock timeout for another run
    /// of it to finish ([`crate::error::Error::Locked`] past it). Runs of a mart are
    /// serialized from before their extraction until their commit, so the newest extraction
    /// is always the last to commit. Readers of the mart are never blocked.
    async fn hold(&self, mart: &str) -> Result<MartHold>;

    /// Applies a staged run to its mart in one transaction.
    async fn merge(&self, request: MergeRequest<'_>) -> Result<MergeOutcome>;

    /// What `martsync maintain` would run on the mart now, and why (nothing for a mart not
    /// created yet).
    async fn upkeep_plan(
        &self,
        table: &TableConfig,
        limits: &MaintenanceConfig,
    ) -> Result<dialect::UpkeepPlan>;

    /// Runs one upkeep statement of `mart`, on a connection of its own and outside any
    /// transaction (VACUUM cannot run in one), without the statement timeout: a VACUUM of a
    /// large mart may take longer than any merge statement.
    async fn run_upkeep(&self, mart: &str, upkeep: &dialect::Upkeep) -> Result<()>;

    /// The mart's size and how current it is, for the metrics file.
    async fn gauges(&self, table: &TableConfig) -> Result<MartGauges>;

    /// Rows, watermark and the last `recent` runs of a mart.
    async fn status(&self, table: &TableConfig, recent: usize) -> Result<MartStatus>;
}

/// Opens the configured warehouse.
pub async fn open(config: &WarehouseConfig) -> Result<Arc<dyn Warehouse>> {
    match &config.url {
        #[cfg(feature = "duckdb")]
        WarehouseUrl::DuckDb(path) => Ok(Arc::new(
            duckdb::DuckDbWarehouse::open_waiting(path, config.timeouts.lock).await?,
        )),
        #[cfg(not(feature = "duckdb"))]
        WarehouseUrl::DuckDb(_) => Err(crate::Error::config(
            "warehouse.url",
            "duckdb://",
            "this martsync was built without the `duckdb` feature",
        )),
        WarehouseUrl::Postgres(url) => Ok(Arc::new(
            postgres::PostgresWarehouse::open(url, postgres::Postgres, config.timeouts).await?,
        )),
        WarehouseUrl::Redshift(url) => {
            let flavor = redshift::Redshift {
                iam_role: config.iam_role.clone(),
            };
            Ok(Arc::new(
                redshift::RedshiftWarehouse::open(url, flavor, config.timeouts).await?,
            ))
        }
    }
}
