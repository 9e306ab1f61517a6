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
# PostgreSQL (issue 12). By default, after the SQLite run above, `make bench` also runs the
# PostgreSQL comparison: a throwaway *durable* PostgreSQL (scripts/pg-server.sh, fsync on, as in
# production), one instance and then two instances on one store, each with smaller counts so
# that the whole `make bench` stays reasonable (a few more minutes): SCIM create + steady
# (BENCH_PG_USERS users, 5,000), SAML IdP-initiated sign-ins (BENCH_PG_SIGNINS, 2,000) and
# /auth/verify (BENCH_PG_VERIFIES, 50,000), all at C=$BENCH_CONCURRENCY; every run on a fresh
# database. Two instances share the machine's cores; IDGATE_WORKERS=1 (HTTP workers per
# instance) is passed through to the servers for per-instance scaling. Then, as root, the same
# sign-in phases with one and two instances each capped at BENCH_PG_CAP CPUs (0.3; a control
# group per instance, standing in for a machine per instance: docs/PERFORMANCE.md) and one
# HTTP worker each. BENCH_PG=0 skips all of it.
#
#   BENCH_STORE=postgres [BENCH_INSTANCES=2] make bench
#                                   the whole run above (not the seeded stores: seeding writes
#                                   SQLite) on PostgreSQL, with N instances behind the load
#                                   generators' round-robin; no SQLite run
#   BENCH_STORE=sqlite make bench   the SQLite run only
#
# Knobs: BENCH_USERS, BENCH_CONCURRENCY (32), BENCH_SCALE (largest seeded store; default 1000000
# when BENCH_USERS >= 100000, else none), BENCH_LOOKUPS (requests per lookup kind, 5000),
# BENCH_PAGES (pages read on seeded stores, 2000), BENCH_SIGNINS (sign-ins per ACS phase, 5000),
# BENCH_VERIFIES (/auth/verify requests, 200000), BENCH_OIDC_SIGNINS (sign-ins per OIDC phase,
# BENCH_SIGNINS), SERVER_BIN, BENCH_BIN, SIGNIN_BENCH_BIN,
# BENCH_OUT (a directory for the logs; default target/bench), BENCH_STORE (sqlite, postgres;
# unset: sqlite, then the PostgreSQL comparison), BENCH_INSTANCES (1), BENCH_PG (1),
# BENCH_PG_USERS, BENCH_PG_SIGNINS, BENCH_PG_VERIFIES, BENCH_PG_CAP.
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
STORE=${BENCH_STORE:-}
INSTANCES=${BENCH_INSTANCES:-1}
PG_USERS=${BENCH_PG_USERS:-5000}
PG_SIGNINS=${BENCH_PG_SIGNINS:-2000}
PG_VERIFIES=${BENCH_PG_VERIFIES:-50000}
case "$STORE" in
  "" | sqlite | postgres) ;;
  *) echo "BENCH_STORE must be sqlite or postgres, not '$STORE'"; exit 2 ;;
esac
case "$INSTANCES" in
  [1-9] | [1-9][0-9]) ;;
  *) echo "BENCH_INSTANCES must be a number from 1 to 99, not '$INSTANCES'"; exit 2 ;;
esac
if [ "$INSTANCES" != 1 ] && [ "$STORE" != postgres ]; then
  echo "BENCH_INSTANCES=$INSTANCES needs BENCH_STORE=postgres (instances share a PostgreSQL store)"
  exit 2
fi
mkdir -p "$OUT"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

# A throwaway durable PostgreSQL for this script's runs, stopped on exit.
PG_DIR=""
PG_URL=""
start_pg() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "no PostgreSQL server (apt-get install postgresql, or make test-deps); BENCH_PG=0 skips the PostgreSQL runs"
    exit 1
  fi
  PG_DIR=$(mktemp -d /tmp/idgate-bench-pg.XXXXXX)
  rmdir "$PG_DIR"   # pg-server.sh makes it
  PG_URL=$(./scripts/pg-server.sh start "$PG_DIR")
  echo "== PostgreSQL $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1 | cut -d/ -f5) at $PG_URL (durable: fsync and synchronous_commit on)"
}
stop_pg() {
  if [ -n "$PG_DIR" ]; then ./scripts/pg-server.sh stop "$PG_DIR" || true; PG_DIR=""; fi
}
trap stop_pg EXIT

for f in "$SERVER" "$BENCH" "$SIGNIN"; do
  [ -x "$f" ] || { echo "missing $f: run make bench (or cargo build --release --locked && cargo build --release --locked --example idgate-bench --example signin-bench)"; exit 1; }
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"

