//! Crashes at every step of a cycle converge: the process aborts at a fault point
//! (`MARTSYNC_FAIL_AT`, feature `fault-injection`) or is SIGKILLed at random moments part-way
//! through a replay; replaying again gives marts equal, row for row, to one clean replay.
//! On DuckDB and on PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use martsync::fault::POINTS;
use martsync::generate::{self, FileFormat, Rng};

use crate::common::{PgSchema, Workspace, history_params, parse_config, service_url};

fn history(dir: &Path, orders: usize, cycles: usize) {
    let params = history_params(orders, cycles);
    generate::write_history(&generate::generate(&params), dir, [FileFormat::Parquet; 3]).unwrap();
}

fn replay(cwd: &Path, config: &Path, from: &Path, fail_at: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_martsync"));
    command
        .args(["replay", "--config"])
        .arg(config)
        .arg("--from")
        .arg(from)
        .current_dir(cwd)
        .env("MARTSYNC_LOG", "martsync=warn")
        .env_remove("MARTSYNC_FAIL_AT");
    if let Some(point) = fail_at {
        command.env("MARTSYNC_FAIL_AT", point);
    }
    command.output().unwrap()
}

fn ok(out: Output) {
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The warehouse a crash test runs on: a DuckDB workspace, or a PostgreSQL schema.
enum Target {
    DuckDb(Workspace),
    Postgres(Workspace, PgSchema),
}

impl Target {
    async fn new(postgres: Option<&str>) -> Self {
        match postgres {
            None => Target::DuckDb(Workspace::new()),
            Some(url) => Target::Postgres(Workspace::new(), PgSchema::new(url).await),
        }
    }

    fn ws(&self) -> &Workspace {
        match self {
            Target::DuckDb(ws) | Target::Postgres(ws, _) => ws,
        }
    }

    fn config(&self, from: &Path) -> std::path::PathBuf {
        self.config_with(from, "")
    }

    /// The config, with `extra` TOML (`[[tables]]` entries) added.
    fn config_with(&self, from: &Path, extra: &str) -> std::path::PathBuf {
        match self {
            Target::DuckDb(ws) => ws.write_config(from, extra),
            Target::Postgres(ws, schema) => {
                let path = ws.path("martsync.toml");
                std::fs::write(
                    &path,
                    format!(
                        "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n{extra}",
                        from.display(),
                        ws.path("stage").display(),
                        schema.url
                    ),
                )
                .unwrap();
                path
            }
        }
    }

    /// Every row of a table with the columns of `schema`, canonical and sorted.
    async fn dump(&self, table: &str, schema: &martsync::schema::TableSchema) -> Vec<String> {
        match self {
            Target::DuckDb(ws) => ws.dump(table),
            Target::Postgres(_, pg) => {
                pg.rows(&format!(
                    "{} FROM \"{table}\"",
                    crate::common::canonical_select(schema, false)
                ))
                .await
            }
        }
    }

    /// The run ids in `martsync_runs`, sorted.
    async fn ledger(&self) -> Vec<String> {
        let sql = "SELECT run_id FROM martsync_runs";
        match self {
            Target::DuckDb(ws) => {
                let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
                crate::common::dump_query(&conn, sql)
            }
            Target::Postgres(_, pg) => pg.rows(sql).await,
        }
    }

    async fn dumps(&self) -> Vec<Vec<String>> {
        match self {
            Target::DuckDb(ws) => parse_config("")
                .tables
                .iter()
                .map(|t| ws.dump(&t.name))
                .collect(),
            Target::Postgres(_, schema) => schema.mart_dumps().await,
        }
    }
}

async fn crash_at_every_point_converges(postgres: Option<&str>) {
    let input = tempfile::tempdir().unwrap();
    history(input.path(), 300, 12);
    let clean = Target::new(postgres).await;
    ok(replay(
        clean.ws().dir.path(),
        &clean.config(input.path()),
        input.path(),
        None,
    ));
    let expected = clean.dumps().await;
    assert!(expected.iter().all(|rows| !rows.is_empty()));

    for point in POINTS {
        let crashed = Target::new(postgres).await;
        let config = crashed.config(input.path());
        // The 7th time any mart reaches the point: a few cycles in, marts part-way.
        let out = replay(
            crashed.ws().dir.path(),
            &config,
            input.path(),
            Some(&format!("{point}:7")),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("fault injection: aborting at {point}")),
            "{point}: the process did not reach the point: {stderr}"
        );
        assert_eq!(out.status.code(), None, "{point}: not killed by SIGABRT");
        ok(replay(crashed.ws().dir.path(), &config, input.path(), None));
        assert_eq!(crashed.dumps().await, expected, "crash at {point}");
    }
}

