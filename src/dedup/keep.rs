//! The hash-based keep-one-row-per-key operator's state, independent of DataFusion.
//!
//! Rows are consumed in arrival order. For each key, a slot remembers where its current
//! winner lives (batch, row) and its version. A later row replaces the winner when its
//! version is greater or equal (`latest`: ties go to the later arrival) or never (`first`:
//! append tables keep the first arrival). Nothing is sorted, and the input is not kept whole:
//! each retained batch knows which of its rows are still winners; a batch none of whose rows
//! win is dropped, and one whose winners fall below two thirds of its rows is filtered down
//! to them in place (once the retained batches exceed 64 MiB: below that, compacting would
//! only cost time). So the state holds at most 1.5 times the output's rows, or 64 MiB, and
//! compaction copies each input row at most twice in all (a batch shrinks by a third or more
//! each time), reading each batch sequentially rather than gathering across batches.
//!
//! A slot names its row by the row's place in the batch as it arrived, for good: compaction
//! does not renumber rows, it only records which arrived rows the filtered batch still holds
//! ([`Chunk::held`]). So no slot moves when its batch is compacted, and the index is not
//! touched: finding each kept row's slot again by its key (a hash probe per kept row) made
//! compaction's own work 19 % of the dedup thread's samples on the bench's 10M-row file,
//! 3 % without it (README).

use std::sync::Arc;

use arrow::array::BooleanBufferBuilder;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use crate::units::{column_as_i64, columns_at, decode_dictionaries};

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

/// Below this many bytes of retained batches, sparse ones are left as they are: a small
/// batch's memory does not matter, and compacting it would only cost time (a 1M-row input
/// deduped 36% slower with compaction from the first byte).
const COMPACT_ABOVE_BYTES: usize = 64 << 20;

/// From this many kept rows on, [`KeepState::finish`] takes them on two threads: below, a
/// second thread costs about what it saves.
const SPLIT_FINISH_ROWS: u64 = 1 << 16;

/// The chunk of a free bucket's slot ([`Bucket::FREE`]).
const NO_CHUNK: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    chunk: u32,
    row: u32,
    version: i64,
}

/// A retained input batch (or what compaction left of it).
struct Chunk {
    batch: RecordBatch,
    /// For each row the batch arrived with, whether it is its key's winner: a bit cleared
    /// when the row loses. A bitmap, not the winner's slot number, so that it stays in the
    /// CPU's caches (all of a 10M-row input's take 1.2 MiB): a row map of slot numbers cost
    /// the dedup thread a cache miss per replaced winner and one per key each time the index
    /// grew (together 0.25 s of a 10M-row dedup).
    live_rows: BooleanBufferBuilder,
    /// Which of the arrived rows `batch` still holds, in order, once compacted (None: all).
    /// Every winner is held; a held row may have lost since.
    held: Option<BooleanBuffer>,
    /// Rows that are some slot's winner.
    live: usize,
    /// The batch's and the bitmaps' bytes, kept for the state's running total.
    bytes: usize,
    /// Whether the chunk is waiting in [`Retained::sparse`] to be compacted.
    queued: bool,
}

impl Chunk {
    fn new(
        batch: RecordBatch,
        live_rows: BooleanBufferBuilder,
        held: Option<BooleanBuffer>,
        live: usize,
    ) -> Self {
        let bytes = batch.get_array_memory_size()
            + live_rows.capacity() / 8
            + held.as_ref().map_or(0, |h| h.inner().capacity());
        Chunk {
            batch,
            live_rows,
            held,
            live,
            bytes,
            queued: false,
        }
    }

    /// Whether so few rows still win that the chunk should be filtered down to them.
    fn sparse(&self) -> bool {
        3 * self.live < 2 * self.batch.num_rows()
    }

    /// Which rows of `batch` still win.
    fn live_mask(&self) -> BooleanBuffer {
        let live = self.live_rows.finish_cloned();
        match &self.held {
            None => live,
            Some(held) => select_bits(&live, held),
        }
    }

    /// Arrived row `row` lost its key to a later row.
    fn lose(&mut self, row: u32) {
        self.live_rows.set_bit(row as usize, false);
        self.live -= 1;
    }

    /// The rows that still win.
    fn winners(&self) -> Result<RecordBatch, ArrowError> {
        if self.live == self.batch.num_rows() {
            return Ok(self.batch.clone());
        }
        let mask = BooleanArray::new(self.live_mask(), None);
        filter_record_batch(&self.batch, &mask)
    }

