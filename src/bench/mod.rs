//! The benchmark harness behind `martsync bench` and `benches/*.rs`: where should dedup
//! happen, and does the 6-month mart need a 20-day buffer in front of it?
//!
//! - [`data`]: the deterministic input generator (rows, keys, versions per key, string width,
//!   tie rate), cached as Parquet.
//! - [`engines`]: the `dedup` scenario's contenders, each in a process of its own.
//! - [`scenarios`]: `dedup`, `placement`, `merge-scaling`, `primary-query`.
//! - [`report`]: medians, `report.md`, `report.json` and SVG charts.
//!
//! Every figure is measured by the harness in the run that reports it, on the machine it runs
//! on; nothing is carried over from elsewhere.

pub mod data;
pub mod engines;
pub mod report;
pub mod scenarios;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{RawConfig, TableConfig};
use crate::error::{Error, Result};

/// A scenario of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Dedup,
    Placement,
    MergeScaling,
    PrimaryQuery,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Dedup,
        Scenario::Placement,
        Scenario::MergeScaling,
        Scenario::PrimaryQuery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Dedup => "dedup",
            Scenario::Placement => "placement",
            Scenario::MergeScaling => "merge-scaling",
            Scenario::PrimaryQuery => "primary-query",
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    /// Repetitions of every measurement (medians and min/max are over these).
    pub repetitions: usize,
    /// `dedup`: input rows and distinct keys.
    pub dedup_rows: usize,
    pub dedup_keys: usize,
    /// `dedup`: a file of the user's instead of generated rows.
    pub dedup_input: Option<PathBuf>,
    /// `placement`: batch sizes and duplication factors (rows per key).
    pub batch_sizes: Vec<usize>,
    pub dup_factors: Vec<usize>,
    /// `merge-scaling`: mart sizes (those above `max_rows` are left out) and the batch.
    pub mart_sizes: Vec<usize>,
    pub max_rows: usize,
    pub merge_batch: usize,
    /// `primary-query`: rows of the tracking mart (ecs as many, spath 4×).
    pub query_rows: usize,
    /// A PostgreSQL URL: the warehouse scenarios and the dedup run there too.
    pub postgres: Option<String>,
    /// DataFusion memory pool of martsync's dedup (bytes).
    pub memory_limit: Option<usize>,
    /// Where data, scratch warehouses and the report go.
    pub out: PathBuf,
}

impl Options {
    /// The sizes: 10M/2M dedup; 10k/100k/1M × 1/5/20 placement; 1M/4M/16M marts.
    pub fn full(out: PathBuf) -> Self {
        Options {
            scenarios: Scenario::ALL.to_vec(),
            repetitions: 3,
            dedup_rows: 10_000_000,
            dedup_keys: 2_000_000,
            batch_sizes: vec![10_000, 100_000, 1_000_000],
            dup_factors: vec![1, 5, 20],
            mart_sizes: vec![1_000_000, 4_000_000, 16_000_000],
            max_rows: 16_000_000,
            merge_batch: 50_000,
            query_rows: 1_000_000,
            postgres: None,
            memory_limit: None,
            dedup_input: None,
            out,
        }
    }

    /// Small sizes that run in seconds (`--quick`, and the test suite).
    pub fn quick(out: PathBuf) -> Self {
        Options {
            repetitions: 2,
            dedup_rows: 200_000,
            dedup_keys: 40_000,
            batch_sizes: vec![2_000, 20_000],
            dup_factors: vec![1, 5],
            mart_sizes: vec![20_000, 80_000],
            max_rows: 80_000,
            merge_batch: 5_000,
            query_rows: 20_000,
            ..Options::full(out)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.out.join("data")
    }

    pub fn scratch_dir(&self) -> PathBuf {
        self.out.join("scratch")
    }
}

/// One measured thing, repeated: a scenario's variant at some parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub scenario: String,
    /// The engine, placement or warehouse measured.
    pub variant: String,
    /// The parameters (rows, keys, batch size, mart rows, …).
    pub params: BTreeMap<String, u64>,
    /// Wall seconds of each repetition.
    pub seconds: Vec<f64>,
    /// Other figures, from the last repetition (rows out, bytes staged, peak RSS, …).
    pub figures: BTreeMap<String, f64>,
}

impl Measurement {
    pub fn new(scenario: Scenario, variant: impl Into<String>) -> Self {
        Measurement {
            scenario: scenario.name().into(),
            variant: variant.into(),
            params: BTreeMap::new(),
            seconds: Vec::new(),
            figures: BTreeMap::new(),
        }
    }

