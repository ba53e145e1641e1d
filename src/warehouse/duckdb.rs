//! `duckdb://PATH`: the embedded default warehouse. It reads the staged Parquet files
//! itself (`read_parquet`), so no Arrow arrays cross between DuckDB's Arrow and ours.
//!
//! DuckDB is synchronous: every call runs on a blocking thread, one at a time per process
//! (a single connection behind a mutex, held by a merge from BEGIN to COMMIT; merges are
//! short, and DuckDB allows one writing process per file anyway). Its merge is the plan the
//! dialect renders, run by the executor on a [`DuckDbSession`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::{Connection, OptionalExt, params_from_iter, types::Value};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::dialect::{self, Dialect, Load, RUNS_TABLE};
use super::executor::{self, Policy, Session, SessionError, SessionResult, Sessions};
use super::{
    MartGauges, MartHold, MartStatus, MergeOutcome, MergeRequest, RunSummary, RunValue, Warehouse,
};
use crate::config::{MaintenanceConfig, TableConfig};
use crate::error::{Error, Result};
use crate::units::BatchStream;

/// A DuckDB database file.
pub struct DuckDbWarehouse {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Each mart's hold. Within the process: DuckDB lets one process write a file, and this
    /// one holds it open for as long as it runs.
    holds: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    lock_timeout: std::time::Duration,
}

impl DuckDbWarehouse {
    /// The text column of `sql`'s rows, `$1` bound to `mart`, as a set.
    async fn strings_of_mart(
        &self,
        mart: &str,
        statement: &'static str,
        sql: String,
    ) -> Result<HashSet<String>> {
        let ctx = self.context(mart, "-");
        let mart = mart.to_string();
        self.with_conn(move |conn| {
            let error = ctx.at(statement);
            let mut stmt = conn.prepare(&sql).map_err(&error)?;
            let rows = stmt
                .query_map([mart], |row| row.get::<_, String>(0))
                .map_err(&error)?;
            rows.collect::<duckdb::Result<HashSet<_>>>().map_err(&error)
        })
        .await
    }
    /// Opens (creating if needed) the database file, waiting up to `lock_timeout` while
    /// another process holds it (DuckDB allows one writing process per file).
    pub async fn open_waiting(path: &Path, lock_timeout: std::time::Duration) -> Result<Self> {
        let deadline = std::time::Instant::now() + lock_timeout;
        loop {
            match Self::open(path).await {
                Ok(opened) => {
                    return Ok(DuckDbWarehouse {
                        lock_timeout,
                        ..opened
                    });
                }
                Err(Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(Error::Locked { what, message }) => {
                    return Err(Error::Locked {
                        what,
                        message: format!(
                            "waited warehouse.lock_timeout = {}: {message}",
                            crate::units::format_duration(lock_timeout)
                        ),
                    });
                }
                other => return other,
            }
        }
    }

    /// Opens (creating if needed) the database file; fails at once if another process holds it.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(parent) = opened.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("creating warehouse folder", parent, e))?;
            }
            connect(&opened).map_err(|e| {
                let message = e.to_string();
                if message.contains("lock") {
                    Error::Locked {
                        what: format!("DuckDB warehouse {}", opened.display()),
                        message,
                    }
                } else {
                    Error::Warehouse {
                        warehouse: format!("duckdb://{}", opened.display()),
                        mart: "-".into(),
                        run_id: "-".into(),
                        statement: "open".into(),
                        message,
                    }
                }
            })
        })
        .await
        .expect("opening DuckDB does not panic")?;
        Ok(DuckDbWarehouse {
            path,
            conn: Arc::new(Mutex::new(conn)),
            holds: Default::default(),
            lock_timeout: std::time::Duration::ZERO,
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut guard = Arc::clone(&self.conn).lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut guard))
            .await
            .expect("DuckDB calls do not panic")
    }

    fn context(&self, mart: &str, run_id: &str) -> Context {
        Context {
            warehouse: self.describe(),
            mart: mart.to_string(),
            run_id: run_id.to_string(),
        }
    }
}

/// A connection to a DuckDB file with the session settings martsync's statements rely on;
/// the benchmark harness opens its scratch warehouses with it too.
pub fn connect(path: &Path) -> duckdb::Result<Connection> {
    let conn = Connection::open(path)?;
    // DuckDB 2.0.0 (bundled by duckdb 1.20000.1) inserts nothing from `INSERT … SELECT` out
    // of a table written earlier in the same transaction once it holds more than ~100k rows,
    // when insertion order is preserved (its ordered batch insert): the merge's insert from
    // the stage table then left the mart without the batch. Marts have no row order, so the
    // ordered path is turned off for the session (test:
    // `regression::a_batch_of_200k_orders_reaches_the_duckdb_mart_whole`).
    conn.execute_batch("SET preserve_insertion_order = false")?;
    Ok(conn)
}

