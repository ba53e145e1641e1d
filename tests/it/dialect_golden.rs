//! Every statement the Redshift dialect renders, compared with its exact text in
//! `tests/golden/redshift.sql` (no Redshift runs here; PostgreSQL runs the same statement
//! shapes for real). After an intended change, regenerate the file with
//! `MARTSYNC_BLESS=1 cargo test --release dialect_golden` and review the diff.

use std::path::Path;

use martsync::config::TableConfig;
use martsync::schema::WarehouseType;
use martsync::warehouse::dialect::{self, Dialect, Load, Statement};
use martsync::warehouse::plan::PlanState;

/// The tables every Redshift statement is rendered for: the design's marts with an Option A
/// buffer on the tracking mart and the Gap 1 refresh of the ecs mart; a latest mart whose
/// version and watermark are TIMESTAMPs (the spath events by `time_modified`); and the
/// tracking mart as a MySQL cycle sees it once `allow_new_columns` widened it.
fn redshift_tables() -> Vec<TableConfig> {
    let config = crate::common::parse_config(
        "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
         [[tables.targets]]\nname = \"stg_uni_tracking_info\"\nretention = \"20d\"\n\
         [[tables]]\nname = \"mart_ecs_order_info\"\nrefresh_from = \"uni_tracking_info\"\n\
         [[tables]]\nname = \"mart_uni_tracking_spath\"\n\
         [[tables]]\nname = \"spath_latest_by_modified\"\nsource = \"uni_tracking_spath\"\n\
         strategy = \"latest\"\nkey = [\"order_id\", \"traceseq\", \"pathtime\"]\n\
         version = \"time_modified\"\nwatermark = \"time_modified\"\n\
         retention_column = \"time_modified\"\n",
    );
    let mut tables = config.tables;
    let mut widened = tables[0].clone();
    widened.name = "widened_uni_tracking_info".into();
    widened.targets.clear();
    let mut added = widened.schema.columns[1].clone();
    added.name = "sort_note".into();
    added.nullable = true;
    widened.schema.columns.push(added);
    tables.push(widened);
    tables
}

