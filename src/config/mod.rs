//! Configuration: a TOML file (or the embedded default), `MARTSYNC_*_URL` overrides, and one
//! [`RawConfig::validate`] that checks everything before any I/O.
//!
//! ```toml
//! [source]
//! url = "files://fixtures/demo"          # or mysql://user:pass@host:3306/db
//! [stage]
//! url = "file://.martsync/stage"
//! [warehouse]
//! url = "duckdb://.martsync/warehouse.duckdb"
//! [[tables]]                             # omit to sync the three marts of the design
//! name = "mart_uni_tracking_info"
//! lookback = "1h"
//! ```

//!
//! The files: [`file`] (the TOML format, as written), [`validate`] (defaults, checks, and
//! the design's built-in marts), [`url`] (URL parsing and redaction); the resolved config,
//! what the rest of martsync reads, is here.

mod file;
mod url;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

pub use crate::units::{format_duration, parse_duration};
pub use file::*;
pub use url::redact_url;
pub use validate::validate_identifier;

use crate::error::{Error, Result};
use crate::schema::{self, TableSchema, UnsignedBigint};

/// The column after the mart's own that marks a staged change as a deleted key (1) or a
/// row to insert (0), in `binlog` mode.
pub const CHANGE_MARKER: &str = "martsync_deleted";

/// Environment variables that override the config's URLs.
pub const SOURCE_URL_ENV: &str = "MARTSYNC_SOURCE_URL";
pub const STAGE_URL_ENV: &str = "MARTSYNC_STAGE_URL";
pub const WAREHOUSE_URL_ENV: &str = "MARTSYNC_WAREHOUSE_URL";

/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "martsync.toml";

/// How a MySQL source's changes are found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    /// Rows whose watermark column moved since the mart's last cycle (minus the lookback).
    #[default]
    Watermark,
    /// The server's binary log: every insert, update and delete of the tables since the
    /// position the mart's last cycle committed (the first cycle snapshots through the
    /// watermark and hands over at a recorded position).
    Binlog,
}

/// The column after the mart's own that numbers staged raw rows in arrival order, for a
/// mart whose rows the warehouse ranks (`dedup = "warehouse"`).
pub const ARRIVAL_COLUMN: &str = "martsync_arrival";

/// Where a mart's batch is deduped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupPlacement {
    /// In martsync (DataFusion), spilling to disk past `[dedup] memory_limit`, except
    /// that on Redshift a batch that outgrows its memory share is handed to the warehouse
    /// instead (the rows deduped so far, then the rest raw).
    Auto,
    /// Always in martsync (the design's default): only one row per key is staged and
    /// loaded.
    #[default]
    Local,
    /// Always in the warehouse: every valid row is staged with its arrival number and the
    /// merge transaction ranks them (`row_number()`, the seed's model) before merging.
    Warehouse,
}

impl DedupPlacement {
    pub fn as_str(&self) -> &'static str {
        match self {
            DedupPlacement::Auto => "auto",
            DedupPlacement::Local => "local",
            DedupPlacement::Warehouse => "warehouse",
        }
    }
}

/// How a mart absorbs a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One row per key: the greatest version wins, ties go to the later arrival.
    Latest,
    /// Rows are immutable: a key already present is never inserted again.
    Append,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Latest => "latest",
            Strategy::Append => "append",
        }
    }
}

/// When a staged row whose version is lower than the mart's row of its key is dropped (the
/// version guard). Rows that replay history can arrive out of order, so there the greatest
/// version wins; rows a cycle reads from MySQL are its current rows, so there the newest
/// extraction wins, even when a late commit moved a row's version backwards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionGuard {
    /// Guard rows read from files or a warehouse table (replay, seed, a `files://` source);
    /// rows read from MySQL (cycles, backfill, refresh) replace the mart's row of their key.
    #[default]
    Replays,
    /// Guard every row, MySQL's too: for a source whose versions only ever grow.
    Always,
    /// Guard no row: the last batch applied wins (ties and order within a batch still go by
    /// version).
    Never,
}

