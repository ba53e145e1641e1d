//! Dedup: one row per key, in DataFusion.
//!
//! [`dedup`] runs the hash-based [`KeepPerKeyExec`] over a source stream. [`reference_sql`]
//! is the same rule written as a `row_number()` window query: the plain DataFusion form,
//! kept as the oracle the operator is tested against and as a benchmark contender.

pub mod exec;
pub mod keep;

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, collect};
use futures::StreamExt;

pub use exec::KeepPerKeyExec;
pub use keep::{DedupSpec, DedupStats, Keep};

use crate::config::{Strategy, TableConfig};
use crate::error::{Error, Result};
use crate::units::BatchStream;

/// The deduped rows of one batch.
#[derive(Debug)]
pub struct Deduped {
    /// One row per key, in the mart's schema.
    pub batches: Vec<RecordBatch>,
    /// Rows set aside for a NULL key or version.
    pub rejected: Vec<RecordBatch>,
    pub stats: DedupStats,
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

/// Keeps one row per key of `input` (arrival order breaks ties), inside DataFusion.
pub async fn dedup(
    mart: &str,
    schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
) -> Result<Deduped> {
    dedup_with_limit(mart, schema, input, spec, None).await
}

/// [`dedup`] within a DataFusion memory pool of `memory_limit` bytes: past it, the dedup
/// fails with an error that names the limit (the operator does not spill).
pub async fn dedup_with_limit(
    mart: &str,
    schema: SchemaRef,
    input: BatchStream,
    spec: DedupSpec,
    memory_limit: Option<usize>,
) -> Result<Deduped> {
    let failed = |e: DataFusionError| match e {
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
                 memory limit or extract smaller batches",
                memory_limit.map_or("-".into(), |l| crate::units::human_bytes(l as u64))
            ),
        },
        other => Error::Dedup {
            mart: mart.to_string(),
            message: other.to_string(),
        },
    };
    let stream_input: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
        Arc::clone(&schema),
        input.map(|item| item.map_err(|e| DataFusionError::External(Box::new(e)))),
    ));
    let scan = StreamingTableExec::try_new(
        Arc::clone(&schema),
        vec![Arc::new(OnceStream::new(schema, stream_input))],
        None,
        Vec::new(),
        false,
        None,
    )
    .map_err(failed)?;
    let exec = Arc::new(KeepPerKeyExec::new(Arc::new(scan), spec));
    let outcome = exec.outcome();
    let plan: Arc<dyn ExecutionPlan> = exec;
    let mut context = TaskContext::default();
    if let Some(limit) = memory_limit {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limit, 1.0)
            .build_arc()
            .map_err(failed)?;
        context = context.with_runtime(runtime);
    }
    let batches = collect(plan, Arc::new(context)).await.map_err(failed)?;
    let outcome = std::mem::take(&mut *outcome.lock().expect("outcome lock"));
    Ok(Deduped {
        batches,
        rejected: outcome.rejected,
        stats: outcome.stats,
    })
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
