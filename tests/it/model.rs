//! Property test: over random histories, the marts equal an independent model written with
//! plain Rust maps, for both strategies (retention included, shortened to 20 seconds), with
//! and without the version guard, deduped by martsync or ranked by the warehouse
//! (`dedup = "warehouse"`), on DuckDB and PostgreSQL; and so does each mart's Option A
//! buffer (a `[[tables.targets]]` with 8 seconds of retention, so histories cross it). The
//! expected rows are text built from the model's numbers, compared with what SQL reads back.

use std::collections::{BTreeMap, HashMap};

use martsync::generate::{FileFormat, Spath, Uti, spath_batch, uti_batch, write_batch};
use proptest::collection::vec;
use proptest::prelude::*;

use martsync::pipeline::Pipeline;

use crate::common::{PgSchema, Workspace, parse_config};

const T0: i32 = 1_767_225_600;
const RETENTION: i32 = 20;
const BUFFER_RETENTION: i32 = 8;
const BUFFER: &str = "stg_buffer";

fn uti(order_id: i64, version: i32, payload: u8) -> Uti {
    Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 1,
        carrier_code: None,
        status: 1,
        last_code: None,
        last_event: Some(format!("p{payload}")),
        last_location: None,
        delivered_at: None,
        add_time: T0,
        update_time: T0 + version,
    }
}

fn spath(id: i64, order_id: i64, trace_seq: i32, path_time: i32, payload: u8) -> Spath {
    Spath {
        id,
        order_id,
        trace_seq,
        path_time: T0 + path_time,
        code: 200,
        location: None,
        description: Some(format!("p{payload}")),
        is_updated: 0,
        time_modified: 1_000_000,
    }
}

/// Where a case's marts are: DuckDB, or a PostgreSQL server (each case in a schema of its
/// own).
#[derive(Clone, Copy)]
enum Warehouse {
    DuckDb,
    Postgres,
}

/// Replays `files` into `mart` (with its buffer, and `settings` on the mart) and reads back
/// the mart and the buffer as `columns` joined by `|`, sorted. The expected rows are built
/// from the model's numbers, not encoded by martsync: an encoding bug cannot cancel out.
fn replay_and_dump(
    warehouse: Warehouse,
    dir_name: &str,
    mart: &str,
    settings: &str,
    columns: &str,
    files: Vec<arrow::array::RecordBatch>,
) -> (Vec<String>, Vec<String>) {
    let ws = Workspace::new();
    let input = ws.path("input");
    for (i, batch) in files.iter().enumerate() {
        write_batch(
            &input.join(format!("{dir_name}/b-{i:04}.parquet")),
            batch,
            FileFormat::Parquet,
        )
        .unwrap();
    }
    let tables = format!(
        "[[tables]]\nname = \"{mart}\"\nretention = \"{RETENTION}s\"\n{settings}\
         [[tables.targets]]\nname = \"{BUFFER}\"\nretention = \"{BUFFER_RETENTION}s\"\n"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let select = |table: &str| format!("SELECT concat_ws('|', {columns}) FROM {table}");
    match warehouse {
        Warehouse::DuckDb => {
            runtime.block_on(ws.replay(&input, &tables));
            let rows = |table: &str| crate::common::duckdb_strings(&ws.warehouse(), &select(table));
            (rows(mart), rows(BUFFER))
        }
        Warehouse::Postgres => runtime.block_on(async {
            let url = crate::common::service_url("MARTSYNC_TEST_POSTGRES_URL")
                .expect("checked by the test");
            let schema = PgSchema::new(&url).await;
            let config = parse_config(&format!(
                "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n\
                 [warehouse]\nurl = \"{}\"\n{tables}",
                input.display(),
                ws.path("stage").display(),
                schema.url
            ));
            let pipeline = Pipeline::open(config).await.expect("open");
            let tables = pipeline.config.tables.clone();
            for (mart, result) in pipeline
                .replay(&input, &tables, std::sync::Arc::new(|_: &str, _, _| {}))
                .await
            {
                result.unwrap_or_else(|e| panic!("replay of {mart} failed: {e}"));
            }
            (
                schema.rows(&select(mart)).await,
                schema.rows(&select(BUFFER)).await,
            )
        }),
    }
}

/// Whether the PostgreSQL cases can run (else they are skipped by name, or fail).
fn postgres_up() -> bool {
    crate::common::service_url("MARTSYNC_TEST_POSTGRES_URL").is_some()
}

const UTI_COLUMNS: &str = "CAST(order_id AS TEXT), CAST(update_time AS TEXT), last_event";
const SPATH_COLUMNS: &str = "CAST(order_id AS TEXT), CAST(traceseq AS TEXT), \
     CAST(pathtime AS TEXT), CAST(id AS TEXT), description";

/// The latest-strategy model: per batch, the greatest version per key (ties: later row); a
/// mart row is replaced when it differs and, under the version guard (a replay's default),
/// the batch's version is >= its own; then trim behind the newest. The buffer gets what the
/// mart gets (a row the mart keeps goes to neither) and is trimmed behind its own newest.
/// Returns the mart's and the buffer's rows as [`UTI_COLUMNS`] reads them.
fn latest_model(batches: &[Vec<(i64, i32, u8)>], guard: bool) -> (Vec<String>, Vec<String>) {
    let mut mart: BTreeMap<i64, (i32, u8)> = BTreeMap::new();
    let mut buffer: BTreeMap<i64, (i32, u8)> = BTreeMap::new();
    for batch in batches {
        let mut winners: HashMap<i64, (i32, u8)> = HashMap::new();
        for &(k, v, p) in batch {
            if winners.get(&k).is_none_or(|w| v >= w.0) {
                winners.insert(k, (v, p));
            }
        }
        for (k, (v, p)) in winners {
            if mart
                .get(&k)
                .is_none_or(|m| (!guard || v >= m.0) && *m != (v, p))
            {
                mart.insert(k, (v, p));
                buffer.insert(k, (v, p));
            }
        }
        for (table, retention) in [(&mut mart, RETENTION), (&mut buffer, BUFFER_RETENTION)] {
            if let Some(max) = table.values().map(|m| m.0).max() {
                table.retain(|_, m| m.0 >= max - retention);
            }
        }
    }
    let rows = |t: &BTreeMap<i64, (i32, u8)>| -> Vec<String> {
        let mut rows: Vec<String> = t
            .iter()
            .map(|(k, (v, p))| format!("{k}|{}|p{p}", T0 + v))
            .collect();
        rows.sort();
        rows
    };
    (rows(&mart), rows(&buffer))
}

fn latest_files(batches: &[Vec<(i64, i32, u8)>]) -> Vec<arrow::array::RecordBatch> {
    batches
        .iter()
        .map(|b| uti_batch(&b.iter().map(|&(k, v, p)| uti(k, v, p)).collect::<Vec<_>>()))
        .collect()
}

/// The append-strategy model: the first arrival of a key is inserted unless the mart has
/// the key; then trim behind the newest pathTime. The buffer: the first arrival of a key the
/// buffer does not have (a key trimmed from it comes back if it arrives again), trimmed
/// behind its own newest. Returns the rows as [`SPATH_COLUMNS`] reads them, and the files.
#[allow(clippy::type_complexity)]
fn append_model(
    batches: &[Vec<(i64, i32, i32, u8)>],
) -> ((Vec<String>, Vec<String>), Vec<arrow::array::RecordBatch>) {
    let mut mart: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
    let mut buffer: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
    let mut id = 0;
    let mut files = Vec::new();
    for batch in batches {
        let mut rows = Vec::new();
        let mut firsts: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
        for &(o, s, t, p) in batch {
            id += 1;
            rows.push(spath(id, o, s, t, p));
            firsts.entry((o, s, t)).or_insert((id, p));
        }
        for (k, row) in firsts {
            mart.entry(k).or_insert(row);
            buffer.entry(k).or_insert(row);
        }
        for (table, retention) in [(&mut mart, RETENTION), (&mut buffer, BUFFER_RETENTION)] {
            if let Some(max) = table.keys().map(|k| k.2).max() {
                table.retain(|k, _| k.2 >= max - retention);
            }
        }
        files.push(spath_batch(&rows));
    }
    let rows = |t: &BTreeMap<(i64, i32, i32), (i64, u8)>| -> Vec<String> {
        let mut rows: Vec<String> = t
            .iter()
            .map(|((o, s, t), (id, p))| format!("{o}|{s}|{}|{id}|p{p}", T0 + t))
            .collect();
        rows.sort();
        rows
    };
    ((rows(&mart), rows(&buffer)), files)
}

/// Where the batch is deduped: martsync, or the warehouse ranking the raw rows.
fn placement() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("dedup = \"local\"\n"), Just("dedup = \"warehouse\"\n")]
}