/// A crash right after each merge statement, inside the transaction (`after:<statement>`),
/// leaves the mart, its Option A buffer and the ledger exactly as the last committed run left
/// them, read before anything runs again: the statements commit together or not at all. The
/// crashed batch replaces rows (updates of earlier orders), so a merge whose statements
/// committed one by one would show here.
async fn a_crash_between_merge_statements_changes_nothing(postgres: Option<&str>) {
    let input = tempfile::tempdir().unwrap();
    history(input.path(), 300, 6);
    // All but the last batch of each table, then the last one crashes.
    let earlier = tempfile::tempdir().unwrap();
    for entry in crate::common::walk(input.path()) {
        let rel = entry.strip_prefix(input.path()).unwrap();
        if !rel.to_string_lossy().contains("batch-00005") {
            let to = earlier.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&entry, to).unwrap();
        }
    }
    let buffer = "stg_uni_tracking_info";
    let extra = format!(
        "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
         [[tables.targets]]\nname = \"{buffer}\"\nretention = \"20d\"\n\
         [[tables]]\nname = \"mart_uni_tracking_spath\"\n"
    );
    let tables = parse_config(&extra).tables;
    let (uti, spath) = (&tables[0], &tables[1]);
    let cases: [(&martsync::config::TableConfig, &[&str]); 2] = [
        (
            uti,
            &[
                "drop_stale_versions",
                "delete_replaced",
                "insert_rows",
                "retention_trim",
                "target_delete_replaced",
                "target_insert_rows",
                "target_retention_trim",
                "record_run",
            ],
        ),
        (spath, &["insert_new_rows", "retention_trim", "record_run"]),
    ];
    for (table, statements) in cases {
        for statement in statements {
            let target = Target::new(postgres).await;
            let config = target.config_with(earlier.path(), &extra);
            ok(replay(
                target.ws().dir.path(),
                &config,
                earlier.path(),
                None,
            ));
            let mut written = vec![(
                table.name.clone(),
                target.dump(&table.name, &table.schema).await,
            )];
            if table.name == uti.name {
                written.push((buffer.to_string(), target.dump(buffer, &table.schema).await));
            }
            let ledger = target.ledger().await;
            assert!(written.iter().all(|(_, rows)| !rows.is_empty()));

            let point = format!("after:{statement}");
            let mut command = Command::new(env!("CARGO_BIN_EXE_martsync"));
            let out = command
                .args(["replay", "--table", &table.name, "--config"])
                .arg(&config)
                .arg("--from")
                .arg(input.path())
                .current_dir(target.ws().dir.path())
                .env("MARTSYNC_LOG", "martsync=warn")
                .env("MARTSYNC_FAIL_AT", &point)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("fault injection: aborting at {point}")),
                "{point}: the process did not reach the point: {stderr}"
            );
            for (name, before) in &written {
                assert_eq!(
                    &target.dump(name, &table.schema).await,
                    before,
                    "{name} changed by a merge that crashed at {point}"
                );
            }
            assert_eq!(
                target.ledger().await,
                ledger,
                "the ledger changed at {point}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_crash_between_merge_statements_changes_nothing() {
    if crate::common::fault_injection_on() {
        a_crash_between_merge_statements_changes_nothing(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_between_merge_statements_changes_nothing() {
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    if crate::common::fault_injection_on() {
        a_crash_between_merge_statements_changes_nothing(Some(&url)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_crash_at_every_step_converges() {
    if crate::common::fault_injection_on() {
        crash_at_every_point_converges(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_at_every_step_converges() {
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    if crate::common::fault_injection_on() {
        crash_at_every_point_converges(Some(&url)).await;
    }
}

/// SIGKILL at random moments, many times, during a multi-cycle replay into PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replay_killed_at_random_moments_converges() {
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let input = tempfile::tempdir().unwrap();
    history(input.path(), 5_000, 120);
    let clean = Target::new(Some(&url)).await;
    ok(replay(
        clean.ws().dir.path(),
        &clean.config(input.path()),
        input.path(),
        None,
    ));

    // Each kill lands after 2-12 more committed cycles (of 360), then 0-200 ms into the next
    // ones: cut at different cycles and steps, wherever the process happens to be.
    let killed = Target::new(Some(&url)).await;
    let config = killed.config(input.path());
    let mut rng = Rng::new(11);
    for kill in 0..8 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_martsync"));
        command
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--from")
            .arg(input.path())
            .current_dir(killed.ws().dir.path());
        let commits = rng.range(2, 13) as usize;
        let then = Duration::from_millis(rng.range(0, 200) as u64);
        assert!(
            crate::common::kill_after_commits(command, commits, then),
            "kill {kill} did not land: the replay ended first"
        );
    }
    ok(replay(killed.ws().dir.path(), &config, input.path(), None));
    assert_eq!(killed.dumps().await, clean.dumps().await);
}
