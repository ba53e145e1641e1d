//! The production path on real services: MariaDB → S3 server → PostgreSQL.
//!
//!     eval "$(scripts/services.sh)"
//!     cargo bench --bench production
//!
//! Four measurements, each printed with the data size and the command's own figures:
//!
//! 1. **extract**: read every row of a `uni_tracking_info` table of `MARTSYNC_BENCH_ROWS` rows
//!    (default 10M) into Arrow batches through martsync's MySQL source, one connection (the
//!    full extraction of an empty mart: no WHERE), next to the same source through
//!    mysql_async's rows, `mariadb --quick -N -e 'SELECT …' > /dev/null` and connectorx's
//!    `read_sql` into Arrow (own process), alternating, 3 times each; medians (min–max), the
//!    ratios, and the peak RSS of each.
//! 2. **initial load**: 1M `uni_tracking_info` rows into an empty PostgreSQL mart (S3 stage).
//! 3. **15-minute cycle**: marts of 1M / 1M / 4M rows (uti / ecs / spath), then 50k uti
//!    updates, 2k new orders and 20k spath events at the source, and one `run`: wall time per
//!    phase, per mart and per merge step; in each window dlt's incremental merge of the same
//!    source into a PostgreSQL schema of its own (`benches/contenders/dlt_cycle.py`), after
//!    martsync in windows 1 and 3 and before it in window 2 (the first reader of a window
//!    brings its rows into MariaDB's buffer pool for the other).
//!
//! The contenders from PyPI (connectorx, dlt) run in the Python `scripts/contenders.sh` prints
//! as `MARTSYNC_BENCH_PYTHON`; without it they are left out, saying so.
//! 4. **binlog**: `source.mode = "binlog"`, 400k row changes (updates, deletes, inserts over
//!    the three tables) per run, applied from the binary log: changes per second, median of 3.
//!    `MARTSYNC_BENCH_ONLY=binlog` runs this one alone.
//!
//! Source tables are filled with MariaDB's SEQUENCE engine and kept between runs (in the
//! databases `martsync_bench_*`); marts go to a fresh PostgreSQL schema each run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use martsync::config::RawConfig;
use martsync::pipeline::{CycleReport, Pipeline};
use martsync::source::mysql::MySqlSource;
use martsync::source::{Extract, Source};
use mysql_async::prelude::Queryable;

