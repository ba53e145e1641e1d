//! The plan of one merge ([`merge_plan`]): lock, run-id check, temp table, load (each
//! dialect its own way), the stale-version drop, delete, insert and trim of the mart and its
//! targets, the run record, COMMIT.

use super::{
    Dialect, RUNS_COLUMNS, RUNS_TABLE, epoch_ms_to_timestamp, epoch_us_to_timestamp, literal,
    placeholder, quote, quote_list, quoted_columns,
};
use crate::config::{ARRIVAL_COLUMN, CHANGE_MARKER, StageUrl, Strategy, TableConfig};
use crate::schema::WarehouseType;
use crate::warehouse::plan::{Bind, MergePlan, Reads, Run, Statement, Step, StepName, When};

/// Name of the temp table a run is loaded into.
pub fn stage_table(table: &TableConfig) -> String {
    quote(&format!("stage_{}", table.name))
}

/// The statements of one merge after the staged rows are in the stage table, in order:
/// drop stale versions, delete replaced rows, insert, trim; the same for each target (fed
/// the rows left after the mart dropped its stale ones); record the run.
pub fn merge_statements(dialect: Dialect, table: &TableConfig) -> Vec<Statement> {
    merge_steps(dialect, table)
        .iter()
        .map(Step::statement)
        .collect()
}

/// The steps of [`merge_statements`]. Everything but the retention trim and the run record
/// goes through the temp table, so the direct copy into an empty mart skips it.
fn merge_steps(dialect: Dialect, table: &TableConfig) -> Vec<Step> {
    let stage = stage_table(table);
    let mut steps = apply_to(dialect, table, &stage, false);
    for target in &table.targets {
        steps.extend(apply_to(dialect, &table.as_target(target), &stage, true));
    }
    steps.push(record_run_step(dialect));
    steps
}

/// The run's ledger row, inserted inside the transaction it records.
fn record_run_step(dialect: Dialect) -> Step {
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
    Step::execute(
        StepName::RecordRun,
        format!(
            "INSERT INTO {RUNS_TABLE} ({}) VALUES ({values})",
            RUNS_COLUMNS.join(", ")
        ),
        Reads::Nothing,
    )
    .bind(Bind::RunRecord)
}

