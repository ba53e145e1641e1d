//! SQL of each warehouse dialect: mart DDL and the statements of one merge, rendered in one
//! place so `ddl`, the warehouses and the golden tests all see the same text.
//!
//! Identifiers are validated by the config (plain names) and always double-quoted here;
//! values are bound as parameters, except the stage file paths DuckDB reads, which are
//! rendered as escaped string literals.

use crate::config::{Strategy, TableConfig};

/// A warehouse's SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[value(name = "duckdb")]
    DuckDb,
    Postgres,
    Redshift,
}

impl Dialect {
    /// The dialect of a configured warehouse.
    pub fn of(url: &crate::config::WarehouseUrl) -> Dialect {
        use crate::config::WarehouseUrl;
        match url {
            WarehouseUrl::DuckDb(_) => Dialect::DuckDb,
            WarehouseUrl::Postgres(_) => Dialect::Postgres,
            WarehouseUrl::Redshift(_) => Dialect::Redshift,
        }
    }
}

/// A named statement: the name appears in errors and reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    pub name: &'static str,
    pub sql: String,
}

/// The run ledger: one row per committed cycle.
pub const RUNS_TABLE: &str = "martsync_runs";

/// `"name"`: names are validated to be plain identifiers, so no escaping is needed.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_lowercase())
}

/// A SQL string literal with quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The expression giving `max(column)` as an integer in the column's unit (µs for timestamps).
pub fn max_as_i64(dialect: Dialect, table: &TableConfig, column: &str) -> String {
    let col = quote(column);
    if !table.schema.is_timestamp(column) {
        // INTEGER columns have INTEGER maxima; clients read BIGINT.
        return format!("CAST(max({col}) AS BIGINT)");
    }
    match dialect {
        Dialect::DuckDb => format!("epoch_us(max({col}))"),
        Dialect::Postgres | Dialect::Redshift => {
            format!("CAST(extract(epoch FROM max({col})) * 1000000 AS BIGINT)")
        }
    }
}

/// `CREATE TABLE IF NOT EXISTS` for a mart, with Redshift's distribution and sort keys.
pub fn create_mart(dialect: Dialect, table: &TableConfig) -> String {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!(
                "  {} {}{null}",
                quote(&c.name),
                c.mapped.warehouse.sql(dialect)
            )
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{columns}\n)",
        quote(&table.name)
    );
    if dialect == Dialect::Redshift {
        let sort = sort_key(table)
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(
            "\nDISTKEY({})\nCOMPOUND SORTKEY({sort})",
            quote(&table.key[0])
        ));
    }
    sql
}

/// Redshift sort keys of the design's marts; others sort by watermark then key.
fn sort_key(table: &TableConfig) -> Vec<String> {
    match table.name.as_str() {
        "mart_uni_tracking_info" => vec!["update_time".into(), "order_id".into()],
        "mart_ecs_order_info" => vec!["partner_id".into(), "add_time".into(), "order_id".into()],
        "mart_uni_tracking_spath" => vec!["pathtime".into(), "order_id".into()],
        _ => {
            let mut keys = vec![table.watermark.clone()];
            keys.extend(table.key.iter().filter(|k| **k != table.watermark).cloned());
            keys
        }
    }
}

/// The run ledger's DDL.
pub fn create_runs(dialect: Dialect) -> String {
    let text = match dialect {
        Dialect::Redshift => "VARCHAR(1024)",
        _ => "VARCHAR",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (\n  run_id VARCHAR(64) NOT NULL,\n  mart VARCHAR(127) NOT NULL,\n  \
         batch {text},\n  started_at TIMESTAMP NOT NULL,\n  committed_at TIMESTAMP NOT NULL,\n  \
         watermark_from BIGINT,\n  watermark_to BIGINT,\n  rows_extracted BIGINT NOT NULL,\n  \
         rows_deduped BIGINT NOT NULL,\n  rows_rejected BIGINT NOT NULL,\n  rows_deleted BIGINT NOT NULL,\n  \
         rows_inserted BIGINT NOT NULL,\n  rows_trimmed BIGINT NOT NULL,\n  bytes_staged BIGINT NOT NULL,\n  \
         extract_ms BIGINT NOT NULL,\n  dedup_ms BIGINT NOT NULL,\n  stage_ms BIGINT NOT NULL,\n  merge_ms BIGINT NOT NULL\n)"
    )
}

