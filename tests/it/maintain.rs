//! `martsync maintain`: the upkeep after deletes runs what each warehouse needs, says why,
//! changes no row, never runs while a cycle holds the mart, and `--dry-run` runs nothing.
//! (Redshift's thresholds are decided from `svv_table_info` in `dialect::redshift_upkeep`,
//! unit-tested there; its SQL is pinned in the golden file.)

use std::path::Path;

use crate::common::{
    DESIGN_MARTS, PgSchema, Workspace, martsync, martsync_ok, parse_config, service_url,
    stderr_text as stderr, stdout_text as stdout,
};

const MARTS: [&str; 3] = DESIGN_MARTS;

fn demo_config(ws: &Workspace, warehouse: &str, extra: &str) -> String {
    format!(
        "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{warehouse}\"\n{extra}",
        martsync::config::demo_fixtures_dir().display(),
        ws.path("stage").display()
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn duckdb_checkpoints_and_analyzes_each_mart_and_changes_no_row() {
    let ws = Workspace::new();
    let cwd = ws.path("");
    let config = demo_config(&ws, &format!("duckdb://{}", ws.warehouse().display()), "");
    write(&cwd, "m.toml", &config);
    martsync_ok(&cwd, &["run", "-c", "m.toml"]);
    let before: Vec<_> = MARTS.iter().map(|m| ws.dump(m)).collect();

    let out = martsync_ok(&cwd, &["maintain", "-c", "m.toml", "--dry-run"]);
    let text = stdout(&out);
    assert_eq!(text.matches("would run CHECKPOINT").count(), 3, "{text}");
    assert!(!text.contains("  ran "), "{text}");
    for mart in MARTS {
        assert!(
            text.contains(&format!("would run ANALYZE \"{mart}\": ")),
            "{text}"
        );
    }

    let out = martsync_ok(&cwd, &["maintain", "-c", "m.toml", "--table", MARTS[0]]);
    let text = stdout(&out);
    assert!(text.contains("ran CHECKPOINT in "), "{text}");
    assert!(
        text.contains(&format!("ran ANALYZE \"{}\" in ", MARTS[0])),
        "{text}"
    );
    assert!(!text.contains(MARTS[1]), "only the mart asked for: {text}");
    let after: Vec<_> = MARTS.iter().map(|m| ws.dump(m)).collect();
    assert_eq!(before, after);
}

#[test]
fn bad_maintain_input_is_named_and_changes_nothing() {
    let ws = Workspace::new();
    let cwd = ws.path("");
    let warehouse = format!("duckdb://{}", ws.warehouse().display());
    write(&cwd, "m.toml", &demo_config(&ws, &warehouse, ""));
    martsync_ok(&cwd, &["run", "-c", "m.toml"]);
    let before: Vec<_> = MARTS.iter().map(|m| ws.dump(m)).collect();

    let out = martsync(&cwd, &["maintain", "-c", "m.toml", "--table", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no mart named `nope`"),
        "{}",
        stderr(&out)
    );

    for (value, expect) in [
        ("150", "maintenance.sort_above: 150 is not a percentage"),
        ("-1", "maintenance.sort_above: -1 is not a percentage"),
        ("\"5%\"", "sort_above"),
    ] {
        let bad = demo_config(
            &ws,
            &warehouse,
            &format!("[maintenance]\nsort_above = {value}\n"),
        );
        write(&cwd, "bad.toml", &bad);
        let out = martsync(&cwd, &["maintain", "-c", "bad.toml"]);
        assert_eq!(out.status.code(), Some(2), "{value}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{expect}: {}", stderr(&out));
    }
    let after: Vec<_> = MARTS.iter().map(|m| ws.dump(m)).collect();
    assert_eq!(before, after);
}

/// When PostgreSQL last vacuumed and analyzed each mart (by hand, not autovacuum).
async fn vacuumed(schema: &PgSchema) -> Vec<String> {
    schema
        .rows(
            "SELECT relname || ' ' || (last_vacuum IS NOT NULL) || ' ' || (last_analyze IS NOT NULL) \
             FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname LIKE 'mart_%'",
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vacuums_each_mart_but_never_while_a_cycle_holds_it() {
    let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let ws = Workspace::new();
    let cwd = ws.path("");
    let schema = PgSchema::new(&pg).await;
    let config = demo_config(&ws, &schema.url, "");
    write(&cwd, "m.toml", &config);
    write(
        &cwd,
        "short.toml",
        &config.replace("[warehouse]\n", "[warehouse]\nlock_timeout = \"1s\"\n"),
    );
    martsync_ok(&cwd, &["run", "-c", "m.toml"]);
    let never = |v: &str| {
        MARTS
            .iter()
            .all(|m| v.contains(&format!("{m} false false")))
    };

    let out = martsync_ok(&cwd, &["maintain", "-c", "m.toml", "--dry-run"]);
    let text = stdout(&out);
    assert!(text.contains("live rows"), "{text}");
    for mart in MARTS {
        assert!(
            text.contains(&format!("would run VACUUM (ANALYZE) \"{mart}\": ")),
            "{text}"
        );
    }
    let state = vacuumed(&schema).await;
    assert!(never(&state.join("\n")), "a dry run vacuumed: {state:?}");

    // A cycle holds the tracking mart: maintain waits lock_timeout, exits 3 naming it, and
    // has run nothing on it.
    let pipeline = martsync::pipeline::Pipeline::open(parse_config(&config))
        .await
        .unwrap();
    let hold = pipeline.warehouse.hold(MARTS[0]).await.unwrap();
    let out = martsync(&cwd, &["maintain", "-c", "short.toml", "--table", MARTS[0]]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("another run holds mart {}", MARTS[0])),
        "{}",
        stderr(&out)
    );
    assert!(never(&vacuumed(&schema).await.join("\n")));
    drop(hold);

    let out = martsync_ok(&cwd, &["maintain", "-c", "m.toml"]);
    assert_eq!(stdout(&out).matches("  ran VACUUM (ANALYZE) ").count(), 3);
    let state = vacuumed(&schema).await;
    for mart in MARTS {
        assert!(state.contains(&format!("{mart} true true")), "{state:?}");
    }
}
