//! `redshift://…`: Amazon Redshift, over the PostgreSQL wire protocol ([`super::pgwire`]).
//! Where it is not PostgreSQL, it is here:
//!
//! - load: Redshift reads the staged files itself, `COPY … FROM '<manifest>' IAM_ROLE …
//!   FORMAT AS PARQUET MANIFEST`, and the merge reads the count back with
//!   `pg_last_copy_count()` (both rendered by the dialect);
//! - a failed COPY is explained from `sys_load_error_detail`, asked after the rollback for
//!   the errors of the run's staged files;
//! - no `COPY … TO STDOUT`: a table cannot be streamed out to a client.

use super::dialect::{self, Dialect, Load};
use super::executor::{Session, SessionResult};
use super::pgwire::{Flavor, Pool, WireSession, WireWarehouse};
use super::plan::StepName;
use super::{MergeRequest, RunValue};
use crate::config::TableConfig;
use crate::error::Result;
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

    async fn export(&self, pool: &Pool, name: &str, table: &TableConfig) -> Result<BatchStream> {
        Err(pool.context(&table.name, "-").error(
            "export",
            format!(
                "Redshift cannot stream table {name} to a client: UNLOAD it as Parquet and \
                 use --from files://DIR"
            ),
        ))
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
