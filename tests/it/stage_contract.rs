//! The `Stage` contract (see `martsync::stage::Stage`), checked on the local folder and on a
//! real S3-protocol server (Garage, started by scripts/services.sh), so the stand-in keeps
//! the production contract.

use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use martsync::config::{StageConfig, StageUrl};
use martsync::stage::{self, Manifest, Stage, s3::S3Stage};

use crate::common::{service_url, unique_name};

fn batch(n: i32) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from_iter_values(0..n))]).unwrap()
}

async fn keeps_the_contract(stage: &dyn Stage) {
    // put → get returns the bytes; a second put replaces the object whole.
    let put = stage.put("m/r1/a.bin", b"first".to_vec()).await.unwrap();
    assert_eq!(put.content_length, 5);
    assert!(
        put.url.starts_with(&stage.url()),
        "{} under {}",
        put.url,
        stage.url()
    );
    assert_eq!(stage.get("m/r1/a.bin").await.unwrap(), b"first");
    stage.put("m/r1/a.bin", b"2nd".to_vec()).await.unwrap();
    assert_eq!(stage.get("m/r1/a.bin").await.unwrap(), b"2nd");
    let missing = stage.get("m/r1/none.bin").await.unwrap_err().to_string();
    assert!(missing.contains("none.bin"), "{missing}");

    // list: a folder, in key order, with lengths; `m/r1` is not a prefix of `m/r10`.
    stage.put("m/r1/b/c.bin", vec![7; 10]).await.unwrap();
    stage.put("m/r10/x.bin", vec![1]).await.unwrap();
    let listed: Vec<(String, u64)> = stage
        .list("m/r1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.key, f.content_length))
        .collect();
    assert_eq!(
        listed,
        [
            ("m/r1/a.bin".to_string(), 3),
            ("m/r1/b/c.bin".to_string(), 10)
        ]
    );
    assert_eq!(stage.list("m/").await.unwrap().len(), 3);

    // delete_prefix removes that folder only; deleting nothing is fine.
    stage.delete_prefix("m/r1").await.unwrap();
    assert!(stage.list("m/r1").await.unwrap().is_empty());
    assert_eq!(stage.list("m/r10").await.unwrap().len(), 1);
    stage.delete_prefix("m/never").await.unwrap();

    // write_run: parts, a manifest listing each with url, mandatory and its real length,
    // and rejected rows beside them but not in the manifest.
    let schema = batch(0).schema();
    let run = stage::write_run(
        stage,
        "m",
        "run-x",
        &schema,
        vec![batch(25)].into_iter().map(Ok),
        &[batch(2)],
        stage::PartFormat {
            rows: 10,
            codec: stage::Codec::Snappy,
        },
    )
    .await
    .unwrap();
    assert_eq!((run.rows, run.parts.len()), (25, 3));
    let manifest: Manifest =
        serde_json::from_slice(&stage.get(&run.manifest.key).await.unwrap()).unwrap();
    assert_eq!(manifest.entries.len(), 3);
    for (entry, part) in manifest.entries.iter().zip(&run.parts) {
        assert!(entry.mandatory);
        assert_eq!(entry.url, part.url);
        let bytes = stage.get(&part.key).await.unwrap();
        assert_eq!(entry.meta.content_length, bytes.len() as u64);
        // The codec asked for (Snappy, what Redshift's COPY is staged), on every column chunk.
        let reader =
            parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        use parquet::file::reader::FileReader;
        for group in reader.metadata().row_groups() {
            for column in group.columns() {
                assert_eq!(column.compression(), parquet::basic::Compression::SNAPPY);
            }
        }
    }
    let keys: Vec<String> = stage
        .list(&run.prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.key)
        .collect();
    assert!(
        keys.contains(&"m/run-x/rejected.parquet".to_string()),
        "{keys:?}"
    );
    stage.delete_prefix("m").await.unwrap();
    assert!(stage.list("m").await.unwrap().is_empty());

    // take_files: what a warehouse unloaded (Parquet parts and a manifest) comes back as open
    // files, in key order, and nothing of it is left in the stage; the folder beside it is.
    let part = |n: i32| {
        let b = batch(n);
        stage::encode_parquet(&b.schema(), &[b], stage::Codec::Snappy).unwrap()
    };
    stage
        .put("m/export-1/part_0001_part_00.parquet", part(2))
        .await
        .unwrap();
    stage
        .put("m/export-1/part_0000_part_00.parquet", part(3))
        .await
        .unwrap();
    stage
        .put("m/export-1/part_manifest", b"{}".to_vec())
        .await
        .unwrap();
    stage
        .put("m/export-10/other.parquet", part(1))
        .await
        .unwrap();
    let files = stage::take_files(stage, "m/export-1", ".parquet")
        .await
        .unwrap();
    let rows: Vec<i64> = files
        .into_iter()
        .map(|file| {
            parquet::file::reader::SerializedFileReader::new(file)
                .map(|r| {
                    parquet::file::reader::FileReader::metadata(&r)
                        .file_metadata()
                        .num_rows()
                })
                .unwrap()
        })
        .collect();
    assert_eq!(rows, [3, 2]);
    assert!(stage.list("m/export-1").await.unwrap().is_empty());
    assert_eq!(stage.list("m/export-10").await.unwrap().len(), 1);
    stage.delete_prefix("m").await.unwrap();
}

#[tokio::test]
async fn file_stage_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let stage = stage::file::FileStage::new(dir.path()).unwrap();
    keeps_the_contract(&stage).await;
}

