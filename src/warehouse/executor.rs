//! The one executor of merge plans. A backend supplies sessions ([`Session`]: run a
//! statement, read a value, stream staged rows in) and a [`Policy`]; this module owns
//! everything a merge needs beyond that, for every warehouse alike: the transaction (a
//! failed step rolls back), what each step's result means, the loaded-row check, the run
//! record, the crash points of the fault tests, the time bound of an attempt and the retry
//! of the whole transaction on a serialization conflict.

use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::plan::{Bind, MergePlan, Reads, Run, Step, StepName};
use super::{MergeOutcome, MergeRequest, RunValue};
use crate::error::{Error, Result};
use crate::units::format_duration;

/// Attempts of a merge transaction that keeps hitting serialization conflicts.
const MAX_ATTEMPTS: u32 = 5;
/// The first retry waits this long; each further one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Why a statement failed, as far as the executor needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Other,
    /// The lock was not granted within the warehouse's lock timeout.
    LockNotAvailable,
    /// A serialization failure or deadlock: the whole transaction may be retried.
    Conflict,
}

/// A failed session call.
#[derive(Debug)]
pub enum SessionError {
    /// The warehouse failed the statement: its message (with SQLSTATE, detail and hint where
    /// the warehouse gives them).
    Statement { message: String, failure: Failure },
    /// A failure already classified elsewhere (a stage read during a COPY), passed on as is.
    Other(Error),
}

impl SessionError {
    pub fn message(message: impl Into<String>) -> Self {
        SessionError::Statement {
            message: message.into(),
            failure: Failure::Other,
        }
    }
}

pub type SessionResult<T> = std::result::Result<T, SessionError>;

/// One connection to a warehouse, for one attempt of a merge. Statements run in the order
/// they are given; the executor sends `BEGIN`, `COMMIT` and `ROLLBACK` itself.
#[async_trait::async_trait]
pub trait Session: Send {
    /// Runs a statement; the rows it changed (0 for statements that change none).
    async fn execute(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<u64>;

    /// Runs a query; the first column of its first row as an integer, `None` when it
    /// returned no row.
    async fn query_i64(&mut self, sql: &str, params: &[RunValue]) -> SessionResult<Option<i64>>;

    /// Streams the run's staged rows into `sql`, a `COPY … FROM STDIN`; the rows copied.
    /// Only warehouses whose dialect plans a [`Run::CopyIn`] step implement it.
    async fn copy_in(&mut self, sql: &str, request: &MergeRequest<'_>) -> SessionResult<u64> {
        let _ = (sql, request);
        Err(SessionError::message(
            "this warehouse does not stream rows in (its dialect should not plan a COPY FROM STDIN)",
        ))
    }

    /// After `step` of `request`'s merge failed and the transaction rolled back: what the
    /// warehouse recorded about the failure, to add to the error (Redshift's load errors).
    async fn failure_detail(
        &mut self,
        step: StepName,
        request: &MergeRequest<'_>,
    ) -> Option<String> {
        let _ = (step, request);
        None
    }

    /// Ends the session: `reusable` when its last transaction ended cleanly.
    fn close(self: Box<Self>, reusable: bool);
}

/// Where sessions come from, and how long an attempt may take.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync {
    /// The warehouse's URL without secrets, for errors.
    fn warehouse_url(&self) -> String;

    /// A session for one attempt of a merge into `mart`.
    async fn session(&self, mart: &str) -> Result<Box<dyn Session + '_>>;

    fn policy(&self) -> Policy;
}

/// A backend's bounds on a merge.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long the backend waits for a mart's lock (named in the error when it is not granted).
    pub lock_timeout: Duration,
    /// One attempt is abandoned after this long (the server bounds each statement; this
    /// bounds a server that stops answering), with the reason to give.
    pub attempt_timeout: Option<(Duration, &'static str)>,
}

