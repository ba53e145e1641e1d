//! The hash operator agrees with the plain `row_number()` window query, and its result does
//! not depend on how the input is cut into batches.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use martsync::dedup::{self, ARRIVAL_COLUMN, DedupSpec};
use martsync::generate::{self, Params};
use martsync::source::BatchStream;

use crate::common::dump_expected;

fn stream_of(batch: &RecordBatch, rows_per_batch: usize) -> BatchStream {
    let slices: Vec<_> = (0..batch.num_rows())
        .step_by(rows_per_batch)
        .map(|at| Ok(batch.slice(at, rows_per_batch.min(batch.num_rows() - at))))
        .collect();
    Box::pin(futures::stream::iter(slices))
}

async fn reference(batch: &RecordBatch, spec: &DedupSpec) -> Vec<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ARRIVAL_COLUMN, DataType::Int64, false));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(Int64Array::from_iter_values(
        0..batch.num_rows() as i64,
    )));
    let with_arrival = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let ctx = SessionContext::new();
    let table = MemTable::try_new(with_arrival.schema(), vec![vec![with_arrival]]).unwrap();
    ctx.register_table("input", Arc::new(table)).unwrap();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    ctx.sql(&dedup::reference_sql(&names, spec))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

async fn check(mart: &str, batch: RecordBatch, spec: DedupSpec) {
    let want = dump_expected(&reference(&batch, &spec).await);
    assert!(
        want.len() < batch.num_rows(),
        "the input has duplicates to remove"
    );
    let spill = tempfile::tempdir().unwrap();
    // No limit; a limit so small the dedup spills at its first batches (partitions are
    // partitioned again); one it passes midway.
    let memories = [
        dedup::DedupMemory::unlimited(),
        dedup::DedupMemory::limited(256 << 10, Some(spill.path().to_path_buf())).unwrap(),
        dedup::DedupMemory::limited(2 << 20, Some(spill.path().to_path_buf())).unwrap(),
    ];
    let mut spilled = [false; 3];
    for (m, memory) in memories.iter().enumerate() {
        for rows_per_batch in [1, 7, 1000, batch.num_rows()] {
            let out = dedup::dedup(
                mart,
                batch.schema(),
                stream_of(&batch, rows_per_batch),
                spec.clone(),
                memory,
            )
            .await
            .unwrap();
            assert_eq!(out.stats.rows_in, batch.num_rows() as u64);
            assert_eq!(out.stats.rows_out as usize, want.len());
            assert_eq!(out.batches.num_rows() as usize, want.len());
            assert_eq!(
                dump_expected(&rows_of(&out.batches)),
                want,
                "batches of {rows_per_batch} rows, {memory:?}"
            );
            spilled[m] |= out.spilled_bytes > 0;
        }
    }
    assert_eq!(
        spilled,
        [false, true, true],
        "which memory settings spilled"
    );
    // Every spill folder is gone once its rows are.
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}

fn rows_of(rows: &dedup::DedupedRows) -> Vec<RecordBatch> {
    rows.iter().unwrap().map(Result::unwrap).collect()
}

