//! `martsync seed`: fills a mart from what the old pipeline left (seed phase 5), through the
//! same dedup and merge as a cycle: an existing warehouse table (an old staging table or
//! mart), or a folder of exported files, each file one cycle and resumable like a replay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::config::validate_identifier;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub memory: super::MemoryArgs,
    /// The mart to fill.
    #[arg(long = "table", value_name = "MART")]
    pub table: String,
    /// A table in the warehouse with the mart's columns (by name; others are ignored), or
    /// `files://DIR`: Parquet, CSV or JSON-lines files, in `DIR/<source table>/` or in DIR.
    #[arg(long, value_name = "TABLE|files://DIR")]
    pub from: String,
    /// Also write every cycle's report to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub async fn execute(args: SeedArgs) -> Result<ExitCode> {
    let mut config = args.config.load()?;
    args.memory.apply(&mut config);
    let table =
        crate::pipeline::select_tables(&config, std::slice::from_ref(&args.table))?.remove(0);
    let folder = args.from.strip_prefix("files://").map(PathBuf::from);
    if folder.is_none() {
        validate_identifier(&args.from).map_err(|m| Error::config("command line", "--from", m))?;
        if args.from.eq_ignore_ascii_case(&table.name) {
            return Err(Error::config(
                "command line",
                "--from",
                format!("`{}` is the mart itself", args.from),
            ));
        }
    }
    let pipeline = Pipeline::open(config).await?;
    let result = match folder {
        Some(folder) => {
            let progress = super::batch_progress("files");
            pipeline
                .seed_files(&folder, &table, progress.as_ref())
                .await
        }
        None => pipeline.seed_table(&args.from, &table).await,
    };
    if let Ok(summary) = &result {
        super::print_batch_summaries("inputs", &[summary]);
    }
    super::conclude(
        "seed",
        &[(table.name.clone(), result)],
        args.report_json.as_deref(),
    )
}