const START: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs statements in PostgreSQL on a connection of their own.
async fn pg_execute(pg: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(pg, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
}

/// `1.23, 4.56`: the times of the runs, in order.
fn seconds(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.2}", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The base URL with another database.
fn with_db(base: &str, db: &str) -> String {
    let mut url = url::Url::parse(base).expect("mysql URL");
    url.set_path(&format!("/{db}"));
    url.to_string()
}

/// A time spread over 179 days after `START`, or `at` when given.
fn time_expr(at: Option<i64>) -> String {
    at.map_or(format!("{START} + (seq * 7919) % {}", 179 * DAY), |t| {
        t.to_string()
    })
}

/// Source rows for orders `from..=to`, filled by the SEQUENCE engine; times spread over 179
/// days, or all at `at`.
fn uti_fill(from: i64, to: i64, at: Option<i64>) -> String {
    let time = time_expr(at);
    format!(
        "INSERT INTO uni_tracking_info SELECT seq, CONCAT('TN', seq), seq % 1000, \
         IF(seq % 3 = 0, NULL, CONCAT('C', seq % 17)), seq % 5, 100 * (seq % 5), \
         CONCAT('event ', seq % 97), CONCAT('hub ', seq % 113), \
         IF(seq % 5 = 4, FROM_UNIXTIME({START} + seq % 86400), NULL), \
         {time}, {time} + IF({fixed}, 0, seq % 3600) FROM seq_{from}_to_{to}",
        fixed = at.is_some()
    )
}

fn ecs_fill(from: i64, to: i64, at: Option<i64>) -> String {
    let time = time_expr(at);
    format!(
        "INSERT INTO ecs_order_info SELECT seq, CONCAT('ON', seq), seq % 1000, \
         IF(seq % 2 = 0, NULL, CONCAT('ref-', seq)), 'DE', seq % 30000, (seq % 500000) / 100, \
         'EUR', {time} FROM seq_{from}_to_{to}"
    )
}

fn spath_fill(from: i64, to: i64, orders: i64) -> String {
    format!(
        "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code, location, \
         description, is_updated, time_modified) SELECT 1 + seq % {orders}, seq DIV {orders}, \
         {START} + (seq * 7919) % {span}, 100 * (seq % 9), CONCAT('loc ', seq % 1000), \
         IF(seq % 5 = 0, NULL, CONCAT('event ', seq % 97)), 0, \
         FROM_UNIXTIME({START} + (seq * 7919) % {span}) FROM seq_{from}_to_{to}",
        span = 179 * DAY
    )
}

/// Database `db` made anew with the three source tables, empty: its URL and a connection.
async fn empty_source_db(base: &str, db: &str) -> (String, mysql_async::Conn) {
    let mut conn = mysql_async::Conn::from_url(base).await.unwrap();
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
    ))
    .await
    .unwrap();
    let url = with_db(base, db);
    let mut conn = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
    for name in martsync::schema::builtin_source_names() {
        let ddl = std::fs::read_to_string(format!(
            "{}/sql/source/{name}.sql",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        conn.query_drop(ddl).await.unwrap();
    }
    (url, conn)
}

/// Creates database `db` with the three source tables filled to the given sizes, unless it
/// already holds them.
async fn source_db(base: &str, db: &str, uti: i64, ecs: i64, spath: i64) -> String {
    let mut conn = mysql_async::Conn::from_url(base).await.expect("MariaDB");
    let ready: Option<i64> = conn
        .query_first(format!(
            "SELECT (SELECT count(*) FROM {db}.uni_tracking_info) + (SELECT count(*) FROM {db}.ecs_order_info) \
             + (SELECT count(*) FROM {db}.uni_tracking_spath)"
        ))
        .await
        .unwrap_or(None);
    let url = with_db(base, db);
    if ready == Some(uti + ecs + spath) {
        return url;
    }
    eprintln!("filling {db}: {uti} uti, {ecs} ecs, {spath} spath rows (kept for later runs)");
    let (_, mut conn) = empty_source_db(base, db).await;
    let chunk = 1_000_000;
    for (count, fill) in [
        (uti, &uti_fill as &dyn Fn(i64, i64, Option<i64>) -> String),
        (ecs, &ecs_fill),
    ] {
        let mut from = 1;
        while from <= count {
            let to = (from + chunk - 1).min(count);
            conn.query_drop(fill(from, to, None)).await.unwrap();
            from = to + 1;
        }
    }
    let mut from = 1;
    while from <= spath {
        let to = (from + chunk - 1).min(spath);
        conn.query_drop(spath_fill(from, to, uti.max(1)))
            .await
            .unwrap();
        from = to + 1;
    }
    url
}

/// Extracts the whole table, checks the row count, and returns the wall time.
async fn time_extraction(
    source: &MySqlSource,
    table: &martsync::config::TableConfig,
    rows: i64,
) -> Duration {
    let started = Instant::now();
    let stream = source.extract(table, Extract::default()).await.unwrap();
    let n: usize = stream
        .try_fold(0, |n, b| async move { Ok(n + b.num_rows()) })
        .await
        .unwrap();
    assert_eq!(n as i64, rows);
    started.elapsed()
}

/// What a contender's Python script printed; its error output if it failed.
fn python_output(contender: &str, command: &mut Command) -> String {
    let out = command.output().expect("the contenders' Python");
    assert!(
        out.status.success(),
        "{contender}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// connectorx reading the same query into an Arrow table, in a Python process of its own
/// (`scripts/contenders.sh`): the seconds of its `read_sql` and the process's peak RSS.
fn connectorx_extraction(python: &str, url: &str, sql: &str, rows: i64) -> (Duration, f64) {
    let script = "import connectorx as cx, resource, sys, time\n\
        t = time.perf_counter()\n\
        table = cx.read_sql(sys.argv[1], sys.argv[2], return_type='arrow')\n\
        took = time.perf_counter() - t\n\
        print(table.num_rows, took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n";
    let text = python_output(
        "connectorx",
        Command::new(python).args(["-c", script, url, sql]),
    );
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        fields[0].parse::<i64>().unwrap(),
        rows,
        "connectorx's row count"
    );
    let took = Duration::from_secs_f64(fields[1].parse().unwrap());
    (took, fields[2].parse::<f64>().unwrap() / 1024.0)
}

async fn bench_extract(base: &str) {
    let rows: i64 = env("MARTSYNC_BENCH_ROWS").map_or(10_000_000, |v| v.parse().unwrap());
    let url = source_db(base, &format!("martsync_bench_extract_{rows}"), rows, 0, 0).await;
    let config = RawConfig::default()
        .validate("bench", &|_| None)
        .expect("default config");
    let table = config.tables[0].clone();
    let source = MySqlSource::new(&url, 65_536, Default::default()).unwrap();
    let through_mysql_async = MySqlSource::new(&url, 65_536, Default::default())
        .unwrap()
        .through_mysql_async();
    // The same readers over TLS (`ssl-mode=REQUIRED`; the services' MariaDB has a
    // certificate), as a server that asks for it is read.
    let tls_url = format!("{url}?ssl-mode=REQUIRED");
    let tls = MySqlSource::new(&tls_url, 65_536, Default::default()).unwrap();
    let tls_through_mysql_async = MySqlSource::new(&tls_url, 65_536, Default::default())
        .unwrap()
        .through_mysql_async();
    let columns = table.schema.column_list();
    let sql = format!("SELECT {columns} FROM uni_tracking_info");
    let parsed = url::Url::parse(&url).unwrap();
    let python = martsync::bench::engines::contenders_python();
    if python.is_none() {
        eprintln!("connectorx: not measured (eval \"$(scripts/contenders.sh)\" first)");
    }
    let (mut ours, mut old, mut cli, mut cx) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ours_tls, mut old_tls) = (Vec::new(), Vec::new());
    let (mut peak, mut old_peak, mut cx_peak) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..3 {
        reset_peak_rss();
        ours.push(time_extraction(&source, &table, rows).await);
        peak = peak.max(peak_rss_mib());

        reset_peak_rss();
        old.push(time_extraction(&through_mysql_async, &table, rows).await);
        old_peak = old_peak.max(peak_rss_mib());

        ours_tls.push(time_extraction(&tls, &table, rows).await);
        assert_eq!(
            tls.reads_through_mysql_async(),
            None,
            "TLS through the own reader"
        );
        old_tls.push(time_extraction(&tls_through_mysql_async, &table, rows).await);

        let started = Instant::now();
        let status = Command::new("mariadb")
            .args([
                "--quick",
                "-N",
                "-h",
                parsed.host_str().unwrap(),
                "-P",
                &parsed.port().unwrap_or(3306).to_string(),
                "-u",
                parsed.username(),
                &format!("-p{}", parsed.password().unwrap_or("")),
                parsed.path().trim_start_matches('/'),
                "-e",
                &sql,
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("mariadb CLI");
        assert!(status.success());
        cli.push(started.elapsed());

        if let Some(python) = &python {
            let (took, rss) = connectorx_extraction(python, &url, &sql, rows);
            cx.push(took);
            cx_peak = cx_peak.max(rss);
        }
    }
    // Parallel range extraction (as for backfills): the same table over 2 and 4 connections.
    let mut parallel = Vec::new();
    for connections in [2, 4] {
        let source =
            MySqlSource::with_parallel(&url, 65_536, Default::default(), connections).unwrap();
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(time_extraction(&source, &table, rows).await);
        }
        parallel.push((connections, times));
    }
    let rate = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    let spread = |v: &[Duration]| {
        let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
        format!("{:.2}-{:.2} s", lo.as_secs_f64(), hi.as_secs_f64())
    };
    let line = |what: &str, times: &[Duration], extra: String| {
        let m = median(times.to_vec());
        println!(
            "  {what:<40} {:>6.2} s ({}) {:>5.2} M rows/s{extra}",
            m.as_secs_f64(),
            spread(times),
            rate(m)
        );
        m
    };
    println!(
        "extract {rows} uti rows ({} columns), 1 connection, median (min-max) of 3:",
        table.schema.columns.len()
    );
    let m_ours = line(
        "martsync (own reader)",
        &ours,
        format!(", peak RSS {peak:.0} MiB"),
    );
    let m_old = line(
        "martsync through mysql_async rows",
        &old,
        format!(", peak RSS {old_peak:.0} MiB"),
    );
    let m_ours_tls = line("martsync (own reader), TLS", &ours_tls, String::new());
    let m_old_tls = line(
        "martsync through mysql_async rows, TLS",
        &old_tls,
        String::new(),
    );
    println!(
        "  over TLS: own reader/mysql_async rows {:.2}x, TLS/plain own reader {:.2}x",
        m_old_tls.as_secs_f64() / m_ours_tls.as_secs_f64(),
        m_ours.as_secs_f64() / m_ours_tls.as_secs_f64()
    );
    let m_cli = line("mariadb --quick -N > /dev/null", &cli, String::new());
    let ratio = |other: Duration| other.as_secs_f64() / m_ours.as_secs_f64();
    println!(
        "  martsync/CLI throughput {:.2}x, martsync/mysql_async rows {:.2}x",
        ratio(m_cli),
        ratio(m_old)
    );
    if !cx.is_empty() {
        let m_cx = line(
            "connectorx 0.4.6 read_sql -> Arrow",
            &cx,
            format!(", peak RSS {cx_peak:.0} MiB"),
        );
        println!("  martsync/connectorx throughput {:.2}x", ratio(m_cx));
    }
    for (connections, times) in parallel {
        let m = line(
            &format!("martsync over {connections} connections (key ranges)"),
            &times,
            String::new(),
        );
        println!(
            "    {:.2}x one connection",
            m_ours.as_secs_f64() / m.as_secs_f64()
        );
    }
}

/// A pipeline for `source` into a fresh PostgreSQL schema, staged on S3.
async fn pipeline(source: &str, pg: &str, s3: &str, tables: &str) -> (Pipeline, String) {
    let schema = format!("bench_{}", std::process::id());
    pg_execute(
        pg,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    )
    .await;
    let sep = if pg.contains('?') { '&' } else { '?' };
    let text = format!(
        "[source]\nurl = \"{source}\"\n[stage]\nurl = \"{s3}/bench\"\n[warehouse]\nurl = \"{pg}{sep}options=-csearch_path%3D{schema}\"\n{tables}"
    );
    let config = RawConfig::parse(&text, "bench")
        .and_then(|r| r.validate("bench", &|_| None))
        .unwrap();
    (Pipeline::open(config).await.unwrap(), schema)
}

fn print_cycle(what: &str, wall: Duration, reports: &[CycleReport]) {
    println!(
        "{what}: wall {:.2} s (marts in parallel)",
        wall.as_secs_f64()
    );
    println!(
        "  {:<26} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "mart", "extracted", "inserted", "extract", "dedup", "stage", "merge", "total"
    );
    for r in reports {
        println!(
            "  {:<26} {:>10} {:>10} {:>7}ms {:>7}ms {:>7}ms {:>7}ms {:>7}ms",
            r.mart,
            r.rows_extracted,
            r.rows_inserted,
            r.extract_ms,
            r.dedup_ms,
            r.stage_ms,
            r.merge_ms,
            r.total_ms
        );
        let steps: Vec<String> = r
            .timings
            .iter()
            .map(|(step, ms)| format!("{} {ms}", step.as_str()))
            .collect();
        println!("  {:<26} merge steps (ms): {}", "", steps.join(", "));
    }
}

async fn run(pipeline: &Pipeline) -> (Duration, Vec<CycleReport>) {
    let tables = pipeline.config.tables.clone();
    let started = Instant::now();
    let reports = pipeline
        .run(&tables)
        .await
        .into_iter()
        .map(|(mart, r)| r.unwrap_or_else(|e| panic!("{mart}: {e}")))
        .collect();
    (started.elapsed(), reports)
}

async fn bench_initial_load(base: &str, pg: &str, s3: &str) {
    let url = source_db(base, "martsync_bench_1m", 1_000_000, 0, 0).await;
    let (pipeline, _) = pipeline(
        &url,
        pg,
        s3,
        "[[tables]]\nname = \"mart_uni_tracking_info\"\n",
    )
    .await;
    let (wall, reports) = run(&pipeline).await;
    print_cycle(
        &format!(
            "initial load of 1M uti rows MariaDB → S3 → PostgreSQL ({:.0} rows/s)",
            1e6 / wall.as_secs_f64()
        ),
        wall,
        &reports,
    );
}

/// dlt (`benches/contenders/dlt_cycle.py`, in the Python of `scripts/contenders.sh`): one
/// incremental merge of the three source tables into the PostgreSQL schema `dataset`, its
/// state in `state`. The seconds of its `pipeline.run` and the rows it loaded.
fn dlt_cycle(python: &str, source: &str, pg: &str, dataset: &str, state: &Path) -> (Duration, u64) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/contenders/dlt_cycle.py"
    );
    let text = python_output(
        "dlt",
        Command::new(python)
            .arg(script)
            .args([source, pg, dataset])
            .arg(state),
    );
    let mut fields = text.split_whitespace();
    let took = fields
        .next()
        .and_then(|f| f.parse::<f64>().ok())
        .expect("dlt's seconds");
    let rows = fields
        .next()
        .and_then(|f| f.parse::<u64>().ok())
        .expect("dlt's rows");
    (Duration::from_secs_f64(took), rows)
}

