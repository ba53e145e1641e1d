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
    // The bad line is appended: the file's last row, whose number (Arrow's CSV reader counts
    // rows after the header from 1) is the demo file's line count, header included.
    let demo_lines =
        std::fs::read_to_string(martsync::config::demo_fixtures_dir().join(DEMO_BATCH))
            .unwrap()
            .lines()
            .count();
    let wrong_type_at = format!("at line {demo_lines}. Row data: '[9000020,");
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a value of the wrong type",
            Box::new(move |t| {
                format!("{t}{}\n", second_line(t).replace(",USD,", ",USD,x")).into_bytes()
            }),
            &wrong_type_at,
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
        // The bad file's good rows are new orders (9xxxxxx), so a run that committed them and
        // skipped the bad line would change the mart.
        let text = std::fs::read_to_string(martsync::config::demo_fixtures_dir().join(DEMO_BATCH))
            .unwrap();
        let text = new_orders(&text);
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

    // Truncated Parquet and JSON lines, after a good first batch of each table: the marts
    // keep that batch's rows and nothing of the truncated one's (its first JSON line is a
    // complete new row).
    std::fs::remove_file(src.join("ecs_order_info/batch-00001.csv")).unwrap();
    let demo = martsync::config::demo_fixtures_dir();
    for file in [
        "uni_tracking_info/batch-00000.parquet",
        "uni_tracking_spath/batch-00000.jsonl",
    ] {
        std::fs::copy(demo.join(file), src.join(file)).unwrap();
    }
    let out = martsync(ws.dir.path(), &["run", "-c", config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let marts = ["mart_uni_tracking_info", "mart_uni_tracking_spath"];
    let before: Vec<_> = marts.iter().map(|m| ws.dump(m)).collect();
    assert!(before.iter().all(|rows| !rows.is_empty()));
    let parquet = std::fs::read(demo.join("uni_tracking_info/batch-00001.parquet")).unwrap();
    std::fs::write(
        src.join("uni_tracking_info/batch-00001.parquet"),
        &parquet[..parquet.len() / 2],
    )
    .unwrap();
    let jsonl = std::fs::read_to_string(demo.join("uni_tracking_spath/batch-00001.jsonl")).unwrap();
    std::fs::write(
        src.join("uni_tracking_spath/batch-00001.jsonl"),
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
        "uni_tracking_info/batch-00001.parquet (rows from 0): not a readable Parquet file",
        "uni_tracking_spath/batch-00001.jsonl (rows from 0): Json error",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in {stderr}");
    }
    let after: Vec<_> = marts.iter().map(|m| ws.dump(m)).collect();
    assert_eq!(after, before, "a truncated file changed a mart");
}

/// The demo batch's rows as orders the demo does not have: order ids (and order numbers)
/// moved from 1xxxxxx to 9xxxxxx.
fn new_orders(text: &str) -> String {
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines {
        assert!(line.starts_with('1'), "a demo order id is 1xxxxxx: {line}");
        out.push('9');
        out.push_str(&line[1..].replacen(",SO-1", ",SO-9", 1));
        out.push('\n');
    }
    out
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

/// A batch martsync cannot read (a format it does not take, a partition subfolder) is named
/// in a warning, not skipped unseen; the markers other tools leave are not.
#[test]
fn files_left_out_of_a_source_folder_are_named_in_a_warning() {
    let ws = Workspace::new();
    let src = ws.path("src");
    source_with(&src, |t| t.to_string());
    let folder = src.join("ecs_order_info");
    std::fs::write(folder.join("late.csv.bz2"), b"BZh").unwrap();
    std::fs::create_dir(folder.join("dt=2026-01-01")).unwrap();
    std::fs::write(folder.join("_SUCCESS"), b"").unwrap();
    let config = ws.write_config(&src, "");
    let out = martsync(ws.dir.path(), &["run", "-c", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("Files not read"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains("dt=2026-01-01/, late.csv.bz2") && !warning.contains("_SUCCESS"),
        "{warning}"
    );
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

/// A replayed file with a NULL in a column the mart declares NOT NULL (not its key, whose
/// NULLs are rejected rows): exit 4 naming the file, the row and the column, and nothing of
/// the file merged, although its other rows are new to the mart.
#[test]
fn a_null_in_a_not_null_column_fails_the_read_naming_file_row_and_column() {
    let ws = Workspace::new();
    let input = ws.path("input");
    let folder = input.join("ecs_order_info");
    std::fs::create_dir_all(&folder).unwrap();
    let row = |order: u64, order_no: &str| {
        format!(
            "{{\"order_id\": {order}, \"order_no\": {order_no}, \"partner_id\": 7, \
             \"customer_ref\": null, \"dest_country\": \"DE\", \"weight_g\": 10, \
             \"declared_value\": 1.5, \"currency\": \"EUR\", \"add_time\": 1767225600}}\n"
        )
    };
    std::fs::write(
        folder.join("b-0.jsonl"),
        row(1, "\"ON1\"") + &row(2, "\"ON2\""),
    )
    .unwrap();
    std::fs::write(
        folder.join("b-1.jsonl"),
        row(3, "\"ON3\"") + &row(4, "null") + &row(5, "\"ON5\""),
    )
    .unwrap();
    let config = ws.write_config(&input, "");
    let out = martsync(
        ws.dir.path(),
        &[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--from",
            input.to_str().unwrap(),
            "--table",
            "mart_ecs_order_info",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for expected in ["b-1.jsonl", "row 2 ", "`order_no`", "NOT NULL"] {
        assert!(stderr.contains(expected), "no {expected:?} in {stderr}");
    }
    assert_eq!(
        ws.count("SELECT count(*) FROM mart_ecs_order_info"),
        2,
        "only the good file's rows are in the mart"
    );
    assert_eq!(
        ws.count("SELECT count(*) FROM mart_ecs_order_info WHERE order_id IN (3, 5)"),
        0,
        "good rows of the bad file were merged"
    );
}

/// The debug logs of every crate (the drivers' and the AWS SDK's too) during a run that
/// connects and commits, MariaDB → S3 → PostgreSQL, as users whose passwords occur nowhere
/// else, and of `status`: no password and no S3 secret key in any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_the_debug_logs_of_a_successful_run() {
    use crate::common::{MyDb, PgSchema, service_url, unique_name};
    let (Some(mysql), Some(postgres), Some(s3), Some(s3_secret)) = (
        service_url("MARTSYNC_TEST_MYSQL_URL"),
        service_url("MARTSYNC_TEST_POSTGRES_URL"),
        service_url("MARTSYNC_TEST_S3_URL"),
        service_url("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return;
    };
    let name = unique_name();
    let (reader_pw, writer_pw) = (format!("rd-{name}-pw"), format!("wr-{name}-pw"));

    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    db.exec(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) VALUES (1, 'TN1', 7, 1, 1767225600, 1767225600)",
    )
    .await;
    let mut source = url::Url::parse(&db.url).unwrap();
    db.exec(&format!(
        "CREATE USER 'r{name}'@'127.0.0.1' IDENTIFIED BY '{reader_pw}';\n\
         GRANT SELECT ON {}.* TO 'r{name}'@'127.0.0.1'",
        source.path().trim_start_matches('/')
    ))
    .await;
    source.set_username(&format!("r{name}")).unwrap();
    source.set_password(Some(&reader_pw)).unwrap();
    source.set_host(Some("127.0.0.1")).unwrap();

    let pg = PgSchema::new(&postgres).await;
    pg.client()
        .await
        .batch_execute(&format!(
            "CREATE ROLE w{name} LOGIN PASSWORD '{writer_pw}';\n\
             GRANT USAGE, CREATE ON SCHEMA {} TO w{name}",
            pg.name
        ))
        .await
        .unwrap();
    let mut warehouse = url::Url::parse(&pg.url).unwrap();
    warehouse.set_username(&format!("w{name}")).unwrap();
    warehouse.set_password(Some(&writer_pw)).unwrap();

    let ws = Workspace::new();
    let config = ws.path("secret.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nurl = \"{source}\"\n[stage]\nurl = \"{s3}/{name}\"\n\
             [warehouse]\nurl = \"{warehouse}\"\n[[tables]]\nname = \"mart_uni_tracking_info\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let mut seen = String::new();
    for args in [
        &["run", "-c", config][..],
        &["run", "-c", config],
        &["status", "-c", config],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_martsync"))
            .args(args)
            .current_dir(ws.dir.path())
            .env("MARTSYNC_LOG", "debug")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen += &String::from_utf8_lossy(&out.stdout);
        seen += &String::from_utf8_lossy(&out.stderr);
    }
    assert_eq!(
        pg.count("SELECT count(*) FROM mart_uni_tracking_info")
            .await,
        1,
        "the run did not commit"
    );
    assert!(
        seen.contains("DEBUG") && seen.contains(&format!("r{name}:***@")),
        "the debug logs were not captured: {seen}"
    );
    for secret in [&reader_pw, &writer_pw, &s3_secret] {
        assert!(
            !seen.contains(secret.as_str()),
            "{secret} leaked into the debug logs:\n{seen}"
        );
    }
}
