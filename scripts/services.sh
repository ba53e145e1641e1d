#!/usr/bin/env bash
# Installs (if missing) and starts, on loopback, the real services the service-backed tests
# use: MariaDB, PostgreSQL (Debian packages) and Garage, an S3-protocol server (crates.io).
# Also installs Debian's chromium, which renders the `status --html` page in a test, and
# sqlglot (PyPI, in a virtualenv under the state folder), the independent Redshift parser
# every rendered Redshift statement is checked with.
# Prints the environment the tests read, as `export` lines:
#
#   eval "$(scripts/services.sh)"
#
# Safe to run again: running services are reused.
#
# As root it installs what is missing (apt-get, cargo) and runs the servers as their
# service users on the default ports (MariaDB 3306, PostgreSQL 5432). As any other user it
# installs nothing: with the packages present (`apt-get install mariadb-server postgresql`,
# done once by an administrator) and Garage (`cargo install garage --locked`, as yourself),
# it runs MariaDB on 3307, PostgreSQL on 5433 and Garage on 3910 as you, their data under
# $MARTSYNC_SERVICES_DIR (default ~/.cache/martsync-services).
set -euo pipefail
# Only the export lines go to stdout (it is eval'd); everything else goes to stderr.
exec 3>&1 1>&2
# Daemons started below must not inherit fd 3: a `$(scripts/services.sh)` caller waits for
# every writer of that pipe to close it, so an inherited copy would hang the caller forever.
daemon() { "$@" </dev/null 3>&- & }

log() { echo "services: $*" >&2; }
# The servers' binaries live in sbin, which a non-root PATH often lacks.
PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" = 0 ]; then
  ROOT=1
  STATE="${MARTSYNC_SERVICES_DIR:-/var/tmp/martsync-services}"
  MYSQL_PORT=3306 PG_PORT=5432 S3_PORT=3900
else
  ROOT=""
  STATE="${MARTSYNC_SERVICES_DIR:-$HOME/.cache/martsync-services}"
  MYSQL_PORT=3307 PG_PORT=5433 S3_PORT=3910
fi
mkdir -p "$STATE"

wait_for() { # wait_for WHAT COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not come up within 60 s"; return 1
}

