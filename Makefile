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

.PHONY: all build install test unit e2e demo demo-branches demo-tags demo-fleet demo-policy demo-oci lint lint-tools cover generate bench bench-e2e bench-status bench-fleet bench-history bench-oci release-check plane clean

all: build

build: ## Build bin/kubectl-promote
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-promote ./cmd/kubectl-promote

install: build ## Install kubectl-promote and its completion script next to kubectl plugins in $GOPATH/bin
	install -D bin/kubectl-promote "$$(go env GOPATH)/bin/kubectl-promote"
	install -D kubectl_complete-promote "$$(go env GOPATH)/bin/kubectl_complete-promote"

# lint and unit run first, alone: unit tests that time things (-race) are not run
# beside the e2e suite, which fills both cores (run beside it at a load of 23, two of
# them failed). Then the e2e suite (its plane, fleet and e2e packages side by side,
# -p 3) runs beside fuzz and release-check (each target's output is printed whole
# when it ends).
test: ## Every test: lint, unit, fuzzing (bounded), end-to-end on a real plane, and the release checks
	$(MAKE) --no-print-directory lint unit
	$(MAKE) --no-print-directory plane
	$(MAKE) --no-print-directory -j2 --output-sync=target e2e fuzz release-check

unit: ## Unit tests (real Git server on loopback, no cluster)
	go test -race -count=1 -timeout 30m ./...

# Each fuzz target runs on its own (go test -fuzz takes one) from its corpus in
# testdata/fuzz, for a bounded number of inputs: a count, not -fuzztime 5s, since a
# duration can end in a spurious "context deadline exceeded" on a loaded machine in
# Go 1.26 (golang/go#75804). A failure writes its input to testdata/fuzz/<target>/.
FUZZTIME ?= 3000x
FUZZ_TARGETS = ./pkg/plan:FuzzApplyImageEdits ./pkg/plan:FuzzParseImage ./pkg/flux:FuzzParseRevision ./pkg/flux:FuzzParseRef ./pkg/release:FuzzNextTag ./pkg/policy:FuzzParsePolicy

.PHONY: fuzz
fuzz: ## Fuzz the kustomization.yaml image edit, the image, Flux revision and environment reference parsers, the tag bump and the policy parser (FUZZTIME=3000x each)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "go test -run '^$$' -fuzz '^$${t#*:}$$' -fuzztime $(FUZZTIME) $${t%%:*}"; \
		go test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -timeout 5m "$${t%%:*}"; \
	done

plane: ## Build (or find cached) the control plane binaries
	bash test/tools/build.sh

# -parallel is above the number of e2e tests: the suite runs six at a time itself, the
# longest first (test/e2e/schedule_test.go); the plane and fleet packages run in series.
e2e: ## End-to-end suite on real kube-apiserver + Flux + Git, through kubectl
	$(WITH_PLANE) cd test && go test -count=1 -p 3 -parallel 100 -timeout 80m -v ./plane/... ./fleet/... ./e2e/...

demo: ## Real promotions on local Flux clusters, every scene in turn: a directory per environment, a branch per environment, version tags (then signed), a fleet in waves, a policy window and verification, gitless OCI artifacts (KEEP=1 make demo-SCENE leaves that scene's clusters running)
	cd test && go run ./demo && go run ./demo -branches && go run ./demo -tags && go run ./demo -fleet && go run ./demo -policy && go run ./demo -oci

demo-branches: ## The same with a branch per environment: the commit staging applied merged into production's branch
	cd test && go run ./demo -branches

demo-tags: ## Production follows a semver range: the promotion released as tag v1.0.1 that Flux selects, then a signed tag (--sign-key) that Flux verifies, then a pinned tag (spec.ref.tag) moved
	cd test && go run ./demo -tags

demo-fleet: ## Four clusters: staging promoted to prod-eu, then to prod-us-1 and prod-us-2, in two waves; status --all-contexts
	cd test && go run ./demo -fleet

