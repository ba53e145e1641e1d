//! The command line. clap types live only here; each subcommand is one module that turns
//! its arguments into library calls and prints the result.

mod backfill;
mod bench;
mod compare;
mod completions;
mod config_cmd;
mod ddl;
mod explain;
mod generate;
mod html;
mod maintain;
mod reconcile;
mod replay;
mod run;
mod seed;
mod status;
mod status_report;
mod values;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use crate::units::parse_size;
pub use crate::units::{VERSION, human_bytes};

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use config_cmd::{reference as config_reference, schema as config_schema};

use crate::config::Config;
use crate::error::Error;

/// Keeps the Redshift marts of an order-tracking system in sync with their MySQL sources.
#[derive(Debug, Parser)]
#[command(name = "martsync", version = VERSION, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// How log events are written to stderr: `text` for people, `json` (one object per line,
    /// fields `table`, `run_id`, `phase`, `rows`, `ms`) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MARTSYNC_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// The log formats of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one cycle per mart: extract above the watermark, dedup, stage, merge.
    Run(run::RunArgs),
    /// Replay historical batch files, each file one cycle, in name order.
    Replay(replay::ReplayArgs),
    /// Extract an explicit watermark range of one mart, chunk by chunk through the normal
    /// cycle; an interrupted backfill resumes where it stopped.
    Backfill(backfill::BackfillArgs),
    /// Fill a mart from an existing warehouse table or exported files, through the same
    /// dedup and merge (migration seeding).
    Seed(seed::SeedArgs),
    /// Compare a mart with another table by key (the old pipeline's, the source, a warehouse
    /// table or files): rows only on one side, rows that differ and in which columns.
    Compare(compare::CompareArgs),
    /// Benchmark where dedup should happen and how merges scale: writes report.md,
    /// report.json and SVG charts.
    Bench(bench::BenchArgs),
    /// Print the marts' DDL for a warehouse dialect.
    Ddl(ddl::DdlArgs),
    /// Show each mart's rows, watermark, lag and last runs (`--json`, `--html FILE`).
    Status(status::StatusArgs),
    /// Vacuum and analyze the marts after the cycles' deletes (Redshift: only past the
    /// `[maintenance]` thresholds), never while a cycle holds a mart; `--dry-run` says what
    /// and why.
    Maintain(maintain::MaintainArgs),
    /// Delete the keys a mart holds inside a window that its source no longer has (rows
    /// deleted in MySQL), in one transaction with a ledger row; more than `max_deletes`
    /// deletes nothing and exits 8.
    Reconcile(reconcile::ReconcileArgs),
    /// Show what `run` would do, without writing anything: per mart the watermark, the
    /// extraction query and every warehouse statement of the cycle.
    Explain(explain::ExplainArgs),
    /// Validate a config (`check`), or print its JSON Schema or reference (`schema`, `docs`).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Print a shell completion script: `martsync completions bash > /etc/bash_completion.d/martsync`.
    Completions(completions::CompletionsArgs),
    /// Write a deterministic source history as batch files (demo fixtures, tests, benches).
    Generate(generate::GenerateArgs),
}

/// Options every command that reads a config shares.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Config file (TOML). Default: ./martsync.toml if present, else the embedded default
    /// (demo fixtures → .martsync/stage → .martsync/warehouse.duckdb).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> crate::Result<Config> {
        Config::load(self.config.as_deref())
    }
}

