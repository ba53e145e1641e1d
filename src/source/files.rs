//! `files://DIR`: one folder per source table (`DIR/uni_tracking_info/*.parquet|*.csv|*.jsonl`,
//! CSV and JSON lines also `.gz` or `.zst`), files taken in name order. Files are read on a
//! blocking thread and handed over a channel of two batches (about half a million rows for a
//! dedup, [`IN_FLIGHT_ROWS`]), so memory stays bounded whatever the file size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Encoding;
use parquet::file::metadata::ParquetMetaData;
use tokio::sync::mpsc;

use super::csv_empty::{QuotedEmpty, restore_empty};
use super::{BatchStream, Extract, Source, conform, filter_between, filter_keys};
use crate::config::TableConfig;
use crate::error::{Error, Result};

/// Rows in flight between the reading thread and a dedup consuming them: eight batches of the
/// default 65,536 rows, and two batches at least (a larger `batch_rows` is not multiplied by
/// eight). Other consumers get two batches.
///
/// Eight default batches rather than two: the dedup consuming the batches compacts its
/// retained batches in bursts of up to about 50 ms, while the reading thread decodes a
/// 65,536-row batch in about 6; with two in flight it stood idle through each burst (`perf`
/// per 20 ms, README), and a file that is decoded faster than it is deduped gains nothing
/// from its idle spells later. `martsync bench --worker` on the 10M-row bench files, 12
/// rounds alternating: 1.46 → 1.32 s and 1.83 → 1.75 s, peak within ±20 MiB.
const IN_FLIGHT_ROWS: usize = 8 * 65_536;

/// Batches of `batch_rows` rows in flight: [`IN_FLIGHT_ROWS`] for a dedup, two otherwise.
///
/// Only a dedup has the bursts the read-ahead covers: `compare --memory-limit 64MiB` of a
/// 4M-row mart against its source file peaked at 470–489 MiB instead of 395–404 with every
/// file read eight batches ahead, in the same time (3 runs each).
fn channel_batches(batch_rows: usize, for_dedup: bool) -> usize {
    if !for_dedup {
        return 2;
    }
    (IN_FLIGHT_ROWS / batch_rows.max(1)).max(2)
}

/// A folder of files per source table.
#[derive(Debug, Clone)]
pub struct FilesSource {
    dir: PathBuf,
    batch_rows: usize,
}

/// The formats a source file may have, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
    JsonLines,
}

/// How a CSV or JSON-lines file is compressed, by a last extension `.gz` or `.zst` (Parquet
/// compresses its pages itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn format_of(path: &Path) -> Option<(Format, Compression)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (name, compression) = if let Some(stem) = name.strip_suffix(".gz") {
        (stem, Compression::Gzip)
    } else if let Some(stem) = name.strip_suffix(".zst") {
        (stem, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let format = match name.rsplit_once('.')?.1 {
        "parquet" if compression == Compression::None => Format::Parquet,
        "csv" => Format::Csv,
        "jsonl" | "ndjson" | "json" => Format::JsonLines,
        _ => return None,
    };
    Some((format, compression))
}

/// The first two neighbouring names (in name order) that numbers in them would put the other
/// way round: `batch-10.csv` before `batch-9.csv`. Name order is the contract (a replay takes
/// files as `ls` lists them); unpadded numbers are named in a warning, since a tie between
/// two versions, or an append's first arrival, goes by that order.
fn numbered_out_of_order(files: &[PathBuf]) -> Option<(String, String)> {
    let name = |p: &PathBuf| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    files.windows(2).find_map(|pair| {
        let (a, b) = (name(&pair[0]), name(&pair[1]));
        (numeric_order(&a, &b) == std::cmp::Ordering::Greater).then_some((a, b))
    })
}

/// Compares names as people read numbers in them: runs of digits by value, the rest by bytes.
fn numeric_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let by_value = |x: &str, y: &str| {
        let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    };
    for ((digits_a, a), (digits_b, b)) in runs(a).into_iter().zip(runs(b)) {
        let order = if digits_a && digits_b {
            by_value(a, b)
        } else {
            a.cmp(b)
        };
        if order.is_ne() {
            return order;
        }
    }
    // `batch-09` and `batch-9`, or one name a prefix of the other: no number says otherwise.
    std::cmp::Ordering::Equal
}

