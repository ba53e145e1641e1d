//! Upkeep after deletes: what `martsync maintain` runs on a mart, per warehouse, and why.
//! Every cycle's DELETE and each retention trim leave deleted rows behind and stale
//! statistics; on Redshift, rows merged in arrive unsorted.

use super::quote;
use crate::config::{MaintenanceConfig, TableConfig};

/// One upkeep statement and the reason to run it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upkeep {
    pub statement: String,
    pub why: String,
}

/// What `maintain` found on a mart and what it runs there.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpkeepPlan {
    /// What was read to decide (or why nothing was).
    pub facts: String,
    pub steps: Vec<Upkeep>,
}

impl UpkeepPlan {
    /// A mart the first run has not created yet: nothing to keep up.
    pub fn not_created() -> UpkeepPlan {
        UpkeepPlan {
            facts: "not created yet".into(),
            steps: Vec::new(),
        }
    }
}

/// Redshift: the mart's row of `svv_table_info` (`$1`: its name, lower case). The view has
/// no row for an empty table, and only superusers, or users granted SELECT on it, see it
/// ("SVV_TABLE_INFO", <https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_TABLE_INFO.html>).
pub const REDSHIFT_TABLE_INFO: &str = "SELECT CAST(unsorted AS FLOAT8), CAST(stats_off AS FLOAT8), \
     CAST(tbl_rows AS BIGINT), CAST(estimated_visible_rows AS BIGINT) FROM svv_table_info \
     WHERE \"schema\" = current_schema() AND \"table\" = $1";

/// PostgreSQL: the mart's live and dead rows as the statistics system counts them (`$1`:
/// its name).
pub const POSTGRES_TABLE_STATS: &str = "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables \
     WHERE relid = to_regclass(quote_ident($1))";

/// A Redshift mart's row of [`REDSHIFT_TABLE_INFO`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedshiftTableInfo {
    /// Percent of rows unsorted (`None`: the table has no sort key).
    pub unsorted: Option<f64>,
    /// How stale the statistics are, 0 (current) to 100.
    pub stats_off: Option<f64>,
    /// Rows stored, deleted ones not yet reclaimed included.
    pub tbl_rows: i64,
    /// Rows visible (an estimate, kept by the statistics).
    pub visible_rows: i64,
}

impl RedshiftTableInfo {
    /// Percent of the stored rows that are deleted but not reclaimed.
    pub fn deleted_percent(&self) -> f64 {
        if self.tbl_rows <= 0 {
            return 0.0;
        }
        (self.tbl_rows - self.visible_rows).max(0) as f64 * 100.0 / self.tbl_rows as f64
    }
}

/// What a Redshift mart needs, given its [`REDSHIFT_TABLE_INFO`] row (`None`: empty) and the
/// thresholds. VACUUM DELETE ONLY reclaims deleted rows without sorting, VACUUM SORT ONLY
/// sorts without reclaiming; each is run only past its threshold, deletes first, so the sort
/// does not move rows about to be reclaimed ("VACUUM",
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_VACUUM_command.html>). ANALYZE last,
/// on the vacuumed table ("ANALYZE", <https://docs.aws.amazon.com/redshift/latest/dg/r_ANALYZE.html>).
pub fn redshift_upkeep(
    table: &TableConfig,
    info: Option<RedshiftTableInfo>,
    limits: &MaintenanceConfig,
) -> UpkeepPlan {
    let Some(info) = info else {
        return UpkeepPlan {
            facts: "svv_table_info has no row for it: the mart is empty".into(),
            steps: Vec::new(),
        };
    };
    let mart = quote(&table.name);
    let unsorted = info.unsorted.unwrap_or(0.0);
    let stats_off = info.stats_off.unwrap_or(0.0);
    let deleted = info.deleted_percent();
    // (share, its threshold and key, the statement, the share said), in run order.
    type Says = fn(f64) -> String;
    let checks: [(f64, f64, &str, &str, Says); 3] = [
        (
            deleted,
            limits.delete_above,
            "delete_above",
            "VACUUM DELETE ONLY",
            |s| format!("{s:.1}% of its stored rows are deleted and not reclaimed"),
        ),
        (
            unsorted,
            limits.sort_above,
            "sort_above",
            "VACUUM SORT ONLY",
            |s| format!("{s:.1}% of its rows are unsorted"),
        ),
        (
            stats_off,
            limits.analyze_above,
            "analyze_above",
            "ANALYZE",
            |s| format!("its statistics are {s:.1}% off"),
        ),
    ];
    let steps = checks
        .into_iter()
        .filter(|(share, above, ..)| share > above)
        .map(|(share, above, key, statement, says)| Upkeep {
            statement: format!("{statement} {mart}"),
            why: format!("{} (maintenance.{key} = {above})", says(share)),
        })
        .collect();
    UpkeepPlan {
        facts: format!(
            "{} rows stored, about {} visible: {deleted:.1}% deleted, {unsorted:.1}% unsorted, \
             statistics {stats_off:.1}% off",
            info.tbl_rows, info.visible_rows
        ),
        steps,
    }
}

