//! The warehouse of a wire-protocol database, shared by PostgreSQL and Redshift. What
//! differs between them is a [`Flavor`]: how a run is loaded, the merge session, and export.

use std::collections::HashSet;

use super::{Pool, WireSession, query_bool};
use crate::config::{MaintenanceConfig, TableConfig, WarehouseTimeouts};
use crate::error::{Error, Result};
use crate::units::BatchStream;
use crate::warehouse::dialect::{self, Dialect, Load, RUNS_TABLE};
use crate::warehouse::executor::{self, Policy, Session, Sessions};
use crate::warehouse::plan::StepName;
use crate::warehouse::{
    MartGauges, MartHold, MartStatus, MergeOutcome, MergeRequest, RunSummary, Warehouse,
};
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

/// What a wire-protocol warehouse does its own way.
#[async_trait::async_trait]
pub trait Flavor: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;

    /// How a run's staged files reach the warehouse (the load step of its merge plan).
    fn load(&self, pool: &Pool, request: &MergeRequest<'_>) -> Result<Load>;

    /// A merge session on a pooled connection.
    fn session<'a>(&'a self, wire: WireSession<'a>) -> Box<dyn Session + 'a>;

    /// Every row of the table `name` in `table`'s mart schema, as a stream (through `stage`
    /// where the warehouse cannot stream it to a client).
    async fn export(
        &self,
        pool: &Pool,
        name: &str,
        table: &TableConfig,
        stage: &dyn crate::stage::Stage,
        since: Option<i64>,
    ) -> Result<BatchStream>;
}

/// A PostgreSQL database or Redshift cluster.
pub struct WireWarehouse<F> {
    pub pool: Pool,
    pub flavor: F,
}

impl<F: Flavor> WireWarehouse<F> {
    /// Prepares the connection settings and checks the server answers.
    pub async fn open(url: &str, flavor: F, timeouts: WarehouseTimeouts) -> Result<Self> {
        Ok(WireWarehouse {
            pool: Pool::open(url, flavor.dialect(), timeouts).await?,
            flavor,
        })
    }

    /// The text column of `sql`'s rows, `$1` bound to `mart`, as a set.
    async fn strings_of_mart(
        &self,
        mart: &str,
        statement: &str,
        sql: &str,
    ) -> Result<HashSet<String>> {
        let client = self.pool.client(mart).await?;
        let rows = client
            .query(sql, &[&mart])
            .await
            .map_err(self.pool.context(mart, "-").at(statement))?;
        self.pool.release(client);
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[async_trait::async_trait]
impl<F: Flavor> Sessions for WireWarehouse<F> {
    fn warehouse_url(&self) -> String {
        self.pool.url.clone()
    }

    async fn session(&self, mart: &str) -> Result<Box<dyn Session + '_>> {
        Ok(self
            .flavor
            .session(WireSession::open(&self.pool, mart).await?))
    }

    fn policy(&self) -> Policy {
        let t = self.pool.timeouts;
        Policy {
            lock_timeout: t.lock,
            attempt_timeout: Some((
                t.lock + t.statement + std::time::Duration::from_secs(60),
                "lock_timeout + statement_timeout + 1m",
            )),
        }
    }
}

#[async_trait::async_trait]
impl<F: Flavor> Warehouse for WireWarehouse<F> {
    fn describe(&self) -> String {
        self.pool.url.clone()
    }

    fn dialect(&self) -> Dialect {
        self.flavor.dialect()
    }

