#!/usr/bin/env bash
# "Sign in with Microsoft Entra" over OpenID Connect, end to end, against a real OpenID Provider:
# tests/oidc-provider/server.mjs (the npm package oidc-provider, OpenID Certified, shaped like
# Entra: tenant GUID paths, Entra's ID-token claims, client_secret_post, private_key_jwt found by
# x5t, the multi-tenant admin consent). scripts/oidc_e2e.py drives a cookie-jar browser through
# idgate's OIDC sign-in, SCIM, the CLI, the admin UI and the refusals; each scenario prints PASS
# or FAIL: client_secret_post with the SCIM lifecycle, private_key_jwt with idgate's certificate,
# tenant forms (domain, authority URL, admin UI form, Test sign-in), refusals (replayed and
# raced state, browser binding, guest, unverified email, not assigned), linking rules, key
# rollover, org admins, and Connect (the idgate app's admin consent).
# Called by `make test` (after cargo test built target/debug/idgate). Needs node and npm; installs
# the pinned provider (package-lock.json) into tests/oidc-provider/node_modules when missing.
# PROVIDER_ONLY=1 checks the provider alone (no idgate). KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SERVER_BIN:-./target/debug/idgate}
say() { echo "oidc-e2e: $*"; }
command -v node >/dev/null || { say "node is not installed (make test-deps installs nodejs and npm)"; exit 1; }
[ -n "${PROVIDER_ONLY:-}" ] || [ -x "$BIN" ] || { say "$BIN missing (run cargo test or cargo build first)"; exit 1; }

# The provider, exactly as package-lock.json pins it; again only when the lock file changed.
op=tests/oidc-provider
if ! cmp -s "$op/package-lock.json" "$op/node_modules/.installed-from-lock" 2>/dev/null; then
  command -v npm >/dev/null || { say "npm is not installed"; exit 1; }
  npm ci --prefix "$op" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$op/package-lock.json" "$op/node_modules/.installed-from-lock"
fi

dir=$(mktemp -d)
provider="" server=""
cleanup() {
  [ -n "$provider" ] && kill "$provider" 2>/dev/null || true
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then say "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
logs() {
  echo "--- provider log (last 40 lines)"; tail -40 "$dir/provider.log"
  [ -f "$dir/idgate.log" ] && { echo "--- idgate log (last 60 lines)"; tail -60 "$dir/idgate.log"; }
  return 0
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
base="http://127.0.0.1:$port"

# The provider first (its port is the authority idgate is configured with); its clients'
# redirect URI is idgate's, whose port is chosen above.
python3 scripts/oidc_e2e.py config --public-url "$base" > "$dir/provider.json"
node "$op/server.mjs" --port 0 --config "$dir/provider.json" >"$dir/provider.log" 2>&1 &
provider=$!
authority=""
for _ in $(seq 100); do
  authority=$(grep -o 'listening on http://[0-9.:]*' "$dir/provider.log" | head -1 | cut -d' ' -f3 || true)
  [ -n "$authority" ] && break
  kill -0 "$provider" 2>/dev/null || break
  sleep 0.1
done
[ -n "$authority" ] || { cat "$dir/provider.log"; say "the provider did not start"; exit 1; }

# The provider alone first: a failure here is the stand-in's, not idgate's.
python3 scripts/oidc_e2e.py provider --authority "$authority" --public-url "$base" > "$dir/provider-check.log" 2>&1 \
  || { cat "$dir/provider-check.log"; logs; say "FAIL: the stand-in provider itself"; exit 1; }
say "provider ok (oidc-provider $(node -p "require('./$op/node_modules/oidc-provider/package.json').version") at $authority)"
[ -n "${PROVIDER_ONLY:-}" ] && exit 0

app=$(python3 -c 'import sys; sys.path.insert(0, "scripts"); import oidc_e2e as e; print(e.APP[0], e.APP[1])')
cat > "$dir/gateway.toml" <<TOML
listen = "127.0.0.1:$port"
public_url = "$base"
data_dir = "$dir/data"
oidc_authority = "$authority"
oidc_allow_insecure_authority = true
oidc_app_client_id = "${app% *}"
oidc_app_client_secret = "${app#* }"
TOML
# The operator admin (password on stdin), for the admin UI's Connect Microsoft Entra.
printf 'a long operator password\n' | "$BIN" --config "$dir/gateway.toml" admin create ops@example.com >"$dir/setup.log" 2>&1 \
  || { cat "$dir/setup.log"; say "idgate admin create failed"; exit 1; }
"$BIN" --config "$dir/gateway.toml" serve >"$dir/idgate.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
python3 -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" 2>/dev/null \
  || { cat "$dir/idgate.log"; say "idgate did not start"; exit 1; }

status=0
python3 scripts/oidc_e2e.py idgate --authority "$authority" --idgate "$base" --bin "$BIN" \
  --config "$dir/gateway.toml" --log "$dir/idgate.log" || status=$?
# The admin UI's Test sign-in once in Chromium, at the provider's own pages.
if [ "$status" -eq 0 ]; then
  PY=${PYTHON:-python3}
  if "$PY" -c 'import selenium' 2>/dev/null; then
    "$PY" scripts/oidc_chromium.py --idgate "$base" --operator "ops@example.com:a long operator password" \
      --login dan@contoso.com --work-dir "$dir" || status=$?
  else
    say "FAIL: selenium is not installed for $PY (make tools installs it)"; status=1
  fi
fi
if [ "$status" -ne 0 ]; then
  logs
  say "FAIL (KEEP=1 keeps the temporary directory with both logs)"
else
  say "ok"
fi
exit "$status"
