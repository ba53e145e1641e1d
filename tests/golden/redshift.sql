-- martsync_runs: create
CREATE TABLE IF NOT EXISTS martsync_runs (
  run_id VARCHAR(64) NOT NULL,
  mart VARCHAR(127) NOT NULL,
  batch VARCHAR(1024),
  started_at TIMESTAMP NOT NULL,
  committed_at TIMESTAMP NOT NULL,
  watermark_from BIGINT,
  watermark_to BIGINT,
  rows_extracted BIGINT NOT NULL,
  rows_deduped BIGINT NOT NULL,
  rows_rejected BIGINT NOT NULL,
  rows_deleted BIGINT NOT NULL,
  rows_inserted BIGINT NOT NULL,
  rows_trimmed BIGINT NOT NULL,
  bytes_staged BIGINT NOT NULL,
  extract_ms BIGINT NOT NULL,
  dedup_ms BIGINT NOT NULL,
  stage_ms BIGINT NOT NULL,
  merge_ms BIGINT NOT NULL,
  load_ms BIGINT,
  drop_stale_ms BIGINT,
  delete_ms BIGINT,
  insert_ms BIGINT,
  trim_ms BIGINT,
  targets_ms BIGINT,
  source_position VARCHAR(1024)
);

-- check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- committed_batches
SELECT batch FROM martsync_runs WHERE mart = $1 AND batch IS NOT NULL;

-- committed_runs
SELECT run_id FROM martsync_runs WHERE mart = $1;

-- mart_columns
SELECT lower(column_name) FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema();

-- table_exists
SELECT count(*) FROM information_schema.tables WHERE table_name = $1 AND table_schema = current_schema();

-- count_runs
SELECT count(*) FROM martsync_runs WHERE mart = $1;

-- recent_runs
SELECT run_id, batch, DATEDIFF(millisecond, TIMESTAMP '1970-01-01 00:00:00', started_at), DATEDIFF(millisecond, TIMESTAMP '1970-01-01 00:00:00', committed_at), watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms FROM martsync_runs WHERE mart = $1 ORDER BY committed_at DESC, run_id DESC LIMIT 20;

-- last_copy_count
SELECT pg_last_copy_count();

-- load_errors
SELECT trim(file_name), line_number, trim(column_name), trim(error_message) FROM sys_load_error_detail WHERE strpos(file_name, $1) = 1 ORDER BY start_time DESC, line_number LIMIT 5;

-- lock_runs
LOCK martsync_runs;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN load_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN drop_stale_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN delete_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN insert_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN trim_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN targets_ms BIGINT;

-- martsync_runs: upgrade
ALTER TABLE martsync_runs ADD COLUMN source_position VARCHAR(1024);

-- last_synced
SELECT DATEDIFF(millisecond, TIMESTAMP '1970-01-01 00:00:00', max(started_at)) FROM martsync_runs WHERE mart = $1 AND batch = 'run';

-- last_source_position
SELECT source_position FROM martsync_runs WHERE mart = $1 AND source_position IS NOT NULL ORDER BY committed_at DESC, run_id DESC LIMIT 1;

-- maintain: svv_table_info
SELECT CAST(unsorted AS FLOAT8), CAST(stats_off AS FLOAT8), CAST(tbl_rows AS BIGINT), CAST(estimated_visible_rows AS BIGINT) FROM svv_table_info WHERE "schema" = current_schema() AND "table" = $1;

-- mart_uni_tracking_info: create
CREATE TABLE IF NOT EXISTS "mart_uni_tracking_info" (
  "order_id" BIGINT NOT NULL,
  "tracking_no" VARCHAR(160) NOT NULL,
  "partner_id" INTEGER NOT NULL,
  "carrier_code" VARCHAR(64),
  "status" SMALLINT NOT NULL,
  "last_code" SMALLINT,
  "last_event" VARCHAR(1020),
  "last_location" VARCHAR(512),
  "delivered_at" TIMESTAMP,
  "add_time" INTEGER NOT NULL,
  "update_time" INTEGER NOT NULL
)
DISTKEY("order_id")
COMPOUND SORTKEY("update_time", "order_id");

-- mart_uni_tracking_info: summary
SELECT count(*), CAST(max("update_time") AS BIGINT) FROM "mart_uni_tracking_info";

-- mart_uni_tracking_info: max_watermark
SELECT CAST(max("update_time") AS BIGINT) FROM "mart_uni_tracking_info";

-- mart_uni_tracking_info: rows
SELECT count(*) FROM "mart_uni_tracking_info";

-- mart_uni_tracking_info: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("tracking_no" AS VARCHAR(160)) AS "tracking_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("carrier_code" AS VARCHAR(64)) AS "carrier_code", CAST("status" AS SMALLINT) AS "status", CAST("last_code" AS SMALLINT) AS "last_code", CAST("last_event" AS VARCHAR(1020)) AS "last_event", CAST("last_location" AS VARCHAR(512)) AS "last_location", CAST("delivered_at" AS TIMESTAMP) AS "delivered_at", CAST("add_time" AS INTEGER) AS "add_time", CAST("update_time" AS INTEGER) AS "update_time" FROM "old_staging_table"') TO 's3://bucket/prefix/mart_uni_tracking_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_uni_tracking_info: maintain
VACUUM DELETE ONLY "mart_uni_tracking_info";

-- mart_uni_tracking_info: maintain
VACUUM SORT ONLY "mart_uni_tracking_info";

-- mart_uni_tracking_info: maintain
ANALYZE "mart_uni_tracking_info";

-- mart_uni_tracking_info reconcile: begin
BEGIN;

-- mart_uni_tracking_info reconcile: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_info reconcile: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_info reconcile: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info reconcile: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_info" AS SELECT "order_id" FROM "mart_uni_tracking_info" WHERE 1 = 0;

-- mart_uni_tracking_info reconcile: load_stage
COPY "stage_mart_uni_tracking_info" FROM 's3://bucket/prefix/mart_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_info reconcile: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_info reconcile: delete_missing
DELETE FROM "mart_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "mart_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info reconcile: target_delete_missing
DELETE FROM "stg_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "stg_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info reconcile: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_info reconcile: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info reconcile: commit
COMMIT;

-- mart_uni_tracking_info binlog: begin
BEGIN;

-- mart_uni_tracking_info binlog: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_info binlog: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_info binlog: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info binlog: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", CAST(0 AS SMALLINT) AS "martsync_deleted" FROM "mart_uni_tracking_info" WHERE 1 = 0;

-- mart_uni_tracking_info binlog: load_stage
COPY "stage_mart_uni_tracking_info" FROM 's3://bucket/prefix/mart_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_info binlog: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_info binlog: delete_changed
DELETE FROM "mart_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "mart_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info binlog: target_delete_changed
DELETE FROM "stg_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "stg_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info binlog: drop_deleted_rows
DELETE FROM "stage_mart_uni_tracking_info" WHERE "martsync_deleted" = 1;

-- mart_uni_tracking_info binlog: insert_rows
INSERT INTO "mart_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info binlog: retention_trim
DELETE FROM "mart_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "mart_uni_tracking_info") - 15552000;

-- mart_uni_tracking_info binlog: target_insert_rows
INSERT INTO "stg_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info binlog: target_retention_trim
DELETE FROM "stg_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "stg_uni_tracking_info") - 1728000;

-- mart_uni_tracking_info binlog: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_info binlog: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info binlog: commit
COMMIT;

-- mart_uni_tracking_info ranked: begin
BEGIN;

-- mart_uni_tracking_info ranked: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_info ranked: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_info ranked: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info ranked: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", CAST(0 AS BIGINT) AS "martsync_arrival" FROM "mart_uni_tracking_info" WHERE 1 = 0;

-- mart_uni_tracking_info ranked: load_stage
COPY "stage_mart_uni_tracking_info" FROM 's3://bucket/prefix/mart_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_info ranked: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_info ranked: rank_staged
DELETE FROM "stage_mart_uni_tracking_info" WHERE "martsync_arrival" IN (SELECT "martsync_arrival" FROM (SELECT "martsync_arrival", row_number() OVER (PARTITION BY "order_id" ORDER BY "update_time" DESC, "martsync_arrival" DESC) AS martsync_rank FROM "stage_mart_uni_tracking_info") AS ranked WHERE martsync_rank > 1);

