//! End to end on the production path: MariaDB → S3 server (Garage) → PostgreSQL, through
//! the real `martsync run` binary, cycle after cycle. After every cycle each mart must equal,
//! row for row, what MariaDB's current state implies within the 180-day retention.
//!
//! The scenario advances a simulated clock through rounds of new orders, tracking updates
//! and events: orders stay active for up to 60 days (longer than the old pipeline's 20-day
//! window), some updates land inside the 30-minute lookback overlap (older than the mart's
//! newest row, so only the overlap picks them up), some share an update_time (ties), and the
//! clock runs past 180 days so retention trims.

use martsync::generate::Rng;

use crate::common::{
    MyDb, PgSchema, canonical_select, martsync, parse_config, service_config, service_url,
};

const DAY: i64 = 86_400;
const RETENTION: i64 = 180 * DAY;

/// The scenario's MariaDB writes, one round at a time.
pub(crate) struct Scenario {
    rng: Rng,
    /// The simulated clock (unix seconds) of the current round.
    now: i64,
    /// The previous round's clock: the marts' newest watermark after its cycle.
    before: i64,
    next_order: i64,
    /// Orders still being tracked: (order_id, created at, last update_time).
    active: Vec<(i64, i64, i64)>,
}

impl Scenario {
    fn new() -> Self {
        let start = 1_767_225_600; // 2026-01-01
        Scenario {
            rng: Rng::new(7),
            now: start,
            before: start,
            next_order: 1,
            active: Vec::new(),
        }
    }

    /// SQL for one round: updates to active orders (with spath events), then `new` orders.
    fn round(&mut self, new: usize) -> String {
        let mut sql = Vec::new();
        let now = self.now;
        let mut still = Vec::new();
        for (id, created, last) in std::mem::take(&mut self.active) {
            let mut last = last;
            if self.rng.chance(0.6) {
                // Most updates happen "now". Some committed late: older than the marts'
                // newest row (the previous round's clock) but within the 30-minute lookback,
                // so only the overlap re-read picks them up.
                let late = self.before - self.rng.range(1, 600);
                let at = if self.rng.chance(0.2) && late > last {
                    late
                } else {
                    now - self.rng.range(0, 60).min(now - last - 1)
                };
                let status = self.rng.range(1, 5);
                let delivered = if status == 4 {
                    format!("FROM_UNIXTIME({at})")
                } else {
                    "NULL".into()
                };
                sql.push(format!(
                    "UPDATE uni_tracking_info SET status = {status}, last_code = {code}, \
                     last_event = 'event {at} ✓', last_location = 'hub {h}', \
                     delivered_at = {delivered}, update_time = {at} WHERE order_id = {id}",
                    code = 100 * status,
                    h = self.rng.range(1, 9),
                ));
                let seq = self.rng.range(1, 1000) as i32;
                sql.push(self.event(id, seq, at));
                last = at;
            }
            // Orders are tracked for up to 60 days, a few much longer.
            if now - created < 60 * DAY || self.rng.chance(0.1) {
                still.push((id, created, last));
            }
        }
        self.active = still;
        for _ in 0..new {
            let id = self.next_order;
            self.next_order += 1;
            self.active.push((id, now, now));
            let partner = self.rng.range(1, 20);
            let carrier = if self.rng.chance(0.3) {
                "NULL".into()
            } else {
                format!("'C{}'", id % 7)
            };
            sql.push(format!(
                "INSERT INTO uni_tracking_info VALUES ({id}, 'TN{id}', {partner}, {carrier}, 0, \
                 NULL, 'created', NULL, NULL, {now}, {now})"
            ));
            let customer = if self.rng.chance(0.5) {
                "NULL".into()
            } else {
                format!("'ref-{id}-é'")
            };
            sql.push(format!(
                "INSERT INTO ecs_order_info VALUES ({id}, 'ON{id}', {partner}, {customer}, 'DE', \
                 {w}, {euros}.{cents:02}, 'EUR', {now})",
                w = self.rng.range(100, 30_000),
                euros = self.rng.range(0, 5000),
                cents = self.rng.range(0, 99),
            ));
            sql.push(self.event(id, 0, now));
        }
        sql.join(";\n")
    }