fn guard_setting(guard: bool) -> &'static str {
    if guard {
        ""
    } else {
        "version_guard = \"never\"\n"
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn latest_mart_equals_the_model(
        batches in vec(vec((0i64..12, 0i32..45, 0u8..4), 0..14), 1..7),
        guard in any::<bool>(),
        placement in placement(),
    ) {
        let settings = format!("{}{placement}", guard_setting(guard));
        let got = replay_and_dump(Warehouse::DuckDb, "uni_tracking_info", "mart_uni_tracking_info", &settings, UTI_COLUMNS, latest_files(&batches));
        prop_assert_eq!(got, latest_model(&batches, guard));
    }

    #[test]
    fn append_mart_equals_the_model(batches in vec(vec((0i64..5, 0i32..3, 0i32..45, 0u8..4), 0..14), 1..7), placement in placement()) {
        let (want, files) = append_model(&batches);
        prop_assert_eq!(replay_and_dump(Warehouse::DuckDb, "uni_tracking_spath", "mart_uni_tracking_spath", placement, SPATH_COLUMNS, files), want);
    }
}

proptest! {
    // Fewer cases: each is a PostgreSQL schema and a replay over the wire.
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn postgres_latest_mart_equals_the_model(
        batches in vec(vec((0i64..12, 0i32..45, 0u8..4), 0..14), 1..7),
        guard in any::<bool>(),
        placement in placement(),
    ) {
        if postgres_up() {
            let settings = format!("{}{placement}", guard_setting(guard));
            let got = replay_and_dump(Warehouse::Postgres, "uni_tracking_info", "mart_uni_tracking_info", &settings, UTI_COLUMNS, latest_files(&batches));
            prop_assert_eq!(got, latest_model(&batches, guard));
        }
    }

    #[test]
    fn postgres_append_mart_equals_the_model(batches in vec(vec((0i64..5, 0i32..3, 0i32..45, 0u8..4), 0..14), 1..7), placement in placement()) {
        if postgres_up() {
            let (want, files) = append_model(&batches);
            prop_assert_eq!(replay_and_dump(Warehouse::Postgres, "uni_tracking_spath", "mart_uni_tracking_spath", placement, SPATH_COLUMNS, files), want);
        }
    }
}