-- mart_uni_tracking_info ranked: drop_stale_versions
DELETE FROM "stage_mart_uni_tracking_info" USING "mart_uni_tracking_info" WHERE "stage_mart_uni_tracking_info"."order_id" = "mart_uni_tracking_info"."order_id" AND "mart_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ("mart_uni_tracking_info"."update_time" > "stage_mart_uni_tracking_info"."update_time" OR (("mart_uni_tracking_info"."tracking_no" = "stage_mart_uni_tracking_info"."tracking_no" AND length("mart_uni_tracking_info"."tracking_no") = length("stage_mart_uni_tracking_info"."tracking_no")) AND "mart_uni_tracking_info"."partner_id" = "stage_mart_uni_tracking_info"."partner_id" AND (("mart_uni_tracking_info"."carrier_code" = "stage_mart_uni_tracking_info"."carrier_code" AND length("mart_uni_tracking_info"."carrier_code") = length("stage_mart_uni_tracking_info"."carrier_code")) OR ("mart_uni_tracking_info"."carrier_code" IS NULL AND "stage_mart_uni_tracking_info"."carrier_code" IS NULL)) AND "mart_uni_tracking_info"."status" = "stage_mart_uni_tracking_info"."status" AND ("mart_uni_tracking_info"."last_code" = "stage_mart_uni_tracking_info"."last_code" OR ("mart_uni_tracking_info"."last_code" IS NULL AND "stage_mart_uni_tracking_info"."last_code" IS NULL)) AND (("mart_uni_tracking_info"."last_event" = "stage_mart_uni_tracking_info"."last_event" AND length("mart_uni_tracking_info"."last_event") = length("stage_mart_uni_tracking_info"."last_event")) OR ("mart_uni_tracking_info"."last_event" IS NULL AND "stage_mart_uni_tracking_info"."last_event" IS NULL)) AND (("mart_uni_tracking_info"."last_location" = "stage_mart_uni_tracking_info"."last_location" AND length("mart_uni_tracking_info"."last_location") = length("stage_mart_uni_tracking_info"."last_location")) OR ("mart_uni_tracking_info"."last_location" IS NULL AND "stage_mart_uni_tracking_info"."last_location" IS NULL)) AND ("mart_uni_tracking_info"."delivered_at" = "stage_mart_uni_tracking_info"."delivered_at" OR ("mart_uni_tracking_info"."delivered_at" IS NULL AND "stage_mart_uni_tracking_info"."delivered_at" IS NULL)) AND "mart_uni_tracking_info"."add_time" = "stage_mart_uni_tracking_info"."add_time" AND "mart_uni_tracking_info"."update_time" = "stage_mart_uni_tracking_info"."update_time"));

-- mart_uni_tracking_info ranked: delete_replaced
DELETE FROM "mart_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "mart_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info ranked: insert_rows
INSERT INTO "mart_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info ranked: retention_trim
DELETE FROM "mart_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "mart_uni_tracking_info") - 15552000;

-- mart_uni_tracking_info ranked: target_delete_replaced
DELETE FROM "stg_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "stg_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info ranked: target_insert_rows
INSERT INTO "stg_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info ranked: target_retention_trim
DELETE FROM "stg_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "stg_uni_tracking_info") - 1728000;

-- mart_uni_tracking_info ranked: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_info ranked: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info ranked: commit
COMMIT;

-- mart_uni_tracking_info reconcile: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("tracking_no" AS VARCHAR(160)) AS "tracking_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("carrier_code" AS VARCHAR(64)) AS "carrier_code", CAST("status" AS SMALLINT) AS "status", CAST("last_code" AS SMALLINT) AS "last_code", CAST("last_event" AS VARCHAR(1020)) AS "last_event", CAST("last_location" AS VARCHAR(512)) AS "last_location", CAST("delivered_at" AS TIMESTAMP) AS "delivered_at", CAST("add_time" AS INTEGER) AS "add_time", CAST("update_time" AS INTEGER) AS "update_time" FROM "mart_uni_tracking_info" WHERE "update_time" >= 1767225600') TO 's3://bucket/prefix/mart_uni_tracking_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_uni_tracking_info: create_hold_table
CREATE TABLE IF NOT EXISTS "martsync_hold_mart_uni_tracking_info" (held_by VARCHAR(64));

-- mart_uni_tracking_info: hold_mart
LOCK "martsync_hold_mart_uni_tracking_info";

-- mart_uni_tracking_info: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "mart_uni_tracking_info" WHERE 1 = 0;

-- mart_uni_tracking_info: load_stage
COPY "stage_mart_uni_tracking_info" FROM 's3://bucket/prefix/mart_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_info: drop_unchanged_rows
DELETE FROM "stage_mart_uni_tracking_info" USING "mart_uni_tracking_info" WHERE "stage_mart_uni_tracking_info"."order_id" = "mart_uni_tracking_info"."order_id" AND "mart_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ((("mart_uni_tracking_info"."tracking_no" = "stage_mart_uni_tracking_info"."tracking_no" AND length("mart_uni_tracking_info"."tracking_no") = length("stage_mart_uni_tracking_info"."tracking_no")) AND "mart_uni_tracking_info"."partner_id" = "stage_mart_uni_tracking_info"."partner_id" AND (("mart_uni_tracking_info"."carrier_code" = "stage_mart_uni_tracking_info"."carrier_code" AND length("mart_uni_tracking_info"."carrier_code") = length("stage_mart_uni_tracking_info"."carrier_code")) OR ("mart_uni_tracking_info"."carrier_code" IS NULL AND "stage_mart_uni_tracking_info"."carrier_code" IS NULL)) AND "mart_uni_tracking_info"."status" = "stage_mart_uni_tracking_info"."status" AND ("mart_uni_tracking_info"."last_code" = "stage_mart_uni_tracking_info"."last_code" OR ("mart_uni_tracking_info"."last_code" IS NULL AND "stage_mart_uni_tracking_info"."last_code" IS NULL)) AND (("mart_uni_tracking_info"."last_event" = "stage_mart_uni_tracking_info"."last_event" AND length("mart_uni_tracking_info"."last_event") = length("stage_mart_uni_tracking_info"."last_event")) OR ("mart_uni_tracking_info"."last_event" IS NULL AND "stage_mart_uni_tracking_info"."last_event" IS NULL)) AND (("mart_uni_tracking_info"."last_location" = "stage_mart_uni_tracking_info"."last_location" AND length("mart_uni_tracking_info"."last_location") = length("stage_mart_uni_tracking_info"."last_location")) OR ("mart_uni_tracking_info"."last_location" IS NULL AND "stage_mart_uni_tracking_info"."last_location" IS NULL)) AND ("mart_uni_tracking_info"."delivered_at" = "stage_mart_uni_tracking_info"."delivered_at" OR ("mart_uni_tracking_info"."delivered_at" IS NULL AND "stage_mart_uni_tracking_info"."delivered_at" IS NULL)) AND "mart_uni_tracking_info"."add_time" = "stage_mart_uni_tracking_info"."add_time" AND "mart_uni_tracking_info"."update_time" = "stage_mart_uni_tracking_info"."update_time"));

-- mart_uni_tracking_info: delete_replaced
DELETE FROM "mart_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "mart_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info: insert_rows
INSERT INTO "mart_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info: retention_trim
DELETE FROM "mart_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "mart_uni_tracking_info") - 15552000;

-- mart_uni_tracking_info: target_delete_replaced
DELETE FROM "stg_uni_tracking_info" USING "stage_mart_uni_tracking_info" WHERE "stg_uni_tracking_info"."order_id" = "stage_mart_uni_tracking_info"."order_id";

-- mart_uni_tracking_info: target_insert_rows
INSERT INTO "stg_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time" FROM "stage_mart_uni_tracking_info";

-- mart_uni_tracking_info: target_retention_trim
DELETE FROM "stg_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "stg_uni_tracking_info") - 1728000;

-- mart_uni_tracking_info: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_info replay: drop_stale_versions
DELETE FROM "stage_mart_uni_tracking_info" USING "mart_uni_tracking_info" WHERE "stage_mart_uni_tracking_info"."order_id" = "mart_uni_tracking_info"."order_id" AND "mart_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ("mart_uni_tracking_info"."update_time" > "stage_mart_uni_tracking_info"."update_time" OR (("mart_uni_tracking_info"."tracking_no" = "stage_mart_uni_tracking_info"."tracking_no" AND length("mart_uni_tracking_info"."tracking_no") = length("stage_mart_uni_tracking_info"."tracking_no")) AND "mart_uni_tracking_info"."partner_id" = "stage_mart_uni_tracking_info"."partner_id" AND (("mart_uni_tracking_info"."carrier_code" = "stage_mart_uni_tracking_info"."carrier_code" AND length("mart_uni_tracking_info"."carrier_code") = length("stage_mart_uni_tracking_info"."carrier_code")) OR ("mart_uni_tracking_info"."carrier_code" IS NULL AND "stage_mart_uni_tracking_info"."carrier_code" IS NULL)) AND "mart_uni_tracking_info"."status" = "stage_mart_uni_tracking_info"."status" AND ("mart_uni_tracking_info"."last_code" = "stage_mart_uni_tracking_info"."last_code" OR ("mart_uni_tracking_info"."last_code" IS NULL AND "stage_mart_uni_tracking_info"."last_code" IS NULL)) AND (("mart_uni_tracking_info"."last_event" = "stage_mart_uni_tracking_info"."last_event" AND length("mart_uni_tracking_info"."last_event") = length("stage_mart_uni_tracking_info"."last_event")) OR ("mart_uni_tracking_info"."last_event" IS NULL AND "stage_mart_uni_tracking_info"."last_event" IS NULL)) AND (("mart_uni_tracking_info"."last_location" = "stage_mart_uni_tracking_info"."last_location" AND length("mart_uni_tracking_info"."last_location") = length("stage_mart_uni_tracking_info"."last_location")) OR ("mart_uni_tracking_info"."last_location" IS NULL AND "stage_mart_uni_tracking_info"."last_location" IS NULL)) AND ("mart_uni_tracking_info"."delivered_at" = "stage_mart_uni_tracking_info"."delivered_at" OR ("mart_uni_tracking_info"."delivered_at" IS NULL AND "stage_mart_uni_tracking_info"."delivered_at" IS NULL)) AND "mart_uni_tracking_info"."add_time" = "stage_mart_uni_tracking_info"."add_time" AND "mart_uni_tracking_info"."update_time" = "stage_mart_uni_tracking_info"."update_time"));

