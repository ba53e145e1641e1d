//! `martsync status`: each mart's rows, watermark, lag behind its source and last runs, as
//! text, JSON (`--json`) or a self-contained HTML page (`--html FILE`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::ConfigArgs;
use crate::config::TableConfig;
use crate::source::display_watermark;
use crate::warehouse::{MartStatus, RunSummary};
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

/// A mart's state and how far it is behind its source.
#[derive(Debug, Clone, Serialize)]
pub struct MartReport {
    #[serde(flatten)]
    pub status: MartStatus,
    /// The source table's largest watermark, in the column's unit.
    pub source_max_watermark: Option<i64>,
    /// Source max watermark minus mart max watermark, in seconds (`None` when either is
    /// unknown). 0 means the mart holds the source's newest change.
    pub lag_seconds: Option<f64>,
    /// Why the source could not be asked, if it could not.
    pub source_error: Option<String>,
    /// The mart's `[[tables.targets]]`: rows and max watermark (their runs are the mart's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<MartStatus>,
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
    let mut reports = Vec::new();
    for table in &config.tables {
        let status = warehouse.status(table, args.runs).await?;
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
            status,
            source_max_watermark: source_max,
            source_error,
            targets,
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

/// Source max minus mart max, in seconds: watermarks are epoch seconds, or µs for
/// timestamp columns. An empty mart behind a non-empty source has no finite lag.
pub fn lag_seconds(table: &TableConfig, source: Option<i64>, mart: Option<i64>) -> Option<f64> {
    let unit = if table.schema.is_timestamp(&table.watermark) {
        1e6
    } else {
        1.0
    };
    match (source, mart) {
        (Some(s), Some(m)) => Some((s - m).max(0) as f64 / unit),
        _ => None,
    }
}

/// The lag for people: `0s`, `12m 3s`, or why it is unknown.
pub fn describe_lag(report: &MartReport) -> String {
    match (report.lag_seconds, &report.source_error) {
        (Some(s), _) => {
            humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
        }
        (None, Some(_)) => "unknown (source unreachable)".into(),
        (None, None) if report.source_max_watermark.is_some() => "all (mart empty)".into(),
        (None, None) => "-".into(),
    }
}

/// The columns a run is shown with, in the text output and the HTML page.
pub const RUN_COLUMNS: [&str; 8] = [
    "committed",
    "batch",
    "ms",
    "extracted",
    "deduped",
    "deleted",
    "inserted",
    "trimmed",
];

/// A run's values in [`RUN_COLUMNS`] order.
pub fn run_cells(run: &RunSummary) -> [String; 8] {
    [
        format_ms(run.committed_at_ms),
        run.batch.clone().unwrap_or_else(|| "-".into()),
        run.duration_ms().to_string(),
        run.rows_extracted.to_string(),
        run.rows_deduped.to_string(),
        run.rows_deleted.to_string(),
        run.rows_inserted.to_string(),
        run.rows_trimmed.to_string(),
    ]
}

/// Epoch ms as `2026-11-26 21:04:05 UTC`.
pub fn format_ms(ms: i64) -> String {
    let array = arrow::array::TimestampMillisecondArray::from(vec![ms]);
    arrow::util::display::array_value_to_string(&array, 0).map_or_else(
        |_| ms.to_string(),
        |t| format!("{} UTC", t.replace('T', " ")),
    )
}
