//! `martsync explain` (and `martsync run --dry-run`): what a cycle of each mart would do,
//! without writing anything, as [`crate::pipeline::explain`] works it out.

use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::config::{Config, TableConfig};
pub use crate::pipeline::explain::{MartPlan, explain};
use crate::source::display_watermark;
use crate::warehouse::Statement;

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
        println!(
            "warehouse ({}), the merge in one transaction:",
            plan.dialect.name()
        );
        for Statement { name, sql } in &plan.statements {
            println!("  -- {name}\n  {};", sql.replace('\n', "\n  "));
        }
    }
}
