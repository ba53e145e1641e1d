//! The batch commands: replay, seed and backfill apply a list of batches to a mart, one
//! cycle each, through one loop ([`Pipeline::apply_batches`]) that skips the batches the
//! mart's ledger already holds, so an interrupted command resumes where it stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use super::{BatchSummary, BatchUnit, Input, Pipeline, Progress};
use crate::config::TableConfig;
use crate::error::{Error, Result};
use crate::source::files::FilesSource;

impl Pipeline {
    /// Replays `dir`'s files (`dir/<source table>/*`), each file one cycle, in name order;
    /// files already committed to the mart are skipped, so an interrupted replay resumes.
    /// Tables replay in parallel; `progress` is told of every file done.
    pub async fn replay(
        &self,
        dir: &Path,
        tables: &[TableConfig],
        progress: Progress,
    ) -> Vec<(String, Result<BatchSummary>)> {
        self.per_table(tables, |pipeline, table| {
            let dir = dir.to_path_buf();
            let progress = Arc::clone(&progress);
            async move { pipeline.replay_table(&dir, &table, progress.as_ref()).await }
        })
        .await
    }

    /// Re-applies the staged runs `[stage] keep` kept, each one cycle labelled
    /// `stage:<run_id>` (so re-applying twice equals once), in run order: the runs named in
    /// `runs`, or every complete one (with its manifest) of the mart. The rows go through a
    /// replay's merge (greatest version wins, ties to the later arrival), so a run re-applied
    /// over marts a bad deploy wrote rewrites the rows it holds.
    pub async fn reapply_staged(
        &self,
        tables: &[TableConfig],
        runs: &[String],
        progress: Progress,
    ) -> Vec<(String, Result<BatchSummary>)> {
        let runs = runs.to_vec();
        self.per_table(tables, move |pipeline, table| {
            let (progress, runs) = (Arc::clone(&progress), runs.clone());
            async move {
                pipeline
                    .reapply_table(&table, &runs, progress.as_ref())
                    .await
            }
        })
        .await
    }