    /// Creates what is missing, and only that: statements on existing marts would queue
    /// behind another run's lock on them. One transaction; on PostgreSQL under an advisory
    /// lock, so that concurrent runs do not race to create the same table.
    async fn ensure_tables(&self, tables: &[TableConfig]) -> Result<()> {
        let mut client = self.pool.client("-").await?;
        let ctx = self.pool.context("-", "-");
        let tx = client.transaction().await.map_err(ctx.at("begin"))?;
        if let Some(lock) = dialect::ddl_lock(self.flavor.dialect()) {
            tx.batch_execute(lock).await.map_err(ctx.at("ddl_lock"))?;
        }
        let table_sql = format!(
            "SELECT ({}) > 0",
            dialect::table_exists(self.flavor.dialect())
        );
        for table in tables.iter().flat_map(TableConfig::written_tables) {
            let ctx = self.pool.context(&table.name, "-");
            let mut missing = Vec::new();
            if !query_bool(&tx, &table_sql, &table.name.to_ascii_lowercase())
                .await
                .map_err(ctx.at("table_exists"))?
            {
                missing.push(dialect::create_mart(self.flavor.dialect(), &table));
            }
            for index in dialect::create_indexes(self.flavor.dialect(), &table) {
                if !query_bool(&tx, dialect::RELATION_EXISTS, &index.name)
                    .await
                    .map_err(ctx.at("index_exists"))?
                {
                    missing.push(index.sql);
                }
            }
            for sql in missing {
                tx.batch_execute(&sql)
                    .await
                    .map_err(ctx.at("create_table"))?;
            }
        }
        for table in tables {
            let hold = dialect::hold_table(&table.name);
            if !query_bool(&tx, &table_sql, &hold)
                .await
                .map_err(self.pool.context(&table.name, "-").at("table_exists"))?
            {
                tx.batch_execute(&dialect::create_hold_table(&table.name))
                    .await
                    .map_err(self.pool.context(&table.name, "-").at("create_hold_table"))?;
            }
        }
        let runs_ctx = self.pool.context(RUNS_TABLE, "-");
        if !query_bool(&tx, &table_sql, RUNS_TABLE)
            .await
            .map_err(ctx.at("table_exists"))?
        {
            tx.batch_execute(&dialect::create_runs(self.flavor.dialect()))
                .await
                .map_err(runs_ctx.at("create_table"))?;
        } else {
            // A ledger from an older martsync gains the columns it lacks. PostgreSQL's
            // runs are serialized by the DDL lock above; Redshift has none, so there the
            // ledger's own lock (which its merges take first) is taken and the columns read
            // again: of two runs upgrading at once, the second finds nothing to add.
            let mut alter = missing_runs_columns(&tx, self.flavor.dialect())
                .await
                .map_err(runs_ctx.at("upgrade_runs"))?;
            if let Some(lock) = dialect::lock_runs(self.flavor.dialect())
                && !alter.is_empty()
            {
                tx.batch_execute(&lock)
                    .await
                    .map_err(runs_ctx.at("upgrade_runs"))?;
                alter = missing_runs_columns(&tx, self.flavor.dialect())
                    .await
                    .map_err(runs_ctx.at("upgrade_runs"))?;
            }
            for sql in alter {
                tx.batch_execute(&sql)
                    .await
                    .map_err(runs_ctx.at("upgrade_runs"))?;
            }
        }
        tx.commit().await.map_err(ctx.at("commit"))?;
        self.pool.release(client);
        Ok(())
    }

    async fn add_columns(&self, table: &TableConfig) -> Result<Vec<String>> {
        let client = self.pool.client(&table.name).await?;
        let ctx = self.pool.context(&table.name, "-");
        let have = column_names(&client, self.flavor.dialect(), &table.name)
            .await
            .map_err(ctx.at("add_column"))?;
        let mut added = Vec::new();
        for (name, sql) in dialect::add_missing_columns(self.flavor.dialect(), table, &have) {
            client
                .batch_execute(&sql)
                .await
                .map_err(ctx.at("add_column"))?;
            added.push(name);
        }
        self.pool.release(client);
        Ok(added)
    }

    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>> {
        let client = self.pool.client(&table.name).await?;
        let row = client
            .query_one(&dialect::max_watermark(self.flavor.dialect(), table), &[])
            .await
            .map_err(self.pool.context(&table.name, "-").at("max_watermark"))?;
        self.pool.release(client);
        Ok(row.get(0))
    }

