//! Every invalid config fails before any I/O, with an error naming the file and the key,
//! and leaves the warehouse untouched.

use crate::common::{Workspace, martsync};

#[test]
fn invalid_configs_name_file_and_key_and_change_nothing() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    // A warehouse with data in it, to prove a bad config changes nothing.
    let good = ws.write_config(&demo, "");
    let out = martsync(ws.dir.path(), &["run", "--config", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = std::fs::read(ws.warehouse()).unwrap();
    let marts_before = ws.dump("mart_uni_tracking_info");

    let valid = ws.config_text(&demo, "");
    let with_table = |table: &str| format!("{valid}[[tables]]\n{table}\n");
    // (what is wrong, the config, words the error must contain)
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "unknown key",
            valid.replace("[stage]\n", "[stage]\nkeeep = true\n"),
            &["keeep"],
        ),
        (
            "keep_for that is not a duration",
            valid.replace("[stage]\n", "[stage]\nkeep_for = \"a week\"\n"),
            &["stage.keep_for", "a week"],
        ),
        (
            "binlog mode on a files source",
            valid.replacen("[source]\n", "[source]\nmode = \"binlog\"\n", 1),
            &["source.mode", "mysql://"],
        ),
        (
            "unknown source mode",
            valid.replacen("[source]\n", "[source]\nmode = \"cdc\"\n", 1),
            &["cdc", "binlog"],
        ),
        (
            "unknown strategy",
            with_table("name = \"mart_uni_tracking_info\"\nstrategy = \"lastest\""),
            &["lastest", "strategy"],
        ),
        (
            "key column absent from the source",
            with_table("name = \"mart_uni_tracking_info\"\nkey = \"order_idd\""),
            &["tables[0].key", "order_idd", "uni_tracking_info"],
        ),
        (
            "version column absent from the source",
            with_table("name = \"mart_uni_tracking_info\"\nversion = \"updated\""),
            &["tables[0].version", "updated"],
        ),
        (
            "sort key column absent from the source",
            with_table("name = \"mart_ecs_order_info\"\nsort_key = [\"partner\", \"add_time\"]"),
            &["tables[0].sort_key", "partner", "ecs_order_info"],
        ),
        (
            "max_deletes that is neither a count nor a share",
            with_table("name = \"mart_uni_tracking_info\"\nmax_deletes = \"lots\""),
            &["tables[0].max_deletes", "`lots`", "1%"],
        ),
        (
            "max_deletes share past 100%",
            with_table("name = \"mart_uni_tracking_info\"\nmax_deletes = \"150%\""),
            &["tables[0].max_deletes", "`150%`"],
        ),
        (
            "delete_missing that is not a duration",
            with_table("name = \"mart_uni_tracking_info\"\ndelete_missing = \"weekly\""),
            &["tables[0].delete_missing", "weekly"],
        ),
        (
            "maintenance threshold past 100",
            format!("{valid}[maintenance]\nanalyze_above = 101\n"),
            &["maintenance.analyze_above", "101"],
        ),
        (
            "empty sort key",
            with_table("name = \"mart_ecs_order_info\"\nsort_key = []"),
            &["tables[0].sort_key", "at least one"],
        ),
        (
            "dist key column absent from the source",
            with_table("name = \"mart_ecs_order_info\"\ndist_key = \"order\""),
            &["tables[0].dist_key", "order"],
        ),
        (
            "bad duration",
            with_table("name = \"mart_ecs_order_info\"\nlookback = \"30 minutes!\""),
            &["tables[0].lookback", "30 minutes!"],
        ),
        (
            "bad warehouse URL",
            valid.replace("duckdb://", "snowflake://"),
            &["warehouse.url", "snowflake"],
        ),
        (
            "unsafe table name",
            with_table("name = \"x; drop table y\"\nsource = \"ecs_order_info\""),
            &["tables[0].name", "drop table"],
        ),
        (
            "a target named like a mart",
            with_table(
                "name = \"mart_uni_tracking_info\"\n[[tables.targets]]\nname = \"martsync_runs\"",
            ),
            &[
                "tables[0].targets[0].name",
                "martsync_runs",
                "already written",
            ],
        ),
        (
            "a target with a bad retention",
            with_table(
                "name = \"mart_uni_tracking_info\"\n[[tables.targets]]\nname = \"stg\"\nretention = \"20 dayz\"",
            ),
            &["tables[0].targets[0].retention", "20 dayz"],
        ),
        (
            "refresh_from a source no mart reads",
            with_table("name = \"mart_ecs_order_info\"\nrefresh_from = \"uni_tracking_info\""),
            &[
                "tables[0].refresh_from",
                "uni_tracking_info",
                "no other configured mart",
            ],
        ),
        (
            "refresh_from a source without the key column",
            format!(
                "{}name = \"mart_uni_tracking_spath\"\nrefresh_from = \"ecs_order_info\"\n\
                 [[tables]]\nname = \"mart_ecs_order_info\"\n",
                with_table("")
            ),
            &["tables[0].refresh_from", "one key column"],
        ),
    ];
    for (what, text, words) in cases {
        let path = ws.path("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = martsync(ws.dir.path(), &["run", "--config", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("bad.toml"),
            "{what}: the error does not name the file: {stderr}"
        );
        for word in words {
            assert!(
                stderr.contains(word),
                "{what}: the error does not mention `{word}`: {stderr}"
            );
        }
        assert_eq!(
            std::fs::read(ws.warehouse()).unwrap(),
            before,
            "{what}: the warehouse changed"
        );
    }
    assert_eq!(ws.dump("mart_uni_tracking_info"), marts_before);
}

