//! A deterministic generator of source histories: the demo fixtures, the tests and the
//! benchmarks all use it, so they all see the same kinds of trouble the old pipeline met:
//! orders whose lifecycle is longer than 20 days, re-reads of the lookback overlap, old
//! versions arriving after newer ones, and version ties.
//!
//! The history is a simulation of the three source tables over `cycles` extraction windows;
//! each window's rows become one batch file per table, as the old extraction jobs wrote them.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::schema::{self, UnsignedBigint};

/// SplitMix64: tiny, fast, and stable across versions (the fixtures must never change
/// because a dependency did).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    pub orders: usize,
    /// Epoch seconds of the first window.
    pub start: i64,
    pub cycles: usize,
    pub cycle_secs: i64,
    /// Each window also re-reads this much of the previous one (the lookback).
    pub overlap_secs: i64,
    /// Share of uti rows re-sent, stale, in a later batch.
    pub late_rate: f64,
    /// Share of uti rows followed by a same-version correction.
    pub tie_rate: f64,
}

impl Params {
    /// The demo fixtures: 300 orders over 24 windows of 10 days (240 days, so the 180-day
    /// retention trims), 30-minute overlap, some late and tied versions.
    pub fn demo() -> Self {
        Params {
            seed: 20261126,
            orders: 300,
            start: 1_767_225_600, // 2026-01-01T00:00:00Z
            cycles: 24,
            cycle_secs: 10 * 86_400,
            overlap_secs: 1_800,
            late_rate: 0.03,
            tie_rate: 0.03,
        }
    }
}

/// A row of `uni_tracking_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Uti {
    pub order_id: i64,
    pub tracking_no: String,
    pub partner_id: i32,
    pub carrier_code: Option<String>,
    pub status: i16,
    pub last_code: Option<i16>,
    pub last_event: Option<String>,
    pub last_location: Option<String>,
    /// µs since epoch, naive.
    pub delivered_at: Option<i64>,
    pub add_time: i32,
    pub update_time: i32,
}

/// A row of `ecs_order_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecs {
    pub order_id: i64,
    pub order_no: String,
    pub partner_id: i32,
    pub customer_ref: Option<String>,
    pub dest_country: String,
    pub weight_g: Option<i32>,
    /// Cents.
    pub declared_value: Option<i128>,
    pub currency: Option<String>,
    pub add_time: i32,
}

/// A row of `uni_tracking_spath`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spath {
    pub id: i64,
    pub order_id: i64,
    pub trace_seq: i32,
    pub path_time: i32,
    pub code: i16,
    pub location: Option<String>,
    pub description: Option<String>,
    pub is_updated: i16,
    /// µs since epoch, UTC.
    pub time_modified: i64,
}

/// Every window's batch of every table, and the sources' final state.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub uti: Vec<Vec<Uti>>,
    pub ecs: Vec<Vec<Ecs>>,
    pub spath: Vec<Vec<Spath>>,
    /// `uni_tracking_info` as the source holds it at the end: one row per order.
    pub uti_final: Vec<Uti>,
}

const COUNTRIES: &[&str] = &["US", "DE", "GB", "FR", "JP", "BR", "AU", "CN"];
const CARRIERS: &[&str] = &["ups", "dhl", "fedex", "usps", "yodel", "sf"];
const PLACES: &[&str] = &[
    "Shenzhen",
    "Leipzig",
    "Memphis",
    "Louisville",
    "Heathrow",
    "São Paulo",
    "Zürich",
];
const EVENTS: &[&str] = &[
    "Label created",
    "Picked up",
    "In transit",
    "Customs cleared",
    "Out for delivery",
    "Delivered",
];

