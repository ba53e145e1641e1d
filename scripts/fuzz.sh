#!/usr/bin/env bash
# Fuzzes the config parser and the CSV / JSON-lines source-file readers with cargo-fuzz
# (libFuzzer), each target for SECONDS (default 600), two at a time on this 2-core machine.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]      targets: config csv jsonl (default: all three)
#
# Opt-in, not part of the test suite: the first build instruments every dependency
# (DataFusion and bundled DuckDB included) and took about two hours here on a busy machine;
# it lives in its own target directory so the main build is never disturbed. Needs the
# nightly toolchain (`rustup toolchain install nightly`) and `cargo install cargo-fuzz`.
# The corpora grow in fuzz/corpus/<target> (seeded from the demo fixtures and example
# configs); a crash leaves its input in fuzz/artifacts/<target>/ and fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
[ $# -gt 0 ] || set -- config csv jsonl
targets=("$@")
export CARGO_TARGET_DIR="${MARTSYNC_FUZZ_TARGET_DIR:-$HOME/.cache/martsync-fuzz-target}"

seed() {
  local target=$1 dir=fuzz/corpus/$1
  mkdir -p "$dir"
  case $target in
    config) cp examples/martsync.toml "$dir/example.toml"
            sed -n '/^```toml$/,/^```$/p' README.md | grep -v '^```' > "$dir/readme.toml" ;;
    csv) cp fixtures/demo/ecs_order_info/batch-0000[0-2].csv "$dir/" ;;
    jsonl) cp fixtures/demo/uni_tracking_spath/batch-0000[0-2].jsonl "$dir/" ;;
  esac
}

# Build once, then run the libFuzzer binaries themselves (what `cargo fuzz run` does after
# its own build, which would contend for the build lock when two targets start together).
cargo +nightly fuzz build
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
pids=()
status=0
for target in "${targets[@]}"; do
  seed "$target"
  mkdir -p "fuzz/artifacts/$target"
  # -rss_limit_mb: a reader holds a few batches; AddressSanitizer roughly doubles that, and a
  # larger footprint is a finding too.
  "$bin/$target" "fuzz/corpus/$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" >"fuzz/$target.log" 2>&1 &
  pids+=($!)
  # Two at a time: this machine has two cores.
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for target in "${targets[@]}"; do
  echo "== $target: $(grep -E '^stat::number_of_executed_units' "fuzz/$target.log" | awk '{print $2}') runs, \
$(ls "fuzz/corpus/$target" | wc -l) corpus inputs, $(grep -cE 'deadly signal|panicked|ERROR: libFuzzer' "fuzz/$target.log") crashes"
done
exit $status
