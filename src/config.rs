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

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::schema::{self, TableSchema, UnsignedBigint};

/// Environment variables that override the config's URLs.
pub const SOURCE_URL_ENV: &str = "MARTSYNC_SOURCE_URL";
pub const STAGE_URL_ENV: &str = "MARTSYNC_STAGE_URL";
pub const WAREHOUSE_URL_ENV: &str = "MARTSYNC_WAREHOUSE_URL";

/// The config file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "martsync.toml";

/// The config file as written. Every section and key is optional; see [`RawConfig::validate`].
/// `docs/config.md` is generated from these doc comments and attributes
/// (`martsync config docs`); a test fails when it is stale.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where rows come from.
    #[serde(default)]
    pub source: SourceSection,
    /// Where Parquet files are staged between dedup and the warehouse load.
    #[serde(default)]
    pub stage: StageSection,
    /// The warehouse that holds the marts.
    #[serde(default)]
    pub warehouse: WarehouseSection,
    /// The marts to keep in sync; none means the three marts of the design.
    #[serde(default)]
    pub tables: Vec<TableSection>,
}

/// `[source]`: where rows come from.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `files://DIR` (one folder per source table, CSV/JSON/Parquet files) or
    /// `mysql://user:pass@host:port/db`, with TLS options `?ssl-mode=` (`DISABLED`,
    /// `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`) and `&ssl-ca=PATH`. Default:
    /// the project's demo fixtures. Overridden by `MARTSYNC_SOURCE_URL`.
    #[schemars(example = &"mysql://martsync:secret@db.internal:3306/tracking?ssl-mode=VERIFY_IDENTITY")]
    pub url: Option<String>,
    /// Rows per Arrow batch read from the source; two batches per table are in flight.
    #[schemars(extend("default" = DEFAULT_BATCH_ROWS), range(min = 1))]
    pub batch_rows: Option<usize>,
    /// MySQL: connections one extraction reads with, each over a range of the first key
    /// column (for large backfills and initial loads).
    #[schemars(extend("default" = 1), range(min = 1), example = 4)]
    pub parallel: Option<usize>,
    /// How `BIGINT UNSIGNED` is carried: `int64` (range-checked: a larger value is an error
    /// naming table, column and key) or `numeric` (NUMERIC(20,0), lossless).
    #[serde(default)]
    pub unsigned_bigint: UnsignedBigint,
    /// How long to wait for a connection to the MySQL server (TCP and handshake).
    #[schemars(extend("default" = DEFAULT_CONNECT_TIMEOUT), example = &"10s")]
    pub connect_timeout: Option<String>,
    /// How long an extraction may wait for the next row before it fails (a hung server
    /// must not hang the scheduler).
    #[schemars(extend("default" = DEFAULT_READ_TIMEOUT), example = &"30m")]
    pub read_timeout: Option<String>,
}

/// `[stage]`: where Parquet files are staged between dedup and the warehouse load.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    /// `file://DIR` or `s3://bucket/prefix`. Overridden by `MARTSYNC_STAGE_URL`. Credentials
    /// come from the standard AWS chain (environment, profile, instance role).
    #[schemars(extend("default" = "file://.martsync/stage"), example = &"s3://company-etl/martsync")]
    pub url: Option<String>,
    /// S3 endpoint of an S3-compatible server. Default: AWS, or `AWS_ENDPOINT_URL` when set.
    /// Setting an endpoint switches to path-style requests.
    #[schemars(example = &"http://127.0.0.1:3900")]
    pub endpoint: Option<String>,
    /// S3 region. Default: the AWS credential chain's (`AWS_REGION`, profile).
    #[schemars(example = &"eu-west-1")]
    pub region: Option<String>,
    /// Server-side encryption of staged objects: `AES256` or `aws:kms`. Default: the bucket's.
    #[schemars(example = &"aws:kms")]
    pub sse: Option<String>,
    /// Keep each run's staged files after COMMIT (by default they are deleted).
    #[serde(default)]
    pub keep: bool,
    /// Rows per staged Parquet part (Redshift's COPY loads parts in parallel).
    #[schemars(extend("default" = DEFAULT_PART_ROWS), range(min = 1))]
    pub part_rows: Option<usize>,
    /// S3: how long one request attempt may take (the SDK retries a failed attempt).
    #[schemars(extend("default" = DEFAULT_STAGE_TIMEOUT), example = &"15m")]
    pub timeout: Option<String>,
}

