//! The `Warehouse` contract (see `martsync::warehouse::Warehouse`), checked on every
//! warehouse that runs here: merges are atomic, idempotent per run id, and version-guarded.

use martsync::generate::{Uti, uti_batch};
use martsync::pipeline::{Pipeline, new_run_id};
use martsync::stage::{self, StagedRun};
use martsync::warehouse::{MergeOutcome, MergeRequest, RunRecord, Timed};

use crate::common::{
    PgSchema, Workspace, dump_expected, dump_query, parse_config, service_config, service_url,
};

pub(crate) const UTI_ONLY: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n";

fn uti(order_id: i64, version: i32, event: &str) -> Uti {
    Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 3,
        carrier_code: None,
        status: 2,
        last_code: Some(200),
        last_event: Some(event.into()),
        last_location: None,
        delivered_at: None,
        add_time: 1_767_225_600,
        update_time: 1_767_225_600 + version,
    }
}

async fn stage_rows(pipeline: &Pipeline, run_id: &str, rows: &[Uti]) -> StagedRun {
    let table = &pipeline.config.tables[0];
    let schema = table.schema.arrow_schema();
    stage::write_run(
        pipeline.stage.as_ref(),
        &table.name,
        run_id,
        &schema,
        vec![uti_batch(rows)].into_iter().map(Ok),
        &[],
        stage::PartFormat {
            rows: 1000,
            codec: stage::Codec::Zstd,
        },
    )
    .await
    .unwrap()
}

async fn merge(
    pipeline: &Pipeline,
    run_id: &str,
    staged: &StagedRun,
) -> martsync::Result<MergeOutcome> {
    let table = &pipeline.config.tables[0];
    let record = RunRecord {
        run_id: run_id.to_string(),
        mart: table.name.clone(),
        batch: "test".into(),
        rows_extracted: staged.rows,
        rows_deduped: staged.rows,
        ..RunRecord::default()
    };
    pipeline
        .warehouse
        .merge(MergeRequest {
            table,
            staged,
            stage: pipeline.stage.as_ref(),
            record,
            // Every version here is positive: no bound on the stale-version drop.
            min_version: Some(0),
            apply: Default::default(),
        })
        .await
}

/// The contract's steps on an open pipeline (one `latest` mart); returns the run ids.
pub(crate) async fn keeps_the_contract(pipeline: &Pipeline) {
    // Version guard: greater or equal replaces, smaller does not.
    let first = new_run_id();
    let staged = stage_rows(pipeline, &first, &[uti(1, 10, "a"), uti(2, 10, "a")]).await;
    let outcome = merge(pipeline, &first, &staged).await.unwrap();
    assert_eq!(
        (outcome.inserted, outcome.deleted, outcome.already_committed),
        (2, 0, false)
    );
    let second = new_run_id();
    let staged2 = stage_rows(pipeline, &second, &[uti(1, 10, "tie"), uti(2, 5, "older")]).await;
    let outcome = merge(pipeline, &second, &staged2).await.unwrap();
    assert_eq!((outcome.inserted, outcome.deleted), (1, 1));

    // Idempotent per run id: the same run again changes nothing.
    let again = merge(pipeline, &second, &staged2).await.unwrap();
    assert!(again.already_committed);
    assert_eq!((again.inserted, again.deleted), (0, 0));

    // A row the mart already holds as it is (the lookback overlap re-read) changes nothing.
    let same = new_run_id();
    let staged_same = stage_rows(pipeline, &same, &[uti(1, 10, "tie")]).await;
    let outcome = merge(pipeline, &same, &staged_same).await.unwrap();
    assert_eq!((outcome.inserted, outcome.deleted), (0, 0));
    // Its statements' times are recorded: those it ran, and only those.
    let timed: Vec<Timed> = outcome.timings.iter().map(|(t, _)| t).collect();
    for ran in [Timed::Load, Timed::DropStale, Timed::Insert, Timed::Trim] {
        assert!(
            timed.contains(&ran),
            "{ran:?} not timed: {:?}",
            outcome.timings
        );
    }
    assert!(!timed.contains(&Timed::Targets), "{:?}", outcome.timings);
    let same_timings = outcome.timings;

    // Atomic: a run whose staged files vanished fails, names mart, run and statement, and
    // changes nothing.
    let third = new_run_id();
    let staged3 = stage_rows(pipeline, &third, &[uti(1, 99, "lost"), uti(3, 99, "lost")]).await;
    pipeline.stage.delete_prefix(&staged3.prefix).await.unwrap();
    let error = merge(pipeline, &third, &staged3)
        .await
        .unwrap_err()
        .to_string();
    for word in ["mart_uni_tracking_info", third.as_str(), "load_stage"] {
        assert!(error.contains(word), "{word} missing from: {error}");
    }
    let runs = pipeline
        .warehouse
        .committed_batches("mart_uni_tracking_info")
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "only the label `test` is recorded");
    let status = pipeline
        .warehouse
        .status(&pipeline.config.tables[0], 2)
        .await
        .unwrap();
    assert_eq!((status.rows, status.runs), (2, 3));
    // The metrics' gauges: the rows (PostgreSQL's estimate is a count until the mart is first
    // analyzed), and no scheduled cycle yet, so no lag.
    let gauges = pipeline
        .warehouse
        .gauges(&pipeline.config.tables[0])
        .await
        .unwrap();
    assert_eq!((gauges.rows, gauges.synced_at_ms), (Some(2), None));
    assert_eq!(status.max_watermark, Some(1_767_225_610));
    // The two newest runs, newest first, with times read back as UTC epoch ms.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let recent = &status.recent_runs;
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].run_id, same);
    assert_eq!(
        recent[0].timings, same_timings,
        "the ledger's timings read back"
    );
    assert!(recent[0].committed_at_ms >= recent[1].committed_at_ms);
    for run in recent {
        assert!(
            (now_ms - run.committed_at_ms).abs() < 600_000,
            "committed_at {} is not now ({now_ms}): a time zone shift?",
            run.committed_at_ms
        );
        assert!(
            run.duration_ms() >= run.merge_ms && run.merge_ms >= 0,
            "{run:?}"
        );
    }
}

