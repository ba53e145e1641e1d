//! `martsync status`: lag and recent runs as text and JSON, and the `--html` page rendered
//! in headless Chromium (Debian's `chromium`; installed by scripts/services.sh under CI).

use std::path::Path;
use std::process::Command;

use crate::common::martsync;

const MARTS: [&str; 3] = [
    "mart_uni_tracking_info",
    "mart_ecs_order_info",
    "mart_uni_tracking_spath",
];

fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        crate::common::skip_or_fail(
            "chromium",
            "chromium is not installed (scripts/services.sh installs it)",
        );
    }
    found
}

#[test]
fn status_shows_lag_and_runs_and_its_page_renders_in_chromium() {
    let cwd = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = martsync(cwd.path(), &["run"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = martsync(
        cwd.path(),
        &["status", "--json", "--runs", "5", "--html", "status.html"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (entry, mart) in status.as_array().unwrap().iter().zip(MARTS) {
        assert_eq!(entry["mart"], mart);
        // The demo source is fully loaded: the mart holds the source's newest watermark.
        assert_eq!(entry["lag_seconds"].as_f64(), Some(0.0), "{entry}");
        assert_eq!(
            entry["source_max_watermark"], entry["max_watermark"],
            "{entry}"
        );
        let runs = entry["recent_runs"].as_array().unwrap();
        assert_eq!(
            (runs.len(), entry["runs"].as_i64()),
            (2, Some(2)),
            "{entry}"
        );
        assert!(runs[0]["committed_at_ms"].as_i64() >= runs[1]["committed_at_ms"].as_i64());
        // The first run loaded the mart; the second re-read only the lookback overlap.
        assert!(runs[1]["rows_inserted"].as_i64().unwrap() > 0, "{entry}");
        assert_eq!(runs[0]["rows_inserted"].as_i64(), Some(0), "{entry}");
    }

    let page = cwd.path().join("status.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for forbidden in ["<script", "<link", "src=\"http", "url(http"] {
        assert!(
            !html.contains(forbidden),
            "external asset or script: {forbidden}"
        );
    }

    let Some(chromium) = chromium() else { return };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    // The page loaded and parsed: one chart per mart, each in its mart's section.
    assert!(dom.contains("<h1>martsync status</h1>"), "{dom}");
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        MARTS.len(),
        "{dom}"
    );
    for mart in MARTS {
        let section = dom
            .split(&format!("<section class=\"mart\" id=\"{mart}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {mart}"));
        let section = section.split("</section>").next().unwrap();
        assert_eq!(
            section.matches("<rect class=\"bar\"").count(),
            2,
            "{mart}: {section}"
        );
    }
    // No console errors and no failed loads: the page needs nothing from outside.
    for line in log.lines() {
        assert!(
            !line.contains("CONSOLE") && !line.contains("Failed to load resource"),
            "the page logged: {line}"
        );
    }
}
