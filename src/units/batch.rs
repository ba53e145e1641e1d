//! Streams of Arrow batches, and reading a column as integers: what sources produce and
//! dedup, stage, warehouse and compare consume.

use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use futures::Stream;

use crate::error::Result;

/// Batches in arrival order, each already in the mart's Arrow schema (a dedup's input may
/// carry some text columns dictionary-encoded instead: see [`decode_dictionaries`]).
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// `batch` with the column types of `schema`: a text column that arrived dictionary-encoded
/// (a Parquet file's, read for a dedup: `crate::source::Extract::for_dedup`) decoded
/// to plain text. A batch already in `schema` is returned as it is, without copying.
pub fn decode_dictionaries(
    batch: RecordBatch,
    schema: &SchemaRef,
) -> std::result::Result<RecordBatch, ArrowError> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match column.data_type() {
            DataType::Dictionary(..) if field.data_type() != column.data_type() => {
                cast(column, field.data_type())
            }
            _ => Ok(Arc::clone(column)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// The batches a reading task sends over a channel, as a stream.
pub fn receiver_stream(mut rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>) -> BatchStream {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The columns of `batch` at `positions`, in that order (a key's columns, say).
pub fn columns_at(batch: &RecordBatch, positions: &[usize]) -> Vec<ArrayRef> {
    positions.iter().map(|&i| batch.column(i).clone()).collect()
}

/// Reads a column as i64 in its own unit (integers as they are, timestamps as µs since epoch).
pub fn column_as_i64(
    array: &ArrayRef,
) -> std::result::Result<Int64Array, arrow::error::ArrowError> {
    let micros = match array.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => array.clone(),
        DataType::Timestamp(_, tz) => cast_with_options(
            array,
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            &CastOptions::default(),
        )?,
        _ => array.clone(),
    };
    let as_int = cast_with_options(&micros, &DataType::Int64, &CastOptions::default())?;
    Ok(as_int
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64")
        .clone())
}
