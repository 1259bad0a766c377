# crashsim — every target works on a fresh clone with only Go installed;
# targets that need a Debian package or a Go tool install it first.

GO        ?= go
BIN       := $(CURDIR)/bin
GOFUZZREV := v0.0.0-20220726122315-1d375ef9f9f6
FUZZTIME  ?= 5s
BENCHTIME ?= 1s
# Packages with native fuzz targets; fuzz-smoke runs each target for FUZZTIME.
FUZZPKGS  := $(shell grep -l '^func Fuzz[A-Z]' $$(find . -path ./bench -prune -o -name '*_test.go' -print) 2>/dev/null | xargs -r -n1 dirname | sort -u)

.PHONY: all build test test-heavy race unit lint fuzz-smoke gofuzz bench bench-peers real-programs bench-mount bench-explore bench-shards demo torture ci pmdk fuse3 sqlite3 clean

all: build

build:
	$(GO) build ./...

## test: the README's test command, and what CI runs (.ci/run): lint, then
## every test with the race detector. The explorations of sim/scenarios take
## minutes under the race detector on two cores, longer on a loaded machine:
## TESTTIMEOUT (per package) is above go test's default of 10 minutes so that
## load alone does not fail a run; CI's own limit is 20 minutes for the whole.
## It first runs fuse3 (installed when missing), which the mount's non-root
## test needs: make test on a fresh machine does everything.
TESTTIMEOUT ?= 30m
test: lint fuse3
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./...

## test-heavy: every test with the heavier property and exploration runs
## (CRASHSIM_HEAVY=1: ten times the rapid checks of engine/wal's properties,
## more states, seeds and rapid shrinking in the pool scenarios' tests, more seeds
## in faultfs's stress test of Release and Untrack).
test-heavy:
	CRASHSIM_HEAVY=1 $(GO) test -count=1 ./...

