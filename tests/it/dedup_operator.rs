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
    for rows_per_batch in [1, 7, 1000, batch.num_rows()] {
        let out = dedup::dedup(
            mart,
            batch.schema(),
            stream_of(&batch, rows_per_batch),
            spec.clone(),
        )
        .await
        .unwrap();
        assert_eq!(out.stats.rows_in, batch.num_rows() as u64);
        assert_eq!(out.stats.rows_out as usize, want.len());
        assert_eq!(
            dump_expected(&out.batches),
            want,
            "batches of {rows_per_batch} rows"
        );
    }
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

/// `--memory-limit`: the operator reserves what it holds from DataFusion's pool, so a pool
/// too small for the batch fails the dedup with an error naming the limit, and one large
/// enough gives the same rows as no limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_too_small_for_the_batch_is_a_clear_error() {
    let input = martsync::bench::data::DataSpec::new(300_000, 60_000).batches();
    let schema = input[0].schema();
    let spec = dedup::spec_for(&martsync::bench::uti_table());
    let stream = |batches: &[RecordBatch]| -> BatchStream {
        Box::pin(futures::stream::iter(
            batches.iter().cloned().map(Ok).collect::<Vec<_>>(),
        ))
    };
    let error = dedup::dedup_with_limit(
        "m",
        schema.clone(),
        stream(&input),
        spec.clone(),
        Some(4 << 20),
    )
    .await
    .expect_err("4 MiB cannot hold 60k keys of 300k rows");
    let message = error.to_string();
    assert!(
        message.contains("more memory than the limit of 4.0 MiB"),
        "{message}"
    );
    let limited = dedup::dedup_with_limit(
        "m",
        schema.clone(),
        stream(&input),
        spec.clone(),
        Some(256 << 20),
    )
    .await
    .unwrap();
    let unlimited = dedup::dedup("m", schema, stream(&input), spec)
        .await
        .unwrap();
    assert_eq!(limited.stats.rows_out, 60_000.min(unlimited.stats.rows_out));
    assert_eq!(
        dump_expected(&limited.batches),
        dump_expected(&unlimited.batches)
    );
}
