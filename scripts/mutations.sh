#!/usr/bin/env bash
# Shows that each guarantee's tests can fail: for every row of the README's "What martsync
# guarantees" table, breaks the code the way the row forbids (one edit, a mutation), rebuilds,
# runs the tests the row names, and reports whether they failed ("caught") as they must.
# Every file is restored afterwards, also on Ctrl-C.
#
#   scripts/mutations.sh            # every mutation (one rebuild each: about an hour here)
#   scripts/mutations.sh 3 8        # only mutations 3 and 8
#
# Needs the services (scripts/services.sh), like the test suite. Prints a Markdown table.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/martsync-target}"

# number | what the mutation breaks | file | exact text | replacement | test filters
MUTATIONS=(
  "1|replays lose the version guard (an old re-sent file overwrites)|src/config/mod.rs|VersionGuard::Replays => !live,|VersionGuard::Replays => false,|late_old_versions_never_overwrite replay_keeps_the_newer_row latest_mart_equals_the_model"
  "2|live MySQL rows keep the version guard (a late commit is dropped)|src/config/mod.rs|VersionGuard::Replays => !live,|VersionGuard::Replays => true,|take_the_source_row_when_its_version_moves_backwards"
  "3|no transaction: each merge statement commits on its own (DuckDB: COMMIT and BEGIN after every statement)|src/warehouse/executor.rs|            _ => crate::fault::after_statement(step.name.as_str()).await,|            _ => {\n                let _ = session.execute(\"COMMIT\", &[]).await;\n                let _ = session.execute(\"BEGIN\", &[]).await;\n                crate::fault::after_statement(step.name.as_str()).await\n            }|duckdb_crash_between_merge_statements_changes_nothing"
  "4|the ledger row commits before the merge, in its own transaction (a claim first, then the work)|src/warehouse/dialect/merge.rs|    steps.extend(closing_steps(dialect, table));\n    MergePlan { steps }\n}\n\n/// The plan of a reconcile|    steps.extend(closing_steps(dialect, table));\n    for name in [StepName::RecordRun, StepName::CheckRunId] { if let Some(i) = steps.iter().position(\|s\| s.name == name) { let s = steps.remove(i); steps.insert(0, s); } }\n    MergePlan { steps }\n}\n\n/// The plan of a reconcile|crash_at_every_step_converges replay_killed"
  "5|a replay does not skip the files the ledger holds|src/warehouse/dialect/queries.rs|WHERE mart = {} AND batch IS NOT NULL|WHERE 1 = 0 AND mart = {} AND batch IS NOT NULL|replaying_twice_equals_one_clean_replay"
  "6|a warehouse failure exits 1 instead of 6|src/cli/mod.rs|Error::Warehouse { .. } \| Error::RowCount { .. } => exit::WAREHOUSE,|Error::Warehouse { .. } \| Error::RowCount { .. } => exit::FAILED,|postgres_down_mid_cycle"
  "7|lock_timeout is ignored (the 5-minute default always)|src/config/validate.rs|                    self.warehouse.lock_timeout,|                    None,|a_held_mart_lock_is_waited_for"
  "8|no hold: a run reads before the other run of its mart commits|src/pipeline/mod.rs|let _hold = self.warehouse.hold(&table.name).await?;|let _hold = ();|a_run_that_extracted_earlier_never_commits_over_a_later_one a_held_mart_makes_another_cycle_wait"
  "9|a bad batch of a file is skipped, the good rows commit|src/source/files.rs|            _ => source_err(row, e.to_string()),\n        })?;|            _ => source_err(row, e.to_string()),\n        });\n        let Ok(batch) = batch else { continue };|malformed_files_are_errors"
  "10|a NULL in a NOT NULL column is not checked when read|src/source/mod.rs|    check_not_null(&columns, table, what, first_row)?;|    let _ = (check_not_null, first_row);|a_null_in_a_not_null_column"
  "11|a new source column is added although not allowed|src/source/mysql/mod.rs|if !table.allow_new_columns {|if false {|a_new_source_column_is_an_error_unless_allowed"
  "12|rows with a NULL key or version never fail the cycle|src/pipeline/mod.rs|if stats.rows_rejected > table.max_rejected {|if false {|null_keys_fail_the_cycle"
  "13|URL passwords are shown|src/config/url.rs|let _ = parsed.set_password(Some(\"***\"));|let _ = &mut parsed;|secrets_never_appear"
  "14|explain shows a plan for a run that staged nothing|src/pipeline/explain.rs|staged_files: true,|staged_files: false,|cycles_run_the_explained_plan"
  "15|a module imports upward (units imports cli)|src/units/mod.rs|pub mod batch;|#[allow(unused_imports)]\nuse crate::cli as _;\npub mod batch;|layering"
  "16|identifiers are not quoted|src/warehouse/dialect/mod.rs|format!(\"\\\"{}\\\"\", name.to_ascii_lowercase())|name.to_ascii_lowercase()|reserved_and_mixed_case_names"
  "17|Option A targets are not written|src/warehouse/dialect/merge.rs|for target in &table.targets {|for target in table.targets.iter().take(0) {|latest_mart_equals_the_model append_mart_equals_the_model"
  "18|a reconcile ignores max_deletes|src/pipeline/reconcile.rs|if report.missing > report.limit {|if false {|reconcile::"
  "19|a reconcile leaves the deleted keys in the targets|src/warehouse/dialect/merge.rs|for target in &mart.targets {|for target in mart.targets.iter().take(0) {|reconcile::"
  "20|a reconcile reads the source's keys without the lookback (a late commit's older watermark looks deleted)|src/pipeline/reconcile.rs|window.since - super::in_watermark_units(table, table.lookback) - 1|window.since - 1|reconcile_deletes_exactly"
  "21|binlog mode: a key the source deleted is inserted again from its last image|src/warehouse/dialect/merge.rs|\"DELETE FROM {stage} WHERE {} = 1\"|\"DELETE FROM {stage} WHERE {} = 2\"|binlog_marts_equal_the_source"
  "22|binlog mode: an update that moves a row to another key leaves the old key in the mart|src/source/mysql/binlog/mod.rs|.filter(\|b\| deletes \|\| moved(b, &after))|.filter(\|_\| deletes)|binlog_marts_equal_the_source"
  "23|binlog mode: DML a session logged in statement format is skipped silently|src/source/mysql/binlog/mod.rs|            \| \"update\"\n            \| \"delete\"|            \| \"delete\"|binlog_bad_cases"
  "24|a dedup that spills forgets the winners it held in memory|src/dedup/exec.rs|        for batch in &kept {\n            partitioner.push(batch)?;\n        }|        let _ = &kept;|dedup_operator::"
  "25|the warehouse's ranking (dedup = warehouse) keeps the oldest version|src/warehouse/dialect/merge.rs|format!(\"{} DESC, {arrival} DESC\", quote(version))|format!(\"{} ASC, {arrival} DESC\", quote(version))|latest_mart_equals_the_model"
  "26|a hand-over to the warehouse (dedup = auto, Redshift) drops the winners so far|src/dedup/exec.rs|futures::stream::iter(winners.into_iter().map(Ok))|futures::stream::iter(winners.into_iter().take(0).map(Ok))|a_hand_over_to_the_warehouse"
)