fn history() -> generate::History {
    generate::generate(&Params {
        orders: 500,
        cycles: 20,
        late_rate: 0.1,
        tie_rate: 0.1,
        ..Params::demo()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_agrees_with_the_window_query_for_every_batch_size() {
    let rows: Vec<_> = history().uti.into_iter().flatten().collect();
    let spec = DedupSpec {
        keep: dedup::Keep::Latest,
        key: vec![0],
        version: Some(10),
    };
    check("mart_uni_tracking_info", generate::uti_batch(&rows), spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_arrival_agrees_with_the_window_query_on_a_composite_key() {
    let rows: Vec<_> = history().spath.into_iter().flatten().collect();
    let spec = DedupSpec {
        keep: dedup::Keep::First,
        key: vec![1, 2, 3],
        version: None,
    };
    check(
        "mart_uni_tracking_spath",
        generate::spath_batch(&rows),
        spec,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_keys_use_the_row_format_path() {
    let rows: Vec<_> = history().uti.into_iter().flatten().collect();
    // tracking_no (a string) as key, update_time as version.
    let spec = DedupSpec {
        keep: dedup::Keep::Latest,
        key: vec![1],
        version: Some(10),
    };
    check("mart_uni_tracking_info", generate::uti_batch(&rows), spec).await;
}

/// `[dedup] memory_limit`: the operator reserves what it holds from DataFusion's pool. With
/// no spill folder, a pool too small for the batch fails the dedup with an error naming the
/// limit; with one, the dedup continues on disk and keeps the same rows as no limit, and a
/// NULL key is set aside the same way in either phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_limit_the_dedup_spills_or_fails_clearly() {
    let mut input = martsync::bench::data::DataSpec::new(300_000, 60_000).batches();
    // A NULL order_id early (kept in memory) and late (after the hand-over to disk).
    for at in [0, input.len() - 1] {
        let batch = &input[at];
        let mut columns = batch.columns().to_vec();
        let ids = arrow::compute::cast(&columns[0], &DataType::Int64).unwrap();
        let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
        let with_null: Int64Array = ids
            .iter()
            .enumerate()
            .map(|(i, v)| if i == 3 { None } else { v })
            .collect();
        columns[0] = arrow::compute::cast(&with_null, columns[0].data_type()).unwrap();
        input[at] = RecordBatch::try_new(batch.schema(), columns).unwrap();
    }
    let schema = input[0].schema();
    let spec = dedup::spec_for(&martsync::bench::uti_table());
    let stream = |batches: &[RecordBatch]| -> BatchStream {
        Box::pin(futures::stream::iter(
            batches.iter().cloned().map(Ok).collect::<Vec<_>>(),
        ))
    };
    let no_spill = dedup::DedupMemory::limited(4 << 20, None).unwrap();
    let error = dedup::dedup("m", schema.clone(), stream(&input), spec.clone(), &no_spill)
        .await
        .expect_err("4 MiB cannot hold 60k keys of 300k rows");
    let message = error.to_string();
    assert!(
        message.contains("more memory than the limit of 4.0 MiB"),
        "{message}"
    );
    let folder = tempfile::tempdir().unwrap();
    let spilling = dedup::DedupMemory::limited(4 << 20, Some(folder.path().to_path_buf())).unwrap();
    let limited = dedup::dedup("m", schema.clone(), stream(&input), spec.clone(), &spilling)
        .await
        .unwrap();
    let unlimited = dedup::dedup(
        "m",
        schema,
        stream(&input),
        spec,
        &dedup::DedupMemory::unlimited(),
    )
    .await
    .unwrap();
    assert!(limited.spilled_bytes > 0);
    assert_eq!(unlimited.spilled_bytes, 0);
    assert_eq!(limited.stats, unlimited.stats);
    assert_eq!(unlimited.stats.rows_rejected, 2);
    assert_eq!(unlimited.stats.rows_in, 300_000);
    assert_eq!(
        dump_expected(&rows_of(&limited.batches)),
        dump_expected(&rows_of(&unlimited.batches))
    );
    assert_eq!(
        dump_expected(&limited.rejected),
        dump_expected(&unlimited.rejected)
    );
    drop(limited);
    assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 0);
}

/// `dedup = "auto"` on Redshift: past its memory share the dedup stops and hands the winners
/// so far, then every later row, numbered in that order, to the warehouse. Ranking those raw
/// rows by the same rule (here DataFusion's `row_number()` query, as the warehouse's
/// `rank_staged` does) keeps exactly the rows a dedup of the whole batch keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_over_to_the_warehouse_ranks_to_the_same_rows() {
    let input = martsync::bench::data::DataSpec::new(300_000, 60_000).batches();
    let schema = input[0].schema();
    let spec = dedup::spec_for(&martsync::bench::uti_table());
    let stream = |batches: &[RecordBatch]| -> BatchStream {
        Box::pin(futures::stream::iter(
            batches.iter().cloned().map(Ok).collect::<Vec<_>>(),
        ))
    };
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ARRIVAL_COLUMN, DataType::Int64, false));
    let raw_schema = Arc::new(Schema::new(fields));
    let folder = tempfile::tempdir().unwrap();
    let small = dedup::DedupMemory::limited(4 << 20, Some(folder.path().to_path_buf())).unwrap();
    let raw = dedup::dedup_or_hand_over(
        "m",
        schema.clone(),
        raw_schema.clone(),
        stream(&input),
        spec.clone(),
        &small,
    )
    .await
    .unwrap();
    assert!(raw.for_warehouse, "4 MiB cannot hold 60k keys");
    assert_eq!(raw.stats.rows_in, 300_000);
    assert!(
        raw.stats.rows_out > 60_000 && raw.stats.rows_out < 300_000,
        "{:?}",
        raw.stats
    );
    let whole = dedup::dedup(
        "m",
        schema,
        stream(&input),
        spec.clone(),
        &dedup::DedupMemory::unlimited(),
    )
    .await
    .unwrap();
    assert!(!whole.for_warehouse);
    let ctx = SessionContext::new();
    let table = MemTable::try_new(raw_schema.clone(), vec![rows_of(&raw.batches)]).unwrap();
    ctx.register_table("input", Arc::new(table)).unwrap();
    let names: Vec<String> = raw_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != ARRIVAL_COLUMN)
        .collect();
    let ranked = ctx
        .sql(&dedup::reference_sql(&names, &spec))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        dump_expected(&ranked),
        dump_expected(&rows_of(&whole.batches))
    );
    // And a batch that fits is deduped here, as `local` would.
    let fits = dedup::dedup_or_hand_over(
        "m",
        input[0].schema(),
        raw_schema,
        stream(&input),
        spec,
        &dedup::DedupMemory::unlimited(),
    )
    .await
    .unwrap();
    assert!(!fits.for_warehouse);
    assert_eq!(fits.stats, whole.stats);
}
