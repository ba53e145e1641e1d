//! `latest` dedup of generated uni_tracking_info rows through martsync's DataFusion operator,
//! on the harness's input ([`martsync::bench::data::DataSpec`], the same rows `martsync bench
//! --scenario dedup` uses), in memory: the operator alone, without Parquet in and out.
//!
//!     cargo bench --bench dedup
//!
//! Sizes: 1M rows / 200k keys and 10M rows / 2M keys (set MARTSYNC_BENCH_SMALL=1 for the
//! first only). After each size it prints the process's peak RSS for that size (the peak is
//! reset between sizes through /proc/self/clear_refs).

use std::sync::Arc;

// The allocator the martsync binary runs the operator with (src/main.rs says why).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use martsync::bench::data::DataSpec;
use martsync::dedup::{self, DedupSpec, Keep};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn reset_peak_rss() {
    // "5" resets the peak RSS counter (Linux ≥ 4.0); harmless elsewhere.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn bench_latest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let small_only = std::env::var_os("MARTSYNC_BENCH_SMALL").is_some();
    let sizes: &[(usize, usize)] = if small_only {
        &[(1_000_000, 200_000)]
    } else {
        &[(1_000_000, 200_000), (10_000_000, 2_000_000)]
    };
    let spec = DedupSpec {
        keep: Keep::Latest,
        key: vec![0],
        version: Some(10),
    };
    let memory = dedup::DedupMemory::unlimited();
    for &(rows, keys) in sizes {
        let input = Arc::new(DataSpec::new(rows, keys).batches());
        let schema = input[0].schema();
        reset_peak_rss();
        let base = peak_rss_mib().unwrap_or(0.0);
        let mut group = c.benchmark_group("dedup_latest");
        group.throughput(Throughput::Elements(rows as u64));
        group.sample_size(10);
        group.bench_function(format!("{rows}_rows_{keys}_keys"), |b| {
            b.iter(|| {
                let stream = Box::pin(futures::stream::iter(
                    input.iter().cloned().map(Ok).collect::<Vec<_>>(),
                ));
                let out = runtime
                    .block_on(dedup::dedup(
                        "bench",
                        schema.clone(),
                        stream,
                        spec.clone(),
                        &memory,
                    ))
                    .unwrap();
                assert!(out.stats.rows_out as usize <= keys);
                out
            })
        });
        group.finish();
        if let Some(peak) = peak_rss_mib() {
            println!(
                "dedup_latest/{rows}_rows_{keys}_keys: peak RSS {peak:.0} MiB (input held in memory: {base:.0} MiB before the runs)"
            );
        }
    }
}

criterion_group!(benches, bench_latest);
criterion_main!(benches);
