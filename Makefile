# idgate: `make run` serves, `make test` runs every check. Both install what is missing.
SHELL := /bin/bash
SYSTEM_PACKAGES := libssl-dev libxml2-dev libxmlsec1-dev libclang-dev pkg-config xmlsec1 python3-venv
# Only for `make test`: nginx and Caddy run the README's auth_request and forward_auth
# examples; Chromium and its WebDriver run the admin UI end-to-end test; Node.js runs the
# OpenID Provider of the OIDC end-to-end test; PostgreSQL is the second store backend
# (scripts/pg-server.sh starts a throwaway server).
TEST_PACKAGES := nginx caddy curl chromium chromium-driver nodejs postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS_VENV := .tools/venv
SCIM2_CLI_VERSION := 0.6.0
# selenium 4.52.0 wants a certifi release that PyPI does not have yet.
SELENIUM_VERSION := 4.51.0
CARGO_FUZZ_VERSION := 0.13.2
SCHEMATHESIS_VERSION := 4.32.5
PYSAML2_VERSION := 7.5.5
FUZZ_SECONDS ?= 600
CARGO_FLAGS ?=

.PHONY: run test deps test-deps tools build check lint unit scim2-tester api-fuzz nginx-test caddy-test cluster-lb-test e2e oidc-e2e pysaml2-idp pg-api bench fuzz clean

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(SYSTEM_PACKAGES)"
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }

test-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"

install-packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Python tools in a venv, each pinned: scim2-cli (scim2-tester), selenium (the admin UI e2e test),
# schemathesis (the product API fuzzer), pysaml2 (a generic SAML IdP; uses xmlsec1).
tools: test-deps
	@[ -x $(TOOLS_VENV)/bin/python ] || python3 -m venv $(TOOLS_VENV)
	@[ -x $(TOOLS_VENV)/bin/scim2 ] || $(TOOLS_VENV)/bin/pip install -q 'scim2-cli==$(SCIM2_CLI_VERSION)'
	@$(TOOLS_VENV)/bin/python -c 'import sys, selenium; sys.exit(selenium.__version__ != "$(SELENIUM_VERSION)")' 2>/dev/null \
	  || $(TOOLS_VENV)/bin/pip install -q 'selenium==$(SELENIUM_VERSION)'
	@$(TOOLS_VENV)/bin/st --version 2>/dev/null | grep -q ' $(SCHEMATHESIS_VERSION)$$' \
	  || $(TOOLS_VENV)/bin/pip install -q 'schemathesis==$(SCHEMATHESIS_VERSION)'
	@$(TOOLS_VENV)/bin/python -c 'import sys, importlib.metadata as m; sys.exit(m.version("pysaml2") != "$(PYSAML2_VERSION)")' 2>/dev/null \
	  || $(TOOLS_VENV)/bin/pip install -q 'pysaml2==$(PYSAML2_VERSION)'

build: deps
	cargo build --release --locked $(CARGO_FLAGS)

run: build
	mkdir -p data
	./target/release/idgate serve

lint: deps
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

unit: deps
	cargo test --locked

# Uses the debug binary that `cargo test` (the `unit` target) built: no second build in CI.
scim2-tester: tools unit
	SERVER_BIN=./target/debug/idgate ./scripts/scim2-tester.sh

# Schemathesis against /api/v1/openapi.json of the real server: no 5xx, every answer as documented.
api-fuzz: tools unit
	SERVER_BIN=./target/debug/idgate ./scripts/api-fuzz.sh

# The README's nginx auth_request example, run for real against the debug binary.
nginx-test: test-deps unit
	./scripts/nginx-test.sh

# The README's Caddy forward_auth example, run for real against the debug binary.
caddy-test: test-deps unit
	./scripts/caddy-test.sh

# The README's two-instance production example: a throwaway PostgreSQL, two idgate instances
# sharing secret.key, nginx with examples/production/nginx.conf as the load balancer.
cluster-lb-test: test-deps unit
	./scripts/cluster-lb-test.sh

# The admin UI in headless Chromium (Debian's chromium + chromedriver, selenium): sign in,
# create an org, upload Entra metadata, SCIM token and call, SSO-only. Saves the screenshots
# in docs/screenshots/ that README.md shows.
e2e: tools unit
	SERVER_BIN=./target/debug/idgate PYTHON=$(TOOLS_VENV)/bin/python ./scripts/admin-e2e.sh

# Sign in with Microsoft Entra over OIDC against a real, independent OpenID Provider (npm
# oidc-provider, pinned by tests/oidc-provider/package-lock.json, shaped like Entra).
# NodeSource's nodejs bundles npm; Debian's needs the npm package.
oidc-e2e: tools unit
	@command -v npm >/dev/null || $(MAKE) --no-print-directory install-packages PACKAGES=npm
	SERVER_BIN=./target/debug/idgate PYTHON=$(TOOLS_VENV)/bin/python ./scripts/oidc-e2e.sh

# Any SAML 2.0 IdP: pysaml2 as the IdP with its default attribute map (urn:oid names,
# persistent NameID) signs in through the real endpoints, then with an org's own mapping.
pysaml2-idp: tools unit
	SERVER_BIN=./target/debug/idgate PYTHON=$(TOOLS_VENV)/bin/python ./scripts/pysaml2-idp.sh

# The API suite again on PostgreSQL (a throwaway server; Debian's postgresql package), after
# the schema check that its migrations match SQLite's.
pg-api: test-deps unit
	./scripts/pg-api-test.sh

test: lint unit pg-api scim2-tester api-fuzz nginx-test caddy-test cluster-lb-test e2e oidc-e2e pysaml2-idp

bench: build
	cargo build --release --locked --example idgate-bench
	cargo build --release --locked --example signin-bench
	./scripts/bench.sh

# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the SCIM filter parser, the PATCH engine,
# attribute projection, the metadata parser and the SAML response path: each target for
# FUZZ_SECONDS (FUZZ_PARALLEL at a time). Not part of `make test`, which replays the committed
# seeds and every saved crash instead (src/fuzzing.rs). docs/FUZZING.md has the runs.
fuzz: deps
	@cargo fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)$$' \
	  || cargo install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

clean:
	cargo clean
	rm -rf .tools
