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
        self.push_with(|i| row.as_ref(i).unwrap_or(&Value::NULL))
    }

    /// Appends one row given as values in the mart's column order (a binlog row image).
    pub(super) fn push_values(&mut self, row: &[Value]) -> std::result::Result<(), String> {
        self.push_with(|i| row.get(i).unwrap_or(&Value::NULL))
    }

    /// Appends the row whose `i`th mart column holds `value(i)`.
    fn push_with<'v>(
        &mut self,
        value_of: impl Fn(usize) -> &'v Value,
    ) -> std::result::Result<(), String> {
        for i in 0..self.builders.len() {
            let value = value_of(i);
            let column = &self.columns[i];
            let zero = push_value(&mut self.builders[i], value, column).map_err(|message| {
                let key = self
                    .key
                    .map_or("?".to_string(), |k| value_of(k).as_sql(true));
                let key_name = self.key.map_or("key", |k| self.columns[k].name.as_str());
                format!(
                    "column `{}`, row with {key_name} = {key}: {message}",
                    column.name
                )
            })?;
            if zero {
                self.zero_dates[i] += 1;
                self.counters.zero_dates.fetch_add(1, Ordering::Relaxed);
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

/// An integer value of any MySQL integer kind (BIT arrives as big-endian bytes).
fn as_i128(value: &Value) -> Option<i128> {
    match value {
        Value::Int(i) => Some(*i as i128),
        Value::UInt(u) => Some(*u as i128),
        Value::Bytes(b) if b.len() <= 8 => {
            Some(b.iter().fold(0i128, |acc, byte| (acc << 8) | *byte as i128))
        }
        _ => None,
    }
}

fn unexpected(value: &Value, expected: &str) -> String {
    format!("got {value:?} where {expected} was expected")
}

/// Appends one value; returns whether it was a zero date read as NULL.
fn push_value(
    builder: &mut ColumnBuilder,
    value: &Value,
    column: &Column,
) -> std::result::Result<bool, String> {
    let null = matches!(value, Value::NULL);
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
            Value::NULL => b.append_null(),
            Value::Float(f) => b.append_value(*f),
            Value::Double(d) => b.append_value(*d as f32),
            other => return Err(unexpected(other, "a FLOAT")),
        },
        ColumnBuilder::F64(b) => match value {
            Value::NULL => b.append_null(),
            Value::Float(f) => b.append_value(*f as f64),
            Value::Double(d) => b.append_value(*d),
            other => return Err(unexpected(other, "a DOUBLE")),
        },
        ColumnBuilder::Decimal(b, p, s) => match value {
            Value::NULL => b.append_null(),
            Value::Bytes(text) => {
                let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
                let v = arrow::compute::kernels::cast_utils::parse_decimal::<
                    arrow::datatypes::Decimal128Type,
                >(text, *p, *s)
                .map_err(|e| format!("`{text}` is not a DECIMAL({p},{s}): {e}"))?;
                b.append_value(v)
            }
            Value::Int(_) | Value::UInt(_) => {
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
            Value::NULL => b.append_null(),
            Value::Bytes(bytes) => b.append_value(std::str::from_utf8(bytes).map_err(|e| {
                format!(
                    "the value is not valid UTF-8 ({e}); a binary column belongs in a BINARY/BLOB type"
                )
            })?),
            Value::Time(negative, days, h, m, s, us) => {
                let hours = *days as u64 * 24 + *h as u64;
                let sign = if *negative { "-" } else { "" };
                let frac = if *us > 0 { format!(".{us:06}") } else { String::new() };
                b.append_value(format!("{sign}{hours:02}:{m:02}:{s:02}{frac}"))
            }
            Value::Int(i) => b.append_value(i.to_string()),
            Value::UInt(u) => b.append_value(u.to_string()),
            other => return Err(unexpected(other, "text")),
        },
        ColumnBuilder::Binary(b) => match value {
            Value::NULL => b.append_null(),
            Value::Bytes(bytes) => b.append_value(bytes),
            other => return Err(unexpected(other, "bytes")),
        },
        ColumnBuilder::Date(b) => match value {
            Value::NULL => b.append_null(),
            Value::Date(y, m, d, ..) if *m == 0 || *d == 0 => {
                b.append_null();
                return Ok(true);
            }
            Value::Date(y, m, d, ..) => b.append_value(days_from_civil(*y as i64, *m as u32, *d as u32) as i32),
            other => return Err(unexpected(other, "a DATE")),
        },
        ColumnBuilder::Timestamp(b, _) => match value {
            Value::NULL => b.append_null(),
            Value::Date(_, m, d, ..) if *m == 0 || *d == 0 => {
                b.append_null();
                return Ok(true);
            }
            Value::Date(y, m, d, h, mi, s, us) => {
                let days = days_from_civil(*y as i64, *m as u32, *d as u32);
                let secs = days * 86_400 + *h as i64 * 3600 + *mi as i64 * 60 + *s as i64;
                b.append_value(secs * 1_000_000 + *us as i64)
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
