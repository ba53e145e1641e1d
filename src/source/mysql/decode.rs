//! Rows of the binary protocol decoded straight into typed Arrow builders, one batch at a
//! time; dates without a calendar crate (Howard Hinnant's civil-day algorithms).

use super::*;

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// One typed Arrow builder per mart column.
enum ColumnBuilder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
}

/// Decodes rows into the mart's Arrow schema.
pub(super) struct RowDecoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    builders: Vec<ColumnBuilder>,
    /// Position of the first key column, named in errors.
    key: Option<usize>,
    batch_rows: usize,
    /// Rows in the builders.
    pub(super) rows: usize,
    counters: Arc<ExtractCounters>,
    /// Zero dates read as NULL in this extraction, per column.
    zero_dates: Vec<u64>,
}

impl RowDecoder {
    pub(super) fn new(
        table: &TableConfig,
        schema: &SchemaRef,
        batch_rows: usize,
        counters: Arc<ExtractCounters>,
    ) -> Self {
        let columns = table.schema.columns.clone();
        let builders = columns
            .iter()
            .map(|c| new_builder(&c.mapped.arrow, batch_rows))
            .collect();
        RowDecoder {
            schema: Arc::clone(schema),
            zero_dates: vec![0; columns.len()],
            key: table.key.first().and_then(|k| table.schema.index_of(k)),
            columns,
            builders,
            batch_rows,
            rows: 0,
            counters,
        }
    }

    /// Whether a batch's worth of rows is waiting.
    pub(super) fn full(&self) -> bool {
        self.rows >= self.batch_rows
    }

    pub(super) fn push(&mut self, row: &Row) -> std::result::Result<(), String> {
        self.push_with(|i| row.as_ref(i).map_or(Cell::Null, Cell::from))
    }

    /// Appends one row given as values in the mart's column order (a binlog row image).
    pub(super) fn push_values(&mut self, row: &[Value]) -> std::result::Result<(), String> {
        self.push_with(|i| row.get(i).map_or(Cell::Null, Cell::from))
    }

