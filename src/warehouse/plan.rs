//! A merge as data. The dialect renders one [`MergePlan`] per cycle ([`super::dialect::merge_plan`]),
//! the executor ([`super::executor`]) runs it on any backend's session, and `explain` prints
//! it: the order of a merge is written once, here and in the dialect, and nowhere else.
//!
//! A plan is a list of typed [`Step`]s: a statement name, its SQL, the values it binds and
//! what its result means to the merge. The branches a merge takes at run time are steps too:
//! - `check_empty` (DuckDB and PostgreSQL, a mart without targets): an empty mart takes the run straight
//!   from COPY, so the steps marked [`When::ThroughStage`] are skipped and those marked
//!   [`When::Direct`] run;
//! - a run that staged no files loads nothing: steps with `needs_files` are skipped (DuckDB's
//!   `read_parquet([])` is an error, Redshift's COPY refuses a manifest without files);
//! - targets (Option A) are more steps after the mart's own, fed from the same temp table.

use serde::Serialize;

/// The name of a warehouse statement: what errors, logs and `explain` call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    // What `explain` shows before a merge.
    CreateMart,
    CreateIndex,
    CreateRuns,
    CreateHoldTable,
    HoldMart,
    MaxWatermark,
    // The merge.
    Begin,
    LockRuns,
    LockMart,
    CheckRunId,
    CheckEmpty,
    CreateStageTable,
    LoadStage,
    LoadedRows,
    DropNewKeys,
    DropStaleVersions,
    DropUnchangedRows,
    DeleteReplaced,
    InsertRows,
    InsertNewRows,
    RetentionTrim,
    TargetDeleteReplaced,
    TargetInsertRows,
    TargetInsertNewRows,
    TargetRetentionTrim,
    DeleteMissing,
    TargetDeleteMissing,
    DeleteChanged,
    TargetDeleteChanged,
    DropDeletedRows,
    RankStaged,
    RecordRun,
    DropStageTable,
    Commit,
}

impl StepName {
    /// The name as errors and `explain` print it, e.g. `delete_replaced`.
    pub fn as_str(self) -> &'static str {
        use StepName::*;
        match self {
            CreateMart => "create_mart",
            CreateIndex => "create_index",
            CreateRuns => "create_runs",
            CreateHoldTable => "create_hold_table",
            HoldMart => "hold_mart",
            MaxWatermark => "max_watermark",
            Begin => "begin",
            LockRuns => "lock_runs",
            LockMart => "lock_mart",
            CheckRunId => "check_run_id",
            CheckEmpty => "check_empty",
            CreateStageTable => "create_stage_table",
            LoadStage => "load_stage",
            LoadedRows => "loaded_rows",
            DropNewKeys => "drop_new_keys",
            DropStaleVersions => "drop_stale_versions",
            DropUnchangedRows => "drop_unchanged_rows",
            DeleteReplaced => "delete_replaced",
            InsertRows => "insert_rows",
            InsertNewRows => "insert_new_rows",
            RetentionTrim => "retention_trim",
            TargetDeleteReplaced => "target_delete_replaced",
            TargetInsertRows => "target_insert_rows",
            TargetInsertNewRows => "target_insert_new_rows",
            TargetRetentionTrim => "target_retention_trim",
            DeleteMissing => "delete_missing",
            TargetDeleteMissing => "target_delete_missing",
            DeleteChanged => "delete_changed",
            TargetDeleteChanged => "target_delete_changed",
            DropDeletedRows => "drop_deleted_rows",
            RankStaged => "rank_staged",
            RecordRun => "record_run",
            DropStageTable => "drop_stage_table",
            Commit => "commit",
        }
    }
}

/// The statements whose time a merge records, each in a column of the run ledger
/// (`<name>_ms`, NULL where the merge did not run it): what `status` and the metrics tell a
/// slow merge by, and the DELETE's time the seed's Option A/B rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timed {
    /// Creating and filling the temp table (or the direct copy into an empty mart).
    Load,
    /// The stale-version, unchanged-row and new-key drops from the temp table.
    DropStale,
    /// The mart's DELETE of the rows the run replaces.
    Delete,
    Insert,
    Trim,
    /// Every statement applying the run to the mart's targets.
    Targets,
}

impl Timed {
    pub const ALL: [Timed; 6] = [
        Timed::Load,
        Timed::DropStale,
        Timed::Delete,
        Timed::Insert,
        Timed::Trim,
        Timed::Targets,
    ];

