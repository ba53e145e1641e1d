//! The live Redshift suite, for anyone with a cluster (`scripts/redshift-check.sh`): the
//! warehouse contract and MariaDB → S3 → Redshift cycles against a real cluster. No Redshift
//! runs here, so the suite is compiled only with the `redshift-live` feature (CI type-checks
//! it, and runs none of it: the one suite it may leave out). Built, its tests fail unless
//! these are set:
//!
//! - `MARTSYNC_TEST_REDSHIFT_URL`: `redshift://user:password@host:5439/database`, a user that
//!   may create schemas;
//! - `MARTSYNC_TEST_REDSHIFT_S3`: `s3://bucket/prefix` in the cluster's region (AWS
//!   credentials in the environment, as for martsync);
//! - `MARTSYNC_TEST_REDSHIFT_IAM_ROLE`: the role the cluster's COPY reads that prefix as;
//! - and, for the cycles, `MARTSYNC_TEST_MYSQL_URL` (the services script's MariaDB).
//!
//! Each test works in a schema of its own (`martsync_<unique>`, the connection's search
//! path), dropped at the end, also when the test fails.

use std::time::Duration;

use martsync::config::WarehouseTimeouts;
use martsync::warehouse::Dialect;
use martsync::warehouse::pgwire::Pool;

use crate::common::{MyDb, parse_config, service_config, unique_name};
use crate::e2e::{MartReader, run_rounds};

/// The cluster, the stage and the role, in a scratch schema of this test's own.
struct Live {
    /// The cluster URL with the scratch schema as its search path.
    url: String,
    base: String,
    s3: String,
    iam_role: String,
    schema: String,
}

fn required(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{var} is not set: the live Redshift suite needs MARTSYNC_TEST_REDSHIFT_URL, \
             MARTSYNC_TEST_REDSHIFT_S3 and MARTSYNC_TEST_REDSHIFT_IAM_ROLE (README, \"Redshift\")"
            )
        })
}

impl Live {
    async fn new() -> Live {
        let base = required("MARTSYNC_TEST_REDSHIFT_URL");
        let schema = unique_name();
        let live = Live {
            url: {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-csearch_path%3D{schema}")
            },
            s3: format!("{}/{schema}", required("MARTSYNC_TEST_REDSHIFT_S3")),
            iam_role: required("MARTSYNC_TEST_REDSHIFT_IAM_ROLE"),
            base,
            schema,
        };
        live.execute_on(&live.base, &format!("CREATE SCHEMA {}", live.schema))
            .await;
        live
    }

    async fn client(url: &str) -> tokio_postgres::Client {
        let pool = Pool::open(url, Dialect::Redshift, WarehouseTimeouts::default())
            .await
            .unwrap_or_else(|e| panic!("connect to Redshift: {e}"));
        pool.client("live").await.unwrap()
    }

    async fn execute_on(&self, url: &str, sql: &str) {
        Live::client(url)
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn count(&self, sql: &str) -> i64 {
        Live::client(&self.url)
            .await
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// martsync's config for this cluster, stage and role.
    fn config(&self, source: &str, extra: &str) -> String {
        service_config(source, &self.s3, &self.url, extra).replace(
            "[warehouse]\n",
            &format!("[warehouse]\niam_role = \"{}\"\n", self.iam_role),
        )
    }
}

impl MartReader for Live {
    async fn rows(&self, sql: &str) -> Vec<String> {
        crate::common::text_rows(&Live::client(&self.url).await, sql).await
    }

    fn canonical_select(&self, schema: &martsync::schema::TableSchema) -> String {
        canonical_select_redshift(schema)
    }
}

impl Drop for Live {
    /// Drops the scratch schema, also after a failed assertion.
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                if let Ok(pool) =
                    Pool::open(&base, Dialect::Redshift, WarehouseTimeouts::default()).await
                    && let Ok(client) = pool.client("live").await
                {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            })
        })
        .join();
    }
}

