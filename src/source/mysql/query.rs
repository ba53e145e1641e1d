//! The extraction's SQL: the prepared `SELECT` with its watermark filter (a bound parameter
//! on the indexed column), the key lists of a refresh, and the key ranges of a parallel read.

use mysql_async::Value;

use super::decode::civil_from_days;
use crate::config::TableConfig;

/// `` `name` `` for MySQL; names are validated plain identifiers, so nothing needs escaping.
pub(super) fn quote_mysql(name: &str) -> String {
    format!("`{name}`")
}

/// ` WHERE <watermark> > ? [AND <watermark> < ?]` and its parameters, or nothing for a full
/// extraction.
pub(super) fn extraction_filter(
    table: &TableConfig,
    above: Option<i64>,
    below: Option<i64>,
) -> (String, Vec<Value>) {
    let value = |v: i64| {
        if table.schema.is_timestamp(&table.watermark) {
            micros_to_value(v)
        } else {
            Value::Int(v)
        }
    };
    let column = quote_mysql(&table.watermark);
    let (conditions, params): (Vec<String>, Vec<Value>) = [(">", above), ("<", below)]
        .into_iter()
        .filter_map(|(op, bound)| bound.map(|b| (format!("{column} {op} ?"), value(b))))
        .unzip();
    if conditions.is_empty() {
        (String::new(), Vec::new())
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), params)
    }
}

