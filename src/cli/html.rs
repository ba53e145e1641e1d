//! The run-history page of `martsync status --html`: one self-contained HTML file (inline
//! CSS and SVG, no scripts, no external assets) that a scheduler can publish as is.

use std::fmt::Write;

use super::status_report::{
    MartReport, RUN_COLUMNS, describe_lag, describe_ms, format_ms, run_cells,
};
use crate::config::TableConfig;
use crate::source::display_watermark;
use crate::warehouse::RunSummary;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}\
td:first-child,th:first-child{text-align:left}.facts span{margin-right:2em}.warning{color:#a40000;font-weight:bold}\
svg.chart{display:block;margin:.5em 0}.bar{fill:#4e79a7}.line{fill:none;stroke:#e15759;stroke-width:2}\
.dot{fill:#e15759}.axis{stroke:#888}.label{font-size:11px;fill:#555}";

/// The page for `reports` (one per table, same order).
pub fn status_page(warehouse: &str, tables: &[TableConfig], reports: &[MartReport]) -> String {
    let mut html = String::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>martsync status</title><style>{STYLE}</style></head><body>\n\
         <h1>martsync status</h1><p>Warehouse {} — written {}</p>\n",
        escape(warehouse),
        format_ms(now)
    );
    for (report, table) in reports.iter().zip(tables) {
        let s = &report.status;
        let _ = writeln!(
            html,
            "<section class=\"mart\" id=\"{0}\"><h2>{0}</h2>",
            escape(&s.mart)
        );
        if !s.exists {
            html += "<p>Not created yet: the first run creates it.</p></section>\n";
            continue;
        }
        let watermark = s
            .max_watermark
            .map_or("-".into(), |w| display_watermark(table, w));
        let _ = writeln!(
            html,
            "<p class=\"facts\"><span>rows <b>{}</b></span><span>max {} <b>{}</b></span>\
             <span>lag <b>{}</b></span><span>runs <b>{}</b></span></p>",
            s.rows,
            escape(&table.watermark),
            escape(&watermark),
            escape(&describe_lag(report)),
            s.runs
        );
        if let Some(slowest) = &report.slowest_statement {
            let _ = writeln!(
                html,
                "<p class=\"facts\"><span>slowest statement <b>{}</b> (median {} over {} runs)</span></p>",
                slowest.statement,
                escape(&describe_ms(slowest.median_ms)),
                slowest.runs
            );
        }
        if let Some(slow) = &report.slow_deletes {
            let _ = writeln!(
                html,
                "<p class=\"warning\">The merge's DELETE took longer than warehouse.warn_delete_after = {} \
                 in {} of the last {} runs (slowest {}): the seed's rule is to move this mart's heavy \
                 reads to a target (Option A).</p>",
                escape(&describe_ms(slow.warn_delete_after_ms)),
                slow.runs,
                slow.of_runs,
                escape(&describe_ms(slow.max_ms))
            );
        }
        // Oldest first, left to right.
        let runs: Vec<&RunSummary> = s.recent_runs.iter().rev().collect();
        html += &chart(&s.mart, &runs);
        html += "<table><tr>";
        for name in RUN_COLUMNS {
            let _ = write!(html, "<th>{name}</th>");
        }
        html += "</tr>\n";
        for run in &s.recent_runs {
            html += "<tr>";
            for cell in run_cells(run) {
                let _ = write!(html, "<td>{}</td>", escape(&cell));
            }
            html += "</tr>\n";
        }
        html += "</table></section>\n";
    }
    html += "</body></html>\n";
    html
}

/// An inline SVG: rows extracted per run as bars (left axis), the run's duration as a line
/// (right axis).
fn chart(mart: &str, runs: &[&RunSummary]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 236.0, 60.0, 60.0, 36.0, 30.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max_rows = runs
        .iter()
        .map(|r| r.rows_extracted)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_ms = runs
        .iter()
        .map(|r| r.duration_ms())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = plot_w / runs.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}: rows and duration of the last {} runs\">\n",
        escape(mart),
        runs.len()
    );
    let base = top + plot_h;
    let _ = writeln!(
        svg,
        "<rect class=\"bar legend\" x=\"{left}\" y=\"6\" width=\"10\" height=\"10\"/>\
         <text class=\"label\" x=\"{}\" y=\"15\">rows extracted per run</text>\
         <line class=\"line\" x1=\"{}\" y1=\"11\" x2=\"{}\" y2=\"11\"/>\
         <text class=\"label\" x=\"{}\" y=\"15\">run duration (right axis)</text>",
        left + 14.0,
        left + 170.0,
        left + 190.0,
        left + 196.0
    );
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\
         <text class=\"label\" x=\"4\" y=\"{}\">{} rows</text>\
         <text class=\"label\" x=\"{}\" y=\"{}\">{:.1} s</text>\
         <text class=\"label\" x=\"{left}\" y=\"{}\">oldest</text>\
         <text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">newest</text>",
        w - right,
        top + 10.0,
        max_rows as u64,
        w - right + 4.0,
        top + 10.0,
        max_ms / 1000.0,
        h - 8.0,
        w - right,
        h - 8.0
    );
    let mut points = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let x = left + slot * i as f64;
        // At least a hairline, so a run that read one row is still visible next to 1M.
        let bar_h = (plot_h * run.rows_extracted as f64 / max_rows).max(1.0);
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\">\
             <title>{}: {} rows extracted, {} ms</title></rect>",
            x + slot * 0.15,
            base - bar_h,
            slot * 0.7,
            format_ms(run.committed_at_ms),
            run.rows_extracted,
            run.duration_ms()
        );
        let y = base - plot_h * run.duration_ms() as f64 / max_ms;
        points.push(format!("{:.1},{y:.1}", x + slot / 2.0));
    }
    if !points.is_empty() {
        let _ = writeln!(
            svg,
            "<polyline class=\"line\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    svg += "</svg>\n";
    svg
}

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