fn s3_config(url: &str) -> (StageConfig, String, String) {
    let raw = crate::common::parse_config(&format!(
        // (DuckDB cannot read an S3 stage: any server warehouse makes the config valid.)
        "[stage]\nurl = \"{url}/{}\"\n[warehouse]\nurl = \"postgres://u@localhost/db\"\n",
        unique_name()
    ));
    let StageUrl::S3 { bucket, prefix } = raw.stage.url.clone() else {
        panic!("{url} is not an s3:// URL")
    };
    (raw.stage, bucket, prefix)
}

#[tokio::test]
async fn s3_stage_keeps_the_contract() {
    let Some(url) = service_url("MARTSYNC_TEST_S3_URL") else {
        return;
    };
    let (config, bucket, prefix) = s3_config(&url);
    let stage = S3Stage::open(&bucket, &prefix, &config).await.unwrap();
    keeps_the_contract(&stage).await;
}

#[tokio::test]
async fn s3_stage_uploads_large_objects_in_parts() {
    let Some(url) = service_url("MARTSYNC_TEST_S3_URL") else {
        return;
    };
    let (config, bucket, prefix) = s3_config(&url);
    // 5 MiB is S3's smallest part: an 11 MiB object goes up as 5 + 5 + 1.
    let part = 5 * 1024 * 1024;
    let stage = S3Stage::open(&bucket, &prefix, &config)
        .await
        .unwrap()
        .with_multipart(part, part);
    let bytes: Vec<u8> = (0..11 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let put = stage.put("big/object.bin", bytes.clone()).await.unwrap();
    assert_eq!(put.content_length, bytes.len() as u64);
    assert!(stage.get("big/object.bin").await.unwrap() == bytes);
    stage.delete_prefix("big").await.unwrap();
}

/// `[stage] keep_for`: committed runs' staged files stay until they are that old, then the
/// next cycle of their mart deletes them; a run the ledger does not hold (a crash before
/// COMMIT) goes after an hour, never sooner. With `keep = true` committed runs stay.
#[test]
fn committed_runs_are_kept_for_keep_for_and_crashed_runs_go_after_an_hour() {
    let ws = crate::common::Workspace::new();
    let demo = martsync::config::demo_fixtures_dir();
    let text = ws
        .config_text(&demo, "")
        .replace("[warehouse]", "keep_for = \"3s\"\n[warehouse]");
    std::fs::write(ws.path("martsync.toml"), &text).unwrap();
    let mart = ws.path("stage/mart_uni_tracking_info");
    // What crashed runs left: one from long ago, one from a moment ago.
    let (old, fresh) = (
        "20200101T000000000Z-deadbeef".to_string(),
        martsync::units::new_run_id(),
    );
    for run in [&old, &fresh] {
        std::fs::create_dir_all(mart.join(run)).unwrap();
        std::fs::write(mart.join(run).join("part-00000.parquet"), b"x").unwrap();
    }
    let runs = |ws: &crate::common::Workspace| -> Vec<String> {
        let mut runs: Vec<String> = std::fs::read_dir(ws.path("stage/mart_uni_tracking_info"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        runs.sort();
        runs
    };
    let ledger = |ws: &crate::common::Workspace| -> Vec<String> {
        let mut ids = crate::common::duckdb_strings(
            &ws.warehouse(),
            "SELECT run_id FROM martsync_runs WHERE mart = 'mart_uni_tracking_info'",
        );
        ids.sort();
        ids
    };
    let run = || {
        crate::common::martsync_ok(ws.dir.path(), &["run"]);
    };

    run();
    let first = ledger(&ws);
    assert_eq!(first.len(), 1);
    let mut want = vec![fresh.clone(), first[0].clone()];
    want.sort();
    assert_eq!(
        runs(&ws),
        want,
        "the committed run is kept, the old crashed one deleted"
    );
    assert!(
        ws.path(&format!(
            "stage/mart_uni_tracking_info/{}/manifest.json",
            first[0]
        ))
        .exists()
    );

    std::thread::sleep(std::time::Duration::from_secs(4));
    run();
    let second: Vec<String> = ledger(&ws)
        .into_iter()
        .filter(|r| !first.contains(r))
        .collect();
    assert_eq!(second.len(), 1);
    let mut want = vec![fresh.clone(), second[0].clone()];
    want.sort();
    assert_eq!(
        runs(&ws),
        want,
        "the first run is past keep_for; the crashed one is not an hour old"
    );

    // keep = true: committed runs stay however old.
    std::fs::write(
        ws.path("martsync.toml"),
        text.replace("keep_for = \"3s\"", "keep = true"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    run();
    assert_eq!(runs(&ws).len(), 3, "{:?}", runs(&ws));
}
