//! Dedup: one row per key, in DataFusion.
//!
//! [`dedup`] runs the hash-based [`KeepPerKeyExec`] over a source stream. [`reference_sql`]
//! is the same rule written as a `row_number()` window query: the plain DataFusion form,
//! kept as the oracle the operator is tested against and as a benchmark contender.

pub mod exec;
pub mod keep;
mod rows;
pub mod spill;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;

pub use exec::KeepPerKeyExec;
pub use keep::{DedupSpec, DedupStats, Keep};
pub use rows::DedupedRows;

use crate::config::{Strategy, TableConfig};
use crate::error::{Error, Result};
use crate::units::BatchStream;

/// The deduped rows of one batch.
#[derive(Debug)]
pub struct Deduped {
    /// One row per key, in the mart's schema.
    pub batches: DedupedRows,
    /// Rows set aside for a NULL key or version.
    pub rejected: Vec<RecordBatch>,
    pub stats: DedupStats,
    /// Bytes the dedup wrote to spill files: its partitions, and its output when that
    /// outgrew the memory share too.
    pub spilled_bytes: u64,
    /// Whether the rows are raw rows with arrival numbers for the warehouse to rank
    /// ([`number_arrivals`], or [`dedup_or_hand_over`] past the memory share) rather than
    /// one per key.
    pub for_warehouse: bool,
}

/// The dedup rule of a configured table.
pub fn spec_for(table: &TableConfig) -> DedupSpec {
    let index = |name: &str| table.schema.index_of(name).expect("validated column");
    DedupSpec {
        keep: match table.strategy {
            Strategy::Latest => Keep::Latest,
            Strategy::Append => Keep::First,
        },
        key: table.key.iter().map(|k| index(k)).collect(),
        version: table.version.as_deref().map(index),
    }
}

/// The memory the dedups of one process share, and where they continue past it.
#[derive(Clone)]
pub struct DedupMemory {
    runtime: Arc<RuntimeEnv>,
    limit: Option<usize>,
    spill_dir: Option<PathBuf>,
}

impl fmt::Debug for DedupMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupMemory")
            .field("limit", &self.limit)
            .field("spill_dir", &self.spill_dir)
            .finish()
    }
}

impl DedupMemory {
    /// No limit: a dedup holds what it needs.
    pub fn unlimited() -> Self {
        DedupMemory {
            runtime: Arc::new(RuntimeEnv::default()),
            limit: None,
            spill_dir: None,
        }
    }

    /// `limit` bytes for the process's dedups. Their state is reserved from a pool of
    /// [`POOL_SHARE`] of it, shared evenly by the dedups running at once (DataFusion's fair
    /// pool); the rest is for what Arrow's sizes do not show. A dedup past its share
    /// continues on disk in `spill_dir`, or fails with an error that names the limit when
    /// there is none.
    pub fn limited(limit: usize, spill_dir: Option<PathBuf>) -> Result<Self> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(
                (limit as f64 * POOL_SHARE) as usize,
            )))
            .build_arc()
            .map_err(|e| Error::Dedup {
                mart: "-".into(),
                message: e.to_string(),
            })?;
        Ok(DedupMemory {
            runtime,
            limit: Some(limit),
            spill_dir,
        })
    }

    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// What an embedded warehouse (DuckDB, in this process) is told it may hold while
    /// merging: [`WAREHOUSE_SHARE`] of the limit.
    pub fn warehouse_share(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |l| (l as f64 * WAREHOUSE_SHARE) as usize)
    }
}

/// The share of `[dedup] memory_limit` the dedups reserve their state from. Measured on a
/// 90M-row, 18M-key load (README, "Past one machine's memory"): the process's resident
/// memory ran about 1.65 times the state Arrow reports while the state grew (the key
/// index and slots double as they grow, the allocator keeps freed pages a while), and
/// the Parquet parts being staged and the source's batches in flight come on top.
pub const POOL_SHARE: f64 = 0.5;

/// The share of `[dedup] memory_limit` an embedded DuckDB is given (`SET memory_limit`).
/// On the same load DuckDB's resident memory ran about twice its setting (the insert's
/// buffers are not all under its buffer manager).
pub const WAREHOUSE_SHARE: f64 = 0.4;

