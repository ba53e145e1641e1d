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