/// `[warehouse]`: the warehouse that holds the marts.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSection {
    /// `duckdb://PATH`, `postgres://user:pass@host:5432/db[?sslmode=…]` or
    /// `redshift://user:pass@host:5439/db` (TLS verified by default). Overridden by
    /// `MARTSYNC_WAREHOUSE_URL`.
    #[schemars(
        extend("default" = "duckdb://.martsync/warehouse.duckdb"),
        example = &"redshift://martsync:secret@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/analytics"
    )]
    pub url: Option<String>,
    /// The IAM role Redshift's COPY assumes to read the stage (required for Redshift).
    #[schemars(example = &"arn:aws:iam::123456789012:role/martsync-copy")]
    pub iam_role: Option<String>,
    /// How long to wait for a connection to the warehouse (TCP, TLS and startup).
    #[schemars(extend("default" = DEFAULT_CONNECT_TIMEOUT), example = &"10s")]
    pub connect_timeout: Option<String>,
    /// The longest one warehouse statement may run (`SET statement_timeout`); the client
    /// also gives up on a merge that has not answered after lock_timeout + statement_timeout
    /// + 1 minute.
    #[schemars(extend("default" = DEFAULT_STATEMENT_TIMEOUT), example = &"1h")]
    pub statement_timeout: Option<String>,
    /// How long a cycle waits for another run's lock on its mart before it exits with code 3
    /// ("another run holds mart …"). PostgreSQL: `SET lock_timeout`; DuckDB: opening the
    /// file is retried this long; Redshift has no lock timeout (statement_timeout bounds it).
    #[schemars(extend("default" = DEFAULT_LOCK_TIMEOUT), example = &"0s")]
    pub lock_timeout: Option<String>,
}

/// `[[tables]]`: one mart. For the three marts of the design only `name` is required; the
/// other keys default to the design's values for them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSection {
    /// The mart's name in the warehouse (letters, digits, `_`).
    #[schemars(example = &"mart_uni_tracking_info")]
    pub name: String,
    /// The source table it is built from. Default for a built-in mart: its design source.
    #[schemars(example = &"uni_tracking_info")]
    pub source: Option<String>,
    /// `latest` (one row per key, greatest version) or `append` (immutable rows, idempotent).
    pub strategy: Option<Strategy>,
    /// Key column(s): a name or a list of names.
    #[schemars(example = &"order_id", example = ["order_id", "traceSeq", "pathTime"])]
    pub key: Option<OneOrMany>,
    /// The version column of a `latest` table; ties go to the later arrival.
    #[schemars(example = &"update_time")]
    pub version: Option<String>,
    /// The column whose maximum in the mart starts the next extraction (indexed in MySQL).
    #[schemars(example = &"update_time")]
    pub watermark: Option<String>,
    /// How far behind the mart's maximum watermark to read again (late commits in MySQL).
    #[schemars(extend("default" = DEFAULT_LOOKBACK), example = &"1h")]
    pub lookback: Option<String>,
    /// Rows whose retention column is this far behind the mart's newest are deleted; "off"
    /// keeps everything.
    #[schemars(extend("default" = DEFAULT_RETENTION), example = &"off")]
    pub retention: Option<String>,
    /// The column retention is measured on. Default: the watermark column.
    #[schemars(example = &"add_time")]
    pub retention_column: Option<String>,
    /// Rows with a NULL key or version a cycle may reject (kept in the stage as
    /// `rejected.parquet`) before it fails.
    #[schemars(extend("default" = 0), example = 100)]
    pub max_rejected: Option<u64>,
    /// mysql://: a column the source table gained is added to the mart (`ALTER TABLE … ADD
    /// COLUMN`, NULL in rows loaded before) and extracted from then on. When false, a new
    /// source column fails the cycle naming it.
    #[serde(default)]
    pub allow_new_columns: bool,
    /// More tables fed the same deduped batch in the same transaction, each with its own
    /// `name` and `retention` (default: the mart's): the 20-day staging buffer ("Option A")
    /// in front of the 6-month mart. Written as `[[tables.targets]]` entries below the
    /// `[[tables]]` entry, or inline. A target created after its mart holds the rows of the
    /// cycles since.
    #[serde(default)]
    #[schemars(example = [TargetSection::example()])]
    pub targets: Vec<TargetSection>,
    /// Gap 1: the source table of another configured mart whose batches refresh this one.
    /// Each cycle of that mart re-reads from the source this mart's rows of every key its
    /// batch touched (by key, in chunks of 1,000 bound values) and replaces the ones that
    /// changed, in a run of its own committed before that mart's merge. This mart needs one
    /// integer key column, which the other source table has too. Rows are only replaced:
    /// new keys still come from this mart's own cycles.
    #[schemars(example = &"uni_tracking_info")]
    pub refresh_from: Option<String>,
}

