//! DDL: the marts (with Redshift's distribution and sort keys), the run ledger, PostgreSQL's
//! indexes, and the columns a widened source adds.

use super::{Dialect, RUNS_TABLE, current_schema, placeholder, quote, quote_list};
use crate::config::TableConfig;
use crate::warehouse::plan::Timed;

/// `CREATE TABLE IF NOT EXISTS` for a mart, with Redshift's distribution and sort keys.
pub fn create_mart(dialect: Dialect, table: &TableConfig) -> String {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!(
                "  {} {}{null}",
                quote(&c.name),
                c.mapped.warehouse.sql(dialect)
            )
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{columns}\n)",
        quote(&table.name)
    );
    if dialect == Dialect::Redshift {
        let sort = quote_list(&table.sort_key);
        sql.push_str(&format!(
            "\nDISTKEY({})\nCOMPOUND SORTKEY({sort})",
            quote(&table.dist_key)
        ));
    }
    sql
}

/// The run ledger's DDL.
pub fn create_runs(dialect: Dialect) -> String {
    let text = match dialect {
        Dialect::Redshift => "VARCHAR(1024)",
        _ => "VARCHAR",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (\n  run_id VARCHAR(64) NOT NULL,\n  mart VARCHAR(127) NOT NULL,\n  \
         batch {text},\n  started_at TIMESTAMP NOT NULL,\n  committed_at TIMESTAMP NOT NULL,\n  \
         watermark_from BIGINT,\n  watermark_to BIGINT,\n  rows_extracted BIGINT NOT NULL,\n  \
         rows_deduped BIGINT NOT NULL,\n  rows_rejected BIGINT NOT NULL,\n  rows_deleted BIGINT NOT NULL,\n  \
         rows_inserted BIGINT NOT NULL,\n  rows_trimmed BIGINT NOT NULL,\n  bytes_staged BIGINT NOT NULL,\n  \
         extract_ms BIGINT NOT NULL,\n  dedup_ms BIGINT NOT NULL,\n  stage_ms BIGINT NOT NULL,\n  merge_ms BIGINT NOT NULL,\n{}\n)",
        later_runs_columns(dialect)
            .iter()
            .map(|(c, t)| format!("  {c} {t}"))
            .collect::<Vec<_>>()
            .join(",\n")
    )
}

/// The ledger's columns added after its first release, with their types: the per-statement
/// timings, then the binlog position a `binlog`-mode cycle committed
/// ([`SOURCE_POSITION_COLUMN`]). All nullable: older rows have none.
fn later_runs_columns(dialect: Dialect) -> Vec<(&'static str, &'static str)> {
    let text = match dialect {
        Dialect::Redshift => "VARCHAR(1024)",
        _ => "VARCHAR",
    };
    timing_columns()
        .into_iter()
        .map(|c| (c, "BIGINT"))
        .chain([(SOURCE_POSITION_COLUMN, text)])
        .collect()
}

/// Where a `binlog`-mode cycle's changes end in the server's binary log (`file:offset`),
/// recorded with the merge that applied them: the next cycle reads on from there.
pub const SOURCE_POSITION_COLUMN: &str = "source_position";

/// The ledger's per-statement timing columns ([`Timed::column`]): nullable, since a merge
/// runs only some of the statements and ledgers from before them have none.
pub fn timing_columns() -> Vec<&'static str> {
    Timed::ALL.iter().map(|t| t.column()).collect()
}

/// The `ALTER TABLE … ADD COLUMN` of each timing column a ledger from an older martsync
/// lacks (`have`: its columns, lower case): the ledger is upgraded in place, its rows kept.
pub fn add_missing_runs_columns(
    dialect: Dialect,
    have: &std::collections::HashSet<String>,
) -> Vec<String> {
    later_runs_columns(dialect)
        .into_iter()
        .filter(|(c, _)| !have.contains(*c))
        .map(|(c, t)| format!("ALTER TABLE {RUNS_TABLE} ADD COLUMN {c} {t}"))
        .collect()
}

/// The columns of [`RUNS_TABLE`] in insert order; the insert binds one parameter each, with
/// `started_at` and `committed_at` as epoch milliseconds.
pub const RUNS_COLUMNS: &[&str] = &[
    "run_id",
    "mart",
    "batch",
    "started_at",
    "committed_at",
    "watermark_from",
    "watermark_to",
    "rows_extracted",
    "rows_deduped",
    "rows_rejected",
    "rows_deleted",
    "rows_inserted",
    "rows_trimmed",
    "bytes_staged",
    "extract_ms",
    "dedup_ms",
    "stage_ms",
    "merge_ms",
    "load_ms",
    "drop_stale_ms",
    "delete_ms",
    "insert_ms",
    "trim_ms",
    "targets_ms",
    SOURCE_POSITION_COLUMN,
];

