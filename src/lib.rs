//! martsync keeps the marts of an order-tracking system in sync with their MySQL sources.
//!
//! ```text
//!  Source ─────────▶ Arrow batches ─▶ Dedup ─────────────▶ Parquet ─▶ Stage
//!  mysql://  (binary protocol,          DataFusion operator:            file://DIR
//!  files://   typed builders)           one row per key                 s3://bucket/prefix
//!                                                                          │
//!  Warehouse ◀── the merge plan, run by one executor ◀─────────────────────┘
//!  duckdb://    read_parquet of the staged files
//!  postgres://  COPY FROM STDIN of the staged files (direct into an empty mart)
//!  redshift://  COPY FROM the manifest, IAM role
//!
//!    BEGIN; LOCK mart; check run id; temp table; load; check row count;
//!    drop stale versions; DELETE replaced rows by key; INSERT; retention trim;
//!    the same for each target; record the run; COMMIT
//! ```
//!
//! One cycle of one mart is [`pipeline::Pipeline::cycle`]; `run`, `replay`, `seed`,
//! `backfill` and the benchmarks all call it. The folders follow the pipeline: [`source`],
//! [`dedup`], [`stage`], [`warehouse`], [`pipeline`]; [`schema`] holds the source tables and
//! the one type mapping; [`config`] reads and validates the TOML config; [`cli`] is the
//! command line.
//!
//! # Layers
//!
//! A module imports only from floors below its own, never from its own floor or above, so
//! there are no import circles. `tests/it/layering.rs` reads this table and checks every
//! `crate::` path in `src/` against it.
//!
//! | floor | modules |
//! |---|---|
//! | 8 | cli |
//! | 7 | bench |
//! | 6 | pipeline |
//! | 5 | dedup, warehouse, compare |
//! | 4 | source, stage |
//! | 3 | config, generate |
//! | 2 | schema |
//! | 1 | units, atomic_file |
//! | 0 | error, fault |
//!
//! # How to add a warehouse
//!
//! A warehouse is a session and a dialect; the order of a merge is not yours to write.
//! 1. Add a [`schema::Dialect`] variant, and its SQL in [`warehouse::dialect`]: the mart DDL
//!    and the statements [`warehouse::dialect::merge_plan`] puts in the plan (how a run is
//!    loaded, how a mart is locked).
//! 2. Add `warehouse/<name>.rs` with a session type implementing
//!    [`warehouse::executor::Session`] (run a statement, read a value, and, if its load
//!    streams rows, `copy_in`) and a type implementing [`warehouse::Warehouse`] whose
//!    `merge` builds the plan and hands it with its sessions to
//!    [`warehouse::executor::merge`]; the executor owns the transaction, the checks, the
//!    time bound and the retry.
//! 3. A URL scheme in `config`, a line in [`warehouse::open`], and the warehouse contract
//!    tests (`tests/it/warehouse_contract.rs`) run against it.

pub mod atomic_file;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod config;
pub mod dedup;
pub mod error;
pub mod fault;
pub mod generate;
pub mod pipeline;
pub mod schema;
pub mod source;
pub mod stage;
pub mod units;
pub mod warehouse;

pub use error::{Error, Result};
