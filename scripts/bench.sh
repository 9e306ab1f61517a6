#!/usr/bin/env bash
# What `make bench` runs: idgate-bench (examples/idgate-bench.rs), then signin-bench
# (examples/signin-bench.rs), against the release server.
#
#   make bench                      ~20k users at C=32: create, steady, groups, paging, lookup,
#                                   webhooks (delivery to a loopback receiver),
#                                   ceiling (a few minutes on 2 cores); then sign-in: 5,000
#                                   SAML sign-ins per ACS phase, 200,000 /auth/verify, and
#                                   5,000 OIDC sign-ins per OIDC phase (code exchange at a
#                                   loopback provider + ID-token validation)
#   BENCH_USERS=100000 make bench   the full report run of docs/PERFORMANCE.md: the above at
#                                   100k users, then lookup/paging on seeded 10k and 1M stores
#
# Knobs: BENCH_USERS, BENCH_CONCURRENCY (32), BENCH_SCALE (largest seeded store; default 1000000
# when BENCH_USERS >= 100000, else none), BENCH_LOOKUPS (requests per lookup kind, 5000),
# BENCH_PAGES (pages read on seeded stores, 2000), BENCH_SIGNINS (sign-ins per ACS phase, 5000),
# BENCH_VERIFIES (/auth/verify requests, 200000), BENCH_OIDC_SIGNINS (sign-ins per OIDC phase,
# BENCH_SIGNINS), SERVER_BIN, BENCH_BIN, SIGNIN_BENCH_BIN,
# BENCH_OUT (a directory for the logs; default target/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${SERVER_BIN:-./target/release/idgate}
BENCH=${BENCH_BIN:-./target/release/examples/idgate-bench}
SIGNIN=${SIGNIN_BENCH_BIN:-./target/release/examples/signin-bench}
USERS=${BENCH_USERS:-20000}
C=${BENCH_CONCURRENCY:-32}
LOOKUPS=${BENCH_LOOKUPS:-5000}
PAGES=${BENCH_PAGES:-2000}
SIGNINS=${BENCH_SIGNINS:-5000}
VERIFIES=${BENCH_VERIFIES:-200000}
OIDC_SIGNINS=${BENCH_OIDC_SIGNINS:-$SIGNINS}
if [ "$USERS" -ge 100000 ]; then SCALE=${BENCH_SCALE:-1000000}; else SCALE=${BENCH_SCALE:-}; fi
OUT=${BENCH_OUT:-target/bench}
mkdir -p "$OUT"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

for f in "$SERVER" "$BENCH" "$SIGNIN"; do
  [ -x "$f" ] || { echo "missing $f: run make bench (or cargo build --release --locked && cargo build --release --locked --example idgate-bench --example signin-bench)"; exit 1; }
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
echo "== load run: $USERS users at C=$C (log: $OUT/$stamp-load.txt)"
"$BENCH" --binary "$SERVER" --users "$USERS" --concurrency "$C" --lookups "$LOOKUPS" \
  --steady-rate 200 | tee "$OUT/$stamp-load.txt"

if [ -n "$SCALE" ]; then
  for n in 10000 "$SCALE"; do
    echo "== seeded store of $n users: lookup and paging at C=$C (log: $OUT/$stamp-seeded-$n.txt)"
    "$BENCH" --binary "$SERVER" --seed "$n" --users 0 --concurrency "$C" --phases lookup,paging \
      --lookups "$LOOKUPS" --pages "$PAGES" | tee "$OUT/$stamp-seeded-$n.txt"
  done
fi

echo "== sign-in: $SIGNINS SAML sign-ins per ACS phase, $VERIFIES /auth/verify, $OIDC_SIGNINS OIDC sign-ins per OIDC phase at C=$C (log: $OUT/$stamp-signin.txt)"
"$SIGNIN" --binary "$SERVER" --signins "$SIGNINS" --verifies "$VERIFIES" --concurrency "$C" \
  --oidc-signins "$OIDC_SIGNINS" | tee "$OUT/$stamp-signin.txt"
