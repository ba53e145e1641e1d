//! The merge-scaling and primary-query scenarios: a 15-minute merge against marts of growing size, and the seed's primary query over them.

use super::*;

/// A fixed batch (half updates of existing orders, half new orders) merged by martsync into
/// marts of growing size.
pub async fn merge_scaling(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let sizes: Vec<usize> = options
        .mart_sizes
        .iter()
        .copied()
        .filter(|&n| n <= options.max_rows)
        .collect();
    let mut found = Vec::new();
    for scratch in Scratch::all(options, "merge").await? {
        let total = sizes.len() * options.repetitions;
        let source = options.scratch_dir().join("merge-source");
        let mut held = 0usize;
        drop(scratch.pipeline(options, &source).await?);
        for (s, &n) in sizes.iter().enumerate() {
            progress(
                &format!("merge-scaling · {} · filling {n} rows", scratch.name),
                s * options.repetitions,
                total,
            );
            // Grow the mart to n rows (orders held..n).
            let grow = scratch
                .fill_uti(n - held)
                .replace("1000000 + i", &format!("{} + i", 1_000_000 + held));
            scratch.exec(&grow).await?;
            if let Some((client, _)) = &scratch.pg {
                client
                    .batch_execute("ANALYZE mart_uni_tracking_info")
                    .await
                    .map_err(|e| failed(format!("PostgreSQL ANALYZE: {e}")))?;
            }
            held = n;
            let mut m =
                Measurement::new(Scenario::MergeScaling, scratch.name).param("mart_rows", n);
            let pipeline = scratch.pipeline(options, &source).await?;
            let table = pipeline.config.tables[0].clone();
            for rep in 0..options.repetitions {
                progress(
                    &format!("merge-scaling · {} · {n} rows", scratch.name),
                    s * options.repetitions + rep,
                    total,
                );
                let batch = merge_batch(options.merge_batch, held, rep + s * options.repetitions);
                let input = batch_input(&source, &format!("m-{n}-{rep}"), &[batch])?;
                let report = pipeline.cycle(&table, input).await?;
                m.seconds.push(report.merge_ms as f64 / 1000.0);
                m.figures
                    .insert("cycle_s".into(), report.total_ms as f64 / 1000.0);
                m.figures
                    .insert("deleted".into(), report.rows_deleted as f64);
                m.figures
                    .insert("inserted".into(), report.rows_inserted as f64);
                // The new half stays: the mart grew by it.
                held += report.rows_inserted as usize - report.rows_deleted as usize;
            }
            drop(pipeline);
            found.push(m);
        }
        let _ = std::fs::remove_dir_all(&source);
        scratch.drop().await;
    }
    let note = format!(
        "merge-scaling: martsync merges a {}-row batch (half newer versions of orders spread \
         over the mart, half new orders) into the tracking mart; seconds are the merge \
         transaction's (load, stale-version drop, delete by order_id, insert, trim, ledger).",
        options.merge_batch
    );
    Ok((found, vec![note]))
}

/// `rows` uti rows: updates of every other order among the `held` ones, spread evenly, and
/// new orders above them; versions newer than anything filled.
fn merge_batch(rows: usize, held: usize, round: usize) -> arrow::array::RecordBatch {
    let updates = rows / 2;
    let step = (held / updates.max(1)).max(1);
    let version = (START + 175 * DAY) as i32 + round as i32;
    let uti = |order_id: i64| Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: (order_id % 40) as i32,
        carrier_code: Some("dhl".into()),
        status: 4,
        last_code: Some(400),
        last_event: Some("status 4 event xxxxxxxxx".into()),
        last_location: Some("hub 1".into()),
        delivered_at: None,
        add_time: START as i32,
        update_time: version,
    };
    let mut batch: Vec<Uti> = (0..updates)
        .map(|u| uti(1_000_000 + ((u * step) % held.max(1)) as i64))
        .collect();
    batch.extend((0..rows - updates).map(|j| uti(1_000_000 + (held + j) as i64)));
    uti_batch(&batch)
}

// ---------------------------------------------------------------------------------------
// primary-query

/// The seed's primary query (`sql/primary_query.sql`): tracking × order × events.
pub const PRIMARY_QUERY: &str = include_str!("../../../sql/primary_query.sql");

