//! `postgres://…` and `redshift://…`: one client (tokio-postgres) for both, since Redshift
//! speaks the PostgreSQL protocol. They differ only where the dialect does:
//!
//! - load: PostgreSQL reads the staged Parquet back from the stage and streams it with
//!   `COPY … FROM STDIN (FORMAT binary)`; Redshift runs `COPY … FROM '<manifest>' IAM_ROLE …
//!   FORMAT AS PARQUET MANIFEST` and reads the count back with `pg_last_copy_count()`;
//! - everything else is the statements of [`dialect`], in one transaction:
//!   `LOCK`, run-id check, temp table, load, row-count check, merge, trim, run record, COMMIT.
//!
//! A serialization failure or deadlock (SQLSTATE 40001 / 40P01, Redshift's "Serializable
//! isolation violation") retries the whole transaction, a bounded number of times with
//! backoff; the run id makes a retry of a run that did commit a no-op.
//!
//! TLS follows libpq's `sslmode` (given in the URL): `disable`; `prefer` and `require`
//! encrypt without verifying the server (as libpq does); `verify-ca` and `verify-full` verify
//! it against the web PKI roots plus `sslrootcert=FILE`. PostgreSQL defaults to `prefer`,
//! Redshift to `verify-full`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};
use tracing::{debug, warn};

use super::dialect::{self, Dialect, RUNS_TABLE, Statement};
use super::{
    MartStatus, MergeOutcome, MergeRequest, RunRecord, RunSummary, RunValue, Warehouse, pgcopy,
};
use crate::config::{TableConfig, WarehouseTimeouts, format_duration, redact_url};
use crate::error::{Error, Result};
use crate::source::BatchStream;

/// Attempts of a merge transaction that keeps hitting serialization conflicts.
const MAX_ATTEMPTS: u32 = 5;
/// The first retry waits this long; each further one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Connections kept open between uses.
const IDLE_CONNECTIONS: usize = 4;

/// A PostgreSQL database or Redshift cluster.
pub struct PostgresWarehouse {
    dialect: Dialect,
    config: tokio_postgres::Config,
    tls: Tls,
    /// The URL without its password.
    url: String,
    iam_role: Option<String>,
    timeouts: WarehouseTimeouts,
    idle: Mutex<Vec<Client>>,
}

/// How connections are encrypted.
#[derive(Clone)]
enum Tls {
    None,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// Rows per batch of an export.
const EXPORT_BATCH_ROWS: usize = 65_536;

/// Who failed, for errors.
struct Context<'a> {
    warehouse: &'a str,
    mart: &'a str,
    run_id: &'a str,
}

impl Context<'_> {
    fn error(&self, statement: &str, message: impl Into<String>) -> Error {
        Error::Warehouse {
            warehouse: self.warehouse.to_string(),
            mart: self.mart.to_string(),
            run_id: self.run_id.to_string(),
            statement: statement.to_string(),
            message: message.into(),
        }
    }

    fn at(&self, statement: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        let statement = statement.to_string();
        move |e| self.error(&statement, describe(&e))
    }
}

/// Runs a connection's I/O in the background for as long as its client lives.
fn drive(
    connection: impl std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>
    + Send
    + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "PostgreSQL connection ended.");
        }
    });
}

/// A server error with its SQLSTATE, detail and hint; or the client's own error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                message.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("; hint: {hint}"));
            }
            message
        }
        None => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            message
        }
    }
}

/// A one-row, one-boolean query with one text parameter.
async fn query_bool(
    tx: &Transaction<'_>,
    sql: &str,
    param: &str,
) -> std::result::Result<bool, tokio_postgres::Error> {
    Ok(tx.query_one(sql, &[&param]).await?.get(0))
}

/// Whether retrying the whole transaction may succeed.
fn is_serialization_conflict(e: &Error) -> bool {
    match e {
        Error::Warehouse { message, .. } => {
            message.contains(SqlState::T_R_SERIALIZATION_FAILURE.code())
                || message.contains(SqlState::T_R_DEADLOCK_DETECTED.code())
                || message.contains("Serializable isolation violation")
        }
        _ => false,
    }
}

