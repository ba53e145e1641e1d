# A 10M-row, 2M-key file of uni_tracking_info rows as a user's tools would write it: random
# arrival order, 5 versions per order, unicode text, written by Polars (large strings, no
# page-encoding statistics, 122,880-row groups). For `martsync bench --scenario dedup --input`:
#   eval "$(scripts/contenders.sh)"
#   "$MARTSYNC_BENCH_PYTHON" scripts/polars-file.py /var/tmp/userfile/user.parquet
import os, sys, tempfile

import duckdb
import polars as pl

out = sys.argv[1]
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
with tempfile.TemporaryDirectory() as scratch:
    raw = os.path.join(scratch, "raw.parquet")
    con = duckdb.connect()
    con.execute("SET threads=2")
    # Order i belongs to key (i * 7919) % 2M: each key 5 times, in hash order.
    con.execute(f"""
    COPY (
      SELECT
        ((i * 7919) % 2000000)::BIGINT AS order_id,
        'ТРК-' || lpad(((i * 7919) % 2000000)::VARCHAR, 9, '0') || '-ñ' AS tracking_no,
        (((i * 7919) % 2000000) % 5000)::INT AS partner_id,
        ['顺丰', 'DHL', 'Correos España', 'ヤマト運輸', 'UPS'][1 + (hash(i) % 5)::INT] AS carrier_code,
        (1 + hash(i * 3) % 8)::SMALLINT AS status,
        (hash(i * 5) % 300)::SMALLINT AS last_code,
        ['包裹已揽收', 'En tránsito hacia el destino', '配達完了しました',
         'Arrivé au centre de tri', 'Zugestellt ✓'][1 + (hash(i * 7) % 5)::INT]
          || ' #' || (hash(i * 11) % 40)::VARCHAR AS last_event,
        CASE WHEN hash(i * 13) % 10 = 0 THEN NULL
             ELSE ['深圳', 'München', 'São Paulo', '東京都', 'Kraków'][1 + (hash(i * 17) % 5)::INT]
                  || '/' || (hash(i * 19) % 200)::VARCHAR END AS last_location,
        CASE WHEN hash(i * 23) % 3 = 0
             THEN TIMESTAMP '2026-11-01' + to_seconds((hash(i * 29) % 2592000)::BIGINT) END AS delivered_at,
        (1760000000 + (((i * 7919) % 2000000) % 100000))::INT AS add_time,
        (1762000000 + (hash(i * 31) % 2592000))::INT AS update_time
      FROM range(10000000) t(i)
      ORDER BY hash(i * 37)
    ) TO '{raw}' (FORMAT parquet)
    """)
    pl.read_parquet(raw).write_parquet(out)
print(out)