/// Simulates the sources and cuts them into batches; deterministic for a given `Params`.
pub fn generate(p: &Params) -> History {
    let mut rng = Rng::new(p.seed);
    let end = p.start + p.cycles as i64 * p.cycle_secs;
    // Every order's versions, as the source would have held them over time.
    let mut versions: Vec<Vec<Uti>> = Vec::with_capacity(p.orders);
    let mut ecs_rows = Vec::with_capacity(p.orders);
    let mut events: Vec<Spath> = Vec::new();
    for i in 0..p.orders {
        let order_id = 1_000_000 + i as i64;
        let created = rng.range(p.start, end);
        // About a third of the orders live longer than 20 days: the old pipeline's blind spot.
        let lifecycle_days = if rng.chance(0.35) {
            rng.range(21, 61)
        } else {
            rng.range(1, 21)
        };
        let updates = rng.range(2, 8) as usize;
        let mut times: Vec<i64> = (0..updates)
            .map(|_| created + rng.range(0, lifecycle_days * 86_400))
            .collect();
        times.sort();
        times[0] = created;
        let partner_id = rng.range(1, 40) as i32;
        let carrier = (!rng.chance(0.1))
            .then(|| CARRIERS[rng.range(0, CARRIERS.len() as i64) as usize].to_string());
        let mut order_versions = Vec::new();
        for (n, &t) in times.iter().enumerate() {
            let status = (n as i16 + 1).min(EVENTS.len() as i16);
            let delivered = status as usize == EVENTS.len();
            let place = PLACES[rng.range(0, PLACES.len() as i64) as usize];
            order_versions.push(Uti {
                order_id,
                tracking_no: format!("TN{order_id:010}"),
                partner_id,
                carrier_code: carrier.clone(),
                status,
                last_code: (n > 0).then_some(100 * status),
                last_event: Some(EVENTS[status as usize - 1].to_string()),
                last_location: (n > 0).then(|| place.to_string()),
                delivered_at: delivered.then_some(t * 1_000_000),
                add_time: created as i32,
                update_time: t as i32,
            });
            events.push(Spath {
                id: 0,
                order_id,
                trace_seq: n as i32 + 1,
                path_time: t as i32,
                code: 100 * status,
                location: Some(place.to_string()),
                description: (!rng.chance(0.05))
                    .then(|| format!("{} at {place}", EVENTS[status as usize - 1])),
                is_updated: 0,
                time_modified: t * 1_000_000 + rng.range(0, 1_000) * 1_000,
            });
        }
        versions.push(order_versions);
        ecs_rows.push(Ecs {
            order_id,
            order_no: format!("SO-{order_id}"),
            partner_id,
            customer_ref: (!rng.chance(0.2)).then(|| format!("cust-{}", rng.range(1, 10_000))),
            dest_country: COUNTRIES[rng.range(0, COUNTRIES.len() as i64) as usize].to_string(),
            weight_g: (!rng.chance(0.1)).then(|| rng.range(50, 30_000) as i32),
            declared_value: (!rng.chance(0.1)).then(|| rng.range(100, 5_000_000) as i128),
            currency: (!rng.chance(0.1)).then(|| "USD".to_string()),
            add_time: created as i32,
        });
    }
    events.sort_by_key(|e| (e.path_time, e.order_id, e.trace_seq));
    for (i, e) in events.iter_mut().enumerate() {
        e.id = i as i64 + 1;
    }

    let mut history = History::default();
    let mut late: Vec<(usize, Uti)> = Vec::new(); // (batch it arrives in, stale row)
    let mut current: Vec<Option<Uti>> = vec![None; p.orders];
    for k in 0..p.cycles {
        let hi = p.start + (k as i64 + 1) * p.cycle_secs;
        let lo = (p.start + k as i64 * p.cycle_secs - p.overlap_secs).max(p.start - 1);
        let in_window = |t: i64| t > lo && t <= hi;
        let mut uti = Vec::new();
        for (o, order_versions) in versions.iter().enumerate() {
            // The source holds one row per order: its latest version as of the window's end.
            if let Some(v) = order_versions
                .iter()
                .rev()
                .find(|v| (v.update_time as i64) <= hi)
            {
                let mut row = v.clone();
                // Keep a tie correction made earlier to this version.
                if let Some(prev) = current[o]
                    .as_ref()
                    .filter(|p| p.update_time == row.update_time)
                {
                    row = prev.clone();
                }
                if in_window(row.update_time as i64) {
                    uti.push(row.clone());
                    if rng.chance(p.late_rate) {
                        late.push((k + rng.range(1, 4) as usize, row.clone()));
                    }
                    if rng.chance(p.tie_rate) {
                        // A correction with the same version: the later arrival must win.
                        row.last_event = Some(format!(
                            "{} (corrected)",
                            row.last_event.clone().unwrap_or_default()
                        ));
                        uti.push(row.clone());
                    }
                }
                current[o] = Some(row);
            }
        }
        // Stale rows due now go in at random places, sometimes after the newer version.
        // Only rows that really are stale by then are sent: a row of the current version
        // would be a (legitimate) re-send, not a late old version.
        for (_, row) in late.iter().filter(|(due, _)| *due == k) {
            let newest = current[(row.order_id - 1_000_000) as usize]
                .as_ref()
                .map(|c| c.update_time);
            if newest.is_some_and(|t| t > row.update_time) {
                let at = rng.range(0, uti.len() as i64 + 1) as usize;
                uti.insert(at, row.clone());
            }
        }
        late.retain(|(due, _)| *due > k);
        history.uti.push(uti);
        history.ecs.push(
            ecs_rows
                .iter()
                .filter(|e| in_window(e.add_time as i64))
                .cloned()
                .collect(),
        );
        history.spath.push(
            events
                .iter()
                .filter(|e| in_window(e.path_time as i64))
                .cloned()
                .collect(),
        );
    }
    history.uti_final = current.into_iter().flatten().collect();
    history
}

