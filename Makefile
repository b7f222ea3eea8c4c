# mcp-handle-operator — every command a developer or CI runs.
# Tool and component versions are pinned in hack/versions.env and hack/tools/go.mod.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
GO ?= go
TOOLS := $(GO) tool -modfile=hack/tools/go.mod
CONTROLLER_GEN := $(TOOLS) controller-gen
GOLANGCI_LINT := $(TOOLS) golangci-lint-kube-api-linter
CHART_CRDS := charts/mcp-handle-operator/files/crds
# What `make generate manifests` writes; `make verify` fails when it differs from git.
GENERATED := api/v1alpha1/zz_generated.scope.go api/v1alpha1/zz_generated.deepcopy.go api/v1alpha1/applyconfiguration \
	config/crd/bases config/rbac $(CHART_CRDS) docs/scopes.md
# Tests that start a control plane share these; override to run a subset.
TEST_PKGS ?= ./...
TEST_FLAGS ?= -count=1

.PHONY: all
all: generate manifests build

##@ Development

.PHONY: generate
generate: ## Generate the Scope enum, the deepcopy functions and the apply configurations.
	$(GO) run ./hack/scopegen api/v1alpha1
	rm -rf api/v1alpha1/applyconfiguration
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt applyconfiguration:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs (config/crd/bases and the chart), the operator's and the runtime's RBAC and the API docs.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=mcp-handle-operator-manager paths="./cmd/manager/...;./controllers/..." \
		output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=mcp-handle-operator-runtime paths="./cmd/runtime/..." \
		output:rbac:artifacts:config=config/rbac/runtime
	rm -f $(CHART_CRDS)/*.yaml
	cp config/crd/bases/*.yaml $(CHART_CRDS)/
	$(GO) run ./hack/docgen > docs/scopes.md

.PHONY: build
build: ## Build manager, runtime, mcpctl and the example links-toolset into bin/.
	$(GO) build -o bin/ ./cmd/manager ./cmd/runtime ./cmd/mcpctl ./cmd/links-toolset

# Container images (hack/images, no Docker daemon): tag = the chart's appVersion, timestamps from the last commit.
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/mcp-handle-operator/Chart.yaml)
REGISTRY ?= ghcr.io/10xdotin/mcp-handle-operator
PLATFORMS ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)
REVISION ?= $(shell git rev-parse HEAD)
IMAGES := manager=./cmd/manager runtime=./cmd/runtime links-toolset=./cmd/links-toolset
IMAGES_FLAGS = --out bin/images --registry $(REGISTRY) --version $(VERSION) --revision $(REVISION) \
	--source https://github.com/10xdotin/mcp-handle-operator --source-date-epoch $(SOURCE_DATE_EPOCH) --platforms $(PLATFORMS)

.PHONY: images
images: ## Build the manager, runtime and links-toolset images (PLATFORMS) into bin/images: an OCI layout and a host-platform tarball each.
	$(GO) run ./hack/images $(IMAGES_FLAGS) $(IMAGES)

.PHONY: images-push
images-push: ## Build the images and push them to REGISTRY (docker credentials), printing ref@digest.
	$(GO) run ./hack/images $(IMAGES_FLAGS) --push $(IMAGES)

.PHONY: controlplane
controlplane: ## Build (once per version) etcd, kube-apiserver, kube-controller-manager and kubectl.
	hack/build-controlplane.sh >/dev/null

.PHONY: helm
helm: ## Build (once per version) the Helm CLI the chart's tests use, into bin/helm/.
	hack/build-helm.sh >/dev/null

.PHONY: promql-check
promql-check: ## Build (once per version) promql-check, Prometheus' rules and PromQL parser for the chart's monitoring test, into bin/promql-check/.
	hack/build-promql-check.sh >/dev/null

.PHONY: edge-tools
edge-tools: ## Build (once per version) Traefik and cert-manager's controller, the real edge of make run and test/edge.
	hack/build-traefik.sh >/dev/null
	hack/build-cert-manager.sh >/dev/null

.PHONY: node
node: ## Build (once per version) kubelet, kube-proxy, kube-scheduler and containerd into bin/kube-node/; install Debian's runc, CNI plugins and iptables.
	hack/build-node.sh >/dev/null

.PHONY: cluster
cluster: controlplane node ## Run a real single-node cluster (containerd, kubelet, kube-proxy) in the foreground until Ctrl-C (root); kubeconfig in .local/cluster.
	$(GO) build -o bin/cluster ./hack/cluster
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) KUBE_NODE_ASSETS=$$(hack/build-node.sh) bin/cluster --dir .local/cluster

.PHONY: dex
dex: ## Build (once per version) Dex, the OpenID Connect provider of the sign-in tests, into bin/dex/.
	hack/build-dex.sh >/dev/null

.PHONY: chart-golden
chart-golden: helm ## Rewrite the chart's golden helm template output (test/helm/testdata/golden).
	HELM=$$(hack/build-helm.sh) $(GO) test -count=1 -run 'TestGolden' ./test/helm -update

.PHONY: clients
clients: ## Install Node and the MCP client suites of test/clients (once per version; npm registry only).
	hack/node.sh >/dev/null

.PHONY: chromium
chromium: ## Install Debian's chromium for the browser tests of test/browser (apt-get, once).
	hack/chromium.sh >/dev/null

.PHONY: run
run: build controlplane edge-tools ## Run the local stack in the foreground until Ctrl-C.
	hack/run-local.sh

##@ Checks

.PHONY: test
test: controlplane node clients helm promql-check chromium edge-tools dex ## Run every test suite against a real apiserver (and test/cluster on a real node, as root).
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) KUBE_NODE_ASSETS=$$(hack/build-node.sh) NODE=$$(hack/node.sh) HELM=$$(hack/build-helm.sh) PROMQL_CHECK=$$(hack/build-promql-check.sh) \
		CHROMIUM=$$(hack/chromium.sh) TRAEFIK=$$(hack/build-traefik.sh) CERT_MANAGER=$$(hack/build-cert-manager.sh) DEX=$$(hack/build-dex.sh) \
		$(GO) test $(TEST_FLAGS) $(TEST_PKGS)

.PHONY: edge
edge: controlplane edge-tools ## Run only the edge test (test/edge): operator, cert-manager, Traefik and a runtime, timed.
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) TRAEFIK=$$(hack/build-traefik.sh) CERT_MANAGER=$$(hack/build-cert-manager.sh) \
		$(GO) test -count=1 -v -run TestEdge ./test/edge

.PHONY: e2e
e2e: build controlplane clients chromium edge-tools dex ## Run the end-to-end suite (test/e2e): the whole stack on free loopback ports, the SDK client, mcpctl, Chromium and Dex sign-in through Traefik.
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) NODE=$$(hack/node.sh) CHROMIUM=$$(hack/chromium.sh) \
		TRAEFIK=$$(hack/build-traefik.sh) CERT_MANAGER=$$(hack/build-cert-manager.sh) DEX=$$(hack/build-dex.sh) \
		$(GO) test -count=1 -v -timeout 15m -run TestE2E ./test/e2e

.PHONY: verify
verify: generate manifests helm ## Fail if generated files, the chart's golden output, go.mod or formatting are out of date.
	@git diff --exit-code -- $(GENERATED) || { echo "generated files are out of date: run 'make generate manifests' and commit the result" >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
		if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked" >&2; exit 1; fi
	$(GO) mod tidy -diff
	cd hack/tools && $(GO) mod tidy -diff
	cd hack/controlplane && $(GO) mod tidy -diff
	cd hack/containerd && $(GO) mod tidy -diff
	cd hack/helm && $(GO) mod tidy -diff
	cd hack/promql && $(GO) mod tidy -diff
	cd hack/cert-manager && $(GO) mod tidy -diff
	cd hack/dex && $(GO) mod tidy -diff
	HELM=$$(hack/build-helm.sh) $(GO) test -count=1 -short -run 'TestGolden|TestCRDs' ./test/helm || { echo "the chart's golden output is out of date: run 'make chart-golden' and review the diff" >&2; exit 1; }
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi

.PHONY: lint
lint: ## Run golangci-lint, with kube-api-linter on api/.
	$(GOLANGCI_LINT) run ./...

.PHONY: bench-handles
bench-handles: ## Measure the operator on 5,000 Handles against the apiserver's write ceiling (docs/performance.md).
	$(GO) build -o bin/ ./cmd/manager
	$(GO) run ./test/perf/handles -n 5000 $(BENCH_FLAGS)
bench-runtime: ; $(GO) build -o bin/ ./cmd/runtime && $(GO) test -run XXX -bench . -benchtime 50x -count 5 ./test/perf/runtime && $(GO) run ./test/perf/runtime $(BENCH_FLAGS) ## MCP runtime vs a plain proxy and a bare handler, then its memory with 5,000 handles and 50,000 grants (docs/performance.md).

.PHONY: bench-registrations
bench-registrations: controlplane ## 10,000 dynamic registrations against two runtime replicas: the OAuthClients and etcd size they leave (docs/performance.md).
	$(GO) build -o bin/ ./cmd/runtime ./cmd/links-toolset
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) $(GO) run ./test/perf/registrations -n 10000 $(BENCH_FLAGS)

.PHONY: load
load: controlplane ## Measure the authorizations, refreshes and tool calls the runtime sustains at a p99 budget, and the apiserver writes they cause (docs/reliability.md).
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) $(GO) run ./test/load $(LOAD_FLAGS)

.PHONY: load-ratelimits
load-ratelimits: controlplane ## Drive two runtime replicas far over small MCP rate limits: what each replica and the fleet admit (docs/reliability.md).
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) $(GO) run ./test/load/ratelimits $(LOAD_FLAGS)

# Fuzz targets (package:Fuzz...) that `make fuzz` runs for FUZZ_TIME each; their seed corpora also run in every go test.
FUZZ_TARGETS := internal/connect:FuzzParseWWWAuthenticate runtime/tokens:FuzzVerifyAccess \
	internal/platform:FuzzResourceAt internal/platform:FuzzResourceOf \
	runtime/endpoint:FuzzBearer runtime/endpoint:FuzzScopeCheck runtime/endpoint:FuzzChallenge \
	runtime/oauth:FuzzRedirectURIMatching runtime/oauth:FuzzRedirectLocation runtime/oauth:FuzzRegistrationBody \
	runtime/oauth:FuzzParseClientMetadataDocument runtime/oauth:FuzzCheckClientIDURL runtime/oauth:FuzzProtectedResourceMetadata \
	runtime/registry:FuzzRegistrationMetadata
FUZZ_TIME ?= 10s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZ_TIME (default 10s) each (docs/reliability.md has the longer run).
	@for t in $(FUZZ_TARGETS); do pkg=./$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg, $(FUZZ_TIME))"; \
		$(GO) test -count=1 -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZ_TIME) $$pkg | grep -v '^fuzz: elapsed' || exit 1; done

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-z-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2} /^##@/ {print substr($$0, 5)}' $(MAKEFILE_LIST)
