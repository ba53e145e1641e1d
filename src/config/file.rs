//! The config file as written: every section and key, optional, with the doc comments
//! `docs/config.md` is generated from.

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    DEFAULT_ANALYZE_ABOVE, DEFAULT_BATCH_ROWS, DEFAULT_BINLOG_SERVER_ID, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DELETE_ABOVE, DEFAULT_LOCK_TIMEOUT, DEFAULT_LOOKBACK, DEFAULT_MAX_DELETES,
    DEFAULT_PART_ROWS, DEFAULT_READ_TIMEOUT, DEFAULT_RETENTION, DEFAULT_SORT_ABOVE,
    DEFAULT_STAGE_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, DEFAULT_WARN_DELETE_AFTER, DedupPlacement,
    SourceMode, Strategy, VersionGuard,
};
use crate::error::{Error, Result};
use crate::schema::UnsignedBigint;

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
    /// When `martsync maintain` vacuums and analyzes (Redshift; PostgreSQL and DuckDB always
    /// run their cheap upkeep).
    #[serde(default)]
    pub maintenance: MaintenanceSection,
    /// The memory the cycles' dedup may use, and where it continues past it.
    #[serde(default)]
    pub dedup: DedupSection,
    /// The marts to keep in sync; none means the three marts of the design.
    #[serde(default)]
    pub tables: Vec<TableSection>,
}

/// `[dedup]`: the memory the cycles' dedup holds. The marts of a run dedup at the same time
/// and share the limit evenly; a mart's dedup past its share hash-partitions its rows by key
/// into spill files and dedups them one partition at a time (the same rows are kept), and
/// its output, past the share, waits for staging in a spill file too.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupSection {
    /// Bytes the dedups of one run may hold together: `256MiB`, `1GiB`, or a number of
    /// bytes. Default: half of the machine's memory. The cycle's other parts add about
    /// two Parquet parts per core being staged (`stage.part_rows`) and the source's batches
    /// in flight (two, or from files about half a million rows).
    #[schemars(extend("default" = "half of the machine's memory"), example = &"1GiB")]
    pub memory_limit: Option<String>,
    /// Where spill files go (a fresh folder per dedup, removed when it ends, also on an
    /// error). Default: the system's temporary folder (`$TMPDIR`, else `/tmp`).
    #[schemars(example = &"/var/tmp/martsync")]
    pub spill_dir: Option<String>,
}

