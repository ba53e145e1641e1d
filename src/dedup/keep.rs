//! The hash-based keep-one-row-per-key operator's state, independent of DataFusion.
//!
//! Rows are consumed in arrival order. For each key, a slot remembers where its current
//! winner lives (batch, row) and its version. A later row replaces the winner when its
//! version is greater or equal (`latest`: ties go to the later arrival) or never (`first`:
//! append tables keep the first arrival). Nothing is sorted; the input is not kept whole:
//! batches whose rows have all been replaced are dropped, and when replaced rows outnumber
//! live ones the live rows are gathered into fresh batches, so memory stays near twice the
//! output size.

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::{filter_record_batch, interleave_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use crate::source::column_as_i64;

/// Which row of a key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The greatest version; on a tie, the later arrival.
    Latest,
    /// The first arrival.
    First,
}

/// What to keep: the key columns, the version column (for [`Keep::Latest`]), by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupSpec {
    pub keep: Keep,
    pub key: Vec<usize>,
    pub version: Option<usize>,
}

/// Counts of one dedup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DedupStats {
    /// Rows read.
    pub rows_in: u64,
    /// Rows kept (one per key).
    pub rows_out: u64,
    /// Rows with a NULL key column (or NULL version, for `latest`): set aside, not kept.
    pub rows_rejected: u64,
}

/// Rows per gathered output or compacted batch.
const OUTPUT_BATCH_ROWS: usize = 65_536;
/// Replaced rows tolerated before a compaction, beyond the live row count.
const COMPACT_SLACK_ROWS: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Slot {
    chunk: u32,
    row: u32,
    version: i64,
}

/// Keys of up to four integer columns are hashed as integers; any other key as Arrow rows.
enum KeyIndex {
    Int1(HashMap<i64, u32>),
    IntN(usize, HashMap<[i64; 4], u32>),
    Rows(RowConverter, HashMap<Box<[u8]>, u32>),
}

/// The operator's state; see the module docs.
pub struct KeepState {
    spec: DedupSpec,
    index: KeyIndex,
    slots: Vec<Slot>,
    chunks: Vec<Option<RecordBatch>>,
    live: Vec<u32>,
    retained_rows: usize,
    /// Replaced rows tolerated before a compaction, beyond the live row count.
    compact_slack: usize,
    stats: DedupStats,
    rejected: Vec<RecordBatch>,
}

impl KeepState {
    pub fn new(schema: SchemaRef, spec: DedupSpec) -> Result<Self, ArrowError> {
        let key_types: Vec<_> = spec
            .key
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        let index = if key_types.len() == 1 && key_types[0].is_integer() {
            KeyIndex::Int1(HashMap::new())
        } else if key_types.len() <= 4 && key_types.iter().all(|t| t.is_integer()) {
            KeyIndex::IntN(key_types.len(), HashMap::new())
        } else {
            let fields = key_types.into_iter().map(SortField::new).collect();
            KeyIndex::Rows(RowConverter::new(fields)?, HashMap::new())
        };
        Ok(KeepState {
            spec,
            index,
            slots: Vec::new(),
            chunks: Vec::new(),
            live: Vec::new(),
            retained_rows: 0,
            compact_slack: COMPACT_SLACK_ROWS,
            stats: DedupStats::default(),
            rejected: Vec::new(),
        })
    }

    /// Bytes the state holds, for the memory pool: the input batches it still refers to, its
    /// slots and its key index (entries × their size; a row-format key's bytes are not
    /// counted).
    pub fn memory_size(&self) -> usize {
        use std::mem::size_of;
        let batches: usize = self
            .chunks
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        let index = match &self.index {
            KeyIndex::Int1(m) => m.capacity() * (size_of::<(i64, u32)>() + 1),
            KeyIndex::IntN(_, m) => m.capacity() * (size_of::<([i64; 4], u32)>() + 1),
            KeyIndex::Rows(_, m) => m.capacity() * (size_of::<(Box<[u8]>, u32)>() + 1),
        };
        batches
            + index
            + self.slots.capacity() * size_of::<Slot>()
            + self.live.capacity() * size_of::<u32>()
    }

    /// Rows with a NULL key (or version) column.
    fn invalid_rows(&self, batch: &RecordBatch) -> Option<BooleanArray> {
        let columns = self.spec.key.iter().chain(self.spec.version.iter());
        let mut any_null: Option<Vec<bool>> = None;
        for &c in columns {
            let array = batch.column(c);
            if array.null_count() > 0 {
                let flags = any_null.get_or_insert_with(|| vec![false; batch.num_rows()]);
                for (row, flag) in flags.iter_mut().enumerate() {
                    *flag |= array.is_null(row);
                }
            }
        }
        any_null.map(BooleanArray::from)
    }

