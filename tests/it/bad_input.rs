//! Bad input fails the cycle with an error naming the file and row, leaves the mart as it
//! was, and an empty batch is a committed cycle of zero rows. Secrets never reach any output.

use std::path::Path;
use std::process::Command;

use crate::common::{Workspace, martsync};

const DEMO_BATCH: &str = "ecs_order_info/batch-00000.csv";

/// A source folder with the demo's first ecs batch, its lines passed through `edit`.
fn source_with(dir: &Path, edit: impl Fn(&str) -> String) {
    for table in ["uni_tracking_info", "ecs_order_info", "uni_tracking_spath"] {
        std::fs::create_dir_all(dir.join(table)).unwrap();
    }
    let text =
        std::fs::read_to_string(martsync::config::demo_fixtures_dir().join(DEMO_BATCH)).unwrap();
    std::fs::write(dir.join(DEMO_BATCH), edit(&text)).unwrap();
}

/// Turns the demo batch's text into a bad file's bytes.
type Edit = Box<dyn Fn(&str) -> Vec<u8>>;

#[test]
fn malformed_files_are_errors_naming_file_and_row_and_change_nothing() {
    let ws = Workspace::new();
    let src = ws.path("src");
    source_with(&src, |t| t.to_string());
    let config = ws.write_config(&src, "");
    let config = config.to_str().unwrap();
    let out = martsync(ws.dir.path(), &["run", "-c", config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = ws.dump("mart_ecs_order_info");
    assert!(!before.is_empty());

    let second_line = |t: &str| t.lines().nth(1).unwrap().to_string();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a value of the wrong type",
            Box::new(move |t| {
                format!("{t}{}\n", second_line(t).replace(",USD,", ",USD,x")).into_bytes()
            }),
            "at line",
        ),
        (
            "a row with too few fields",
            Box::new(|t| format!("{t}1,2\n").into_bytes()),
            "incorrect number of fields for line",
        ),
        (
            "invalid UTF-8",
            Box::new(move |t| {
                let line = second_line(t);
                let (head, tail) = line.split_once("cust-").unwrap();
                let mut bytes = t.as_bytes().to_vec();
                bytes.extend_from_slice(head.as_bytes());
                bytes.extend_from_slice(b"c\xff-");
                bytes.extend_from_slice(tail.as_bytes());
                bytes.push(b'\n');
                bytes
            }),
            "invalid UTF-8 data for line",
        ),
        (
            // Found by the csv fuzz target: Arrow's decimal parser wraps a long exponent,
            // which would load 1E65538 as 100.00.
            "a decimal with an exponent too long to be a number",
            Box::new(move |t| {
                let line = second_line(t);
                let fields: Vec<&str> = line.split(',').collect();
                let mut fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
                fields[6] = "1E65538".into();
                format!("{t}{}\n", fields.join(",")).into_bytes()
            }),
            "`1E65538` is not a decimal number",
        ),
    ];
    for (what, edit, expected) in cases {
        let text = std::fs::read_to_string(martsync::config::demo_fixtures_dir().join(DEMO_BATCH))
            .unwrap();
        // A later batch (a new file) so the run reads it.
        std::fs::write(src.join("ecs_order_info/batch-00001.csv"), edit(&text)).unwrap();
        let out = martsync(
            ws.dir.path(),
            &["run", "-c", config, "--table", "mart_ecs_order_info"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{what}: {stderr}");
        assert!(
            stderr.contains("batch-00001.csv"),
            "{what}: no file in {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{what}: no {expected:?} in {stderr}"
        );
        assert_eq!(
            ws.dump("mart_ecs_order_info"),
            before,
            "{what} changed the mart"
        );
    }

    // Truncated Parquet and JSON lines.
    std::fs::remove_file(src.join("ecs_order_info/batch-00001.csv")).unwrap();
    let demo = martsync::config::demo_fixtures_dir();
    let parquet = std::fs::read(demo.join("uni_tracking_info/batch-00000.parquet")).unwrap();
    std::fs::write(
        src.join("uni_tracking_info/batch-00000.parquet"),
        &parquet[..parquet.len() / 2],
    )
    .unwrap();
    let jsonl = std::fs::read_to_string(demo.join("uni_tracking_spath/batch-00000.jsonl")).unwrap();
    std::fs::write(
        src.join("uni_tracking_spath/batch-00000.jsonl"),
        format!(
            "{}\n{{\"order_id\": 5, \"traceSeq\": ",
            jsonl.lines().next().unwrap()
        ),
    )
    .unwrap();
    let out = martsync(ws.dir.path(), &["run", "-c", config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for expected in [
        "uni_tracking_info/batch-00000.parquet (rows from 0): not a readable Parquet file",
        "uni_tracking_spath/batch-00000.jsonl (rows from 0): Json error",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in {stderr}");
    }
}

#[test]
fn an_empty_batch_is_a_committed_cycle_of_zero_rows() {
    let ws = Workspace::new();
    let src = ws.path("src");
    source_with(&src, |_| String::new());
    let config = ws.write_config(&src, "");
    let out = martsync(
        ws.dir.path(),
        &[
            "run",
            "-c",
            config.to_str().unwrap(),
            "--report-json",
            "r.json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("r.json")).unwrap()).unwrap();
    for mart in report["marts"].as_array().unwrap() {
        assert_eq!(mart["ok"], true, "{mart}");
        assert_eq!(mart["result"]["rows_extracted"], 0, "{mart}");
        assert_eq!(mart["result"]["outcome"], "committed", "{mart}");
    }
    assert_eq!(ws.count("SELECT count(*) FROM martsync_runs"), 3);
}

/// Every output of a failing run (stdout, stderr as text and JSON, the report, the metrics
/// file, `status`, `explain`, `config check`) is searched for the passwords in its URLs.
#[test]
fn secrets_never_appear_in_any_output() {
    let ws = Workspace::new();
    let secrets = ["my-sql-pa55word", "wh-pa55word", "kms-s3cret"];
    let config = ws.path("secret.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nurl = \"mysql://reader:{}@127.0.0.1:1/tracking?ssl-mode=PREFERRED\"\nconnect_timeout = \"2s\"\n\
             [stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n",
            secrets[0],
            ws.path("stage").display(),
            ws.warehouse().display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let mut seen = String::new();
    let mut capture = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_martsync"))
            .args(args)
            .current_dir(ws.dir.path())
            .env("MARTSYNC_LOG", "martsync=debug")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        seen += &String::from_utf8_lossy(&out.stdout);
        seen += &String::from_utf8_lossy(&out.stderr);
    };
    let warehouse_env = [(
        "MARTSYNC_WAREHOUSE_URL",
        "postgres://writer:wh-pa55word@127.0.0.1:1/dw?sslmode=disable&password=kms-s3cret",
    )];
    for format in ["text", "json"] {
        capture(
            &[
                "--log-format",
                format,
                "run",
                "-c",
                config,
                "--report-json",
                "report.json",
                "--metrics-file",
                "m.prom",
            ],
            &[],
        );
        capture(
            &["--log-format", format, "run", "-c", config],
            &warehouse_env,
        );
    }
    capture(&["status", "-c", config, "--json"], &[]);
    capture(&["explain", "-c", config], &warehouse_env);
    capture(&["config", "check", "-c", config], &warehouse_env);
    capture(&["config", "check", "-c", config, "--json"], &warehouse_env);
    for file in ["report.json", "m.prom"] {
        seen += &std::fs::read_to_string(ws.path(file)).unwrap();
    }
    assert!(
        seen.contains("reader:***@"),
        "the outputs were not captured: {seen}"
    );
    for secret in secrets {
        assert!(
            !seen.contains(secret),
            "{secret} leaked into the output:\n{seen}"
        );
    }
}
