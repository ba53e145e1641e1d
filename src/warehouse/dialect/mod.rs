//! SQL of each warehouse dialect: mart DDL and the statements of one merge, rendered in one
//! place so `ddl`, the warehouses and the golden tests all see the same text.
//!
//! Identifiers are validated by the config (plain names) and always double-quoted here;
//! values are bound as parameters, except the stage file paths DuckDB reads, which are
//! rendered as escaped string literals.

//!
//! The files: [`ddl`] (marts, the run ledger, indexes, columns), [`merge`] (the plan of one
//! merge: every statement from `BEGIN` to `COMMIT`, and how a run is loaded), [`queries`]
//! (what status, watermark and export read), [`upkeep`] (what `maintain` runs after deletes).

mod ddl;
mod merge;
mod queries;
mod upkeep;

pub use super::plan::Statement;
use crate::config::TableConfig;
pub use crate::schema::{Dialect, RUNS_TABLE};
pub use ddl::*;
pub use merge::*;
pub use queries::*;
pub use upkeep::*;

/// `"name"`: names are validated to be plain identifiers, so no escaping is needed.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_lowercase())
}

/// `"a", "b"`: names quoted and listed.
pub fn quote_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| quote(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A SQL string literal with quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The expression giving `max(column)` as an integer in the column's unit (µs for timestamps).
pub fn max_as_i64(dialect: Dialect, table: &TableConfig, column: &str) -> String {
    let col = quote(column);
    if !table.schema.is_timestamp(column) {
        // INTEGER columns have INTEGER maxima; clients read BIGINT.
        return format!("CAST(max({col}) AS BIGINT)");
    }
    match dialect {
        Dialect::DuckDb => format!("epoch_us(max({col}))"),
        Dialect::Postgres => format!("CAST(extract(epoch FROM max({col})) * 1000000 AS BIGINT)"),
        Dialect::Redshift => epoch_units(&format!("max({col})"), "microsecond"),
    }
}

/// Redshift: the time since the epoch of a TIMESTAMP expression in `unit`s, as BIGINT.
/// Not `extract(epoch …)`: for a TIMESTAMP it returns INTEGER ("EXTRACT function", return
/// type), whole seconds that overflow once multiplied into milli- or microseconds, and lose
/// the fraction. DATEDIFF returns BIGINT and counts `unit` boundaries crossed ("DATEDIFF
/// function"), which for microseconds or milliseconds from the epoch is the exact count.
pub fn epoch_units(expr: &str, unit: &str) -> String {
    format!("DATEDIFF({unit}, TIMESTAMP '1970-01-01 00:00:00', {expr})")
}

/// The mart's columns, quoted, comma separated, in order.
pub fn quoted_columns(table: &TableConfig) -> String {
    quote_list(table.schema.columns.iter().map(|c| &c.name))
}

fn placeholder(dialect: Dialect, i: usize) -> String {
    match dialect {
        Dialect::DuckDb => "?".into(),
        Dialect::Postgres | Dialect::Redshift => format!("${i}"),
    }
}

fn epoch_ms_to_timestamp(dialect: Dialect, p: &str) -> String {
    match dialect {
        Dialect::DuckDb => format!("make_timestamp(CAST({p} AS BIGINT) * 1000)"),
        Dialect::Postgres => format!("(to_timestamp({p}::BIGINT / 1000.0) AT TIME ZONE 'UTC')"),
        Dialect::Redshift => {
            format!("(TIMESTAMP 'epoch' + {p}::BIGINT * INTERVAL '1 millisecond')")
        }
    }
}

/// A parameter holding microseconds since the epoch, as a TIMESTAMP (exact: no floating
/// point seconds on the way).
fn epoch_us_to_timestamp(dialect: Dialect, p: &str) -> String {
    match dialect {
        Dialect::DuckDb => format!("make_timestamp(CAST({p} AS BIGINT))"),
        Dialect::Postgres | Dialect::Redshift => {
            format!("(TIMESTAMP 'epoch' + CAST({p} AS BIGINT) * INTERVAL '1 microsecond')")
        }
    }
}

/// The schema unqualified names resolve to, as SQL.
fn current_schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::DuckDb => "'main'",
        Dialect::Postgres | Dialect::Redshift => "current_schema()",
    }
}
