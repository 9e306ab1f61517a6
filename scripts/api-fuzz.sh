#!/usr/bin/env bash
# Runs schemathesis (pinned, PyPI) against the product API of the real server, driven by the
# OpenAPI document the server serves (/api/v1/openapi.json): every operation with generated
# valid and invalid input. Fails on any 5xx and on any response that does not match the
# document (status, content type, body schema). A fresh store with one org, a few users and
# groups, and an API key with every scope.
set -euo pipefail
[ -n "${API_FUZZ_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
BIN=${SERVER_BIN:-./target/release/idgate}
ST=${ST:-.tools/venv/bin/st}
EXAMPLES=${API_FUZZ_EXAMPLES:-40}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
idg() { "$BIN" --data-dir "$work" "$@"; }
idg org create acme --name Acme --domain acme.com >/dev/null 2>&1
token=$(idg scim-token create --org acme --name fuzz 2>/dev/null)
key=$(idg api-key create --name fuzz --scope directory:read,events:read,webhooks:write 2>/dev/null)
# Webhook tests (POST …/test) go to a closed local port: refused at once, no outside traffic.
export IDGATE_OUTBOUND_ALLOW_NETWORKS=127.0.0.1/32
. scripts/serve.sh
serve_idgate "$BIN" "$work"
scim() { curl -sf -X "$1" "$base/scim/v2$2" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/scim+json' ${3:+-d "$3"}; }
for i in 1 2 3; do
  scim POST /Users "{\"userName\":\"u$i@acme.com\",\"externalId\":\"x$i\",\"active\":true}" >/dev/null
done
uid=$(scim GET '/Users?count=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["Resources"][0]["id"])')
gid=$(scim POST /Groups "{\"displayName\":\"Eng\",\"members\":[{\"value\":\"$uid\"}]}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
eid=$(curl -sf -X POST "$base/api/v1/webhook_endpoints" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9/hook"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# One event after the endpoint: its lane's next event, which resend and skip then name.
scim POST /Users '{"userName":"after@acme.com","active":true}' >/dev/null
seq=$(curl -sf "$base/api/v1/events?after=0&limit=100" -H "Authorization: Bearer $key" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][-1]["seq"])')
# The lane exists once the dispatcher has tried that event (the port is closed: it fails).
for _ in $(seq 50); do
  curl -sf "$base/api/v1/webhook_endpoints/$eid/lanes" -H "Authorization: Bearer $key" \
    | grep -q '"org":"acme"' && break
  sleep 0.1
done
export FUZZ_ORG=acme FUZZ_USER=$uid FUZZ_GROUP=$gid FUZZ_ENDPOINT=$eid FUZZ_SEQ=$seq
set +e
SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks timeout 900 "$ST" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" \
  --workers 1 \
  --no-color > "$work/report.txt" 2>&1
status=$?
set -e
tail -60 "$work/report.txt"
if grep -q ' panicked' "$work/server.log"; then
  grep -B2 -A5 ' panicked' "$work/server.log" | head -40
  echo "the server panicked"; exit 1
fi
exit $status
