//! The `dedup` scenario's contenders, each run in a process of its own (see
//! [`super::worker`]) so its wall time and peak RSS are the whole process's: Parquet in,
//! `latest` dedup of `uni_tracking_info` by `order_id` / `update_time`, Parquet out.
//!
//! The SQL contenders run the same `row_number()` query (ties in any order, as the old dbt
//! model had them); martsync's operator breaks ties by arrival. Both keep one row per key,
//! so their output row counts must agree.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};

/// A dedup contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// martsync's `KeepPerKeyExec` (DataFusion plan), reading and writing with the stage's
    /// Parquet settings.
    Martsync,
    /// DataFusion's own plan for the `row_number()` query.
    DatafusionWindow,
    /// Embedded DuckDB running the `row_number()` query with `QUALIFY`.
    Duckdb,
    /// PostgreSQL running the `row_number()` query into a temp table (the input is loaded
    /// first, untimed); wall time is the server's, RSS is not ours to measure.
    Postgres,
    /// Polars as its users write "the latest row per key": rows whose version is the key's
    /// `max().over()`, one per key (`unique`), `sink_parquet`; in the Python of
    /// `MARTSYNC_BENCH_PYTHON` (`scripts/contenders.sh`): its own timer around the query and
    /// its own peak RSS. Of four ways tried on the harness's 10M-row file (2026-12-01) this one
    /// (2.03 s) is about as fast as the fastest, a filter on `arg_max().over()` (1.99 s);
    /// `sort` + `unique` took 7.06 s and `group_by` + `sort_by().last()` 3.54 s.
    Polars,
}

/// The Python the contenders from PyPI run in (`scripts/contenders.sh` prints it).
pub fn contenders_python() -> Option<String> {
    std::env::var("MARTSYNC_BENCH_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Engine::Martsync => "martsync KeepPerKeyExec",
            Engine::DatafusionWindow => "DataFusion row_number()",
            Engine::Duckdb => "DuckDB row_number()",
            Engine::Postgres => "PostgreSQL row_number()",
            Engine::Polars => "Polars max().over() filter",
        }
    }
}

/// The `row_number()` query over a table or file expression `from`, selecting the tracking
/// mart's columns.
pub fn row_number_sql(from: &str, qualify: bool) -> String {
    let columns = super::uti_table().schema.column_list();
    let window = "row_number() OVER (PARTITION BY order_id ORDER BY update_time DESC)";
    if qualify {
        format!("SELECT {columns} FROM {from} QUALIFY {window} = 1")
    } else {
        format!("SELECT {columns} FROM (SELECT *, {window} AS rn FROM {from}) ranked WHERE rn = 1")
    }
}

/// What one contender's run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub seconds: f64,
    pub rows_out: u64,
    /// The process's peak RSS (bytes), when it is the engine's own process.
    pub peak_rss_bytes: Option<u64>,
    /// The deduped rows' Arrow size (martsync only: the memory target is relative to it).
    pub output_arrow_bytes: Option<u64>,
}

/// Runs one contender on `input`, writing `output` (a file, or a folder for DataFusion).
pub async fn run(
    engine: Engine,
    input: &Path,
    output: &Path,
    memory_limit: Option<usize>,
    postgres: Option<&str>,
) -> Result<Outcome> {
    let failed = |what: &str, e: String| Error::batch(format!("bench {}", engine.label()), what, e);
    let started = Instant::now();
    let mut output_arrow_bytes = None;
    let rows_out = match engine {
        Engine::Martsync => {
            let (rows, bytes) = martsync(input, output, memory_limit).await?;
            output_arrow_bytes = Some(bytes);
            rows
        }
        Engine::DatafusionWindow => {
            use datafusion::prelude::*;
            let config = SessionConfig::new().with_target_partitions(2);
            let ctx = SessionContext::new_with_config(config);
            ctx.register_parquet(
                "input",
                input.to_str().unwrap_or_default(),
                ParquetReadOptions::default(),
            )
            .await
            .map_err(|e| failed("register", e.to_string()))?;
            let frame = ctx
                .sql(&row_number_sql("input", false))
                .await
                .map_err(|e| failed("plan", e.to_string()))?;
            let written = frame
                .write_parquet(
                    output.to_str().unwrap_or_default(),
                    datafusion::dataframe::DataFrameWriteOptions::new(),
                    None,
                )
                .await
                .map_err(|e| failed("run", e.to_string()))?;
            count_rows(&written)
        }
        #[cfg(feature = "duckdb")]
        Engine::Duckdb => {
            let conn =
                duckdb::Connection::open_in_memory().map_err(|e| failed("open", e.to_string()))?;
            let sql = format!(
                "COPY ({}) TO '{}' (FORMAT parquet, COMPRESSION zstd)",
                row_number_sql(&format!("read_parquet('{}')", input.display()), true),
                output.display()
            );
            conn.execute(&sql, [])
                .map_err(|e| failed("run", e.to_string()))? as u64
        }
        #[cfg(not(feature = "duckdb"))]
        Engine::Duckdb => return Err(failed("open", "built without the duckdb feature".into())),
        Engine::Postgres => {
            let url = postgres.ok_or_else(|| failed("connect", "no --postgres URL".into()))?;
            return postgres_dedup(url, input)
                .await
                .map_err(|e| failed("run", e));
        }
        Engine::Polars => return polars_dedup(input, output).map_err(|e| failed("run", e)),
    };
    Ok(Outcome {
        seconds: started.elapsed().as_secs_f64(),
        rows_out,
        peak_rss_bytes: crate::pipeline::metrics::peak_rss_bytes(),
        output_arrow_bytes,
    })
}