fn render_redshift() -> String {
    let d = Dialect::Redshift;
    let mut out = String::new();
    let mut add = |what: &str, sql: &str| out.push_str(&format!("-- {what}\n{sql};\n\n"));
    add("martsync_runs: create", &dialect::create_runs(d));
    add("check_run_id", &dialect::check_run_id(d));
    add("committed_batches", &dialect::committed_batches(d));
    add("committed_runs", &dialect::committed_runs(d));
    add("mart_columns", &dialect::mart_columns(d));
    // ensure_tables takes no advisory lock on Redshift (PostgreSQL's pg_advisory_xact_lock).
    assert_eq!(dialect::ddl_lock(d), None);
    add("table_exists", &dialect::table_exists(d));
    add("count_runs", &dialect::count_runs(d));
    add("recent_runs", &dialect::recent_runs(d, 20));
    add("last_copy_count", dialect::LAST_COPY_COUNT);
    add("load_errors", dialect::LOAD_ERRORS);
    add("lock_runs", &dialect::lock_runs(d).unwrap());
    // A ledger from before the statement timings gains them in place, under lock_runs.
    for sql in dialect::add_missing_runs_columns(d, &Default::default()) {
        add("martsync_runs: upgrade", &sql);
    }
    add("last_synced", &dialect::last_synced(d));
    add("last_source_position", &dialect::last_source_position(d));
    add("maintain: svv_table_info", dialect::REDSHIFT_TABLE_INFO);
    for table in &redshift_tables() {
        let mart = &table.name;
        add(&format!("{mart}: create"), &dialect::create_mart(d, table));
        assert!(
            dialect::create_indexes(d, table).is_empty(),
            "Redshift has no indexes"
        );
        add(
            &format!("{mart}: summary"),
            &dialect::mart_summary(d, table),
        );
        add(
            &format!("{mart}: max_watermark"),
            &dialect::max_watermark(d, table),
        );
        add(&format!("{mart}: rows"), &dialect::mart_rows(d, table));
        // seed --from / compare --with warehouse:TABLE read a table through the stage.
        add(
            &format!("{mart}: export"),
            &dialect::unload(
                &dialect::select_columns(d, table, "old_staging_table"),
                &format!("s3://bucket/prefix/{mart}/export-RUN/part_"),
                "arn:aws:iam::123456789012:role/martsync",
            ),
        );
        // What `maintain` runs on a mart past every threshold.
        let worn = dialect::RedshiftTableInfo {
            unsorted: Some(50.0),
            stats_off: Some(50.0),
            tbl_rows: 100,
            visible_rows: 50,
        };
        let limits = martsync::config::MaintenanceConfig::default();
        for step in dialect::redshift_upkeep(table, Some(worn), &limits).steps {
            add(&format!("{mart}: maintain"), &step.statement);
        }
        // A reconcile's plan: the mart's keys the source lost, deleted with a ledger row.
        let keys = table.keys_only();
        let load = dialect::Load::Manifest {
            url: format!("s3://bucket/prefix/{mart}/RUN/manifest.json"),
            iam_role: "arn:aws:iam::123456789012:role/martsync-copy".into(),
        };
        for step in dialect::delete_keys_plan(d, &keys, &load).steps {
            add(&format!("{mart} reconcile: {}", step.name), &step.sql);
        }
        // A binlog-mode cycle: every touched key deleted, the current rows inserted.
        for step in dialect::changes_plan(d, &table.with_change_marker(), &load).steps {
            add(&format!("{mart} binlog: {}", step.name), &step.sql);
        }
        // `dedup = "warehouse"`: raw rows ranked in the merge transaction.
        for step in dialect::ranked_plan(d, &table.with_arrival_column(), &load).steps {
            add(&format!("{mart} ranked: {}", step.name), &step.sql);
        }
        add(
            &format!("{mart} reconcile: export"),
            &dialect::unload(
                &dialect::select_columns_since(d, table, mart, Some(1_767_225_600)),
                &format!("s3://bucket/prefix/{mart}/export-RUN/part_"),
                "arn:aws:iam::123456789012:role/martsync",
            ),
        );
        // Redshift's LOCK blocks readers: the mart is not locked, runs take its hold.
        assert_eq!(dialect::lock_mart(d, table), None);
        add(
            &format!("{mart}: create_hold_table"),
            &dialect::create_hold_table(mart),
        );
        add(
            &format!("{mart}: hold_mart"),
            &dialect::hold_mart(d, mart).unwrap(),
        );
        for sql in dialect::create_stage_table(d, table) {
            add(&format!("{mart}: create_stage_table"), &sql);
        }
        add(
            &format!("{mart}: load_stage"),
            &dialect::copy_from_manifest(
                table,
                &format!("s3://bucket/prefix/{mart}/RUN/manifest.json"),
                "arn:aws:iam::123456789012:role/martsync-copy",
            ),
        );
        // A cycle reads MySQL (the version guard off); a replay keeps it.
        for statement in dialect::merge_statements(d, &table.for_input(true)) {
            add(&format!("{mart}: {}", statement.name), &statement.sql);
        }
        for statement in dialect::merge_statements(d, &table.for_input(false)) {
            if statement.name == martsync::warehouse::StepName::DropStaleVersions {
                add(
                    &format!("{mart} replay: {}", statement.name),
                    &statement.sql,
                );
            }
        }
        if table.refresh_from.is_some() {
            for statement in dialect::merge_statements(d, &table.refresh_run()) {
                add(
                    &format!("{mart} refresh: {}", statement.name),
                    &statement.sql,
                );
            }
        }
        // The widened mart: its ALTER for the column the source gained.
        let mut have: std::collections::HashSet<String> = table
            .schema
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        have.remove("sort_note");
        for (_, sql) in dialect::add_missing_columns(d, table, &have) {
            add(&format!("{mart}: add_column"), &sql);
        }
        add(
            &format!("{mart}: drop_stage_table"),
            &dialect::drop_stage_table(d, table).unwrap(),
        );
    }
    out
}

