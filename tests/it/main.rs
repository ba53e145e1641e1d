//! Integration tests: one binary (link time), one module per concern.

mod common;
mod config_errors;
mod dedup_operator;
mod model;
mod regression;
mod replay;
mod run_cli;
mod warehouse_contract;
