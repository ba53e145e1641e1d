//! The seed's known gaps, closed on the production path (MariaDB → PostgreSQL):
//! - Gap 1: an `ecs_order_info` row changed after its creation (its `add_time` watermark does
//!   not move) reaches the mart when its order's tracking row changes (`refresh_from`).
//! - Gap 2: `uni_tracking_spath` configured as `latest` by `time_modified`: a corrected event
//!   (`is_updated = 1`) replaces its earlier copy instead of being skipped or duplicated.

use std::path::Path;

use crate::common::{MyDb, PgSchema, canonical_select, martsync, parse_config, service_url};

const T: i64 = 1_767_225_600; // 2026-01-01

fn run(dir: &Path, args: &[&str]) {
    let out = martsync(dir, args);
    assert!(
        out.status.success(),
        "martsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The mart's rows and the source's, in one canonical text form; `filter` narrows the source.
async fn mart_and_source(
    db: &MyDb,
    pg: &PgSchema,
    config: &str,
    mart: &str,
    filter: &str,
) -> (Vec<String>, Vec<String>) {
    let config = parse_config(config);
    let table = config.tables.iter().find(|t| t.name == mart).unwrap();
    let rows = pg
        .rows(&format!(
            "{} FROM \"{mart}\"",
            canonical_select(&table.schema, false)
        ))
        .await;
    let want = db
        .rows(&format!(
            "{} FROM `{}` {filter}",
            canonical_select(&table.schema, true),
            table.schema.name
        ))
        .await;
    (rows, want)
}

/// A test's own MariaDB database with the source tables, PostgreSQL schema and folder, with
/// `martsync.toml` written there for `tables`; `None` when the services are not set.
async fn setup(tables: &str) -> Option<(MyDb, PgSchema, tempfile::TempDir, String)> {
    let mysql = service_url("MARTSYNC_TEST_MYSQL_URL")?;
    let postgres = service_url("MARTSYNC_TEST_POSTGRES_URL")?;
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    let pg = PgSchema::new(&postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[source]\nurl = \"{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n{tables}",
        db.url,
        dir.path().join("stage").display(),
        pg.url
    );
    std::fs::write(dir.path().join("martsync.toml"), &config).unwrap();
    Some((db, pg, dir, config))
}

fn ecs(order: i64, weight: i64, add_time: i64) -> String {
    format!(
        "INSERT INTO ecs_order_info VALUES ({order}, 'ON{order}', 7, 'ref {order}', 'DE', \
         {weight}, 12.50, 'EUR', {add_time})"
    )
}

fn uti(order: i64, update_time: i64) -> String {
    format!(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES ({order}, 'TN{order}', 7, 1, {T}, {update_time}) \
         ON DUPLICATE KEY UPDATE update_time = VALUES(update_time), status = status + 1"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap1_an_ecs_row_changed_after_creation_is_refreshed_when_its_order_changes() {
    let Some((db, pg, dir, config)) = setup(
        "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
         [[tables]]\nname = \"mart_ecs_order_info\"\nrefresh_from = \"uni_tracking_info\"\n",
    )
    .await
    else {
        return;
    };
    // Orders 1-5 a day ago; order 9 (tracking only) half a day ago: the next cycle's lookback
    // re-reads order 9 alone of these.
    let day_ago = T - 100_000;
    let mut sql: Vec<String> = (1..=5).map(|o| ecs(o, 100 * o, day_ago)).collect();
    sql.extend((1..=5).map(|o| uti(o, day_ago)));
    sql.push(uti(9, T - 50_000));
    db.exec(&sql.join(";\n")).await;
    run(dir.path(), &["run"]);

    // After creation: orders 2 and 3 change in ecs (add_time stays); only order 2's tracking
    // row changes. Order 8 is new in both.
    db.exec(&format!(
        "UPDATE ecs_order_info SET weight_g = 999, declared_value = 1.25 WHERE order_id IN (2, 3);\n\
         {};\n{};\n{}",
        uti(2, T),
        ecs(8, 800, T),
        uti(8, T)
    ))
    .await;
    // Only the tracking mart runs: it refreshes ecs row 2; it must not insert ecs row 8 (new
    // keys come from the ecs mart's own cycle, whose watermark a refresh must not move).
    run(dir.path(), &["run", "--table", "mart_uni_tracking_info"]);
    let weights = pg
        .rows("SELECT order_id || ':' || weight_g FROM mart_ecs_order_info")
        .await;
    assert_eq!(weights, ["1:100", "2:999", "3:300", "4:400", "5:500"]);
    let refreshes = pg
        .count(
            "SELECT count(*) FROM martsync_runs WHERE mart = 'mart_ecs_order_info' \
             AND batch LIKE 'refresh:%' AND rows_extracted = 2 AND rows_inserted = 1 \
             AND rows_deleted = 1",
        )
        .await;
    assert_eq!(
        refreshes, 1,
        "one refresh read orders 2 and 8 and replaced order 2"
    );

    // Both marts run: ecs row 8 arrives by its own watermark; the mart equals the source
    // except order 3, whose tracking row never changed (what the old pipeline's JOIN did).
    run(dir.path(), &["run"]);
    let (mart, source) = mart_and_source(
        &db,
        &pg,
        &config,
        "mart_ecs_order_info",
        "WHERE order_id <> 3",
    )
    .await;
    let mart: Vec<String> = mart.into_iter().filter(|r| !r.starts_with("3|")).collect();
    assert_eq!(mart, source);

    // A tracking change of order 3 later refreshes it too; the unchanged rows the refresh
    // re-reads (orders 2 and 8, in the lookback, and 8 again) replace nothing.
    db.exec(&format!(
        "UPDATE ecs_order_info SET currency = 'USD' WHERE order_id = 3;\n{};\n{}",
        uti(3, T + 100_000),
        uti(8, T + 100_000)
    ))
    .await;
    run(dir.path(), &["run"]);
    let (mart, source) = mart_and_source(&db, &pg, &config, "mart_ecs_order_info", "").await;
    assert_eq!(mart, source);
    let last = pg
        .rows(
            "SELECT rows_extracted || ' read, ' || rows_inserted || ' replaced' FROM martsync_runs \
             WHERE mart = 'mart_ecs_order_info' AND batch LIKE 'refresh:%' \
             ORDER BY committed_at DESC LIMIT 1",
        )
        .await;
    assert_eq!(last, ["3 read, 1 replaced"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap2_an_updated_spath_event_replaces_its_earlier_copy() {
    let Some((db, pg, dir, config)) = setup(
        "[[tables]]\nname = \"mart_uni_tracking_spath\"\nstrategy = \"latest\"\n\
         key = [\"order_id\", \"traceSeq\", \"pathTime\"]\nversion = \"time_modified\"\n\
         watermark = \"time_modified\"\nretention_column = \"pathTime\"\n",
    )
    .await
    else {
        return;
    };
    let event = |order: i64, seq: i64, what: &str, modified: &str| {
        format!(
            "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code, location, \
             description, is_updated, time_modified) VALUES ({order}, {seq}, {}, 200, 'Leipzig', \
             '{what}', 0, '{modified}')",
            T + seq * 60
        )
    };
    let mut sql: Vec<String> = vec!["SET time_zone = '+00:00'".into()];
    sql.extend(
        (1..=3)
            .flat_map(|o| (1..=3).map(move |s| (o, s)))
            .map(|(o, s)| event(o, s, "in transit", "2026-01-01 10:00:00.000")),
    );
    db.exec(&sql.join(";\n")).await;
    run(dir.path(), &["run"]);
    assert_eq!(
        pg.count("SELECT count(*) FROM mart_uni_tracking_spath")
            .await,
        9
    );

    // Event (2, 2) is corrected: same key, new description, is_updated = 1, later
    // time_modified; one new event arrives in the same cycle.
    sql = vec![
        "SET time_zone = '+00:00'".into(),
        "UPDATE uni_tracking_spath SET description = 'delivered to neighbour', is_updated = 1, \
         time_modified = '2026-01-01 11:00:00.500' WHERE order_id = 2 AND traceSeq = 2"
            .into(),
        event(3, 4, "out for delivery", "2026-01-01 11:00:00.000"),
    ];
    db.exec(&sql.join(";\n")).await;
    run(dir.path(), &["run"]);
    let (mart, source) = mart_and_source(&db, &pg, &config, "mart_uni_tracking_spath", "").await;
    assert_eq!(mart.len(), 10, "one row per event, the corrected one once");
    assert_eq!(mart, source);
    let corrected = pg
        .rows(
            "SELECT description || ' ' || is_updated FROM mart_uni_tracking_spath \
             WHERE order_id = 2 AND traceseq = 2",
        )
        .await;
    assert_eq!(corrected, ["delivered to neighbour 1"]);

    // Running again (the lookback re-reads the last 30 minutes) changes nothing.
    run(dir.path(), &["run"]);
    let (again, _) = mart_and_source(&db, &pg, &config, "mart_uni_tracking_spath", "").await;
    assert_eq!(again, mart);
}
