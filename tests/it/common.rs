//! Helpers shared by the integration tests: temporary workspaces, configs, and a canonical
//! dump of a mart (or of expected rows) as sorted text lines.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use martsync::config::{Config, RawConfig};
use martsync::pipeline::Pipeline;

/// A temporary folder with a config pointing its stage and warehouse inside it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn warehouse(&self) -> PathBuf {
        self.path("warehouse.duckdb")
    }

    /// Config text with the given source and extra TOML (e.g. `[[tables]]` sections).
    pub fn config_text(&self, source: &Path, extra: &str) -> String {
        format!(
            "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n{extra}",
            source.display(),
            self.path("stage").display(),
            self.warehouse().display()
        )
    }

    /// Writes the config file and returns its path.
    pub fn write_config(&self, source: &Path, extra: &str) -> PathBuf {
        let path = self.path("martsync.toml");
        std::fs::write(&path, self.config_text(source, extra)).expect("write config");
        path
    }

    pub fn config(&self, source: &Path, extra: &str) -> Config {
        RawConfig::parse(&self.config_text(source, extra), "test")
            .and_then(|raw| raw.validate("test", &|_| None))
            .expect("valid test config")
    }

    pub async fn pipeline(&self, source: &Path, extra: &str) -> Pipeline {
        Pipeline::open(self.config(source, extra))
            .await
            .expect("pipeline opens")
    }

    /// Replays `dir` with a fresh pipeline (closed again before returning).
    pub async fn replay(&self, dir: &Path, extra: &str) {
        let pipeline = self.pipeline(dir, extra).await;
        let tables = pipeline.config.tables.clone();
        for (mart, result) in pipeline
            .replay(dir, &tables, std::sync::Arc::new(|_: &str, _, _| {}))
            .await
        {
            result.unwrap_or_else(|e| panic!("replay of {mart} failed: {e}"));
        }
    }

    /// The mart's rows, canonical and sorted (the warehouse must not be open elsewhere).
    pub fn dump(&self, mart: &str) -> Vec<String> {
        let conn = duckdb::Connection::open(self.warehouse()).expect("open warehouse");
        dump_query(&conn, &format!("SELECT * FROM \"{mart}\""))
    }

    /// `SELECT count(*)` of a query on the warehouse.
    pub fn count(&self, sql: &str) -> i64 {
        let conn = duckdb::Connection::open(self.warehouse()).expect("open warehouse");
        conn.query_row(sql, [], |r| r.get(0)).expect("count query")
    }
}

/// Every row of `sql` (one text column) on the DuckDB file at `path`, sorted.
pub fn duckdb_strings(path: &Path, sql: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(path).expect("open the DuckDB warehouse");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

/// A tracking row of the mart's source table: order `order_id` at `update_time` (epoch
/// seconds), its `last_event` text `event`.
pub fn uti_row(order_id: i64, update_time: i64, event: &str) -> martsync::generate::Uti {
    martsync::generate::Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 7,
        carrier_code: None,
        status: 1,
        last_code: None,
        last_event: Some(event.into()),
        last_location: None,
        delivered_at: None,
        add_time: 1_767_225_600,
        update_time: update_time as i32,
    }
}

/// Every row of `sql`, each as the Debug form of its DuckDB values, sorted.
pub fn dump_query(conn: &duckdb::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("prepare dump");
    let mut rows = stmt.query([]).expect("run dump");
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect("dump row") {
        let stmt = row.as_ref();
        let values: Vec<String> = (0..stmt.column_count())
            .map(|i| {
                format!(
                    "{:?}",
                    row.get::<_, duckdb::types::Value>(i).expect("value")
                )
            })
            .collect();
        out.push(values.join(" | "));
    }
    out.sort();
    out
}

/// Expected rows, dumped exactly as a mart holding them would be (via Parquet and DuckDB).
pub fn dump_expected(batches: &[RecordBatch]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("expected.parquet");
    let schema = batches[0].schema();
    let bytes = martsync::stage::encode_parquet(&schema, batches, Default::default())
        .expect("encode expected rows");
    std::fs::write(&path, bytes).expect("write expected rows");
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    dump_query(
        &conn,
        &format!("SELECT * FROM read_parquet('{}')", path.display()),
    )
}