    /// Appends one binary-protocol row as read off the wire (`wire::WireConn::next_row`),
    /// its columns laid out as `layout` says: the values go from the packet to the builders.
    pub(super) fn push_binary(
        &mut self,
        row: &[u8],
        layout: &[Wire],
    ) -> std::result::Result<(), String> {
        if layout.len() != self.builders.len() {
            return Err(format!(
                "the result set has {} columns where the mart has {}",
                layout.len(),
                self.builders.len()
            ));
        }
        let mut cells = BinaryCells::new(row, layout.len())?;
        for (i, &wire) in layout.iter().enumerate() {
            let pushed = cells
                .next(i, wire)
                .and_then(|cell| push_value(&mut self.builders[i], cell, &self.columns[i]));
            match pushed {
                Ok(zero) => self.count_zero_date(i, zero),
                Err(message) => {
                    // Read the row again for its key, to name it.
                    let key = self.key.and_then(|k| {
                        let mut cells = BinaryCells::new(row, layout.len()).ok()?;
                        (0..=k).map(|j| cells.next(j, layout[j])).last()?.ok()
                    });
                    return Err(self.row_error(i, key.unwrap_or(Cell::Null), message));
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn count_zero_date(&mut self, column: usize, zero: bool) {
        if zero {
            self.zero_dates[column] += 1;
            self.counters.zero_dates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `column `c`, row with key = 7: …`.
    fn row_error(&self, column: usize, key: Cell<'_>, message: String) -> String {
        let key = self
            .key
            .map_or("?".to_string(), |_| key.to_value().as_sql(true));
        let key_name = self.key.map_or("key", |k| self.columns[k].name.as_str());
        format!(
            "column `{}`, row with {key_name} = {key}: {message}",
            self.columns[column].name
        )
    }

    /// Appends the row whose `i`th mart column holds `value(i)`.
    fn push_with<'v>(
        &mut self,
        value_of: impl Fn(usize) -> Cell<'v>,
    ) -> std::result::Result<(), String> {
        for i in 0..self.builders.len() {
            match push_value(&mut self.builders[i], value_of(i), &self.columns[i]) {
                Ok(zero) => self.count_zero_date(i, zero),
                Err(message) => {
                    let key = self.key.map_or(Cell::Null, &value_of);
                    return Err(self.row_error(i, key, message));
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    ColumnBuilder::I16(b) => Arc::new(b.finish()),
                    ColumnBuilder::I32(b) => Arc::new(b.finish()),
                    ColumnBuilder::I64(b) => Arc::new(b.finish()),
                    ColumnBuilder::F32(b) => Arc::new(b.finish()),
                    ColumnBuilder::F64(b) => Arc::new(b.finish()),
                    ColumnBuilder::Decimal(b, p, s) => Arc::new(
                        b.finish()
                            .with_precision_and_scale(*p, *s)
                            .expect("precision and scale come from the mapping"),
                    ),
                    ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
                    ColumnBuilder::Binary(b) => Arc::new(b.finish()),
                    ColumnBuilder::Date(b) => Arc::new(b.finish()),
                    ColumnBuilder::Timestamp(b, tz) => {
                        Arc::new(b.finish().with_timezone_opt(tz.clone()))
                    }
                }
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .expect("builders follow the mart schema")
    }

    pub(super) fn report_zero_dates(&self, table: &str) {
        for (column, &count) in self.columns.iter().zip(&self.zero_dates) {
            if count > 0 {
                warn!(table, column = %column.name, rows = count, "Zero dates ('0000-00-00') read as NULL.");
            }
        }
    }
}

fn new_builder(data_type: &DataType, capacity: usize) -> ColumnBuilder {
    match data_type {
        DataType::Int16 => ColumnBuilder::I16(Int16Builder::with_capacity(capacity)),
        DataType::Int32 => ColumnBuilder::I32(Int32Builder::with_capacity(capacity)),
        DataType::Int64 => ColumnBuilder::I64(Int64Builder::with_capacity(capacity)),
        DataType::Float32 => ColumnBuilder::F32(Float32Builder::with_capacity(capacity)),
        DataType::Float64 => ColumnBuilder::F64(Float64Builder::with_capacity(capacity)),
        DataType::Decimal128(p, s) => {
            ColumnBuilder::Decimal(Decimal128Builder::with_capacity(capacity), *p, *s)
        }
        DataType::Utf8 => {
            ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
        }
        DataType::Binary => {
            ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16))
        }
        DataType::Date32 => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => ColumnBuilder::Timestamp(
            TimestampMicrosecondBuilder::with_capacity(capacity),
            tz.clone(),
        ),
        other => unreachable!("the type mapping produces no {other}"),
    }
}

/// One value of a row, borrowed from where it was read: a `Value` of mysql_async's (binlog
/// images, the fallback reader) or the bytes of a binary-protocol row.
#[derive(Clone, Copy)]
pub(super) enum Cell<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    Bytes(&'a [u8]),
    /// year, month, day, hour, minute, second, microsecond
    Date(u16, u8, u8, u8, u8, u8, u32),
    /// negative, days, hours, minutes, seconds, microseconds
    Time(bool, u32, u8, u8, u8, u32),
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(value: &'a Value) -> Self {
        match *value {
            Value::NULL => Cell::Null,
            Value::Int(i) => Cell::Int(i),
            Value::UInt(u) => Cell::UInt(u),
            Value::Float(f) => Cell::Float(f),
            Value::Double(d) => Cell::Double(d),
            Value::Bytes(ref b) => Cell::Bytes(b),
            Value::Date(y, m, d, h, mi, s, us) => Cell::Date(y, m, d, h, mi, s, us),
            Value::Time(neg, d, h, m, s, us) => Cell::Time(neg, d, h, m, s, us),
        }
    }
}

impl Cell<'_> {
    /// The value as mysql_async has it, for messages.
    fn to_value(self) -> Value {
        match self {
            Cell::Null => Value::NULL,
            Cell::Int(i) => Value::Int(i),
            Cell::UInt(u) => Value::UInt(u),
            Cell::Float(f) => Value::Float(f),
            Cell::Double(d) => Value::Double(d),
            Cell::Bytes(b) => Value::Bytes(b.to_vec()),
            Cell::Date(y, m, d, h, mi, s, us) => Value::Date(y, m, d, h, mi, s, us),
            Cell::Time(neg, d, h, m, s, us) => Value::Time(neg, d, h, m, s, us),
        }
    }
}

/// How a column's values are laid out in a binary-protocol row (from its definition's type
/// and flags), as mysql_common reads them into `Value`s: the same cells either way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Wire {
    /// Bytes of a little-endian integer, and whether it is unsigned.
    Int(u8, bool),
    Float,
    Double,
    /// A length-encoded string: text, blobs, DECIMAL, BIT, ENUM, SET, JSON.
    Bytes,
    /// A length byte (0, 4, 7 or 11), then year, month, day, [hour, minute, second, [µs]].
    DateTime,
    /// A length byte (0, 8 or 12), then sign, days, hour, minute, second, [µs].
    Time,
    /// Always NULL (the bitmap says so).
    Null,
}

impl Wire {
    pub(super) fn of(column: &mysql_common::packets::Column) -> Wire {
        use mysql_common::constants::{ColumnFlags, ColumnType::*};
        let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
        match column.column_type() {
            MYSQL_TYPE_TINY => Wire::Int(1, unsigned),
            MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => Wire::Int(2, unsigned),
            MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 => Wire::Int(4, unsigned),
            MYSQL_TYPE_LONGLONG => Wire::Int(8, unsigned),
            MYSQL_TYPE_FLOAT => Wire::Float,
            MYSQL_TYPE_DOUBLE => Wire::Double,
            MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_TIMESTAMP2
            | MYSQL_TYPE_DATETIME2 => Wire::DateTime,
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Wire::Time,
            MYSQL_TYPE_NULL => Wire::Null,
            _ => Wire::Bytes,
        }
    }
}

/// The values of one binary-protocol row, read in column order.
struct BinaryCells<'a> {
    row: &'a [u8],
    /// The NULL bitmap: column `i` is bit `i + 2`.
    bitmap: &'a [u8],
    pos: usize,
}

impl<'a> BinaryCells<'a> {
    fn new(row: &'a [u8], columns: usize) -> std::result::Result<Self, String> {
        let bitmap_len = (columns + 7 + 2) / 8;
        let bitmap = row
            .get(1..1 + bitmap_len)
            .ok_or("a row shorter than its NULL bitmap")?;
        Ok(BinaryCells {
            row,
            bitmap,
            pos: 1 + bitmap_len,
        })
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let bytes = self
            .row
            .get(self.pos..self.pos + n)
            .ok_or("a row that ends inside a value")?;
        self.pos += n;
        Ok(bytes)
    }

    /// Column `i`'s value (the columns must be read in order).
    fn next(&mut self, i: usize, wire: Wire) -> std::result::Result<Cell<'a>, String> {
        if self.bitmap[(i + 2) / 8] & (1 << ((i + 2) % 8)) != 0 {
            return Ok(Cell::Null);
        }
        let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64);
        Ok(match wire {
            Wire::Null => Cell::Null,
            Wire::Int(8, true) => Cell::UInt(le(self.take(8)?)),
            Wire::Int(n, unsigned) => {
                let raw = le(self.take(n as usize)?);
                let bits = 64 - 8 * n as u32;
                // Sign-extend a signed value of n bytes.
                Cell::Int(if unsigned {
                    raw as i64
                } else {
                    ((raw << bits) as i64) >> bits
                })
            }
            Wire::Float => Cell::Float(f32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            Wire::Double => Cell::Double(f64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            Wire::Bytes => {
                let len = super::wire::lenenc_int(self.row, &mut self.pos)
                    .ok_or("a row that ends inside a length")?;
                Cell::Bytes(self.take(len as usize)?)
            }
            Wire::DateTime => {
                let len = self.take(1)?[0] as usize;
                let b = self.take(len)?;
                let (y, m, d) = match len {
                    0 => (0, 0, 0),
                    4 | 7 | 11 => (u16::from_le_bytes([b[0], b[1]]), b[2], b[3]),
                    _ => return Err(format!("a date of {len} bytes")),
                };
                let (h, mi, s) = if len >= 7 {
                    (b[4], b[5], b[6])
                } else {
                    (0, 0, 0)
                };
                let us = if len == 11 { le(&b[7..11]) as u32 } else { 0 };
                Cell::Date(y, m, d, h, mi, s, us)
            }
            Wire::Time => {
                let len = self.take(1)?[0] as usize;
                let b = self.take(len)?;
                match len {
                    0 => Cell::Time(false, 0, 0, 0, 0, 0),
                    8 | 12 => Cell::Time(
                        b[0] == 1,
                        le(&b[1..5]) as u32,
                        b[5],
                        b[6],
                        b[7],
                        if len == 12 { le(&b[8..12]) as u32 } else { 0 },
                    ),
                    _ => return Err(format!("a time of {len} bytes")),
                }
            }
        })
    }
}

/// An integer value of any MySQL integer kind (BIT arrives as big-endian bytes).
fn as_i128(value: Cell<'_>) -> Option<i128> {
    match value {
        Cell::Int(i) => Some(i as i128),
        Cell::UInt(u) => Some(u as i128),
        Cell::Bytes(b) if b.len() <= 8 => {
            Some(b.iter().fold(0i128, |acc, byte| (acc << 8) | *byte as i128))
        }
        _ => None,
    }
}

fn unexpected(value: Cell<'_>, expected: &str) -> String {
    format!("got {:?} where {expected} was expected", value.to_value())
}

/// Appends one value; returns whether it was a zero date read as NULL.
fn push_value(
    builder: &mut ColumnBuilder,
    value: Cell<'_>,
    column: &Column,
) -> std::result::Result<bool, String> {
    let null = matches!(value, Cell::Null);
    let int = |target: &str, max: i128, min: i128| -> std::result::Result<Option<i128>, String> {
        if null {
            return Ok(None);
        }
        let v = as_i128(value).ok_or_else(|| unexpected(value, "an integer"))?;
        if v > max || v < min {
            let hint = if column.mapped.checked_unsigned {
                "; set `unsigned_bigint = \"numeric\"` in [source] to carry such values as NUMERIC(20,0)"
            } else {
                ""
            };
            return Err(format!(
                "value {v} of `{}` does not fit {target} ({min}..={max}){hint}",
                column.mysql_type
            ));
        }
        Ok(Some(v))
    };
    match builder {
        ColumnBuilder::I16(b) => {
            b.append_option(int("SMALLINT", i16::MAX as i128, i16::MIN as i128)?.map(|v| v as i16))
        }
        ColumnBuilder::I32(b) => {
            b.append_option(int("INTEGER", i32::MAX as i128, i32::MIN as i128)?.map(|v| v as i32))
        }
        ColumnBuilder::I64(b) => {
            b.append_option(int("BIGINT", i64::MAX as i128, i64::MIN as i128)?.map(|v| v as i64))
        }
        ColumnBuilder::F32(b) => match value {
            Cell::Null => b.append_null(),
            Cell::Float(f) => b.append_value(f),
            Cell::Double(d) => b.append_value(d as f32),
            other => return Err(unexpected(other, "a FLOAT")),
        },
        ColumnBuilder::F64(b) => match value {
            Cell::Null => b.append_null(),
            Cell::Float(f) => b.append_value(f as f64),
            Cell::Double(d) => b.append_value(d),
            other => return Err(unexpected(other, "a DOUBLE")),
        },
        ColumnBuilder::Decimal(b, p, s) => match value {
            Cell::Null => b.append_null(),
            Cell::Bytes(text) => {
                let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
                let v = arrow::compute::kernels::cast_utils::parse_decimal::<
                    arrow::datatypes::Decimal128Type,
                >(text, *p, *s)
                .map_err(|e| format!("`{text}` is not a DECIMAL({p},{s}): {e}"))?;
                b.append_value(v)
            }
            Cell::Int(_) | Cell::UInt(_) => {
                let v = as_i128(value).expect("integer");
                let scaled = v
                    .checked_mul(10i128.pow(*s as u32))
                    .filter(|v| v.unsigned_abs() < 10u128.pow(*p as u32))
                    .ok_or_else(|| format!("value {v} does not fit DECIMAL({p},{s})"))?;
                b.append_value(scaled)
            }
            other => return Err(unexpected(other, "a DECIMAL")),
        },
        ColumnBuilder::Utf8(b) => match value {
            Cell::Null => b.append_null(),
            Cell::Bytes(bytes) => b.append_value(std::str::from_utf8(bytes).map_err(|e| {
                format!(
                    "the value is not valid UTF-8 ({e}); a binary column belongs in a BINARY/BLOB type"
                )
            })?),
            Cell::Time(negative, days, h, m, s, us) => {
                let hours = days as u64 * 24 + h as u64;
                let sign = if negative { "-" } else { "" };
                let frac = if us > 0 { format!(".{us:06}") } else { String::new() };
                b.append_value(format!("{sign}{hours:02}:{m:02}:{s:02}{frac}"))
            }
            Cell::Int(i) => b.append_value(i.to_string()),
            Cell::UInt(u) => b.append_value(u.to_string()),
            other => return Err(unexpected(other, "text")),
        },
        ColumnBuilder::Binary(b) => match value {
            Cell::Null => b.append_null(),
            Cell::Bytes(bytes) => b.append_value(bytes),
            other => return Err(unexpected(other, "bytes")),
        },
        ColumnBuilder::Date(b) => match value {
            Cell::Null => b.append_null(),
            Cell::Date(_, m, d, ..) if m == 0 || d == 0 => {
                b.append_null();
                return Ok(true);
            }
            Cell::Date(y, m, d, ..) => b.append_value(days_from_civil(y as i64, m as u32, d as u32) as i32),
            other => return Err(unexpected(other, "a DATE")),
        },
        ColumnBuilder::Timestamp(b, _) => match value {
            Cell::Null => b.append_null(),
            Cell::Date(_, m, d, ..) if m == 0 || d == 0 => {
                b.append_null();
                return Ok(true);
            }
            Cell::Date(y, m, d, h, mi, s, us) => {
                let days = days_from_civil(y as i64, m as u32, d as u32);
                let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64;
                b.append_value(secs * 1_000_000 + us as i64)
            }
            other => return Err(unexpected(other, "a DATETIME or TIMESTAMP")),
        },
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_rows_read_as_mysql_common_reads_them() {
        let layout = [
            Wire::Int(1, false),
            Wire::Int(2, true),
            Wire::Bytes,
            Wire::Int(8, true),
            Wire::DateTime,
            Wire::Time,
            Wire::Int(4, false),
        ];
        // Header, NULL bitmap (2 bytes for 7 columns + 2: column 2 is bit 4), then the values.
        let mut row = vec![0x00, 0b0001_0000, 0x00];
        row.push(0xFF); // TINYINT -1
        row.extend(65_535u16.to_le_bytes()); // SMALLINT UNSIGNED
        // column 2 is NULL: nothing
        row.extend(u64::MAX.to_le_bytes()); // BIGINT UNSIGNED
        row.extend([11, 0xEA, 0x07, 11, 30, 15, 4, 5]); // 2026-11-30 15:04:05
        row.extend(123_456u32.to_le_bytes()); // .123456
        row.extend([12, 1]); // TIME, negative
        row.extend(2u32.to_le_bytes()); // 2 days
        row.extend([3, 4, 5]);
        row.extend(7u32.to_le_bytes());
        row.extend((-2_000_000_000i32).to_le_bytes());
        let mut cells = BinaryCells::new(&row, layout.len()).unwrap();
        let read: Vec<Value> = layout
            .iter()
            .enumerate()
            .map(|(i, &w)| cells.next(i, w).unwrap().to_value())
            .collect();
        assert_eq!(
            read,
            [
                Value::Int(-1),
                Value::Int(65_535),
                Value::NULL,
                Value::UInt(u64::MAX),
                Value::Date(2026, 11, 30, 15, 4, 5, 123_456),
                Value::Time(true, 2, 3, 4, 5, 7),
                Value::Int(-2_000_000_000),
            ]
        );
        // Cut short anywhere, the row is an error, never a panic.
        for end in 0..row.len() {
            let mut cells = match BinaryCells::new(&row[..end], layout.len()) {
                Ok(cells) => cells,
                Err(_) => continue,
            };
            let all: Result<Vec<_>, _> = layout
                .iter()
                .enumerate()
                .map(|(i, &w)| cells.next(i, w))
                .collect();
            assert!(all.is_err(), "{end} bytes");
        }
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        for days in [-719_162, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