fn schema_of(table: &str) -> SchemaRef {
    schema::builtin_source(table, UnsignedBigint::Int64)
        .expect("shipped table")
        .arrow_schema()
}

/// `batch` with its text columns, but those at `except`, typed `text`: `LargeUtf8` or
/// `Utf8View` as other writers declare text in the Arrow schema they embed, or a dictionary
/// as a Parquet source read for a dedup brings it.
pub fn with_text_as(batch: &RecordBatch, text: &DataType, except: &[usize]) -> RecordBatch {
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
        .map(|(i, (f, c))| match f.data_type() {
            DataType::Utf8 if !except.contains(&i) => (
                f.as_ref().clone().with_data_type(text.clone()),
                arrow::compute::cast(c, text).expect("text casts to text"),
            ),
            _ => (f.as_ref().clone(), Arc::clone(c)),
        })
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("same columns")
}

/// `uni_tracking_info` rows as a batch in the mart schema.
pub fn uti_batch(rows: &[Uti]) -> RecordBatch {
    let mut c = (
        Int64Builder::new(),
        StringBuilder::new(),
        Int32Builder::new(),
        StringBuilder::new(),
        Int16Builder::new(),
        Int16Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        TimestampMicrosecondBuilder::new(),
        Int32Builder::new(),
        Int32Builder::new(),
    );
    for r in rows {
        c.0.append_value(r.order_id);
        c.1.append_value(&r.tracking_no);
        c.2.append_value(r.partner_id);
        c.3.append_option(r.carrier_code.as_deref());
        c.4.append_value(r.status);
        c.5.append_option(r.last_code);
        c.6.append_option(r.last_event.as_deref());
        c.7.append_option(r.last_location.as_deref());
        c.8.append_option(r.delivered_at);
        c.9.append_value(r.add_time);
        c.10.append_value(r.update_time);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(c.0.finish()),
        Arc::new(c.1.finish()),
        Arc::new(c.2.finish()),
        Arc::new(c.3.finish()),
        Arc::new(c.4.finish()),
        Arc::new(c.5.finish()),
        Arc::new(c.6.finish()),
        Arc::new(c.7.finish()),
        Arc::new(c.8.finish()),
        Arc::new(c.9.finish()),
        Arc::new(c.10.finish()),
    ];
    RecordBatch::try_new(schema_of("uni_tracking_info"), columns)
        .expect("uti columns match the schema")
}

/// `ecs_order_info` rows as a batch in the mart schema.
pub fn ecs_batch(rows: &[Ecs]) -> RecordBatch {
    let mut value = Decimal128Builder::new()
        .with_precision_and_scale(12, 2)
        .expect("valid decimal");
    let (mut id, mut no, mut partner, mut cref, mut country, mut weight, mut currency, mut add) = (
        Int64Builder::new(),
        StringBuilder::new(),
        Int32Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int32Builder::new(),
        StringBuilder::new(),
        Int32Builder::new(),
    );
    for r in rows {
        id.append_value(r.order_id);
        no.append_value(&r.order_no);
        partner.append_value(r.partner_id);
        cref.append_option(r.customer_ref.as_deref());
        country.append_value(&r.dest_country);
        weight.append_option(r.weight_g);
        value.append_option(r.declared_value);
        currency.append_option(r.currency.as_deref());
        add.append_value(r.add_time);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(no.finish()),
        Arc::new(partner.finish()),
        Arc::new(cref.finish()),
        Arc::new(country.finish()),
        Arc::new(weight.finish()),
        Arc::new(value.finish()),
        Arc::new(currency.finish()),
        Arc::new(add.finish()),
    ];
    RecordBatch::try_new(schema_of("ecs_order_info"), columns)
        .expect("ecs columns match the schema")
}

