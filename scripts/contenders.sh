#!/usr/bin/env bash
# The benchmarks' external contenders, from PyPI, in a virtualenv of their own:
#   eval "$(scripts/contenders.sh)"    # then cargo bench / martsync bench use them
# connectorx (what Polars and dlt read MySQL with), Polars, DuckDB's Python package and dlt
# (with its PostgreSQL destination, SQLAlchemy and PyMySQL for its sql_database source), at the
# versions the README's figures were measured with. Prints the export line to eval.
set -euo pipefail
STATE="${MARTSYNC_SERVICES_DIR:-/var/tmp/martsync-services}"
venv="$STATE/contenders"
pins=(connectorx==0.4.6 pyarrow==26.0.1 polars==2.1.0 duckdb==2.0.1 "dlt[postgres]==1.31.0"
  sqlalchemy==2.1.9 pymysql==1.2.4)
if ! "$venv/bin/python" -c 'import connectorx, pyarrow, polars, duckdb, dlt, sqlalchemy, pymysql' 2>/dev/null; then
  echo "contenders: installing ${pins[*]} into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "${pins[@]}" >&2
fi
echo "export MARTSYNC_BENCH_PYTHON=$venv/bin/python"
