//! A service that goes down mid-cycle: the run fails with an error naming the service and
//! what it was doing, exits with that service's code, leaves every mart either as it was or
//! with its whole cycle committed (never half), and the next run, once the service is back,
//! converges to the marts of an uninterrupted run. The outage is a proxy in front of the real
//! MariaDB, PostgreSQL and Garage that shuts every connection half-way through a cycle's
//! traffic (measured by a clean run through the same kind of proxy).

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{MyDb, PgSchema, Proxy, Workspace, host_port, service_url};

fn run(dir: &Path, config: &str) -> Output {
    std::fs::write(dir.join("outage.toml"), config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args(["run", "-c", "outage.toml"])
        .current_dir(dir)
        .env("MARTSYNC_LOG", "martsync=warn")
        .output()
        .unwrap()
}

/// Runs `config` with the proxy going down half-way through `traffic` bytes; checks the exit
/// code and that every `needle` is in stderr.
fn run_through_outage(
    dir: &Path,
    config: &str,
    proxy: &Proxy,
    traffic: u64,
    code: i32,
    needles: &[&str],
) {
    proxy.cut_after(traffic / 2);
    let out = run(dir, config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    proxy.restore();
}

/// A clean run into `measured` through the proxy, then a run into `outage` that loses the
/// service half-way (exit `code`, `needles` in stderr), leaving each mart all or nothing;
/// then, with the service back, `outage` converges to `measured`.
async fn converges_after_outage(
    ws: &Workspace,
    proxy: &Proxy,
    config: &dyn Fn(&PgSchema) -> String,
    (measured, outage): (&PgSchema, &PgSchema),
    code: i32,
    needles: &[&str],
) {
    ok(&run(ws.dir.path(), &config(measured)));
    let expected = measured.mart_dumps().await;
    let traffic = proxy.forwarded();
    run_through_outage(
        ws.dir.path(),
        &config(outage),
        proxy,
        traffic,
        code,
        needles,
    );
    all_or_nothing(outage, &expected).await;
    ok(&run(ws.dir.path(), &config(outage)));
    assert_eq!(outage.mart_dumps().await, expected);
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn demo_source() -> String {
    format!(
        "[source]\nurl = \"files://{}\"\n",
        martsync::config::demo_fixtures_dir().display()
    )
}

/// Each mart is as before (empty here) with no ledger row, or holds its whole cycle with
/// exactly one: never a part of a cycle, and never rows without their ledger row or a ledger
/// row without its rows (the ledger commits in the mart's transaction).
async fn all_or_nothing(schema: &PgSchema, complete: &[Vec<String>]) {
    let after_outage = schema.mart_dumps().await;
    let ledger_exists = schema
        .count(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_name = 'martsync_runs' AND table_schema = current_schema()",
        )
        .await
        > 0;
    let marts = crate::common::parse_config("").tables;
    for ((got, want), mart) in after_outage.iter().zip(complete).zip(&marts) {
        let runs = if ledger_exists {
            schema
                .count(&format!(
                    "SELECT count(*) FROM martsync_runs WHERE mart = '{}'",
                    mart.name
                ))
                .await
        } else {
            0
        };
        assert!(
            (got.is_empty() && runs == 0) || (got == want && runs == 1),
            "{}: {} of {} rows with {runs} ledger row(s) after the outage",
            mart.name,
            got.len(),
            want.len()
        );
    }
}

/// PostgreSQL goes down part-way through the cycles' statements and COPYs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_mid_cycle_fails_cleanly_and_the_next_run_converges() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let (measured, outage) = (PgSchema::new(&pg).await, PgSchema::new(&pg).await);
    let proxy = Proxy::start(&host_port(&pg));
    let config = |schema: &PgSchema| {
        format!(
            "{}[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\nconnect_timeout = \"5s\"\n",
            demo_source(),
            ws.path("stage").display(),
            proxy.url(&schema.url)
        )
    };
    converges_after_outage(
        &ws,
        &proxy,
        &config,
        (&measured, &outage),
        6,
        &["warehouse postgres://martsync:***@", "statement `"],
    )
    .await;
}

/// MariaDB goes down part-way through the extraction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_down_mid_extraction_fails_cleanly_and_the_next_run_converges() {
    let Some(mysql) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    db.exec(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, carrier_code, status, \
         last_code, last_event, last_location, delivered_at, add_time, update_time) \
         SELECT seq, CONCAT('TN', seq), seq % 97, 'UPS', 1, 200, REPEAT('x', 60), 'hub', NULL, \
         1767225600 + seq, 1767225600 + seq FROM seq_1_to_30000",
    )
    .await;
    let proxy = Proxy::start(&host_port(&mysql));
    let (measured, outage) = (Workspace::new(), Workspace::new());
    // One mart, so the traffic is its extraction's and the cut lands inside it.
    let config = |ws: &Workspace| {
        format!(
            "[source]\nurl = \"{}\"\nconnect_timeout = \"5s\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n[[tables]]\nname = \"mart_uni_tracking_info\"\n",
            proxy.url(&db.url),
            ws.path("stage").display(),
            ws.warehouse().display()
        )
    };
    ok(&run(measured.dir.path(), &config(&measured)));
    let mart = "mart_uni_tracking_info";
    let expected = measured.dump(mart);
    assert_eq!(expected.len(), 30_000);
    let traffic = proxy.forwarded();

    run_through_outage(
        outage.dir.path(),
        &config(&outage),
        &proxy,
        traffic,
        4,
        &["source table uni_tracking_info", "mysql://martsync:***@"],
    );
    assert!(
        outage.count(&format!("SELECT count(*) FROM {mart}")) == 0,
        "rows of a failed extraction reached the mart"
    );
    ok(&run(outage.dir.path(), &config(&outage)));
    assert_eq!(outage.dump(mart), expected);
}

/// The S3 server goes down part-way through staging and loading (PostgreSQL reads the
/// staged files back from S3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_mid_cycle_fails_cleanly_and_the_next_run_converges() {
    let (Some(pg), Some(s3), Some(endpoint)) = (
        service_url("MARTSYNC_TEST_POSTGRES_URL"),
        service_url("MARTSYNC_TEST_S3_URL"),
        service_url("AWS_ENDPOINT_URL"),
    ) else {
        return;
    };
    let ws = Workspace::new();
    let (measured, outage) = (PgSchema::new(&pg).await, PgSchema::new(&pg).await);
    let proxy = Proxy::start(&host_port(&endpoint));
    let prefix = format!("{s3}/{}", crate::common::unique_name());
    let config = |schema: &PgSchema| {
        format!(
            "{}[stage]\nurl = \"{prefix}\"\nendpoint = \"{}\"\ntimeout = \"5s\"\n[warehouse]\nurl = \"{}\"\n",
            demo_source(),
            proxy.url(&endpoint),
            schema.url
        )
    };
    let needle = format!("stage {prefix}");
    converges_after_outage(&ws, &proxy, &config, (&measured, &outage), 5, &[&needle]).await;
}
