//! Integration tests: one binary (link time), one module per concern.

mod backfill;
mod bad_input;
mod bench_harness;
mod binlog;
mod common;
mod compare;
mod config_errors;
mod dedup_operator;
mod dialect_golden;
mod e2e;
mod faults;
mod gaps;
mod layering;
mod maintain;
mod merge_plan;
mod model;
mod mysql_types;
mod operator_cli;
mod outages;
mod reconcile;
#[cfg(feature = "redshift-live")]
mod redshift_live;
mod regression;
mod replay;
mod run_cli;
mod scheduler_examples;
mod seed;
mod source_truth;
mod stage_contract;
mod status_page;
mod timeouts_locks;
mod warehouse_contract;