-- mart_uni_tracking_info: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_info";

-- mart_ecs_order_info: create
CREATE TABLE IF NOT EXISTS "mart_ecs_order_info" (
  "order_id" BIGINT NOT NULL,
  "order_no" VARCHAR(128) NOT NULL,
  "partner_id" INTEGER NOT NULL,
  "customer_ref" VARCHAR(256),
  "dest_country" VARCHAR(8) NOT NULL,
  "weight_g" INTEGER,
  "declared_value" NUMERIC(12,2),
  "currency" VARCHAR(12),
  "add_time" INTEGER NOT NULL
)
DISTKEY("order_id")
COMPOUND SORTKEY("partner_id", "add_time", "order_id");

-- mart_ecs_order_info: summary
SELECT count(*), CAST(max("add_time") AS BIGINT) FROM "mart_ecs_order_info";

-- mart_ecs_order_info: max_watermark
SELECT CAST(max("add_time") AS BIGINT) FROM "mart_ecs_order_info";

-- mart_ecs_order_info: rows
SELECT count(*) FROM "mart_ecs_order_info";

-- mart_ecs_order_info: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("order_no" AS VARCHAR(128)) AS "order_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("customer_ref" AS VARCHAR(256)) AS "customer_ref", CAST("dest_country" AS VARCHAR(8)) AS "dest_country", CAST("weight_g" AS INTEGER) AS "weight_g", CAST("declared_value" AS NUMERIC(12,2)) AS "declared_value", CAST("currency" AS VARCHAR(12)) AS "currency", CAST("add_time" AS INTEGER) AS "add_time" FROM "old_staging_table"') TO 's3://bucket/prefix/mart_ecs_order_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_ecs_order_info: maintain
VACUUM DELETE ONLY "mart_ecs_order_info";

-- mart_ecs_order_info: maintain
VACUUM SORT ONLY "mart_ecs_order_info";

-- mart_ecs_order_info: maintain
ANALYZE "mart_ecs_order_info";

-- mart_ecs_order_info reconcile: begin
BEGIN;

-- mart_ecs_order_info reconcile: lock_runs
LOCK martsync_runs;

-- mart_ecs_order_info reconcile: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_ecs_order_info reconcile: create_stage_table
DROP TABLE IF EXISTS "stage_mart_ecs_order_info";

-- mart_ecs_order_info reconcile: create_stage_table
CREATE TEMP TABLE "stage_mart_ecs_order_info" AS SELECT "order_id" FROM "mart_ecs_order_info" WHERE 1 = 0;

-- mart_ecs_order_info reconcile: load_stage
COPY "stage_mart_ecs_order_info" FROM 's3://bucket/prefix/mart_ecs_order_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_ecs_order_info reconcile: loaded_rows
SELECT pg_last_copy_count();

-- mart_ecs_order_info reconcile: delete_missing
DELETE FROM "mart_ecs_order_info" USING "stage_mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id";

-- mart_ecs_order_info reconcile: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_ecs_order_info reconcile: drop_stage_table
DROP TABLE "stage_mart_ecs_order_info";

-- mart_ecs_order_info reconcile: commit
COMMIT;

-- mart_ecs_order_info binlog: begin
BEGIN;

-- mart_ecs_order_info binlog: lock_runs
LOCK martsync_runs;

-- mart_ecs_order_info binlog: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_ecs_order_info binlog: create_stage_table
DROP TABLE IF EXISTS "stage_mart_ecs_order_info";

-- mart_ecs_order_info binlog: create_stage_table
CREATE TEMP TABLE "stage_mart_ecs_order_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time", CAST(0 AS SMALLINT) AS "martsync_deleted" FROM "mart_ecs_order_info" WHERE 1 = 0;

-- mart_ecs_order_info binlog: load_stage
COPY "stage_mart_ecs_order_info" FROM 's3://bucket/prefix/mart_ecs_order_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_ecs_order_info binlog: loaded_rows
SELECT pg_last_copy_count();

-- mart_ecs_order_info binlog: delete_changed
DELETE FROM "mart_ecs_order_info" USING "stage_mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id";

-- mart_ecs_order_info binlog: drop_deleted_rows
DELETE FROM "stage_mart_ecs_order_info" WHERE "martsync_deleted" = 1;

-- mart_ecs_order_info binlog: insert_rows
INSERT INTO "mart_ecs_order_info" ("order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time") SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time" FROM "stage_mart_ecs_order_info";

-- mart_ecs_order_info binlog: retention_trim
DELETE FROM "mart_ecs_order_info" WHERE "add_time" < (SELECT max("add_time") FROM "mart_ecs_order_info") - 15552000;

-- mart_ecs_order_info binlog: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_ecs_order_info binlog: drop_stage_table
DROP TABLE "stage_mart_ecs_order_info";

-- mart_ecs_order_info binlog: commit
COMMIT;

-- mart_ecs_order_info ranked: begin
BEGIN;

-- mart_ecs_order_info ranked: lock_runs
LOCK martsync_runs;

-- mart_ecs_order_info ranked: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_ecs_order_info ranked: create_stage_table
DROP TABLE IF EXISTS "stage_mart_ecs_order_info";

-- mart_ecs_order_info ranked: create_stage_table
CREATE TEMP TABLE "stage_mart_ecs_order_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time", CAST(0 AS BIGINT) AS "martsync_arrival" FROM "mart_ecs_order_info" WHERE 1 = 0;

-- mart_ecs_order_info ranked: load_stage
COPY "stage_mart_ecs_order_info" FROM 's3://bucket/prefix/mart_ecs_order_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_ecs_order_info ranked: loaded_rows
SELECT pg_last_copy_count();

-- mart_ecs_order_info ranked: rank_staged
DELETE FROM "stage_mart_ecs_order_info" WHERE "martsync_arrival" IN (SELECT "martsync_arrival" FROM (SELECT "martsync_arrival", row_number() OVER (PARTITION BY "order_id" ORDER BY "martsync_arrival" ASC) AS martsync_rank FROM "stage_mart_ecs_order_info") AS ranked WHERE martsync_rank > 1);

-- mart_ecs_order_info ranked: insert_new_rows
INSERT INTO "mart_ecs_order_info" ("order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time") SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time" FROM "stage_mart_ecs_order_info" WHERE NOT EXISTS (SELECT 1 FROM "mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id");

-- mart_ecs_order_info ranked: retention_trim
DELETE FROM "mart_ecs_order_info" WHERE "add_time" < (SELECT max("add_time") FROM "mart_ecs_order_info") - 15552000;

-- mart_ecs_order_info ranked: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_ecs_order_info ranked: drop_stage_table
DROP TABLE "stage_mart_ecs_order_info";

-- mart_ecs_order_info ranked: commit
COMMIT;

-- mart_ecs_order_info reconcile: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("order_no" AS VARCHAR(128)) AS "order_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("customer_ref" AS VARCHAR(256)) AS "customer_ref", CAST("dest_country" AS VARCHAR(8)) AS "dest_country", CAST("weight_g" AS INTEGER) AS "weight_g", CAST("declared_value" AS NUMERIC(12,2)) AS "declared_value", CAST("currency" AS VARCHAR(12)) AS "currency", CAST("add_time" AS INTEGER) AS "add_time" FROM "mart_ecs_order_info" WHERE "add_time" >= 1767225600') TO 's3://bucket/prefix/mart_ecs_order_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_ecs_order_info: create_hold_table
CREATE TABLE IF NOT EXISTS "martsync_hold_mart_ecs_order_info" (held_by VARCHAR(64));

-- mart_ecs_order_info: hold_mart
LOCK "martsync_hold_mart_ecs_order_info";

-- mart_ecs_order_info: create_stage_table
DROP TABLE IF EXISTS "stage_mart_ecs_order_info";

-- mart_ecs_order_info: create_stage_table
CREATE TEMP TABLE "stage_mart_ecs_order_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time" FROM "mart_ecs_order_info" WHERE 1 = 0;

-- mart_ecs_order_info: load_stage
COPY "stage_mart_ecs_order_info" FROM 's3://bucket/prefix/mart_ecs_order_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_ecs_order_info: insert_new_rows
INSERT INTO "mart_ecs_order_info" ("order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time") SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time" FROM "stage_mart_ecs_order_info" WHERE NOT EXISTS (SELECT 1 FROM "mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id");

-- mart_ecs_order_info: retention_trim
DELETE FROM "mart_ecs_order_info" WHERE "add_time" < (SELECT max("add_time") FROM "mart_ecs_order_info") - 15552000;

-- mart_ecs_order_info: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_ecs_order_info refresh: drop_new_keys
DELETE FROM "stage_mart_ecs_order_info" WHERE NOT EXISTS (SELECT 1 FROM "mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id");