/// Applies the rows of `stage` to `table` (a mart, or one of its targets): the stale-version
/// drop (mart only: it leaves in the stage the rows newer than the mart's, which are newer
/// than a target's too), delete, insert, trim.
fn apply_to(dialect: Dialect, table: &TableConfig, stage: &str, target: bool) -> Vec<Step> {
    let mart = quote(&table.name);
    let cols = quoted_columns(table);
    // Statement names are what errors and counts go by; a target's are prefixed.
    let name = |mart_name: StepName, target_name: StepName| {
        if target { target_name } else { mart_name }
    };
    let through_stage = |name: StepName, sql: String, reads: Reads| {
        Step::execute(name, sql, reads).when(When::ThroughStage)
    };
    let key_match = |left: &str, right: &str| key_match(table, left, right);
    let mut steps = Vec::new();
    match table.strategy {
        Strategy::Latest => {
            let version = quote(
                table
                    .version
                    .as_deref()
                    .expect("latest tables have a version"),
            );
            // A staged row the mart already holds as it is (the lookback overlap re-reads every
            // row of the last 30 minutes), or, under the version guard, holds at a newer
            // version, changes nothing: dropping it here saves the delete and insert, and
            // Redshift's tombstones.
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
                    // Redshift's `=` ignores trailing blanks of VARCHAR values, LENGTH counts
                    // them ("Examples with character types", "Trailing blanks"): without the
                    // length, a value changed only in trailing spaces would be dropped as
                    // unchanged and never reach the mart.
                    let equal = match (dialect, &c.mapped.warehouse) {
                        (Dialect::Redshift, WarehouseType::Varchar(_)) => {
                            format!("({m} = {s} AND length({m}) = length({s}))")
                        }
                        // PostgreSQL: `IS NOT DISTINCT FROM` can be neither a hash nor a merge
                        // join's condition, so the key is the join's only one and the mart
                        // is probed by its key index. With `=` the planner may merge-join on
                        // the version instead: with 52k staged rows sharing one update_time
                        // against a 1M-row mart, the drop ran for 12 minutes before it was
                        // cancelled, and takes 0.26 s probing the key (`psql`, same data).
                        (Dialect::Postgres, _) => {
                            return format!("{m} IS NOT DISTINCT FROM {s}");
                        }
                        _ => format!("{m} = {s}"),
                    };
                    if c.nullable {
                        format!("({equal} OR ({m} IS NULL AND {s} IS NULL))")
                    } else {
                        equal
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND ");
            if table.replace_only && !target {
                // A refresh: the mart's new keys come from its own cycles (whose watermark a
                // refreshed row must not move), so a key the mart does not hold is dropped.
                steps.push(through_stage(
                    StepName::DropNewKeys,
                    format!(
                        "DELETE FROM {stage} WHERE NOT EXISTS (SELECT 1 FROM {mart} WHERE {})",
                        key_match(&mart, stage)
                    ),
                    Reads::Nothing,
                ));
            }
            if !target {
                // A refresh run's version is its key, and an unguarded run's rows are the
                // source's current ones: only unchanged rows are dropped.
                let (step, newer) = if table.replace_only || !table.guards_versions() {
                    (StepName::DropUnchangedRows, String::new())
                } else {
                    (
                        StepName::DropStaleVersions,
                        format!("{mart}.{version} > {stage}.{version} OR "),
                    )
                };
                // Both conditions need the mart's version at or above the staged row's, so at
                // or above the least staged version (`$1`, bound from the run's rows): a range
                // on the version, which Redshift's zone maps answer by skipping the blocks of
                // older rows when the sort key leads with it, as the tracking mart's does
                // ("Choose the best sort key": a range on the leading sort key column skips
                // whole blocks), so comparing every column reads recent blocks only; the
                // DELETE that follows reads the key alone, as the seed's cost analysis has it.
                let since = match dialect {
                    Dialect::DuckDb => "?".to_string(),
                    Dialect::Postgres | Dialect::Redshift => "$1".to_string(),
                };
                let version_is_timestamp = table
                    .version
                    .as_deref()
                    .is_some_and(|v| table.schema.is_timestamp(v));
                let since = if version_is_timestamp {
                    epoch_us_to_timestamp(dialect, &since)
                } else {
                    format!("CAST({since} AS BIGINT)")
                };
                steps.push(
                    through_stage(
                        step,
                        format!(
                            "DELETE FROM {stage} USING {mart} WHERE {} AND {mart}.{version} >= {since} \
                             AND ({newer}({same_row}))",
                            key_match(stage, &mart)
                        ),
                        Reads::Nothing,
                    )
                    .bind(Bind::MinVersion),
                );
            }
            steps.push(through_stage(
                name(StepName::DeleteReplaced, StepName::TargetDeleteReplaced),
                delete_replaced(dialect, table, stage),
                // A target's rows are not the mart's: only the mart's are counted.
                if target {
                    Reads::Nothing
                } else {
                    Reads::Deleted
                },
            ));
            steps.push(through_stage(
                name(StepName::InsertRows, StepName::TargetInsertRows),
                format!("INSERT INTO {mart} ({cols}) SELECT {cols} FROM {stage}"),
                if target {
                    Reads::Nothing
                } else {
                    Reads::Inserted
                },
            ));
        }
        Strategy::Append => {
            steps.push(through_stage(
                name(StepName::InsertNewRows, StepName::TargetInsertNewRows),
                format!(
                    "INSERT INTO {mart} ({cols}) SELECT {cols} FROM {stage} WHERE NOT EXISTS \
                     (SELECT 1 FROM {mart} WHERE {})",
                    key_match(&mart, stage)
                ),
                if target {
                    Reads::Nothing
                } else {
                    Reads::Inserted
                },
            ));
        }
    }
    steps.extend(retention_trim(dialect, table, target));
    steps
}

/// The DELETE of the rows of `table` whose keys `stage` holds.
///
/// PostgreSQL, one key column: the keys are probed in the mart's unique key index, always.
/// With `USING`, the planner estimates the temp table from its pages (never analyzed, and
/// holding the dead rows of the drops before), and past a few percent of the mart it
/// chose a hash join over a scan of the whole mart: 303 ms for 54k keys against a
/// 1M-row mart in the cycle bench, where probing takes 80–110 ms (`psql`, same data); the
/// scan grows with the mart, the probes with the run.
fn delete_replaced(dialect: Dialect, table: &TableConfig, stage: &str) -> String {
    let mart = quote(&table.name);
    match (dialect, table.key.as_slice()) {
        (Dialect::Postgres, [key]) => {
            let key = quote(key);
            format!("DELETE FROM {mart} WHERE {key} = ANY(ARRAY(SELECT {key} FROM {stage}))")
        }
        _ => format!(
            "DELETE FROM {mart} USING {stage} WHERE {}",
            key_match(table, &mart, stage)
        ),
    }
}

/// The retention trim of `table` (a mart, or one of its targets), relative to its newest row.
fn retention_trim(dialect: Dialect, table: &TableConfig, target: bool) -> Option<Step> {
    let mart = quote(&table.name);
    let name = |mart_name: StepName, target_name: StepName| {
        if target { target_name } else { mart_name }
    };
    let retention = table.retention?;
    let col = quote(&table.retention_column);
    let secs = retention.as_secs();
    let condition = match (table.schema.is_timestamp(&table.retention_column), dialect) {
        // DuckDB without its ICU extension (not bundled) has no TIMESTAMPTZ - INTERVAL:
        // the trim compares microseconds since the epoch instead.
        (true, Dialect::DuckDb) => format!(
            "epoch_us({col}) < (SELECT epoch_us(max({col})) FROM {mart}) - {}",
            u128::from(secs) * 1_000_000
        ),
        (true, _) => {
            format!("{col} < (SELECT max({col}) FROM {mart}) - INTERVAL '{secs} seconds'")
        }
        (false, _) => format!("{col} < (SELECT max({col}) FROM {mart}) - {secs}"),
    };
    let trim = Step::execute(
        name(StepName::RetentionTrim, StepName::TargetRetentionTrim),
        format!("DELETE FROM {mart} WHERE {condition}"),
        if target {
            Reads::Nothing
        } else {
            Reads::Trimmed
        },
    );
    // The mart's own trim runs on the direct copy too; a target's needs the temp table's
    // branch (a mart with targets never copies directly).
    Some(if target {
        trim.when(When::ThroughStage)
    } else {
        trim
    })
}

/// Serializes merges into one mart (and its targets) while letting readers read, on
/// PostgreSQL: SHARE ROW EXCLUSIVE conflicts with itself but not with SELECT. Runs are
/// already serialized by the hold each takes from before its extraction
/// ([`super::hold_lock`]); this also keeps out a writer that is not martsync.
///
/// Not on Redshift: its LOCK has one mode, ACCESS EXCLUSIVE, which blocks reads too ("LOCK",
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html>), and the marts' readers must
/// not wait for a merge. The hold's lock is on a table of its own, which no reader touches.
pub fn lock_mart(dialect: Dialect, table: &TableConfig) -> Option<String> {
    let mart = table
        .written_tables()
        .iter()
        .map(|t| quote(&t.name))
        .collect::<Vec<_>>()
        .join(", ");
    match dialect {
        Dialect::DuckDb | Dialect::Redshift => None,
        Dialect::Postgres => Some(format!("LOCK TABLE {mart} IN SHARE ROW EXCLUSIVE MODE")),
    }
}

