//! Stages: where each run's deduped rows wait, as Parquet, between dedup and the warehouse
//! load. Layout: `<stage>/<mart>/<run_id>/part-NNNNN.parquet` plus a Redshift-style
//! `manifest.json` listing every part with its length.
//!
//! Backends: [`file`] (`file://DIR`) and [`s3`] (`s3://bucket/prefix`, AWS or any
//! S3-compatible server).

pub mod file;
pub mod s3;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::config::{StageConfig, StageUrl};
use crate::error::{Error, Result};
pub use crate::units::run_id_time;

/// An object in the stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Key relative to the stage root, e.g. `mart_x/RUN/part-00000.parquet`.
    pub key: String,
    /// Full URL, as a warehouse loads it.
    pub url: String,
    pub content_length: u64,
}

/// A place for staged files.
#[async_trait::async_trait]
pub trait Stage: Send + Sync + 'static {
    /// The stage root's URL (never with credentials).
    fn url(&self) -> String;

    /// Stores `bytes` at `key`, atomically: a reader sees the whole object or none of it.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StagedFile>;

    /// The whole object at `key` (warehouses that cannot read the stage themselves load
    /// from these bytes).
    async fn get(&self, key: &str) -> Result<Vec<u8>>;

    /// The objects under the folder `prefix` (`a/b` means `a/b/…`), in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<StagedFile>>;

    /// Deletes every object under the folder `prefix`; deleting nothing is not an error.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;

    /// The local path of `key`, when the stage is a local folder.
    fn local_path(&self, key: &str) -> Option<PathBuf>;
}

/// Opens the configured stage.
pub async fn open(config: &StageConfig) -> Result<Arc<dyn Stage>> {
    match &config.url {
        StageUrl::File(dir) => Ok(Arc::new(file::FileStage::new(dir)?)),
        StageUrl::S3 { bucket, prefix } => {
            Ok(Arc::new(s3::S3Stage::open(bucket, prefix, config).await?))
        }
    }
}

/// Moves the files under `prefix` whose names end in `suffix` out of the stage: each is
/// downloaded (one at a time, so memory holds at most one object) into a temporary file that
/// is unlinked once open, and the whole folder is deleted afterwards, also when a download
/// failed. The files come back open, in key order: what a warehouse unloaded there for
/// `export` (Redshift's UNLOAD), read back without leaving anything in the stage.
pub async fn take_files(
    stage: &dyn Stage,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<std::fs::File>> {
    let taken = async {
        let mut files = Vec::new();
        for object in stage.list(prefix).await? {
            if !object.key.ends_with(suffix) {
                continue;
            }
            let bytes = stage.get(&object.key).await?;
            let file = tokio::task::spawn_blocking(move || unlinked_file(&bytes))
                .await
                .expect("writing a file does not panic")?;
            files.push(file);
        }
        Ok(files)
    }
    .await;
    let deleted = stage.delete_prefix(prefix).await;
    let files = taken?;
    deleted?;
    Ok(files)
}

/// `bytes` in a new temporary file, open for reading, its path already removed.
fn unlinked_file(bytes: &[u8]) -> Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!(
        "martsync-take-{}-{}",
        std::process::id(),
        crate::units::new_run_id()
    ));
    let io = |e| Error::io("writing a file taken from the stage", &path, e);
    std::fs::write(&path, bytes).map_err(io)?;
    let file = std::fs::File::open(&path).map_err(io);
    let _ = std::fs::remove_file(&path);
    file
}

/// A Redshift COPY manifest: `{"entries": [{"url", "mandatory", "meta": {"content_length"}}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub url: String,
    pub mandatory: bool,
    pub meta: ManifestMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestMeta {
    pub content_length: u64,
}

/// What one run staged.
#[derive(Debug, Clone)]
pub struct StagedRun {
    /// `<mart>/<run_id>`: everything of the run lives under it.
    pub prefix: String,
    pub parts: Vec<StagedFile>,
    pub manifest: StagedFile,
    /// Rows in the parts.
    pub rows: u64,
    /// Bytes of the parts.
    pub bytes: u64,
}

/// The key prefix of a run.
pub fn run_prefix(mart: &str, run_id: &str) -> String {
    format!("{mart}/{run_id}")
}

/// How staged Parquet pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// zstd level 1: smaller parts, what DuckDB, PostgreSQL's reader and the benchmarks get.
    #[default]
    Zstd,
    /// Snappy, the codec of Parquet that Redshift is known to read: Redshift's own `UNLOAD …
    /// FORMAT AS PARQUET` writes Snappy, and dlt's Redshift staging writes Parquet with
    /// pyarrow's defaults (Snappy, format 2.4, version 1 data pages). The COPY page lists no
    /// Parquet codec, so the one Redshift writes itself is the one staged for it.
    Snappy,
}