/// The warehouse contract (version guard, idempotent run ids, unchanged rows, the ledger)
/// on a real cluster, and a COPY that fails on the staged file: the run is rolled back and
/// the error names the mart, the statement and the run's file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_live_keeps_the_warehouse_contract() {
    let live = Live::new().await;
    let ws = crate::common::Workspace::new();
    let config = parse_config(&live.config(
        &format!("files://{}", ws.path("unused").display()),
        crate::warehouse_contract::UTI_ONLY,
    ));
    let pipeline = martsync::pipeline::Pipeline::open(config).await.unwrap();
    crate::warehouse_contract::keeps_the_contract(&pipeline).await;
    assert_eq!(
        live.rows(crate::warehouse_contract::CONTRACT_DUMP).await,
        crate::warehouse_contract::CONTRACT_ROWS
    );
    assert_eq!(live.count("SELECT count(*) FROM martsync_runs").await, 3);

    // A staged file COPY cannot load (a `status` that is text): rolled back, explained.
    let before = live.rows(crate::warehouse_contract::CONTRACT_DUMP).await;
    let error = crate::warehouse_contract::merge_unloadable_file(&pipeline)
        .await
        .expect_err("a COPY of a text status must fail");
    let text = error.to_string();
    assert!(
        text.contains("mart_uni_tracking_info") && text.contains("load_stage"),
        "{text}"
    );
    eprintln!("the failed COPY, as reported: {text}");
    assert_eq!(
        live.rows(crate::warehouse_contract::CONTRACT_DUMP).await,
        before
    );
    assert_eq!(live.count("SELECT count(*) FROM martsync_runs").await, 3);
}

/// MariaDB → S3 → Redshift through the `martsync` binary: cycles checked row for row against
/// the source, an idle cycle (no COPY, a ledger row), two marts merging at once, and a
/// column the source gains (`allow_new_columns`), extracted from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_live_cycles_match_the_source() {
    let live = Live::new().await;
    let db = MyDb::new(&required("MARTSYNC_TEST_MYSQL_URL")).await;
    db.create_sources().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[[tables]]\nname = \"mart_uni_tracking_info\"\nallow_new_columns = true\n\
                 [[tables]]\nname = \"mart_ecs_order_info\"\n\
                 [[tables]]\nname = \"mart_uni_tracking_spath\"\n";
    let config_text = live.config(&db.url, extra);
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    let config = parse_config(&config_text);
    run_rounds(&db, &live, dir.path(), &config, 4, |_, _| {}).await;
    let runs = live.count("SELECT count(*) FROM martsync_runs").await;

    // Idle: nothing changed in the source; each mart commits a cycle of zero rows.
    crate::common::martsync_ok(dir.path(), &["run"]);
    assert_eq!(
        live.count("SELECT count(*) FROM martsync_runs").await,
        runs + 3
    );

    // Two marts at once, in two processes: both commit (the ledger lock serializes their
    // DML instead of Redshift cancelling one with error 1023).
    db.exec(
        "UPDATE uni_tracking_info SET update_time = update_time + 60, last_event = 'again' \
         ORDER BY order_id LIMIT 20",
    )
    .await;
    let spawn = |table: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_martsync"))
            .args(["run", "--table", table])
            .current_dir(dir.path())
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("mart_uni_tracking_info").unwrap());
        let b = s.spawn(|| spawn("mart_uni_tracking_spath").unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [a, b] {
        crate::common::succeeded(out);
    }
    assert_eq!(
        live.count("SELECT count(*) FROM mart_uni_tracking_info WHERE last_event = 'again'")
            .await,
        20
    );

    // The source gains a column: the mart gains it and the next rows carry it.
    db.exec("ALTER TABLE uni_tracking_info ADD COLUMN sort_note VARCHAR(20) NULL")
        .await;
    db.exec(
        "UPDATE uni_tracking_info SET update_time = update_time + 120, sort_note = 'late' \
         ORDER BY order_id LIMIT 5",
    )
    .await;
    std::thread::sleep(Duration::from_secs(1));
    crate::common::martsync_ok(dir.path(), &["run"]);
    assert_eq!(
        live.count("SELECT count(*) FROM mart_uni_tracking_info WHERE sort_note = 'late'")
            .await,
        5
    );

    // Rows deleted in MySQL leave the mart by a reconcile (UNLOAD of the window's keys, the
    // key diff, a COPY of the missing keys and DELETE … USING).
    db.exec("DELETE FROM uni_tracking_info ORDER BY order_id LIMIT 3")
        .await;
    crate::common::martsync_ok(
        dir.path(),
        &[
            "reconcile",
            "--table",
            "mart_uni_tracking_info",
            "--window",
            "3650d",
            "--max-deletes",
            "3",
        ],
    );
    let source = db
        .rows("SELECT CAST(count(*) AS CHAR) FROM uni_tracking_info")
        .await;
    assert_eq!(
        live.count("SELECT count(*) FROM mart_uni_tracking_info")
            .await
            .to_string(),
        source[0]
    );
}

