# vscope: everything a fresh machine with Go and gcc needs goes through here.
GO      ?= go
BUILD   ?= build
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BENTHOS_VERSION := v4.40.0

.PHONY: all build demo test test-long bench eval tools lint clean
.PHONY: assets notebooks notebook-deps chromium test-browser

all: build

# duckdb_arrow: the metric store ingests through Arrow (about 4x the Appender).
TAGS    ?= duckdb_arrow

build: assets
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BUILD)/vscope ./cmd/vscope

## demo: run the whole story on this machine with embedded defaults
demo: build
	$(BUILD)/vscope demo

## test: the suite CI runs; the agent packages under the race detector
test: assets
	$(GO) vet ./...
	$(GO) test -race -count=1 ./agent/...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/agent')
	$(GO) test -race -count=1 -tags "$(TAGS)" ./vscope/store/

## test-long: soak, crash-loop and fuzz runs that do not fit in make test.
## Tests gate their long variants on VSCOPE_TEST_LONG=1.
test-long: assets chromium
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
	VSCOPE=$(BUILD)/vscope GO=$(GO) ./docs/bench/dpg-deploy.sh
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

## assets: Apache ECharts for the HTML report and vscope ui, from the npm
## registry at the exact version pinned in vscope/web/package-lock.json,
## copied where package web embeds it (vscope/web/dist, not committed).
## Tests that draw charts fail without it when run through make.
ECHARTS := vscope/web/dist/echarts.min.js
export VSCOPE_ASSETS_REQUIRED := 1
assets: $(ECHARTS)
$(ECHARTS): vscope/web/package.json vscope/web/package-lock.json
	@command -v npm >/dev/null || { echo "make assets: needs npm (Node.js) to fetch Apache ECharts from the npm registry" >&2; exit 1; }
	mkdir -p $(BUILD)/npm
	cp vscope/web/package.json vscope/web/package-lock.json $(BUILD)/npm/
	cd $(BUILD)/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp $(BUILD)/npm/node_modules/echarts/dist/echarts.min.js $(BUILD)/npm/echarts.min.js && mv $(BUILD)/npm/echarts.min.js $@

## notebooks: execute notebooks/*.ipynb headless with Debian's Jupyter and
## Python (pandas, matplotlib), failing on the first cell that fails;
## the executed copies go to build/notebooks.
NOTEBOOK_DEBS := python3-pandas python3-matplotlib python3-ipykernel jupyter-nbconvert
notebook-deps:
	@dpkg -s $(NOTEBOOK_DEBS) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NOTEBOOK_DEBS); }

notebooks: build notebook-deps
	mkdir -p $(BUILD)/notebooks
	PATH=/usr/bin:$$PATH PYDEVD_DISABLE_FILE_VALIDATION=1 VSCOPE=$(abspath $(BUILD)/vscope) VSCOPE_NOTEBOOK_DIR=$(abspath $(BUILD)/notebooks) \
	  /usr/bin/python3 -m nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 \
	  --ExecutePreprocessor.kernel_name=python3 --output-dir $(BUILD)/notebooks notebooks/*.ipynb

## chromium: Debian's headless Chromium, for the browser test
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## test-browser: headless Chromium opens the HTML report and vscope ui,
## checks that the charts rendered, saves build/screenshots/*.png
test-browser: assets chromium
	VSCOPE_TEST_BROWSER=1 VSCOPE_SCREENSHOTS=$(abspath $(BUILD)/screenshots) \
	  $(GO) test -count=1 -run '^TestBrowser' -timeout 15m ./cmd/vscope/
