# DatDot build and test entry points. `make build` and `make test` are the two
# that CI and a new user need; the rest are for development.

GO        ?= go
BUILD_DIR ?= build
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
SDK_VERSION_PKG = github.com/cosmos/cosmos-sdk/version
LDFLAGS   = -X main.version=$(VERSION) \
	-X $(SDK_VERSION_PKG).Name=datdot -X $(SDK_VERSION_PKG).AppName=datdotchaind \
	-X $(SDK_VERSION_PKG).Version=$(VERSION)

.PHONY: all build test test-go test-e2e setup fuzz bench proto-gen localnet run clean

all: build

build:
	@mkdir -p $(BUILD_DIR)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BUILD_DIR)/ ./cmd/...

# setup installs what the end-to-end tests need (Debian and npm packages); every
# script in scripts/setup is idempotent and quick when things are already there.
setup:
	@for s in scripts/setup/*.sh; do [ -e "$$s" ] || continue; echo "== setup: $$s"; bash "$$s" || exit 1; done

test: setup build proto-check test-go fuzz test-e2e

test-go:
	$(GO) test -count=1 -timeout 20m ./...

# Every fuzz target runs briefly: they must never panic on any input.
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# Every script in scripts/e2e drives the built binaries with real clients.
# Their shared setup is in scripts/e2e/lib/ (e2e.sh: chain, hosters,
# clean-up; gateway.sh: a local-backend gateway; hypercore.sh: the JS
# hypercore; net.sh: free_port and set_toml, also used by localnet.sh and
# multinode.sh), sourced by them and, being one directory down, not run by
# this glob.
test-e2e: build
	@for s in scripts/e2e/*.sh; do [ -e "$$s" ] || continue; echo "== e2e: $$s"; bash "$$s" || exit 1; done

# run starts the whole system on this machine with embedded defaults
# (`datdot devnet`: a local chain, hosters, the S3 gateway and the dashboard
# on 127.0.0.1, state in ./.devnet); Ctrl-C stops it, running it again
# resumes. DEVNET_ARGS passes flags, e.g. DEVNET_ARGS=--fresh.
run: build
	$(BUILD_DIR)/datdot devnet $(DEVNET_ARGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD_DIR)

# --- protobuf and mocks (x/storage, x/attest) -------------------------------
# The generators are pinned in tools/go.mod and built into build/tools, so
# proto-gen needs no network once the module cache is warm; the third-party
# protos it imports are vendored in third_party/proto.
TOOLS_DIR ?= $(BUILD_DIR)/tools
PROTO_OUT ?= $(BUILD_DIR)/proto-out

.PHONY: proto-tools proto-check mocks

proto-tools:
	@mkdir -p $(TOOLS_DIR)
	cd tools && $(GO) build -o ../$(TOOLS_DIR)/ github.com/bufbuild/buf/cmd/buf \
		github.com/cosmos/gogoproto/protoc-gen-gocosmos \
		github.com/grpc-ecosystem/grpc-gateway/protoc-gen-grpc-gateway \
		github.com/golang/mock/mockgen

# PROTO_MODULES are the modules whose types/*.pb.go come from proto/datdot/<m>.
PROTO_MODULES ?= storage attest

# proto-gen regenerates x/<module>/types/*.pb.go and *.pb.gw.go.
proto-gen: proto-tools
	rm -rf $(PROTO_OUT)
	$(TOOLS_DIR)/buf generate
	@for m in $(PROTO_MODULES); do cp $(PROTO_OUT)/github.com/datdot/datdot/x/$$m/types/*.go x/$$m/types/ || exit 1; done

# proto-check fails when the protos do not lint or the committed generated
# code differs from what the committed protos produce.
proto-check: proto-tools
	$(TOOLS_DIR)/buf lint
	rm -rf $(PROTO_OUT)
	$(TOOLS_DIR)/buf generate
	@for m in $(PROTO_MODULES); do \
		for f in $(PROTO_OUT)/github.com/datdot/datdot/x/$$m/types/*.go; do \
			cmp -s "$$f" "x/$$m/types/$$(basename $$f)" || { echo "stale generated file: x/$$m/types/$$(basename $$f) (run make proto-gen)"; exit 1; }; \
		done; \
		for f in x/$$m/types/*.pb.go x/$$m/types/*.pb.gw.go; do \
			[ -e "$$f" ] || continue; \
			[ -e "$(PROTO_OUT)/github.com/datdot/datdot/x/$$m/types/$$(basename $$f)" ] || { echo "generated file without a proto: $$f"; exit 1; }; \
		done; \
	done; echo "generated protobuf code is up to date"

# mocks regenerates the gomock mocks of the modules' expected keepers.
mocks: proto-tools
	@for m in $(PROTO_MODULES); do \
		$(TOOLS_DIR)/mockgen -source=x/$$m/types/expected_keepers.go -package testutil \
			-destination=x/$$m/testutil/expected_keepers_mocks.go || exit 1; \
	done

# localnet starts a one-validator chain on 127.0.0.1 in ./.localnet (see
# scripts/localnet.sh for the environment overrides); LOCALNET_ARGS=--background
# detaches it once the first block is made.
localnet: build
	bash scripts/localnet.sh $(LOCALNET_ARGS)

# bench-chain measures committed tx/s (bank send, storage place-order) on a
# fresh local chain; BENCH_ACCOUNTS and BENCH_TXS size the load.
.PHONY: bench-chain
bench-chain: build
	bash scripts/bench-chain.sh

# s3-conformance runs the ceph s3-tests core selection against the gateway;
# S3TESTS_DIR is an export of the public ceph/s3-tests repository (see
# ../shared/s3-tests/README.md). Not part of make test: CI cannot fetch it.
# S3_CONFORMANCE_BACKEND=network runs it against the network backend (a
# local chain and three hosters are started first; about 30-60 min on a
# loaded 2-core machine, against 5 min for the local backend).
.PHONY: s3-conformance bench-s3
s3-conformance: build
	bash scripts/s3-conformance.sh $(S3TESTS_DIR)

# bench-s3 runs bench/s3 against the gateway and versitygw side by side
# (bench/s3/run.sh says how versitygw is installed outside go.mod).
bench-s3: build
	bash bench/s3/run.sh

# bench-wire measures Hypercore replication throughput over loopback TCP:
# Go→Go, Go→JS, JS→JS and JS→Go for one core of BENCH_WIRE_MIB (1024) MiB.
.PHONY: bench-wire
bench-wire: build
	bash bench/wire/run.sh $(or $(BENCH_WIRE_MIB),1024)