-- mart_ecs_order_info refresh: drop_unchanged_rows
DELETE FROM "stage_mart_ecs_order_info" USING "mart_ecs_order_info" WHERE "stage_mart_ecs_order_info"."order_id" = "mart_ecs_order_info"."order_id" AND "mart_ecs_order_info"."order_id" >= CAST($1 AS BIGINT) AND ((("mart_ecs_order_info"."order_no" = "stage_mart_ecs_order_info"."order_no" AND length("mart_ecs_order_info"."order_no") = length("stage_mart_ecs_order_info"."order_no")) AND "mart_ecs_order_info"."partner_id" = "stage_mart_ecs_order_info"."partner_id" AND (("mart_ecs_order_info"."customer_ref" = "stage_mart_ecs_order_info"."customer_ref" AND length("mart_ecs_order_info"."customer_ref") = length("stage_mart_ecs_order_info"."customer_ref")) OR ("mart_ecs_order_info"."customer_ref" IS NULL AND "stage_mart_ecs_order_info"."customer_ref" IS NULL)) AND "mart_ecs_order_info"."dest_country" = "stage_mart_ecs_order_info"."dest_country" AND ("mart_ecs_order_info"."weight_g" = "stage_mart_ecs_order_info"."weight_g" OR ("mart_ecs_order_info"."weight_g" IS NULL AND "stage_mart_ecs_order_info"."weight_g" IS NULL)) AND ("mart_ecs_order_info"."declared_value" = "stage_mart_ecs_order_info"."declared_value" OR ("mart_ecs_order_info"."declared_value" IS NULL AND "stage_mart_ecs_order_info"."declared_value" IS NULL)) AND ("mart_ecs_order_info"."currency" = "stage_mart_ecs_order_info"."currency" OR ("mart_ecs_order_info"."currency" IS NULL AND "stage_mart_ecs_order_info"."currency" IS NULL)) AND "mart_ecs_order_info"."add_time" = "stage_mart_ecs_order_info"."add_time"));

-- mart_ecs_order_info refresh: delete_replaced
DELETE FROM "mart_ecs_order_info" USING "stage_mart_ecs_order_info" WHERE "mart_ecs_order_info"."order_id" = "stage_mart_ecs_order_info"."order_id";

-- mart_ecs_order_info refresh: insert_rows
INSERT INTO "mart_ecs_order_info" ("order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time") SELECT "order_id", "order_no", "partner_id", "customer_ref", "dest_country", "weight_g", "declared_value", "currency", "add_time" FROM "stage_mart_ecs_order_info";

-- mart_ecs_order_info refresh: retention_trim
DELETE FROM "mart_ecs_order_info" WHERE "add_time" < (SELECT max("add_time") FROM "mart_ecs_order_info") - 15552000;

-- mart_ecs_order_info refresh: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_ecs_order_info: drop_stage_table
DROP TABLE "stage_mart_ecs_order_info";

-- mart_uni_tracking_spath: create
CREATE TABLE IF NOT EXISTS "mart_uni_tracking_spath" (
  "id" BIGINT NOT NULL,
  "order_id" BIGINT NOT NULL,
  "traceseq" INTEGER NOT NULL,
  "pathtime" INTEGER NOT NULL,
  "code" SMALLINT NOT NULL,
  "location" VARCHAR(512),
  "description" VARCHAR(2048),
  "is_updated" SMALLINT NOT NULL,
  "time_modified" TIMESTAMPTZ NOT NULL
)
DISTKEY("order_id")
COMPOUND SORTKEY("pathtime", "order_id");

-- mart_uni_tracking_spath: summary
SELECT count(*), CAST(max("pathtime") AS BIGINT) FROM "mart_uni_tracking_spath";

-- mart_uni_tracking_spath: max_watermark
SELECT CAST(max("pathtime") AS BIGINT) FROM "mart_uni_tracking_spath";

-- mart_uni_tracking_spath: rows
SELECT count(*) FROM "mart_uni_tracking_spath";

-- mart_uni_tracking_spath: export
UNLOAD ('SELECT CAST("id" AS BIGINT) AS "id", CAST("order_id" AS BIGINT) AS "order_id", CAST("traceseq" AS INTEGER) AS "traceseq", CAST("pathtime" AS INTEGER) AS "pathtime", CAST("code" AS SMALLINT) AS "code", CAST("location" AS VARCHAR(512)) AS "location", CAST("description" AS VARCHAR(2048)) AS "description", CAST("is_updated" AS SMALLINT) AS "is_updated", CAST("time_modified" AS TIMESTAMPTZ) AS "time_modified" FROM "old_staging_table"') TO 's3://bucket/prefix/mart_uni_tracking_spath/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_uni_tracking_spath: maintain
VACUUM DELETE ONLY "mart_uni_tracking_spath";

-- mart_uni_tracking_spath: maintain
VACUUM SORT ONLY "mart_uni_tracking_spath";

-- mart_uni_tracking_spath: maintain
ANALYZE "mart_uni_tracking_spath";

-- mart_uni_tracking_spath reconcile: begin
BEGIN;

-- mart_uni_tracking_spath reconcile: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_spath reconcile: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_spath reconcile: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath reconcile: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_spath" AS SELECT "order_id", "traceseq", "pathtime" FROM "mart_uni_tracking_spath" WHERE 1 = 0;

-- mart_uni_tracking_spath reconcile: load_stage
COPY "stage_mart_uni_tracking_spath" FROM 's3://bucket/prefix/mart_uni_tracking_spath/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_spath reconcile: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_spath reconcile: delete_missing
DELETE FROM "mart_uni_tracking_spath" USING "stage_mart_uni_tracking_spath" WHERE "mart_uni_tracking_spath"."order_id" = "stage_mart_uni_tracking_spath"."order_id" AND "mart_uni_tracking_spath"."traceseq" = "stage_mart_uni_tracking_spath"."traceseq" AND "mart_uni_tracking_spath"."pathtime" = "stage_mart_uni_tracking_spath"."pathtime";

-- mart_uni_tracking_spath reconcile: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_spath reconcile: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath reconcile: commit
COMMIT;

-- mart_uni_tracking_spath binlog: begin
BEGIN;

-- mart_uni_tracking_spath binlog: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_spath binlog: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_spath binlog: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath binlog: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_spath" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified", CAST(0 AS SMALLINT) AS "martsync_deleted" FROM "mart_uni_tracking_spath" WHERE 1 = 0;

-- mart_uni_tracking_spath binlog: load_stage
COPY "stage_mart_uni_tracking_spath" FROM 's3://bucket/prefix/mart_uni_tracking_spath/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_spath binlog: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_spath binlog: delete_changed
DELETE FROM "mart_uni_tracking_spath" USING "stage_mart_uni_tracking_spath" WHERE "mart_uni_tracking_spath"."order_id" = "stage_mart_uni_tracking_spath"."order_id" AND "mart_uni_tracking_spath"."traceseq" = "stage_mart_uni_tracking_spath"."traceseq" AND "mart_uni_tracking_spath"."pathtime" = "stage_mart_uni_tracking_spath"."pathtime";

-- mart_uni_tracking_spath binlog: drop_deleted_rows
DELETE FROM "stage_mart_uni_tracking_spath" WHERE "martsync_deleted" = 1;

-- mart_uni_tracking_spath binlog: insert_rows
INSERT INTO "mart_uni_tracking_spath" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath binlog: retention_trim
DELETE FROM "mart_uni_tracking_spath" WHERE "pathtime" < (SELECT max("pathtime") FROM "mart_uni_tracking_spath") - 15552000;

-- mart_uni_tracking_spath binlog: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_spath binlog: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath binlog: commit
COMMIT;

-- mart_uni_tracking_spath ranked: begin
BEGIN;

-- mart_uni_tracking_spath ranked: lock_runs
LOCK martsync_runs;

-- mart_uni_tracking_spath ranked: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- mart_uni_tracking_spath ranked: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath ranked: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_spath" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified", CAST(0 AS BIGINT) AS "martsync_arrival" FROM "mart_uni_tracking_spath" WHERE 1 = 0;

-- mart_uni_tracking_spath ranked: load_stage
COPY "stage_mart_uni_tracking_spath" FROM 's3://bucket/prefix/mart_uni_tracking_spath/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_spath ranked: loaded_rows
SELECT pg_last_copy_count();

-- mart_uni_tracking_spath ranked: rank_staged
DELETE FROM "stage_mart_uni_tracking_spath" WHERE "martsync_arrival" IN (SELECT "martsync_arrival" FROM (SELECT "martsync_arrival", row_number() OVER (PARTITION BY "order_id", "traceseq", "pathtime" ORDER BY "martsync_arrival" ASC) AS martsync_rank FROM "stage_mart_uni_tracking_spath") AS ranked WHERE martsync_rank > 1);

-- mart_uni_tracking_spath ranked: insert_new_rows
INSERT INTO "mart_uni_tracking_spath" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_mart_uni_tracking_spath" WHERE NOT EXISTS (SELECT 1 FROM "mart_uni_tracking_spath" WHERE "mart_uni_tracking_spath"."order_id" = "stage_mart_uni_tracking_spath"."order_id" AND "mart_uni_tracking_spath"."traceseq" = "stage_mart_uni_tracking_spath"."traceseq" AND "mart_uni_tracking_spath"."pathtime" = "stage_mart_uni_tracking_spath"."pathtime");

-- mart_uni_tracking_spath ranked: retention_trim
DELETE FROM "mart_uni_tracking_spath" WHERE "pathtime" < (SELECT max("pathtime") FROM "mart_uni_tracking_spath") - 15552000;

-- mart_uni_tracking_spath ranked: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_spath ranked: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath ranked: commit
COMMIT;

