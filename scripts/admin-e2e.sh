#!/usr/bin/env bash
# The admin UI end to end, in real headless Chromium (Debian's chromium + chromedriver, driven
# by scripts/admin_e2e.py with selenium): an operator signs in, creates an org, uploads the
# real Entra metadata, generates a SCIM token, sees a SCIM call in the provisioning log, marks
# the domain SSO-only, and a password sign-in for it is refused; the Webhooks page refuses an
# internal address, and the org's Events page links the SCIM-created user to its request.
# Saves a screenshot of each page to docs/screenshots/ (SCREENSHOTS=DIR to put them elsewhere).
# Called by `make e2e` (after cargo test built target/debug/idgate; `make tools` installed
# selenium into .tools/venv). KEEP=1 keeps the temporary directory and its logs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SERVER_BIN:-./target/debug/idgate}
PYTHON=${PYTHON:-.tools/venv/bin/python}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
SHOTS=${SCREENSHOTS:-docs/screenshots}
say() { echo "admin-e2e: $*"; }
[ -x "$BIN" ] || { say "$BIN missing (run cargo test or cargo build first)"; exit 1; }
[ -x "$CHROMIUM" ] || { say "$CHROMIUM missing (make test-deps installs chromium)"; exit 1; }
[ -x "$CHROMEDRIVER" ] || { say "$CHROMEDRIVER missing (make test-deps installs chromium-driver)"; exit 1; }
"$PYTHON" -c 'import selenium' 2>/dev/null || { say "selenium missing in $PYTHON (make tools installs it)"; exit 1; }

dir=$(mktemp -d)
server=""
cleanup() {
  # The browser script runs in its own process group (setsid): chromedriver and Chromium go
  # with it even if the script itself was killed before it could quit the browser.
  if [ -n "$browser" ]; then
    kill -TERM -- "-$browser" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$browser" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$browser" 2>/dev/null || true
  fi
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then say "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
cat > "$dir/gateway.toml" <<TOML
listen = "127.0.0.1:$port"
public_url = "$base"
data_dir = "$dir/data"
TOML
idg() { "$BIN" --config "$dir/gateway.toml" "$@"; }

# The operator admin (password on stdin). The org is created through the UI.
printf 'a long operator password\n' | idg admin create ops@example.com >"$dir/setup.log" 2>&1 \
  || { cat "$dir/setup.log"; say "idgate admin create failed"; exit 1; }
"$BIN" --config "$dir/gateway.toml" serve >"$dir/idgate.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
curl -fs "$base/healthz" >/dev/null 2>&1 || { cat "$dir/idgate.log"; say "idgate did not start"; exit 1; }

mkdir -p "$SHOTS"
status=0
setsid "$PYTHON" scripts/admin_e2e.py \
  --base-url "$base" --idgate "$BIN" --config "$dir/gateway.toml" --work-dir "$dir" \
  --screenshots "$SHOTS" --chromium "$CHROMIUM" --chromedriver "$CHROMEDRIVER" &
browser=$!
wait "$browser" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- idgate log (last 30 lines)"
  tail -30 "$dir/idgate.log"
  if compgen -G "$dir/failure-*.png" >/dev/null && mkdir -p target/admin-e2e; then
    cp "$dir"/failure-*.png target/admin-e2e/
    say "screenshots of the failing pages: target/admin-e2e/failure-*.png"
  fi
fi
exit "$status"
