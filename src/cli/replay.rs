//! `martsync replay`: each historical batch file is one cycle, in name order.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::pipeline::Pipeline;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub memory: super::MemoryArgs,
    /// Folder of batch files: one subfolder per source table, as for a files:// source.
    #[arg(long, value_name = "DIR", required_unless_present = "from_stage")]
    pub from: Option<PathBuf>,
    /// Re-apply the staged runs `[stage] keep` kept (each once: labelled `stage:<run_id>`),
    /// e.g. after a bad deploy wrote wrong rows.
    #[arg(long, conflicts_with = "from")]
    pub from_stage: bool,
    /// With --from-stage: only this run (repeatable). Default: every complete kept run.
    #[arg(long = "run", value_name = "RUN_ID", requires = "from_stage")]
    pub runs: Vec<String>,
    /// Only this mart (repeatable). Default: every configured mart.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Also write every cycle's report to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub async fn execute(args: ReplayArgs) -> crate::Result<ExitCode> {
    let mut config = args.config.load()?;
    args.memory.apply(&mut config);
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    let pipeline = Pipeline::open(config).await?;

    let progress = super::batch_progress("files");
    let results = match &args.from {
        Some(dir) => pipeline.replay(dir, &tables, progress).await,
        None => pipeline.reapply_staged(&tables, &args.runs, progress).await,
    };

    let summaries: Vec<_> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    super::print_batch_summaries("files", &summaries);
    super::conclude("replay", &results, args.report_json.as_deref())
}
