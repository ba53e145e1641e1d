//! The one type mapping: MySQL column type → Arrow type → warehouse column type.
//!
//! Every source column goes through [`map_mysql_type`], whether its type comes from the
//! project's `sql/source/*.sql` DDL or from MySQL's `information_schema.COLUMNS.COLUMN_TYPE`
//! (both spell types the same way, e.g. `bigint(20) unsigned`, `decimal(12,2)`).
//! Lossy or checked cases are commented on their row.

use arrow::datatypes::{DataType, TimeUnit};

use super::Dialect;

/// How `BIGINT UNSIGNED` columns are carried.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnsignedBigint {
    /// Int64 → BIGINT; a value above i64::MAX is an error naming table, column and key.
    #[default]
    Int64,
    /// Decimal128(20,0) → NUMERIC(20,0): lossless, slower to join on.
    Numeric,
}

/// A warehouse column type, rendered per dialect by [`WarehouseType::sql`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarehouseType {
    SmallInt,
    Integer,
    BigInt,
    Numeric(u8, i8),
    Real,
    Double,
    /// Length in characters, as MySQL declares it.
    Varchar(u32),
    /// Fixed length in characters.
    Char(u32),
    Date,
    Timestamp,
    TimestampTz,
    Binary(u32),
}

/// Redshift's longest VARCHAR, in bytes.
const REDSHIFT_MAX_VARCHAR: u32 = 65535;
/// utf8mb4 needs up to 4 bytes a character; Redshift lengths are in bytes.
const MAX_UTF8_BYTES: u32 = 4;

impl WarehouseType {
    /// The column type as `dialect` spells it.
    pub fn sql(&self, dialect: Dialect) -> String {
        use Dialect::*;
        use WarehouseType::*;
        let redshift_bytes = |chars: u32| {
            chars
                .saturating_mul(MAX_UTF8_BYTES)
                .min(REDSHIFT_MAX_VARCHAR)
        };
        match (self, dialect) {
            (SmallInt, _) => "SMALLINT".into(),
            (Integer, _) => "INTEGER".into(),
            (BigInt, _) => "BIGINT".into(),
            (Numeric(p, s), _) => format!("NUMERIC({p},{s})"),
            (Real, _) => "REAL".into(),
            (Double, DuckDb) => "DOUBLE".into(),
            (Double, _) => "DOUBLE PRECISION".into(),
            (Varchar(n), Redshift) => format!("VARCHAR({})", redshift_bytes(*n)),
            (Varchar(n), _) => format!("VARCHAR({n})"),
            // Redshift CHAR holds single-byte characters only: multi-byte text needs VARCHAR.
            (Char(n), Redshift) => format!("VARCHAR({})", redshift_bytes(*n)),
            (Char(n), _) => format!("CHAR({n})"),
            (Date, _) => "DATE".into(),
            (Timestamp, _) => "TIMESTAMP".into(),
            (TimestampTz, _) => "TIMESTAMPTZ".into(),
            (Binary(_), DuckDb) => "BLOB".into(),
            (Binary(_), Postgres) => "BYTEA".into(),
            (Binary(n), Redshift) => format!("VARBYTE({})", (*n).clamp(1, 1_024_000)),
        }
    }
}

/// A source column's type, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedType {
    pub arrow: DataType,
    pub warehouse: WarehouseType,
    /// An unsigned 64-bit source column carried as Int64: values above i64::MAX are errors.
    pub checked_unsigned: bool,
}

fn mapped(arrow: DataType, warehouse: WarehouseType) -> MappedType {
    MappedType {
        arrow,
        warehouse,
        checked_unsigned: false,
    }
}

/// Maps a MySQL column type (`information_schema` `COLUMN_TYPE` spelling, any case).
pub fn map_mysql_type(
    column_type: &str,
    unsigned_bigint: UnsignedBigint,
) -> Result<MappedType, String> {
    let lower = column_type.trim().to_ascii_lowercase();
    let unsigned = lower.contains(" unsigned");
    let (base, args) = split_type(&lower);
    let arg = |i: usize| args.get(i).copied();
    use WarehouseType as W;
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    Ok(match base {
        // TINYINT UNSIGNED (0..255) still fits Int16.
        "tinyint" | "smallint" | "bool" | "boolean" if !(base == "smallint" && unsigned) => {
            mapped(DataType::Int16, W::SmallInt)
        }
        // SMALLINT UNSIGNED (0..65535) needs 32 bits.
        "smallint" | "mediumint" => mapped(DataType::Int32, W::Integer),
        "int" | "integer" if !unsigned => mapped(DataType::Int32, W::Integer),
        // INT UNSIGNED (0..4294967295) needs 64 bits.
        "int" | "integer" => mapped(DataType::Int64, W::BigInt),
        "bigint" if !unsigned => mapped(DataType::Int64, W::BigInt),
        "bigint" => match unsigned_bigint {
            // Range-checked when decoded: order ids never approach 2^63 in practice.
            UnsignedBigint::Int64 => MappedType {
                checked_unsigned: true,
                ..mapped(DataType::Int64, W::BigInt)
            },
            UnsignedBigint::Numeric => mapped(DataType::Decimal128(20, 0), W::Numeric(20, 0)),
        },
        "decimal" | "numeric" => {
            let p = arg(0).unwrap_or(10).min(38) as u8;
            let s = arg(1).unwrap_or(0).min(p as u32) as i8;
            mapped(DataType::Decimal128(p, s), W::Numeric(p, s))
        }
        "float" => mapped(DataType::Float32, W::Real),
        "double" | "real" => mapped(DataType::Float64, W::Double),
        "char" => mapped(DataType::Utf8, W::Char(arg(0).unwrap_or(1))),
        "varchar" => mapped(DataType::Utf8, W::Varchar(arg(0).unwrap_or(255))),
        // Long text is capped at Redshift's limit; longer values fail the load, by name.
        "tinytext" => mapped(DataType::Utf8, W::Varchar(255)),
        "text" | "mediumtext" | "longtext" | "json" => mapped(DataType::Utf8, W::Varchar(16383)),
        "enum" | "set" => mapped(DataType::Utf8, W::Varchar(255)),
        // TIME can exceed 24h in MySQL ('838:59:59'): kept as its text.
        "time" => mapped(DataType::Utf8, W::Varchar(16)),
        "year" => mapped(DataType::Int16, W::SmallInt),
        // Zero dates ('0000-00-00') become NULL when decoded, and are counted.
        "date" => mapped(DataType::Date32, W::Date),
        // DATETIME has no zone: kept as a naive timestamp; fractional digits beyond µs do not exist in MySQL.
        "datetime" => mapped(micros, W::Timestamp),
        // TIMESTAMP is stored in UTC by MySQL: kept as a UTC instant.
        "timestamp" => mapped(
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            W::TimestampTz,
        ),
        "binary" | "varbinary" => mapped(DataType::Binary, W::Binary(arg(0).unwrap_or(255))),
        "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            mapped(DataType::Binary, W::Binary(65535))
        }
        "bit" => mapped(DataType::Int64, W::BigInt),
        other => {
            return Err(format!(
                "unsupported MySQL type `{other}` (from `{column_type}`)"
            ));
        }
    })
}

