//! `martsync compare`: a mart against another table by key (the seed's
//! `compare_pipelines.py`): the old pipeline's table or the source in MySQL, a table in the
//! warehouse, or exported files. Both sides are read in the mart's column types and streamed
//! through [`crate::compare`], so memory stays bounded whatever their size.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::Args;
use futures::StreamExt;

use super::ConfigArgs;
use crate::compare::{CompareReport, CompareSpec};
use crate::config::{Config, SourceUrl, TableConfig, redact_url, validate_identifier};
use crate::error::{Error, Result};
use crate::source::files::FilesSource;
use crate::source::{BatchStream, Extract, filter_between};

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The mart (the left side), read from the warehouse.
    #[arg(long = "table", value_name = "MART")]
    pub table: String,
    /// The right side: `source` (the mart's source table), `source:TABLE` (another table of
    /// the configured source, e.g. the old pipeline's in MySQL), `warehouse:TABLE` (a table
    /// in the warehouse), or `files://DIR` (Parquet, CSV or JSON-lines files, in
    /// `DIR/<source table>/` or in DIR). Columns are matched by name and read as the mart's
    /// types.
    #[arg(long = "with", value_name = "SIDE")]
    pub with: String,
    /// The compared columns, comma separated. Default: every column of the mart but the key.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// The column `--since` and `--until` apply to (a timestamp, or epoch seconds). Default:
    /// the mart's watermark column.
    #[arg(long, value_name = "COLUMN")]
    pub on: Option<String>,
    /// Compare only rows at or after this UTC time (`2026-01-01` or `2026-01-01T06:00:00Z`),
    /// on both sides.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Compare only rows before this UTC time, on both sides.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// How many keys of each kind of difference to show (the smallest).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub sample: usize,
    /// Exit with code 7 when more keys differ than this: a count (`100`) or a share of all
    /// keys on either side (`0.5%`). Without it, differences exit 0.
    #[arg(long, value_name = "N|P%")]
    pub fail_above: Option<Threshold>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Memory for buffered rows (hashes and keys) before they spill to disk, e.g. `256MiB`.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = super::parse_size)]
    pub memory_limit: usize,
    /// Folder for spill files. Default: the system's temp folder.
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
}

/// `--fail-above`: a number of keys or a percentage of all keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Keys(u64),
    Percent(f64),
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{text}` is not a key count (`100`) or a percentage (`0.5%`)");
        match text.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Threshold::Percent)
                .ok_or_else(bad),
            None => text.trim().parse().map(Threshold::Keys).map_err(|_| bad()),
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Keys(n) => write!(f, "{n}"),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Threshold {
    /// Whether a report has more differing keys than allowed.
    pub fn exceeded(&self, report: &CompareReport) -> bool {
        match *self {
            Threshold::Keys(n) => report.differences() > n,
            Threshold::Percent(p) => {
                report.differences() as f64 > p / 100.0 * report.union_keys() as f64
            }
        }
    }
}

/// The other side of a comparison.
enum Side {
    /// A table of the configured source.
    Source(String),
    Warehouse(String),
    Files(PathBuf),
}

impl Side {
    fn parse(text: &str, table: &TableConfig) -> Result<Side> {
        let bad = |message: String| Error::config("command line", "--with", message);
        let named = |name: &str| {
            validate_identifier(name)
                .map(|()| name.to_string())
                .map_err(|m| bad(m.to_string()))
        };
        if let Some(dir) = text.strip_prefix("files://") {
            Ok(Side::Files(PathBuf::from(dir)))
        } else if text == "source" {
            Ok(Side::Source(table.schema.name.clone()))
        } else if let Some(name) = text.strip_prefix("source:") {
            Ok(Side::Source(named(name)?))
        } else if let Some(name) = text.strip_prefix("warehouse:") {
            if name.eq_ignore_ascii_case(&table.name) {
                return Err(bad(format!("`{name}` is the mart itself")));
            }
            Ok(Side::Warehouse(named(name)?))
        } else {
            Err(bad(format!(
                "`{text}` is not `source`, `source:TABLE`, `warehouse:TABLE` or `files://DIR`"
            )))
        }
    }
}

/// The compared columns' positions in the projected table (key first, then the rest in the
/// mart's order), and the projected table itself: the key, the compared columns, the
/// watermark (the readers filter on it) and the range column.
fn project(
    table: &TableConfig,
    columns: &[String],
    on: &str,
) -> Result<(TableConfig, CompareSpec)> {
    let lower = |c: &String| c.trim().to_ascii_lowercase();
    let compared: Vec<String> = if columns.is_empty() {
        table
            .schema
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|c| !table.key.contains(c))
            .collect()
    } else {
        columns.iter().map(lower).collect()
    };
    for name in &compared {
        if table.schema.column(name).is_none() {
            return Err(Error::config(
                "command line",
                "--columns",
                format!(
                    "mart {} has no column `{name}` (it has: {})",
                    table.name,
                    table.schema.column_list()
                ),
            ));
        }
    }
    let mut projected = table.clone();
    projected.schema.columns.retain(|c| {
        table.key.contains(&c.name)
            || compared.contains(&c.name)
            || c.name == table.watermark
            || c.name == on
    });
    let index = |name: &str| projected.schema.index_of(name).expect("kept column");
    let spec = CompareSpec {
        key: table.key.iter().map(|k| index(k)).collect(),
        columns: projected
            .schema
            .columns
            .iter()
            .filter(|c| compared.contains(&c.name) && !table.key.contains(&c.name))
            .map(|c| index(&c.name))
            .collect(),
        sample: 0,
        memory_limit: 0,
        spill_dir: PathBuf::new(),
    };
    Ok((projected, spec))
}