-- mart_uni_tracking_spath reconcile: export
UNLOAD ('SELECT CAST("id" AS BIGINT) AS "id", CAST("order_id" AS BIGINT) AS "order_id", CAST("traceseq" AS INTEGER) AS "traceseq", CAST("pathtime" AS INTEGER) AS "pathtime", CAST("code" AS SMALLINT) AS "code", CAST("location" AS VARCHAR(512)) AS "location", CAST("description" AS VARCHAR(2048)) AS "description", CAST("is_updated" AS SMALLINT) AS "is_updated", CAST("time_modified" AS TIMESTAMPTZ) AS "time_modified" FROM "mart_uni_tracking_spath" WHERE "pathtime" >= 1767225600') TO 's3://bucket/prefix/mart_uni_tracking_spath/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- mart_uni_tracking_spath: create_hold_table
CREATE TABLE IF NOT EXISTS "martsync_hold_mart_uni_tracking_spath" (held_by VARCHAR(64));

-- mart_uni_tracking_spath: hold_mart
LOCK "martsync_hold_mart_uni_tracking_spath";

-- mart_uni_tracking_spath: create_stage_table
DROP TABLE IF EXISTS "stage_mart_uni_tracking_spath";

-- mart_uni_tracking_spath: create_stage_table
CREATE TEMP TABLE "stage_mart_uni_tracking_spath" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "mart_uni_tracking_spath" WHERE 1 = 0;

-- mart_uni_tracking_spath: load_stage
COPY "stage_mart_uni_tracking_spath" FROM 's3://bucket/prefix/mart_uni_tracking_spath/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- mart_uni_tracking_spath: insert_new_rows
INSERT INTO "mart_uni_tracking_spath" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_mart_uni_tracking_spath" WHERE NOT EXISTS (SELECT 1 FROM "mart_uni_tracking_spath" WHERE "mart_uni_tracking_spath"."order_id" = "stage_mart_uni_tracking_spath"."order_id" AND "mart_uni_tracking_spath"."traceseq" = "stage_mart_uni_tracking_spath"."traceseq" AND "mart_uni_tracking_spath"."pathtime" = "stage_mart_uni_tracking_spath"."pathtime");

-- mart_uni_tracking_spath: retention_trim
DELETE FROM "mart_uni_tracking_spath" WHERE "pathtime" < (SELECT max("pathtime") FROM "mart_uni_tracking_spath") - 15552000;

-- mart_uni_tracking_spath: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- mart_uni_tracking_spath: drop_stage_table
DROP TABLE "stage_mart_uni_tracking_spath";

-- spath_latest_by_modified: create
CREATE TABLE IF NOT EXISTS "spath_latest_by_modified" (
  "id" BIGINT NOT NULL,
  "order_id" BIGINT NOT NULL,
  "traceseq" INTEGER NOT NULL,
  "pathtime" INTEGER NOT NULL,
  "code" SMALLINT NOT NULL,
  "location" VARCHAR(512),
  "description" VARCHAR(2048),
  "is_updated" SMALLINT NOT NULL,
  "time_modified" TIMESTAMPTZ NOT NULL
)
DISTKEY("order_id")
COMPOUND SORTKEY("pathtime", "order_id");

-- spath_latest_by_modified: summary
SELECT count(*), DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', max("time_modified")) FROM "spath_latest_by_modified";

-- spath_latest_by_modified: max_watermark
SELECT DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', max("time_modified")) FROM "spath_latest_by_modified";

-- spath_latest_by_modified: rows
SELECT count(*) FROM "spath_latest_by_modified";

-- spath_latest_by_modified: export
UNLOAD ('SELECT CAST("id" AS BIGINT) AS "id", CAST("order_id" AS BIGINT) AS "order_id", CAST("traceseq" AS INTEGER) AS "traceseq", CAST("pathtime" AS INTEGER) AS "pathtime", CAST("code" AS SMALLINT) AS "code", CAST("location" AS VARCHAR(512)) AS "location", CAST("description" AS VARCHAR(2048)) AS "description", CAST("is_updated" AS SMALLINT) AS "is_updated", CAST("time_modified" AS TIMESTAMPTZ) AS "time_modified" FROM "old_staging_table"') TO 's3://bucket/prefix/spath_latest_by_modified/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- spath_latest_by_modified: maintain
VACUUM DELETE ONLY "spath_latest_by_modified";

-- spath_latest_by_modified: maintain
VACUUM SORT ONLY "spath_latest_by_modified";

-- spath_latest_by_modified: maintain
ANALYZE "spath_latest_by_modified";

-- spath_latest_by_modified reconcile: begin
BEGIN;

-- spath_latest_by_modified reconcile: lock_runs
LOCK martsync_runs;

-- spath_latest_by_modified reconcile: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- spath_latest_by_modified reconcile: create_stage_table
DROP TABLE IF EXISTS "stage_spath_latest_by_modified";

-- spath_latest_by_modified reconcile: create_stage_table
CREATE TEMP TABLE "stage_spath_latest_by_modified" AS SELECT "order_id", "traceseq", "pathtime" FROM "spath_latest_by_modified" WHERE 1 = 0;

-- spath_latest_by_modified reconcile: load_stage
COPY "stage_spath_latest_by_modified" FROM 's3://bucket/prefix/spath_latest_by_modified/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- spath_latest_by_modified reconcile: loaded_rows
SELECT pg_last_copy_count();

-- spath_latest_by_modified reconcile: delete_missing
DELETE FROM "spath_latest_by_modified" USING "stage_spath_latest_by_modified" WHERE "spath_latest_by_modified"."order_id" = "stage_spath_latest_by_modified"."order_id" AND "spath_latest_by_modified"."traceseq" = "stage_spath_latest_by_modified"."traceseq" AND "spath_latest_by_modified"."pathtime" = "stage_spath_latest_by_modified"."pathtime";

-- spath_latest_by_modified reconcile: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- spath_latest_by_modified reconcile: drop_stage_table
DROP TABLE "stage_spath_latest_by_modified";

-- spath_latest_by_modified reconcile: commit
COMMIT;

-- spath_latest_by_modified binlog: begin
BEGIN;

-- spath_latest_by_modified binlog: lock_runs
LOCK martsync_runs;

-- spath_latest_by_modified binlog: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- spath_latest_by_modified binlog: create_stage_table
DROP TABLE IF EXISTS "stage_spath_latest_by_modified";

-- spath_latest_by_modified binlog: create_stage_table
CREATE TEMP TABLE "stage_spath_latest_by_modified" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified", CAST(0 AS SMALLINT) AS "martsync_deleted" FROM "spath_latest_by_modified" WHERE 1 = 0;

-- spath_latest_by_modified binlog: load_stage
COPY "stage_spath_latest_by_modified" FROM 's3://bucket/prefix/spath_latest_by_modified/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- spath_latest_by_modified binlog: loaded_rows
SELECT pg_last_copy_count();

-- spath_latest_by_modified binlog: delete_changed
DELETE FROM "spath_latest_by_modified" USING "stage_spath_latest_by_modified" WHERE "spath_latest_by_modified"."order_id" = "stage_spath_latest_by_modified"."order_id" AND "spath_latest_by_modified"."traceseq" = "stage_spath_latest_by_modified"."traceseq" AND "spath_latest_by_modified"."pathtime" = "stage_spath_latest_by_modified"."pathtime";

-- spath_latest_by_modified binlog: drop_deleted_rows
DELETE FROM "stage_spath_latest_by_modified" WHERE "martsync_deleted" = 1;

-- spath_latest_by_modified binlog: insert_rows
INSERT INTO "spath_latest_by_modified" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_spath_latest_by_modified";

-- spath_latest_by_modified binlog: retention_trim
DELETE FROM "spath_latest_by_modified" WHERE "time_modified" < (SELECT max("time_modified") FROM "spath_latest_by_modified") - INTERVAL '15552000 seconds';

-- spath_latest_by_modified binlog: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- spath_latest_by_modified binlog: drop_stage_table
DROP TABLE "stage_spath_latest_by_modified";

-- spath_latest_by_modified binlog: commit
COMMIT;

-- spath_latest_by_modified ranked: begin
BEGIN;

-- spath_latest_by_modified ranked: lock_runs
LOCK martsync_runs;

-- spath_latest_by_modified ranked: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- spath_latest_by_modified ranked: create_stage_table
DROP TABLE IF EXISTS "stage_spath_latest_by_modified";

-- spath_latest_by_modified ranked: create_stage_table
CREATE TEMP TABLE "stage_spath_latest_by_modified" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified", CAST(0 AS BIGINT) AS "martsync_arrival" FROM "spath_latest_by_modified" WHERE 1 = 0;

-- spath_latest_by_modified ranked: load_stage
COPY "stage_spath_latest_by_modified" FROM 's3://bucket/prefix/spath_latest_by_modified/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- spath_latest_by_modified ranked: loaded_rows
SELECT pg_last_copy_count();

-- spath_latest_by_modified ranked: rank_staged
DELETE FROM "stage_spath_latest_by_modified" WHERE "martsync_arrival" IN (SELECT "martsync_arrival" FROM (SELECT "martsync_arrival", row_number() OVER (PARTITION BY "order_id", "traceseq", "pathtime" ORDER BY "time_modified" DESC, "martsync_arrival" DESC) AS martsync_rank FROM "stage_spath_latest_by_modified") AS ranked WHERE martsync_rank > 1);

