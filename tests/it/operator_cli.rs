//! What operators use around a run: `explain` / `--dry-run`, `config check`, the generated
//! config reference, JSON logs, the Prometheus metrics file, exit codes, completions and
//! `--version`.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{
    DESIGN_MARTS, Workspace, martsync, stderr_text as stderr, stdout_text as stdout,
};

const MARTS: [&str; 3] = DESIGN_MARTS;

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    out
}

#[test]
fn explain_and_dry_run_show_the_cycle_and_write_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [&["explain"][..], &["run", "--dry-run"]] {
        let text = stdout(&ok(martsync(cwd.path(), args)));
        for expected in [
            "== mart_uni_tracking_info (latest, from uni_tracking_info)",
            "the mart does not exist yet",
            "-- create_mart",
            // A mart that does not exist yet will be empty: the run loads straight into it.
            "-- check_empty",
            "-- load_stage",
            "INSERT INTO \"mart_uni_tracking_info\" (",
            "read_parquet([",
            "-- retention_trim",
            "-- commit",
        ] {
            assert!(
                text.contains(expected),
                "{args:?}: no {expected:?} in:\n{text}"
            );
        }
        for unexpected in ["-- delete_replaced", "-- insert_new_rows", "stage_mart_"] {
            assert!(
                !text.contains(unexpected),
                "{args:?}: {unexpected:?} for an empty mart in:\n{text}"
            );
        }
        assert!(
            !cwd.path().join(".martsync").exists(),
            "{args:?} created files"
        );
    }

    ok(martsync(cwd.path(), &["run"]));
    let text = stdout(&ok(martsync(
        cwd.path(),
        &["explain", "--table", "mart_uni_tracking_info"],
    )));
    assert!(!text.contains("create_mart"), "{text}");
    // Integer watermarks are epoch seconds: shown as both.
    assert!(text.contains(" UTC); extracts update_time > 17"), "{text}");
    assert!(text.contains("(lookback 30m)"), "{text}");
    assert!(
        !text.contains("mart_ecs_order_info"),
        "--table selects: {text}"
    );

    let plans: serde_json::Value =
        serde_json::from_str(&stdout(&ok(martsync(cwd.path(), &["explain", "--json"])))).unwrap();
    let plans = plans.as_array().unwrap();
    assert_eq!(plans.len(), 3);
    for plan in plans {
        assert_eq!(plan["mart_exists"], true);
        let names: Vec<&str> = plan["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.first(), Some(&"max_watermark"), "{names:?}");
        assert_eq!(names.get(1), Some(&"begin"), "{names:?}");
        assert_eq!(names.last(), Some(&"commit"), "{names:?}");
        assert!(names.contains(&"record_run"), "{names:?}");
        // The mart's watermark minus the 30-minute lookback.
        let (max, above) = (
            plan["mart_max_watermark"].as_i64().unwrap(),
            plan["extract_above"].as_i64().unwrap(),
        );
        assert!(above < max, "{plan}");
    }
}

