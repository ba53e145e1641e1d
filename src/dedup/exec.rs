//! [`KeepPerKeyExec`]: the keep-one-row-per-key operator as a DataFusion `ExecutionPlan`, so
//! dedup runs inside DataFusion's engine (streams, task context, plan display) while the
//! work itself is a single hash pass instead of a sort-based window plan.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::keep::{DedupSpec, DedupStats, KeepState};
use super::spill::{Partitioner, Partitions, read_spill};
use crate::units::decode_dictionaries;
use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

/// What an execution leaves behind besides its output: counts and the rejected rows.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stats: DedupStats,
    pub rejected: Vec<RecordBatch>,
    /// Bytes written to spill files (partitions of every level), 0 when it fit in memory.
    pub spilled_bytes: u64,
    /// Whether the output is the winners up to the moment the state outgrew its share and
    /// then the rest of the input as it came ([`KeepPerKeyExec::handing_over`]); `stats`
    /// then counts the rows up to that moment.
    pub handed_over: bool,
}

/// Keeps one row per key of its single input partition; see [`super::keep`] for the rule.
#[derive(Debug)]
pub struct KeepPerKeyExec {
    input: Arc<dyn ExecutionPlan>,
    spec: DedupSpec,
    properties: Arc<PlanProperties>,
    outcome: Arc<Mutex<Outcome>>,
    /// Where to continue when the state outgrows its memory share; None: fail instead.
    spill_dir: Option<PathBuf>,
    hand_over: bool,
}

impl KeepPerKeyExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: DedupSpec, spill_dir: Option<PathBuf>) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        KeepPerKeyExec {
            input,
            spec,
            properties: Arc::new(properties),
            outcome: Arc::default(),
            spill_dir,
            hand_over: false,
        }
    }

    /// Past its memory share, the operator stops deduping: it outputs the winners so far,
    /// then passes the rest of its input through, for the warehouse to rank
    /// ([`Outcome::handed_over`]). Otherwise it spills.
    pub fn handing_over(mut self) -> Self {
        self.hand_over = true;
        self
    }

    /// Counts and rejected rows, complete once the output stream has ended.
    pub fn outcome(&self) -> Arc<Mutex<Outcome>> {
        Arc::clone(&self.outcome)
    }
}

impl DisplayAs for KeepPerKeyExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "KeepPerKeyExec: keep={:?}, key={:?}, version={:?}",
            self.spec.keep, self.spec.key, self.spec.version
        )
    }
}

impl ExecutionPlan for KeepPerKeyExec {
    fn name(&self) -> &str {
        "KeepPerKeyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    // Ties are broken by arrival order, which only one input partition preserves.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("KeepPerKeyExec takes one input".into()))?;
        let exec = KeepPerKeyExec::new(input, self.spec.clone(), self.spill_dir.clone());
        Ok(Arc::new(if self.hand_over {
            exec.handing_over()
        } else {
            exec
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "KeepPerKeyExec has one partition, not {partition}"
            )));
        }
        // The state's memory is reserved from the session's pool as it grows. Past the
        // pool's share, the dedup continues on disk (see `super::spill`) when it has a spill
        // folder, and fails with a clear error when it has none.
        let reservation = MemoryConsumer::new("KeepPerKeyExec")
            .with_can_spill(self.spill_dir.is_some())
            .register(context.memory_pool());
        let input = self.input.execute(0, Arc::clone(&context))?;
        let schema = self.input.schema();
        let setup = Setup {
            schema: Arc::clone(&schema),
            spec: self.spec.clone(),
            spill_dir: self.spill_dir.clone(),
            hand_over: self.hand_over,
        };
        let outcome = Arc::clone(&self.outcome);
        // Text the input carried dictionary-encoded leaves in the mart's types: only the
        // kept rows are decoded (by the state as it finishes, spilled partitions as they are
        // written, rows set aside as they are set aside), and here the raw rows a hand-over
        // passes on (a no-op for batches already decoded).
        let out_schema = Arc::clone(&schema);
        let decoded = move |batch: Result<RecordBatch>| {
            batch.and_then(|b| Ok(decode_dictionaries(b, &out_schema)?))
        };
        let output = futures::stream::once(async move {
            let mut deduper = Deduper::new(&setup, 0)?;
            let mut input = input;
            while let Some(batch) = input.next().await {
                if let Some((winners, done)) = deduper.push(batch?, &reservation)? {
                    // The winners so far, then every later row as it comes: the consumer
                    // numbers them in this order for the warehouse to rank (the argument
                    // of `super::spill` holds for the ranking too).
                    *outcome.lock().expect("outcome lock") = done;
                    return Ok(futures::stream::iter(winners.into_iter().map(Ok))
                        .chain(input)
                        .boxed());
                }
            }
            let (partitions, total) = match deduper.finish(&reservation)? {
                Finished::InMemory(kept, done) => {
                    *outcome.lock().expect("outcome lock") = done;
                    return Ok::<_, DataFusionError>(
                        futures::stream::iter(kept.into_iter().map(Ok)).boxed(),
                    );
                }
                Finished::Spilled(partitions, done) => (partitions, done),
            };
            *outcome.lock().expect("outcome lock") = total;
            // One partition at a time: its winners are all that is in memory.
            let partitions = Arc::new(partitions);
            let reservation = Arc::new(reservation);
            let rest = futures::stream::iter(0..partitions.files.len())
                .then(move |p| {
                    let (partitions, setup) = (Arc::clone(&partitions), setup.clone());
                    let (outcome, reservation) = (Arc::clone(&outcome), Arc::clone(&reservation));
                    async move {
                        let (kept, done) =
                            dedup_file(&partitions.files[p], &setup, &reservation, 1)?;
                        outcome.lock().expect("outcome lock").add_partition(done);
                        Ok::<_, DataFusionError>(futures::stream::iter(kept.into_iter().map(Ok)))
                    }
                })
                .try_flatten();
            Ok(rest.boxed())
        })
        .try_flatten()
        .map(decoded);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, output)))
    }
}

