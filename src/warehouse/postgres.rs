//! `postgres://…`: PostgreSQL, the Redshift stand-in of the tests and a warehouse in its own
//! right. Its merge plan loads a run by reading the staged Parquet back from the stage and
//! streaming it with `COPY … FROM STDIN (FORMAT binary)` (into the mart itself when the
//! mart is empty); an export streams `COPY … TO STDOUT (FORMAT binary)` into Arrow.
//! Connections, TLS and the shared warehouse code are in [`super::pgwire`].

use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio_postgres::Client;

use super::dialect::{self, Dialect, Load};
use super::executor::{Session, SessionError, SessionResult};
use super::pgcopy;
use super::pgwire::{Flavor, Pool, WireSession, WireWarehouse, session_error};
use super::{MergeRequest, RunValue};
use crate::config::TableConfig;
use crate::error::{Error, Result};
use crate::units::{BatchStream, receiver_stream};

/// Rows per batch of an export.
const EXPORT_BATCH_ROWS: usize = 65_536;

/// A PostgreSQL database.
pub type PostgresWarehouse = WireWarehouse<Postgres>;

/// PostgreSQL's ways: binary COPY in and out.
pub struct Postgres;

#[async_trait::async_trait]
impl Flavor for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn load(&self, _pool: &Pool, _request: &MergeRequest<'_>) -> Result<Load> {
        Ok(Load::Stdin)
    }

    fn session<'a>(&'a self, wire: WireSession<'a>) -> Box<dyn Session + 'a> {
        Box::new(PostgresSession(wire))
    }

    /// The rows stream as binary COPY, decoded straight into Arrow.
    async fn export(
        &self,
        pool: &Pool,
        name: &str,
        table: &TableConfig,
        _stage: &dyn crate::stage::Stage,
        since: Option<i64>,
    ) -> Result<BatchStream> {
        let ctx = pool.context(&table.name, "-");
        let client = pool.client(&table.name).await?;
        let export_name = name.to_string();
        let sql = format!(
            "COPY ({}) TO STDOUT (FORMAT binary)",
            dialect::select_columns_since(Dialect::Postgres, table, name, since)
        );
        let copy = client.copy_out(&sql).await.map_err(ctx.at("export"))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<arrow::record_batch::RecordBatch>>(2);
        let (warehouse, mart) = (pool.url.clone(), table.name.clone());
        let fail = move |message: String| Error::Warehouse {
            warehouse: warehouse.clone(),
            mart: mart.clone(),
            run_id: "-".into(),
            statement: format!("export of {}", dialect::quote(&export_name)),
            message,
        };
        let table_schema = table.schema.arrow_schema();
        tokio::spawn(async move {
            // The client lives as long as the copy.
            let _client = client;
            futures::pin_mut!(copy);
            let mut decoder = pgcopy::Decoder::new(table_schema);
            let result = async {
                while let Some(chunk) = futures::StreamExt::next(&mut copy).await {
                    let chunk = chunk.map_err(|e| fail(e.to_string()))?;
                    decoder.push(&chunk).map_err(&fail)?;
                    if decoder.rows() >= EXPORT_BATCH_ROWS {
                        let batch = decoder.finish().map_err(&fail)?;
                        if tx.send(Ok(batch)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                if decoder.rows() > 0 {
                    let _ = tx.send(Ok(decoder.finish().map_err(&fail)?)).await;
                }
                Ok::<(), Error>(())
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(receiver_stream(rx))
    }
}

/// A merge session: the wire session, plus streaming staged rows in.
struct PostgresSession<'a>(WireSession<'a>);

#[async_trait::async_trait]
impl Session for PostgresSession<'_> {
    async fn execute(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<u64> {
        self.0.execute(sql, params).await
    }

    async fn query_i64(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<Option<i64>> {
        self.0.query_i64(sql, params).await
    }

    async fn copy_in(&mut self, sql: &str, request: &MergeRequest<'_>) -> SessionResult<u64> {
        copy_staged(self.0.client(), sql, request).await
    }

    fn close(self: Box<Self>, reusable: bool) {
        self.0.close(reusable);
    }
}

/// Reads each staged part back from the stage (the same bytes Redshift would load) and
/// streams it as binary COPY into `sql`'s table: the temp table, or the empty mart.
async fn copy_staged(client: &Client, sql: &str, request: &MergeRequest<'_>) -> SessionResult<u64> {
    let sink = client
        .copy_in::<_, Bytes>(sql)
        .await
        .map_err(session_error)?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(pgcopy::HEADER))
        .await
        .map_err(session_error)?;
    for part in &request.staged.parts {
        // A stage that fails here is the stage's failure (exit code 5), not the warehouse's;
        // the error says which statement of which run needed the file.
        let bytes = request
            .stage
            .get(&part.key)
            .await
            .map_err(|e| match e {
                Error::Stage {
                    url,
                    action,
                    message,
                } => Error::Stage {
                    url,
                    action: format!(
                        "{action} (for statement `load_stage` of mart {}, run {})",
                        request.table.name, request.record.run_id
                    ),
                    message,
                },
                other => other,
            })
            .map_err(SessionError::Other)?;
        let (tx_chunks, mut chunks) =
            tokio::sync::mpsc::channel::<std::result::Result<Bytes, String>>(4);
        // Decoding Parquet and encoding rows is CPU work: off the async threads, a batch at
        // a time, so memory holds one part's bytes and a few encoded batches.
        let decode = tokio::task::spawn_blocking(move || {
            let send = |item| tx_chunks.blocking_send(item).is_ok();
            let reader = match ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
                .and_then(|b| b.with_batch_size(8192).build())
            {
                Ok(reader) => reader,
                Err(e) => {
                    send(Err(e.to_string()));
                    return;
                }
            };
            for batch in reader {
                let mut out = BytesMut::new();
                let encoded = batch
                    .map_err(|e| e.to_string())
                    .and_then(|b| pgcopy::encode_batch(&b, &mut out));
                let ok = match encoded {
                    Ok(()) => send(Ok(out.freeze())),
                    Err(e) => {
                        send(Err(e));
                        false
                    }
                };
                if !ok {
                    return;
                }
            }
        });
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.map_err(|e| {
                SessionError::message(format!("decoding staged file {}: {e}", part.url))
            })?;
            sink.send(chunk).await.map_err(session_error)?;
        }
        decode.await.expect("decoding a staged file does not panic");
    }
    sink.send(Bytes::from_static(pgcopy::TRAILER))
        .await
        .map_err(session_error)?;
    sink.as_mut().finish().await.map_err(session_error)
}
