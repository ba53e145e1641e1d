//! `redshift://…`: Amazon Redshift, over the PostgreSQL wire protocol ([`super::pgwire`]).
//! Where it is not PostgreSQL, it is here:
//!
//! - load: Redshift reads the staged files itself, `COPY … FROM '<manifest>' IAM_ROLE …
//!   FORMAT AS PARQUET MANIFEST`, and the merge reads the count back with
//!   `pg_last_copy_count()` (both rendered by the dialect);
//! - a failed COPY is explained from `sys_load_error_detail`, asked after the rollback for
//!   the errors of the run's staged files;
//! - no `COPY … TO STDOUT`: `export` (seed, compare) UNLOADs the table as Parquet into the
//!   stage and reads it back.

use super::dialect::{self, Dialect, Load};
use super::executor::{Session, SessionResult};
use super::pgwire::{Flavor, Pool, WireSession, WireWarehouse};
use super::plan::StepName;
use super::{MergeRequest, RunValue};
use futures::StreamExt;

use crate::config::TableConfig;
use crate::error::Result;
use crate::stage::Stage;
use crate::units::BatchStream;

/// A Redshift cluster.
pub type RedshiftWarehouse = WireWarehouse<Redshift>;

/// Redshift's ways, with the IAM role its COPY reads the stage as.
pub struct Redshift {
    pub iam_role: Option<String>,
}

#[async_trait::async_trait]
impl Flavor for Redshift {
    fn dialect(&self) -> Dialect {
        Dialect::Redshift
    }

    fn load(&self, pool: &Pool, request: &MergeRequest<'_>) -> Result<Load> {
        let iam_role = self.iam_role.clone().ok_or_else(|| {
            pool.context(&request.table.name, &request.record.run_id)
                .error("load_stage", "no warehouse.iam_role is configured")
        })?;
        Ok(Load::Manifest {
            url: request.staged.manifest.url.clone(),
            iam_role,
        })
    }

    fn session<'a>(&'a self, wire: WireSession<'a>) -> Box<dyn Session + 'a> {
        Box::new(RedshiftSession(wire))
    }

    /// Redshift streams no table to a client (no `COPY … TO STDOUT`): the table is unloaded
    /// as Parquet into a folder of its own in the stage, read back from there, and the folder
    /// deleted before the first row is returned.
    async fn export(
        &self,
        pool: &Pool,
        name: &str,
        table: &TableConfig,
        stage: &dyn Stage,
        since: Option<i64>,
    ) -> Result<BatchStream> {
        let ctx = pool.context(&table.name, "-");
        let iam_role = self
            .iam_role
            .clone()
            .ok_or_else(|| ctx.error("unload", "no warehouse.iam_role is configured"))?;
        let prefix = format!(
            "{}/export-{}",
            table.name.to_ascii_lowercase(),
            crate::units::new_run_id()
        );
        let sql = dialect::unload(
            &dialect::select_columns_since(Dialect::Redshift, table, name, since),
            &format!("{}/{prefix}/part_", stage.url()),
            &iam_role,
        );
        let client = pool.client(&table.name).await?;
        let unloaded = client.batch_execute(&sql).await;
        pool.release(client);
        if let Err(e) = unloaded {
            // A failed UNLOAD may have written some files.
            let _ = stage.delete_prefix(&prefix).await;
            return Err(ctx.at("unload")(e));
        }
        let files = crate::stage::take_files(stage, &prefix, ".parquet").await?;
        let what = format!(
            "table {name} of {}, unloaded to {}/{prefix}",
            pool.url,
            stage.url()
        );
        let table = table.clone();
        Ok(Box::pin(futures::stream::iter(files).flat_map(
            move |file| {
                crate::source::files::stream_parquet(file, what.clone(), &table, 65_536, false)
            },
        )))
    }
}

/// A merge session: the wire session, plus the load errors of a failed COPY.
struct RedshiftSession<'a>(WireSession<'a>);

#[async_trait::async_trait]
impl Session for RedshiftSession<'_> {
    async fn execute(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<u64> {
        self.0.execute(sql, params).await
    }

    async fn query_i64(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<Option<i64>> {
        self.0.query_i64(sql, params).await
    }

    /// After a failed COPY (and the rollback), the rows `sys_load_error_detail` holds for the
    /// run's staged files.
    async fn failure_detail(
        &mut self,
        step: StepName,
        request: &MergeRequest<'_>,
    ) -> Option<String> {
        if step != StepName::LoadStage {
            return None;
        }
        let prefix = dialect::load_errors_prefix(&request.staged.manifest.url);
        let rows = self
            .0
            .client()
            .query(dialect::LOAD_ERRORS, &[&prefix])
            .await
            .ok()?;
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} line {}, column {}: {}",
                    r.get::<_, Option<String>>(0).unwrap_or_default(),
                    r.get::<_, Option<i64>>(1).unwrap_or_default(),
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                    r.get::<_, Option<String>>(3).unwrap_or_default()
                )
            })
            .collect();
        (!lines.is_empty()).then(|| format!("sys_load_error_detail: {}", lines.join("; ")))
    }

    fn close(self: Box<Self>, reusable: bool) {
        self.0.close(reusable);
    }
}
