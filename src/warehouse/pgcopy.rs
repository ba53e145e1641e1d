//! PostgreSQL's binary COPY format, written column-wise from Arrow batches.
//!
//! Why not `tokio_postgres::binary_copy`: it encodes row by row through `ToSql` trait objects,
//! and `postgres-types` has no NUMERIC that holds DECIMAL(38,s) (rust_decimal stops at 28
//! digits). The format is small and stable (PostgreSQL docs, "COPY … Binary Format"):
//! a header, then per row a field count and per field a length (-1 for NULL) and the value in
//! the type's binary send format, then a trailer.

use arrow::array::{
    Array, AsArray, BinaryArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use bytes::{BufMut, BytesMut};

/// The 11-byte signature, then flags and header-extension length (both 0).
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A field count of -1 ends the data.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Days between 1970-01-01 (Arrow) and 2000-01-01 (PostgreSQL).
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// A column's values, downcast once per batch.
enum Column<'a> {
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Decimal(&'a Decimal128Array, i8),
    Text(&'a StringArray),
    Bytes(&'a BinaryArray),
    Date(&'a Date32Array),
    Timestamp(&'a TimestampMicrosecondArray),
}

impl Column<'_> {
    fn write(&self, row: usize, out: &mut BytesMut) {
        match self {
            Column::I16(a) => {
                out.put_i32(2);
                out.put_i16(a.value(row));
            }
            Column::I32(a) => {
                out.put_i32(4);
                out.put_i32(a.value(row));
            }
            Column::I64(a) => {
                out.put_i32(8);
                out.put_i64(a.value(row));
            }
            Column::F32(a) => {
                out.put_i32(4);
                out.put_f32(a.value(row));
            }
            Column::F64(a) => {
                out.put_i32(8);
                out.put_f64(a.value(row));
            }
            Column::Decimal(a, scale) => write_numeric(a.value(row), *scale, out),
            Column::Text(a) => {
                let v = a.value(row).as_bytes();
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
            Column::Bytes(a) => {
                let v = a.value(row);
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
            Column::Date(a) => {
                out.put_i32(4);
                out.put_i32((a.value(row) as i64 - PG_EPOCH_DAYS) as i32);
            }
            Column::Timestamp(a) => {
                out.put_i32(8);
                out.put_i64(a.value(row) - PG_EPOCH_MICROS);
            }
        }
    }
}

fn column(array: &dyn Array) -> Result<Column<'_>, String> {
    Ok(match array.data_type() {
        DataType::Int16 => Column::I16(array.as_primitive()),
        DataType::Int32 => Column::I32(array.as_primitive()),
        DataType::Int64 => Column::I64(array.as_primitive()),
        DataType::Float32 => Column::F32(array.as_primitive()),
        DataType::Float64 => Column::F64(array.as_primitive()),
        DataType::Decimal128(_, s) => Column::Decimal(array.as_primitive(), *s),
        DataType::Utf8 => Column::Text(array.as_string()),
        DataType::Binary => Column::Bytes(array.as_binary()),
        DataType::Date32 => Column::Date(array.as_primitive()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Column::Timestamp(array.as_primitive()),
        other => return Err(format!("no binary COPY encoding for Arrow type {other}")),
    })
}

/// Appends the rows of `batch` (without header or trailer).
pub fn encode_batch(batch: &RecordBatch, out: &mut BytesMut) -> Result<(), String> {
    let columns = batch
        .columns()
        .iter()
        .map(|a| column(a.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let fields = columns.len() as i16;
    for row in 0..batch.num_rows() {
        out.put_i16(fields);
        for (c, array) in columns.iter().zip(batch.columns()) {
            if array.is_null(row) {
                out.put_i32(-1);
            } else {
                c.write(row, out);
            }
        }
    }
    Ok(())
}

/// NUMERIC's binary form: digit count, weight (base-10000 exponent of the first digit),
/// sign, display scale, then base-10000 digits, with leading and trailing zero digits
/// dropped.
fn write_numeric(value: i128, scale: i8, out: &mut BytesMut) {
    let scale = scale.max(0) as usize;
    let text = value.unsigned_abs().to_string();
    let (int_part, frac_part) = if text.len() > scale {
        text.split_at(text.len() - scale)
    } else {
        ("", text.as_str())
    };
    let frac = format!("{}{frac_part}", "0".repeat(scale - frac_part.len()));
    // Left-pad the integer digits and right-pad the fraction to whole groups of four.
    let int = format!("{}{int_part}", "0".repeat((4 - int_part.len() % 4) % 4));
    let frac = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
    let group = |s: &str| s.parse::<i16>().expect("four decimal digits");
    let mut digits: Vec<i16> = int
        .as_bytes()
        .chunks(4)
        .chain(frac.as_bytes().chunks(4))
        .map(|c| group(std::str::from_utf8(c).expect("ascii digits")))
        .collect();
    let mut weight = (int.len() / 4) as i16 - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let (weight, sign) = if digits.is_empty() {
        (0, 0x0000)
    } else if value < 0 {
        (weight, 0x4000)
    } else {
        (weight, 0x0000)
    };
    out.put_i32(8 + 2 * digits.len() as i32);
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(scale as u16);
    for d in digits {
        out.put_i16(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(value: i128, scale: i8) -> Vec<i16> {
        let mut out = BytesMut::new();
        write_numeric(value, scale, &mut out);
        out[4..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_matches_postgres_send_format() {
        // [ndigits, weight, sign, dscale, digits…], as numeric_send writes them.
        assert_eq!(numeric(0, 2), [0, 0, 0, 2]);
        assert_eq!(numeric(12_345, 2), [2, 0, 0, 2, 123, 4500]); // 123.45
        assert_eq!(numeric(-12_345, 2), [2, 0, 0x4000, 2, 123, 4500]);
        assert_eq!(numeric(1, 2), [1, -1, 0, 2, 100]); // 0.01
        assert_eq!(numeric(100_000_000, 0), [1, 2, 0, 0, 1]); // 1 0000 0000
        assert_eq!(numeric(10_000, 4), [1, 0, 0, 4, 1]); // 1.0000
        assert_eq!(numeric(5, 10), [1, -3, 0, 10, 500]); // 0.0000000005 = 500e-12
    }
}