    /// Filters the chunk down to its winners. Their slots still name them by their arrived
    /// rows: `held` records which those are.
    fn compact(self) -> Result<Chunk, ArrowError> {
        let batch = filter_record_batch(&self.batch, &BooleanArray::new(self.live_mask(), None))?;
        let batch = decode_outgrown_dictionaries(batch)?;
        let held = self.live_rows.finish_cloned();
        Ok(Chunk::new(batch, self.live_rows, Some(held), self.live))
    }
}

/// The bits of `bits` at the places `places` sets, in order (`held` places the arrived rows
/// a compacted batch still holds, and the result is the batch's mask): Arrow's filter of a
/// boolean array.
fn select_bits(bits: &BooleanBuffer, places: &BooleanBuffer) -> BooleanBuffer {
    let bits = BooleanArray::new(bits.clone(), None);
    let selected = arrow::compute::filter(&bits, &BooleanArray::new(places.clone(), None))
        .expect("a mask as long as the bits");
    selected.as_boolean().values().clone()
}

/// The winners of `chunks`, in order, text in `schema`'s types.
fn take_winners(chunks: Vec<Chunk>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, ArrowError> {
    (chunks.into_iter())
        .map(|chunk| decode_dictionaries(chunk.winners()?, schema))
        .collect()
}

/// Where to split `chunks` (at least one on each side) so that each part holds about half of
/// the winners: a compacted chunk holds fewer than one that was not.
fn half_of_the_rows(chunks: &[Chunk]) -> usize {
    let half = chunks.iter().map(|c| c.live).sum::<usize>() / 2;
    let mut seen = 0;
    (chunks.iter())
        .take_while(|c| {
            seen += c.live;
            seen <= half
        })
        .count()
        .clamp(1, chunks.len() - 1)
}

/// `batch` with every dictionary column that holds more values than the batch has rows
/// decoded to its values' type. Filtering a dictionary column keeps its whole dictionary:
/// for text of mostly distinct values (the tracking mart's `tracking_no`, one per order) a
/// compacted chunk would hold its input batch's every value for the few rows it kept. Low
/// cardinality text stays encoded (four bytes a row). On the bench's 10M-row file this
/// lowered the dedup's peak from 535–553 to 427–477 MiB (README).
fn decode_outgrown_dictionaries(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| match column.as_any_dictionary_opt() {
            Some(d) if d.values().len() > column.len() => field
                .as_ref()
                .clone()
                .with_data_type(d.values().data_type().clone()),
            _ => field.as_ref().clone(),
        })
        .collect();
    let decoded = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    decode_dictionaries(batch, &decoded)
}

/// Keys of up to four integer columns are hashed as integers; any other key as Arrow rows.
enum KeyIndex {
    Int1(IntIndex),
    IntN(HashMap<[i64; 4], u32>),
    Rows(RowConverter, HashMap<Box<[u8]>, u32>),
}

/// The index of a single integer key (the tracking mart's `order_id`): an open-addressing
/// table of buckets that each hold a key and its [`Slot`] (the winner's place and version),
/// linear probing, at most [`MAX_LOAD`] full. With millions of keys nearly every probe misses
/// the CPU caches, and a general hash map waits for each miss in turn; here a batch's home
/// buckets are computed first and each is fetched [`PREFETCH_AHEAD`] rows before it is
/// probed, so the misses overlap.
///
/// The slot lives in the bucket, so a row costs one miss, where a bucket that pointed into a
/// vector of slots cost two (the bucket, then the slot: 17 % of the dedup thread's samples
/// waited on the second). Nothing refers to a bucket by its position, so growth moves them
/// freely.
///
/// A bucket is 24 bytes and the table may fill to three quarters: fresh memory is what a
/// dedup pays most for on a virtual machine (the kernel zeroes every page first touched), so
/// 2M keys take 4M buckets (96 MiB), about what 12-byte buckets and a separate vector of
/// 16-byte slots took (48 MiB and 32–64 MiB). While it grows the table holds its old half as
/// well, which likely raised the dedup's peak by 20–40 MiB (README). At 3/4 load a probe
/// reads about 2.5 buckets on a hit and 8.5 on a miss, adjacent ones: a cache line or three.
struct IntIndex {
    buckets: Vec<Bucket>,
    /// 64 − log2(buckets): a key's home bucket is the top bits of its multiplicative hash.
    shift: u32,
    len: usize,
}

/// A key and its slot, or a free bucket (the slot's chunk [`NO_CHUNK`]).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    key: i64,
    slot: Slot,
}

impl Bucket {
    const FREE: Bucket = Bucket {
        key: 0,
        slot: Slot {
            chunk: NO_CHUNK,
            row: 0,
            version: 0,
        },
    };

