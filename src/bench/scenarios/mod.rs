//! The four scenarios. Each returns its measurements and notes for the report.
//!
//! Warehouses: embedded DuckDB always, PostgreSQL when `--postgres` is given (a schema of its
//! own, dropped at the end). Marts are created by martsync itself (same DDL and indexes as
//! production) and filled by SQL, which is much faster than any client could load them.

mod dedup;
mod merge;
mod placement;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::data::{DataSpec, write_parquet};
use super::{Measurement, Options, Progress, Scenario, WorkerTask, bench_config};
use crate::bench::engines::{Engine, Outcome};
use crate::error::{Error, Result};
use crate::generate::{Uti, uti_batch};
use crate::pipeline::{Input, Pipeline};

/// 2026-01-01: generated versions start here.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

type Found = (Vec<Measurement>, Vec<String>);

fn failed(what: impl std::fmt::Display) -> Error {
    Error::batch("bench", "a benchmark step", what)
}

// ---------------------------------------------------------------------------------------
// dedup

pub use dedup::dedup;
pub use merge::{merge_scaling, primary_query};
pub use placement::placement;

/// Runs a task in `martsync bench --worker` and reads its outcome.
fn in_worker(task: &WorkerTask) -> Result<Outcome> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding martsync", "martsync", e))?;
    let exe = worker_exe(exe);
    let out = Command::new(&exe)
        .args(["bench", "--worker"])
        .arg(serde_json::to_string(task).expect("task serializes"))
        .output()
        .map_err(|e| Error::io("starting a bench worker", &exe, e))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{} failed: {}",
            task.engine.label(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        failed(format!(
            "{} printed no outcome ({e}): {}",
            task.engine.label(),
            String::from_utf8_lossy(&out.stdout)
        ))
    })
}

/// The martsync binary for workers: this one, or (from `cargo bench` and the tests, whose
/// executable is not martsync) the one cargo built beside them.
fn worker_exe(current: PathBuf) -> PathBuf {
    if current
        .file_stem()
        .is_some_and(|s| s.to_string_lossy() == "martsync")
    {
        return current;
    }
    let mut dir = current.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("martsync")
}

// ---------------------------------------------------------------------------------------
// Warehouses for the other scenarios

/// A scratch warehouse: a fresh DuckDB file, or a fresh PostgreSQL schema.
struct Scratch {
    name: &'static str,
    url: String,
    pg: Option<(tokio_postgres::Client, String)>,
    duck: Option<PathBuf>,
}

