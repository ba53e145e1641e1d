//! `martsync bench`: the benchmark harness of [`crate::bench`], with progress bars and a
//! summary; `--worker` (hidden) runs one dedup contender for the harness's own processes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::bench::{Options, Scenario, WorkerTask};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Scenarios to run (repeat the flag); default all.
    #[arg(long = "scenario", value_enum, value_name = "SCENARIO")]
    pub scenarios: Vec<Scenario>,
    /// Small sizes that finish in about a minute, to try the harness.
    #[arg(long)]
    pub quick: bool,
    /// Folder for report.md, report.json, the charts and the generated data (kept for reuse).
    #[arg(long, value_name = "DIR", default_value = "bench-report")]
    pub out: PathBuf,
    /// Repetitions of every measurement. Default: 3 (2 with --quick).
    #[arg(long, value_name = "N")]
    pub repetitions: Option<usize>,
    /// `dedup` input rows, e.g. `10M`.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub rows: Option<usize>,
    /// `dedup` distinct keys, e.g. `2M`.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keys: Option<usize>,
    /// `dedup`: this Parquet file of `uni_tracking_info` rows instead of generated ones
    /// (one of your batch files, as your writer wrote it); not with `--rows` or `--keys`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rows", "keys"])]
    pub input: Option<PathBuf>,
    /// `merge-scaling`: the largest mart, e.g. `64M` (sizes grow 4× from 1M up to it).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_rows: Option<usize>,
    /// Also measure in this PostgreSQL (a schema of its own, dropped afterwards).
    #[arg(long, value_name = "URL", env = "MARTSYNC_BENCH_POSTGRES_URL")]
    pub postgres: Option<String>,
    /// DataFusion memory pool for martsync's dedup, e.g. `1GiB`: past it the dedup fails.
    #[arg(long, value_name = "SIZE", value_parser = super::parse_size)]
    pub memory_limit: Option<usize>,
    /// Draw report.md and the charts again from DIR/report.json (after a change to the
    /// report's layout, or to look at an old run), measuring nothing.
    #[arg(long, value_name = "DIR")]
    pub replot: Option<PathBuf>,
    /// Internal: run one contender and print its outcome as JSON.
    #[arg(long, hide = true, value_name = "TASK")]
    pub worker: Option<String>,
}

/// A count like `10M`, `50k` or `1000000`.
fn parse_count(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim().replace('_', "");
    let (number, factor) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000.0),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000.0),
        Some('g' | 'G') => (&t[..t.len() - 1], 1_000_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| *n > 0.0)
        .map(|n| (n * factor) as usize)
        .ok_or_else(|| format!("`{text}` is not a count like 10M, 50k or 1000"))
}

pub async fn execute(args: BenchArgs) -> Result<ExitCode> {
    if let Some(task) = &args.worker {
        let task: WorkerTask = serde_json::from_str(task)
            .map_err(|e| Error::config("command line", "--worker", e.to_string()))?;
        let outcome = crate::bench::worker(&task).await?;
        println!("{}", serde_json::to_string(&outcome).expect("serializes"));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &args.replot {
        let path = dir.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let report: crate::bench::report::Report = serde_json::from_str(&text).map_err(|e| {
            Error::config(
                "command line",
                "--replot",
                format!("{}: {e}", path.display()),
            )
        })?;
        report.write(dir)?;
        println!("Report: {}", dir.join("report.md").display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut options = if args.quick {
        Options::quick(args.out.clone())
    } else {
        Options::full(args.out.clone())
    };
    if !args.scenarios.is_empty() {
        options.scenarios = args.scenarios.clone();
    }
    if let Some(n) = args.repetitions {
        options.repetitions = n.max(1);
    }
    options.dedup_rows = args.rows.unwrap_or(options.dedup_rows);
    options.dedup_keys = args
        .keys
        .unwrap_or(options.dedup_keys)
        .min(options.dedup_rows);
    if let Some(max) = args.max_rows {
        options.max_rows = max;
        let mut sizes = vec![1_000_000];
        while sizes.last().is_some_and(|&s| s * 4 <= max) {
            sizes.push(sizes.last().unwrap() * 4);
        }
        options.mart_sizes = sizes;
    }
    options.postgres = args.postgres.clone();
    options.memory_limit = args.memory_limit;
    options.dedup_input = args.input.clone();

    let bar = super::progress_bar("steps", "bench");
    if let Some(bar) = &bar {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:48} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
    }
    let progress = |what: &str, done: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.set_message(what.to_string());
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        } else {
            eprintln!("[{done}/{total}] {what}");
        }
    };
    let report = crate::bench::run(&options, &progress).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!("{}", report.markdown(&[]));
    println!("Report: {}", options.out.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}
