//! `martsync backfill`: an explicit range of one mart's watermark, extracted chunk by chunk
//! through the normal cycle (one transaction per chunk). Each chunk is recorded in
//! `martsync_runs` as `backfill:<column>:<from>..<until>`, so a backfill that was interrupted
//! resumes where it stopped when run again with the same range and chunk.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;

use super::{ConfigArgs, parse_time, since_epoch};
use crate::error::{Error, Result};
use crate::pipeline::{Pipeline, in_watermark_units};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub memory: super::MemoryArgs,
    /// The mart to backfill.
    #[arg(long = "table", value_name = "MART")]
    pub table: String,
    /// Start of the range (inclusive) on the mart's watermark column, UTC: `2026-01-01` or
    /// `2026-01-01T06:00:00Z`.
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// End of the range (exclusive), UTC.
    #[arg(long, value_name = "TIME")]
    pub until: String,
    /// Length of one chunk: one extraction and one merge transaction each.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration)]
    pub chunk: Duration,
    /// Also write every chunk's report to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub async fn execute(args: BackfillArgs) -> Result<ExitCode> {
    let mut config = args.config.load()?;
    args.memory.apply(&mut config);
    let table =
        crate::pipeline::select_tables(&config, std::slice::from_ref(&args.table))?.remove(0);
    let (from, until) = (
        parse_time(&args.from, "--from")?,
        parse_time(&args.until, "--until")?,
    );
    if until <= from {
        return Err(Error::config(
            "command line",
            "--until",
            format!("`{}` is not after --from `{}`", args.until, args.from),
        ));
    }
    if args.chunk.is_zero() {
        return Err(Error::config(
            "command line",
            "--chunk",
            "must be longer than 0s",
        ));
    }
    let units = |t: SystemTime| in_watermark_units(&table, since_epoch(t));
    let range = (
        units(from),
        units(until),
        in_watermark_units(&table, args.chunk).max(1),
    );
    let pipeline = Pipeline::open(config).await?;

    let progress = super::batch_progress("chunks");
    let result = pipeline.backfill(&table, range, progress.as_ref()).await;
    if let Ok(summary) = &result {
        super::print_batch_summaries("chunks", &[summary]);
    }
    super::conclude(
        "backfill",
        &[(table.name.clone(), result)],
        args.report_json.as_deref(),
    )
}
