//! `martsync run`: one cycle per mart.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{ConfigArgs, human_bytes};
use crate::pipeline::{CycleReport, Pipeline};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this mart (repeatable). Default: every configured mart.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Also write the cycles' reports to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub async fn execute(args: RunArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    let pipeline = Pipeline::open(config).await?;
    let results = pipeline.run(&tables).await;
    print_reports(results.iter().filter_map(|(_, r)| r.as_ref().ok()));
    super::conclude("run", &results, args.report_json.as_deref())
}

/// The per-mart summary table.
pub fn print_reports<'a>(reports: impl Iterator<Item = &'a CycleReport>) {
    println!(
        "{:<26} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>10} {:>8}",
        "mart",
        "extracted",
        "deduped",
        "rejected",
        "deleted",
        "inserted",
        "trimmed",
        "staged",
        "ms"
    );
    for r in reports {
        println!(
            "{:<26} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>10} {:>8}",
            r.mart,
            r.rows_extracted,
            r.rows_deduped,
            r.rows_rejected,
            r.rows_deleted,
            r.rows_inserted,
            r.rows_trimmed,
            human_bytes(r.bytes_staged),
            r.total_ms
        );
    }
}