/// Who failed, for errors: the warehouse, the mart and the run.
#[derive(Clone)]
struct Context {
    warehouse: String,
    mart: String,
    run_id: String,
}

impl Context {
    /// Maps a DuckDB error of `statement` to an [`Error::Warehouse`].
    fn at(&self, statement: &str) -> impl Fn(duckdb::Error) -> Error + use<'_> {
        let statement = statement.to_string();
        move |e| Error::Warehouse {
            warehouse: self.warehouse.clone(),
            mart: self.mart.clone(),
            run_id: self.run_id.clone(),
            statement: statement.clone(),
            message: e.to_string(),
        }
    }
}

/// The columns of table `name`, lower case.
fn column_names(conn: &Connection, name: &str) -> duckdb::Result<HashSet<String>> {
    conn.prepare(&dialect::mart_columns(Dialect::DuckDb))?
        .query_map([name.to_ascii_lowercase()], |r| r.get(0))?
        .collect()
}

fn table_exists(conn: &Connection, name: &str) -> duckdb::Result<bool> {
    conn.query_row(&dialect::table_exists(Dialect::DuckDb), [name], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| n > 0)
}

#[async_trait::async_trait]
impl Warehouse for DuckDbWarehouse {
    async fn limit_memory(&self, bytes: usize) -> Result<()> {
        // DuckDB's buffer manager spills past it (to `<database>.tmp`): its joins, sorts and
        // the inserts of a large load stay within it.
        let sql = format!("SET memory_limit = '{}MiB'", (bytes >> 20).max(64));
        let ctx = self.context("-", "-");
        self.with_conn(move |conn| conn.execute_batch(&sql).map_err(ctx.at("memory_limit")))
            .await
    }

