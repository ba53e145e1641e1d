//! `martsync replay`: each historical batch file is one cycle, in name order.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar};

use super::ConfigArgs;
use crate::pipeline::Pipeline;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Folder of batch files: one subfolder per source table, as for a files:// source.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Only this mart (repeatable). Default: every configured mart.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Also write every cycle's report to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub async fn execute(args: ReplayArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    let pipeline = Pipeline::open(config).await?;

    // Progress bars only for a person watching; schedulers get the summary alone.
    let bars = std::io::stderr().is_terminal().then(MultiProgress::new);
    let by_mart: Mutex<HashMap<String, ProgressBar>> = Mutex::default();
    let progress = Arc::new(move |mart: &str, done: usize, total: usize| {
        let Some(multi) = &bars else { return };
        let mut map = by_mart.lock().expect("progress lock");
        let bar = map.entry(mart.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total as u64));
            bar.set_style(super::bar_style("files"));
            bar.set_message(mart.to_string());
            bar
        });
        bar.set_position(done as u64);
        if done == total {
            bar.finish();
        }
    });
    let results = pipeline.replay(&args.from, &tables, progress).await;

    let rows: Vec<_> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|s| (s.mart.as_str(), s.files, s.skipped, s.cycles.as_slice()))
        .collect();
    super::print_batch_summaries("files", &rows);
    super::conclude("replay", &results, args.report_json.as_deref())
}
