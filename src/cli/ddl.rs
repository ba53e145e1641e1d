//! `martsync ddl`: the marts' CREATE TABLE statements for a dialect, from the shipped source
//! DDL or (`--from-source`) from the MySQL source's `information_schema`.

use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::config::{SourceUrl, TableConfig};
use crate::error::Error;
use crate::source::mysql::MySqlSource;
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
    /// Read the source tables' columns from the configured MySQL source
    /// (`information_schema`) instead of the shipped DDL.
    #[arg(long)]
    pub from_source: bool,
}

pub async fn execute(args: DdlArgs) -> crate::Result<ExitCode> {
    let config = args.config.load()?;
    let mut tables = crate::pipeline::select_tables(&config, &args.tables)?;
    if args.from_source {
        let SourceUrl::MySql(url) = &config.source.url else {
            return Err(Error::config(
                &config.origin,
                "source.url",
                "--from-source reads information_schema: configure a mysql:// source",
            ));
        };
        let source =
            MySqlSource::new(url, config.source.batch_rows, config.source.unsigned_bigint)?;
        for table in &mut tables {
            table.schema = source.describe_table(&table.schema.name).await?;
        }
    }
    for table in tables.iter().flat_map(TableConfig::written_tables) {
        println!("{};\n", dialect::create_mart(args.dialect, &table));
        for index in dialect::create_indexes(args.dialect, &table) {
            println!("{};\n", index.sql);
        }
    }
    println!("{};", dialect::create_runs(args.dialect));
    Ok(ExitCode::SUCCESS)
}
