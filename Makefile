# chatlab: `make help` lists what you can run.

GO      ?= go
BIN     := bin
HOST    ?= localhost
PORT    ?= 5015
# Extra flags for `make serve`, e.g. SERVER_FLAGS="-max-clients 200".
SERVER_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help build serve client test lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

build: ## build the reference programs into bin/
	$(GO) build -o $(BIN)/chat_server ./solutions/server
	$(GO) build -o $(BIN)/chat_client ./solutions/client

serve: build ## run the reference server (port 5015, or PORT=...; Ctrl-C stops it)
	$(BIN)/chat_server -port $(PORT) $(SERVER_FLAGS)

client: build ## connect the reference client: make client HOST=... PORT=...
	$(BIN)/chat_client $(HOST) $(PORT)

test: lint ## run every test, with the race detector
	$(GO) test -race -count=1 -timeout 10m ./...

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean: ## remove what the build made
	rm -rf $(BIN) dist