    /// The name metrics and `status` use, e.g. `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Timed::Load => "load",
            Timed::DropStale => "drop_stale",
            Timed::Delete => "delete",
            Timed::Insert => "insert",
            Timed::Trim => "trim",
            Timed::Targets => "targets",
        }
    }

    /// Its column in the run ledger.
    pub fn column(self) -> &'static str {
        match self {
            Timed::Load => "load_ms",
            Timed::DropStale => "drop_stale_ms",
            Timed::Delete => "delete_ms",
            Timed::Insert => "insert_ms",
            Timed::Trim => "trim_ms",
            Timed::Targets => "targets_ms",
        }
    }
}

impl StepName {
    /// What the statement's time counts towards, if the ledger records it.
    pub fn timed(self) -> Option<Timed> {
        use StepName::*;
        Some(match self {
            CreateStageTable | LoadStage | LoadedRows => Timed::Load,
            DropNewKeys | DropStaleVersions | DropUnchangedRows | DropDeletedRows | RankStaged => {
                Timed::DropStale
            }
            DeleteReplaced | DeleteMissing | DeleteChanged => Timed::Delete,
            InsertRows | InsertNewRows => Timed::Insert,
            RetentionTrim => Timed::Trim,
            TargetDeleteReplaced | TargetInsertRows | TargetInsertNewRows | TargetRetentionTrim
            | TargetDeleteMissing | TargetDeleteChanged => Timed::Targets,
            _ => return None,
        })
    }
}

/// Milliseconds per [`Timed`] statement of one merge (`None`: not run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings([Option<i64>; Timed::ALL.len()]);

impl Timings {
    fn index(timed: Timed) -> usize {
        Timed::ALL.iter().position(|t| *t == timed).expect("in ALL")
    }

    /// Counts `ms` more towards `timed`.
    pub fn add(&mut self, timed: Timed, ms: i64) {
        let slot = &mut self.0[Self::index(timed)];
        *slot = Some(slot.unwrap_or(0) + ms);
    }

    pub fn get(&self, timed: Timed) -> Option<i64> {
        self.0[Self::index(timed)]
    }

    /// The timings as read from the ledger's columns, in [`Timed::ALL`] order.
    pub fn from_values(values: impl IntoIterator<Item = Option<i64>>) -> Timings {
        let mut timings = Timings::default();
        for (slot, value) in timings.0.iter_mut().zip(values) {
            *slot = value;
        }
        timings
    }

    /// The statements that ran, with their milliseconds.
    pub fn iter(&self) -> impl Iterator<Item = (Timed, i64)> + '_ {
        Timed::ALL
            .into_iter()
            .filter_map(|t| Some((t, self.get(t)?)))
    }
}

/// As a map from [`Timed::as_str`] to milliseconds, the statements that ran only.
impl Serialize for Timings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (timed, ms) in self.iter() {
            map.serialize_entry(timed.as_str(), &ms)?;
        }
        map.end()
    }
}

impl std::fmt::Display for StepName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for StepName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A named statement: what `explain` prints and the executor records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub name: StepName,
    pub sql: String,
}

/// The values a statement binds as parameters (never interpolated into its SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    Nothing,
    /// `$1`: the run id.
    RunId,
    /// The run record, in [`super::dialect::RUNS_COLUMNS`] order.
    RunRecord,
    /// `$1`: the least version among the run's staged rows (µs for timestamps).
    MinVersion,
}

/// How the executor runs a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Executed; its result is the number of rows it changed.
    Execute,
    /// A query; its result is the first column of its first row (none: no row).
    Query,
    /// `COPY … FROM STDIN`: the client streams the run's staged rows (PostgreSQL).
    CopyIn,
}

/// What a statement's result means to the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Nothing: DDL, locks, transaction control.
    Nothing,
    /// The run id's rows in the ledger: more than none means the run committed before, and
    /// the merge ends there, changing nothing.
    RunCommitted,
    /// A row of the mart: none means the mart is empty, and the merge takes the direct copy.
    MartRow,
    /// The rows loaded into the temp table: checked against the rows staged.
    Loaded,
    /// The rows loaded straight into the (empty) mart: checked, and counted as inserted.
    LoadedIntoMart,
    Deleted,
    Inserted,
    Trimmed,
}

/// When a step runs, given the `check_empty` branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only on the direct copy into an empty mart.
    Direct,
    /// Only when the run goes through the temp table (always, where there is no direct copy).
    ThroughStage,
}

/// One statement of a merge and how to treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: StepName,
    pub sql: String,
    pub run: Run,
    pub bind: Bind,
    pub reads: Reads,
    pub when: When,
    /// Skipped when the run staged no files (nothing to load; loaded count 0).
    pub needs_files: bool,
}

