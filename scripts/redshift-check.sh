#!/usr/bin/env bash
# The live Redshift suite (tests/it/redshift_live.rs), for anyone with a cluster: the
# warehouse contract and MariaDB → S3 → Redshift cycles (an idle one, two marts at once, a
# widened column, a COPY that fails), each in a scratch schema dropped afterwards.
#
#   MARTSYNC_TEST_REDSHIFT_URL=redshift://user:password@host:5439/db \
#   MARTSYNC_TEST_REDSHIFT_S3=s3://bucket/prefix \
#   MARTSYNC_TEST_REDSHIFT_IAM_ROLE=arn:aws:iam::123456789012:role/martsync-copy \
#   AWS_REGION=… AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \
#   scripts/redshift-check.sh
#
# The bucket must be in the cluster's region and the role must read it. MariaDB comes from
# scripts/services.sh (started here unless MARTSYNC_TEST_MYSQL_URL is set). CI cannot run this
# (there is no cluster); run it before trusting a new version with Redshift.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/martsync-target}"
for var in MARTSYNC_TEST_REDSHIFT_URL MARTSYNC_TEST_REDSHIFT_S3 MARTSYNC_TEST_REDSHIFT_IAM_ROLE; do
  if [ -z "${!var:-}" ]; then
    echo "redshift-check.sh: $var is not set (see the top of this script)" >&2
    exit 2
  fi
done
if [ -z "${MARTSYNC_TEST_MYSQL_URL:-}" ]; then
  services_env=$(mktemp)
  scripts/services.sh >"$services_env"
  # Only MariaDB's URL: the stage and warehouse are the cluster's.
  eval "$(grep MARTSYNC_TEST_MYSQL_URL "$services_env")"
  rm -f "$services_env"
fi
exec cargo test --release --features fault-injection,redshift-live --test it -- redshift_live --test-threads 1
