#!/usr/bin/env bash
# Regression test for "any SAML 2.0 IdP" (issue 11): pysaml2 (PyPI, pinned in the Makefile's
# `tools`) acts as the IdP with its DEFAULT attribute map (urn:oid names, persistent NameID)
# against the real server: its metadata loaded with `idgate org saml --metadata`, a sign-in
# through /saml/acme/login and the ACS; then a mapping chosen with `idgate org saml-attributes`
# (eduPersonPrincipalName as the email, cn as the display name) and a second sign-in.
# Called by `make test` (after cargo test built target/debug/idgate).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SERVER_BIN:-./target/debug/idgate}
PYTHON=${PYTHON:-.tools/venv/bin/python}
[ -x "$BIN" ] || { echo "pysaml2-idp: $BIN missing (run cargo test first)"; exit 1; }
command -v xmlsec1 >/dev/null || { echo "pysaml2-idp: xmlsec1 is not installed (make deps installs it)"; exit 1; }
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
[ -n "${KEEP:-}" ] && trap '[ -n "$server" ] && kill "$server" 2>/dev/null; echo "kept $work"' EXIT
idg() { "$BIN" --data-dir "$work" "$@"; }
idg org create acme --name Acme --domain acme.com >/dev/null 2>&1
idg org set acme --jit on >/dev/null 2>&1
"$PYTHON" scripts/pysaml2_idp.py metadata "$work/idp.xml"
idg org saml acme --metadata "$work/idp.xml" >/dev/null 2>"$work/saml.err" || { cat "$work/saml.err"; exit 1; }
. scripts/serve.sh
serve_idgate "$BIN" "$work"
status=0
"$PYTHON" scripts/pysaml2_idp.py signin "$base" acme default || status=1
idg org saml-attributes acme --email urn:oid:1.3.6.1.4.1.5923.1.1.1.6 --display-name urn:oid:2.5.4.3 >/dev/null
"$PYTHON" scripts/pysaml2_idp.py signin "$base" acme eppn || status=1
if [ "$status" -ne 0 ]; then
  echo "--- sign-in log reasons (idgate server log):"
  grep -i "sign-in refused" "$work/server.log" | tail -5 || true
  exit 1
fi
echo "pysaml2-idp: OK"