/// The columns of [`RUNS_TABLE`] in insert order; the insert binds one parameter each, with
/// `started_at` and `committed_at` as epoch milliseconds.
pub const RUNS_COLUMNS: &[&str] = &[
    "run_id",
    "mart",
    "batch",
    "started_at",
    "committed_at",
    "watermark_from",
    "watermark_to",
    "rows_extracted",
    "rows_deduped",
    "rows_rejected",
    "rows_deleted",
    "rows_inserted",
    "rows_trimmed",
    "bytes_staged",
    "extract_ms",
    "dedup_ms",
    "stage_ms",
    "merge_ms",
];

/// The mart's columns, quoted, comma separated, in order.
pub fn quoted_columns(table: &TableConfig) -> String {
    table
        .schema
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Name of the temp table a run is loaded into.
pub fn stage_table(table: &TableConfig) -> String {
    quote(&format!("stage_{}", table.name))
}

fn placeholder(dialect: Dialect, i: usize) -> String {
    match dialect {
        Dialect::DuckDb => "?".into(),
        Dialect::Postgres | Dialect::Redshift => format!("${i}"),
    }
}

fn epoch_ms_to_timestamp(dialect: Dialect, p: &str) -> String {
    match dialect {
        Dialect::DuckDb => format!("make_timestamp(CAST({p} AS BIGINT) * 1000)"),
        Dialect::Postgres => format!("(to_timestamp({p}::BIGINT / 1000.0) AT TIME ZONE 'UTC')"),
        Dialect::Redshift => {
            format!("(TIMESTAMP 'epoch' + {p}::BIGINT * INTERVAL '1 millisecond')")
        }
    }
}

/// The statements of one merge after the staged rows are in the stage table, in order:
/// drop stale versions, delete replaced rows, insert, trim; the same for each target (fed
/// the rows left after the mart dropped its stale ones); record the run.
pub fn merge_statements(dialect: Dialect, table: &TableConfig) -> Vec<Statement> {
    let stage = stage_table(table);
    let mut statements = apply_to(table, &stage, false);
    for target in &table.targets {
        statements.extend(apply_to(&table.as_target(target), &stage, true));
    }
    let values = RUNS_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = placeholder(dialect, i + 1);
            if c.ends_with("_at") {
                epoch_ms_to_timestamp(dialect, &p)
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    statements.push(Statement {
        name: "record_run",
        sql: format!(
            "INSERT INTO {RUNS_TABLE} ({}) VALUES ({values})",
            RUNS_COLUMNS.join(", ")
        ),
    });
    statements
}

/// Applies the rows of `stage` to `table` (a mart, or one of its targets): the stale-version
/// drop (mart only: it leaves in the stage the rows newer than the mart's, which are newer
/// than a target's too), delete, insert, trim.
fn apply_to(table: &TableConfig, stage: &str, target: bool) -> Vec<Statement> {
    let mart = quote(&table.name);
    let cols = quoted_columns(table);
    // Statement names are what errors and counts go by; a target's are prefixed.
    let name = |mart_name: &'static str, target_name: &'static str| {
        if target { target_name } else { mart_name }
    };
    let key_match = |left: &str, right: &str| {
        table
            .key
            .iter()
            .map(|k| format!("{left}.{k} = {right}.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut statements = Vec::new();
    match table.strategy {
        Strategy::Latest => {
            let version = quote(
                table
                    .version
                    .as_deref()
                    .expect("latest tables have a version"),
            );
            // A staged row the mart holds at a newer version, or already holds as it is (the
            // lookback overlap re-reads every row of the last 30 minutes), changes nothing:
            // dropping it here saves the delete and insert, and Redshift's tombstones.
            let same_row = table
                .schema
                .columns
                .iter()
                .filter(|c| !table.key.contains(&c.name))
                .map(|c| {
                    let (m, s) = (
                        format!("{mart}.{}", quote(&c.name)),
                        format!("{stage}.{}", quote(&c.name)),
                    );
                    if c.nullable {
                        format!("({m} = {s} OR ({m} IS NULL AND {s} IS NULL))")
                    } else {
                        format!("{m} = {s}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            if table.replace_only && !target {
                // A refresh: the mart's new keys come from its own cycles (whose watermark a
                // refreshed row must not move), so a key the mart does not hold is dropped.
                statements.push(Statement {
                    name: "drop_new_keys",
                    sql: format!(
                        "DELETE FROM {stage} WHERE NOT EXISTS (SELECT 1 FROM {mart} WHERE {})",
                        key_match(&mart, stage)
                    ),
                });
            }
            if !target {
                // A refresh run's version is its key: only unchanged rows are dropped.
                let newer = if table.replace_only {
                    String::new()
                } else {
                    format!("{mart}.{version} > {stage}.{version} OR ")
                };
                statements.push(Statement {
                    name: "drop_stale_versions",
                    sql: format!(
                        "DELETE FROM {stage} USING {mart} WHERE {} AND ({newer}({same_row}))",
                        key_match(stage, &mart)
                    ),
                });
            }
            statements.push(Statement {
                name: name("delete_replaced", "target_delete_replaced"),
                sql: format!(
                    "DELETE FROM {mart} USING {stage} WHERE {}",
                    key_match(&mart, stage)
                ),
            });
            statements.push(Statement {
                name: name("insert_rows", "target_insert_rows"),
                sql: format!("INSERT INTO {mart} ({cols}) SELECT {cols} FROM {stage}"),
            });
        }
        Strategy::Append => {
            statements.push(Statement {
                name: name("insert_new_rows", "target_insert_new_rows"),
                sql: format!(
                    "INSERT INTO {mart} ({cols}) SELECT {cols} FROM {stage} WHERE NOT EXISTS \
                     (SELECT 1 FROM {mart} WHERE {})",
                    key_match(&mart, stage)
                ),
            });
        }
    }
    if let Some(retention) = table.retention {
        let col = quote(&table.retention_column);
        let secs = retention.as_secs();
        let cutoff = if table.schema.is_timestamp(&table.retention_column) {
            format!("(SELECT max({col}) FROM {mart}) - INTERVAL '{secs} seconds'")
        } else {
            format!("(SELECT max({col}) FROM {mart}) - {secs}")
        };
        statements.push(Statement {
            name: name("retention_trim", "target_retention_trim"),
            sql: format!("DELETE FROM {mart} WHERE {col} < {cutoff}"),
        });
    }
    statements
}

/// Indexes a PostgreSQL mart needs: a unique one on the key (the merge's DELETE and
/// anti-join probe it, and it makes a duplicate key impossible) and one on the watermark
/// (each cycle starts with `max(watermark)`). Redshift has no indexes (DISTKEY/SORTKEY
/// instead) and DuckDB needs none at these sizes.
/// An index of a mart: its name (unquoted) and its `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub sql: String,
}

pub fn create_indexes(dialect: Dialect, table: &TableConfig) -> Vec<Index> {
    if dialect != Dialect::Postgres {
        return Vec::new();
    }
    let mart = quote(&table.name);
    let keys = table
        .key
        .iter()
        .map(|k| quote(k))
        .collect::<Vec<_>>()
        .join(", ");
    let (key, watermark) = (
        format!("{}_key", table.name).to_ascii_lowercase(),
        format!("{}_watermark", table.name).to_ascii_lowercase(),
    );
    vec![
        Index {
            sql: format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {mart} ({keys})",
                quote(&key)
            ),
            name: key,
        },
        Index {
            sql: format!(
                "CREATE INDEX IF NOT EXISTS {} ON {mart} ({})",
                quote(&watermark),
                quote(&table.watermark)
            ),
            name: watermark,
        },
    ]
}

/// PostgreSQL: does a relation (table or index) of this name exist in the current schema?
pub const RELATION_EXISTS: &str = "SELECT to_regclass(quote_ident($1)) IS NOT NULL";

/// PostgreSQL: serializes the DDL of concurrent runs (two `CREATE TABLE IF NOT EXISTS` of
/// one name at once can fail on the catalog's unique index); released at COMMIT.
pub const DDL_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('martsync ensure_tables'))";

/// The columns of a mart, lower case (`$1`: the mart's name).
pub fn mart_columns(dialect: Dialect) -> String {
    format!(
        "SELECT lower(column_name) FROM information_schema.columns WHERE table_name = {} \
         AND table_schema = {}",
        placeholder(dialect, 1),
        current_schema(dialect)
    )
}

/// The schema unqualified names resolve to, as SQL.
fn current_schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::DuckDb => "'main'",
        Dialect::Postgres | Dialect::Redshift => "current_schema()",
    }
}

/// The `ALTER TABLE … ADD COLUMN` of each column of `table` the mart does not have (`have`:
/// its columns, lower case), with the column's name. Added columns are nullable: older rows
/// have no value.
pub fn add_missing_columns(
    dialect: Dialect,
    table: &TableConfig,
    have: &std::collections::HashSet<String>,
) -> Vec<(String, String)> {
    table
        .schema
        .columns
        .iter()
        .filter(|c| !have.contains(&c.name))
        .map(|c| {
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(&table.name),
                quote(&c.name),
                c.mapped.warehouse.sql(dialect)
            );
            (c.name.clone(), sql)
        })
        .collect()
}

/// Serializes merges into one mart (and its targets) while letting readers read. Redshift
/// has a single `LOCK` mode; PostgreSQL's SHARE ROW EXCLUSIVE conflicts with itself but not
/// with SELECT.
pub fn lock_mart(dialect: Dialect, table: &TableConfig) -> Option<String> {
    let mart = table
        .written_tables()
        .iter()
        .map(|t| quote(&t.name))
        .collect::<Vec<_>>()
        .join(", ");
    match dialect {
        Dialect::DuckDb => None,
        Dialect::Postgres => Some(format!("LOCK TABLE {mart} IN SHARE ROW EXCLUSIVE MODE")),
        Dialect::Redshift => Some(format!("LOCK {mart}")),
    }
}

/// Whether a run id already committed (the merge is then a no-op).
pub fn check_run_id(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM {RUNS_TABLE} WHERE run_id = {}",
        placeholder(dialect, 1)
    )
}

/// Creates the temp table a run is loaded into, with the mart's columns (and, on Redshift,
/// its distribution and sort keys, so the merge joins locally). PostgreSQL drops it at
/// COMMIT; Redshift temp tables live for the session, so they are dropped first and after.
pub fn create_stage_table(dialect: Dialect, table: &TableConfig) -> Vec<String> {
    let mart = quote(&table.name);
    let stage = stage_table(table);
    match dialect {
        Dialect::DuckDb => vec![
            format!("DROP TABLE IF EXISTS temp.{stage}"),
            format!("CREATE TEMP TABLE {stage} AS SELECT * FROM {mart} LIMIT 0"),
        ],
        Dialect::Postgres => vec![format!(
            "CREATE TEMP TABLE {stage} (LIKE {mart}) ON COMMIT DROP"
        )],
        Dialect::Redshift => vec![
            format!("DROP TABLE IF EXISTS {stage}"),
            format!("CREATE TEMP TABLE {stage} (LIKE {mart})"),
        ],
    }
}

/// Drops the temp table before COMMIT where the dialect keeps it for the session.
pub fn drop_stage_table(dialect: Dialect, table: &TableConfig) -> Option<String> {
    let stage = stage_table(table);
    match dialect {
        Dialect::DuckDb => Some(format!("DROP TABLE IF EXISTS temp.{stage}")),
        Dialect::Postgres => None,
        Dialect::Redshift => Some(format!("DROP TABLE {stage}")),
    }
}

/// DuckDB: loads the staged Parquet files (local paths) into the stage table.
pub fn load_parquet_files(table: &TableConfig, files: &[String]) -> String {
    let cols = quoted_columns(table);
    let files = files
        .iter()
        .map(|f| literal(f))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM read_parquet([{files}])",
        stage_table(table)
    )
}