/// What the mart must hold after [`keeps_the_contract`], as `order_id|last_event|update_time`.
pub(crate) const CONTRACT_ROWS: [&str; 2] = ["1|tie|1767225610", "2|a|1767225610"];
pub(crate) const CONTRACT_DUMP: &str = "SELECT CAST(order_id AS VARCHAR) || '|' || last_event || '|' || \
     CAST(update_time AS VARCHAR) FROM mart_uni_tracking_info";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_keeps_the_warehouse_contract() {
    let ws = Workspace::new();
    let pipeline = ws.pipeline(&ws.path("unused"), UTI_ONLY).await;
    keeps_the_contract(&pipeline).await;
    drop(pipeline);

    assert_eq!(
        ws.dump("mart_uni_tracking_info"),
        dump_expected(&[uti_batch(&[uti(1, 10, "tie"), uti(2, 10, "a")])])
    );
    let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
    let rows: Vec<String> = dump_query(&conn, CONTRACT_DUMP)
        .into_iter()
        .map(|r| {
            r.trim_start_matches("Text(\"")
                .trim_end_matches("\")")
                .to_string()
        })
        .collect();
    assert_eq!(rows, CONTRACT_ROWS);
    assert_eq!(ws.count("SELECT count(*) FROM martsync_runs"), 3);
}

/// A pipeline on the uti mart in the test's PostgreSQL schema, staging at `stage`.
async fn pg_pipeline(ws: &Workspace, schema: &PgSchema, stage: &str) -> Pipeline {
    let config = parse_config(&service_config(
        &format!("files://{}", ws.path("unused").display()),
        stage,
        &schema.url,
        UTI_ONLY,
    ));
    Pipeline::open(config).await.unwrap()
}

/// PostgreSQL, loading from a stage on the S3 server when there is one (else a folder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_warehouse_contract() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    let stage = match service_url("MARTSYNC_TEST_S3_URL") {
        Some(s3) => format!("{s3}/{}", schema.name),
        None => format!("file://{}", ws.path("stage").display()),
    };
    let pipeline = pg_pipeline(&ws, &schema, &stage).await;
    keeps_the_contract(&pipeline).await;
    assert_eq!(schema.rows(CONTRACT_DUMP).await, CONTRACT_ROWS);
    assert_eq!(schema.count("SELECT count(*) FROM martsync_runs").await, 3);

    // Once analyzed, the rows gauge is the planner's estimate, not a count of a mart that may
    // hold hundreds of millions: rows added since are not in it until the next ANALYZE.
    let client = schema.client().await;
    client
        .batch_execute(
            "ANALYZE mart_uni_tracking_info; INSERT INTO mart_uni_tracking_info \
             SELECT order_id + 100, tracking_no, partner_id, carrier_code, status, last_code, \
             last_event, last_location, delivered_at, add_time, update_time FROM mart_uni_tracking_info",
        )
        .await
        .unwrap();
    let table = &pipeline.config.tables[0];
    assert_eq!(
        pipeline.warehouse.gauges(table).await.unwrap().rows,
        Some(2)
    );
    client
        .batch_execute("ANALYZE mart_uni_tracking_info")
        .await
        .unwrap();
    assert_eq!(
        pipeline.warehouse.gauges(table).await.unwrap().rows,
        Some(4)
    );
}