/// `[maintenance]`: the thresholds past which `martsync maintain` runs Redshift's VACUUM and
/// ANALYZE on a mart, read from `svv_table_info`. Percentages, 0 to 100.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSection {
    /// `VACUUM SORT ONLY` when more than this share of the mart's rows is unsorted
    /// (`svv_table_info.unsorted`); Redshift's own VACUUM skips the sort phase below 5%.
    #[schemars(extend("default" = DEFAULT_SORT_ABOVE), example = &10.0)]
    pub sort_above: Option<f64>,
    /// `VACUUM DELETE ONLY` when more than this share of the mart's stored rows are deleted
    /// ones not yet reclaimed (`1 - estimated_visible_rows / tbl_rows`): every cycle's DELETE
    /// and each retention trim leave them behind.
    #[schemars(extend("default" = DEFAULT_DELETE_ABOVE), example = &10.0)]
    pub delete_above: Option<f64>,
    /// `ANALYZE` when the statistics are staler than this (`svv_table_info.stats_off`, 0 =
    /// current); Redshift's `analyze_threshold_percent` defaults to 10 too.
    #[schemars(extend("default" = DEFAULT_ANALYZE_ABOVE), example = &20.0)]
    pub analyze_above: Option<f64>,
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
    /// Rows per Arrow batch read from the source; two batches per table are in flight (from
    /// files to a dedup, about half a million rows: eight default batches, two at least).
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
    /// MySQL: how changes are found. `watermark` re-reads the rows whose watermark column
    /// moved (deletes and changes that leave the watermark are not seen); `binlog` reads the
    /// server's binary log (inserts, updates and deletes in commit order; needs `log_bin`
    /// on, `binlog_format = ROW`, `binlog_row_image = FULL` and the grants `REPLICATION
    /// SLAVE` and `BINLOG MONITOR` (`REPLICATION CLIENT`)).
    #[serde(default)]
    pub mode: SourceMode,
    /// `binlog` mode: the replica id the first mart's reader registers with (the next marts
    /// take the following ids). Pick ids no real replica of the server uses.
    #[schemars(extend("default" = DEFAULT_BINLOG_SERVER_ID), range(min = 1), example = 4242)]
    pub binlog_server_id: Option<u32>,
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
    /// Keep each committed run's staged files (by default they are deleted after COMMIT), to
    /// re-apply or inspect them. Runs that never committed are deleted after an hour either way.
    #[serde(default)]
    pub keep: bool,
    /// Keep committed runs' staged files this long, then delete them (implies `keep`).
    #[schemars(example = &"7d")]
    pub keep_for: Option<String>,
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
    /// How long a cycle waits for another run of its mart (the mart's hold, taken before
    /// anything is read) or for a lock on the mart before it exits with code 3 ("another run
    /// holds mart …"). PostgreSQL: `SET lock_timeout`; Redshift, which has no lock timeout: the
    /// hold connection's statement timeout; DuckDB: opening the file, which one process may
    /// write at a time, is retried this long, and so is a mart held within the process.
    #[schemars(extend("default" = DEFAULT_LOCK_TIMEOUT), example = &"0s")]
    pub lock_timeout: Option<String>,
    /// A merge whose DELETE of replaced rows takes longer than this is logged as a warning,
    /// shown by `status` and flagged in the metrics (`martsync_merge_delete_slow`): the
    /// seed's rule for falling back to Option A (targets) when a mart's DELETE passes 5 minutes.
    #[schemars(extend("default" = DEFAULT_WARN_DELETE_AFTER), example = &"2m")]
    pub warn_delete_after: Option<String>,
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
    /// `latest`: when a staged row older than the mart's row of its key is dropped. `replays`:
    /// for rows read from files or a warehouse table (replay, seed, a `files://` source), which
    /// may arrive out of order, so the greatest version wins; rows a cycle, backfill or refresh
    /// reads from MySQL are the source's current rows and replace the mart's row whatever their
    /// version (a transaction that committed late can leave MySQL's row with an older version;
    /// it is still the row that exists). `always`: every input is guarded (a source whose
    /// versions only grow). `never`: the last batch applied wins. Within one batch the greatest
    /// version always wins, ties to the later row.
    #[serde(default)]
    #[schemars(extend("default" = "replays"))]
    pub version_guard: Option<VersionGuard>,
    /// The column whose maximum in the mart starts the next extraction (indexed in MySQL).
    #[schemars(example = &"update_time")]
    pub watermark: Option<String>,
    /// Redshift: the mart's COMPOUND SORTKEY columns. Default by source table: the design's
    /// (`uni_tracking_info`: update_time, order_id; `ecs_order_info`: partner_id, add_time,
    /// order_id; `uni_tracking_spath`: pathTime, order_id), else the watermark then the key.
    #[schemars(example = ["partner_id", "add_time", "order_id"])]
    pub sort_key: Option<OneOrMany>,
    /// Redshift: the mart's DISTKEY column. Default: the first key column.
    #[schemars(example = &"order_id")]
    pub dist_key: Option<String>,
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
    /// After each scheduled cycle, delete the mart's keys inside this window (by the watermark
    /// column, back from now) that the source no longer has: `martsync reconcile --window`
    /// on every run, with its ledger row and its `max_deletes` limit. Off by default.
    #[schemars(example = &"7d")]
    pub delete_missing: Option<String>,
    /// The most keys one reconcile may delete: a count (`500`) or a share of the keys the
    /// mart holds inside the window (`"1%"`). Past it nothing is deleted and martsync exits 8:
    /// a broken or empty source cannot empty a mart.
    #[schemars(extend("default" = DEFAULT_MAX_DELETES), example = &"500")]
    pub max_deletes: Option<CountOrText>,
    /// Rows with a NULL key or version a cycle may reject (kept in the stage as
    /// `rejected.parquet`) before it fails.
    #[schemars(extend("default" = 0), example = 100)]
    pub max_rejected: Option<u64>,
    /// Where the batch is deduped: `local` (martsync, DataFusion: one row per key is staged
    /// and loaded; past `[dedup] memory_limit` it spills to disk), `warehouse` (every valid
    /// row is staged with its arrival number and ranked by `row_number()` inside the merge
    /// transaction: the heavy step on the warehouse's cluster), or `auto`: local, except that
    /// on Redshift a batch that outgrows its share of `[dedup] memory_limit` is handed to the
    /// warehouse that way instead of spilling.
    #[schemars(extend("default" = "local"), example = &"auto")]
    pub dedup: Option<DedupPlacement>,
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
    pub(crate) fn example() -> TargetSection {
        TargetSection {
            name: "stg_uni_tracking_info".into(),
            retention: Some("20d".into()),
        }
    }
}

/// A number, or a text such as `1%`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CountOrText {
    Count(u64),
    Text(String),
}

impl CountOrText {
    pub(crate) fn into_text(self) -> String {
        match self {
            CountOrText::Count(n) => n.to_string(),
            CountOrText::Text(t) => t,
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
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
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
}
