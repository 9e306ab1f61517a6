# idgate: `make run` serves, `make test` runs every check. Both install what is missing.
SHELL := /bin/bash
SYSTEM_PACKAGES := libssl-dev libxml2-dev libxmlsec1-dev libclang-dev pkg-config xmlsec1 python3-venv
# Only for `make test`: nginx runs the README's auth_request example.
TEST_PACKAGES := nginx curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS_VENV := .tools/venv
CARGO_FLAGS ?=

.PHONY: run test deps test-deps tools build check lint unit scim2-tester nginx-test bench clean

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

tools: test-deps
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

# The README's nginx auth_request example, run for real against the debug binary.
nginx-test: test-deps unit
	./scripts/nginx-test.sh

test: lint unit scim2-tester nginx-test

bench: build
	cargo build --release --locked --example idgate-bench
	./scripts/bench.sh

clean:
	cargo clean
	rm -rf .tools
