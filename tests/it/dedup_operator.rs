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

/// `batch` with its text columns other than the key and version dictionary-encoded, as a
/// Parquet source hands them to a dedup (`Extract::for_dedup`).
fn with_dictionary_text(batch: &RecordBatch, spec: &DedupSpec) -> RecordBatch {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let guarded: Vec<usize> = spec.key.iter().copied().chain(spec.version).collect();
    let encoded = generate::with_text_as(batch, &dictionary, &guarded);
    assert_ne!(
        encoded.schema(),
        batch.schema(),
        "the input has text columns to encode"
    );
    encoded
}

/// Every batch of a dedup's output is in the mart's schema, whatever its input carried.
fn assert_schema(batches: &[RecordBatch], schema: &arrow::datatypes::SchemaRef, what: &str) {
    for b in batches {
        assert_eq!(&b.schema(), schema, "{what}");
    }
}

async fn check(mart: &str, batch: RecordBatch, spec: DedupSpec) {
    let want = dump_expected(&reference(&batch, &spec).await);
    assert!(
        want.len() < batch.num_rows(),
        "the input has duplicates to remove"
    );
    let dictionary_input = with_dictionary_text(&batch, &spec);
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
        for (rows_per_batch, input) in [1, 7, 1000, batch.num_rows()]
            .into_iter()
            .flat_map(|n| [(n, &batch), (n, &dictionary_input)])
        {
            let out = dedup::dedup(
                mart,
                batch.schema(),
                stream_of(input, rows_per_batch),
                spec.clone(),
                memory,
            )
            .await
            .unwrap();
            let what = format!(
                "batches of {rows_per_batch} rows, {memory:?}, dictionary text: {}",
                input.schema() != batch.schema()
            );
            assert_eq!(out.stats.rows_in, batch.num_rows() as u64);
            assert_eq!(out.stats.rows_out as usize, want.len());
            assert_eq!(out.batches.num_rows() as usize, want.len());
            let kept = rows_of(&out.batches);
            assert_schema(&kept, &batch.schema(), &what);
            assert_eq!(dump_expected(&kept), want, "{what}");
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

/// Two dedups kept the same rows and set the same rows aside.
fn assert_same_rows(a: &dedup::Deduped, b: &dedup::Deduped) {
    assert_eq!(
        dump_expected(&rows_of(&a.batches)),
        dump_expected(&rows_of(&b.batches))
    );
    assert_eq!(dump_expected(&a.rejected), dump_expected(&b.rejected));
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
        schema.clone(),
        stream(&input),
        spec.clone(),
        &dedup::DedupMemory::unlimited(),
    )
    .await
    .unwrap();
    // Text read dictionary-encoded: the same rows, and the rows set aside, in the mart's
    // types, through the spill files too.
    let dictionary_input: Vec<_> = input
        .iter()
        .map(|b| with_dictionary_text(b, &spec))
        .collect();
    let from_dictionaries = dedup::dedup(
        "m",
        schema.clone(),
        stream(&dictionary_input),
        spec.clone(),
        &spilling,
    )
    .await
    .unwrap();
    assert!(from_dictionaries.spilled_bytes > 0);
    assert_eq!(from_dictionaries.stats, limited.stats);
    assert_schema(&from_dictionaries.rejected, &schema, "rows set aside");
    assert_schema(&rows_of(&from_dictionaries.batches), &schema, "rows kept");
    assert_same_rows(&from_dictionaries, &limited);
    drop(from_dictionaries);
    assert!(limited.spilled_bytes > 0);
    assert_eq!(unlimited.spilled_bytes, 0);
    assert_eq!(limited.stats, unlimited.stats);
    assert_eq!(unlimited.stats.rows_rejected, 2);
    assert_eq!(unlimited.stats.rows_in, 300_000);
    assert_same_rows(&limited, &unlimited);
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
    // With text read dictionary-encoded, the raw rows handed over are the same, in the raw
    // schema.
    let dictionary_input: Vec<_> = input
        .iter()
        .map(|b| with_dictionary_text(b, &spec))
        .collect();
    let raw_from_dictionaries = dedup::dedup_or_hand_over(
        "m",
        input[0].schema(),
        raw_schema.clone(),
        stream(&dictionary_input),
        spec.clone(),
        &small,
    )
    .await
    .unwrap();
    assert!(raw_from_dictionaries.for_warehouse);
    let handed = rows_of(&raw_from_dictionaries.batches);
    assert_schema(&handed, &raw_schema, "raw rows handed over");
    assert_eq!(
        dump_expected(&handed),
        dump_expected(&rows_of(&raw.batches))
    );
    // And a batch that fits is deduped here, as `local` would.
    let fits = dedup::dedup_or_hand_over(
        "m",
        input[0].schema(),
        raw_schema.clone(),
        stream(&input),
        spec,
        &dedup::DedupMemory::unlimited(),
    )
    .await
    .unwrap();
    assert!(!fits.for_warehouse);
    assert_eq!(fits.stats, whole.stats);
}