/// PostgreSQL renders its own load (binary COPY) and, into an empty mart, copies straight in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_renders_the_postgres_statements() {
    let Some(url) = crate::common::service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = crate::common::PgSchema::new(&url).await;
    let ws = Workspace::new();
    let config = ws.path("pg.toml");
    std::fs::write(
        &config,
        crate::common::service_config(
            &format!(
                "files://{}",
                martsync::config::demo_fixtures_dir().display()
            ),
            &format!("file://{}", ws.path("stage").display()),
            &schema.url,
            "",
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let text = stdout(&ok(martsync(ws.dir.path(), &["explain", "-c", config])));
    assert!(text.contains("-- check_empty"), "{text}");
    assert!(
        text.contains("COPY \"mart_uni_tracking_info\" (")
            && text.contains("FROM STDIN (FORMAT binary)"),
        "an initial load copies into the mart: {text}"
    );
    assert!(!text.contains("delete_replaced"), "{text}");
    ok(martsync(ws.dir.path(), &["run", "-c", config]));
    let text = stdout(&ok(martsync(ws.dir.path(), &["explain", "-c", config])));
    for expected in [
        "LOCK TABLE \"mart_uni_tracking_info\" IN SHARE ROW EXCLUSIVE MODE",
        "CREATE TEMP TABLE",
        "-- delete_replaced",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(!text.contains(":martsync@"), "password shown: {text}");
}

#[test]
fn config_check_resolves_defaults_masks_secrets_and_rejects_bad_configs() {
    let ws = Workspace::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/martsync.toml");
    let text = stdout(&ok(martsync(
        ws.dir.path(),
        &["config", "check", "--config", example.to_str().unwrap()],
    )));
    for expected in [
        ": valid",
        "batch_rows = 65536",
        "part_rows = 1000000",
        "sse = \"aws:kms\"",
        "iam_role = \"arn:aws:iam::123456789012:role/martsync-copy\"",
        "lookback = \"30m\"",
        "retention = \"180d\"",
        "strategy = \"latest\"",
        "version_guard = \"replays\"",
        "key = [\"order_id\", \"traceseq\", \"pathtime\"]",
        "sort_key = [\"partner_id\", \"add_time\", \"order_id\"]",
        "dist_key = \"order_id\"",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    // The resolved config is itself a valid config.
    std::fs::write(ws.path("resolved.toml"), text.as_bytes()).unwrap();
    ok(martsync(
        ws.dir.path(),
        &["config", "check", "-c", "resolved.toml"],
    ));

    let secret = ws.path("secret.toml");
    std::fs::write(
        &secret,
        "[source]\nurl = \"mysql://reader:pa55-w0rd@db:3306/t?ssl-mode=REQUIRED\"\n",
    )
    .unwrap();
    let out = ok(martsync(
        ws.dir.path(),
        &["config", "check", "--json", "-c", secret.to_str().unwrap()],
    ));
    let resolved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        resolved["source"]["url"],
        "mysql://reader:***@db:3306/t?ssl-mode=REQUIRED"
    );
    assert!(!stdout(&out).contains("pa55-w0rd"));

    let bad = ws.path("bad.toml");
    std::fs::write(
        &bad,
        "[[tables]]\nname = \"mart_uni_tracking_info\"\nlookback = \"soon\"\n",
    )
    .unwrap();
    let out = martsync(
        ws.dir.path(),
        &["config", "check", "-c", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tables[0].lookback"),
        "{}",
        stderr(&out)
    );
}

/// `docs/config.md` is generated from the config structs; a change to them without
/// regenerating fails here. `MARTSYNC_BLESS=1` rewrites the file.
/// Redshift's sort and distribution keys are configuration: defaults follow the source
/// table (a renamed ecs mart keeps the seed's partner_id sort key), and `sort_key` /
/// `dist_key` set them, shown by `ddl` and `config check`.
#[test]
fn the_physical_design_is_configuration() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    let config = ws.write_config(
        &demo,
        "[[tables]]\nname = \"ecs_orders_v2\"\nsource = \"ecs_order_info\"\n\
         strategy = \"append\"\nkey = \"order_id\"\nwatermark = \"add_time\"\n\
         [[tables]]\nname = \"mart_uni_tracking_info\"\n\
         sort_key = [\"partner_id\", \"update_time\"]\ndist_key = \"partner_id\"\n",
    );
    let config = config.to_str().unwrap();
    let ddl = stdout(&ok(martsync(
        ws.dir.path(),
        &["ddl", "--dialect", "redshift", "--config", config],
    )));
    for expected in [
        "CREATE TABLE IF NOT EXISTS \"ecs_orders_v2\"",
        "DISTKEY(\"order_id\")\nCOMPOUND SORTKEY(\"partner_id\", \"add_time\", \"order_id\")",
        "DISTKEY(\"partner_id\")\nCOMPOUND SORTKEY(\"partner_id\", \"update_time\")",
    ] {
        assert!(ddl.contains(expected), "no {expected:?} in:\n{ddl}");
    }
    let check = stdout(&ok(martsync(
        ws.dir.path(),
        &["config", "check", "--config", config],
    )));
    for expected in [
        "sort_key = [\"partner_id\", \"update_time\"]",
        "dist_key = \"partner_id\"",
    ] {
        assert!(check.contains(expected), "no {expected:?} in:\n{check}");
    }
}

#[test]
fn the_config_reference_is_current_and_complete() {
    let generated = martsync::cli::config_reference();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md");
    if std::env::var_os("MARTSYNC_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/config.md is stale: run `cargo run --release -- config docs > docs/config.md`"
    );
    // Every key of the structs has its entry, with a default and an example.
    let schema = martsync::cli::config_schema();
    for section in [
        "SourceSection",
        "StageSection",
        "WarehouseSection",
        "TableSection",
    ] {
        let keys = schema["$defs"][section]["properties"].as_object().unwrap();
        assert!(keys.len() >= 2, "{section}");
        for key in keys.keys() {
            let prefix = match section {
                "SourceSection" => "source",
                "StageSection" => "stage",
                "WarehouseSection" => "warehouse",
                _ => "tables",
            };
            let heading = format!("### `{prefix}.{key}`");
            let entry = generated
                .split(&heading)
                .nth(1)
                .unwrap_or_else(|| panic!("no entry for {prefix}.{key}"));
            let entry = entry.split("\n### ").next().unwrap();
            assert!(entry.contains("Default: "), "{heading}: {entry}");
            assert!(entry.contains(&format!("\n{key} = ")), "{heading}: {entry}");
        }
    }
    // The examples in the reference are valid config (one key at a time).
    for block in generated.split("```toml\n").skip(1) {
        let toml = block.split("```").next().unwrap();
        let toml = if toml.starts_with("[[tables]]") && !toml.contains("\nname = ") {
            toml.replace(
                "[[tables]]\n",
                "[[tables]]\nname = \"mart_uni_tracking_info\"\n",
            )
        } else {
            toml.to_string()
        };
        let toml = toml.replace(
            "[warehouse]\nurl = \"redshift",
            "[warehouse]\nurl = \"postgres",
        );
        let raw = martsync::config::RawConfig::parse(&toml, "docs example");
        assert!(raw.is_ok(), "{toml}: {:?}", raw.err());
    }
}

#[test]
fn json_logs_and_the_metrics_file_describe_each_cycle() {
    let cwd = tempfile::tempdir().unwrap();
    let out = ok(Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args([
            "--log-format",
            "json",
            "run",
            "--metrics-file",
            "martsync.prom",
        ])
        .args(["--report-json", "report.json"])
        .current_dir(cwd.path())
        .env("MARTSYNC_LOG", "martsync=info")
        .output()
        .unwrap());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.path().join("report.json")).unwrap()).unwrap();

    // Every stderr line is one JSON object; each phase of each mart is an event with the
    // stable fields.
    let events: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for mart in MARTS {
        for phase in ["extract", "dedup", "stage", "merge", "cycle"] {
            let event = events
                .iter()
                .find(|e| e["table"] == mart && e["phase"] == phase)
                .unwrap_or_else(|| panic!("no {phase} event for {mart}"));
            for field in ["run_id", "rows", "ms", "level", "timestamp", "message"] {
                assert!(!event[field].is_null(), "{field} missing: {event}");
            }
        }
    }

    let text = std::fs::read_to_string(cwd.path().join("martsync.prom")).unwrap();
    let samples = parse_prometheus(&text);
    for entry in report["marts"].as_array().unwrap() {
        let mart = entry["mart"].as_str().unwrap();
        let table = format!("command=\"run\",table=\"{mart}\"");
        assert_eq!(samples[&format!("martsync_cycle_success{{{table}}}")], 1.0);
        assert_eq!(
            samples[&format!("martsync_cycle_rows{{{table},step=\"inserted\"}}")],
            entry["result"]["rows_inserted"].as_f64().unwrap()
        );
        assert_eq!(
            samples[&format!("martsync_cycle_duration_seconds{{{table},phase=\"total\"}}")],
            entry["result"]["total_ms"].as_f64().unwrap() / 1000.0
        );
        // Into an empty mart: what the cycle inserted and did not trim is the mart.
        let result = &entry["result"];
        assert_eq!(
            samples[&format!("martsync_mart_rows{{{table}}}")],
            result["rows_inserted"].as_f64().unwrap() - result["rows_trimmed"].as_f64().unwrap()
        );
        let lag = samples[&format!("martsync_mart_lag_seconds{{{table}}}")];
        assert!((0.0..600.0).contains(&lag), "{lag}");
        for (statement, ms) in result["timings"].as_object().unwrap() {
            assert_eq!(
                samples[&format!(
                    "martsync_merge_statement_seconds{{{table},statement=\"{statement}\"}}"
                )],
                ms.as_f64().unwrap() / 1000.0
            );
        }
        assert!(result["timings"]["load"].is_number(), "{result}");
        assert_eq!(
            samples[&format!("martsync_merge_delete_slow{{{table}}}")],
            0.0
        );
    }
    // status shows each mart's slowest merge statement.
    let out = martsync(cwd.path(), &["status", "--no-source"]);
    assert_eq!(
        stdout(&out).matches("  slowest statement: ").count(),
        MARTS.len(),
        "{}",
        stdout(&out)
    );
    let leftovers: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A failed run replaces the file: success 0 and the phase it failed in.
    let config = cwd.path().join("down.toml");
    std::fs::write(
        &config,
        "[source]\nurl = \"mysql://reader:pw@127.0.0.1:1/tracking\"\n",
    )
    .unwrap();
    let out = martsync(
        cwd.path(),
        &["run", "-c", "down.toml", "--metrics-file", "martsync.prom"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let samples =
        parse_prometheus(&std::fs::read_to_string(cwd.path().join("martsync.prom")).unwrap());
    let table = "command=\"run\",table=\"mart_ecs_order_info\"";
    assert_eq!(samples[&format!("martsync_cycle_success{{{table}}}")], 0.0);
    assert_eq!(
        samples[&format!("martsync_cycle_failed_phase{{{table},phase=\"extract\"}}")],
        1.0
    );
    assert!(!samples.keys().any(|k| k.starts_with("martsync_cycle_rows")));
    // The marts are still there, and their lag keeps growing while cycles fail.
    assert!(samples[&format!("martsync_mart_lag_seconds{{{table}}}")] >= 0.0);
    assert!(samples[&format!("martsync_mart_rows{{{table}}}")] > 0.0);
}

/// The text format as node_exporter reads it: every sample's family has HELP and TYPE
/// before it, names and labels are well formed, values are numbers, no sample repeats.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name in {line:?}"
        );
        assert!(typed.contains(name), "no TYPE before {line:?}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line:?}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').unwrap();
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line:?}"
                );
                assert!(v.starts_with('"') && v.ends_with('"'), "{line:?}");
            }
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "repeated {line:?}"
        );
    }
    samples
}

