//! Table schemas: the source tables' columns and what they become in Arrow and in the marts.
//!
//! The source tables martsync knows are defined once, as MySQL DDL in the project's
//! `sql/source/` folder; the marts mirror their columns through the [`mapping`] table.
//! Column names are lower-cased in martsync and in every warehouse, as Redshift folds them.

pub mod dialect;
pub mod mapping;

pub use dialect::{Dialect, RUNS_TABLE};

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{ColumnOption, Statement};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

pub use mapping::{MappedType, UnsignedBigint, WarehouseType, map_mysql_type};

/// One column of a source table and of its mart.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Lower-case name, as in the mart and in staged Parquet.
    pub name: String,
    /// The MySQL type as declared, e.g. `BIGINT UNSIGNED`.
    pub mysql_type: String,
    pub mapped: MappedType,
    pub nullable: bool,
}

/// The columns of a source table, in order; its mart has the same columns in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// The source table's name.
    pub name: String,
    pub columns: Vec<Column>,
}

impl TableSchema {
    /// The Arrow schema of extracted batches and staged files.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                // Nullable throughout: a NULL in a NOT NULL column must reach the dedup (which
                // rejects NULL keys by count) or the warehouse (whose constraint names the column)
                // instead of failing batch construction with a less helpful message.
                .map(|c| Field::new(&c.name, c.mapped.arrow.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Position of a column, by name in any case.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The column named `name` (any case).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.index_of(name).map(|i| &self.columns[i])
    }

    /// Whether a column holds timestamps (its watermark and retention arithmetic is then in
    /// microseconds and intervals, not integers).
    pub fn is_timestamp(&self, name: &str) -> bool {
        self.column(name)
            .is_some_and(|c| matches!(c.mapped.arrow, arrow::datatypes::DataType::Timestamp(..)))
    }

    /// Column names, comma separated, for error messages.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses one MySQL `CREATE TABLE` statement.
    pub fn from_mysql_ddl(ddl: &str, unsigned_bigint: UnsignedBigint) -> Result<Self, String> {
        let statements = Parser::parse_sql(&MySqlDialect {}, ddl).map_err(|e| e.to_string())?;
        let Some(Statement::CreateTable(create)) = statements.into_iter().next() else {
            return Err("expected one CREATE TABLE statement".into());
        };
        let name = create.name.to_string().trim_matches('`').to_string();
        let columns = create
            .columns
            .iter()
            .map(|def| {
                let mysql_type = def.data_type.to_string();
                let mapped = map_mysql_type(&mysql_type, unsigned_bigint)
                    .map_err(|e| format!("{name}.{}: {e}", def.name.value))?;
                let not_null = def
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::NotNull));
                Ok(Column {
                    name: def.name.value.to_ascii_lowercase(),
                    mysql_type,
                    mapped,
                    nullable: !not_null,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TableSchema { name, columns })
    }
}

/// The source tables whose DDL ships in `sql/source/`.
const BUILTIN_SOURCES: &[(&str, &str)] = &[
    (
        "uni_tracking_info",
        include_str!("../../sql/source/uni_tracking_info.sql"),
    ),
    (
        "ecs_order_info",
        include_str!("../../sql/source/ecs_order_info.sql"),
    ),
    (
        "uni_tracking_spath",
        include_str!("../../sql/source/uni_tracking_spath.sql"),
    ),
];

/// Names of the source tables martsync ships DDL for.
pub fn builtin_source_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_SOURCES.iter().map(|(name, _)| *name)
}

/// The schema of a source table martsync ships DDL for.
pub fn builtin_source(name: &str, unsigned_bigint: UnsignedBigint) -> Option<TableSchema> {
    let (_, ddl) = BUILTIN_SOURCES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    // The shipped DDL is tested to parse, so a failure here is a build defect.
    Some(TableSchema::from_mysql_ddl(ddl, unsigned_bigint).expect("shipped source DDL parses"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[test]
    fn shipped_ddl_parses_into_the_design_columns() {
        let uti = builtin_source("uni_tracking_info", UnsignedBigint::Int64).unwrap();
        assert_eq!(
            uti.column_list(),
            "order_id, tracking_no, partner_id, carrier_code, status, last_code, last_event, \
             last_location, delivered_at, add_time, update_time"
        );
        assert!(!uti.column("order_id").unwrap().nullable);
        assert!(uti.column("carrier_code").unwrap().nullable);
        let spath = builtin_source("uni_tracking_spath", UnsignedBigint::Int64).unwrap();
        assert_eq!(spath.column("traceSeq").unwrap().name, "traceseq");
        assert_eq!(
            spath.column("is_updated").unwrap().mapped.arrow,
            DataType::Int16
        );
        let ecs = builtin_source("ecs_order_info", UnsignedBigint::Int64).unwrap();
        assert_eq!(
            ecs.column("declared_value").unwrap().mapped.arrow,
            DataType::Decimal128(12, 2)
        );
    }
}
