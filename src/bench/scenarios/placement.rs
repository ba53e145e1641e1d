//! The placement scenario: dedup in martsync before the load, or in the warehouse after loading raw rows.

use super::*;

/// A whole cycle with dedup before the upload (martsync) or inside the warehouse (raw rows
/// staged and loaded, ranked by `row_number()`, merged: the old dbt model), into a mart that
/// already holds every key of the batch at an older version.
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
                    if which == 0 {
                        let input = batch_input(&source, &label, &batches)?;
                        let pipeline = scratch.pipeline(options, &source).await?;
                        let table = pipeline.config.tables[0].clone();
                        let started = Instant::now();
                        let report = pipeline.cycle(&table, input).await?;
                        local.seconds.push(started.elapsed().as_secs_f64());
                        local.figures.extend([
                            ("bytes_staged".into(), report.bytes_staged as f64),
                            ("rows_shipped".into(), report.rows_deduped as f64),
                        ]);
                        local_warehouse.push(report.merge_ms as f64 / 1000.0);
                    } else {
                        let (seconds, bytes, warehouse) =
                            warehouse_dedup(&scratch, options, &label, &batches).await?;
                        remote.seconds.push(seconds);
                        remote.figures.extend([
                            ("bytes_staged".into(), bytes as f64),
                            ("rows_shipped".into(), rows as f64),
                        ]);
                        remote_warehouse.push(warehouse);
                    }
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
    let note = "placement: one cycle of a batch read from a Parquet file into a mart holding \
                every key of the batch at an older version. local = martsync's cycle (read, \
                dedup, stage deduped rows, merge); warehouse = read, stage every raw row, then in \
                one transaction load them, rank with row_number() into a temp table, delete the \
                mart's rows of those keys and insert the ranked rows (the old dbt model). \
                warehouse_s is the time spent in warehouse statements (median of the repetitions)."
        .to_string();
    Ok((found, vec![note]))
}

/// The dbt way: stage raw rows, load, rank and merge in the warehouse. Returns (total
/// seconds, bytes staged, warehouse seconds).
async fn warehouse_dedup(
    scratch: &Scratch,
    options: &Options,
    label: &str,
    batches: &[arrow::array::RecordBatch],
) -> Result<(f64, u64, f64)> {
    let started = Instant::now();
    let staged = options.scratch_dir().join(format!("{label}.parquet"));
    let bytes = write_parquet(&staged, batches)?;
    let rank = crate::bench::engines::row_number_sql("raw_rows", false);
    let merge = format!(
        "CREATE TEMP TABLE ranked AS {rank};\n\
         DELETE FROM mart_uni_tracking_info USING ranked \
           WHERE mart_uni_tracking_info.order_id = ranked.order_id;\n\
         INSERT INTO mart_uni_tracking_info SELECT * FROM ranked;\n\
         DROP TABLE ranked; DROP TABLE raw_rows;\nCOMMIT"
    );
    let warehouse = if let Some((client, _)) = &scratch.pg {
        let load_started = Instant::now();
        client
            .batch_execute("BEGIN; CREATE TEMP TABLE raw_rows (LIKE mart_uni_tracking_info)")
            .await
            .map_err(|e| failed(format!("PostgreSQL: {e}")))?;
        crate::bench::copy_parquet_into(client, "raw_rows", &staged).await?;
        let load = load_started.elapsed().as_secs_f64();
        load + scratch.exec(&merge).await?
    } else {
        scratch
            .exec(&format!(
                "BEGIN; CREATE TEMP TABLE raw_rows AS SELECT * FROM read_parquet('{}');\n{merge}",
                staged.display()
            ))
            .await?
    };
    let _ = std::fs::remove_file(&staged);
    Ok((started.elapsed().as_secs_f64(), bytes, warehouse))
}
