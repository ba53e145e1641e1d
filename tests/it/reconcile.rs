//! Rows deleted in MySQL leave the mart by `martsync reconcile` and `delete_missing`:
//! exactly the keys the source lost inside the window, from the mart and its targets, in one
//! transaction with a ledger row; a dry run and a run past `max_deletes` change nothing.
//! MariaDB → DuckDB and MariaDB → PostgreSQL.

use std::path::Path;

use crate::common::{
    MyDb, PgSchema, Workspace, martsync, service_config, service_url, stderr_text, stdout_text,
};

const MART: &str = "mart_uni_tracking_info";
const TABLES: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
                      [[tables.targets]]\nname = \"uti_buffer\"\nretention = \"20d\"\n";

/// Where the marts are, to count their rows.
enum Marts<'a> {
    DuckDb(&'a Workspace),
    Postgres(&'a PgSchema),
}

impl Marts<'_> {
    async fn count(&self, sql: &str) -> i64 {
        match self {
            Marts::DuckDb(ws) => ws.count(sql),
            Marts::Postgres(schema) => schema.count(sql).await,
        }
    }

    /// `order_id`s of a table, as one sorted text.
    async fn ids(&self, table: &str) -> String {
        let sql = format!("SELECT count(*) FROM {table} WHERE order_id IN (5, 60, 61, 62)");
        format!("{} of 5,60,61,62", self.count(&sql).await)
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// 100 orders: 0–49 last updated 30 days ago (outside a 7-day window), 50–99 an hour ago.
async fn source_with_orders() -> Option<MyDb> {
    let mysql = service_url("MARTSYNC_TEST_MYSQL_URL")?;
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    let now = now_s();
    let values: Vec<String> = (0..100)
        .map(|order| {
            let t = if order < 50 {
                now - 30 * 86_400
            } else {
                now - 3600
            };
            format!("({order}, 'TN{order}', 1, 1, {t}, {t})")
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES {}",
        values.join(", ")
    ))
    .await;
    Some(db)
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["-c", "m.toml"]);
    martsync(dir, &all)
}

async fn deletes_exactly_the_keys_the_source_lost(dir: &Path, db: &MyDb, marts: Marts<'_>) {
    let out = run(dir, &["run"]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let mart_count = format!("SELECT count(*) FROM {MART}");
    assert_eq!(marts.count(&mart_count).await, 100);
    // One order deleted outside the window, three inside it.
    db.exec("DELETE FROM uni_tracking_info WHERE order_id IN (5, 60, 61, 62)")
        .await;

    // A dry run lists the three and deletes nothing.
    let out = run(
        dir,
        &["reconcile", "--table", MART, "--window", "7d", "--dry-run"],
    );
    assert!(out.status.success(), "{}", stderr_text(&out));
    let text = stdout_text(&out);
    for key in ["60", "61", "62"] {
        assert!(text.contains(&format!("would delete {key}\n")), "{text}");
    }
    assert!(!text.contains("would delete 5\n"), "{text}");
    assert_eq!(marts.count(&mart_count).await, 100);

    // Past max_deletes: exit 8, the count and the way out named, nothing deleted.
    let out = run(
        dir,
        &[
            "reconcile",
            "--table",
            MART,
            "--window",
            "7d",
            "--max-deletes",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr_text(&out));
    let error = stderr_text(&out);
    for word in [
        "3 of the 50 keys",
        "max_deletes = 2",
        "nothing was deleted",
        "--max-deletes 3",
    ] {
        assert!(error.contains(word), "{word} not in {error}");
    }
    assert_eq!(marts.count(&mart_count).await, 100);

    // The three go, from the mart and its buffer; the one outside the window stays.
    let out = run(
        dir,
        &["reconcile", "--table", MART, "--window", "7d", "--json"],
    );
    assert!(out.status.success(), "{}", stderr_text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["missing"], &report["deleted"], &report["mart_keys"]),
        (&3.into(), &3.into(), &50.into()),
        "{report}"
    );
    assert_eq!(marts.count(&mart_count).await, 97);
    assert_eq!(marts.ids(MART).await, "1 of 5,60,61,62");
    assert_eq!(marts.ids("uti_buffer").await, "0 of 5,60,61,62");
    let ledger =
        "SELECT count(*) FROM martsync_runs WHERE batch = 'reconcile:7d' AND rows_deleted = 3";
    assert_eq!(marts.count(ledger).await, 1);

    // A late commit leaves order 70's source row with an older watermark, just before the
    // window (within the lookback): the row exists, and the mart keeps it.
    db.exec(&format!(
        "UPDATE uni_tracking_info SET update_time = {} WHERE order_id = 70",
        now_s() - 7 * 86_400 - 60
    ))
    .await;

    // Again: nothing missing, nothing deleted.
    let out = run(
        dir,
        &["reconcile", "--table", MART, "--window", "7d", "--json"],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["deleted"], 0, "{report}");
    assert_eq!(marts.count(&mart_count).await, 97);
    let kept = format!("SELECT count(*) FROM {MART} WHERE order_id = 70");
    assert_eq!(marts.count(&kept).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reconcile_deletes_exactly_the_keys_the_source_lost_inside_the_window() {
    let Some(db) = source_with_orders().await else {
        return;
    };
    let ws = Workspace::new();
    let config = ws
        .config_text(Path::new("unused"), TABLES)
        .replace("files://unused", &db.url);
    std::fs::write(ws.path("m.toml"), config).unwrap();
    deletes_exactly_the_keys_the_source_lost(&ws.path(""), &db, Marts::DuckDb(&ws)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reconcile_deletes_exactly_the_keys_the_source_lost_inside_the_window() {
    let (Some(pg), Some(db)) = (
        service_url("MARTSYNC_TEST_POSTGRES_URL"),
        source_with_orders().await,
    ) else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    let stage = format!("file://{}", ws.path("stage").display());
    std::fs::write(
        ws.path("m.toml"),
        service_config(&db.url, &stage, &schema.url, TABLES),
    )
    .unwrap();
    deletes_exactly_the_keys_the_source_lost(&ws.path(""), &db, Marts::Postgres(&schema)).await;
}

/// `delete_missing` reconciles after every scheduled cycle; a source emptied by mistake is
/// refused by the default `max_deletes` (10% of the window's keys): exit 8, mart unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_missing_follows_source_deletes_and_an_emptied_source_changes_nothing() {
    let Some(db) = source_with_orders().await else {
        return;
    };
    let ws = Workspace::new();
    let tables = "[[tables]]\nname = \"mart_uni_tracking_info\"\ndelete_missing = \"7d\"\n\
                  [[tables.targets]]\nname = \"uti_buffer\"\nretention = \"20d\"\n";
    let config = ws
        .config_text(Path::new("unused"), tables)
        .replace("files://unused", &db.url);
    std::fs::write(ws.path("m.toml"), config).unwrap();
    let marts = Marts::DuckDb(&ws);
    let dir = ws.path("");
    let out = run(&dir, &["run"]);
    assert!(out.status.success(), "{}", stderr_text(&out));

    db.exec("DELETE FROM uni_tracking_info WHERE order_id IN (60, 61)")
        .await;
    let out = run(
        &dir,
        &["run", "--report-json", "r.json", "--metrics-file", "m.prom"],
    );
    assert!(out.status.success(), "{}", stderr_text(&out));
    let metrics = std::fs::read_to_string(ws.path("m.prom")).unwrap();
    assert!(
        metrics.contains(&format!(
            "martsync_cycle_rows{{command=\"run\",table=\"{MART}\",step=\"reconciled\"}} 2\n"
        )),
        "{metrics}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["marts"][0]["result"]["rows_reconciled"], 2,
        "{report}"
    );
    assert_eq!(ws.count(&format!("SELECT count(*) FROM {MART}")), 98);

    db.exec("DELETE FROM uni_tracking_info").await;
    let out = run(&dir, &["run"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr_text(&out));
    assert!(stderr_text(&out).contains("reconcile refused"));
    assert_eq!(ws.count(&format!("SELECT count(*) FROM {MART}")), 98);
    // The buffer keeps 62 (5 is past its 20-day retention; 60 and 61 were reconciled).
    assert_eq!(marts.ids("uti_buffer").await, "1 of 5,60,61,62");
}
