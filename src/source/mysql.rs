//! `mysql://user:pass@host:port/db`: the production source, read with `mysql_async` over the
//! binary protocol.
//!
//! One extraction is one prepared `SELECT <mart columns> FROM <table> WHERE <watermark> > ?`
//! (the filter is a bound parameter on the indexed column, so the server uses its index).
//! Rows are decoded straight into typed Arrow builders, one batch of `batch_rows` at a time,
//! on a task that hands batches over a channel of [`CHANNEL_BATCHES`]: memory is bounded by
//! those batches whatever the result size.
//!
//! Sessions run with `time_zone = '+00:00'`, so `TIMESTAMP` columns arrive in UTC and
//! watermark parameters mean the same instant on the server as in the mart.
//!
//! TLS follows the MySQL client's options, given as URL parameters: `ssl-mode=DISABLED |
//! PREFERRED | REQUIRED | VERIFY_CA | VERIFY_IDENTITY` (default PREFERRED on the server's
//! terms: no TLS unless asked for) and `ssl-ca=/path/ca.pem`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BinaryBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, Row, SslOpts, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{BatchStream, Extract, ExtractCounters, Source};
use crate::config::{TableConfig, format_duration, redact_url};
use crate::error::{Error, Result};
use crate::schema::{Column, TableSchema, UnsignedBigint, map_mysql_type};

/// Batches in flight between the reading task and the consumer.
const CHANNEL_BATCHES: usize = 2;

/// A MySQL (or MariaDB) database.
pub struct MySqlSource {
    pool: Pool,
    /// The URL without its password, for errors.
    url: String,
    batch_rows: usize,
    unsigned_bigint: UnsignedBigint,
    /// Connections one extraction reads with, over ranges of the key.
    parallel: usize,
    connect_timeout: Duration,
    /// The longest wait for the next row of an extraction.
    read_timeout: Duration,
}

