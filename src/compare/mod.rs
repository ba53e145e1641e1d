//! Compare two tables by key, in bounded memory: what `martsync compare` reports.
//!
//! Each row of either side becomes an entry: its key in Arrow's row format (keys of any
//! column types compare and sort as bytes) and one 64-bit hash per compared column. Entries
//! are hash-partitioned by key ([`spill`]): partitions stay in memory until the buffered bytes
//! pass the memory limit, then go to spill files. Each partition is then read back, sorted by
//! key, and the two sides are merged key by key. Memory is the limit plus the largest
//! partition of both sides, about 1/[`spill::PARTITIONS`] of the entries.

mod spill;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::units::{BatchStream, columns_at};
use spill::{Entries, Spill};

/// What to compare, as positions in both sides' (equal) schema.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    pub key: Vec<usize>,
    /// The compared columns (key columns are equal by definition and not listed).
    pub columns: Vec<usize>,
    /// How many keys of each kind of difference to report (the smallest ones).
    pub sample: usize,
    /// Bytes of entries both sides may buffer before spilling partitions to disk.
    pub memory_limit: usize,
    /// Where spill files go (a fresh folder inside it, removed at the end).
    pub spill_dir: PathBuf,
}

/// One side's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SideCounts {
    pub rows: u64,
    /// Distinct keys.
    pub keys: u64,
    /// Keys held by more than one row (the old pipeline's duplicates).
    pub duplicate_keys: u64,
}

/// One kind of difference: how many keys, and the smallest of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub keys: u64,
    /// Up to `sample` keys, smallest first, each as its key columns' values.
    pub sample: Vec<Vec<String>>,
}

/// In how many keys present on both sides one column differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDifference {
    pub column: String,
    pub keys: u64,
}

/// The result of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompareReport {
    pub key: Vec<String>,
    pub columns: Vec<String>,
    pub left: SideCounts,
    pub right: SideCounts,
    /// Keys on both sides with the same rows.
    pub matching_keys: u64,
    pub only_left: Difference,
    pub only_right: Difference,
    /// Keys on both sides whose rows differ (in a compared column, or in how many rows the
    /// key has).
    pub differing: Difference,
    /// Per compared column, in how many of the `differing` keys its values differ.
    pub column_differences: Vec<ColumnDifference>,
    /// Bytes written to spill files (0 when everything fit the memory limit).
    pub spilled_bytes: u64,
}

impl CompareReport {
    /// Keys that are not the same on both sides.
    pub fn differences(&self) -> u64 {
        self.only_left.keys + self.only_right.keys + self.differing.keys
    }

    /// Keys on either side.
    pub fn union_keys(&self) -> u64 {
        self.matching_keys + self.differences()
    }
}