/// `[[tables.targets]]`: another table a mart's cycle writes, with the mart's columns, key
/// and strategy.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// The table's name in the warehouse (letters, digits, `_`).
    pub name: String,
    /// Like the mart's `retention`, on the mart's retention column; "off" keeps everything.
    pub retention: Option<String>,
}

impl TargetSection {
    fn example() -> TargetSection {
        TargetSection {
            name: "stg_uni_tracking_info".into(),
            retention: Some("20d".into()),
        }
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
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

/// A validated config, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path or "embedded default".
    pub origin: String,
    pub source: SourceConfig,
    pub stage: StageConfig,
    pub warehouse: WarehouseConfig,
    pub tables: Vec<TableConfig>,
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

/// A validated stage.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub url: StageUrl,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub sse: Option<String>,
    pub keep: bool,
    pub part_rows: usize,
    /// S3 request attempt timeout.
    pub timeout: Duration,
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

    /// The mart, then each of its targets: every table a cycle of it writes.
    pub fn written_tables(&self) -> Vec<TableConfig> {
        std::iter::once(self.clone())
            .chain(self.targets.iter().map(|t| self.as_target(t)))
            .collect()
    }
}

/// A mart of the design, with the settings a `[[tables]]` entry may leave out.
struct BuiltinTable {
    mart: &'static str,
    source: &'static str,
    strategy: Strategy,
    key: &'static [&'static str],
    version: Option<&'static str>,
    watermark: &'static str,
}

const BUILTIN_TABLES: &[BuiltinTable] = &[
    BuiltinTable {
        mart: "mart_uni_tracking_info",
        source: "uni_tracking_info",
        strategy: Strategy::Latest,
        key: &["order_id"],
        version: Some("update_time"),
        watermark: "update_time",
    },
    BuiltinTable {
        mart: "mart_ecs_order_info",
        source: "ecs_order_info",
        strategy: Strategy::Append,
        key: &["order_id"],
        version: None,
        watermark: "add_time",
    },
    BuiltinTable {
        mart: "mart_uni_tracking_spath",
        source: "uni_tracking_spath",
        strategy: Strategy::Append,
        key: &["order_id", "traceSeq", "pathTime"],
        version: None,
        watermark: "pathTime",
    },
];

const DEFAULT_LOOKBACK: &str = "30m";
const DEFAULT_RETENTION: &str = "180d";
const DEFAULT_BATCH_ROWS: usize = 65_536;
const DEFAULT_CONNECT_TIMEOUT: &str = "30s";
const DEFAULT_READ_TIMEOUT: &str = "10m";
const DEFAULT_STAGE_TIMEOUT: &str = "5m";
const DEFAULT_STATEMENT_TIMEOUT: &str = "30m";
const DEFAULT_LOCK_TIMEOUT: &str = "5m";
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
}

impl RawConfig {
    /// Reads and parses a TOML file; an unknown key or a value of the wrong kind names the key.
    pub fn read(path: &Path) -> Result<RawConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let message = format!("cannot read the config file: {e}");
            Error::config(path.display().to_string(), "-", message)
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RawConfig> {
        toml::from_str(text).map_err(|e| {
            // toml's message names the key and shows the offending line.
            Error::config(origin, "toml", e.to_string().trim_end().to_string())
        })
    }