/// An index of a mart: its name (unquoted) and its `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub sql: String,
}

/// Indexes a PostgreSQL mart needs: a unique one on the key (the merge's DELETE and
/// anti-join probe it, and it makes a duplicate key impossible) and one on the watermark
/// (each cycle starts with `max(watermark)`). Redshift has no indexes (DISTKEY/SORTKEY
/// instead) and DuckDB needs none at these sizes.
pub fn create_indexes(dialect: Dialect, table: &TableConfig) -> Vec<Index> {
    if dialect != Dialect::Postgres {
        return Vec::new();
    }
    let mart = quote(&table.name);
    let keys = quote_list(&table.key);
    let (key, watermark) = (
        format!("{}_key", table.name).to_ascii_lowercase(),
        format!("{}_watermark", table.name).to_ascii_lowercase(),
    );
    vec![
        Index {
            sql: format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {mart} ({keys})",
                quote(&key)
            ),
            name: key,
        },
        Index {
            sql: format!(
                "CREATE INDEX IF NOT EXISTS {} ON {mart} ({})",
                quote(&watermark),
                quote(&table.watermark)
            ),
            name: watermark,
        },
    ]
}

/// The table a run of `mart` locks from before its extraction until its merge commits (the
/// hold): runs of one mart are serialized end to end, so a run that extracted earlier never
/// commits over one that extracted later. It holds no rows and nothing reads it, so its
/// ACCESS EXCLUSIVE lock (Redshift's only LOCK mode, "LOCK",
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html>) blocks no reader of the mart.
pub fn hold_table(mart: &str) -> String {
    format!("martsync_hold_{}", mart.to_ascii_lowercase())
}

/// Creates a mart's [`hold_table`].
pub fn create_hold_table(mart: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (held_by VARCHAR(64))",
        quote(&hold_table(mart))
    )
}

/// Takes a mart's hold, inside a transaction of a connection of its own; COMMIT, or the
/// connection's end, releases it. PostgreSQL bounds the wait with `lock_timeout`; Redshift,
/// which has none, with the hold connection's `statement_timeout`, set to the lock timeout.
pub fn hold_lock(mart: &str) -> String {
    format!("LOCK {}", quote(&hold_table(mart)))
}

/// The statement a run of `mart` holds it with, where the warehouse holds marts by SQL (DuckDB
/// holds them within the process, which alone may write its file).
pub fn hold_mart(dialect: Dialect, mart: &str) -> Option<String> {
    (dialect != Dialect::DuckDb).then(|| hold_lock(mart))
}

/// PostgreSQL: does a relation (table or index) of this name exist in the current schema?
pub const RELATION_EXISTS: &str = "SELECT to_regclass(quote_ident($1)) IS NOT NULL";

/// PostgreSQL: serializes the DDL of concurrent runs (two `CREATE TABLE IF NOT EXISTS` of
/// one name at once can fail on the catalog's unique index); released at COMMIT.
pub const DDL_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('martsync ensure_tables'))";

/// The lock `ensure_tables` takes first, where the dialect has one ([`DDL_LOCK`]).
pub fn ddl_lock(dialect: Dialect) -> Option<&'static str> {
    (dialect == Dialect::Postgres).then_some(DDL_LOCK)
}

/// The columns of a mart, lower case (`$1`: the mart's name).
pub fn mart_columns(dialect: Dialect) -> String {
    format!(
        "SELECT lower(column_name) FROM information_schema.columns WHERE table_name = {} \
         AND table_schema = {}",
        placeholder(dialect, 1),
        current_schema(dialect)
    )
}

/// The `ALTER TABLE … ADD COLUMN` of each column of `table` the mart does not have (`have`:
/// its columns, lower case), with the column's name. Added columns are nullable: older rows
/// have no value.
pub fn add_missing_columns(
    dialect: Dialect,
    table: &TableConfig,
    have: &std::collections::HashSet<String>,
) -> Vec<(String, String)> {
    table
        .schema
        .columns
        .iter()
        .filter(|c| !have.contains(&c.name))
        .map(|c| {
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(&table.name),
                quote(&c.name),
                c.mapped.warehouse.sql(dialect)
            );
            (c.name.clone(), sql)
        })
        .collect()
}
