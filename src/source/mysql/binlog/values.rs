//! Row-event values as the query protocol gives them: signedness is not logged, TIMESTAMP
//! is seconds since the epoch, ENUM an index, SET a bit mask, YEAR text.

use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;

use super::super::decode::civil_from_days;
use crate::schema::Column;

/// A row event's value as the query protocol would give it for `column`.
pub(super) fn from_binlog(
    column: &Column,
    value: Option<BinlogValue<'static>>,
) -> std::result::Result<Value, String> {
    let value = match value {
        None => return Ok(Value::NULL),
        Some(BinlogValue::Value(v)) => v,
        Some(BinlogValue::JsonDiff(_)) => {
            return Err(
                "a partial JSON update (binlog_row_value_options = PARTIAL_JSON) \
                        cannot be applied: turn that option off"
                    .into(),
            );
        }
        Some(json @ BinlogValue::Jsonb(_)) => {
            return Value::try_from(json).map_err(|e| e.to_string());
        }
    };
    let lower = column.mysql_type.to_ascii_lowercase();
    let base = lower
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("");
    Ok(match (base, value) {
        (_, Value::NULL) => Value::NULL,
        ("timestamp", Value::Bytes(text)) => {
            let text = String::from_utf8_lossy(&text);
            let (secs, micros) = text.split_once('.').unwrap_or((&text, "0"));
            let secs: i64 = secs
                .parse()
                .map_err(|_| format!("bad TIMESTAMP `{text}`"))?;
            let micros: u32 = micros
                .parse()
                .map_err(|_| format!("bad TIMESTAMP `{text}`"))?;
            epoch_to_date(secs, micros)
        }
        ("timestamp", Value::Int(secs)) => epoch_to_date(secs, 0),
        ("enum", Value::Int(index)) => {
            let labels = type_labels(&column.mysql_type);
            match index {
                0 => Value::Bytes(Vec::new()),
                i => Value::Bytes(
                    labels
                        .get(i as usize - 1)
                        .ok_or_else(|| format!("ENUM index {i} is past the type's labels"))?
                        .clone()
                        .into_bytes(),
                ),
            }
        }
        ("set", Value::Bytes(mask)) => {
            let labels = type_labels(&column.mysql_type);
            let bits = mask
                .iter()
                .rev()
                .fold(0u64, |acc, byte| (acc << 8) | *byte as u64);
            let chosen: Vec<&str> = labels
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, l)| l.as_str())
                .collect();
            Value::Bytes(chosen.join(",").into_bytes())
        }
        ("year", Value::Bytes(text)) => Value::Int(
            String::from_utf8_lossy(&text)
                .parse()
                .map_err(|_| "bad YEAR".to_string())?,
        ),
        (_, Value::Int(i)) if i < 0 && lower.contains("unsigned") => {
            let bits = match base {
                "tinyint" => 8,
                "smallint" => 16,
                "mediumint" => 24,
                "int" | "integer" => 32,
                _ => 64,
            };
            let unsigned = if bits == 64 {
                i as u64
            } else {
                (i as u64) & ((1u64 << bits) - 1)
            };
            Value::UInt(unsigned)
        }
        (_, other) => other,
    })
}

/// Seconds and microseconds since the epoch as a UTC date-time value.
fn epoch_to_date(secs: i64, micros: u32) -> Value {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Value::Date(
        y as u16,
        m as u8,
        d as u8,
        (rest / 3600) as u8,
        (rest % 3600 / 60) as u8,
        (rest % 60) as u8,
        micros,
    )
}

/// The labels of an `enum('a','b')` or `set(…)` type, in order (quotes doubled inside).
fn type_labels(mysql_type: &str) -> Vec<String> {
    let Some(open) = mysql_type.find('(') else {
        return Vec::new();
    };
    let mut labels = Vec::new();
    let mut chars = mysql_type[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => label.extend(chars.next()),
                c => label.push(c),
            }
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{UnsignedBigint, map_mysql_type};

    fn column(mysql_type: &str) -> Column {
        Column {
            name: "c".into(),
            mysql_type: mysql_type.into(),
            mapped: map_mysql_type(mysql_type, UnsignedBigint::Int64).unwrap(),
            nullable: true,
        }
    }

    fn convert(mysql_type: &str, value: Value) -> Value {
        from_binlog(&column(mysql_type), Some(BinlogValue::Value(value))).unwrap()
    }

    #[test]
    fn row_event_values_read_as_the_query_protocol_gives_them() {
        // Signedness is not logged: an unsigned column's large values arrive negative.
        assert_eq!(
            convert("int unsigned", Value::Int(-1)),
            Value::UInt(4_294_967_295)
        );
        assert_eq!(
            convert("tinyint unsigned", Value::Int(-56)),
            Value::UInt(200)
        );
        assert_eq!(
            convert("bigint unsigned", Value::Int(-1)),
            Value::UInt(u64::MAX)
        );
        assert_eq!(convert("int", Value::Int(-1)), Value::Int(-1));
        // TIMESTAMP(3) arrives as seconds since the epoch, with its fraction.
        assert_eq!(
            convert("timestamp(3)", Value::Bytes(b"1700000000.123000".to_vec())),
            Value::Date(2023, 11, 14, 22, 13, 20, 123_000)
        );
        assert_eq!(
            convert("timestamp", Value::Bytes(b"0".to_vec())),
            Value::Date(1970, 1, 1, 0, 0, 0, 0)
        );
        assert_eq!(
            convert("enum('new','it''s')", Value::Int(2)),
            Value::Bytes(b"it's".to_vec())
        );
        assert_eq!(
            convert("set('a','b','c')", Value::Bytes(vec![0b101])),
            Value::Bytes(b"a,c".to_vec())
        );
        assert_eq!(
            convert("year", Value::Bytes(b"2024".to_vec())),
            Value::Int(2024)
        );
        assert_eq!(
            convert("varchar(40)", Value::Bytes(b"TN1".to_vec())),
            Value::Bytes(b"TN1".to_vec())
        );
        assert_eq!(from_binlog(&column("int"), None).unwrap(), Value::NULL);
    }
}
