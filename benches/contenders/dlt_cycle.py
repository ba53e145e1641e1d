"""dlt's incremental merge of the three source tables into PostgreSQL: the contender of the
production bench's 15-minute cycle (benches/production.rs, MARTSYNC_BENCH_ONLY=cycle).

    dlt_cycle.py MYSQL_URL POSTGRES_URL DATASET PIPELINES_DIR

Each run of this script is one cycle: dlt's `sql_table` source with the pyarrow backend reads
the rows past each table's cursor (the watermark martsync uses), and merges them into the
dataset on the mart's key (`write_disposition="merge"`), as a dlt user would write it. The
pipeline's state (its cursors) lives in PIPELINES_DIR, so the next run is incremental.
Prints the seconds of `pipeline.run` and the rows it loaded.
"""
import sys
import time

import dlt
from dlt.sources.sql_database import sql_table

mysql_url, pg_url, dataset, pipelines_dir = sys.argv[1:5]
mysql_url = mysql_url.replace("mysql://", "mysql+pymysql://", 1)
pg_url = pg_url.replace("postgres://", "postgresql://", 1)

# (source table, the mart's key, the mart's watermark), as martsync's built-in marts have them.
TABLES = [
    ("uni_tracking_info", ["order_id"], "update_time"),
    ("ecs_order_info", ["order_id"], "add_time"),
    ("uni_tracking_spath", ["order_id", "traceSeq", "pathTime"], "pathTime"),
]

resources = []
for name, key, cursor in TABLES:
    resource = sql_table(
        credentials=mysql_url,
        table=name,
        backend="pyarrow",
        incremental=dlt.sources.incremental(cursor),
    )
    resource.apply_hints(write_disposition="merge", primary_key=key)
    resources.append(resource)

pipeline = dlt.pipeline(
    pipeline_name="martsync_bench_" + dataset,
    destination=dlt.destinations.postgres(credentials=pg_url),
    dataset_name=dataset,
    pipelines_dir=pipelines_dir,
)
started = time.perf_counter()
info = pipeline.run(resources)
took = time.perf_counter() - started
rows = sum(pipeline.last_trace.last_normalize_info.row_counts.get(name, 0) for name, _, _ in TABLES)
print(f"{took:.3f} {rows}")
