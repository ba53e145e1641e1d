//! Sources: where rows come from, as a stream of Arrow batches in the mart's schema and in
//! arrival order (the order ties are broken by).
//!
//! Backends: [`files`] (`files://DIR`, one folder per source table) and [`mysql`]
//! (`mysql://…`, the production source).

mod csv_empty;
pub mod files;
pub mod mysql;
pub mod position;

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::FormatOptions;

use crate::config::{SourceConfig, SourceUrl, TableConfig};
use crate::error::{Error, Result};
pub use crate::units::{BatchStream, column_as_i64, receiver_stream};
pub use position::BinlogPosition;

/// Which rows of a table to extract.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    /// Only rows whose watermark column is strictly above this (in the column's own unit:
    /// seconds for integer columns, microseconds for timestamps). `None`: all rows.
    pub above: Option<i64>,
    /// Only rows whose watermark column is strictly below this (same unit): a backfill
    /// chunk's exclusive end. `None`: no upper bound.
    pub below: Option<i64>,
    /// Only rows whose first key column holds one of these values (sorted, distinct): a
    /// refresh (`refresh_from`) re-reads the rows of the keys another mart's batch touched.
    pub keys: Option<Arc<Vec<i64>>>,
    /// Counts the extraction adds to as it reads.
    pub counters: Arc<ExtractCounters>,
    /// Whether a dedup consumes the rows. Text columns may then come dictionary-encoded where
    /// the source stores them so (a Parquet file's; see `files::parquet_reader`): the dedup
    /// decodes the rows it keeps ([`crate::units::decode_dictionaries`]); key, version and
    /// watermark columns never do. And a file is read further ahead (`files::IN_FLIGHT_ROWS`),
    /// through the dedup's bursts of compaction; other consumers keep two batches in flight.
    pub for_dedup: bool,
}

/// What an extraction noticed while reading, for the cycle report.
#[derive(Debug, Default)]
pub struct ExtractCounters {
    /// MySQL zero dates (`0000-00-00`, or a zero month or day) read as NULL.
    pub zero_dates: std::sync::atomic::AtomicU64,
}

/// A place rows come from.
#[async_trait::async_trait]
pub trait Source: Send + Sync + 'static {
    /// The rows of `table` selected by `extract`, in arrival order. Memory stays bounded by a
    /// few batches: the stream is produced as it is read.
    async fn extract(&self, table: &TableConfig, extract: Extract) -> Result<BatchStream>;

    /// Checks the source answers before a cycle starts (a server's `SELECT 1`).
    async fn health_check(&self) -> Result<()> {
        Ok(())
    }

    /// The source table's largest watermark, in the column's unit (for the lag `status`
    /// shows). By default the whole table is read; servers answer with one query.
    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>> {
        let column = table
            .schema
            .index_of(&table.watermark)
            .expect("validated watermark column");
        let mut stream = self.extract(table, Extract::default()).await?;
        let mut max = None;
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let values = column_as_i64(batch?.column(column)).map_err(|e| Error::Source {
                table: table.schema.name.clone(),
                location: format!("column {}", table.watermark),
                message: e.to_string(),
            })?;
            max = max.max(values.iter().flatten().max());
        }
        Ok(max)
    }

    /// The table as the source has it now: the configured one, or (MySQL, with
    /// `allow_new_columns`) with the columns the source table gained appended. A new column
    /// without `allow_new_columns` is an error naming it.
    async fn resolve_table(&self, table: &TableConfig) -> Result<TableConfig> {
        Ok(table.clone())
    }

    /// `binlog` mode: checks that the server logs what the mode needs (binary logging on,
    /// ROW format, FULL row images, the replication grants), naming what is missing, and
    /// returns where its binary log ends now (a transaction boundary).
    async fn binlog_position(&self) -> Result<BinlogPosition> {
        Err(not_a_binlog_source())
    }

    /// `binlog` mode: the changes of `table` committed after `from` up to `to`, in commit
    /// order, as batches of [`TableConfig::with_change_marker`] rows: the image after each
    /// insert and update (marked 0); the image before each delete, and before an update that
    /// moved the row to another key (marked 1). `reader` is the replica id the read
    /// registers with. A `from` the server no longer has, a table altered or truncated in
    /// between, or a server that stopped logging what the mode needs is an error naming it.
    async fn changes(
        &self,
        table: &TableConfig,
        from: &BinlogPosition,
        to: &BinlogPosition,
        reader: u32,
    ) -> Result<BatchStream> {
        let _ = (table, from, to, reader);
        Err(not_a_binlog_source())
    }

    /// What [`Source::extract`] would read for `extract.above`, in words or SQL (`explain`).
    fn explain_extraction(&self, table: &TableConfig, above: Option<i64>) -> String;
}

fn not_a_binlog_source() -> Error {
    Error::Source {
        table: "-".into(),
        location: "source.mode".into(),
        message: "`binlog` mode reads a MySQL server's binary log: use a `mysql://` source".into(),
    }
}

/// Opens the configured source.
pub fn open(config: &SourceConfig) -> Result<Arc<dyn Source>> {
    match &config.url {
        SourceUrl::Files(dir) => Ok(Arc::new(files::FilesSource::new(
            dir.clone(),
            config.batch_rows,
        ))),
        SourceUrl::MySql(url) => Ok(Arc::new(
            mysql::MySqlSource::with_parallel(
                url,
                config.batch_rows,
                config.unsigned_bigint,
                config.parallel,
            )?
            .with_timeouts(config.connect_timeout, config.read_timeout),
        )),
    }
}