async fn bench_cycle(base: &str, pg: &str, s3: &str) {
    let orders = 1_000_000;
    source_db(base, "martsync_bench_cycle", orders, orders, 4 * orders).await;
    // Work on a copy, so the filled source stays as it is for later runs.
    let work = format!("martsync_bench_cycle_{}", std::process::id());
    let mut conn = mysql_async::Conn::from_url(base).await.unwrap();
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {work}; CREATE DATABASE {work}"
    ))
    .await
    .unwrap();
    for table in martsync::schema::builtin_source_names() {
        conn.query_drop(format!(
            "CREATE TABLE {work}.{table} LIKE martsync_bench_cycle.{table}; \
             INSERT INTO {work}.{table} SELECT * FROM martsync_bench_cycle.{table}"
        ))
        .await
        .unwrap();
    }
    let work_url = with_db(base, &work);
    let (pipeline, _) = pipeline(&work_url, pg, s3, "").await;
    let (wall, reports) = run(&pipeline).await;
    print_cycle(
        "initial load of marts 1M uti / 1M ecs / 4M spath",
        wall,
        &reports,
    );
    // dlt on the same source, cycle after cycle, into a schema of its own.
    let python = martsync::bench::engines::contenders_python();
    let dlt_state = tempfile::tempdir().unwrap();
    let dataset = format!("dlt_bench_{}", std::process::id());
    let dlt = |what: &str| {
        python.as_ref().map(|python| {
            let (took, rows) = dlt_cycle(python, &work_url, pg, &dataset, dlt_state.path());
            println!(
                "  dlt {what}: {:.2} s, {rows} rows loaded",
                took.as_secs_f64()
            );
            took
        })
    };
    if python.is_none() {
        eprintln!("dlt: not measured (eval \"$(scripts/contenders.sh)\" first)");
    }
    dlt("initial load");

    // Three 15-minute windows of changes, each after the marts' newest time; each cycle
    // touches other orders than the one before.
    let mut conn = mysql_async::Conn::from_url(work_url.as_str())
        .await
        .unwrap();
    let mut walls = Vec::new();
    let mut dlt_walls = Vec::new();
    for window in 0..3i64 {
        let now = START + 179 * DAY + 3600 + window * 900;
        conn.query_drop(format!(
            "UPDATE uni_tracking_info SET status = 4, last_event = 'delivered', update_time = {now} \
             WHERE order_id > {} AND order_id <= {}",
            window * 50_000,
            (window + 1) * 50_000
        ))
        .await
        .unwrap();
        let (from, to) = (orders + 1 + window * 2000, orders + (window + 1) * 2000);
        conn.query_drop(uti_fill(from, to, Some(now)))
            .await
            .unwrap();
        conn.query_drop(ecs_fill(from, to, Some(now)))
            .await
            .unwrap();
        conn.query_drop(format!(
            "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code, location, \
             description, is_updated, time_modified) SELECT seq, 1000 + seq, {now}, 300, 'hub', \
             'moved', 0, FROM_UNIXTIME({now}) FROM seq_1_to_20000"
        ))
        .await
        .unwrap();
        // Whoever reads a window first reads its rows from disk into MariaDB's buffer pool
        // for the other: the two take turns going first (martsync in windows 1 and 3).
        let dlt_first = window % 2 == 1;
        if dlt_first {
            dlt_walls.extend(dlt(&format!("cycle {} (first)", window + 1)));
        }
        let (wall, reports) = run(&pipeline).await;
        print_cycle(
            &format!(
                "15-minute cycle {}: 50k uti updates + 2k new orders + 20k spath events",
                window + 1
            ),
            wall,
            &reports,
        );
        walls.push(wall);
        if !dlt_first {
            dlt_walls.extend(dlt(&format!("cycle {}", window + 1)));
        }
    }
    let walls_median = median(walls.clone());
    println!(
        "15-minute cycle, median of 3: {:.2} s ({})",
        walls_median.as_secs_f64(),
        seconds(&walls)
    );
    if !dlt_walls.is_empty() {
        let dlt_median = median(dlt_walls.clone());
        println!(
            "dlt incremental merge of the same changes, median of 3: {:.2} s ({}): martsync {:.2}x faster",
            dlt_median.as_secs_f64(),
            seconds(&dlt_walls),
            dlt_median.as_secs_f64() / walls_median.as_secs_f64()
        );
        pg_execute(
            pg,
            &format!(
                "DROP SCHEMA IF EXISTS {dataset} CASCADE; DROP SCHEMA IF EXISTS {dataset}_staging CASCADE"
            ),
        )
        .await;
    }
    conn.query_drop(format!("DROP DATABASE {work}"))
        .await
        .unwrap();
}

