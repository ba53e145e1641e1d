//! Property test: over random histories, the marts equal an independent model written with
//! plain Rust maps, for both strategies (retention included, shortened to 20 seconds), and so
//! does each mart's Option A buffer (a `[[tables.targets]]` with 8 seconds of retention, so
//! histories cross it).

use std::collections::{BTreeMap, HashMap};

use martsync::generate::{FileFormat, Spath, Uti, spath_batch, uti_batch, write_batch};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::common::{Workspace, dump_expected};

const T0: i32 = 1_767_225_600;
const RETENTION: i32 = 20;
const BUFFER_RETENTION: i32 = 8;
const BUFFER: &str = "stg_buffer";

fn uti(order_id: i64, version: i32, payload: u8) -> Uti {
    Uti {
        order_id,
        tracking_no: format!("TN{order_id}"),
        partner_id: 1,
        carrier_code: None,
        status: 1,
        last_code: None,
        last_event: Some(format!("p{payload}")),
        last_location: None,
        delivered_at: None,
        add_time: T0,
        update_time: T0 + version,
    }
}

fn spath(id: i64, order_id: i64, trace_seq: i32, path_time: i32, payload: u8) -> Spath {
    Spath {
        id,
        order_id,
        trace_seq,
        path_time: T0 + path_time,
        code: 200,
        location: None,
        description: Some(format!("p{payload}")),
        is_updated: 0,
        time_modified: 1_000_000,
    }
}

/// Replays `files` into `mart` (with its buffer) and dumps the mart and the buffer.
fn replay_and_dump(
    dir_name: &str,
    mart: &str,
    files: Vec<arrow::array::RecordBatch>,
) -> (Vec<String>, Vec<String>) {
    let ws = Workspace::new();
    let input = ws.path("input");
    for (i, batch) in files.iter().enumerate() {
        write_batch(
            &input.join(format!("{dir_name}/b-{i:04}.parquet")),
            batch,
            FileFormat::Parquet,
        )
        .unwrap();
    }
    let extra = format!(
        "[[tables]]\nname = \"{mart}\"\nretention = \"{RETENTION}s\"\n\
         [[tables.targets]]\nname = \"{BUFFER}\"\nretention = \"{BUFFER_RETENTION}s\"\n"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(ws.replay(&input, &extra));
    (ws.dump(mart), ws.dump(BUFFER))
}

fn expected(rows: Vec<arrow::array::RecordBatch>) -> Vec<String> {
    if rows.iter().all(|b| b.num_rows() == 0) {
        Vec::new()
    } else {
        dump_expected(&rows)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn latest_mart_equals_the_model(batches in vec(vec((0i64..12, 0i32..45, 0u8..4), 0..14), 1..7)) {
        // The model: per batch, the greatest version per key (ties: later row); a mart row is
        // replaced when the batch's version is >= its own; then trim behind the newest.
        // The buffer gets what the mart gets (a row the mart holds at a newer version, or
        // as it is, goes to neither) and is trimmed behind its own newest.
        let mut mart: BTreeMap<i64, (i32, u8)> = BTreeMap::new();
        let mut buffer: BTreeMap<i64, (i32, u8)> = BTreeMap::new();
        for batch in &batches {
            let mut winners: HashMap<i64, (i32, u8)> = HashMap::new();
            for &(k, v, p) in batch {
                if winners.get(&k).is_none_or(|w| v >= w.0) {
                    winners.insert(k, (v, p));
                }
            }
            for (k, (v, p)) in winners {
                if mart.get(&k).is_none_or(|m| v >= m.0 && *m != (v, p)) {
                    mart.insert(k, (v, p));
                    buffer.insert(k, (v, p));
                }
            }
            for (table, retention) in [(&mut mart, RETENTION), (&mut buffer, BUFFER_RETENTION)] {
                if let Some(max) = table.values().map(|m| m.0).max() {
                    table.retain(|_, m| m.0 >= max - retention);
                }
            }
        }
        let files = batches.iter().map(|b| uti_batch(&b.iter().map(|&(k, v, p)| uti(k, v, p)).collect::<Vec<_>>())).collect();
        let rows = |t: &BTreeMap<i64, (i32, u8)>| -> Vec<String> {
            let want: Vec<Uti> = t.iter().map(|(&k, &(v, p))| uti(k, v, p)).collect();
            expected(vec![uti_batch(&want)])
        };
        prop_assert_eq!(replay_and_dump("uni_tracking_info", "mart_uni_tracking_info", files), (rows(&mart), rows(&buffer)));
    }

    #[test]
    fn append_mart_equals_the_model(batches in vec(vec((0i64..5, 0i32..3, 0i32..45, 0u8..4), 0..14), 1..7)) {
        // The model: the first arrival of a key is inserted unless the mart has the key; then
        // trim behind the newest pathTime.
        // The buffer: the first arrival of a key the buffer does not have (a key trimmed from
        // it comes back if it arrives again), trimmed behind its own newest.
        let mut mart: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
        let mut buffer: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
        let mut id = 0;
        let mut files = Vec::new();
        for batch in &batches {
            let mut rows = Vec::new();
            let mut firsts: BTreeMap<(i64, i32, i32), (i64, u8)> = BTreeMap::new();
            for &(o, s, t, p) in batch {
                id += 1;
                rows.push(spath(id, o, s, t, p));
                firsts.entry((o, s, t)).or_insert((id, p));
            }
            for (k, row) in firsts {
                mart.entry(k).or_insert(row);
                buffer.entry(k).or_insert(row);
            }
            for (table, retention) in [(&mut mart, RETENTION), (&mut buffer, BUFFER_RETENTION)] {
                if let Some(max) = table.keys().map(|k| k.2).max() {
                    table.retain(|k, _| k.2 >= max - retention);
                }
            }
            files.push(spath_batch(&rows));
        }
        let rows = |t: &BTreeMap<(i64, i32, i32), (i64, u8)>| -> Vec<String> {
            let want: Vec<Spath> = t.iter().map(|(&(o, s, t), &(id, p))| spath(id, o, s, t, p)).collect();
            expected(vec![spath_batch(&want)])
        };
        prop_assert_eq!(replay_and_dump("uni_tracking_spath", "mart_uni_tracking_spath", files), (rows(&mart), rows(&buffer)));
    }
}