/// Runs the martsync binary with `args` in `cwd`.
pub fn martsync(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args(args)
        .current_dir(cwd)
        .env("MARTSYNC_LOG", "martsync=warn")
        .output()
        .expect("martsync runs")
}

/// Runs the martsync binary with `args` in `cwd`; it must succeed (its stderr otherwise).
pub fn martsync_ok(cwd: &Path, args: &[&str]) -> std::process::Output {
    succeeded(martsync(cwd, args))
}

/// `out`, after asserting its process succeeded (showing its stderr when not).
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file below `dir` (none if it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

/// A service's URL from the environment (`scripts/services.sh` exports them). A test whose
/// service is not set fails, naming it and how to start it, unless the developer skipped
/// that service by name (`MARTSYNC_SKIP_SERVICES=mysql,postgres,s3`, or `all`): a test that
/// could not run never passes silently. Under `CI=true` nothing may be skipped.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip_or_fail(service_of(var), &format!("{var} is not set"));
            None
        }
    }
}

/// The name a developer skips the tests of a variable's service by.
fn service_of(var: &str) -> &'static str {
    if var.contains("MYSQL") {
        "mysql"
    } else if var.contains("POSTGRES") {
        "postgres"
    } else if var.contains("S3") || var.starts_with("AWS_") {
        "s3"
    } else if var.contains("SQLGLOT") {
        "sqlglot"
    } else {
        panic!("no service is known for {var}")
    }
}

/// Returns if `MARTSYNC_SKIP_SERVICES` names `service` (or `all`) outside CI, after saying so
/// on stderr; panics with `why` otherwise. `service` is a service (`mysql`, `postgres`,
/// `s3`), `chromium`, or `fault-injection` (the crash tests' cargo feature).
pub fn skip_or_fail(service: &str, why: &str) {
    let skipped = std::env::var("MARTSYNC_SKIP_SERVICES").unwrap_or_default();
    let named = skipped
        .split(',')
        .map(str::trim)
        .any(|s| s == service || s == "all");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: under CI=true every test must run (scripts/test.sh starts the services)");
    }
    if !named {
        panic!(
            "{why}: start the services (`eval \"$(scripts/services.sh)\"`; README, \
             \"Services for the production-path tests\"), or skip the tests that need \
             {service} by name: MARTSYNC_SKIP_SERVICES={service}"
        );
    }
    eprintln!("skipped ({service} in MARTSYNC_SKIP_SERVICES): {why}");
}

/// Whether the crash points are compiled in (`--features fault-injection`); if not, the
/// crash tests fail unless skipped by name ([`skip_or_fail`]).
pub fn fault_injection_on() -> bool {
    if !cfg!(feature = "fault-injection") {
        skip_or_fail(
            "fault-injection",
            "the crash tests need --features fault-injection (scripts/test.sh sets it)",
        );
        return false;
    }
    true
}

/// A name no other test (or earlier run) uses: `t_<pid>_<counter>_<nanos>`.
pub fn unique_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_{}_{n}_{nanos}", std::process::id())
}

/// One test's own PostgreSQL schema: `url` connects with it as the search path, so marts
/// and the run ledger land there.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub async fn new(base: &str) -> Self {
        let name = unique_name();
        let client = pg_connect(base).await;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        PgSchema {
            url: format!("{base}{sep}options=-csearch_path%3D{name}"),
            name,
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        pg_connect(&self.url).await
    }

    /// Every row of `sql` (one text column), sorted.
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        text_rows(&self.client().await, sql).await
    }

    /// Every row of each mart of the design (as [`canonical_select`]), in config order; a
    /// mart that does not exist is empty.
    pub async fn mart_dumps(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for table in &parse_config("").tables {
            let exists = self
                .count(&format!(
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = '{}' AND table_name = '{}'",
                    self.name, table.name
                ))
                .await;
            out.push(if exists == 0 {
                Vec::new()
            } else {
                self.rows(&format!(
                    "{} FROM \"{}\"",
                    canonical_select(&table.schema, false),
                    table.name
                ))
                .await
            });
        }
        out
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }
}