    fn is_free(&self) -> bool {
        self.slot.chunk == NO_CHUNK
    }
}

/// The most of its buckets the [`IntIndex`] fills before it doubles, as a fraction.
const MAX_LOAD: (usize, usize) = (3, 4);

/// Starts fetching `items[at]` into the cache (a hint: nothing on other architectures).
fn prefetch<T>(items: &[T], at: usize) {
    debug_assert!(at < items.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault; `at` is in bounds.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(items.as_ptr().add(at).cast());
    }
}

/// How many rows ahead a probe's bucket is fetched: enough misses in flight to cover a
/// memory access, few enough that a fetched bucket is still cached when it is probed.
const PREFETCH_AHEAD: usize = 16;

impl IntIndex {
    fn with_buckets(buckets: usize) -> Self {
        debug_assert!(buckets.is_power_of_two());
        IntIndex {
            buckets: vec![Bucket::FREE; buckets],
            shift: 64 - buckets.trailing_zeros(),
            len: 0,
        }
    }

    /// Fibonacci hashing: the product's top bits depend on every bit of the key, so
    /// sequential or strided ids spread over the table.
    fn home(&self, key: i64) -> usize {
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Room for `more` new keys without growing (so homes computed now stay valid).
    fn reserve(&mut self, more: usize) {
        let (num, den) = MAX_LOAD;
        while (self.len + more) * den > self.buckets.len() * num {
            let old = std::mem::take(&mut self.buckets);
            let mut grown = IntIndex::with_buckets((old.len() * 2).max(1024));
            for bucket in old.into_iter().filter(|b| !b.is_free()) {
                grown.find_or_insert(bucket.key, grown.home(bucket.key), bucket.slot);
            }
            *self = grown;
        }
    }

    /// Starts fetching bucket `home` into the cache.
    fn prefetch(&self, home: usize) {
        prefetch(&self.buckets, home);
    }

    /// Where `key` is (home bucket `home`): `Ok` its bucket's position, `Err` the free bucket
    /// where the probe ended, where it would go.
    fn probe(&self, key: i64, home: usize) -> Result<usize, usize> {
        let mask = self.buckets.len() - 1;
        let mut at = home;
        loop {
            let bucket = &self.buckets[at];
            if bucket.is_free() {
                return Err(at);
            }
            if bucket.key == key {
                return Ok(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// The bucket of `key` (home bucket `home`), holding its current winner; None after
    /// inserting the key with `slot`.
    fn find_or_insert(&mut self, key: i64, home: usize, slot: Slot) -> Option<&mut Bucket> {
        match self.probe(key, home) {
            Ok(at) => Some(&mut self.buckets[at]),
            Err(free) => {
                self.buckets[free] = Bucket { key, slot };
                self.len += 1;
                None
            }
        }
    }

    fn bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

/// A key of up to four integer columns read as i64s ([`KeyIndex::IntN`]).
fn int_columns(keys: &[ArrayRef]) -> Result<Vec<Int64Array>, ArrowError> {
    keys.iter().map(column_as_i64).collect()
}

/// Row `row`'s key of [`int_columns`], the unused places zero.
fn int_key(cols: &[Int64Array], row: usize) -> [i64; 4] {
    let mut key = [0i64; 4];
    for (k, col) in key.iter_mut().zip(cols) {
        *k = col.value(row);
    }
    key
}

/// Rows with a NULL key (or, for `latest`, version) column: they cannot be ranked and are
/// set aside. None when there are none.
pub fn invalid_rows(spec: &DedupSpec, batch: &RecordBatch) -> Option<BooleanArray> {
    let columns = spec.key.iter().chain(spec.version.iter());
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

/// The retained input batches (or what compaction left of them).
#[derive(Default)]
struct Retained {
    /// By arrival; None once none of a batch's rows win.
    chunks: Vec<Option<Chunk>>,
    /// The sum of the retained chunks' `bytes`.
    bytes: usize,
    /// Chunks that became sparse and wait to be compacted.
    sparse: Vec<u32>,
}

impl Retained {
    /// The winner `old`, of an earlier batch, lost: its row is cleared from its batch's
    /// bitmap, and the batch freed when none of its rows win any more, or queued for
    /// compaction when few do.
    fn lose(&mut self, old: Slot) {
        let c = old.chunk as usize;
        let loser = self.chunks[c]
            .as_mut()
            .expect("a winner's chunk is retained");
        loser.lose(old.row);
        if loser.live == 0 {
            let freed = self.chunks[c].take().expect("just seen");
            self.bytes -= freed.bytes;
        } else if !loser.queued && loser.sparse() {
            loser.queued = true;
            self.sparse.push(old.chunk);
        }
    }
}

/// The operator's state; see the module docs.
pub struct KeepState {
    /// The mart's schema: rows set aside are kept in its types.
    schema: SchemaRef,
    spec: DedupSpec,
    index: KeyIndex,
    /// The keys' winners, for the general indexes (a single integer key's are in its
    /// index's buckets).
    slots: Vec<Slot>,
    retained: Retained,
    /// Each valid row of the batch being pushed with its key's slot (None: a new key);
    /// reused from batch to batch.
    offers: Vec<(usize, Option<u32>)>,
    /// The home bucket of each row's key ([`IntIndex`]); reused from batch to batch.
    homes: Vec<usize>,
    /// Sparse chunks are compacted only while the chunks hold more than this many bytes.
    compact_above: usize,
    /// [`KeepState::finish`] takes the winners on two threads from this many on.
    split_finish_from: u64,
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
            KeyIndex::Int1(IntIndex::with_buckets(1024))
        } else if key_types.len() <= 4 && key_types.iter().all(|t| t.is_integer()) {
            KeyIndex::IntN(HashMap::new())
        } else {
            let fields = key_types.into_iter().map(SortField::new).collect();
            KeyIndex::Rows(RowConverter::new(fields)?, HashMap::new())
        };
        Ok(KeepState {
            schema,
            spec,
            index,
            slots: Vec::new(),
            retained: Retained::default(),
            offers: Vec::new(),
            homes: Vec::new(),
            compact_above: COMPACT_ABOVE_BYTES,
            split_finish_from: SPLIT_FINISH_ROWS,
            stats: DedupStats::default(),
            rejected: Vec::new(),
        })
    }

    /// Bytes the state holds, for the memory pool: the input batches it still refers to, their
    /// bitmaps, its slots and its key index (entries × their size; a row-format key's bytes
    /// are not counted).
    pub fn memory_size(&self) -> usize {
        use std::mem::size_of;
        let index = match &self.index {
            KeyIndex::Int1(index) => index.bytes(),
            KeyIndex::IntN(m) => m.capacity() * (size_of::<([i64; 4], u32)>() + 1),
            KeyIndex::Rows(_, m) => m.capacity() * (size_of::<(Box<[u8]>, u32)>() + 1),
        };
        self.retained.bytes
            + index
            + self.slots.capacity() * size_of::<Slot>()
            + self.retained.chunks.capacity() * size_of::<Option<Chunk>>()
    }

    /// Consumes the next batch in arrival order.
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), ArrowError> {
        let rows = batch.num_rows();
        self.stats.rows_in += rows as u64;
        if rows == 0 {
            return Ok(());
        }
        let invalid = invalid_rows(&self.spec, &batch);
        if let Some(invalid) = &invalid {
            let rejected = filter_record_batch(&batch, invalid)?;
            self.stats.rows_rejected += rejected.num_rows() as u64;
            // Text that arrived dictionary-encoded is decoded here, where rows are set
            // aside, so every consumer of the rejected rows sees the mart's types.
            self.rejected
                .push(decode_dictionaries(rejected, &self.schema)?);
        }
        let versions: Option<Int64Array> = match (self.spec.keep, self.spec.version) {
            (Keep::Latest, Some(v)) => Some(column_as_i64(batch.column(v))?),
            _ => None,
        };
        let chunk = u32::try_from(self.retained.chunks.len())
            .map_err(|_| ArrowError::ComputeError("too many batches".into()))?;
        let keys = columns_at(&batch, &self.spec.key);
        let valid = |row: usize| invalid.as_ref().is_none_or(|inv| !inv.value(row));
        let candidate = |row: usize| Slot {
            chunk,
            row: row as u32,
            version: versions.as_ref().map_or(0, |v| v.value(row)),
        };
        // Which of this batch's rows win, as they are ranked.
        let mut current = BooleanBufferBuilder::new(rows);
        current.append_n(rows, false);
        let mut live = 0usize;
        let retained = &mut self.retained;
        let latest = self.spec.keep == Keep::Latest;
        // Offers a row to its key's current winner: whether it replaced it. The winner it
        // replaced is cleared from this batch's bitmap, or from its own batch's.
        let mut replace = |winner: &mut Slot,
                           candidate: Slot,
                           current: &mut BooleanBufferBuilder,
                           live: &mut usize| {
            if !latest || candidate.version < winner.version {
                return false;
            }
            let old = std::mem::replace(winner, candidate);
            if old.chunk == chunk {
                current.set_bit(old.row as usize, false);
                *live -= 1;
            } else {
                retained.lose(old);
            }
            true
        };
        if let KeyIndex::Int1(index) = &mut self.index {
            // One pass: each row's bucket holds its key's winner.
            let k = column_as_i64(&keys[0])?;
            index.reserve(rows);
            let homes = &mut self.homes;
            homes.clear();
            homes.extend(k.values().iter().map(|&key| index.home(key)));
            for row in (0..rows).filter(|&r| valid(r)) {
                if let Some(&ahead) = homes.get(row + PREFETCH_AHEAD) {
                    index.prefetch(ahead);
                }
                let candidate = candidate(row);
                // A known key's row that does not replace its winner is not kept.
                if let Some(bucket) = index.find_or_insert(k.value(row), homes[row], candidate)
                    && !replace(&mut bucket.slot, candidate, &mut current, &mut live)
                {
                    continue;
                }
                current.set_bit(row, true);
                live += 1;
            }
        } else {
            // First resolve each valid row to its key's slot (None: a key seen for the first
            // time), then apply the keep rule.
            let mut offers = std::mem::take(&mut self.offers);
            offers.clear();
            let next_slot = self.slots.len() as u32;
            let mut new_slots = 0u32;
            match &mut self.index {
                KeyIndex::Int1(_) => unreachable!("handled above"),
                KeyIndex::IntN(map) => {
                    let cols = int_columns(&keys)?;
                    for row in (0..rows).filter(|&r| valid(r)) {
                        match map.entry(int_key(&cols, row)) {
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
            for (i, &(row, existing)) in offers.iter().enumerate() {
                // The slots are as scattered as the keys: fetch ahead here too.
                if let Some(&(_, Some(ahead))) = offers.get(i + PREFETCH_AHEAD) {
                    prefetch(&self.slots, ahead as usize);
                }
                let candidate = candidate(row);
                match existing {
                    None => self.slots.push(candidate),
                    Some(s) => {
                        let winner = &mut self.slots[s as usize];
                        if !replace(winner, candidate, &mut current, &mut live) {
                            continue;
                        }
                    }
                }
                current.set_bit(row, true);
                live += 1;
            }
            self.offers = offers;
        }
        let kept = (live > 0).then(|| {
            let mut kept = Chunk::new(batch, current, None, live);
            if kept.sparse() {
                kept.queued = true;
                self.retained.sparse.push(chunk);
            }
            self.retained.bytes += kept.bytes;
            kept
        });
        self.retained.chunks.push(kept);
        if self.retained.bytes > self.compact_above {
            self.compact()?;
        }
        Ok(())
    }

    /// Filters every chunk that became sparse down to its winners now, whatever the
    /// retained bytes (the memory pool refused the state's size).
    pub fn compact(&mut self) -> Result<(), ArrowError> {
        for c in std::mem::take(&mut self.retained.sparse) {
            // A queued chunk may have been freed since: all its rows lost.
            if let Some(sparse) = self.retained.chunks[c as usize].take() {
                self.retained.bytes -= sparse.bytes;
                let compacted = sparse.compact()?;
                self.retained.bytes += compacted.bytes;
                self.retained.chunks[c as usize] = Some(compacted);
            }
        }
        Ok(())
    }

    /// The kept rows (in the order they arrived, text in the mart's types), the rows set
    /// aside for NULL keys, and the counts. Each retained batch is freed as soon as its
    /// winners are taken from it.
    ///
    /// Taking the winners copies every kept row (and decodes its dictionary text): on the
    /// bench's 10M-row file 0.1–0.15 s on one thread while the other core idled. From
    /// [`SPLIT_FINISH_ROWS`] kept rows on, inside a Tokio runtime, the later half of them is
    /// taken on the runtime's blocking pool, by a thread idle by then: usually the one that
    /// read the input, whose allocator holds the pages the input's batches are freed to,
    /// which a thread started for the purpose would not reuse (it raised the peak by 140–170
    /// MiB, README).
    pub fn finish(
        mut self,
    ) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>, DedupStats), ArrowError> {
        self.stats.rows_out = match &self.index {
            KeyIndex::Int1(index) => index.len,
            _ => self.slots.len(),
        } as u64;
        // Neither the index nor the slots are needed to take the winners (each chunk's bitmap
        // says which rows win): free them first (an empty map, which allocates nothing,
        // takes the index's place).
        drop(std::mem::replace(
            &mut self.index,
            KeyIndex::IntN(HashMap::new()),
        ));
        drop(std::mem::take(&mut self.slots));
        let mut chunks: Vec<Chunk> = std::mem::take(&mut self.retained.chunks)
            .into_iter()
            .flatten()
            .collect();
        let later = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if self.stats.rows_out >= self.split_finish_from && chunks.len() > 1 => {
                let later = chunks.split_off(half_of_the_rows(&chunks));
                let schema = Arc::clone(&self.schema);
                Some(runtime.spawn_blocking(move || take_winners(later, &schema)))
            }
            _ => None,
        };
        let mut out = take_winners(chunks, &self.schema)?;
        if let Some(later) = later {
            // `unconstrained`: polled outside the runtime's scheduler, the handle would
            // otherwise run out of its task budget and be woken again forever.
            match futures::executor::block_on(tokio::task::unconstrained(later)) {
                Ok(batches) => out.extend(batches?),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => {
                    return Err(ArrowError::ComputeError(format!(
                        "dedup: the thread taking the later half of the kept rows stopped: {e}"
                    )));
                }
            }
        }
        Ok((out, self.rejected, self.stats))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::datatypes::DataType;

    use crate::generate::{Params, generate, uti_batch, with_text_as};
    use proptest::strategy::Strategy;

    /// The output, the counts, and the state's size after the last batch.
    fn run(
        batches: &[RecordBatch],
        keep: Keep,
        compact: bool,
    ) -> (Vec<RecordBatch>, DedupStats, usize) {
        let spec = DedupSpec {
            keep,
            key: vec![0],
            version: Some(10),
        };
        let mut state = KeepState::new(batches[0].schema(), spec).unwrap();
        state.compact_above = if compact { 0 } else { usize::MAX };
        for b in batches {
            state.push(b.clone()).unwrap();
        }
        let size = state.memory_size();
        let (out, _, stats) = finish(state, compact);
        (out, stats, size)
    }

    /// `state.finish()`: with `split`, inside a Tokio runtime (as the operator runs) and from
    /// the first row on, so that the later half of the kept rows is taken on another thread;
    /// otherwise outside any runtime, on this thread.
    fn finish(
        mut state: KeepState,
        split: bool,
    ) -> (Vec<RecordBatch>, Vec<RecordBatch>, DedupStats) {
        if !split {
            return state.finish().unwrap();
        }
        state.split_finish_from = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        state.finish().unwrap()
    }

    /// 30 cycles' batches of 400 orders, with late and tied versions.
    fn history() -> Vec<RecordBatch> {
        let history = generate(&Params {
            orders: 400,
            cycles: 30,
            late_rate: 0.1,
            tie_rate: 0.1,
            ..Params::demo()
        });
        history.uti.iter().map(|rows| uti_batch(rows)).collect()
    }

    #[test]
    fn compaction_changes_nothing_but_memory() {
        let batches = history();
        for keep in [Keep::Latest, Keep::First] {
            let (plain, plain_stats, plain_size) = run(&batches, keep, false);
            let (compacted, stats, size) = run(&batches, keep, true);
            assert_eq!(stats, plain_stats);
            assert!(
                size < plain_size / 2,
                "{keep:?}: compaction kept {size} bytes of {plain_size}"
            );
            let concat =
                |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
            assert_eq!(concat(&compacted), concat(&plain), "{keep:?}");
        }
    }

    #[test]
    fn compaction_decodes_a_dictionary_larger_than_the_rows_it_kept() {
        let plain = history();
        let schema = plain[0].schema();
        // `tracking_no` (one per order: a value per row) and `carrier_code` (a few values)
        // as a Parquet source read for a dedup brings them (and the other text columns).
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let encoded: Vec<RecordBatch> = plain
            .iter()
            .map(|b| with_text_as(b, &dictionary, &[]))
            .collect();
        let spec = DedupSpec {
            keep: Keep::Latest,
            key: vec![0],
            version: Some(10),
        };
        let mut state = KeepState::new(Arc::clone(&schema), spec).unwrap();
        state.compact_above = 0;
        for b in &encoded {
            state.push(b.clone()).unwrap();
        }
        let values = |b: &RecordBatch, i: usize| b.column(i).as_any_dictionary().values().len();
        let (mut decoded, mut kept_encoded) = (0, 0);
        for (c, chunk) in state.retained.chunks.iter().enumerate() {
            let Some(chunk) = chunk else { continue };
            let batch = &chunk.batch;
            if batch.num_rows() == encoded[c].num_rows() {
                assert_eq!(
                    batch.schema(),
                    encoded[c].schema(),
                    "chunk {c} never compacted"
                );
                continue;
            }
            for i in [1, 3] {
                let outgrown = values(&encoded[c], i) > batch.num_rows();
                assert_eq!(
                    batch.column(i).data_type() == &DataType::Utf8,
                    outgrown,
                    "chunk {c}"
                );
                if outgrown {
                    decoded += 1;
                } else {
                    kept_encoded += 1;
                }
            }
        }
        assert!(
            decoded > 0 && kept_encoded > 0,
            "{decoded} decoded, {kept_encoded} kept"
        );
        // Decoded or not, the winners are the plain input's.
        let (out, _, _) = state.finish().unwrap();
        let out: Vec<RecordBatch> = out
            .into_iter()
            .map(|b| decode_dictionaries(b, &schema).unwrap())
            .collect();
        let (expected, _, _) = run(&plain, Keep::Latest, true);
        let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&schema, b).unwrap();
        assert_eq!(concat(&out), concat(&expected));
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

    /// The key columns of [`keep_rows`]'s batches, one per kind of key index: a single
    /// integer, two integers (the key and a column it determines), text (the key written out).
    const KEYS: [&[usize]; 3] = [&[0], &[0, 3], &[4]];

    /// Rows `(key, version)` cut into batches at `cuts`, each row also carrying its arrival
    /// number, through a state with compaction and a finish on two threads (`compact`) or
    /// with neither, keyed by the columns `key` (one of [`KEYS`]).
    fn keep_rows(
        rows: &[(i64, i64)],
        cuts: &[usize],
        keep: Keep,
        compact: bool,
        key: &[usize],
    ) -> Vec<[i64; 3]> {
        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Int64, false),
            Field::new("version", DataType::Int64, false),
            Field::new("arrival", DataType::Int64, false),
            Field::new("key_part", DataType::Int64, false),
            Field::new("key_text", DataType::Utf8, false),
        ]));
        let spec = DedupSpec {
            keep,
            key: key.to_vec(),
            version: Some(1),
        };
        let mut state = KeepState::new(Arc::clone(&schema), spec).unwrap();
        state.compact_above = if compact { 0 } else { usize::MAX };
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
        bounds.extend([0, rows.len()]);
        bounds.sort_unstable();
        for pair in bounds.windows(2) {
            let part = &rows[pair[0]..pair[1]];
            let column = |f: &dyn Fn(usize, &(i64, i64)) -> i64| -> ArrayRef {
                Arc::new(Int64Array::from_iter_values(
                    part.iter().enumerate().map(|(i, r)| f(pair[0] + i, r)),
                ))
            };
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    column(&|_, r| r.0),
                    column(&|_, r| r.1),
                    column(&|i, _| i as i64),
                    column(&|_, r| r.0 % 3),
                    Arc::new(StringArray::from_iter_values(
                        part.iter().map(|r| format!("order-{}", r.0)),
                    )),
                ],
            )
            .unwrap();
            state.push(batch).unwrap();
        }
        let (out, _, _) = finish(state, compact);
        let mut kept = Vec::new();
        for batch in &out {
            let col = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
            };
            for r in 0..batch.num_rows() {
                kept.push([col(0).value(r), col(1).value(r), col(2).value(r)]);
            }
        }
        kept
    }

