//! The merge is data: the statements a real cycle ran are exactly those `explain` printed for
//! the same state of the mart, on every warehouse that runs here: an empty mart (PostgreSQL
//! copies straight into it) and a mart with rows (through the temp table).

use martsync::config::Config;
use martsync::pipeline::explain::explain;
use martsync::pipeline::{Input, Pipeline};
use martsync::warehouse::{Statement, StepName};

use crate::common::{PgSchema, Workspace, parse_config, service_config, service_url};

/// Every mart re-reads all its rows each cycle, so the second cycle stages rows too (as
/// `explain` assumes).
const WHOLE_LOOKBACK: &str = "[[tables]]\nname = \"mart_uni_tracking_info\"\nlookback = \"3650d\"\n\
     [[tables]]\nname = \"mart_ecs_order_info\"\nlookback = \"3650d\"\n\
     [[tables]]\nname = \"mart_uni_tracking_spath\"\nlookback = \"3650d\"\n";

async fn cycles_run_what_explain_shows(config: Config) {
    let tables = config.tables.clone();
    for round in 1..=2 {
        let plans = explain(&config, &tables).await.expect("explain");
        let pipeline = Pipeline::open(config.clone()).await.expect("open");
        for (table, plan) in tables.iter().zip(&plans) {
            // `explain` also shows what precedes the merge (DDL, the watermark query).
            let explained: Vec<&Statement> = plan
                .statements
                .iter()
                .skip_while(|s| s.name != StepName::Begin)
                .collect();
            let report = pipeline
                .cycle(table, Input::Watermark)
                .await
                .expect("cycle");
            assert!(
                report.rows_deduped > 0,
                "{}: round {round} staged nothing",
                table.name
            );
            let executed: Vec<Statement> = report
                .statements
                .iter()
                .map(|s| Statement {
                    name: s.name,
                    sql: s.sql.replace(&report.run_id, "<run_id>"),
                })
                .collect();
            let executed: Vec<&Statement> = executed.iter().collect();
            assert_eq!(
                executed, explained,
                "{}, cycle {round}: the executed statements differ from explain's",
                table.name
            );
            assert_eq!(executed.first().map(|s| s.name), Some(StepName::Begin));
            assert_eq!(executed.last().map(|s| s.name), Some(StepName::Commit));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_cycles_run_the_explained_plan() {
    let ws = Workspace::new();
    let config = ws.config(&martsync::config::demo_fixtures_dir(), WHOLE_LOOKBACK);
    cycles_run_what_explain_shows(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cycles_run_the_explained_plan() {
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = PgSchema::new(&url).await;
    let ws = Workspace::new();
    let config = parse_config(&service_config(
        &format!(
            "files://{}",
            martsync::config::demo_fixtures_dir().display()
        ),
        &format!("file://{}", ws.path("stage").display()),
        &schema.url,
        WHOLE_LOOKBACK,
    ));
    cycles_run_what_explain_shows(config).await;
}
