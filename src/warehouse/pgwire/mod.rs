//! The PostgreSQL wire protocol, shared by [`super::postgres`] and [`super::redshift`]:
//! URLs and TLS, connections with the configured timeouts, a small pool, error text, and
//! the [`WireSession`] both backends' sessions build on.
//!
//! TLS is in [`tls`]; the warehouse both backends share, in [`warehouse`].

mod tls;
pub mod warehouse;

use std::sync::Mutex;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tracing::debug;

use super::Dialect;
use super::RunValue;
use super::executor::{Failure, SessionError, SessionResult};
use crate::config::{WarehouseTimeouts, redact_url};
use crate::error::{Error, Result};
use crate::units::format_duration;
use tls::{Tls, connect_options};
pub use warehouse::{Flavor, WireWarehouse};

/// Connections kept open between uses.
const IDLE_CONNECTIONS: usize = 4;

/// Connection settings and idle connections of one PostgreSQL database or Redshift cluster.
pub struct Pool {
    pub dialect: Dialect,
    config: tokio_postgres::Config,
    tls: Tls,
    /// The URL without its password.
    pub url: String,
    pub timeouts: WarehouseTimeouts,
    idle: Mutex<Vec<Client>>,
}

impl Pool {
    /// Prepares the connection settings and checks the server answers.
    pub async fn open(url: &str, dialect: Dialect, timeouts: WarehouseTimeouts) -> Result<Self> {
        let redacted = redact_url(url);
        let (mut config, tls) = connect_options(url, dialect)
            .map_err(|m| Error::config("warehouse.url", redacted.clone(), m))?;
        config.connect_timeout(timeouts.connect);
        let pool = Pool {
            dialect,
            config,
            tls,
            url: redacted,
            timeouts,
            idle: Mutex::new(Vec::new()),
        };
        let client = pool.connect("-").await?;
        pool.release(client);
        Ok(pool)
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
    pub async fn client(&self, mart: &str) -> Result<Client> {
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
    pub fn release(&self, client: Client) {
        let mut idle = self.idle.lock().expect("pool lock");
        if !client.is_closed() && idle.len() < IDLE_CONNECTIONS {
            idle.push(client);
        }
    }

    pub fn context<'a>(&'a self, mart: &'a str, run_id: &'a str) -> Context<'a> {
        Context {
            warehouse: &self.url,
            mart,
            run_id,
        }
    }
}

/// One pooled connection running a merge: statements with bound values, errors classified
/// for the executor. Back to the pool when closed cleanly.
pub struct WireSession<'a> {
    pool: &'a Pool,
    pub client: Option<Client>,
}

impl<'a> WireSession<'a> {
    pub async fn open(pool: &'a Pool, mart: &str) -> Result<Self> {
        Ok(WireSession {
            client: Some(pool.client(mart).await?),
            pool,
        })
    }

    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("an open session has its client")
    }

    /// A statement without values goes through the simple query protocol, as psql sends it
    /// (and as the old merge sent its LOCK, DDL and Redshift COPY); one with values is
    /// prepared and bound. Either way the result is the rows the statement changed.
    pub async fn execute(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<u64> {
        if params.is_empty() {
            let messages = self
                .client()
                .simple_query(sql)
                .await
                .map_err(session_error)?;
            return Ok(messages
                .iter()
                .map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::CommandComplete(rows) => *rows,
                    _ => 0,
                })
                .sum());
        }
        self.client()
            .execute(sql, &to_sql(params))
            .await
            .map_err(session_error)
    }

    pub async fn query_i64(
        &mut self,
        sql: &str,
        params: &[RunValue],
    ) -> SessionResult<Option<i64>> {
        let row = self
            .client()
            .query_opt(sql, &to_sql(params))
            .await
            .map_err(session_error)?;
        // count(*) is BIGINT; `SELECT 1` and Redshift's pg_last_copy_count() are INTEGER.
        row.map(|r| {
            r.try_get::<_, Option<i64>>(0)
                .or_else(|_| r.try_get::<_, Option<i32>>(0).map(|v| v.map(i64::from)))
                .map(|v| v.unwrap_or(0))
        })
        .transpose()
        .map_err(session_error)
    }

    /// Returns the connection to the pool (`reusable`), or closes it.
    pub fn close(mut self, reusable: bool) {
        if let Some(client) = self.client.take()
            && reusable
        {
            self.pool.release(client);
        }
    }
}

/// The values of a statement as query parameters.
fn to_sql(params: &[RunValue]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|v| -> &(dyn ToSql + Sync) {
            match v {
                RunValue::Text(t) => t,
                RunValue::Int(i) => i,
                RunValue::MaybeText(t) => t,
            }
        })
        .collect()
}

/// A failed statement as the executor sees it: its text, and whether it was a lock not
/// granted or a conflict worth retrying (SQLSTATE 40001 / 40P01, or Redshift's
/// "Serializable isolation violation", which it reports under other codes).
pub fn session_error(e: tokio_postgres::Error) -> SessionError {
    let message = describe(&e);
    let failure = match e.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => Failure::LockNotAvailable,
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Failure::Conflict
        }
        _ if message.contains("Serializable isolation violation") => Failure::Conflict,
        _ => Failure::Other,
    };
    SessionError::Statement { message, failure }
}

/// Who failed, for errors.
pub struct Context<'a> {
    pub warehouse: &'a str,
    pub mart: &'a str,
    pub run_id: &'a str,
}

impl Context<'_> {
    pub fn error(&self, statement: &str, message: impl Into<String>) -> Error {
        Error::Warehouse {
            warehouse: self.warehouse.to_string(),
            mart: self.mart.to_string(),
            run_id: self.run_id.to_string(),
            statement: statement.to_string(),
            message: message.into(),
        }
    }

    pub fn at(&self, statement: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        let statement = statement.to_string();
        move |e| self.error(&statement, describe(&e))
    }
}

/// Runs a connection's I/O in the background for as long as its client lives.
pub fn drive(
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
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                message.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("; hint: {hint}"));
            }
            // Where the server was: for a COPY, the row and column it rejected
            // (`COPY stage_…, line 1, column status`).
            if let Some(at) = db.where_() {
                message.push_str(&format!("; at: {at}"));
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
pub async fn query_bool(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    param: &str,
) -> std::result::Result<bool, tokio_postgres::Error> {
    Ok(tx.query_one(sql, &[&param]).await?.get(0))
}
