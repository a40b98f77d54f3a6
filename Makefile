# critline: build, run on the simulated board, test, cross-compile.
# `make run` and `make test` do all set-up on a fresh Debian machine.

SHELL       := /bin/bash
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
RUNDIR      ?= $(CURDIR)/run
TEST_TAGS   ?= spandsp
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

.PHONY: all build run test check test-go test-vm test-cross deps cross lint bench bench-failover bench-paths deb clean prompts

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# The daemon on the simulated board, its socket, state and metrics in ./run.
run: build
	@mkdir -p $(RUNDIR)/state
	@echo
	@echo "critlined is starting on the simulated board (examples/sim.toml). In another shell try:"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock status"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock sim hook 1 off"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock sim dial 1 999"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock sim watch"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock sim power battery"
	@echo "  bin/critlinectl --socket $(RUNDIR)/control.sock sim trunk ring 07700900123"
	@echo "  curl -s http://127.0.0.1:9469/metrics | grep ^critline_"
	@echo "Stop it with Ctrl-C (every relay goes to bypass first)."
	@echo
	exec bin/critlined --config examples/sim.toml \
		--control-socket $(RUNDIR)/control.sock \
		--state-dir $(RUNDIR)/state \
		--metrics-listen 127.0.0.1:9469

# Everything: Debian packages the tests need, the static checks, the Go tests (with the
# spandsp referee), the kernel tests in a VM and the cross-built binaries
# under qemu-user.
test: deps check test-go test-vm test-cross

deps:
	@scripts/test-deps

test-go:
	$(GO) test -tags '$(TEST_TAGS)' -count=1 -timeout 45m ./...

test-vm:
	@if [ -x scripts/test-vm ]; then scripts/test-vm; else echo "test-vm: scripts/test-vm not present"; exit 1; fi

test-cross:
	@if [ -x scripts/test-cross ]; then scripts/test-cross; else echo "test-cross: scripts/test-cross not present"; exit 1; fi

cross:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/linux-arm64/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/linux-armv6/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/linux-armv7/ ./cmd/...
	@ls -l dist/*/critlined

# Tree hygiene, gofmt, go mod tidy, vet of every tag set and target OS,
# staticcheck (scripts/check says what to run to fix each failure).
check:
	@GO=$(GO) STATICCHECK=$(STATICCHECK) scripts/check

lint: check

# Figures: start-to-ready time and memory of the daemon, its idle cost beside
# baresip on one kamailio (CPU, system calls, RSS, with the goals), then the
# packages' benchmarks (the scripted end-to-end ones are left to their scripts).
bench: deps build
	scripts/bench-startup
	scripts/bench-idle
	$(GO) test -tags '$(TEST_TAGS)' -run '^$$' -bench . -skip 'BenchmarkIdle|BenchmarkFailover|BenchmarkFalseAlarms|BenchmarkStartToReady|BenchmarkPaths' -benchmem -count 1 ./...

# PBX killed -> survivable, the first call's extra delay, fail-back, calls lost, and
# false alarms under 5 % packet loss (as root; LOSS_RUN=12m RUNS=5 for the hour).
bench-failover: deps
	scripts/bench-failover

# The remote-activation prompts (survivability/prompts/LANG/*.alaw) from
# their texts, with flite; the prompts package's tests check the committed
# files are exactly what this makes.
prompts:
	GO=$(GO) scripts/make-prompts
# LAN cut -> lines on the cloud over the modem's data connection, LAN back,
# and the mobile data used per minute (network namespaces: needs root).
bench-paths: deps
	scripts/bench-paths

deb:
	scripts/build-deb

clean:
	rm -rf bin dist run