/// The extraction query and its parameters for a table, limited to a range of the first
/// key column when reading in parallel, read through `index` when given ([`force_index`]).
pub fn extraction_query(
    table: &TableConfig,
    above: Option<i64>,
    below: Option<i64>,
    range: Option<(i64, i64)>,
    index: Option<&str>,
) -> (String, Vec<Value>) {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| quote_mysql(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let (filter, mut params) = extraction_filter(table, above, below);
    let hint = index.map_or(String::new(), |name| {
        // An index name comes from the server: any character but a backtick needs no
        // escaping inside backticks, and a backtick is doubled.
        format!(" FORCE INDEX (`{}`)", name.replace('`', "``"))
    });
    let mut sql = format!(
        "SELECT {columns} FROM {}{hint}{filter}",
        quote_mysql(&table.schema.name)
    );
    if let Some((lo, hi)) = range {
        let joiner = if filter.is_empty() { " WHERE" } else { " AND" };
        sql.push_str(&format!(
            "{joiner} {} BETWEEN ? AND ?",
            quote_mysql(&table.key[0])
        ));
        params.extend([Value::Int(lo), Value::Int(hi)]);
    }
    (sql, params)
}

/// The largest share of a table, in percent as the server estimates it, that an incremental
/// extraction reads through the watermark's index when the server would scan the whole
/// table instead. MariaDB 10.11 prices every index lookup as a disk read and scans the whole
/// table once it estimates a range at about a fifth of it (its estimates run about twice the
/// true count here); with the table in the buffer pool the lookups are memory reads.
/// Measured here on 1M rows of `uni_tracking_info` (server time, every column of the range
/// read, `SELECT SUM(LENGTH(CONCAT_WS(',', …)))` with and without `FORCE INDEX`, 3 runs each),
/// as rows in the range (the server's estimate): 10 % (21 %): full scan 0.26–0.29 s, index
/// 0.16–0.20 s; 15 % (31 %): 0.27–0.32 s against 0.19–0.25 s; 20 % (28 %): 0.28 s against
/// 0.25–0.29 s; 25 % (39 %): 0.29–0.33 s against 0.32–0.33 s; 32 % (50 %): 0.31–0.33 s
/// against 0.42–0.48 s, where the index starts to lose.
pub(super) const FORCE_INDEX_BELOW_PERCENT: f64 = 35.0;

/// Whether to read through the watermark's index: the server's plan (`EXPLAIN FORMAT=JSON` of
/// the extraction) scans the whole table (`access_type` ALL) for a range it estimates at
/// most [`FORCE_INDEX_BELOW_PERCENT`] of the table (`filtered`). MariaDB writes `filtered`
/// as a number, MySQL 8 as a string; the first table of the plan is the one read.
pub(super) fn force_index(plan: &serde_json::Value) -> bool {
    fn first_table(v: &serde_json::Value) -> Option<&serde_json::Value> {
        match v {
            serde_json::Value::Object(map) => {
                if map.contains_key("access_type") {
                    return Some(v);
                }
                map.values().find_map(first_table)
            }
            serde_json::Value::Array(items) => items.iter().find_map(first_table),
            _ => None,
        }
    }
    let Some(table) = first_table(plan) else {
        return false;
    };
    let filtered = table
        .get("filtered")
        .and_then(|f| f.as_f64().or_else(|| f.as_str()?.parse().ok()));
    table.get("access_type").and_then(|a| a.as_str()) == Some("ALL")
        && filtered.is_some_and(|f| f <= FORCE_INDEX_BELOW_PERCENT)
}

/// Keys bound per `IN (…)` query of a refresh: well below MySQL's 65,535 placeholders and
/// `max_allowed_packet`, and large enough that the round trips do not dominate.
pub(super) const KEYS_PER_QUERY: usize = 1000;

/// `SELECT <columns> FROM <table> WHERE <first key> IN (?, …)` for one chunk of keys.
pub(super) fn keys_query(table: &TableConfig, keys: &[i64]) -> (String, Vec<Value>) {
    let (select, _) = extraction_query(table, None, None, None, None);
    let marks = vec!["?"; keys.len()].join(", ");
    (
        format!("{select} WHERE {} IN ({marks})", quote_mysql(&table.key[0])),
        keys.iter().map(|&k| Value::Int(k)).collect(),
    )
}

/// Splits `lo..=hi` into at most `n` contiguous ranges of about equal width.
pub(super) fn split_range(lo: i64, hi: i64, n: usize) -> Vec<(i64, i64)> {
    let width = (hi as i128 - lo as i128 + 1).max(1);
    let step = (width + n as i128 - 1) / n as i128;
    let mut ranges = Vec::new();
    let mut start = lo as i128;
    while start <= hi as i128 {
        let end = (start + step - 1).min(hi as i128);
        ranges.push((start as i64, end as i64));
        start = end + 1;
    }
    ranges
}

/// Microseconds since the epoch (UTC) as a MySQL DATETIME parameter.
pub(super) fn micros_to_value(micros: i64) -> Value {
    let days = micros.div_euclid(86_400_000_000);
    let in_day = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    Value::Date(
        y.clamp(0, 9999) as u16,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        (in_day % 1_000_000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_parameters_keep_microseconds() {
        // 2026-11-26 15:30:00.000123 UTC
        let micros = 1_795_707_000_000_123;
        let Value::Date(y, m, d, h, mi, s, us) = micros_to_value(micros) else {
            panic!("a date")
        };
        assert_eq!((y, m, d, h, mi, s, us), (2026, 11, 26, 15, 30, 0, 123));
    }

    #[test]
    fn the_index_is_forced_only_over_a_full_scan_of_a_small_range() {
        let plan = |access: &str, filtered: serde_json::Value| {
            serde_json::json!({"query_block": {"select_id": 1, "nested_loop": [{"table": {
                "table_name": "t", "access_type": access, "filtered": filtered}}]}})
        };
        // MariaDB: `filtered` a number.
        assert!(force_index(&plan("ALL", serde_json::json!(20.5))));
        assert!(force_index(&plan("ALL", serde_json::json!(30.7))));
        assert!(!force_index(&plan("ALL", serde_json::json!(38.9))));
        assert!(!force_index(&plan("range", serde_json::json!(100))));
        // MySQL 8: the table straight under the query block, `filtered` a string.
        let mysql8 = serde_json::json!({"query_block": {"table": {
            "access_type": "ALL", "filtered": "11.11"}}});
        assert!(force_index(&mysql8));
        assert!(!force_index(&serde_json::json!({"query_block": {}})));
    }

    #[test]
    fn a_forced_index_is_named_in_backticks() {
        let table = crate::config::Config::embedded_default().tables.remove(0);
        let (sql, _) = extraction_query(&table, Some(1), None, None, Some("idx`x"));
        assert!(
            sql.contains("FROM `uni_tracking_info` FORCE INDEX (`idx``x`) WHERE"),
            "{sql}"
        );
    }

    #[test]
    fn key_ranges_cover_every_value_once() {
        assert_eq!(split_range(1, 10, 3), [(1, 4), (5, 8), (9, 10)]);
        assert_eq!(split_range(5, 5, 4), [(5, 5)]);
        assert_eq!(split_range(1, 2, 4), [(1, 1), (2, 2)]);
        let wide = split_range(i64::MIN, i64::MAX, 2);
        assert_eq!(wide, [(i64::MIN, -1), (0, i64::MAX)]);
    }
}