/// `[since, until)` on a column, in its unit (µs for timestamps, else epoch seconds).
#[derive(Debug, Clone, Copy)]
struct Range {
    column: usize,
    since: Option<i64>,
    until: Option<i64>,
}

impl Range {
    /// The exclusive bounds of [`filter_between`].
    fn bounds(&self) -> (Option<i64>, Option<i64>) {
        (self.since.map(|s| s - 1), self.until)
    }

    fn keep(self, stream: BatchStream, what: String) -> BatchStream {
        let (above, below) = self.bounds();
        Box::pin(stream.map(move |batch| {
            filter_between(&batch?, self.column, above, below).map_err(|e| Error::Source {
                table: what.clone(),
                location: "range filter".into(),
                message: e.to_string(),
            })
        }))
    }
}

fn range(args: &CompareArgs, table: &TableConfig, on: &str) -> Result<Option<Range>> {
    if args.since.is_none() && args.until.is_none() {
        return Ok(None);
    }
    let column = table.schema.column(on).ok_or_else(|| {
        Error::config(
            "command line",
            "--on",
            format!(
                "mart {} has no column `{on}` (it has: {})",
                table.name,
                table.schema.column_list()
            ),
        )
    })?;
    use arrow::datatypes::DataType::*;
    let timestamp = matches!(column.mapped.arrow, Timestamp(..));
    if !timestamp && !matches!(column.mapped.arrow, Int16 | Int32 | Int64 | UInt32 | UInt64) {
        return Err(Error::config(
            "command line",
            "--on",
            format!(
                "column `{on}` is {}, neither a timestamp nor epoch seconds",
                column.mapped.arrow
            ),
        ));
    }
    let units = |text: &Option<String>, flag: &str| -> Result<Option<i64>> {
        text.as_deref()
            .map(|t| {
                let since_epoch = super::since_epoch(super::parse_time(t, flag)?);
                Ok(if timestamp {
                    since_epoch.as_micros() as i64
                } else {
                    since_epoch.as_secs() as i64
                })
            })
            .transpose()
    };
    let range = Range {
        column: table.schema.index_of(on).expect("checked column"),
        since: units(&args.since, "--since")?,
        until: units(&args.until, "--until")?,
    };
    if let (Some(s), Some(u)) = (range.since, range.until)
        && u <= s
    {
        return Err(Error::config(
            "command line",
            "--until",
            "is not after --since".to_string(),
        ));
    }
    Ok(Some(range))
}

