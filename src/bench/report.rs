//! The harness's report: `report.md` (tables of medians with min/max, machine facts,
//! verdicts), `report.json` (everything), and SVG charts drawn with plotters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Measurement, Options};
use crate::error::{Error, Result};

/// Median of a list (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// What the report says about the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
    pub martsync: String,
    pub date_utc: String,
}

impl Machine {
    fn here() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: crate::units::physical_memory().unwrap_or(0) as f64 / 1073741824.0,
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            martsync: crate::units::VERSION.to_string(),
            date_utc: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}

/// The fitted growth of merge time with mart size and what it projects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Projection {
    pub warehouse: String,
    /// seconds = intercept + slope × mart rows (least squares over the medians).
    pub intercept_s: f64,
    pub slope_s_per_million: f64,
    pub at_90m_s: f64,
    /// A 20-day buffer in front of a 6-month mart holds about 20/180 of its rows.
    pub buffer_at_10m_s: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub options: Options,
    pub measurements: Vec<Measurement>,
    pub projections: Vec<Projection>,
    pub notes: Vec<String>,
}

/// Where the 90M projection says Option B (no buffer) stops being enough: the merge must
/// leave most of a 15-minute schedule free.
const MERGE_BUDGET_S: f64 = 60.0;

impl Report {
    pub fn new(options: &Options, measurements: Vec<Measurement>, notes: Vec<String>) -> Self {
        let mut projections = Vec::new();
        let mut by_warehouse: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for m in measurements
            .iter()
            .filter(|m| m.scenario == "merge-scaling")
        {
            by_warehouse
                .entry(&m.variant)
                .or_default()
                .push((m.params["mart_rows"] as f64, m.median()));
        }
        for (warehouse, points) in by_warehouse {
            if let Some((intercept, slope)) = fit(&points) {
                projections.push(Projection {
                    warehouse: warehouse.to_string(),
                    intercept_s: intercept,
                    slope_s_per_million: slope * 1e6,
                    at_90m_s: intercept + slope * 90e6,
                    buffer_at_10m_s: intercept + slope * 10e6,
                });
            }
        }
        Report {
            machine: Machine::here(),
            options: options.clone(),
            measurements,
            projections,
            notes,
        }
    }

