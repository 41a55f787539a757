# DatDot build and test entry points. `make build` and `make test` are the two
# that CI and a new user need; the rest are for development.

GO        ?= go
BUILD_DIR ?= build
FUZZTIME  ?= 10s

.PHONY: all build test test-go test-e2e setup fuzz bench proto-gen localnet run clean

all: build

build:
	@mkdir -p $(BUILD_DIR)
	$(GO) build -o $(BUILD_DIR)/ ./cmd/...

# setup installs what the end-to-end tests need (Debian and npm packages); every
# script in scripts/setup is idempotent and quick when things are already there.
setup:
	@for s in scripts/setup/*.sh; do [ -e "$$s" ] || continue; echo "== setup: $$s"; bash "$$s" || exit 1; done

test: setup build test-go fuzz test-e2e

test-go:
	$(GO) test -count=1 -timeout 20m ./...

# Every fuzz target runs briefly: they must never panic on any input.
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# Every script in scripts/e2e drives the built binaries with real clients.
test-e2e: build
	@for s in scripts/e2e/*.sh; do [ -e "$$s" ] || continue; echo "== e2e: $$s"; bash "$$s" || exit 1; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD_DIR)

# localnet starts a one-validator chain on 127.0.0.1 in ./.localnet (see
# scripts/localnet.sh for the environment overrides); LOCALNET_ARGS=--background
# detaches it once the first block is made.
localnet: build
	bash scripts/localnet.sh $(LOCALNET_ARGS)
