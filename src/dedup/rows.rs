//! [`DedupedRows`]: a dedup's output, in memory while its share of the memory pool allows and
//! in one spill file past it, read back as many times as the cycle needs (watermark bounds,
//! dependent refresh, staging).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};

use super::spill::{SpillWriter, read_spill, spill_folder};
use crate::error::{Error, Result};

/// The rows a dedup kept, one per key.
pub struct DedupedRows {
    mart: String,
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    /// The spill file and its folder (removed when dropped).
    file: Option<(tempfile::TempDir, PathBuf)>,
    rows: u64,
    /// The pool's account of `memory`, released when the rows are dropped: until then the
    /// next dedup sharing the pool sees them as used.
    reservation: Option<MemoryReservation>,
}

impl std::fmt::Debug for DedupedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupedRows")
            .field("mart", &self.mart)
            .field("rows", &self.rows)
            .field("spilled", &self.spilled())
            .finish()
    }
}

impl DedupedRows {
    /// Rows already in memory.
    pub fn in_memory(mart: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        DedupedRows {
            mart: mart.to_string(),
            rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
            schema,
            memory: batches,
            file: None,
            reservation: None,
        }
    }

    pub fn num_rows(&self) -> u64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Bytes of the spill file (0 in memory).
    pub fn spilled_bytes(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|(_, path)| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len())
    }

    /// Whether the rows went to disk.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The batches, in the order the dedup produced them.
    pub fn iter(&self) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + '_>> {
        match self.read_spilled()? {
            None => Ok(Box::new(self.memory.iter().cloned().map(Ok))),
            Some(batches) => Ok(Box::new(batches)),
        }
    }

    /// The batches, owning the rows (a spill file is removed once they are read).
    pub fn into_batches(self) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send> {
        let spilled = self.read_spilled()?;
        let DedupedRows {
            memory,
            file: folder,
            reservation,
            ..
        } = self;
        let spilled = spilled.into_iter().flatten().inspect(move |_| {
            let _kept_until_read = (&folder, &reservation);
        });
        Ok(memory.into_iter().map(Ok).chain(spilled))
    }

    /// The spill file's batches, if the rows went to disk.
    fn read_spilled(
        &self,
    ) -> Result<Option<impl Iterator<Item = Result<RecordBatch>> + Send + use<>>> {
        let Some((_, path)) = &self.file else {
            return Ok(None);
        };
        let mart = self.mart.clone();
        let failed = move |e: DataFusionError| Error::Dedup {
            mart: mart.clone(),
            message: e.to_string(),
        };
        let batches = read_spill(path).map_err(&failed)?;
        Ok(Some(batches.map(move |b| b.map_err(&failed))))
    }
}

/// Collects a dedup's output within the pool: past its share, into a spill file in
/// `spill_dir` (None: the collection fails with the pool's error).
pub(super) struct Collector {
    rows: DedupedRows,
    pool: Arc<dyn MemoryPool>,
    reservation: Option<MemoryReservation>,
    spill_dir: Option<PathBuf>,
    writer: Option<SpillWriter>,
}

impl Collector {
    pub fn new(
        mart: &str,
        schema: SchemaRef,
        pool: Arc<dyn MemoryPool>,
        spill_dir: Option<PathBuf>,
    ) -> Self {
        Collector {
            rows: DedupedRows::in_memory(mart, schema, Vec::new()),
            pool,
            reservation: None,
            spill_dir,
            writer: None,
        }
    }

    pub fn push(&mut self, batch: RecordBatch) -> DfResult<()> {
        self.rows.rows += batch.num_rows() as u64;
        if let Some(writer) = &mut self.writer {
            return writer.write(&batch);
        }
        // Registered at the first batch: a fair pool shares memory among the consumers
        // registered, and this one needs none until the operator's state is gone.
        let reservation = self.reservation.get_or_insert_with(|| {
            MemoryConsumer::new("dedup output")
                .with_can_spill(self.spill_dir.is_some())
                .register(&self.pool)
        });
        match reservation.try_grow(batch.get_array_memory_size()) {
            Ok(()) => {
                self.rows.memory.push(batch);
                Ok(())
            }
            Err(full) => {
                let Some(base) = &self.spill_dir else {
                    return Err(full);
                };
                let folder = spill_folder(base, "deduped")?;
                let path = folder.path().join("rows.arrow");
                let mut writer = SpillWriter::create(path.clone(), &self.rows.schema)?;
                for kept in std::mem::take(&mut self.rows.memory) {
                    writer.write(&kept)?;
                }
                writer.write(&batch)?;
                reservation.free();
                self.rows.file = Some((folder, path));
                self.writer = Some(writer);
                Ok(())
            }
        }
    }

    pub fn finish(mut self) -> DfResult<DedupedRows> {
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
        }
        self.rows.reservation = self.reservation.take();
        Ok(self.rows)
    }
}
