#!/usr/bin/env bash
# Runs examples/nginx/idgate.conf for real: nginx (Debian's package) in front of a stand-in
# product, idgate behind auth_request. A local password account signs in through nginx; the
# product sees idgate's identity headers; logout and no cookie send the browser to sign in.
# Called by `make test` (after cargo test built target/debug/idgate).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDGATE_BIN_PATH:-./target/debug/idgate}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || { echo "nginx-test: nginx is not installed (make deps installs it)"; exit 1; }
[ -x "$BIN" ] || { echo "nginx-test: $BIN missing (run cargo test first)"; exit 1; }
# The README shows this very file: keep them the same.
python3 - <<'PY' || { echo "nginx-test: README.md no longer contains examples/nginx/idgate.conf verbatim"; exit 1; }
import sys
sys.exit(0 if open("examples/nginx/idgate.conf").read() in open("README.md").read() else 1)
PY

dir=$(mktemp -d)
chmod 755 "$dir"
cleanup() {
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  [ -n "${idgate_pid:-}" ] && kill "$idgate_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); IDG=$(free_port); APP=$(free_port)
PUBLIC="http://127.0.0.1:$WEB"

cat > "$dir/gateway.toml" <<TOML
listen = "127.0.0.1:$IDG"
public_url = "$PUBLIC"
data_dir = "$dir/data"
trusted_proxies = ["127.0.0.1"]
TOML
idg() { "$BIN" --config "$dir/gateway.toml" "$@"; }
idg org create acme --name Acme --domain acme.com >/dev/null
echo "correct horse battery staple" | idg user set-password --org acme bob@acme.com --name "Bob Example" 2>/dev/null
"$BIN" --config "$dir/gateway.toml" serve >"$dir/idgate.log" 2>&1 &
idgate_pid=$!

# The example, pointed at this run's ports and plain HTTP.
sed -e "s/127.0.0.1:8080/127.0.0.1:$IDG/; s/127.0.0.1:3000/127.0.0.1:$APP/" \
    -e "s/listen 443 ssl;/listen 127.0.0.1:$WEB;/; s/server_name app.example.com;/server_name _;/" \
    examples/nginx/idgate.conf > "$dir/idgate.conf"
mkdir -p "$dir/tmp"; chmod 777 "$dir/tmp"
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/idgate.conf;
    # The stand-in product: shows what idgate told it.
    server {
        listen 127.0.0.1:$APP;
        location / { default_type text/plain; return 200 "product sees email=\$http_x_idgate_email name=\$http_x_idgate_name org=\$http_x_idgate_org\n"; }
    }
}
NGINX
"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf"
"$NGINX" -p "$dir" -c "$dir/nginx.conf"

for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$IDG/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

fail() { echo "nginx-test: FAIL: $*"; echo "--- idgate log"; tail -20 "$dir/idgate.log"; echo "--- nginx log"; cat "$dir/error.log"; exit 1; }
jar="$dir/cookies"

# 1. No session: nginx sends the browser to sign in, coming back to the page asked for.
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$PUBLIC/reports?q=1&x=2")
[ "$loc" = "302 $PUBLIC/login?return_to=http%3A%2F%2F127.0.0.1%3A$WEB%2Freports%3Fq%3D1%26x%3D2" ] || fail "unauthenticated: $loc"

# idgate's own sign-in endpoints reach idgate, not the auth check (an OIDC callback sent to
# sign in first would never finish).
idgate_page() { [[ "$(curl -s "$@")" == *"idgate</title>"* ]]; }
idgate_page "$PUBLIC/oidc/callback" || fail "/oidc/callback is not idgate's"
idgate_page -X POST "$PUBLIC/saml/acme/acs" || fail "/saml/acme/acs is not idgate's"

# 2. The sign-in page and a password sign-in, through nginx.
page=$(curl -fs -c "$jar" "$PUBLIC/login")
grep -q 'name="email"' <<<"$page" || fail "sign-in page"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")
[ -n "$csrf" ] || fail "no CSRF token on the sign-in page"
out=$(curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
  --data-urlencode "email=Bob@Acme.com" --data-urlencode "password=correct horse battery staple" \
  --data-urlencode "return_to=/reports?q=1" --data-urlencode "csrf=$csrf" "$PUBLIC/login")
[ "$out" = "303 $PUBLIC/reports?q=1" ] || fail "sign-in: $out"
grep -q idgate_session "$jar" || fail "no session cookie"

# 3. Signed in: the product gets idgate's headers (a client's own copies are replaced).
body=$(curl -fs -b "$jar" -H "X-Idgate-Email: forged@evil.com" "$PUBLIC/reports?q=1")
[ "$body" = "product sees email=bob@acme.com name=Bob Example org=acme" ] || fail "product: $body"
curl -fs -b "$jar" "$PUBLIC/api/v1/session" | grep -q '"email":"bob@acme.com"' || fail "session API"

# 4. Logout through nginx: the same cookie no longer opens the product.
curl -s -b "$jar" -o /dev/null -X POST "$PUBLIC/logout"
code=$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$PUBLIC/reports")
[ "$code" = "302" ] || fail "after logout: $code"
echo "nginx-test: ok (nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) in front of idgate: redirect to sign-in, password sign-in, identity headers, logout)"