impl VersionGuard {
    pub fn as_str(&self) -> &'static str {
        match self {
            VersionGuard::Replays => "replays",
            VersionGuard::Always => "always",
            VersionGuard::Never => "never",
        }
    }

    /// Whether a run's rows are guarded, given whether they were read live from MySQL.
    pub fn guards(&self, live: bool) -> bool {
        match self {
            VersionGuard::Replays => !live,
            VersionGuard::Always => true,
            VersionGuard::Never => false,
        }
    }
}

/// A validated config, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path or "embedded default".
    pub origin: String,
    pub source: SourceConfig,
    pub stage: StageConfig,
    pub warehouse: WarehouseConfig,
    pub maintenance: MaintenanceConfig,
    pub dedup: DedupConfig,
    pub tables: Vec<TableConfig>,
}

/// `[dedup]`: the dedups' shared memory limit in bytes, and their spill folder.
#[derive(Debug, Clone, PartialEq)]
pub struct DedupConfig {
    pub memory_limit: usize,
    pub spill_dir: std::path::PathBuf,
}

impl DedupConfig {
    /// The default limit: half of the machine's physical memory (1 GiB if unknown).
    pub fn default_memory_limit() -> usize {
        crate::units::physical_memory().map_or(1 << 30, |bytes| (bytes / 2) as usize)
    }
}

/// When `martsync maintain` vacuums and analyzes a Redshift mart: percentages, as
/// `[maintenance]` sets them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaintenanceConfig {
    pub sort_above: f64,
    pub delete_above: f64,
    pub analyze_above: f64,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            sort_above: DEFAULT_SORT_ABOVE,
            delete_above: DEFAULT_DELETE_ABOVE,
            analyze_above: DEFAULT_ANALYZE_ABOVE,
        }
    }
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub url: SourceUrl,
    pub batch_rows: usize,
    pub parallel: usize,
    pub unsigned_bigint: UnsignedBigint,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub mode: SourceMode,
    /// The replica id the binlog reader of the first configured mart registers with; the
    /// others take the following ids (two readers with one id would cut each other off).
    pub binlog_server_id: u32,
}

/// Where rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceUrl {
    /// One folder per source table.
    Files(PathBuf),
    /// `mysql://user:pass@host:port/db[?ssl-mode=…&ssl-ca=…]`, kept whole (it holds the
    /// password: display it only through [`redact_url`]).
    MySql(String),
}

impl SourceUrl {
    /// Whether what it reads are the source's current rows (MySQL), not history (files): the
    /// default `version_guard` lets current rows replace the mart's whatever their version.
    pub fn reads_current_rows(&self) -> bool {
        matches!(self, SourceUrl::MySql(_))
    }
}

/// A validated stage.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub url: StageUrl,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub sse: Option<String>,
    /// Committed runs' staged files stay (`keep`, or `keep_for`).
    pub keep: bool,
    /// How long they stay; none: until deleted by hand.
    pub keep_for: Option<Duration>,
    pub part_rows: usize,
    /// S3 request attempt timeout.
    pub timeout: Duration,
}

impl StageConfig {
    /// How long committed runs' staged files stay.
    pub fn kept(&self) -> crate::units::KeepStaged {
        match (self.keep, self.keep_for) {
            (_, Some(d)) => crate::units::KeepStaged::For(d),
            (true, None) => crate::units::KeepStaged::Forever,
            (false, None) => crate::units::KeepStaged::No,
        }
    }
}

/// Where staged files go.
#[derive(Debug, Clone, PartialEq)]
pub enum StageUrl {
    File(PathBuf),
    /// `s3://bucket/prefix`: the prefix has no leading or trailing slash, and may be empty.
    S3 {
        bucket: String,
        prefix: String,
    },
}

/// A validated warehouse.
#[derive(Debug, Clone)]
pub struct WarehouseConfig {
    pub url: WarehouseUrl,
    pub iam_role: Option<String>,
    pub timeouts: WarehouseTimeouts,
    /// A merge's DELETE slower than this is warned about (`status`, logs, metrics).
    pub warn_delete_after: Duration,
}