    fn describe(&self) -> String {
        format!("duckdb://{}", self.path.display())
    }

    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }

    async fn ensure_tables(&self, tables: &[TableConfig]) -> Result<()> {
        let statements: Vec<(String, String)> = tables
            .iter()
            .flat_map(TableConfig::written_tables)
            .map(|t| (t.name.clone(), dialect::create_mart(Dialect::DuckDb, &t)))
            .chain([(
                RUNS_TABLE.to_string(),
                dialect::create_runs(Dialect::DuckDb),
            )])
            .collect();
        let ctx = self.context("-", "-");
        self.with_conn(move |conn| {
            for (mart, sql) in statements {
                conn.execute_batch(&sql).map_err(
                    Context {
                        mart,
                        ..ctx.clone()
                    }
                    .at("create_table"),
                )?;
            }
            // A ledger from an older martsync gains the columns it lacks.
            let error = Context {
                mart: RUNS_TABLE.to_string(),
                ..ctx.clone()
            };
            let error = error.at("upgrade_runs");
            let have = column_names(conn, RUNS_TABLE).map_err(&error)?;
            for sql in dialect::add_missing_runs_columns(Dialect::DuckDb, &have) {
                conn.execute_batch(&sql).map_err(&error)?;
            }
            Ok(())
        })
        .await
    }

    async fn add_columns(&self, table: &TableConfig) -> Result<Vec<String>> {
        let table = table.clone();
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| {
            let error = ctx.at("add_column");
            let have = column_names(conn, &table.name).map_err(&error)?;
            let mut added = Vec::new();
            for (name, sql) in dialect::add_missing_columns(Dialect::DuckDb, &table, &have) {
                conn.execute_batch(&sql).map_err(&error)?;
                added.push(name);
            }
            Ok(added)
        })
        .await
    }

    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>> {
        let sql = dialect::max_watermark(Dialect::DuckDb, table);
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| {
            conn.query_row(&sql, [], |row| row.get::<_, Option<i64>>(0))
                .map_err(ctx.at("max_watermark"))
        })
        .await
    }

    /// DuckDB's Arrow is another major version than ours: the rows come over as a Parquet
    /// file in the temp folder, unlinked once open.
    async fn export(
        &self,
        name: &str,
        table: &TableConfig,
        _stage: &dyn crate::stage::Stage,
        since: Option<i64>,
    ) -> Result<BatchStream> {
        let path = std::env::temp_dir().join(format!(
            "martsync-export-{}-{}.parquet",
            std::process::id(),
            crate::units::new_run_id()
        ));
        let sql = format!(
            "COPY ({}) TO {} (FORMAT parquet)",
            dialect::select_columns_since(Dialect::DuckDb, table, name, since),
            dialect::literal(&path.to_string_lossy())
        );
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| conn.execute_batch(&sql).map_err(ctx.at("export")))
            .await?;
        let file = tokio::task::spawn_blocking(move || {
            let file =
                std::fs::File::open(&path).map_err(|e| Error::io("opening export", &path, e));
            let _ = std::fs::remove_file(&path);
            file
        })
        .await
        .expect("opening a file does not panic")?;
        Ok(crate::source::files::stream_parquet(
            file,
            format!("{} (table {name})", self.describe()),
            table,
            65_536,
            false,
        ))
    }

    async fn committed_batches(&self, mart: &str) -> Result<HashSet<String>> {
        self.strings_of_mart(
            mart,
            "committed_batches",
            dialect::committed_batches(Dialect::DuckDb),
        )
        .await
    }

    async fn committed_runs(&self, mart: &str) -> Result<HashSet<String>> {
        self.strings_of_mart(
            mart,
            "committed_runs",
            dialect::committed_runs(Dialect::DuckDb),
        )
        .await
    }

    async fn last_source_position(&self, mart: &str) -> Result<Option<String>> {
        let sql = dialect::last_source_position(Dialect::DuckDb);
        let found = self
            .strings_of_mart(mart, "last_source_position", sql)
            .await?;
        Ok(found.into_iter().next())
    }

    async fn merge(&self, request: MergeRequest<'_>) -> Result<MergeOutcome> {
        // DuckDB reads the staged files itself, so they must be local.
        let files = request
            .staged
            .parts
            .iter()
            .map(|part| {
                request
                    .stage
                    .local_path(&part.key)
                    .map(|p| p.display().to_string())
                    .ok_or_else(|| Error::Stage {
                        url: request.stage.url(),
                        action: "locating staged files for DuckDB".into(),
                        message:
                            "the DuckDB warehouse reads staged files locally: use a file:// stage"
                                .into(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = request.plan(Dialect::DuckDb, &Load::Files(files));
        executor::merge(self, &plan, &request).await
    }

    async fn hold(&self, mart: &str) -> Result<MartHold> {
        let lock = Arc::clone(
            self.holds
                .lock()
                .expect("holds lock")
                .entry(mart.to_ascii_lowercase())
                .or_default(),
        );
        match tokio::time::timeout(self.lock_timeout, lock.lock_owned()).await {
            Ok(guard) => Ok(MartHold::new(guard)),
            Err(_) => Err(Error::Locked {
                what: format!("mart {mart} in {}", self.describe()),
                message: format!(
                    "another run of this process holds mart {mart}; waited \
                     warehouse.lock_timeout = {}",
                    crate::units::format_duration(self.lock_timeout)
                ),
            }),
        }
    }

    async fn upkeep_plan(
        &self,
        table: &TableConfig,
        _limits: &MaintenanceConfig,
    ) -> Result<dialect::UpkeepPlan> {
        let table = table.clone();
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| {
            if !table_exists(conn, &table.name).map_err(ctx.at("maintain"))? {
                return Ok(dialect::UpkeepPlan::not_created());
            }
            Ok(dialect::duckdb_upkeep(&table))
        })
        .await
    }

    async fn run_upkeep(&self, mart: &str, upkeep: &dialect::Upkeep) -> Result<()> {
        let ctx = self.context(mart, "-");
        let sql = upkeep.statement.clone();
        self.with_conn(move |conn| conn.execute_batch(&sql).map_err(ctx.at("maintain")))
            .await
    }

    async fn gauges(&self, table: &TableConfig) -> Result<MartGauges> {
        let table = table.clone();
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| {
            let error = ctx.at("gauges");
            let mut gauges = MartGauges::default();
            if table_exists(conn, &table.name).map_err(&error)? {
                gauges.rows = conn
                    .query_row(&dialect::mart_rows(Dialect::DuckDb, &table), [], |r| {
                        r.get(0)
                    })
                    .map_err(&error)?;
            }
            if table_exists(conn, RUNS_TABLE).map_err(&error)? {
                gauges.synced_at_ms = conn
                    .query_row(&dialect::last_synced(Dialect::DuckDb), [&table.name], |r| {
                        r.get(0)
                    })
                    .map_err(&error)?;
            }
            Ok(gauges)
        })
        .await
    }

    async fn status(&self, table: &TableConfig, recent: usize) -> Result<MartStatus> {
        let table = table.clone();
        let ctx = self.context(&table.name, "-");
        self.with_conn(move |conn| {
            let error = ctx.at("status");
            let mut status = MartStatus {
                mart: table.name.clone(),
                ..MartStatus::default()
            };
            if !table_exists(conn, &table.name).map_err(&error)? {
                return Ok(status);
            }
            status.exists = true;
            let sql = dialect::mart_summary(Dialect::DuckDb, &table);
            (status.rows, status.max_watermark) = conn
                .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&error)?;
            if table_exists(conn, RUNS_TABLE).map_err(&error)? {
                status.runs = conn
                    .query_row(&dialect::count_runs(Dialect::DuckDb), [&table.name], |r| {
                        r.get(0)
                    })
                    .map_err(&error)?;
                let mut stmt = conn
                    .prepare(&dialect::recent_runs(Dialect::DuckDb, recent))
                    .map_err(&error)?;
                status.recent_runs = stmt
                    .query_map([&table.name], |r| {
                        Ok(RunSummary {
                            run_id: r.get(0)?,
                            batch: r.get(1)?,
                            started_at_ms: r.get(2)?,
                            committed_at_ms: r.get(3)?,
                            watermark_to: r.get(4)?,
                            rows_extracted: r.get(5)?,
                            rows_deduped: r.get(6)?,
                            rows_rejected: r.get(7)?,
                            rows_deleted: r.get(8)?,
                            rows_inserted: r.get(9)?,
                            rows_trimmed: r.get(10)?,
                            bytes_staged: r.get(11)?,
                            extract_ms: r.get(12)?,
                            dedup_ms: r.get(13)?,
                            stage_ms: r.get(14)?,
                            merge_ms: r.get(15)?,
                            timings: super::Timings::from_values(
                                (0..super::Timed::ALL.len())
                                    .map(|i| r.get(dialect::RECENT_RUNS_TIMINGS + i))
                                    .collect::<duckdb::Result<Vec<_>>>()?,
                            ),
                        })
                    })
                    .map_err(&error)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(&error)?;
            }
            Ok(status)
        })
        .await
    }
}

/// Statement values as DuckDB values.
fn values(params: &[RunValue]) -> Vec<Value> {
    params
        .iter()
        .map(|v| match v {
            RunValue::Text(t) => Value::Text(t.clone()),
            RunValue::Int(Some(i)) => Value::BigInt(*i),
            RunValue::Int(None) => Value::Null,
            RunValue::MaybeText(Some(t)) => Value::Text(t.clone()),
            RunValue::MaybeText(None) => Value::Null,
        })
        .collect()
}

#[async_trait::async_trait]
impl Sessions for DuckDbWarehouse {
    fn warehouse_url(&self) -> String {
        Warehouse::describe(self)
    }

    /// The one connection, held for the whole merge: marts merge concurrently, and their
    /// transactions must not interleave on it.
    async fn session(&self, _mart: &str) -> Result<Box<dyn Session + '_>> {
        Ok(Box::new(DuckDbSession {
            conn: Some(Arc::clone(&self.conn).lock_owned().await),
        }))
    }

    /// A local file: no network to stall, and one writer, so nothing to wait for or retry.
    fn policy(&self) -> Policy {
        Policy {
            lock_timeout: std::time::Duration::ZERO,
            attempt_timeout: None,
        }
    }
}