/// The Parquet codec and page version martsync writes files with; [`encode_parquet`] adds
/// what only a staged part may leave out.
pub fn writer_properties(codec: Codec) -> WriterProperties {
    let compression = match codec {
        Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("valid zstd level")),
        Codec::Snappy => Compression::SNAPPY,
    };
    WriterProperties::builder()
        .set_compression(compression)
        // Version 1 data pages, as pyarrow (and so dlt) writes by default.
        .set_writer_version(parquet::file::properties::WriterVersion::PARQUET_1_0)
        .build()
}

/// Rows per staged part, and how the parts are compressed.
#[derive(Debug, Clone, Copy)]
pub struct PartFormat {
    pub rows: usize,
    pub codec: Codec,
}

/// Encodes batches as one Parquet file in memory, as a staged part: with
/// [`writer_properties`], no dictionary for a column whose first rows are mostly distinct
/// ([`mostly_distinct`]), and no statistics.
///
/// A staged part is read whole, once, by the warehouse's load (DuckDB's `INSERT … SELECT …
/// FROM read_parquet(…)` without a filter, PostgreSQL's load through martsync, Redshift's
/// `COPY … FORMAT AS PARQUET`): no reader skips a row group or page by its minimum and
/// maximum, and the Parquet format makes statistics optional. The Redshift Database
/// Developer Guide's "COPY from columnar data formats" lists what COPY needs of a Parquet
/// file (columns in the table's order and number, the bucket in the cluster's Region), and
/// statistics are not among it. Computing them compared every value (text byte by byte) for
/// a minimum and a maximum per page and per chunk: without them 1M kept rows encoded in
/// 0.199 instead of 0.261 s on the generated file and 0.252 instead of 0.337 s on the
/// Polars-written one (medians of 15, alternating; README).
pub fn encode_parquet(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    codec: Codec,
) -> std::result::Result<Vec<u8>, parquet::errors::ParquetError> {
    let mut properties = writer_properties(codec)
        .into_builder()
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None);
    for name in batches.first().map(mostly_distinct).unwrap_or_default() {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(schema), Some(properties.build()))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(out)
}

/// The rows of a part's first batch [`mostly_distinct`] looks at, and the fewest that say
/// anything about a column.
const SAMPLE_ROWS: usize = 8_192;
const MIN_SAMPLE_ROWS: usize = 1_024;

/// The columns of `batch` over half of whose first [`SAMPLE_ROWS`] values are distinct.
///
/// The Parquet writer dictionary-encodes every column until the dictionary outgrows its
/// page limit (1 MiB), then falls back to plain values: for a column of mostly distinct
/// values (a mart's key after a dedup, a tracking number, a timestamp of seconds) it hashes
/// every value into a dictionary that is thrown away. Written plain from the start, the 1M
/// kept rows of the dedup benchmark's part encoded in 0.263 instead of 0.284 s (median of 15,
/// alternating) and into 13.9 instead of 14.9 MB; on the Polars-written file's part 0.312
/// instead of 0.371 s, 22.0 instead of 22.4 MB; the whole dedup 7 and 12 % faster (README).
/// A column the sample calls mostly distinct although its dictionary would have fitted
/// (that file's `add_time`: 8,192 rows mostly distinct, 1M rows not) is written larger (2.9
/// instead of 2.4 MB there), which the other columns more than made up for. A batch of fewer
/// than [`MIN_SAMPLE_ROWS`] rows keeps every dictionary.
fn mostly_distinct(batch: &RecordBatch) -> Vec<String> {
    let rows = batch.num_rows().min(SAMPLE_ROWS);
    if rows < MIN_SAMPLE_ROWS {
        return Vec::new();
    }
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(field, column)| {
            // A type the row format does not take keeps its dictionary.
            RowConverter::new(vec![SortField::new(field.data_type().clone())])
                .and_then(|converter| converter.convert_columns(&[column.slice(0, rows)]))
                .is_ok_and(|sample| {
                    2 * sample
                        .iter()
                        .collect::<std::collections::HashSet<_>>()
                        .len()
                        > rows
                })
        })
        .map(|(field, _)| field.name().clone())
        .collect()
}

/// Groups batches into parts of at most `part_rows` rows as they arrive (batch boundaries
/// respected, a batch larger than a part sliced), so a run's rows need not all be in memory.
struct Parts<I> {
    batches: I,
    part_rows: usize,
    pending: Option<RecordBatch>,
}

