//! `mysql://user:pass@host:port/db`: the production source. Metadata queries and the binary
//! log go through `mysql_async`; extractions through martsync's own connection (`wire`),
//! which decodes binary-protocol rows from its read buffer into the Arrow builders, or
//! through mysql_async's rows where the server wants what `wire` does not speak (a TLS client
//! certificate, an authentication plugin other than mysql_native_password and
//! caching_sha2_password).
//!
//! One extraction is one prepared `SELECT <mart columns> FROM <table> WHERE <watermark> > ?`
//! (the filter is a bound parameter on the indexed column, so the server uses its index;
//! where it would scan the whole table for a small range instead, the extraction names the
//! index: [`MySqlSource::forced_index`]).
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

mod binlog;
mod connect;
mod decode;
mod query;
mod wire;

use super::{BatchStream, BinlogPosition, Extract, ExtractCounters, Source};
use crate::config::{TableConfig, format_duration, redact_url};
use crate::error::{Error, Result};
use crate::schema::{Column, TableSchema, UnsignedBigint, map_mysql_type};
use connect::tls_options;
use decode::{RowDecoder, Wire};
pub use query::extraction_query;
use query::{
    FORCE_INDEX_BELOW_PERCENT, KEYS_PER_QUERY, extraction_filter, force_index, keys_query,
    quote_mysql, split_range,
};
use wire::{ConnectError, WireConn};

/// Batches in flight between the reading task and the consumer.
const CHANNEL_BATCHES: usize = 2;

/// A MySQL (or MariaDB) database.
pub struct MySqlSource {
    pool: Pool,
    /// The pool's options: a binlog read takes a connection of its own (it becomes a
    /// replica's stream and is never reused).
    opts: Opts,
    /// The URL's database, the one whose tables are read.
    database: String,
    /// The URL without its password, for errors.
    url: String,
    batch_rows: usize,
    unsigned_bigint: UnsignedBigint,
    /// Connections one extraction reads with, over ranges of the key.
    parallel: usize,
    connect_timeout: Duration,
    /// The longest wait for the next row of an extraction, and for the answers about its plan
    /// ([`MySqlSource::forced_index`]).
    read_timeout: Duration,
    /// Set when the server wanted what only mysql_async speaks (`wire`'s `Unsupported`):
    /// later extractions go straight to the pool.
    wire_unsupported: std::sync::OnceLock<String>,
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

    /// Reads extractions through mysql_async's `Row`s, as martsync did before its own reader
    /// (`wire`), which falls back to them by itself where it must: for comparisons (the
    /// production bench) and for the tests of that fallback.
    pub fn through_mysql_async(self) -> Self {
        let _ = self.wire_unsupported.set("asked for".to_string());
        self
    }

    /// Why extractions read through mysql_async's rows rather than martsync's own reader,
    /// once a connection has said (None: the own reader, or nothing connected yet).
    pub fn reads_through_mysql_async(&self) -> Option<&str> {
        self.wire_unsupported.get().map(String::as_str)
    }