/// Names that are SQL reserved words and mixed case (a mart `Order` with a buffer `Group`)
/// work wherever martsync writes them: DDL, the hold, the merge, the ledger, `status` and
/// `explain`, on DuckDB and PostgreSQL, also when the warehouse is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_and_mixed_case_names_are_quoted_everywhere() {
    use martsync::generate::{FileFormat, uti_batch, write_batch};
    let uti = |order_id: i64, version: i64| {
        crate::common::uti_row(order_id, 1_767_225_600 + version, &format!("v{version}"))
    };
    let mut warehouses = vec![None];
    if let Some(url) = crate::common::service_url("MARTSYNC_TEST_POSTGRES_URL") {
        warehouses.push(Some(crate::common::PgSchema::new(&url).await));
    }
    for pg in warehouses {
        let ws = Workspace::new();
        let input = ws.path("input");
        for (i, rows) in [vec![uti(1, 1), uti(2, 1)], vec![uti(1, 2), uti(3, 2)]]
            .iter()
            .enumerate()
        {
            let path = input.join(format!("uni_tracking_info/b-{i}.parquet"));
            write_batch(&path, &uti_batch(rows), FileFormat::Parquet).unwrap();
        }
        let warehouse = match &pg {
            Some(schema) => schema.url.clone(),
            None => format!("duckdb://{}", ws.warehouse().display()),
        };
        let config = ws.path("names.toml");
        std::fs::write(
            &config,
            format!(
                "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n\
                 [warehouse]\nurl = \"{warehouse}\"\n\
                 [[tables]]\nname = \"Order\"\nsource = \"uni_tracking_info\"\nstrategy = \"latest\"\n\
                 key = \"order_id\"\nversion = \"update_time\"\nwatermark = \"update_time\"\n\
                 [[tables.targets]]\nname = \"Group\"\n",
                input.display(),
                ws.path("stage").display()
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        let from = input.to_str().unwrap();
        for args in [
            &["replay", "-c", config, "--from", from][..],
            &["run", "-c", config],
            &["status", "-c", config],
            &["explain", "-c", config],
        ] {
            let out = martsync(ws.dir.path(), args);
            assert!(
                out.status.success(),
                "{args:?} on {warehouse}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for table in ["Order", "Group"] {
            let sql = format!(
                "SELECT CAST(order_id AS VARCHAR) || ':' || last_event FROM \"{}\"",
                table.to_lowercase()
            );
            let rows = match &pg {
                Some(schema) => schema.rows(&sql).await,
                None => crate::common::duckdb_strings(&ws.warehouse(), &sql),
            };
            assert_eq!(rows, ["1:v2", "2:v1", "3:v2"], "{table} on {warehouse}");
        }
    }
}
