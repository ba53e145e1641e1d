//! Every statement the Redshift dialect renders, compared with its exact text in
//! `tests/golden/redshift.sql` (no Redshift runs here; PostgreSQL runs the same statement
//! shapes for real). After an intended change, regenerate the file with
//! `MARTSYNC_BLESS=1 cargo test --release dialect_golden` and review the diff.

use std::path::Path;

use martsync::warehouse::dialect::{self, Dialect};

fn render_redshift() -> String {
    // The design's marts with an Option A buffer on the tracking mart and the Gap 1 refresh
    // of the ecs mart, so their statements are pinned too.
    let config = crate::common::parse_config(
        "[[tables]]\nname = \"mart_uni_tracking_info\"\n\
         [[tables.targets]]\nname = \"stg_uni_tracking_info\"\nretention = \"20d\"\n\
         [[tables]]\nname = \"mart_ecs_order_info\"\nrefresh_from = \"uni_tracking_info\"\n\
         [[tables]]\nname = \"mart_uni_tracking_spath\"\n",
    );
    let d = Dialect::Redshift;
    let mut out = String::new();
    let mut add = |what: &str, sql: &str| out.push_str(&format!("-- {what}\n{sql};\n\n"));
    add("martsync_runs: create", &dialect::create_runs(d));
    add("check_run_id", &dialect::check_run_id(d));
    add("committed_batches", &dialect::committed_batches(d));
    add("table_exists", &dialect::table_exists(d));
    add("count_runs", &dialect::count_runs(d));
    add("recent_runs", &dialect::recent_runs(d, 20));
    add("last_copy_count", dialect::LAST_COPY_COUNT);
    add("load_errors", dialect::LOAD_ERRORS);
    for table in &config.tables {
        let mart = &table.name;
        add(&format!("{mart}: create"), &dialect::create_mart(d, table));
        assert!(
            dialect::create_indexes(d, table).is_empty(),
            "Redshift has no indexes"
        );
        add(
            &format!("{mart}: summary"),
            &dialect::mart_summary(d, table),
        );
        add(
            &format!("{mart}: max_watermark"),
            &dialect::max_watermark(d, table),
        );
        // Redshift's LOCK blocks readers: the mart is not locked, runs take its hold.
        assert_eq!(dialect::lock_mart(d, table), None);
        add(
            &format!("{mart}: create_hold_table"),
            &dialect::create_hold_table(mart),
        );
        add(
            &format!("{mart}: hold_mart"),
            &dialect::hold_mart(d, mart).unwrap(),
        );
        for sql in dialect::create_stage_table(d, table) {
            add(&format!("{mart}: create_stage_table"), &sql);
        }
        add(
            &format!("{mart}: load_stage"),
            &dialect::copy_from_manifest(
                table,
                &format!("s3://bucket/prefix/{mart}/RUN/manifest.json"),
                "arn:aws:iam::123456789012:role/martsync-copy",
            ),
        );
        // A cycle reads MySQL (the version guard off); a replay keeps it.
        for statement in dialect::merge_statements(d, &table.for_input(true)) {
            add(&format!("{mart}: {}", statement.name), &statement.sql);
        }
        for statement in dialect::merge_statements(d, &table.for_input(false)) {
            if statement.name == martsync::warehouse::StepName::DropStaleVersions {
                add(
                    &format!("{mart} replay: {}", statement.name),
                    &statement.sql,
                );
            }
        }
        if table.refresh_from.is_some() {
            for statement in dialect::merge_statements(d, &table.refresh_run()) {
                add(
                    &format!("{mart} refresh: {}", statement.name),
                    &statement.sql,
                );
            }
        }
        add(
            &format!("{mart}: drop_stage_table"),
            &dialect::drop_stage_table(d, table).unwrap(),
        );
    }
    out
}

#[test]
fn redshift_statements_match_the_golden_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/redshift.sql");
    let rendered = render_redshift();
    if std::env::var("MARTSYNC_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &rendered).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    if golden != rendered {
        for (i, (g, r)) in golden.lines().zip(rendered.lines()).enumerate() {
            assert_eq!(
                g,
                r,
                "first difference at line {} of {}",
                i + 1,
                path.display()
            );
        }
        panic!(
            "{} and the rendered SQL differ in length ({} vs {} lines)",
            path.display(),
            golden.lines().count(),
            rendered.lines().count()
        );
    }
}