/// `uni_tracking_spath` rows as a batch in the mart schema.
pub fn spath_batch(rows: &[Spath]) -> RecordBatch {
    let (mut id, mut order, mut seq, mut time, mut code, mut loc, mut desc, mut upd) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int32Builder::new(),
        Int32Builder::new(),
        Int16Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int16Builder::new(),
    );
    let mut modified = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for r in rows {
        id.append_value(r.id);
        order.append_value(r.order_id);
        seq.append_value(r.trace_seq);
        time.append_value(r.path_time);
        code.append_value(r.code);
        loc.append_option(r.location.as_deref());
        desc.append_option(r.description.as_deref());
        upd.append_value(r.is_updated);
        modified.append_value(r.time_modified);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(order.finish()),
        Arc::new(seq.finish()),
        Arc::new(time.finish()),
        Arc::new(code.finish()),
        Arc::new(loc.finish()),
        Arc::new(desc.finish()),
        Arc::new(upd.finish()),
        Arc::new(modified.finish()),
    ];
    RecordBatch::try_new(schema_of("uni_tracking_spath"), columns)
        .expect("spath columns match the schema")
}

/// A file format for written batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    Jsonl,
}

impl FileFormat {
    pub const ALL: [FileFormat; 3] = [FileFormat::Parquet, FileFormat::Csv, FileFormat::Jsonl];

    /// The format's name, as the CLI spells it (and its files' extension).
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Jsonl => "jsonl",
        }
    }
}

/// Writes one batch as a file of the given format.
pub fn write_batch(path: &Path, batch: &RecordBatch, format: FileFormat) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating folder", parent, e))?;
    }
    let file = File::create(path).map_err(|e| Error::io("creating", path, e))?;
    let failed = |e: String| Error::io("writing", path, std::io::Error::other(e));
    match format {
        FileFormat::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
                .map_err(|e| failed(e.to_string()))?;
            w.write(batch).map_err(|e| failed(e.to_string()))?;
            w.close().map_err(|e| failed(e.to_string()))?;
        }
        FileFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            w.write(batch).map_err(|e| failed(e.to_string()))?;
        }
        FileFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(file);
            w.write(batch).map_err(|e| failed(e.to_string()))?;
            w.finish().map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(())
}

/// The formats the demo uses, one per table, so every reader is exercised.
pub const DEMO_FORMATS: [FileFormat; 3] = [FileFormat::Parquet, FileFormat::Csv, FileFormat::Jsonl];

/// Writes every batch as `dir/<table>/batch-NNNNN.<ext>`, uti, ecs and spath in `formats`.
pub fn write_history(history: &History, dir: &Path, formats: [FileFormat; 3]) -> Result<()> {
    let ext = |f: FileFormat| match f {
        FileFormat::Parquet => "parquet",
        FileFormat::Csv => "csv",
        FileFormat::Jsonl => "jsonl",
    };
    for (k, rows) in history.uti.iter().enumerate() {
        let path = dir.join(format!(
            "uni_tracking_info/batch-{k:05}.{}",
            ext(formats[0])
        ));
        write_batch(&path, &uti_batch(rows), formats[0])?;
    }
    for (k, rows) in history.ecs.iter().enumerate() {
        let path = dir.join(format!("ecs_order_info/batch-{k:05}.{}", ext(formats[1])));
        write_batch(&path, &ecs_batch(rows), formats[1])?;
    }
    for (k, rows) in history.spath.iter().enumerate() {
        let path = dir.join(format!(
            "uni_tracking_spath/batch-{k:05}.{}",
            ext(formats[2])
        ));
        write_batch(&path, &spath_batch(rows), formats[2])?;
    }
    Ok(())
}