    fn of<'a>(&'a self, scenario: &'a str) -> impl Iterator<Item = &'a Measurement> + 'a {
        self.measurements
            .iter()
            .filter(move |m| m.scenario == scenario)
    }

    /// Writes report.md, report.json and the charts into `dir`. The PostgreSQL URL is
    /// written without its password.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut public = self.clone();
        public.options.postgres = self
            .options
            .postgres
            .as_deref()
            .map(crate::config::redact_url);
        let json = serde_json::to_string_pretty(&public).expect("report serializes");
        let path = dir.join("report.json");
        std::fs::write(&path, json + "\n").map_err(|e| Error::io("writing", &path, e))?;
        let charts = self.charts(dir)?;
        let path = dir.join("report.md");
        std::fs::write(&path, self.markdown(&charts)).map_err(|e| Error::io("writing", &path, e))
    }

    /// The Markdown report; `charts` are the file names of the charts written.
    pub fn markdown(&self, charts: &[String]) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# martsync bench\n");
        let _ = writeln!(
            md,
            "Measured {} on {} cores ({}), {:.1} GiB memory, Linux {}; martsync {}. \
             Every figure is the median of {} repetitions, with min–max; the machine may be \
             shared, so compare contenders within this run only.\n",
            m.date_utc,
            m.cores,
            m.cpu,
            m.memory_gib,
            m.kernel,
            m.martsync,
            self.options.repetitions
        );
        let secs = |m: &Measurement| {
            format!(
                "{:.3} s ({:.3}–{:.3})",
                m.median(),
                min(&m.seconds),
                max(&m.seconds)
            )
        };

        let dedup: Vec<&Measurement> = self.of("dedup").collect();
        if !dedup.is_empty() {
            let _ = writeln!(md, "## dedup\n");
            let duck = dedup
                .iter()
                .find(|m| m.variant.starts_with("DuckDB"))
                .map(|m| m.median());
            let _ = writeln!(
                md,
                "| contender | wall | rows/s | vs DuckDB | peak RSS | rows out |\n|---|---|---|---|---|---|"
            );
            for d in &dedup {
                let ratio = duck.map_or("–".into(), |t| format!("{:.2}×", t / d.median()));
                let rss = d
                    .figures
                    .get("peak_rss_mib")
                    .map_or("–".into(), |r| format!("{r:.0} MiB"));
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.2} M | {ratio} | {rss} | {} |",
                    d.variant,
                    secs(d),
                    d.figures.get("rows_per_s").unwrap_or(&0.0) / 1e6,
                    d.figures.get("rows_out").unwrap_or(&0.0)
                );
            }
            if let Some(ours) = dedup.iter().find(|m| m.variant.starts_with("martsync")) {
                let met = |ok: bool| if ok { "met" } else { "not met" };
                // Issue 18: at least twice the throughput of each contender a user would pick.
                let targets: Vec<String> = ["DuckDB", "Polars"]
                    .iter()
                    .filter_map(|name| {
                        let theirs = dedup.iter().find(|m| m.variant.starts_with(name))?;
                        let ratio = theirs.median() / ours.median();
                        Some(format!(
                            "throughput ≥ 2× {name}'s: **{ratio:.2}×** ({})",
                            met(ratio >= 2.0)
                        ))
                    })
                    .collect();
                let rss = ours.figures.get("peak_rss_mib").copied().unwrap_or(0.0);
                let output = ours.figures.get("output_arrow_mib").copied().unwrap_or(0.0);
                let bound = 2.0 * output + 256.0;
                let _ = writeln!(
                    md,
                    "\nTargets: {}; peak memory ≤ 2 × the output's Arrow size ({output:.0} MiB) + \
                     256 MiB = {bound:.0} MiB: **{rss:.0} MiB** ({}).",
                    targets.join("; "),
                    met(rss <= bound),
                );
            }
            let _ = writeln!(md);
        }

        let placement: Vec<&Measurement> = self.of("placement").collect();
        if !placement.is_empty() {
            let _ = writeln!(md, "## placement\n");
            let _ = writeln!(
                md,
                "| batch rows | rows per key | placement · warehouse | cycle | warehouse time | bytes staged | rows shipped |\n|---|---|---|---|---|---|---|"
            );
            for p in &placement {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {:.3} s | {} | {} |",
                    p.params["batch_rows"],
                    p.params["dup_factor"],
                    p.variant,
                    secs(p),
                    p.figures.get("warehouse_s").unwrap_or(&0.0),
                    crate::units::human_bytes(*p.figures.get("bytes_staged").unwrap_or(&0.0) as u64),
                    p.figures.get("rows_shipped").unwrap_or(&0.0)
                );
            }
            let _ = writeln!(
                md,
                "\nWhere each placement wins (median cycle, same run):\n"
            );
            for pair in placement.chunks(2) {
                if let [local, remote] = pair {
                    let (l, r) = (local.median(), remote.median());
                    let _ = writeln!(
                        md,
                        "- {} rows × {} per key ({}): {} by {:.2}×",
                        local.params["batch_rows"],
                        local.params["dup_factor"],
                        local.variant.split(" · ").nth(1).unwrap_or(""),
                        if l <= r {
                            "local dedup wins"
                        } else {
                            "warehouse dedup wins"
                        },
                        l.max(r) / l.min(r).max(1e-9)
                    );
                }
            }
            let _ = writeln!(md);
        }

        let merges: Vec<&Measurement> = self.of("merge-scaling").collect();
        if !merges.is_empty() {
            let _ = writeln!(md, "## merge-scaling\n");
            let _ = writeln!(
                md,
                "| warehouse | mart rows | merge | whole cycle |\n|---|---|---|---|"
            );
            for g in &merges {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.3} s |",
                    g.variant,
                    g.params["mart_rows"],
                    secs(g),
                    g.figures.get("cycle_s").unwrap_or(&0.0)
                );
            }
            let _ = writeln!(md);
            for p in &self.projections {
                let verdict = if p.slope_s_per_million <= 0.0 {
                    "The merge did not grow with the mart at these sizes, so nothing can be \
                     projected from them: measure larger marts (--max-rows)"
                        .to_string()
                } else if p.at_90m_s <= MERGE_BUDGET_S {
                    format!(
                        "Option B (merge straight into the 6-month mart) fits: the projected merge \
                         stays within the {MERGE_BUDGET_S:.0} s budget of a 15-minute cycle"
                    )
                } else {
                    format!(
                        "Option A (a 20-day buffer, about 10M rows) is needed: the projected merge \
                         exceeds the {MERGE_BUDGET_S:.0} s budget, the buffer's is {:.1} s",
                        p.buffer_at_10m_s
                    )
                };
                let _ = writeln!(
                    md,
                    "- **{}**: merge ≈ {:.3} s + {:.4} s per million mart rows (least squares over \
                     the medians; assumes linear growth, this machine, this batch size); at 90M \
                     rows ≈ **{:.1} s**. {verdict}.",
                    p.warehouse, p.intercept_s, p.slope_s_per_million, p.at_90m_s
                );
            }
            let _ = writeln!(md);
        }

        let queries: Vec<&Measurement> = self.of("primary-query").collect();
        if !queries.is_empty() {
            let _ = writeln!(md, "## primary-query\n");
            let _ = writeln!(
                md,
                "| run · warehouse | orders | time | rows |\n|---|---|---|---|"
            );
            for q in &queries {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    q.variant,
                    q.params["orders"],
                    secs(q),
                    q.figures.get("rows").unwrap_or(&0.0)
                );
            }
            let _ = writeln!(md);
        }

        if !charts.is_empty() {
            let _ = writeln!(md, "## Charts\n");
            for chart in charts {
                let _ = writeln!(md, "![{chart}]({chart})\n");
            }
        }
        let _ = writeln!(md, "## Notes\n");
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        md
    }

    /// Draws the charts the measurements allow; returns their file names.
    fn charts(&self, dir: &Path) -> Result<Vec<String>> {
        let mut written = Vec::new();
        let draw = |name: &str, result: std::result::Result<(), String>| {
            result.map_err(|e| Error::io("drawing chart", dir.join(name), std::io::Error::other(e)))
        };
        let dedup: Vec<&Measurement> = self.of("dedup").collect();
        if !dedup.is_empty() {
            let name = "dedup_throughput.svg";
            draw(name, throughput_chart(&dir.join(name), &dedup))?;
            written.push(name.to_string());
        }
        let placement: Vec<&Measurement> = self.of("placement").collect();
        if !placement.is_empty() {
            let name = "placement.svg";
            draw(name, placement_chart(&dir.join(name), &placement))?;
            written.push(name.to_string());
        }
        let merges: Vec<&Measurement> = self.of("merge-scaling").collect();
        if !merges.is_empty() {
            let name = "merge_scaling.svg";
            draw(
                name,
                merge_chart(&dir.join(name), &merges, &self.projections),
            )?;
            written.push(name.to_string());
        }
        Ok(written)
    }
}

