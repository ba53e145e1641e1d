//! `martsync bench --quick`: every scenario runs on DuckDB and PostgreSQL, the dedup
//! contenders agree on their output, and the report (Markdown, JSON, SVG charts) is written.

use crate::common::{martsync, service_url};

#[test]
fn the_quick_harness_writes_a_report_whose_contenders_agree() {
    let Some(postgres) = service_url("MARTSYNC_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = martsync(
        dir.path(),
        &[
            "bench",
            "--quick",
            "--repetitions",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--postgres",
            &postgres,
        ],
    );
    assert!(
        run.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    if let Some(password) = url::Url::parse(&postgres)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        assert!(
            !text.contains(&format!(":{password}@")),
            "report.json holds the password"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let measurements = json["measurements"].as_array().unwrap();
    let of = |scenario: &str| -> Vec<&serde_json::Value> {
        measurements
            .iter()
            .filter(|m| m["scenario"] == scenario)
            .collect()
    };
    // Four contenders (five with Polars, which scripts/test.sh installs), one output: the keys
    // of the input.
    let polars = std::env::var_os("MARTSYNC_BENCH_PYTHON").is_some();
    assert!(
        polars || std::env::var("CI").as_deref() != Ok("true"),
        "under CI the Polars contender must run: MARTSYNC_BENCH_PYTHON is unset"
    );
    let dedup = of("dedup");
    assert_eq!(dedup.len(), 4 + usize::from(polars), "{dedup:#?}");
    let outputs: Vec<f64> = dedup
        .iter()
        .map(|m| m["figures"]["rows_out"].as_f64().unwrap())
        .collect();
    assert!(
        outputs.iter().all(|&n| n == outputs[0] && n > 30_000.0),
        "{outputs:?}"
    );
    // 2 batch sizes × 2 factors × 2 placements × 2 warehouses; the local placement ships
    // fewer rows than the raw batch once keys repeat.
    let placement = of("placement");
    assert_eq!(placement.len(), 16);
    for m in &placement {
        let (rows, dup) = (
            m["params"]["batch_rows"].as_f64().unwrap(),
            m["params"]["dup_factor"].as_f64().unwrap(),
        );
        let shipped = m["figures"]["rows_shipped"].as_f64().unwrap();
        if m["variant"].as_str().unwrap().starts_with("local") {
            assert!(shipped <= rows / dup, "{m}");
        } else {
            assert_eq!(shipped, rows, "{m}");
        }
    }
    // Two mart sizes per warehouse, each merge deleting the batch's updated half.
    let merges = of("merge-scaling");
    assert_eq!(merges.len(), 4);
    assert!(
        merges
            .iter()
            .all(|m| m["figures"]["deleted"].as_f64() == Some(2_500.0))
    );
    assert_eq!(json["projections"].as_array().unwrap().len(), 2);
    // The primary query finds the same rows in both warehouses, cold and warm.
    let rows: Vec<f64> = of("primary-query")
        .iter()
        .map(|m| m["figures"]["rows"].as_f64().unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|&r| r == rows[0] && r > 0.0), "{rows:?}");

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## dedup",
        "## placement",
        "## merge-scaling",
        "## primary-query",
    ] {
        assert!(md.contains(section), "report.md lacks {section}");
    }
    for chart in ["dedup_throughput.svg", "placement.svg", "merge_scaling.svg"] {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart}"
        );
        assert!(svg.matches("<text").count() > 5, "{chart} has axis labels");
        assert!(
            md.contains(&format!("]({chart})")),
            "report.md shows {chart}"
        );
    }
    assert!(
        !out.join("scratch").exists(),
        "scratch warehouses are removed"
    );
}

/// `--input`: a file as another writer wrote it (large strings, as Polars and pyarrow write
/// text; several row groups) is deduped by every contender, and the report counts its rows
/// and keys.
#[test]
fn the_dedup_scenario_measures_a_users_own_file() {
    use arrow::datatypes::DataType;
    use martsync::generate::{Params, generate, uti_batch, with_text_as};

    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<_> = generate(&Params {
        orders: 3_000,
        cycles: 6,
        ..Params::demo()
    })
    .uti
    .concat();
    let keys = rows
        .iter()
        .map(|r| r.order_id)
        .collect::<std::collections::HashSet<_>>()
        .len();
    let batch = with_text_as(&uti_batch(&rows), &DataType::LargeUtf8, &[]);
    let input = dir.path().join("theirs.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(1_000))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&input).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let out = dir.path().join("report");
    let run = martsync(
        dir.path(),
        &[
            "bench",
            "--scenario",
            "dedup",
            "--input",
            input.to_str().unwrap(),
            "--repetitions",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let dedup: Vec<&serde_json::Value> = json["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["scenario"] == "dedup")
        .collect();
    assert!(dedup.len() >= 3, "{dedup:#?}");
    for m in &dedup {
        assert_eq!(m["params"]["rows"].as_u64(), Some(rows.len() as u64), "{m}");
        assert_eq!(m["figures"]["rows_out"].as_f64(), Some(keys as f64), "{m}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("theirs.parquet"), "{report}");
}