/// Whether a file no format takes is one a folder of batches is expected to hold: hidden
/// files and the markers other tools leave (`_SUCCESS`, `.part-0.crc`). Any other, and any
/// subfolder, is named in a warning, so that a batch of an unread format (`.csv.bz2`, `.tsv`)
/// or in a partition folder is not lost unseen.
fn expected_stranger(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

impl FilesSource {
    pub fn new(dir: PathBuf, batch_rows: usize) -> Self {
        FilesSource { dir, batch_rows }
    }

    /// The folder holding `table`'s files.
    pub fn table_dir(&self, table: &TableConfig) -> PathBuf {
        self.dir.join(&table.schema.name)
    }

    /// The files of `table`, in name order. A missing folder is an error that names it.
    pub fn list_files(&self, table: &TableConfig) -> Result<Vec<PathBuf>> {
        let dir = self.table_dir(table);
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::Source {
            table: table.schema.name.clone(),
            location: dir.display().to_string(),
            message: format!(
                "cannot list the folder ({e}); a files:// source needs one folder per source table"
            ),
        })?;
        let (mut files, strangers): (Vec<PathBuf>, Vec<PathBuf>) = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .partition(|p| p.is_file() && format_of(p).is_some());
        let mut unread: Vec<String> = strangers
            .iter()
            .filter(|p| !expected_stranger(p))
            .map(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                // A subfolder (a partitioned export, `dt=2026-01-01/`) is not read either.
                if p.is_dir() {
                    format!("{name}/")
                } else {
                    name.into_owned()
                }
            })
            .collect();
        if !unread.is_empty() {
            unread.sort();
            tracing::warn!(
                table = %table.schema.name,
                folder = %dir.display(),
                files = %unread.join(", "),
                "Files not read: not Parquet, CSV or JSON lines (optionally .gz or .zst), \
                 or a subfolder (files are read from the table's folder only)."
            );
        }
        files.sort();
        if let Some((earlier, later)) = numbered_out_of_order(&files) {
            tracing::warn!(
                table = %table.schema.name,
                folder = %dir.display(),
                "Files are taken in name order: {earlier} before {later}. If the numbers in \
                 the names mean the order, pad them with zeros (batch-00009, batch-00010)."
            );
        }
        Ok(files)
    }

    /// The files of `table` in a folder given on the command line: `folder/<source table>/`
    /// when it exists, else the folder's own files (a folder of one table's files).
    pub fn folder_files(
        folder: &Path,
        table: &TableConfig,
        batch_rows: usize,
    ) -> Result<Vec<PathBuf>> {
        let nested = FilesSource::new(folder.to_path_buf(), batch_rows);
        if nested.table_dir(table).is_dir() {
            return nested.list_files(table);
        }
        // The folder's parent plays the files:// root and the folder the source table's.
        let parent = folder.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut alias = table.clone();
        alias.schema.name = folder
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        FilesSource::new(parent, batch_rows).list_files(&alias)
    }

    /// Streams `files` in order, in the mart schema, keeping the rows `extract` selects.
    pub fn read_files(
        &self,
        table: &TableConfig,
        files: Vec<PathBuf>,
        extract: Extract,
    ) -> BatchStream {
        let batch_rows = self.batch_rows;
        let (tx, rx) =
            mpsc::channel::<Result<RecordBatch>>(channel_batches(batch_rows, extract.for_dedup));
        let table = table.clone();
        tokio::task::spawn_blocking(move || {
            let target = table.schema.arrow_schema();
            let watermark = table
                .schema
                .index_of(&table.watermark)
                .expect("validated watermark column");
            let key = table.schema.index_of(&table.key[0]).expect("validated key");
            for path in files {
                let send = |item: Result<RecordBatch>| tx.blocking_send(item).is_ok();
                let result = read_file(
                    &path,
                    &target,
                    batch_rows,
                    &table,
                    extract.for_dedup,
                    &mut |batch| {
                        let batch = if extract.above.is_some() || extract.below.is_some() {
                            filter_between(&batch, watermark, extract.above, extract.below)
                                .map_err(|e| Error::Source {
                                    table: table.schema.name.clone(),
                                    location: path.display().to_string(),
                                    message: format!("watermark filter: {e}"),
                                })?
                        } else {
                            batch
                        };
                        let batch = match &extract.keys {
                            Some(keys) => {
                                filter_keys(&batch, key, keys).map_err(|e| Error::Source {
                                    table: table.schema.name.clone(),
                                    location: path.display().to_string(),
                                    message: format!("key filter: {e}"),
                                })?
                            }
                            None => batch,
                        };
                        // A closed channel means the consumer stopped (an error downstream): stop reading.
                        Ok(batch.num_rows() == 0 || send(Ok(batch)))
                    },
                );
                match result {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        send(Err(e));
                        return;
                    }
                }
            }
        });
        super::receiver_stream(rx)
    }
}

#[async_trait::async_trait]
impl Source for FilesSource {
    async fn extract(&self, table: &TableConfig, extract: Extract) -> Result<BatchStream> {
        let files = self.list_files(table)?;
        Ok(self.read_files(table, files, extract))
    }

    fn explain_extraction(&self, table: &TableConfig, above: Option<i64>) -> String {
        let files = self.list_files(table).map_or_else(
            |e| format!("(cannot list: {e})"),
            |f| format!("{} file(s)", f.len()),
        );
        let rows = match above {
            None => "every row".to_string(),
            Some(v) => format!(
                "rows with {} > {}",
                table.watermark,
                super::display_watermark(table, v)
            ),
        };
        format!(
            "read the CSV, JSON and Parquet files under {} ({files}) in name order; keep {rows}",
            self.table_dir(table).display()
        )
    }
}

