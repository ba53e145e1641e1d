//! `source.mode = "binlog"`: a mart's changes read from the server's binary log.
//!
//! Each read registers as a replica (`COM_REGISTER_SLAVE`) and asks for the log from a
//! position with `BINLOG_DUMP_NON_BLOCK`, so the server ends the stream when it has sent
//! everything instead of waiting for more; the read also stops by itself at the end position
//! the cycle took before it started, so a busy server cannot keep a scheduled run going.
//! Row events of the configured table become Arrow rows ([`RowDecoder`], the extraction's
//! decoder) with the change marker after the mart's columns; everything else is skipped
//! after its header. A statement that changes the table's rows or columns without row
//! events (ALTER, TRUNCATE, DROP, RENAME) stops the read: the mart cannot follow it.
//!
//! Values in row events are not quite the query protocol's: signedness is not logged
//! (MariaDB's `binlog_row_metadata` is off by default), TIMESTAMP is seconds since the
//! epoch, ENUM an index and SET a bit mask. [`values::from_binlog`] turns them into what an
//! extraction of the same row reads, by the column's declared type.
//!
//! The files: [`server`] (what the server must log, and the grants), [`values`] (row-event
//! values as the query protocol gives them); this one reads the log.

mod server;
mod values;

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::{BinlogStreamRequest, Conn};

use super::*;
use crate::source::BinlogPosition;
use server::ServerLogging;
use values::from_binlog;

impl MySqlSource {
    /// The server's logging settings and the session's grants.
    async fn server_logging(&self) -> Result<ServerLogging> {
        let mut conn = self.conn("-").await?;
        let sql = "SELECT @@log_bin, @@binlog_format, @@binlog_row_image";
        let row: Option<(i64, String, String)> = conn
            .query_first(sql)
            .await
            .map_err(|e| self.error("-", sql, e))?;
        let (log_bin, format, row_image) = row.unwrap_or_default();
        let grants: Vec<String> = conn
            .query("SHOW GRANTS")
            .await
            .map_err(|e| self.error("-", "SHOW GRANTS", e))?;
        Ok(ServerLogging {
            log_bin: log_bin == 1,
            format,
            row_image,
            grants,
        })
    }

    /// Checks the server, then reads where its binary log ends.
    pub(super) async fn current_position(&self) -> Result<BinlogPosition> {
        if let Some(missing) = self.server_logging().await?.missing() {
            return Err(self.error("-", "binlog mode", missing));
        }
        let mut conn = self.conn("-").await?;
        // SHOW MASTER STATUS can name a position past a transaction that is written to the
        // log but not yet visible (the log is written before the storage engine commits): a
        // snapshot read next would miss its change and the log read from there skip it.
        // MariaDB's `binlog_snapshot_file`/`binlog_snapshot_position`, read inside
        // `START TRANSACTION WITH CONSISTENT SNAPSHOT`, name the position that snapshot
        // includes exactly (MariaDB Knowledge Base, "Enhancements for START TRANSACTION WITH
        // CONSISTENT SNAPSHOT"); every later read sees at least as much.
        if let Some(position) = self.snapshot_position(&mut conn).await? {
            return Ok(position);
        }
        let sql = "SHOW MASTER STATUS";
        let row: Option<Row> = conn
            .query_first(sql)
            .await
            .map_err(|e| self.error("-", sql, e))?;
        let position = row.and_then(|row| {
            let file: Option<String> = row.get(0);
            let offset: Option<u64> = row.get(1);
            Some(BinlogPosition {
                file: file?,
                offset: offset?,
            })
        });
        position.ok_or_else(|| self.error("-", sql, "the server reports no binary log"))
    }

