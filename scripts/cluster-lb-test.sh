#!/usr/bin/env bash
# Runs the README's two-instance production example for real: a throwaway PostgreSQL
# (scripts/pg-server.sh), two `idgate serve` processes on it with the same secret.key, and
# nginx with examples/production/nginx.conf in front of them. Proves: an instance with
# another secret.key refuses to start; a SCIM create through the load balancer is seen by
# both instances; nginx spreads requests over both; a password sign-in through it and
# /auth/verify through it; with one instance stopped every request still succeeds; logout;
# `idgate backup` restored with pg_restore holds the data.
# Called by `make test` (after cargo test built target/debug/idgate).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDGATE_BIN_PATH:-./target/debug/idgate}
BIN=$(realpath "$BIN")
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || { echo "cluster-lb-test: nginx is not installed (make test-deps installs it)"; exit 1; }
[ -x "$BIN" ] || { echo "cluster-lb-test: $BIN missing (run cargo test first)"; exit 1; }
# The README shows these very files: keep them the same.
python3 - <<'PY' || { echo "cluster-lb-test: README.md no longer contains examples/production/* verbatim"; exit 1; }
import sys
readme = open("README.md").read()
sys.exit(0 if all(open(f).read() in readme for f in
                  ("examples/production/nginx.conf", "examples/production/idgate@.service")) else 1)
PY

dir=$(mktemp -d)
chmod 755 "$dir"
pids=()
cleanup() {
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg-server.sh stop "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); A=$(free_port); B=$(free_port)
PUBLIC="http://127.0.0.1:$WEB"
STORE=$(PG_FAST=1 scripts/pg-server.sh start "$dir/pg")

fail() {
  echo "cluster-lb-test: FAIL: $*"
  for f in a.log b.log error.log; do [ -f "$dir/$f" ] && { echo "--- $f"; tail -20 "$dir/$f"; }; done
  exit 1
}

# One gateway.toml for every instance; each has a data directory of its own.
cat > "$dir/gateway.toml" <<TOML
public_url = "$PUBLIC"
trusted_proxies = ["127.0.0.1"]
TOML
export IDGATE_STORE_URL=$STORE
idg() { "$BIN" --config "$dir/gateway.toml" --data-dir "$dir/a" "$@"; }
# serve_instance NAME PORT: starts `idgate serve` on 127.0.0.1:PORT with data dir $dir/NAME.
serve_instance() {
  "$BIN" --config "$dir/gateway.toml" --data-dir "$dir/$1" serve --listen "127.0.0.1:$2" >"$dir/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "instance $1 did not become ready"
}

# The first instance makes secret.key; the second gets a copy. One with its own refuses.
serve_instance a "$A"
mkdir -p "$dir/wrong"
if "$BIN" --config "$dir/gateway.toml" --data-dir "$dir/wrong" serve --listen "127.0.0.1:$B" >"$dir/wrong.log" 2>&1; then
  fail "an instance with another secret.key started"
fi
grep -q "secret.key is not the key the other instances" "$dir/wrong.log" || fail "wrong key: $(cat "$dir/wrong.log")"
install -D -m 600 "$dir/a/secret.key" "$dir/b/secret.key"
serve_instance b "$B"

idg org create acme --name Acme --domain acme.com >/dev/null 2>&1
TOKEN=$(idg scim-token create --org acme --name entra 2>/dev/null)
echo "correct horse battery staple" | idg user set-password --org acme bob@acme.com --name "Bob Example" 2>/dev/null

# The example, pointed at this run's ports and plain HTTP.
sed -e "s/127.0.0.1:8081/127.0.0.1:$A/; s/127.0.0.1:8082/127.0.0.1:$B/" \
    -e "s/listen 443 ssl;/listen 127.0.0.1:$WEB;/; s/server_name login.example.com;/server_name _;/" \
    examples/production/nginx.conf > "$dir/idgate.conf"
mkdir -p "$dir/tmp"; chmod 777 "$dir/tmp"
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
    # Which instance answered each request, for the test.
    log_format upstream '\$upstream_addr \$status \$request_method \$uri';
    access_log $dir/access.log upstream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/idgate.conf;
}
NGINX
"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf"
"$NGINX" -p "$dir" -c "$dir/nginx.conf"
for _ in $(seq 1 50); do curl -fs "$PUBLIC/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