/// The web PKI roots, plus the certificates of `sslrootcert` when given.
fn root_store(root_cert: Option<&str>) -> std::result::Result<rustls::RootCertStore, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = root_cert {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
        }
    }
    Ok(roots)
}

/// Accepts any server certificate: libpq's `sslmode=require` (encryption without
/// authentication). Signatures are still checked, so the session key is the server's.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Parses the URL into a client config and the TLS to use; `sslmode`/`sslrootcert` are
/// handled here (tokio-postgres knows only disable/prefer/require and no root certs).
fn connect_options(
    url: &str,
    dialect: Dialect,
) -> std::result::Result<(tokio_postgres::Config, Tls), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let default_mode = if dialect == Dialect::Redshift {
        "verify-full"
    } else {
        "prefer"
    };
    let mut mode = default_mode.to_string();
    let mut root_cert = None;
    let mut rest = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "sslmode" => mode = v.into_owned(),
            "sslrootcert" => root_cert = Some(v.into_owned()),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    let client_mode = match mode.as_str() {
        "disable" => "disable",
        "prefer" | "allow" => "prefer",
        "require" | "verify-ca" | "verify-full" => "require",
        other => {
            return Err(format!(
                "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    rest.push(("sslmode".into(), client_mode.into()));
    parsed.query_pairs_mut().clear().extend_pairs(rest);
    // tokio-postgres parses postgresql:// URLs; Redshift's are the same apart from the scheme.
    let text = parsed.to_string();
    let text = match text.split_once("://") {
        Some((_, rest)) => format!("postgresql://{rest}"),
        None => text,
    };
    let config: tokio_postgres::Config = text.parse().map_err(|e| format!("{e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = match mode.as_str() {
        "disable" => Tls::None,
        "verify-ca" | "verify-full" => {
            let roots = root_store(root_cert.as_deref())?;
            Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
                builder.with_root_certificates(roots).with_no_client_auth(),
            ))
        }
        _ => Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
                .with_no_client_auth(),
        )),
    };
    Ok((config, tls))
}

impl PostgresWarehouse {
    /// Prepares the connection settings and checks the server answers.
    pub async fn open(
        url: &str,
        dialect: Dialect,
        iam_role: Option<String>,
        timeouts: WarehouseTimeouts,
    ) -> Result<Self> {
        let redacted = redact_url(url);
        let (mut config, tls) = connect_options(url, dialect)
            .map_err(|m| Error::config("warehouse.url", redacted.clone(), m))?;
        config.connect_timeout(timeouts.connect);
        let warehouse = PostgresWarehouse {
            dialect,
            config,
            tls,
            url: redacted,
            iam_role,
            timeouts,
            idle: Mutex::new(Vec::new()),
        };
        let client = warehouse.connect("-").await?;
        warehouse.release(client);
        Ok(warehouse)
    }

    /// A new session with the configured timeouts. The connect timeout covers the TLS and
    /// startup exchange too: tokio-postgres' own applies to the TCP connect only, and a
    /// server that accepts and never answers must not hang the run.
    async fn connect(&self, mart: &str) -> Result<Client> {
        let ctx = self.context(mart, "-");
        let limit = self.timeouts.connect;
        let client = tokio::time::timeout(limit, self.connect_unbounded(mart))
            .await
            .map_err(|_| {
                ctx.error(
                    "connect",
                    format!(
                        "no answer within warehouse.connect_timeout = {}; is the server up and reachable?",
                        format_duration(limit)
                    ),
                )
            })??;
        let ms = |d: Duration| d.as_millis().max(1);
        let mut session = format!("SET statement_timeout = {}", ms(self.timeouts.statement));
        if self.dialect == Dialect::Postgres {
            // Redshift has no lock_timeout: its LOCK waits, bounded by statement_timeout.
            session += &format!("; SET lock_timeout = {}", ms(self.timeouts.lock));
        }
        client
            .batch_execute(&session)
            .await
            .map_err(ctx.at("session_timeouts"))?;
        Ok(client)
    }

