//! [`RawConfig::validate`]: every value checked and every default resolved, before any
//! I/O; an error names the key and says what to write instead.

use std::time::Duration;

use super::url::{parse_source_url, parse_stage_url, parse_warehouse_url};
use super::*;

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

impl RawConfig {
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
            mode: self.source.mode,
            binlog_server_id: positive(
                self.source.binlog_server_id.map(|id| id as usize),
                DEFAULT_BINLOG_SERVER_ID as usize,
                origin,
                "source.binlog_server_id",
            )? as u32,
        };
        if source.mode == SourceMode::Binlog && !matches!(source.url, SourceUrl::MySql(_)) {
            return Err(Error::config(
                origin,
                "source.mode",
                "`binlog` reads a MySQL server's binary log: it needs a `mysql://` source.url",
            ));
        }
        if let Some(sse) = self.stage.sse.as_deref()
            && !matches!(sse, "AES256" | "aws:kms")
        {
            return Err(Error::config(
                origin,
                "stage.sse",
                format!("`{sse}` is not a server-side encryption: use \"AES256\" or \"aws:kms\""),
            ));
        }
        let keep_for = match self.stage.keep_for.as_deref() {
            None => None,
            Some(text) => {
                Some(parse_duration(text).map_err(|m| Error::config(origin, "stage.keep_for", m))?)
            }
        };
        let stage = StageConfig {
            url: parse_stage_url(&stage_url)
                .map_err(|m| Error::config(&stage_origin, "stage.url", m))?,
            endpoint: self.stage.endpoint,
            region: self.stage.region,
            sse: self.stage.sse,
            keep: self.stage.keep || keep_for.is_some(),
            keep_for,
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
            warn_delete_after: duration(
                self.warehouse.warn_delete_after,
                DEFAULT_WARN_DELETE_AFTER,
                origin,
                "warehouse.warn_delete_after",
            )?,
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
        let mut written: Vec<String> = vec![crate::schema::RUNS_TABLE.to_string()];
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
            if table.dedup == DedupPlacement::Warehouse && source.mode == SourceMode::Binlog {
                return Err(Error::config(
                    origin,
                    format!("tables[{i}].dedup"),
                    "`binlog` mode keeps each key's last change in martsync; leave `dedup` \
                     out or set it to \"local\"",
                ));
            }
        }
        let percent = |value: Option<f64>, default: f64, key: &str| match value {
            None => Ok(default),
            Some(v) if (0.0..=100.0).contains(&v) => Ok(v),
            Some(v) => Err(Error::config(
                origin,
                key,
                format!("{v} is not a percentage: give a number from 0 to 100"),
            )),
        };
        let maintenance = MaintenanceConfig {
            sort_above: percent(
                self.maintenance.sort_above,
                DEFAULT_SORT_ABOVE,
                "maintenance.sort_above",
            )?,
            delete_above: percent(
                self.maintenance.delete_above,
                DEFAULT_DELETE_ABOVE,
                "maintenance.delete_above",
            )?,
            analyze_above: percent(
                self.maintenance.analyze_above,
                DEFAULT_ANALYZE_ABOVE,
                "maintenance.analyze_above",
            )?,
        };
        let dedup = DedupConfig {
            memory_limit: match &self.dedup.memory_limit {
                None => DedupConfig::default_memory_limit(),
                Some(text) => crate::units::parse_size(text)
                    .map_err(|message| Error::config(origin, "dedup.memory_limit", message))?,
            },
            spill_dir: self
                .dedup
                .spill_dir
                .as_deref()
                .map_or_else(std::env::temp_dir, std::path::PathBuf::from),
        };
        Ok(Config {
            origin: origin.to_string(),
            source,
            stage,
            warehouse,
            maintenance,
            dedup,
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
        let version_guard = match (strategy, self.version_guard) {
            (Strategy::Append, Some(_)) => {
                return Err(err(
                    "version_guard",
                    "only a `latest` table has a version to guard".into(),
                ));
            }
            (_, guard) => guard.unwrap_or_default(),
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
        // Defaults follow the source table, not the mart's name: a renamed mart of a design
        // source keeps the design's sort key.
        let sort_names = match (self.sort_key, design_sort_key(&source_name)) {
            (Some(k), _) => k.into_vec(),
            (None, Some(design)) => design.iter().map(|s| s.to_string()).collect(),
            (None, None) => std::iter::once(watermark.clone())
                .chain(key.iter().filter(|k| **k != watermark).cloned())
                .collect(),
        };
        if sort_names.is_empty() {
            return Err(err(
                "sort_key",
                "at least one sort key column is needed".into(),
            ));
        }
        let sort_key = sort_names
            .iter()
            .map(|k| column("sort_key", k))
            .collect::<Result<Vec<_>>>()?;
        let dist_key = match self.dist_key {
            Some(d) => column("dist_key", &d)?,
            None => key[0].clone(),
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
        let delete_missing = self
            .delete_missing
            .as_deref()
            .map(|text| parse_duration(text).map_err(|m| err("delete_missing", m)))
            .transpose()?;
        let max_deletes = self
            .max_deletes
            .map_or_else(|| DEFAULT_MAX_DELETES.to_string(), CountOrText::into_text);
        let max_deletes = MaxDeletes::parse(&max_deletes).map_err(|m| err("max_deletes", m))?;
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
            version_guard,
            sort_key,
            dist_key,
            delete_missing,
            max_deletes,
            dedup: self.dedup.unwrap_or_default(),
        })
    }
}

/// The design's Redshift sort keys, by source table (the seed's physical design).
fn design_sort_key(source: &str) -> Option<&'static [&'static str]> {
    match source {
        "uni_tracking_info" => Some(&["update_time", "order_id"]),
        "ecs_order_info" => Some(&["partner_id", "add_time", "order_id"]),
        "uni_tracking_spath" => Some(&["pathTime", "order_id"]),
        _ => None,
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
