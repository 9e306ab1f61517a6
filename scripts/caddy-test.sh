#!/usr/bin/env bash
# Runs examples/caddy/Caddyfile for real: Caddy (Debian's package) in front of a stand-in
# product, idgate behind forward_auth. A local password account signs in through Caddy; the
# product sees idgate's identity headers and never a client's forged ones; logout and no
# cookie send the browser to sign in.
# Called by `make test` (after cargo test built target/debug/idgate).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IDGATE_BIN_PATH:-./target/debug/idgate}
CADDY=${CADDY:-$(command -v caddy || echo /usr/bin/caddy)}
[ -x "$CADDY" ] || { echo "caddy-test: caddy is not installed (make test-deps installs it)"; exit 1; }
[ -x "$BIN" ] || { echo "caddy-test: $BIN missing (run cargo test first)"; exit 1; }
# The README shows this very file: keep them the same.
python3 - <<'PY' || { echo "caddy-test: README.md no longer contains examples/caddy/Caddyfile verbatim"; exit 1; }
import sys
sys.exit(0 if open("examples/caddy/Caddyfile").read() in open("README.md").read() else 1)
PY

dir=$(mktemp -d)
cleanup() {
  [ -n "${caddy_pid:-}" ] && kill "$caddy_pid" 2>/dev/null || true
  [ -n "${idgate_pid:-}" ] && kill "$idgate_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && { trap - EXIT; echo "caddy-test: KEEP: $dir stays, idgate and Caddy keep running"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); IDG=$(free_port); APP=$(free_port)
PUBLIC="http://127.0.0.1:$WEB"

cat > "$dir/gateway.toml" <<TOML
listen = "127.0.0.1:$IDG"
public_url = "$PUBLIC"
data_dir = "$dir/data"
verify_redirect = true
trusted_proxies = ["127.0.0.1"]
TOML
idg() { "$BIN" --config "$dir/gateway.toml" "$@"; }
setup() { "$@" >>"$dir/setup.log" 2>&1 || { echo "caddy-test: setup failed: ${*: -3}"; cat "$dir/setup.log"; exit 1; }; }
setup idg org create acme --name Acme --domain acme.com
echo "correct horse battery staple" | setup idg user set-password --org acme bob@acme.com --name "Bob Example"
"$BIN" --config "$dir/gateway.toml" serve >"$dir/idgate.log" 2>&1 &
idgate_pid=$!

# The example, pointed at this run's ports and plain HTTP.
sed -e "s/127.0.0.1:8080/127.0.0.1:$IDG/g; s/127.0.0.1:3000/127.0.0.1:$APP/g" \
    -e "s|^app.example.com {|http://127.0.0.1:$WEB {|" \
    examples/caddy/Caddyfile > "$dir/example.Caddyfile"
grep -q "^http://127.0.0.1:$WEB {" "$dir/example.Caddyfile" || { echo "caddy-test: the example's site address moved"; exit 1; }
cat > "$dir/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}

import $dir/example.Caddyfile

# The stand-in product: shows what idgate told it (and what else claims to be idgate).
http://127.0.0.1:$APP {
	respond "product sees email={header.X-Idgate-Email} name={header.X-Idgate-Name} org={header.X-Idgate-Org} role={header.X-Idgate-Role} groups={header.X-Idgate-Groups} other={header.X-Idgate-Admin}
"
}
CADDY
# Caddy's state (certificates, autosave) under the temp dir, never the user's or the system's.
export HOME="$dir" XDG_DATA_HOME="$dir/data-home" XDG_CONFIG_HOME="$dir/config-home"
"$CADDY" validate --config "$dir/Caddyfile" --adapter caddyfile >"$dir/validate.log" 2>&1 \
  || { echo "caddy-test: caddy validate failed"; cat "$dir/validate.log"; exit 1; }
"$CADDY" run --config "$dir/Caddyfile" --adapter caddyfile >"$dir/caddy.log" 2>&1 &
caddy_pid=$!

fail() { echo "caddy-test: FAIL: $*"; echo "--- idgate log"; tail -20 "$dir/idgate.log"; echo "--- caddy log"; tail -20 "$dir/caddy.log"; exit 1; }
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$IDG/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$IDG/healthz" >/dev/null || fail "idgate did not start"
for _ in $(seq 1 300); do curl -fs "$PUBLIC/static/idgate.css" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$PUBLIC/static/idgate.css" >/dev/null || fail "Caddy did not start (or does not reach idgate)"
jar="$dir/cookies"