/// Streams an open Parquet file (its path may already be unlinked) in `table`'s mart schema,
/// on a blocking thread, a few batches in flight; `what` names it in errors. `for_dedup` as
/// in [`Extract::for_dedup`].
pub fn stream_parquet(
    file: File,
    what: String,
    table: &TableConfig,
    batch_rows: usize,
    for_dedup: bool,
) -> BatchStream {
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(channel_batches(batch_rows, for_dedup));
    let table = table.clone();
    tokio::task::spawn_blocking(move || {
        let error = |message: String| Error::Source {
            table: table.schema.name.clone(),
            location: what.clone(),
            message,
        };
        let (reader, target) = match parquet_reader(
            file,
            &table.schema.arrow_schema(),
            &table,
            batch_rows,
            for_dedup,
        ) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = tx.blocking_send(Err(error(format!("not a readable Parquet file: {e}"))));
                return;
            }
        };
        let mut row = 0u64;
        for batch in reader {
            let item = batch.map_err(|e| error(e.to_string())).and_then(|b| {
                let rows = b.num_rows() as u64;
                row += rows;
                conform(&b, &target, &table, &what, row - rows)
            });
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    super::receiver_stream(rx)
}

/// Reads one file batch by batch, calling `emit` with each conformed batch; stops early (and
/// returns false) when `emit` returns false. Public for the fuzz targets (`fuzz/`), which feed
/// it arbitrary bytes: any input must end in a batch or an error, never a panic.
pub fn read_file(
    path: &Path,
    target: &SchemaRef,
    batch_rows: usize,
    table: &TableConfig,
    dictionary_text: bool,
    emit: &mut dyn FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    let source_err = |row: u64, message: String| Error::Source {
        table: table.schema.name.clone(),
        location: format!("{} (rows from {row})", path.display()),
        message,
    };
    let (format, compression) = format_of(path).expect("listed files have a known format");
    let mut target = Arc::clone(target);
    let batches: Box<
        dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>>,
    > = match format {
        Format::Parquet => {
            let file = File::open(path).map_err(|e| Error::io("opening source file", path, e))?;
            let (reader, read_as) =
                parquet_reader(file, &target, table, batch_rows, dictionary_text)
                    .map_err(|e| source_err(0, format!("not a readable Parquet file: {e}")))?;
            target = read_as;
            reader
        }
        Format::Csv => {
            let (schema, text) = csv_schema(path, compression, &target)?;
            let reader = arrow::csv::ReaderBuilder::new(schema)
                .with_header(true)
                .with_batch_size(batch_rows)
                .build(QuotedEmpty::new(open_text(path, compression)?, text))
                .map_err(|e| source_err(0, e.to_string()))?;
            Box::new(reader.map(|batch| batch.and_then(restore_empty)))
        }
        Format::JsonLines => {
            let schema = json_schema(path, compression, &target, &|m| source_err(0, m))?;
            let reader = arrow::json::ReaderBuilder::new(schema)
                // A JSON number into a text field (decimals, see text_for_decimals).
                .with_coerce_primitive(true)
                .with_batch_size(batch_rows)
                .build(open_text(path, compression)?)
                .map_err(|e| source_err(0, e.to_string()))?;
            Box::new(reader)
        }
    };
    let mut row = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| match format {
            // Arrow numbers a CSV file's lines from the first row after the header.
            Format::Csv => source_err(
                row,
                format!(
                    "{} (lines counted after the header)",
                    clipped(e.to_string())
                ),
            ),
            _ => source_err(row, clipped(e.to_string())),
        })?;
        let rows = batch.num_rows() as u64;
        let conformed = conform(
            &batch,
            &target,
            table,
            &format!("{} (rows from {row})", path.display()),
            row,
        )?;
        row += rows;
        if !emit(conformed)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A reader of a Parquet file and the schema its batches are conformed to: the mart's, except
/// that with `dictionary_text` a text column the file stores dictionary-encoded in every row
/// group is read as a dictionary array (keys into the row group's dictionary) instead of
/// being copied out row by row. Its values are copied once, for the rows a dedup keeps
/// ([`crate::units::decode_dictionaries`]): on the bench's 10M-row file (2M kept) decoding
/// took 0.57 s instead of 0.71–0.88 s and 576 instead of 919 MiB of Arrow buffers, and the
/// dedup's process 2.2–2.3 instead of 2.5–3.0 s of user CPU (README). Key, version and
/// watermark columns stay as they are: the dedup hashes and compares them, and the
/// extraction filters on them.
///
/// Text the file's embedded Arrow schema declares as `LargeUtf8` or `Utf8View` (Polars and
/// pyarrow write large strings) is read straight into the mart's `Utf8`: the Parquet column
/// is the same, and reading it as declared would decode every value once and copy it again
/// in [`conform`]'s cast.
fn parquet_reader(
    file: File,
    target: &SchemaRef,
    table: &TableConfig,
    batch_rows: usize,
    dictionary_text: bool,
) -> parquet::errors::Result<(Batches, SchemaRef)> {
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
    let is_text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let target_type = |name: &str| {
        target
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .map(|f| f.data_type())
    };
    let text_in_file = |name: &str| {
        metadata
            .schema()
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(name) && is_text(f.data_type()))
    };
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    // Dictionaries are read one row group at a time (see `RowGroupBatches`): a file of small
    // row groups (a writer that flushes often) would come as as many small batches, each
    // retained by the dedup with a dictionary of its own. Such a file is read as plain text
    // in full-size batches.
    let file_rows = metadata.metadata().file_metadata().num_rows().max(0) as usize;
    let groups = metadata.metadata().num_row_groups().max(1);
    let large_groups = file_rows / groups >= batch_rows / MIN_GROUP_BATCH_FRACTION;
    let as_dictionary: Vec<&str> = if dictionary_text && large_groups {
        target
            .fields()
            .iter()
            .filter(|f| f.data_type() == &DataType::Utf8)
            .filter(|f| {
                let name = f.name();
                !table.key.contains(name)
                    && table.version.as_ref() != Some(name)
                    && &table.watermark != name
            })
            .map(|f| f.name().as_str())
            .filter(|name| text_in_file(name) && dictionary_encoded(metadata.metadata(), name))
            .collect()
    } else {
        Vec::new()
    };
    // The type a file column is read as, where it is not the one the file declares.
    let hint = |field: &Field| -> Option<DataType> {
        if as_dictionary
            .iter()
            .any(|n| n.eq_ignore_ascii_case(field.name()))
        {
            Some(dictionary.clone())
        } else if is_text(field.data_type())
            && field.data_type() != &DataType::Utf8
            && target_type(field.name()) == Some(&DataType::Utf8)
        {
            Some(DataType::Utf8)
        } else {
            None
        }
    };
    let retyped = |fields: &arrow::datatypes::Fields| -> Vec<Field> {
        fields
            .iter()
            .map(|f| {
                let field = f.as_ref().clone();
                match hint(&field) {
                    Some(data_type) => field.with_data_type(data_type),
                    None => field,
                }
            })
            .collect()
    };
    // A file that needs no hint is read with its own schema, none supplied.
    let (metadata, read_as) = if metadata.schema().fields().iter().any(|f| hint(f).is_some()) {
        let file_schema = Schema::new(retyped(metadata.schema().fields()));
        let retyped_metadata = ArrowReaderMetadata::try_new(
            Arc::clone(metadata.metadata()),
            ArrowReaderOptions::new().with_schema(Arc::new(file_schema)),
        )?;
        (
            retyped_metadata,
            Arc::new(Schema::new(retyped(target.fields()))),
        )
    } else {
        (metadata, Arc::clone(target))
    };
    let batches: Batches = if as_dictionary.is_empty() {
        Box::new(
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata)
                .with_batch_size(batch_rows)
                .build()?,
        )
    } else {
        Box::new(RowGroupBatches {
            file,
            metadata,
            batch_rows,
            next_group: 0,
            current: None,
        })
    };
    Ok((batches, read_as))
}

