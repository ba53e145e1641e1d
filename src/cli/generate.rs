//! `martsync generate`: a deterministic source history as batch files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::generate::{self, FileFormat, Params};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder; one subfolder per source table is written in it.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Orders to simulate.
    #[arg(long, default_value_t = Params::demo().orders)]
    pub orders: usize,
    /// Extraction windows (one batch file per table each).
    #[arg(long, default_value_t = Params::demo().cycles)]
    pub cycles: usize,
    /// Length of a window, e.g. "10days" or "15m".
    #[arg(long, default_value = "10days", value_parser = humantime::parse_duration)]
    pub window: std::time::Duration,
    #[arg(long, default_value_t = Params::demo().seed)]
    pub seed: u64,
    /// One format for every table. Default: uti Parquet, ecs CSV, spath JSON lines.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Instead of a history: one Parquet batch of this many `uni_tracking_info` rows (the
    /// benchmarks' rows: random arrival order, about rows/keys versions per order), written
    /// as it is generated, so it may be larger than memory. For load and memory tests.
    #[arg(long, value_name = "ROWS", requires = "tracking_keys", conflicts_with_all = ["orders", "cycles", "format"])]
    pub tracking_rows: Option<usize>,
    /// The orders the `--tracking-rows` rows are drawn from.
    #[arg(long, value_name = "KEYS", requires = "tracking_rows")]
    pub tracking_keys: Option<usize>,
}

pub fn execute(args: GenerateArgs) -> crate::Result<ExitCode> {
    if let (Some(rows), Some(keys)) = (args.tracking_rows, args.tracking_keys) {
        let spec = crate::bench::data::DataSpec {
            seed: args.seed,
            ..crate::bench::data::DataSpec::new(rows, keys)
        };
        let dir = args.out.join("uni_tracking_info");
        std::fs::create_dir_all(&dir)
            .map_err(|e| crate::Error::io("creating the output folder", &dir, e))?;
        let path = dir.join("batch-00000.parquet");
        let bytes = spec.write_parquet(&path)?;
        println!(
            "wrote {rows} uni_tracking_info rows over {keys} orders to {} ({})",
            path.display(),
            super::human_bytes(bytes)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let params = Params {
        seed: args.seed,
        orders: args.orders,
        cycles: args.cycles,
        cycle_secs: args.window.as_secs().max(1) as i64,
        ..Params::demo()
    };
    let history = generate::generate(&params);
    let formats = args.format.map_or(generate::DEMO_FORMATS, |f| [f; 3]);
    generate::write_history(&history, &args.out, formats)?;
    println!(
        "wrote {} batches per table to {}: {} uti, {} ecs, {} spath rows",
        params.cycles,
        args.out.display(),
        history.uti.iter().map(Vec::len).sum::<usize>(),
        history.ecs.iter().map(Vec::len).sum::<usize>(),
        history.spath.iter().map(Vec::len).sum::<usize>()
    );
    Ok(ExitCode::SUCCESS)
}