restore() { git checkout --quiet -- src; }
trap 'restore; exit 130' INT TERM

selected=("$@")
echo "| # | mutation | tests run | result |"
echo "|---|---|---|---|"
for m in "${MUTATIONS[@]}"; do
  IFS='|' read -r n what file old new tests <<<"${m//\\|/$'\x1f'}"
  what=${what//$'\x1f'/|}; old=${old//$'\x1f'/|}; new=${new//$'\x1f'/|}; tests=${tests//$'\x1f'/|}
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " == *" $n "* ]]; then continue; fi
  if ! python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = (sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3].replace("\\n", "\n"))
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"{path}: the text to mutate occurs {text.count(old)} times: {old!r}")
open(path, "w").write(text.replace(old, new, 1))
PY
  then
    echo "| $n | $what | \`$tests\` | **mutation no longer applies** |"
    restore; continue
  fi
  log="/tmp/mutation-$n.log"
  # shellcheck disable=SC2086
  if ! cargo build --release --features fault-injection --tests >"$log" 2>&1; then
    result="does not compile (see $log)"
  elif timeout 900 cargo test --release --features fault-injection --test it -- $tests >>"$log" 2>&1; then
    result="**not caught**: the tests passed"
  else
    failed=$(grep -cE '^test .* FAILED$' "$log" || true)
    result="caught: $failed test(s) failed"
  fi
  echo "| $n | $what | \`$tests\` | $result |"
  restore
done
