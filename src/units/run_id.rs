//! Run ids: `20261126T153000123Z-9f3a1c2e`, the UTC time a run started plus random bits.
//! They name staged folders and ledger rows; their time lets a stage tell orphans.

use std::time::{SystemTime, UNIX_EPOCH};

/// A run id: UTC time to the millisecond plus random bits, e.g. `20261126T153000123Z-9f3a1c2e`.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = SystemTime::now();
    let stamp: String = humantime::format_rfc3339_millis(now)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    format!("{stamp}-{:08x}", hasher.finish() as u32)
}

/// When a run id (`20261126T153000123Z-…`) was made, if it is one.
pub fn run_id_time(run_id: &str) -> Option<std::time::SystemTime> {
    let stamp = run_id.split('-').next()?;
    if stamp.len() != 19 || !stamp.ends_with('Z') {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15],
        &stamp[15..18]
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}