    pub fn param(mut self, name: &str, value: usize) -> Self {
        self.params.insert(name.into(), value as u64);
        self
    }

    pub fn median(&self) -> f64 {
        report::median(&self.seconds)
    }
}

/// A progress callback: (what is being measured, done, total).
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Send + Sync);

/// Runs the chosen scenarios and writes the report into `options.out`.
pub async fn run(options: &Options, progress: Progress<'_>) -> Result<report::Report> {
    std::fs::create_dir_all(&options.out)
        .map_err(|e| Error::io("creating the bench folder", &options.out, e))?;
    let mut measurements = Vec::new();
    let mut notes = Vec::new();
    for scenario in &options.scenarios {
        let (found, note) = match scenario {
            Scenario::Dedup => scenarios::dedup(options, progress).await?,
            Scenario::Placement => scenarios::placement(options, progress).await?,
            Scenario::MergeScaling => scenarios::merge_scaling(options, progress).await?,
            Scenario::PrimaryQuery => scenarios::primary_query(options, progress).await?,
        };
        measurements.extend(found);
        notes.extend(note);
    }
    let report = report::Report::new(options, measurements, notes);
    report.write(&options.out)?;
    let _ = std::fs::remove_dir_all(options.scratch_dir());
    Ok(report)
}

/// The tracking mart as the benchmarks use it: the shipped `mart_uni_tracking_info`.
pub fn uti_table() -> TableConfig {
    bench_config(
        "files:///nonexistent",
        "file:///nonexistent",
        "duckdb:///nonexistent",
    )
    .tables
    .remove(0)
}

/// A config of the three shipped marts with the given URLs.
pub fn bench_config(source: &str, stage: &str, warehouse: &str) -> crate::config::Config {
    let text = format!(
        "[source]\nurl = \"{source}\"\n[stage]\nurl = \"{stage}\"\n[warehouse]\nurl = \"{warehouse}\"\n\
         [[tables]]\nname = \"mart_uni_tracking_info\"\n\
         [[tables]]\nname = \"mart_ecs_order_info\"\n\
         [[tables]]\nname = \"mart_uni_tracking_spath\"\n"
    );
    RawConfig::parse(&text, "bench")
        .and_then(|raw| raw.validate("bench", &|_| None))
        .expect("the bench config is valid")
}

/// One measurement in a process of its own, so its peak RSS is its own
/// (`martsync bench --worker TASK`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerTask {
    pub engine: engines::Engine,
    pub input: PathBuf,
    pub output: PathBuf,
    pub memory_limit: Option<usize>,
    pub postgres: Option<String>,
}

/// Runs a worker task and returns its outcome (printed as JSON by the CLI).
pub async fn worker(task: &WorkerTask) -> Result<engines::Outcome> {
    engines::run(
        task.engine,
        &task.input,
        &task.output,
        task.memory_limit,
        task.postgres.as_deref(),
    )
    .await
}

/// Loads a Parquet file into a PostgreSQL table by binary COPY.
pub(crate) async fn copy_parquet_into(
    client: &tokio_postgres::Client,
    table: &str,
    file: &Path,
) -> Result<()> {
    use crate::warehouse::pgcopy;
    use bytes::Bytes;
    use futures::{SinkExt, StreamExt};
    let pg = |e: tokio_postgres::Error| {
        Error::batch("bench", format!("PostgreSQL COPY into {table}"), e)
    };
    let sink = client
        .copy_in::<_, Bytes>(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
        .await
        .map_err(pg)?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(pgcopy::HEADER))
        .await
        .map_err(pg)?;
    let opened = std::fs::File::open(file).map_err(|e| Error::io("opening", file, e))?;
    let mut stream = crate::source::files::stream_parquet(
        opened,
        file.display().to_string(),
        &uti_table(),
        data::BATCH_ROWS,
        false,
    );
    let mut buffer = bytes::BytesMut::new();
    while let Some(batch) = stream.next().await {
        pgcopy::encode_batch(&batch?, &mut buffer)
            .map_err(|message| Error::batch("bench", "encoding rows for COPY", message))?;
        sink.send(buffer.split().freeze()).await.map_err(pg)?;
    }
    sink.send(Bytes::from_static(pgcopy::TRAILER))
        .await
        .map_err(pg)?;
    sink.finish().await.map_err(pg)?;
    Ok(())
}