## unit: every test without the race detector (faster while editing).
unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## fuzz-smoke: each native fuzz target for FUZZTIME.
fuzz-smoke:
	@set -e; for pkg in $(FUZZPKGS); do \
	  for t in $$(grep -h '^func Fuzz[A-Z]' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## gofuzz: build the go-fuzz harnesses (build tag gofuzz) and run one briefly.
$(BIN)/go-fuzz $(BIN)/go-fuzz-build:
	GOBIN=$(BIN) $(GO) install github.com/dvyukov/go-fuzz/go-fuzz@$(GOFUZZREV) github.com/dvyukov/go-fuzz/go-fuzz-build@$(GOFUZZREV)

GOFUZZPKGS := $(shell grep -l '^//go:build gofuzz' $$(find . -path ./bench -prune -o -name '*.go' -print) 2>/dev/null | xargs -r -n1 dirname | sort -u)

gofuzz: $(BIN)/go-fuzz $(BIN)/go-fuzz-build
	@mkdir -p out/gofuzz
	@set -e; for pkg in $(GOFUZZPKGS); do \
	  name=$$(echo $$pkg | sed 's|^\./||; s|/|-|g'); \
	  echo "== go-fuzz-build $$pkg"; \
	  $(BIN)/go-fuzz-build -o out/gofuzz/$$name.zip $$pkg; \
	done
	@first=$$(ls out/gofuzz/*.zip | head -n1); name=$$(basename $$first .zip); \
	  echo "== go-fuzz $$name for 20s"; \
	  timeout 20 $(BIN)/go-fuzz -bin $$first -workdir out/gofuzz/$$name -procs 2 || [ $$? -eq 124 ]

## pmdk: the Debian packages the side-by-side benchmarks link against.
pmdk:
	@if ! pkg-config --exists libpmem libpmemobj 2>/dev/null; then \
	  echo "installing libpmem-dev libpmemobj-dev (PMDK 1.12) for the peer benchmarks"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libpmem-dev libpmemobj-dev pkg-config; \
	fi

## bench: our benchmarks, then the side-by-side runs against peers (bench/);
## both modules have benchmarks that mount (mount, bench/boltcrash,
## bench/sqlitecrash).
bench: pmdk fuse3 sqlite3
	cd bench && $(GO) vet ./...
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

## fuse3: fusermount3 (Debian's fuse3), through which package mount mounts
## for a user who is not root (root mounts with mount(2) itself): installed
## when missing, and it must be setuid root; and /dev/fuse made 0666, as
## Debian's udev rule makes it, for fusermount3 opens it as the user (a
## /dev without udev leaves it 0600). The targets that mount need it, and
## make test, where mount's TestUnprivilegedMount runs the mount as nobody
## (a bare go test of package mount skips it outside CI, saying why, when
## it cannot mount; in CI it fails).
fuse3:
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  command -v fusermount3 >/dev/null || { \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fuse3; } && \
	  { [ -u "$$(command -v fusermount3)" ] || { echo "fuse3: $$(command -v fusermount3) is not setuid root" >&2; exit 1; }; } && \
	  { [ ! -e /dev/fuse ] || [ "$$(stat -c %a /dev/fuse)" = 666 ] || $$SUDO chmod 0666 /dev/fuse; }

## sqlite3: Debian's sqlite3 command, which bench/sqlitecrash runs.
sqlite3:
	@command -v sqlite3 >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq sqlite3; }

## real-programs: programs nobody here wrote (bbolt, SQLite's sqlite3,
## hashicorp/raft-wal), explored through the FUSE mount of the simulated
## disk (bench/boltcrash, bench/sqlitecrash, bench/raftwalcrash;
## docs/MOUNT.md), and bbolt's historical torn-meta-page bug in boltdb/bolt
## v1.2.0, a module of its own (bench/boltcrash/old).
real-programs: fuse3 sqlite3
	cd bench && $(GO) test -count=1 ./boltcrash ./sqlitecrash ./raftwalcrash
	cd bench/boltcrash/old && $(GO) test -count=1 .

## bench-mount: the FUSE mount's cost per call against engine.FS on the
## same simulated machine (mount BenchmarkCalls), and the crash states
## judged per second exploring bbolt and SQLite through it
## (docs/BENCHMARKS.md, "FUSE mount (issue 14)").
bench-mount: fuse3 sqlite3
	$(GO) test -run '^$$' -bench '^BenchmarkCalls$$' -benchtime 2000x -count 3 ./mount
	cd bench && $(GO) test -run '^$$' -bench '^BenchmarkExplore$$' -benchtime 3x ./boltcrash ./sqlitecrash

## bench-peers: only the side-by-side runs in the bench module.
bench-peers: pmdk fuse3 sqlite3
	cd bench && $(GO) vet ./... && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

## bench-explore: the explorer's throughput against bare recovery (sim),
## and its scaling on the engine's own scenarios (sim/scenarios), each
## configuration in a fresh process, RUNS times, interleaved: in one process
## a sub-benchmark inherits the heap (and so the GC pace) of the one before,
## which makes the figures bimodal.
RUNS ?= 5
bench-explore:
	@$(GO) test -c -o $(BIN)/sim.test ./sim/
	@$(GO) test -c -o $(BIN)/scenarios.test ./sim/scenarios/
	@for i in $$(seq $(RUNS)); do \
	  for r in records=48 records=480 records=480-digest; do \
	    for b in explorer/workers=1 explorer/workers=2 bare-recovery/workers=1 bare-recovery/workers=2; do \
	      $(BIN)/sim.test -test.run '^$$' -test.bench "^BenchmarkExplore\$$/^$$(echo $$r/$$b | sed 's|/|$$/^|g')\$$" -test.benchtime 1s | grep '^Benchmark'; \
	    done; \
	  done; \
	  for s in pool-map pool-map-file pool-alloc; do \
	    for w in 1 2; do \
	      $(BIN)/scenarios.test -test.run '^$$' -test.bench "^BenchmarkExploreScaling\$$/^$$s\$$/^workers=$$w\$$" -test.benchtime 2s | grep '^Benchmark'; \
	    done; \
	  done; \
	done | awk '{v[$$1]=v[$$1]" "$$(NF-1)} END {for (k in v) print k, v[k]}' | sort

## bench-shards: the time of an exploration whole and of each of its four
## shards (sim/scenarios BenchmarkShards), each in a fresh process, RUNS
## times, interleaved: wall/CPU ns per exploration.
bench-shards:
	@$(GO) test -c -o $(BIN)/scenarios.test ./sim/scenarios/
	@for i in $$(seq $(RUNS)); do \
	  for s in pool-map pool-alloc; do \
	    for p in whole shard=0of4 shard=1of4 shard=2of4 shard=3of4; do \
	      $(BIN)/scenarios.test -test.run '^$$' -test.bench "^BenchmarkShards\$$/^$$s\$$/^$$p\$$" -test.benchtime 3x | grep '^Benchmark'; \
	    done; \
	  done; \
	done | awk '{v[$$1]=v[$$1]" "$$3"/"$$5} END {for (k in v) print k, v[k]}' | sort

## torture: the engine on this machine's real storage for TORTURE_TIME,
## seeded by TORTURE_SEED: kill -9 cycles of the WAL and of pools on each
## medium, corruption sweeps of each file format, full-disk runs on a 4 MiB
## tmpfs when root (internal/torture). The report (report.md, report.json)
## and each anomaly with its files and reproduction go to out/torture; the
## exit code is 1 on any anomaly. `make test` runs the short version
## (TestShort in internal/torture). docs/RELIABILITY.md records the figures.
TORTURE_TIME ?= 10m
TORTURE_SEED ?= 1
torture:
	$(GO) build -o $(BIN)/crashsim ./cmd/crashsim
	$(BIN)/crashsim torture --time $(TORTURE_TIME) --seed $(TORTURE_SEED) --out out/torture

## demo: the README's first command.
demo:
	$(GO) run ./cmd/crashsim demo

ci: test fuzz-smoke

clean:
	rm -rf bin out