    async fn connect_unbounded(&self, mart: &str) -> Result<Client> {
        let ctx = self.context(mart, "-");
        let client = match &self.tls {
            Tls::None => {
                let (client, connection) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(ctx.at("connect"))?;
                drive(connection);
                client
            }
            Tls::Rustls(tls) => {
                let (client, connection) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(ctx.at("connect"))?;
                drive(connection);
                client
            }
        };
        Ok(client)
    }

    /// An idle connection, or a new one.
    async fn client(&self, mart: &str) -> Result<Client> {
        loop {
            let idle = self.idle.lock().expect("pool lock").pop();
            match idle {
                Some(client) if !client.is_closed() => return Ok(client),
                Some(_) => continue,
                None => return self.connect(mart).await,
            }
        }
    }

    /// Returns a connection to the pool.
    fn release(&self, client: Client) {
        let mut idle = self.idle.lock().expect("pool lock");
        if !client.is_closed() && idle.len() < IDLE_CONNECTIONS {
            idle.push(client);
        }
    }

    fn context<'a>(&'a self, mart: &'a str, run_id: &'a str) -> Context<'a> {
        Context {
            warehouse: &self.url,
            mart,
            run_id,
        }
    }

    /// One attempt of the merge transaction.
    async fn merge_once(
        &self,
        client: &mut Client,
        request: &MergeRequest<'_>,
    ) -> Result<MergeOutcome> {
        let table = request.table;
        let record = &request.record;
        let ctx = self.context(&table.name, &record.run_id);
        let started = Instant::now();
        let tx = client.transaction().await.map_err(ctx.at("begin"))?;
        if let Some(lock) = dialect::lock_mart(self.dialect, table) {
            tx.batch_execute(&lock).await.map_err(|e| {
                if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    Error::Locked {
                        what: format!("mart {} in {}", table.name, self.url),
                        message: format!(
                            "another run holds mart {}; waited warehouse.lock_timeout = {}",
                            table.name,
                            format_duration(self.timeouts.lock)
                        ),
                    }
                } else {
                    ctx.at("lock_mart")(e)
                }
            })?;
        }
        let done: i64 = tx
            .query_one(&dialect::check_run_id(self.dialect), &[&record.run_id])
            .await
            .map_err(ctx.at("check_run_id"))?
            .get(0);
        if done > 0 {
            return Ok(MergeOutcome {
                already_committed: true,
                ..MergeOutcome::default()
            });
        }
        // An empty mart takes the run straight from COPY (see `dialect::may_copy_direct`). The
        // lock makes "empty" hold until COMMIT.
        let direct = dialect::may_copy_direct(self.dialect, table)
            && tx
                .query_opt(&dialect::any_row(table), &[])
                .await
                .map_err(ctx.at("check_empty"))?
                .is_none();
        if !direct {
            for sql in dialect::create_stage_table(self.dialect, table) {
                tx.batch_execute(&sql)
                    .await
                    .map_err(ctx.at("create_stage_table"))?;
            }
        }
        let loaded = match self.dialect {
            Dialect::Redshift => self.load_redshift(&tx, request, &ctx).await?,
            _ => load_postgres(&tx, request, &ctx, direct).await?,
        };
        crate::fault::point("after_load");
        if loaded != request.staged.rows {
            return Err(Error::RowCount {
                mart: table.name.clone(),
                run_id: record.run_id.clone(),
                loaded,
                staged: request.staged.rows,
                stage: format!("{}/{}", request.stage.url(), request.staged.prefix),
            });
        }
        let mut outcome = MergeOutcome::default();
        let mut statements = dialect::merge_statements(self.dialect, table);
        if direct {
            outcome.inserted = loaded;
            statements.retain(|s| matches!(s.name, "retention_trim" | "record_run"));
        }
        for Statement { name, sql } in statements {
            let changed = if name == "record_run" {
                let merge_ms = started.elapsed().as_millis() as i64;
                let values = run_values(record, &outcome, merge_ms);
                let params: Vec<&(dyn ToSql + Sync)> =
                    values.iter().map(|v| v.as_ref() as _).collect();
                tx.execute(&sql, &params).await
            } else {
                tx.execute(&sql, &[]).await
            }
            .map_err(ctx.at(name))?;
            debug!(table = %table.name, run_id = %record.run_id, statement = name, rows = changed, "Statement done.");
            outcome.count(name, changed);
        }
        if let Some(sql) = dialect::drop_stage_table(self.dialect, table).filter(|_| !direct) {
            tx.batch_execute(&sql)
                .await
                .map_err(ctx.at("drop_stage_table"))?;
        }
        crate::fault::point("before_commit");
        tx.commit().await.map_err(ctx.at("commit"))?;
        Ok(outcome)
    }

    /// Redshift loads the files itself, from the manifest.
    async fn load_redshift(
        &self,
        tx: &Transaction<'_>,
        request: &MergeRequest<'_>,
        ctx: &Context<'_>,
    ) -> Result<u64> {
        let role = self
            .iam_role
            .as_deref()
            .ok_or_else(|| ctx.error("load_stage", "no warehouse.iam_role is configured"))?;
        let sql = dialect::copy_from_manifest(request.table, &request.staged.manifest.url, role);
        tx.batch_execute(&sql).await.map_err(ctx.at("load_stage"))?;
        let count: i64 = tx
            .query_one(dialect::LAST_COPY_COUNT, &[])
            .await
            .map_err(ctx.at("last_copy_count"))?
            .get(0);
        Ok(count.max(0) as u64)
    }

    /// After a failed Redshift COPY (and the rollback), the rows `sys_load_error_detail`
    /// holds for that COPY, to add to the error.
    async fn load_error_detail(&self, client: &Client) -> Option<String> {
        let rows = client.query(dialect::LOAD_ERRORS, &[]).await.ok()?;
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} line {}, column {}: {}",
                    r.get::<_, Option<String>>(0).unwrap_or_default(),
                    r.get::<_, Option<i64>>(1).unwrap_or_default(),
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                    r.get::<_, Option<String>>(3).unwrap_or_default()
                )
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    }
}