/// One code per kind of failure, as documented in `--help` and the README.
#[test]
fn exit_codes_name_the_kind_of_failure() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();

    let out = martsync(ws.dir.path(), &["run", "--no-such-flag"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad command line: {}",
        stderr(&out)
    );
    let out = martsync(ws.dir.path(), &["run", "--table", "nope"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown mart: {}",
        stderr(&out)
    );

    // A stage that cannot be written: its folder is a file.
    std::fs::write(ws.path("not-a-dir"), "x").unwrap();
    let config = ws.path("stage.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}/sub\"\n[warehouse]\nurl = \"duckdb://{}\"\n",
            demo.display(),
            ws.path("not-a-dir").display(),
            ws.path("other.duckdb").display()
        ),
    )
    .unwrap();
    let out = martsync(ws.dir.path(), &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "stage: {}", stderr(&out));

    // A warehouse statement that fails: the mart exists with other columns.
    let config = ws.write_config(&demo, "");
    {
        let conn = duckdb::Connection::open(ws.warehouse()).unwrap();
        conn.execute_batch("CREATE TABLE mart_ecs_order_info (order_id BIGINT)")
            .unwrap();
    }
    let out = martsync(
        ws.dir.path(),
        &[
            "run",
            "-c",
            config.to_str().unwrap(),
            "--table",
            "mart_ecs_order_info",
        ],
    );
    assert_eq!(out.status.code(), Some(6), "warehouse: {}", stderr(&out));
    assert!(
        stderr(&out).contains("mart_ecs_order_info"),
        "{}",
        stderr(&out)
    );

    let help = stdout(&ok(martsync(ws.dir.path(), &["--help"])));
    assert!(help.contains("6 warehouse failed"), "{help}");
}