/// Least squares `y = a + b x`; `None` with fewer than two distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// Twelve distinguishable colours (Tableau's 10 and two more): a placement chart has up to
/// 2 placements × 2 warehouses × 3 duplication factors.
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Bars: million rows per second per contender.
fn throughput_chart(path: &Path, dedup: &[&Measurement]) -> std::result::Result<(), String> {
    let root = SVGBackend::new(path, (760, 380)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let values: Vec<f64> = dedup
        .iter()
        .map(|m| m.figures.get("rows_per_s").copied().unwrap_or(0.0) / 1e6)
        .collect();
    let top = values.iter().copied().fold(0.0, f64::max) * 1.2 + 0.01;
    let rows = dedup[0].params.get("rows").copied().unwrap_or(0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("latest dedup of {rows} rows: million rows/s (median)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0..dedup.len()).into_segmented(), 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => dedup.get(*i).map_or(String::new(), |m| m.variant.clone()),
            _ => String::new(),
        })
        .y_desc("M rows/s")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                PALETTE[i % PALETTE.len()].filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(err)?;
    root.present().map_err(err)
}

/// Lines: cycle seconds against batch rows, one per placement × warehouse × rows per key.
fn placement_chart(path: &Path, placement: &[&Measurement]) -> std::result::Result<(), String> {
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // Twelve series would cover the lines inside the plot: their legend gets its own column.
    let (plot, legend) = root.split_horizontally(720);
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for m in placement {
        series
            .entry(format!("{} · {}/key", m.variant, m.params["dup_factor"]))
            .or_default()
            .push((m.params["batch_rows"] as f64, m.median()));
    }
    let xs: Vec<f64> = series.values().flatten().map(|p| p.0).collect();
    let ys: Vec<f64> = series.values().flatten().map(|p| p.1).collect();
    let (x0, x1) = (min(&xs).max(1.0), max(&xs).max(2.0));
    let (y0, y1) = (min(&ys).max(1e-4), max(&ys).max(1e-3));
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "one cycle: seconds by batch size (median)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x0 * 0.8..x1 * 1.25).log_scale(),
            (y0 * 0.8..y1 * 1.25).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("batch rows")
        .y_desc("seconds")
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Local dedup drawn thick, warehouse dedup thin.
        let style = if name.starts_with("local") {
            color.stroke_width(3)
        } else {
            color.stroke_width(1)
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(err)?;
        let y = 40 + 22 * i as i32;
        legend
            .draw(&PathElement::new(vec![(8, y), (32, y)], style))
            .map_err(err)?;
        legend
            .draw(&Text::new(name.clone(), (40, y - 7), ("sans-serif", 13)))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Points and fitted lines: merge seconds against mart rows, extended to 90M.
fn merge_chart(
    path: &Path,
    merges: &[&Measurement],
    projections: &[Projection],
) -> std::result::Result<(), String> {
    let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = projections
        .iter()
        .map(|p| p.at_90m_s)
        .chain(merges.iter().map(|m| m.median()))
        .fold(0.0, f64::max)
        * 1.15
        + 0.01;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "merge of one batch: seconds by mart size, fitted to 90M rows",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..92.0, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("mart rows (millions)")
        .y_desc("seconds")
        .draw()
        .map_err(err)?;
    let mut warehouses: Vec<&str> = merges.iter().map(|m| m.variant.as_str()).collect();
    warehouses.dedup();
    for (i, warehouse) in warehouses.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = merges
            .iter()
            .filter(|m| m.variant == *warehouse)
            .map(|m| (m.params["mart_rows"] as f64 / 1e6, m.median()))
            .collect();
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?
            .label(warehouse.to_string())
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        if let Some(p) = projections.iter().find(|p| p.warehouse == *warehouse) {
            let line = (0..=90)
                .step_by(5)
                .map(|m| (m as f64, p.intercept_s + p.slope_s_per_million * m as f64));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(1)))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
