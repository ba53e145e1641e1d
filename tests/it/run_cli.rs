//! The binary as a user runs it: `run` on the embedded default, `ddl`, `status`, reports.

use crate::common::{Workspace, martsync};

const MARTS: [&str; 3] = [
    "mart_uni_tracking_info",
    "mart_ecs_order_info",
    "mart_uni_tracking_spath",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_the_embedded_default_builds_the_marts_a_replay_builds() {
    let cwd = tempfile::tempdir().unwrap();
    let out = martsync(cwd.path(), &["run", "--report-json", "report.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for mart in MARTS {
        assert!(stdout.contains(mart), "summary lacks {mart}: {stdout}");
    }
    let warehouse = cwd.path().join(".martsync/warehouse.duckdb");
    assert!(warehouse.exists());
    // Staged files are removed after COMMIT.
    let staged: Vec<_> = crate::common::walk(&cwd.path().join(".martsync/stage"));
    assert!(staged.is_empty(), "left behind: {staged:?}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.path().join("report.json")).unwrap()).unwrap();
    let cycles = report["marts"].as_array().unwrap();
    assert_eq!(cycles.len(), 3);
    assert!(
        cycles
            .iter()
            .all(|c| c["ok"] == true && c["result"]["rows_inserted"].as_u64().unwrap() > 0)
    );

    // The same files replayed one by one must give the same marts as one run over all of them.
    let replayed = Workspace::new();
    replayed
        .replay(&martsync::config::demo_fixtures_dir(), "")
        .await;
    let conn = duckdb::Connection::open(&warehouse).unwrap();
    for mart in MARTS {
        let ran = crate::common::dump_query(&conn, &format!("SELECT * FROM {mart}"));
        assert!(!ran.is_empty());
        assert_eq!(ran, replayed.dump(mart), "{mart}");
    }
    drop(conn);

    // A second run reads only the lookback overlap, and changes nothing.
    let out = martsync(cwd.path(), &["run", "--report-json", "again.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.path().join("again.json")).unwrap()).unwrap();
    for cycle in again["marts"].as_array().unwrap() {
        let r = &cycle["result"];
        assert!(r["watermark_from"].is_i64(), "{r}");
        assert!(r["rows_extracted"].as_u64().unwrap() < 50, "{r}");
        // The overlap's rows are all in the marts already, as they are: nothing is replaced.
        assert_eq!(r["rows_inserted"].as_u64(), Some(0), "{r}");
        assert_eq!(r["rows_deleted"].as_u64(), Some(0), "{r}");
    }
    let conn = duckdb::Connection::open(&warehouse).unwrap();
    for mart in MARTS {
        assert_eq!(
            crate::common::dump_query(&conn, &format!("SELECT * FROM {mart}")),
            replayed.dump(mart)
        );
    }
    drop(conn);

    let out = martsync(cwd.path(), &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("lag 0s"),
        "{stdout}"
    );
}

#[test]
fn ddl_renders_redshift_distribution_and_sort_keys() {
    let cwd = tempfile::tempdir().unwrap();
    let out = martsync(cwd.path(), &["ddl", "--dialect", "redshift"]);
    let ddl = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for expected in [
        "DISTKEY(\"order_id\")\nCOMPOUND SORTKEY(\"update_time\", \"order_id\")",
        "COMPOUND SORTKEY(\"partner_id\", \"add_time\", \"order_id\")",
        "COMPOUND SORTKEY(\"pathtime\", \"order_id\")",
        "\"tracking_no\" VARCHAR(160) NOT NULL",
        "\"time_modified\" TIMESTAMPTZ NOT NULL",
        "CREATE TABLE IF NOT EXISTS martsync_runs",
    ] {
        assert!(ddl.contains(expected), "missing {expected:?} in:\n{ddl}");
    }
    let out = martsync(cwd.path(), &["ddl", "--dialect", "duckdb"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"declared_value\" NUMERIC(12,2)"));
}

#[test]
fn a_warehouse_held_by_another_process_is_a_clear_lock_error() {
    let ws = Workspace::new();
    let config = ws.write_config(
        &martsync::config::demo_fixtures_dir(),
        "lock_timeout = \"1s\"\n",
    );
    // This test process holds the DuckDB file, as a concurrent run would; the run waits
    // lock_timeout for it, then gives up.
    let holder = duckdb::Connection::open(ws.warehouse()).unwrap();
    let out = martsync(
        ws.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("locked by another martsync run"),
        "{stderr}"
    );
    drop(holder);
}

/// A source that does not answer fails every mart at the health check, before anything is
/// extracted, naming the phase and never the password.
#[test]
fn an_unreachable_mysql_source_fails_the_health_check() {
    let ws = Workspace::new();
    let config = ws.path("martsync.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nurl = \"mysql://reader:s3cr3t-pw@127.0.0.1:1/tracking\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n",
            ws.path("stage").display(),
            ws.warehouse().display()
        ),
    )
    .unwrap();
    let out = martsync(
        ws.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "source failures exit 4: {stderr}"
    );
    assert!(stderr.contains("health check"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("s3cr3t-pw"), "password in: {stderr}");
}