/// Keeps one row per key of `input` (arrival order breaks ties), inside DataFusion, within
/// `memory`.
pub async fn dedup(
    mart: &str,
    schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
    memory: &DedupMemory,
) -> Result<Deduped> {
    run(mart, schema, input, spec, memory, None).await
}

/// [`dedup`], except that a batch outgrowing its memory share goes to the warehouse instead
/// of spilling: the winners so far, then every later row, numbered in that order into
/// `raw_schema` (the mart's columns plus [`crate::config::ARRIVAL_COLUMN`]) for the merge to
/// rank ([`Deduped::for_warehouse`]).
pub async fn dedup_or_hand_over(
    mart: &str,
    schema: SchemaRef,
    raw_schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
    memory: &DedupMemory,
) -> Result<Deduped> {
    run(mart, schema, input, spec, memory, Some(raw_schema)).await
}

async fn run(
    mart: &str,
    schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
    memory: &DedupMemory,
    hand_over_as: Option<SchemaRef>,
) -> Result<Deduped> {
    let limit = memory.limit;
    let failed = move |e: DataFusionError| dedup_error(mart, limit, e);
    // The scan declares the mart's schema; a text column of the input may still come
    // dictionary-encoded (`Extract::for_dedup`). Nothing between the scan and the
    // operator looks at column types, and the operator's output is in the declared schema
    // (`KeepPerKeyExec` decodes what it keeps).
    let stream_input: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
        Arc::clone(&schema),
        input.map(|item| item.map_err(|e| DataFusionError::External(Box::new(e)))),
    ));
    let scan = StreamingTableExec::try_new(
        Arc::clone(&schema),
        vec![Arc::new(OnceStream::new(Arc::clone(&schema), stream_input))],
        None,
        Vec::new(),
        false,
        None,
    )
    .map_err(failed)?;
    let exec = KeepPerKeyExec::new(Arc::new(scan), spec.clone(), memory.spill_dir.clone());
    let exec = Arc::new(if hand_over_as.is_some() {
        exec.handing_over()
    } else {
        exec
    });
    let outcome = exec.outcome();
    let plan: Arc<dyn ExecutionPlan> = exec;
    let context = Arc::new(TaskContext::default().with_runtime(Arc::clone(&memory.runtime)));
    let mut output = plan.execute(0, context).map_err(failed)?;
    let first = output.next().await;
    let handed_over = outcome.lock().expect("outcome lock").handed_over;
    if let (Some(raw_schema), true) = (hand_over_as, handed_over) {
        let before = std::mem::take(&mut *outcome.lock().expect("outcome lock"));
        let (mart_name, rest) = (mart.to_string(), futures::stream::iter(first).chain(output));
        let rest: BatchStream =
            Box::pin(rest.map(move |b| b.map_err(|e| dedup_error(&mart_name, limit, e))));
        let numbered = number_arrivals(mart, raw_schema, rest, spec, memory).await?;
        // The numbered rows began with the winners, which were counted as input already.
        let mut rejected = before.rejected;
        rejected.extend(numbered.rejected);
        return Ok(Deduped {
            stats: DedupStats {
                rows_in: before.stats.rows_in + numbered.stats.rows_in - before.stats.rows_out,
                rows_out: numbered.stats.rows_out,
                rows_rejected: before.stats.rows_rejected + numbered.stats.rows_rejected,
            },
            rejected,
            spilled_bytes: numbered.spilled_bytes,
            batches: numbered.batches,
            for_warehouse: true,
        });
    }
    let mut rows = rows::Collector::new(
        mart,
        schema,
        Arc::clone(&memory.runtime.memory_pool),
        memory.spill_dir.clone(),
    );
    let mut output = futures::stream::iter(first).chain(output);
    while let Some(batch) = output.next().await {
        rows.push(batch.map_err(failed)?).map_err(failed)?;
    }
    let batches = rows.finish().map_err(failed)?;
    let outcome = std::mem::take(&mut *outcome.lock().expect("outcome lock"));
    Ok(Deduped {
        spilled_bytes: outcome.spilled_bytes + batches.spilled_bytes(),
        batches,
        rejected: outcome.rejected,
        stats: outcome.stats,
        for_warehouse: false,
    })
}