/// Every row of `sql` (one text column, NULL as `NULL`), sorted.
pub async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let mut rows: Vec<String> = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| {
            r.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".into())
        })
        .collect();
    rows.sort();
    rows
}

pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = url
        .parse::<tokio_postgres::Config>()
        .expect("postgres URL")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL: {e}"));
    tokio::spawn(connection);
    client
}

/// One test's own MariaDB database; `url` points at it.
pub struct MyDb {
    pub url: String,
    pub pool: mysql_async::Pool,
}

impl MyDb {
    pub async fn new(base: &str) -> Self {
        use mysql_async::prelude::Queryable;
        let name = unique_name();
        let mut conn = mysql_async::Conn::from_url(base)
            .await
            .expect("connect to MariaDB");
        conn.query_drop(format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let mut url = url::Url::parse(base).expect("mysql URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        MyDb {
            pool: mysql_async::Pool::new(url.as_str()),
            url,
        }
    }

    /// Runs statements separated by `;` at line ends.
    pub async fn exec(&self, sql: &str) {
        use mysql_async::prelude::Queryable;
        let mut conn = self.pool.get_conn().await.expect("MariaDB connection");
        conn.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Creates the three source tables from the project's DDL.
    pub async fn create_sources(&self) {
        for name in martsync::schema::builtin_source_names() {
            let ddl = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("sql/source/{name}.sql")),
            )
            .expect("source DDL");
            self.exec(&ddl).await;
        }
    }

    /// Every row of `sql` (one text column), sorted.
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        use mysql_async::prelude::Queryable;
        let mut conn = self.pool.get_conn().await.expect("MariaDB connection");
        // TIMESTAMP columns print in the session's zone; the marts hold UTC.
        conn.query_drop("SET time_zone = '+00:00'")
            .await
            .expect("set time zone");
        let mut rows: Vec<String> = conn
            .query::<Option<String>, _>(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|v| v.unwrap_or_else(|| "NULL".into()))
            .collect();
        rows.sort();
        rows
    }
}

/// A config for the production path: given source, stage and warehouse URLs.
pub fn service_config(source: &str, stage: &str, warehouse: &str, extra: &str) -> String {
    format!(
        "[source]\nurl = \"{source}\"\n[stage]\nurl = \"{stage}\"\n[warehouse]\nurl = \"{warehouse}\"\n{extra}"
    )
}

/// Parses and validates config text.
pub fn parse_config(text: &str) -> Config {
    RawConfig::parse(text, "test")
        .and_then(|raw| raw.validate("test", &|_| None))
        .expect("valid test config")
}

/// Each mart row as one text line, the same on MySQL (`mysql = true`) and PostgreSQL:
/// `SELECT` of the columns joined by `|`, NULL as `NULL`, timestamps to the microsecond.
pub fn canonical_select(schema: &martsync::schema::TableSchema, mysql: bool) -> String {
    use martsync::schema::WarehouseType as W;
    let exprs: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let col = if mysql {
                format!("`{}`", c.name)
            } else {
                format!("\"{}\"", c.name)
            };
            let text = match (c.mapped.warehouse, mysql) {
                (W::Timestamp | W::TimestampTz, true) => {
                    format!("DATE_FORMAT({col}, '%Y-%m-%d %H:%i:%s.%f')")
                }
                (W::Timestamp, false) => format!("to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"),
                (W::TimestampTz, false) => {
                    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
                }
                (_, true) => format!("CAST({col} AS CHAR)"),
                (_, false) => format!("CAST({col} AS TEXT)"),
            };
            if mysql {
                format!("IFNULL({text}, 'NULL')")
            } else {
                format!("coalesce({text}, 'NULL')")
            }
        })
        .collect();
    if mysql {
        format!("SELECT CONCAT_WS('|', {})", exprs.join(", "))
    } else {
        format!("SELECT concat_ws('|', {})", exprs.join(", "))
    }
}