impl Outcome {
    /// Adds what a partition of a spilled dedup kept and set aside (its input rows were
    /// counted when they were read the first time).
    fn add_partition(&mut self, partition: Outcome) {
        self.stats.rows_out += partition.stats.rows_out;
        self.stats.rows_rejected += partition.stats.rows_rejected;
        self.rejected.extend(partition.rejected);
        self.spilled_bytes += partition.spilled_bytes;
    }
}

/// Rows per batch when a spilled partition is read back.
const COALESCE_ROWS: usize = 8192;

/// What every level of a dedup needs.
#[derive(Clone)]
struct Setup {
    schema: SchemaRef,
    spec: DedupSpec,
    spill_dir: Option<PathBuf>,
    /// Hand the input over past the share instead of spilling (top level only).
    hand_over: bool,
}

/// A partition that cannot be brought under the memory share after this many rounds of
/// partitioning (64^3 = 262,144 partitions) is an error: its state is the winners of one
/// partition, so only a tiny limit gets here.
const MAX_DEPTH: usize = 3;

/// A dedup in progress: in memory while its reservation grows, on disk once refused.
struct Deduper<'a> {
    setup: &'a Setup,
    state: Option<KeepState>,
    spilled: Option<Partitioner>,
    /// Counts and rejected rows of the in-memory phase (final when nothing spilled).
    done: Outcome,
    rows_in: u64,
    /// 0 for the dedup's input, n for a partition spilled n times.
    level: usize,
}

enum Finished {
    InMemory(Vec<RecordBatch>, Outcome),
    /// The partitions to dedup one at a time; the outcome still lacks their rows.
    Spilled(Partitions, Outcome),
}

impl<'a> Deduper<'a> {
    fn new(setup: &'a Setup, level: usize) -> Result<Self> {
        Ok(Deduper {
            setup,
            state: Some(KeepState::new(
                Arc::clone(&setup.schema),
                setup.spec.clone(),
            )?),
            spilled: None,
            done: Outcome::default(),
            rows_in: 0,
            level,
        })
    }