impl Step {
    /// A statement executed for its row count, on every branch.
    pub fn execute(name: StepName, sql: impl Into<String>, reads: Reads) -> Step {
        Step {
            name,
            sql: sql.into(),
            run: Run::Execute,
            bind: Bind::Nothing,
            reads,
            when: When::Always,
            needs_files: false,
        }
    }

    /// A query read for its first value.
    pub fn query(name: StepName, sql: impl Into<String>, reads: Reads) -> Step {
        Step {
            run: Run::Query,
            ..Step::execute(name, sql, reads)
        }
    }

    pub fn bind(self, bind: Bind) -> Step {
        Step { bind, ..self }
    }

    pub fn when(self, when: When) -> Step {
        Step { when, ..self }
    }

    pub fn run(self, run: Run) -> Step {
        Step { run, ..self }
    }

    pub fn needs_files(self) -> Step {
        Step {
            needs_files: true,
            ..self
        }
    }

    /// The statement, for `explain` and records.
    pub fn statement(&self) -> Statement {
        Statement {
            name: self.name,
            sql: self.sql.clone(),
        }
    }

    /// Whether the step runs on this branch (`direct`: the mart was empty at `check_empty`).
    pub fn on_branch(&self, direct: bool) -> bool {
        match self.when {
            When::Always => true,
            When::Direct => direct,
            When::ThroughStage => !direct,
        }
    }
}

/// The facts a plan's branches depend on, as far as they are known before a merge: what
/// `explain` resolves a plan with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanState {
    /// The mart holds no row.
    pub mart_empty: bool,
    /// The run staged at least one file.
    pub staged_files: bool,
}

/// Every step of one merge, in order, from `BEGIN` to `COMMIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePlan {
    pub steps: Vec<Step>,
}

impl MergePlan {
    /// Whether the plan asks if the mart is empty (and so may copy straight into it).
    pub fn has_direct_copy(&self) -> bool {
        self.steps.iter().any(|s| s.reads == Reads::MartRow)
    }

    /// The statements the executor runs in `state`, in order: what `explain` prints.
    pub fn statements(&self, state: PlanState) -> Vec<Statement> {
        let direct = self.has_direct_copy() && state.mart_empty;
        self.steps
            .iter()
            .filter(|s| s.on_branch(direct) && (state.staged_files || !s.needs_files))
            .map(Step::statement)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> MergePlan {
        MergePlan {
            steps: vec![
                Step::execute(StepName::Begin, "BEGIN", Reads::Nothing),
                Step::query(StepName::CheckEmpty, "SELECT 1", Reads::MartRow),
                Step::execute(StepName::LoadStage, "COPY mart", Reads::LoadedIntoMart)
                    .when(When::Direct)
                    .needs_files(),
                Step::execute(StepName::LoadStage, "COPY stage", Reads::Loaded)
                    .when(When::ThroughStage)
                    .needs_files(),
                Step::execute(StepName::DeleteReplaced, "DELETE", Reads::Deleted)
                    .when(When::ThroughStage),
                Step::execute(StepName::Commit, "COMMIT", Reads::Nothing),
            ],
        }
    }

    fn names(state: PlanState) -> Vec<String> {
        plan()
            .statements(state)
            .iter()
            .map(|s| format!("{}:{}", s.name, s.sql))
            .collect()
    }

    #[test]
    fn branches_resolve_by_state() {
        let empty = PlanState {
            mart_empty: true,
            staged_files: true,
        };
        assert_eq!(
            names(empty),
            [
                "begin:BEGIN",
                "check_empty:SELECT 1",
                "load_stage:COPY mart",
                "commit:COMMIT"
            ]
        );
        let full = PlanState {
            mart_empty: false,
            ..empty
        };
        assert_eq!(
            names(full),
            [
                "begin:BEGIN",
                "check_empty:SELECT 1",
                "load_stage:COPY stage",
                "delete_replaced:DELETE",
                "commit:COMMIT"
            ]
        );
        let nothing_staged = PlanState {
            staged_files: false,
            ..full
        };
        assert_eq!(
            names(nothing_staged),
            [
                "begin:BEGIN",
                "check_empty:SELECT 1",
                "delete_replaced:DELETE",
                "commit:COMMIT"
            ]
        );
    }

    #[test]
    fn names_serialize_as_snake_case() {
        assert_eq!(
            serde_json::to_string(&StepName::TargetInsertNewRows).unwrap(),
            "\"target_insert_new_rows\""
        );
        assert_eq!(
            StepName::DropStaleVersions.to_string(),
            "drop_stale_versions"
        );
    }
}
