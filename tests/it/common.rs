//! Helpers shared by the integration tests: temporary workspaces, configs, and a canonical
//! dump of a mart (or of expected rows) as sorted text lines.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use martsync::config::{Config, RawConfig};
use martsync::pipeline::Pipeline;

/// A temporary folder with a config pointing its stage and warehouse inside it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn warehouse(&self) -> PathBuf {
        self.path("warehouse.duckdb")
    }

    /// Config text with the given source and extra TOML (e.g. `[[tables]]` sections).
    pub fn config_text(&self, source: &Path, extra: &str) -> String {
        format!(
            "[source]\nurl = \"files://{}\"\n[stage]\nurl = \"file://{}\"\n[warehouse]\nurl = \"duckdb://{}\"\n{extra}",
            source.display(),
            self.path("stage").display(),
            self.warehouse().display()
        )
    }

    /// Writes the config file and returns its path.
    pub fn write_config(&self, source: &Path, extra: &str) -> PathBuf {
        let path = self.path("martsync.toml");
        std::fs::write(&path, self.config_text(source, extra)).expect("write config");
        path
    }

    pub fn config(&self, source: &Path, extra: &str) -> Config {
        RawConfig::parse(&self.config_text(source, extra), "test")
            .and_then(|raw| raw.validate("test", &|_| None))
            .expect("valid test config")
    }

    pub async fn pipeline(&self, source: &Path, extra: &str) -> Pipeline {
        Pipeline::open(self.config(source, extra))
            .await
            .expect("pipeline opens")
    }

    /// Replays `dir` with a fresh pipeline (closed again before returning).
    pub async fn replay(&self, dir: &Path, extra: &str) {
        let pipeline = self.pipeline(dir, extra).await;
        let tables = pipeline.config.tables.clone();
        for (mart, result) in pipeline
            .replay(dir, &tables, std::sync::Arc::new(|_: &str, _, _| {}))
            .await
        {
            result.unwrap_or_else(|e| panic!("replay of {mart} failed: {e}"));
        }
    }

    /// The mart's rows, canonical and sorted (the warehouse must not be open elsewhere).
    pub fn dump(&self, mart: &str) -> Vec<String> {
        let conn = duckdb::Connection::open(self.warehouse()).expect("open warehouse");
        dump_query(&conn, &format!("SELECT * FROM \"{mart}\""))
    }

    /// `SELECT count(*)` of a query on the warehouse.
    pub fn count(&self, sql: &str) -> i64 {
        let conn = duckdb::Connection::open(self.warehouse()).expect("open warehouse");
        conn.query_row(sql, [], |r| r.get(0)).expect("count query")
    }
}

/// Every row of `sql`, each as the Debug form of its DuckDB values, sorted.
pub fn dump_query(conn: &duckdb::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("prepare dump");
    let mut rows = stmt.query([]).expect("run dump");
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect("dump row") {
        let stmt = row.as_ref();
        let values: Vec<String> = (0..stmt.column_count())
            .map(|i| {
                format!(
                    "{:?}",
                    row.get::<_, duckdb::types::Value>(i).expect("value")
                )
            })
            .collect();
        out.push(values.join(" | "));
    }
    out.sort();
    out
}

/// Expected rows, dumped exactly as a mart holding them would be (via Parquet and DuckDB).
pub fn dump_expected(batches: &[RecordBatch]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("expected.parquet");
    let schema = batches[0].schema();
    let bytes = martsync::stage::encode_parquet(&schema, batches).expect("encode expected rows");
    std::fs::write(&path, bytes).expect("write expected rows");
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    dump_query(
        &conn,
        &format!("SELECT * FROM read_parquet('{}')", path.display()),
    )
}

/// Runs the martsync binary with `args` in `cwd`.
pub fn martsync(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args(args)
        .current_dir(cwd)
        .env("MARTSYNC_LOG", "martsync=warn")
        .output()
        .expect("martsync runs")
}

/// Every file below `dir` (none if it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}
