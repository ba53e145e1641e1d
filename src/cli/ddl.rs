//! `martsync ddl`: the marts' CREATE TABLE statements for a dialect.

use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::warehouse::dialect::{self, Dialect};

#[derive(Debug, Args)]
pub struct DdlArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The warehouse dialect to render.
    #[arg(long, value_enum)]
    pub dialect: Dialect,
    /// Only this mart (repeatable).
    #[arg(long = "table", value_name = "MART")]
    pub tables: Vec<String>,
}

pub fn execute(args: DdlArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    for table in crate::pipeline::select_tables(&config, &args.tables)? {
        println!("{};\n", dialect::create_mart(args.dialect, &table));
    }
    println!("{};", dialect::create_runs(args.dialect));
    Ok(ExitCode::SUCCESS)
}
