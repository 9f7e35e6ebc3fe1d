# kubectl-promote. `make demo` shows a real promotion; `make test` runs every test.
SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w \
	-X github.com/kubectl-promote/kubectl-promote/pkg/version.Version=$(VERSION) \
	-X github.com/kubectl-promote/kubectl-promote/pkg/version.Commit=$(COMMIT) \
	-X github.com/kubectl-promote/kubectl-promote/pkg/version.Date=$(DATE)

# The plane's binaries (etcd, kube-apiserver, Flux controllers, ...) are built once
# into ~/.cache/kubectl-promote/plane/<key of the pinned versions>/ and reused;
# build.sh prints that directory on stdout and fails loudly when a build fails.
WITH_PLANE = dir=$$(bash test/tools/build.sh) && export KUBECTL_PROMOTE_PLANE=$$dir &&

.PHONY: all build install test unit e2e demo lint bench bench-e2e bench-status release-check plane clean

all: build

build: ## Build bin/kubectl-promote
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-promote ./cmd/kubectl-promote

install: build ## Install kubectl-promote and its completion script next to kubectl plugins in $GOPATH/bin
	install -D bin/kubectl-promote "$$(go env GOPATH)/bin/kubectl-promote"
	install -D kubectl_complete-promote "$$(go env GOPATH)/bin/kubectl_complete-promote"

test: lint unit e2e release-check ## Every test: unit, end-to-end on a real plane, and the release checks

unit: ## Unit tests (real Git server on loopback, no cluster)
	go test -count=1 ./...

plane: ## Build (or find cached) the control plane binaries
	bash test/tools/build.sh

e2e: ## End-to-end suite on real kube-apiserver + Flux + Git, through kubectl
	$(WITH_PLANE) cd test && go test -count=1 -p 1 -timeout 60m -v ./plane/... ./fleet/... ./e2e/...

demo: ## A real promotion from staging to production on two local clusters (KEEP=1 leaves them running)
	cd test && go run ./demo

bench: ## Go benchmarks of planning, and the plan bench report (medians, ratio to a plain kustomize build)
	go test -run '^$$' -bench Seed -benchtime 10x -count 5 ./pkg/plan/ ./pkg/render/
	go test -run '^$$' -bench 'ComputeLarge$$' -benchtime 1x -count 3 -timeout 30m ./pkg/plan/
	go test -run '^$$' -bench ComputeLargeOneImagesList -benchtime 1x -count 1 -timeout 30m ./pkg/plan/
	go run ./internal/benchreport

bench-e2e: ## Latency of `kubectl promote --wait` against the scripted baseline, on a real plane
	$(WITH_PLANE) cd test && go run ./bench -rounds 3

bench-status: ## How long `kubectl promote status` takes for 2 clusters and for 20 environments, medians
	$(WITH_PLANE) cd test && go run ./benchstatus

release-check: ## goreleaser check + snapshot, krew manifest validation and install, go install, completion through kubectl
	if ! command -v kubectl >/dev/null; then $(WITH_PLANE) true; fi; \
	cd test && go test -tags release -count=1 -timeout 60m -v ./release/

lint: ## gofmt and go vet on every module
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd test && go vet ./... && go vet -tags release ./release/

clean:
	rm -rf bin dist
