//! The four scenarios. Each returns its measurements and notes for the report.
//!
//! Warehouses: embedded DuckDB always, PostgreSQL when `--postgres` is given (a schema of its
//! own, dropped at the end). Marts are created by martsync itself (same DDL and indexes as
//! production) and filled by SQL, which is much faster than any client could load them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::data::{DataSpec, write_parquet};
use super::engines::{Engine, Outcome};
use super::{Measurement, Options, Progress, Scenario, WorkerTask, bench_config};
use crate::error::{Error, Result};
use crate::generate::{Uti, uti_batch};
use crate::pipeline::{Input, Pipeline};

/// 2026-01-01: generated versions start here.
const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

type Found = (Vec<Measurement>, Vec<String>);

fn failed(what: impl std::fmt::Display) -> Error {
    Error::Dedup {
        mart: "bench".into(),
        message: what.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// dedup

/// The same input deduped by every contender, each repetition in a fresh process, contenders
/// in a rotating order (the machine is shared: neighbours' noise spreads over all of them).
pub async fn dedup(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let spec = DataSpec::new(options.dedup_rows, options.dedup_keys);
    progress("dedup: generating input", 0, 1);
    let input = spec.parquet(&options.data_dir())?;
    let mut engines = vec![Engine::Martsync, Engine::Duckdb, Engine::DatafusionWindow];
    if options.postgres.is_some() {
        engines.push(Engine::Postgres);
    }
    let scratch = options.scratch_dir().join("dedup");
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io("creating", &scratch, e))?;
    let mut found: Vec<Measurement> = engines
        .iter()
        .map(|e| {
            Measurement::new(Scenario::Dedup, e.label())
                .param("rows", spec.rows)
                .param("keys", spec.keys)
        })
        .collect();
    let total = options.repetitions * engines.len();
    for rep in 0..options.repetitions {
        for i in 0..engines.len() {
            let at = (i + rep) % engines.len();
            let engine = engines[at];
            progress(
                &format!("dedup: {}", engine.label()),
                rep * engines.len() + i,
                total,
            );
            let output = scratch.join(format!("out-{rep}-{at}"));
            let task = WorkerTask {
                engine,
                input: input.clone(),
                output: output.clone(),
                memory_limit: (engine == Engine::Martsync)
                    .then_some(options.memory_limit)
                    .flatten(),
                postgres: options.postgres.clone(),
            };
            let outcome = in_worker(&task)?;
            let _ = std::fs::remove_dir_all(&output);
            for part in std::fs::read_dir(&scratch).into_iter().flatten().flatten() {
                let _ = std::fs::remove_file(part.path());
            }
            let m = &mut found[at];
            m.seconds.push(outcome.seconds);
            m.figures.insert("rows_out".into(), outcome.rows_out as f64);
            if let Some(bytes) = outcome.output_arrow_bytes {
                m.figures
                    .insert("output_arrow_mib".into(), bytes as f64 / 1048576.0);
            }
            if let Some(rss) = outcome.peak_rss_bytes {
                let worst = m.figures.get("peak_rss_mib").copied().unwrap_or(0.0);
                m.figures
                    .insert("peak_rss_mib".into(), worst.max(rss as f64 / 1048576.0));
            }
        }
    }
    progress("dedup", total, total);
    let outputs: Vec<u64> = found.iter().map(|m| m.figures["rows_out"] as u64).collect();
    if outputs.windows(2).any(|w| w[0] != w[1]) {
        return Err(failed(format!(
            "the contenders disagree on the deduped row count: {}",
            found
                .iter()
                .zip(&outputs)
                .map(|(m, n)| format!("{} {n}", m.variant))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for m in &mut found {
        m.figures
            .insert("rows_per_s".into(), spec.rows as f64 / m.median());
    }
    let input_mib = std::fs::metadata(&input).map_or(0, |m| m.len()) as f64 / 1048576.0;
    let note = format!(
        "dedup input: {} rows over {} keys ({:?} versions, {}-char events, {} ties), {input_mib:.0} MiB \
         of zstd Parquet; every contender reads it and writes its deduped rows as zstd Parquet, \
         in a process of its own (peak RSS is that process's, worst of the repetitions).",
        spec.rows, spec.keys, spec.versions, spec.string_width, spec.tie_rate
    );
    Ok((found, vec![note]))
}

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

/// A whole cycle with dedup before the upload (martsync) or inside the warehouse (raw rows
/// staged and loaded, ranked by `row_number()`, merged: the old dbt model), into a mart that
/// already holds every key of the batch at an older version.
pub async fn placement(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let largest = options.batch_sizes.iter().copied().max().unwrap_or(0);
    let mut found = Vec::new();
    let combos: Vec<(usize, usize)> = options
        .batch_sizes
        .iter()
        .flat_map(|&b| options.dup_factors.iter().map(move |&d| (b, d)))
        .collect();
    for scratch in Scratch::all(options, "placement").await? {
        let total = combos.len() * options.repetitions * 2;
        let mut done = 0;
        drop(scratch.pipeline(options, &options.scratch_dir()).await?);
        scratch.exec(&scratch.fill_uti(largest)).await?;
        for &(rows, dup) in &combos {
            let keys = (rows / dup).max(1);
            let spec = DataSpec::new(rows, keys);
            let batches = spec.batches();
            let source = options
                .scratch_dir()
                .join(format!("placement-{rows}-{dup}"));
            let mut local =
                Measurement::new(Scenario::Placement, format!("local · {}", scratch.name))
                    .param("batch_rows", rows)
                    .param("dup_factor", dup);
            let mut remote =
                Measurement::new(Scenario::Placement, format!("warehouse · {}", scratch.name))
                    .param("batch_rows", rows)
                    .param("dup_factor", dup);
            // Seconds in warehouse statements per repetition; the report takes the median,
            // like the wall time's.
            let (mut local_warehouse, mut remote_warehouse) = (Vec::new(), Vec::new());
            for rep in 0..options.repetitions {
                // Every run finds the batch's keys at an older version (the oldest the batch
                // can hold, so the retention trim keeps them), so both placements replace
                // `keys` rows.
                let reset = format!(
                    "UPDATE mart_uni_tracking_info SET update_time = {START} WHERE order_id < {}",
                    1_000_000 + keys
                );
                for which in [0, 1] {
                    progress(
                        &format!("placement · {} · {rows} rows × {dup}", scratch.name),
                        done,
                        total,
                    );
                    done += 1;
                    scratch.exec(&reset).await?;
                    let label = format!("p-{rows}-{dup}-{rep}-{which}");
                    if which == 0 {
                        let input = batch_input(&source, &label, &batches)?;
                        let pipeline = scratch.pipeline(options, &source).await?;
                        let table = pipeline.config.tables[0].clone();
                        let started = Instant::now();
                        let report = pipeline.cycle(&table, input).await?;
                        local.seconds.push(started.elapsed().as_secs_f64());
                        local.figures.extend([
                            ("bytes_staged".into(), report.bytes_staged as f64),
                            ("rows_shipped".into(), report.rows_deduped as f64),
                        ]);
                        local_warehouse.push(report.merge_ms as f64 / 1000.0);
                    } else {
                        let (seconds, bytes, warehouse) =
                            warehouse_dedup(&scratch, options, &label, &batches).await?;
                        remote.seconds.push(seconds);
                        remote.figures.extend([
                            ("bytes_staged".into(), bytes as f64),
                            ("rows_shipped".into(), rows as f64),
                        ]);
                        remote_warehouse.push(warehouse);
                    }
                }
            }
            local.figures.insert(
                "warehouse_s".into(),
                super::report::median(&local_warehouse),
            );
            remote.figures.insert(
                "warehouse_s".into(),
                super::report::median(&remote_warehouse),
            );
            let held = scratch
                .count("SELECT count(*) FROM mart_uni_tracking_info")
                .await?;
            if held != largest as i64 {
                return Err(failed(format!(
                    "placement left {held} rows in the {} mart, expected {largest}",
                    scratch.name
                )));
            }
            let _ = std::fs::remove_dir_all(&source);
            found.extend([local, remote]);
        }
        scratch.drop().await;
    }
    let note = "placement: one cycle of a batch read from a Parquet file into a mart holding \
                every key of the batch at an older version. local = martsync's cycle (read, \
                dedup, stage deduped rows, merge); warehouse = read, stage every raw row, then in \
                one transaction load them, rank with row_number() into a temp table, delete the \
                mart's rows of those keys and insert the ranked rows (the old dbt model). \
                warehouse_s is the time spent in warehouse statements (median of the repetitions)."
        .to_string();
    Ok((found, vec![note]))
}

/// The dbt way: stage raw rows, load, rank and merge in the warehouse. Returns (total
/// seconds, bytes staged, warehouse seconds).
async fn warehouse_dedup(
    scratch: &Scratch,
    options: &Options,
    label: &str,
    batches: &[arrow::array::RecordBatch],
) -> Result<(f64, u64, f64)> {
    let started = Instant::now();
    let staged = options.scratch_dir().join(format!("{label}.parquet"));
    let bytes = write_parquet(&staged, batches)?;
    let rank = super::engines::row_number_sql("raw_rows", false);
    let merge = format!(
        "CREATE TEMP TABLE ranked AS {rank};\n\
         DELETE FROM mart_uni_tracking_info USING ranked \
           WHERE mart_uni_tracking_info.order_id = ranked.order_id;\n\
         INSERT INTO mart_uni_tracking_info SELECT * FROM ranked;\n\
         DROP TABLE ranked; DROP TABLE raw_rows;\nCOMMIT"
    );
    let warehouse = if let Some((client, _)) = &scratch.pg {
        let load_started = Instant::now();
        client
            .batch_execute("BEGIN; CREATE TEMP TABLE raw_rows (LIKE mart_uni_tracking_info)")
            .await
            .map_err(|e| failed(format!("PostgreSQL: {e}")))?;
        super::copy_parquet_into(client, "raw_rows", &staged).await?;
        let load = load_started.elapsed().as_secs_f64();
        load + scratch.exec(&merge).await?
    } else {
        scratch
            .exec(&format!(
                "BEGIN; CREATE TEMP TABLE raw_rows AS SELECT * FROM read_parquet('{}');\n{merge}",
                staged.display()
            ))
            .await?
    };
    let _ = std::fs::remove_file(&staged);
    Ok((started.elapsed().as_secs_f64(), bytes, warehouse))
}

/// A connection to a scratch DuckDB file, with the warehouse's session settings.
#[cfg(feature = "duckdb")]
fn duckdb_connect(path: &Path) -> Result<duckdb::Connection> {
    crate::warehouse::duckdb::connect(path).map_err(failed)
}

// ---------------------------------------------------------------------------------------
// merge-scaling

/// A fixed batch (half updates of existing orders, half new orders) merged by martsync into
/// marts of growing size.
pub async fn merge_scaling(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let sizes: Vec<usize> = options
        .mart_sizes
        .iter()
        .copied()
        .filter(|&n| n <= options.max_rows)
        .collect();
    let mut found = Vec::new();
    for scratch in Scratch::all(options, "merge").await? {
        let total = sizes.len() * options.repetitions;
        let source = options.scratch_dir().join("merge-source");
        let mut held = 0usize;
        drop(scratch.pipeline(options, &source).await?);
        for (s, &n) in sizes.iter().enumerate() {
            progress(
                &format!("merge-scaling · {} · filling {n} rows", scratch.name),
                s * options.repetitions,
                total,
            );
            // Grow the mart to n rows (orders held..n).
            let grow = scratch
                .fill_uti(n - held)
                .replace("1000000 + i", &format!("{} + i", 1_000_000 + held));
            scratch.exec(&grow).await?;
            if let Some((client, _)) = &scratch.pg {
                client
                    .batch_execute("ANALYZE mart_uni_tracking_info")
                    .await
                    .map_err(|e| failed(format!("PostgreSQL ANALYZE: {e}")))?;
            }
            held = n;
            let mut m =
                Measurement::new(Scenario::MergeScaling, scratch.name).param("mart_rows", n);
            let pipeline = scratch.pipeline(options, &source).await?;
            let table = pipeline.config.tables[0].clone();
            for rep in 0..options.repetitions {
                progress(
                    &format!("merge-scaling · {} · {n} rows", scratch.name),
                    s * options.repetitions + rep,
                    total,
                );
                let batch = merge_batch(options.merge_batch, held, rep + s * options.repetitions);
                let input = batch_input(&source, &format!("m-{n}-{rep}"), &[batch])?;
                let report = pipeline.cycle(&table, input).await?;
                m.seconds.push(report.merge_ms as f64 / 1000.0);
                m.figures
                    .insert("cycle_s".into(), report.total_ms as f64 / 1000.0);
                m.figures
                    .insert("deleted".into(), report.rows_deleted as f64);
                m.figures
                    .insert("inserted".into(), report.rows_inserted as f64);
                // The new half stays: the mart grew by it.
                held += report.rows_inserted as usize - report.rows_deleted as usize;
            }
            drop(pipeline);
            found.push(m);
        }
        let _ = std::fs::remove_dir_all(&source);
        scratch.drop().await;
    }
    let note = format!(
        "merge-scaling: martsync merges a {}-row batch (half newer versions of orders spread \
         over the mart, half new orders) into the tracking mart; seconds are the merge \
         transaction's (load, stale-version drop, delete by order_id, insert, trim, ledger).",
        options.merge_batch
    );
    Ok((found, vec![note]))
}

/// `rows` uti rows: updates of every other order among the `held` ones, spread evenly, and
/// new orders above them; versions newer than anything filled.
fn merge_batch(rows: usize, held: usize, round: usize) -> arrow::array::RecordBatch {
    let updates = rows / 2;
    let step = (held / updates.max(1)).max(1);
    let version = (START + 175 * DAY) as i32 + round as i32;
    let uti = |order_id: i64| Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: (order_id % 40) as i32,
        carrier_code: Some("dhl".into()),
        status: 4,
        last_code: Some(400),
        last_event: Some("status 4 event xxxxxxxxx".into()),
        last_location: Some("hub 1".into()),
        delivered_at: None,
        add_time: START as i32,
        update_time: version,
    };
    let mut batch: Vec<Uti> = (0..updates)
        .map(|u| uti(1_000_000 + ((u * step) % held.max(1)) as i64))
        .collect();
    batch.extend((0..rows - updates).map(|j| uti(1_000_000 + (held + j) as i64)));
    uti_batch(&batch)
}

// ---------------------------------------------------------------------------------------
// primary-query

/// The seed's primary query (`sql/primary_query.sql`): tracking × order × events.
pub const PRIMARY_QUERY: &str = include_str!("../../sql/primary_query.sql");

/// The 3-way join on marts of `query_rows` orders (ecs as many, spath 4 events per order),
/// cold (the first run on a new connection) and warm (the following runs).
pub async fn primary_query(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let n = options.query_rows;
    let mut found = Vec::new();
    for scratch in Scratch::all(options, "query").await? {
        progress(&format!("primary-query · {} · filling", scratch.name), 0, 1);
        drop(scratch.pipeline(options, &options.scratch_dir()).await?);
        let ecs = format!(
            "INSERT INTO mart_ecs_order_info SELECT 1000000 + i, 'ON' || CAST(i AS VARCHAR(20)), \
             CAST(i % 40 AS INTEGER), NULL, 'DE', CAST(i % 5000 AS INTEGER), NULL, 'EUR', \
             CAST({START} + i % {} AS INTEGER) FROM {}",
            170 * DAY,
            scratch.series(n)
        );
        let spath = format!(
            "INSERT INTO mart_uni_tracking_spath SELECT i, 1000000 + (i - i % 4) / 4, CAST(i % 4 AS INTEGER), \
             CAST({START} + (i * 7919) % {} AS INTEGER), CAST(CASE WHEN i % 4 = 3 THEN 200 ELSE 100 END AS SMALLINT), \
             'hub ' || CAST(i % 500 AS VARCHAR(8)), 'event', CAST(0 AS SMALLINT), \
             CAST(TIMESTAMP '2026-01-01 00:00:00' AS TIMESTAMP) FROM {}",
            180 * DAY,
            scratch.series(4 * n)
        );
        scratch.exec(&scratch.fill_uti(n)).await?;
        scratch.exec(&ecs).await?;
        scratch.exec(&spath).await?;
        if let Some((client, _)) = &scratch.pg {
            client
                .batch_execute("ANALYZE")
                .await
                .map_err(|e| failed(format!("PostgreSQL ANALYZE: {e}")))?;
        }
        let mut cold = Measurement::new(Scenario::PrimaryQuery, format!("cold · {}", scratch.name))
            .param("orders", n);
        let mut warm = Measurement::new(Scenario::PrimaryQuery, format!("warm · {}", scratch.name))
            .param("orders", n);
        let count_sql = format!(
            "SELECT count(*) FROM ({}) q",
            PRIMARY_QUERY.trim().trim_end_matches(';')
        );
        let total = options.repetitions * 2;
        for rep in 0..options.repetitions {
            progress(&format!("primary-query · {}", scratch.name), rep * 2, total);
            // Cold: a new connection (DuckDB: the file opened again, its buffer pool empty;
            // the OS page cache stays warm on both).
            let (seconds, rows) = timed_count(&scratch, &count_sql, true).await?;
            cold.seconds.push(seconds);
            cold.figures.insert("rows".into(), rows as f64);
            let (seconds, rows) = timed_count(&scratch, &count_sql, false).await?;
            warm.seconds.push(seconds);
            warm.figures.insert("rows".into(), rows as f64);
        }
        found.extend([cold, warm]);
        scratch.drop().await;
    }
    let note = format!(
        "primary-query: sql/primary_query.sql counted over marts of {n} orders, {n} ecs rows \
         and {} spath events; cold = first run on a new connection, warm = a second run on \
         the same connection.",
        4 * n
    );
    Ok((found, vec![note]))
}

/// Runs the count on a new connection; `cold` times the first run, else a second one.
async fn timed_count(scratch: &Scratch, sql: &str, cold: bool) -> Result<(f64, i64)> {
    let runs = if cold { 1 } else { 2 };
    if scratch.pg.is_some() {
        let (client, connection) = tokio_postgres::connect(&scratch.url, tokio_postgres::NoTls)
            .await
            .map_err(|e| failed(format!("connecting to PostgreSQL: {e}")))?;
        tokio::spawn(connection);
        let mut last = (0.0, 0);
        for _ in 0..runs {
            let started = Instant::now();
            let rows: i64 = client
                .query_one(sql, &[])
                .await
                .map_err(|e| failed(format!("PostgreSQL primary query: {e}")))?
                .get(0);
            last = (started.elapsed().as_secs_f64(), rows);
        }
        return Ok(last);
    }
    #[cfg(feature = "duckdb")]
    if let Some(path) = &scratch.duck {
        let conn = duckdb_connect(path)?;
        let mut last = (0.0, 0);
        for _ in 0..runs {
            let started = Instant::now();
            let rows: i64 = conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| failed(format!("DuckDB primary query: {e}")))?;
            last = (started.elapsed().as_secs_f64(), rows);
        }
        return Ok(last);
    }
    unreachable!("a scratch warehouse is DuckDB or PostgreSQL")
}