/// Splits martsync's TLS parameters off a MySQL URL and turns them into `SslOpts`.
fn tls_options(url: &str) -> std::result::Result<(String, Option<SslOpts>), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut mode = None;
    let mut ca = None;
    let mut rest = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match k.to_ascii_lowercase().replace('_', "-").as_str() {
            "ssl-mode" | "sslmode" => mode = Some(v.to_ascii_uppercase()),
            "ssl-ca" | "sslca" => ca = Some(v.into_owned()),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    let base = SslOpts::default();
    let with_ca = |opts: SslOpts| match &ca {
        Some(path) => opts.with_root_certs(vec![std::path::PathBuf::from(path).into()]),
        None => opts,
    };
    let ssl = match mode.as_deref() {
        None | Some("DISABLED") | Some("PREFERRED") if ca.is_none() => None,
        // Encrypted but, like the MySQL client's REQUIRED, without checking who answers.
        Some("REQUIRED") => Some(
            base.with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Some("VERIFY_CA") => Some(with_ca(base).with_danger_skip_domain_validation(true)),
        None | Some("PREFERRED") | Some("VERIFY_IDENTITY") => Some(with_ca(base)),
        Some(other) => {
            return Err(format!(
                "ssl-mode `{other}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
            ));
        }
    };
    Ok((parsed.to_string(), ssl))
}

impl MySqlSource {
    /// Prepares a connection pool; nothing connects until the first query.
    pub fn new(url: &str, batch_rows: usize, unsigned_bigint: UnsignedBigint) -> Result<Self> {
        Self::with_parallel(url, batch_rows, unsigned_bigint, 1)
    }

    /// Bounds connecting (TCP and handshake) and the wait for each next row, so that a hung
    /// server fails the cycle instead of hanging the scheduler.
    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }

    /// A pooled connection, within the connect timeout.
    async fn conn(&self, table: &str) -> Result<mysql_async::Conn> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Ok(conn) => conn.map_err(|e| self.error(table, "connect", e)),
            Err(_) => Err(self.error(
                table,
                "connect",
                format!(
                    "no answer within source.connect_timeout = {}; is the server up and reachable?",
                    format_duration(self.connect_timeout)
                ),
            )),
        }
    }

    /// As [`MySqlSource::new`], reading each extraction over `parallel` connections.
    pub fn with_parallel(
        url: &str,
        batch_rows: usize,
        unsigned_bigint: UnsignedBigint,
        parallel: usize,
    ) -> Result<Self> {
        // mysql_async's rustls asks for the process-wide crypto provider; make it the one
        // the rest of martsync uses (an error means one is installed already).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let redacted = redact_url(url);
        let bad_url = |message: String| Error::config("source.url", redacted.clone(), message);
        let (url_without_tls, ssl) = tls_options(url).map_err(&bad_url)?;
        let opts = Opts::from_url(&url_without_tls).map_err(|e| bad_url(e.to_string()))?;
        let opts = OptsBuilder::from_opts(opts)
            .ssl_opts(ssl)
            .setup(vec!["SET time_zone = '+00:00'"]);
        Ok(MySqlSource {
            pool: Pool::new(opts),
            url: redacted,
            batch_rows,
            unsigned_bigint,
            parallel: parallel.max(1),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(600),
        })
    }

    fn error(&self, table: &str, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Source {
            table: table.to_string(),
            location: format!("{} ({what})", self.url),
            message: e.to_string(),
        }
    }

    /// `SELECT 1`: is the server there and does it let us in?
    async fn ping(&self) -> Result<()> {
        let mut conn = self.conn("-").await?;
        let one: Option<i64> = conn
            .query_first("SELECT 1")
            .await
            .map_err(|e| self.error("-", "health check SELECT 1", e))?;
        debug!(url = %self.url, ok = one == Some(1), "MySQL health check.");
        Ok(())
    }

    /// The table's columns as `information_schema` describes them, mapped through the one
    /// type mapping. A table that does not exist is an error naming it.
    pub async fn describe_table(&self, name: &str) -> Result<TableSchema> {
        let mut conn = self.conn(name).await?;
        let rows: Vec<(String, String, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (name,),
            )
            .await
            .map_err(|e| self.error(name, "reading information_schema.COLUMNS", e))?;
        if rows.is_empty() {
            return Err(self.error(
                name,
                "information_schema.COLUMNS",
                "the table does not exist in the URL's database (or the user may not see it)",
            ));
        }
        let columns = rows
            .into_iter()
            .map(|(column, column_type, nullable)| {
                let mapped = map_mysql_type(&column_type, self.unsigned_bigint)
                    .map_err(|e| self.error(name, &format!("column {column}"), e))?;
                Ok(Column {
                    name: column.to_ascii_lowercase(),
                    mysql_type: column_type,
                    mapped,
                    nullable: nullable.eq_ignore_ascii_case("YES"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TableSchema {
            name: name.to_string(),
            columns,
        })
    }

    /// Every mart column must exist at the source with a type that maps to the same Arrow
    /// type; extra source columns are ignored (the mart does not carry them).
    fn check_columns(&self, table: &TableConfig, actual: &TableSchema) -> Result<()> {
        for column in &table.schema.columns {
            let Some(found) = actual.column(&column.name) else {
                return Err(self.error(
                    &table.schema.name,
                    "schema check",
                    format!(
                        "column `{}` of mart {} is missing at the source (it has: {})",
                        column.name,
                        table.name,
                        actual.column_list()
                    ),
                ));
            };
            if found.mapped.arrow != column.mapped.arrow {
                return Err(self.error(
                    &table.schema.name,
                    "schema check",
                    format!(
                        "column `{}` is `{}` at the source, which maps to {} but mart {} expects {} \
                         (declared `{}`)",
                        column.name,
                        found.mysql_type,
                        found.mapped.arrow,
                        table.name,
                        column.mapped.arrow,
                        column.mysql_type
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `` `name` `` for MySQL; names are validated plain identifiers, so nothing needs escaping.
fn quote_mysql(name: &str) -> String {
    format!("`{name}`")
}

/// ` WHERE <watermark> > ? [AND <watermark> < ?]` and its parameters, or nothing for a full
/// extraction.
fn extraction_filter(
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
/// key column when reading in parallel.
pub fn extraction_query(
    table: &TableConfig,
    above: Option<i64>,
    below: Option<i64>,
    range: Option<(i64, i64)>,
) -> (String, Vec<Value>) {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| quote_mysql(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let (filter, mut params) = extraction_filter(table, above, below);
    let mut sql = format!(
        "SELECT {columns} FROM {}{filter}",
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

/// Keys bound per `IN (…)` query of a refresh: well below MySQL's 65,535 placeholders and
/// `max_allowed_packet`, and large enough that the round trips do not dominate.
const KEYS_PER_QUERY: usize = 1000;

/// `SELECT <columns> FROM <table> WHERE <first key> IN (?, …)` for one chunk of keys.
fn keys_query(table: &TableConfig, keys: &[i64]) -> (String, Vec<Value>) {
    let (select, _) = extraction_query(table, None, None, None);
    let marks = vec!["?"; keys.len()].join(", ");
    (
        format!("{select} WHERE {} IN ({marks})", quote_mysql(&table.key[0])),
        keys.iter().map(|&k| Value::Int(k)).collect(),
    )
}

#[async_trait::async_trait]
impl Source for MySqlSource {
    async fn health_check(&self) -> Result<()> {
        self.ping().await
    }

    async fn resolve_table(&self, table: &TableConfig) -> Result<TableConfig> {
        let actual = self.describe_table(&table.schema.name).await?;
        self.check_columns(table, &actual)?;
        let new: Vec<_> = actual
            .columns
            .iter()
            .filter(|c| table.schema.column(&c.name).is_none())
            .collect();
        if new.is_empty() {
            return Ok(table.clone());
        }
        if !table.allow_new_columns {
            let list = new
                .iter()
                .map(|c| format!("`{}` ({})", c.name, c.mysql_type))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.error(
                &table.schema.name,
                "schema check",
                format!(
                    "the source table has new column(s) {list} that mart {} does not have; set \
                     allow_new_columns = true on the mart to add them (ALTER TABLE … ADD COLUMN), \
                     or drop them at the source",
                    table.name
                ),
            ));
        }
        let mut resolved = table.clone();
        for column in new {
            let mut column = column.clone();
            // Rows loaded before the column existed hold NULL in it.
            column.nullable = true;
            resolved.schema.columns.push(column);
        }
        Ok(resolved)
    }

    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>> {
        let name = &table.schema.name;
        let column = quote_mysql(&table.watermark);
        // The session is in UTC (+00:00), so UNIX_TIMESTAMP reads DATETIMEs as UTC, as the
        // extraction binds them. One index-only query on the watermark's index.
        let sql = if table.schema.is_timestamp(&table.watermark) {
            format!(
                "SELECT CAST(UNIX_TIMESTAMP(MAX({column})) * 1000000 AS SIGNED) FROM {}",
                quote_mysql(name)
            )
        } else {
            format!(
                "SELECT CAST(MAX({column}) AS SIGNED) FROM {}",
                quote_mysql(name)
            )
        };
        let mut conn = self.conn(name).await?;
        let max: Option<Option<i64>> = conn
            .query_first(&sql)
            .await
            .map_err(|e| self.error(name, &sql, e))?;
        Ok(max.flatten())
    }

    fn explain_extraction(&self, table: &TableConfig, above: Option<i64>) -> String {
        let (sql, params) = extraction_query(table, above, None, None);
        let params: Vec<String> = params.iter().map(|v| v.as_sql(false)).collect();
        let mut text = format!("{sql};");
        if !params.is_empty() {
            text += &format!("  -- ? = {}", params.join(", "));
        }
        if self.parallel > 1 {
            text += &format!(
                "\n  (over {} connections, each adding `AND {} BETWEEN ? AND ?` for its range)",
                self.parallel,
                quote_mysql(&table.key[0])
            );
        }
        text
    }

    async fn extract(&self, table: &TableConfig, extract: Extract) -> Result<BatchStream> {
        let source_table = table.schema.name.clone();
        let actual = self.describe_table(&source_table).await?;
        self.check_columns(table, &actual)?;
        // One list of queries per connection: the key ranges of a parallel extraction, or
        // the chunks of a key list, read one after the other on one connection.
        let readers: Vec<Vec<(String, Vec<Value>)>> = match &extract.keys {
            Some(keys) => vec![
                keys.chunks(KEYS_PER_QUERY)
                    .map(|chunk| keys_query(table, chunk))
                    .collect(),
            ],
            None => self
                .key_ranges(table, extract.above, extract.below)
                .await?
                .into_iter()
                .map(|range| vec![extraction_query(table, extract.above, extract.below, range)])
                .collect(),
        };
        let schema = table.schema.arrow_schema();
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_BATCHES * readers.len());
        for queries in readers {
            let conn = self.conn(&source_table).await?;
            let decoder =
                RowDecoder::new(table, &schema, self.batch_rows, extract.counters.clone());
            if let Some((sql, _)) = queries.first() {
                debug!(table = %source_table, sql = %sql, queries = queries.len(), "Extracting.");
            }
            let reading = Reading {
                table: source_table.clone(),
                url: self.url.clone(),
                read_timeout: self.read_timeout,
            };
            tokio::spawn(read_rows(conn, queries, decoder, tx.clone(), reading));
        }
        Ok(super::receiver_stream(rx))
    }
}

impl MySqlSource {
    /// The ranges of the first key column that parallel readers split the extraction into:
    /// one unbounded range unless `parallel` > 1 and the key is an integer. Rows of one key
    /// value stay in one range, in the server's order, so ties keep their arrival order.
    async fn key_ranges(
        &self,
        table: &TableConfig,
        above: Option<i64>,
        below: Option<i64>,
    ) -> Result<Vec<Option<(i64, i64)>>> {
        let key = &table.key[0];
        let integer_key = table.schema.column(key).is_some_and(|c| {
            matches!(
                c.mapped.arrow,
                DataType::Int16 | DataType::Int32 | DataType::Int64
            )
        });
        if self.parallel <= 1 || !integer_key {
            return Ok(vec![None]);
        }
        let (filter, params) = extraction_filter(table, above, below);
        let sql = format!(
            "SELECT MIN({k}), MAX({k}) FROM {}{filter}",
            quote_mysql(&table.schema.name),
            k = quote_mysql(key)
        );
        let mut conn = self.conn(&table.schema.name).await?;
        let bounds: Option<(Option<i64>, Option<i64>)> = conn
            .exec_first(sql.as_str(), params)
            .await
            .map_err(|e| self.error(&table.schema.name, &sql, e))?;
        let Some((Some(lo), Some(hi))) = bounds else {
            return Ok(vec![None]);
        };
        Ok(split_range(lo, hi, self.parallel)
            .into_iter()
            .map(Some)
            .collect())
    }
}

/// Splits `lo..=hi` into at most `n` contiguous ranges of about equal width.
fn split_range(lo: i64, hi: i64, n: usize) -> Vec<(i64, i64)> {
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

/// One reader: runs the query on its connection and sends decoded batches until the result
/// ends, an error (sent on) or the consumer goes away.
/// What a reading task needs besides its query: names for errors and its timeout.
struct Reading {
    table: String,
    url: String,
    read_timeout: Duration,
}

async fn read_rows(
    mut conn: mysql_async::Conn,
    queries: Vec<(String, Vec<Value>)>,
    mut decoder: RowDecoder,
    tx: mpsc::Sender<Result<RecordBatch>>,
    reading: Reading,
) {
    let Reading {
        table,
        url,
        read_timeout,
    } = reading;
    let error = |what: &str, e: &dyn std::fmt::Display| Error::Source {
        table: table.clone(),
        location: format!("{url} ({what})"),
        message: e.to_string(),
    };
    let hung = || {
        format!(
            "no row within source.read_timeout = {}; the server stopped answering",
            format_duration(read_timeout)
        )
    };
    let read = async {
        for (sql, params) in queries {
            let mut result =
                tokio::time::timeout(read_timeout, conn.exec_iter(sql.as_str(), params))
                    .await
                    .map_err(|_| error(&sql, &hung()))?
                    .map_err(|e| error(&sql, &e))?;
            while let Some(row) = tokio::time::timeout(read_timeout, result.next())
                .await
                .map_err(|_| error(&sql, &hung()))?
                .map_err(|e| error(&sql, &e))?
            {
                decoder.push(&row).map_err(|m| error("decoding rows", &m))?;
                // A closed channel: the consumer gave up (its cycle failed); stop reading.
                if decoder.full() && tx.send(Ok(decoder.finish())).await.is_err() {
                    return Ok(());
                }
            }
        }
        if decoder.rows > 0 {
            let _ = tx.send(Ok(decoder.finish())).await;
        }
        decoder.report_zero_dates(&table);
        Ok::<(), Error>(())
    };
    if let Err(e) = read.await {
        let _ = tx.send(Err(e)).await;
    }
}

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
fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

/// Microseconds since the epoch (UTC) as a MySQL DATETIME parameter.
fn micros_to_value(micros: i64) -> Value {
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
struct RowDecoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    builders: Vec<ColumnBuilder>,
    /// Position of the first key column, named in errors.
    key: Option<usize>,
    batch_rows: usize,
    /// Rows in the builders.
    rows: usize,
    counters: Arc<ExtractCounters>,
    /// Zero dates read as NULL in this extraction, per column.
    zero_dates: Vec<u64>,
}

impl RowDecoder {
    fn new(
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
    fn full(&self) -> bool {
        self.rows >= self.batch_rows
    }

    fn push(&mut self, row: &Row) -> std::result::Result<(), String> {
        for i in 0..self.builders.len() {
            let value = row.as_ref(i).unwrap_or(&Value::NULL);
            let column = &self.columns[i];
            let zero = push_value(&mut self.builders[i], value, column).map_err(|message| {
                let key = self
                    .key
                    .and_then(|k| row.as_ref(k))
                    .map_or("?".to_string(), |v| v.as_sql(true));
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

    fn finish(&mut self) -> RecordBatch {
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

    fn report_zero_dates(&self, table: &str) {
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
    fn key_ranges_cover_every_value_once() {
        assert_eq!(split_range(1, 10, 3), [(1, 4), (5, 8), (9, 10)]);
        assert_eq!(split_range(5, 5, 4), [(5, 5)]);
        assert_eq!(split_range(1, 2, 4), [(1, 1), (2, 2)]);
        let wide = split_range(i64::MIN, i64::MAX, 2);
        assert_eq!(wide, [(i64::MIN, -1), (0, i64::MAX)]);
    }

    #[test]
    fn tls_parameters_are_taken_off_the_url() {
        let (url, ssl) =
            tls_options("mysql://u:p@h:3306/db?ssl-mode=REQUIRED&prefer_socket=false").unwrap();
        assert_eq!(url, "mysql://u:p@h:3306/db?prefer_socket=false");
        assert!(ssl.unwrap().accept_invalid_certs());
        let (_, ssl) = tls_options("mysql://u@h/db?ssl-mode=VERIFY_IDENTITY").unwrap();
        let ssl = ssl.unwrap();
        assert!(!ssl.accept_invalid_certs() && !ssl.skip_domain_validation());
        assert!(tls_options("mysql://u@h/db").unwrap().1.is_none());
        assert!(tls_options("mysql://u@h/db?ssl-mode=SOMETIMES").is_err());
    }
}