demo-oci: ## Gitless: staging and production follow tags of an OCI registry; the promotion moves production's tag to the digest staging applied (no commit), history from the registry's records
	cd test && go run ./demo -oci

demo-policy: ## A deny window around now blocks the promotion (exit 3), --force passes it and the commit records it; then a promotion verified after Ready (--verify URL with a CEL expression)
	cd test && go run ./demo -policy

bench: ## Go benchmarks of planning, a fleet's own work for 1 and 100 targets on fake clusters, the plan bench report (medians, ratio to a plain kustomize build), and branch-per-env planning against same-branch (medians, ratio ≤ 1.2)
	go test -run '^$$' -bench Seed -benchtime 10x -count 5 ./pkg/plan/ ./pkg/render/
	go test -run '^$$' -bench 'ComputeLarge$$' -benchtime 1x -count 3 -timeout 30m ./pkg/plan/
	go test -run '^$$' -bench ComputeLargeOneImagesList -benchtime 1x -count 1 -timeout 30m ./pkg/plan/
	go test -run '^$$' -bench FleetOverhead -benchtime 3x -count 1 ./pkg/promote/
	go run ./internal/benchreport
	BENCH_BRANCHES=1 go test -count=1 -run TestBranchPlanningOverhead -v ./pkg/promote/

bench-e2e: ## Latency of `kubectl promote --wait` against the scripted baseline, and start to pushed (goal ≤ 0.5 s), on a real plane, medians
	$(WITH_PLANE) cd test && go run ./bench -rounds 3

bench-oci: ## Gitless: `kubectl promote --wait` against `flux tag artifact` + reconcile requests + polling, on a real plane and registry, medians and ratio
	$(WITH_PLANE) cd test && go run ./benchoci -rounds 5

bench-status: ## How long `kubectl promote status` takes for 2 clusters and for 20 environments, medians
	$(WITH_PLANE) cd test && go run ./benchstatus

bench-fleet: ## Fleet promotion overhead, 100 targets against 1 (≤ 1.5×), and status over 100 contexts (≤ 2 s), medians; status with one context dead
	$(WITH_PLANE) cd test && go run ./benchfleet

bench-history: ## `kubectl promote --dry-run` on a 1-commit and a 50,000-commit repository, cold and warm cache, beside git clone --depth 1 (medians, ratios ≤ 1.2×)
	$(WITH_PLANE) cd test && go run ./benchhistory

release-check: ## goreleaser check + snapshot, krew manifest validation and install, go install, completion through kubectl
	if ! command -v kubectl >/dev/null; then $(WITH_PLANE) true; fi; \
	cd test && go test -tags release -count=1 -timeout 60m -v ./release/

lint: lint-tools ## gofmt, go vet, staticcheck, deadcode on every module; deepcopy current; no tracked file over 1 MB outside testdata
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd test && go vet ./... && go vet -tags release ./release/
	bash test/tools/lint/lint.sh
	@before=$$(cat pkg/apis/v1alpha1/zz_generated.deepcopy.go); $(MAKE) --no-print-directory generate >/dev/null; \
	if [ "$$before" != "$$(cat pkg/apis/v1alpha1/zz_generated.deepcopy.go)" ]; then echo "pkg/apis deepcopy was stale: make generate rewrote it, commit it"; exit 1; fi

# staticcheck and deadcode, pinned in test/tools/lint/go.mod, built from the Go module proxy.
lint-tools:
	cd test/tools/lint && go build -o ../../../bin/staticcheck honnef.co/go/tools/cmd/staticcheck && go build -o ../../../bin/deadcode golang.org/x/tools/cmd/deadcode

cover: ## Unit test coverage of every package under pkg/
	go test -count=1 -cover ./pkg/...

generate: ## Regenerate the deepcopy functions of pkg/apis with controller-gen (built from the Go module proxy)
	cd test/tools/codegen && go build -o ../../../bin/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
	bin/controller-gen object paths=./pkg/apis/...

clean:
	rm -rf bin dist