-- spath_latest_by_modified ranked: drop_stale_versions
DELETE FROM "stage_spath_latest_by_modified" USING "spath_latest_by_modified" WHERE "stage_spath_latest_by_modified"."order_id" = "spath_latest_by_modified"."order_id" AND "stage_spath_latest_by_modified"."traceseq" = "spath_latest_by_modified"."traceseq" AND "stage_spath_latest_by_modified"."pathtime" = "spath_latest_by_modified"."pathtime" AND "spath_latest_by_modified"."time_modified" >= (TIMESTAMP 'epoch' + CAST($1 AS BIGINT) * INTERVAL '1 microsecond') AND ("spath_latest_by_modified"."time_modified" > "stage_spath_latest_by_modified"."time_modified" OR ("spath_latest_by_modified"."id" = "stage_spath_latest_by_modified"."id" AND "spath_latest_by_modified"."code" = "stage_spath_latest_by_modified"."code" AND (("spath_latest_by_modified"."location" = "stage_spath_latest_by_modified"."location" AND length("spath_latest_by_modified"."location") = length("stage_spath_latest_by_modified"."location")) OR ("spath_latest_by_modified"."location" IS NULL AND "stage_spath_latest_by_modified"."location" IS NULL)) AND (("spath_latest_by_modified"."description" = "stage_spath_latest_by_modified"."description" AND length("spath_latest_by_modified"."description") = length("stage_spath_latest_by_modified"."description")) OR ("spath_latest_by_modified"."description" IS NULL AND "stage_spath_latest_by_modified"."description" IS NULL)) AND "spath_latest_by_modified"."is_updated" = "stage_spath_latest_by_modified"."is_updated" AND "spath_latest_by_modified"."time_modified" = "stage_spath_latest_by_modified"."time_modified"));

-- spath_latest_by_modified ranked: delete_replaced
DELETE FROM "spath_latest_by_modified" USING "stage_spath_latest_by_modified" WHERE "spath_latest_by_modified"."order_id" = "stage_spath_latest_by_modified"."order_id" AND "spath_latest_by_modified"."traceseq" = "stage_spath_latest_by_modified"."traceseq" AND "spath_latest_by_modified"."pathtime" = "stage_spath_latest_by_modified"."pathtime";

-- spath_latest_by_modified ranked: insert_rows
INSERT INTO "spath_latest_by_modified" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_spath_latest_by_modified";

-- spath_latest_by_modified ranked: retention_trim
DELETE FROM "spath_latest_by_modified" WHERE "time_modified" < (SELECT max("time_modified") FROM "spath_latest_by_modified") - INTERVAL '15552000 seconds';

-- spath_latest_by_modified ranked: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- spath_latest_by_modified ranked: drop_stage_table
DROP TABLE "stage_spath_latest_by_modified";

-- spath_latest_by_modified ranked: commit
COMMIT;

-- spath_latest_by_modified reconcile: export
UNLOAD ('SELECT CAST("id" AS BIGINT) AS "id", CAST("order_id" AS BIGINT) AS "order_id", CAST("traceseq" AS INTEGER) AS "traceseq", CAST("pathtime" AS INTEGER) AS "pathtime", CAST("code" AS SMALLINT) AS "code", CAST("location" AS VARCHAR(512)) AS "location", CAST("description" AS VARCHAR(2048)) AS "description", CAST("is_updated" AS SMALLINT) AS "is_updated", CAST("time_modified" AS TIMESTAMPTZ) AS "time_modified" FROM "spath_latest_by_modified" WHERE "time_modified" >= (TIMESTAMP \'epoch\' + CAST(1767225600 AS BIGINT) * INTERVAL \'1 microsecond\')') TO 's3://bucket/prefix/spath_latest_by_modified/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- spath_latest_by_modified: create_hold_table
CREATE TABLE IF NOT EXISTS "martsync_hold_spath_latest_by_modified" (held_by VARCHAR(64));

-- spath_latest_by_modified: hold_mart
LOCK "martsync_hold_spath_latest_by_modified";

-- spath_latest_by_modified: create_stage_table
DROP TABLE IF EXISTS "stage_spath_latest_by_modified";

-- spath_latest_by_modified: create_stage_table
CREATE TEMP TABLE "stage_spath_latest_by_modified" DISTKEY("order_id") SORTKEY("order_id", "traceseq", "pathtime") AS SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "spath_latest_by_modified" WHERE 1 = 0;

-- spath_latest_by_modified: load_stage
COPY "stage_spath_latest_by_modified" FROM 's3://bucket/prefix/spath_latest_by_modified/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- spath_latest_by_modified: drop_unchanged_rows
DELETE FROM "stage_spath_latest_by_modified" USING "spath_latest_by_modified" WHERE "stage_spath_latest_by_modified"."order_id" = "spath_latest_by_modified"."order_id" AND "stage_spath_latest_by_modified"."traceseq" = "spath_latest_by_modified"."traceseq" AND "stage_spath_latest_by_modified"."pathtime" = "spath_latest_by_modified"."pathtime" AND "spath_latest_by_modified"."time_modified" >= (TIMESTAMP 'epoch' + CAST($1 AS BIGINT) * INTERVAL '1 microsecond') AND (("spath_latest_by_modified"."id" = "stage_spath_latest_by_modified"."id" AND "spath_latest_by_modified"."code" = "stage_spath_latest_by_modified"."code" AND (("spath_latest_by_modified"."location" = "stage_spath_latest_by_modified"."location" AND length("spath_latest_by_modified"."location") = length("stage_spath_latest_by_modified"."location")) OR ("spath_latest_by_modified"."location" IS NULL AND "stage_spath_latest_by_modified"."location" IS NULL)) AND (("spath_latest_by_modified"."description" = "stage_spath_latest_by_modified"."description" AND length("spath_latest_by_modified"."description") = length("stage_spath_latest_by_modified"."description")) OR ("spath_latest_by_modified"."description" IS NULL AND "stage_spath_latest_by_modified"."description" IS NULL)) AND "spath_latest_by_modified"."is_updated" = "stage_spath_latest_by_modified"."is_updated" AND "spath_latest_by_modified"."time_modified" = "stage_spath_latest_by_modified"."time_modified"));

-- spath_latest_by_modified: delete_replaced
DELETE FROM "spath_latest_by_modified" USING "stage_spath_latest_by_modified" WHERE "spath_latest_by_modified"."order_id" = "stage_spath_latest_by_modified"."order_id" AND "spath_latest_by_modified"."traceseq" = "stage_spath_latest_by_modified"."traceseq" AND "spath_latest_by_modified"."pathtime" = "stage_spath_latest_by_modified"."pathtime";

-- spath_latest_by_modified: insert_rows
INSERT INTO "spath_latest_by_modified" ("id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified") SELECT "id", "order_id", "traceseq", "pathtime", "code", "location", "description", "is_updated", "time_modified" FROM "stage_spath_latest_by_modified";

-- spath_latest_by_modified: retention_trim
DELETE FROM "spath_latest_by_modified" WHERE "time_modified" < (SELECT max("time_modified") FROM "spath_latest_by_modified") - INTERVAL '15552000 seconds';

-- spath_latest_by_modified: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- spath_latest_by_modified replay: drop_stale_versions
DELETE FROM "stage_spath_latest_by_modified" USING "spath_latest_by_modified" WHERE "stage_spath_latest_by_modified"."order_id" = "spath_latest_by_modified"."order_id" AND "stage_spath_latest_by_modified"."traceseq" = "spath_latest_by_modified"."traceseq" AND "stage_spath_latest_by_modified"."pathtime" = "spath_latest_by_modified"."pathtime" AND "spath_latest_by_modified"."time_modified" >= (TIMESTAMP 'epoch' + CAST($1 AS BIGINT) * INTERVAL '1 microsecond') AND ("spath_latest_by_modified"."time_modified" > "stage_spath_latest_by_modified"."time_modified" OR ("spath_latest_by_modified"."id" = "stage_spath_latest_by_modified"."id" AND "spath_latest_by_modified"."code" = "stage_spath_latest_by_modified"."code" AND (("spath_latest_by_modified"."location" = "stage_spath_latest_by_modified"."location" AND length("spath_latest_by_modified"."location") = length("stage_spath_latest_by_modified"."location")) OR ("spath_latest_by_modified"."location" IS NULL AND "stage_spath_latest_by_modified"."location" IS NULL)) AND (("spath_latest_by_modified"."description" = "stage_spath_latest_by_modified"."description" AND length("spath_latest_by_modified"."description") = length("stage_spath_latest_by_modified"."description")) OR ("spath_latest_by_modified"."description" IS NULL AND "stage_spath_latest_by_modified"."description" IS NULL)) AND "spath_latest_by_modified"."is_updated" = "stage_spath_latest_by_modified"."is_updated" AND "spath_latest_by_modified"."time_modified" = "stage_spath_latest_by_modified"."time_modified"));

-- spath_latest_by_modified: drop_stage_table
DROP TABLE "stage_spath_latest_by_modified";

-- widened_uni_tracking_info: create
CREATE TABLE IF NOT EXISTS "widened_uni_tracking_info" (
  "order_id" BIGINT NOT NULL,
  "tracking_no" VARCHAR(160) NOT NULL,
  "partner_id" INTEGER NOT NULL,
  "carrier_code" VARCHAR(64),
  "status" SMALLINT NOT NULL,
  "last_code" SMALLINT,
  "last_event" VARCHAR(1020),
  "last_location" VARCHAR(512),
  "delivered_at" TIMESTAMP,
  "add_time" INTEGER NOT NULL,
  "update_time" INTEGER NOT NULL,
  "sort_note" VARCHAR(160)
)
DISTKEY("order_id")
COMPOUND SORTKEY("update_time", "order_id");