    /// Consumes the next batch in arrival order.
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), ArrowError> {
        let rows = batch.num_rows();
        self.stats.rows_in += rows as u64;
        if rows == 0 {
            return Ok(());
        }
        let invalid = self.invalid_rows(&batch);
        if let Some(invalid) = &invalid {
            let rejected = filter_record_batch(&batch, invalid)?;
            self.stats.rows_rejected += rejected.num_rows() as u64;
            self.rejected.push(rejected);
        }
        let versions: Option<Int64Array> = match (self.spec.keep, self.spec.version) {
            (Keep::Latest, Some(v)) => Some(column_as_i64(batch.column(v))?),
            _ => None,
        };
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| ArrowError::ComputeError("too many batches".into()))?;
        self.live.push(0);
        let keys: Vec<ArrayRef> = self
            .spec
            .key
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let valid = |row: usize| invalid.as_ref().is_none_or(|inv| !inv.value(row));
        let version_of = |row: usize| versions.as_ref().map_or(0, |v| v.value(row));

        // First resolve each valid row to its key's slot (None: a key seen for the first time),
        // then apply the keep rule.
        let mut offers: Vec<(usize, Option<u32>)> = Vec::with_capacity(rows);
        let next_slot = self.slots.len() as u32;
        let mut new_slots = 0u32;
        match &mut self.index {
            KeyIndex::Int1(map) => {
                let k = column_as_i64(&keys[0])?;
                for row in (0..rows).filter(|&r| valid(r)) {
                    match map.entry(k.value(row)) {
                        Entry::Occupied(e) => offers.push((row, Some(*e.get()))),
                        Entry::Vacant(e) => {
                            e.insert(next_slot + new_slots);
                            new_slots += 1;
                            offers.push((row, None));
                        }
                    }
                }
            }
            KeyIndex::IntN(n, map) => {
                let cols = keys
                    .iter()
                    .map(column_as_i64)
                    .collect::<Result<Vec<_>, _>>()?;
                for row in (0..rows).filter(|&r| valid(r)) {
                    let mut key = [0i64; 4];
                    for (i, col) in cols.iter().enumerate().take(*n) {
                        key[i] = col.value(row);
                    }
                    match map.entry(key) {
                        Entry::Occupied(e) => offers.push((row, Some(*e.get()))),
                        Entry::Vacant(e) => {
                            e.insert(next_slot + new_slots);
                            new_slots += 1;
                            offers.push((row, None));
                        }
                    }
                }
            }
            KeyIndex::Rows(converter, map) => {
                let converted = converter.convert_columns(&keys)?;
                for row in (0..rows).filter(|&r| valid(r)) {
                    match map.entry(converted.row(row).as_ref().into()) {
                        Entry::Occupied(e) => offers.push((row, Some(*e.get()))),
                        Entry::Vacant(e) => {
                            e.insert(next_slot + new_slots);
                            new_slots += 1;
                            offers.push((row, None));
                        }
                    }
                }
            }
        }
        for (row, existing) in offers {
            let version = version_of(row);
            let candidate = Slot {
                chunk,
                row: row as u32,
                version,
            };
            match existing {
                None => {
                    self.slots.push(candidate);
                    self.live[chunk as usize] += 1;
                }
                Some(s) => {
                    let slot = &mut self.slots[s as usize];
                    if self.spec.keep == Keep::Latest && version >= slot.version {
                        let old = slot.chunk as usize;
                        *slot = candidate;
                        self.live[old] -= 1;
                        self.live[chunk as usize] += 1;
                        if old != chunk as usize && self.live[old] == 0 {
                            // Every row of that batch was replaced: free it now.
                            if let Some(b) = self.chunks[old].take() {
                                self.retained_rows -= b.num_rows();
                            }
                        }
                    }
                }
            }
        }
        if self.live[chunk as usize] > 0 {
            self.retained_rows += rows;
            self.chunks.push(Some(batch));
        } else {
            self.chunks.push(None);
        }
        if self.retained_rows > 2 * self.slots.len() + self.compact_slack {
            self.compact()?;
        }
        Ok(())
    }

    /// Gathers the live rows into fresh batches and frees everything else.
    fn compact(&mut self) -> Result<(), ArrowError> {
        let gathered = self.gather()?;
        self.chunks = gathered.iter().cloned().map(Some).collect();
        self.live = gathered.iter().map(|b| b.num_rows() as u32).collect();
        self.retained_rows = self.slots.len();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.chunk = (i / OUTPUT_BATCH_ROWS) as u32;
            slot.row = (i % OUTPUT_BATCH_ROWS) as u32;
        }
        Ok(())
    }

    /// The live rows, in order of each key's first arrival, in batches of OUTPUT_BATCH_ROWS.
    fn gather(&self) -> Result<Vec<RecordBatch>, ArrowError> {
        // interleave takes a dense list of batches: map chunk ids to positions in it.
        let mut position = vec![usize::MAX; self.chunks.len()];
        let mut present: Vec<&RecordBatch> = Vec::new();
        for (i, chunk) in self.chunks.iter().enumerate() {
            if let Some(b) = chunk {
                position[i] = present.len();
                present.push(b);
            }
        }
        self.slots
            .chunks(OUTPUT_BATCH_ROWS)
            .map(|slots| {
                let indices: Vec<(usize, usize)> = slots
                    .iter()
                    .map(|s| (position[s.chunk as usize], s.row as usize))
                    .collect();
                interleave_record_batch(&present, &indices)
            })
            .collect()
    }

    /// The kept rows, the rows set aside for NULL keys, and the counts.
    pub fn finish(
        mut self,
    ) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>, DedupStats), ArrowError> {
        let out = if self.slots.is_empty() {
            Vec::new()
        } else {
            self.gather()?
        };
        self.stats.rows_out = self.slots.len() as u64;
        Ok((out, self.rejected, self.stats))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::generate::{Params, generate, uti_batch};

    fn run(batches: &[RecordBatch], keep: Keep, slack: usize) -> (Vec<RecordBatch>, DedupStats) {
        let spec = DedupSpec {
            keep,
            key: vec![0],
            version: Some(10),
        };
        let mut state = KeepState::new(batches[0].schema(), spec).unwrap();
        state.compact_slack = slack;
        for b in batches {
            state.push(b.clone()).unwrap();
        }
        let (out, _, stats) = state.finish().unwrap();
        (out, stats)
    }

    #[test]
    fn compaction_changes_nothing_but_memory() {
        let history = generate(&Params {
            orders: 400,
            cycles: 30,
            late_rate: 0.1,
            tie_rate: 0.1,
            ..Params::demo()
        });
        let batches: Vec<RecordBatch> = history.uti.iter().map(|rows| uti_batch(rows)).collect();
        for keep in [Keep::Latest, Keep::First] {
            let (plain, plain_stats) = run(&batches, keep, usize::MAX / 4);
            let (compacted, stats) = run(&batches, keep, 0);
            assert_eq!(stats, plain_stats);
            let concat =
                |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
            assert_eq!(concat(&compacted), concat(&plain), "{keep:?}");
        }
    }

    #[test]
    fn null_keys_and_versions_are_set_aside_and_counted() {
        let mut rows: Vec<_> = generate(&Params::demo()).uti.concat();
        rows.truncate(50);
        let batch = uti_batch(&rows);
        // Null out order_id in rows 0 and 1 and update_time in row 2.
        let mut columns = batch.columns().to_vec();
        let ids = columns[0].as_any().downcast_ref::<Int64Array>().unwrap();
        columns[0] = Arc::new(Int64Array::from_iter(
            ids.iter()
                .enumerate()
                .map(|(i, v)| if i < 2 { None } else { v }),
        ));
        let times = arrow::compute::cast(&columns[10], &arrow::datatypes::DataType::Int64).unwrap();
        let times = times.as_any().downcast_ref::<Int64Array>().unwrap();
        let times: Int64Array = times
            .iter()
            .enumerate()
            .map(|(i, v)| if i == 2 { None } else { v })
            .collect();
        columns[10] = arrow::compute::cast(&times, &arrow::datatypes::DataType::Int32).unwrap();
        let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let spec = DedupSpec {
            keep: Keep::Latest,
            key: vec![0],
            version: Some(10),
        };
        let mut state = KeepState::new(batch.schema(), spec).unwrap();
        state.push(batch).unwrap();
        let (out, rejected, stats) = state.finish().unwrap();
        assert_eq!(stats.rows_rejected, 3);
        assert_eq!(rejected.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        assert_eq!(stats.rows_in, 50);
        assert_eq!(
            out.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
            stats.rows_out
        );
    }
}
