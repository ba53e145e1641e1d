//! `martsync explain` (and `martsync run --dry-run`): what a cycle of each mart would do,
//! without writing anything. The warehouse is only read (the marts' watermarks); a DuckDB
//! file that does not exist yet is not created.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::ConfigArgs;
use crate::config::{Config, StageUrl, TableConfig, WarehouseUrl};
use crate::pipeline::extraction_start;
use crate::source::{self, display_watermark};
use crate::warehouse::dialect::{self, Dialect, Load, Statement};
use crate::warehouse::{self, MartStatus};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this mart (repeatable). Default: every configured mart.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

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

pub async fn execute(args: ExplainArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    let plans = explain(&config, &tables).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plans).expect("plans serialize")
        );
    } else {
        print_plans(&config, &tables, &plans);
    }
    Ok(ExitCode::SUCCESS)
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
    for table in tables {
        let status = match &warehouse {
            Some(w) => w.status(table, 0).await?,
            None => MartStatus::default(),
        };
        let above = extraction_start(table, status.max_watermark);
        let run = format!("{}/<run_id>", table.name);
        let load = match (&config.warehouse.url, &config.stage.url) {
            (WarehouseUrl::DuckDb(_), StageUrl::File(dir)) => {
                Load::Files(vec![format!("{}/{run}/part-00000.parquet", dir.display())])
            }
            (WarehouseUrl::Redshift(_), stage) => Load::Manifest {
                url: format!("{stage}/{run}/manifest.json"),
                iam_role: config.warehouse.iam_role.clone().unwrap_or_default(),
            },
            _ => Load::Stdin,
        };
        let mut statements = Vec::new();
        if !status.exists {
            for written in table.written_tables() {
                statements.push(Statement {
                    name: "create_mart",
                    sql: dialect::create_mart(dialect, &written),
                });
                for index in dialect::create_indexes(dialect, &written) {
                    statements.push(Statement {
                        name: "create_index",
                        sql: index.sql,
                    });
                }
            }
            statements.push(Statement {
                name: "create_runs",
                sql: dialect::create_runs(dialect),
            });
        }
        statements.push(Statement {
            name: "max_watermark",
            sql: dialect::max_watermark(dialect, table),
        });
        let empty = status.rows == 0;
        statements.extend(dialect::merge_plan(dialect, table, &load, empty));
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
            extraction: source.explain_extraction(table, above),
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

/// Prints the plans as text; also `run --dry-run`'s output.
pub fn print_plans(config: &Config, tables: &[TableConfig], plans: &[MartPlan]) {
    println!("source    {}", config.source.url);
    println!("stage     {}", config.stage.url);
    println!("warehouse {}", config.warehouse.url);
    for (plan, table) in plans.iter().zip(tables) {
        println!(
            "\n== {} ({}, from {})",
            plan.mart, plan.strategy, plan.source_table
        );
        let watermark = |v: Option<i64>| v.map_or("-".to_string(), |v| display_watermark(table, v));
        match plan.extract_above {
            None if !plan.mart_exists => {
                println!(
                    "watermark: the mart does not exist yet: it is created, and every row extracted"
                )
            }
            None => println!("watermark: the mart is empty: every row is extracted"),
            Some(above) => println!(
                "watermark: mart max {} = {}; extracts {} > {} (lookback {})",
                table.watermark,
                watermark(plan.mart_max_watermark),
                table.watermark,
                display_watermark(table, above),
                humantime::format_duration(table.lookback)
            ),
        }
        println!("extract:   {}", plan.extraction);
        println!("stage:     {}", plan.stage);
        let dialect = clap::ValueEnum::to_possible_value(&plan.dialect).expect("named dialect");
        println!(
            "warehouse ({}), the merge in one transaction:",
            dialect.get_name()
        );
        for Statement { name, sql } in &plan.statements {
            println!("  -- {name}\n  {};", sql.replace('\n', "\n  "));
        }
    }
}