/// How long the warehouse may take, so that a hung server or a held lock never hangs the
/// scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarehouseTimeouts {
    pub connect: Duration,
    pub statement: Duration,
    pub lock: Duration,
}

impl Default for WarehouseTimeouts {
    fn default() -> Self {
        let d = |text| parse_duration(text).expect("valid default");
        WarehouseTimeouts {
            connect: d(DEFAULT_CONNECT_TIMEOUT),
            statement: d(DEFAULT_STATEMENT_TIMEOUT),
            lock: d(DEFAULT_LOCK_TIMEOUT),
        }
    }
}

/// Which warehouse holds the marts.
#[derive(Debug, Clone, PartialEq)]
pub enum WarehouseUrl {
    DuckDb(PathBuf),
    /// `postgres://user:pass@host:port/db[?sslmode=…]`, kept whole (it holds the password).
    Postgres(String),
    /// `redshift://user:pass@host:5439/db`, kept whole; TLS with verification by default.
    Redshift(String),
}

/// One validated mart.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// The mart's name.
    pub name: String,
    /// The source table's schema (its name is the source table's).
    pub schema: TableSchema,
    pub strategy: Strategy,
    /// Key columns, lower case.
    pub key: Vec<String>,
    /// Version column (`latest` only), lower case.
    pub version: Option<String>,
    /// Watermark column, lower case.
    pub watermark: String,
    pub lookback: Duration,
    pub retention: Option<Duration>,
    /// Column retention is measured on, lower case.
    pub retention_column: String,
    pub max_rejected: u64,
    /// Add columns the source gained to the mart instead of failing.
    pub allow_new_columns: bool,
    /// More tables the cycle writes the same rows to (`[[tables.targets]]`).
    pub targets: Vec<Target>,
    /// The source table whose batches refresh this mart's rows (Gap 1), validated to be
    /// another mart's source.
    pub refresh_from: Option<String>,
    /// A refresh run ([`TableConfig::refresh_run`]): staged rows only replace the mart's rows
    /// of their key; keys the mart does not hold are dropped.
    pub replace_only: bool,
    /// The configured guard; a run resolves it for its input ([`TableConfig::for_input`]).
    pub version_guard: VersionGuard,
    /// Redshift's COMPOUND SORTKEY columns, lower case.
    pub sort_key: Vec<String>,
    /// Redshift's DISTKEY column, lower case.
    pub dist_key: String,
    /// Reconcile this window after each scheduled cycle (`delete_missing`).
    pub delete_missing: Option<Duration>,
    /// The most keys one reconcile may delete.
    pub max_deletes: MaxDeletes,
    /// Where its batches are deduped.
    pub dedup: DedupPlacement,
}

/// `max_deletes`: a count of keys, or a share (percent) of the keys inside the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDeletes {
    Keys(u64),
    Percent(f64),
}

impl MaxDeletes {
    /// Parses `500` or `1%` (`0.5%`).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let bad = || format!("`{text}` is not a count of keys (`500`) or a share (`1%`)");
        match text.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(MaxDeletes::Percent(p)),
                _ => Err(bad()),
            },
            None => text.parse().map(MaxDeletes::Keys).map_err(|_| bad()),
        }
    }

    /// The keys allowed when the window holds `window_keys`.
    pub fn limit(self, window_keys: u64) -> u64 {
        match self {
            MaxDeletes::Keys(n) => n,
            MaxDeletes::Percent(p) => (window_keys as f64 * p / 100.0).floor() as u64,
        }
    }
}

