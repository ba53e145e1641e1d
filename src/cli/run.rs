//! `martsync run`: one cycle per mart.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{ConfigArgs, human_bytes};
use crate::pipeline::metrics::{self, MartResult, RunMetrics};
use crate::pipeline::{CycleReport, Pipeline};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub memory: super::MemoryArgs,
    /// Only this mart (repeatable). Default: every configured mart.
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
    /// Also write the cycles' reports to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Write the cycles' counters and durations to this file in the Prometheus text format
    /// (for node_exporter's textfile collector), replaced atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Print what the cycles would do (as `martsync explain`) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `binlog` mode: read every row of the source table again, whatever the mart holds, and
    /// go on from the binary log's position now (after the mart's position was purged from
    /// the server's logs, or the table was altered). Rows deleted meanwhile stay until a
    /// `martsync reconcile`.
    #[arg(long, conflicts_with = "dry_run")]
    pub resnapshot: bool,
}

pub async fn execute(args: RunArgs) -> crate::Result<ExitCode> {
    let mut config = args.config.load()?;
    args.memory.apply(&mut config);
    let tables = crate::pipeline::select_tables(&config, &args.tables)?;
    if args.dry_run {
        let plans = super::explain::explain(&config, &tables).await?;
        super::explain::print_plans(&config, &tables, &plans);
        return Ok(ExitCode::SUCCESS);
    }
    let config_warn_delete_after = config.warehouse.warn_delete_after;
    let pipeline = match Pipeline::open(config).await {
        Ok(pipeline) => pipeline,
        Err(e) => {
            // Opening failed for every mart alike: the metrics still say so.
            if let Some(path) = &args.metrics_file {
                let failed: Vec<_> = tables
                    .iter()
                    .map(|t| (t.name.as_str(), MartResult::Failed { phase: e.phase() }))
                    .collect();
                let run = RunMetrics {
                    command: "run",
                    marts: &failed,
                    gauges: &[],
                    warn_delete_after: config_warn_delete_after,
                };
                metrics::write(path, &run)?;
            }
            return Err(e);
        }
    };
    if args.resnapshot && pipeline.config.source.mode != crate::config::SourceMode::Binlog {
        return Err(crate::Error::config(
            &pipeline.config.origin,
            "--resnapshot",
            "only `binlog` mode keeps a position to re-snapshot from (source.mode is `watermark`)",
        ));
    }
    let input = if args.resnapshot {
        crate::pipeline::Input::Snapshot
    } else {
        crate::pipeline::Input::Watermark
    };
    let results = pipeline.run_with(&tables, input).await;
    print_reports(results.iter().filter_map(|(_, r)| r.as_ref().ok()));
    if let Some(path) = &args.metrics_file {
        let marts: Vec<_> = results
            .iter()
            .map(|(mart, result)| (mart.as_str(), MartResult::of(result)))
            .collect();
        let gauges = pipeline.gauges(&tables).await;
        let gauges: Vec<_> = gauges
            .iter()
            .map(|(m, g)| (m.as_str(), g.clone()))
            .collect();
        let run = RunMetrics {
            command: "run",
            marts: &marts,
            gauges: &gauges,
            warn_delete_after: pipeline.config.warehouse.warn_delete_after,
        };
        metrics::write(path, &run)?;
    }
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
