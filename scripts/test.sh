#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests (tests/it), doc tests.
# Everything runs in the release profile, so the dependency tree is compiled once for
# tests, benchmarks and the main job alike.
#
# Service-backed tests (MariaDB, PostgreSQL, S3) read MARTSYNC_TEST_*_URL. When those are
# unset, scripts/services.sh starts the services first: as root it also installs them; as
# another user it runs them as you (the packages must be installed; see the script). A test
# whose service is missing fails, naming it, unless skipped by name with
# MARTSYNC_SKIP_SERVICES=mysql,postgres,s3,chromium (or all), which CI=true never allows.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/martsync-target}"
if [ -z "${MARTSYNC_TEST_POSTGRES_URL:-}" ] && [ "${MARTSYNC_SKIP_SERVICES:-}" != all ]; then
  # Through a file, not `$(…)`: nothing the services leave running can then hold us up.
  services_env=$(mktemp)
  if ! scripts/services.sh >"$services_env"; then
    echo "test.sh: the services did not start (above); to run without them:" \
      "MARTSYNC_SKIP_SERVICES=all scripts/test.sh" >&2
    exit 1
  fi
  source "$services_env"
  rm -f "$services_env"
fi
# The benchmarks' contenders from PyPI (Polars runs in the quick harness test).
if [ -z "${MARTSYNC_BENCH_PYTHON:-}" ] && [ "${MARTSYNC_SKIP_SERVICES:-}" != all ]; then
  eval "$(scripts/contenders.sh)"
fi
# Benchmarks are compiled (so they cannot rot) but not run: they are large.
# `fault-injection` compiles in the crash points the fault tests use (src/fault.rs); both
# commands use it so the crate is built once.
cargo build --release --benches --features fault-injection
# The live Redshift suite needs a cluster (scripts/redshift-check.sh runs it); it is
# type-checked here so it cannot rot.
cargo check --release --tests --features fault-injection,redshift-live
cargo test --release --features fault-injection "$@"
