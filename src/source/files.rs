//! `files://DIR`: one folder per source table (`DIR/uni_tracking_info/*.parquet|*.csv|*.jsonl`),
//! files taken in name order. Files are read on a blocking thread and handed over a channel
//! of two batches, so memory stays bounded whatever the file size.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::mpsc;

use super::{BatchStream, Extract, Source, conform, filter_between, filter_keys};
use crate::config::TableConfig;
use crate::error::{Error, Result};

/// Batches in flight between the reading thread and the consumer.
const CHANNEL_BATCHES: usize = 2;

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

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "parquet" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
        _ => None,
    }
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
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && format_of(p).is_some())
            .collect();
        files.sort();
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
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_BATCHES);
        let table = table.clone();
        let batch_rows = self.batch_rows;
        tokio::task::spawn_blocking(move || {
            let target = table.schema.arrow_schema();
            let watermark = table
                .schema
                .index_of(&table.watermark)
                .expect("validated watermark column");
            let key = table.schema.index_of(&table.key[0]).expect("validated key");
            for path in files {
                let send = |item: Result<RecordBatch>| tx.blocking_send(item).is_ok();
                let result = read_file(&path, &target, batch_rows, &table, &mut |batch| {
                    let batch = if extract.above.is_some() || extract.below.is_some() {
                        filter_between(&batch, watermark, extract.above, extract.below).map_err(
                            |e| Error::Source {
                                table: table.schema.name.clone(),
                                location: path.display().to_string(),
                                message: format!("watermark filter: {e}"),
                            },
                        )?
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
                });
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
/// on a blocking thread, a few batches in flight; `what` names it in errors.
pub fn stream_parquet(
    file: File,
    what: String,
    table: &TableConfig,
    batch_rows: usize,
) -> BatchStream {
    let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_BATCHES);
    let table = table.clone();
    tokio::task::spawn_blocking(move || {
        let target = table.schema.arrow_schema();
        let error = |message: String| Error::Source {
            table: table.schema.name.clone(),
            location: what.clone(),
            message,
        };
        let reader = match ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch_rows).build())
        {
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
    emit: &mut dyn FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    let source_err = |row: u64, message: String| Error::Source {
        table: table.schema.name.clone(),
        location: format!("{} (rows from {row})", path.display()),
        message,
    };
    let file = File::open(path).map_err(|e| Error::io("opening source file", path, e))?;
    let format = format_of(path).expect("listed files have a known format");
    let batches: Box<
        dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>>,
    > = match format {
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(batch_rows).build())
                .map_err(|e| source_err(0, format!("not a readable Parquet file: {e}")))?;
            Box::new(reader)
        }
        Format::Csv => {
            let schema = csv_schema(path, target)?;
            let reader = arrow::csv::ReaderBuilder::new(schema)
                .with_header(true)
                .with_batch_size(batch_rows)
                .build(file)
                .map_err(|e| source_err(0, e.to_string()))?;
            Box::new(reader)
        }
        Format::JsonLines => {
            let schema = json_schema(path, target)?;
            let reader = arrow::json::ReaderBuilder::new(schema)
                // A JSON number into a text field (decimals, see text_for_decimals).
                .with_coerce_primitive(true)
                .with_batch_size(batch_rows)
                .build(BufReader::new(file))
                .map_err(|e| source_err(0, e.to_string()))?;
            Box::new(reader)
        }
    };
    let mut row = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| match format {
            // Arrow numbers a CSV file's lines from the first row after the header.
            Format::Csv => source_err(row, format!("{e} (lines counted after the header)")),
            _ => source_err(row, e.to_string()),
        })?;
        let rows = batch.num_rows() as u64;
        let conformed = conform(
            &batch,
            target,
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

/// The schema to read a CSV file with: its header's columns in its order, typed as the mart's
/// columns of the same name (any case); unknown columns are read as text and then dropped.
fn csv_schema(path: &Path, target: &SchemaRef) -> Result<SchemaRef> {
    let mut header = String::new();
    BufReader::new(File::open(path).map_err(|e| Error::io("opening source file", path, e))?)
        .read_line(&mut header)
        .map_err(|e| Error::io("reading CSV header of", path, e))?;
    let fields: Vec<Field> = header
        .trim_end_matches(['\r', '\n'])
        .split(',')
        .map(|name| {
            let name = name.trim().trim_matches('"');
            match target
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
            {
                Some(f) => Field::new(name, text_for_decimals(f.data_type()), true),
                None => Field::new(name, DataType::Utf8, true),
            }
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// The schema to read a JSON-lines file with: the mart's columns, spelled as the first
/// record spells them (so `traceSeq` in the file finds the mart's `traceseq`).
fn json_schema(path: &Path, target: &SchemaRef) -> Result<SchemaRef> {
    let mut first = String::new();
    let mut reader =
        BufReader::new(File::open(path).map_err(|e| Error::io("opening source file", path, e))?);
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

/// CSV and JSON decimals are read as text and checked before the cast to the mart's decimal
/// (see `conform`); other types as the mart's.
fn text_for_decimals(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Decimal128(..) => DataType::Utf8,
        other => other.clone(),
    }
}