/// For a mart the warehouse dedups: `input`'s rows with their arrival number (0, 1, … in
/// the order they come) as one more column, in `raw_schema` (the mart's plus
/// [`crate::config::ARRIVAL_COLUMN`]), held within `memory` like a dedup's output. Rows
/// with a NULL key or version are set aside as the local dedup does.
pub async fn number_arrivals(
    mart: &str,
    raw_schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
    memory: &DedupMemory,
) -> Result<Deduped> {
    let failed = |e: DataFusionError| dedup_error(mart, memory.limit, e);
    let mut rows = rows::Collector::new(
        mart,
        Arc::clone(&raw_schema),
        Arc::clone(&memory.runtime.memory_pool),
        memory.spill_dir.clone(),
    );
    let (mut stats, mut rejected) = (DedupStats::default(), Vec::new());
    let mut input = input;
    while let Some(batch) = input.next().await {
        let mut batch = batch?;
        stats.rows_in += batch.num_rows() as u64;
        if let Some(invalid) = keep::invalid_rows(&spec, &batch) {
            let set_aside = arrow::compute::filter_record_batch(&batch, &invalid)
                .map_err(|e| failed(e.into()))?;
            stats.rows_rejected += set_aside.num_rows() as u64;
            rejected.push(set_aside);
            let valid = arrow::compute::not(&invalid).map_err(|e| failed(e.into()))?;
            batch = arrow::compute::filter_record_batch(&batch, &valid)
                .map_err(|e| failed(e.into()))?;
        }
        let first = stats.rows_out as i64;
        let arrivals =
            arrow::array::Int64Array::from_iter_values(first..first + batch.num_rows() as i64);
        stats.rows_out += batch.num_rows() as u64;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(arrivals));
        let numbered =
            RecordBatch::try_new(Arc::clone(&raw_schema), columns).map_err(|e| failed(e.into()))?;
        rows.push(numbered).map_err(failed)?;
    }
    let batches = rows.finish().map_err(failed)?;
    Ok(Deduped {
        spilled_bytes: batches.spilled_bytes(),
        batches,
        rejected,
        stats,
        for_warehouse: true,
    })
}

/// A dedup's DataFusion error as martsync's: a source error as it was, a refused reservation
/// naming the limit and the ways out.
fn dedup_error(mart: &str, limit: Option<usize>, e: DataFusionError) -> Error {
    match e {
        // Source errors travel through DataFusion wrapped; hand them back as they were.
        DataFusionError::External(inner) => match inner.downcast::<Error>() {
            Ok(source_error) => *source_error,
            Err(other) => Error::Dedup {
                mart: mart.to_string(),
                message: other.to_string(),
            },
        },
        DataFusionError::ResourcesExhausted(message) => Error::Dedup {
            mart: mart.to_string(),
            message: format!(
                "the batch needs more memory than the limit of {} ({message}); raise the \
                 memory limit, give the dedup a spill folder, or extract smaller batches",
                limit.map_or("-".into(), |l| crate::units::human_bytes(l as u64))
            ),
        },
        other => Error::Dedup {
            mart: mart.to_string(),
            message: other.to_string(),
        },
    }
}

/// A stream that can be executed once: the source's extraction for one cycle.
struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        OnceStream {
            schema,
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().expect("once stream lock").take() {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "a source stream can only be read once".into(),
                    ))
                }),
            )),
        }
    }
}

/// The column a reference query orders arrivals by.
pub const ARRIVAL_COLUMN: &str = "__arrival";

/// The dedup rule as plain SQL over a table `input` that has the mart's columns plus
/// [`ARRIVAL_COLUMN`] (increasing with arrival). Column names are quoted identifiers.
pub fn reference_sql(columns: &[String], spec: &DedupSpec) -> String {
    let quote = |i: &usize| format!("\"{}\"", columns[*i]);
    let key = spec.key.iter().map(quote).collect::<Vec<_>>().join(", ");
    let order = match (spec.keep, spec.version) {
        (Keep::Latest, Some(v)) => format!("{} DESC, {ARRIVAL_COLUMN} DESC", quote(&v)),
        _ => format!("{ARRIVAL_COLUMN} ASC"),
    };
    let not_null = spec
        .key
        .iter()
        .chain(spec.version.iter())
        .map(|i| format!("{} IS NOT NULL", quote(i)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {list} FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS __rn \
         FROM input WHERE {not_null}) WHERE __rn = 1"
    )
}
