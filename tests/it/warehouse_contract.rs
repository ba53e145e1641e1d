//! The `Warehouse` contract (see `martsync::warehouse::Warehouse`), checked on every
//! warehouse that runs here: merges are atomic, idempotent per run id, and version-guarded.

use martsync::generate::{Uti, uti_batch};
use martsync::pipeline::{Pipeline, new_run_id};
use martsync::stage::{self, StagedRun};
use martsync::warehouse::{MergeOutcome, MergeRequest, RunRecord};

use crate::common::{Workspace, dump_expected};

const UTI_ONLY: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\n";

fn uti(order_id: i64, version: i32, event: &str) -> Uti {
    Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 3,
        carrier_code: None,
        status: 2,
        last_code: Some(200),
        last_event: Some(event.into()),
        last_location: None,
        delivered_at: None,
        add_time: 1_767_225_600,
        update_time: 1_767_225_600 + version,
    }
}

async fn stage_rows(pipeline: &Pipeline, run_id: &str, rows: &[Uti]) -> StagedRun {
    let table = &pipeline.config.tables[0];
    let schema = table.schema.arrow_schema();
    stage::write_run(
        pipeline.stage.as_ref(),
        &table.name,
        run_id,
        &schema,
        vec![uti_batch(rows)],
        &[],
        1000,
    )
    .await
    .unwrap()
}

async fn merge(
    pipeline: &Pipeline,
    run_id: &str,
    staged: &StagedRun,
) -> martsync::Result<MergeOutcome> {
    let table = &pipeline.config.tables[0];
    let record = RunRecord {
        run_id: run_id.to_string(),
        mart: table.name.clone(),
        batch: "test".into(),
        rows_extracted: staged.rows,
        rows_deduped: staged.rows,
        ..RunRecord::default()
    };
    pipeline
        .warehouse
        .merge(MergeRequest {
            table,
            staged,
            stage: pipeline.stage.as_ref(),
            record,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_keeps_the_warehouse_contract() {
    let ws = Workspace::new();
    let pipeline = ws.pipeline(&ws.path("unused"), UTI_ONLY).await;

    // Version guard: greater or equal replaces, smaller does not.
    let first = new_run_id();
    let staged = stage_rows(&pipeline, &first, &[uti(1, 10, "a"), uti(2, 10, "a")]).await;
    let outcome = merge(&pipeline, &first, &staged).await.unwrap();
    assert_eq!(
        (outcome.inserted, outcome.deleted, outcome.already_committed),
        (2, 0, false)
    );
    let second = new_run_id();
    let staged2 = stage_rows(&pipeline, &second, &[uti(1, 10, "tie"), uti(2, 5, "older")]).await;
    let outcome = merge(&pipeline, &second, &staged2).await.unwrap();
    assert_eq!((outcome.inserted, outcome.deleted), (1, 1));

    // Idempotent per run id: the same run again changes nothing.
    let again = merge(&pipeline, &second, &staged2).await.unwrap();
    assert!(again.already_committed);
    assert_eq!((again.inserted, again.deleted), (0, 0));

    // Atomic: a run whose staged file vanished fails, names mart, run and statement, and
    // changes nothing.
    let third = new_run_id();
    let staged3 = stage_rows(&pipeline, &third, &[uti(1, 99, "lost"), uti(3, 99, "lost")]).await;
    std::fs::remove_file(pipeline.stage.local_path(&staged3.parts[0].key).unwrap()).unwrap();
    let error = merge(&pipeline, &third, &staged3)
        .await
        .unwrap_err()
        .to_string();
    for word in ["mart_uni_tracking_info", third.as_str(), "load_stage"] {
        assert!(error.contains(word), "{word} missing from: {error}");
    }
    let runs = pipeline
        .warehouse
        .committed_batches("mart_uni_tracking_info")
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "only the label `test` is recorded");
    drop(pipeline);

    assert_eq!(
        ws.dump("mart_uni_tracking_info"),
        dump_expected(&[uti_batch(&[uti(1, 10, "tie"), uti(2, 10, "a")])])
    );
    assert_eq!(ws.count("SELECT count(*) FROM martsync_runs"), 2);
}
