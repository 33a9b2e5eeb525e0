# netcause: `make run` starts the exporter, `make test` installs what the
# tests need and runs them all.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
             -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=netcause \
             -X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
# CGO off: the binary is static and runs in a scratch image.
export CGO_ENABLED := 0

# Flags for `make run`: the host namespace plus every named and container
# namespace, with the sampler on. Override with `make run ARGS=...`.
ARGS      ?= --netns.named --netns.processes --sampler.enabled
# How long each fuzz target runs inside `make test`, as a count of inputs:
# Go 1.26's fuzz coordinator can fail a duration-bounded run with "context
# deadline exceeded" and no failing input (go.dev/issue/75804, fixed in
# 1.27); a count has no deadline to race. Run longer by hand with
# `make fuzz FUZZTIME=5m`.
FUZZTIME  ?= 20000x

.PHONY: docs all build run test test-deps unit vet fmt-check fuzz bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/netcause_exporter $(ARGS)

test: test-deps fmt-check vet lint-alerts unit fuzz test-deploy test-scenarios

test-deps:
	test/setup.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# -p 1: end-to-end tests change machine-wide state (nf_conntrack_max, the
# xtables lock); one package at a time keeps them from meeting.
unit: build
	$(GO) test -count=1 -p 1 -timeout 30m ./...

# Every Fuzz target, briefly. A crash fails the build and leaves its input
# under testdata/fuzz for the regression run above.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $$pkg 2>&1) || \
			{ echo "$$out"; exit 1; }; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)

# Regenerates docs/metrics.md's table from the metric declarations.
docs:
	$(GO) test ./exporter -run TestMetricsDoc -update

# The alert pack. `make alerts` regenerates alerts/ and the tables of
# docs/alerts.md from alerts/rules; `make test-alerts` fails on stale
# generated files, runs the Go checks (every metric a rule reads is
# exported, every alert has a runbook, promtool check and unit tests) and
# pint. pint builds once from alerts/tools (a module of its own, so the main
# go.mod stays free of its dependencies) into the gitignored alerts/tools/bin.
PINT := alerts/tools/bin/pint

.PHONY: alerts test-alerts lint-alerts

alerts:
	$(GO) run ./alerts/gen

test-alerts: lint-alerts
	$(GO) run ./alerts/gen -check
	$(GO) test -count=1 ./alerts/...

$(PINT): alerts/tools/go.mod alerts/tools/go.sum
	cd alerts/tools && GONOSUMDB=github.com/cloudflare/pint $(GO) build -o bin/pint github.com/cloudflare/pint/cmd/pint

lint-alerts: $(PINT)
	$(PINT) --offline --no-color --config alerts/pint.hcl lint alerts/netcause.rules.yml

# Container image from the Dockerfile, with docker (when its daemon
# answers), podman or buildah. GO_IMAGE replaces the build stage's Go image
# (e.g. one of your own where no registry is reachable).
IMAGE     ?= netcause_exporter:$(VERSION)
GO_IMAGE  ?=
IMAGE_ARGS = --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
             --build-arg BRANCH=$(BRANCH) --build-arg BUILD_DATE=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) \
             $(if $(GO_IMAGE),--build-arg GO_IMAGE=$(GO_IMAGE)) -t $(IMAGE) -f Dockerfile .

.PHONY: image test-deploy

image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		echo "docker build $(IMAGE_ARGS)"; docker build $(IMAGE_ARGS); \
	elif command -v podman >/dev/null 2>&1; then \
		echo "podman build $(IMAGE_ARGS)"; podman build $(IMAGE_ARGS); \
	elif command -v buildah >/dev/null 2>&1; then \
		echo "buildah bud $(IMAGE_ARGS)"; buildah bud $(IMAGE_ARGS); \
	else \
		echo "make image: needs docker (with a running daemon), podman or buildah" >&2; exit 1; \
	fi

# Deployment checks (docs/deploy.md): chart lint and render, server-side
# dry-run against a kube-apiserver and etcd on loopback, image build and run
# with buildah, capability lists and least privilege, systemd unit, web
# config. tools.sh builds helm, kube-apiserver, kubectl and etcd once into
# test/deploy/.bin (several minutes cold) and reuses them.
test-deploy:
	test/deploy/tools.sh
	cd test/deploy && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...

# The Grafana dashboards. `make dashboards` regenerates dashboards/*.json and
# the panel tables of docs/dashboards.md from dashboards/boards;
# `make test-dashboards` fails on stale files and runs the dashboard tests:
# PromQL parse and metric/label checks, the TypeScript schema check against
# @grafana/schema (npm; installs nodejs and npm with apt-get when missing)
# and every query on a real Prometheus.
.PHONY: dashboards test-dashboards

dashboards:
	$(GO) run ./dashboards/gen

test-dashboards:
	$(GO) run ./dashboards/gen -check
	$(GO) test -count=1 ./dashboards/...

# The fault-scenario suite (test/scenarios): every documented cause
# reproduced in namespaces, judged by a real Prometheus and Alertmanager;
# about 10 minutes as root on 2 cores, and it rewrites docs/scenarios.md
# (commit it when it changes: it is the report users read). Last in
# `make test`, after the quicker checks. Behind the build tag "scenarios"
# so `go test ./...` runs only its unit tests.
.PHONY: test-scenarios
test-scenarios: test-deps
	$(GO) vet -tags scenarios ./test/scenarios/
	$(GO) test -tags scenarios -count=1 -timeout 30m -v ./test/scenarios/