# 1. No session: idgate's 302 (verify_redirect) reaches the browser, coming back to the page
#    asked for; a client's own X-Forwarded-* do not change where.
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$PUBLIC/reports?q=1&x=2")
[ "$loc" = "302 $PUBLIC/login?return_to=http%3A%2F%2F127.0.0.1%3A$WEB%2Freports%3Fq%3D1%26x%3D2" ] || fail "unauthenticated: $loc"
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H "X-Forwarded-Host: evil.example" \
  -H "X-Forwarded-Uri: /elsewhere" -H "X-Forwarded-Proto: https" "$PUBLIC/reports")
[ "$loc" = "302 $PUBLIC/login?return_to=http%3A%2F%2F127.0.0.1%3A$WEB%2Freports" ] || fail "unauthenticated, forged X-Forwarded-*: $loc"
# Forged identity headers without a session open nothing either.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Idgate-Email: bob@acme.com" -H "X-Idgate-Org: acme" "$PUBLIC/reports")
[ "$code" = "302" ] || fail "forged identity without a session: $code"

# 2. idgate's own paths go to idgate, not through forward_auth to the product.
curl -fs "$PUBLIC/static/idgate.css" >/dev/null || fail "stylesheet"
curl -fs "$PUBLIC/.well-known/jwks.json" | grep -q '"keys"' || fail "JWKS"
code=$(curl -s -o /dev/null -w '%{http_code}' "$PUBLIC/api/v1/session")
[ "$code" = "401" ] || fail "session API without a session: $code"
idgate_page() { [[ "$(curl -s "$@")" == *"idgate</title>"* ]]; }
idgate_page "$PUBLIC/oidc/callback" || fail "/oidc/callback is not idgate's"
idgate_page -X POST "$PUBLIC/saml/acme/acs" || fail "/saml/acme/acs is not idgate's"

# 3. The sign-in page and a password sign-in, through Caddy.
page=$(curl -fs -c "$jar" "$PUBLIC/login")
grep -q 'name="email"' <<<"$page" || fail "sign-in page"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")
[ -n "$csrf" ] || fail "no CSRF token on the sign-in page"
out=$(curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
  --data-urlencode "email=Bob@Acme.com" --data-urlencode "password=correct horse battery staple" \
  --data-urlencode "return_to=/reports?q=1" --data-urlencode "csrf=$csrf" "$PUBLIC/login")
[ "$out" = "303 $PUBLIC/reports?q=1" ] || fail "sign-in: $out"
grep -q idgate_session "$jar" || fail "no session cookie"

# 4. Signed in: the product gets idgate's headers. A client's own copies are replaced, also
#    those idgate sends empty (Bob has no role and no groups) and any other X-Idgate-*.
body=$(curl -fs -b "$jar" "$PUBLIC/reports?q=1")
[ "$body" = "product sees email=bob@acme.com name=Bob Example org=acme role= groups= other=" ] || fail "product: $body"
body=$(curl -fs -b "$jar" -H "X-Idgate-Email: forged@evil.com" -H "X-Idgate-Org: evil" \
  -H "X-Idgate-Role: owner" -H "X-Idgate-Groups: Admins" -H "X-Idgate-Admin: yes" "$PUBLIC/reports?q=1")
[ "$body" = "product sees email=bob@acme.com name=Bob Example org=acme role= groups= other=" ] || fail "product, forged headers: $body"
curl -fs -b "$jar" "$PUBLIC/api/v1/session" | grep -q '"email":"bob@acme.com"' || fail "session API"

# 5. Logout through Caddy: the same cookie no longer opens the product.
curl -s -b "$jar" -o /dev/null -X POST "$PUBLIC/logout"
out=$(curl -s -b "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' "$PUBLIC/reports")
[ "$out" = "302 $PUBLIC/login?return_to=http%3A%2F%2F127.0.0.1%3A$WEB%2Freports" ] || fail "after logout: $out"
echo "caddy-test: ok (Caddy $("$CADDY" version | cut -d' ' -f1) in front of idgate: redirect to sign-in, password sign-in, identity headers, no forged ones, logout)"
