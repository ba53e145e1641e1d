//! [`KeepPerKeyExec`]: the keep-one-row-per-key operator as a DataFusion `ExecutionPlan`, so
//! dedup runs inside DataFusion's engine (streams, task context, plan display) while the
//! work itself is a single hash pass instead of a sort-based window plan.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::keep::{DedupSpec, DedupStats, KeepState};
use arrow::array::RecordBatch;

/// What an execution leaves behind besides its output: counts and the rejected rows.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stats: DedupStats,
    pub rejected: Vec<RecordBatch>,
}

/// Keeps one row per key of its single input partition; see [`super::keep`] for the rule.
#[derive(Debug)]
pub struct KeepPerKeyExec {
    input: Arc<dyn ExecutionPlan>,
    spec: DedupSpec,
    properties: Arc<PlanProperties>,
    outcome: Arc<Mutex<Outcome>>,
}

impl KeepPerKeyExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: DedupSpec) -> Self {
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
        }
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
        Ok(Arc::new(KeepPerKeyExec::new(input, self.spec.clone())))
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
        // The state's memory is reserved from the session's pool as it grows, so a limited
        // pool (`--memory-limit`) fails the dedup with a clear error instead of the machine.
        let reservation = MemoryConsumer::new("KeepPerKeyExec").register(context.memory_pool());
        let input = self.input.execute(0, context)?;
        let schema = self.input.schema();
        let spec = self.spec.clone();
        let outcome = Arc::clone(&self.outcome);
        let state_schema = Arc::clone(&schema);
        let output = futures::stream::once(async move {
            let mut state = KeepState::new(state_schema, spec)?;
            let mut input = input;
            while let Some(batch) = input.next().await {
                state.push(batch?)?;
                reservation.try_resize(state.memory_size())?;
            }
            let (kept, rejected, stats) = state.finish()?;
            *outcome.lock().expect("outcome lock") = Outcome { stats, rejected };
            Ok::<_, DataFusionError>(futures::stream::iter(kept.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, output)))
    }
}