/// How a run's staged files reach the warehouse, for [`merge_plan`].
#[derive(Debug, Clone)]
pub enum Load {
    /// DuckDB reads these local Parquet files.
    Files(Vec<String>),
    /// PostgreSQL: the client streams the staged rows as binary COPY.
    Stdin,
    /// Redshift COPYs the files a manifest lists, as this role.
    Manifest { url: String, iam_role: String },
}

/// Whether PostgreSQL may copy a run straight into the mart when the mart is empty (an
/// initial load): the run is deduped, so there is nothing to replace, and the temp table and
/// joins would only double the work. Not when the mart has targets: they are fed from the
/// temp table. Only then is the mart's emptiness asked (`check_empty`).
pub fn may_copy_direct(dialect: Dialect, table: &TableConfig) -> bool {
    dialect == Dialect::Postgres && table.targets.is_empty()
}

/// Every statement of one merge, in the order the warehouses run them, for `explain`. The
/// warehouses call these same functions one by one (values bound as parameters) in this
/// order; a change to the order there belongs here too. `empty_mart`: see [`may_copy_direct`].
pub fn merge_plan(
    dialect: Dialect,
    table: &TableConfig,
    load: &Load,
    empty_mart: bool,
) -> Vec<Statement> {
    let direct = may_copy_direct(dialect, table) && empty_mart;
    let mut plan = Vec::new();
    let mut add = |name: &'static str, sql: String| plan.push(Statement { name, sql });
    add("begin", "BEGIN".into());
    if let Some(sql) = lock_mart(dialect, table) {
        add("lock_mart", sql);
    }
    add("check_run_id", check_run_id(dialect));
    if may_copy_direct(dialect, table) {
        add("check_empty", any_row(table));
    }
    if !direct {
        for sql in create_stage_table(dialect, table) {
            add("create_stage_table", sql);
        }
    }
    match load {
        Load::Files(files) => add("load_stage", load_parquet_files(table, files)),
        Load::Stdin => add("load_stage", copy_from_stdin(table, direct)),
        Load::Manifest { url, iam_role } => {
            add("load_stage", copy_from_manifest(table, url, iam_role));
            add("loaded_rows", LAST_COPY_COUNT.into());
        }
    }
    for statement in merge_statements(dialect, table) {
        if !direct || matches!(statement.name, "retention_trim" | "record_run") {
            add(statement.name, statement.sql);
        }
    }
    if let Some(sql) = drop_stage_table(dialect, table).filter(|_| !direct) {
        add("drop_stage_table", sql);
    }
    add("commit", "COMMIT".into());
    plan
}

