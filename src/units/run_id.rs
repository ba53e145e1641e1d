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

/// A staged run that never committed and is older than this is an orphan: its process died
/// before cleaning up (a live cycle stages and loads within minutes).
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a committed run's staged files stay (`[stage] keep`, `keep_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepStaged {
    /// Deleted right after COMMIT (the default).
    No,
    /// Kept until they are this old (by the time in their run id).
    For(std::time::Duration),
    /// Kept until someone deletes them.
    Forever,
}

/// Whether a staged run is past keeping at `now`: a run that never committed once it is an
/// orphan ([`ORPHAN_AGE`]); a committed one as `keep` says (with [`KeepStaged::No`], what a
/// crash after COMMIT left behind). A run id without a time is never deleted.
pub fn expired(
    run_id: &str,
    committed: bool,
    keep: KeepStaged,
    now: std::time::SystemTime,
) -> bool {
    let Some(age) = run_id_time(run_id).and_then(|t| now.duration_since(t).ok()) else {
        return false;
    };
    match (committed, keep) {
        (false, _) => age > ORPHAN_AGE,
        (true, KeepStaged::No) => true,
        (true, KeepStaged::For(kept)) => age > kept,
        (true, KeepStaged::Forever) => false,
    }
}

#[cfg(test)]
mod keep_tests {
    use super::*;

    /// Uncommitted runs go after an hour whatever is kept; committed ones as configured.
    #[test]
    fn committed_runs_are_kept_as_configured_and_orphans_go_after_an_hour() {
        let now = humantime::parse_rfc3339("2026-11-26T15:30:00Z").unwrap();
        let (old, fresh) = (
            "20261120T120000000Z-aaaaaaaa",
            "20261126T152900000Z-bbbbbbbb",
        );
        let day = std::time::Duration::from_secs(86_400);
        let cases = [
            // (run, committed, keep, expired)
            (old, false, KeepStaged::Forever, true),
            (fresh, false, KeepStaged::No, false),
            (fresh, true, KeepStaged::No, true),
            (old, true, KeepStaged::Forever, false),
            (old, true, KeepStaged::For(7 * day), false),
            (old, true, KeepStaged::For(5 * day), true),
            (fresh, true, KeepStaged::For(day), false),
            ("not-a-run-id", false, KeepStaged::No, false),
        ];
        for (run, committed, keep, want) in cases {
            assert_eq!(
                expired(run, committed, keep, now),
                want,
                "{run} {committed} {keep:?}"
            );
        }
    }
}
