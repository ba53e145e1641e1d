//! The mart equals the source: rows a cycle reads from MySQL are its current rows and replace
//! the mart's whatever their version (a transaction that committed late can leave MySQL's row
//! with an older `update_time`), for the mart, its Option A buffer and its Gap 1 refresh;
//! replayed files keep the version guard; `version_guard` overrides both; runs of one mart
//! are held end to end, so the run that extracted last commits last.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use martsync::generate::{FileFormat, uti_batch, write_batch};
use martsync::pipeline::{Input, Pipeline};

use crate::common::{MyDb, PgSchema, Workspace, martsync, parse_config, service_url, uti_row};

const T: i64 = 1_767_225_600; // 2026-01-01
const UTI: &str = "mart_uni_tracking_info";
const BUFFER: &str = "stg_uni_tracking_info";
const ECS: &str = "mart_ecs_order_info";

/// The tracking mart with an Option A buffer, and the ecs mart refreshed from tracking.
const TABLES: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
    [[tables.targets]]\nname = \"stg_uni_tracking_info\"\nretention = \"20d\"\n\
    [[tables]]\nname = \"mart_ecs_order_info\"\nrefresh_from = \"uni_tracking_info\"\n";

/// Columns compared, as one text per row, the same on MariaDB, PostgreSQL and DuckDB.
const UTI_COLUMNS: &[&str] = &[
    "order_id",
    "tracking_no",
    "status",
    "last_event",
    "update_time",
];
const ECS_COLUMNS: &[&str] = &["order_id", "order_no", "weight_g", "add_time"];

fn select(columns: &[&str], table: &str, mysql: bool) -> String {
    let text: Vec<String> = columns
        .iter()
        .map(|c| {
            if mysql {
                format!("IFNULL(CAST(`{c}` AS CHAR), 'NULL')")
            } else {
                format!("coalesce(CAST(\"{c}\" AS TEXT), 'NULL')")
            }
        })
        .collect();
    if mysql {
        format!("SELECT CONCAT_WS('|', {}) FROM `{table}`", text.join(", "))
    } else {
        format!(
            "SELECT concat_ws('|', {}) FROM \"{table}\"",
            text.join(", ")
        )
    }
}

/// Where the marts are.
enum Marts {
    DuckDb(PathBuf),
    Postgres(PgSchema),
}

impl Marts {
    fn url(&self) -> String {
        match self {
            Marts::DuckDb(path) => format!("duckdb://{}", path.display()),
            Marts::Postgres(pg) => pg.url.clone(),
        }
    }

    /// Every row of `sql` (one text column), sorted.
    async fn rows(&self, sql: &str) -> Vec<String> {
        match self {
            Marts::Postgres(pg) => pg.rows(sql).await,
            Marts::DuckDb(path) => crate::common::duckdb_strings(path, sql),
        }
    }

    /// `rows_inserted` of the mart's last committed run.
    async fn last_inserted(&self, mart: &str) -> String {
        let sql = format!(
            "SELECT CAST(rows_inserted AS TEXT) FROM martsync_runs WHERE mart = '{mart}' \
             AND committed_at = (SELECT max(committed_at) FROM martsync_runs WHERE mart = '{mart}')"
        );
        self.rows(&sql).await.join(",")
    }
}

/// A MariaDB database with the source tables, the marts' warehouse and a folder whose
/// `martsync.toml` reads the one into the other.
struct Setup {
    db: MyDb,
    marts: Marts,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(postgres: bool) -> Option<Setup> {
        let mysql = service_url("MARTSYNC_TEST_MYSQL_URL")?;
        let dir = tempfile::tempdir().unwrap();
        let marts = if postgres {
            Marts::Postgres(PgSchema::new(&service_url("MARTSYNC_TEST_POSTGRES_URL")?).await)
        } else {
            Marts::DuckDb(dir.path().join("warehouse.duckdb"))
        };
        let db = MyDb::new(&mysql).await;
        db.create_sources().await;
        let setup = Setup { db, marts, dir };
        setup.configure("");
        Some(setup)
    }

    /// Writes `martsync.toml` with [`TABLES`], `uti_settings` added to the tracking mart.
    fn configure(&self, uti_settings: &str) {
        let tables = TABLES.replacen(
            "name = \"mart_uni_tracking_info\"\n",
            &format!("name = \"mart_uni_tracking_info\"\n{uti_settings}"),
            1,
        );
        std::fs::write(
            self.dir.path().join("martsync.toml"),
            format!(
                "[source]\nurl = \"{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n\
                 lock_timeout = \"60s\"\n{tables}",
                self.db.url,
                self.dir.path().join("stage").display(),
                self.marts.url()
            ),
        )
        .unwrap();
    }