/// PostgreSQL: `VACUUM (ANALYZE)` every time, which reclaims the dead rows merges left and
/// refreshes the planner's statistics (autovacuum does the same on its own schedule; this
/// makes it happen after the day's deletes). `live_dead`: [`POSTGRES_TABLE_STATS`].
pub fn postgres_upkeep(table: &TableConfig, live_dead: Option<(i64, i64)>) -> UpkeepPlan {
    let facts = match live_dead {
        Some((live, dead)) => format!("{live} live rows, {dead} dead (pg_stat_user_tables)"),
        None => "no statistics yet".into(),
    };
    UpkeepPlan {
        facts,
        steps: vec![Upkeep {
            statement: format!("VACUUM (ANALYZE) {}", quote(&table.name)),
            why: "reclaims the rows merges and trims deleted and refreshes the planner's \
                  statistics"
                .into(),
        }],
    }
}

/// DuckDB: `CHECKPOINT` writes the WAL into the file and frees the deleted rows' space for
/// reuse; `ANALYZE` refreshes the mart's statistics.
pub fn duckdb_upkeep(table: &TableConfig) -> UpkeepPlan {
    UpkeepPlan {
        facts: "DuckDB keeps no table statistics to read".into(),
        steps: vec![
            Upkeep {
                statement: "CHECKPOINT".into(),
                why: "writes the WAL into the database file and frees deleted rows' space".into(),
            },
            Upkeep {
                statement: format!("ANALYZE {}", quote(&table.name)),
                why: "refreshes the mart's statistics".into(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableConfig {
        crate::config::Config::embedded_default().tables.remove(0)
    }

    fn info(unsorted: f64, stats_off: f64, tbl_rows: i64, visible_rows: i64) -> RedshiftTableInfo {
        RedshiftTableInfo {
            unsorted: Some(unsorted),
            stats_off: Some(stats_off),
            tbl_rows,
            visible_rows,
        }
    }

    fn statements(plan: &UpkeepPlan) -> Vec<&str> {
        plan.steps.iter().map(|s| s.statement.as_str()).collect()
    }

    #[test]
    fn redshift_runs_each_upkeep_only_past_its_threshold() {
        let limits = MaintenanceConfig::default();
        let t = table();
        // At the thresholds exactly: nothing (5% deleted, 5% unsorted, stats 10% off).
        let at = redshift_upkeep(&t, Some(info(5.0, 10.0, 1000, 950)), &limits);
        assert_eq!(statements(&at), Vec::<&str>::new());
        assert!(at.facts.contains("5.0% deleted"), "{}", at.facts);
        // Past them: deletes reclaimed first, then the sort, then statistics.
        let past = redshift_upkeep(&t, Some(info(5.1, 10.1, 1000, 949)), &limits);
        assert_eq!(
            statements(&past),
            [
                "VACUUM DELETE ONLY \"mart_uni_tracking_info\"",
                "VACUUM SORT ONLY \"mart_uni_tracking_info\"",
                "ANALYZE \"mart_uni_tracking_info\""
            ]
        );
        assert!(
            past.steps[0]
                .why
                .contains("5.1% of its stored rows are deleted")
        );
        // Each alone.
        let sort = redshift_upkeep(&t, Some(info(40.0, 0.0, 10, 10)), &limits);
        assert_eq!(
            statements(&sort),
            ["VACUUM SORT ONLY \"mart_uni_tracking_info\""]
        );
        let stricter = MaintenanceConfig {
            analyze_above: 0.0,
            ..limits
        };
        let analyze = redshift_upkeep(&t, Some(info(0.0, 0.5, 10, 10)), &stricter);
        assert_eq!(statements(&analyze), ["ANALYZE \"mart_uni_tracking_info\""]);
        // An empty mart has no svv_table_info row; no sort key, no unsorted share.
        assert!(redshift_upkeep(&t, None, &limits).steps.is_empty());
        let unsorted_unknown = RedshiftTableInfo {
            unsorted: None,
            ..info(0.0, 0.0, 0, 0)
        };
        assert!(
            redshift_upkeep(&t, Some(unsorted_unknown), &limits)
                .steps
                .is_empty()
        );
    }
}
