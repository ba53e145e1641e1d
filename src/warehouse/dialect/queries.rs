//! What martsync reads besides merging: watermarks, the ledger, status, exports.

use super::{Dialect, RUNS_TABLE, current_schema, max_as_i64, placeholder, quote};
use crate::config::TableConfig;

/// The rows `export` reads: the mart's columns of another table, each cast to the mart's
/// type (a staging table may type them more loosely); with `since`, only the rows whose
/// watermark is at or above it (the column's unit: seconds, or µs for timestamps).
pub fn select_columns_since(
    dialect: Dialect,
    table: &TableConfig,
    from: &str,
    since: Option<i64>,
) -> String {
    let select = select_columns(dialect, table, from);
    let Some(since) = since else {
        return select;
    };
    let bound = if table.schema.is_timestamp(&table.watermark) {
        super::epoch_us_to_timestamp(dialect, &since.to_string())
    } else {
        since.to_string()
    };
    format!("{select} WHERE {} >= {bound}", quote(&table.watermark))
}

/// [`select_columns_since`] without a bound.
pub fn select_columns(dialect: Dialect, table: &TableConfig, from: &str) -> String {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| {
            let name = quote(&c.name);
            format!(
                "CAST({name} AS {}) AS {name}",
                c.mapped.warehouse.sql(dialect)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {columns} FROM {}", quote(from))
}

/// Labels of the batches committed to a mart.
pub fn committed_batches(dialect: Dialect) -> String {
    format!(
        "SELECT batch FROM {RUNS_TABLE} WHERE mart = {} AND batch IS NOT NULL",
        placeholder(dialect, 1)
    )
}

/// The run ids committed to a mart (staged runs not among them never committed).
pub fn committed_runs(dialect: Dialect) -> String {
    format!(
        "SELECT run_id FROM {RUNS_TABLE} WHERE mart = {}",
        placeholder(dialect, 1)
    )
}

/// The binlog position of the mart's last committed `binlog`-mode cycle (`$1`: the mart):
/// the one row with the latest commit, as a set of at most one.
pub fn last_source_position(dialect: Dialect) -> String {
    format!(
        "SELECT {c} FROM {RUNS_TABLE} WHERE mart = {} AND {c} IS NOT NULL \
         ORDER BY committed_at DESC, run_id DESC LIMIT 1",
        placeholder(dialect, 1),
        c = super::SOURCE_POSITION_COLUMN,
    )
}

/// Whether a table exists in the connection's current schema (1 or 0).
pub fn table_exists(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = {} AND table_schema = {}",
        placeholder(dialect, 1),
        current_schema(dialect)
    )
}

/// The mart's largest watermark (as [`max_as_i64`]): an index lookup where there is one, so
/// every cycle starts in constant time (no count).
pub fn max_watermark(dialect: Dialect, table: &TableConfig) -> String {
    format!(
        "SELECT {} FROM {}",
        max_as_i64(dialect, table, &table.watermark),
        quote(&table.name)
    )
}

/// Row count and largest watermark (as [`max_as_i64`]) of a mart.
pub fn mart_summary(dialect: Dialect, table: &TableConfig) -> String {
    format!(
        "SELECT count(*), {} FROM {}",
        max_as_i64(dialect, table, &table.watermark),
        quote(&table.name)
    )
}

/// Runs count of a mart.
pub fn count_runs(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM {RUNS_TABLE} WHERE mart = {}",
        placeholder(dialect, 1)
    )
}

/// The first column of [`recent_runs`]'s statement timings.
pub const RECENT_RUNS_TIMINGS: usize = 16;

/// The last `limit` committed runs of a mart, newest first, times as epoch ms, then the
/// statement timings ([`super::timing_columns`], from column [`RECENT_RUNS_TIMINGS`] on).
/// The limit is a literal: Redshift does not take a parameter there.
pub fn recent_runs(dialect: Dialect, limit: usize) -> String {
    let ms = |column: &str| match dialect {
        Dialect::DuckDb => format!("epoch_ms({column})"),
        Dialect::Postgres => format!("CAST(extract(epoch FROM {column}) * 1000 AS BIGINT)"),
        Dialect::Redshift => super::epoch_units(column, "millisecond"),
    };
    format!(
        "SELECT run_id, batch, {}, {}, watermark_to, rows_extracted, rows_deduped, \
         rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, \
         dedup_ms, stage_ms, merge_ms, {} FROM {RUNS_TABLE} WHERE mart = {} \
         ORDER BY committed_at DESC, run_id DESC LIMIT {limit}",
        ms("started_at"),
        ms("committed_at"),
        super::timing_columns().join(", "),
        placeholder(dialect, 1),
    )
}

/// The mart's rows for the metrics' gauge, cheaply: PostgreSQL's planner estimate
/// (`pg_class.reltuples`, kept by autovacuum and ANALYZE; a count only while the mart has
/// never been analyzed, when it is -1), a count elsewhere (DuckDB counts from its row groups'
/// metadata; Redshift's columnar count reads one column's blocks). `$1`: the mart's name
/// on PostgreSQL.
pub fn mart_rows(dialect: Dialect, table: &TableConfig) -> String {
    let count = format!("SELECT count(*) FROM {}", quote(&table.name));
    match dialect {
        // COALESCE evaluates its arguments left to right only as far as needed ("Conditional
        // Expressions", PostgreSQL manual): the count runs only without an estimate.
        Dialect::Postgres => format!(
            "SELECT COALESCE((SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = \
             to_regclass(quote_ident($1)) AND reltuples >= 0), ({count}))"
        ),
        Dialect::DuckDb | Dialect::Redshift => count,
    }
}

/// When the mart's last scheduled cycle (`batch = 'run'`) started, as epoch ms: the mart
/// holds every change its source had committed by then (replays and backfills are history,
/// and say nothing of how current it is). `$1`: the mart.
pub fn last_synced(dialect: Dialect) -> String {
    let ms = match dialect {
        Dialect::DuckDb => "epoch_ms(max(started_at))".to_string(),
        Dialect::Postgres => "CAST(extract(epoch FROM max(started_at)) * 1000 AS BIGINT)".into(),
        Dialect::Redshift => super::epoch_units("max(started_at)", "millisecond"),
    };
    format!(
        "SELECT {ms} FROM {RUNS_TABLE} WHERE mart = {} AND batch = 'run'",
        placeholder(dialect, 1)
    )
}

/// Redshift: unloads `select` as Parquet files `<to>NNNN_part_NN.parquet` ("UNLOAD",
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html>), each at most 256 MB so
/// that reading them back holds one bounded file at a time. The query is a string literal in
/// which quotes are escaped with a backslash, as that page says.
pub fn unload(select: &str, to: &str, iam_role: &str) -> String {
    let query = select.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "UNLOAD ('{query}') TO {} IAM_ROLE {} FORMAT AS PARQUET MAXFILESIZE 256 MB",
        super::literal(to),
        super::literal(iam_role)
    )
}