/// A COPY that fails on the data itself (a value longer than the mart's VARCHAR) rolls the
/// run back: the error names mart, run and statement, and the mart is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_load_error_leaves_the_mart_unchanged() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    let stage = format!("file://{}", ws.path("stage").display());
    let pipeline = pg_pipeline(&ws, &schema, &stage).await;
    let first = new_run_id();
    let staged = stage_rows(&pipeline, &first, &[uti(1, 10, "a")]).await;
    merge(&pipeline, &first, &staged).await.unwrap();

    let bad = new_run_id();
    let mut too_long = uti(2, 20, "b");
    too_long.tracking_no = "X".repeat(41); // tracking_no is VARCHAR(40)
    let staged = stage_rows(&pipeline, &bad, &[uti(1, 20, "replaced?"), too_long]).await;
    let error = merge(&pipeline, &bad, &staged)
        .await
        .unwrap_err()
        .to_string();
    for word in [
        "mart_uni_tracking_info",
        bad.as_str(),
        "load_stage",
        "character varying(40)",
        // The row and column the COPY rejected.
        "line 2, column tracking_no",
    ] {
        assert!(error.contains(word), "{word} missing from: {error}");
    }
    assert_eq!(schema.rows(CONTRACT_DUMP).await, ["1|a|1767225610"]);
    assert_eq!(schema.count("SELECT count(*) FROM martsync_runs").await, 1);

    // A staged file whose column has another type than the mart's (what the live Redshift
    // suite's COPY is given): the load fails, named, and nothing changes.
    let error = merge_unloadable_file(&pipeline)
        .await
        .unwrap_err()
        .to_string();
    for word in ["mart_uni_tracking_info", "load_stage", "status"] {
        assert!(error.contains(word), "{word} missing from: {error}");
    }
    assert_eq!(schema.rows(CONTRACT_DUMP).await, ["1|a|1767225610"]);
    assert_eq!(schema.count("SELECT count(*) FROM martsync_runs").await, 1);
}

/// `sslmode=require` encrypts without verifying (the local server's certificate is
/// self-signed); `verify-full` verifies, so the same server is refused with a certificate
/// error, and the error shows no password. With the server's own certificate as
/// `sslrootcert`, `verify-ca` connects (the chain is checked, not the name: Debian's
/// certificate names the machine, not 127.0.0.1), and `verify-full` still refuses it for the
/// name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_follows_sslmode() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    use martsync::warehouse::postgres::{Postgres, PostgresWarehouse};
    async fn open(url: &str) -> Result<(), String> {
        PostgresWarehouse::open(url, Postgres, Default::default())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
    let with = |mode: &str| format!("{pg}?sslmode={mode}");
    open(&with("require"))
        .await
        .expect("sslmode=require connects to a server with any certificate");
    let error = open(&with("verify-full"))
        .await
        .expect_err("verify-full refuses a self-signed certificate");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    let password = url::Url::parse(&pg).unwrap().password().map(str::to_string);
    if let Some(password) = password {
        assert!(
            !error.contains(&format!(":{password}@")),
            "password in: {error}"
        );
    }
    let (client, connection) = tokio_postgres::connect(&pg, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let cert: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        std::fs::metadata(&cert).is_ok(),
        "the server's certificate {cert} is not readable here"
    );
    let root = |mode: &str| format!("{pg}?sslmode={mode}&sslrootcert={cert}");
    open(&root("verify-ca"))
        .await
        .expect("verify-ca with the server's certificate as the root connects");
    let error = open(&root("verify-full"))
        .await
        .expect_err("verify-full refuses a certificate that does not name 127.0.0.1");
    assert!(error.contains("not valid for name"), "{error}");
}

