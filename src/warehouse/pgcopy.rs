//! PostgreSQL's binary COPY format, written column-wise from Arrow batches, and read back
//! into them (`export`).
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

/// Reads binary COPY output (`COPY … TO STDOUT (FORMAT binary)`) into batches of `schema`,
/// fed chunk by chunk as the server sends them (chunks need not end on a row).
pub struct Decoder {
    schema: arrow::datatypes::SchemaRef,
    builders: Vec<Box<dyn arrow::array::ArrayBuilder>>,
    rows: usize,
    buffer: BytesMut,
    header_seen: bool,
}

impl Decoder {
    pub fn new(schema: arrow::datatypes::SchemaRef) -> Self {
        let builders = schema
            .fields()
            .iter()
            .map(|f| arrow::array::make_builder(f.data_type(), 1024))
            .collect();
        Decoder {
            schema,
            builders,
            rows: 0,
            buffer: BytesMut::new(),
            header_seen: false,
        }
    }

    /// Rows decoded and not yet taken by [`Decoder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Decodes every whole row of `chunk` (plus what earlier chunks left over).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.buffer.extend_from_slice(chunk);
        if !self.header_seen {
            if self.buffer.len() < HEADER.len() {
                return Ok(());
            }
            if self.buffer[..11] != HEADER[..11] {
                return Err("not PostgreSQL binary COPY output".into());
            }
            let extension = i32::from_be_bytes(self.buffer[15..19].try_into().unwrap());
            let skip = HEADER.len() + extension.max(0) as usize;
            if self.buffer.len() < skip {
                return Ok(());
            }
            let _ = self.buffer.split_to(skip);
            self.header_seen = true;
        }
        while let Some(end) = self.row_end()? {
            let row = self.buffer.split_to(end);
            self.decode_row(&row[2..])?;
        }
        Ok(())
    }

    /// The length of the first whole row in the buffer, `None` if it is incomplete or the
    /// buffer holds the trailer.
    fn row_end(&self) -> Result<Option<usize>, String> {
        let b = &self.buffer;
        if b.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([b[0], b[1]]);
        if fields == -1 {
            return Ok(None);
        }
        if fields as usize != self.builders.len() {
            return Err(format!(
                "a row has {fields} fields, the mart {}",
                self.builders.len()
            ));
        }
        let mut at = 2;
        for _ in 0..fields {
            if b.len() < at + 4 {
                return Ok(None);
            }
            let len = i32::from_be_bytes(b[at..at + 4].try_into().unwrap());
            at += 4 + len.max(0) as usize;
        }
        Ok((b.len() >= at).then_some(at))
    }

    fn decode_row(&mut self, mut row: &[u8]) -> Result<(), String> {
        use arrow::array::*;
        for (i, field) in self.schema.fields().iter().enumerate() {
            let len = i32::from_be_bytes(row[..4].try_into().unwrap());
            row = &row[4..];
            let builder = self.builders[i].as_any_mut();
            let value = if len < 0 {
                None
            } else {
                Some(&row[..len as usize])
            };
            row = &row[len.max(0) as usize..];
            // The export casts every column to the mart's type, so the sizes match; a value
            // that does not is reported, never trusted.
            macro_rules! fixed {
                ($n:literal) => {{
                    match value.map(<[u8; $n]>::try_from) {
                        None => None,
                        Some(Ok(bytes)) => Some(bytes),
                        Some(Err(_)) => {
                            return Err(format!(
                                "column {}: a value of {len} bytes where {} takes {}",
                                field.name(),
                                field.data_type(),
                                $n
                            ));
                        }
                    }
                }};
            }
            macro_rules! put {
                ($builder:ty, $value:expr) => {{
                    builder
                        .downcast_mut::<$builder>()
                        .expect("builder of the field's type")
                        .append_option($value)
                }};
            }
            match field.data_type() {
                DataType::Int16 => put!(Int16Builder, fixed!(2).map(i16::from_be_bytes)),
                DataType::Int32 => put!(Int32Builder, fixed!(4).map(i32::from_be_bytes)),
                DataType::Int64 => put!(Int64Builder, fixed!(8).map(i64::from_be_bytes)),
                DataType::Float32 => put!(Float32Builder, fixed!(4).map(f32::from_be_bytes)),
                DataType::Float64 => put!(Float64Builder, fixed!(8).map(f64::from_be_bytes)),
                DataType::Decimal128(_, scale) => {
                    let scale = *scale;
                    put!(Decimal128Builder, value.map(|v| read_numeric(v, scale)))
                }
                DataType::Utf8 => {
                    let text = value
                        .map(std::str::from_utf8)
                        .transpose()
                        .map_err(|e| format!("column {}: {e}", field.name()))?;
                    put!(StringBuilder, text)
                }
                DataType::Binary => put!(BinaryBuilder, value),
                DataType::Date32 => put!(
                    Date32Builder,
                    fixed!(4).map(|v| (i32::from_be_bytes(v) as i64 + PG_EPOCH_DAYS) as i32)
                ),
                DataType::Timestamp(TimeUnit::Microsecond, _) => put!(
                    TimestampMicrosecondBuilder,
                    fixed!(8).map(|v| i64::from_be_bytes(v) + PG_EPOCH_MICROS)
                ),
                other => return Err(format!("no binary COPY decoding for Arrow type {other}")),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The decoded rows as a batch (in the schema, timestamps with its time zone).
    pub fn finish(&mut self) -> Result<RecordBatch, String> {
        let columns: Vec<arrow::array::ArrayRef> = self
            .builders
            .iter_mut()
            .zip(self.schema.fields())
            .map(|(b, f)| {
                let array = b.finish();
                // Builders know no time zone: cast to the field's (a relabelling).
                arrow::compute::cast(&array, f.data_type()).map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())
    }
}

/// NUMERIC's binary form (see [`write_numeric`]) as an i128 at `scale`.
fn read_numeric(v: &[u8], scale: i8) -> i128 {
    let word = |i: usize| i16::from_be_bytes([v[2 * i], v[2 * i + 1]]);
    let (ndigits, weight, sign) = (word(0) as i32, word(1) as i32, word(2) as u16);
    let mut value: i128 = 0;
    // Digit i is worth 10000^(weight - i); the result is value × 10^scale.
    let mut exponent10 = 0i32;
    for i in 0..ndigits {
        value = value * 10_000 + word(4 + i as usize) as i128;
        exponent10 = 4 * (weight - i);
    }
    let shift = exponent10 + scale as i32;
    let value = if shift >= 0 {
        value * 10i128.pow(shift as u32)
    } else {
        value / 10i128.pow((-shift) as u32)
    };
    if sign == 0x4000 { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_to_what_was_encoded_in_any_chunking() {
        use arrow::array::*;
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int16, true),
            Field::new("b", DataType::Int64, true),
            Field::new("c", DataType::Decimal128(12, 2), true),
            Field::new("d", DataType::Utf8, true),
            Field::new(
                "e",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("f", DataType::Date32, true),
            Field::new("g", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int16Array::from(vec![Some(-3), None, Some(7)])),
                Arc::new(Int64Array::from(vec![Some(i64::MAX), Some(0), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(-12_345), None, Some(99_999_999_999)])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(StringArray::from(vec![Some("é📦"), Some(""), None])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        Some(1_767_225_600_123_456),
                        None,
                        Some(-1),
                    ])
                    .with_timezone("UTC"),
                ),
                Arc::new(Date32Array::from(vec![Some(20_454), Some(-1), None])),
                Arc::new(Float64Array::from(vec![Some(0.5), None, Some(-1e300)])),
            ],
        )
        .unwrap();
        let mut bytes = BytesMut::from(HEADER);
        encode_batch(&batch, &mut bytes).unwrap();
        bytes.extend_from_slice(TRAILER);
        for chunk in [1, 7, bytes.len()] {
            let mut decoder = Decoder::new(schema.clone());
            for piece in bytes.chunks(chunk) {
                decoder.push(piece).unwrap();
            }
            assert_eq!(decoder.rows(), 3);
            assert_eq!(decoder.finish().unwrap(), batch, "chunks of {chunk} bytes");
        }
    }

    #[test]
    fn numeric_reads_back_what_it_writes() {
        for (value, scale) in [
            (0, 2),
            (12_345, 2),
            (-12_345, 2),
            (1, 2),
            (100_000_000, 0),
            (10_000, 4),
            (5, 10),
            (-99_999_999_999, 2),
        ] {
            let mut out = BytesMut::new();
            write_numeric(value, scale, &mut out);
            assert_eq!(
                read_numeric(&out[4..], scale),
                value,
                "{value} scale {scale}"
            );
        }
    }

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