/// Redshift: serializes the merges of all marts on the run ledger, before anything reads it.
/// Every merge reads `martsync_runs` (its run-id check) and inserts into it (its run
/// record); two such transactions at once, each reading what the other writes, have no
/// serial order, and Redshift cancels one with error 1023 ("Troubleshooting serializable
/// isolation errors": force serialization by locking the tables each transaction uses).
/// The lock is ACCESS EXCLUSIVE ("LOCK"), so merges of different marts take turns for their
/// short DML part; only readers of the ledger (`status`) wait, never readers of a mart.
/// PostgreSQL's read-committed merges need no such lock.
pub fn lock_runs(dialect: Dialect) -> Option<String> {
    match dialect {
        Dialect::Redshift => Some(format!("LOCK {RUNS_TABLE}")),
        Dialect::DuckDb | Dialect::Postgres => None,
    }
}

/// Whether a run id already committed (the merge is then a no-op).
pub fn check_run_id(dialect: Dialect) -> String {
    format!(
        "SELECT count(*) FROM {RUNS_TABLE} WHERE run_id = {}",
        placeholder(dialect, 1)
    )
}

/// Creates the temp table a run is loaded into, with the mart's columns. PostgreSQL drops
/// it at COMMIT; Redshift temp tables live for the session, so they are dropped first and
/// after.
///
/// On Redshift it has exactly the staged files' columns (the run's, in their order), with the
/// mart's types, distributed and sorted by the key so the merge joins locally: COPY from
/// Parquet fills columns by position and needs the table and the files to have the same
/// number of columns ("COPY from columnar data formats"), and a mart widened by
/// `allow_new_columns` has more columns than a replay, seed or backfill stages.
///
/// A `binlog`-mode run's table ([`TableConfig::with_change_marker`]) gets the marker column
/// after the mart's, as its staged files have it.
pub fn create_stage_table(dialect: Dialect, table: &TableConfig) -> Vec<String> {
    let mart = quote(&table.name);
    let stage = stage_table(table);
    let extra = staged_extra_column(table);
    let extra_as = extra.map_or(String::new(), |(name, sql_type)| {
        format!(", CAST(0 AS {sql_type}) AS {}", quote(name))
    });
    match dialect {
        Dialect::DuckDb => vec![
            format!("DROP TABLE IF EXISTS temp.{stage}"),
            format!("CREATE TEMP TABLE {stage} AS SELECT *{extra_as} FROM {mart} LIMIT 0"),
        ],
        Dialect::Postgres => match extra {
            Some((name, sql_type)) => vec![format!(
                "CREATE TEMP TABLE {stage} (LIKE {mart}, {} {sql_type} NOT NULL) ON COMMIT DROP",
                quote(name)
            )],
            None => vec![format!(
                "CREATE TEMP TABLE {stage} (LIKE {mart}) ON COMMIT DROP"
            )],
        },
        Dialect::Redshift => {
            let keys = table.key.iter().map(|k| quote(k)).collect::<Vec<_>>();
            vec![
                format!("DROP TABLE IF EXISTS {stage}"),
                format!(
                    "CREATE TEMP TABLE {stage} DISTKEY({}) SORTKEY({}) AS SELECT {}{extra_as} FROM {mart} WHERE 1 = 0",
                    quote(&table.dist_key),
                    keys.join(", "),
                    quoted_columns(&table.without_change_marker().without_arrival_column())
                ),
            ]
        }
    }
}

