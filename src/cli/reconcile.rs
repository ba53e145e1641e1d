//! `martsync reconcile`: delete the keys a mart holds inside a window that its source no
//! longer has (rows deleted in MySQL, which a watermark read never sees).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{ConfigArgs, parse_time, since_epoch};
use crate::config::MaxDeletes;
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::pipeline::reconcile::{ReconcileReport, Window};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The mart to reconcile.
    #[arg(long, value_name = "MART")]
    pub table: String,
    /// The window: the mart's keys whose watermark is at or after this UTC time
    /// (`2026-11-01` or `2026-11-01T06:00:00Z`).
    #[arg(long, value_name = "TIME", conflicts_with = "window")]
    pub since: Option<String>,
    /// The window: the mart's keys whose watermark is this recent (`7d`, `12h`). Default: the
    /// mart's `delete_missing`, else 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// The most keys to delete: a count (`500`) or a share of the keys inside the window
    /// (`1%`). Default: the mart's `max_deletes`.
    #[arg(long, value_name = "N|P%", value_parser = MaxDeletes::parse)]
    pub max_deletes: Option<MaxDeletes>,
    /// List the keys it would delete, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(args: ReconcileArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let table =
        crate::pipeline::select_tables(&config, std::slice::from_ref(&args.table))?.remove(0);
    let window = match (&args.since, args.window.or(table.delete_missing)) {
        (Some(text), _) => {
            let since = since_epoch(parse_time(text, "--since")?);
            Window {
                since: crate::pipeline::in_watermark_units(&table, since),
                label: format!("since {text}"),
            }
        }
        (None, window) => Window::last(&table, window.unwrap_or(DEFAULT_WINDOW)),
    };
    let max = args.max_deletes.unwrap_or(table.max_deletes);
    let pipeline = Pipeline::open(config).await?;
    let report = pipeline
        .reconcile(&table, &window, max, args.dry_run)
        .await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The window when neither `--since` nor `--window` nor `delete_missing` says.
const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 86_400);

fn print_report(r: &ReconcileReport) {
    println!(
        "{}: {}: the mart holds {} keys in the window, the source {}; {} missing (max_deletes allows {})",
        r.mart, r.batch, r.mart_keys, r.source_keys, r.missing, r.limit
    );
    for key in &r.keys {
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        println!("  {verb} {}", key.join(", "));
    }
    match (&r.run_id, r.dry_run) {
        (_, true) => println!("dry run: nothing deleted"),
        (Some(run), false) => println!("deleted {} rows in run {run}", r.deleted),
        (None, false) => {}
    }
}