-- widened_uni_tracking_info: summary
SELECT count(*), CAST(max("update_time") AS BIGINT) FROM "widened_uni_tracking_info";

-- widened_uni_tracking_info: max_watermark
SELECT CAST(max("update_time") AS BIGINT) FROM "widened_uni_tracking_info";

-- widened_uni_tracking_info: rows
SELECT count(*) FROM "widened_uni_tracking_info";

-- widened_uni_tracking_info: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("tracking_no" AS VARCHAR(160)) AS "tracking_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("carrier_code" AS VARCHAR(64)) AS "carrier_code", CAST("status" AS SMALLINT) AS "status", CAST("last_code" AS SMALLINT) AS "last_code", CAST("last_event" AS VARCHAR(1020)) AS "last_event", CAST("last_location" AS VARCHAR(512)) AS "last_location", CAST("delivered_at" AS TIMESTAMP) AS "delivered_at", CAST("add_time" AS INTEGER) AS "add_time", CAST("update_time" AS INTEGER) AS "update_time", CAST("sort_note" AS VARCHAR(160)) AS "sort_note" FROM "old_staging_table"') TO 's3://bucket/prefix/widened_uni_tracking_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- widened_uni_tracking_info: maintain
VACUUM DELETE ONLY "widened_uni_tracking_info";

-- widened_uni_tracking_info: maintain
VACUUM SORT ONLY "widened_uni_tracking_info";

-- widened_uni_tracking_info: maintain
ANALYZE "widened_uni_tracking_info";

-- widened_uni_tracking_info reconcile: begin
BEGIN;

-- widened_uni_tracking_info reconcile: lock_runs
LOCK martsync_runs;

-- widened_uni_tracking_info reconcile: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- widened_uni_tracking_info reconcile: create_stage_table
DROP TABLE IF EXISTS "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info reconcile: create_stage_table
CREATE TEMP TABLE "stage_widened_uni_tracking_info" AS SELECT "order_id" FROM "widened_uni_tracking_info" WHERE 1 = 0;

-- widened_uni_tracking_info reconcile: load_stage
COPY "stage_widened_uni_tracking_info" FROM 's3://bucket/prefix/widened_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- widened_uni_tracking_info reconcile: loaded_rows
SELECT pg_last_copy_count();

-- widened_uni_tracking_info reconcile: delete_missing
DELETE FROM "widened_uni_tracking_info" USING "stage_widened_uni_tracking_info" WHERE "widened_uni_tracking_info"."order_id" = "stage_widened_uni_tracking_info"."order_id";

-- widened_uni_tracking_info reconcile: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- widened_uni_tracking_info reconcile: drop_stage_table
DROP TABLE "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info reconcile: commit
COMMIT;

-- widened_uni_tracking_info binlog: begin
BEGIN;

-- widened_uni_tracking_info binlog: lock_runs
LOCK martsync_runs;

-- widened_uni_tracking_info binlog: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- widened_uni_tracking_info binlog: create_stage_table
DROP TABLE IF EXISTS "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info binlog: create_stage_table
CREATE TEMP TABLE "stage_widened_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note", CAST(0 AS SMALLINT) AS "martsync_deleted" FROM "widened_uni_tracking_info" WHERE 1 = 0;

-- widened_uni_tracking_info binlog: load_stage
COPY "stage_widened_uni_tracking_info" FROM 's3://bucket/prefix/widened_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- widened_uni_tracking_info binlog: loaded_rows
SELECT pg_last_copy_count();

-- widened_uni_tracking_info binlog: delete_changed
DELETE FROM "widened_uni_tracking_info" USING "stage_widened_uni_tracking_info" WHERE "widened_uni_tracking_info"."order_id" = "stage_widened_uni_tracking_info"."order_id";

-- widened_uni_tracking_info binlog: drop_deleted_rows
DELETE FROM "stage_widened_uni_tracking_info" WHERE "martsync_deleted" = 1;

-- widened_uni_tracking_info binlog: insert_rows
INSERT INTO "widened_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note" FROM "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info binlog: retention_trim
DELETE FROM "widened_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "widened_uni_tracking_info") - 15552000;

-- widened_uni_tracking_info binlog: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- widened_uni_tracking_info binlog: drop_stage_table
DROP TABLE "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info binlog: commit
COMMIT;

-- widened_uni_tracking_info ranked: begin
BEGIN;

-- widened_uni_tracking_info ranked: lock_runs
LOCK martsync_runs;

-- widened_uni_tracking_info ranked: check_run_id
SELECT count(*) FROM martsync_runs WHERE run_id = $1;

-- widened_uni_tracking_info ranked: create_stage_table
DROP TABLE IF EXISTS "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info ranked: create_stage_table
CREATE TEMP TABLE "stage_widened_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note", CAST(0 AS BIGINT) AS "martsync_arrival" FROM "widened_uni_tracking_info" WHERE 1 = 0;

-- widened_uni_tracking_info ranked: load_stage
COPY "stage_widened_uni_tracking_info" FROM 's3://bucket/prefix/widened_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- widened_uni_tracking_info ranked: loaded_rows
SELECT pg_last_copy_count();

-- widened_uni_tracking_info ranked: rank_staged
DELETE FROM "stage_widened_uni_tracking_info" WHERE "martsync_arrival" IN (SELECT "martsync_arrival" FROM (SELECT "martsync_arrival", row_number() OVER (PARTITION BY "order_id" ORDER BY "update_time" DESC, "martsync_arrival" DESC) AS martsync_rank FROM "stage_widened_uni_tracking_info") AS ranked WHERE martsync_rank > 1);

-- widened_uni_tracking_info ranked: drop_stale_versions
DELETE FROM "stage_widened_uni_tracking_info" USING "widened_uni_tracking_info" WHERE "stage_widened_uni_tracking_info"."order_id" = "widened_uni_tracking_info"."order_id" AND "widened_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ("widened_uni_tracking_info"."update_time" > "stage_widened_uni_tracking_info"."update_time" OR (("widened_uni_tracking_info"."tracking_no" = "stage_widened_uni_tracking_info"."tracking_no" AND length("widened_uni_tracking_info"."tracking_no") = length("stage_widened_uni_tracking_info"."tracking_no")) AND "widened_uni_tracking_info"."partner_id" = "stage_widened_uni_tracking_info"."partner_id" AND (("widened_uni_tracking_info"."carrier_code" = "stage_widened_uni_tracking_info"."carrier_code" AND length("widened_uni_tracking_info"."carrier_code") = length("stage_widened_uni_tracking_info"."carrier_code")) OR ("widened_uni_tracking_info"."carrier_code" IS NULL AND "stage_widened_uni_tracking_info"."carrier_code" IS NULL)) AND "widened_uni_tracking_info"."status" = "stage_widened_uni_tracking_info"."status" AND ("widened_uni_tracking_info"."last_code" = "stage_widened_uni_tracking_info"."last_code" OR ("widened_uni_tracking_info"."last_code" IS NULL AND "stage_widened_uni_tracking_info"."last_code" IS NULL)) AND (("widened_uni_tracking_info"."last_event" = "stage_widened_uni_tracking_info"."last_event" AND length("widened_uni_tracking_info"."last_event") = length("stage_widened_uni_tracking_info"."last_event")) OR ("widened_uni_tracking_info"."last_event" IS NULL AND "stage_widened_uni_tracking_info"."last_event" IS NULL)) AND (("widened_uni_tracking_info"."last_location" = "stage_widened_uni_tracking_info"."last_location" AND length("widened_uni_tracking_info"."last_location") = length("stage_widened_uni_tracking_info"."last_location")) OR ("widened_uni_tracking_info"."last_location" IS NULL AND "stage_widened_uni_tracking_info"."last_location" IS NULL)) AND ("widened_uni_tracking_info"."delivered_at" = "stage_widened_uni_tracking_info"."delivered_at" OR ("widened_uni_tracking_info"."delivered_at" IS NULL AND "stage_widened_uni_tracking_info"."delivered_at" IS NULL)) AND "widened_uni_tracking_info"."add_time" = "stage_widened_uni_tracking_info"."add_time" AND "widened_uni_tracking_info"."update_time" = "stage_widened_uni_tracking_info"."update_time" AND (("widened_uni_tracking_info"."sort_note" = "stage_widened_uni_tracking_info"."sort_note" AND length("widened_uni_tracking_info"."sort_note") = length("stage_widened_uni_tracking_info"."sort_note")) OR ("widened_uni_tracking_info"."sort_note" IS NULL AND "stage_widened_uni_tracking_info"."sort_note" IS NULL))));

-- widened_uni_tracking_info ranked: delete_replaced
DELETE FROM "widened_uni_tracking_info" USING "stage_widened_uni_tracking_info" WHERE "widened_uni_tracking_info"."order_id" = "stage_widened_uni_tracking_info"."order_id";

-- widened_uni_tracking_info ranked: insert_rows
INSERT INTO "widened_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note" FROM "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info ranked: retention_trim
DELETE FROM "widened_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "widened_uni_tracking_info") - 15552000;

-- widened_uni_tracking_info ranked: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- widened_uni_tracking_info ranked: drop_stage_table
DROP TABLE "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info ranked: commit
COMMIT;