/// A watermark value for people: a UTC time for timestamp columns, else the number.
/// Integer watermarks are epoch seconds (as the lookback assumes): both are shown.
pub fn display_watermark(table: &TableConfig, value: i64) -> String {
    let utc = |array: &dyn arrow::array::Array| {
        arrow::util::display::array_value_to_string(array, 0)
            .map(|t| format!("{} UTC", t.replace('T', " ")))
    };
    if table.schema.is_timestamp(&table.watermark) {
        let array = arrow::array::TimestampMicrosecondArray::from(vec![value]);
        utc(&array).unwrap_or_else(|_| value.to_string())
    } else {
        let array = arrow::array::TimestampSecondArray::from(vec![value]);
        utc(&array).map_or_else(|_| value.to_string(), |t| format!("{value} ({t})"))
    }
}

/// Keeps the rows whose `column` is strictly above `above` and strictly below `below`.
pub fn filter_between(
    batch: &RecordBatch,
    column: usize,
    above: Option<i64>,
    below: Option<i64>,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let values = column_as_i64(batch.column(column))?;
    let keep: BooleanArray = values
        .iter()
        .map(|v| {
            Some(v.is_some_and(|v| {
                above.is_none_or(|above| v > above) && below.is_none_or(|below| v < below)
            }))
        })
        .collect();
    filter_record_batch(batch, &keep)
}

/// Keeps the rows whose `column` holds one of `keys` (sorted).
pub fn filter_keys(
    batch: &RecordBatch,
    column: usize,
    keys: &[i64],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let values = column_as_i64(batch.column(column))?;
    let keep: BooleanArray = values
        .iter()
        .map(|v| Some(v.is_some_and(|v| keys.binary_search(&v).is_ok())))
        .collect();
    filter_record_batch(batch, &keep)
}

/// Decimal text from a file must be plain: sign, digits, point, and an exponent of at most
/// three digits. Arrow's decimal parser keeps the exponent in an i16 that wraps (found by the
/// `csv` fuzz target: `04E5144665.07`), so a longer exponent would load a wrong number
/// instead of failing.
fn check_decimal_text(array: &ArrayRef, column: &str) -> std::result::Result<(), String> {
    let plain = |text: &str| {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let exponent_ok = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            (1..=3).contains(&e.len()) && digits(e)
        });
        digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()) && exponent_ok
    };
    let strings = array.as_string::<i32>();
    match strings.iter().flatten().find(|t| !plain(t)) {
        Some(bad) => Err(format!(
            "column `{column}`: `{bad}` is not a decimal number (digits, a point and at most a \
             3-digit exponent)"
        )),
        None => Ok(()),
    }
}

/// Brings a batch read from a file into the mart schema: columns matched by name in any
/// case, cast to the mart's types (an out-of-range value is an error, never a silent NULL),
/// missing nullable columns filled with NULL. `what` names the file for errors, and
/// `first_row` is how many of its rows came before this batch.
pub fn conform(
    batch: &RecordBatch,
    target: &SchemaRef,
    table: &TableConfig,
    what: &str,
    first_row: u64,
) -> Result<RecordBatch> {
    let source_schema = batch.schema();
    let strict = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let columns = target
        .fields()
        .iter()
        .zip(&table.schema.columns)
        .map(|(field, column)| {
            let found = source_schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(field.name()));
            match found {
                Some(i) if batch.column(i).data_type() == field.data_type() => {
                    Ok(batch.column(i).clone())
                }
                Some(i) => {
                    if let (DataType::Utf8, DataType::Decimal128(..)) =
                        (batch.column(i).data_type(), field.data_type())
                    {
                        check_decimal_text(batch.column(i), field.name()).map_err(|message| {
                            Error::Source {
                                table: table.schema.name.clone(),
                                location: what.to_string(),
                                message,
                            }
                        })?;
                    }
                    cast_with_options(batch.column(i), field.data_type(), &strict).map_err(|e| {
                        Error::Source {
                            table: table.schema.name.clone(),
                            location: what.to_string(),
                            message: format!(
                                "column `{}` ({}) does not convert to the mart's {}: {e}",
                                field.name(),
                                batch.column(i).data_type(),
                                field.data_type()
                            ),
                        }
                    })
                }
                None if column.nullable => Ok(new_null_array(field.data_type(), batch.num_rows())),
                None => Err(Error::Source {
                    table: table.schema.name.clone(),
                    location: what.to_string(),
                    message: format!("required column `{}` is missing", field.name()),
                }),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    check_not_null(&columns, table, what, first_row)?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| Error::Source {
        table: table.schema.name.clone(),
        location: what.to_string(),
        message: e.to_string(),
    })
}

/// A NULL in a column the mart declares NOT NULL fails the read, naming the row (counted from
/// 1 across the file, `first_row` rows precede this batch) and the column; the warehouse's
/// INSERT would otherwise fail the merge without naming either. Key and version columns are
/// not checked here: a NULL there is a rejected row (`max_rejected`), quarantined by dedup.
fn check_not_null(
    columns: &[ArrayRef],
    table: &TableConfig,
    what: &str,
    first_row: u64,
) -> Result<()> {
    for (array, column) in columns.iter().zip(&table.schema.columns) {
        let guarded =
            table.key.contains(&column.name) || table.version.as_ref() == Some(&column.name);
        if column.nullable || guarded || array.null_count() == 0 {
            continue;
        }
        let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0) as u64;
        return Err(Error::Source {
            table: table.schema.name.clone(),
            location: what.to_string(),
            message: format!(
                "row {} has no value (NULL) in column `{}`, which mart {} declares NOT NULL; \
                 nothing of this batch was merged: correct or remove the row and run again",
                first_row + row + 1,
                column.name,
                table.name
            ),
        });
    }
    Ok(())
}