    async fn reapply_table(
        &self,
        table: &TableConfig,
        only: &[String],
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<BatchSummary> {
        let mart = &table.name;
        let files = self.stage.list(&format!("{mart}/")).await?;
        let mut runs: Vec<String> = files
            .iter()
            .filter_map(|f| {
                let rest = f.key.strip_prefix(&format!("{mart}/"))?;
                let (run, name) = rest.split_once('/')?;
                (name == "manifest.json").then(|| run.to_string())
            })
            .filter(|run| only.is_empty() || only.contains(run))
            .collect();
        runs.sort();
        if let Some(missing) = only.iter().find(|r| !runs.contains(r)) {
            return Err(Error::Stage {
                url: self.stage.url(),
                action: format!("re-applying staged run {mart}/{missing}"),
                message: "no such complete run (its manifest.json is missing);                           `[stage] keep = true` keeps committed runs"
                    .into(),
            });
        }
        // Parts are read as a replay reads files: from a local copy.
        let copies = std::env::temp_dir().join(format!(
            "martsync-reapply-{}-{}",
            std::process::id(),
            crate::units::new_run_id()
        ));
        let mut batches = Vec::new();
        for run in &runs {
            let dir = copies.join(run);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
            let mut parts = Vec::new();
            for file in files.iter().filter(|f| {
                f.key.starts_with(&format!("{mart}/{run}/part-")) && f.key.ends_with(".parquet")
            }) {
                let path = dir.join(file.key.rsplit('/').next().unwrap_or("part.parquet"));
                let bytes = self.stage.get(&file.key).await?;
                std::fs::write(&path, bytes).map_err(|e| Error::io("writing", &path, e))?;
                parts.push(path);
            }
            parts.sort();
            batches.push(Input::reapply(run, parts));
        }
        let summary = self
            .apply_batches(table, BatchUnit::Files, batches, progress)
            .await;
        if let Err(e) = std::fs::remove_dir_all(&copies) {
            warn!(folder = %copies.display(), error = %e, "Could not delete the copies of staged parts.");
        }
        summary
    }

    /// Backfills `table` from `from` to `until` (watermark units, `until` exclusive) in
    /// chunks of `chunk` units, each chunk one cycle labelled with its range; chunks already
    /// committed (by an earlier, interrupted backfill of the same range and chunk) are
    /// skipped. `progress` is told of every chunk done.
    pub async fn backfill(
        &self,
        table: &TableConfig,
        (from, until, chunk): (i64, i64, i64),
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<BatchSummary> {
        let chunks = (0..)
            .map(|i| from.saturating_add(chunk.saturating_mul(i)))
            .take_while(|start| *start < until)
            .map(|start| {
                let end = start.saturating_add(chunk).min(until);
                Input::Range {
                    label: format!("backfill:{}:{start}..{end}", table.watermark),
                    from: start,
                    until: end,
                }
            })
            .collect();
        self.apply_batches(table, BatchUnit::Chunks, chunks, progress)
            .await
    }

    async fn replay_table(
        &self,
        dir: &Path,
        table: &TableConfig,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<BatchSummary> {
        let source = FilesSource::new(dir.to_path_buf(), self.config.source.batch_rows);
        // A history may hold some tables only: a mart without a folder has nothing to replay.
        if !source.table_dir(table).is_dir() {
            warn!(table = %table.name, folder = %source.table_dir(table).display(), "No folder to replay for this mart.");
            return Ok(BatchSummary {
                mart: table.name.clone(),
                ..BatchSummary::default()
            });
        }
        let files = file_batches(source.list_files(table)?)?;
        self.apply_batches(table, BatchUnit::Files, files, progress)
            .await
    }

    /// Seeds `table` from an export's files: `folder/<source table>/` when there is one,
    /// else the files in `folder` itself; each file one cycle, resumable as a replay.
    pub async fn seed_files(
        &self,
        folder: &Path,
        table: &TableConfig,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<BatchSummary> {
        let files = FilesSource::folder_files(folder, table, self.config.source.batch_rows)?;
        self.apply_batches(table, BatchUnit::Files, file_batches(files)?, progress)
            .await
    }

    /// Seeds `table` from the warehouse table `name`, in one cycle. Run again, it reads the
    /// table again (the table may have changed; the merge keeps what is newer).
    pub async fn seed_table(&self, name: &str, table: &TableConfig) -> Result<BatchSummary> {
        let input = Input::Table {
            label: format!("seed:{}", name.to_ascii_lowercase()),
            name: name.to_string(),
        };
        Ok(BatchSummary {
            mart: table.name.clone(),
            unit: BatchUnit::Files,
            batches: 1,
            skipped: 0,
            cycles: vec![self.cycle(table, input).await?],
        })
    }

    /// The one batch loop of replay, seed and backfill: each of `batches` one cycle, in
    /// order; a batch whose label the mart's ledger already holds is skipped, so an
    /// interrupted command resumes where it stopped.
    pub async fn apply_batches(
        &self,
        table: &TableConfig,
        unit: BatchUnit,
        batches: Vec<Input>,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<BatchSummary> {
        let committed = self.warehouse.committed_batches(&table.name).await?;
        let mut summary = BatchSummary {
            mart: table.name.clone(),
            unit,
            batches: batches.len(),
            ..BatchSummary::default()
        };
        for (i, input) in batches.into_iter().enumerate() {
            if committed.contains(input.label()) {
                summary.skipped += 1;
            } else {
                summary.cycles.push(self.cycle(table, input).await?);
            }
            progress(&table.name, i + 1, summary.batches);
        }
        Ok(summary)
    }
}

/// A replayed file's identity in `martsync_runs`: its name and size.
pub fn batch_label(file: &Path) -> Result<String> {
    let size = std::fs::metadata(file)
        .map_err(|e| Error::io("reading metadata of", file, e))?
        .len();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("file:{name}:{size}"))
}

/// Replayed files as batches, each labelled by [`batch_label`].
fn file_batches(files: Vec<PathBuf>) -> Result<Vec<Input>> {
    files
        .into_iter()
        .map(|file| {
            Ok(Input::Files {
                label: batch_label(&file)?,
                files: vec![file],
            })
        })
        .collect()
}