-- widened_uni_tracking_info reconcile: export
UNLOAD ('SELECT CAST("order_id" AS BIGINT) AS "order_id", CAST("tracking_no" AS VARCHAR(160)) AS "tracking_no", CAST("partner_id" AS INTEGER) AS "partner_id", CAST("carrier_code" AS VARCHAR(64)) AS "carrier_code", CAST("status" AS SMALLINT) AS "status", CAST("last_code" AS SMALLINT) AS "last_code", CAST("last_event" AS VARCHAR(1020)) AS "last_event", CAST("last_location" AS VARCHAR(512)) AS "last_location", CAST("delivered_at" AS TIMESTAMP) AS "delivered_at", CAST("add_time" AS INTEGER) AS "add_time", CAST("update_time" AS INTEGER) AS "update_time", CAST("sort_note" AS VARCHAR(160)) AS "sort_note" FROM "widened_uni_tracking_info" WHERE "update_time" >= 1767225600') TO 's3://bucket/prefix/widened_uni_tracking_info/export-RUN/part_' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync' FORMAT AS PARQUET MAXFILESIZE 256 MB;

-- widened_uni_tracking_info: create_hold_table
CREATE TABLE IF NOT EXISTS "martsync_hold_widened_uni_tracking_info" (held_by VARCHAR(64));

-- widened_uni_tracking_info: hold_mart
LOCK "martsync_hold_widened_uni_tracking_info";

-- widened_uni_tracking_info: create_stage_table
DROP TABLE IF EXISTS "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info: create_stage_table
CREATE TEMP TABLE "stage_widened_uni_tracking_info" DISTKEY("order_id") SORTKEY("order_id") AS SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note" FROM "widened_uni_tracking_info" WHERE 1 = 0;

-- widened_uni_tracking_info: load_stage
COPY "stage_widened_uni_tracking_info" FROM 's3://bucket/prefix/widened_uni_tracking_info/RUN/manifest.json' IAM_ROLE 'arn:aws:iam::123456789012:role/martsync-copy' FORMAT AS PARQUET MANIFEST;

-- widened_uni_tracking_info: drop_unchanged_rows
DELETE FROM "stage_widened_uni_tracking_info" USING "widened_uni_tracking_info" WHERE "stage_widened_uni_tracking_info"."order_id" = "widened_uni_tracking_info"."order_id" AND "widened_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ((("widened_uni_tracking_info"."tracking_no" = "stage_widened_uni_tracking_info"."tracking_no" AND length("widened_uni_tracking_info"."tracking_no") = length("stage_widened_uni_tracking_info"."tracking_no")) AND "widened_uni_tracking_info"."partner_id" = "stage_widened_uni_tracking_info"."partner_id" AND (("widened_uni_tracking_info"."carrier_code" = "stage_widened_uni_tracking_info"."carrier_code" AND length("widened_uni_tracking_info"."carrier_code") = length("stage_widened_uni_tracking_info"."carrier_code")) OR ("widened_uni_tracking_info"."carrier_code" IS NULL AND "stage_widened_uni_tracking_info"."carrier_code" IS NULL)) AND "widened_uni_tracking_info"."status" = "stage_widened_uni_tracking_info"."status" AND ("widened_uni_tracking_info"."last_code" = "stage_widened_uni_tracking_info"."last_code" OR ("widened_uni_tracking_info"."last_code" IS NULL AND "stage_widened_uni_tracking_info"."last_code" IS NULL)) AND (("widened_uni_tracking_info"."last_event" = "stage_widened_uni_tracking_info"."last_event" AND length("widened_uni_tracking_info"."last_event") = length("stage_widened_uni_tracking_info"."last_event")) OR ("widened_uni_tracking_info"."last_event" IS NULL AND "stage_widened_uni_tracking_info"."last_event" IS NULL)) AND (("widened_uni_tracking_info"."last_location" = "stage_widened_uni_tracking_info"."last_location" AND length("widened_uni_tracking_info"."last_location") = length("stage_widened_uni_tracking_info"."last_location")) OR ("widened_uni_tracking_info"."last_location" IS NULL AND "stage_widened_uni_tracking_info"."last_location" IS NULL)) AND ("widened_uni_tracking_info"."delivered_at" = "stage_widened_uni_tracking_info"."delivered_at" OR ("widened_uni_tracking_info"."delivered_at" IS NULL AND "stage_widened_uni_tracking_info"."delivered_at" IS NULL)) AND "widened_uni_tracking_info"."add_time" = "stage_widened_uni_tracking_info"."add_time" AND "widened_uni_tracking_info"."update_time" = "stage_widened_uni_tracking_info"."update_time" AND (("widened_uni_tracking_info"."sort_note" = "stage_widened_uni_tracking_info"."sort_note" AND length("widened_uni_tracking_info"."sort_note") = length("stage_widened_uni_tracking_info"."sort_note")) OR ("widened_uni_tracking_info"."sort_note" IS NULL AND "stage_widened_uni_tracking_info"."sort_note" IS NULL))));

-- widened_uni_tracking_info: delete_replaced
DELETE FROM "widened_uni_tracking_info" USING "stage_widened_uni_tracking_info" WHERE "widened_uni_tracking_info"."order_id" = "stage_widened_uni_tracking_info"."order_id";

-- widened_uni_tracking_info: insert_rows
INSERT INTO "widened_uni_tracking_info" ("order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note") SELECT "order_id", "tracking_no", "partner_id", "carrier_code", "status", "last_code", "last_event", "last_location", "delivered_at", "add_time", "update_time", "sort_note" FROM "stage_widened_uni_tracking_info";

-- widened_uni_tracking_info: retention_trim
DELETE FROM "widened_uni_tracking_info" WHERE "update_time" < (SELECT max("update_time") FROM "widened_uni_tracking_info") - 15552000;

-- widened_uni_tracking_info: record_run
INSERT INTO martsync_runs (run_id, mart, batch, started_at, committed_at, watermark_from, watermark_to, rows_extracted, rows_deduped, rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, dedup_ms, stage_ms, merge_ms, load_ms, drop_stale_ms, delete_ms, insert_ms, trim_ms, targets_ms, source_position) VALUES ($1, $2, $3, (TIMESTAMP 'epoch' + $4::BIGINT * INTERVAL '1 millisecond'), (TIMESTAMP 'epoch' + $5::BIGINT * INTERVAL '1 millisecond'), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25);

-- widened_uni_tracking_info replay: drop_stale_versions
DELETE FROM "stage_widened_uni_tracking_info" USING "widened_uni_tracking_info" WHERE "stage_widened_uni_tracking_info"."order_id" = "widened_uni_tracking_info"."order_id" AND "widened_uni_tracking_info"."update_time" >= CAST($1 AS BIGINT) AND ("widened_uni_tracking_info"."update_time" > "stage_widened_uni_tracking_info"."update_time" OR (("widened_uni_tracking_info"."tracking_no" = "stage_widened_uni_tracking_info"."tracking_no" AND length("widened_uni_tracking_info"."tracking_no") = length("stage_widened_uni_tracking_info"."tracking_no")) AND "widened_uni_tracking_info"."partner_id" = "stage_widened_uni_tracking_info"."partner_id" AND (("widened_uni_tracking_info"."carrier_code" = "stage_widened_uni_tracking_info"."carrier_code" AND length("widened_uni_tracking_info"."carrier_code") = length("stage_widened_uni_tracking_info"."carrier_code")) OR ("widened_uni_tracking_info"."carrier_code" IS NULL AND "stage_widened_uni_tracking_info"."carrier_code" IS NULL)) AND "widened_uni_tracking_info"."status" = "stage_widened_uni_tracking_info"."status" AND ("widened_uni_tracking_info"."last_code" = "stage_widened_uni_tracking_info"."last_code" OR ("widened_uni_tracking_info"."last_code" IS NULL AND "stage_widened_uni_tracking_info"."last_code" IS NULL)) AND (("widened_uni_tracking_info"."last_event" = "stage_widened_uni_tracking_info"."last_event" AND length("widened_uni_tracking_info"."last_event") = length("stage_widened_uni_tracking_info"."last_event")) OR ("widened_uni_tracking_info"."last_event" IS NULL AND "stage_widened_uni_tracking_info"."last_event" IS NULL)) AND (("widened_uni_tracking_info"."last_location" = "stage_widened_uni_tracking_info"."last_location" AND length("widened_uni_tracking_info"."last_location") = length("stage_widened_uni_tracking_info"."last_location")) OR ("widened_uni_tracking_info"."last_location" IS NULL AND "stage_widened_uni_tracking_info"."last_location" IS NULL)) AND ("widened_uni_tracking_info"."delivered_at" = "stage_widened_uni_tracking_info"."delivered_at" OR ("widened_uni_tracking_info"."delivered_at" IS NULL AND "stage_widened_uni_tracking_info"."delivered_at" IS NULL)) AND "widened_uni_tracking_info"."add_time" = "stage_widened_uni_tracking_info"."add_time" AND "widened_uni_tracking_info"."update_time" = "stage_widened_uni_tracking_info"."update_time" AND (("widened_uni_tracking_info"."sort_note" = "stage_widened_uni_tracking_info"."sort_note" AND length("widened_uni_tracking_info"."sort_note") = length("stage_widened_uni_tracking_info"."sort_note")) OR ("widened_uni_tracking_info"."sort_note" IS NULL AND "stage_widened_uni_tracking_info"."sort_note" IS NULL))));

-- widened_uni_tracking_info: add_column
ALTER TABLE "widened_uni_tracking_info" ADD COLUMN "sort_note" VARCHAR(160);

-- widened_uni_tracking_info: drop_stage_table
DROP TABLE "stage_widened_uni_tracking_info";