/// Binlog mode into Redshift: the snapshot, then a cycle of updates (one lowering a
/// version), deletes and inserts over the three marts, each mart equal to its source after
/// both: the changes plan (COPY with the change marker, DELETE … USING of every touched key,
/// the deleted rows dropped from the temp table, INSERT) and its ledger position on a cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_live_binlog_cycles_match_the_source() {
    let live = Live::new().await;
    let db = MyDb::new(&required("MARTSYNC_TEST_MYSQL_URL")).await;
    db.create_sources().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
                 [[tables]]\nname = \"mart_ecs_order_info\"\n\
                 [[tables]]\nname = \"mart_uni_tracking_spath\"\n";
    let config_text =
        live.config(&db.url, extra)
            .replacen("[source]\n", "[source]\nmode = \"binlog\"\n", 1);
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    let config = parse_config(&config_text);
    let t = 1_767_225_600;
    let mut sql = Vec::new();
    for o in 1..=20 {
        sql.push(format!(
            "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
             update_time) VALUES ({o}, 'TN{o}', 7, 1, {t}, {})",
            t + o
        ));
        sql.push(format!(
            "INSERT INTO ecs_order_info VALUES ({o}, 'ON{o}', 7, NULL, 'DE', 100, 12.50, 'EUR', {t})"
        ));
        sql.push(format!(
            "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code) VALUES ({o}, 1, {t}, 10)"
        ));
    }
    db.exec(&sql.join(";\n")).await;
    let check = |when: &'static str| {
        let (db, live, config) = (&db, &live, &config);
        async move {
            for table in &config.tables {
                let mart = live
                    .rows(&format!(
                        "{} FROM \"{}\"",
                        live.canonical_select(&table.schema),
                        table.name
                    ))
                    .await;
                let source = db
                    .rows(&format!(
                        "{} FROM `{}`",
                        crate::common::canonical_select(&table.schema, true),
                        table.schema.name
                    ))
                    .await;
                assert_eq!(mart, source, "{} {when}", table.name);
            }
        }
    };
    crate::common::martsync_ok(dir.path(), &["run"]);
    check("after the snapshot").await;
    db.exec(&format!(
        "UPDATE uni_tracking_info SET update_time = {t}, last_event = 'back' WHERE order_id = 5;\n\
         DELETE FROM uni_tracking_info WHERE order_id IN (6, 7);\n\
         UPDATE ecs_order_info SET weight_g = 999 WHERE order_id = 8;\n\
         UPDATE uni_tracking_spath SET description = 'corrected', is_updated = 1 WHERE order_id = 9;\n\
         DELETE FROM uni_tracking_spath WHERE order_id = 10;\n\
         INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES (21, 'TN21', 7, 1, {t}, {t})"
    ))
    .await;
    crate::common::martsync_ok(dir.path(), &["run"]);
    check("after the binlog cycle").await;
    assert_eq!(
        live.count("SELECT count(*) FROM martsync_runs WHERE source_position IS NOT NULL")
            .await,
        6
    );
}

