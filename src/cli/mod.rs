//! The command line. clap types live only here; each subcommand is one module that turns
//! its arguments into library calls and prints the result.

mod ddl;
mod generate;
mod replay;
mod run;
mod status;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::error::Error;

/// Keeps the Redshift marts of an order-tracking system in sync with their MySQL sources.
#[derive(Debug, Parser)]
#[command(name = "martsync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one cycle per mart: extract above the watermark, dedup, stage, merge.
    Run(run::RunArgs),
    /// Replay historical batch files, each file one cycle, in name order.
    Replay(replay::ReplayArgs),
    /// Print the marts' DDL for a warehouse dialect.
    Ddl(ddl::DdlArgs),
    /// Show each mart's rows, watermark and last run.
    Status(status::StatusArgs),
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

/// Exit codes: 0 when everything committed.
pub mod exit {
    /// A cycle (or the command) failed.
    pub const FAILED: u8 = 1;
    /// The config is invalid; nothing was done.
    pub const CONFIG: u8 = 2;
    /// Another run holds the warehouse or a mart.
    pub const LOCKED: u8 = 3;
}

/// The exit code for an error.
pub fn exit_code(error: &Error) -> ExitCode {
    ExitCode::from(match error {
        Error::Config { .. } => exit::CONFIG,
        Error::Locked { .. } => exit::LOCKED,
        _ => exit::FAILED,
    })
}

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::execute(args).await,
            Command::Replay(args) => replay::execute(args).await,
            Command::Ddl(args) => ddl::execute(args).await,
            Command::Status(args) => status::execute(args).await,
            Command::Generate(args) => generate::execute(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            exit_code(&error)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MARTSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("martsync=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Bytes as `12.3 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Prints each mart's failure, writes the `--report-json` file if asked (one entry per mart
/// with its `result` or its `error`), and returns the exit code: 0 only when every mart
/// succeeded.
pub fn conclude<T: serde::Serialize>(
    command: &str,
    results: &[(String, crate::Result<T>)],
    report_json: Option<&std::path::Path>,
) -> crate::Result<ExitCode> {
    let mut failed = false;
    for (mart, result) in results {
        if let Err(e) = result {
            failed = true;
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
            &serde_json::json!({"command": command, "marts": entries}),
        )?;
    }
    Ok(if failed {
        ExitCode::from(exit::FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes a JSON report file.
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("reports serialize");
    std::fs::write(path, text + "\n").map_err(|e| Error::io("writing report", path, e))
}