/// PostgreSQL: read each staged part back from the stage (the same bytes Redshift would
/// load) and stream it as binary COPY into the temp table, or into the mart (`direct`).
async fn load_postgres(
    tx: &Transaction<'_>,
    request: &MergeRequest<'_>,
    ctx: &Context<'_>,
    direct: bool,
) -> Result<u64> {
    let sink = tx
        .copy_in::<_, Bytes>(&dialect::copy_from_stdin(request.table, direct))
        .await
        .map_err(ctx.at("load_stage"))?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(pgcopy::HEADER))
        .await
        .map_err(ctx.at("load_stage"))?;
    for part in &request.staged.parts {
        // A stage that fails here is the stage's failure (exit code 5), not the warehouse's;
        // the error says which statement of which run needed the file.
        let bytes = request.stage.get(&part.key).await.map_err(|e| match e {
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
        })?;
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
                ctx.error(
                    "load_stage",
                    format!("decoding staged file {}: {e}", part.url),
                )
            })?;
            sink.send(chunk).await.map_err(ctx.at("load_stage"))?;
        }
        decode.await.expect("decoding a staged file does not panic");
    }
    sink.send(Bytes::from_static(pgcopy::TRAILER))
        .await
        .map_err(ctx.at("load_stage"))?;
    sink.as_mut().finish().await.map_err(ctx.at("load_stage"))
}

/// The run record's values as query parameters.
fn run_values(
    record: &RunRecord,
    outcome: &MergeOutcome,
    merge_ms: i64,
) -> Vec<Box<dyn ToSql + Sync + Send>> {
    record
        .values(outcome, merge_ms)
        .into_iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                RunValue::Text(t) => Box::new(t),
                RunValue::Int(i) => Box::new(i),
            }
        })
        .collect()
}