/// Every statement a Redshift merge plan runs, for every table, input and state.
fn redshift_plans() -> Vec<(String, Vec<Statement>)> {
    let load = Load::Manifest {
        url: "s3://bucket/prefix/m/RUN/manifest.json".into(),
        iam_role: "arn:aws:iam::123456789012:role/martsync-copy".into(),
    };
    let mut plans = Vec::new();
    for table in redshift_tables() {
        let mut inputs = vec![
            ("cycle", table.for_input(true)),
            ("replay", table.for_input(false)),
        ];
        if table.refresh_from.is_some() {
            inputs.push(("refresh", table.refresh_run()));
        }
        for (input, table) in inputs {
            for staged_files in [true, false] {
                let state = PlanState {
                    mart_empty: false,
                    staged_files,
                };
                plans.push((
                    format!("{} {input} (files: {staged_files})", table.name),
                    dialect::merge_plan(Dialect::Redshift, &table, &load).statements(state),
                ));
            }
        }
        let keys = table.keys_only();
        let changes = table.with_change_marker();
        for staged_files in [true, false] {
            let state = PlanState {
                mart_empty: false,
                staged_files,
            };
            plans.push((
                format!("{} reconcile (files: {staged_files})", table.name),
                dialect::delete_keys_plan(Dialect::Redshift, &keys, &load).statements(state),
            ));
            plans.push((
                format!("{} binlog (files: {staged_files})", table.name),
                dialect::changes_plan(Dialect::Redshift, &changes, &load).statements(state),
            ));
            plans.push((
                format!("{} ranked (files: {staged_files})", table.name),
                dialect::ranked_plan(Dialect::Redshift, &table.with_arrival_column(), &load)
                    .statements(state),
            ));
        }
    }
    plans
}

/// EXTRACT returns INTEGER for a TIMESTAMP ("EXTRACT function"): no Redshift statement may
/// multiply it into milli- or microseconds; epochs come from DATEDIFF, which is BIGINT.
#[test]
fn no_redshift_statement_multiplies_an_integer_epoch() {
    let rendered = render_redshift();
    assert!(
        !rendered.to_ascii_lowercase().contains("extract("),
        "a Redshift statement uses EXTRACT:\n{}",
        rendered
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("extract("))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let timestamps = redshift_tables()
        .into_iter()
        .find(|t| t.name == "spath_latest_by_modified")
        .unwrap();
    assert_eq!(
        dialect::max_watermark(Dialect::Redshift, &timestamps),
        "SELECT DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', max(\"time_modified\")) \
         FROM \"spath_latest_by_modified\""
    );
}

/// Every merge reads and writes `martsync_runs`: on Redshift two at once would be cancelled
/// with error 1023 unless the ledger is locked before anything reads it.
#[test]
fn every_redshift_merge_locks_the_ledger_before_reading_it() {
    for (what, statements) in redshift_plans() {
        let names: Vec<_> = statements.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(&names[..2], ["begin", "lock_runs"], "{what}: {names:?}");
        assert_eq!(statements[1].sql, "LOCK martsync_runs", "{what}");
        let first_read = statements
            .iter()
            .position(|s| s.sql.contains("martsync_runs") && s.name.as_str() != "lock_runs")
            .unwrap();
        assert!(first_read > 1, "{what}: {names:?}");
    }
}

