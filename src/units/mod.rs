//! The ground floor: small units every layer uses (run ids, sizes, durations, the version
//! string, batch streams, TLS client settings). Nothing here imports another module of the
//! crate but [`crate::error`].

pub mod batch;
pub mod duration;
pub mod run_id;
pub mod size;
pub mod tls;

pub use batch::{BatchStream, column_as_i64, columns_at, decode_dictionaries, receiver_stream};
pub use duration::{format_duration, parse_duration};
pub use run_id::{KeepStaged, ORPHAN_AGE, expired, new_run_id, run_id_time};
pub use size::{human_bytes, parse_size, physical_memory};

/// The crate version and the git commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MARTSYNC_GIT_COMMIT"),
    ")"
);

/// Asks the binary's allocator (mimalloc, src/main.rs) to give the memory it holds freed back
/// to the OS now, rather than after its purge delay. On the 90M-row load under
/// `--memory-limit 1GiB`, between staging and the merge (README, "Past one machine's memory").
pub fn return_freed_memory() {
    // SAFETY: mimalloc's collection of the calling thread's heap and of the arenas' pending
    // purges; safe at any time (a no-op for memory another allocator manages).
    unsafe { libmimalloc_sys::mi_collect(true) };
}
