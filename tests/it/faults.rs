//! Crashes at every step of a cycle converge: the process aborts at a fault point
//! (`MARTSYNC_FAIL_AT`, feature `fault-injection`) or is SIGKILLed at random moments part-way
//! through a replay; replaying again gives marts equal, row for row, to one clean replay.
//! On DuckDB and on PostgreSQL.

use std::path::Path;
use std::process::{Command, Output, Stdio};
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
        match self {
            Target::DuckDb(ws) => ws.write_config(from, ""),
            Target::Postgres(ws, schema) => {
                let path = ws.path("martsync.toml");
                std::fs::write(
                    &path,
                    format!(
                        "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n",
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

fn feature_on() -> bool {
    if !cfg!(feature = "fault-injection") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the crash tests need --features fault-injection (scripts/test.sh sets it)"
        );
        eprintln!("skipped: build with --features fault-injection");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_crash_at_every_step_converges() {
    if feature_on() {
        crash_at_every_point_converges(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_at_every_step_converges() {
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    if feature_on() {
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
    let started = std::time::Instant::now();
    ok(replay(
        clean.ws().dir.path(),
        &clean.config(input.path()),
        input.path(),
        None,
    ));
    // Kill points are spread over the time a whole replay takes on this machine; each
    // restart resumes, so the run is cut several times at different cycles and steps.
    let whole_ms = started.elapsed().as_millis() as i64;

    let killed = Target::new(Some(&url)).await;
    let config = killed.config(input.path());
    let mut rng = Rng::new(11);
    let mut kills = 0;
    for _ in 0..8 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_martsync"))
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--from")
            .arg(input.path())
            .current_dir(killed.ws().dir.path())
            .env("MARTSYNC_LOG", "martsync=warn")
            .env_remove("MARTSYNC_FAIL_AT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = whole_ms * rng.range(5, 45) / 100;
        tokio::time::sleep(Duration::from_millis(at as u64)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no cleanup, a transaction may be open
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 3,
        "only {kills} kills landed: make the history larger"
    );
    ok(replay(killed.ws().dir.path(), &config, input.path(), None));
    assert_eq!(killed.dumps().await, clean.dumps().await);
}