scim() { curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/scim+json" "$@"; }
# create_user NAME: POST through the load balancer; prints the new id (fails unless 201).
create_user() {
  local out code
  out=$(scim -w '\n%{http_code}' -X POST --data "{\"userName\":\"$1\"}" "$PUBLIC/scim/v2/Users")
  code=${out##*$'\n'}
  [ "$code" = 201 ] || fail "create $1 through the load balancer: $out"
  sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"${out%$'\n'*}"
}

# 1. SCIM creates through the load balancer; each instance, asked directly, has every user.
ids=()
for i in 1 2 3 4 5 6; do ids+=("$(create_user "lb$i@acme.com")"); done
for port in "$A" "$B"; do
  for id in "${ids[@]}"; do
    code=$(scim -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/scim/v2/Users/$id")
    [ "$code" = 200 ] || fail "user $id through 127.0.0.1:$port: $code"
  done
done

# 2. Password sign-in through the load balancer (the form from one instance may be posted to
#    the other), then /auth/verify through it.
jar="$dir/cookies"
page=$(curl -fs -c "$jar" "$PUBLIC/login")
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")
[ -n "$csrf" ] || fail "no CSRF token on the sign-in page"
out=$(curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
  --data-urlencode "email=bob@acme.com" --data-urlencode "password=correct horse battery staple" \
  --data-urlencode "return_to=/reports" --data-urlencode "csrf=$csrf" "$PUBLIC/login")
[ "$out" = "303 $PUBLIC/reports" ] || fail "sign-in: $out"
verify() { curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$PUBLIC/auth/verify"; }
for _ in 1 2 3 4; do [ "$(verify)" = 200 ] || fail "verify through the load balancer"; done
email=$(curl -s -b "$jar" -D - -o /dev/null "$PUBLIC/auth/verify" | tr -d '\r' | sed -n 's/^x-idgate-email: //Ip')
[ "$email" = "bob@acme.com" ] || fail "verify headers: $email"

# 3. nginx spread the requests over both instances.
for port in "$A" "$B"; do
  grep -q "^127.0.0.1:$port 200 " "$dir/access.log" || fail "no request reached 127.0.0.1:$port"
done

# 4. One instance stopped: everything still succeeds through the load balancer.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
for i in 7 8 9 10 11 12; do ids+=("$(create_user "lb$i@acme.com")"); done
for _ in 1 2 3 4; do
  [ "$(verify)" = 200 ] || fail "verify with one instance down"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$PUBLIC/readyz")
  [ "$code" = 200 ] || fail "readyz with one instance down: $code"
done
total=$(scim "$PUBLIC/scim/v2/Users?count=0" | sed -n 's/.*"totalResults":\([0-9]*\).*/\1/p')
[ "$total" = 13 ] || fail "totalResults $total, expected 13 (12 SCIM users and bob)"

# 5. Logout through the load balancer ends the session.
curl -s -b "$jar" -o /dev/null -X POST "$PUBLIC/logout"
[ "$(verify)" = 401 ] || fail "verify after logout"

# 6. `idgate backup` (pg_dump) restores with pg_restore into an empty database.
idg backup "$dir/idgate.dump" 2>/dev/null
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
"$PGBIN/psql" -q "$STORE" -c "CREATE DATABASE restored" >/dev/null
"$PGBIN/pg_restore" --no-owner -d "${STORE%/*}/restored" "$dir/idgate.dump"
users=$("$PGBIN/psql" -tA "${STORE%/*}/restored" -c "SELECT COUNT(*) FROM users")
[ "$users" = 13 ] || fail "the restored database has $users users, expected 13"

echo "cluster-lb-test: ok (nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) over two idgate instances on PostgreSQL: SCIM through the load balancer, both instances serving, password sign-in and verify, one instance stopped, logout, backup restored)"