    fn event(&mut self, order: i64, seq: i32, at: i64) -> String {
        let code = self.rng.range(1, 9) * 100;
        let description = if self.rng.chance(0.2) {
            "NULL".into()
        } else {
            format!("'event 📦 {seq}'")
        };
        format!(
            "INSERT INTO uni_tracking_spath (order_id, traceSeq, pathTime, code, location, \
             description, is_updated, time_modified) VALUES ({order}, {seq}, {at}, {code}, \
             'loc {order}', {description}, 0, FROM_UNIXTIME({at}.125))"
        )
    }

    /// Moves the clock: rounds alternate 15 minutes and 30 days apart.
    fn advance(&mut self, round: usize) {
        self.before = self.now;
        self.now += if round.is_multiple_of(2) {
            15 * 60
        } else {
            30 * DAY
        };
    }
}

/// What a mart (or one of its targets) must hold: the source rows within `retention`
/// seconds of the source's newest.
async fn expected(db: &MyDb, table: &martsync::config::TableConfig, retention: i64) -> Vec<String> {
    let watermark = &table.retention_column;
    db.rows(&format!(
        "{} FROM `{src}` WHERE `{watermark}` >= (SELECT MAX(`{watermark}`) FROM `{src}`) - {retention}",
        canonical_select(&table.schema, true),
        src = table.schema.name
    ))
    .await
}

/// The design's marts, `mart_uni_tracking_info` with an Option A buffer of 20 days in front
/// (the rounds cross it every other cycle).
const MARTS_WITH_BUFFER: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
     [[tables.targets]]\nname = \"stg_uni_tracking_info\"\nretention = \"20d\"\n\
     [[tables]]\nname = \"mart_ecs_order_info\"\n[[tables]]\nname = \"mart_uni_tracking_spath\"\n";