/// `decimal(12,2) unsigned` → (`decimal`, [12, 2]); `enum('a','b')` → (`enum`, []).
fn split_type(lower: &str) -> (&str, Vec<u32>) {
    let head = lower.split_whitespace().next().unwrap_or("");
    match head.find('(') {
        Some(open) => {
            let inner = head[open + 1..].trim_end_matches(')');
            let args = inner
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (&head[..open], args)
        }
        None => (head, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UnsignedBigint::*;
    use WarehouseType as W;

    #[test]
    fn every_row_of_the_mapping() {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let cases: Vec<(&str, UnsignedBigint, DataType, WarehouseType)> = vec![
            ("TINYINT", Int64, DataType::Int16, W::SmallInt),
            ("tinyint(1)", Int64, DataType::Int16, W::SmallInt),
            ("tinyint(3) unsigned", Int64, DataType::Int16, W::SmallInt),
            ("SMALLINT", Int64, DataType::Int16, W::SmallInt),
            ("smallint(5) unsigned", Int64, DataType::Int32, W::Integer),
            ("mediumint(9)", Int64, DataType::Int32, W::Integer),
            ("INT", Int64, DataType::Int32, W::Integer),
            ("int(10) unsigned", Int64, DataType::Int64, W::BigInt),
            ("bigint(20)", Int64, DataType::Int64, W::BigInt),
            ("BIGINT UNSIGNED", Int64, DataType::Int64, W::BigInt),
            (
                "bigint(20) unsigned",
                Numeric,
                DataType::Decimal128(20, 0),
                W::Numeric(20, 0),
            ),
            (
                "DECIMAL(12,2)",
                Int64,
                DataType::Decimal128(12, 2),
                W::Numeric(12, 2),
            ),
            (
                "decimal(38,10)",
                Int64,
                DataType::Decimal128(38, 10),
                W::Numeric(38, 10),
            ),
            ("float", Int64, DataType::Float32, W::Real),
            ("double", Int64, DataType::Float64, W::Double),
            ("CHAR(2)", Int64, DataType::Utf8, W::Char(2)),
            ("VARCHAR(40)", Int64, DataType::Utf8, W::Varchar(40)),
            ("text", Int64, DataType::Utf8, W::Varchar(16383)),
            ("enum('a','b')", Int64, DataType::Utf8, W::Varchar(255)),
            ("json", Int64, DataType::Utf8, W::Varchar(16383)),
            ("time", Int64, DataType::Utf8, W::Varchar(16)),
            ("date", Int64, DataType::Date32, W::Date),
            (
                "DATETIME",
                Int64,
                DataType::Timestamp(TimeUnit::Microsecond, None),
                W::Timestamp,
            ),
            ("timestamp(3)", Int64, utc, W::TimestampTz),
            ("varbinary(16)", Int64, DataType::Binary, W::Binary(16)),
            ("blob", Int64, DataType::Binary, W::Binary(65535)),
        ];
        for (mysql, unsigned_bigint, arrow, warehouse) in cases {
            let got = map_mysql_type(mysql, unsigned_bigint).unwrap();
            assert_eq!((got.arrow, got.warehouse), (arrow, warehouse), "{mysql}");
        }
        assert!(
            map_mysql_type("bigint unsigned", Int64)
                .unwrap()
                .checked_unsigned
        );
        assert!(
            map_mysql_type("geometry", Int64)
                .unwrap_err()
                .contains("geometry")
        );
    }

    #[test]
    fn redshift_lengths_are_bytes() {
        assert_eq!(W::Varchar(40).sql(Dialect::Redshift), "VARCHAR(160)");
        assert_eq!(W::Char(2).sql(Dialect::Redshift), "VARCHAR(8)");
        assert_eq!(W::Varchar(20000).sql(Dialect::Redshift), "VARCHAR(65535)");
        assert_eq!(W::Char(2).sql(Dialect::Postgres), "CHAR(2)");
        assert_eq!(W::Double.sql(Dialect::DuckDb), "DOUBLE");
    }
}
