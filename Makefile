# vscope: everything a fresh machine with Go and gcc needs goes through here.
GO      ?= go
BUILD   ?= build
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BENTHOS_VERSION := v4.40.0

.PHONY: all build demo test test-long bench eval tools lint clean

all: build

# duckdb_arrow: the metric store ingests through Arrow (about 4x the Appender).
TAGS    ?= duckdb_arrow

build:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BUILD)/vscope ./cmd/vscope

## demo: run the whole story on this machine with embedded defaults
demo: build
	$(BUILD)/vscope demo

## test: the suite CI runs; the agent packages under the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./agent/...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/agent')
	$(GO) test -race -count=1 -tags "$(TAGS)" ./vscope/store/

## test-long: soak, crash-loop and fuzz runs that do not fit in make test.
## Tests gate their long variants on VSCOPE_TEST_LONG=1.
test-long:
	VSCOPE_TEST_LONG=1 $(GO) test -race -count=1 -timeout 80m ./...
	$(GO) test -race -count=5 ./agent/...
	$(GO) test -run '^$$' -fuzz '^FuzzParseSyslog$$' -fuzztime 60s ./agent/source/
	$(GO) test -run '^$$' -fuzz '^FuzzSyslogTCPFraming$$' -fuzztime 60s ./agent/source/
	$(GO) test -run '^$$' -fuzz '^FuzzHTTPJSONHandler$$' -fuzztime 60s ./agent/source/
	$(GO) test -run '^$$' -fuzz '^FuzzDecoders$$' -fuzztime 60s ./agent/channel/wal/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime 60s ./agent/forward/

## bench: throughput next to the peers (Benthos, raw fsync), measured in one run
bench: build $(BUILD)/benthos tools
	$(GO) test -run '^$$' -bench . -skip '^Benchmark(FileChannelPut|WALReplay)$$' -benchmem -benchtime 300ms ./agent/...
	./docs/bench/filechannel.sh
	BENTHOS=$(BUILD)/benthos VSCOPE=$(BUILD)/vscope ./docs/bench/run.sh
	BENTHOS=$(BUILD)/benthos VSCOPE=$(BUILD)/vscope ./docs/bench/taildir.sh
	BENTHOS=$(BUILD)/benthos VSCOPE=$(BUILD)/vscope ./docs/bench/forward.sh
	GO=$(GO) BUILD=$(BUILD) ./docs/bench/store.sh
	./docs/bench/dpg.sh
	./docs/bench/diagnose.sh

## eval: the diagnosis engine on the public data in ../shared/datasets
eval: build tools
	./docs/bench/asd-eval.sh
	./docs/bench/nab-eval.sh

# tools the bench and eval scripts use, from Debian's packages
tools:
	@command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }

# Benthos is built from the Go module proxy in a throwaway module, outside
# the repository, exactly as DESIGN.md describes.
$(BUILD)/benthos:
	mkdir -p $(BUILD)/benthos-src
	cd $(BUILD)/benthos-src && ( [ -f go.mod ] || $(GO) mod init benthosbuild >/dev/null 2>&1 ) \
	  && $(GO) get github.com/redpanda-data/benthos/v4/cmd/benthos@$(BENTHOS_VERSION) \
	  && $(GO) build -o ../benthos github.com/redpanda-data/benthos/v4/cmd/benthos

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BUILD)
