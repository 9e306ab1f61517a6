#!/usr/bin/env bash
# `make fuzz`: runs each coverage-guided fuzz target (fuzz/fuzz_targets, bodies in
# src/fuzzing.rs) for FUZZ_SECONDS (default 600), FUZZ_PARALLEL targets at a time (default 1),
# starting from the committed seeds (fuzz/corpus/T) plus what earlier runs found
# (fuzz/work/T, not committed). A crash is saved under fuzz/artifacts/T/; copy it to
# fuzz/regressions/T/ (replayed by `make test`) with the fix. Each run's closing statistics
# go to docs/fuzz/T.txt.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-600}
parallel=${FUZZ_PARALLEL:-1}
targets=${FUZZ_TARGETS:-scim_filter scim_patch scim_projection saml_metadata saml_response}
# cargo fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP lets the project's one (stable)
# toolchain take them. No sanitizer: idgate forbids unsafe code, and the C libraries it
# links are not instrumented either way.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --debug-assertions
built="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ../src ../Cargo.lock ../vendor || echo '+uncommitted')"
# The binaries cargo fuzz built, run directly: one build for every target.
bin_dir="$PWD/target/$(rustc -vV | sed -n 's/^host: //p')/release"
mkdir -p ../docs/fuzz
run_one() {
  local t=$1
  mkdir -p "work/$t" "artifacts/$t"
  local log="work/$t.log"
  local status=0
  "$bin_dir/$t" "work/$t" "corpus/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  {
    echo "# $t: $(date -u +%FT%TZ), ${seconds} s, built from $built"
    grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -1 || true
    grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true
    grep -E '^stat::|^Done|SUMMARY|ERROR' "$log" || true
    echo "exit status: $status"
    ls "artifacts/$t" | sed 's/^/artifact: /'
  } >"../docs/fuzz/$t.txt"
  echo "$t: exit $status; $(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1)"
  return "$status"
}
export -f run_one
export seconds bin_dir built
failed=0
# shellcheck disable=SC2086
printf '%s\n' $targets | xargs -P "$parallel" -I{} bash -c 'run_one {}' || failed=1
exit "$failed"
