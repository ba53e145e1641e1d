//! The warehouse dialects, named here at the ground floor because the type mapping renders
//! each column's SQL type per dialect; the SQL of each dialect lives in
//! `warehouse::dialect`.

/// A warehouse's SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    DuckDb,
    Postgres,
    Redshift,
}

impl Dialect {
    /// Every dialect, in the order `ddl --dialect` lists them.
    pub const ALL: [Dialect; 3] = [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift];

    /// The dialect's name, as the CLI and `explain` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::Redshift => "redshift",
        }
    }
}

/// The run ledger: one row per committed cycle, in the warehouse beside the marts.
pub const RUNS_TABLE: &str = "martsync_runs";