    /// A pooled connection, within the connect timeout.
    async fn conn(&self, table: &str) -> Result<mysql_async::Conn> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Ok(conn) => conn.map_err(|e| self.error(table, "connect", e)),
            Err(_) => Err(self.connect_timed_out(table)),
        }
    }

    fn connect_timed_out(&self, table: &str) -> Error {
        self.error(
            table,
            "connect",
            format!(
                "no answer within source.connect_timeout = {}; is the server up and reachable?",
                format_duration(self.connect_timeout)
            ),
        )
    }

    /// A connection of the extraction's own reader (`wire`), within the connect timeout; or
    /// `None` when the server wants what only mysql_async speaks (another auth plugin, a TLS
    /// client certificate).
    async fn wire_conn(&self, table: &str) -> Result<Option<WireConn>> {
        if self.wire_unsupported.get().is_some() {
            return Ok(None);
        }
        let connect = WireConn::connect(&self.opts, self.read_timeout);
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Err(_) => Err(self.connect_timed_out(table)),
            Ok(Ok(conn)) => Ok(Some(conn)),
            Ok(Err(ConnectError::Failed(e))) => Err(self.error(table, "connect", e)),
            Ok(Err(ConnectError::Unsupported(what))) => {
                debug!(url = %self.url, wants = %what, "Extracting through mysql_async: the server wants what martsync's own reader does not speak.");
                let _ = self.wire_unsupported.set(what);
                Ok(None)
            }
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
        let database = opts.db_name().unwrap_or_default().to_string();
        let opts: Opts = OptsBuilder::from_opts(opts)
            .ssl_opts(ssl)
            .setup(vec!["SET time_zone = '+00:00'"])
            .into();
        Ok(MySqlSource {
            pool: Pool::new(opts.clone()),
            opts,
            database,
            url: redacted,
            batch_rows,
            unsigned_bigint,
            parallel: parallel.max(1),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(600),
            wire_unsupported: std::sync::OnceLock::new(),
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

    async fn binlog_position(&self) -> Result<BinlogPosition> {
        self.current_position().await
    }

    async fn changes(
        &self,
        table: &TableConfig,
        from: &BinlogPosition,
        to: &BinlogPosition,
        reader: u32,
    ) -> Result<BatchStream> {
        self.read_changes(table, from, to, reader).await
    }

    fn explain_extraction(&self, table: &TableConfig, above: Option<i64>) -> String {
        let (sql, params) = extraction_query(table, above, None, None, None);
        let params: Vec<String> = params.iter().map(|v| v.as_sql(false)).collect();
        let mut text = format!("{sql};");
        if !params.is_empty() {
            text += &format!("  -- ? = {}", params.join(", "));
        }
        if above.is_some() {
            text += &format!(
                "\n  (with FORCE INDEX on an index led by `{}` if the server would scan the whole \
                 table for a range it estimates at most {FORCE_INDEX_BELOW_PERCENT} % of it and \
                 the table fits in its buffer pool)",
                table.watermark
            );
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
            None => {
                let index = self
                    .forced_index(table, extract.above, extract.below)
                    .await?;
                self.key_ranges(table, extract.above, extract.below)
                    .await?
                    .into_iter()
                    .map(|range| {
                        vec![extraction_query(
                            table,
                            extract.above,
                            extract.below,
                            range,
                            index.as_deref(),
                        )]
                    })
                    .collect()
            }
        };
        let schema = table.schema.arrow_schema();
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_BATCHES * readers.len());
        for queries in readers {
            let decoder =
                RowDecoder::new(table, &schema, self.batch_rows, extract.counters.clone());
            if let Some((sql, _)) = queries.first() {
                debug!(table = %source_table, sql = %sql, queries = queries.len(), "Extracting.");
            }
            let reading = Reading {
                table: source_table.clone(),
                url: self.url.clone(),
                read_timeout: self.read_timeout,
                decoder,
                tx: tx.clone(),
            };
            match self.wire_conn(&source_table).await? {
                Some(conn) => tokio::spawn(read_wire_rows(conn, queries, reading)),
                None => {
                    let conn = self.conn(&source_table).await?;
                    tokio::spawn(read_rows(conn, queries, reading))
                }
            };
        }
        Ok(super::receiver_stream(rx))
    }
}

impl MySqlSource {
    /// The index an incremental extraction is read through against the server's plan, if
    /// any: an index (not the primary key) whose first column is the watermark, when the
    /// table fits in InnoDB's buffer pool and the server would scan the whole table for a
    /// range it estimates small ([`query::force_index`]). A full extraction, a key list and a
    /// table with no such index keep the server's plan. This is only a choice of plan: a
    /// server that cannot answer the questions (no InnoDB, no JSON `EXPLAIN`) keeps its own
    /// plan too, and the extraction goes on.
    pub async fn forced_index(
        &self,
        table: &TableConfig,
        above: Option<i64>,
        below: Option<i64>,
    ) -> Result<Option<String>> {
        if above.is_none() {
            return Ok(None);
        }
        let name = &table.schema.name;
        let mut conn = self.conn(name).await?;
        let choice = async {
            let index: Option<(String, bool)> = conn
                .exec_first(
                    "SELECT s.INDEX_NAME, \
                            t.DATA_LENGTH + t.INDEX_LENGTH <= @@innodb_buffer_pool_size \
                     FROM information_schema.STATISTICS s \
                     JOIN information_schema.TABLES t \
                       ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND t.TABLE_NAME = s.TABLE_NAME \
                     WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = ? \
                       AND s.SEQ_IN_INDEX = 1 AND s.COLUMN_NAME = ? \
                       AND s.INDEX_NAME <> 'PRIMARY' AND t.ENGINE = 'InnoDB' \
                     ORDER BY s.NON_UNIQUE, s.INDEX_NAME LIMIT 1",
                    (name, &table.watermark),
                )
                .await?;
            let Some((index, true)) = index else {
                return Ok(None);
            };
            let (sql, params) = extraction_query(table, above, below, None, None);
            let plan: Option<String> = conn
                .exec_first(format!("EXPLAIN FORMAT=JSON {sql}"), params)
                .await?;
            let plan: serde_json::Value = plan
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default();
            let forced = force_index(&plan).then_some(index);
            if let Some(index) = &forced {
                debug!(table = %name, index = %index, "Reading through the watermark's index: the server would scan the whole table for a small range.");
            }
            Ok::<_, mysql_async::Error>(forced)
        };
        // A locked table (`LOCK TABLES … WRITE`) holds these questions as it would hold the
        // extraction: they wait no longer than a row may, and fail the same way.
        let Ok(choice) = tokio::time::timeout(self.read_timeout, choice).await else {
            return Err(self.error(
                name,
                "asking for the extraction's plan (EXPLAIN)",
                format!(
                    "{} (is the table locked?)",
                    stopped_answering("answer", self.read_timeout)
                ),
            ));
        };
        Ok(choice.unwrap_or_else(|e| {
            debug!(table = %name, error = %e, "Keeping the server's plan: it did not say how it would read the range.");
            None
        }))
    }

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

/// Why a read ended when the server sent no `what` (a row, an answer) within `read_timeout`.
fn stopped_answering(what: &str, read_timeout: Duration) -> String {
    format!(
        "no {what} within source.read_timeout = {}; the server stopped answering",
        format_duration(read_timeout)
    )
}

/// What a reading task needs besides its connection and queries: names for errors, its
/// timeout, its decoder and where its batches go.
struct Reading {
    table: String,
    url: String,
    read_timeout: Duration,
    decoder: RowDecoder,
    tx: mpsc::Sender<Result<RecordBatch>>,
}

impl Reading {
    fn error(&self, what: &str, e: &dyn std::fmt::Display) -> Error {
        Error::Source {
            table: self.table.clone(),
            location: format!("{} ({what})", self.url),
            message: e.to_string(),
        }
    }

    fn hung(&self, sql: &str) -> Error {
        self.error(sql, &stopped_answering("row", self.read_timeout))
    }

    /// Sends the decoder's batch once it is full; false when the consumer went away (its
    /// cycle failed): stop reading.
    async fn send_if_full(&mut self) -> bool {
        !self.decoder.full() || self.tx.send(Ok(self.decoder.finish())).await.is_ok()
    }

    /// Sends what is left after the last row, or the error that ended the reading.
    async fn end(mut self, read: Result<()>) {
        match read {
            Ok(()) => {
                if self.decoder.rows > 0 {
                    let _ = self.tx.send(Ok(self.decoder.finish())).await;
                }
                self.decoder.report_zero_dates(&self.table);
            }
            Err(e) => {
                let _ = self.tx.send(Err(e)).await;
            }
        }
    }
}

/// One reader over mysql_async: runs its queries and sends decoded batches until the
/// results end, an error (sent on) or the consumer goes away.
async fn read_rows(
    mut conn: mysql_async::Conn,
    queries: Vec<(String, Vec<Value>)>,
    mut reading: Reading,
) {
    let read_timeout = reading.read_timeout;
    let read = async {
        for (sql, params) in queries {
            let mut result =
                tokio::time::timeout(read_timeout, conn.exec_iter(sql.as_str(), params))
                    .await
                    .map_err(|_| reading.hung(&sql))?
                    .map_err(|e| reading.error(&sql, &e))?;
            while let Some(row) = tokio::time::timeout(read_timeout, result.next())
                .await
                .map_err(|_| reading.hung(&sql))?
                .map_err(|e| reading.error(&sql, &e))?
            {
                reading
                    .decoder
                    .push(&row)
                    .map_err(|m| reading.error("decoding rows", &m))?;
                if !reading.send_if_full().await {
                    return Ok(());
                }
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    reading.end(read).await;
}

/// One reader over martsync's own connection (`wire`): rows go from the socket's buffer to
/// the Arrow builders. Its read timeout is the connection's, on every read.
async fn read_wire_rows(
    mut conn: WireConn,
    queries: Vec<(String, Vec<Value>)>,
    mut reading: Reading,
) {
    let read = async {
        for (sql, params) in queries {
            let stmt = conn
                .prepare(&sql)
                .await
                .map_err(|e| reading.error(&sql, &e))?;
            let columns = conn
                .execute(stmt, &params)
                .await
                .map_err(|e| reading.error(&sql, &e))?;
            let layout: Vec<Wire> = columns.iter().map(Wire::of).collect();
            while let Some(row) = conn.next_row().await.map_err(|e| reading.error(&sql, &e))? {
                reading
                    .decoder
                    .push_binary(row, &layout)
                    .map_err(|m| reading.error("decoding rows", &m))?;
                if !reading.send_if_full().await {
                    return Ok(false);
                }
            }
            conn.close(stmt)
                .await
                .map_err(|e| reading.error(&sql, &e))?;
        }
        Ok::<bool, Error>(true)
    }
    .await;
    if matches!(read, Ok(true)) {
        conn.quit().await;
    }
    reading.end(read.map(|_| ())).await;
}
