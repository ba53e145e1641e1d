//! `martsync status`: each mart's rows, watermark, lag behind its source and last runs, as
//! text, JSON (`--json`) or a self-contained HTML page (`--html FILE`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use super::status_report::{
    MartReport, RUN_COLUMNS, describe_lag, describe_ms, lag_seconds, run_cells, slow_deletes,
    slowest_statement,
};
use crate::source::display_watermark;
use crate::{source, warehouse};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the run history as a self-contained HTML page (charts inline, no external
    /// assets), replaced atomically.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// How many of each mart's last runs to show.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub runs: usize,
    /// Do not ask the source for its largest watermark (no lag).
    #[arg(long)]
    pub no_source: bool,
}

pub async fn execute(args: StatusArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let warehouse = warehouse::open(&config.warehouse).await?;
    // One health check for all marts: a source that is down is reported once per mart
    // without waiting for its connect timeout once per mart, and never hides their state.
    let source = match (!args.no_source)
        .then(|| source::open(&config.source))
        .transpose()?
    {
        None => None,
        Some(source) => Some(match source.health_check().await {
            Ok(()) => Ok(source),
            Err(e) => Err(e.to_string()),
        }),
    };
    // Binlog mode: where the server's log ends, once for all marts.
    let binlog = config.source.mode == crate::config::SourceMode::Binlog;
    let binlog_end = match &source {
        Some(Ok(source)) if binlog => Some(match source.binlog_position().await {
            Ok(end) => end.to_string(),
            Err(e) => format!("unknown: {e}"),
        }),
        _ => None,
    };
    let mut reports = Vec::new();
    for table in &config.tables {
        let status = warehouse.status(table, args.runs).await?;
        let binlog_applied = if binlog && status.exists {
            warehouse.last_source_position(&table.name).await?
        } else {
            None
        };
        let (source_max, source_error) = match &source {
            None => (None, None),
            Some(Err(down)) => (None, Some(down.clone())),
            Some(Ok(source)) => match source.max_watermark(table).await {
                Ok(max) => (max, None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        let mut targets = Vec::new();
        for target in &table.targets {
            targets.push(warehouse.status(&table.as_target(target), 0).await?);
        }
        reports.push(MartReport {
            lag_seconds: lag_seconds(table, source_max, status.max_watermark),
            slowest_statement: slowest_statement(&status.recent_runs),
            slow_deletes: slow_deletes(&status.recent_runs, config.warehouse.warn_delete_after),
            status,
            source_max_watermark: source_max,
            source_error,
            targets,
            binlog_end: binlog_end.clone().filter(|_| binlog_applied.is_some()),
            binlog_applied,
        });
    }
    if let Some(path) = &args.html {
        let page = super::html::status_page(&warehouse.describe(), &config.tables, &reports);
        crate::atomic_file::write(path, &page)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("status serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("warehouse {}", warehouse.describe());
    for (r, table) in reports.iter().zip(&config.tables) {
        let s = &r.status;
        if !s.exists {
            println!("{:<26} not created yet", s.mart);
            continue;
        }
        let watermark = s
            .max_watermark
            .map_or("-".to_string(), |w| display_watermark(table, w));
        println!(
            "{:<26} rows {:>10}  max {} {}  lag {}  runs {}",
            s.mart,
            s.rows,
            table.watermark,
            watermark,
            describe_lag(r),
            s.runs
        );
        if let Some(applied) = &r.binlog_applied {
            println!(
                "  binary log: applied up to {applied}; the server's log ends at {}",
                r.binlog_end.as_deref().unwrap_or("- (source not asked)")
            );
        }
        if let Some(slowest) = &r.slowest_statement {
            println!(
                "  slowest statement: {} (median {} over {} runs)",
                slowest.statement,
                describe_ms(slowest.median_ms),
                slowest.runs
            );
        }
        if let Some(slow) = &r.slow_deletes {
            println!(
                "  WARNING: the merge's DELETE took longer than warehouse.warn_delete_after = {} in \
                 {} of the last {} runs (slowest {}): the seed's rule is to move this mart's \
                 heavy reads to a target (Option A)",
                describe_ms(slow.warn_delete_after_ms),
                slow.runs,
                slow.of_runs,
                describe_ms(slow.max_ms)
            );
        }
        for t in &r.targets {
            let watermark = t
                .max_watermark
                .map_or("-".to_string(), |w| display_watermark(table, w));
            println!(
                "  target {:<17} rows {:>10}  max {} {}",
                t.mart, t.rows, table.watermark, watermark
            );
        }
        for run in &s.recent_runs {
            let cells = run_cells(run);
            let line: Vec<String> = RUN_COLUMNS
                .iter()
                .zip(&cells)
                .skip(1)
                .map(|(name, cell)| format!("{name} {cell:>9}"))
                .collect();
            println!("  {}  {}", cells[0], line.join("  "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
