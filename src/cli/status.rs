//! `martsync status`: each mart's rows, watermark and last run.

use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::warehouse;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(args: StatusArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let warehouse = warehouse::open(&config.warehouse).await?;
    let mut statuses = Vec::new();
    for table in &config.tables {
        statuses.push(warehouse.status(table).await?);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).expect("status serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("warehouse {}", warehouse.describe());
    for s in &statuses {
        if !s.exists {
            println!("{:<26} not created yet", s.mart);
            continue;
        }
        let watermark = s.max_watermark.map_or("-".to_string(), |w| w.to_string());
        println!(
            "{:<26} rows {:>10}  max watermark {:>12}  runs {:>6}",
            s.mart, s.rows, watermark, s.runs
        );
        if let Some(run) = &s.last_run {
            println!(
                "  last run {} at {} ({}): extracted {}, deduped {}, deleted {}, inserted {}, trimmed {}",
                run.run_id,
                run.committed_at,
                run.batch.as_deref().unwrap_or("-"),
                run.rows_extracted,
                run.rows_deduped,
                run.rows_deleted,
                run.rows_inserted,
                run.rows_trimmed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