/// COPY from Parquet fills columns by position and needs as many columns in the table as in
/// the files ("COPY from columnar data formats"): the temp table it loads has exactly the
/// staged columns, in order, also when the mart has more (widened by `allow_new_columns`).
#[test]
fn a_redshift_copy_loads_exactly_the_staged_columns() {
    let changes: Vec<TableConfig> = redshift_tables()
        .iter()
        .flat_map(|t| [t.with_change_marker(), t.with_arrival_column()])
        .collect();
    for table in redshift_tables().into_iter().chain(changes) {
        let staged: Vec<String> = table
            .schema
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let create = dialect::create_stage_table(Dialect::Redshift, &table)
            .into_iter()
            .find(|s| s.starts_with("CREATE TEMP TABLE"))
            .unwrap();
        let select = create.split(" AS SELECT ").nth(1).unwrap();
        // The change marker and the arrival number are constants named `AS "…"`.
        let columns: Vec<&str> = select
            .split(" FROM ")
            .next()
            .unwrap()
            .split(", ")
            .map(|c| c.rsplit(" AS ").next().unwrap())
            .collect();
        assert_eq!(columns, staged, "{}: {create}", table.name);
        assert!(!create.contains("LIKE"), "{create}");
    }
    // A replay of the widened mart stages its configured columns: one fewer than the mart.
    let tables = redshift_tables();
    let widened = tables.last().unwrap();
    let replay = &tables[0];
    assert_eq!(
        widened.schema.columns.len(),
        replay.schema.columns.len() + 1
    );
}