/// The row counts of DataFusion's `write_parquet` answer.
fn count_rows(batches: &[arrow::array::RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .map(|a| a.iter().flatten().sum::<u64>())
        })
        .sum()
}

/// martsync's path: the file streamed on a reading thread, deduped by the operator as it
/// arrives, the output encoded as two Parquet parts in parallel (as the stage does).
/// Returns the rows and the Arrow size of the output.
async fn martsync(input: &Path, output: &Path, memory_limit: Option<usize>) -> Result<(u64, u64)> {
    let table = super::uti_table();
    let file =
        std::fs::File::open(input).map_err(|e| Error::io("opening bench input", input, e))?;
    let stream = crate::source::files::stream_parquet(
        file,
        input.display().to_string(),
        &table,
        super::data::BATCH_ROWS,
        true,
    );
    let schema = table.schema.arrow_schema();
    let memory = match memory_limit {
        Some(limit) => crate::dedup::DedupMemory::limited(limit, Some(std::env::temp_dir()))?,
        None => crate::dedup::DedupMemory::unlimited(),
    };
    let deduped = crate::dedup::dedup(
        "bench",
        Arc::clone(&schema),
        stream,
        crate::dedup::spec_for(&table),
        &memory,
    )
    .await?;
    let rows = deduped.stats.rows_out;
    let batches: Vec<_> = deduped.batches.into_batches()?.collect::<Result<_>>()?;
    let arrow_bytes = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    let batches = Arc::new(batches);
    let half = batches.len().div_ceil(2);
    let parts = [0..half, half..batches.len()].map(|range| {
        let (batches, schema) = (Arc::clone(&batches), Arc::clone(&schema));
        let path = output.with_extension(format!("part{}.parquet", range.start));
        tokio::task::spawn_blocking(move || {
            let bytes = crate::stage::encode_parquet(&schema, &batches[range], Default::default())
                .map_err(|e| Error::io("encoding bench output", &path, std::io::Error::other(e)))?;
            std::fs::write(&path, bytes).map_err(|e| Error::io("writing bench output", &path, e))
        })
    });
    for part in futures::future::join_all(parts).await {
        part.expect("encoding does not panic")?;
    }
    Ok((rows, arrow_bytes))
}

/// Polars in a Python process: its own timer around the lazy query and its own peak RSS.
fn polars_dedup(input: &Path, output: &Path) -> std::result::Result<Outcome, String> {
    let python = contenders_python()
        .ok_or("MARTSYNC_BENCH_PYTHON is not set (eval \"$(scripts/contenders.sh)\")")?;
    // The latest row per order: the rows at their order's newest `update_time`, one per order.
    let script = "import polars as pl, resource, sys, time\n\
        t = time.perf_counter()\n\
        latest = pl.col('update_time') == pl.col('update_time').max().over('order_id')\n\
        (pl.scan_parquet(sys.argv[1]).filter(latest)\n\
           .unique(subset=['order_id'], keep='any').sink_parquet(sys.argv[2]))\n\
        took = time.perf_counter() - t\n\
        rows = pl.scan_parquet(sys.argv[2]).select(pl.len()).collect().item()\n\
        print(rows, took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n";
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(input)
        .arg(output)
        .output()
        .map_err(|e| format!("starting {python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let field = |i: usize| -> std::result::Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("unexpected output from Polars' script: {text}"))
    };
    Ok(Outcome {
        seconds: field(1)?,
        rows_out: field(0)? as u64,
        // ru_maxrss is in KiB on Linux.
        peak_rss_bytes: Some(field(2)? as u64 * 1024),
        output_arrow_bytes: None,
    })
}

/// Loads the file into a PostgreSQL temp table (untimed), then times the query into another.
async fn postgres_dedup(url: &str, input: &Path) -> std::result::Result<Outcome, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let table = super::uti_table();
    let create =
        crate::warehouse::dialect::create_mart(crate::warehouse::Dialect::Postgres, &table);
    let create = create
        .replacen("CREATE TABLE", "CREATE TEMP TABLE", 1)
        .replace(&format!("\"{}\"", table.name), "bench_input");
    client
        .batch_execute(&create)
        .await
        .map_err(|e| e.to_string())?;
    super::copy_parquet_into(&client, "bench_input", input)
        .await
        .map_err(|e| e.to_string())?;
    client
        .batch_execute("ANALYZE bench_input")
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let rows = client
        .execute(
            &format!(
                "CREATE TEMP TABLE bench_output AS {}",
                row_number_sql("bench_input", false)
            ),
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome {
        seconds: started.elapsed().as_secs_f64(),
        rows_out: rows,
        peak_rss_bytes: None,
        output_arrow_bytes: None,
    })
}