impl<I: Iterator<Item = Result<RecordBatch>>> Iterator for Parts<I> {
    type Item = Result<Vec<RecordBatch>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut part = Vec::new();
        let mut rows = 0;
        while rows < self.part_rows {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None => match self.batches.next() {
                    Some(Ok(batch)) => batch,
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                },
            };
            let take = (self.part_rows - rows).min(batch.num_rows());
            if take < batch.num_rows() {
                self.pending = Some(batch.slice(take, batch.num_rows() - take));
            }
            if take > 0 {
                part.push(batch.slice(0, take));
                rows += take;
            }
        }
        (!part.is_empty()).then_some(Ok(part))
    }
}

fn split_parts<I: Iterator<Item = Result<RecordBatch>>>(batches: I, part_rows: usize) -> Parts<I> {
    Parts {
        batches,
        part_rows,
        pending: None,
    }
}

/// Writes a run's rows as Parquet parts (encoded in parallel, as the rows arrive: at most
/// one part per core is in memory at once) and its manifest, and any rejected rows as
/// `rejected.parquet` beside them (not listed in the manifest).
pub async fn write_run(
    stage: &dyn Stage,
    mart: &str,
    run_id: &str,
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>> + Send,
    rejected: &[RecordBatch],
    format: PartFormat,
) -> Result<StagedRun> {
    let prefix = run_prefix(mart, run_id);
    let encode_error = |e: parquet::errors::ParquetError| Error::Stage {
        url: stage.url(),
        action: format!("encoding Parquet for {prefix}"),
        message: e.to_string(),
    };
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rows = std::sync::atomic::AtomicU64::new(0);
    let parts = split_parts(batches, format.rows).enumerate();
    let staged: Vec<StagedFile> = futures::stream::iter(parts)
        .map(|(i, part)| {
            let schema = Arc::clone(schema);
            let key = format!("{prefix}/part-{i:05}.parquet");
            let rows = &rows;
            async move {
                let part = part?;
                // A part in another shape than the run's schema is a bug upstream: Parquet
                // would write it under the wrong column names.
                if let Some(batch) = part.iter().find(|b| b.schema().fields() != schema.fields()) {
                    return Err(Error::Stage {
                        url: stage.url(),
                        action: format!("encoding {key}"),
                        message: format!(
                            "a batch's columns ({}) are not the run's ({})",
                            batch.num_columns(),
                            schema.fields().len()
                        ),
                    });
                }
                rows.fetch_add(
                    part.iter().map(|b| b.num_rows() as u64).sum(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                let bytes = tokio::task::spawn_blocking(move || {
                    encode_parquet(&schema, &part, format.codec)
                })
                .await
                .expect("Parquet encoding does not panic")
                .map_err(encode_error)?;
                stage.put(&key, bytes).await
            }
        })
        .buffered(parallel)
        .try_collect()
        .await?;
    let rows = rows.into_inner();
    if !rejected.is_empty() {
        // CPU work, like the parts': off the async threads. In the rows' own schema: a run
        // the warehouse ranks stages its rows with one more column than the rows set aside.
        let (schema, rejected) = (rejected[0].schema(), rejected.to_vec());
        let bytes =
            tokio::task::spawn_blocking(move || encode_parquet(&schema, &rejected, format.codec))
                .await
                .expect("Parquet encoding does not panic")
                .map_err(encode_error)?;
        stage
            .put(&format!("{prefix}/rejected.parquet"), bytes)
            .await?;
    }
    let manifest = Manifest {
        entries: staged
            .iter()
            .map(|f| ManifestEntry {
                url: f.url.clone(),
                mandatory: true,
                meta: ManifestMeta {
                    content_length: f.content_length,
                },
            })
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    let manifest_file = stage
        .put(&format!("{prefix}/manifest.json"), manifest_bytes)
        .await?;
    Ok(StagedRun {
        prefix,
        bytes: staged.iter().map(|f| f.content_length).sum(),
        parts: staged,
        manifest: manifest_file,
        rows,
    })
}

/// Deletes the staged runs of `mart` past keeping at `now` ([`crate::units::expired`]; `committed` holds
/// the mart's committed run ids). Returns the prefixes deleted.
pub async fn delete_expired(
    stage: &dyn Stage,
    mart: &str,
    committed: &std::collections::HashSet<String>,
    keep: crate::units::KeepStaged,
    now: std::time::SystemTime,
) -> Result<Vec<String>> {
    let mut runs: Vec<String> = stage
        .list(&format!("{mart}/"))
        .await?
        .into_iter()
        .filter_map(|f| {
            f.key
                .strip_prefix(&format!("{mart}/"))?
                .split('/')
                .next()
                .map(str::to_string)
        })
        .collect();
    runs.dedup();
    let mut deleted = Vec::new();
    for run_id in runs {
        if crate::units::expired(&run_id, committed.contains(&run_id), keep, now) {
            let prefix = run_prefix(mart, &run_id);
            stage.delete_prefix(&prefix).await?;
            deleted.push(prefix);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn parts_respect_the_row_limit() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
        let batch = |n: i32| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int32Array::from_iter_values(0..n))],
            )
            .unwrap()
        };
        let parts = split_parts([batch(5), batch(7), batch(1)].into_iter().map(Ok), 4)
            .collect::<Result<Vec<_>>>()
            .unwrap();
        let sizes: Vec<usize> = parts
            .iter()
            .map(|p| p.iter().map(|b| b.num_rows()).sum())
            .collect();
        assert_eq!(sizes, [4, 4, 4, 1]);
    }

    /// Whether each column of the encoded file has a dictionary page, and its values.
    fn dictionaries_and_rows(bytes: Vec<u8>) -> (Vec<(String, bool)>, Vec<RecordBatch>) {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let group = reader.metadata().row_group(0).clone();
        let dictionaries = group
            .columns()
            .iter()
            .map(|c| {
                (
                    c.column_path().string(),
                    c.dictionary_page_offset().is_some(),
                )
            })
            .collect();
        let rows = reader
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        (dictionaries, rows)
    }

    #[test]
    fn a_column_of_mostly_distinct_values_is_written_without_a_dictionary() {
        use arrow::array::{Int64Array, StringArray};
        let schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
            // Half distinct exactly: still worth a dictionary.
            Field::new("half", DataType::Int64, false),
        ]));
        let batch = |rows: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(0..rows)),
                    Arc::new(StringArray::from_iter_values(
                        (0..rows).map(|i| ["new", "shipped", "delivered"][i as usize % 3]),
                    )),
                    Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i / 2))),
                ],
            )
            .unwrap()
        };
        let big = [batch(20_000), batch(5)];
        let (dictionaries, rows) =
            dictionaries_and_rows(encode_parquet(&schema, &big, Codec::Zstd).unwrap());
        assert_eq!(
            dictionaries,
            [
                ("order_id".to_string(), false),
                ("status".to_string(), true),
                ("half".to_string(), true)
            ]
        );
        assert_eq!(
            arrow::compute::concat_batches(&schema, &rows).unwrap(),
            arrow::compute::concat_batches(&schema, &big).unwrap()
        );
        // Too few rows to judge: every column keeps its dictionary.
        let (dictionaries, _) =
            dictionaries_and_rows(encode_parquet(&schema, &[batch(500)], Codec::Snappy).unwrap());
        assert!(
            dictionaries.iter().all(|(_, dictionary)| *dictionary),
            "{dictionaries:?}"
        );
    }

    #[test]
    fn a_staged_part_carries_no_statistics() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from_iter_values(0..5_000))],
        )
        .unwrap();
        let bytes = encode_parquet(&schema, &[batch], Codec::Zstd).unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let chunk = reader.metadata().row_group(0).column(0).clone();
        assert!(chunk.statistics().is_none(), "{:?}", chunk.statistics());
    }

    #[tokio::test]
    async fn runs_that_never_committed_are_deleted_after_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let stage = file::FileStage::new(dir.path()).unwrap();
        let now = humantime::parse_rfc3339("2026-11-26T15:30:00Z").unwrap();
        for run in [
            "20261126T120000000Z-aaaaaaaa",
            "20261126T152900000Z-bbbbbbbb",
        ] {
            stage
                .put(&format!("m/{run}/part-00000.parquet"), vec![1])
                .await
                .unwrap();
            stage
                .put(&format!("m/{run}/manifest.json"), vec![2])
                .await
                .unwrap();
        }
        stage
            .put("other/20261126T120000000Z-cccccccc/x", vec![3])
            .await
            .unwrap();
        let deleted = delete_expired(
            &stage,
            "m",
            &Default::default(),
            crate::units::KeepStaged::No,
            now,
        )
        .await
        .unwrap();
        assert_eq!(deleted, ["m/20261126T120000000Z-aaaaaaaa"]);
        let left: Vec<String> = stage
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(
            left,
            [
                "m/20261126T152900000Z-bbbbbbbb/manifest.json",
                "m/20261126T152900000Z-bbbbbbbb/part-00000.parquet",
                "other/20261126T120000000Z-cccccccc/x"
            ]
        );
        assert!(run_id_time(&crate::units::new_run_id()).is_some());
    }
}
