# Conduit. A fresh machine needs only Go (see go.mod for the version).

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := conduit

.PHONY: build test run fake lint bench install release demo prices

## build: a static binary, ./conduit
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/conduit

## test: every test, with the race detector
# The race detector instruments every package but SQLite's C code, which
# modernc.org/sqlite/lib carries translated to Go: nothing of Conduit's
# runs or shares memory there (the driver's Go side, modernc.org/sqlite,
# and its libc are still instrumented), and instrumented it made the
# SQLite-heavy tests about three times slower.
RACEFLAGS ?= -race -gcflags=modernc.org/sqlite/lib=-race=false
test:
	$(GO) test $(RACEFLAGS) ./...

## run: the proxy on $(CONFIG): conduit.example.toml (your keys), or CONFIG=examples/fake.toml (the fake, no keys)
CONFIG      ?= conduit.example.toml
run:
	$(GO) run ./cmd/conduit -c $(CONFIG) proxy

## fake: the bundled fake provider (OpenAI, Anthropic, Gemini, Ollama) on $(FAKE_LISTEN), for make run CONFIG=examples/fake.toml
FAKE_LISTEN ?= 127.0.0.1:9999
fake:
	$(GO) run ./examples/fakeprovider/cmd/fakeprovider -listen $(FAKE_LISTEN)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## prices: recompile the embedded price book (ledger/pricing/book.json) from the pinned genai-prices data and the overlay
prices:
	$(GO) generate ./ledger/pricing

## bench: Conduit against its performance targets, one table (~3 min; BENCHMARKS.md)
bench:
	$(GO) run ./bench/cmd/conduit-bench -go $(GO) $(BENCHFLAGS)

## install: conduit into $(go env GOPATH)/bin
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/conduit

## release: static binaries (linux, darwin: amd64, arm64; windows: amd64) and SHA256SUMS in dist/
DIST      ?= dist
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
release:
	@mkdir -p $(DIST) && rm -f $(DIST)/$(BIN)-* $(DIST)/SHA256SUMS
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/$(BIN)-$$os-$$arch; \
		if [ "$$os" = windows ]; then out=$$out.exe; fi; \
		echo "$$out ($(VERSION))"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/conduit; \
	done
	@cd $(DIST) && if command -v sha256sum >/dev/null 2>&1; then sha256sum $(BIN)-* > SHA256SUMS; else shasum -a 256 $(BIN)-* > SHA256SUMS; fi
	@echo "$(DIST)/SHA256SUMS:" && cat $(DIST)/SHA256SUMS

## demo: fake provider + proxy on free ports, calls through both modes, then the dashboard (no API keys)
demo: build
	$(GO) run ./examples/demo -conduit ./$(BIN) $(DEMOFLAGS)