    /// Checks every value and resolves defaults; `env` supplies the URL overrides.
    pub fn validate(self, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let pick = |env_name: &str, value: Option<String>, default: String| -> (String, String) {
            match env(env_name) {
                Some(v) => (v, format!("environment variable {env_name}")),
                None => (value.unwrap_or(default), origin.to_string()),
            }
        };
        let demo = format!("files://{}", demo_fixtures_dir().display());
        let (source_url, source_origin) = pick(SOURCE_URL_ENV, self.source.url, demo);
        let (stage_url, stage_origin) = pick(
            STAGE_URL_ENV,
            self.stage.url,
            "file://.martsync/stage".into(),
        );
        let (warehouse_url, warehouse_origin) = pick(
            WAREHOUSE_URL_ENV,
            self.warehouse.url,
            "duckdb://.martsync/warehouse.duckdb".into(),
        );

        let source = SourceConfig {
            url: parse_source_url(&source_url)
                .map_err(|m| Error::config(&source_origin, "source.url", m))?,
            batch_rows: positive(
                self.source.batch_rows,
                DEFAULT_BATCH_ROWS,
                origin,
                "source.batch_rows",
            )?,
            parallel: positive(self.source.parallel, 1, origin, "source.parallel")?,
            unsigned_bigint: self.source.unsigned_bigint,
            connect_timeout: duration(
                self.source.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
                origin,
                "source.connect_timeout",
            )?,
            read_timeout: duration(
                self.source.read_timeout,
                DEFAULT_READ_TIMEOUT,
                origin,
                "source.read_timeout",
            )?,
        };
        if let Some(sse) = self.stage.sse.as_deref()
            && !matches!(sse, "AES256" | "aws:kms")
        {
            return Err(Error::config(
                origin,
                "stage.sse",
                format!("`{sse}` is not a server-side encryption: use \"AES256\" or \"aws:kms\""),
            ));
        }
        let stage = StageConfig {
            url: parse_stage_url(&stage_url)
                .map_err(|m| Error::config(&stage_origin, "stage.url", m))?,
            endpoint: self.stage.endpoint,
            region: self.stage.region,
            sse: self.stage.sse,
            keep: self.stage.keep,
            part_rows: positive(
                self.stage.part_rows,
                DEFAULT_PART_ROWS,
                origin,
                "stage.part_rows",
            )?,
            timeout: duration(
                self.stage.timeout,
                DEFAULT_STAGE_TIMEOUT,
                origin,
                "stage.timeout",
            )?,
        };
        let warehouse = WarehouseConfig {
            url: parse_warehouse_url(&warehouse_url)
                .map_err(|m| Error::config(&warehouse_origin, "warehouse.url", m))?,
            iam_role: self.warehouse.iam_role,
            timeouts: WarehouseTimeouts {
                connect: duration(
                    self.warehouse.connect_timeout,
                    DEFAULT_CONNECT_TIMEOUT,
                    origin,
                    "warehouse.connect_timeout",
                )?,
                statement: duration(
                    self.warehouse.statement_timeout,
                    DEFAULT_STATEMENT_TIMEOUT,
                    origin,
                    "warehouse.statement_timeout",
                )?,
                lock: duration(
                    self.warehouse.lock_timeout,
                    DEFAULT_LOCK_TIMEOUT,
                    origin,
                    "warehouse.lock_timeout",
                )?,
            },
        };
        if let WarehouseUrl::Redshift(_) = warehouse.url {
            // Redshift loads from S3 itself: it needs the stage in S3 and a role to read it.
            if !matches!(stage.url, StageUrl::S3 { .. }) {
                return Err(Error::config(
                    &stage_origin,
                    "stage.url",
                    "a Redshift warehouse loads staged files from S3: set an s3://bucket/prefix stage",
                ));
            }
            if warehouse.iam_role.is_none() {
                return Err(Error::config(
                    origin,
                    "warehouse.iam_role",
                    "a Redshift warehouse needs the ARN of an IAM role that can read the stage \
                     bucket (COPY … IAM_ROLE)",
                ));
            }
        }
        if let (WarehouseUrl::DuckDb(_), StageUrl::S3 { .. }) = (&warehouse.url, &stage.url) {
            return Err(Error::config(
                &stage_origin,
                "stage.url",
                "the DuckDB warehouse reads staged files from a local folder: use a file:// stage",
            ));
        }

        let sections = if self.tables.is_empty() {
            BUILTIN_TABLES
                .iter()
                .map(|t| TableSection {
                    name: t.mart.to_string(),
                    ..TableSection::default()
                })
                .collect()
        } else {
            self.tables
        };
        let mut tables: Vec<TableConfig> = Vec::new();
        // Every table name a cycle writes (marts and targets), lower case as in the warehouse.
        let mut written: Vec<String> = vec![crate::warehouse::dialect::RUNS_TABLE.to_string()];
        for (i, section) in sections.into_iter().enumerate() {
            let table = section.validate(origin, i, source.unsigned_bigint)?;
            let names = std::iter::once(("name".to_string(), &table.name)).chain(
                table
                    .targets
                    .iter()
                    .enumerate()
                    .map(|(t, target)| (format!("targets[{t}].name"), &target.name)),
            );
            for (key, name) in names {
                if written.contains(&name.to_ascii_lowercase()) {
                    return Err(Error::config(
                        origin,
                        format!("tables[{i}].{key}"),
                        format!(
                            "table `{name}` is already written by another entry (or is martsync's run ledger)"
                        ),
                    ));
                }
                written.push(name.to_ascii_lowercase());
            }
            tables.push(table);
        }
        for (i, table) in tables.iter().enumerate() {
            if let Some(from) = &table.refresh_from {
                check_refresh_from(&tables, table, from)
                    .map_err(|m| Error::config(origin, format!("tables[{i}].refresh_from"), m))?;
            }
        }
        Ok(Config {
            origin: origin.to_string(),
            source,
            stage,
            warehouse,
            tables,
        })
    }
}