/// The dedup's memory, for the commands that run cycles.
#[derive(Debug, Clone, clap::Args)]
pub struct MemoryArgs {
    /// The memory the marts' dedups may hold together (`1GiB`, `512MiB`); past a mart's
    /// share its dedup continues on disk in `dedup.spill_dir`. Overrides `dedup.memory_limit`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

impl MemoryArgs {
    pub fn apply(&self, config: &mut Config) {
        if let Some(limit) = self.memory_limit {
            config.dedup.memory_limit = limit;
        }
    }
}

/// Exit codes: 0 when everything committed. When several marts fail, the code is that of
/// the first failed mart in config order.
pub mod exit {
    /// A failure that is none of the below (rejected rows, dedup, local files).
    pub const FAILED: u8 = 1;
    /// The config (or the command line) is invalid; nothing was done.
    pub const CONFIG: u8 = 2;
    /// Another run holds the warehouse or a mart.
    pub const LOCKED: u8 = 3;
    /// The source could not be read (down, schema drift, bad data).
    pub const SOURCE: u8 = 4;
    /// The stage could not be written, read or cleaned.
    pub const STAGE: u8 = 5;
    /// A warehouse statement failed, or the loaded rows did not match the staged ones.
    pub const WAREHOUSE: u8 = 6;
    /// `compare` found more differences than `--fail-above` allows.
    pub const DIFFERENT: u8 = 7;
    /// A reconcile would delete more keys than `max_deletes` allows: nothing was deleted.
    pub const TOO_MANY_DELETES: u8 = 8;
}

/// The exit-code table shown by `--help`.
const EXIT_CODES_HELP: &str = "Exit codes: 0 every mart committed; 1 other failure; \
    2 invalid config or arguments; 3 another run holds the lock; 4 source failed; \
    5 stage failed; 6 warehouse failed; 7 compare found more differences than --fail-above; \
    8 reconcile refused: more keys missing from the source than max_deletes allows.";

/// The exit code for an error.
pub fn exit_code(error: &Error) -> u8 {
    match error {
        Error::Config { .. } => exit::CONFIG,
        Error::Locked { .. } => exit::LOCKED,
        Error::Source { .. } => exit::SOURCE,
        Error::Stage { .. } => exit::STAGE,
        Error::Warehouse { .. } | Error::RowCount { .. } => exit::WAREHOUSE,
        Error::TooManyDeletes { .. } => exit::TOO_MANY_DELETES,
        Error::Rejected { .. } | Error::Dedup { .. } | Error::Batch { .. } | Error::Io { .. } => {
            exit::FAILED
        }
    }
}

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> ExitCode {
    // `martsync status | head` must end quietly, as other Unix tools do, not panic on a
    // closed pipe: Rust ignores SIGPIPE by default, so restore the default action.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that exit 0; a bad command line is a config
            // error (2), as clap itself would exit.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::CONFIG } else { 0 });
        }
    };
    // The harness drives many cycles: their per-phase events would bury its progress.
    let quiet = matches!(cli.command, Command::Bench(_));
    init_logging(cli.log_format, quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::execute(args).await,
            Command::Replay(args) => replay::execute(args).await,
            Command::Backfill(args) => backfill::execute(args).await,
            Command::Seed(args) => seed::execute(args).await,
            Command::Compare(args) => compare::execute(args).await,
            Command::Bench(args) => bench::execute(args).await,
            Command::Ddl(args) => ddl::execute(args).await,
            Command::Status(args) => status::execute(args).await,
            Command::Maintain(args) => maintain::execute(args).await,
            Command::Reconcile(args) => reconcile::execute(args).await,
            Command::Explain(args) => explain::execute(args).await,
            Command::Config(command) => config_cmd::execute(command),
            Command::Completions(args) => completions::execute(args),
            Command::Generate(args) => generate::execute(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(phase = error.phase(), error = %error, "Command failed.");
            eprintln!("error: {error}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn init_logging(format: LogFormat, quiet: bool) {
    let default = if quiet {
        "martsync=warn"
    } else {
        "martsync=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MARTSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level of each object (`table`, `run_id`, …), not under "fields":
        // log shippers index them without a nested path.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Prints (and logs) each mart's failure, writes the `--report-json` file if asked (one entry
/// per mart with its `result` or its `error`), and returns the exit code: 0 only when every
/// mart succeeded, else the code of the first failed mart's error.
pub fn conclude<T: serde::Serialize>(
    command: &str,
    results: &[(String, crate::Result<T>)],
    report_json: Option<&std::path::Path>,
) -> crate::Result<ExitCode> {
    let mut code = None;
    for (mart, result) in results {
        if let Err(e) = result {
            code.get_or_insert(exit_code(e));
            tracing::error!(table = %mart, phase = e.phase(), error = %e, "Cycle failed.");
            eprintln!("error: {mart}: {e}");
        }
    }
    if let Some(path) = report_json {
        let entries: Vec<_> = results
            .iter()
            .map(|(mart, r)| match r {
                Ok(value) => serde_json::json!({"mart": mart, "ok": true, "result": value}),
                Err(e) => serde_json::json!({"mart": mart, "ok": false, "error": e.to_string()}),
            })
            .collect();
        write_json(
            path,
            &serde_json::json!({
                "command": command,
                "marts": entries,
                "process": {"peak_rss_bytes": crate::pipeline::metrics::peak_rss_bytes()},
            }),
        )?;
    }
    Ok(code.map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// The style of a command's progress bars: mart, bar, `done/total <unit>`, elapsed.
pub fn bar_style(unit: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(&format!(
        "{{msg:26}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{elapsed}}"
    ))
    .expect("valid template")
    .progress_chars("=> ")
}

/// A progress bar when a person watches (stderr is a terminal); schedulers get the summary
/// alone. Its length is set as the work is counted.
pub fn progress_bar(unit: &str, mart: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(bar_style(unit));
        bar.set_message(mart.to_string());
        bar
    })
}

/// The progress of a batch command (replay, seed, backfill): one bar per mart, told of each
/// batch done, when a person watches; nothing otherwise.
pub fn batch_progress(unit: &'static str) -> crate::pipeline::Progress {
    use std::io::IsTerminal;
    let bars = std::io::stderr()
        .is_terminal()
        .then(indicatif::MultiProgress::new);
    let by_mart: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>> =
        Default::default();
    std::sync::Arc::new(move |mart: &str, done: usize, total: usize| {
        let Some(multi) = &bars else { return };
        let mut map = by_mart.lock().expect("progress lock");
        let bar = map.entry(mart.to_string()).or_insert_with(|| {
            let bar = multi.add(indicatif::ProgressBar::new(total as u64));
            bar.set_style(bar_style(unit));
            bar.set_message(mart.to_string());
            bar
        });
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done == total {
            bar.finish();
        }
    })
}

/// The summary table of a command that applies batches one cycle each (replay: files,
/// backfill: chunks): per mart the batches, those skipped as committed, and row totals.
/// `batches` heads the batch column.
pub fn print_batch_summaries(batches: &str, marts: &[&crate::pipeline::BatchSummary]) {
    println!(
        "{:<26} {:>6} {:>8} {:>10} {:>9} {:>8} {:>9} {:>8}",
        "mart", batches, "skipped", "extracted", "deduped", "deleted", "inserted", "trimmed"
    );
    for summary in marts {
        let cycles = &summary.cycles;
        let total = |f: fn(&crate::pipeline::CycleReport) -> u64| cycles.iter().map(f).sum::<u64>();
        println!(
            "{:<26} {:>6} {:>8} {:>10} {:>9} {:>8} {:>9} {:>8}",
            summary.mart,
            summary.batches,
            summary.skipped,
            total(|c| c.rows_extracted),
            total(|c| c.rows_deduped),
            total(|c| c.rows_deleted),
            total(|c| c.rows_inserted),
            total(|c| c.rows_trimmed)
        );
    }
}

/// Writes a JSON report file.
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("reports serialize");
    std::fs::write(path, text + "\n").map_err(|e| Error::io("writing report", path, e))
}

/// A UTC time on the command line: a date (midnight) or an RFC 3339 time.
pub(crate) fn parse_time(text: &str, flag: &str) -> crate::Result<SystemTime> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .ok()
        .filter(|t| *t >= UNIX_EPOCH)
        .ok_or_else(|| {
            Error::config(
                "command line",
                flag,
                format!("`{text}` is not a UTC time like 2026-01-01 or 2026-01-01T06:00:00Z"),
            )
        })
}

pub(crate) fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}