/// Runs `plan` for `request`: the whole transaction, retried on serialization conflicts.
pub async fn merge(
    sessions: &dyn Sessions,
    plan: &MergePlan,
    request: &MergeRequest<'_>,
) -> Result<MergeOutcome> {
    let policy = sessions.policy();
    let mut attempt = 1;
    loop {
        let mut session = sessions.session(&request.table.name).await?;
        let run = attempt_once(sessions, session.as_mut(), plan, request, &policy);
        let result = match policy.attempt_timeout {
            None => run.await,
            Some((limit, why)) => match tokio::time::timeout(limit, run).await {
                Ok(result) => result,
                Err(_) => {
                    // The session is dropped, not reused: the server rolls the transaction
                    // back when it notices.
                    session.close(false);
                    return Err(context(sessions, request).error(
                        "merge",
                        format!(
                            "no answer within {} ({why}); the transaction was abandoned and rolls back",
                            format_duration(limit)
                        ),
                    ));
                }
            },
        };
        session.close(result.as_ref().map_or_else(|f| f.rolled_back, |_| true));
        match result.map_err(|failed| failed.error) {
            Err(Conflict(e)) if attempt < MAX_ATTEMPTS => {
                let wait = FIRST_BACKOFF * 2u32.pow(attempt - 1);
                warn!(table = %request.table.name, attempt, wait_ms = wait.as_millis() as u64, error = %e,
                      "Serialization conflict: retrying the whole transaction.");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(Conflict(e)) | Err(Final(e)) => return Err(e),
            Ok(outcome) => return Ok(outcome),
        }
    }
}

/// An attempt's error: retry it, or give up.
enum AttemptError {
    Conflict(Error),
    Final(Error),
}
use AttemptError::{Conflict, Final};

struct Failed {
    error: AttemptError,
    /// The transaction was rolled back (the session may be reused).
    rolled_back: bool,
}

/// Who a merge is, for errors.
struct Context {
    warehouse: String,
    mart: String,
    run_id: String,
}

fn context(sessions: &dyn Sessions, request: &MergeRequest<'_>) -> Context {
    Context {
        warehouse: sessions.warehouse_url(),
        mart: request.table.name.clone(),
        run_id: request.record.run_id.clone(),
    }
}

impl Context {
    fn error(&self, statement: &str, message: impl Into<String>) -> Error {
        Error::Warehouse {
            warehouse: self.warehouse.clone(),
            mart: self.mart.clone(),
            run_id: self.run_id.clone(),
            statement: statement.to_string(),
            message: message.into(),
        }
    }
}

/// What the executor learnt so far in one attempt.
struct Progress {
    outcome: MergeOutcome,
    /// The mart was empty at `check_empty`: the direct-copy branch.
    direct: bool,
    started: Instant,
}

/// One attempt: `BEGIN` … `COMMIT`, or a rollback.
async fn attempt_once(
    sessions: &dyn Sessions,
    session: &mut dyn Session,
    plan: &MergePlan,
    request: &MergeRequest<'_>,
    policy: &Policy,
) -> std::result::Result<MergeOutcome, Failed> {
    let ctx = context(sessions, request);
    let mut progress = Progress {
        outcome: MergeOutcome::default(),
        direct: false,
        started: Instant::now(),
    };
    let has_files = !request.staged.parts.is_empty();
    let mut in_transaction = false;
    for step in &plan.steps {
        if !step.on_branch(progress.direct) {
            continue;
        }
        if step.name == StepName::Commit {
            crate::fault::point("before_commit").await;
        }
        let result = if step.needs_files && !has_files {
            Ok(Some(0))
        } else {
            let started = Instant::now();
            let result = run_step(session, step, request, &progress).await;
            if result.is_ok() {
                progress.outcome.statements.push(step.statement());
                if let Some(timed) = step.name.timed() {
                    let ms = started.elapsed().as_millis() as i64;
                    progress.outcome.timings.add(timed, ms);
                }
            }
            result
        };
        let value = match result {
            Ok(value) => value,
            Err(e) => {
                let error = step_error(&ctx, step, e, policy);
                return Err(rollback(session, step.name, request, error, in_transaction).await);
            }
        };
        match step.name {
            StepName::Begin => in_transaction = true,
            StepName::Commit => in_transaction = false,
            _ => crate::fault::after_statement(step.name.as_str()).await,
        }
        debug!(table = %ctx.mart, run_id = %ctx.run_id, statement = %step.name, rows = value, "Statement done.");
        let count = value.unwrap_or(0).max(0) as u64;
        let outcome = &mut progress.outcome;
        match step.reads {
            Reads::Nothing => {}
            Reads::RunCommitted if count > 0 => {
                // Nothing of this run is done again; the open transaction changed nothing.
                let _ = session.execute("ROLLBACK", &[]).await;
                return Ok(MergeOutcome {
                    already_committed: true,
                    statements: std::mem::take(&mut outcome.statements),
                    ..MergeOutcome::default()
                });
            }
            Reads::RunCommitted => {}
            // The lock taken before makes "empty" hold until COMMIT.
            Reads::MartRow => progress.direct = value.is_none(),
            Reads::Loaded | Reads::LoadedIntoMart => {
                crate::fault::point("after_load").await;
                if count != request.staged.rows {
                    let error = Error::RowCount {
                        mart: ctx.mart.clone(),
                        run_id: ctx.run_id.clone(),
                        loaded: count,
                        staged: request.staged.rows,
                        stage: format!("{}/{}", request.stage.url(), request.staged.prefix),
                    };
                    return Err(rollback(
                        session,
                        step.name,
                        request,
                        Final(error),
                        in_transaction,
                    )
                    .await);
                }
                if step.reads == Reads::LoadedIntoMart {
                    outcome.inserted = count;
                }
            }
            Reads::Deleted => outcome.deleted = count,
            Reads::Inserted => outcome.inserted = count,
            Reads::Trimmed => outcome.trimmed = count,
        }
    }
    Ok(progress.outcome)
}

/// Runs one step with its parameters; its result as a number (rows changed, or the value
/// a query read).
async fn run_step(
    session: &mut dyn Session,
    step: &Step,
    request: &MergeRequest<'_>,
    progress: &Progress,
) -> SessionResult<Option<i64>> {
    let params = match step.bind {
        Bind::Nothing => Vec::new(),
        Bind::RunId => vec![RunValue::Text(request.record.run_id.clone())],
        Bind::MinVersion => vec![RunValue::Int(request.min_version)],
        Bind::RunRecord => {
            let merge_ms = progress.started.elapsed().as_millis() as i64;
            request.record.values(&progress.outcome, merge_ms)
        }
    };
    match step.run {
        Run::Execute => session
            .execute(&step.sql, &params)
            .await
            .map(|n| Some(n as i64)),
        Run::Query => session.query_i64(&step.sql, &params).await,
        Run::CopyIn => session
            .copy_in(&step.sql, request)
            .await
            .map(|n| Some(n as i64)),
    }
}

/// Another run held `mart` (its hold, or its lock in the merge) past `lock_timeout`: exit 3.
pub fn mart_held(mart: &str, warehouse: &str, lock_timeout: Duration) -> Error {
    Error::Locked {
        what: format!("mart {mart} in {warehouse}"),
        message: format!(
            "another run holds mart {mart}; waited warehouse.lock_timeout = {}",
            format_duration(lock_timeout)
        ),
    }
}

/// The error of a failed step, named after it.
fn step_error(ctx: &Context, step: &Step, e: SessionError, policy: &Policy) -> AttemptError {
    match e {
        SessionError::Other(e) => Final(e),
        SessionError::Statement {
            failure: Failure::LockNotAvailable,
            ..
        } if step.name == StepName::LockMart => {
            Final(mart_held(&ctx.mart, &ctx.warehouse, policy.lock_timeout))
        }
        SessionError::Statement {
            message,
            failure: Failure::Conflict,
        } => Conflict(ctx.error(step.name.as_str(), message)),
        SessionError::Statement { message, .. } => Final(ctx.error(step.name.as_str(), message)),
    }
}

/// Rolls the open transaction back, then asks the session what it knows of the failure.
async fn rollback(
    session: &mut dyn Session,
    step: StepName,
    request: &MergeRequest<'_>,
    error: AttemptError,
    in_transaction: bool,
) -> Failed {
    let rolled_back = !in_transaction || session.execute("ROLLBACK", &[]).await.is_ok();
    let detail = session.failure_detail(step, request).await;
    let error = match (error, detail) {
        (
            Final(Error::Warehouse {
                warehouse,
                mart,
                run_id,
                statement,
                message,
            }),
            Some(detail),
        ) => Final(Error::Warehouse {
            warehouse,
            mart,
            run_id,
            statement,
            message: format!("{message}; {detail}"),
        }),
        (error, _) => error,
    };
    Failed { error, rolled_back }
}

#[cfg(test)]
mod tests {
    //! The executor's own rules, on a scripted session (the warehouses run the same plans for
    //! real in the contract, merge-plan and fault tests).

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::stage::file::FileStage;
    use crate::stage::{StagedFile, StagedRun};
    use crate::warehouse::RunRecord;
    use crate::warehouse::plan::{Step, When};

    /// Answers each statement by its SQL text and the attempt number; logs what it ran.
    type Answer = dyn Fn(&str, u32) -> SessionResult<Option<i64>> + Send + Sync;

    struct Script {
        log: Arc<Mutex<Vec<String>>>,
        attempts: Mutex<u32>,
        answer: Box<Answer>,
    }

    struct Scripted<'a> {
        script: &'a Script,
        attempt: u32,
    }

    #[async_trait::async_trait]
    impl Session for Scripted<'_> {
        async fn execute(&mut self, sql: &str, _: &[RunValue]) -> SessionResult<u64> {
            self.query_i64(sql, &[])
                .await
                .map(|v| v.unwrap_or(0) as u64)
        }

        async fn query_i64(&mut self, sql: &str, _: &[RunValue]) -> SessionResult<Option<i64>> {
            self.script.log.lock().unwrap().push(sql.to_string());
            (self.script.answer)(sql, self.attempt)
        }

        fn close(self: Box<Self>, _: bool) {}
    }

    #[async_trait::async_trait]
    impl Sessions for Script {
        fn warehouse_url(&self) -> String {
            "script://".into()
        }

        async fn session(&self, _: &str) -> Result<Box<dyn Session + '_>> {
            let mut attempts = self.attempts.lock().unwrap();
            *attempts += 1;
            Ok(Box::new(Scripted {
                script: self,
                attempt: *attempts,
            }))
        }

        fn policy(&self) -> Policy {
            Policy {
                lock_timeout: Duration::from_secs(7),
                attempt_timeout: None,
            }
        }
    }

    fn plan() -> MergePlan {
        use StepName::*;
        MergePlan {
            steps: vec![
                Step::execute(Begin, "BEGIN", Reads::Nothing),
                Step::execute(LockMart, "LOCK", Reads::Nothing),
                Step::query(CheckRunId, "CHECK", Reads::RunCommitted).bind(Bind::RunId),
                Step::execute(LoadStage, "LOAD", Reads::Loaded).needs_files(),
                Step::execute(DeleteReplaced, "DELETE", Reads::Deleted).when(When::ThroughStage),
                Step::execute(InsertRows, "INSERT", Reads::Inserted),
                Step::execute(RecordRun, "RECORD", Reads::Nothing).bind(Bind::RunRecord),
                Step::execute(Commit, "COMMIT", Reads::Nothing),
            ],
        }
    }

    /// Runs the plan with a request of two staged rows; the result and the statements sent.
    async fn run(
        answer: impl Fn(&str, u32) -> SessionResult<Option<i64>> + Send + Sync + 'static,
    ) -> (Result<MergeOutcome>, Vec<String>) {
        run_with(2, answer).await
    }

    /// As [`run`], with `rows` staged: in one part, or in none for 0.
    async fn run_with(
        rows: u64,
        answer: impl Fn(&str, u32) -> SessionResult<Option<i64>> + Send + Sync + 'static,
    ) -> (Result<MergeOutcome>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let stage = FileStage::new(dir.path()).unwrap();
        let config = crate::config::Config::embedded_default();
        let file = |key: &str| StagedFile {
            key: key.into(),
            url: format!("file:///{key}"),
            content_length: 1,
        };
        let parts = if rows == 0 {
            Vec::new()
        } else {
            vec![file("mart/run/part-00000.parquet")]
        };
        let staged = StagedRun {
            prefix: "mart/run".into(),
            parts,
            manifest: file("mart/run/manifest.json"),
            rows,
            bytes: 1,
        };
        let request = MergeRequest {
            table: &config.tables[0],
            staged: &staged,
            stage: &stage,
            record: RunRecord {
                run_id: "run".into(),
                ..RunRecord::default()
            },
            min_version: None,
            apply: Default::default(),
        };
        let script = Script {
            log: Arc::default(),
            attempts: Mutex::new(0),
            answer: Box::new(answer),
        };
        let result = merge(&script, &plan(), &request).await;
        let log = script.log.lock().unwrap().clone();
        (result, log)
    }

    fn rows(sql: &str) -> SessionResult<Option<i64>> {
        Ok(Some(match sql {
            "CHECK" => 0,
            "LOAD" => 2,
            "DELETE" => 1,
            "INSERT" => 2,
            _ => 0,
        }))
    }

    fn failing(failure: Failure) -> SessionResult<Option<i64>> {
        Err(SessionError::Statement {
            message: "boom (SQLSTATE XX000)".into(),
            failure,
        })
    }

    #[tokio::test]
    async fn a_merge_runs_every_step_and_counts_what_each_reads() {
        let (result, log) = run(|sql, _| rows(sql)).await;
        let outcome = result.unwrap();
        assert_eq!(
            log,
            [
                "BEGIN", "LOCK", "CHECK", "LOAD", "DELETE", "INSERT", "RECORD", "COMMIT"
            ]
        );
        assert_eq!((outcome.deleted, outcome.inserted), (1, 2));
        assert!(!outcome.already_committed);
        let names: Vec<_> = outcome.statements.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), 8);
        assert_eq!(names[4], StepName::DeleteReplaced);
    }

    #[tokio::test]
    async fn a_failed_step_rolls_back_and_is_named() {
        let (result, log) = run(|sql, _| {
            if sql == "DELETE" {
                failing(Failure::Other)
            } else {
                rows(sql)
            }
        })
        .await;
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("`delete_replaced`") && error.contains("boom"),
            "{error}"
        );
        assert_eq!(log[log.len() - 2..], ["DELETE", "ROLLBACK"]);
        assert!(!log.contains(&"COMMIT".to_string()), "{log:?}");
    }

    #[tokio::test]
    async fn a_committed_run_id_changes_nothing() {
        let (result, log) = run(|sql, _| {
            if sql == "CHECK" {
                Ok(Some(1))
            } else {
                rows(sql)
            }
        })
        .await;
        assert!(result.unwrap().already_committed);
        assert_eq!(log, ["BEGIN", "LOCK", "CHECK", "ROLLBACK"]);
    }

    #[tokio::test]
    async fn a_load_short_of_the_staged_rows_rolls_back() {
        let (result, log) = run(|sql, _| {
            if sql == "LOAD" {
                Ok(Some(1))
            } else {
                rows(sql)
            }
        })
        .await;
        match result {
            Err(Error::RowCount { loaded, staged, .. }) => assert_eq!((loaded, staged), (1, 2)),
            other => panic!("expected a row-count error, got {other:?}"),
        }
        assert_eq!(log[log.len() - 2..], ["LOAD", "ROLLBACK"]);
    }

    #[tokio::test]
    async fn a_lock_not_granted_names_the_mart_and_the_timeout() {
        let (result, _) = run(|sql, _| {
            if sql == "LOCK" {
                failing(Failure::LockNotAvailable)
            } else {
                rows(sql)
            }
        })
        .await;
        match result {
            Err(e @ Error::Locked { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("mart_uni_tracking_info") && text.contains("7s"),
                    "{text}"
                );
            }
            other => panic!("expected a lock error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_run_that_staged_no_files_loads_nothing() {
        let (result, log) = run_with(0, |sql, _| rows(sql)).await;
        assert_eq!(result.unwrap().inserted, 2);
        assert!(!log.contains(&"LOAD".to_string()), "{log:?}");
        assert_eq!(log.last().map(String::as_str), Some("COMMIT"));
    }

    #[tokio::test]
    async fn a_conflict_retries_the_whole_transaction() {
        let (result, log) = run(|sql, attempt| {
            if sql == "INSERT" && attempt < 3 {
                failing(Failure::Conflict)
            } else {
                rows(sql)
            }
        })
        .await;
        assert_eq!(result.unwrap().inserted, 2);
        assert_eq!(log.iter().filter(|s| *s == "BEGIN").count(), 3);
        assert_eq!(log.iter().filter(|s| *s == "ROLLBACK").count(), 2);
        assert_eq!(log.last().map(String::as_str), Some("COMMIT"));
    }
}