/// Compares `left` and `right`, two streams of batches in `schema`. `what` names the
/// comparison in errors.
pub async fn compare(
    what: &str,
    schema: SchemaRef,
    left: BatchStream,
    right: BatchStream,
    spec: &CompareSpec,
) -> Result<CompareReport> {
    // Hashing, spill files and the partition merge are CPU and file work: they run on a
    // blocking thread, fed the batches as they arrive.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<(usize, RecordBatch)>>(4);
    let worker = {
        let (what, spec) = (what.to_string(), spec.clone());
        tokio::task::spawn_blocking(move || compare_blocking(&what, schema, rx, &spec))
    };
    // Both sides are read at once, so two servers stream in parallel; their entries share
    // one memory limit. A side that fails is passed on: the worker stops with its error.
    let (mut left, mut right) = (left.fuse(), right.fuse());
    'read: loop {
        let (l, r) = futures::join!(left.next(), right.next());
        if l.is_none() && r.is_none() {
            break;
        }
        for (side, batch) in [(0, l), (1, r)] {
            if let Some(batch) = batch {
                let failed = batch.is_err();
                // A closed channel: the worker stopped early, and its result says why.
                if tx.send(batch.map(|b| (side, b))).await.is_err() || failed {
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    worker.await.expect("the comparison does not panic")
}

/// The comparison proper, on a blocking thread: entries from the batches `rx` receives
/// (tagged with their side), then every partition merged.
fn compare_blocking(
    what: &str,
    schema: SchemaRef,
    mut rx: tokio::sync::mpsc::Receiver<Result<(usize, RecordBatch)>>,
    spec: &CompareSpec,
) -> Result<CompareReport> {
    let failed = |message: String| Error::batch(what, "compare", message);
    let key_fields = spec
        .key
        .iter()
        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
        .collect();
    let converter = RowConverter::new(key_fields).map_err(|e| failed(e.to_string()))?;
    let mut spill = Spill::new(&spec.spill_dir, spec.memory_limit, spec.columns.len());
    let encoder = Encoder {
        spec,
        converter: &converter,
    };
    while let Some(item) = rx.blocking_recv() {
        let (side, batch) = item?;
        encoder
            .encode(&batch, side, &mut spill)
            .map_err(|e| failed(e.to_string()))?;
    }

    let mut report = CompareReport {
        key: spec
            .key
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect(),
        columns: spec
            .columns
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect(),
        ..CompareReport::default()
    };
    let mut column_counts = vec![0u64; spec.columns.len()];
    let mut samples: [BTreeSet<Vec<u8>>; 3] = Default::default();
    let mut keep_sample = |kind: usize, key: &[u8]| {
        let set = &mut samples[kind];
        if set.len() < spec.sample || set.last().is_some_and(|last| key < last.as_slice()) {
            set.insert(key.to_vec());
            if set.len() > spec.sample {
                set.pop_last();
            }
        }
    };
    for partition in 0..spill::PARTITIONS {
        let (left, right) = spill.take(partition)?;
        merge(
            &left,
            &right,
            &mut report,
            &mut column_counts,
            &mut keep_sample,
        );
    }
    report.spilled_bytes = spill.spilled_bytes();
    report.column_differences = report
        .columns
        .iter()
        .zip(column_counts)
        .map(|(column, keys)| ColumnDifference {
            column: column.clone(),
            keys,
        })
        .collect();
    let [only_left, only_right, differing] = samples;
    let show = |set: BTreeSet<Vec<u8>>| display_keys(&converter, set).map_err(failed);
    report.only_left.sample = show(only_left)?;
    report.only_right.sample = show(only_right)?;
    report.differing.sample = show(differing)?;
    Ok(report)
}

/// Turns batches into entries.
struct Encoder<'a> {
    spec: &'a CompareSpec,
    converter: &'a RowConverter,
}

impl Encoder<'_> {
    fn encode(
        &self,
        batch: &RecordBatch,
        side: usize,
        spill: &mut Spill,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let keys = columns_at(batch, &self.spec.key);
        let key_rows = self.converter.convert_columns(&keys)?;
        let mut partition_hashes = vec![0u64; rows];
        create_hashes(&keys, &RandomState::with_seed(0), &mut partition_hashes)?;
        // Column hashes, column-major: hashes[c * rows + r].
        let mut hashes = vec![0u64; rows * self.spec.columns.len()];
        for (c, &column) in self.spec.columns.iter().enumerate() {
            create_hashes(
                [batch.column(column)],
                &RandomState::with_seed(1),
                &mut hashes[c * rows..(c + 1) * rows],
            )?;
        }
        let mut row_hashes = Vec::with_capacity(self.spec.columns.len());
        for r in 0..rows {
            row_hashes.clear();
            row_hashes.extend((0..self.spec.columns.len()).map(|c| hashes[c * rows + r]));
            spill.push(
                side,
                partition_hashes[r],
                key_rows.row(r).as_ref(),
                &row_hashes,
            )?;
        }
        Ok(())
    }
}

/// Merges one partition of both sides into the report: entries sorted by key, then runs of
/// one key compared.
fn merge(
    left: &Entries,
    right: &Entries,
    report: &mut CompareReport,
    column_counts: &mut [u64],
    keep_sample: &mut impl FnMut(usize, &[u8]),
) {
    let (l, r) = (left.sorted(), right.sorted());
    let (mut i, mut j) = (0, 0);
    let count_side = |side: &mut SideCounts, rows: usize| {
        side.rows += rows as u64;
        side.keys += 1;
        side.duplicate_keys += u64::from(rows > 1);
    };
    while i < l.len() || j < r.len() {
        let left_run = (i < l.len()).then(|| run(left, &l, i));
        let right_run = (j < r.len()).then(|| run(right, &r, j));
        let order = match (&left_run, &right_run) {
            (Some((lk, _)), Some((rk, _))) => lk.cmp(rk),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match (order, left_run, right_run) {
            (Ordering::Less, Some((key, rows)), _) => {
                count_side(&mut report.left, rows.len());
                report.only_left.keys += 1;
                keep_sample(0, key);
                i += rows.len();
            }
            (Ordering::Greater, _, Some((key, rows))) => {
                count_side(&mut report.right, rows.len());
                report.only_right.keys += 1;
                keep_sample(1, key);
                j += rows.len();
            }
            (_, Some((key, lrows)), Some((_, rrows))) => {
                count_side(&mut report.left, lrows.len());
                count_side(&mut report.right, rrows.len());
                if same_rows(left, lrows, right, rrows) {
                    report.matching_keys += 1;
                } else {
                    report.differing.keys += 1;
                    keep_sample(2, key);
                    for (c, count) in column_counts.iter_mut().enumerate() {
                        *count += u64::from(!same_values(left, lrows, right, rrows, c));
                    }
                }
                i += lrows.len();
                j += rrows.len();
            }
            _ => unreachable!("a side with no entries left never orders first"),
        }
    }
}

/// The run of entries with the key of `order[start]`: the key and the run's entries.
fn run<'a>(entries: &'a Entries, order: &'a [usize], start: usize) -> (&'a [u8], &'a [usize]) {
    let key = entries.key(order[start]);
    let len = order[start..]
        .iter()
        .take_while(|&&e| entries.key(e) == key)
        .count();
    (key, &order[start..start + len])
}

/// Whether two runs of one key hold the same rows, duplicates counted (runs are sorted by
/// their hashes within a key).
fn same_rows(left: &Entries, lrows: &[usize], right: &Entries, rrows: &[usize]) -> bool {
    lrows.len() == rrows.len()
        && lrows
            .iter()
            .zip(rrows)
            .all(|(&a, &b)| left.hashes(a) == right.hashes(b))
}

/// Whether column `c` holds the same set of values on both sides of a key.
fn same_values(
    left: &Entries,
    lrows: &[usize],
    right: &Entries,
    rrows: &[usize],
    c: usize,
) -> bool {
    let values = |entries: &Entries, rows: &[usize]| {
        rows.iter()
            .map(|&e| entries.hashes(e)[c])
            .collect::<BTreeSet<u64>>()
    };
    values(left, lrows) == values(right, rrows)
}

/// Keys in Arrow's row format, back to their columns' display text.
fn display_keys(
    converter: &RowConverter,
    keys: BTreeSet<Vec<u8>>,
) -> std::result::Result<Vec<Vec<String>>, String> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let parser = converter.parser();
    let columns = converter
        .convert_rows(keys.iter().map(|k| parser.parse(k)))
        .map_err(|e| e.to_string())?;
    let options = FormatOptions::default().with_null("NULL");
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((0..keys.len())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect()
        })
        .collect())
}
