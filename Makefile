# Conduit. A fresh machine needs only Go (see go.mod for the version).

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := conduit

.PHONY: build test run lint bench install

## build: a static binary, ./conduit
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/conduit

## test: every test, with the race detector
test:
	$(GO) test -race ./...

## run: the proxy on conduit.example.toml
run:
	$(GO) run ./cmd/conduit -c conduit.example.toml proxy

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: Conduit against issue 8's targets, one table (~3 min; BENCHMARKS.md)
bench:
	$(GO) run ./bench/cmd/conduit-bench -go $(GO) $(BENCHFLAGS)

## install: conduit into $(go env GOPATH)/bin
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/conduit
