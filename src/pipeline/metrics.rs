//! A run's counters and durations in the Prometheus text exposition format, for
//! node_exporter's textfile collector (`--metrics-file`). One file describes the last run;
//! it is replaced whole, so a mart that failed shows `martsync_cycle_success 0` and no counts.

use std::fmt::Write;

use super::CycleReport;

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

/// The metrics text of one run of `command` (`run`, `replay`), finished at `now_s`.
pub fn prometheus_text(command: &str, now_s: f64, marts: &[(&str, MartResult<'_>)]) -> String {
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
        "Rows of the last committed cycle, by step.",
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
pub fn write(
    path: &std::path::Path,
    command: &str,
    marts: &[(&str, MartResult<'_>)],
) -> crate::Result<()> {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    crate::atomic_file::write(path, &prometheus_text(command, now_s, marts))
}