/// PostgreSQL: the binary COPY the staged rows are streamed into: the stage table, or the
/// mart itself (`direct`, for an empty mart).
pub fn copy_from_stdin(table: &TableConfig, direct: bool) -> String {
    let cols = quoted_columns(table);
    let target = if direct {
        quote(&table.name)
    } else {
        stage_table(table)
    };
    format!("COPY {target} ({cols}) FROM STDIN (FORMAT binary)")
}

/// One row of the mart, if it has any (is it empty?).
pub fn any_row(table: &TableConfig) -> String {
    format!("SELECT 1 FROM {} LIMIT 1", quote(&table.name))
}

/// Redshift: COPY of every file the run's manifest lists. The staged Parquet has the mart's
/// columns in the mart's order, so no column list is needed.
pub fn copy_from_manifest(table: &TableConfig, manifest_url: &str, iam_role: &str) -> String {
    format!(
        "COPY {} FROM {} IAM_ROLE {} FORMAT AS PARQUET MANIFEST",
        stage_table(table),
        literal(manifest_url),
        literal(iam_role)
    )
}

/// Redshift: rows the session's last COPY loaded.
pub const LAST_COPY_COUNT: &str = "SELECT pg_last_copy_count()";

/// Redshift: why the session's last COPY failed (asked after the ROLLBACK, on the same
/// session, so it is that COPY's detail and no other's).
pub const LOAD_ERRORS: &str = "SELECT trim(file_name), line_number, trim(column_name), \
     trim(error_message) FROM sys_load_error_detail WHERE query_id = pg_last_copy_id() \
     ORDER BY line_number LIMIT 5";