pub async fn execute(args: CompareArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let mart =
        crate::pipeline::select_tables(&config, std::slice::from_ref(&args.table))?.remove(0);
    let side = Side::parse(&args.with, &mart)?;
    let on = args
        .on
        .as_deref()
        .map_or_else(|| mart.watermark.clone(), str::to_ascii_lowercase);
    let (table, mut spec) = project(&mart, &args.columns, &on)?;
    let range = range(&args, &table, &on)?;
    spec.sample = args.sample;
    spec.memory_limit = args.memory_limit;
    spec.spill_dir = args.spill_dir.clone().unwrap_or_else(std::env::temp_dir);

    let warehouse = crate::warehouse::open(&config.warehouse).await?;
    // Where a warehouse that cannot stream a table out (Redshift) unloads it.
    let stage = crate::stage::open(&config.stage).await?;
    let left_name = format!("{} in {}", mart.name, warehouse.describe());
    let left = warehouse
        .export(&mart.name, &table, stage.as_ref(), None)
        .await?;
    let (right_name, right) =
        open_right(&config, &side, &table, range, &*warehouse, stage.as_ref()).await?;
    let (left, right) = match range {
        Some(range) => (
            range.keep(left, mart.name.clone()),
            range.keep(right, right_name.clone()),
        ),
        None => (left, right),
    };
    let report =
        crate::compare::compare(&mart.name, table.schema.arrow_schema(), left, right, &spec)
            .await?;
    let failed = args.fail_above.is_some_and(|t| t.exceeded(&report));
    if args.json {
        let value = serde_json::json!({
            "mart": mart.name,
            "left": left_name,
            "right": right_name,
            "range": range.map(|_| serde_json::json!({
                "column": on, "since": args.since, "until": args.until,
            })),
            "differences": report.differences(),
            "fail_above": args.fail_above.map(|t| t.to_string()),
            "above_threshold": failed,
            "result": report,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serializes")
        );
    } else {
        print_report(&left_name, &right_name, &args, &on, &report);
    }
    Ok(if failed {
        ExitCode::from(super::exit::DIFFERENT)
    } else {
        ExitCode::SUCCESS
    })
}

/// The right side's name and stream. A source read is narrowed to the range at the source
/// when the range is on the watermark column (MySQL then reads only those rows).
async fn open_right(
    config: &Config,
    side: &Side,
    table: &TableConfig,
    range: Option<Range>,
    warehouse: &dyn crate::warehouse::Warehouse,
    stage: &dyn crate::stage::Stage,
) -> Result<(String, BatchStream)> {
    let pushed = || {
        let mut extract = Extract::default();
        if let Some(range) = range
            && table.schema.index_of(&table.watermark) == Some(range.column)
        {
            (extract.above, extract.below) = range.bounds();
        }
        extract
    };
    match side {
        Side::Source(name) => {
            let mut other = table.clone();
            other.schema.name = name.clone();
            let source = crate::source::open(&config.source)?;
            let url = match &config.source.url {
                SourceUrl::Files(dir) => format!("files://{}", dir.display()),
                SourceUrl::MySql(url) => redact_url(url),
            };
            let stream = source.extract(&other, pushed()).await?;
            Ok((format!("{name} in {url}"), stream))
        }
        Side::Warehouse(name) => Ok((
            format!("{name} in {}", warehouse.describe()),
            warehouse.export(name, table, stage, None).await?,
        )),
        Side::Files(dir) => {
            let files = FilesSource::folder_files(dir, table, config.source.batch_rows)?;
            let reader = FilesSource::new(PathBuf::new(), config.source.batch_rows);
            Ok((
                format!("files://{}", dir.display()),
                reader.read_files(table, files, pushed()),
            ))
        }
    }
}

fn print_report(left: &str, right: &str, args: &CompareArgs, on: &str, r: &CompareReport) {
    println!("left:  {left}");
    println!("right: {right}");
    let range = match (&args.since, &args.until) {
        (None, None) => String::new(),
        (since, until) => format!(
            "; rows with {on} in [{}, {})",
            since.as_deref().unwrap_or("…"),
            until.as_deref().unwrap_or("…")
        ),
    };
    println!(
        "key: {}; {} column(s) compared{range}",
        r.key.join(", "),
        r.columns.len()
    );
    println!();
    println!("{:<16} {:>12} {:>12}", "", "left", "right");
    println!("{:<16} {:>12} {:>12}", "rows", r.left.rows, r.right.rows);
    println!("{:<16} {:>12} {:>12}", "keys", r.left.keys, r.right.keys);
    println!(
        "{:<16} {:>12} {:>12}",
        "duplicate keys", r.left.duplicate_keys, r.right.duplicate_keys
    );
    println!();
    let sample = |keys: &[Vec<String>]| {
        if keys.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> = keys
                .iter()
                .map(|k| match k.as_slice() {
                    [one] => one.clone(),
                    many => format!("({})", many.join(", ")),
                })
                .collect();
            format!("   e.g. {}", shown.join(", "))
        }
    };
    println!("{:<16} {:>12}", "matching keys", r.matching_keys);
    for (name, d) in [
        ("only left", &r.only_left),
        ("only right", &r.only_right),
        ("differing", &r.differing),
    ] {
        println!("{name:<16} {:>12}{}", d.keys, sample(&d.sample));
    }
    for c in r.column_differences.iter().filter(|c| c.keys > 0) {
        println!("  {:<14} {:>12}", c.column, c.keys);
    }
    let share = if r.union_keys() == 0 {
        0.0
    } else {
        100.0 * r.differences() as f64 / r.union_keys() as f64
    };
    println!();
    println!(
        "{} of {} key(s) differ ({share:.2}%){}",
        r.differences(),
        r.union_keys(),
        match args.fail_above {
            Some(t) if t.exceeded(r) => format!(": above --fail-above {t}, exit 7"),
            Some(t) => format!(": within --fail-above {t}"),
            None => String::new(),
        }
    );
    if r.spilled_bytes > 0 {
        println!(
            "(spilled {} to disk under the {} memory limit)",
            super::human_bytes(r.spilled_bytes),
            super::human_bytes(args.memory_limit as u64)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_sizes_parse() {
        assert_eq!("12".parse(), Ok(Threshold::Keys(12)));
        assert_eq!("0.5%".parse(), Ok(Threshold::Percent(0.5)));
        assert!("-1".parse::<Threshold>().is_err());
        assert!("150%".parse::<Threshold>().is_err());
        assert_eq!(super::super::parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(super::super::parse_size("4096"), Ok(4096));
        assert!(super::super::parse_size("1 TB").is_err());
        assert!(super::super::parse_size("0").is_err());
    }

    #[test]
    fn a_percentage_is_of_the_keys_on_either_side() {
        let mut report = CompareReport {
            matching_keys: 98,
            ..CompareReport::default()
        };
        report.differing.keys = 2;
        assert!(!Threshold::Percent(2.0).exceeded(&report));
        assert!(Threshold::Percent(1.9).exceeded(&report));
        assert!(Threshold::Keys(1).exceeded(&report));
        assert!(!Threshold::Keys(2).exceeded(&report));
    }
}