/// The column a staged run has after the mart's, with its SQL type: the change marker of a
/// `binlog`-mode run, the arrival number of raw rows for the warehouse to rank.
fn staged_extra_column(table: &TableConfig) -> Option<(&'static str, &'static str)> {
    if table.has_change_marker() {
        Some((CHANGE_MARKER, "SMALLINT"))
    } else if table.has_arrival_column() {
        Some((ARRIVAL_COLUMN, "BIGINT"))
    } else {
        None
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

/// DuckDB: loads the staged Parquet files (local paths) into the stage table, or into the
/// mart itself (`direct`, for an empty mart).
pub fn load_parquet_files(table: &TableConfig, files: &[String], direct: bool) -> String {
    let cols = quoted_columns(table);
    let target = if direct {
        quote(&table.name)
    } else {
        stage_table(table)
    };
    let files = files
        .iter()
        .map(|f| literal(f))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM read_parquet([{files}])")
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

impl Load {
    /// The load of a run staged under `run` (`<mart>/<run id>`) as `explain` shows it: the
    /// first part's path, or the manifest's URL.
    pub fn placeholder(
        dialect: Dialect,
        stage: &StageUrl,
        iam_role: Option<&str>,
        run: &str,
    ) -> Load {
        match (dialect, stage) {
            (Dialect::DuckDb, StageUrl::File(dir)) => {
                // The file stage resolves its folder to an absolute path, and so do the
                // paths DuckDB is given.
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                Load::Files(vec![format!("{}/{run}/part-00000.parquet", dir.display())])
            }
            (Dialect::Redshift, stage) => Load::Manifest {
                url: format!("{stage}/{run}/manifest.json"),
                iam_role: iam_role.unwrap_or_default().to_string(),
            },
            _ => Load::Stdin,
        }
    }
}

/// Whether a run may be loaded straight into the mart when the mart is empty (an initial
/// load, a replay's first file): the run is deduped, so there is nothing to replace, and the
/// temp table and joins would only double the work (DuckDB, 2M rows: 0.23 s into the temp
/// table plus 0.52 s from it into the mart). Not when the mart has targets: they are fed
/// from the temp table. Only then is the mart's emptiness asked (`check_empty`). Not on
/// Redshift, whose plan stays the one its golden file and rules were checked against.
pub fn may_copy_direct(dialect: Dialect, table: &TableConfig) -> bool {
    dialect != Dialect::Redshift && table.targets.is_empty()
}

/// The plan of one merge: every statement from `BEGIN` to `COMMIT` with what its result
/// means. The executor runs it; `explain` prints it ([`MergePlan::statements`]).
pub fn merge_plan(dialect: Dialect, table: &TableConfig, load: &Load) -> MergePlan {
    let mut steps = opening_steps(dialect, table);
    let direct = may_copy_direct(dialect, table);
    if direct {
        steps.push(Step::query(
            StepName::CheckEmpty,
            any_row(table),
            Reads::MartRow,
        ));
    }
    for sql in create_stage_table(dialect, table) {
        steps.push(
            Step::execute(StepName::CreateStageTable, sql, Reads::Nothing).when(When::ThroughStage),
        );
    }
    steps.extend(load_steps(table, load, direct));
    steps.extend(merge_steps(dialect, table));
    steps.extend(closing_steps(dialect, table));
    MergePlan { steps }
}

/// The plan of a reconcile run: its staged keys (keys the mart holds that the source no
/// longer has) are deleted from the mart and each of its targets, in one transaction with
/// the run's ledger row. `keys`: the mart with only its key columns, as the keys are staged.
pub fn delete_keys_plan(dialect: Dialect, keys: &TableConfig, load: &Load) -> MergePlan {
    let mut steps = opening_steps(dialect, keys);
    let (mart, stage) = (quote(&keys.name), stage_table(keys));
    let key_cols = quoted_columns(keys);
    let create = match dialect {
        Dialect::DuckDb => vec![
            format!("DROP TABLE IF EXISTS temp.{stage}"),
            format!("CREATE TEMP TABLE {stage} AS SELECT {key_cols} FROM {mart} LIMIT 0"),
        ],
        Dialect::Postgres => vec![format!(
            "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {key_cols} FROM {mart} LIMIT 0"
        )],
        // COPY fills the key columns by position ("COPY from columnar data formats").
        Dialect::Redshift => vec![
            format!("DROP TABLE IF EXISTS {stage}"),
            format!("CREATE TEMP TABLE {stage} AS SELECT {key_cols} FROM {mart} WHERE 1 = 0"),
        ],
    };
    for sql in create {
        steps.push(Step::execute(
            StepName::CreateStageTable,
            sql,
            Reads::Nothing,
        ));
    }
    steps.extend(load_steps(keys, load, false));
    steps.extend(delete_staged_keys(
        keys,
        &stage,
        StepName::DeleteMissing,
        StepName::TargetDeleteMissing,
    ));
    steps.push(record_run_step(dialect));
    steps.extend(closing_steps(dialect, keys));
    MergePlan { steps }
}

/// The plan of a `binlog`-mode run. Its staged rows (`changes`, the mart with
/// [`CHANGE_MARKER`]) are one per key the source's changes touched, in the state the source
/// left it: deleted (marked 1, its last image) or the row it holds now (marked 0). Every
/// touched key is deleted from the mart and each target, the deleted ones are dropped from
/// the temp table, and the rest inserted: the binary log's last image of a key is the
/// source's row, whatever its version or the strategy (an append mart's row that the source
/// updated is replaced too: Gap 1 and Gap 2 need no refresh). Then the trims and the run
/// record, whose binlog position commits with the rows.
pub fn changes_plan(dialect: Dialect, changes: &TableConfig, load: &Load) -> MergePlan {
    let mart = changes.without_change_marker();
    let mut steps = opening_steps(dialect, &mart);
    steps.extend(staging_steps(dialect, changes, load));
    let stage = stage_table(changes);
    steps.extend(delete_staged_keys(
        &mart,
        &stage,
        StepName::DeleteChanged,
        StepName::TargetDeleteChanged,
    ));
    let written = mart.written_tables();
    steps.push(Step::execute(
        StepName::DropDeletedRows,
        format!("DELETE FROM {stage} WHERE {} = 1", quote(CHANGE_MARKER)),
        Reads::Nothing,
    ));
    for (i, table) in written.iter().enumerate() {
        let cols = quoted_columns(table);
        let sql = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage}",
            quote(&table.name)
        );
        steps.push(if i == 0 {
            Step::execute(StepName::InsertRows, sql, Reads::Inserted)
        } else {
            Step::execute(StepName::TargetInsertRows, sql, Reads::Nothing)
        });
        steps.extend(retention_trim(dialect, table, i > 0));
    }
    steps.push(record_run_step(dialect));
    steps.extend(closing_steps(dialect, changes));
    MergePlan { steps }
}

/// The plan of a run whose raw rows the warehouse ranks (`dedup = "warehouse"`). `raw`: the
/// mart with [`ARRIVAL_COLUMN`], numbering the staged rows in arrival order. After the load,
/// every staged row that is not its key's winner is deleted from the temp table by the
/// rule martsync's own dedup applies ([`rank_staged`]); the rest is the ordinary merge of
/// one row per key.
pub fn ranked_plan(dialect: Dialect, raw: &TableConfig, load: &Load) -> MergePlan {
    let mart = raw.without_arrival_column();
    let mut steps = opening_steps(dialect, &mart);
    steps.extend(staging_steps(dialect, raw, load));
    steps.push(Step::execute(
        StepName::RankStaged,
        rank_staged(raw),
        Reads::Nothing,
    ));
    steps.extend(merge_steps(dialect, &mart));
    steps.extend(closing_steps(dialect, raw));
    MergePlan { steps }
}

/// Deletes the staged raw rows that lose: per key, all but the greatest version with ties to
/// the later arrival (`latest`; the later arrival alone without a version), or all but the
/// first arrival (`append`). Arrival numbers are unique within a run, so they name the rows.
/// Redshift's DELETE takes tables only in USING but subqueries in its WHERE condition
/// (Redshift Database Developer Guide, "DELETE"), so the ranking is a subquery there, in the
/// same form for every dialect.
pub fn rank_staged(raw: &TableConfig) -> String {
    let stage = stage_table(raw);
    let arrival = quote(ARRIVAL_COLUMN);
    let keys = quote_list(&raw.key);
    let order = match (raw.strategy, raw.version.as_deref()) {
        (Strategy::Latest, Some(version)) => format!("{} DESC, {arrival} DESC", quote(version)),
        (Strategy::Latest, None) => format!("{arrival} DESC"),
        (Strategy::Append, _) => format!("{arrival} ASC"),
    };
    format!(
        "DELETE FROM {stage} WHERE {arrival} IN (SELECT {arrival} FROM (SELECT {arrival}, \
         row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS martsync_rank FROM {stage}) \
         AS ranked WHERE martsync_rank > 1)"
    )
}

/// `left.k = right.k AND …` over the table's key columns.
fn key_match(table: &TableConfig, left: &str, right: &str) -> String {
    table
        .key
        .iter()
        .map(|k| format!("{left}.{k} = {right}.{k}", k = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `DELETE … USING stage` of the staged keys from the mart (`mart_step`, whose count is the
/// run's deleted rows), then from each of its targets (`target_step`).
fn delete_staged_keys(
    mart: &TableConfig,
    stage: &str,
    mart_step: StepName,
    target_step: StepName,
) -> Vec<Step> {
    let delete = |table: &TableConfig| {
        let name = quote(&table.name);
        format!(
            "DELETE FROM {name} USING {stage} WHERE {}",
            key_match(table, &name, stage)
        )
    };
    let mut steps = vec![Step::execute(mart_step, delete(mart), Reads::Deleted)];
    for target in &mart.targets {
        let target = mart.as_target(target);
        steps.push(Step::execute(target_step, delete(&target), Reads::Nothing));
    }
    steps
}

/// `BEGIN`, the locks, and the run-id check every plan starts with.
fn opening_steps(dialect: Dialect, table: &TableConfig) -> Vec<Step> {
    let mut steps = vec![Step::execute(StepName::Begin, "BEGIN", Reads::Nothing)];
    if let Some(sql) = lock_runs(dialect) {
        steps.push(Step::execute(StepName::LockRuns, sql, Reads::Nothing));
    }
    if let Some(sql) = lock_mart(dialect, table) {
        steps.push(Step::execute(StepName::LockMart, sql, Reads::Nothing));
    }
    steps.push(
        Step::query(
            StepName::CheckRunId,
            check_run_id(dialect),
            Reads::RunCommitted,
        )
        .bind(Bind::RunId),
    );
    steps
}

/// Creating the temp table of a run staged with a column after the mart's (the change
/// marker, the arrival number) and loading its files into it.
fn staging_steps(dialect: Dialect, staged: &TableConfig, load: &Load) -> Vec<Step> {
    let mut steps: Vec<Step> = create_stage_table(dialect, staged)
        .into_iter()
        .map(|sql| Step::execute(StepName::CreateStageTable, sql, Reads::Nothing))
        .collect();
    steps.extend(load_steps(staged, load, false));
    steps
}

/// Loading the run's staged files into the stage table (or, `direct`, into the empty mart).
fn load_steps(table: &TableConfig, load: &Load, direct: bool) -> Vec<Step> {
    let run = match load {
        Load::Files(_) => Run::Execute,
        Load::Stdin => Run::CopyIn,
        Load::Manifest { url, iam_role } => {
            // Both steps need files: "Regardless of any mandatory settings, COPY will
            // terminate if no files are found" (Redshift Database Developer Guide, "Using a
            // manifest to specify data files"), so a quiet cycle must not COPY at all.
            return vec![
                Step::execute(
                    StepName::LoadStage,
                    copy_from_manifest(table, url, iam_role),
                    Reads::Nothing,
                )
                .needs_files(),
                Step::query(StepName::LoadedRows, LAST_COPY_COUNT, Reads::Loaded).needs_files(),
            ];
        }
    };
    let step = |into_mart: bool, reads: Reads, when: When| {
        let sql = match load {
            Load::Files(files) => load_parquet_files(table, files, into_mart),
            _ => copy_from_stdin(table, into_mart),
        };
        Step::execute(StepName::LoadStage, sql, reads)
            .run(run)
            .when(when)
            .needs_files()
    };
    let mut steps = Vec::new();
    if direct {
        steps.push(step(true, Reads::LoadedIntoMart, When::Direct));
    }
    steps.push(step(false, Reads::Loaded, When::ThroughStage));
    steps
}

/// Dropping the stage table where the session keeps it, and `COMMIT`.
fn closing_steps(dialect: Dialect, table: &TableConfig) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(sql) = drop_stage_table(dialect, table) {
        steps.push(
            Step::execute(StepName::DropStageTable, sql, Reads::Nothing).when(When::ThroughStage),
        );
    }
    steps.push(Step::execute(StepName::Commit, "COMMIT", Reads::Nothing));
    steps
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

/// Redshift: why a run's COPY failed: the load errors recorded for its staged files, found
/// by the run's stage prefix (`$1`, e.g. `s3://bucket/stage/mart/RUN/`). Not by
/// `pg_last_copy_id()`: that is an STL query id, while `sys_load_error_detail.query_id` is a
/// SYS one ("STL_QUERY": the two identifiers differ), and it is not updated when the COPY's
/// transaction is rolled back ("PG_LAST_COPY_ID"), as a failed merge's always is. The file
/// names identify this run's errors on any session, after any rollback ("SYS_LOAD_ERROR_DETAIL":
/// `file_name` is the full path of the input file).
pub const LOAD_ERRORS: &str = "SELECT trim(file_name), line_number, trim(column_name), \
     trim(error_message) FROM sys_load_error_detail WHERE strpos(file_name, $1) = 1 \
     ORDER BY start_time DESC, line_number LIMIT 5";

/// The `$1` of [`LOAD_ERRORS`] for a run whose manifest is at `manifest_url`: the folder
/// its manifest and parts share.
pub fn load_errors_prefix(manifest_url: &str) -> &str {
    manifest_url
        .rfind('/')
        .map_or(manifest_url, |i| &manifest_url[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_records_every_timed_statement_last_and_upgrades_in_place() {
        use crate::warehouse::dialect::{add_missing_runs_columns, create_runs, timing_columns};
        let n = RUNS_COLUMNS.len();
        assert_eq!(
            RUNS_COLUMNS[n - 1 - timing_columns().len()..n - 1],
            timing_columns()[..]
        );
        for dialect in [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift] {
            let ddl = create_runs(dialect);
            for c in RUNS_COLUMNS {
                assert!(ddl.contains(&format!("  {c} ")), "{c} not in {ddl}");
            }
        }
        let have: std::collections::HashSet<String> = RUNS_COLUMNS[..n - 3]
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            add_missing_runs_columns(Dialect::Redshift, &have),
            [
                "ALTER TABLE martsync_runs ADD COLUMN trim_ms BIGINT",
                "ALTER TABLE martsync_runs ADD COLUMN targets_ms BIGINT",
                "ALTER TABLE martsync_runs ADD COLUMN source_position VARCHAR(1024)"
            ]
        );
    }
    use crate::warehouse::plan::PlanState;

    fn uti() -> TableConfig {
        crate::config::Config::embedded_default().tables.remove(0)
    }

    fn names(dialect: Dialect, load: &Load, state: PlanState) -> Vec<String> {
        merge_plan(dialect, &uti(), load)
            .statements(state)
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    }

    /// Redshift's COPY terminates on a manifest that lists no files ("Using a manifest to
    /// specify data files"): a cycle that staged nothing runs neither the COPY nor the count.
    #[test]
    fn a_redshift_cycle_that_staged_nothing_does_not_copy() {
        let load = Load::Manifest {
            url: "s3://b/p/m/RUN/manifest.json".into(),
            iam_role: "arn:aws:iam::1:role/r".into(),
        };
        let busy = PlanState {
            mart_empty: false,
            staged_files: true,
        };
        let idle = PlanState {
            staged_files: false,
            ..busy
        };
        let with = names(Dialect::Redshift, &load, busy);
        assert!(
            with.contains(&"load_stage".to_string()) && with.contains(&"loaded_rows".to_string()),
            "{with:?}"
        );
        let without = names(Dialect::Redshift, &load, idle);
        assert!(
            !without
                .iter()
                .any(|n| n == "load_stage" || n == "loaded_rows"),
            "{without:?}"
        );
        // Everything else still runs: the merge is a committed cycle of zero rows.
        assert_eq!(without.first().map(String::as_str), Some("begin"));
        assert!(without.contains(&"record_run".to_string()));
        assert_eq!(without.last().map(String::as_str), Some("commit"));
    }

    /// DuckDB and PostgreSQL load straight into an empty mart without a target, and only
    /// then; Redshift never asks.
    #[test]
    fn an_empty_mart_is_loaded_directly_except_on_redshift() {
        let state = |mart_empty| PlanState {
            mart_empty,
            staged_files: true,
        };
        let files = Load::Files(vec!["f".into()]);
        for (dialect, load) in [(Dialect::Postgres, &Load::Stdin), (Dialect::DuckDb, &files)] {
            let empty = names(dialect, load, state(true));
            assert!(empty.contains(&"check_empty".to_string()), "{empty:?}");
            assert!(
                !empty.contains(&"create_stage_table".to_string()),
                "{dialect:?}: {empty:?}"
            );
            assert!(!empty.contains(&"delete_replaced".to_string()), "{empty:?}");
            assert!(empty.contains(&"retention_trim".to_string()), "{empty:?}");
            let full = names(dialect, load, state(false));
            for step in [
                "create_stage_table",
                "drop_stale_versions",
                "delete_replaced",
                "insert_rows",
            ] {
                assert!(full.contains(&step.to_string()), "{step} missing: {full:?}");
            }
            // With a target the mart is never loaded directly: targets read the temp table.
            let mut with_target = uti();
            with_target.targets = vec![crate::config::Target {
                name: "t".into(),
                retention: None,
            }];
            let plan = merge_plan(dialect, &with_target, load);
            assert!(!plan.has_direct_copy(), "{dialect:?}");
        }
        let manifest = Load::Manifest {
            url: "s3://b/m".into(),
            iam_role: "r".into(),
        };
        let redshift = names(Dialect::Redshift, &manifest, state(true));
        assert!(
            !redshift.contains(&"check_empty".to_string())
                && redshift.contains(&"delete_replaced".to_string())
        );
    }
}