/// A replay history with late and tied versions: `cycles` batches 8 days apart.
pub fn history_params(orders: usize, cycles: usize) -> martsync::generate::Params {
    martsync::generate::Params {
        orders,
        cycles,
        cycle_secs: 8 * 86_400,
        late_rate: 0.05,
        tie_rate: 0.05,
        ..martsync::generate::Params::demo()
    }
}

/// A TCP proxy in front of a real service, which a test can cut as if the service went
/// down (every open connection is shut, new ones are refused) and bring back.
pub struct Proxy {
    pub port: u16,
    state: std::sync::Arc<ProxyState>,
}

struct ProxyState {
    target: String,
    down: std::sync::atomic::AtomicBool,
    /// Bytes still forwarded (both directions) before the proxy goes down by itself.
    budget: std::sync::atomic::AtomicI64,
    forwarded: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<Vec<std::net::TcpStream>>,
}

impl ProxyState {
    fn go_down(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = std::sync::Arc::new(ProxyState {
            target: target.to_string(),
            down: false.into(),
            budget: i64::MAX.into(),
            forwarded: 0.into(),
            open: Default::default(),
        });
        let shared = std::sync::Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if shared.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&shared.target) else {
                    continue;
                };
                {
                    let mut open = shared.open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let state = std::sync::Arc::clone(&shared);
                    std::thread::spawn(move || pump(from, to, &state));
                }
            }
        });
        Proxy { port, state }
    }

    /// Bytes forwarded so far, both directions.
    pub fn forwarded(&self) -> u64 {
        self.state
            .forwarded
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Goes down once `bytes` more bytes have been forwarded.
    pub fn cut_after(&self, bytes: u64) {
        self.state
            .budget
            .store(bytes as i64, std::sync::atomic::Ordering::SeqCst);
    }

    /// Back up: forwards again, without limit.
    pub fn restore(&self) {
        use std::sync::atomic::Ordering;
        self.state.budget.store(i64::MAX, Ordering::SeqCst);
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// `url` with its `host:port` pointing at the proxy.
    pub fn url(&self, url: &str) -> String {
        url.replacen(&self.state.target, &format!("127.0.0.1:{}", self.port), 1)
    }
}

fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream, state: &ProxyState) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.down.load(Ordering::SeqCst) {
            break;
        }
        if state.budget.fetch_sub(n as i64, Ordering::SeqCst) - (n as i64) < 0 {
            state.go_down();
            break;
        }
        state.forwarded.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// `host:port` of a service URL.
pub fn host_port(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("service URL");
    format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().expect("explicit port")
    )
}

/// Starts `command` (a martsync run or replay, logging at info), and SIGKILLs it once it has
/// logged `commits` committed cycles since it started, `then` later: kills land where the
/// process is, not where a clock guessed it would be. Returns whether the kill landed (the
/// process had not ended by itself).
pub fn kill_after_commits(
    mut command: std::process::Command,
    commits: usize,
    then: std::time::Duration,
) -> bool {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicUsize, Ordering};
    command
        .env("MARTSYNC_LOG", "martsync=info")
        .env_remove("MARTSYNC_FAIL_AT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("martsync starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&seen);
    // Drains stderr to the end, so the process never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            match line {
                Ok(line) if line.contains("Cycle committed") => {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    while seen.load(Ordering::SeqCst) < commits && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(then);
    let landed = child.try_wait().unwrap().is_none();
    if landed {
        child.kill().unwrap(); // SIGKILL: no cleanup, a transaction may be open
    }
    child.wait().unwrap();
    reader.join().unwrap();
    landed
}

/// The three marts of the design, in config order.
pub const DESIGN_MARTS: [&str; 3] = [
    "mart_uni_tracking_info",
    "mart_ecs_order_info",
    "mart_uni_tracking_spath",
];

/// A finished command's stdout, as text.
pub fn stdout_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A finished command's stderr, as text.
pub fn stderr_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
