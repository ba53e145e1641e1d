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

fn main() -> std::process::ExitCode {
    martsync::cli::main()
}
