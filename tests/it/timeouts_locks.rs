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

/// Another run's lock on a mart (this test holds the lock martsync itself takes): the cycle
/// waits for it, up to lock_timeout, then exits 3 naming the mart; the other marts commit.
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
    // New source rows would be needed for a real merge; a run over the same files still
    // takes the lock (to check the run id and merge the lookback overlap).
    let holder = schema.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE mart_uni_tracking_info IN SHARE ROW EXCLUSIVE MODE")
        .await
        .unwrap();

    let (out, took) = run(ws.dir.path(), &config("1s"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("another run holds mart mart_uni_tracking_info"),
        "{stderr}"
    );
    assert!(!stderr.contains("error: mart_ecs_order_info"), "{stderr}");
    assert!(took >= Duration::from_secs(1), "did not wait: {took:?}");

    // With a longer lock_timeout the run waits, and commits once the lock is released.
    let dir = ws.dir.path().to_path_buf();
    let text = config("60s");
    let waiting = tokio::task::spawn_blocking(move || run(&dir, &text));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!waiting.is_finished(), "the run did not wait for the lock");
    holder.batch_execute("COMMIT").await.unwrap();
    let (out, took) = waiting.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took >= Duration::from_secs(3), "{took:?}");
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