/// Row groups smaller on average than this fraction of a batch are not read as dictionaries.
const MIN_GROUP_BATCH_FRACTION: usize = 8;

/// The batches of a Parquet reader.
type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// A file read one row group at a time, so that no batch spans two row groups. Read as
/// dictionaries, a batch that did would hold keys into two dictionaries, which the reader
/// resolves by decoding them and building one new dictionary: on a Polars-written file of
/// 122,880-row groups read in 65,536-row batches, every other batch (README).
struct RowGroupBatches {
    file: File,
    metadata: ArrowReaderMetadata,
    batch_rows: usize,
    next_group: usize,
    current: Option<ParquetRecordBatchReader>,
}

impl Iterator for RowGroupBatches {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.current.as_mut().and_then(Iterator::next) {
                return Some(batch);
            }
            let groups = self.metadata.metadata().num_row_groups();
            if self.next_group == groups {
                return None;
            }
            let group = self.next_group;
            self.next_group += 1;
            // One row group's reader at a time: the handles share the file's offset, and
            // each reader seeks before it reads.
            let reader = self
                .file
                .try_clone()
                .map_err(parquet::errors::ParquetError::from)
                .and_then(|file| {
                    ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                        .with_row_groups(vec![group])
                        .with_batch_size(self.batch_rows)
                        .build()
                });
            match reader {
                Ok(reader) => self.current = Some(reader),
                Err(e) => {
                    self.next_group = groups;
                    return Some(Err(ArrowError::ParquetError(e.to_string())));
                }
            }
        }
    }
}

/// Whether the file's top-level column `name` (any case) is a text column stored
/// dictionary-encoded in every row group: a dictionary page and only dictionary-encoded
/// data pages (the test the `parquet` crate documents for
/// `ColumnChunkMetaData::page_encoding_stats_mask`). A row group without that would make
/// the reader build a dictionary from plain values, which costs more than it saves. Some
/// writers record no page statistics (Polars, which picks dictionary or plain for a whole
/// column chunk before writing it): there a dictionary page and dictionary-encoded data
/// among the chunk's encodings qualify it. A chunk that still falls back to plain pages half
/// way is read correctly, only slower.
fn dictionary_encoded(metadata: &ParquetMetaData, name: &str) -> bool {
    let schema = metadata.file_metadata().schema_descr();
    let Some(leaf) = (0..schema.num_columns()).find(|&i| {
        let column = schema.column(i);
        let parts = column.path().parts();
        parts.len() == 1 && parts[0].eq_ignore_ascii_case(name)
    }) else {
        return false;
    };
    metadata.num_row_groups() > 0
        && metadata.row_groups().iter().all(|rg| {
            let chunk = rg.column(leaf);
            chunk.dictionary_page_offset().is_some()
                && match chunk.page_encoding_stats_mask() {
                    Some(mask) => {
                        mask.is_only(Encoding::PLAIN_DICTIONARY)
                            || mask.is_only(Encoding::RLE_DICTIONARY)
                    }
                    None => chunk.encodings().any(|e| {
                        matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY)
                    }),
                }
        })
}