impl Scratch {
    async fn all(options: &Options, tag: &str) -> Result<Vec<Scratch>> {
        let mut found = Vec::new();
        #[cfg(feature = "duckdb")]
        {
            let path = options.scratch_dir().join(format!("{tag}.duckdb"));
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir_all(options.scratch_dir())
                .map_err(|e| Error::io("creating", options.scratch_dir(), e))?;
            found.push(Scratch {
                name: "duckdb",
                url: format!("duckdb://{}", path.display()),
                pg: None,
                duck: Some(path),
            });
        }
        if let Some(base) = &options.postgres {
            let schema = format!("martsync_bench_{}_{tag}", std::process::id()).replace('-', "_");
            let (client, connection) =
                tokio_postgres::connect(base, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| failed(format!("connecting to PostgreSQL: {e}")))?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
                     SET search_path TO {schema}"
                ))
                .await
                .map_err(|e| failed(format!("creating schema {schema}: {e}")))?;
            let mut url = url::Url::parse(base).map_err(failed)?;
            url.query_pairs_mut()
                .append_pair("options", &format!("-csearch_path={schema}"));
            found.push(Scratch {
                name: "postgres",
                url: url.to_string(),
                pg: Some((client, schema)),
                duck: None,
            });
        }
        Ok(found)
    }

    /// Runs statements (`;`-separated) outside martsync; DuckDB only while no pipeline has
    /// the file open. Returns the seconds the statements took (connecting not counted).
    async fn exec(&self, sql: &str) -> Result<f64> {
        match (&self.pg, &self.duck) {
            (Some((client, _)), _) => {
                let started = Instant::now();
                client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| failed(format!("PostgreSQL: {e}: {}", first_line(sql))))?;
                Ok(started.elapsed().as_secs_f64())
            }
            #[cfg(feature = "duckdb")]
            (None, Some(path)) => {
                // The file is opened before the timer starts, as a pipeline has it open.
                let conn = duckdb_connect(path)?;
                let started = Instant::now();
                conn.execute_batch(sql)
                    .map_err(|e| failed(format!("DuckDB: {e}: {}", first_line(sql))))?;
                Ok(started.elapsed().as_secs_f64())
            }
            _ => unreachable!("a scratch warehouse is DuckDB or PostgreSQL"),
        }
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        match (&self.pg, &self.duck) {
            (Some((client, _)), _) => client
                .query_one(sql, &[])
                .await
                .map(|row| row.get::<_, i64>(0))
                .map_err(|e| failed(format!("PostgreSQL: {e}: {sql}"))),
            #[cfg(feature = "duckdb")]
            (None, Some(path)) => {
                let conn = duckdb_connect(path)?;
                conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .map_err(|e| failed(format!("DuckDB: {e}: {sql}")))
            }
            _ => unreachable!("a scratch warehouse is DuckDB or PostgreSQL"),
        }
    }

    /// A pipeline over this warehouse reading files from `source` (marts created).
    async fn pipeline(&self, options: &Options, source: &Path) -> Result<Pipeline> {
        let stage = options.scratch_dir().join(format!("stage-{}", self.name));
        Pipeline::open(bench_config(
            &format!("files://{}", source.display()),
            &format!("file://{}", stage.display()),
            &self.url,
        ))
        .await
    }

    /// `n` rows of the tracking mart (orders 1,000,000 + 0..n, versions spread over 170
    /// days), made by SQL.
    fn fill_uti(&self, n: usize) -> String {
        format!(
            "INSERT INTO mart_uni_tracking_info SELECT 1000000 + i, 'TN' || CAST(i AS VARCHAR(20)), \
             CAST(i % 40 AS INTEGER), 'dhl', CAST(3 AS SMALLINT), CAST(300 AS SMALLINT), \
             'status 3 event xxxxxxxxx', 'hub ' || CAST(i % 500 AS VARCHAR(8)), NULL, \
             {START}, CAST({START} + i % {} AS INTEGER) FROM {}",
            170 * DAY,
            self.series(n)
        )
    }

    /// The rows 0..n as a table of one column `i`.
    fn series(&self, n: usize) -> String {
        if self.pg.is_some() {
            format!("generate_series(0::bigint, {}) AS t(i)", n as i64 - 1)
        } else {
            format!("range({n}) AS t(i)")
        }
    }

    async fn drop(self) {
        if let Some((client, schema)) = &self.pg {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        }
        if let Some(path) = &self.duck {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(path.with_extension("duckdb.wal"));
        }
    }
}

fn first_line(sql: &str) -> &str {
    let line = sql.lines().next().unwrap_or_default();
    &line[..line.len().min(120)]
}

/// Writes `rows` as the source file of one cycle and returns the Input for it.
fn batch_input(dir: &Path, name: &str, rows: &[arrow::array::RecordBatch]) -> Result<Input> {
    let path = dir
        .join("uni_tracking_info")
        .join(format!("{name}.parquet"));
    std::fs::create_dir_all(path.parent().expect("has a parent"))
        .map_err(|e| Error::io("creating", &path, e))?;
    write_parquet(&path, rows)?;
    Ok(Input::Files {
        label: name.to_string(),
        files: vec![path],
    })
}

// ---------------------------------------------------------------------------------------
// placement

/// A connection to a scratch DuckDB file, with the warehouse's session settings.
#[cfg(feature = "duckdb")]
fn duckdb_connect(path: &Path) -> Result<duckdb::Connection> {
    crate::warehouse::duckdb::connect(path).map_err(failed)
}

// ---------------------------------------------------------------------------------------
// merge-scaling
