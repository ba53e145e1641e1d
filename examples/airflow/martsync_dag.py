"""The tracking marts, kept in sync by martsync every 15 minutes.

This replaces the old DAG (three extraction tasks, then `dbt run`): one martsync task per
mart, each extracting, deduplicating, staging and merging its mart in one transaction.
The tasks are independent: a failing mart does not hold back the others, and each retries
on its own. Only stock Airflow operators are used.

Overlap: `max_active_runs=1` keeps a slow cycle from overlapping the next DAG run, and
martsync itself locks each mart, so a manual run at the same time waits or exits with code 3.

Install: put this file in the DAGs folder; set the Airflow Variables
`martsync_source_url` and `martsync_warehouse_url` (the URLs with their passwords), or export
MARTSYNC_SOURCE_URL / MARTSYNC_WAREHOUSE_URL in the worker's environment. Logs are JSON lines
with `table`, `run_id`, `phase`, `rows`, `ms`; metrics go to node_exporter's textfile folder.
"""

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

MARTSYNC = "/usr/local/bin/martsync"
CONFIG = "/etc/martsync/martsync.toml"
METRICS_DIR = "/var/lib/node_exporter/textfile_collector"
MARTS = ["mart_uni_tracking_info", "mart_ecs_order_info", "mart_uni_tracking_spath"]

default_args = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    # A cycle takes seconds; one that runs for 12 minutes is stuck and must not collide
    # with the next schedule.
    "execution_timeout": timedelta(minutes=12),
}

with DAG(
    dag_id="martsync_tracking_marts",
    description="MySQL → S3 → Redshift tracking marts (martsync)",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["martsync", "redshift", "tracking"],
) as dag:
    check = BashOperator(
        task_id="config_check",
        bash_command=f"{MARTSYNC} config check --config {CONFIG}",
    )
    for mart in MARTS:
        sync = BashOperator(
            task_id=f"sync_{mart}",
            bash_command=(
                f"{MARTSYNC} run --config {CONFIG} --table {mart} --log-format json "
                f"--metrics-file {METRICS_DIR}/martsync_{mart}.prom"
            ),
            env={
                "MARTSYNC_SOURCE_URL": "{{ var.value.martsync_source_url }}",
                "MARTSYNC_WAREHOUSE_URL": "{{ var.value.martsync_warehouse_url }}",
            },
            append_env=True,
        )
        check >> sync


# Daily upkeep after the day's deletes (every cycle's DELETE and the retention trims leave
# deleted rows and stale statistics): `martsync maintain` vacuums and analyzes each mart
# past the thresholds of the config's [maintenance] section (Redshift: VACUUM DELETE ONLY /
# SORT ONLY and ANALYZE, read from svv_table_info, which needs GRANT SELECT for a
# non-superuser). It takes each mart's hold first, so it never runs while a cycle holds the
# mart: it waits for that cycle (up to warehouse.lock_timeout). A VACUUM may take long.
with DAG(
    dag_id="martsync_tracking_maintenance",
    description="VACUUM / ANALYZE of the tracking marts (martsync maintain)",
    schedule="30 3 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**default_args, "execution_timeout": timedelta(hours=4)},
    tags=["martsync", "redshift", "tracking"],
) as maintenance_dag:
    BashOperator(
        task_id="maintain",
        bash_command=f"{MARTSYNC} maintain --config {CONFIG} --log-format json",
        env={"MARTSYNC_WAREHOUSE_URL": "{{ var.value.martsync_warehouse_url }}"},
        append_env=True,
    )
