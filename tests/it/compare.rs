//! `martsync compare`: a PostgreSQL mart against a MariaDB copy with seeded differences, and
//! the comparison engine against a plain in-memory oracle on random tables (in memory and
//! spilled).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use martsync::compare::{CompareReport, CompareSpec};
use proptest::prelude::*;

use crate::common::{MyDb, PgSchema, martsync, service_url};

const T: i64 = 1_767_225_600; // 2026-01-01

fn compare_json(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["compare", "--table", "mart_uni_tracking_info", "--json"];
    all.extend_from_slice(args);
    let out = martsync(dir, &all);
    let code = out.status.code().expect("exit code");
    assert!(
        code == 0 || code == 7,
        "compare {args:?} failed ({code}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "compare printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (code, json)
}

/// Keys of a difference's sample, as numbers.
fn sample(json: &serde_json::Value, kind: &str) -> Vec<i64> {
    json["result"][kind]["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k[0].as_str().unwrap().parse().unwrap())
        .collect()
}

fn counts(json: &serde_json::Value) -> [u64; 3] {
    ["only_left", "only_right", "differing"].map(|k| json["result"][k]["keys"].as_u64().unwrap())
}

fn column_counts(json: &serde_json::Value) -> BTreeMap<String, u64> {
    json["result"]["column_differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["keys"].as_u64().unwrap() > 0)
        .map(|c| {
            (
                c["column"].as_str().unwrap().to_string(),
                c["keys"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_finds_exactly_the_seeded_differences_between_a_postgres_mart_and_a_mariadb_table()
{
    let (Some(mysql), Some(postgres)) = (
        service_url("MARTSYNC_TEST_MYSQL_URL"),
        service_url("MARTSYNC_TEST_POSTGRES_URL"),
    ) else {
        return;
    };
    let db = MyDb::new(&mysql).await;
    db.create_sources().await;
    let pg = PgSchema::new(&postgres).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("martsync.toml"),
        format!(
            "[source]\nurl = \"{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"{}\"\n\
             [[tables]]\nname = \"mart_uni_tracking_info\"\n",
            db.url,
            dir.path().join("stage").display(),
            pg.url
        ),
    )
    .unwrap();
    // Orders 1..=200, order i updated at T + 60 i; some with NULLs and non-ASCII text.
    let rows: Vec<String> = (1..=200)
        .map(|i| {
            let location = if i % 7 == 0 {
                "NULL".to_string()
            } else {
                format!("'Zürich {i}'")
            };
            format!(
                "({i}, 'TN{i}', {}, 'DHL', {}, 200, 'event {i}', {location}, NULL, {T}, {})",
                i % 5,
                i % 4,
                T + 60 * i
            )
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO uni_tracking_info VALUES {}",
        rows.join(", ")
    ))
    .await;
    let out = martsync(dir.path(), &["run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The mart equals its source: nothing differs.
    let (code, json) = compare_json(dir.path(), &["--with", "source", "--fail-above", "0"]);
    assert_eq!((code, counts(&json)), (0, [0, 0, 0]), "{json:#}");
    assert_eq!(json["result"]["matching_keys"], 200);

    // The old pipeline's table: a copy without a primary key, then seeded differences.
    db.exec(
        "CREATE TABLE old_uti AS SELECT * FROM uni_tracking_info;\n\
         DELETE FROM old_uti WHERE order_id IN (10, 150);\n\
         INSERT INTO old_uti SELECT order_id + 200, tracking_no, partner_id, carrier_code, \
           status, last_code, last_event, last_location, delivered_at, add_time, \
           update_time + 12000 FROM uni_tracking_info WHERE order_id IN (100, 101, 102);\n\
         UPDATE old_uti SET status = 9 WHERE order_id = 20;\n\
         UPDATE old_uti SET last_location = 'Bern' WHERE order_id = 120;\n\
         UPDATE old_uti SET last_location = NULL WHERE order_id = 160;\n\
         INSERT INTO old_uti SELECT order_id, tracking_no, partner_id, carrier_code, status, \
           last_code, last_event, last_location, delivered_at, add_time, update_time - 30 \
           FROM uni_tracking_info WHERE order_id = 170",
    )
    .await;
    let expect_all = |json: &serde_json::Value| {
        assert_eq!(counts(json), [2, 3, 4], "{json:#}");
        assert_eq!(sample(json, "only_left"), [10, 150]);
        assert_eq!(sample(json, "only_right"), [300, 301, 302]);
        assert_eq!(sample(json, "differing"), [20, 120, 160, 170]);
        let columns: BTreeMap<String, u64> =
            [("status", 1), ("last_location", 2), ("update_time", 1)]
                .map(|(c, n)| (c.to_string(), n))
                .into();
        assert_eq!(column_counts(json), columns);
        assert_eq!(json["result"]["right"]["duplicate_keys"], 1);
        assert_eq!(json["result"]["right"]["rows"], 202);
        assert_eq!(json["result"]["left"]["rows"], 200);
        assert_eq!(json["result"]["matching_keys"], 194);
    };
    // 9 of 203 keys differ (4.4%): above 8 and above 4%, not above 9 or 5%.
    for (threshold, exit) in [("9", 0), ("8", 7), ("5%", 0), ("4%", 7)] {
        let (code, json) = compare_json(
            dir.path(),
            &["--with", "source:old_uti", "--fail-above", threshold],
        );
        expect_all(&json);
        assert_eq!(code, exit, "--fail-above {threshold}");
        assert_eq!(json["above_threshold"], exit == 7);
    }
    // A tiny memory limit spills every partition to disk: same answer.
    let spill = tempfile::tempdir().unwrap();
    let (_, json) = compare_json(
        dir.path(),
        &[
            "--with",
            "source:old_uti",
            "--memory-limit",
            "1KiB",
            "--spill-dir",
            spill.path().to_str().unwrap(),
        ],
    );
    expect_all(&json);
    assert!(json["result"]["spilled_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "spill files are removed"
    );
    // A range on the watermark (orders 100..=199) and two columns: the extra orders, order
    // 10 and order 20 are outside it; the location changes are not compared.
    let (_, json) = compare_json(
        dir.path(),
        &[
            "--with",
            "source:old_uti",
            "--since",
            "2026-01-01T01:40:00Z",
            "--until",
            "2026-01-01T03:20:00Z",
            "--columns",
            "status,update_time",
        ],
    );
    assert_eq!(counts(&json), [1, 0, 1], "{json:#}");
    assert_eq!(sample(&json, "only_left"), [150]);
    assert_eq!(sample(&json, "differing"), [170]);
    assert_eq!(json["result"]["matching_keys"], 98);
    // The text form names both sides and the differing column.
    let out = martsync(
        dir.path(),
        &[
            "compare",
            "--table",
            "mart_uni_tracking_info",
            "--with",
            "source:old_uti",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("old_uti in mysql://"), "{text}");
    assert!(text.contains("9 of 203 key(s) differ"), "{text}");
    for url in [&pg.url, &db.url] {
        assert!(
            !text.contains(&format!(":{}@", password(url))),
            "no password: {text}"
        );
    }
    // A table that is not there is a source error naming it.
    let out = martsync(
        dir.path(),
        &[
            "compare",
            "--table",
            "mart_uni_tracking_info",
            "--with",
            "source:nope",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// The password of a URL, or a string no output contains.
fn password(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "\u{0}no password\u{0}".into())
}

/// A side: (key, a, b) rows; `None` is NULL.
type Rows = Vec<(i64, Option<i64>, Option<String>)>;

fn batch(rows: &Rows) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2.as_deref()))),
        ],
    )
    .unwrap()
}

fn schema() -> arrow::datatypes::SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
    ]))
}

/// The report computed the obvious way: every row of every key in memory.
fn oracle(left: &Rows, right: &Rows, sample: usize) -> CompareReport {
    type Key = BTreeMap<i64, Vec<(Option<i64>, Option<String>)>>;
    let group = |rows: &Rows| {
        let mut map = Key::new();
        for (k, a, b) in rows {
            map.entry(*k).or_default().push((*a, b.clone()));
        }
        map.values_mut().for_each(|v| v.sort());
        map
    };
    let (l, r) = (group(left), group(right));
    let mut report = CompareReport {
        key: vec!["k".into()],
        columns: vec!["a".into(), "b".into()],
        ..CompareReport::default()
    };
    for (side, map) in [(&mut report.left, &l), (&mut report.right, &r)] {
        side.rows = map.values().map(|v| v.len() as u64).sum();
        side.keys = map.len() as u64;
        side.duplicate_keys = map.values().filter(|v| v.len() > 1).count() as u64;
    }
    let mut columns = [0u64; 2];
    let keys: BTreeSet<i64> = l.keys().chain(r.keys()).copied().collect();
    for k in keys {
        let kind = match (l.get(&k), r.get(&k)) {
            (Some(_), None) => &mut report.only_left,
            (None, Some(_)) => &mut report.only_right,
            (Some(a), Some(b)) if a == b => {
                report.matching_keys += 1;
                continue;
            }
            (Some(a), Some(b)) => {
                let set_a = |v: &Vec<_>| v.iter().map(|r: &(_, _)| r.0).collect::<BTreeSet<_>>();
                let set_b = |v: &Vec<(Option<i64>, Option<String>)>| {
                    v.iter().map(|r| r.1.clone()).collect::<BTreeSet<_>>()
                };
                columns[0] += u64::from(set_a(a) != set_a(b));
                columns[1] += u64::from(set_b(a) != set_b(b));
                &mut report.differing
            }
            (None, None) => unreachable!(),
        };
        kind.keys += 1;
        if kind.sample.len() < sample {
            kind.sample.push(vec![k.to_string()]);
        }
    }
    report.column_differences = ["a", "b"]
        .iter()
        .zip(columns)
        .map(|(c, keys)| martsync::compare::ColumnDifference {
            column: c.to_string(),
            keys,
        })
        .collect();
    report
}

fn side() -> impl Strategy<Value = Rows> {
    proptest::collection::vec(
        (
            -20i64..40,
            proptest::option::of(0i64..3),
            proptest::option::of("[xy]{0,2}"),
        ),
        0..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_engine_agrees_with_an_in_memory_oracle(
        left in side(),
        right in side(),
        chunk in 1usize..50,
        spill in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = CompareSpec {
            key: vec![0],
            columns: vec![1, 2],
            sample: 3,
            memory_limit: if spill { 64 } else { 1 << 20 },
            spill_dir: dir.path().to_path_buf(),
        };
        let stream = |rows: &Rows| -> martsync::source::BatchStream {
            let batches: Vec<martsync::Result<RecordBatch>> =
                rows.chunks(chunk).map(|c| Ok(batch(&c.to_vec()))).collect();
            Box::pin(futures::stream::iter(batches))
        };
        let mut report = runtime
            .block_on(martsync::compare::compare(
                "t",
                schema(),
                stream(&left),
                stream(&right),
                &spec,
            ))
            .unwrap();
        if !spill {
            prop_assert_eq!(report.spilled_bytes, 0);
        } else if left.len() + right.len() >= 3 {
            prop_assert!(report.spilled_bytes > 0);
        }
        report.spilled_bytes = 0;
        prop_assert_eq!(report, oracle(&left, &right, 3));
    }
}
