//! `martsync maintain`: the upkeep that keeps marts fast after the cycles' deletes, per
//! warehouse (Redshift: VACUUM and ANALYZE past the `[maintenance]` thresholds; PostgreSQL:
//! VACUUM (ANALYZE); DuckDB: CHECKPOINT and ANALYZE). Meant for a daily schedule.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::ConfigArgs;
use crate::warehouse;

#[derive(Debug, Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this mart (repeatable). Default: every configured mart and its targets.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Print what would run and why, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn execute(args: MaintainArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    let warehouse = warehouse::open(&config.warehouse).await?;
    println!("warehouse {}", warehouse.describe());
    for table in &tables {
        // Never while a cycle holds the mart, and never inside its transaction: the mart's
        // hold is taken first (waiting up to warehouse.lock_timeout, then exit 3) and kept
        // until its upkeep is done, so no cycle of it starts meanwhile.
        let _hold = match args.dry_run {
            true => None,
            false => Some(warehouse.hold(&table.name).await?),
        };
        for written in table.written_tables() {
            let plan = warehouse.upkeep_plan(&written, &config.maintenance).await?;
            println!("{}: {}", written.name, plan.facts);
            if plan.steps.is_empty() {
                println!("  nothing to do");
            }
            for step in &plan.steps {
                if args.dry_run {
                    println!("  would run {}: {}", step.statement, step.why);
                    continue;
                }
                let started = Instant::now();
                warehouse.run_upkeep(&written.name, step).await?;
                println!(
                    "  ran {} in {:.1?}: {}",
                    step.statement,
                    started.elapsed(),
                    step.why
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