/// A CSV or JSON-lines file, decompressed as its name says, read from after its UTF-8 byte
/// order mark if it starts with one (Excel and Windows tools write it): the mark would
/// otherwise become part of the first column's name in a CSV header ("required column
/// `order_id` is missing") or a JSON syntax error. A corrupt stream fails the read as an I/O
/// error naming the file.
fn open_text(path: &Path, compression: Compression) -> Result<BufReader<Box<dyn Read + Send>>> {
    let file = File::open(path).map_err(|e| Error::io("opening source file", path, e))?;
    let raw: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(file),
        // Multi-member: `cat a.gz b.gz` and parallel gzip tools write several members.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file)
                .map_err(|e| Error::io("starting to decompress (zstd)", path, e))?,
        ),
    };
    let mut reader = BufReader::new(raw);
    let starts_with_bom = reader
        .fill_buf()
        .map_err(|e| Error::io("reading", path, e))?
        .starts_with(b"\xEF\xBB\xBF");
    if starts_with_bom {
        reader.consume(3);
    }
    Ok(reader)
}

/// The schema to read a CSV file with: its header's columns in its order, typed as the mart's
/// columns of the same name (any case); unknown columns are read as text and then dropped.
/// With it, per column, whether the mart's column is text (where `""` is an empty string,
/// see [`QuotedEmpty`]).
fn csv_schema(
    path: &Path,
    compression: Compression,
    target: &SchemaRef,
) -> Result<(SchemaRef, Vec<bool>)> {
    let mut header = String::new();
    open_text(path, compression)?
        .read_line(&mut header)
        .map_err(|e| Error::io("reading CSV header of", path, e))?;
    let (fields, text): (Vec<Field>, Vec<bool>) = header
        .trim_end_matches(['\r', '\n'])
        .split(',')
        .map(|name| {
            let name = name.trim().trim_matches('"');
            match target
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
            {
                Some(f) => (
                    Field::new(name, text_for_decimals(f.data_type()), true),
                    f.data_type() == &DataType::Utf8,
                ),
                None => (Field::new(name, DataType::Utf8, true), false),
            }
        })
        .unzip();
    Ok((Arc::new(Schema::new(fields)), text))
}

