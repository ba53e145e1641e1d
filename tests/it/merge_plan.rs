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

/// PostgreSQL finds the mart's rows a run replaces by the key alone: the stale-version drop
/// and the DELETE join the temp table to the mart on the key only (a hash or merge join on
/// another column compared every pair of rows sharing its value: with a bulk update's rows
/// sharing one update_time, a drop ran for minutes), and the DELETE probes the key index
/// (a hash join scans the whole mart, whatever the run's size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_merge_joins_the_mart_on_its_key_only() {
    use martsync::warehouse::dialect::{self, Dialect, Load};
    use martsync::warehouse::plan::Bind;
    let Some(url) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = PgSchema::new(&url).await;
    let config = parse_config(&service_config(
        "files:///nowhere",
        "file:///nowhere",
        &schema.url,
        "",
    ));
    let table = config
        .tables
        .iter()
        .find(|t| t.name == "mart_uni_tracking_info")
        .expect("the tracking mart");
    let client = schema.client().await;
    client
        .batch_execute(&dialect::create_mart(Dialect::Postgres, table))
        .await
        .unwrap();
    for index in dialect::create_indexes(Dialect::Postgres, table) {
        client.batch_execute(&index.sql).await.unwrap();
    }
    // 20k orders, 3k of them updated in one bulk statement (one update_time); the run
    // re-reads those 3k unchanged and brings 3k others changed, again sharing one time.
    let mart = &table.name;
    client
        .batch_execute(&format!(
            "INSERT INTO {mart} SELECT g, 'TN' || g, 1, 'ups', 1, 10, 'in transit', 'hub', NULL, \
             1700000000, 1700000000 + g FROM generate_series(1, 20000) g; \
             UPDATE {mart} SET status = 4, last_event = 'delivered', update_time = 1800000000 \
             WHERE order_id <= 3000; ANALYZE {mart}"
        ))
        .await
        .unwrap();
    // A cycle's plan (MySQL's current rows: unchanged rows dropped) and a replay's (the
    // version guard: stale versions dropped too), on the branch of a mart with rows.
    let plans = [true, false]
        .map(|live| dialect::merge_plan(Dialect::Postgres, &table.for_input(live), &Load::Stdin));
    let steps: Vec<_> = plans
        .iter()
        .flat_map(|p| &p.steps)
        .filter(|s| s.on_branch(false))
        .collect();
    client.batch_execute("BEGIN").await.unwrap();
    for sql in dialect::create_stage_table(Dialect::Postgres, table) {
        client.batch_execute(&sql).await.unwrap();
    }
    let stage = dialect::stage_table(table);
    client
        .batch_execute(&format!(
            "INSERT INTO {stage} SELECT * FROM {mart} WHERE order_id <= 3000; \
             INSERT INTO {stage} SELECT order_id, tracking_no, partner_id, carrier_code, 5, \
             last_code, 'out for delivery', last_location, delivered_at, add_time, 1800000900 \
             FROM {mart} WHERE order_id > 3000 AND order_id <= 6000"
        ))
        .await
        .unwrap();
    let other_columns: Vec<&str> = table
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !table.key.iter().any(|k| k == c))
        .collect();
    let checked = [
        StepName::DropStaleVersions,
        StepName::DropUnchangedRows,
        StepName::DeleteReplaced,
    ];
    for step in steps.iter().filter(|s| checked.contains(&s.name)) {
        let name = step.name;
        let explain = format!("EXPLAIN {}", step.sql);
        let rows = match step.bind {
            Bind::MinVersion => client.query(&explain, &[&1_800_000_000i64]).await,
            _ => client.query(&explain, &[]).await,
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        // A join condition names the temp table; `Index Cond: (update_time >= …)` is the
        // version range, a filter of the mart alone.
        let joins = plan
            .iter()
            .filter(|l| l.contains("Cond:") && l.contains(stage.trim_matches('"')));
        for line in joins {
            for column in &other_columns {
                assert!(
                    !line.contains(column),
                    "{name} joins the mart on {column}, not its key alone:\n{}",
                    plan.join("\n")
                );
            }
        }
        if name == StepName::DeleteReplaced {
            assert!(
                plan.iter().any(|l| l.contains("Index Cond")),
                "the DELETE does not probe the key index:\n{}",
                plan.join("\n")
            );
        }
    }
    client.batch_execute("ROLLBACK").await.unwrap();
}
