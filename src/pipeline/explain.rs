//! What a cycle of each mart would do, without writing anything: the watermark, the
//! extraction query, and every warehouse statement, the merge's being the plan the executor
//! runs for the mart's present state. The warehouse is only read (the marts' watermarks); a
//! DuckDB file that does not exist yet is not created.

use serde::Serialize;

use super::extraction_start;
use crate::config::{Config, SourceMode, TableConfig, WarehouseUrl};
use crate::source;
use crate::warehouse::dialect::{self, Dialect, Load};
use crate::warehouse::plan::{PlanState, Statement, StepName};
use crate::warehouse::{self, MartStatus};

/// What one mart's next cycle would do.
#[derive(Debug, Serialize)]
pub struct MartPlan {
    pub mart: String,
    pub source_table: String,
    pub strategy: &'static str,
    /// Does the mart exist yet? (If not, the cycle creates it and extracts everything.)
    pub mart_exists: bool,
    pub mart_max_watermark: Option<i64>,
    /// The extraction reads rows whose watermark is above this (`None`: all rows).
    pub extract_above: Option<i64>,
    pub extraction: String,
    pub stage: String,
    pub dialect: Dialect,
    /// Every warehouse statement of the cycle, in order.
    pub statements: Vec<Statement>,
}

/// The plan of every table's next cycle.
pub async fn explain(config: &Config, tables: &[TableConfig]) -> crate::Result<Vec<MartPlan>> {
    let source = source::open(&config.source)?;
    let dialect = Dialect::of(&config.warehouse.url);
    // Reading the watermarks must not create anything: a DuckDB file that is not there yet
    // means every mart is empty.
    let warehouse = match &config.warehouse.url {
        WarehouseUrl::DuckDb(path) if !path.exists() => None,
        _ => Some(warehouse::open(&config.warehouse).await?),
    };
    let mut plans = Vec::new();
    // A cycle reads MySQL's current rows; files are history (`version_guard`).
    let live = config.source.url.reads_current_rows();
    for table in tables {
        let table = &table.for_input(live);
        let status = match &warehouse {
            Some(w) => w.status(table, 0).await?,
            None => MartStatus::default(),
        };
        let above = extraction_start(table, status.max_watermark);
        // `binlog` mode: a mart with a committed position reads the binary log from it.
        let binlog = config.source.mode == SourceMode::Binlog;
        let position = match &warehouse {
            Some(w) if binlog && status.exists => w.last_source_position(&table.name).await?,
            _ => None,
        };
        let run = format!("{}/<run_id>", table.name);
        let load = Load::placeholder(
            dialect,
            &config.stage.url,
            config.warehouse.iam_role.as_deref(),
            &run,
        );
        let mut statements = Vec::new();
        if !status.exists {
            for written in table.written_tables() {
                statements.push(Statement {
                    name: StepName::CreateMart,
                    sql: dialect::create_mart(dialect, &written),
                });
                for index in dialect::create_indexes(dialect, &written) {
                    statements.push(Statement {
                        name: StepName::CreateIndex,
                        sql: index.sql,
                    });
                }
            }
            statements.push(Statement {
                name: StepName::CreateRuns,
                sql: dialect::create_runs(dialect),
            });
            if dialect::hold_mart(dialect, &table.name).is_some() {
                statements.push(Statement {
                    name: StepName::CreateHoldTable,
                    sql: dialect::create_hold_table(&table.name),
                });
            }
        }
        // The hold, on a connection of its own, until the merge commits.
        if let Some(sql) = dialect::hold_mart(dialect, &table.name) {
            statements.push(Statement {
                name: StepName::HoldMart,
                sql,
            });
        }
        // The plan the executor runs, for this mart's state, assuming the run stages rows.
        let state = PlanState {
            mart_empty: status.rows == 0,
            staged_files: true,
        };
        let extraction = match &position {
            Some(from) => {
                let changes = table.with_change_marker();
                statements
                    .extend(dialect::changes_plan(dialect, &changes, &load).statements(state));
                format!(
                    "the binary log's inserts, updates and deletes of `{}` from {from} to where \
                     SHOW MASTER STATUS puts its end when the cycle starts; each key's last \
                     change is staged",
                    table.schema.name
                )
            }
            None => {
                statements.push(Statement {
                    name: StepName::MaxWatermark,
                    sql: dialect::max_watermark(dialect, table),
                });
                statements.extend(dialect::merge_plan(dialect, table, &load).statements(state));
                let extraction = source.explain_extraction(table, above);
                if binlog {
                    format!(
                        "{extraction}\n  (binlog mode, no position yet: this snapshot hands over to \
                         the binary log at SHOW MASTER STATUS's position read before it)"
                    )
                } else {
                    extraction
                }
            }
        };
        let kept = if config.stage.keep {
            "kept after COMMIT"
        } else {
            "deleted after COMMIT"
        };
        plans.push(MartPlan {
            mart: table.name.clone(),
            source_table: table.schema.name.clone(),
            strategy: table.strategy.as_str(),
            mart_exists: status.exists,
            mart_max_watermark: status.max_watermark,
            extract_above: above,
            extraction,
            stage: format!(
                "{}/{run}/part-NNNNN.parquet ({} rows each) and manifest.json, {kept}",
                config.stage.url, config.stage.part_rows
            ),
            dialect,
            statements,
        });
    }
    Ok(plans)
}