    /// MariaDB's binlog position of a consistent snapshot; None on a server without it
    /// (MySQL), which falls back to SHOW MASTER STATUS.
    async fn snapshot_position(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> Result<Option<BinlogPosition>> {
        let start = "START TRANSACTION WITH CONSISTENT SNAPSHOT";
        conn.query_drop(start)
            .await
            .map_err(|e| self.error("-", start, e))?;
        let sql = "SHOW STATUS LIKE 'binlog_snapshot_%'";
        let rows: std::result::Result<Vec<(String, String)>, _> = conn.query(sql).await;
        conn.query_drop("COMMIT")
            .await
            .map_err(|e| self.error("-", "COMMIT", e))?;
        let rows = rows.map_err(|e| self.error("-", sql, e))?;
        let value = |name: &str| {
            rows.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Ok(
            match (
                value("binlog_snapshot_file"),
                value("binlog_snapshot_position"),
            ) {
                (Some(file), Some(offset)) if !file.is_empty() => offset
                    .parse()
                    .ok()
                    .map(|offset| BinlogPosition { file, offset }),
                _ => None,
            },
        )
    }

    /// The binary-log files the server still has.
    async fn log_files(&self, table: &str) -> Result<Vec<String>> {
        let mut conn = self.conn(table).await?;
        let rows: Vec<Row> = conn
            .query("SHOW BINARY LOGS")
            .await
            .map_err(|e| self.error(table, "SHOW BINARY LOGS", e))?;
        Ok(rows.iter().filter_map(|r| r.get(0)).collect())
    }

    /// See [`Source::changes`].
    pub(super) async fn read_changes(
        &self,
        table: &TableConfig,
        from: &BinlogPosition,
        to: &BinlogPosition,
        reader: u32,
    ) -> Result<BatchStream> {
        let name = table.schema.name.clone();
        // The mart's columns, whether or not `table` carries the marker already.
        let table = &table.without_change_marker();
        let changes = table.with_change_marker();
        let schema = changes.schema.arrow_schema();
        if from == to {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let resnapshot = format!(
            "Re-snapshot: `martsync run --table {} --resnapshot` re-reads the whole table and \
             records a new position; then `martsync reconcile --table {} --since 1970-01-01` \
             removes the rows deleted meanwhile",
            table.name, table.name
        );
        if from > to {
            return Err(self.error(
                &name,
                &format!("binary log from {from}"),
                format!(
                    "the server's binary log ends at {to}, before the mart's position: its logs \
                     were reset (RESET MASTER) or this is another server, and the changes in \
                     between are unknown. {resnapshot}"
                ),
            ));
        }
        let files = self.log_files(&name).await?;
        if !files.contains(&from.file) {
            return Err(self.error(
                &name,
                &format!("binary log from {from}"),
                format!(
                    "the server no longer has {} (its oldest is {}): the changes after the \
                     mart's last cycle were purged. {resnapshot}. Keep binary logs longer than \
                     the longest pause between cycles (expire_logs_days / \
                     binlog_expire_logs_seconds)",
                    from.file,
                    files.first().map_or("none", String::as_str),
                ),
            ));
        }
        let actual = self.describe_table(&name).await?;
        self.check_columns(table, &actual)?;
        let columns: Vec<usize> = table
            .schema
            .columns
            .iter()
            .map(|c| {
                actual
                    .columns
                    .iter()
                    .position(|a| a.name == c.name)
                    .expect("checked columns")
            })
            .collect();
        let database = self.database.clone();
        let conn = tokio::time::timeout(self.connect_timeout, Conn::new(self.opts.clone()))
            .await
            .map_err(|_| self.error(&name, "connect", "no answer within source.connect_timeout"))?
            .map_err(|e| self.error(&name, "connect", e))?;
        let decoder = RowDecoder::new(
            &changes,
            &schema,
            self.batch_rows,
            Arc::new(ExtractCounters::default()),
        );
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(CHANNEL_BATCHES);
        let read = ChangeRead {
            table: table.clone(),
            source_columns: actual.columns.len(),
            columns,
            database,
            from: from.clone(),
            to: to.clone(),
            reader,
            url: self.url.clone(),
            read_timeout: self.read_timeout,
        };
        tokio::spawn(async move {
            if let Err(e) = read.run(conn, decoder, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(super::super::receiver_stream(rx))
    }
}

/// One read of the binary log for one table.
struct ChangeRead {
    table: TableConfig,
    /// Columns of the source table (a row event with another count means it was altered).
    source_columns: usize,
    /// For each mart column, its position in the source table's rows.
    columns: Vec<usize>,
    database: String,
    from: BinlogPosition,
    to: BinlogPosition,
    reader: u32,
    url: String,
    read_timeout: Duration,
}

impl ChangeRead {
    fn error(&self, at: &BinlogPosition, message: impl std::fmt::Display) -> Error {
        Error::Source {
            table: self.table.schema.name.clone(),
            location: format!("{} (binary log at {at})", self.url),
            message: message.to_string(),
        }
    }

    async fn run(
        &self,
        conn: Conn,
        mut decoder: RowDecoder,
        tx: &mpsc::Sender<Result<RecordBatch>>,
    ) -> Result<()> {
        let request = BinlogStreamRequest::new(self.reader)
            .with_filename(self.from.file.as_bytes())
            .with_pos(self.from.offset)
            .with_non_blocking();
        let mut stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| self.error(&self.from, e))?;
        let mut at = self.from.clone();
        let hung = || {
            format!(
                "no event within source.read_timeout = {}; the server stopped answering",
                format_duration(self.read_timeout)
            )
        };
        let key: Vec<usize> = self
            .table
            .key
            .iter()
            .map(|k| self.table.schema.index_of(k).expect("validated key"))
            .collect();
        let marker = |deleted: bool| Value::Int(deleted as i64);
        let (mut events, mut changes) = (0u64, 0u64);
        let mut described = false;
        while at < self.to {
            events += 1;
            let Some(event) = tokio::time::timeout(self.read_timeout, stream.next())
                .await
                .map_err(|_| self.error(&at, hung()))?
            else {
                // The server sent all it has (non-blocking) before the end position: the
                // position was read from it, so this only happens if it lost its log.
                return Err(self.error(
                    &at,
                    format!(
                        "the binary log ended before {}, where the server said it ended when \
                         the cycle began",
                        self.to
                    ),
                ));
            };
            let event = event.map_err(|e| self.error(&at, e))?;
            let next = event.header().log_pos() as u64;
            let data = event
                .read_data()
                .map_err(|e| self.error(&at, format!("undecodable event: {e}")))?;
            match data {
                // The dump starts with a rotate to where it was asked to start, sent before the
                // format description that says events carry checksums: its name would hold the
                // checksum's bytes, and it says nothing new, so it is skipped.
                Some(EventData::RotateEvent(rotate)) if described => {
                    at = BinlogPosition {
                        file: rotate.name().into_owned(),
                        offset: rotate.position(),
                    };
                    continue;
                }
                Some(EventData::RotateEvent(_)) => continue,
                Some(EventData::FormatDescriptionEvent(_)) => described = true,
                Some(EventData::QueryEvent(query)) => {
                    // Tables without transactions (MyISAM, Aria) end theirs with a COMMIT query.
                    if query.query().eq_ignore_ascii_case("COMMIT")
                        && decoder.full()
                        && tx.send(Ok(decoder.finish())).await.is_err()
                    {
                        return Ok(());
                    }
                    let default_db = query.schema();
                    if let Some(verb) = changes_table(
                        &query.query(),
                        &default_db,
                        &self.database,
                        &self.table.schema.name,
                    ) {
                        return Err(self.error(
                            &at,
                            format!(
                                "a {verb} statement changed table {} in the binary log without \
                                 row events (DDL, or DML a session logged with binlog_format = \
                                 STATEMENT), which the mart cannot follow. Nothing of this cycle \
                                 was merged: fix the cause (the mart's config if columns \
                                 changed; ROW format for every session), then re-snapshot with \
                                 `martsync run --table {} --resnapshot`",
                                self.table.schema.name, self.table.name
                            ),
                        ));
                    }
                }
                Some(EventData::RowsEvent(rows)) => {
                    let Some(tme) = stream.get_tme(rows.table_id()) else {
                        return Err(self.error(&at, "a row event without its table map"));
                    };
                    let ours = tme.database_name().eq_ignore_ascii_case(&self.database)
                        && tme
                            .table_name()
                            .eq_ignore_ascii_case(&self.table.schema.name);
                    if ours {
                        changes += 1;
                        if tme.columns_count() as usize != self.source_columns {
                            return Err(self.error(
                                &at,
                                format!(
                                    "a row event of {} has {} columns where the table has {} now: \
                                     the table was altered after this position. Re-snapshot with \
                                     `martsync run --table {} --resnapshot`",
                                    self.table.schema.name,
                                    tme.columns_count(),
                                    self.source_columns,
                                    self.table.name
                                ),
                            ));
                        }
                        let deletes = matches!(
                            rows,
                            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_)
                        );
                        for pair in rows.rows(tme) {
                            let (before, after) =
                                pair.map_err(|e| self.error(&at, format!("undecodable row: {e}")))?;
                            let before = before.map(|r| self.mart_values(r)).transpose();
                            let after = after.map(|r| self.mart_values(r)).transpose();
                            let (before, after) = (
                                before.map_err(|m| self.error(&at, m))?,
                                after.map_err(|m| self.error(&at, m))?,
                            );
                            // A deleted row, or an updated row that moved to another key:
                            // its old key leaves the mart (unless a later change brings it back).
                            let moved = |b: &Vec<Value>, a: &Option<Vec<Value>>| {
                                a.as_ref().is_none_or(|a| key.iter().any(|&k| a[k] != b[k]))
                            };
                            if let Some(mut b) = before.filter(|b| deletes || moved(b, &after)) {
                                b.push(marker(true));
                                decoder.push_values(&b).map_err(|m| self.error(&at, m))?;
                            }
                            if let Some(mut a) = after {
                                a.push(marker(false));
                                decoder.push_values(&a).map_err(|m| self.error(&at, m))?;
                            }
                        }
                    }
                }
                // Commits end transactions: a batch is handed over only there, so a read never
                // sends half of a transaction (the stream always ends on a boundary anyway).
                Some(EventData::XidEvent(_))
                    if decoder.full() && tx.send(Ok(decoder.finish())).await.is_err() =>
                {
                    return Ok(());
                }
                _ => {}
            }
            // The fake rotate and format description a dump starts with carry 0.
            if next > 0 {
                at.offset = next;
            }
        }
        let _ = stream.close().await;
        debug!(table = %self.table.schema.name, from = %self.from, to = %self.to, events, changes, "Read the binary log.");
        if decoder.rows > 0 {
            let _ = tx.send(Ok(decoder.finish())).await;
        }
        Ok(())
    }

    /// The mart's columns of one row image, converted to what an extraction reads.
    fn mart_values(
        &self,
        row: mysql_async::binlog::row::BinlogRow,
    ) -> std::result::Result<Vec<Value>, String> {
        let mut values: Vec<Option<BinlogValue<'static>>> =
            row.unwrap().into_iter().map(Some).collect();
        self.columns
            .iter()
            .zip(&self.table.schema.columns)
            .map(|(&i, column)| {
                let value = values.get_mut(i).and_then(Option::take);
                from_binlog(column, value).map_err(|m| format!("column `{}`: {m}", column.name))
            })
            .collect()
    }
}

/// Whether `query` (run with default database `default_db`) is a statement that changes
/// `table` of `database` without row events: DDL, or DML a session logged in statement
/// format (`SET SESSION binlog_format = 'STATEMENT'` gets past the server-wide check). Its
/// verb, if so.
fn changes_table(query: &str, default_db: &str, database: &str, table: &str) -> Option<String> {
    let lower = query.to_ascii_lowercase();
    let verb = lower.split_whitespace().next()?;
    if !matches!(
        verb,
        "alter"
            | "truncate"
            | "drop"
            | "rename"
            | "insert"
            | "update"
            | "delete"
            | "replace"
            | "load"
    ) {
        return None;
    }
    let (table, database) = (table.to_ascii_lowercase(), database.to_ascii_lowercase());
    // Identifiers with their qualifier: `db`.`t`, db.t, t.
    let cleaned = lower.replace('`', "");
    let mentions = cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .any(|word| match word.rsplit_once('.') {
            Some((db, name)) => name == table && db == database,
            None => word == table && default_db.eq_ignore_ascii_case(&database),
        });
    mentions.then(|| verb.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_change_the_table_without_row_events_are_recognised() {
        let hit = |q: &str, default_db: &str| changes_table(q, default_db, "shop", "orders");
        assert_eq!(
            hit("ALTER TABLE orders ADD COLUMN x INT", "shop").as_deref(),
            Some("ALTER")
        );
        assert_eq!(
            hit("truncate table `shop`.`orders`", "other").as_deref(),
            Some("TRUNCATE")
        );
        assert_eq!(
            hit("DROP TABLE IF EXISTS orders", "shop").as_deref(),
            Some("DROP")
        );
        // Another database's table of the same name, another table, DML: not ours.
        assert_eq!(hit("ALTER TABLE other.orders ADD x INT", "shop"), None);
        assert_eq!(hit("ALTER TABLE orders ADD x INT", "other"), None);
        assert_eq!(hit("ALTER TABLE orders_old ADD x INT", "shop"), None);
        assert_eq!(hit("BEGIN", "shop"), None);
        // DML in statement format carries no row events: the mart cannot follow it.
        assert_eq!(
            hit("UPDATE orders SET x = 1", "shop").as_deref(),
            Some("UPDATE")
        );
        assert_eq!(hit("INSERT INTO orders_log VALUES (1)", "shop"), None);
    }
}
