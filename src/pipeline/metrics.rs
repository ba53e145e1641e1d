//! A run's counters and durations in the Prometheus text exposition format, for
//! node_exporter's textfile collector (`--metrics-file`). One file describes the last run;
//! it is replaced whole, so a mart that failed shows `martsync_cycle_success 0` and no counts.

use std::fmt::Write;

use std::time::Duration;

use super::CycleReport;
use crate::warehouse::{MartGauges, Timed};

/// One mart's outcome: its report, or the phase its cycle failed in.
pub enum MartResult<'a> {
    Committed(&'a CycleReport),
    Failed { phase: &'static str },
}

impl<'a> MartResult<'a> {
    /// A cycle's result, as the metrics tell it.
    pub fn of(result: &'a crate::Result<CycleReport>) -> Self {
        match result {
            Ok(report) => MartResult::Committed(report),
            Err(e) => MartResult::Failed { phase: e.phase() },
        }
    }
}

/// What the metrics of one run of `command` (`run`, `replay`) tell.
pub struct RunMetrics<'a> {
    pub command: &'a str,
    /// Each mart's cycle.
    pub marts: &'a [(&'a str, MartResult<'a>)],
    /// Each mart's size and freshness, read after the run (none when the warehouse could
    /// not be opened).
    pub gauges: &'a [(&'a str, MartGauges)],
    /// `warehouse.warn_delete_after`: a slower DELETE is flagged.
    pub warn_delete_after: Duration,
}

/// The metrics text of one run, finished at `now_s` (Unix time).
pub fn prometheus_text(run: &RunMetrics<'_>, now_s: f64) -> String {
    let (command, marts) = (run.command, run.marts);
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let table = |mart: &str| format!("command=\"{command}\",table=\"{}\"", escape(mart));
    let committed: Vec<(&str, &CycleReport)> = marts
        .iter()
        .filter_map(|(m, r)| match r {
            MartResult::Committed(report) => Some((*m, *report)),
            MartResult::Failed { .. } => None,
        })
        .collect();

    family(
        "martsync_cycle_success",
        "gauge",
        "1 when the mart's last cycle committed, 0 when it failed.",
        marts
            .iter()
            .map(|(m, r)| {
                let ok = matches!(r, MartResult::Committed(_));
                (table(m), if ok { 1.0 } else { 0.0 })
            })
            .collect(),
    );
    family(
        "martsync_cycle_failed_phase",
        "gauge",
        "1 for the phase a failed cycle stopped in (extract, dedup, stage, merge, config).",
        marts
            .iter()
            .filter_map(|(m, r)| match r {
                MartResult::Failed { phase } => {
                    Some((format!("{},phase=\"{phase}\"", table(m)), 1.0))
                }
                MartResult::Committed(_) => None,
            })
            .collect(),
    );
    family(
        "martsync_cycle_rows",
        "gauge",
        "Rows of the last committed cycle, by step (reconciled: deleted by delete_missing after it).",
        committed
            .iter()
            .flat_map(|(m, r)| {
                [
                    ("extracted", r.rows_extracted),
                    ("deduped", r.rows_deduped),
                    ("rejected", r.rows_rejected),
                    ("zero_dates", r.zero_dates),
                    ("deleted", r.rows_deleted),
                    ("inserted", r.rows_inserted),
                    ("trimmed", r.rows_trimmed),
                ]
                .into_iter()
                .chain(r.rows_reconciled.map(|n| ("reconciled", n)))
                .map(|(step, n)| (format!("{},step=\"{step}\"", table(m)), n as f64))
            })
            .collect(),
    );
    family(
        "martsync_cycle_duration_seconds",
        "gauge",
        "Seconds the last committed cycle spent, by phase (total = wall time).",
        committed
            .iter()
            .flat_map(|(m, r)| {
                [
                    ("extract", r.extract_ms),
                    ("dedup", r.dedup_ms),
                    ("stage", r.stage_ms),
                    ("merge", r.merge_ms),
                    ("total", r.total_ms),
                ]
                .map(|(phase, ms)| {
                    (
                        format!("{},phase=\"{phase}\"", table(m)),
                        ms as f64 / 1000.0,
                    )
                })
            })
            .collect(),
    );
    family(
        "martsync_merge_statement_seconds",
        "gauge",
        "Seconds the last committed cycle's merge spent in each of its statements (load, drop_stale, delete, insert, trim, targets); the ones it ran.",
        committed
            .iter()
            .flat_map(|(m, r)| {
                r.timings.iter().map(move |(timed, ms)| {
                    (
                        format!("{},statement=\"{}\"", table(m), timed.as_str()),
                        ms as f64 / 1000.0,
                    )
                })
            })
            .collect(),
    );
    family(
        "martsync_merge_delete_slow",
        "gauge",
        "1 when the last committed cycle's DELETE took longer than warehouse.warn_delete_after (the seed's 5-minute rule for moving a mart's reads to a target), else 0.",
        committed
            .iter()
            .map(|(m, r)| {
                let slow = r
                    .timings
                    .get(Timed::Delete)
                    .is_some_and(|ms| ms as u128 > run.warn_delete_after.as_millis());
                (table(m), if slow { 1.0 } else { 0.0 })
            })
            .collect(),
    );
    family(
        "martsync_mart_rows",
        "gauge",
        "Rows in the mart after the run (PostgreSQL: the planner's estimate, pg_class.reltuples): alert before it reaches the size the design splits it at.",
        run.gauges
            .iter()
            .filter_map(|(m, g)| g.rows.map(|rows| (table(m), rows as f64)))
            .collect(),
    );
    family(
        "martsync_mart_lag_seconds",
        "gauge",
        "Seconds since the mart's last committed scheduled cycle started: every change the source committed before then is in the mart. Grows while cycles fail or stop.",
        run.gauges
            .iter()
            .filter_map(|(m, g)| {
                g.synced_at_ms
                    .map(|ms| (table(m), (now_s - ms as f64 / 1000.0).max(0.0)))
            })
            .collect(),
    );
    family(
        "martsync_cycle_staged_bytes",
        "gauge",
        "Bytes of Parquet the last committed cycle staged.",
        committed
            .iter()
            .map(|(m, r)| (table(m), r.bytes_staged as f64))
            .collect(),
    );
    family(
        "martsync_watermark",
        "gauge",
        "The largest watermark the last committed cycle loaded, in the column's unit (seconds, or microseconds for timestamps).",
        committed
            .iter()
            .filter_map(|(m, r)| r.watermark_to.map(|w| (table(m), w as f64)))
            .collect(),
    );
    family(
        "martsync_process_peak_rss_bytes",
        "gauge",
        "The run's peak resident memory (VmHWM).",
        peak_rss_bytes()
            .map(|b| vec![(format!("command=\"{command}\""), b as f64)])
            .unwrap_or_default(),
    );
    family(
        "martsync_last_run_timestamp_seconds",
        "gauge",
        "When this run finished (Unix time): alert when it is older than the schedule.",
        vec![(format!("command=\"{command}\""), now_s)],
    );
    out
}