/// `maintain` on a cluster: `svv_table_info` is readable by the martsync user, the plan's
/// statements run outside any transaction, and the marts keep their rows; the ledger and
/// the gauges read back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_live_maintains_the_marts() {
    let live = Live::new().await;
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "files://{}",
        martsync::config::demo_fixtures_dir().display()
    );
    // Thresholds of 0: every upkeep statement runs on any mart with deleted rows.
    let config_text = live.config(
        &source,
        "[maintenance]\nsort_above = 0\ndelete_above = 0\nanalyze_above = 0\n",
    );
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    crate::common::martsync_ok(dir.path(), &["run"]);
    let rows = live
        .count("SELECT count(*) FROM mart_uni_tracking_info")
        .await;
    live.execute_on(
        &live.url,
        "DELETE FROM mart_uni_tracking_info WHERE order_id % 10 = 0",
    )
    .await;
    let left = live
        .count("SELECT count(*) FROM mart_uni_tracking_info")
        .await;
    assert!(left < rows);
    let out = crate::common::martsync_ok(dir.path(), &["maintain"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}");
    assert!(text.contains("rows stored"), "{text}");
    assert_eq!(
        live.count("SELECT count(*) FROM mart_uni_tracking_info")
            .await,
        left
    );
    let config = parse_config(&config_text);
    let pipeline = martsync::pipeline::Pipeline::open(config).await.unwrap();
    let gauges = pipeline.gauges(&pipeline.config.tables).await;
    assert_eq!(gauges.len(), 3);
    let status = pipeline
        .warehouse
        .status(&pipeline.config.tables[0], 3)
        .await
        .unwrap();
    assert!(
        status.recent_runs[0].timings.iter().count() > 0,
        "{status:?}"
    );
}

/// `compare --with warehouse:TABLE` and `seed --from TABLE` read tables of the cluster
/// through UNLOAD into the stage, and leave nothing there: the old pipeline's staging table
/// is compared with the mart, then seeds the rows the mart lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_live_compares_and_seeds_from_warehouse_tables() {
    let live = Live::new().await;
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "files://{}",
        martsync::config::demo_fixtures_dir().display()
    );
    let config_text = live.config(&source, "");
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    crate::common::martsync_ok(dir.path(), &["run"]);
    live.execute_on(
        &live.url,
        "CREATE TABLE old_uti AS SELECT * FROM mart_uni_tracking_info; \
         DELETE FROM mart_uni_tracking_info WHERE order_id % 2 = 0",
    )
    .await;
    let missing = live
        .count("SELECT count(*) FROM old_uti WHERE order_id % 2 = 0")
        .await;
    assert!(missing > 0);
    let compare = |dir: &std::path::Path| {
        let out = crate::common::martsync(
            dir,
            &[
                "compare",
                "--table",
                "mart_uni_tracking_info",
                "--with",
                "warehouse:old_uti",
                "--json",
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        json
    };
    let before = compare(dir.path());
    assert_eq!(before["differences"], missing, "{before}");
    assert_eq!(before["result"]["only_right"]["keys"], missing, "{before}");

    crate::common::martsync_ok(
        dir.path(),
        &[
            "seed",
            "--table",
            "mart_uni_tracking_info",
            "--from",
            "old_uti",
        ],
    );
    let after = compare(dir.path());
    assert_eq!(after["differences"], 0, "{after}");

    // The unloaded files were taken out of the stage.
    let config = parse_config(&config_text);
    let stage = martsync::stage::open(&config.stage).await.unwrap();
    let left = stage.list("mart_uni_tracking_info").await.unwrap();
    assert!(
        left.iter().all(|f| !f.key.contains("/export-")),
        "{:?}",
        left.iter().map(|f| &f.key).collect::<Vec<_>>()
    );
}

/// [`crate::common::canonical_select`] in Redshift's SQL (no `concat_ws`; `TEXT` is only 256 bytes there).
pub fn canonical_select_redshift(schema: &martsync::schema::TableSchema) -> String {
    use martsync::schema::WarehouseType as W;
    let exprs: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let col = format!("\"{}\"", c.name);
            let text = match c.mapped.warehouse {
                W::Timestamp => format!("to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"),
                W::TimestampTz => {
                    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
                }
                _ => format!("CAST({col} AS VARCHAR(65535))"),
            };
            format!("coalesce({text}, 'NULL')")
        })
        .collect();
    format!("SELECT {}", exprs.join(" || '|' || "))
}
