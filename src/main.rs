// mimalloc (v2) rather than glibc's malloc: the dedup frees and allocates multi-megabyte
// Arrow buffers batch after batch, and glibc keeps the freed pages (its mmap threshold rises
// after the first frees, so later buffers come from arenas it cannot trim). On the bench's
// 10M-row dedup, glibc peaked near 800 MB RSS for under 400 MB of live data; mimalloc v2
// at about 530 MB, and faster (fewer page faults).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    martsync::cli::main()
}