/// The process's peak resident set size so far (Linux `VmHWM`), if the OS tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics of one run, written to `path` atomically.
pub fn write(path: &std::path::Path, run: &RunMetrics<'_>) -> crate::Result<()> {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    crate::atomic_file::write(path, &prometheus_text(run, now_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::Timings;

    fn report(delete_ms: Option<i64>) -> CycleReport {
        let mut timings = Timings::default();
        timings.add(Timed::Insert, 1500);
        if let Some(ms) = delete_ms {
            timings.add(Timed::Delete, ms);
        }
        CycleReport {
            mart: "m".into(),
            timings,
            ..CycleReport::default()
        }
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn statement_times_rows_lag_and_the_slow_delete_flag() {
        let (slow, fast, none) = (report(Some(300_001)), report(Some(300_000)), report(None));
        let marts = [
            ("slow", MartResult::Committed(&slow)),
            ("fast", MartResult::Committed(&fast)),
            ("none", MartResult::Committed(&none)),
        ];
        let gauges = [(
            "slow",
            MartGauges {
                rows: Some(480_000_000),
                synced_at_ms: Some(1_000_000),
            },
        )];
        let run = RunMetrics {
            command: "run",
            marts: &marts,
            gauges: &gauges,
            warn_delete_after: Duration::from_secs(300),
        };
        let text = prometheus_text(&run, 1_900.5);
        let series = |name: &str, mart: &str, extra: &str| {
            sample(
                &text,
                &format!("{name}{{command=\"run\",table=\"{mart}\"{extra}}}"),
            )
        };
        assert_eq!(series("martsync_merge_delete_slow", "slow", ""), Some(1.0));
        assert_eq!(series("martsync_merge_delete_slow", "fast", ""), Some(0.0));
        assert_eq!(series("martsync_merge_delete_slow", "none", ""), Some(0.0));
        let delete = ",statement=\"delete\"";
        assert_eq!(
            series("martsync_merge_statement_seconds", "slow", delete),
            Some(300.001)
        );
        assert_eq!(
            series("martsync_merge_statement_seconds", "none", delete),
            None
        );
        assert_eq!(
            series(
                "martsync_merge_statement_seconds",
                "none",
                ",statement=\"insert\""
            ),
            Some(1.5)
        );
        assert_eq!(series("martsync_mart_rows", "slow", ""), Some(480e6));
        assert_eq!(series("martsync_mart_lag_seconds", "slow", ""), Some(900.5));
        assert_eq!(series("martsync_mart_rows", "fast", ""), None);
    }
}
