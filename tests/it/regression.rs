//! The root cause of the old pipeline's duplicates, and the rules that replace it: one row
//! per order however long its lifecycle, old versions never overwrite new ones, ties go to
//! the later arrival, retention trims behind the newest row.

use martsync::generate::{FileFormat, Uti, uti_batch, write_batch};

use crate::common::{Workspace, dump_expected};

const DAY: i32 = 86_400;
const T0: i32 = 1_767_225_600;

fn uti(order_id: i64, day: i32, event: &str) -> Uti {
    Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 7,
        carrier_code: Some("dhl".into()),
        status: 1,
        last_code: None,
        last_event: Some(event.into()),
        last_location: None,
        delivered_at: None,
        add_time: T0,
        update_time: T0 + day * DAY,
    }
}

/// Writes each batch as one replay file of uni_tracking_info.
fn write_batches(dir: &std::path::Path, batches: &[Vec<Uti>]) {
    for (i, rows) in batches.iter().enumerate() {
        let path = dir.join(format!("uni_tracking_info/batch-{i:05}.parquet"));
        write_batch(&path, &uti_batch(rows), FileFormat::Parquet).unwrap();
    }
}

const UTI_ONLY: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_updated_over_60_days_is_one_row_holding_its_latest_version() {
    let ws = Workspace::new();
    let input = ws.path("input");
    // Order 1 is updated every 5 days for 60 days, one extraction batch per update, each
    // batch also re-reading the previous update (the lookback overlap). The old pipeline's
    // 20-day DELETE window left a duplicate for every update older than 20 days.
    let batches: Vec<Vec<Uti>> = (0..=12)
        .map(|k| {
            let mut rows = vec![uti(1, k * 5, &format!("update {k}"))];
            if k > 0 {
                rows.insert(0, uti(1, (k - 1) * 5, &format!("update {}", k - 1)));
            }
            rows.push(uti(2, k, "steady"));
            rows
        })
        .collect();
    write_batches(&input, &batches);
    ws.replay(&input, UTI_ONLY).await;

    let expected = dump_expected(&[uti_batch(&[uti(1, 60, "update 12"), uti(2, 12, "steady")])]);
    assert_eq!(ws.dump("mart_uni_tracking_info"), expected);
    assert_eq!(
        ws.count("SELECT count(*) - count(DISTINCT order_id) FROM mart_uni_tracking_info"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_old_versions_never_overwrite_and_ties_go_to_the_later_arrival() {
    let ws = Workspace::new();
    let input = ws.path("input");
    let batches = vec![
        vec![uti(1, 10, "v10"), uti(2, 3, "first"), uti(3, 4, "a")],
        // Order 1's day-30 version, then its day-10 version arriving late in the same batch.
        vec![
            uti(1, 30, "v30"),
            uti(1, 10, "v10 again"),
            uti(2, 3, "second"),
        ],
        // Day 20 arrives after day 30 committed: must not win. Order 3: a tie inside one batch.
        vec![uti(1, 20, "v20 late"), uti(3, 4, "b"), uti(3, 4, "c")],
    ];
    write_batches(&input, &batches);
    ws.replay(&input, UTI_ONLY).await;

    let expected = dump_expected(&[uti_batch(&[
        uti(1, 30, "v30"),
        uti(2, 3, "second"),
        uti(3, 4, "c"),
    ])]);
    assert_eq!(ws.dump("mart_uni_tracking_info"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_rows_older_than_180_days_behind_the_newest() {
    let ws = Workspace::new();
    let input = ws.path("input");
    let batches = vec![
        vec![uti(1, 0, "old"), uti(2, 30, "kept")],
        vec![uti(3, 200, "newest")],
        // A version older than the cutoff that arrives now is trimmed at once.
        vec![uti(4, 5, "too old on arrival")],
        // Exactly 180 days behind the newest is kept.
        vec![uti(5, 20, "on the edge")],
    ];
    write_batches(&input, &batches);
    ws.replay(&input, UTI_ONLY).await;

    let expected = dump_expected(&[uti_batch(&[
        uti(2, 30, "kept"),
        uti(3, 200, "newest"),
        uti(5, 20, "on the edge"),
    ])]);
    assert_eq!(ws.dump("mart_uni_tracking_info"), expected);
    let trimmed = ws
        .count("SELECT sum(rows_trimmed) FROM martsync_runs WHERE mart = 'mart_uni_tracking_info'");
    assert_eq!(trimmed, 2);
}

/// A batch whose first row has a NULL order_id.
/// The rows as a batch with the first row's key and the second row's version NULL.
fn with_null_key_and_version(rows: &[Uti]) -> arrow::array::RecordBatch {
    let batch = uti_batch(rows);
    let mut columns = batch.columns().to_vec();
    let ids: arrow::array::Int64Array = (0..rows.len())
        .map(|i| (i != 0).then_some(rows[i].order_id))
        .collect();
    columns[0] = std::sync::Arc::new(ids);
    let version = batch.schema().index_of("update_time").unwrap();
    let versions: arrow::array::Int32Array = (0..rows.len())
        .map(|i| (i != 1).then_some(rows[i].update_time))
        .collect();
    columns[version] = std::sync::Arc::new(versions);
    arrow::array::RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// The `last_event` of every row of the Parquet files below `dir` named `rejected.parquet`,
/// read with the parquet crate (not martsync's reader).
fn rejected_events(dir: &std::path::Path) -> Vec<String> {
    let mut events = Vec::new();
    for path in crate::common::walk(dir) {
        if !path.ends_with("rejected.parquet") {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column(batch.schema().index_of("last_event").unwrap());
            let strings = arrow::array::AsArray::as_string::<i32>(column.as_ref());
            events.extend(strings.iter().map(|s| s.unwrap_or("NULL").to_string()));
        }
    }
    events.sort();
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_keys_fail_the_cycle_unless_allowed_and_are_kept_for_inspection() {
    let ws = Workspace::new();
    let input = ws.path("input");
    write_batches(&input, &[vec![uti(1, 1, "a")]]);
    let bad = input.join("uni_tracking_info/batch-00001.parquet");
    write_batch(
        &bad,
        &with_null_key_and_version(&[uti(9, 2, "no key"), uti(8, 2, "no version"), uti(2, 2, "b")]),
        FileFormat::Parquet,
    )
    .unwrap();

    let pipeline = ws.pipeline(&input, UTI_ONLY).await;
    let tables = pipeline.config.tables.clone();
    let results = pipeline
        .replay(&input, &tables, std::sync::Arc::new(|_: &str, _, _| {}))
        .await;
    let message = results[0].1.as_ref().unwrap_err().to_string();
    assert!(
        message.contains("mart_uni_tracking_info") && message.contains("2 row(s)"),
        "{message}"
    );
    assert!(message.contains("rejected.parquet"), "{message}");
    drop(pipeline);
    // The first file committed; the bad one changed nothing.
    assert_eq!(
        ws.dump("mart_uni_tracking_info"),
        dump_expected(&[uti_batch(&[uti(1, 1, "a")])])
    );
    // Exactly the two rows, kept whole for inspection.
    assert_eq!(rejected_events(&ws.path("stage")), ["no key", "no version"]);

    // Allowed: the rows are set aside, counted, and the rest commits.
    ws.replay(&input, &format!("{UTI_ONLY}max_rejected = 2\n"))
        .await;
    assert_eq!(
        ws.dump("mart_uni_tracking_info"),
        dump_expected(&[uti_batch(&[uti(1, 1, "a"), uti(2, 2, "b")])])
    );
    assert_eq!(ws.count("SELECT sum(rows_rejected) FROM martsync_runs"), 2);
}

/// DuckDB 2.0.0 (the bundled one) inserted nothing from a table written in the same
/// transaction once it held more than ~100k rows while insertion order was preserved: a
/// large batch's merge committed "inserted 0" and left the mart without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_200k_orders_reaches_the_duckdb_mart_whole() {
    let ws = Workspace::new();
    let input = ws.path("input");
    let first: Vec<Uti> = (0..200_000)
        .map(|i| uti(i, (i % 50) as i32, "first"))
        .collect();
    let second: Vec<Uti> = (0..200_000)
        .map(|i| uti(i, 60 + (i % 50) as i32, "second"))
        .collect();
    write_batches(&input, &[first, second]);
    ws.replay(&input, UTI_ONLY).await;
    assert_eq!(
        ws.count("SELECT count(*) FROM mart_uni_tracking_info WHERE last_event = 'second'"),
        200_000
    );
    assert_eq!(
        ws.count("SELECT count(*) FROM mart_uni_tracking_info"),
        200_000
    );
    assert_eq!(
        ws.count(
            "SELECT sum(rows_inserted) + sum(rows_deleted) FROM martsync_runs \
             WHERE mart = 'mart_uni_tracking_info'"
        ),
        600_000
    );
}
