// mimalloc (v2) rather than glibc's malloc: the dedup frees and allocates multi-megabyte
// Arrow buffers batch after batch, and glibc keeps the freed pages (its mmap threshold rises
// after the first frees, so later buffers come from arenas it cannot trim). On the bench's
// 10M-row dedup, glibc peaked near 800 MB RSS for under 400 MB of live data; mimalloc v2
// at about 530 MB, and faster (fewer page faults).
//
// Built with `no_thp`: mimalloc otherwise marks its arenas `MADV_HUGEPAGE`, so every first
// touch of a 2 MiB region is a whole huge page zeroed. A small cycle's threads each touch a
// few regions: the demo job peaked at 126–137 MiB with huge pages, 109–111 MiB without. On
// the 10M-row dedup right after another process freed 2 GB (the bench harness's situation),
// 5 alternating rounds: 1.95 s (1.86–2.50, `sys` 0.92 s) with huge pages, 1.64 s (1.28–1.67,
// `sys` 0.46 s) without; run after run, 1.79 s against 1.61 s (README, 2026-12-01).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in mimalloc v2's `mi_option_e` (libmimalloc-sys
/// names only the options it calls stable).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with mimalloc before it goes back to the OS (mimalloc's default
/// is 10 ms; arenas wait 10 times as long). The dedup frees a read batch's buffers and
/// allocates the next one's within milliseconds: returned that fast, every page came back
/// as a new page fault. On the bench's 10M-row dedup (`martsync bench --worker`, alternating,
/// medians): generated file, 8 rounds, 164k → 114k minor faults, `sys` 0.56 → 0.35 s, wall
/// 1.47 → 1.33 s, peak RSS 441 → 488 MiB; Polars-written file, 6 rounds, 211k → 145k, wall
/// 1.70 → 1.61 s, peak 509 → 597 MiB (README). 100 and 250 ms kept most of the faults. The
/// delay does not decide when an idle thread's freed memory goes back (mimalloc purges only
/// when the holding thread next allocates or frees): the cycle asks for that between its
/// phases (`units::return_freed_memory`).
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

fn main() -> std::process::ExitCode {
    // Before any thread starts (mimalloc's option setters are not thread-safe), and not over
    // a user's own MIMALLOC_PURGE_DELAY.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option store; no other thread exists yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    martsync::cli::main()
}