    /// Every key gets one bucket and finds it again, holding the slot it was inserted with,
    /// whether probed by `find_or_insert` or `find`: extreme and strided keys, growth from the
    /// smallest table to 8,192 buckets, and probes that run off the table's end and wrap. A
    /// key never inserted is not found.
    #[test]
    fn the_int_index_finds_every_key_across_growth_and_wrap_around() {
        let mut index = IntIndex::with_buckets(1024);
        let last = index.buckets.len() - 1;
        let wrapping: Vec<i64> = (0..).filter(|&k| index.home(k) == last).take(3).collect();
        let mut keys = vec![0, -1, 1, i64::MIN, i64::MAX];
        keys.extend(wrapping.iter().copied());
        keys.extend((1..1000).map(|i| i << 32));
        keys.extend((1..1000).map(|i| i << 50));
        keys.extend((0..2000).map(|i| i * 1024));
        // Each key's slot carries its number, as its version.
        let mut oracle: std::collections::HashMap<i64, i64> = Default::default();
        for round in 0..2 {
            for (b, batch) in keys.chunks(100).enumerate() {
                index.reserve(batch.len());
                for &key in batch {
                    let next = oracle.len() as i64;
                    let offered = Slot {
                        chunk: 0,
                        row: 0,
                        version: next,
                    };
                    let home = index.home(key);
                    match (index.find_or_insert(key, home, offered), oracle.get(&key)) {
                        (Some(bucket), Some(&number)) => {
                            assert_eq!((bucket.key, bucket.slot.version), (key, number));
                        }
                        (None, None) => {
                            oracle.insert(key, next);
                        }
                        _ => panic!("key {key}: found iff seen before (round {round})"),
                    }
                }
                if (round, b) == (0, 0) {
                    // Still 1,024 buckets: of the three keys homed in the last one, two
                    // probed past the end to the first buckets.
                    let at = |key: i64| {
                        index
                            .buckets
                            .iter()
                            .position(|b| b.key == key && !b.is_free())
                    };
                    assert_eq!(at(wrapping[0]), Some(last));
                    assert!(at(wrapping[1]).unwrap() < 8 && at(wrapping[2]).unwrap() < 8);
                }
            }
        }
        for (&key, &number) in &oracle {
            let home = index.home(key);
            let at = index.probe(key, home).expect("an inserted key is found");
            let bucket = index.buckets[at];
            assert_eq!((bucket.key, bucket.slot.version), (key, number));
        }
        let absent = [2, 3, 1023, (1 << 50) + 1, i64::MIN + 1];
        for absent in absent.into_iter().filter(|k| !oracle.contains_key(k)) {
            assert!(index.probe(absent, index.home(absent)).is_err(), "{absent}");
        }
        assert_eq!(index.len, oracle.len());
        // 4,005 keys, filled to at most three quarters.
        assert_eq!(index.buckets.len(), 8192);
        assert!(index.len * 4 <= index.buckets.len() * 3);
        assert_eq!(std::mem::size_of::<Bucket>(), 24);
    }