if [ "$STORE" = postgres ]; then
  start_pg
  pg=(--store-url "$PG_URL" --instances "$INSTANCES")
  tag="pg$INSTANCES"
  echo "== load run on PostgreSQL, $INSTANCES instance(s): $USERS users at C=$C (log: $OUT/$stamp-$tag-load.txt)"
  "$BENCH" --binary "$SERVER" --users "$USERS" --concurrency "$C" --lookups "$LOOKUPS" \
    --steady-rate 200 "${pg[@]}" | tee "$OUT/$stamp-$tag-load.txt"
  echo "== sign-in on PostgreSQL, $INSTANCES instance(s): $SIGNINS SAML sign-ins per ACS phase, $VERIFIES /auth/verify, $OIDC_SIGNINS OIDC sign-ins per OIDC phase at C=$C (log: $OUT/$stamp-$tag-signin.txt)"
  "$SIGNIN" --binary "$SERVER" --signins "$SIGNINS" --verifies "$VERIFIES" --concurrency "$C" \
    --oidc-signins "$OIDC_SIGNINS" "${pg[@]}" | tee "$OUT/$stamp-$tag-signin.txt"
  exit 0
fi

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

[ "$STORE" = sqlite ] || [ "${BENCH_PG:-1}" = 0 ] && exit 0

# The PostgreSQL comparison: SQLite (again, same counts), PostgreSQL with one instance and
# with two, alternating, so that a neighbour's build hurts them alike.
start_pg
echo "== PostgreSQL comparison at C=$C: SCIM create + steady with $PG_USERS users, $PG_SIGNINS IdP-initiated SAML sign-ins, $PG_VERIFIES /auth/verify; workers per instance: ${IDGATE_WORKERS:-one per core}"
for config in sqlite pg1 pg2; do
  case "$config" in
    sqlite) pg=() ;;
    pg1) pg=(--store-url "$PG_URL" --instances 1) ;;
    pg2) pg=(--store-url "$PG_URL" --instances 2) ;;
  esac
  echo "== $config: SCIM (log: $OUT/$stamp-cmp-$config-scim.txt)"
  "$BENCH" --binary "$SERVER" --users "$PG_USERS" --concurrency "$C" --phases create,steady \
    "${pg[@]}" | tee "$OUT/$stamp-cmp-$config-scim.txt"
  echo "== $config: sign-in (log: $OUT/$stamp-cmp-$config-signin.txt)"
  "$SIGNIN" --binary "$SERVER" --signins "$PG_SIGNINS" --verifies "$PG_VERIFIES" \
    --concurrency "$C" --phases acs-idp,verify "${pg[@]}" | tee "$OUT/$stamp-cmp-$config-signin.txt"
done
echo "== summary (req/s at C=$C)"
for config in sqlite pg1 pg2; do
  scim="$OUT/$stamp-cmp-$config-scim.txt"
  signin="$OUT/$stamp-cmp-$config-signin.txt"
  create=$(awk -F'|' '$3 ~ /^ create pair/ {gsub(/ /, "", $6); print $6}' "$scim")
  steady=$(awk -F'|' '$2 ~ /^ steady/ && $3 ~ /^ PATCH user $/ {gsub(/ /, "", $6); print $6}' "$scim")
  acs=$(awk -F'|' '$2 ~ /^ acs-idp/ {gsub(/ /, "", $6); print $6}' "$signin" | tail -n 1)
  verify=$(awk -F'|' '$2 ~ /^ verify/ && $3 ~ /GET/ {gsub(/ /, "", $6); print $6}' "$signin" | tail -n 1)
  printf '  %-6s  create pairs/s %6s  PATCH/s %6s  sign-ins/s %6s  /auth/verify/s %7s\n' \
    "$config" "$create" "$steady" "$acs" "$verify"
done

# Scaling with a CPU budget per instance (needs root for the control groups).
CAP=${BENCH_PG_CAP:-0.3}
if [ "$(id -u)" != 0 ]; then
  echo "== capped scaling skipped: control groups need root"
  exit 0
fi
for n in 1 2; do
  log="$OUT/$stamp-cmp-pg$n-cap$CAP-signin.txt"
  echo "== pg$n, each instance capped at $CAP CPU, 1 worker: sign-in (log: $log)"
  IDGATE_WORKERS=1 "$SIGNIN" --binary "$SERVER" --signins "$PG_SIGNINS" --verifies "$PG_VERIFIES" \
    --concurrency "$C" --phases acs-idp,verify --store-url "$PG_URL" --instances "$n" \
    --cpu-per-instance "$CAP" | tee "$log"
done
echo "== summary, instances capped at $CAP CPU each (req/s at C=$C)"
for n in 1 2; do
  signin="$OUT/$stamp-cmp-pg$n-cap$CAP-signin.txt"
  acs=$(awk -F'|' '$2 ~ /^ acs-idp/ {gsub(/ /, "", $6); print $6}' "$signin" | tail -n 1)
  verify=$(awk -F'|' '$2 ~ /^ verify/ && $3 ~ /GET/ {gsub(/ /, "", $6); print $6}' "$signin" | tail -n 1)
  printf '  pg%s capped  sign-ins/s %6s  /auth/verify/s %7s\n' "$n" "$acs" "$verify"
done