/// The rows `export` reads: the mart's columns of another table, each cast to the mart's
/// type (a staging table may type them more loosely).
pub fn select_columns(dialect: Dialect, table: &TableConfig, from: &str) -> String {
    let columns = table
        .schema
        .columns
        .iter()
        .map(|c| {
            let name = quote(&c.name);
            format!(
                "CAST({name} AS {}) AS {name}",
                c.mapped.warehouse.sql(dialect)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {columns} FROM {}", quote(from))
}

/// Labels of the batches committed to a mart.
pub fn committed_batches(dialect: Dialect) -> String {
    format!(
        "SELECT batch FROM {RUNS_TABLE} WHERE mart = {} AND batch IS NOT NULL",
        placeholder(dialect, 1)
    )
}

/// Whether a table exists in the connection's current schema (1 or 0).
pub fn table_exists(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = {} AND table_schema = {}",
        placeholder(dialect, 1),
        current_schema(dialect)
    )
}

/// The mart's largest watermark (as [`max_as_i64`]): an index lookup where there is one, so
/// every cycle starts in constant time (no count).
pub fn max_watermark(dialect: Dialect, table: &TableConfig) -> String {
    format!(
        "SELECT {} FROM {}",
        max_as_i64(dialect, table, &table.watermark),
        quote(&table.name)
    )
}

/// Row count and largest watermark (as [`max_as_i64`]) of a mart.
pub fn mart_summary(dialect: Dialect, table: &TableConfig) -> String {
    format!(
        "SELECT count(*), {} FROM {}",
        max_as_i64(dialect, table, &table.watermark),
        quote(&table.name)
    )
}

/// Runs count of a mart.
pub fn count_runs(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM {RUNS_TABLE} WHERE mart = {}",
        placeholder(dialect, 1)
    )
}

/// The last `limit` committed runs of a mart, newest first, times as epoch ms. The limit is
/// a literal: Redshift does not take a parameter there.
pub fn recent_runs(dialect: Dialect, limit: usize) -> String {
    let ms = |column: &str| match dialect {
        Dialect::DuckDb => format!("epoch_ms({column})"),
        Dialect::Postgres | Dialect::Redshift => {
            format!("CAST(extract(epoch FROM {column}) * 1000 AS BIGINT)")
        }
    };
    format!(
        "SELECT run_id, batch, {}, {}, watermark_to, rows_extracted, rows_deduped, \
         rows_rejected, rows_deleted, rows_inserted, rows_trimmed, bytes_staged, extract_ms, \
         dedup_ms, stage_ms, merge_ms FROM {RUNS_TABLE} WHERE mart = {} \
         ORDER BY committed_at DESC, run_id DESC LIMIT {limit}",
        ms("started_at"),
        ms("committed_at"),
        placeholder(dialect, 1),
    )
}