impl std::fmt::Display for MaxDeletes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDeletes::Keys(n) => write!(f, "{n}"),
            MaxDeletes::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A validated `[[tables.targets]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub retention: Option<Duration>,
}

impl TableConfig {
    /// The table a target is: the mart's columns, key and strategy under the target's name
    /// and retention.
    pub fn as_target(&self, target: &Target) -> TableConfig {
        TableConfig {
            name: target.name.clone(),
            retention: target.retention,
            targets: Vec::new(),
            ..self.clone()
        }
    }

    /// The table as a refresh run merges it: one row per key (the last read), replacing the
    /// mart's row of that key when it differs, inserting no new key.
    pub fn refresh_run(&self) -> TableConfig {
        TableConfig {
            strategy: Strategy::Latest,
            version: Some(self.key[0].clone()),
            replace_only: true,
            ..self.clone()
        }
    }

    /// The table as a run of rows read live from MySQL (`live`) or replayed history merges it:
    /// the guard resolved to [`VersionGuard::Always`] or [`VersionGuard::Never`].
    pub fn for_input(&self, live: bool) -> TableConfig {
        TableConfig {
            version_guard: if self.version_guard.guards(live) {
                VersionGuard::Always
            } else {
                VersionGuard::Never
            },
            ..self.clone()
        }
    }

    /// Whether a merge drops staged rows older than the mart's ([`VersionGuard`]). A guard
    /// not resolved by [`TableConfig::for_input`] guards: the safe side for history.
    pub fn guards_versions(&self) -> bool {
        self.version_guard != VersionGuard::Never
    }

    /// The mart with only its key columns, in key order: how a reconcile stages the keys
    /// it deletes.
    pub fn keys_only(&self) -> TableConfig {
        let mut keys = self.clone();
        keys.schema.columns.retain(|c| self.key.contains(&c.name));
        keys.schema
            .columns
            .sort_by_key(|c| self.key.iter().position(|k| *k == c.name));
        keys
    }

    /// The mart with [`CHANGE_MARKER`] after its columns: how a `binlog`-mode cycle stages
    /// its changes, one row per key the changes touched (the last image of a deleted key,
    /// marked 1; the row to insert, marked 0).
    pub fn with_change_marker(&self) -> TableConfig {
        self.with_column_after(CHANGE_MARKER, "tinyint")
    }

    /// The table with one more NOT NULL column after its own, of a MySQL integer type.
    fn with_column_after(&self, name: &str, mysql_type: &str) -> TableConfig {
        let mut wider = self.clone();
        wider.schema.columns.push(schema::Column {
            name: name.to_string(),
            mysql_type: mysql_type.to_string(),
            mapped: schema::map_mysql_type(mysql_type, UnsignedBigint::Int64)
                .expect("integer types map"),
            nullable: false,
        });
        wider
    }

    /// Whether the table is a [`TableConfig::with_change_marker`] one.
    pub fn has_change_marker(&self) -> bool {
        self.schema
            .columns
            .last()
            .is_some_and(|c| c.name == CHANGE_MARKER)
    }

    /// The mart's columns plus [`ARRIVAL_COLUMN`]: its raw rows as staged for the warehouse
    /// to rank.
    pub fn with_arrival_column(&self) -> TableConfig {
        self.with_column_after(ARRIVAL_COLUMN, "bigint")
    }

    /// Whether the table is a [`TableConfig::with_arrival_column`] one.
    pub fn has_arrival_column(&self) -> bool {
        self.schema
            .columns
            .last()
            .is_some_and(|c| c.name == ARRIVAL_COLUMN)
    }

    /// The mart of a [`TableConfig::with_arrival_column`] table.
    pub fn without_arrival_column(&self) -> TableConfig {
        let mut mart = self.clone();
        if mart.has_arrival_column() {
            mart.schema.columns.pop();
        }
        mart
    }

    /// The mart of a [`TableConfig::with_change_marker`] table.
    pub fn without_change_marker(&self) -> TableConfig {
        let mut mart = self.clone();
        if mart.has_change_marker() {
            mart.schema.columns.pop();
        }
        mart
    }

    /// The mart, then each of its targets: every table a cycle of it writes.
    pub fn written_tables(&self) -> Vec<TableConfig> {
        std::iter::once(self.clone())
            .chain(self.targets.iter().map(|t| self.as_target(t)))
            .collect()
    }
}

/// Defaults of the keys a config may leave out (the file format shows them too).
const DEFAULT_LOOKBACK: &str = "30m";
const DEFAULT_RETENTION: &str = "180d";
const DEFAULT_BATCH_ROWS: usize = 65_536;
const DEFAULT_CONNECT_TIMEOUT: &str = "30s";
const DEFAULT_READ_TIMEOUT: &str = "10m";
/// A replica id far from the small numbers servers are usually given.
const DEFAULT_BINLOG_SERVER_ID: u32 = 1_796_000;
const DEFAULT_STAGE_TIMEOUT: &str = "5m";
const DEFAULT_STATEMENT_TIMEOUT: &str = "30m";
const DEFAULT_LOCK_TIMEOUT: &str = "5m";
const DEFAULT_WARN_DELETE_AFTER: &str = "5m";
const DEFAULT_SORT_ABOVE: f64 = 5.0;
const DEFAULT_MAX_DELETES: &str = "10%";
const DEFAULT_DELETE_ABOVE: f64 = 5.0;
const DEFAULT_ANALYZE_ABOVE: f64 = 10.0;
const DEFAULT_PART_ROWS: usize = 1_000_000;

/// The demo fixtures shipped with the project, used when no source is configured.
pub fn demo_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

impl Config {
    /// Loads `path`, else `./martsync.toml` if present, else the embedded default; applies the
    /// `MARTSYNC_*_URL` overrides from the environment; validates.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (origin, raw) = match path {
            Some(p) => (p.display().to_string(), RawConfig::read(p)?),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => (
                DEFAULT_CONFIG_FILE.to_string(),
                RawConfig::read(Path::new(DEFAULT_CONFIG_FILE))?,
            ),
            None => ("embedded default".to_string(), RawConfig::default()),
        };
        raw.validate(&origin, &|name| std::env::var(name).ok())
    }

    /// The embedded default without the environment's overrides (the three shipped marts):
    /// what unit tests build their tables from.
    #[cfg(test)]
    pub fn embedded_default() -> Config {
        RawConfig::default()
            .validate("embedded default", &|_| None)
            .expect("the embedded default is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config> {
        RawConfig::parse(text, "test.toml")?.validate("test.toml", &|_| None)
    }

    #[test]
    fn empty_config_means_the_three_marts() {
        let config = check("").unwrap();
        let names: Vec<_> = config.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mart_uni_tracking_info",
                "mart_ecs_order_info",
                "mart_uni_tracking_spath"
            ]
        );
        let spath = &config.tables[2];
        assert_eq!(spath.key, ["order_id", "traceseq", "pathtime"]);
        assert_eq!(spath.lookback, Duration::from_secs(1800));
        assert_eq!(spath.retention, Some(Duration::from_secs(180 * 86400)));
        assert_eq!(config.tables[0].version.as_deref(), Some("update_time"));
    }

    #[test]
    fn environment_overrides_urls() {
        let env =
            |name: &str| (name == WAREHOUSE_URL_ENV).then(|| "duckdb:///tmp/x.duckdb".to_string());
        let config = RawConfig::default().validate("t", &env).unwrap();
        assert_eq!(
            config.warehouse.url,
            WarehouseUrl::DuckDb("/tmp/x.duckdb".into())
        );
        let bad = |name: &str| (name == SOURCE_URL_ENV).then(|| "ftp://x".to_string());
        let msg = RawConfig::default()
            .validate("t", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("MARTSYNC_SOURCE_URL") && msg.contains("ftp"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_config_file_is_a_config_error() {
        let err = RawConfig::read(Path::new("/nonexistent/martsync.toml")).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(
            err.to_string().contains("/nonexistent/martsync.toml"),
            "{err}"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mysql://u:secret@h:3306/db"),
            "mysql://u:***@h:3306/db"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=hunter2"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert!(!redact_url("mysql://u:pa ss@@h").contains("pa ss"));
    }
}