    /// Consumes the next batch. Returns the winners so far when the dedup hands the rest
    /// of its input over to the warehouse ([`Setup::hand_over`]) instead of spilling.
    fn push(
        &mut self,
        batch: RecordBatch,
        reservation: &MemoryReservation,
    ) -> Result<Option<(Vec<RecordBatch>, Outcome)>> {
        self.rows_in += batch.num_rows() as u64;
        if let Some(partitioner) = &mut self.spilled {
            partitioner.push(&batch)?;
            return Ok(None);
        }
        let state = self.state.as_mut().expect("in memory until spilled");
        state.push(batch)?;
        if reservation.try_resize(state.memory_size()).is_ok() {
            return Ok(None);
        }
        // Batches retained for a few winners are what grows first: compact them before
        // deciding the state is too large.
        state.compact()?;
        let refused = match reservation.try_resize(state.memory_size()) {
            Ok(()) => return Ok(None),
            Err(refused) => refused,
        };
        let to_warehouse = self.setup.hand_over && self.level == 0;
        if !to_warehouse && self.setup.spill_dir.is_none() {
            return Err(refused);
        }
        // The winners so far go first: to the warehouse, or to disk followed by every later
        // row (see `super::spill` for why that keeps the same rows).
        let (kept, rejected, stats) = self.state.take().expect("in memory").finish()?;
        reservation.free();
        if to_warehouse {
            tracing::info!(
                rows_in = self.rows_in,
                winners = stats.rows_out,
                "A dedup outgrew its memory share: handing the rest of the batch to the warehouse."
            );
            let done = Outcome {
                stats,
                rejected,
                spilled_bytes: 0,
                handed_over: true,
            };
            return Ok(Some((kept, done)));
        }
        let base = self.setup.spill_dir.as_ref().expect("checked above");
        tracing::debug!(
            rows_in = self.rows_in,
            winners = stats.rows_out,
            "A dedup outgrew its memory share: continuing on disk."
        );
        let mut partitioner = Partitioner::new(
            base,
            Arc::clone(&self.setup.schema),
            self.setup.spec.key.clone(),
            self.level,
        )?;
        for batch in &kept {
            partitioner.push(batch)?;
        }
        self.done = Outcome {
            stats: DedupStats {
                rows_rejected: stats.rows_rejected,
                ..DedupStats::default()
            },
            rejected,
            spilled_bytes: 0,
            handed_over: false,
        };
        self.spilled = Some(partitioner);
        Ok(None)
    }

    fn finish(self, reservation: &MemoryReservation) -> Result<Finished> {
        let mut done = self.done;
        done.stats.rows_in = self.rows_in;
        match (self.state, self.spilled) {
            (_, Some(partitioner)) => {
                let partitions = partitioner.finish()?;
                tracing::info!(
                    bytes = partitions.bytes,
                    files = partitions.files.len(),
                    "Spilled a dedup's rows; deduping them one partition at a time."
                );
                done.spilled_bytes += partitions.bytes;
                Ok(Finished::Spilled(partitions, done))
            }
            (Some(state), None) => {
                let (kept, rejected, stats) = state.finish()?;
                reservation.free();
                Ok(Finished::InMemory(
                    kept,
                    Outcome {
                        stats,
                        rejected,
                        spilled_bytes: 0,
                        handed_over: false,
                    },
                ))
            }
            (None, None) => unreachable!("a dedup is in memory or on disk"),
        }
    }
}

/// Dedups one spilled partition, partitioning it again if it outgrows the share too.
fn dedup_file(
    path: &std::path::Path,
    setup: &Setup,
    reservation: &MemoryReservation,
    depth: usize,
) -> Result<(Vec<RecordBatch>, Outcome)> {
    let mut deduper = Deduper::new(setup, depth)?;
    // A partition's file holds 1/64 of each input batch: put its small batches back
    // together (concatenated to their exact size: a coalescer's preallocated capacity would
    // count), or the state would retain many small batches for a few winners each.
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    // (A partition never hands over: `Deduper::push` only does at level 0.)
    for batch in read_spill(path)? {
        let batch = batch?;
        pending_rows += batch.num_rows();
        pending.push(batch);
        if pending_rows >= COALESCE_ROWS {
            deduper.push(concat_batches(&setup.schema, &pending)?, reservation)?;
            (pending, pending_rows) = (Vec::new(), 0);
        }
    }
    if !pending.is_empty() {
        deduper.push(concat_batches(&setup.schema, &pending)?, reservation)?;
    }
    match deduper.finish(reservation)? {
        Finished::InMemory(kept, done) => Ok((kept, done)),
        Finished::Spilled(_, _) if depth >= MAX_DEPTH => {
            Err(DataFusionError::ResourcesExhausted(format!(
                "a partition of a spilled dedup still outgrows the dedup's memory share after {MAX_DEPTH} rounds of partitioning"
            )))
        }
        Finished::Spilled(partitions, mut done) => {
            let mut kept = Vec::new();
            for file in &partitions.files {
                let (more, sub) = dedup_file(file, setup, reservation, depth + 1)?;
                kept.extend(more);
                done.add_partition(sub);
            }
            Ok((kept, done))
        }
    }
}
