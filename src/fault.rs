//! Fault injection for the crash tests: with the cargo feature `fault-injection`,
//! `MARTSYNC_FAIL_AT=<point>[:<n>]` aborts the process (no cleanup, as a crash or SIGKILL)
//! the n-th time (default: the first) any cycle reaches `<point>`. Without the feature the
//! points compile to nothing and the variable is never read.

/// The points, in the order a cycle passes them.
pub const POINTS: &[&str] = &[
    // Extracted and deduped; nothing staged yet.
    "after_extract",
    // The run's Parquet parts and manifest are in the stage.
    "after_stage",
    // The staged rows are loaded (COPY) into the warehouse's temp table.
    "after_load",
    // Every merge statement ran; COMMIT is next.
    "before_commit",
    // Committed; the staged files are not deleted yet.
    "after_commit",
];

/// Marks a point of the cycle; see the module docs.
#[inline]
pub fn point(name: &'static str) {
    #[cfg(feature = "fault-injection")]
    inject(name);
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

#[cfg(feature = "fault-injection")]
fn inject(name: &'static str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("MARTSYNC_FAIL_AT") else {
        return;
    };
    let (at, nth) = match spec.split_once(':') {
        Some((at, n)) => (at.to_string(), n.parse::<usize>().unwrap_or(1)),
        None => (spec, 1),
    };
    assert!(
        POINTS.contains(&at.as_str()),
        "MARTSYNC_FAIL_AT={at}: not one of {POINTS:?}"
    );
    if at == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("fault injection: aborting at {name} (hit {nth})");
        std::process::abort();
    }
}