/// Redshift's `=` ignores trailing blanks of VARCHARs ("Examples with character types"): the
/// unchanged-row drop also compares their lengths, or a value changed only in trailing spaces
/// would never reach the mart.
#[test]
fn redshift_drops_a_row_as_unchanged_only_when_trailing_blanks_match_too() {
    let mut checked = 0;
    for table in redshift_tables() {
        let varchars: Vec<&str> = table
            .schema
            .columns
            .iter()
            .filter(|c| matches!(c.mapped.warehouse, WarehouseType::Varchar(_)))
            .filter(|c| !table.key.contains(&c.name))
            .map(|c| c.name.as_str())
            .collect();
        for input in [table.for_input(true), table.for_input(false)] {
            for s in dialect::merge_statements(Dialect::Redshift, &input) {
                if !matches!(
                    s.name.as_str(),
                    "drop_stale_versions" | "drop_unchanged_rows"
                ) {
                    continue;
                }
                for column in &varchars {
                    let (m, st) = (
                        format!("\"{}\".\"{column}\"", table.name),
                        format!("\"stage_{}\".\"{column}\"", table.name),
                    );
                    assert!(
                        s.sql
                            .contains(&format!("({m} = {st} AND length({m}) = length({st}))")),
                        "{}: VARCHAR {column} is compared without its length: {}",
                        table.name,
                        s.sql
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
}

/// Load errors are looked up by the run's staged files, never by `pg_last_copy_id()` (an STL
/// query id, not updated when the COPY's transaction rolls back).
#[test]
fn redshift_load_errors_are_those_of_the_runs_files() {
    assert!(!dialect::LOAD_ERRORS.contains("pg_last_copy_id"));
    assert!(dialect::LOAD_ERRORS.contains("$1"));
    assert_eq!(
        dialect::load_errors_prefix("s3://bucket/stage/mart_a/RUN-1/manifest.json"),
        "s3://bucket/stage/mart_a/RUN-1/"
    );
}

/// Every statement the Redshift dialect renders parses with sqlglot's `redshift` dialect, a
/// parser others wrote from Redshift's documentation (installed by scripts/services.sh).
#[test]
fn every_redshift_statement_parses_with_sqlglot() {
    let Some(python) = crate::common::service_url("MARTSYNC_TEST_SQLGLOT_PYTHON") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redshift.sql");
    let mut text = render_redshift();
    for (what, statements) in redshift_plans() {
        for s in statements {
            text.push_str(&format!("-- {what}: {}\n{};\n\n", s.name, s.sql));
        }
    }
    std::fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/redshift-parse.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sqlglot rejected Redshift statements:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", stdout.trim());
}

#[test]
fn redshift_statements_match_the_golden_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/redshift.sql");
    let rendered = render_redshift();
    if std::env::var("MARTSYNC_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &rendered).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    if golden != rendered {
        for (i, (g, r)) in golden.lines().zip(rendered.lines()).enumerate() {
            assert_eq!(
                g,
                r,
                "first difference at line {} of {}",
                i + 1,
                path.display()
            );
        }
        panic!(
            "{} and the rendered SQL differ in length ({} vs {} lines)",
            path.display(),
            golden.lines().count(),
            rendered.lines().count()
        );
    }
}

/// The load-error lookup, run for real on a table with `sys_load_error_detail`'s columns
/// ("SYS_LOAD_ERROR_DETAIL"): it returns the rows of the failed run's files only, whatever
/// other COPYs (other runs, other marts, another session) left there, newest first.
#[tokio::test]
async fn redshift_load_errors_are_found_for_the_copy_that_failed() {
    let Some(url) = crate::common::service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = crate::common::PgSchema::new(&url).await;
    let client = schema.client().await;
    client
        .batch_execute(
            "CREATE TABLE sys_load_error_detail (query_id BIGINT, session_id INTEGER, \
             start_time TIMESTAMP, file_name CHARACTER(256), line_number BIGINT, \
             column_name CHARACTER(127), error_message CHARACTER(512));
             INSERT INTO sys_load_error_detail VALUES
             (7, 1, '2026-11-30 10:00', 's3://b/stage/mart_a/RUN_1/part-00000.parquet', 3, \
              'status', 'Overflow for NUMERIC(4,0)'),
             (8, 2, '2026-11-30 10:01', 's3://b/stage/mart_a/RUN_2/part-00001.parquet', 12, \
              'tracking_no', 'Value too long for character type'),
             (9, 2, '2026-11-30 10:02', 's3://b/stage/mart_b/RUN_2/part-00000.parquet', 1, \
              'code', 'Invalid digit'),
             (8, 2, '2026-11-30 10:01', 's3://b/stage/mart_a/RUN_2/part-00000.parquet', 5, \
              'last_event', 'Invalid UTF8');",
        )
        .await
        .unwrap();
    let prefix = dialect::load_errors_prefix("s3://b/stage/mart_a/RUN_2/manifest.json");
    let rows = client
        .query(dialect::LOAD_ERRORS, &[&prefix])
        .await
        .unwrap();
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3)
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "s3://b/stage/mart_a/RUN_2/part-00000.parquet 5 last_event Invalid UTF8",
            "s3://b/stage/mart_a/RUN_2/part-00001.parquet 12 tracking_no Value too long for character type",
        ]
    );
}

/// The stale-version drop compares every column, so it must not read the whole mart: every
/// dialect bounds it to mart rows at or above the least staged version (`$1`/`?`, bound per
/// run), a range Redshift's zone maps answer from the tracking mart's sort key.
#[test]
fn the_stale_version_drop_reads_only_mart_rows_at_or_above_the_least_staged_version() {
    for dialect in [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift] {
        for table in redshift_tables() {
            let Some(version) = table.version.clone() else {
                continue;
            };
            for input in [table.for_input(true), table.for_input(false)] {
                let drop = dialect::merge_statements(dialect, &input)
                    .into_iter()
                    .find(|s| {
                        matches!(
                            s.name.as_str(),
                            "drop_stale_versions" | "drop_unchanged_rows"
                        )
                    })
                    .unwrap();
                let bound = format!("\"{}\".\"{version}\" >= ", table.name);
                assert!(
                    drop.sql.contains(&bound),
                    "{dialect:?} {}: {}",
                    table.name,
                    drop.sql
                );
            }
        }
    }
}
