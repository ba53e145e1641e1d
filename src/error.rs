//! The crate's one error type. Every variant carries enough context (table, run id, file,
//! statement) for a user reading a scheduler log to know what failed, on what, and what to do.

use std::path::PathBuf;

/// Result with martsync's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in martsync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; nothing was read or written.
    #[error("invalid config ({origin}): {key}: {message}")]
    Config {
        /// The file (or environment variable) the bad value came from.
        origin: String,
        /// The key path, e.g. `tables[1].lookback`.
        key: String,
        message: String,
    },

    /// A source could not be read or held data that does not fit the table.
    #[error("source table {table}: {location}: {message}")]
    Source {
        table: String,
        /// File and row, or the query, that failed.
        location: String,
        message: String,
    },

    /// Rows had a NULL key (or, for `latest`, a NULL version) and more of them than allowed.
    #[error(
        "{mart}: {count} row(s) have a NULL key or version column ({columns}), more than \
         max_rejected = {max}; the first came from {first}. Fix the source rows or raise \
         max_rejected for this table"
    )]
    Rejected {
        mart: String,
        count: u64,
        max: u64,
        columns: String,
        first: String,
    },

    /// The in-process dedup (DataFusion) failed.
    #[error("{mart}: dedup failed: {message}")]
    Dedup { mart: String, message: String },

    /// Other in-process work on batches failed: reading a batch's keys or watermarks, a
    /// comparison, a benchmark step.
    #[error("{what}: {action} failed: {message}")]
    Batch {
        /// The mart, comparison or benchmark.
        what: String,
        action: String,
        message: String,
    },

    /// The stage could not be written, read or cleaned.
    #[error("stage {url}: {action} failed: {message}")]
    Stage {
        url: String,
        action: String,
        message: String,
    },

    /// A warehouse statement failed; the transaction was rolled back.
    #[error(
        "warehouse {warehouse}: {mart}: run {run_id}: statement `{statement}` failed: {message}"
    )]
    Warehouse {
        warehouse: String,
        mart: String,
        run_id: String,
        /// The statement's name, e.g. `load_stage` or `delete_replaced`.
        statement: String,
        message: String,
    },

    /// The number of rows loaded into the warehouse differs from the number staged.
    #[error(
        "{mart}: run {run_id}: the warehouse loaded {loaded} rows but {staged} were staged; \
         the transaction was rolled back. Check the staged files under {stage}"
    )]
    RowCount {
        mart: String,
        run_id: String,
        loaded: u64,
        staged: u64,
        stage: String,
    },

    /// A reconcile found more of the mart's keys missing from the source than `max_deletes`
    /// allows, and deleted nothing.
    #[error(
        "{mart}: reconcile refused: {missing} of the {window_keys} keys the mart holds since \
         {since} are missing from the source, more than max_deletes = {setting} ({limit} keys) \
         allows; nothing was deleted. If the source really deleted them, run `martsync \
         reconcile --table {mart} --max-deletes {missing}`; otherwise check the source (an \
         empty or broken table, the wrong database)"
    )]
    TooManyDeletes {
        mart: String,
        since: String,
        missing: u64,
        window_keys: u64,
        limit: u64,
        setting: String,
    },

    /// Another process holds the warehouse or the mart.
    #[error("{what} is locked by another martsync run ({message}); wait for it to finish")]
    Locked { what: String, message: String },

    /// A local file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// The phase of a cycle this error stopped, for logs and metrics.
    pub fn phase(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config",
            Error::Source { .. } => "extract",
            Error::Rejected { .. } | Error::Dedup { .. } | Error::Batch { .. } => "dedup",
            Error::Stage { .. } | Error::Io { .. } => "stage",
            Error::Warehouse { .. } | Error::RowCount { .. } | Error::Locked { .. } => "merge",
            Error::TooManyDeletes { .. } => "reconcile",
        }
    }

    /// A config error for `key`.
    pub fn config(
        origin: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Config {
            origin: origin.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A failure of in-process work on batches.
    pub fn batch(
        what: impl Into<String>,
        action: impl Into<String>,
        message: impl std::fmt::Display,
    ) -> Self {
        Error::Batch {
            what: what.into(),
            action: action.into(),
            message: message.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
