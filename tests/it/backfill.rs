//! `martsync backfill`: a range extracted chunk by chunk equals one run over the same rows
//! (rows exactly on a chunk edge land in one chunk: no gap, no duplicate), and a backfill
//! killed part-way, then run again, skips the committed chunks and ends with the same mart.

use std::path::Path;
use std::process::{Command, Output};

use martsync::generate::{FileFormat, Uti, uti_batch, write_batch};

use crate::common::{Workspace, martsync};

const DAY: i32 = 86_400;
const JAN_1: i32 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Versions of 40 orders over ten days, many exactly on a midnight (a chunk edge) or one
/// second either side, in three files; retention off so every row stays.
fn write_history(dir: &Path) {
    let row = |order_id: i64, update_time: i32| Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 1,
        carrier_code: None,
        status: (update_time % 7) as i16,
        last_code: None,
        last_event: Some(format!("at {update_time}")),
        last_location: None,
        delivered_at: None,
        add_time: JAN_1,
        update_time,
    };
    for file in 0..3i64 {
        let rows: Vec<Uti> = (0..40i64)
            .flat_map(|order| {
                let day = ((order + file * 3) % 10) as i32;
                let offset = [0, -1, 1, 3_600][(order % 4) as usize];
                [
                    row(order, JAN_1 + day * DAY + offset),
                    row(order + 100, JAN_1 + day * DAY),
                ]
            })
            .filter(|r| r.update_time >= JAN_1)
            .collect();
        write_batch(
            &dir.join(format!("uni_tracking_info/batch-{file}.parquet")),
            &uti_batch(&rows),
            FileFormat::Parquet,
        )
        .unwrap();
    }
}

const TABLES: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\nretention = \"off\"\n";

fn backfill(ws: &Workspace, fail_at: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_martsync"));
    command
        .args(["backfill", "--table", "mart_uni_tracking_info"])
        .args([
            "--from",
            "2026-01-01",
            "--until",
            "2026-01-12",
            "--chunk",
            "1d",
        ])
        .current_dir(ws.dir.path())
        .env("MARTSYNC_LOG", "martsync=warn")
        .env_remove("MARTSYNC_FAIL_AT");
    if let Some(point) = fail_at {
        command.env("MARTSYNC_FAIL_AT", point);
    }
    command.output().unwrap()
}

#[test]
fn a_backfill_equals_one_run_and_resumes_after_a_crash() {
    let history = Workspace::new();
    write_history(history.dir.path());

    // The reference: one ordinary run over every row.
    let reference = Workspace::new();
    reference.write_config(history.dir.path(), TABLES);
    let out = martsync(reference.dir.path(), &["run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = reference.dump("mart_uni_tracking_info");
    assert_eq!(want.len(), 80, "one row per order");

    // One backfill in day chunks.
    let whole = Workspace::new();
    whole.write_config(history.dir.path(), TABLES);
    let out = backfill(&whole, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(whole.dump("mart_uni_tracking_info"), want);
    assert_eq!(
        whole.count("SELECT count(*) FROM martsync_runs WHERE batch LIKE 'backfill:update_time:%'"),
        11,
        "one ledger row per day"
    );

    // Killed after the fourth chunk's COMMIT, then run again: the four are skipped.
    let resumed = Workspace::new();
    resumed.write_config(history.dir.path(), TABLES);
    let out = backfill(&resumed, Some("after_commit:4"));
    assert!(
        !out.status.success(),
        "the injected crash stops the backfill"
    );
    assert_eq!(resumed.count("SELECT count(*) FROM martsync_runs"), 4);
    let out = backfill(&resumed, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Vec<&str> = stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        summary[..3],
        ["mart_uni_tracking_info", "11", "4"],
        "{stdout}"
    );
    assert_eq!(resumed.dump("mart_uni_tracking_info"), want);
    assert_eq!(resumed.count("SELECT count(*) FROM martsync_runs"), 11);

    // A third time changes nothing.
    let out = backfill(&resumed, None);
    assert!(out.status.success());
    assert_eq!(resumed.dump("mart_uni_tracking_info"), want);
    assert_eq!(resumed.count("SELECT count(*) FROM martsync_runs"), 11);
}

#[test]
fn a_bad_range_is_a_usage_error() {
    let ws = Workspace::new();
    for (from, until, chunk, words) in [
        ("2026-01-02", "2026-01-01", "1d", "not after --from"),
        ("2026-13-01", "2026-01-01", "1d", "not a UTC time"),
        ("2026-01-01", "2026-01-02", "0s", "--chunk"),
    ] {
        let out = martsync(
            ws.dir.path(),
            &[
                "backfill",
                "--table",
                "mart_uni_tracking_info",
                "--from",
                from,
                "--until",
                until,
                "--chunk",
                chunk,
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
    }
    assert!(!ws.path(".martsync").exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_backfill_reads_every_row_once() {
    let Some(mysql) = crate::common::service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = crate::common::MyDb::new(&mysql).await;
    db.create_sources().await;
    // Rows on, just before and just after each midnight of five days.
    let values: Vec<String> = (0..60)
        .map(|order| {
            let t = JAN_1 + (order % 5) * DAY + [0, -1, 1][(order % 3) as usize];
            format!("({order}, 'TN{order}', 1, 1, {JAN_1}, {})", t.max(JAN_1))
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES {}",
        values.join(", ")
    ))
    .await;
    let ws = Workspace::new();
    std::fs::write(
        ws.path("martsync.toml"),
        ws.config_text(Path::new("unused"), TABLES)
            .replace("files://unused", &db.url),
    )
    .unwrap();
    let out = backfill(&ws, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = db
        .rows("SELECT CONCAT(order_id, '@', update_time) FROM uni_tracking_info")
        .await;
    let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
    let mut mart: Vec<String> = conn
        .prepare("SELECT order_id || '@' || update_time FROM mart_uni_tracking_info")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    mart.sort();
    assert_eq!(mart, source);
}