/// The schema to read a JSON-lines file with: the mart's columns, spelled as the first
/// record spells them (so `traceSeq` in the file finds the mart's `traceseq`).
///
/// A file whose first line opens a JSON array is refused with the error `refuse` makes of a
/// message: Arrow's reader would fail on it with the whole array in its message.
fn json_schema(
    path: &Path,
    compression: Compression,
    target: &SchemaRef,
    refuse: &dyn Fn(String) -> Error,
) -> Result<SchemaRef> {
    let mut first = String::new();
    let mut reader = open_text(path, compression)?;
    while first.trim().is_empty() {
        first.clear();
        if reader
            .read_line(&mut first)
            .map_err(|e| Error::io("reading", path, e))?
            == 0
        {
            break;
        }
    }
    if first.trim_start().starts_with('[') {
        return Err(refuse(format!(
            "the file holds a JSON array; martsync reads JSON lines, one object per line \
             (convert it with `jq -c '.[]' {} > batch.jsonl`)",
            path.display()
        )));
    }
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(first.trim())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    let fields: Vec<Field> = target
        .fields()
        .iter()
        .map(|f| {
            let name = keys
                .iter()
                .find(|k| k.eq_ignore_ascii_case(f.name()))
                .unwrap_or(f.name());
            Field::new(name, text_for_decimals(f.data_type()), true)
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// An error of Arrow's CSV or JSON reader, cut to [`MAX_READER_MESSAGE`] characters: the
/// JSON reader quotes the value it could not take, which may be a whole file's line.
fn clipped(message: String) -> String {
    match message.char_indices().nth(MAX_READER_MESSAGE) {
        Some((at, _)) => format!("{} …", &message[..at]),
        None => message,
    }
}

const MAX_READER_MESSAGE: usize = 300;

/// CSV and JSON decimals are read as text and checked before the cast to the mart's decimal
/// (see `conform`); other types as the mart's.
fn text_for_decimals(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Decimal128(..) => DataType::Utf8,
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::config::Config;
    use crate::generate::{Params, generate, uti_batch, with_text_as};

    #[test]
    fn rows_in_flight_do_not_grow_with_the_batch_size() {
        assert_eq!(channel_batches(65_536, true), 8);
        assert_eq!(channel_batches(8_192, true), 64);
        // A larger batch is not multiplied: two at least, as before.
        assert_eq!(channel_batches(200_000, true), 2);
        assert_eq!(channel_batches(1_000_000, true), 2);
        // Only a dedup reads ahead.
        assert_eq!(channel_batches(65_536, false), 2);
        assert_eq!(channel_batches(8_192, false), 2);
    }

    fn shipped_mart(name: &str) -> TableConfig {
        Config::embedded_default()
            .tables
            .into_iter()
            .find(|t| t.name == name)
            .expect("a shipped mart")
    }

    /// The tracking mart and a file of its rows written with `props`.
    fn tracking_file(props: WriterProperties) -> (TableConfig, tempfile::NamedTempFile) {
        tracking_file_with_text(props, DataType::Utf8)
    }

    /// [`tracking_file`] with the text columns written as `text` (the Arrow type the file's
    /// embedded schema declares).
    fn tracking_file_with_text(
        props: WriterProperties,
        text: DataType,
    ) -> (TableConfig, tempfile::NamedTempFile) {
        let table = shipped_mart("mart_uni_tracking_info");
        let rows: Vec<_> = generate(&Params {
            orders: 300,
            cycles: 5,
            ..Params::demo()
        })
        .uti
        .into_iter()
        .flatten()
        .collect();
        let batch = uti_batch(&rows);
        assert_eq!(batch.schema(), table.schema.arrow_schema());
        let batch = with_text_as(&batch, &text, &[]);
        let file = tempfile::Builder::new()
            .suffix(".parquet")
            .tempfile()
            .unwrap();
        let mut writer =
            ArrowWriter::try_new(file.reopen().unwrap(), batch.schema(), Some(props)).unwrap();
        // Several row groups: every one must be dictionary-encoded for a column to qualify.
        for at in (0..batch.num_rows()).step_by(200) {
            writer
                .write(&batch.slice(at, 200.min(batch.num_rows() - at)))
                .unwrap();
            writer.flush().unwrap();
        }
        writer.close().unwrap();
        (table, file)
    }

    fn read(table: &TableConfig, path: &Path, dictionary_text: bool) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        read_file(
            path,
            &table.schema.arrow_schema(),
            64,
            table,
            dictionary_text,
            &mut |b| {
                batches.push(b);
                Ok(true)
            },
        )
        .unwrap();
        batches
    }

    /// The error reading `path` ends in.
    fn read_error(table: &TableConfig, path: &Path) -> String {
        read_file(
            path,
            &table.schema.arrow_schema(),
            64,
            table,
            false,
            &mut |_| Ok(true),
        )
        .unwrap_err()
        .to_string()
    }

    /// The text columns of `batches` that came as text, not as dictionaries.
    fn plain_columns(batches: &[RecordBatch]) -> Vec<String> {
        dictionary_columns(batches)
            .into_iter()
            .filter(|(_, dict)| !dict)
            .map(|(name, _)| name)
            .collect()
    }

    /// The type each text column of `batches` came in: true for a dictionary.
    fn dictionary_columns(batches: &[RecordBatch]) -> Vec<(String, bool)> {
        let schema = batches[0].schema();
        assert!(
            batches.iter().all(|b| b.schema() == schema),
            "one schema per file"
        );
        schema
            .fields()
            .iter()
            .filter(|f| matches!(f.data_type(), DataType::Utf8 | DataType::Dictionary(..)))
            .map(|f| {
                (
                    f.name().clone(),
                    matches!(f.data_type(), DataType::Dictionary(..)),
                )
            })
            .collect()
    }

    #[test]
    fn text_stored_as_a_dictionary_everywhere_is_read_as_one_for_a_dedup() {
        let (table, file) = tracking_file(
            WriterProperties::builder()
                // A column written plain in one file, and one whose dictionary outgrows
                // its limit after the first page of each row group (plain pages after).
                .set_column_dictionary_enabled("last_event".into(), false)
                .set_column_dictionary_page_size_limit("tracking_no".into(), 64)
                .set_data_page_row_count_limit(16)
                .set_write_batch_size(16)
                .build(),
        );
        let target = table.schema.arrow_schema();
        let plain = read(&table, file.path(), false);
        assert!(plain.iter().all(|b| b.schema() == target));
        let read_as = read(&table, file.path(), true);
        assert_eq!(
            dictionary_columns(&read_as),
            [
                ("tracking_no".to_string(), false),
                ("carrier_code".to_string(), true),
                ("last_event".to_string(), false),
                ("last_location".to_string(), true),
            ]
        );
        // No batch spans two of the file's 200-row row groups (keys into two dictionaries).
        let mut ends = read_as.iter().scan(0, |end, b| {
            *end += b.num_rows();
            Some(*end)
        });
        let rows: usize = plain.iter().map(|b| b.num_rows()).sum();
        assert!(
            (200..rows)
                .step_by(200)
                .all(|edge| ends.any(|end| end == edge))
        );
        // The same rows, and decoding gives back the mart's rows exactly.
        let decoded: Vec<RecordBatch> = read_as
            .into_iter()
            .map(|b| crate::units::decode_dictionaries(b, &target).unwrap())
            .collect();
        let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&target, b).unwrap();
        assert_eq!(concat(&decoded), concat(&plain));
    }

    #[test]
    fn large_and_view_strings_are_read_as_the_marts_text() {
        let (table, expected) = tracking_file(WriterProperties::builder().build());
        let expected = read(&table, expected.path(), false);
        for text in [DataType::LargeUtf8, DataType::Utf8View] {
            let (_, file) = tracking_file_with_text(WriterProperties::builder().build(), text);
            let file = File::open(file.path()).unwrap();
            let (batches, read_as) = parquet_reader(
                file.try_clone().unwrap(),
                &table.schema.arrow_schema(),
                &table,
                64,
                false,
            )
            .unwrap();
            // Straight from the reader, before `conform`: no copy left for a cast to do.
            assert_eq!(read_as, table.schema.arrow_schema());
            let batches: Vec<RecordBatch> = batches.map(Result::unwrap).collect();
            assert!(
                batches
                    .iter()
                    .all(|b| b.schema().fields() == read_as.fields())
            );
            let (batches, _) =
                parquet_reader(file, &table.schema.arrow_schema(), &table, 64, true).unwrap();
            let batches: Vec<RecordBatch> = batches.map(Result::unwrap).collect();
            // Every text column is dictionary-encoded in the file, whatever its Arrow type.
            assert_eq!(plain_columns(&batches), Vec::<String>::new());
            let decoded: Vec<RecordBatch> = batches
                .into_iter()
                .map(|b| crate::units::decode_dictionaries(b, &read_as).unwrap())
                .collect();
            let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&read_as, b).unwrap();
            assert_eq!(concat(&decoded), concat(&expected));
        }
    }

    #[test]
    fn without_page_statistics_a_dictionary_page_qualifies_a_column() {
        let (_, file) = tracking_file(
            WriterProperties::builder()
                .set_column_dictionary_enabled("last_event".into(), false)
                .build(),
        );
        let metadata =
            ArrowReaderMetadata::load(&File::open(file.path()).unwrap(), Default::default())
                .unwrap();
        let with_stats = metadata.metadata();
        // As Polars writes it: the same file without page-encoding statistics.
        let mut builder = with_stats.as_ref().clone().into_builder();
        let groups = builder
            .take_row_groups()
            .into_iter()
            .map(|group| {
                let columns = group
                    .columns()
                    .iter()
                    .map(|c| {
                        c.clone()
                            .into_builder()
                            .clear_page_encoding_stats()
                            .build()
                            .unwrap()
                    })
                    .collect();
                group
                    .into_builder()
                    .set_column_metadata(columns)
                    .build()
                    .unwrap()
            })
            .collect();
        let without_stats = builder.set_row_groups(groups).build();
        assert!(
            without_stats
                .row_group(0)
                .column(3)
                .page_encoding_stats_mask()
                .is_none()
        );
        for metadata in [with_stats.as_ref(), &without_stats] {
            assert!(dictionary_encoded(metadata, "carrier_code"));
            assert!(dictionary_encoded(metadata, "last_location"));
            assert!(!dictionary_encoded(metadata, "last_event"), "written plain");
        }
    }

    #[test]
    fn a_file_of_small_row_groups_is_read_as_text_in_full_batches() {
        // 200-row groups read in 64-row batches qualify; in 2,048-row batches (more than 8
        // groups a batch) they do not.
        let (table, file) = tracking_file(WriterProperties::builder().build());
        let target = table.schema.arrow_schema();
        let mut batches = Vec::new();
        read_file(file.path(), &target, 2_048, &table, true, &mut |b| {
            batches.push(b);
            Ok(true)
        })
        .unwrap();
        assert!(batches.iter().all(|b| b.schema() == target));
        assert!(
            batches[0].num_rows() > 200,
            "{} rows",
            batches[0].num_rows()
        );
        assert_eq!(
            dictionary_columns(&read(&table, file.path(), true))
                .iter()
                .filter(|(_, dict)| *dict)
                .count(),
            4
        );
    }

    #[test]
    fn key_and_watermark_text_is_never_read_as_a_dictionary() {
        let (mut table, file) = tracking_file(WriterProperties::builder().build());
        let read_as = read(&table, file.path(), true);
        assert!(dictionary_columns(&read_as).iter().all(|(_, dict)| *dict));
        // The same file, for a mart keyed by a text column, and one whose watermark is text
        // (no shipped mart's is: the reader does not rely on that).
        table.key = vec!["tracking_no".into()];
        table.watermark = "carrier_code".into();
        let keyed = read(&table, file.path(), true);
        assert_eq!(
            dictionary_columns(&keyed)
                .into_iter()
                .filter(|(_, dict)| !dict)
                .collect::<Vec<_>>(),
            [
                ("tracking_no".to_string(), false),
                ("carrier_code".to_string(), false)
            ]
        );
    }

    #[test]
    fn a_quoted_empty_csv_field_is_an_empty_string_and_nothing_is_null() {
        let table = shipped_mart("mart_ecs_order_info");
        let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        // As pyarrow, Polars, DuckDB and PostgreSQL write: NULL as nothing, '' as "".
        // `order_no` is NOT NULL; `weight_g` (an int) reads "" as NULL, as before.
        std::fs::write(
            file.path(),
            "order_id,order_no,partner_id,customer_ref,dest_country,weight_g,declared_value,currency,add_time\r\n\
             1,\"\",2,,\"US\",\"\",,\"\",1700000000\r\n\
             2,\"a,\"\"\"\"\",2,\"\"\"\"\"\",\"DE\",5,\"1.50\",USD,1700000001\r\n",
        )
        .unwrap();
        let batches = read(&table, file.path(), false);
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let text = |name: &str| {
            let column = batch.column_by_name(name).unwrap();
            let column = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            column
                .iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(text("order_no"), [Some("".into()), Some("a,\"\"".into())]);
        assert_eq!(text("customer_ref"), [None, Some("\"\"".into())]);
        assert_eq!(text("currency"), [Some("".into()), Some("USD".into())]);
        assert_eq!(batch.column_by_name("weight_g").unwrap().null_count(), 1);
    }

    #[test]
    fn a_byte_order_mark_before_a_csv_header_or_a_json_line_is_skipped() {
        let table = shipped_mart("mart_ecs_order_info");
        let bom = "\u{feff}";
        for (suffix, text) in [
            (
                ".csv",
                format!(
                    "{bom}order_id,order_no,partner_id,customer_ref,dest_country,weight_g,declared_value,currency,add_time\n\
                     7,SO-7,2,,US,5,1.50,USD,1700000000\n"
                ),
            ),
            (
                ".jsonl",
                format!(
                    "{bom}{{\"order_id\":7,\"order_no\":\"SO-7\",\"partner_id\":2,\"dest_country\":\"US\",\"add_time\":1700000000}}\n"
                ),
            ),
        ] {
            let file = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
            std::fs::write(file.path(), text).unwrap();
            let batches = read(&table, file.path(), false);
            assert_eq!(batches.len(), 1, "{suffix}");
            let keys = batches[0]
                .column_by_name("order_id")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec();
            assert_eq!(keys, [7], "{suffix}");
        }
    }

    #[test]
    fn gzip_and_zstd_text_files_are_read_and_other_formats_left_out() {
        use std::io::Write;
        let table = shipped_mart("mart_ecs_order_info");
        let csv = "order_id,order_no,partner_id,customer_ref,dest_country,weight_g,declared_value,currency,add_time\n\
                   7,SO-7,2,,US,5,1.50,USD,1700000000\n8,SO-8,2,,US,5,1.50,USD,1700000000\n";
        let jsonl = "{\"order_id\":7,\"order_no\":\"SO-7\",\"partner_id\":2,\"dest_country\":\"US\",\"add_time\":1}\n\
                     {\"order_id\":8,\"order_no\":\"SO-8\",\"partner_id\":2,\"dest_country\":\"US\",\"add_time\":1}\n";
        let gzip = |text: &str| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text.as_bytes()).unwrap();
            encoder.finish().unwrap()
        };
        // Two gzip members, as `cat a.gz b.gz` writes: both are read.
        let (head, tail) = csv.split_at(csv.find("8,SO-8").unwrap());
        let two_members = [gzip(head), gzip(tail)].concat();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("ecs_order_info");
        std::fs::create_dir(&folder).unwrap();
        let files: [(&str, Vec<u8>); 8] = [
            ("a.csv.gz", two_members),
            ("b.CSV.ZST", zstd::encode_all(csv.as_bytes(), 3).unwrap()),
            ("c.jsonl.gz", gzip(jsonl)),
            (
                "d.ndjson.zst",
                zstd::encode_all(jsonl.as_bytes(), 3).unwrap(),
            ),
            ("_SUCCESS", Vec::new()),
            (".d.ndjson.zst.crc", Vec::new()),
            ("e.tsv", Vec::new()),
            ("f.parquet.gz", Vec::new()),
        ];
        for (name, bytes) in &files {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
        let listed = FilesSource::new(dir.path().to_path_buf(), 64)
            .list_files(&table)
            .unwrap();
        let names: Vec<_> = listed
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["a.csv.gz", "b.CSV.ZST", "c.jsonl.gz", "d.ndjson.zst"]
        );
        for path in &listed {
            let rows: usize = read(&table, path, false).iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, 2, "{}", path.display());
        }
        // A corrupt stream is an error naming the file.
        let corrupt = folder.join("g.csv.gz");
        std::fs::write(&corrupt, &gzip(csv)[..40]).unwrap();
        let error = read_error(&table, &corrupt);
        assert!(error.contains("g.csv.gz"), "{error}");
    }

    #[test]
    fn a_json_array_or_a_long_bad_value_gets_a_short_error() {
        let table = shipped_mart("mart_ecs_order_info");
        let record = "{\"order_id\":7,\"order_no\":\"SO-7\",\"partner_id\":2,\"dest_country\":\"US\",\"add_time\":1}";
        let array = format!("[{}]\n", vec![record; 2_000].join(",\n"));
        // A line whose value Arrow's reader quotes in its error: a 100 kB object for a number.
        let long_bad_value = format!(
            "{{\"order_id\":{{\"x\":\"{}\"}},\"order_no\":\"a\",\"partner_id\":1,\"dest_country\":\"US\",\"add_time\":1}}\n",
            "y".repeat(100_000)
        );
        for (text, expected) in [(array, "JSON array"), (long_bad_value, "…")] {
            let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
            std::fs::write(file.path(), text).unwrap();
            let error = read_error(&table, file.path());
            assert!(error.contains(expected), "{error}");
            assert!(error.len() < 1_000, "{} characters", error.len());
        }
    }

    #[test]
    fn unpadded_numbers_out_of_name_order_are_found() {
        let paths = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        // Name order (the contract) puts 10 before 9.
        assert_eq!(
            numbered_out_of_order(&paths(&["batch-1.csv", "batch-10.csv", "batch-9.csv"])),
            Some(("batch-10.csv".into(), "batch-9.csv".into()))
        );
        for fine in [
            &["batch-00009.csv", "batch-00010.csv"][..],
            &["2026-01-09T00.csv", "2026-01-10T00.csv"],
            &["a.csv", "b.parquet"],
            &["part-0-abc.parquet", "part-1-abc.parquet"],
            &["batch-09.csv", "batch-9.csv"],
        ] {
            assert_eq!(numbered_out_of_order(&paths(fine)), None, "{fine:?}");
        }
    }
}