#[async_trait::async_trait]
impl Warehouse for PostgresWarehouse {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Creates what is missing, and only that: statements on existing marts would queue
    /// behind another run's lock on them. One transaction; on PostgreSQL under an advisory
    /// lock, so that concurrent runs do not race to create the same table.
    async fn ensure_tables(&self, tables: &[TableConfig]) -> Result<()> {
        let mut client = self.client("-").await?;
        let ctx = self.context("-", "-");
        let tx = client.transaction().await.map_err(ctx.at("begin"))?;
        if self.dialect == Dialect::Postgres {
            tx.batch_execute(dialect::DDL_LOCK)
                .await
                .map_err(ctx.at("ddl_lock"))?;
        }
        let table_sql = format!("SELECT ({}) > 0", dialect::table_exists(self.dialect));
        for table in tables.iter().flat_map(TableConfig::written_tables) {
            let ctx = self.context(&table.name, "-");
            let mut missing = Vec::new();
            if !query_bool(&tx, &table_sql, &table.name.to_ascii_lowercase())
                .await
                .map_err(ctx.at("table_exists"))?
            {
                missing.push(dialect::create_mart(self.dialect, &table));
            }
            for index in dialect::create_indexes(self.dialect, &table) {
                if !query_bool(&tx, dialect::RELATION_EXISTS, &index.name)
                    .await
                    .map_err(ctx.at("index_exists"))?
                {
                    missing.push(index.sql);
                }
            }
            for sql in missing {
                tx.batch_execute(&sql)
                    .await
                    .map_err(ctx.at("create_table"))?;
            }
        }
        if !query_bool(&tx, &table_sql, RUNS_TABLE)
            .await
            .map_err(ctx.at("table_exists"))?
        {
            tx.batch_execute(&dialect::create_runs(self.dialect))
                .await
                .map_err(self.context(RUNS_TABLE, "-").at("create_table"))?;
        }
        tx.commit().await.map_err(ctx.at("commit"))?;
        self.release(client);
        Ok(())
    }

