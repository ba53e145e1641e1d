//! Replays converge: replaying the same files again, or after the process was killed part-way,
//! gives marts equal row for row to one clean replay.

use std::time::Duration;

use martsync::generate::{self, FileFormat, Rng};

use crate::common::{Workspace, history_params, martsync};

const MARTS: [&str; 3] = [
    "mart_uni_tracking_info",
    "mart_ecs_order_info",
    "mart_uni_tracking_spath",
];

fn dumps(ws: &Workspace) -> Vec<Vec<String>> {
    MARTS.iter().map(|m| ws.dump(m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_twice_equals_one_clean_replay() {
    let input = tempfile::tempdir().unwrap();
    generate::write_history(
        &generate::generate(&history_params(400, 30)),
        input.path(),
        generate::DEMO_FORMATS,
    )
    .unwrap();

    let clean = Workspace::new();
    clean.replay(input.path(), "").await;
    let twice = Workspace::new();
    twice.replay(input.path(), "").await;
    twice.replay(input.path(), "").await;

    let expected = dumps(&clean);
    assert!(expected.iter().all(|rows| !rows.is_empty()));
    assert_eq!(dumps(&twice), expected);
    // The second replay skipped every file: one run per file and mart.
    assert_eq!(twice.count("SELECT count(*) FROM martsync_runs"), 3 * 30);
}

#[test]
fn replay_killed_part_way_then_replayed_again_equals_a_clean_replay() {
    let input = tempfile::tempdir().unwrap();
    let history = generate::generate(&history_params(3_000, 60));
    generate::write_history(&history, input.path(), [FileFormat::Parquet; 3]).unwrap();
    let from = input.path().to_str().unwrap();

    let replay_args = |config: &std::path::Path| {
        [
            "replay".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--from".into(),
            from.into(),
        ]
    };
    let replay_to_the_end = |ws: &Workspace, config: &std::path::Path| {
        let out = martsync(
            ws.dir.path(),
            &replay_args(config).each_ref().map(String::as_str),
        );
        assert!(
            out.status.success(),
            "replay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    let clean = Workspace::new();
    replay_to_the_end(&clean, &clean.write_config(input.path(), ""));

    let killed = Workspace::new();
    let config = killed.write_config(input.path(), "");
    let mut rng = Rng::new(7);
    for kill in 0..4 {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_martsync"));
        command
            .args(replay_args(&config))
            .current_dir(killed.dir.path());
        // After 1-20 more committed cycles (of 180), then 0-300 ms into the next ones.
        let commits = rng.range(1, 21) as usize;
        let then = Duration::from_millis(rng.range(0, 300) as u64);
        assert!(
            crate::common::kill_after_commits(command, commits, then),
            "kill {kill} did not land: the replay ended first"
        );
    }
    replay_to_the_end(&killed, &config);

    assert_eq!(dumps(&killed), dumps(&clean));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_of_some_tables_replays_those_and_leaves_the_others_empty() {
    let input = tempfile::tempdir().unwrap();
    let history = generate::generate(&history_params(50, 5));
    generate::write_history(&history, input.path(), generate::DEMO_FORMATS).unwrap();
    std::fs::remove_dir_all(input.path().join("ecs_order_info")).unwrap();
    let ws = Workspace::new();
    ws.replay(input.path(), "").await;
    assert!(!ws.dump("mart_uni_tracking_info").is_empty());
    assert!(ws.dump("mart_ecs_order_info").is_empty());
}

/// `[stage] keep = true` keeps committed runs' files; `replay --from-stage` re-applies them,
/// each once (labelled `stage:<run_id>`): rows a bad deploy overwrote at the same version
/// come back, a second re-apply changes nothing, and an unknown run is an error naming it.
#[test]
fn kept_staged_runs_are_reapplied_once() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    let text = ws
        .config_text(&demo, "")
        .replace("[warehouse]", "keep = true\n[warehouse]");
    std::fs::write(ws.path("martsync.toml"), &text).unwrap();
    let ok = |args: &[&str]| crate::common::martsync_ok(ws.dir.path(), args);
    ok(&["run"]);
    let good = ws.dump("mart_uni_tracking_info");
    // A bad deploy rewrote every row's event, versions unchanged.
    duckdb::Connection::open(ws.warehouse())
        .unwrap()
        .execute_batch("UPDATE mart_uni_tracking_info SET last_event = 'corrupted'")
        .unwrap();
    assert_ne!(ws.dump("mart_uni_tracking_info"), good);

    ok(&[
        "replay",
        "--from-stage",
        "--table",
        "mart_uni_tracking_info",
    ]);
    assert_eq!(ws.dump("mart_uni_tracking_info"), good);
    let reapplied = "SELECT count(*) FROM martsync_runs WHERE batch LIKE 'stage:%'";
    assert_eq!(ws.count(reapplied), 1);

    // Again: the kept run's label is committed, so nothing is applied.
    ok(&[
        "replay",
        "--from-stage",
        "--table",
        "mart_uni_tracking_info",
    ]);
    assert_eq!(ws.count(reapplied), 1);

    let out = martsync(
        ws.dir.path(),
        &[
            "replay",
            "--from-stage",
            "--table",
            "mart_uni_tracking_info",
            "--run",
            "20200101T000000000Z-nope",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("20200101T000000000Z-nope") && stderr.contains("keep = true"),
        "{stderr}"
    );
    assert_eq!(ws.dump("mart_uni_tracking_info"), good);
}

/// A `latest` mart whose version, watermark and retention column are TIMESTAMPs (the spath
/// events by `time_modified`) replays on DuckDB: the stale-version drop binds its least
/// version as a timestamp, and the retention trim keeps exactly the rows within a day of the
/// newest (DuckDB's bundled build has no TIMESTAMPTZ - INTERVAL; the trim compares µs).
#[test]
fn a_mart_on_timestamp_columns_replays_and_trims_by_time() {
    let ws = Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    let config = ws.write_config(
        &demo,
        "[[tables]]\nname = \"spath_latest\"\nsource = \"uni_tracking_spath\"\n\
         strategy = \"latest\"\nkey = [\"order_id\", \"traceSeq\", \"pathTime\"]\n\
         version = \"time_modified\"\nwatermark = \"time_modified\"\nretention = \"1d\"\n",
    );
    for _ in 0..2 {
        crate::common::martsync_ok(
            ws.dir.path(),
            &[
                "replay",
                "--from",
                demo.to_str().unwrap(),
                "-c",
                config.to_str().unwrap(),
            ],
        );
    }
    let rows = ws.count("SELECT count(*) FROM spath_latest");
    let too_old = ws.count(
        "SELECT count(*) FROM spath_latest WHERE epoch_us(time_modified) < \
         (SELECT epoch_us(max(time_modified)) FROM spath_latest) - 86400000000",
    );
    let trimmed = ws.count("SELECT CAST(sum(rows_trimmed) AS BIGINT) FROM martsync_runs");
    assert!(rows > 0 && trimmed > 0, "{rows} rows, {trimmed} trimmed");
    assert_eq!(too_old, 0);
}
