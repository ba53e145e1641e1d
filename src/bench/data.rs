//! The benchmarks' input: `uni_tracking_info` rows in the mart schema, generated
//! deterministically from a few parameters, and cached as Parquet files so every engine and
//! every repetition reads the same bytes.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::generate::{Rng, Uti, uti_batch};

/// Rows per generated batch (and per Parquet row group).
pub const BATCH_ROWS: usize = 65_536;

/// 2026-01-01, the first update time.
const START: i32 = 1_767_225_600;

/// How versions spread over keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Versions {
    /// Each row's key drawn uniformly: about rows/keys versions per key.
    Uniform,
    /// Keys drawn as `keys × u²`: a few hot orders with many versions, a long tail with one.
    Skewed,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DataSpec {
    pub rows: usize,
    /// Distinct orders the rows are drawn from (at most this many in the output).
    pub keys: usize,
    pub versions: Versions,
    /// Characters of `last_event`, the widest text column.
    pub string_width: usize,
    /// Share of rows whose version equals another row's of the same key (a per-key fixed
    /// `update_time`), so ties must be broken by arrival.
    pub tie_rate: f64,
    pub seed: u64,
}

impl DataSpec {
    /// `rows` over `keys` with the defaults: uniform, 24-character events, 1 % ties.
    pub fn new(rows: usize, keys: usize) -> Self {
        DataSpec {
            rows,
            keys: keys.max(1),
            versions: Versions::Uniform,
            string_width: 24,
            tie_rate: 0.01,
            seed: 20_261_127,
        }
    }

    /// A file name that differs whenever a parameter does.
    pub fn file_name(&self) -> String {
        format!(
            "uti-{}r-{}k-{:?}-w{}-t{}-s{}.parquet",
            self.rows, self.keys, self.versions, self.string_width, self.tie_rate, self.seed
        )
        .to_ascii_lowercase()
    }

    /// The rows, in batches of [`BATCH_ROWS`], in arrival order.
    pub fn batches(&self) -> Vec<RecordBatch> {
        let mut batches = Vec::with_capacity(self.rows.div_ceil(BATCH_ROWS));
        self.each_batch(|batch| {
            batches.push(batch);
            Ok(())
        })
        .expect("collecting does not fail");
        batches
    }

    /// Hands the rows to `f` one batch of [`BATCH_ROWS`] at a time, in arrival order, so a
    /// file larger than memory can be written.
    pub fn each_batch(&self, mut f: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let mut rng = Rng::new(self.seed);
        let event = |status: i16| {
            let mut text = format!("status {status} event ");
            while text.len() < self.string_width {
                text.push('x');
            }
            text.truncate(self.string_width);
            text
        };
        let mut done = 0;
        while done < self.rows {
            let n = BATCH_ROWS.min(self.rows - done);
            let rows: Vec<Uti> = (0..n)
                .map(|_| {
                    let pick = match self.versions {
                        Versions::Uniform => rng.range(0, self.keys as i64),
                        Versions::Skewed => {
                            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                            ((self.keys as f64) * u * u) as i64
                        }
                    };
                    let order_id = 1_000_000 + pick;
                    let update_time = if rng.chance(self.tie_rate) {
                        START + (order_id % 86_400) as i32
                    } else {
                        START + rng.range(0, 180 * 86_400) as i32
                    };
                    let status = rng.range(1, 7) as i16;
                    Uti {
                        order_id,
                        tracking_no: format!("TN{order_id:010}"),
                        partner_id: (order_id % 40) as i32,
                        carrier_code: Some(
                            ["dhl", "ups", "fedex", "gls"][(order_id % 4) as usize].into(),
                        ),
                        status,
                        last_code: Some(status * 100),
                        last_event: Some(event(status)),
                        last_location: Some(format!("hub {}", rng.range(0, 500))),
                        delivered_at: None,
                        add_time: START,
                        update_time,
                    }
                })
                .collect();
            f(uti_batch(&rows))?;
            done += n;
        }
        Ok(())
    }

    /// Writes the rows as one zstd Parquet file, one row group per batch, generating them
    /// as it goes (memory: one batch). Returns the file's bytes.
    pub fn write_parquet(&self, path: &Path) -> Result<u64> {
        let mut writer = ParquetFile::create(path, crate::generate::uti_batch(&[]).schema())?;
        self.each_batch(|batch| writer.write(&batch))?;
        writer.close()
    }

    /// The rows as a Parquet file in `dir`, written once and reused (same name, same rows).
    pub fn parquet(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(self.file_name());
        if path.exists() {
            return Ok(path);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("creating bench data folder", dir, e))?;
        let partial = path.with_extension("partial");
        self.write_parquet(&partial)?;
        std::fs::rename(&partial, &path).map_err(|e| Error::io("renaming bench data", &path, e))?;
        Ok(path)
    }
}

/// Writes batches as one zstd Parquet file, one row group per batch.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<u64> {
    let schema = batches
        .first()
        .map_or_else(|| crate::generate::uti_batch(&[]).schema(), |b| b.schema());
    let mut writer = ParquetFile::create(path, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()
}

/// A zstd Parquet file being written, one row group per batch.
struct ParquetFile<'a> {
    path: &'a Path,
    writer: ArrowWriter<File>,
}

impl<'a> ParquetFile<'a> {
    fn create(path: &'a Path, schema: arrow::datatypes::SchemaRef) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io("creating Parquet file", path, e))?;
        let writer = ArrowWriter::try_new(
            file,
            schema,
            Some(crate::stage::writer_properties(Default::default())),
        )
        .map_err(|e| Self::failed(path, e))?;
        Ok(ParquetFile { path, writer })
    }

    fn failed(path: &Path, e: parquet::errors::ParquetError) -> Error {
        Error::io("writing Parquet file", path, std::io::Error::other(e))
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .and_then(|()| self.writer.flush())
            .map_err(|e| Self::failed(self.path, e))
    }

    fn close(self) -> Result<u64> {
        let path = self.path;
        self.writer.close().map_err(|e| Self::failed(path, e))?;
        Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
    }
}
