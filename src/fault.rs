//! Fault injection for the crash and concurrency tests, with the cargo feature
//! `fault-injection` (without it the points compile to nothing and no variable is read):
//!
//! - `MARTSYNC_FAIL_AT=<point>[:<n>]` aborts the process (no cleanup, as a crash or SIGKILL)
//!   the n-th time (default: the first) any cycle reaches `<point>`.
//! - `MARTSYNC_PAUSE_AT=<point>` with `MARTSYNC_PAUSE_DIR=<dir>`: the first cycle to reach
//!   `<point>` creates `<dir>/<point>.reached` and waits until `<dir>/<point>.go` exists, so a
//!   test can act while a run is held at a known place (another run, a source change).
//!
//! A point is one of [`POINTS`], or `after:<statement>`: right after the merge statement of
//! that name (as `explain` prints it, e.g. `after:delete_replaced`) succeeded, inside the
//! transaction.

/// The points, in the order a cycle passes them.
pub const POINTS: &[&str] = &[
    // The mart is held; nothing is read yet.
    "after_hold",
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

/// The points only a `binlog`-mode cycle passes.
pub const BINLOG_POINTS: &[&str] = &[
    // The binary log's end position is read; nothing is extracted yet.
    "after_position",
];

/// Marks a point of the cycle; see the module docs.
#[inline]
pub async fn point(name: &str) {
    #[cfg(feature = "fault-injection")]
    inject(name).await;
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

/// Marks the point right after the merge statement `statement` succeeded.
#[inline]
pub async fn after_statement(statement: &str) {
    #[cfg(feature = "fault-injection")]
    inject(&format!("after:{statement}")).await;
    #[cfg(not(feature = "fault-injection"))]
    let _ = statement;
}

#[cfg(feature = "fault-injection")]
async fn inject(name: &str) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    static PAUSED: AtomicBool = AtomicBool::new(false);
    let known =
        |at: &str| POINTS.contains(&at) || BINLOG_POINTS.contains(&at) || at.starts_with("after:");
    if let Ok(spec) = std::env::var("MARTSYNC_FAIL_AT") {
        // `<point>:<n>`; a point may hold a colon itself (`after:<statement>`).
        let (at, nth) = spec
            .rsplit_once(':')
            .and_then(|(at, n)| Some((at.to_string(), n.parse::<usize>().ok()?)))
            .unwrap_or((spec.clone(), 1));
        assert!(
            known(&at),
            "MARTSYNC_FAIL_AT={at}: not one of {POINTS:?} or after:<statement>"
        );
        if at == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
            eprintln!("fault injection: aborting at {name} (hit {nth})");
            std::process::abort();
        }
    }
    if let Ok(at) = std::env::var("MARTSYNC_PAUSE_AT") {
        assert!(
            known(&at),
            "MARTSYNC_PAUSE_AT={at}: not one of {POINTS:?} or after:<statement>"
        );
        if at != name || PAUSED.swap(true, Ordering::SeqCst) {
            return;
        }
        let dir = std::path::PathBuf::from(
            std::env::var("MARTSYNC_PAUSE_DIR")
                .expect("MARTSYNC_PAUSE_AT needs MARTSYNC_PAUSE_DIR"),
        );
        std::fs::write(
            dir.join(format!("{name}.reached")),
            std::process::id().to_string(),
        )
        .expect("writing the pause marker");
        eprintln!("fault injection: paused at {name}");
        while !dir.join(format!("{name}.go")).exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        eprintln!("fault injection: resumed at {name}");
    }
}