/// `source.mode = "binlog"`: marts of 400k orders (snapshot), then three rounds of changes
/// at the source — 100k uti updates, 50k uti deletes, 50k new orders (uti and ecs rows),
/// 50k ecs updates and 100k new spath events: 400k row changes — each applied by one run
/// reading the binary log. Changes per second over the run's wall time, median of 3.
async fn bench_binlog(base: &str, pg: &str, s3: &str) {
    let orders = 400_000i64;
    let work = format!("martsync_bench_binlog_{}", std::process::id());
    let (url, mut conn) = empty_source_db(base, &work).await;
    conn.query_drop(uti_fill(1, orders, None)).await.unwrap();
    conn.query_drop(ecs_fill(1, orders, None)).await.unwrap();
    let (pipeline, _) = pipeline(&url, pg, s3, "").await;
    let mut config = (*pipeline.config).clone();
    config.source.mode = martsync::config::SourceMode::Binlog;
    let pipeline = Pipeline {
        config: std::sync::Arc::new(config),
        ..pipeline
    };
    let (wall, reports) = run(&pipeline).await;
    print_cycle("binlog mode: snapshot of 400k orders", wall, &reports);
    let mut walls = Vec::new();
    let mut next = orders + 1;
    for round in 0..3i64 {
        let now = START + 179 * DAY + 3600 + round * 900;
        // Updates run before the round's deletes, which take orders from the top down.
        let (lo, hi) = (round * 100_000, round * 100_000 + 100_000);
        let changes = [
            format!(
                "UPDATE uni_tracking_info SET status = 4, last_event = 'delivered', update_time = {now} \
                 WHERE order_id > {lo} AND order_id <= {hi}"
            ),
            format!(
                "DELETE FROM uni_tracking_info WHERE order_id > {} AND order_id <= {}",
                orders - (round + 1) * 50_000,
                orders - round * 50_000
            ),
            uti_fill(next, next + 49_999, Some(now)),
            ecs_fill(next, next + 49_999, Some(now)),
            format!(
                "UPDATE ecs_order_info SET weight_g = weight_g + 1 WHERE order_id > {lo} AND order_id <= {}",
                lo + 50_000
            ),
            format!(
                "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code, location, \
                 description, is_updated, time_modified) SELECT seq, {round}, {now}, 300, 'hub', \
                 'moved', 0, FROM_UNIXTIME({now}) FROM seq_1_to_100000"
            ),
        ];
        next += 50_000;
        for sql in &changes {
            conn.query_drop(sql).await.unwrap();
        }
        reset_peak_rss();
        let (wall, reports) = run(&pipeline).await;
        let applied: u64 = reports.iter().map(|r| r.rows_extracted).sum();
        print_cycle(
            &format!(
                "binlog round {}: 400k row changes ({applied} change rows read; {:.0} changes/s, peak RSS {:.0} MiB)",
                round + 1,
                400_000.0 / wall.as_secs_f64(),
                peak_rss_mib()
            ),
            wall,
            &reports,
        );
        walls.push(wall);
    }
    let rate = |d: &Duration| 400_000.0 / d.as_secs_f64();
    let (slowest, fastest) = (walls.iter().max().unwrap(), walls.iter().min().unwrap());
    let (slow_rate, fast_rate) = (rate(slowest), rate(fastest));
    let wall = median(walls);
    println!(
        "binlog mode, 400k row changes per run, median of 3: {:.2} s = {:.0} changes/s \
         (min–max {slow_rate:.0}–{fast_rate:.0})",
        wall.as_secs_f64(),
        rate(&wall)
    );
    conn.query_drop(format!("DROP DATABASE {work}"))
        .await
        .unwrap();
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (Some(mysql), Some(pg), Some(s3)) = (
        env("MARTSYNC_TEST_MYSQL_URL"),
        env("MARTSYNC_TEST_POSTGRES_URL"),
        env("MARTSYNC_TEST_S3_URL"),
    ) else {
        eprintln!(
            "production bench: set the services' URLs first: eval \"$(scripts/services.sh)\""
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = env("MARTSYNC_BENCH_ONLY").unwrap_or_default();
    runtime.block_on(async {
        if only.is_empty() || only == "extract" {
            bench_extract(&mysql).await;
        }
        if only.is_empty() || only == "load" {
            bench_initial_load(&mysql, &pg, &s3).await;
        }
        if only.is_empty() || only == "cycle" {
            bench_cycle(&mysql, &pg, &s3).await;
        }
        if only.is_empty() || only == "binlog" {
            bench_binlog(&mysql, &pg, &s3).await;
        }
        // The marts' schema every scenario made anew (`pipeline`): gone with the run.
        let schema = format!("bench_{}", std::process::id());
        pg_execute(&pg, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    });
}
