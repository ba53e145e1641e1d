//! martsync keeps the marts of an order-tracking system in sync with their MySQL sources.
//!
//! ```text
//!  Source ──▶ Arrow batches ──▶ Dedup (DataFusion) ──▶ Parquet ──▶ Stage
//!  (files://)                    one row per key                  (file://)
//!                                                                    │
//!  Warehouse (DuckDB) ◀── load into temp table ◀─────────────────────┘
//!    BEGIN; load stage; check row count; drop stale versions; DELETE replaced rows by key;
//!    INSERT; retention trim; record the run; COMMIT
//! ```
//!
//! One cycle of one mart is [`pipeline::Pipeline::cycle`]; `run`, `replay` and the
//! benchmarks all call it. The folders follow the pipeline: [`source`], [`dedup`], [`stage`],
//! [`warehouse`], [`pipeline`]; [`schema`] holds the source tables and the one type mapping;
//! [`config`] reads and validates the TOML config; [`cli`] is the command line.
//!
//! How to add a warehouse: see [`warehouse`].

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
pub mod warehouse;

pub use error::{Error, Result};
