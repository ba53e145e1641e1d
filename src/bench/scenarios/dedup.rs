//! The dedup scenario: martsync's operator against DuckDB, DataFusion's window query and (with
//! `scripts/contenders.sh`) Polars, each in a worker process of its own.

use super::*;

/// The same input deduped by every contender, each repetition in a fresh process, contenders
/// in a rotating order (the machine is shared: neighbours' noise spreads over all of them).
pub async fn dedup(options: &Options, progress: Progress<'_>) -> Result<Found> {
    let spec = DataSpec::new(options.dedup_rows, options.dedup_keys);
    let (input, rows) = match &options.dedup_input {
        Some(file) => (file.clone(), parquet_rows(file)?),
        None => {
            progress("dedup: generating input", 0, 1);
            (spec.parquet(&options.data_dir())?, spec.rows)
        }
    };
    let mut engines = vec![Engine::Martsync, Engine::Duckdb, Engine::DatafusionWindow];
    if options.postgres.is_some() {
        engines.push(Engine::Postgres);
    }
    if crate::bench::engines::contenders_python().is_some() {
        engines.push(Engine::Polars);
    } else {
        progress(
            "dedup: Polars not measured (eval \"$(scripts/contenders.sh)\" first)",
            0,
            1,
        );
    }
    let scratch = options.scratch_dir().join("dedup");
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io("creating", &scratch, e))?;
    let mut found: Vec<Measurement> = engines
        .iter()
        .map(|e| {
            let m = Measurement::new(Scenario::Dedup, e.label()).param("rows", rows);
            match options.dedup_input {
                // A user's file: its keys are counted by the run (one output row each).
                Some(_) => m,
                None => m.param("keys", spec.keys),
            }
        })
        .collect();
    let total = options.repetitions * engines.len();
    for rep in 0..options.repetitions {
        for i in 0..engines.len() {
            let at = (i + rep) % engines.len();
            let engine = engines[at];
            progress(
                &format!("dedup: {}", engine.label()),
                rep * engines.len() + i,
                total,
            );
            let output = scratch.join(format!("out-{rep}-{at}"));
            let task = WorkerTask {
                engine,
                input: input.clone(),
                output: output.clone(),
                memory_limit: (engine == Engine::Martsync)
                    .then_some(options.memory_limit)
                    .flatten(),
                postgres: options.postgres.clone(),
            };
            let outcome = in_worker(&task)?;
            let _ = std::fs::remove_dir_all(&output);
            for part in std::fs::read_dir(&scratch).into_iter().flatten().flatten() {
                let _ = std::fs::remove_file(part.path());
            }
            let m = &mut found[at];
            m.seconds.push(outcome.seconds);
            m.figures.insert("rows_out".into(), outcome.rows_out as f64);
            if let Some(bytes) = outcome.output_arrow_bytes {
                m.figures
                    .insert("output_arrow_mib".into(), bytes as f64 / 1048576.0);
            }
            if let Some(rss) = outcome.peak_rss_bytes {
                let worst = m.figures.get("peak_rss_mib").copied().unwrap_or(0.0);
                m.figures
                    .insert("peak_rss_mib".into(), worst.max(rss as f64 / 1048576.0));
            }
        }
    }
    progress("dedup", total, total);
    let outputs: Vec<u64> = found.iter().map(|m| m.figures["rows_out"] as u64).collect();
    if outputs.windows(2).any(|w| w[0] != w[1]) {
        return Err(failed(format!(
            "the contenders disagree on the deduped row count: {}",
            found
                .iter()
                .zip(&outputs)
                .map(|(m, n)| format!("{} {n}", m.variant))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for m in &mut found {
        m.figures
            .insert("rows_per_s".into(), rows as f64 / m.median());
    }
    let input_mib = std::fs::metadata(&input).map_or(0, |m| m.len()) as f64 / 1048576.0;
    let described = match &options.dedup_input {
        Some(file) => format!(
            "{} ({rows} rows over {} keys, {input_mib:.0} MiB as its writer wrote it)",
            file.display(),
            outputs[0]
        ),
        None => format!(
            "{} rows over {} keys ({:?} versions, {}-char events, {} ties), {input_mib:.0} MiB \
             of zstd Parquet",
            spec.rows, spec.keys, spec.versions, spec.string_width, spec.tie_rate
        ),
    };
    let note = format!(
        "dedup input: {described}; every contender reads it and writes its deduped rows as zstd \
         Parquet, in a process of its own (peak RSS is that process's, worst of the repetitions)."
    );
    Ok((found, vec![note]))
}

/// The rows of a Parquet file, from its footer.
fn parquet_rows(file: &std::path::Path) -> Result<usize> {
    let opened =
        std::fs::File::open(file).map_err(|e| Error::io("opening the dedup input", file, e))?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&opened)
        .map_err(|e| {
            Error::batch(
                "bench dedup",
                file.display().to_string(),
                format!("not a readable Parquet file: {e}"),
            )
        })?;
    Ok(metadata.file_metadata().num_rows() as usize)
}
