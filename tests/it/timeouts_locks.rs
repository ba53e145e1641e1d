//! A scheduled job must never hang and never double-apply: a server that accepts and never
//! answers fails its phase within the configured timeout; a mart locked by another run makes
//! a cycle wait up to `lock_timeout`, then exit 3 naming the mart; two runs at once give the
//! marts one clean run gives.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{PgSchema, Workspace, canonical_select, parse_config, service_url};

/// A TCP server on loopback that accepts every connection and never says a word.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                // Read (and drop) whatever the client sends; answer nothing, close nothing.
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

fn run(dir: &Path, config: &str) -> (Output, Duration) {
    std::fs::write(dir.join("t.toml"), config).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args(["run", "-c", "t.toml"])
        .current_dir(dir)
        .env("MARTSYNC_LOG", "martsync=warn")
        // Credentials for the S3 case (the silent server never checks them).
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "garage")
        .output()
        .unwrap();
    (out, started.elapsed())
}

fn demo_source() -> String {
    format!(
        "[source]\nurl = \"files://{}\"\n",
        martsync::config::demo_fixtures_dir().display()
    )
}

#[test]
fn a_server_that_never_answers_fails_its_phase_within_the_timeout() {
    let ws = Workspace::new();
    let port = silent_server();
    let duckdb = format!(
        "[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n",
        ws.path("stage").display(),
        ws.warehouse().display()
    );

    let config = format!(
        "[source]\nurl = \"mysql://u:secret-pw@127.0.0.1:{port}/db\"\nconnect_timeout = \"1s\"\n{duckdb}"
    );
    let (out, took) = run(ws.dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("source.connect_timeout = 1s"), "{stderr}");
    assert!(!stderr.contains("secret-pw"), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");

    let config = format!(
        "{}[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"postgres://u:secret-pw@127.0.0.1:{port}/db?sslmode=disable\"\nconnect_timeout = \"1s\"\n",
        demo_source(),
        ws.path("stage").display()
    );
    let (out, took) = run(ws.dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("warehouse.connect_timeout = 1s"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-pw"), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // The stage: S3 on the silent server, with a real PostgreSQL warehouse.
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(PgSchema::new(&pg));
    let config = format!(
        "{}[stage]\nurl = \"s3://silent/x\"\nendpoint = \"http://127.0.0.1:{port}\"\ntimeout = \"1s\"\n[warehouse]\nurl = \"{}\"\n[[tables]]\nname = \"mart_ecs_order_info\"\n",
        demo_source(),
        schema.url
    );
    let (out, took) = run(ws.dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("stage s3://silent/x"), "{stderr}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

/// Waits of a lock that another session holds must be bounded on both sides: at least the
/// configured timeout (it did wait), and not much more (it did not ignore the timeout and
/// wait for the 5-minute default, or forever).
fn assert_waited(took: Duration, timeout: Duration, what: &str) {
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(20),
        "{what}: took {took:?} for a {timeout:?} timeout"
    );
}

/// Another run's locks on a mart (this test takes the locks martsync itself takes): the hold,
/// which a run takes before it reads anything, and PostgreSQL's lock on the mart in the merge.
/// The cycle waits for each up to lock_timeout, then exits 3 naming the mart; the other marts
/// commit; with a longer lock_timeout it waits and commits once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_mart_lock_is_waited_for_then_reported_as_code_3() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    let config = |lock_timeout: &str| {
        format!(
            "{}[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\nlock_timeout = \"{lock_timeout}\"\n",
            demo_source(),
            ws.path("stage").display(),
            schema.url
        )
    };
    let (out, _) = run(ws.dir.path(), &config("5s"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = || schema.count("SELECT count(*) FROM martsync_runs");
    for lock in [
        "LOCK martsync_hold_mart_uni_tracking_info",
        // New source rows would be needed for a real merge; a run over the same files still
        // takes the lock (to check the run id and merge the lookback overlap).
        "LOCK TABLE mart_uni_tracking_info IN SHARE ROW EXCLUSIVE MODE",
    ] {
        let holder = schema.client().await;
        holder
            .batch_execute(&format!("BEGIN; {lock}"))
            .await
            .unwrap();
        let before = runs().await;
        let (out, took) = run(ws.dir.path(), &config("2s"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{lock}: {stderr}");
        assert!(
            stderr.contains("another run holds mart mart_uni_tracking_info"),
            "{lock}: {stderr}"
        );
        assert!(!stderr.contains("error: mart_ecs_order_info"), "{stderr}");
        assert_waited(took, Duration::from_secs(2), lock);
        // The two other marts committed; the held one did not.
        assert_eq!(runs().await, before + 2, "{lock}");

        // With a longer lock_timeout the run waits, and commits once the lock is released.
        let dir = ws.dir.path().to_path_buf();
        let text = config("60s");
        let waiting = tokio::task::spawn_blocking(move || run(&dir, &text));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !waiting.is_finished(),
            "{lock}: the run did not wait for the lock"
        );
        holder.batch_execute("COMMIT").await.unwrap();
        let (out, took) = waiting.await.unwrap();
        // It was still waiting 3 s after it started (above), and committed once released.
        assert!(
            out.status.success(),
            "{lock}: {} (after {took:?})",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `statement_timeout` bounds a merge statement: with a lock_timeout far longer, a statement
/// kept waiting (here on a lock another session holds on the mart) is cancelled by the
/// server at the statement timeout, and the run exits 6 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_a_statement_that_runs_too_long() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    let config = format!(
        "{}[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n\
         statement_timeout = \"2s\"\nlock_timeout = \"5m\"\n\
         [[tables]]\nname = \"mart_uni_tracking_info\"\n",
        demo_source(),
        ws.path("stage").display(),
        schema.url
    );
    let (out, _) = run(ws.dir.path(), &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let holder = schema.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE mart_uni_tracking_info IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let (out, took) = run(ws.dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("statement timeout"), "{stderr}");
    assert!(stderr.contains("mart_uni_tracking_info"), "{stderr}");
    assert_waited(took, Duration::from_secs(2), "statement_timeout");
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// `read_timeout` bounds an extraction: a source table another session holds `LOCK TABLES
/// … WRITE` on makes the SELECT wait without a row; the run fails with code 4 at the read
/// timeout, naming it, and the mart is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_fails_an_extraction_that_gets_no_row() {
    use mysql_async::prelude::Queryable;
    let Some(mysql) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = crate::common::MyDb::new(&mysql).await;
    db.create_sources().await;
    db.exec(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES (1, 'TN1', 7, 1, 1767225600, 1767225600)",
    )
    .await;
    let ws = Workspace::new();
    let config = format!(
        "[source]\nurl = \"{}\"\nread_timeout = \"2s\"\n[stage]\nurl = \"file://{}\"\n\
         [warehouse]\nurl = \"duckdb://{}\"\n[[tables]]\nname = \"mart_uni_tracking_info\"\n",
        db.url,
        ws.path("stage").display(),
        ws.warehouse().display()
    );
    let (out, _) = run(ws.dir.path(), &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = ws.dump("mart_uni_tracking_info");

    let mut holder = db.pool.get_conn().await.unwrap();
    holder
        .query_drop("LOCK TABLES uni_tracking_info WRITE")
        .await
        .unwrap();
    let (out, took) = run(ws.dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("source.read_timeout = 2s"), "{stderr}");
    assert_waited(took, Duration::from_secs(2), "read_timeout");
    holder.query_drop("UNLOCK TABLES").await.unwrap();
    drop(holder);
    assert_eq!(ws.dump("mart_uni_tracking_info"), before);
}

/// Two `martsync run` processes on the same PostgreSQL marts at once: the mart lock orders
/// their merges; the marts equal those of a single run, row for row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_give_the_marts_of_one_run() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let (together, alone) = (PgSchema::new(&pg).await, PgSchema::new(&pg).await);
    let config = |schema: &PgSchema, stage: &str| {
        format!(
            "{}[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n",
            demo_source(),
            ws.path(stage).display(),
            schema.url
        )
    };
    let (a, b) = (ws.path("a"), ws.path("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (text_a, text_b) = (config(&together, "stage"), config(&together, "stage"));
    let first = std::thread::spawn(move || run(&a, &text_a).0);
    let second = std::thread::spawn(move || run(&b, &text_b).0);
    for out in [first.join().unwrap(), second.join().unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = ws.path("c");
    std::fs::create_dir_all(&c).unwrap();
    let (out, _) = run(&c, &config(&alone, "stage-alone"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for table in &parse_config("").tables {
        let select = format!(
            "{} FROM \"{}\"",
            canonical_select(&table.schema, false),
            table.name
        );
        let (got, want) = (together.rows(&select).await, alone.rows(&select).await);
        assert!(!want.is_empty());
        assert_eq!(got, want, "{}", table.name);
        let keys = table.key.join(", ");
        let dup = together
            .count(&format!(
                "SELECT count(*) FROM (SELECT {keys} FROM \"{}\" GROUP BY {keys} HAVING count(*) > 1) d",
                table.name
            ))
            .await;
        assert_eq!(dup, 0, "{}: duplicate keys", table.name);
        // Both runs are in the ledger: the second merged the same rows and changed nothing.
        let runs = together
            .count(&format!(
                "SELECT count(*) FROM martsync_runs WHERE mart = '{}'",
                table.name
            ))
            .await;
        assert_eq!(runs, 2, "{}", table.name);
    }
}