/// The 3-way join on marts of `query_rows` orders (ecs as many, spath 4 events per order),
/// cold (the first run on a new connection) and warm (the following runs).
pub async fn primary_query(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let n = options.query_rows;
    let mut found = Vec::new();
    for scratch in Scratch::all(options, "query").await? {
        progress(&format!("primary-query · {} · filling", scratch.name), 0, 1);
        drop(scratch.pipeline(options, &options.scratch_dir()).await?);
        let ecs = format!(
            "INSERT INTO mart_ecs_order_info SELECT 1000000 + i, 'ON' || CAST(i AS VARCHAR(20)), \
             CAST(i % 40 AS INTEGER), NULL, 'DE', CAST(i % 5000 AS INTEGER), NULL, 'EUR', \
             CAST({START} + i % {} AS INTEGER) FROM {}",
            170 * DAY,
            scratch.series(n)
        );
        let spath = format!(
            "INSERT INTO mart_uni_tracking_spath SELECT i, 1000000 + (i - i % 4) / 4, CAST(i % 4 AS INTEGER), \
             CAST({START} + (i * 7919) % {} AS INTEGER), CAST(CASE WHEN i % 4 = 3 THEN 200 ELSE 100 END AS SMALLINT), \
             'hub ' || CAST(i % 500 AS VARCHAR(8)), 'event', CAST(0 AS SMALLINT), \
             CAST(TIMESTAMP '2026-01-01 00:00:00' AS TIMESTAMP) FROM {}",
            180 * DAY,
            scratch.series(4 * n)
        );
        scratch.exec(&scratch.fill_uti(n)).await?;
        scratch.exec(&ecs).await?;
        scratch.exec(&spath).await?;
        if let Some((client, _)) = &scratch.pg {
            client
                .batch_execute("ANALYZE")
                .await
                .map_err(|e| failed(format!("PostgreSQL ANALYZE: {e}")))?;
        }
        let mut cold = Measurement::new(Scenario::PrimaryQuery, format!("cold · {}", scratch.name))
            .param("orders", n);
        let mut warm = Measurement::new(Scenario::PrimaryQuery, format!("warm · {}", scratch.name))
            .param("orders", n);
        let count_sql = format!(
            "SELECT count(*) FROM ({}) q",
            PRIMARY_QUERY.trim().trim_end_matches(';')
        );
        let total = options.repetitions * 2;
        for rep in 0..options.repetitions {
            progress(&format!("primary-query · {}", scratch.name), rep * 2, total);
            // Cold: a new connection (DuckDB: the file opened again, its buffer pool empty;
            // the OS page cache stays warm on both).
            let (seconds, rows) = timed_count(&scratch, &count_sql, true).await?;
            cold.seconds.push(seconds);
            cold.figures.insert("rows".into(), rows as f64);
            let (seconds, rows) = timed_count(&scratch, &count_sql, false).await?;
            warm.seconds.push(seconds);
            warm.figures.insert("rows".into(), rows as f64);
        }
        found.extend([cold, warm]);
        scratch.drop().await;
    }
    let note = format!(
        "primary-query: sql/primary_query.sql counted over marts of {n} orders, {n} ecs rows \
         and {} spath events; cold = first run on a new connection, warm = a second run on \
         the same connection.",
        4 * n
    );
    Ok((found, vec![note]))
}

/// Runs the count on a new connection; `cold` times the first run, else a second one.
async fn timed_count(scratch: &Scratch, sql: &str, cold: bool) -> Result<(f64, i64)> {
    let runs = if cold { 1 } else { 2 };
    if scratch.pg.is_some() {
        let (client, connection) = tokio_postgres::connect(&scratch.url, tokio_postgres::NoTls)
            .await
            .map_err(|e| failed(format!("connecting to PostgreSQL: {e}")))?;
        tokio::spawn(connection);
        let mut last = (0.0, 0);
        for _ in 0..runs {
            let started = Instant::now();
            let rows: i64 = client
                .query_one(sql, &[])
                .await
                .map_err(|e| failed(format!("PostgreSQL primary query: {e}")))?
                .get(0);
            last = (started.elapsed().as_secs_f64(), rows);
        }
        return Ok(last);
    }
    #[cfg(feature = "duckdb")]
    if let Some(path) = &scratch.duck {
        let conn = duckdb_connect(path)?;
        let mut last = (0.0, 0);
        for _ in 0..runs {
            let started = Instant::now();
            let rows: i64 = conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| failed(format!("DuckDB primary query: {e}")))?;
            last = (started.elapsed().as_secs_f64(), rows);
        }
        return Ok(last);
    }
    unreachable!("a scratch warehouse is DuckDB or PostgreSQL")
}