    /// The rows `(key, version)` a keep rule keeps, each with its arrival number, in arrival
    /// order: the greatest version per key, the later arrival on a tie; or the first arrival.
    fn oracle(rows: &[(i64, i64)], keep: Keep) -> Vec<[i64; 3]> {
        let mut best: std::collections::HashMap<i64, usize> = Default::default();
        for (i, &(key, version)) in rows.iter().enumerate() {
            best.entry(key)
                .and_modify(|b| {
                    if keep == Keep::Latest && version >= rows[*b].1 {
                        *b = i;
                    }
                })
                .or_insert(i);
        }
        let mut expected: Vec<[i64; 3]> = best
            .values()
            .map(|&i| [rows[i].0, rows[i].1, i as i64])
            .collect();
        expected.sort_by_key(|r| r[2]);
        expected
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the batch cuts, the kept rows are exactly the oracle's (the greatest
        /// version per key, the later arrival on a tie; or the first arrival), in arrival
        /// order, with and without compaction, for each kind of key index ([`KEYS`]).
        #[test]
        fn kept_rows_match_an_oracle(
            rows in proptest::collection::vec((0i64..40, 0i64..6), 0..600),
            cuts in proptest::collection::vec(0usize..601, 0..40),
        ) {
            for (keep, key) in [Keep::Latest, Keep::First].into_iter().flat_map(|k| KEYS.map(|c| (k, c))) {
                let expected = oracle(&rows, keep);
                proptest::prop_assert_eq!(&keep_rows(&rows, &cuts, keep, true, key), &expected);
                proptest::prop_assert_eq!(&keep_rows(&rows, &cuts, keep, false, key), &expected);
            }
        }

        /// The same with thousands of keys: the key index grows (its buckets move) between
        /// batches that are compacted (some twice: their winners named by arrived rows the
        /// compacted batch holds at other places) and replaced in.
        #[test]
        fn kept_rows_match_an_oracle_while_the_index_grows(
            rows in proptest::collection::vec((0i64..3000, 0i64..4), 0..6000),
            cuts in proptest::collection::vec(0usize..6001, 0..60),
        ) {
            let expected = oracle(&rows, Keep::Latest);
            for key in KEYS {
                proptest::prop_assert_eq!(&keep_rows(&rows, &cuts, Keep::Latest, true, key), &expected);
            }
        }

        /// [`select_bits`] gathers bit by bit what a loop over the places would, with places
        /// sparse, dense, and whole 64-bit words of them (a word copied at once).
        #[test]
        fn select_bits_gathers_the_placed_bits_in_order(
            pairs in proptest::prop_oneof![
                proptest::strategy::Just(0.3),
                proptest::strategy::Just(0.98),
                proptest::strategy::Just(1.0),
            ]
            .prop_flat_map(|density| proptest::collection::vec(
                (proptest::bool::ANY, proptest::bool::weighted(density)),
                0..400,
            )),
        ) {
            let bits: BooleanBuffer = pairs.iter().map(|p| p.0).collect();
            let places: BooleanBuffer = pairs.iter().map(|p| p.1).collect();
            let expected: Vec<bool> = pairs.iter().filter(|p| p.1).map(|p| p.0).collect();
            let gathered: Vec<bool> = select_bits(&bits, &places).iter().collect();
            proptest::prop_assert_eq!(gathered, expected);
        }
    }
}