/// The MariaDB, PostgreSQL and S3 URLs, when all three services are there.
fn services() -> Option<(String, String, String)> {
    Some((
        service_url("MARTSYNC_TEST_MYSQL_URL")?,
        service_url("MARTSYNC_TEST_POSTGRES_URL")?,
        service_url("MARTSYNC_TEST_S3_URL")?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_to_s3_to_postgres_cycles_match_the_source() {
    let Some((mysql, pg, s3)) = services() else {
        return;
    };
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    let schema = PgSchema::new(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    // Three connections per extraction, over key ranges (the single-connection path is
    // what mysql_types reads with).
    let config_text = service_config(
        &db.url,
        &format!("{s3}/{}", schema.name),
        &schema.url,
        MARTS_WITH_BUFFER,
    )
    .replace("[stage]", "parallel = 3\n[stage]");
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    let config = parse_config(&config_text);

    // The mart DDL from the source's information_schema equals the shipped DDL's.
    let from_source = martsync(
        dir.path(),
        &["ddl", "--dialect", "postgres", "--from-source"],
    );
    let shipped = martsync(dir.path(), &["ddl", "--dialect", "postgres"]);
    assert!(
        from_source.status.success(),
        "{}",
        String::from_utf8_lossy(&from_source.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&from_source.stdout),
        String::from_utf8_lossy(&shipped.stdout)
    );

    let scenario = run_rounds(&db, &schema, dir.path(), &config, 14, |_, _| {}).await;
    assert!(
        scenario.now - 1_767_225_600 > RETENTION,
        "the scenario crosses the retention"
    );
    let trimmed = schema
        .count("SELECT CAST(sum(rows_trimmed) AS BIGINT) FROM martsync_runs")
        .await;
    assert!(trimmed > 0, "retention trimmed rows on the way");
    let (mart, buffer) = (
        schema
            .count("SELECT count(*) FROM mart_uni_tracking_info")
            .await,
        schema
            .count("SELECT count(*) FROM stg_uni_tracking_info")
            .await,
    );
    assert!(
        0 < buffer && buffer < mart,
        "the 20-day buffer holds fewer rows than the mart ({buffer} vs {mart})"
    );
    // Every run's staged folder was deleted after its COMMIT.
    let stage = martsync::stage::open(&config.stage).await.unwrap();
    assert_eq!(
        stage.list("").await.unwrap(),
        [],
        "staged files left behind"
    );
    let runs = schema.count("SELECT count(*) FROM martsync_runs").await;
    assert_eq!(runs, 14 * 3, "one ledger row per mart per cycle");
}

/// Where the marts are read from: a PostgreSQL schema, or (the live suite) a Redshift one.
pub(crate) trait MartReader {
    /// Every row of `sql` (one text column), sorted.
    async fn rows(&self, sql: &str) -> Vec<String>;
    /// The canonical text of a mart's rows, in this warehouse's SQL.
    fn canonical_select(&self, schema: &martsync::schema::TableSchema) -> String;
}

impl MartReader for PgSchema {
    async fn rows(&self, sql: &str) -> Vec<String> {
        PgSchema::rows(self, sql).await
    }

    fn canonical_select(&self, schema: &martsync::schema::TableSchema) -> String {
        canonical_select(schema, false)
    }
}

/// `rounds` cycles of the scenario: source changes in MariaDB, one `martsync run` in `dir`,
/// then every mart compared, row for row, with what the source implies. `each` sees the
/// round's run report.
pub(crate) async fn run_rounds(
    db: &MyDb,
    schema: &impl MartReader,
    dir: &std::path::Path,
    config: &martsync::config::Config,
    rounds: usize,
    mut each: impl FnMut(usize, &serde_json::Value),
) -> Scenario {
    let mut scenario = Scenario::new();
    for round in 0..rounds {
        let sql = scenario.round(if round == 0 { 300 } else { 40 });
        db.exec(&sql).await;
        let out = martsync(dir, &["run", "--report-json", "report.json"]);
        assert!(
            out.status.success(),
            "round {round}: martsync run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        each(round, &report);
        for written in config.tables.iter().flat_map(|t| t.written_tables()) {
            let mart = schema
                .rows(&format!(
                    "{} FROM \"{}\"",
                    schema.canonical_select(&written.schema),
                    written.name
                ))
                .await;
            let retention = written
                .retention
                .map_or(i64::MAX / 2, |r| r.as_secs() as i64);
            let want = expected(db, &written, retention).await;
            assert_eq!(
                mart.len(),
                want.len(),
                "round {round}: {} row count",
                written.name
            );
            assert!(
                mart == want,
                "round {round}: {} differs from the source",
                written.name
            );
        }
        scenario.advance(round);
    }
    scenario
}

/// The soak (opt-in: `cargo test --release --features fault-injection -- --ignored soak`):
/// `MARTSYNC_SOAK_CYCLES` (default 200) cycles of inserts and updates against the real
/// services, every mart checked against the source after every cycle; each run's peak RSS
/// is recorded and must stay flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with --ignored soak"]
async fn soak_cycles_match_the_source_and_memory_stays_flat() {
    let Some((mysql, pg, s3)) = services() else {
        return;
    };
    let rounds: usize = std::env::var("MARTSYNC_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    let schema = PgSchema::new(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let config_text = service_config(&db.url, &format!("{s3}/{}", schema.name), &schema.url, "");
    std::fs::write(dir.path().join("martsync.toml"), &config_text).unwrap();
    let config = parse_config(&config_text);
    let started = std::time::Instant::now();
    let mut rss = Vec::new();
    run_rounds(&db, &schema, dir.path(), &config, rounds, |_, report| {
        rss.push(report["process"]["peak_rss_bytes"].as_u64().unwrap());
    })
    .await;
    let mib = |b: u64| b as f64 / 1048576.0;
    let (first, last, max) = (
        rss[1],
        rss[rss.len() - 1],
        rss.iter().skip(1).max().unwrap(),
    );
    println!(
        "soak: {rounds} cycles in {:.0} s; peak RSS per run: cycle 2 {:.1} MiB, last {:.1} MiB, max {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(first),
        mib(last),
        mib(*max)
    );
    // The first run loads the initial 300 orders; from the second on the cycles are alike.
    assert!(
        last <= first + first / 2 + (32 << 20),
        "peak RSS grew from {:.1} MiB to {:.1} MiB",
        mib(first),
        mib(last)
    );
}
