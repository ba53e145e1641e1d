//! A dedup that outgrew its memory, continued on disk: rows hash-partitioned by key into Arrow
//! IPC files (LZ4 frames) in a fresh folder, then deduped one partition at a time.
//!
//! Why the result is the same as in memory: every row of a key lands in the same partition,
//! in arrival order (a partition's file is appended to in the order rows arrive). At the
//! hand-over the in-memory state's winners are written first: they arrived before every row
//! that follows, and each row they beat can never win against a later row either (for
//! `latest`, a row only beats the winners it is at least as new as; for `first`, the first
//! arrival is the winner). So per key, deduping "winner so far, then the later rows" in
//! arrival order keeps the row the whole input would have kept.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::error::{DataFusionError, Result};

use crate::units::decode_dictionaries;

/// Partitions of a spilled dedup. One partition's winners are what is in memory at once in
/// the second pass: 1/64 of the output (a 90M-row, 18M-key batch of the tracking mart:
/// about 280k rows, 30 MiB).
pub const PARTITIONS: usize = 64;

fn io_error(action: &str, path: &Path, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{action} {}: {e}", path.display()))
}

/// A new spill folder in `base` (created if missing), removed with its files when dropped.
pub fn spill_folder(base: &Path, what: &str) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(base).map_err(|e| io_error("creating spill folder", base, e))?;
    tempfile::Builder::new()
        .prefix(&format!("martsync-{what}-"))
        .tempdir_in(base)
        .map_err(|e| io_error("creating a spill folder in", base, e))
}

/// One Arrow IPC stream file being written.
pub struct SpillWriter {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
}

impl SpillWriter {
    pub fn create(path: PathBuf, schema: &SchemaRef) -> Result<Self> {
        let file = File::create(&path).map_err(|e| io_error("creating spill file", &path, e))?;
        // LZ4 frames: a spill is written once and read once, so cheap compression that
        // roughly halves the bytes on disk beats a better ratio.
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .map_err(|e| io_error("configuring spill file", &path, e))?;
        let writer = StreamWriter::try_new_with_options(
            BufWriter::with_capacity(1 << 16, file),
            schema,
            options,
        )
        .map_err(|e| io_error("writing spill file", &path, e))?;
        Ok(SpillWriter { path, writer })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| io_error("writing spill file", &self.path, e))
    }

    /// Closes the file and returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.writer
            .finish()
            .map_err(|e| io_error("writing spill file", &self.path, e))?;
        Ok(self.path)
    }
}

/// The batches of a spill file, in the order they were written.
pub fn read_spill(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let file = File::open(path).map_err(|e| io_error("opening spill file", path, e))?;
    let reader = StreamReader::try_new(BufReader::with_capacity(1 << 16, file), None)
        .map_err(|e| io_error("reading spill file", path, e))?;
    let path = path.to_path_buf();
    Ok(reader.map(move |batch| batch.map_err(|e| io_error("reading spill file", &path, e))))
}

/// Rows being hash-partitioned by key into [`PARTITIONS`] spill files.
pub struct Partitioner {
    folder: tempfile::TempDir,
    schema: SchemaRef,
    key: Vec<usize>,
    hasher: RandomState,
    writers: Vec<Option<SpillWriter>>,
    hashes: Vec<u64>,
    rows: u64,
}

impl Partitioner {
    /// `level` 0 partitions a dedup's rows, level 1 one of its partitions again, and so on:
    /// each level hashes with its own seed, or a partition's rows would all land in one
    /// partition of the next.
    pub fn new(base: &Path, schema: SchemaRef, key: Vec<usize>, level: usize) -> Result<Self> {
        Ok(Partitioner {
            folder: spill_folder(base, "dedup")?,
            schema,
            key,
            hasher: RandomState::with_seed(0x6d61_7274_7379_6e63 ^ level as u64),
            writers: (0..PARTITIONS).map(|_| None).collect(),
            hashes: Vec::new(),
            rows: 0,
        })
    }

    /// Appends each row of `batch` to its key's partition, keeping their order.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        // The spill files hold the mart's types (one schema per file).
        let batch = &decode_dictionaries(batch.clone(), &self.schema)?;
        self.rows += rows as u64;
        self.hashes.clear();
        self.hashes.resize(rows, 0);
        let keys: Vec<_> = self.key.iter().map(|&i| batch.column(i)).collect();
        create_hashes(keys, &self.hasher, &mut self.hashes)?;
        // A counting sort of the row numbers by partition: each partition's rows stay in
        // arrival order.
        let mut counts = [0u32; PARTITIONS + 1];
        for h in &self.hashes {
            counts[(*h % PARTITIONS as u64) as usize + 1] += 1;
        }
        for p in 0..PARTITIONS {
            counts[p + 1] += counts[p];
        }
        let starts = counts;
        let mut next = counts;
        let mut order = vec![0u32; rows];
        for (row, h) in self.hashes.iter().enumerate() {
            let p = (*h % PARTITIONS as u64) as usize;
            order[next[p] as usize] = row as u32;
            next[p] += 1;
        }
        let order = UInt32Array::from(order);
        for p in 0..PARTITIONS {
            let (start, end) = (starts[p] as usize, starts[p + 1] as usize);
            if start == end {
                continue;
            }
            let part = take_record_batch(batch, &order.slice(start, end - start))?;
            let writer = match &mut self.writers[p] {
                Some(writer) => writer,
                empty => empty.insert(SpillWriter::create(
                    self.folder.path().join(format!("part-{p:02}.arrow")),
                    &self.schema,
                )?),
            };
            writer.write(&part)?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the files: the partitions, ready to be read back one at a time.
    pub fn finish(self) -> Result<Partitions> {
        let files = self
            .writers
            .into_iter()
            .flatten()
            .map(SpillWriter::finish)
            .collect::<Result<Vec<_>>>()?;
        let bytes = files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        Ok(Partitions {
            _folder: self.folder,
            files,
            bytes,
        })
    }
}

/// The closed partition files (their folder is removed when this is dropped).
pub struct Partitions {
    _folder: tempfile::TempDir,
    pub files: Vec<PathBuf>,
    /// Bytes on disk.
    pub bytes: u64,
}