    async fn add_columns(&self, table: &TableConfig) -> Result<Vec<String>> {
        let client = self.client(&table.name).await?;
        let ctx = self.context(&table.name, "-");
        let have: HashSet<String> = client
            .query(
                &dialect::mart_columns(self.dialect),
                &[&table.name.to_ascii_lowercase()],
            )
            .await
            .map_err(ctx.at("add_column"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut added = Vec::new();
        for (name, sql) in dialect::add_missing_columns(self.dialect, table, &have) {
            client
                .batch_execute(&sql)
                .await
                .map_err(ctx.at("add_column"))?;
            added.push(name);
        }
        self.release(client);
        Ok(added)
    }

    async fn max_watermark(&self, table: &TableConfig) -> Result<Option<i64>> {
        let client = self.client(&table.name).await?;
        let row = client
            .query_one(&dialect::max_watermark(self.dialect, table), &[])
            .await
            .map_err(self.context(&table.name, "-").at("max_watermark"))?;
        self.release(client);
        Ok(row.get(0))
    }

    /// PostgreSQL streams the rows as binary COPY, decoded straight into Arrow; Redshift has
    /// no COPY TO STDOUT (UNLOAD the table to Parquet and seed from files:// instead).
    async fn export(&self, name: &str, table: &TableConfig) -> Result<BatchStream> {
        let ctx = self.context(&table.name, "-");
        if self.dialect == Dialect::Redshift {
            return Err(ctx.error(
                "export",
                format!(
                    "Redshift cannot stream table {name} to a client: UNLOAD it as Parquet and \
                     use --from files://DIR"
                ),
            ));
        }
        let client = self.client(&table.name).await?;
        let export_name = name.to_string();
        let sql = format!(
            "COPY ({}) TO STDOUT (FORMAT binary)",
            dialect::select_columns(self.dialect, table, name)
        );
        let copy = client.copy_out(&sql).await.map_err(ctx.at("export"))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<arrow::record_batch::RecordBatch>>(2);
        let (warehouse, mart) = (self.url.clone(), table.name.clone());
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
        Ok(crate::source::receiver_stream(rx))
    }

    async fn committed_batches(&self, mart: &str) -> Result<HashSet<String>> {
        let client = self.client(mart).await?;
        let rows = client
            .query(&dialect::committed_batches(self.dialect), &[&mart])
            .await
            .map_err(self.context(mart, "-").at("committed_batches"))?;
        self.release(client);
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn merge(&self, request: MergeRequest<'_>) -> Result<MergeOutcome> {
        let mut attempt = 1;
        loop {
            let mut client = self.client(&request.table.name).await?;
            // The server bounds each statement; this bounds a server that stops answering.
            let limit = self.timeouts.lock + self.timeouts.statement + Duration::from_secs(60);
            let Ok(result) =
                tokio::time::timeout(limit, self.merge_once(&mut client, &request)).await
            else {
                // The connection is dropped, not pooled: the server rolls the transaction
                // back when it notices.
                return Err(self
                    .context(&request.table.name, &request.record.run_id)
                    .error(
                        "merge",
                        format!(
                            "no answer within {} (lock_timeout + statement_timeout + 1m); the transaction was abandoned and rolls back",
                            format_duration(limit)
                        ),
                    ));
            };
            let result = match result {
                Err(Error::Warehouse {
                    warehouse,
                    mart,
                    run_id,
                    statement,
                    message,
                }) if self.dialect == Dialect::Redshift && statement == "load_stage" => {
                    let detail = self.load_error_detail(&client).await;
                    Err(Error::Warehouse {
                        warehouse,
                        mart,
                        run_id,
                        statement,
                        message: match detail {
                            Some(d) => format!("{message}; sys_load_error_detail: {d}"),
                            None => message,
                        },
                    })
                }
                other => other,
            };
            self.release(client);
            match result {
                Err(e) if is_serialization_conflict(&e) && attempt < MAX_ATTEMPTS => {
                    let wait = FIRST_BACKOFF * 2u32.pow(attempt - 1);
                    warn!(table = %request.table.name, attempt, wait_ms = wait.as_millis() as u64, error = %e,
                          "Serialization conflict: retrying the whole transaction.");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn status(&self, table: &TableConfig, recent: usize) -> Result<MartStatus> {
        let client = self.client(&table.name).await?;
        let ctx = self.context(&table.name, "-");
        let error = ctx.at("status");
        let mut status = MartStatus {
            mart: table.name.clone(),
            ..MartStatus::default()
        };
        let exists = |name: String| {
            let client = &client;
            let sql = dialect::table_exists(self.dialect);
            async move {
                client
                    .query_one(&sql, &[&name])
                    .await
                    .map(|r| r.get::<_, i64>(0) > 0)
            }
        };
        if !exists(table.name.clone()).await.map_err(&error)? {
            self.release(client);
            return Ok(status);
        }
        status.exists = true;
        let row = client
            .query_one(&dialect::mart_summary(self.dialect, table), &[])
            .await
            .map_err(&error)?;
        (status.rows, status.max_watermark) = (row.get(0), row.get(1));
        if exists(RUNS_TABLE.to_string()).await.map_err(&error)? {
            status.runs = client
                .query_one(&dialect::count_runs(self.dialect), &[&table.name])
                .await
                .map_err(&error)?
                .get(0);
            status.recent_runs = client
                .query(&dialect::recent_runs(self.dialect, recent), &[&table.name])
                .await
                .map_err(&error)?
                .iter()
                .map(|r| RunSummary {
                    run_id: r.get(0),
                    batch: r.get(1),
                    started_at_ms: r.get(2),
                    committed_at_ms: r.get(3),
                    watermark_to: r.get(4),
                    rows_extracted: r.get(5),
                    rows_deduped: r.get(6),
                    rows_rejected: r.get(7),
                    rows_deleted: r.get(8),
                    rows_inserted: r.get(9),
                    rows_trimmed: r.get(10),
                    bytes_staged: r.get(11),
                    extract_ms: r.get(12),
                    dedup_ms: r.get(13),
                    stage_ms: r.get(14),
                    merge_ms: r.get(15),
                })
                .collect();
        }
        self.release(client);
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_off_the_url() {
        let (config, tls) = connect_options(
            "postgres://u:p@h:5433/db?sslmode=verify-full",
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(config.get_dbname(), Some("db"));
        assert!(matches!(tls, Tls::Rustls(_)));
        let (config, tls) =
            connect_options("redshift://u:p@h:5439/dev", Dialect::Redshift).unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert!(matches!(tls, Tls::Rustls(_)));
        let (_, tls) =
            connect_options("postgres://u@h/db?sslmode=disable", Dialect::Postgres).unwrap();
        assert!(matches!(tls, Tls::None));
        assert!(connect_options("postgres://u@h/db?sslmode=sometimes", Dialect::Postgres).is_err());
    }
}
