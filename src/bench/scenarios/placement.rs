//! The placement scenario: dedup in martsync before the load, or in the warehouse after loading raw rows.

use super::*;
use crate::config::DedupPlacement;

/// A whole cycle with dedup before the upload (`dedup = "local"`) or inside the warehouse
/// (`dedup = "warehouse"`: raw rows staged and loaded, ranked by `row_number()`, merged: the
/// old dbt model's ranking), into a mart that already holds every key of the batch at an
/// older version.
pub async fn placement(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let largest = options.batch_sizes.iter().copied().max().unwrap_or(0);
    let mut found = Vec::new();
    let combos: Vec<(usize, usize)> = options
        .batch_sizes
        .iter()
        .flat_map(|&b| options.dup_factors.iter().map(move |&d| (b, d)))
        .collect();
    for scratch in Scratch::all(options, "placement").await? {
        let total = combos.len() * options.repetitions * 2;
        let mut done = 0;
        drop(scratch.pipeline(options, &options.scratch_dir()).await?);
        scratch.exec(&scratch.fill_uti(largest)).await?;
        for &(rows, dup) in &combos {
            let keys = (rows / dup).max(1);
            let spec = DataSpec::new(rows, keys);
            let batches = spec.batches();
            let source = options
                .scratch_dir()
                .join(format!("placement-{rows}-{dup}"));
            let mut local =
                Measurement::new(Scenario::Placement, format!("local · {}", scratch.name))
                    .param("batch_rows", rows)
                    .param("dup_factor", dup);
            let mut remote =
                Measurement::new(Scenario::Placement, format!("warehouse · {}", scratch.name))
                    .param("batch_rows", rows)
                    .param("dup_factor", dup);
            // Seconds in warehouse statements per repetition; the report takes the median,
            // like the wall time's.
            let (mut local_warehouse, mut remote_warehouse) = (Vec::new(), Vec::new());
            for rep in 0..options.repetitions {
                // Every run finds the batch's keys at an older version (the oldest the batch
                // can hold, so the retention trim keeps them), so both placements replace
                // `keys` rows.
                let reset = format!(
                    "UPDATE mart_uni_tracking_info SET update_time = {START} WHERE order_id < {}",
                    1_000_000 + keys
                );
                for which in [0, 1] {
                    progress(
                        &format!("placement · {} · {rows} rows × {dup}", scratch.name),
                        done,
                        total,
                    );
                    done += 1;
                    scratch.exec(&reset).await?;
                    let label = format!("p-{rows}-{dup}-{rep}-{which}");
                    // The same cycle both ways; only the mart's `dedup` setting differs.
                    let input = batch_input(&source, &label, &batches)?;
                    let pipeline = scratch.pipeline(options, &source).await?;
                    let mut table = pipeline.config.tables[0].clone();
                    table.dedup = if which == 0 {
                        DedupPlacement::Local
                    } else {
                        DedupPlacement::Warehouse
                    };
                    let started = Instant::now();
                    let report = pipeline.cycle(&table, input).await?;
                    let (measurement, warehouse) = if which == 0 {
                        (&mut local, &mut local_warehouse)
                    } else {
                        (&mut remote, &mut remote_warehouse)
                    };
                    measurement.seconds.push(started.elapsed().as_secs_f64());
                    measurement.figures.extend([
                        ("bytes_staged".into(), report.bytes_staged as f64),
                        ("rows_shipped".into(), report.rows_deduped as f64),
                    ]);
                    warehouse.push(report.merge_ms as f64 / 1000.0);
                }
            }
            local.figures.insert(
                "warehouse_s".into(),
                crate::bench::report::median(&local_warehouse),
            );
            remote.figures.insert(
                "warehouse_s".into(),
                crate::bench::report::median(&remote_warehouse),
            );
            let held = scratch
                .count("SELECT count(*) FROM mart_uni_tracking_info")
                .await?;
            if held != largest as i64 {
                return Err(failed(format!(
                    "placement left {held} rows in the {} mart, expected {largest}",
                    scratch.name
                )));
            }
            let _ = std::fs::remove_dir_all(&source);
            found.extend([local, remote]);
        }
        scratch.drop().await;
    }
    let note = "placement: one martsync cycle of a batch read from a Parquet file into a mart \
                holding every key of the batch at an older version, once per `dedup` setting. \
                local = dedup in martsync, stage and merge one row per key; warehouse = stage \
                every valid row with its arrival number, and in the merge transaction delete the \
                staged rows row_number() ranks below first, then the same merge (the old dbt \
                model's ranking). warehouse_s is the time spent in warehouse statements (median \
                of the repetitions)."
        .to_string();
    Ok((found, vec![note]))
}
