//! How the library's enums are spelled on the command line. The clap traits are implemented
//! here, in the CLI, so the modules that define the enums do not depend on clap.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::bench::Scenario;
use crate::generate::FileFormat;
use crate::schema::Dialect;

impl ValueEnum for Dialect {
    fn value_variants<'a>() -> &'a [Self] {
        &Dialect::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Scenario {
    fn value_variants<'a>() -> &'a [Self] {
        &Scenario::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for FileFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &FileFormat::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are what scripts and the scheduler examples pass: they must not drift.
    #[test]
    fn spelled_as_before() {
        let names = |values: Vec<Option<PossibleValue>>| -> Vec<String> {
            values
                .into_iter()
                .map(|v| v.unwrap().get_name().to_string())
                .collect()
        };
        assert_eq!(
            names(
                Dialect::value_variants()
                    .iter()
                    .map(|d| d.to_possible_value())
                    .collect()
            ),
            ["duckdb", "postgres", "redshift"]
        );
        assert_eq!(
            names(
                Scenario::value_variants()
                    .iter()
                    .map(|d| d.to_possible_value())
                    .collect()
            ),
            ["dedup", "placement", "merge-scaling", "primary-query"]
        );
        assert_eq!(
            names(
                FileFormat::value_variants()
                    .iter()
                    .map(|d| d.to_possible_value())
                    .collect()
            ),
            ["parquet", "csv", "jsonl"]
        );
    }
}
