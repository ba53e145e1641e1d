//! `martsync seed`: a mart filled from an old staging table (DuckDB, PostgreSQL) or from
//! exported files, through the same dedup and merge as a cycle.

use crate::common::{PgSchema, Workspace, dump_query, martsync, service_config, service_url};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const UTI: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\nretention = \"off\"\n";

#[test]
fn seed_from_a_duckdb_table_keeps_the_latest_row_per_key() {
    let demo = martsync::config::demo_fixtures_dir();
    let ws = Workspace::new();
    ws.write_config(&demo, UTI);
    {
        // The old pipeline's staging table: every version of every order, a column more.
        let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE stg_legacy AS SELECT *, 'x' AS loaded_by \
             FROM read_parquet('{}/uni_tracking_info/*.parquet')",
            demo.display()
        ))
        .unwrap();
    }
    let out = ok(martsync(
        ws.dir.path(),
        &[
            "seed",
            "--table",
            "mart_uni_tracking_info",
            "--from",
            "stg_legacy",
        ],
    ));
    assert!(out.contains("mart_uni_tracking_info"), "{out}");
    let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
    let mart = dump_query(
        &conn,
        "SELECT order_id, update_time FROM mart_uni_tracking_info",
    );
    let latest = dump_query(
        &conn,
        "SELECT order_id, max(update_time) FROM stg_legacy GROUP BY order_id",
    );
    assert_eq!(mart, latest);
    let batch: String = conn
        .query_row("SELECT batch FROM martsync_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(batch, "seed:stg_legacy");
}

#[test]
fn seed_from_files_equals_a_replay_and_resumes() {
    let demo = martsync::config::demo_fixtures_dir();
    // An export: one table's files in one folder.
    let export = Workspace::new();
    for entry in std::fs::read_dir(demo.join("uni_tracking_info")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            export.path(path.file_name().unwrap().to_str().unwrap()),
        )
        .unwrap();
    }
    let seeded = Workspace::new();
    seeded.write_config(&demo, UTI);
    let from = format!("files://{}", export.dir.path().display());
    let args = ["seed", "--table", "mart_uni_tracking_info", "--from", &from];
    ok(martsync(seeded.dir.path(), &args));
    let replayed = Workspace::new();
    replayed.write_config(&demo, UTI);
    let demo_dir = demo.display().to_string();
    ok(martsync(
        replayed.dir.path(),
        &[
            "replay",
            "--from",
            &demo_dir,
            "--table",
            "mart_uni_tracking_info",
        ],
    ));
    let want = replayed.dump("mart_uni_tracking_info");
    assert!(!want.is_empty());
    assert_eq!(seeded.dump("mart_uni_tracking_info"), want);
    // Again: every file is skipped.
    let out = ok(martsync(seeded.dir.path(), &args));
    let files = std::fs::read_dir(export.dir.path())
        .unwrap()
        .count()
        .to_string();
    let summary: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(summary[1..3], [files.as_str(), files.as_str()], "{out}");
}

#[test]
fn a_bad_seed_source_is_an_error_naming_it() {
    let ws = Workspace::new();
    ws.write_config(&martsync::config::demo_fixtures_dir(), UTI);
    for (from, code, words) in [
        ("x; drop table y", 2, "--from"),
        ("mart_uni_tracking_info", 2, "the mart itself"),
        ("no_such_table", 6, "no_such_table"),
    ] {
        let out = martsync(
            ws.dir.path(),
            &["seed", "--table", "mart_uni_tracking_info", "--from", from],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{from}: {stderr}");
        assert!(stderr.contains(words), "{from}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_from_a_postgres_table_with_looser_types() {
    let Some(postgres) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let pg = PgSchema::new(&postgres).await;
    let ws = Workspace::new();
    std::fs::write(
        ws.path("martsync.toml"),
        service_config(
            &format!(
                "files://{}",
                martsync::config::demo_fixtures_dir().display()
            ),
            &format!("file://{}", ws.path("stage").display()),
            &pg.url,
            "[[tables]]\nname = \"mart_uni_tracking_info\"\nretention = \"off\"\n\
             [[tables]]\nname = \"mart_ecs_order_info\"\nretention = \"off\"\n",
        ),
    )
    .unwrap();
    // Staging tables typed as a loader might: integers, text, timestamptz, numeric; three
    // versions per tracking order (the greatest must win), NULLs, negative and large
    // amounts, non-ASCII text.
    pg.client()
        .await
        .batch_execute(
            "CREATE TABLE stg_uti AS SELECT (g % 40)::integer AS order_id, \
               'TN' || (g % 40) AS tracking_no, 7 AS partner_id, \
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'DHL' END AS carrier_code, \
               (g % 5)::integer AS status, NULL::integer AS last_code, \
               'événement ' || g AS last_event, NULL::text AS last_location, \
               CASE WHEN g % 2 = 0 THEN timestamptz '2026-01-02 03:04:05.123456+00' \
                 + g * interval '1 hour' END AS delivered_at, \
               1767225600 AS add_time, 1767225600 + g AS update_time \
             FROM generate_series(1, 120) g; \
             CREATE TABLE stg_ecs AS SELECT g::bigint AS order_id, 'ON' || g AS order_no, \
               7 AS partner_id, NULL::text AS customer_ref, 'DE' AS dest_country, \
               g * 10 AS weight_g, \
               (CASE WHEN g % 4 = 0 THEN NULL ELSE (g - 20) * 12345.67 END)::numeric AS declared_value, \
               'EUR' AS currency, 1767225600 + g AS add_time \
             FROM generate_series(1, 40) g;",
        )
        .await
        .unwrap();
    for (mart, from) in [
        ("mart_uni_tracking_info", "stg_uti"),
        ("mart_ecs_order_info", "stg_ecs"),
    ] {
        ok(martsync(
            ws.dir.path(),
            &["seed", "--table", mart, "--from", from],
        ));
    }
    let uti = pg
        .rows(
            "SELECT concat_ws('|', order_id, tracking_no, carrier_code, status, last_event, \
             to_char(delivered_at, 'YYYY-MM-DD HH24:MI:SS.US'), update_time) \
             FROM mart_uni_tracking_info",
        )
        .await;
    let want = pg
        .rows(
            "SELECT DISTINCT ON (order_id) concat_ws('|', order_id, tracking_no, carrier_code, \
             status, last_event, to_char(delivered_at AT TIME ZONE 'UTC', \
             'YYYY-MM-DD HH24:MI:SS.US'), update_time) FROM stg_uti \
             ORDER BY order_id, update_time DESC",
        )
        .await;
    assert_eq!(uti.len(), 40);
    assert_eq!(uti, want);
    let ecs = pg
        .rows("SELECT concat_ws('|', order_id, declared_value, weight_g) FROM mart_ecs_order_info")
        .await;
    let want = pg
        .rows("SELECT concat_ws('|', order_id, round(declared_value, 2), weight_g) FROM stg_ecs")
        .await;
    assert_eq!(ecs, want);
}