    /// A connection of the hold's own, in a transaction that has locked the mart's
    /// [`dialect::hold_table`]: released by the connection's end when the hold is dropped
    /// (the server rolls the transaction back), also when the process dies.
    async fn hold(&self, mart: &str) -> Result<MartHold> {
        let client = self.pool.connect(mart).await?;
        let ctx = self.pool.context(mart, "-");
        let step = StepName::HoldMart.as_str();
        let lock_timeout = self.pool.timeouts.lock;
        // The connection runs nothing but the LOCK, whose wait lock_timeout bounds; Redshift
        // has no lock_timeout, so there the statement timeout bounds it.
        client
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                lock_timeout.as_millis().max(1)
            ))
            .await
            .map_err(ctx.at(step))?;
        client.batch_execute("BEGIN").await.map_err(ctx.at(step))?;
        match client.batch_execute(&dialect::hold_lock(mart)).await {
            Ok(()) => Ok(MartHold::new(client)),
            Err(e)
                if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    || e.code() == Some(&SqlState::QUERY_CANCELED) =>
            {
                Err(executor::mart_held(mart, &self.pool.url, lock_timeout))
            }
            Err(e) => Err(ctx.at(step)(e)),
        }
    }

    async fn export(
        &self,
        name: &str,
        table: &TableConfig,
        stage: &dyn crate::stage::Stage,
        since: Option<i64>,
    ) -> Result<BatchStream> {
        self.flavor
            .export(&self.pool, name, table, stage, since)
            .await
    }

    async fn committed_batches(&self, mart: &str) -> Result<HashSet<String>> {
        let sql = dialect::committed_batches(self.flavor.dialect());
        self.strings_of_mart(mart, "committed_batches", &sql).await
    }

    async fn committed_runs(&self, mart: &str) -> Result<HashSet<String>> {
        let sql = dialect::committed_runs(self.flavor.dialect());
        self.strings_of_mart(mart, "committed_runs", &sql).await
    }

    async fn last_source_position(&self, mart: &str) -> Result<Option<String>> {
        let sql = dialect::last_source_position(self.flavor.dialect());
        let found = self
            .strings_of_mart(mart, "last_source_position", &sql)
            .await?;
        Ok(found.into_iter().next())
    }

    async fn merge(&self, request: MergeRequest<'_>) -> Result<MergeOutcome> {
        let load = self.flavor.load(&self.pool, &request)?;
        let plan = request.plan(self.flavor.dialect(), &load);
        executor::merge(self, &plan, &request).await
    }

    async fn upkeep_plan(
        &self,
        table: &TableConfig,
        limits: &MaintenanceConfig,
    ) -> Result<dialect::UpkeepPlan> {
        let client = self.pool.client(&table.name).await?;
        let ctx = self.pool.context(&table.name, "-");
        let dialect = self.flavor.dialect();
        let exists = table_exists(&client, dialect, &table.name)
            .await
            .map_err(ctx.at("maintain"))?;
        let plan = if !exists {
            dialect::UpkeepPlan::not_created()
        } else if dialect == Dialect::Redshift {
            let name = table.name.to_ascii_lowercase();
            let row = client
                .query_opt(dialect::REDSHIFT_TABLE_INFO, &[&name])
                .await
                .map_err(|e| {
                    let mut error = ctx.at("svv_table_info")(e);
                    if let Error::Warehouse { message, .. } = &mut error {
                        message.push_str(
                            "; svv_table_info is visible to superusers only: GRANT SELECT ON svv_table_info TO the martsync user",
                        );
                    }
                    error
                })?;
            let info = row.map(|r| dialect::RedshiftTableInfo {
                unsorted: r.get(0),
                stats_off: r.get(1),
                tbl_rows: r.get::<_, Option<i64>>(2).unwrap_or(0),
                visible_rows: r.get::<_, Option<i64>>(3).unwrap_or(0),
            });
            dialect::redshift_upkeep(table, info, limits)
        } else {
            let row = client
                .query_opt(dialect::POSTGRES_TABLE_STATS, &[&table.name])
                .await
                .map_err(ctx.at("maintain"))?;
            dialect::postgres_upkeep(table, row.map(|r| (r.get(0), r.get(1))))
        };
        self.pool.release(client);
        Ok(plan)
    }

    async fn run_upkeep(&self, mart: &str, upkeep: &dialect::Upkeep) -> Result<()> {
        let client = self.pool.connect(mart).await?;
        let error = self.pool.context(mart, "-");
        let error = error.at("maintain");
        client
            .batch_execute("SET statement_timeout = 0")
            .await
            .map_err(&error)?;
        client
            .batch_execute(&upkeep.statement)
            .await
            .map_err(&error)?;
        // Not pooled again: its statement timeout is off.
        Ok(())
    }

    async fn gauges(&self, table: &TableConfig) -> Result<MartGauges> {
        let client = self.pool.client(&table.name).await?;
        let ctx = self.pool.context(&table.name, "-");
        let error = ctx.at("gauges");
        let dialect = self.flavor.dialect();
        let exists = |name| table_exists(&client, dialect, name);
        let mut gauges = MartGauges::default();
        if exists(&table.name).await.map_err(&error)? {
            let sql = dialect::mart_rows(dialect, table);
            let row = if dialect == Dialect::Postgres {
                client.query_one(&sql, &[&table.name]).await
            } else {
                client.query_one(&sql, &[]).await
            };
            gauges.rows = row.map_err(&error)?.get(0);
        }
        if exists(RUNS_TABLE).await.map_err(&error)? {
            gauges.synced_at_ms = client
                .query_one(&dialect::last_synced(dialect), &[&table.name])
                .await
                .map_err(&error)?
                .get(0);
        }
        self.pool.release(client);
        Ok(gauges)
    }

    async fn status(&self, table: &TableConfig, recent: usize) -> Result<MartStatus> {
        let client = self.pool.client(&table.name).await?;
        let ctx = self.pool.context(&table.name, "-");
        let error = ctx.at("status");
        let mut status = MartStatus {
            mart: table.name.clone(),
            ..MartStatus::default()
        };
        let exists = |name| table_exists(&client, self.flavor.dialect(), name);
        if !exists(&table.name).await.map_err(&error)? {
            self.pool.release(client);
            return Ok(status);
        }
        status.exists = true;
        let row = client
            .query_one(&dialect::mart_summary(self.flavor.dialect(), table), &[])
            .await
            .map_err(&error)?;
        (status.rows, status.max_watermark) = (row.get(0), row.get(1));
        if exists(RUNS_TABLE).await.map_err(&error)? {
            status.runs = client
                .query_one(&dialect::count_runs(self.flavor.dialect()), &[&table.name])
                .await
                .map_err(&error)?
                .get(0);
            status.recent_runs = client
                .query(
                    &dialect::recent_runs(self.flavor.dialect(), recent),
                    &[&table.name],
                )
                .await
                .map_err(&error)?
                .iter()
                .map(|r| RunSummary {
                    run_id: r.get(0),
                    batch: r.get(1),
                    started_at_ms: r.get(2),
                    committed_at_ms: r.get(3),
                    watermark_to: r.get(4),
                    rows_extracted: r.get(5),
                    rows_deduped: r.get(6),
                    rows_rejected: r.get(7),
                    rows_deleted: r.get(8),
                    rows_inserted: r.get(9),
                    rows_trimmed: r.get(10),
                    bytes_staged: r.get(11),
                    extract_ms: r.get(12),
                    dedup_ms: r.get(13),
                    stage_ms: r.get(14),
                    merge_ms: r.get(15),
                    timings: crate::warehouse::Timings::from_values(
                        (0..crate::warehouse::Timed::ALL.len())
                            .map(|i| r.get(dialect::RECENT_RUNS_TIMINGS + i)),
                    ),
                })
                .collect();
        }
        self.pool.release(client);
        Ok(status)
    }
}

/// The `ALTER TABLE`s that bring a ledger from an older martsync up to date.
async fn missing_runs_columns(
    tx: &tokio_postgres::Transaction<'_>,
    dialect: Dialect,
) -> std::result::Result<Vec<String>, tokio_postgres::Error> {
    let have = column_names(tx, dialect, RUNS_TABLE).await?;
    Ok(dialect::add_missing_runs_columns(dialect, &have))
}

/// The columns of table `name` in the current schema, lower case.
async fn column_names(
    client: &impl GenericClient,
    dialect: Dialect,
    name: &str,
) -> std::result::Result<HashSet<String>, tokio_postgres::Error> {
    let name = name.to_ascii_lowercase();
    let rows = client
        .query(&dialect::mart_columns(dialect), &[&name])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether table `name` exists in the current schema.
async fn table_exists(
    client: &impl GenericClient,
    dialect: Dialect,
    name: &str,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(&dialect::table_exists(dialect), &[&name])
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}