/// `BEGIN`, `COMMIT` and `ROLLBACK` go through DuckDB's unprepared interface, as its own
/// `Connection::transaction` does; every other statement is prepared, for its row count.
fn is_transaction_control(sql: &str) -> bool {
    matches!(sql, "BEGIN" | "COMMIT" | "ROLLBACK")
}

/// The connection, for one merge. Each call runs on a blocking thread (DuckDB is
/// synchronous), taking the guard there and back.
struct DuckDbSession {
    conn: Option<OwnedMutexGuard<Connection>>,
}

impl DuckDbSession {
    async fn call<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> duckdb::Result<T> + Send + 'static,
    ) -> SessionResult<T> {
        let mut guard = self.conn.take().expect("a session call at a time");
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut guard);
            (guard, result)
        })
        .await
        .expect("DuckDB calls do not panic");
        self.conn = Some(guard);
        result.map_err(|e| SessionError::message(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Session for DuckDbSession {
    async fn execute(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<u64> {
        let (sql, params) = (sql.to_string(), values(params));
        self.call(move |conn| {
            if is_transaction_control(&sql) {
                conn.execute_batch(&sql).map(|()| 0)
            } else {
                conn.execute(&sql, params_from_iter(params))
            }
        })
        .await
        .map(|n| n as u64)
    }

    async fn query_i64(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<Option<i64>> {
        let (sql, params) = (sql.to_string(), values(params));
        self.call(move |conn| {
            conn.query_row(&sql, params_from_iter(params), |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()
            .map(|v| v.map(|v| v.unwrap_or(0)))
        })
        .await
    }

    fn close(self: Box<Self>, _reusable: bool) {}
}