#[test]
fn completions_and_version() {
    let cwd = tempfile::tempdir().unwrap();
    let bash = stdout(&ok(martsync(cwd.path(), &["completions", "bash"])));
    assert!(
        bash.contains("_martsync()") && bash.contains("explain"),
        "{bash}"
    );
    let script = cwd.path().join("martsync.bash");
    std::fs::write(&script, &bash).unwrap();
    ok(Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap());
    let zsh = stdout(&ok(martsync(cwd.path(), &["completions", "zsh"])));
    assert!(zsh.starts_with("#compdef martsync"), "{zsh}");
    let fish = stdout(&ok(martsync(cwd.path(), &["completions", "fish"])));
    assert!(fish.contains("complete -c martsync"), "{fish}");
    let out = martsync(cwd.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let version = stdout(&ok(martsync(cwd.path(), &["--version"])));
    assert!(
        version.starts_with(&format!("martsync {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(
            version.contains(&format!("(commit {head})")),
            "{version} vs HEAD {head}"
        );
    }
}

/// A mart whose recent DELETEs passed `warehouse.warn_delete_after` is warned about by
/// `status` (text and JSON), with the threshold and the count; the others are not.
#[test]
fn status_warns_of_a_delete_past_warn_delete_after() {
    let cwd = tempfile::tempdir().unwrap();
    ok(martsync(cwd.path(), &["run"]));
    // One more run of the tracking mart whose DELETE took 6 minutes, as the ledger records it.
    let conn = duckdb::Connection::open(cwd.path().join(".martsync/warehouse.duckdb")).unwrap();
    conn.execute_batch(
        "INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, rows_extracted, \
         rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, \
         extract_ms, dedup_ms, stage_ms, merge_ms, delete_ms) VALUES ('slow', \
         'mart_uni_tracking_info', 'run', now(), now(), 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 360000, 360000)",
    )
    .unwrap();
    drop(conn);
    let out = ok(martsync(cwd.path(), &["status", "--no-source"]));
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARNING")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    for word in ["warn_delete_after = 5m", "1 of the last", "slowest 6m"] {
        assert!(warnings[0].contains(word), "{word} not in {}", warnings[0]);
    }
    // It is the tracking mart's: its block is the one the warning is in.
    let block = text
        .split("\nmart_")
        .find(|b| b.contains("WARNING"))
        .unwrap();
    assert!(block.starts_with("uni_tracking_info"), "{block}");

    // The status page says it too, in the tracking mart's section only.
    ok(martsync(
        cwd.path(),
        &["status", "--no-source", "--html", "status.html"],
    ));
    let page = std::fs::read_to_string(cwd.path().join("status.html")).unwrap();
    assert_eq!(page.matches("<p class=\"warning\">").count(), 1, "{page}");
    let section = page
        .split("<section class=\"mart\" id=\"")
        .find(|s| s.contains("class=\"warning\""))
        .unwrap();
    assert!(section.starts_with("mart_uni_tracking_info\""), "{section}");
    assert_eq!(page.matches("slowest statement <b>").count(), MARTS.len());

    let out = ok(martsync(cwd.path(), &["status", "--no-source", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let slow: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["slow_deletes"].is_null())
        .collect();
    assert_eq!(slow.len(), 1, "{json}");
    assert_eq!(slow[0]["mart"], "mart_uni_tracking_info");
    assert_eq!(slow[0]["slow_deletes"]["max_ms"], 360000);
    assert_eq!(slow[0]["slowest_statement"]["statement"], "delete");
}