/// Stages a file COPY cannot load into the mart (`status` as text) and merges it: the live
/// Redshift suite's failing COPY.
pub(crate) async fn merge_unloadable_file(pipeline: &Pipeline) -> martsync::Result<MergeOutcome> {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let table = &pipeline.config.tables[0];
    let good = uti_batch(&[uti(7, 20, "bad status")]);
    let status = good.schema().index_of("status").unwrap();
    let mut fields: Vec<Field> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[status] = Field::new("status", DataType::Utf8, false);
    let mut columns: Vec<ArrayRef> = good.columns().to_vec();
    columns[status] = std::sync::Arc::new(StringArray::from(vec!["delivered"]));
    let schema = std::sync::Arc::new(Schema::new(fields));
    let bad = arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let run_id = new_run_id();
    let staged = stage::write_run(
        pipeline.stage.as_ref(),
        &table.name,
        &run_id,
        &schema,
        vec![bad].into_iter().map(Ok),
        &[],
        stage::PartFormat {
            rows: 1000,
            codec: stage::Codec::Snappy,
        },
    )
    .await
    .unwrap();
    merge(pipeline, &run_id, &staged).await
}

/// `martsync_runs` as martsync created it before the ledger had statement timings.
const OLD_LEDGER: &str = "CREATE TABLE martsync_runs (run_id VARCHAR(64) NOT NULL, mart VARCHAR(127) NOT NULL, \
     batch VARCHAR, started_at TIMESTAMP NOT NULL, committed_at TIMESTAMP NOT NULL, watermark_from BIGINT, \
     watermark_to BIGINT, rows_extracted BIGINT NOT NULL, rows_deduped BIGINT NOT NULL, rows_rejected BIGINT NOT NULL, \
     rows_deleted BIGINT NOT NULL, rows_inserted BIGINT NOT NULL, rows_trimmed BIGINT NOT NULL, \
     bytes_staged BIGINT NOT NULL, extract_ms BIGINT NOT NULL, dedup_ms BIGINT NOT NULL, stage_ms BIGINT NOT NULL, \
     merge_ms BIGINT NOT NULL)";
const OLD_RUN: &str = "INSERT INTO martsync_runs VALUES ('old-run', 'mart_uni_tracking_info', 'run', \
     TIMESTAMP '2026-01-01 00:00:00', TIMESTAMP '2026-01-01 00:00:01', NULL, 1, 1, 1, 0, 0, 1, 0, 10, 1, 1, 1, 1)";

/// After [`OLD_LEDGER`] with [`OLD_RUN`] was opened by this martsync: the ledger has gained the
/// timing columns in place, the old run is still there (without timings), a merge records
/// its timings beside it.
async fn upgraded_the_old_ledger(pipeline: &Pipeline) {
    let run = new_run_id();
    let staged = stage_rows(pipeline, &run, &[uti(1, 10, "a")]).await;
    let outcome = merge(pipeline, &run, &staged).await.unwrap();
    assert_eq!(outcome.inserted, 1);
    let status = pipeline
        .warehouse
        .status(&pipeline.config.tables[0], 5)
        .await
        .unwrap();
    assert_eq!(status.runs, 2);
    let old = status
        .recent_runs
        .iter()
        .find(|r| r.run_id == "old-run")
        .unwrap();
    assert_eq!((old.rows_extracted, old.bytes_staged), (1, 10));
    assert_eq!(old.timings.iter().count(), 0, "{old:?}");
    let new = status.recent_runs.iter().find(|r| r.run_id == run).unwrap();
    assert_eq!(new.timings, outcome.timings);
    assert!(new.timings.get(Timed::Load).is_some(), "{new:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_upgrades_an_old_ledger_in_place() {
    let ws = Workspace::new();
    let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
    conn.execute_batch(&format!("{OLD_LEDGER}; {OLD_RUN}"))
        .unwrap();
    drop(conn);
    let pipeline = ws.pipeline(&ws.path("unused"), UTI_ONLY).await;
    upgraded_the_old_ledger(&pipeline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrades_an_old_ledger_in_place() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let schema = PgSchema::new(&pg).await;
    schema
        .client()
        .await
        .batch_execute(&format!("{OLD_LEDGER}; {OLD_RUN}"))
        .await
        .unwrap();
    let stage = format!("file://{}", ws.path("stage").display());
    let pipeline = pg_pipeline(&ws, &schema, &stage).await;
    upgraded_the_old_ledger(&pipeline).await;
}