    fn run(&self) {
        let out = martsync(self.dir.path(), &["run"]);
        assert!(
            out.status.success(),
            "martsync run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The mart's rows and the source table's, compared on `columns`.
    async fn mart_and_source(
        &self,
        mart: &str,
        source: &str,
        columns: &[&str],
    ) -> (Vec<String>, Vec<String>) {
        (
            self.marts.rows(&select(columns, mart, false)).await,
            self.db.rows(&select(columns, source, true)).await,
        )
    }

    async fn assert_marts_equal_the_source(&self, when: &str) {
        for (mart, source, columns) in [
            (UTI, "uni_tracking_info", UTI_COLUMNS),
            (BUFFER, "uni_tracking_info", UTI_COLUMNS),
            (ECS, "ecs_order_info", ECS_COLUMNS),
        ] {
            let (got, want) = self.mart_and_source(mart, source, columns).await;
            assert!(!want.is_empty());
            assert_eq!(got, want, "{mart} differs from the source {when}");
        }
    }
}

/// Sets an order's tracking row (inserting it if new), as a transaction stamped `update_time`.
fn tracking(order: i64, update_time: i64, event: &str) -> String {
    format!(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, last_event, \
         add_time, update_time) VALUES ({order}, 'TN{order}', 7, 1, '{event}', {T}, {update_time}) \
         ON DUPLICATE KEY UPDATE update_time = VALUES(update_time), last_event = VALUES(last_event), \
         status = status + 1"
    )
}

fn ecs_order(order: i64) -> String {
    format!(
        "INSERT INTO ecs_order_info VALUES ({order}, 'ON{order}', 7, 'ref', 'DE', 100, 12.50, \
         'EUR', {T})"
    )
}

/// Orders 1-3 created at T; the marts follow; order 1 is updated at T+100 ("Arrived at
/// hub"); then a transaction that began at T+40 commits late ("late commit"), leaving
/// MySQL's row of order 1 with the older stamp, and changing its ecs row too.
async fn a_late_commit_reaches_the_marts(postgres: bool) {
    let Some(setup) = Setup::new(postgres).await else {
        return;
    };
    let mut sql: Vec<String> = (1..=3).map(|o| tracking(o, T, "created")).collect();
    sql.extend((1..=3).map(ecs_order));
    setup.db.exec(&sql.join(";\n")).await;
    setup.run();
    setup
        .assert_marts_equal_the_source("after the first cycle")
        .await;

    setup.db.exec(&tracking(1, T + 100, "Arrived at hub")).await;
    setup.run();
    setup
        .assert_marts_equal_the_source("after the update")
        .await;

    setup
        .db
        .exec(&format!(
            "{};\nUPDATE ecs_order_info SET weight_g = 999 WHERE order_id = 1",
            tracking(1, T + 40, "late commit")
        ))
        .await;
    setup.run();
    setup
        .assert_marts_equal_the_source("after the late commit")
        .await;
    // The unchanged-row drop still works: orders 2 and 3 were read again (the lookback) and
    // not rewritten.
    assert_eq!(setup.marts.last_inserted(UTI).await, "1");

    // A source whose versions only grow can keep the guard: an older version is then
    // dropped, as configured.
    setup.configure("version_guard = \"always\"\n");
    setup.db.exec(&tracking(2, T - 10, "older")).await;
    setup.run();
    let (got, _) = setup
        .mart_and_source(UTI, "uni_tracking_info", UTI_COLUMNS)
        .await;
    assert!(
        got.contains(&format!("2|TN2|1|created|{T}")),
        "version_guard = \"always\" took the older version: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_marts_take_the_source_row_when_its_version_moves_backwards() {
    a_late_commit_reaches_the_marts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_marts_take_the_source_row_when_its_version_moves_backwards() {
    a_late_commit_reaches_the_marts(true).await;
}

/// A replay of a newer file, then an old one sent again: the guard keeps the newer row;
/// `version_guard = "never"` takes the last file's.
async fn a_resent_old_file_is_guarded(postgres: bool) {
    let files = [
        vec![uti_row(1, T + 100, "new"), uti_row(2, T, "two")],
        vec![uti_row(1, T, "old, sent again")],
    ];
    for (settings, want) in [
        ("", ["1|TN1|1|new|1767225700", "2|TN2|1|two|1767225600"]),
        (
            "version_guard = \"never\"\n",
            [
                "1|TN1|1|old, sent again|1767225600",
                "2|TN2|1|two|1767225600",
            ],
        ),
    ] {
        let ws = Workspace::new();
        let marts = if postgres {
            let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
                return;
            };
            Marts::Postgres(PgSchema::new(&url).await)
        } else {
            Marts::DuckDb(ws.warehouse())
        };
        let input = ws.path("input");
        for (i, rows) in files.iter().enumerate() {
            let path = input.join(format!("uni_tracking_info/b-{i}.parquet"));
            write_batch(&path, &uti_batch(rows), FileFormat::Parquet).unwrap();
        }
        let config = ws.path("replay.toml");
        std::fs::write(
            &config,
            format!(
                "[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n\
                 [[tables]]\nname = \"{UTI}\"\n{settings}",
                ws.path("stage").display(),
                marts.url()
            ),
        )
        .unwrap();
        let out = martsync(
            ws.dir.path(),
            &[
                "replay",
                "--config",
                config.to_str().unwrap(),
                "--from",
                input.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            marts.rows(&select(UTI_COLUMNS, UTI, false)).await,
            want,
            "replay with {settings:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_replay_keeps_the_newer_row_over_a_resent_old_file() {
    a_resent_old_file_is_guarded(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replay_keeps_the_newer_row_over_a_resent_old_file() {
    a_resent_old_file_is_guarded(true).await;
}

/// Starts `martsync run` in `dir` with extra environment variables.
fn spawn_run(dir: &Path, env: &[(&str, &Path)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_martsync"));
    command
        .args(["run", "--table", UTI])
        .current_dir(dir)
        .env("MARTSYNC_LOG", "martsync=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("martsync starts")
}

fn finished(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits (up to a minute) for `condition`, polling.
async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run A extracts and is held there (a fault-injection pause); the source's row then moves
/// backwards; run B starts and must wait for A's hold before it reads anything (seen in
/// `pg_locks`); A commits its older extraction, B then extracts and commits the newer one.
/// Had B read at once and committed first, A would have committed over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_extracted_earlier_never_commits_over_a_later_one() {
    if !crate::common::fault_injection_on() {
        return;
    }
    let Some(setup) = Setup::new(true).await else {
        return;
    };
    let Marts::Postgres(pg) = &setup.marts else {
        unreachable!()
    };
    setup.configure("");
    let sql: Vec<String> = (1..=3).map(|o| tracking(o, T, "created")).collect();
    setup.db.exec(&sql.join(";\n")).await;
    setup.run();
    setup.db.exec(&tracking(1, T + 100, "Arrived at hub")).await;

    let pause = setup.dir.path().join("pause");
    std::fs::create_dir_all(&pause).unwrap();
    let first = spawn_run(
        setup.dir.path(),
        &[
            ("MARTSYNC_PAUSE_AT", Path::new("after_extract")),
            ("MARTSYNC_PAUSE_DIR", &pause),
        ],
    );
    wait_for("run A to extract", async || {
        pause.join("after_extract.reached").exists()
    })
    .await;
    setup.db.exec(&tracking(1, T + 40, "late commit")).await;

    let second = spawn_run(setup.dir.path(), &[]);
    let waiting = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = 'martsync_hold_{UTI}' AND NOT l.granted"
    );
    wait_for("run B to wait for A's hold", async || {
        pg.count(&waiting).await == 1
    })
    .await;
    // Readers are not blocked meanwhile.
    assert_eq!(
        pg.count(&format!("SELECT count(*) FROM \"{UTI}\"")).await,
        3
    );

    std::fs::write(pause.join("after_extract.go"), "").unwrap();
    finished(first, "run A");
    finished(second, "run B");
    let (got, want) = setup
        .mart_and_source(UTI, "uni_tracking_info", UTI_COLUMNS)
        .await;
    assert_eq!(got, want, "the earlier extraction committed last");
    assert!(
        got.contains(&format!("1|TN1|3|late commit|{}", T + 40)),
        "{got:?}"
    );
}

/// DuckDB holds marts within the process (the only one that may write the file): a cycle
/// waits for another holder of its mart, and past `lock_timeout` fails without reading or
/// changing anything, after waiting that long and not much longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_a_held_mart_makes_another_cycle_wait_then_fail_unchanged() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    let config = parse_config(&format!(
        "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n\
         [warehouse]\nurl = \"duckdb://{}\"\nlock_timeout = \"1s\"\n",
        demo.display(),
        ws.path("stage").display(),
        ws.warehouse().display()
    ));
    let pipeline = Pipeline::open(config).await.expect("open");
    let table = pipeline
        .select_tables(&[UTI.to_string()])
        .unwrap()
        .remove(0);
    pipeline
        .cycle(&table, Input::Watermark)
        .await
        .expect("first cycle");
    let runs = || async {
        pipeline
            .warehouse
            .status(&table, 0)
            .await
            .expect("status")
            .runs
    };
    let before = runs().await;

    let held = pipeline.warehouse.hold(UTI).await.expect("hold");
    let started = Instant::now();
    let result = pipeline.cycle(&table, Input::Watermark).await;
    let took = started.elapsed();
    let error = result.expect_err("a cycle of a held mart must not run");
    assert!(
        matches!(error, martsync::Error::Locked { .. }),
        "not a lock error: {error}"
    );
    assert!(
        error
            .to_string()
            .contains("another run of this process holds mart"),
        "{error}"
    );
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(10)).contains(&took),
        "waited {took:?} for a 1s lock_timeout"
    );
    assert_eq!(runs().await, before, "the refused cycle committed a run");

    drop(held);
    pipeline
        .cycle(&table, Input::Watermark)
        .await
        .expect("cycle after release");
    assert_eq!(runs().await, before + 1);
}