impl TableSection {
    fn validate(
        self,
        origin: &str,
        index: usize,
        unsigned_bigint: UnsignedBigint,
    ) -> Result<TableConfig> {
        let at = |key: &str| format!("tables[{index}].{key}");
        let err = |key: &str, message: String| Error::config(origin, at(key), message);

        validate_identifier(&self.name).map_err(|m| err("name", m))?;
        let builtin = BUILTIN_TABLES.iter().find(|t| t.mart == self.name);
        let required = |key: &str| {
            err(
                key,
                format!(
                    "`{key}` is required for mart `{}` (only the built-in marts {} have defaults)",
                    self.name,
                    BUILTIN_TABLES
                        .iter()
                        .map(|t| t.mart)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };

        let source_name = match (self.source, builtin) {
            (Some(s), _) => s,
            (None, Some(b)) => b.source.to_string(),
            (None, None) => return Err(required("source")),
        };
        validate_identifier(&source_name).map_err(|m| err("source", m))?;
        let schema = schema::builtin_source(&source_name, unsigned_bigint).ok_or_else(|| {
            err(
                "source",
                format!(
                    "unknown source table `{source_name}`; martsync knows {}",
                    schema::builtin_source_names()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;

        let strategy = match (self.strategy, builtin) {
            (Some(s), _) => s,
            (None, Some(b)) => b.strategy,
            (None, None) => return Err(required("strategy")),
        };
        let column = |key: &str, name: &str| -> Result<String> {
            schema.column(name).map(|c| c.name.clone()).ok_or_else(|| {
                err(
                    key,
                    format!(
                        "column `{name}` is not a column of source table `{source_name}` (columns: {})",
                        schema.column_list()
                    ),
                )
            })
        };

        let key_names = match (self.key, builtin) {
            (Some(k), _) => k.into_vec(),
            (None, Some(b)) => b.key.iter().map(|s| s.to_string()).collect(),
            (None, None) => return Err(required("key")),
        };
        if key_names.is_empty() {
            return Err(err("key", "at least one key column is needed".into()));
        }
        let key = key_names
            .iter()
            .map(|k| column("key", k))
            .collect::<Result<Vec<_>>>()?;

        let builtin_version = builtin.and_then(|b| b.version).map(str::to_string);
        let version = match (strategy, self.version.or(builtin_version)) {
            (Strategy::Latest, Some(v)) => Some(column("version", &v)?),
            (Strategy::Latest, None) => return Err(required("version")),
            (Strategy::Append, Some(_)) => {
                return Err(err(
                    "version",
                    "only a `latest` table has a version column".into(),
                ));
            }
            (Strategy::Append, None) => None,
        };
        let watermark = match (self.watermark, builtin) {
            (Some(w), _) => column("watermark", &w)?,
            (None, Some(b)) => column("watermark", b.watermark)?,
            (None, None) => return Err(required("watermark")),
        };
        for (key, name) in [
            ("watermark", Some(&watermark)),
            ("version", version.as_ref()),
        ] {
            if let Some(name) = name {
                let ty = &schema.column(name).expect("checked above").mapped.arrow;
                if !(ty.is_integer() || schema.is_timestamp(name)) {
                    return Err(err(
                        key,
                        format!("column `{name}` is {ty}; it must be an integer or a timestamp"),
                    ));
                }
            }
        }
        let retention_column = match self.retention_column {
            Some(c) => column("retention_column", &c)?,
            None => watermark.clone(),
        };
        let lookback = parse_duration(self.lookback.as_deref().unwrap_or(DEFAULT_LOOKBACK))
            .map_err(|m| err("lookback", m))?;
        let retention = match self.retention.as_deref().unwrap_or(DEFAULT_RETENTION) {
            "off" | "none" => None,
            text => Some(parse_duration(text).map_err(|m| err("retention", m))?),
        };
        let mut targets = Vec::new();
        for (t, target) in self.targets.into_iter().enumerate() {
            let key = |k: &str| format!("targets[{t}].{k}");
            validate_identifier(&target.name).map_err(|m| err(&key("name"), m))?;
            let retention = match target.retention.as_deref() {
                None => retention,
                Some("off" | "none") => None,
                Some(text) => Some(parse_duration(text).map_err(|m| err(&key("retention"), m))?),
            };
            targets.push(Target {
                name: target.name,
                retention,
            });
        }
        Ok(TableConfig {
            name: self.name,
            schema,
            strategy,
            key,
            version,
            watermark,
            lookback,
            retention,
            retention_column,
            max_rejected: self.max_rejected.unwrap_or(0),
            allow_new_columns: self.allow_new_columns,
            targets,
            refresh_from: self.refresh_from,
            replace_only: false,
        })
    }
}

/// `refresh_from = "<source table>"` on `table`: another mart reads that source table, and it
/// has `table`'s one integer key column.
fn check_refresh_from(
    tables: &[TableConfig],
    table: &TableConfig,
    from: &str,
) -> std::result::Result<(), String> {
    let Some(refresher) = tables
        .iter()
        .find(|t| t.name != table.name && t.schema.name.eq_ignore_ascii_case(from))
    else {
        return Err(format!(
            "no other configured mart reads source table `{from}` (sources: {})",
            tables
                .iter()
                .map(|t| t.schema.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if refresher.refresh_from.is_some() {
        return Err(format!(
            "mart `{}` (source `{from}`) is refreshed itself; refreshes do not chain",
            refresher.name
        ));
    }
    let integer = |t: &TableConfig, c: &str| {
        t.schema
            .column(c)
            .is_some_and(|c| c.mapped.arrow.is_integer())
    };
    match table.key.as_slice() {
        [key] if integer(table, key) && integer(refresher, key) => Ok(()),
        [key] => Err(format!(
            "the key `{key}` must be an integer column of both `{}` and `{from}`",
            table.schema.name
        )),
        _ => Err(format!(
            "a refreshed mart needs one key column; `{}` has {}",
            table.name,
            table.key.join(", ")
        )),
    }
}

fn positive(value: Option<usize>, default: usize, origin: &str, key: &str) -> Result<usize> {
    match value {
        Some(0) => Err(Error::config(origin, key, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

/// A duration key's value, or its default; an unparseable one names the key.
fn duration(value: Option<String>, default: &str, origin: &str, key: &str) -> Result<Duration> {
    parse_duration(value.as_deref().unwrap_or(default)).map_err(|m| Error::config(origin, key, m))
}

/// A duration as a config states it: `180d`, `1h`, `30m`, `90s` (the largest whole unit).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// "30m", "180d", "1h 30m".
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"30m\" or \"180d\""))
}

/// Mart, source and column names are interpolated into SQL as quoted identifiers; they are
/// restricted to plain names so that quoting can never be escaped.
pub fn validate_identifier(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid table name: use letters, digits and underscores (at most 127), \
             starting with a letter or underscore"
        ))
    }
}

fn split_scheme(url: &str) -> std::result::Result<(&str, &str), String> {
    url.split_once("://")
        .ok_or_else(|| format!("`{}` is not a URL (expected scheme://…)", redact_url(url)))
}

fn path_part(url: &str, rest: &str) -> std::result::Result<PathBuf, String> {
    if rest.is_empty() {
        Err(format!("`{url}` has no path"))
    } else {
        Ok(PathBuf::from(rest))
    }
}

/// Checks a server URL (`scheme://user:pass@host:port/db`): it parses, has a host and a
/// database. The URL itself is kept as written for the client library.
fn check_server_url(url: &str) -> std::result::Result<String, String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("`{}` is not a valid URL: {e}", redact_url(url)))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` has no host", redact_url(url)));
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err(format!(
            "`{}` names no database (…/DATABASE at the end)",
            redact_url(url)
        ));
    }
    Ok(url.to_string())
}

fn parse_source_url(url: &str) -> std::result::Result<SourceUrl, String> {
    match split_scheme(url)? {
        ("files", rest) => Ok(SourceUrl::Files(path_part(url, rest)?)),
        ("mysql", _) => Ok(SourceUrl::MySql(check_server_url(url)?)),
        (scheme, _) => Err(format!(
            "unsupported source scheme `{scheme}://` (supported: files://DIR, mysql://USER:PASS@HOST:PORT/DB)"
        )),
    }
}

fn parse_stage_url(url: &str) -> std::result::Result<StageUrl, String> {
    match split_scheme(url)? {
        ("file", rest) => Ok(StageUrl::File(path_part(url, rest)?)),
        ("s3", rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{url}` names no bucket (s3://BUCKET/PREFIX)"));
            }
            Ok(StageUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        }
        (scheme, _) => Err(format!(
            "unsupported stage scheme `{scheme}://` (supported: file://DIR, s3://BUCKET/PREFIX)"
        )),
    }
}

fn parse_warehouse_url(url: &str) -> std::result::Result<WarehouseUrl, String> {
    match split_scheme(url)? {
        ("duckdb", rest) => Ok(WarehouseUrl::DuckDb(path_part(url, rest)?)),
        ("postgres" | "postgresql", _) => Ok(WarehouseUrl::Postgres(check_server_url(url)?)),
        ("redshift", _) => Ok(WarehouseUrl::Redshift(check_server_url(url)?)),
        (scheme, _) => Err(format!(
            "unsupported warehouse scheme `{scheme}://` (supported: duckdb://PATH, \
             postgres://USER:PASS@HOST:PORT/DB, redshift://USER:PASS@HOST:PORT/DB)"
        )),
    }
}

/// The URL with any password replaced by `***`, for logs and errors: the user-info password
/// and query parameters that carry secrets (`password=`, `sslpassword=`, …).
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not parseable: show only the scheme, never what might be a password.
        return url.split_once("://").map_or_else(
            || "<unparseable URL>".into(),
            |(s, _)| format!("{s}://<unparseable>"),
        );
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("pass") || k.contains("secret") || k.contains("token") || k.ends_with("key")
    };
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceUrl::Files(p) => write!(f, "files://{}", p.display()),
            SourceUrl::MySql(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl std::fmt::Display for StageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageUrl::File(p) => write!(f, "file://{}", p.display()),
            StageUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StageUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::fmt::Display for WarehouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarehouseUrl::DuckDb(p) => write!(f, "duckdb://{}", p.display()),
            WarehouseUrl::Postgres(url) | WarehouseUrl::Redshift(url) => {
                f.write_str(&redact_url(url))
            }
        }
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
