# idgate: `make run` serves, `make test` runs every check. Both install what is missing.
SHELL := /bin/bash
SYSTEM_PACKAGES := libssl-dev libxml2-dev libxmlsec1-dev libclang-dev pkg-config xmlsec1 python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS_VENV := .tools/venv
CARGO_FLAGS ?=

.PHONY: run test deps tools build check lint unit scim2-tester bench clean

deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }

tools: deps
	@[ -x $(TOOLS_VENV)/bin/scim2 ] || { python3 -m venv $(TOOLS_VENV) && $(TOOLS_VENV)/bin/pip install -q 'scim2-cli==0.6.0'; }

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

test: lint unit scim2-tester

bench: build
	cargo build --release --locked --example idgate-bench
	cargo build --release --locked --example signin-bench
	./scripts/bench.sh

clean:
	cargo clean
	rm -rf .tools