install_debs() {
  local missing=()
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  [ -d /usr/lib/postgresql ] || missing+=(postgresql)
  [ -n "$ROOT" ] && { command -v chromium >/dev/null || missing+=(chromium); }
  if [ ${#missing[@]} -gt 0 ]; then
    if [ -z "$ROOT" ]; then
      log "missing: ${missing[*]}; ask an administrator to run apt-get install ${missing[*]} (or run this script as root)"
      exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# The binary log in ROW format with whole row images: what `source.mode = "binlog"` reads
# (tests/it/binlog.rs); and TLS (below). A server running without them is restarted.
MARIADB_FLAGS=(--log-bin=mariadb-bin --binlog-format=ROW --binlog-row-image=FULL --server-id=1)

mariadb_configured() { # mariadb_configured CLIENT...: binary log on, and TLS with this script's certificate?
  [ "$("$@" -NBe 'SELECT @@log_bin' 2>/dev/null)" = 1 ] && [ "$("$@" -NBe 'SELECT @@have_ssl' 2>/dev/null)" = YES ] \
    && [ "$("$@" -NBe 'SELECT @@ssl_cert' 2>/dev/null)" = "$STATE/mariadb-server-cert.pem" ]
}

# TLS with a certificate of a test CA of its own (for 127.0.0.1 and localhost), as a server
# asking for `ssl-mode=REQUIRED` clients has: the source's TLS (its own reader's and
# mysql_async's) is tested against it, verifying with `ssl-ca` (MARTSYNC_TEST_MYSQL_CA) and
# without. Made once, in $STATE.
mariadb_tls_flags() {
  if [ ! -f "$STATE/mariadb-server-cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=martsync test CA" \
      -keyout "$STATE/mariadb-ca-key.pem" -out "$STATE/mariadb-ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$STATE/mariadb-key.pem" -out "$STATE/mariadb-server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
      >"$STATE/mariadb-server.ext"
    openssl x509 -req -in "$STATE/mariadb-server.csr" -CA "$STATE/mariadb-ca.pem" \
      -CAkey "$STATE/mariadb-ca-key.pem" -CAcreateserial -days 3650 \
      -extfile "$STATE/mariadb-server.ext" -out "$STATE/mariadb-server-cert.pem" >/dev/null 2>&1
    chmod 644 "$STATE/mariadb-key.pem" "$STATE/mariadb-server-cert.pem" "$STATE/mariadb-ca.pem"
  fi
  MARIADB_FLAGS+=(--ssl-cert="$STATE/mariadb-server-cert.pem" --ssl-key="$STATE/mariadb-key.pem")
}

start_mariadb() {
  local client=(mariadb -uroot)
  mariadb_tls_flags
  if [ -n "$ROOT" ]; then
    if mariadb-admin ping >/dev/null 2>&1 && ! mariadb_configured mariadb -uroot; then
      log "restarting MariaDB with binary logging and TLS (this script's certificate) on"
      mariadb-admin shutdown
    fi
    if ! mariadb-admin ping >/dev/null 2>&1; then
      log "starting MariaDB"
      mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
      # The server's own log in a file, not syslog (Debian's default for mariadbd-safe): a
      # machine without a syslog daemon lost the trace of a crash in the middle of a CI run.
      touch "$STATE/mariadb-error.log" && chown mysql:mysql "$STATE/mariadb-error.log"
      (daemon mariadbd-safe --skip-syslog --log-error="$STATE/mariadb-error.log" \
        --bind-address=127.0.0.1 --port=3306 "${MARIADB_FLAGS[@]}" >"$STATE/mariadb.log" 2>&1)
      wait_for MariaDB mariadb-admin ping
    fi
  else
    # A server of your own: its data, socket and log in $STATE.
    local sock="$STATE/mysqld.sock"
    client=(mariadb --no-defaults -uroot --socket="$sock")
    if [ ! -d "$STATE/mariadb/mysql" ]; then
      log "creating a MariaDB data folder in $STATE/mariadb"
      mariadb-install-db --no-defaults --datadir="$STATE/mariadb" \
        --auth-root-authentication-method=normal >"$STATE/mariadb-install.log" 2>&1
    fi
    if mariadb-admin --no-defaults -uroot --socket="$sock" ping >/dev/null 2>&1 \
      && ! mariadb_configured "${client[@]}"; then
      log "restarting MariaDB with binary logging and TLS (this script's certificate) on"
      mariadb-admin --no-defaults -uroot --socket="$sock" shutdown
    fi
    if ! mariadb-admin --no-defaults -uroot --socket="$sock" ping >/dev/null 2>&1; then
      log "starting MariaDB on port $MYSQL_PORT"
      (daemon mariadbd --no-defaults --datadir="$STATE/mariadb" --socket="$sock" \
        --port="$MYSQL_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/mysqld.pid" \
        --log-error="$STATE/mariadb.log" "${MARIADB_FLAGS[@]}")
      wait_for MariaDB mariadb-admin --no-defaults -uroot --socket="$sock" ping
    fi
  fi
  "${client[@]}" <<'SQL'
CREATE DATABASE IF NOT EXISTS martsync;
CREATE USER IF NOT EXISTS 'martsync'@'127.0.0.1' IDENTIFIED BY 'martsync';
CREATE USER IF NOT EXISTS 'martsync'@'localhost' IDENTIFIED BY 'martsync';
GRANT ALL PRIVILEGES ON *.* TO 'martsync'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'martsync'@'localhost' WITH GRANT OPTION;
SQL
  echo >&3 "export MARTSYNC_TEST_MYSQL_URL=mysql://martsync:martsync@127.0.0.1:$MYSQL_PORT/martsync"
  echo >&3 "export MARTSYNC_TEST_MYSQL_CA=$STATE/mariadb-ca.pem"
}

start_postgres() {
  local version psql
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if [ -n "$ROOT" ]; then
    if ! pg_lsclusters -h | grep -q online; then
      log "starting PostgreSQL $version"
      pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >&2
      pg_ctlcluster "$version" main start </dev/null 3>&-
    fi
    wait_for PostgreSQL su postgres -c "psql -qAtc 'select 1'"
    psql=(su postgres -c "psql -qAt")
  else
    # A cluster of your own: its data, socket and log in $STATE.
    local bin="/usr/lib/postgresql/$version/bin"
    if [ ! -f "$STATE/postgres/PG_VERSION" ]; then
      log "creating a PostgreSQL $version cluster in $STATE/postgres"
      "$bin/initdb" -D "$STATE/postgres" -U postgres --auth=trust >"$STATE/initdb.log" 2>&1
    fi
    if ! "$bin/pg_ctl" -D "$STATE/postgres" status >/dev/null 2>&1; then
      log "starting PostgreSQL $version on port $PG_PORT"
      "$bin/pg_ctl" -D "$STATE/postgres" -l "$STATE/postgres.log" \
        -o "-p $PG_PORT -k $STATE -c listen_addresses=127.0.0.1" start </dev/null 3>&- >&2
    fi
    psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt)
    wait_for PostgreSQL "${psql[@]}" -c 'select 1'
  fi
  "${psql[@]}" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'martsync') THEN
    CREATE ROLE martsync LOGIN SUPERUSER PASSWORD 'martsync';
  END IF;
END $$;
SELECT 'CREATE DATABASE martsync OWNER martsync'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'martsync') \gexec
SQL
  echo >&3 "export MARTSYNC_TEST_POSTGRES_URL=postgres://martsync:martsync@127.0.0.1:$PG_PORT/martsync"
}

start_garage() {
  if ! command -v garage >/dev/null; then
    log "installing Garage from crates.io (about 10 minutes on 2 cores)"
    # Its own temporary target folder (removed after), not the project's: Garage's build
    # neither waits for the project's nor leaves its artifacts there.
    env -u CARGO_TARGET_DIR cargo install garage --locked >&2
  fi
  local conf="$STATE/garage.toml"
  if [ ! -f "$conf" ]; then
    cat >"$conf" <<EOF2
metadata_dir = "$STATE/garage/meta"
data_dir = "$STATE/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((S3_PORT + 1))"
rpc_public_addr = "127.0.0.1:$((S3_PORT + 1))"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((S3_PORT + 3))"
EOF2
  fi
  local g=(garage -c "$conf")
  if ! "${g[@]}" status >/dev/null 2>&1; then
    log "starting Garage"
    (daemon "${g[@]}" server >"$STATE/garage.log" 2>&1)
    wait_for Garage "${g[@]}" status
  fi
  # `status` answers before the layout can be read: on a fresh state `layout show` then aborts,
  # now and then even after it once succeeded. So the layout is read once, into a variable,
  # retried until a read succeeds: a failed read must not look like "nodes assigned".
  local layout=""
  for _ in $(seq 1 60); do
    layout=$("${g[@]}" layout show 2>/dev/null) && break
    layout=""
    sleep 1
  done
  [ -n "$layout" ] || { log "Garage's layout could not be read within 60 s"; return 1; }
  if grep -q "No nodes" <<<"$layout"; then
    local node
    node=$("${g[@]}" status 2>/dev/null | awk '/NO ROLE ASSIGNED/ {print $1; exit}')
    "${g[@]}" layout assign -z dc1 -c 1G "$node" >&2
    "${g[@]}" layout apply --version 1 >&2
  fi
  # Right after the layout is applied, Garage can still answer "Layout not ready".
  garage_bucket() { "${g[@]}" bucket info martsync-test || "${g[@]}" bucket create martsync-test; }
  wait_for "Garage's test bucket" garage_bucket
  if [ ! -f "$STATE/garage-key" ]; then
    "${g[@]}" key create martsync-test-key >"$STATE/garage-key"
    "${g[@]}" bucket allow --read --write --owner martsync-test --key martsync-test-key >&2
  fi
  local id secret
  id=$(awk '/Key ID/ {print $NF; exit}' "$STATE/garage-key")
  secret=$(awk '/Secret key/ {print $NF; exit}' "$STATE/garage-key")
  echo >&3 "export MARTSYNC_TEST_S3_URL=s3://martsync-test/tests"
  echo >&3 "export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT AWS_REGION=garage AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$secret"
}

# sqlglot's `redshift` dialect parses what the Redshift dialect renders (tests/it/
# dialect_golden.rs): a parser written by others, from Redshift's documentation.
install_sqlglot() {
  local venv="$STATE/sqlglot"
  if ! "$venv/bin/python" -c 'import sqlglot' 2>/dev/null; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      [ -n "$ROOT" ] || { log "python3-venv is missing; ask an administrator to apt-get install python3-venv"; exit 1; }
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    log "installing sqlglot"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "sqlglot==30.30.0" >&2
  fi
  echo >&3 "export MARTSYNC_TEST_SQLGLOT_PYTHON=$venv/bin/python"
}

install_debs
install_sqlglot
start_mariadb
start_postgres
start_garage
